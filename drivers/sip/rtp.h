/* rtp: RTP fixed-header parsing and building (RFC 3550 section 5.1) for the
 * G.711 audio leg of a SIP fax call, plus the RTP/RTCP demultiplexing test of
 * RFC 5761 section 4.
 *
 * Ownership: nothing is allocated.  rtp_parse() fills a caller-owned rtp_hdr_t
 * whose payload pointer points into the caller's datagram buffer, so it is
 * valid only as long as that buffer is.
 * Threads: pure functions on caller memory; call from any thread (in practice
 * the media loop that owns the session).
 *
 * Datagrams are hostile input (DESIGN.md invariant 7): every length is checked
 * against the datagram before it is used, and a failure names its reason. */
#ifndef FAX_SIP_RTP_H
#define FAX_SIP_RTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 3550 5.1: the fixed header is 12 octets; a CSRC is 4 octets each. */
#define RTP_HDR_LEN  12u
#define RTP_VERSION  2u

/* One parsed RTP packet.  All fields are read-only results of rtp_parse(). */
typedef struct rtp_hdr {
    uint8_t        pt;          /* payload type, 0..127 (0 = PCMU, 8 = PCMA) */
    bool           marker;      /* M bit */
    uint16_t       seq;         /* sequence number */
    uint32_t       ts;          /* RTP timestamp of the first payload sample */
    uint32_t       ssrc;        /* synchronisation source */
    const uint8_t *payload;     /* points into the parsed buffer; NULL never */
    size_t         payload_len; /* payload octets, padding removed; may be 0 */
} rtp_hdr_t;

/* Parses one datagram as an RTP packet (RFC 3550 5.1), skipping the CSRC list,
 * a header extension (5.3.1) and removing padding (P bit).
 *   buf, len  the datagram (borrowed).
 *   out       filled on success; left unspecified on failure.
 *   why       if not NULL, receives a static English reason on failure and
 *             NULL on success.
 * Returns 0, or FX_EPARSE if the datagram is not a well-formed RTP packet.
 * It does not reject RTCP; call rtp_is_rtcp() first on a multiplexed port. */
int rtp_parse(const uint8_t *buf, size_t len, rtp_hdr_t *out, const char **why);

/* Writes a 12-octet RTP header (V=2, P=0, X=0, CC=0) followed by len payload
 * octets into out, which has room for cap octets.  payload may be NULL only if
 * len is 0.  Returns the number of octets written (12 + len), or FX_ERANGE if
 * cap is too small, pt > 127 or the total does not fit an int. */
int rtp_build(uint8_t *out, size_t cap, uint8_t pt, bool marker, uint16_t seq, uint32_t ts,
              uint32_t ssrc, const uint8_t *payload, size_t len);

/* True if the datagram is RTCP rather than RTP on a port carrying both
 * (RFC 5761 section 4): version 2 and the second octet, with the marker bit
 * masked off, in 64..95 (i.e. RTCP packet types 192..223).  A datagram too short
 * to be either is not RTCP (rtp_parse() will reject it). */
bool rtp_is_rtcp(const uint8_t *buf, size_t len);

#endif
