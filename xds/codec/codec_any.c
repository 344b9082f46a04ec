/* Any packing/unpacking and the unknown-field report of binary-decoded
 * messages (xDS resources arrive as Any). */
#include "xds/codec/codec_internal.h"

#include "proxy/common/mem.h"

#include <stdlib.h>
#include <string.h>

ProtobufCMessage *xp_any_unpack(const Google__Protobuf__Any *any,
                                const ProtobufCMessageDescriptor *expected, xp_diag_t *diag,
                                const char *path)
{
    const char *url = any && any->type_url ? any->type_url : "";
    if (!url[0]) {
        xp_diag_error(diag, path, "google.protobuf.Any has no type URL%s%s",
                      expected ? ", expected " : "", expected ? expected->name : "");
        return NULL;
    }
    const char *slash = strrchr(url, '/');
    const char *name = slash ? slash + 1 : url;
    const ProtobufCMessageDescriptor *td = expected;
    if (expected && strcmp(name, expected->name) != 0) {
        xp_diag_error(diag, path, "expected type %s, got type URL \"%s\"", expected->name, url);
        return NULL;
    }
    if (!td)
        td = xp_codec_find_type(url);
    if (!td) {
        xp_diag_error(diag, path, "unknown type URL \"%s\" (not a type xproxy knows)", url);
        return NULL;
    }
    ProtobufCMessage *m = xp_pb_unpack(td, any->value.len, any->value.data);
    if (!m)
        xp_diag_error(diag, path, "the bytes of an Any with type URL \"%s\" do not decode as %s",
                      url, td->name);
    return m;
}

Google__Protobuf__Any *xp_any_pack(const ProtobufCMessage *msg)
{
    Google__Protobuf__Any *any = xp_malloc(sizeof(*any));
    google__protobuf__any__init(any);
    any->type_url = xp_asprintf(XP__TYPE_URL_PREFIX "%s", msg->descriptor->name);
    size_t len = protobuf_c_message_get_packed_size(msg);
    if (len) {
        any->value.data = xp_malloc(len);
        any->value.len = protobuf_c_message_pack(msg, any->value.data);
    }
    return any;
}

#define XP__MAX_DEPTH 100

static int xp__walk_unknown(const ProtobufCMessage *m, xp_path_t *p, xp_diag_t *diag, int depth)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    int errors = 0;
    if (depth > XP__MAX_DEPTH)
        return 0;
    for (unsigned i = 0; i < m->n_unknown_fields; i++) {
        uint32_t num = m->unknown_fields[i].tag;
        const xp_unmodeled_field_t *u = xp_codec_find_unmodeled(d->name, NULL, num);
        if (u) {
            size_t mark = xp_path_push_field(p, u->field);
            if (u->harmless) {
                xp_diag_warn(diag, xp_path_str(p),
                             "field '%s' (number %u) is not supported by xproxy and is ignored",
                             u->field, num);
            } else {
                xp_diag_error(diag, xp_path_str(p),
                              "field '%s' (number %u) of %s is not supported by xproxy", u->field,
                              num, d->name);
                errors++;
            }
            xp_path_pop(p, mark);
        } else {
            xp_diag_error(diag, xp_path_str(p), "unknown field number %u in %s", num, d->name);
            errors++;
        }
    }
    if (xp__wkt_kind(d) == XP__WKT_ANY) {
        const Google__Protobuf__Any *any = (const Google__Protobuf__Any *)m;
        const ProtobufCMessageDescriptor *td = xp_codec_find_type(any->type_url);
        ProtobufCMessage *inner = td ? xp_pb_unpack(td, any->value.len, any->value.data) : NULL;
        if (inner) {
            errors += xp__walk_unknown(inner, p, diag, depth + 1);
            protobuf_c_message_free_unpacked(inner, NULL);
        }
        return errors;
    }
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE || !xp__field_present(m, f))
            continue;
        size_t mark = xp_path_push_field(p, f->name);
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)xp__quant(m, f);
            ProtobufCMessage *const *arr = *(ProtobufCMessage *const *const *)xp__member(m, f);
            bool map = xp__is_map_entry(f);
            for (size_t j = 0; j < n; j++) {
                if (!arr[j])
                    continue;
                const ProtobufCFieldDescriptor *kf = &arr[j]->descriptor->fields[0];
                size_t m2 = map && kf->type == PROTOBUF_C_TYPE_STRING
                                ? xp_path_push_key(p, *(char *const *)xp__member(arr[j], kf))
                                : xp_path_push_index(p, j);
                errors += xp__walk_unknown(arr[j], p, diag, depth + 1);
                xp_path_pop(p, m2);
            }
        } else {
            errors +=
                xp__walk_unknown(*(ProtobufCMessage *const *)xp__member(m, f), p, diag, depth + 1);
        }
        xp_path_pop(p, mark);
    }
    return errors;
}

int xp_codec_check_unknown_fields(const ProtobufCMessage *msg, const char *path, xp_diag_t *diag)
{
    xp_path_t p;
    xp_path_init(&p, path);
    return xp__walk_unknown(msg, &p, diag, 0);
}
