/* The generic round-trip check: for every message type of a registry,
 * synthesize a message with every field set to a non-default value,
 * print it as JSON, parse it back and compare the packed bytes.  Meant to
 * run over //proto:api once it exists (link that library and pass
 * xp_proto_registry_api after xp_codec_register()ing it). */
#ifndef XP_TESTS_CODEC_ROUNDTRIP_H
#define XP_TESTS_CODEC_ROUNDTRIP_H

#include <protobuf-c/protobuf-c.h>
#include <stdio.h>

/* A new message of type d with every field set (one member per oneof,
 * two elements per repeated field, one entry per map, sub-messages down
 * to max_depth levels).  Owned by the caller
 * (protobuf_c_message_free_unpacked). */
ProtobufCMessage *xp_codec_synthesize(const ProtobufCMessageDescriptor *d, int max_depth);

/* Round-trips m through compact and pretty JSON; prints what differs to
 * log.  Returns 0 when both parse back to the same bytes. */
int xp_codec_roundtrip_one(const ProtobufCMessage *m, FILE *log);

/* Runs xp_codec_roundtrip_one over a synthesized message of every type in
 * the NULL-terminated list.  Returns the number of failing types. */
int xp_codec_roundtrip_registry(const ProtobufCMessageDescriptor *const *list, int max_depth,
                                FILE *log);

#endif
