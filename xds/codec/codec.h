/* The generic codec: YAML/JSON text <-> protobuf-c messages, driven only by
 * protobuf-c descriptors (no per-message code).  Implements the proto3 JSON
 * mapping (both proto and lowerCamelCase field names, well-known types, Any
 * with "@type", maps as objects) plus the leniencies real Envoy bootstraps
 * rely on (numeric strings, a single value for a list, YAML anchors/merge
 * keys).  Every problem is reported through xp_diag_t with the full field
 * path and the YAML line.
 *
 * Types are resolved through a registry of descriptor lists: the
 * well-known types (//proto:wkt) are always there; every other proto
 * library's generated list (xp_proto_registry_<target>, declared in
 * "<target>_registry.h") is added with xp_codec_register(). */
#ifndef XP_XDS_CODEC_CODEC_H
#define XP_XDS_CODEC_CODEC_H

#include "proxy/common/diag.h"

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "google/protobuf/any.pb-c.h"

/* ---- type registry ---- */

/* Adds a NULL-terminated list of descriptors (static storage, not copied)
 * to the registry used by xp_codec_find_type(), Any decoding/printing and
 * xp_any_unpack().  Thread-safe; registering the same list (or a type that
 * is already known) twice is harmless.  Call at startup, before parsing. */
void xp_codec_register(const ProtobufCMessageDescriptor *const *list);

/* Resolves "type.googleapis.com/envoy.config.cluster.v3.Cluster" (any
 * prefix up to the last '/') or a bare full name.  Returns a static
 * descriptor or NULL when the type is unknown. */
const ProtobufCMessageDescriptor *xp_codec_find_type(const char *type_url_or_name);

/* ---- fields upstream Envoy has that xproxy does not model ---- */

typedef struct {
    const char *message; /* full name, e.g. "envoy.config.cluster.v3.Cluster" */
    const char *field;   /* proto (snake_case) name */
    uint32_t number;
    bool harmless; /* metadata, stat names, descriptions: warn and ignore */
} xp_unmodeled_field_t;

/* Adds entries (static storage, not copied) to the built-in table.  Later
 * registrations win over earlier ones and the built-in table. */
void xp_codec_register_unmodeled(const xp_unmodeled_field_t *entries, size_t n);

/* Finds the entry for `message` by field name (when field_name != NULL,
 * snake_case or lowerCamelCase) or else by number.  Static or NULL. */
const xp_unmodeled_field_t *xp_codec_find_unmodeled(const char *message, const char *field_name,
                                                    uint32_t number);

/* ---- text -> message ---- */

/* Decodes YAML or JSON text into a new message of type `desc`.  Every
 * problem is added to diag with a path rooted at root_path (may be "" or
 * NULL); all problems are collected, not just the first.  Returns NULL if
 * any error was added (warnings alone do not fail).  The result is owned by
 * the caller: free it with protobuf_c_message_free_unpacked(msg, NULL).
 * Empty text yields a message with every field at its default. */
ProtobufCMessage *xp_codec_parse(const char *text, size_t len,
                                 const ProtobufCMessageDescriptor *desc, const char *root_path,
                                 xp_diag_t *diag);

/* Loads text into a libyaml document (JSON works: libyaml reads flow
 * style; UTF-16 surrogate-pair escapes are handled).  More than one
 * document is an error.  Returns 0, or XP_EINVAL with an error in diag (at
 * root_path) and nothing to free.  On success the caller owns *doc and
 * frees it with yaml_document_delete(); its root may be NULL (empty). */
int xp_codec_load_yaml(const char *text, size_t len, yaml_document_t *doc, const char *root_path,
                       xp_diag_t *diag);

/* Decodes one node of a document loaded by xp_codec_load_yaml() (e.g. one
 * element of a DiscoveryResponse-shaped file's "resources" list).  Same
 * contract as xp_codec_parse(); node NULL decodes as an empty message. The
 * document stays the caller's. */
ProtobufCMessage *xp_codec_parse_node(yaml_document_t *doc, yaml_node_t *node,
                                      const ProtobufCMessageDescriptor *desc, const char *root_path,
                                      xp_diag_t *diag);

/* ---- message -> text ---- */

/* proto3 JSON with proto (snake_case) field names, as Envoy's admin
 * /config_dump prints: defaults omitted, Any expanded with "@type", 64-bit
 * integers as strings, Duration as "1.500s", wrappers as plain values,
 * Struct/Value as JSON, bytes as base64, enums by name.  An Any whose type
 * is not registered (or whose bytes do not decode) prints as
 * {"@type": url, "value": "<base64>"}.  Returns a NUL-terminated string
 * owned by the caller (free()); never NULL. */
char *xp_codec_to_json(const ProtobufCMessage *msg, bool pretty);

/* ---- Any ---- */

/* Unpacks any->value as `expected` (NULL: the type named by the URL).
 * Errors (at `path`, naming the type URL) on a type mismatch, an
 * unregistered type or bytes that do not decode.  Returns a new message
 * owned by the caller (protobuf_c_message_free_unpacked) or NULL on error. */
ProtobufCMessage *xp_any_unpack(const Google__Protobuf__Any *any,
                                const ProtobufCMessageDescriptor *expected, xp_diag_t *diag,
                                const char *path);

/* Packs msg into a new Any with URL "type.googleapis.com/<full name>".
 * Owned by the caller (protobuf_c_message_free_unpacked). */
Google__Protobuf__Any *xp_any_pack(const ProtobufCMessage *msg);

/* Walks a binary-decoded message (and every sub-message, including the
 * payloads of Any fields whose type is registered) and reports each
 * protobuf-c unknown field: a harmless unmodeled field is a warning, any
 * other one an error naming the message and the field number (and name
 * when the unmodeled table knows it).  Returns the number of errors added. */
int xp_codec_check_unknown_fields(const ProtobufCMessage *msg, const char *path, xp_diag_t *diag);

/* ---- the wire format ---- */

/* One field of a serialized message: bytes [start, end) hold it whole (tag
 * and value); for LEN (wire type 2) val/len are the payload, for I32/I64
 * the fixed bytes, for VARINT val is NULL. */
typedef struct {
    uint32_t field, wire_type;
    const uint8_t *start, *end, *val;
    size_t len;
} xp_wire_field_t;

/* Reads the field at *p (before end) into f and moves *p past it. Returns 0,
 * or -1 when the bytes are not a well-formed field (groups included). */
int xp_wire_next(const uint8_t **p, const uint8_t *end, xp_wire_field_t *f);
/* How deep messages may nest in wire data xproxy decodes (protobuf's own
 * default recursion limit, which Envoy keeps). */
#define XP_PB_MAX_DEPTH 100
/* protobuf_c_message_unpack for wire data from outside (a control plane, a
 * client of xds-server, a file): data whose messages nest deeper than
 * XP_PB_MAX_DEPTH is refused with NULL, as malformed data is, before
 * protobuf-c's recursion could run out of stack (about 20,000 levels, a
 * 150 KB google.protobuf.Value, crash it). Nesting is followed through the
 * descriptor's message fields; an Any's payload is counted when it is
 * unpacked itself. */
ProtobufCMessage *xp_pb_unpack(const ProtobufCMessageDescriptor *d, size_t len,
                               const uint8_t *data);
/* Writes v as a varint into dst (at most 10 bytes); returns its length. */
size_t xp_wire_put_varint(uint8_t *dst, uint64_t v);
/* The payload of the top-level LEN field `field` of a serialized message
 * (its last occurrence, as a decoder would keep): 1 with *s and *slen set, 0 if
 * absent, -1 if the message is malformed. Borrowed from msg. */
int xp_wire_string(const uint8_t *msg, size_t len, uint32_t field, const uint8_t **s, size_t *slen);

/* ---- copy and merge ---- */

/* protobuf MergeFrom: scalars set in src (non-default, or present for
 * fields with presence) overwrite dst, repeated fields are appended, map
 * entries replace the entry with the same key, singular sub-messages merge
 * recursively, a oneof member set in src replaces dst's member, unknown
 * fields are appended.  Everything is deep-copied, so dst stays freeable
 * with protobuf_c_message_free_unpacked and src is untouched.  Both must
 * have the same descriptor. */
void xp_proto_merge(ProtobufCMessage *dst, const ProtobufCMessage *src);

/* Deep copy, owned by the caller (protobuf_c_message_free_unpacked). */
ProtobufCMessage *xp_proto_clone(const ProtobufCMessage *m);

#endif
