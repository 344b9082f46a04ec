#include "tests/tools/ws.h"

#include <string.h>

#include <openssl/evp.h>

/* RFC 6455 §1.3: the GUID appended to the key before hashing. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

int xpt_ws_parse_header(const uint8_t *buf, size_t len, xpt_ws_frame_t *f)
{
    if (len < 2)
        return 0;
    f->fin = (buf[0] & 0x80) != 0;
    f->rsv = (buf[0] >> 4) & 0x7;
    f->opcode = buf[0] & 0x0f;
    f->masked = (buf[1] & 0x80) != 0;
    uint64_t n = buf[1] & 0x7f;
    size_t hl = 2;
    /* §5.2 Payload length: 126 → 16-bit, 127 → 64-bit (MSB 0); "the
     * minimal number of bytes MUST be used to encode the length". */
    if (n == 126) {
        if (len < 4)
            return 0;
        n = ((uint64_t)buf[2] << 8) | buf[3];
        if (n < 126)
            return -1;
        hl = 4;
    } else if (n == 127) {
        if (len < 10)
            return 0;
        n = 0;
        for (int i = 0; i < 8; i++)
            n = (n << 8) | buf[2 + i];
        if ((n >> 63) != 0 || n <= 0xffff)
            return -1;
        hl = 10;
    }
    if (f->masked) {
        if (len < hl + 4)
            return 0;
        memcpy(f->mask, buf + hl, 4);
        hl += 4;
    } else {
        memset(f->mask, 0, 4);
    }
    f->len = n;
    return (int)hl;
}

bool xpt_ws_opcode_known(uint8_t opcode)
{
    switch (opcode) {
    case XPT_WS_CONT:
    case XPT_WS_TEXT:
    case XPT_WS_BINARY:
    case XPT_WS_CLOSE:
    case XPT_WS_PING:
    case XPT_WS_PONG:
        return true;
    }
    return false;
}

size_t xpt_ws_write_header(uint8_t *dst, bool fin, uint8_t opcode, const uint8_t *mask,
                           uint64_t len)
{
    size_t hl = 2;
    dst[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
    uint8_t mbit = mask ? 0x80 : 0;
    if (len < 126) {
        dst[1] = (uint8_t)(mbit | len);
    } else if (len <= 0xffff) {
        dst[1] = mbit | 126;
        dst[2] = (uint8_t)(len >> 8);
        dst[3] = (uint8_t)len;
        hl = 4;
    } else {
        dst[1] = mbit | 127;
        for (int i = 0; i < 8; i++)
            dst[2 + i] = (uint8_t)(len >> (56 - 8 * i));
        hl = 10;
    }
    if (mask) {
        memcpy(dst + hl, mask, 4);
        hl += 4;
    }
    return hl;
}

void xpt_ws_mask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset)
{
    /* §5.3: octet i of the payload is XORed with mask[i % 4]. */
    for (size_t i = 0; i < n; i++)
        p[i] ^= mask[(offset + i) & 3];
}

void xpt_ws_accept(const char *key, size_t key_len, char out[XPT_WS_ACCEPT_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha1(), NULL);
    EVP_DigestUpdate(ctx, key, key_len);
    EVP_DigestUpdate(ctx, ws_guid, sizeof(ws_guid) - 1);
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen); /* 20 bytes → 28 chars + NUL */
}

bool xpt_ws_key_valid(const char *key, size_t key_len)
{
    /* 16 bytes encode to 22 base64 characters plus "==". */
    if (key_len != 24 || key[22] != '=' || key[23] != '=')
        return false;
    unsigned char raw[24];
    int n = EVP_DecodeBlock(raw, (const unsigned char *)key, 24);
    /* EVP_DecodeBlock counts the padding as zero bytes: 18 for 16 real. */
    return n == 18;
}
