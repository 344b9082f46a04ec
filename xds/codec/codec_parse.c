/* YAML/JSON text -> protobuf-c message, driven by descriptors.  The text is
 * loaded into a libyaml document (JSON is YAML flow style), then walked
 * together with the message descriptor.  Every problem is added to the
 * diag list with the field path and the line, and decoding goes on, so one
 * run reports every mistake in a file. */
#include "xds/codec/codec_internal.h"

#include "proxy/common/error.h"
#include "proxy/common/mem.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XP__MAX_DEPTH 100

typedef struct {
    yaml_document_t *doc;
    xp_diag_t *diag;
    xp_path_t path;
    int depth;
} xp__pctx_t;

typedef struct {
    yaml_node_t *key, *val;
} xp__pair_t;

typedef struct {
    xp__pair_t *v;
    size_t n, cap;
} xp__pairs_t;

static void xp__report(xp__pctx_t *c, xp_diag_sev_t sev, const yaml_node_t *n, const char *fmt,
                       va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (n)
        xp_diag_add(c->diag, sev, xp_path_str(&c->path), "%s (line %zu)", msg,
                    (size_t)n->start_mark.line + 1);
    else
        xp_diag_add(c->diag, sev, xp_path_str(&c->path), "%s", msg);
}

__attribute__((format(printf, 3, 4))) static void xp__perr(xp__pctx_t *c, const yaml_node_t *n,
                                                           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    xp__report(c, XP_DIAG_ERROR, n, fmt, ap);
    va_end(ap);
}

__attribute__((format(printf, 3, 4))) static void xp__pwarn(xp__pctx_t *c, const yaml_node_t *n,
                                                            const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    xp__report(c, XP_DIAG_WARNING, n, fmt, ap);
    va_end(ap);
}

static const char *xp__sval(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static bool xp__is_plain(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static bool xp__is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE)
        return false;
    if (n->tag && strcmp((const char *)n->tag, YAML_NULL_TAG) == 0)
        return true;
    if (!xp__is_plain(n))
        return false;
    const char *s = xp__sval(n);
    return !strcmp(s, "") || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
           !strcmp(s, "NULL");
}

/* What was found, for "expected X, got Y": a quoted, truncated scalar or
 * the kind of collection. */
static const char *xp__describe(const yaml_node_t *n, char *buf, size_t cap)
{
    if (n->type == YAML_MAPPING_NODE)
        return "a mapping";
    if (n->type == YAML_SEQUENCE_NODE)
        return "a list";
    if (xp__is_null(n))
        return "null";
    const char *s = xp__sval(n);
    size_t len = strlen(s);
    if (len > 60)
        snprintf(buf, cap, "\"%.60s...\"", s);
    else
        snprintf(buf, cap, "\"%s\"", s);
    return buf;
}

#define XP__GOT(n) xp__describe((n), got_buf, sizeof(got_buf))

/* ---- mappings: merge keys and duplicates ---- */

static bool xp__is_merge_key(const yaml_node_t *k)
{
    return xp__is_plain(k) && strcmp(xp__sval(k), "<<") == 0;
}

static bool xp__pairs_have(const xp__pairs_t *ps, const yaml_node_t *k)
{
    if (k->type != YAML_SCALAR_NODE)
        return false;
    for (size_t i = 0; i < ps->n; i++)
        if (ps->v[i].key && ps->v[i].key->type == YAML_SCALAR_NODE &&
            strcmp(xp__sval(ps->v[i].key), xp__sval(k)) == 0)
            return true;
    return false;
}

static void xp__pairs_push(xp__pairs_t *ps, yaml_node_t *k, yaml_node_t *v)
{
    if (ps->n == ps->cap) {
        ps->cap = ps->cap ? ps->cap * 2 : 16;
        ps->v = xp_realloc(ps->v, ps->cap * sizeof(*ps->v));
    }
    ps->v[ps->n++] = (xp__pair_t){k, v};
}

/* YAML merge keys (<<): explicit keys win over merged ones; among merged
 * mappings the earlier wins (the YAML 1.1 merge-key rule). */
static void xp__collect(xp__pctx_t *c, yaml_node_t *map, xp__pairs_t *out, bool merged, int depth)
{
    if (depth > 16) {
        xp__perr(c, map, "YAML merge keys nested too deeply");
        return;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        if (xp__is_merge_key(k))
            continue;
        if (merged && xp__pairs_have(out, k))
            continue;
        xp__pairs_push(out, k, yaml_document_get_node(c->doc, p->value));
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        if (!xp__is_merge_key(k))
            continue;
        yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
        if (v->type == YAML_MAPPING_NODE) {
            xp__collect(c, v, out, true, depth + 1);
        } else if (v->type == YAML_SEQUENCE_NODE) {
            for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top;
                 i++) {
                yaml_node_t *e = yaml_document_get_node(c->doc, *i);
                if (e->type == YAML_MAPPING_NODE)
                    xp__collect(c, e, out, true, depth + 1);
                else
                    xp__perr(c, e, "expected a mapping to merge with '<<'");
            }
        } else {
            xp__perr(c, v, "expected a mapping or a list of mappings to merge with '<<'");
        }
    }
}

/* qsort has no context argument in C11; a thread-local keeps concurrent
 * decodes apart. */
static _Thread_local xp__pairs_t *xp__sort_pairs;

static int xp__pair_cmp(const void *a, const void *b)
{
    const xp__pair_t *x = &xp__sort_pairs->v[*(const size_t *)a];
    const xp__pair_t *y = &xp__sort_pairs->v[*(const size_t *)b];
    int r = strcmp(xp__sval(x->key), xp__sval(y->key));
    if (r)
        return r;
    return x < y ? -1 : x > y;
}

/* The effective pairs of a mapping.  A key given twice is reported and its
 * later occurrences dropped (key set to NULL). */
static void xp__mapping_pairs(xp__pctx_t *c, yaml_node_t *map, xp__pairs_t *out, bool is_map)
{
    memset(out, 0, sizeof(*out));
    xp__collect(c, map, out, false, 0);
    size_t *idx = xp_malloc((out->n + 1) * sizeof(size_t));
    size_t ns = 0;
    for (size_t i = 0; i < out->n; i++)
        if (out->v[i].key->type == YAML_SCALAR_NODE)
            idx[ns++] = i;
    xp__sort_pairs = out;
    qsort(idx, ns, sizeof(size_t), xp__pair_cmp);
    for (size_t i = 1; i < ns; i++) {
        xp__pair_t *prev = &out->v[idx[i - 1]], *cur = &out->v[idx[i]];
        if (strcmp(xp__sval(prev->key), xp__sval(cur->key)) != 0)
            continue;
        const char *k = xp__sval(cur->key);
        size_t mark = is_map ? xp_path_push_key(&c->path, k) : xp_path_push_field(&c->path, k);
        xp__perr(c, cur->key, "duplicate key '%s' (first given on line %zu)", k,
                 (size_t)prev->key->start_mark.line + 1);
        xp_path_pop(&c->path, mark);
        cur->key = NULL;
        /* keep prev as the reference for further duplicates */
        idx[i] = idx[i - 1];
    }
    free(idx);
}

/* ---- scalars ---- */

/* JSON number syntax (also YAML's decimal ints and floats). */
static bool xp__is_number(const char *s)
{
    if (*s == '-' || *s == '+')
        s++;
    if (!isdigit((unsigned char)*s))
        return false;
    while (isdigit((unsigned char)*s))
        s++;
    if (*s == '.') {
        s++;
        if (!isdigit((unsigned char)*s))
            return false;
        while (isdigit((unsigned char)*s))
            s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!isdigit((unsigned char)*s))
            return false;
        while (isdigit((unsigned char)*s))
            s++;
    }
    return *s == '\0';
}

/* 0 ok, -1 syntax, -2 out of range. */
static int xp__parse_double(const char *s, double *out)
{
    if (!strcmp(s, "NaN") || !strcmp(s, "nan") || !strcmp(s, ".nan") || !strcmp(s, ".NaN")) {
        *out = NAN;
        return 0;
    }
    const char *a = s[0] == '-' ? s + 1 : s;
    if (!strcmp(a, "Infinity") || !strcmp(a, "inf") || !strcmp(a, ".inf") || !strcmp(a, ".Inf")) {
        *out = s[0] == '-' ? -INFINITY : INFINITY;
        return 0;
    }
    if (!xp__is_number(s))
        return -1;
    errno = 0;
    double v = strtod(s, NULL);
    if (errno == ERANGE && isinf(v))
        return -2;
    *out = v;
    return 0;
}

static int xp__parse_int(const char *s, bool is_unsigned, int64_t *i, uint64_t *u)
{
    if (!xp__is_number(s))
        return -1;
    bool integral = strpbrk(s, ".eE") == NULL;
    if (integral) {
        errno = 0;
        if (is_unsigned) {
            if (s[0] == '-')
                return strspn(s + 1, "0") == strlen(s + 1) ? (*u = 0, 0) : -2;
            *u = strtoull(s, NULL, 10);
        } else {
            *i = strtoll(s, NULL, 10);
        }
        return errno == ERANGE ? -2 : 0;
    }
    /* "1e3", "5.0": accepted when integral, as protobuf's JSON parser does. */
    double d = strtod(s, NULL);
    if (d != floor(d))
        return -1;
    if (is_unsigned) {
        if (d < 0 || d >= 18446744073709551616.0)
            return -2;
        *u = (uint64_t)d;
    } else {
        if (d < -9223372036854775808.0 || d >= 9223372036854775808.0)
            return -2;
        *i = (int64_t)d;
    }
    return 0;
}

static const char *xp__int_kind(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return "an unsigned 32-bit integer";
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return "an unsigned 64-bit integer";
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return "a 64-bit integer";
    default:
        return "a 32-bit integer";
    }
}

static bool xp__parse_bool(const char *s, protobuf_c_boolean *out)
{
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
        *out = 1;
        return true;
    }
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
        *out = 0;
        return true;
    }
    return false;
}

static void xp__enum_names(const ProtobufCEnumDescriptor *ed, char *buf, size_t cap)
{
    size_t o = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < ed->n_values && o + 8 < cap; i++) {
        int n = snprintf(buf + o, cap - o, "%s%s", i ? ", " : "", ed->values[i].name);
        if (n < 0 || (size_t)n >= cap - o) {
            snprintf(buf + o, cap - o, ", ...");
            break;
        }
        o += (size_t)n;
    }
}

static void xp__decode_message(xp__pctx_t *c, yaml_node_t *n, ProtobufCMessage *m);

static bool xp__is_value_field(const ProtobufCFieldDescriptor *f)
{
    return f->type == PROTOBUF_C_TYPE_MESSAGE && xp__wkt_kind(f->descriptor) == XP__WKT_VALUE;
}

/* Decodes one value of f's type from n into p (the struct member or a
 * repeated slot).  `presence`: store even a default value (oneof member,
 * repeated element, field with presence), so strings are always
 * allocated.  A message is always allocated into *p, even when decoding it
 * reports errors, so the tree stays freeable. */
static bool xp__decode_single(xp__pctx_t *c, const ProtobufCFieldDescriptor *f, yaml_node_t *n,
                              void *p, bool presence)
{
    char got_buf[80];
    if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
        ProtobufCMessage **pm = p;
        if (*pm == NULL)
            *pm = xp__msg_new(f->descriptor);
        xp__decode_message(c, n, *pm);
        return true;
    }
    if (n->type != YAML_SCALAR_NODE) {
        const char *what = "a string";
        switch (f->type) {
        case PROTOBUF_C_TYPE_BOOL:
            what = "a boolean (true or false)";
            break;
        case PROTOBUF_C_TYPE_FLOAT:
        case PROTOBUF_C_TYPE_DOUBLE:
            what = "a number";
            break;
        case PROTOBUF_C_TYPE_ENUM:
            what = "an enum value name or number";
            break;
        case PROTOBUF_C_TYPE_BYTES:
            what = "base64-encoded bytes";
            break;
        case PROTOBUF_C_TYPE_STRING:
            break;
        default:
            what = xp__int_kind(f->type);
        }
        xp__perr(c, n, "expected %s, got %s", what, XP__GOT(n));
        return false;
    }
    const char *s = xp__sval(n);
    size_t len = n->data.scalar.length;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        bool is_u = f->type == PROTOBUF_C_TYPE_UINT32 || f->type == PROTOBUF_C_TYPE_FIXED32 ||
                    f->type == PROTOBUF_C_TYPE_UINT64 || f->type == PROTOBUF_C_TYPE_FIXED64;
        bool is32 = xp__type_size(f->type) == 4;
        int64_t i = 0;
        uint64_t u = 0;
        int r = xp__parse_int(s, is_u, &i, &u);
        if (r == 0 && is32 && (is_u ? u > UINT32_MAX : (i < INT32_MIN || i > INT32_MAX)))
            r = -2;
        if (r == -1) {
            xp__perr(c, n, "expected %s, got %s", xp__int_kind(f->type), XP__GOT(n));
            return false;
        }
        if (r == -2) {
            xp__perr(c, n, "value %s is out of range for %s", s, xp__int_kind(f->type));
            return false;
        }
        if (is32)
            *(uint32_t *)p = is_u ? (uint32_t)u : (uint32_t)(int32_t)i;
        else
            *(uint64_t *)p = is_u ? u : (uint64_t)i;
        return true;
    }
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: {
        double d;
        int r = xp__parse_double(s, &d);
        if (r == 0 && f->type == PROTOBUF_C_TYPE_FLOAT && isfinite(d) && fabs(d) > FLT_MAX)
            r = -2;
        if (r == -1) {
            xp__perr(c, n, "expected a number, got %s", XP__GOT(n));
            return false;
        }
        if (r == -2) {
            xp__perr(c, n, "value %s is out of range for a %s", s,
                     f->type == PROTOBUF_C_TYPE_FLOAT ? "float" : "double");
            return false;
        }
        if (f->type == PROTOBUF_C_TYPE_FLOAT)
            *(float *)p = (float)d;
        else
            *(double *)p = d;
        return true;
    }
    case PROTOBUF_C_TYPE_BOOL:
        if (!xp__parse_bool(s, p)) {
            xp__perr(c, n, "expected a boolean (true or false), got %s", XP__GOT(n));
            return false;
        }
        return true;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *ed = f->descriptor;
        int64_t i;
        if (xp__is_number(s)) {
            int r = xp__parse_int(s, false, &i, NULL);
            if (r != 0 || i < INT32_MIN || i > INT32_MAX) {
                xp__perr(c, n, "enum number %s is out of range for %s", s, ed->name);
                return false;
            }
            *(int32_t *)p = (int32_t)i;
            return true;
        }
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(ed, s);
        if (!ev) {
            char names[512];
            xp__enum_names(ed, names, sizeof(names));
            xp__perr(c, n, "unknown value %s for enum %s (expected one of: %s)", XP__GOT(n),
                     ed->name, names);
            return false;
        }
        *(int32_t *)p = ev->value;
        return true;
    }
    case PROTOBUF_C_TYPE_STRING:
        if (memchr(s, '\0', len)) {
            xp__perr(c, n, "string contains a NUL character");
            return false;
        }
        if (len == 0 && !presence)
            return true;
        *(char **)p = xp_strndup(s, len);
        return true;
    case PROTOBUF_C_TYPE_BYTES: {
        uint8_t *data;
        size_t dlen;
        if (xp__base64_decode(s, len, &data, &dlen) < 0) {
            xp__perr(c, n, "expected base64-encoded bytes, got %s", XP__GOT(n));
            return false;
        }
        ((ProtobufCBinaryData *)p)->data = data;
        ((ProtobufCBinaryData *)p)->len = dlen;
        return true;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        break;
    }
    return false;
}

/* ---- fields ---- */

static const ProtobufCFieldDescriptor *xp__field_by_id(const ProtobufCMessageDescriptor *d,
                                                       uint32_t id)
{
    return protobuf_c_message_descriptor_get_field(d, (unsigned)id);
}

static void xp__decode_map(xp__pctx_t *c, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                           yaml_node_t *n)
{
    char got_buf[80];
    if (n->type != YAML_MAPPING_NODE) {
        xp__perr(c, n, "expected a mapping for map field '%s', got %s", f->name, XP__GOT(n));
        return;
    }
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
    xp__pairs_t ps;
    xp__mapping_pairs(c, n, &ps, true);
    size_t *cnt = xp__quant(m, f);
    ProtobufCMessage ***arr = xp__member(m, f);
    *arr = xp_realloc(*arr, (*cnt + ps.n + 1) * sizeof(void *));
    for (size_t i = 0; i < ps.n; i++) {
        yaml_node_t *k = ps.v[i].key, *v = ps.v[i].val;
        if (!k)
            continue;
        if (k->type != YAML_SCALAR_NODE) {
            xp__perr(c, k, "expected a scalar map key, got %s", XP__GOT(k));
            continue;
        }
        size_t mark = xp_path_push_key(&c->path, xp__sval(k));
        ProtobufCMessage *e = xp__msg_new(ed);
        (*arr)[(*cnt)++] = e;
        xp__decode_single(c, kf, k, xp__member(e, kf), false);
        if (xp__is_null(v) && !xp__is_value_field(vf))
            xp__perr(c, v, "null is not allowed as a map value");
        else
            xp__decode_single(c, vf, v, xp__member(e, vf), false);
        xp_path_pop(&c->path, mark);
    }
    free(ps.v);
}

static void xp__decode_repeated(xp__pctx_t *c, ProtobufCMessage *m,
                                const ProtobufCFieldDescriptor *f, yaml_node_t *n)
{
    if (xp__is_null(n))
        return;
    if (xp__is_map_entry(f)) {
        xp__decode_map(c, m, f, n);
        return;
    }
    yaml_node_item_t one = 0;
    yaml_node_item_t *items, *end;
    if (n->type == YAML_SEQUENCE_NODE) {
        items = n->data.sequence.items.start;
        end = n->data.sequence.items.top;
    } else {
        /* A single value where a list is expected: a one-element list. */
        items = &one;
        end = items + 1;
    }
    size_t count = (size_t)(end - items);
    size_t sz = xp__type_size(f->type);
    size_t *cnt = xp__quant(m, f);
    char **arr = xp__member(m, f);
    *arr = xp_realloc(*arr, (*cnt + count + 1) * sz);
    memset(*arr + *cnt * sz, 0, (count + 1) * sz);
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *e = items == &one ? n : yaml_document_get_node(c->doc, items[i]);
        size_t mark = xp_path_push_index(&c->path, i);
        if (xp__is_null(e) && !xp__is_value_field(f)) {
            xp__perr(c, e, "null is not allowed as a list element");
        } else {
            bool ok = xp__decode_single(c, f, e, *arr + *cnt * sz, true);
            if (ok || f->type == PROTOBUF_C_TYPE_MESSAGE)
                (*cnt)++;
        }
        xp_path_pop(&c->path, mark);
    }
}

static void xp__decode_field(xp__pctx_t *c, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                             yaml_node_t *n)
{
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        xp__decode_repeated(c, m, f, n);
        return;
    }
    if (xp__is_null(n) && !xp__is_value_field(f))
        return; /* null: the field keeps its default */
    bool presence = false;
    if (xp__is_oneof(f)) {
        uint32_t *cs = xp__quant(m, f);
        if (*cs != 0 && *cs != f->id) {
            const ProtobufCFieldDescriptor *o = xp__field_by_id(m->descriptor, *cs);
            xp__perr(c, n, "fields '%s' and '%s' belong to the same oneof; set only one",
                     o ? o->name : "?", f->name);
            return;
        }
        /* Select the member first, so whatever gets allocated is freed. */
        *cs = f->id;
        presence = true;
    } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL) {
        presence = true;
    }
    if (xp__decode_single(c, f, n, xp__member(m, f), presence) &&
        f->label == PROTOBUF_C_LABEL_OPTIONAL && !xp__is_oneof(f) &&
        f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
        *(protobuf_c_boolean *)xp__quant(m, f) = 1;
}

static const ProtobufCFieldDescriptor *xp__find_field(const ProtobufCMessageDescriptor *d,
                                                      const char *key)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, key);
    if (f)
        return f;
    char camel[256];
    for (unsigned i = 0; i < d->n_fields; i++) {
        xp__json_name(d->fields[i].name, camel, sizeof(camel));
        if (strcmp(camel, key) == 0)
            return &d->fields[i];
    }
    return NULL;
}

static void xp__unknown_key(xp__pctx_t *c, const ProtobufCMessageDescriptor *d, yaml_node_t *k)
{
    const char *name = xp__sval(k);
    size_t mark = xp_path_push_field(&c->path, name);
    const xp_unmodeled_field_t *u = xp_codec_find_unmodeled(d->name, name, 0);
    if (u && u->harmless)
        xp__pwarn(c, k, "field '%s' is not supported by xproxy and is ignored", name);
    else if (u)
        xp__perr(c, k, "field '%s' of %s is not supported by xproxy", name, d->name);
    else
        xp__perr(c, k, "unknown field '%s' in %s", name, d->name);
    xp_path_pop(&c->path, mark);
}

/* Decodes the pairs of a mapping as fields of m, skipping key `skip`. */
static void xp__decode_fields(xp__pctx_t *c, ProtobufCMessage *m, xp__pairs_t *ps, const char *skip)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    char got_buf[80];
    const char **seen = xp_calloc(d->n_fields + 1, sizeof(char *));
    for (size_t i = 0; i < ps->n; i++) {
        yaml_node_t *k = ps->v[i].key;
        if (!k)
            continue;
        if (k->type != YAML_SCALAR_NODE) {
            xp__perr(c, k, "expected a field name, got %s", XP__GOT(k));
            continue;
        }
        const char *name = xp__sval(k);
        if (skip && strcmp(name, skip) == 0)
            continue;
        const ProtobufCFieldDescriptor *f = xp__find_field(d, name);
        if (!f) {
            xp__unknown_key(c, d, k);
            continue;
        }
        size_t idx = (size_t)(f - d->fields);
        size_t mark = xp_path_push_field(&c->path, f->name);
        if (seen[idx])
            xp__perr(c, k, "field '%s' is given twice (as '%s' and '%s')", f->name, seen[idx],
                     name);
        else {
            seen[idx] = name;
            xp__decode_field(c, m, f, ps->v[i].val);
        }
        xp_path_pop(&c->path, mark);
    }
    free(seen);
}

/* ---- well-known types ---- */

static const ProtobufCFieldDescriptor *xp__f(const ProtobufCMessage *m, const char *name)
{
    return protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
}

static void xp__set_oneof(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    *(uint32_t *)xp__quant(m, f) = f->id;
}

static void xp__decode_value(xp__pctx_t *c, yaml_node_t *n, ProtobufCMessage *m)
{
    const ProtobufCFieldDescriptor *f;
    if (xp__is_null(n)) {
        f = xp__f(m, "null_value");
        xp__set_oneof(m, f);
        *(int32_t *)xp__member(m, f) = 0;
        return;
    }
    if (n->type == YAML_MAPPING_NODE || n->type == YAML_SEQUENCE_NODE) {
        f = xp__f(m, n->type == YAML_MAPPING_NODE ? "struct_value" : "list_value");
        xp__set_oneof(m, f);
        xp__decode_single(c, f, n, xp__member(m, f), true);
        return;
    }
    const char *s = xp__sval(n);
    protobuf_c_boolean b;
    if (xp__is_plain(n) && xp__parse_bool(s, &b)) {
        f = xp__f(m, "bool_value");
        xp__set_oneof(m, f);
        *(protobuf_c_boolean *)xp__member(m, f) = b;
    } else if (xp__is_plain(n) && xp__is_number(s)) {
        f = xp__f(m, "number_value");
        xp__set_oneof(m, f);
        xp__decode_single(c, f, n, xp__member(m, f), true);
    } else {
        f = xp__f(m, "string_value");
        xp__set_oneof(m, f);
        xp__decode_single(c, f, n, xp__member(m, f), true);
    }
}

static void xp__decode_any(xp__pctx_t *c, yaml_node_t *n, ProtobufCMessage *m)
{
    char got_buf[80];
    Google__Protobuf__Any *any = (Google__Protobuf__Any *)m;
    if (n->type != YAML_MAPPING_NODE) {
        xp__perr(c, n, "expected a mapping with \"@type\" for google.protobuf.Any, got %s",
                 XP__GOT(n));
        return;
    }
    xp__pairs_t ps;
    xp__mapping_pairs(c, n, &ps, false);
    yaml_node_t *type_node = NULL, *value_node = NULL;
    size_t live = 0;
    for (size_t i = 0; i < ps.n; i++) {
        yaml_node_t *k = ps.v[i].key;
        if (!k)
            continue;
        live++;
        if (k->type == YAML_SCALAR_NODE && strcmp(xp__sval(k), "@type") == 0)
            type_node = ps.v[i].val;
        if (k->type == YAML_SCALAR_NODE && strcmp(xp__sval(k), "value") == 0)
            value_node = ps.v[i].val;
    }
    if (!type_node) {
        if (live)
            xp__perr(c, n, "missing \"@type\" in google.protobuf.Any");
        free(ps.v);
        return;
    }
    if (type_node->type != YAML_SCALAR_NODE || xp__is_null(type_node) || !xp__sval(type_node)[0]) {
        xp__perr(c, type_node, "expected a type URL for \"@type\", got %s", XP__GOT(type_node));
        free(ps.v);
        return;
    }
    const char *url = xp__sval(type_node);
    const ProtobufCMessageDescriptor *td = xp_codec_find_type(url);
    if (!td) {
        xp__perr(c, type_node, "unknown type \"%s\" in \"@type\"", url);
        free(ps.v);
        return;
    }
    size_t errors0 = c->diag->nerrors;
    ProtobufCMessage *inner = xp__msg_new(td);
    if (xp__wkt_kind(td) != XP__WKT_NONE) {
        /* {"@type": ".../google.protobuf.Duration", "value": "1s"} */
        for (size_t i = 0; i < ps.n; i++) {
            yaml_node_t *k = ps.v[i].key;
            if (k && k->type == YAML_SCALAR_NODE && strcmp(xp__sval(k), "@type") &&
                strcmp(xp__sval(k), "value")) {
                size_t mark = xp_path_push_field(&c->path, xp__sval(k));
                xp__perr(c, k, "unknown field '%s' in an Any holding %s (only \"value\")",
                         xp__sval(k), td->name);
                xp_path_pop(&c->path, mark);
            }
        }
        if (!value_node) {
            xp__perr(c, n, "missing \"value\" in an Any holding %s", td->name);
        } else {
            size_t mark = xp_path_push_field(&c->path, "value");
            xp__decode_message(c, value_node, inner);
            xp_path_pop(&c->path, mark);
        }
    } else {
        xp__decode_fields(c, inner, &ps, "@type");
    }
    free(ps.v);
    if (c->diag->nerrors == errors0) {
        size_t len = protobuf_c_message_get_packed_size(inner);
        any->value.data = len ? xp_malloc(len) : NULL;
        any->value.len = len ? protobuf_c_message_pack(inner, any->value.data) : 0;
        any->type_url = xp_strdup(url);
    }
    protobuf_c_message_free_unpacked(inner, NULL);
}

/* Returns true when n was handled in the type's special JSON form; false to
 * decode it as an ordinary message (e.g. {seconds: 1} for a Duration). */
static bool xp__decode_wkt(xp__pctx_t *c, yaml_node_t *n, ProtobufCMessage *m, xp__wkt_t kind)
{
    char got_buf[80];
    switch (kind) {
    case XP__WKT_DURATION:
    case XP__WKT_TIMESTAMP: {
        if (n->type == YAML_MAPPING_NODE)
            return false;
        bool dur = kind == XP__WKT_DURATION;
        const char *why = dur ? "expected a duration like \"1.5s\""
                              : "expected an RFC 3339 timestamp like \"2024-01-31T10:00:00Z\"";
        int64_t sec;
        int32_t nanos;
        if (n->type != YAML_SCALAR_NODE ||
            (dur ? xp__duration_parse(xp__sval(n), &sec, &nanos, &why)
                 : xp__timestamp_parse(xp__sval(n), &sec, &nanos, &why)) < 0) {
            xp__perr(c, n, "%s, got %s", why, XP__GOT(n));
            return true;
        }
        *(int64_t *)xp__member(m, xp__f(m, "seconds")) = sec;
        *(int32_t *)xp__member(m, xp__f(m, "nanos")) = nanos;
        return true;
    }
    case XP__WKT_WRAPPER:
        if (n->type == YAML_MAPPING_NODE)
            return false;
        xp__decode_single(c, &m->descriptor->fields[0], n, xp__member(m, &m->descriptor->fields[0]),
                          false);
        return true;
    case XP__WKT_STRUCT:
        if (n->type != YAML_MAPPING_NODE) {
            xp__perr(c, n, "expected a mapping for google.protobuf.Struct, got %s", XP__GOT(n));
            return true;
        }
        xp__decode_map(c, m, xp__f(m, "fields"), n);
        return true;
    case XP__WKT_VALUE:
        xp__decode_value(c, n, m);
        return true;
    case XP__WKT_LISTVALUE:
        if (n->type != YAML_SEQUENCE_NODE) {
            xp__perr(c, n, "expected a list for google.protobuf.ListValue, got %s", XP__GOT(n));
            return true;
        }
        xp__decode_repeated(c, m, xp__f(m, "values"), n);
        return true;
    case XP__WKT_ANY:
        xp__decode_any(c, n, m);
        return true;
    case XP__WKT_FIELDMASK: {
        if (n->type != YAML_SCALAR_NODE)
            return false;
        const ProtobufCFieldDescriptor *f = xp__f(m, "paths");
        const char *s = xp__sval(n);
        size_t *cnt = xp__quant(m, f);
        char ***arr = xp__member(m, f);
        while (*s) {
            size_t l = strcspn(s, ",");
            char camel[256], snake[512];
            snprintf(camel, sizeof(camel), "%.*s", (int)l, s);
            xp__snake_name(camel, snake, sizeof(snake));
            *arr = xp_realloc(*arr, (*cnt + 1) * sizeof(char *));
            (*arr)[(*cnt)++] = xp_strdup(snake);
            s += l;
            if (*s == ',')
                s++;
        }
        return true;
    }
    case XP__WKT_NONE:
        break;
    }
    return false;
}

static void xp__decode_message(xp__pctx_t *c, yaml_node_t *n, ProtobufCMessage *m)
{
    char got_buf[80];
    const ProtobufCMessageDescriptor *d = m->descriptor;
    if (c->depth >= XP__MAX_DEPTH) {
        xp__perr(c, n, "nesting deeper than %d levels", XP__MAX_DEPTH);
        return;
    }
    c->depth++;
    xp__wkt_t kind = xp__wkt_kind(d);
    if (xp__is_null(n) && kind != XP__WKT_VALUE) {
        c->depth--;
        return;
    }
    if (kind != XP__WKT_NONE && xp__decode_wkt(c, n, m, kind)) {
        c->depth--;
        return;
    }
    if (n->type != YAML_MAPPING_NODE) {
        xp__perr(c, n, "expected a mapping for %s, got %s", d->name, XP__GOT(n));
        c->depth--;
        return;
    }
    xp__pairs_t ps;
    xp__mapping_pairs(c, n, &ps, false);
    xp__decode_fields(c, m, &ps, NULL);
    free(ps.v);
    c->depth--;
}

/* ---- entry points ---- */

/* libyaml rejects UTF-16 surrogate escapes ("\ud83d\ude00", valid JSON);
 * rewrite each pair as YAML's "\U0001f600".  Only run after libyaml failed
 * on such an escape, so other text is never touched. */
static char *xp__fix_surrogates(const char *t, size_t len, size_t *out_len, bool *changed)
{
    char *o = xp_malloc(len + 1);
    size_t j = 0;
    *changed = false;
    for (size_t i = 0; i < len;) {
        if (t[i] != '\\' || i + 1 >= len) {
            o[j++] = t[i++];
            continue;
        }
        unsigned hi, lo;
        if (i + 12 <= len && t[i + 1] == 'u' && t[i + 6] == '\\' && t[i + 7] == 'u' &&
            sscanf(t + i + 2, "%4x", &hi) == 1 && sscanf(t + i + 8, "%4x", &lo) == 1 &&
            isxdigit((unsigned char)t[i + 5]) && isxdigit((unsigned char)t[i + 11]) &&
            hi >= 0xd800 && hi <= 0xdbff && lo >= 0xdc00 && lo <= 0xdfff) {
            unsigned cp = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
            j += (size_t)sprintf(o + j, "\\U%08x", cp);
            i += 12;
            *changed = true;
            continue;
        }
        o[j++] = t[i++]; /* the backslash and the escaped character */
        o[j++] = t[i++];
    }
    o[j] = '\0';
    *out_len = j;
    return o;
}

typedef struct {
    char problem[256];
    size_t line, column;
} xp__yaml_err_t;

static int xp__load_once(const char *text, size_t len, yaml_document_t *doc, xp__yaml_err_t *err)
{
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    int rc = 0;
    if (!yaml_parser_load(&p, doc)) {
        snprintf(err->problem, sizeof(err->problem), "%s%s%s", p.problem ? p.problem : "error",
                 p.context ? " " : "", p.context ? p.context : "");
        err->line = p.problem_mark.line + 1;
        err->column = p.problem_mark.column + 1;
        rc = -1;
    } else {
        yaml_document_t next;
        if (!yaml_parser_load(&p, &next)) {
            snprintf(err->problem, sizeof(err->problem), "%s%s%s", p.problem ? p.problem : "error",
                     p.context ? " " : "", p.context ? p.context : "");
            err->line = p.problem_mark.line + 1;
            err->column = p.problem_mark.column + 1;
            yaml_document_delete(doc);
            rc = -1;
        } else {
            yaml_node_t *root = yaml_document_get_root_node(&next);
            if (root) {
                snprintf(err->problem, sizeof(err->problem),
                         "more than one YAML document (a second one starts)");
                err->line = root->start_mark.line + 1;
                err->column = 0;
                yaml_document_delete(doc);
                rc = -1;
            }
            yaml_document_delete(&next);
        }
    }
    yaml_parser_delete(&p);
    return rc;
}

int xp_codec_load_yaml(const char *text, size_t len, yaml_document_t *doc, const char *root_path,
                       xp_diag_t *diag)
{
    xp__yaml_err_t err;
    int rc = xp__load_once(text, len, doc, &err);
    if (rc < 0 && strstr(err.problem, "invalid Unicode character escape")) {
        bool changed;
        size_t flen;
        char *fixed = xp__fix_surrogates(text, len, &flen, &changed);
        if (changed)
            rc = xp__load_once(fixed, flen, doc, &err);
        free(fixed);
    }
    if (rc < 0) {
        if (err.column)
            xp_diag_error(diag, root_path, "invalid YAML/JSON: %s (line %zu, column %zu)",
                          err.problem, err.line, err.column);
        else
            xp_diag_error(diag, root_path, "invalid YAML/JSON: %s (line %zu)", err.problem,
                          err.line);
        return XP_EINVAL;
    }
    return 0;
}

ProtobufCMessage *xp_codec_parse_node(yaml_document_t *doc, yaml_node_t *node,
                                      const ProtobufCMessageDescriptor *desc, const char *root_path,
                                      xp_diag_t *diag)
{
    size_t errors0 = diag->nerrors;
    ProtobufCMessage *m = xp__msg_new(desc);
    if (node) {
        xp__pctx_t c = {.doc = doc, .diag = diag, .depth = 0};
        xp_path_init(&c.path, root_path);
        xp__decode_message(&c, node, m);
    }
    if (diag->nerrors != errors0) {
        protobuf_c_message_free_unpacked(m, NULL);
        return NULL;
    }
    return m;
}

ProtobufCMessage *xp_codec_parse(const char *text, size_t len,
                                 const ProtobufCMessageDescriptor *desc, const char *root_path,
                                 xp_diag_t *diag)
{
    yaml_document_t doc;
    if (xp_codec_load_yaml(text, len, &doc, root_path, diag) < 0)
        return NULL;
    ProtobufCMessage *m =
        xp_codec_parse_node(&doc, yaml_document_get_root_node(&doc), desc, root_path, diag);
    yaml_document_delete(&doc);
    return m;
}
