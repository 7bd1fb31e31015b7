/* udptl: the UDPTL packet layer of ITU-T T.38 Annex D, which carries T.38 IFP
 * packets over UDP with error recovery: either redundant copies of earlier IFP
 * packets (secondary-ifp-packets) or parity FEC (fec-info).  The datagram is the
 * ASN.1 UDPTLPacket of T.38 Annex D in aligned PER (ITU-T X.691):
 *
 *   UDPTLPacket ::= SEQUENCE {
 *       seq-number          INTEGER (0..65535),
 *       primary-ifp-packet  TYPE-IDENTIFIER.&Type(IFPPacket),    -- open type
 *       error-recovery      CHOICE {
 *           secondary-ifp-packets  SEQUENCE OF TYPE-IDENTIFIER.&Type(IFPPacket),
 *           fec-info               SEQUENCE {
 *               fec-npackets  INTEGER,
 *               fec-data      SEQUENCE OF OCTET STRING } } }
 *
 * The IFP packets themselves are opaque octets here; SpanDSP's T.38 core
 * (t38_core_rx_ifp_packet) parses them.  No sockets, no clocks, no SpanDSP.
 *
 * Ownership: udptl_new() allocates; udptl_free() releases.  Every buffer passed
 * in is borrowed for the duration of the call only.  The IFP pointer given to a
 * udptl_ifp_cb is valid only during that callback.
 * Threads: one udptl_t belongs to one media loop (the one owning the session);
 * it is not locked.  Different udptl_t objects are independent.
 *
 * Received datagrams are hostile (DESIGN.md invariant 7): every length is
 * checked against the datagram, absurd counts are refused, and a malformed
 * datagram changes nothing but the rx_bad counter and the error text. */
#ifndef FAX_SIP_UDPTL_H
#define FAX_SIP_UDPTL_H

#include <stddef.h>
#include <stdint.h>

/* Opaque; one per call direction pair (it keeps the sender's history for
 * redundancy/FEC and the receiver's history for recovery). */
typedef struct udptl udptl_t;

/* Error-recovery scheme used when sending (SDP T38FaxUdpEC, T.38 Annex D).
 * The receiver accepts all of them regardless of this setting. */
typedef enum {
    UDPTL_EC_NONE = 0,    /* empty secondary-ifp-packets list */
    UDPTL_EC_REDUNDANCY,  /* secondary-ifp-packets: earlier IFPs, newest first */
    UDPTL_EC_FEC,         /* fec-info: XOR parity over earlier IFPs */
} udptl_ec_t;

/* Counters since udptl_new(); all read-only for callers.
 *   rx_datagrams  datagrams handed to udptl_decode(), malformed ones included
 *   rx_ifp        IFP packets delivered to the callback (primary and recovered)
 *   rx_recovered  of those, packets rebuilt from redundancy or FEC
 *   rx_lost       sequence numbers skipped without recovery (never delivered)
 *   rx_dup        datagrams whose primary had already been delivered
 *   rx_late       datagrams whose primary is older than what was delivered and
 *                 was itself never delivered (it had been counted lost)
 *   rx_bad        malformed datagrams (udptl_decode() returned FX_EPARSE)
 *   tx_datagrams  datagrams built by udptl_encode()
 *   tx_ifp        IFP packets placed in them: primaries plus redundant
 *                 secondary copies (FEC entries are not counted) */
typedef struct udptl_stats {
    uint64_t rx_datagrams, rx_ifp, rx_recovered, rx_lost, rx_dup, rx_late, rx_bad,
        tx_datagrams, tx_ifp;
} udptl_stats_t;

/* Creates a UDPTL context.  Defaults: send with UDPTL_EC_REDUNDANCY, depth 3,
 * max datagram 400 octets; tx sequence starts at 0; the receive side starts at
 * the sequence number of the first datagram received.
 * Returns 0 and *out, or -EINVAL if out is NULL.  Never fails for memory
 * (fx_malloc aborts). */
int udptl_new(udptl_t **out);

/* Releases u and everything it holds.  NULL is a no-op. */
void udptl_free(udptl_t *u);

/* How we send.
 *   ec            error-recovery scheme.
 *   depth         for UDPTL_EC_REDUNDANCY: secondary IFPs per datagram; for
 *                 UDPTL_EC_FEC: fec-data entries per datagram (we send
 *                 fec-npackets = 1, i.e. each entry covers one earlier packet);
 *                 clamped to 0..8.  Ignored for UDPTL_EC_NONE.
 *   max_datagram  the PEER's T38FaxMaxDatagram: no datagram larger is emitted.
 *                 Redundancy/FEC entries are dropped (oldest first) to fit; if
 *                 the primary alone does not fit, udptl_encode() returns
 *                 FX_ERANGE.  0 means no limit other than the caller's cap.
 * Takes effect from the next udptl_encode(). */
void udptl_set_tx(udptl_t *u, udptl_ec_t ec, int depth, size_t max_datagram);

/* Encodes one IFP packet into a datagram with the next tx sequence number
 * (starting at 0, wrapping after 65535), adding the error recovery set by
 * udptl_set_tx() from the packets sent before it.
 *   ifp, ifp_len  the IFP packet (borrowed), 1..65535 octets.
 *   out, cap      where to write the datagram; the datagram is also kept
 *                 within cap, trimming error recovery exactly as for
 *                 max_datagram.
 *   out_len       receives the datagram length.
 * Returns 0; -EINVAL for NULL pointers; FX_ERANGE if ifp_len is 0 or above
 * 65535, or the primary alone does not fit min(max_datagram, cap) (the text is
 * in udptl_last_error()).  On failure the sequence number and the history are
 * unchanged. */
int udptl_encode(udptl_t *u, const uint8_t *ifp, size_t ifp_len, uint8_t *out, size_t cap,
                 size_t *out_len);

/* Receives one IFP packet: user as given to udptl_decode(), the packet (valid
 * only during the call), its length (>= 1) and its UDPTL sequence number.
 * Returns 0 to go on, or a negative code to stop udptl_decode(). */
typedef int (*udptl_ifp_cb)(void *user, const uint8_t *ifp, size_t len, uint16_t seq);

/* Decodes one received datagram (borrowed) and calls cb once per IFP packet to
 * deliver, in increasing sequence order: first any earlier packets not yet
 * received that this datagram's redundancy or FEC recovers, then the primary.
 *  - The first datagram received sets the expected sequence number.
 *  - Sequence numbers are 16-bit and wrap (compared modulo 2^16: up to 32767
 *    ahead is "ahead", anything else "behind").
 *  - A primary already delivered (received or recovered) is a duplicate
 *    (rx_dup); one older than the packets delivered but never delivered is
 *    late (rx_late).  Neither is delivered again.
 *  - A gap that cannot be recovered is skipped: the following packets are
 *    still delivered (SpanDSP's t38_core_rx_ifp_packet sees the sequence jump
 *    and handles the loss) and rx_lost counts the missing ones.
 *  - Parity FEC recovers one missing packet per FEC group whose other packets
 *    are among the last 32 received; any fec-npackets/entries layout is read.
 *  - Three datagrams in a row more than 32 behind are taken as the peer having
 *    restarted its numbering: the receive side starts again at the third.
 * Returns 0; -EINVAL for NULL u/cb (or NULL dgram with len > 0); FX_EPARSE for a
 * malformed datagram (nothing delivered, state unchanged but rx_bad++, reason
 * in udptl_last_error()); or the negative code cb returned: delivery stops
 * after that packet, which counts as delivered, and the packets after it in
 * this datagram (the primary included) are left for a later datagram's
 * redundancy or a retransmission. */
int udptl_decode(udptl_t *u, const uint8_t *dgram, size_t len, udptl_ifp_cb cb, void *user);

/* A short English reason for the last failed udptl_encode()/udptl_decode()
 * ("" if the last call succeeded); owned by u, valid until the next call. */
const char *udptl_last_error(const udptl_t *u);

/* Copies the counters into *st. */
void udptl_get_stats(const udptl_t *u, udptl_stats_t *st);

#endif
