/* WebSocket framing helpers shared by the test tools (RFC 6455). No I/O,
 * no allocation: everything works on caller buffers. */
#ifndef XP_TESTS_TOOLS_WS_H
#define XP_TESTS_TOOLS_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Opcodes, RFC 6455 §5.2 and §11.8. */
enum {
    XPT_WS_CONT = 0x0,
    XPT_WS_TEXT = 0x1,
    XPT_WS_BINARY = 0x2,
    XPT_WS_CLOSE = 0x8,
    XPT_WS_PING = 0x9,
    XPT_WS_PONG = 0xA,
};

/* Longest frame header: 2 + 8 (64-bit length) + 4 (masking key). */
#define XPT_WS_MAX_HEADER 14
/* Control frames carry at most 125 payload bytes (RFC 6455 §5.5). */
#define XPT_WS_MAX_CONTROL 125
/* Length of a Sec-WebSocket-Accept value (base64 of 20 bytes). */
#define XPT_WS_ACCEPT_LEN 28

typedef struct {
    bool fin;
    uint8_t rsv; /* RSV1..3 as the top bits of byte 0, shifted down */
    uint8_t opcode;
    bool masked;
    uint8_t mask[4];
    uint64_t len; /* payload length */
} xpt_ws_frame_t;

/* Parses a frame header at buf[0..len). Returns the header length (> 0),
 * 0 when more bytes are needed, or -1 when the header itself breaks
 * RFC 6455 §5.2: a 64-bit length with the most significant bit set, or a
 * length not in its minimal encoding. Opcode/RSV/mask policy is the
 * caller's (it depends on the direction). */
int xpt_ws_parse_header(const uint8_t *buf, size_t len, xpt_ws_frame_t *f);

/* True for the opcodes RFC 6455 §5.2 defines (others are reserved). */
bool xpt_ws_opcode_known(uint8_t opcode);

/* Writes a frame header (minimal length encoding) into dst, which holds at
 * least XPT_WS_MAX_HEADER bytes; mask NULL writes an unmasked frame.
 * Returns its length. */
size_t xpt_ws_write_header(uint8_t *dst, bool fin, uint8_t opcode, const uint8_t *mask,
                           uint64_t len);

/* XORs p[0..n) with the masking key, as bytes offset.. of the payload
 * (RFC 6455 §5.3): the same call masks and unmasks, in any split. */
void xpt_ws_mask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset);

/* Sec-WebSocket-Accept for a key (RFC 6455 §4.2.2 step 5.4): base64 of the
 * SHA-1 of key + the protocol GUID. Writes XPT_WS_ACCEPT_LEN chars + NUL. */
void xpt_ws_accept(const char *key, size_t key_len, char out[XPT_WS_ACCEPT_LEN + 1]);

/* True when key is a valid Sec-WebSocket-Key: base64 of exactly 16 bytes
 * (RFC 6455 §4.1 item 7, §4.2.1 item 5). */
bool xpt_ws_key_valid(const char *key, size_t key_len);

#endif
