/* rtp: RTP fixed header parse/build, RFC 3550 section 5.1. See rtp.h. */
#include "rtp.h"

#include <limits.h>
#include <string.h>

#include "fax/fx.h"

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static int fail(const char **why, const char *reason)
{
    if (why != NULL)
        *why = reason;
    return FX_EPARSE;
}

int rtp_parse(const uint8_t *buf, size_t len, rtp_hdr_t *out, const char **why)
{
    if (why != NULL)
        *why = NULL;
    if (buf == NULL || len < RTP_HDR_LEN)
        return fail(why, "datagram shorter than the 12-octet RTP header");

    /* RFC 3550 5.1, octet 0: V(2) P(1) X(1) CC(4); octet 1: M(1) PT(7). */
    unsigned v = buf[0] >> 6;
    bool padding = (buf[0] & 0x20) != 0;
    bool ext = (buf[0] & 0x10) != 0;
    size_t cc = buf[0] & 0x0f;
    if (v != RTP_VERSION)
        return fail(why, "RTP version is not 2");

    /* 5.1: the CSRC list, 0 to 15 items of 32 bits, follows the fixed header. */
    size_t off = RTP_HDR_LEN + 4 * cc;
    if (off > len)
        return fail(why, "CSRC list runs past the end of the datagram");

    /* 5.3.1: a header extension is a 16-bit profile word, a 16-bit length in
     * 32-bit words excluding this 4-octet header, then the words. */
    if (ext) {
        if (len - off < 4)
            return fail(why, "header extension header runs past the end of the datagram");
        size_t words = rd16(buf + off + 2);
        off += 4;
        if (len - off < 4 * words)
            return fail(why, "header extension runs past the end of the datagram");
        off += 4 * words;
    }

    /* 5.1: with P set, the last octet counts the padding octets to ignore,
     * itself included, so 0 is not a valid count. */
    size_t end = len;
    if (padding) {
        size_t pad = buf[len - 1];
        if (pad == 0)
            return fail(why, "padding count is zero");
        if (pad > len - off)
            return fail(why, "padding longer than the payload");
        end = len - pad;
    }

    out->marker = (buf[1] & 0x80) != 0;
    out->pt = buf[1] & 0x7f;
    out->seq = rd16(buf + 2);
    out->ts = rd32(buf + 4);
    out->ssrc = rd32(buf + 8);
    out->payload = buf + off;
    out->payload_len = end - off;
    return 0;
}

int rtp_build(uint8_t *out, size_t cap, uint8_t pt, bool marker, uint16_t seq, uint32_t ts,
              uint32_t ssrc, const uint8_t *payload, size_t len)
{
    if (pt > 127 || out == NULL || (payload == NULL && len != 0))
        return FX_ERANGE;
    if (len > (size_t)INT_MAX - RTP_HDR_LEN || cap < RTP_HDR_LEN + len)
        return FX_ERANGE;
    out[0] = (uint8_t)(RTP_VERSION << 6); /* P=0 X=0 CC=0 */
    out[1] = (uint8_t)((marker ? 0x80 : 0) | pt);
    wr16(out + 2, seq);
    wr32(out + 4, ts);
    wr32(out + 8, ssrc);
    if (len != 0)
        memmove(out + RTP_HDR_LEN, payload, len);
    return (int)(RTP_HDR_LEN + len);
}

bool rtp_is_rtcp(const uint8_t *buf, size_t len)
{
    /* RFC 3550 6.4.1: every RTCP packet starts with a 4-octet common header. */
    if (buf == NULL || len < 4 || (buf[0] >> 6) != RTP_VERSION)
        return false;
    /* RFC 5761 4: RTCP packet types 192..223 fall where RTP's M bit plus a
     * payload type of 64..95 would be, which is why those PTs are avoided. */
    unsigned pt = buf[1] & 0x7f;
    return pt >= 64 && pt <= 95;
}
