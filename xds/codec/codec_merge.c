/* Deep copy and protobuf MergeFrom over protobuf-c messages (Envoy's
 * --config-yaml merged over the -c file). */
#include "xds/codec/codec_internal.h"

#include "proxy/common/mem.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* Writes a deep copy of the value at src into the (empty) slot dst. */
static void xp__copy_value(const ProtobufCFieldDescriptor *f, void *dst, const void *src)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)src;
        *(char **)dst = s ? xp_strdup(s) : NULL;
        break;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *s = src;
        ProtobufCBinaryData *d = dst;
        d->len = s->len;
        d->data = NULL;
        if (s->len) {
            d->data = xp_malloc(s->len);
            memcpy(d->data, s->data, s->len);
        }
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *s = *(ProtobufCMessage *const *)src;
        *(ProtobufCMessage **)dst = s ? xp_proto_clone(s) : NULL;
        break;
    }
    default:
        memcpy(dst, src, xp__type_size(f->type));
    }
}

static bool xp__map_keys_equal(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    const ProtobufCFieldDescriptor *kf = &a->descriptor->fields[0];
    const void *x = xp__member(a, kf), *y = xp__member(b, kf);
    if (kf->type == PROTOBUF_C_TYPE_STRING) {
        const char *s = *(char *const *)x, *t = *(char *const *)y;
        return strcmp(s ? s : "", t ? t : "") == 0;
    }
    return memcmp(x, y, xp__type_size(kf->type)) == 0;
}

static void xp__merge_repeated(ProtobufCMessage *dst, const ProtobufCMessage *src,
                               const ProtobufCFieldDescriptor *f)
{
    size_t ns = *(const size_t *)xp__quant(src, f);
    size_t *nd = xp__quant(dst, f);
    size_t sz = xp__type_size(f->type);
    const char *sarr = *(const char *const *)xp__member(src, f);
    char **darr = xp__member(dst, f);
    *darr = xp_realloc(*darr, (*nd + ns + 1) * sz);
    size_t nd0 = *nd;
    bool map = xp__is_map_entry(f);
    for (size_t i = 0; i < ns; i++) {
        const void *sv = sarr + i * sz;
        if (map) {
            /* A map entry replaces the entry with the same key. */
            const ProtobufCMessage *se = *(ProtobufCMessage *const *)sv;
            ProtobufCMessage **dv = (ProtobufCMessage **)*darr;
            size_t j;
            for (j = 0; j < nd0; j++)
                if (dv[j] && se && xp__map_keys_equal(dv[j], se))
                    break;
            if (j < nd0) {
                protobuf_c_message_free_unpacked(dv[j], NULL);
                dv[j] = xp_proto_clone(se);
                continue;
            }
        }
        xp__copy_value(f, *darr + *nd * sz, sv);
        (*nd)++;
    }
}

void xp_proto_merge(ProtobufCMessage *dst, const ProtobufCMessage *src)
{
    const ProtobufCMessageDescriptor *d = src->descriptor;
    assert(dst->descriptor == d);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!xp__field_present(src, f))
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            xp__merge_repeated(dst, src, f);
            continue;
        }
        void *dp = xp__member(dst, f);
        const void *sp = xp__member(src, f);
        if (xp__is_oneof(f)) {
            uint32_t *dcase = xp__quant(dst, f);
            if (*dcase != f->id && *dcase != 0) {
                const ProtobufCFieldDescriptor *old =
                    protobuf_c_message_descriptor_get_field(d, *dcase);
                if (old)
                    xp__field_clear(dst, old);
                *dcase = 0;
            }
        }
        if (f->type == PROTOBUF_C_TYPE_MESSAGE && xp__field_present(dst, f)) {
            xp_proto_merge(*(ProtobufCMessage **)dp, *(ProtobufCMessage *const *)sp);
            continue;
        }
        xp__field_clear(dst, f);
        xp__copy_value(f, dp, sp);
        if (xp__is_oneof(f))
            *(uint32_t *)xp__quant(dst, f) = f->id;
        else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
                 f->type != PROTOBUF_C_TYPE_MESSAGE)
            *(protobuf_c_boolean *)xp__quant(dst, f) = 1;
    }
    if (src->n_unknown_fields) {
        size_t n = dst->n_unknown_fields + src->n_unknown_fields;
        dst->unknown_fields = xp_realloc(dst->unknown_fields, n * sizeof(*dst->unknown_fields));
        for (unsigned i = 0; i < src->n_unknown_fields; i++) {
            ProtobufCMessageUnknownField *u = &dst->unknown_fields[dst->n_unknown_fields++];
            *u = src->unknown_fields[i];
            u->data = xp_malloc(u->len ? u->len : 1);
            memcpy(u->data, src->unknown_fields[i].data, u->len);
        }
    }
}

ProtobufCMessage *xp_proto_clone(const ProtobufCMessage *m)
{
    ProtobufCMessage *c = xp__msg_new(m->descriptor);
    xp_proto_merge(c, m);
    return c;
}
