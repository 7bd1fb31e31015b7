/* playout: a jitter buffer for G.711 fax audio that keeps the sample timeline.
 *
 * Naming: the functions use the prefix playbuf_, not playout_, because SpanDSP
 * exports its own playout_new/_put/_get/_free (spandsp/playout.h, pulled in
 * by <spandsp.h>); same names would not compile beside it and would interpose
 * its symbols at link time (STYLE.md 2: never borrow a linked library's prefix).
 *
 * A fax modem (V.21/V.27ter/V.29/V.17 demodulator in SpanDSP) loses carrier and
 * sync if its input gets shorter or longer than real time.  So a lost packet is
 * never skipped: its samples come out as concealment (the caller's G.711
 * silence byte) and are reported as missing, so the caller can tell SpanDSP
 * with fax_rx_fillin(missing) instead of feeding fake audio as if it were real.
 *
 * How it works:
 *  - Samples are placed by RTP timestamp (8 kHz clock, one octet per G.711
 *    sample, RFC 3551 4.5.14) into a ring with a 'present' mark per sample, so
 *    any packet size (ptime 10/20/30/40 ms, or odd ones) and any reordering
 *    within the window works.
 *  - The first packet is held: get() returns 0 until the receiver has asked
 *    for delay_ms worth of samples since it arrived; then playing starts at the
 *    first packet's timestamp (or an earlier one that arrived during the hold,
 *    up to delay_ms before it).  From then on every get() returns exactly n
 *    samples: the next n of the timeline.
 *  - Packets for time already played are dropped and counted 'late'.
 *  - Duplicates are harmless (counted 'dup').
 * Clock drift (get() runs on the receiver's 20 ms clock, packets on the
 * sender's) moves the fill level slowly.  It is kept between bounds:
 *  - a packet whose end lies more than max_delay_ms ahead of the play point
 *    ('too_early': the sender's clock is faster, or a burst) makes the play
 *    point skip ahead so that packet starts delay_ms ahead; the skipped
 *    samples are lost and the output count is unchanged ('resync');
 *  - a buffer running dry just yields missing samples.  If it stays dry so
 *    long that PLAYBUF_LATE_STREAK packets in a row arrive late (the sender's
 *    clock is slower), the stream is re-anchored so the latest packet plays
 *    delay_ms from now ('resync').
 *  - a new SSRC, or a timestamp more than PLAYBUF_JUMP_MS (or 2 * max_delay_ms
 *    if larger) away from the play point, re-anchors the same way: the new
 *    stream starts delay_ms after the current play point ('resync').
 * Before playing starts, any such event simply restarts the hold with the new
 * packet.
 *
 * Ownership: playbuf_new() allocates; playbuf_free() releases.  Payloads are
 * copied.  Threads: one owner (the session's media loop); no locking.
 * The engine has no clock of its own: time is the number of samples asked for
 * by get() (STYLE.md 5), so tests drive it with fake ticks. */
#ifndef FAX_SIP_PLAYOUT_H
#define FAX_SIP_PLAYOUT_H

#include <stddef.h>
#include <stdint.h>

/* G.711 rate: 8000 samples/s, one octet each (RFC 3551 4.5.14). */
#define PLAYBUF_RATE_KHZ    8u
/* Timestamp distance from the play point that means "a new timeline". */
#define PLAYBUF_JUMP_MS     3000u
/* Consecutive late packets after which the stream is re-anchored. */
#define PLAYBUF_LATE_STREAK 5u
/* Upper bound accepted for max_delay_ms (the ring costs 2 octets a sample). */
#define PLAYBUF_MAX_DELAY_MS 5000u

typedef struct playbuf playbuf_t;

/* Counters since playbuf_new(); all read-only to the caller. */
typedef struct playbuf_stats {
    uint64_t put;             /* packets offered to playbuf_put() (valid calls) */
    uint64_t late;            /* packets wholly for time already played: dropped */
    uint64_t dup;             /* packets whose every sample was already buffered */
    uint64_t too_early;       /* packets ending > max_delay ahead (each resyncs) */
    uint64_t resync;          /* timeline jumps: too early, new SSRC, ts jump, dry */
    uint64_t samples_out;     /* samples returned while playing */
    uint64_t samples_missing; /* of those, samples with no data (filled) */
} playbuf_stats_t;

/* Creates a buffer.  delay_ms: initial hold and target fill (e.g. 60);
 * max_delay_ms: most audio held ahead of the play point (e.g. 400); it must
 * exceed delay_ms and be at most PLAYBUF_MAX_DELAY_MS.  Returns 0 and *out, or
 * FX_ERANGE for bad bounds. */
int playbuf_new(playbuf_t **out, unsigned delay_ms, unsigned max_delay_ms);

/* Frees the buffer; NULL is a no-op. */
void playbuf_free(playbuf_t *p);

/* Offers one received packet: len G.711 octets (borrowed, copied) whose first
 * sample has RTP timestamp ts, from synchronisation source ssrc.  Late,
 * duplicate and resyncing packets are not errors (see stats).
 * Returns 0, or FX_ERANGE if payload is NULL with len > 0 or len exceeds
 * (max_delay_ms - delay_ms) * 8 octets (such a packet cannot be buffered).
 * len 0 is accepted and ignored. */
int playbuf_put(playbuf_t *p, uint32_t ssrc, uint32_t ts, const uint8_t *payload, size_t len);

/* Takes the next n samples of the timeline into out[0..n).  Samples with no
 * data are set to fill (0xFF for PCMU, 0xD5 for PCMA) and counted in *missing
 * (if missing is not NULL; it is set to 0 when 0 is returned).
 * Returns n while playing, or 0 before playing starts (no packet yet, or still
 * in the initial hold): then out is untouched and the modem must not be fed.
 * Never returns anything else; n > INT_MAX is a caller bug (FX_PANIC). */
int playbuf_get(playbuf_t *p, uint8_t *out, unsigned n, uint8_t fill, unsigned *missing);

/* Copies the counters into *st. */
void playbuf_get_stats(const playbuf_t *p, playbuf_stats_t *st);

#endif
