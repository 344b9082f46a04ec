/* protobuf-c message -> proto3 JSON (proto field names, as Envoy's admin
 * /config_dump prints). */
#include "xds/codec/codec_internal.h"

#include "proxy/common/mem.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    xp__buf_t b;
    bool pretty;
} xp__jw_t;

static void xp__emit_message(xp__jw_t *w, const ProtobufCMessage *m, int indent);

static void xp__nl(xp__jw_t *w, int indent)
{
    if (!w->pretty)
        return;
    xp__buf_putc(&w->b, '\n');
    for (int i = 0; i < indent; i++)
        xp__buf_put(&w->b, "  ", 2);
}

static void xp__put_string(xp__buf_t *b, const char *s, size_t len)
{
    xp__buf_putc(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        xp__buf_put(b, s + run, i - run);
        run = i + 1;
        switch (ch) {
        case '"':
            xp__buf_put(b, "\\\"", 2);
            break;
        case '\\':
            xp__buf_put(b, "\\\\", 2);
            break;
        case '\n':
            xp__buf_put(b, "\\n", 2);
            break;
        case '\r':
            xp__buf_put(b, "\\r", 2);
            break;
        case '\t':
            xp__buf_put(b, "\\t", 2);
            break;
        default:
            xp__buf_printf(b, "\\u%04x", ch);
        }
    }
    xp__buf_put(b, s + run, len - run);
    xp__buf_putc(b, '"');
}

/* Starts member `name` of an object: separator, newline, key. */
static void xp__key(xp__jw_t *w, const char *name, int indent, bool *first)
{
    if (!*first)
        xp__buf_putc(&w->b, ',');
    *first = false;
    xp__nl(w, indent);
    xp__put_string(&w->b, name, strlen(name));
    xp__buf_puts(&w->b, w->pretty ? ": " : ":");
}

static void xp__close(xp__jw_t *w, char ch, int indent, bool first)
{
    if (!first)
        xp__nl(w, indent);
    xp__buf_putc(&w->b, ch);
}

/* Shortest text that reads back to the same value. */
static void xp__emit_double(xp__buf_t *b, double v, bool is_float)
{
    if (isnan(v)) {
        xp__buf_puts(b, "\"NaN\"");
        return;
    }
    if (isinf(v)) {
        xp__buf_puts(b, v < 0 ? "\"-Infinity\"" : "\"Infinity\"");
        return;
    }
    char tmp[40];
    for (int prec = is_float ? 6 : 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
        if (is_float ? strtof(tmp, NULL) == (float)v : strtod(tmp, NULL) == v)
            break;
    }
    xp__buf_puts(b, tmp);
}

static void xp__emit_value(xp__jw_t *w, const ProtobufCFieldDescriptor *f, const void *p,
                           int indent)
{
    xp__buf_t *b = &w->b;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        xp__buf_printf(b, "%d", *(const int32_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        xp__buf_printf(b, "%u", *(const uint32_t *)p);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        xp__buf_printf(b, "\"%lld\"", (long long)*(const int64_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        xp__buf_printf(b, "\"%llu\"", (unsigned long long)*(const uint64_t *)p);
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        xp__emit_double(b, *(const float *)p, true);
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        xp__emit_double(b, *(const double *)p, false);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        xp__buf_puts(b, *(const protobuf_c_boolean *)p ? "true" : "false");
        break;
    case PROTOBUF_C_TYPE_ENUM: {
        int32_t v = *(const int32_t *)p;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
        if (ev)
            xp__put_string(b, ev->name, strlen(ev->name));
        else
            xp__buf_printf(b, "%d", v);
        break;
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        xp__put_string(b, s ? s : "", s ? strlen(s) : 0);
        break;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *bd = p;
        char *enc = xp__base64_encode(bd->data, bd->len);
        xp__put_string(b, enc, strlen(enc));
        free(enc);
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sm = *(ProtobufCMessage *const *)p;
        if (sm) {
            xp__emit_message(w, sm, indent);
        } else {
            ProtobufCMessage *tmp = xp__msg_new(f->descriptor);
            xp__emit_message(w, tmp, indent);
            protobuf_c_message_free_unpacked(tmp, NULL);
        }
        break;
    }
    }
}

static void xp__emit_map(xp__jw_t *w, const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                         int indent)
{
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
    size_t n = *(const size_t *)xp__quant(m, f);
    ProtobufCMessage *const *arr = *(ProtobufCMessage *const *const *)xp__member(m, f);
    bool first = true;
    xp__buf_putc(&w->b, '{');
    for (size_t i = 0; i < n; i++) {
        const ProtobufCMessage *e = arr[i];
        if (!e)
            continue;
        const void *kp = xp__member(e, kf);
        char key[32];
        const char *ks = key;
        switch (kf->type) {
        case PROTOBUF_C_TYPE_STRING:
            ks = *(char *const *)kp ? *(char *const *)kp : "";
            break;
        case PROTOBUF_C_TYPE_BOOL:
            ks = *(const protobuf_c_boolean *)kp ? "true" : "false";
            break;
        case PROTOBUF_C_TYPE_UINT32:
        case PROTOBUF_C_TYPE_FIXED32:
            snprintf(key, sizeof(key), "%u", *(const uint32_t *)kp);
            break;
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_FIXED64:
            snprintf(key, sizeof(key), "%llu", (unsigned long long)*(const uint64_t *)kp);
            break;
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_SINT64:
        case PROTOBUF_C_TYPE_SFIXED64:
            snprintf(key, sizeof(key), "%lld", (long long)*(const int64_t *)kp);
            break;
        default:
            snprintf(key, sizeof(key), "%d", *(const int32_t *)kp);
        }
        xp__key(w, ks, indent + 1, &first);
        xp__emit_value(w, vf, xp__member(e, vf), indent + 1);
    }
    xp__close(w, '}', indent, first);
}

static void xp__emit_repeated(xp__jw_t *w, const ProtobufCMessage *m,
                              const ProtobufCFieldDescriptor *f, int indent)
{
    size_t n = *(const size_t *)xp__quant(m, f);
    const char *arr = *(const char *const *)xp__member(m, f);
    size_t sz = xp__type_size(f->type);
    xp__buf_putc(&w->b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            xp__buf_putc(&w->b, ',');
        xp__nl(w, indent + 1);
        xp__emit_value(w, f, arr + i * sz, indent + 1);
    }
    xp__close(w, ']', indent, n == 0);
}

static void xp__emit_fields(xp__jw_t *w, const ProtobufCMessage *m, int indent, bool *first)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!xp__field_present(m, f))
            continue;
        xp__key(w, f->name, indent + 1, first);
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            if (xp__is_map_entry(f))
                xp__emit_map(w, m, f, indent + 1);
            else
                xp__emit_repeated(w, m, f, indent + 1);
        } else {
            xp__emit_value(w, f, xp__member(m, f), indent + 1);
        }
    }
}

static const ProtobufCFieldDescriptor *xp__f(const ProtobufCMessage *m, const char *name)
{
    return protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
}

static void xp__emit_any(xp__jw_t *w, const ProtobufCMessage *m, int indent)
{
    const Google__Protobuf__Any *any = (const Google__Protobuf__Any *)m;
    bool first = true;
    xp__buf_putc(&w->b, '{');
    if (any->type_url && any->type_url[0]) {
        xp__key(w, "@type", indent + 1, &first);
        xp__put_string(&w->b, any->type_url, strlen(any->type_url));
        const ProtobufCMessageDescriptor *td = xp_codec_find_type(any->type_url);
        ProtobufCMessage *inner = td ? xp_pb_unpack(td, any->value.len, any->value.data) : NULL;
        if (inner && xp__wkt_kind(td) != XP__WKT_NONE) {
            xp__key(w, "value", indent + 1, &first);
            xp__emit_message(w, inner, indent + 1);
        } else if (inner) {
            xp__emit_fields(w, inner, indent, &first);
        } else {
            /* Unregistered type or bytes that do not decode: keep them. */
            xp__key(w, "value", indent + 1, &first);
            char *enc = xp__base64_encode(any->value.data, any->value.len);
            xp__put_string(&w->b, enc, strlen(enc));
            free(enc);
        }
        if (inner)
            protobuf_c_message_free_unpacked(inner, NULL);
    }
    xp__close(w, '}', indent, first);
}

static void xp__emit_message(xp__jw_t *w, const ProtobufCMessage *m, int indent)
{
    xp__buf_t *b = &w->b;
    switch (xp__wkt_kind(m->descriptor)) {
    case XP__WKT_DURATION:
    case XP__WKT_TIMESTAMP: {
        int64_t sec = *(const int64_t *)xp__member(m, xp__f(m, "seconds"));
        int32_t nanos = *(const int32_t *)xp__member(m, xp__f(m, "nanos"));
        xp__buf_putc(b, '"');
        if (xp__wkt_kind(m->descriptor) == XP__WKT_DURATION)
            xp__duration_format(b, sec, nanos);
        else
            xp__timestamp_format(b, sec, nanos);
        xp__buf_putc(b, '"');
        return;
    }
    case XP__WKT_WRAPPER: {
        const ProtobufCFieldDescriptor *f = &m->descriptor->fields[0];
        xp__emit_value(w, f, xp__member(m, f), indent);
        return;
    }
    case XP__WKT_STRUCT:
        xp__emit_map(w, m, xp__f(m, "fields"), indent);
        return;
    case XP__WKT_VALUE: {
        uint32_t kind = *(const uint32_t *)xp__quant(m, xp__f(m, "null_value"));
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field(m->descriptor, kind);
        if (!f || strcmp(f->name, "null_value") == 0)
            xp__buf_puts(b, "null");
        else
            xp__emit_value(w, f, xp__member(m, f), indent);
        return;
    }
    case XP__WKT_LISTVALUE:
        xp__emit_repeated(w, m, xp__f(m, "values"), indent);
        return;
    case XP__WKT_ANY:
        xp__emit_any(w, m, indent);
        return;
    case XP__WKT_FIELDMASK: {
        const ProtobufCFieldDescriptor *f = xp__f(m, "paths");
        size_t n = *(const size_t *)xp__quant(m, f);
        char *const *paths = *(char *const *const *)xp__member(m, f);
        xp__buf_t joined = {0};
        for (size_t i = 0; i < n; i++) {
            char camel[512];
            xp__json_name(paths[i], camel, sizeof(camel));
            if (i)
                xp__buf_putc(&joined, ',');
            xp__buf_puts(&joined, camel);
        }
        xp__put_string(b, joined.p ? joined.p : "", joined.len);
        free(joined.p);
        return;
    }
    case XP__WKT_NONE:
        break;
    }
    bool first = true;
    xp__buf_putc(b, '{');
    xp__emit_fields(w, m, indent, &first);
    xp__close(w, '}', indent, first);
}

char *xp_codec_to_json(const ProtobufCMessage *msg, bool pretty)
{
    xp__jw_t w = {.pretty = pretty};
    xp__emit_message(&w, msg, 0);
    if (pretty)
        xp__buf_putc(&w.b, '\n');
    return xp__buf_take(&w.b);
}
