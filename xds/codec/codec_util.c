/* Descriptor helpers, string buffers, base64 and the Duration/Timestamp
 * text forms shared by the parser and the printer. */
#include "xds/codec/codec_internal.h"

#include "proxy/common/mem.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

xp__wkt_t xp__wkt_kind(const ProtobufCMessageDescriptor *d)
{
    const char *n = d->name;
    if (strncmp(n, "google.protobuf.", 16) != 0)
        return XP__WKT_NONE;
    n += 16;
    static const struct {
        const char *name;
        xp__wkt_t kind;
    } tab[] = {
        {"Duration", XP__WKT_DURATION},
        {"Timestamp", XP__WKT_TIMESTAMP},
        {"DoubleValue", XP__WKT_WRAPPER},
        {"FloatValue", XP__WKT_WRAPPER},
        {"Int64Value", XP__WKT_WRAPPER},
        {"UInt64Value", XP__WKT_WRAPPER},
        {"Int32Value", XP__WKT_WRAPPER},
        {"UInt32Value", XP__WKT_WRAPPER},
        {"BoolValue", XP__WKT_WRAPPER},
        {"StringValue", XP__WKT_WRAPPER},
        {"BytesValue", XP__WKT_WRAPPER},
        {"Struct", XP__WKT_STRUCT},
        {"Value", XP__WKT_VALUE},
        {"ListValue", XP__WKT_LISTVALUE},
        {"Any", XP__WKT_ANY},
        {"FieldMask", XP__WKT_FIELDMASK},
    };
    for (size_t i = 0; i < XP_ARRAY_SIZE(tab); i++)
        if (strcmp(n, tab[i].name) == 0)
            return tab[i].kind;
    return XP__WKT_NONE;
}

size_t xp__type_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_ENUM:
        return 4;
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
    }
    return 0;
}

bool xp__is_map_entry(const ProtobufCFieldDescriptor *f)
{
    if (f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE)
        return false;
    const ProtobufCMessageDescriptor *d = f->descriptor;
    if (d->n_fields != 2 || d->fields[0].id != 1 || d->fields[1].id != 2 ||
        strcmp(d->fields[0].name, "key") != 0 || strcmp(d->fields[1].name, "value") != 0)
        return false;
    /* protoc names the entry after the field: foo_bar -> FooBarEntry. */
    char camel[256];
    xp__json_name(f->name, camel, sizeof(camel) - 6);
    camel[0] = (char)toupper((unsigned char)camel[0]);
    strcat(camel, "Entry");
    return strcmp(d->short_name, camel) == 0;
}

static bool xp__value_is_zero(const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_BOOL:
        return *(const protobuf_c_boolean *)p == 0;
    case PROTOBUF_C_TYPE_FLOAT:
        return *(const float *)p == 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        return *(const double *)p == 0;
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return s == NULL || s[0] == '\0';
    }
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)p)->len == 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(ProtobufCMessage *const *)p == NULL;
    default:
        if (xp__type_size(f->type) == 4)
            return *(const uint32_t *)p == 0;
        return *(const uint64_t *)p == 0;
    }
}

bool xp__field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    const void *p = xp__member(m, f);
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return *(const size_t *)xp__quant(m, f) > 0;
    if (xp__is_oneof(f)) {
        if (*(const uint32_t *)xp__quant(m, f) != f->id)
            return false;
        if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE) {
            const void *ptr = *(void *const *)p;
            return ptr != NULL && ptr != f->default_value;
        }
        return true;
    }
    if (f->label == PROTOBUF_C_LABEL_REQUIRED)
        return true;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL) {
        if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE) {
            const void *ptr = *(void *const *)p;
            return ptr != NULL && ptr != f->default_value;
        }
        return *(const protobuf_c_boolean *)xp__quant(m, f) != 0;
    }
    return !xp__value_is_zero(f, p);
}

static void xp__value_free(const ProtobufCFieldDescriptor *f, void *p)
{
    if (f->type == PROTOBUF_C_TYPE_STRING) {
        char *s = *(char **)p;
        if (s && s != f->default_value && s != protobuf_c_empty_string)
            free(s);
    } else if (f->type == PROTOBUF_C_TYPE_BYTES) {
        ProtobufCBinaryData *bd = p;
        const ProtobufCBinaryData *def = f->default_value;
        if (bd->data && (def == NULL || def->data != bd->data))
            free(bd->data);
    } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
        ProtobufCMessage *sm = *(ProtobufCMessage **)p;
        if (sm && sm != f->default_value)
            protobuf_c_message_free_unpacked(sm, NULL);
    }
}

void xp__field_clear(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    void *p = xp__member(m, f);
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t *n = xp__quant(m, f);
        char *arr = *(char **)p;
        size_t sz = xp__type_size(f->type);
        for (size_t i = 0; i < *n; i++)
            xp__value_free(f, arr + i * sz);
        free(arr);
        *(void **)p = NULL;
        *n = 0;
        return;
    }
    if (xp__is_oneof(f)) {
        uint32_t *c = xp__quant(m, f);
        if (*c != f->id)
            return;
        *c = 0;
    }
    xp__value_free(f, p);
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        /* default_value of a string field is the default string itself. */
        *(const char **)p = f->default_value;
        break;
    case PROTOBUF_C_TYPE_BYTES:
        if (f->default_value)
            *(ProtobufCBinaryData *)p = *(const ProtobufCBinaryData *)f->default_value;
        else
            memset(p, 0, sizeof(ProtobufCBinaryData));
        break;
    case PROTOBUF_C_TYPE_MESSAGE:
        *(void **)p = NULL;
        break;
    default:
        if (f->default_value)
            memcpy(p, f->default_value, xp__type_size(f->type));
        else
            memset(p, 0, xp__type_size(f->type));
    }
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
        f->type != PROTOBUF_C_TYPE_MESSAGE)
        *(protobuf_c_boolean *)xp__quant(m, f) = 0;
}

ProtobufCMessage *xp__msg_new(const ProtobufCMessageDescriptor *d)
{
    ProtobufCMessage *m = xp_malloc(d->sizeof_message);
    protobuf_c_message_init(d, m);
    return m;
}

void xp__json_name(const char *name, char *out, size_t cap)
{
    size_t o = 0;
    bool up = false;
    for (const char *s = name; *s && o + 1 < cap; s++) {
        if (*s == '_') {
            up = true;
            continue;
        }
        out[o++] = up ? (char)toupper((unsigned char)*s) : *s;
        up = false;
    }
    out[o] = '\0';
}

void xp__snake_name(const char *name, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *s = name; *s && o + 2 < cap; s++) {
        if (isupper((unsigned char)*s)) {
            out[o++] = '_';
            out[o++] = (char)tolower((unsigned char)*s);
        } else {
            out[o++] = *s;
        }
    }
    out[o] = '\0';
}

/* ---- buffers ---- */

void xp__buf_put(xp__buf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->p = xp_realloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void xp__buf_puts(xp__buf_t *b, const char *s)
{
    xp__buf_put(b, s, strlen(s));
}

void xp__buf_putc(xp__buf_t *b, char c)
{
    xp__buf_put(b, &c, 1);
}

void xp__buf_printf(xp__buf_t *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(tmp)) {
        xp__buf_put(b, tmp, (size_t)n);
        return;
    }
    char *big = xp_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    xp__buf_put(b, big, (size_t)n);
    free(big);
}

char *xp__buf_take(xp__buf_t *b)
{
    char *p = b->p ? b->p : xp_strdup("");
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

/* ---- base64 (RFC 4648 sections 4 and 5) ---- */

static const char xp__b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *xp__base64_encode(const uint8_t *p, size_t n)
{
    char *out = xp_malloc((n + 2) / 3 * 4 + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        out[o++] = xp__b64[(v >> 18) & 63];
        out[o++] = xp__b64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? xp__b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? xp__b64[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

static int xp__b64_val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

int xp__base64_decode(const char *s, size_t len, uint8_t **out, size_t *outlen)
{
    while (len > 0 && s[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return -1;
    uint8_t *buf = len ? xp_malloc(len / 4 * 3 + 3) : NULL;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = xp__b64_val(s[i]);
        if (v < 0) {
            free(buf);
            return -1;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (o == 0) {
        free(buf);
        buf = NULL;
    }
    *out = buf;
    *outlen = o;
    return 0;
}

/* ---- Duration: "-1.500s" ---- */

static int xp__parse_frac(const char **sp, int32_t *nanos)
{
    const char *s = *sp;
    int32_t v = 0;
    int digits = 0;
    while (isdigit((unsigned char)*s)) {
        if (digits == 9)
            return -1;
        v = v * 10 + (*s - '0');
        digits++;
        s++;
    }
    if (digits == 0)
        return -1;
    for (int i = digits; i < 9; i++)
        v *= 10;
    *nanos = v;
    *sp = s;
    return 0;
}

int xp__duration_parse(const char *s, int64_t *sec, int32_t *nanos, const char **why)
{
    bool neg = false;
    *why = "expected a duration like \"1.5s\"";
    if (*s == '-') {
        neg = true;
        s++;
    }
    if (!isdigit((unsigned char)*s))
        return -1;
    int64_t v = 0;
    while (isdigit((unsigned char)*s)) {
        if (v > XP__DURATION_MAX_SECONDS) {
            *why = "duration out of range (at most 315576000000s)";
            return -1;
        }
        v = v * 10 + (*s - '0');
        s++;
    }
    int32_t n = 0;
    if (*s == '.') {
        s++;
        if (xp__parse_frac(&s, &n) < 0) {
            *why = "expected a duration like \"1.5s\" (1 to 9 fractional digits)";
            return -1;
        }
    }
    if (s[0] != 's' || s[1] != '\0') {
        *why = s[0] == '\0' ? "expected a duration with an 's' suffix like \"1.5s\""
                            : "expected a duration like \"1.5s\"";
        return -1;
    }
    if (v > XP__DURATION_MAX_SECONDS) {
        *why = "duration out of range (at most 315576000000s)";
        return -1;
    }
    *sec = neg ? -v : v;
    *nanos = neg ? -n : n;
    return 0;
}

static void xp__frac_format(xp__buf_t *b, int32_t nanos)
{
    if (nanos == 0)
        return;
    if (nanos % 1000000 == 0)
        xp__buf_printf(b, ".%03d", nanos / 1000000);
    else if (nanos % 1000 == 0)
        xp__buf_printf(b, ".%06d", nanos / 1000);
    else
        xp__buf_printf(b, ".%09d", nanos);
}

void xp__duration_format(xp__buf_t *b, int64_t sec, int32_t nanos)
{
    if (sec < 0 || nanos < 0) {
        xp__buf_putc(b, '-');
        sec = sec < 0 ? -sec : sec;
        nanos = nanos < 0 ? -nanos : nanos;
    }
    xp__buf_printf(b, "%lld", (long long)sec);
    xp__frac_format(b, nanos);
    xp__buf_putc(b, 's');
}

/* ---- Timestamp: RFC 3339 ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * well-known civil calendar formulas). */
static int64_t xp__days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void xp__civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int xp__digits(const char **sp, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*sp)[i]))
            return -1;
        v = v * 10 + ((*sp)[i] - '0');
    }
    *sp += n;
    *out = v;
    return 0;
}

int xp__timestamp_parse(const char *s, int64_t *sec, int32_t *nanos, const char **why)
{
    int Y, M, D, h, mi, se, oh = 0, om = 0;
    int32_t n = 0;
    *why = "expected an RFC 3339 timestamp like \"2024-01-31T10:00:00Z\"";
    if (xp__digits(&s, 4, &Y) || *s++ != '-' || xp__digits(&s, 2, &M) || *s++ != '-' ||
        xp__digits(&s, 2, &D) || (*s != 'T' && *s != 't') || !*s++ || xp__digits(&s, 2, &h) ||
        *s++ != ':' || xp__digits(&s, 2, &mi) || *s++ != ':' || xp__digits(&s, 2, &se))
        return -1;
    if (*s == '.') {
        s++;
        if (xp__parse_frac(&s, &n) < 0)
            return -1;
    }
    int sign = 0;
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        sign = *s == '+' ? 1 : -1;
        s++;
        if (xp__digits(&s, 2, &oh) || *s++ != ':' || xp__digits(&s, 2, &om))
            return -1;
    } else {
        return -1;
    }
    if (*s != '\0')
        return -1;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (Y < 1 || M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || h > 23 || mi > 59 || se > 59 ||
        oh > 23 || om > 59) {
        *why = "timestamp has an invalid date or time";
        return -1;
    }
    bool leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
    if (M == 2 && D == 29 && !leap) {
        *why = "timestamp has an invalid date or time";
        return -1;
    }
    int64_t v = xp__days_from_civil(Y, (unsigned)M, (unsigned)D) * 86400 + h * 3600 + mi * 60 + se;
    v -= sign * (oh * 3600 + om * 60);
    if (v < XP__TIMESTAMP_MIN_SECONDS || v > XP__TIMESTAMP_MAX_SECONDS) {
        *why = "timestamp out of range (years 0001 to 9999)";
        return -1;
    }
    *sec = v;
    *nanos = n;
    return 0;
}

void xp__timestamp_format(xp__buf_t *b, int64_t sec, int32_t nanos)
{
    int64_t days = sec / 86400, rem = sec % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int64_t y;
    unsigned m, d;
    xp__civil_from_days(days, &y, &m, &d);
    xp__buf_printf(b, "%04lld-%02u-%02uT%02d:%02d:%02d", (long long)y, m, d, (int)(rem / 3600),
                   (int)(rem / 60 % 60), (int)(rem % 60));
    xp__frac_format(b, nanos < 0 ? 0 : nanos);
    xp__buf_putc(b, 'Z');
}
