/* The protobuf wire format (protobuf.dev/programming-guides/encoding),
 * read directly: for the few places that must look at a message's fields
 * without decoding all of it (a resource's name; the routes of a large
 * RouteConfiguration, most of which are unchanged from the last update). */
#include "xds/codec/codec.h"

static int xp__varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return -1;
        uint8_t b = *(*p)++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1; /* more than 10 bytes */
}

int xp_wire_next(const uint8_t **p, const uint8_t *end, xp_wire_field_t *f)
{
    f->start = *p;
    uint64_t tag, v;
    if (xp__varint(p, end, &tag) < 0 || (tag >> 3) == 0 || (tag >> 3) > UINT32_MAX)
        return -1;
    f->field = (uint32_t)(tag >> 3);
    f->wire_type = (uint32_t)(tag & 7);
    switch (f->wire_type) {
    case 0: /* VARINT */
        if (xp__varint(p, end, &v) < 0)
            return -1;
        f->val = NULL;
        f->len = 0;
        break;
    case 1: /* I64 */
    case 5: /* I32 */
        f->len = f->wire_type == 1 ? 8 : 4;
        if ((size_t)(end - *p) < f->len)
            return -1;
        f->val = *p;
        *p += f->len;
        break;
    case 2: /* LEN */
        if (xp__varint(p, end, &v) < 0 || v > (uint64_t)(end - *p))
            return -1;
        f->val = *p;
        f->len = (size_t)v;
        *p += f->len;
        break;
    default: /* groups (3, 4) are not used by any message here; 6, 7 do not exist */
        return -1;
    }
    f->end = *p;
    return 0;
}

size_t xp_wire_put_varint(uint8_t *dst, uint64_t v)
{
    size_t n = 0;
    do {
        uint8_t b = v & 0x7f;
        v >>= 7;
        dst[n++] = v ? (uint8_t)(b | 0x80) : b;
    } while (v);
    return n;
}

int xp_wire_string(const uint8_t *msg, size_t len, uint32_t field, const uint8_t **s, size_t *slen)
{
    const uint8_t *p = msg, *end = msg + len;
    int found = 0;
    while (p < end) {
        xp_wire_field_t f;
        if (xp_wire_next(&p, end, &f) < 0)
            return -1;
        if (f.field == field && f.wire_type == 2) {
            *s = f.val; /* the last occurrence wins, as when decoding */
            *slen = f.len;
            found = 1;
        }
    }
    return found;
}

/* False when a message field of d inside [p, end) nests deeper than depth
 * allows. Malformed bytes pass: protobuf-c refuses them itself. */
static bool xp__depth_ok(const ProtobufCMessageDescriptor *d, const uint8_t *p, const uint8_t *end,
                         unsigned depth)
{
    xp_wire_field_t f;
    while (p < end) {
        if (xp_wire_next(&p, end, &f) != 0)
            return true;
        if (f.wire_type != 2)
            continue;
        const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field(d, f.field);
        if (fd == NULL || fd->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (depth == 0 || !xp__depth_ok(fd->descriptor, f.val, f.val + f.len, depth - 1))
            return false;
    }
    return true;
}

ProtobufCMessage *xp_pb_unpack(const ProtobufCMessageDescriptor *d, size_t len, const uint8_t *data)
{
    if (len && !xp__depth_ok(d, data, data + len, XP_PB_MAX_DEPTH))
        return NULL;
    return protobuf_c_message_unpack(d, NULL, len, data);
}
