/* Shared by the files of xds/codec only. */
#ifndef XP_XDS_CODEC_CODEC_INTERNAL_H
#define XP_XDS_CODEC_CODEC_INTERNAL_H

#include "xds/codec/codec.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

/* Well-known types with a special JSON form. */
typedef enum {
    XP__WKT_NONE,
    XP__WKT_DURATION,
    XP__WKT_TIMESTAMP,
    XP__WKT_WRAPPER, /* google.protobuf.*Value with one field "value" = 1 */
    XP__WKT_STRUCT,
    XP__WKT_VALUE,
    XP__WKT_LISTVALUE,
    XP__WKT_ANY,
    XP__WKT_FIELDMASK,
} xp__wkt_t;

xp__wkt_t xp__wkt_kind(const ProtobufCMessageDescriptor *d);

/* Seconds range of Duration and Timestamp (protobuf's limits). */
#define XP__DURATION_MAX_SECONDS  315576000000LL
#define XP__TIMESTAMP_MIN_SECONDS -62135596800LL /* 0001-01-01T00:00:00Z */
#define XP__TIMESTAMP_MAX_SECONDS 253402300799LL /* 9999-12-31T23:59:59Z */

/* Field storage. */
static inline void *xp__member(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    return (char *)m + f->offset;
}
static inline void *xp__quant(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    return (char *)m + f->quantifier_offset;
}
static inline bool xp__is_oneof(const ProtobufCFieldDescriptor *f)
{
    return (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
}
/* Size of one value of the field's type in a struct or repeated array. */
size_t xp__type_size(ProtobufCType t);
/* True when f is a map field: repeated message "<Field>Entry" with exactly
 * key = 1 and value = 2 (protobuf-c keeps no map_entry option). */
bool xp__is_map_entry(const ProtobufCFieldDescriptor *f);
/* True when the field would be serialized (set, non-default, present). */
bool xp__field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f);
/* Frees the singular field's owned value and resets it (and its oneof case
 * / has_ flag) to the default. */
void xp__field_clear(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f);
/* A new message with every field at its default; never NULL. */
ProtobufCMessage *xp__msg_new(const ProtobufCMessageDescriptor *d);

/* lowerCamelCase JSON name of a proto field name (protoc's rule: drop '_',
 * upper-case the next letter). Writes at most cap bytes incl. NUL. */
void xp__json_name(const char *name, char *out, size_t cap);
/* snake_case of a lowerCamelCase name. */
void xp__snake_name(const char *name, char *out, size_t cap);

/* Growable string buffer; aborts on OOM (xp_realloc). */
typedef struct {
    char *p;
    size_t len, cap;
} xp__buf_t;
void xp__buf_put(xp__buf_t *b, const char *s, size_t n);
void xp__buf_puts(xp__buf_t *b, const char *s);
void xp__buf_putc(xp__buf_t *b, char c);
void xp__buf_printf(xp__buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Returns the NUL-terminated buffer (caller frees) and resets b. */
char *xp__buf_take(xp__buf_t *b);

/* Base64: encode standard with padding; decode accepts the standard and
 * URL-safe alphabets, with or without padding.  Decode returns 0 and a
 * malloc'd *out (NULL when empty), or -1. */
char *xp__base64_encode(const uint8_t *p, size_t n);
int xp__base64_decode(const char *s, size_t len, uint8_t **out, size_t *outlen);

/* Duration / Timestamp text forms.  Parse returns 0 or -1 (bad syntax or
 * out of range, *why set to a static reason). */
int xp__duration_parse(const char *s, int64_t *sec, int32_t *nanos, const char **why);
void xp__duration_format(xp__buf_t *b, int64_t sec, int32_t nanos);
int xp__timestamp_parse(const char *s, int64_t *sec, int32_t *nanos, const char **why);
void xp__timestamp_format(xp__buf_t *b, int64_t sec, int32_t nanos);

/* The JSON type URL prefix used when packing. */
#define XP__TYPE_URL_PREFIX "type.googleapis.com/"

#endif
