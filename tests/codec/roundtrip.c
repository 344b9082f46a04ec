#include "tests/codec/roundtrip.h"

#include "proxy/common/mem.h"
#include "xds/codec/codec.h"

#include "google/protobuf/duration.pb-c.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static ProtobufCMessage *xp__synth(const ProtobufCMessageDescriptor *d, int depth, int max_depth);

static size_t xp__tsize(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    default:
        return 4;
    }
}

static ProtobufCMessage *xp__new(const ProtobufCMessageDescriptor *d)
{
    ProtobufCMessage *m = xp_malloc(d->sizeof_message);
    protobuf_c_message_init(d, m);
    return m;
}

static void *xp__mem(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    return (char *)m + f->offset;
}

static const ProtobufCFieldDescriptor *xp__fld(const ProtobufCMessage *m, const char *name)
{
    return protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
}

static void xp__set_value_string(ProtobufCMessage *v, const char *s)
{
    const ProtobufCFieldDescriptor *f = xp__fld(v, "string_value");
    *(uint32_t *)((char *)v + f->quantifier_offset) = f->id;
    *(char **)xp__mem(v, f) = xp_strdup(s);
}

/* Writes a non-default value of f's type into p; `salt` varies values
 * between elements.  Returns false when nothing was written. */
static bool xp__fill(const ProtobufCFieldDescriptor *f, void *p, int salt, int depth, int max_depth)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        *(int32_t *)p = -123 - salt;
        return true;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        *(uint32_t *)p = 4000000000u + (uint32_t)salt;
        return true;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        *(int64_t *)p = -1234567890123456789LL - salt;
        return true;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        *(uint64_t *)p = 18446744073709551000ULL + (uint64_t)salt;
        return true;
    case PROTOBUF_C_TYPE_FLOAT:
        *(float *)p = 0.1f + (float)salt;
        return true;
    case PROTOBUF_C_TYPE_DOUBLE:
        *(double *)p = 3.141592653589793 + salt;
        return true;
    case PROTOBUF_C_TYPE_BOOL:
        *(protobuf_c_boolean *)p = 1;
        return true;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *ed = f->descriptor;
        *(int32_t *)p = ed->values[ed->n_values > 1 ? 1 : 0].value;
        return true;
    }
    case PROTOBUF_C_TYPE_STRING:
        *(char **)p = xp_asprintf("%s-%d \"caf\xc3\xa9\" \xf0\x9f\x98\x80\n", f->name, salt);
        return true;
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *bd = p;
        bd->len = 5 + (size_t)salt;
        bd->data = xp_malloc(bd->len);
        for (size_t i = 0; i < bd->len; i++)
            bd->data[i] = (uint8_t)(0xfb + i * 7);
        return true;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        if (depth >= max_depth)
            return false;
        *(ProtobufCMessage **)p = xp__synth(f->descriptor, depth + 1, max_depth);
        return true;
    }
    return false;
}

static ProtobufCMessage *xp__synth_wkt(const ProtobufCMessageDescriptor *d)
{
    const char *n = d->name;
    if (strncmp(n, "google.protobuf.", 16) != 0)
        return NULL;
    n += 16;
    ProtobufCMessage *m = NULL;
    if (!strcmp(n, "Duration") || !strcmp(n, "Timestamp")) {
        m = xp__new(d);
        *(int64_t *)xp__mem(m, xp__fld(m, "seconds")) = 1700000000;
        *(int32_t *)xp__mem(m, xp__fld(m, "nanos")) = 123000000;
    } else if (!strcmp(n, "Value")) {
        m = xp__new(d);
        xp__set_value_string(m, "v");
    } else if (!strcmp(n, "ListValue")) {
        m = xp__new(d);
        const ProtobufCFieldDescriptor *f = xp__fld(m, "values");
        ProtobufCMessage **arr = xp_calloc(2, sizeof(void *));
        for (int i = 0; i < 2; i++) {
            arr[i] = xp__new(f->descriptor);
            xp__set_value_string(arr[i], i ? "b" : "a");
        }
        *(ProtobufCMessage ***)xp__mem(m, f) = arr;
        *(size_t *)((char *)m + f->quantifier_offset) = 2;
    } else if (!strcmp(n, "Struct")) {
        m = xp__new(d);
        const ProtobufCFieldDescriptor *f = xp__fld(m, "fields");
        const ProtobufCMessageDescriptor *ed = f->descriptor;
        ProtobufCMessage **arr = xp_calloc(1, sizeof(void *));
        arr[0] = xp__new(ed);
        *(char **)xp__mem(arr[0], &ed->fields[0]) = xp_strdup("k");
        ProtobufCMessage *v = xp__new(ed->fields[1].descriptor);
        xp__set_value_string(v, "v");
        *(ProtobufCMessage **)xp__mem(arr[0], &ed->fields[1]) = v;
        *(ProtobufCMessage ***)xp__mem(m, f) = arr;
        *(size_t *)((char *)m + f->quantifier_offset) = 1;
    } else if (!strcmp(n, "Any")) {
        Google__Protobuf__Duration dur = GOOGLE__PROTOBUF__DURATION__INIT;
        dur.seconds = 2;
        m = &xp_any_pack(&dur.base)->base;
    } else if (!strcmp(n, "FieldMask")) {
        m = xp__new(d);
        const ProtobufCFieldDescriptor *f = xp__fld(m, "paths");
        char **arr = xp_calloc(2, sizeof(char *));
        arr[0] = xp_strdup("a.b_c");
        arr[1] = xp_strdup("d");
        *(char ***)xp__mem(m, f) = arr;
        *(size_t *)((char *)m + f->quantifier_offset) = 2;
    }
    return m;
}

static ProtobufCMessage *xp__synth(const ProtobufCMessageDescriptor *d, int depth, int max_depth)
{
    ProtobufCMessage *m = xp__synth_wkt(d);
    if (m)
        return m;
    m = xp__new(d);
    /* Oneofs already given a member, by quantifier offset. */
    unsigned *oneofs = xp_calloc(d->n_fields + 1, sizeof(unsigned));
    size_t noneofs = 0;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        void *p = xp__mem(m, f);
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            bool taken = false;
            for (size_t j = 0; j < noneofs; j++)
                taken |= oneofs[j] == f->quantifier_offset;
            if (taken)
                continue;
            if (xp__fill(f, p, 0, depth, max_depth)) {
                oneofs[noneofs++] = f->quantifier_offset;
                *(uint32_t *)((char *)m + f->quantifier_offset) = f->id;
            }
            continue;
        }
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            if (f->type == PROTOBUF_C_TYPE_MESSAGE && depth >= max_depth)
                continue;
            const ProtobufCMessageDescriptor *ed = f->descriptor;
            bool map = f->type == PROTOBUF_C_TYPE_MESSAGE && ed->n_fields == 2 &&
                       ed->fields[0].id == 1 && ed->fields[1].id == 2 &&
                       !strcmp(ed->fields[0].name, "key") && strlen(ed->short_name) > 5 &&
                       !strcmp(ed->short_name + strlen(ed->short_name) - 5, "Entry");
            size_t n = map ? 1 : 2, sz = xp__tsize(f->type);
            char *arr = xp_calloc(n, sz);
            size_t got = 0;
            for (size_t j = 0; j < n; j++)
                if (xp__fill(f, arr + got * sz, (int)j, depth, max_depth))
                    got++;
            *(void **)p = arr;
            *(size_t *)((char *)m + f->quantifier_offset) = got;
            continue;
        }
        if (xp__fill(f, p, 0, depth, max_depth) && f->label == PROTOBUF_C_LABEL_OPTIONAL &&
            f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
            *(protobuf_c_boolean *)((char *)m + f->quantifier_offset) = 1;
    }
    free(oneofs);
    /* A map entry's message value is always there on the wire (an empty
     * message prints as {} and parses back as one), even at max depth. */
    size_t nl = strlen(d->short_name);
    if (d->n_fields == 2 && nl > 5 && !strcmp(d->short_name + nl - 5, "Entry") &&
        d->fields[1].type == PROTOBUF_C_TYPE_MESSAGE &&
        *(ProtobufCMessage **)xp__mem(m, &d->fields[1]) == NULL)
        *(ProtobufCMessage **)xp__mem(m, &d->fields[1]) = xp__new(d->fields[1].descriptor);
    return m;
}

ProtobufCMessage *xp_codec_synthesize(const ProtobufCMessageDescriptor *d, int max_depth)
{
    return xp__synth(d, 0, max_depth);
}

static uint8_t *xp__pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *b = xp_malloc(*len + 1);
    protobuf_c_message_pack(m, b);
    return b;
}

int xp_codec_roundtrip_one(const ProtobufCMessage *m, FILE *log)
{
    int rc = 0;
    size_t alen;
    uint8_t *a = xp__pack(m, &alen);
    for (int pretty = 0; pretty < 2; pretty++) {
        char *json = xp_codec_to_json(m, pretty);
        xp_diag_t diag;
        xp_diag_init(&diag);
        ProtobufCMessage *back = xp_codec_parse(json, strlen(json), m->descriptor, "", &diag);
        if (!back) {
            fprintf(log, "roundtrip %s: JSON does not parse back:\n", m->descriptor->name);
            xp_diag_print(&diag, log, "  ");
            fprintf(log, "  json: %s\n", json);
            rc = -1;
        } else {
            size_t blen;
            uint8_t *b = xp__pack(back, &blen);
            if (alen != blen || memcmp(a, b, alen) != 0) {
                char *json2 = xp_codec_to_json(back, false);
                fprintf(log, "roundtrip %s: packed bytes differ (%zu vs %zu)\n",
                        m->descriptor->name, alen, blen);
                if (strlen(json) < 3000)
                    fprintf(log, "  json:  %s\n  again: %s\n", json, json2);
                free(json2);
                rc = -1;
            } else {
                char *json2 = xp_codec_to_json(back, pretty);
                if (strcmp(json, json2) != 0) {
                    fprintf(log, "roundtrip %s: JSON not stable\n  %s\n  %s\n", m->descriptor->name,
                            json, json2);
                    rc = -1;
                }
                free(json2);
            }
            free(b);
            protobuf_c_message_free_unpacked(back, NULL);
        }
        xp_diag_free(&diag);
        free(json);
    }
    free(a);
    return rc;
}

int xp_codec_roundtrip_registry(const ProtobufCMessageDescriptor *const *list, int max_depth,
                                FILE *log)
{
    int failed = 0;
    for (; *list; list++) {
        ProtobufCMessage *m = xp_codec_synthesize(*list, max_depth);
        if (xp_codec_roundtrip_one(m, log) != 0)
            failed++;
        /* Clone and merge must reproduce it too. */
        ProtobufCMessage *c = xp_proto_clone(m);
        size_t alen, blen;
        uint8_t *a = xp__pack(m, &alen), *b = xp__pack(c, &blen);
        if (alen != blen || memcmp(a, b, alen) != 0) {
            fprintf(log, "clone %s: packed bytes differ\n", (*list)->name);
            failed++;
        }
        free(a);
        free(b);
        protobuf_c_message_free_unpacked(c, NULL);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    return failed;
}
