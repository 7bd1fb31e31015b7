/* playout: timeline-preserving jitter buffer for G.711 fax audio. See playout.h
 * for the behaviour; this file explains the bookkeeping.
 *
 * Positions: every sample has a 64-bit timeline position.  A packet's RTP
 * timestamp (RFC 3550 5.1, 32 bits, wrapping) is mapped to a position by
 * adding the stream's 32-bit offset and unwrapping relative to the play point
 * (the position of the next sample get() hands out), so the 2^32 wrap needs
 * no special case.  All comparisons are on signed differences.
 *
 * Ring invariant: a sample is marked present only if its position lies in
 * [play, play + maxd).  The ring has at least maxd slots, so each slot maps to
 * one position of that window; get() clears what it consumes, and every jump
 * of the play point clears what it passes over. */
#include "playout.h"

#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fax/fx.h"

typedef enum {
    PO_ST_EMPTY = 0, /* no packet yet: get() returns 0 */
    PO_ST_HOLD,      /* first packet held for delay: get() returns 0 */
    PO_ST_PLAY,      /* every get() returns n */
} po_state_t;

static const char *const po_state_names[] = {"EMPTY", "HOLD", "PLAY"};

struct playbuf {
    po_state_t state;
    unsigned delay;     /* target fill and initial hold, samples */
    unsigned maxd;      /* most held ahead of the play point, samples */
    uint64_t jump;      /* distance from play point meaning "new timeline" */
    size_t mask;        /* ring slots - 1 (power of two) */
    uint8_t *data;      /* ring of samples */
    uint8_t *present;   /* ring of 'has data' marks */

    uint32_t ssrc;      /* current source */
    uint32_t offset;    /* added to its RTP timestamps before unwrapping */
    uint64_t play;      /* position of the next sample get() returns */
    uint64_t first;     /* HOLD: position of the first packet of the stream */
    uint64_t high;      /* end of the furthest sample stored (HOLD uses it) */
    uint64_t held;      /* HOLD: samples asked for since the hold began */
    unsigned late_streak; /* consecutive wholly late packets */

    playbuf_stats_t st;
};

static const char *po_state_name(po_state_t s)
{
    return (unsigned)s < sizeof po_state_names / sizeof po_state_names[0] ? po_state_names[s]
                                                                          : "?";
}

static void set_state(playbuf_t *p, po_state_t s)
{
    if (p->state != s)
        fx_log(FX_LOG_DEBUG, FX_FAC_RTP, "playout state %s -> %s", po_state_name(p->state),
               po_state_name(s));
    p->state = s;
}

/* Signed distance a - b on the timeline. */
static int64_t dist(uint64_t a, uint64_t b)
{
    return (int64_t)(a - b);
}

/* Maps an RTP timestamp of the current stream to a timeline position: the
 * position nearest the play point whose low 32 bits equal ts + offset. */
static uint64_t ts_to_pos(const playbuf_t *p, uint32_t ts)
{
    uint32_t d = ts + p->offset - (uint32_t)p->play;
    int64_t sd = d < 0x80000000u ? (int64_t)d : (int64_t)d - (INT64_C(1) << 32);
    return p->play + (uint64_t)sd;
}

/* Forgets samples at positions [from, to). */
static void clear_range(playbuf_t *p, uint64_t from, uint64_t to)
{
    if (dist(to, from) <= 0)
        return;
    if ((uint64_t)dist(to, from) > p->mask) {
        memset(p->present, 0, p->mask + 1);
        return;
    }
    for (uint64_t pos = from; pos != to; pos++)
        p->present[pos & p->mask] = 0;
}

/* Stores the part of a packet at/after the play point; returns the number of
 * samples that were not present before.  Caller guarantees the end lies
 * within play + maxd. */
static size_t store(playbuf_t *p, uint64_t pos, const uint8_t *payload, size_t len)
{
    size_t i = 0, fresh = 0;
    if (dist(p->play, pos) > 0)
        i = (size_t)dist(p->play, pos);
    for (; i < len; i++) {
        size_t k = (size_t)((pos + i) & p->mask);
        if (!p->present[k]) {
            p->data[k] = payload[i];
            p->present[k] = 1;
            fresh++;
        }
    }
    if (dist(pos + len, p->high) > 0)
        p->high = pos + len;
    return fresh;
}

/* Starts a new stream mapping with the packet (ssrc, ts) as its anchor.
 * Before playing: drop everything and hold again from this packet.
 * While playing: map ts to play + delay (the target fill) and forget what
 * was buffered from there on; older buffered samples still play out. */
static void anchor(playbuf_t *p, uint32_t ssrc, uint32_t ts, const char *reason)
{
    if (reason != NULL) {
        p->st.resync++;
        fx_log(FX_LOG_INFO, FX_FAC_RTP,
               "playout resync reason=%s state=%s old_ssrc=%08x ssrc=%08x ts=%u", reason,
               po_state_name(p->state), (unsigned)p->ssrc, (unsigned)ssrc, (unsigned)ts);
    }
    if (p->state != PO_ST_PLAY) {
        memset(p->present, 0, p->mask + 1);
        p->offset = 0;
        p->play = ts;
        p->first = p->play;
        p->high = p->play;
        p->held = 0;
        set_state(p, PO_ST_HOLD);
    } else {
        uint64_t target = p->play + p->delay;
        p->offset = (uint32_t)target - ts;
        clear_range(p, target, p->play + p->maxd);
        p->high = target;
    }
    p->ssrc = ssrc;
    p->late_streak = 0;
}

int playbuf_new(playbuf_t **out, unsigned delay_ms, unsigned max_delay_ms)
{
    if (out == NULL || max_delay_ms <= delay_ms || max_delay_ms > PLAYBUF_MAX_DELAY_MS)
        return FX_ERANGE;
    playbuf_t *p = fx_calloc(1, sizeof *p);
    p->state = PO_ST_EMPTY;
    p->delay = delay_ms * PLAYBUF_RATE_KHZ;
    p->maxd = max_delay_ms * PLAYBUF_RATE_KHZ;
    p->jump = (uint64_t)PLAYBUF_JUMP_MS * PLAYBUF_RATE_KHZ;
    if (p->jump < 2u * (uint64_t)p->maxd)
        p->jump = 2u * (uint64_t)p->maxd;
    size_t slots = 1;
    while (slots < p->maxd)
        slots <<= 1;
    p->mask = slots - 1;
    p->data = fx_malloc(slots);
    p->present = fx_calloc(slots, 1);
    *out = p;
    return 0;
}

void playbuf_free(playbuf_t *p)
{
    if (p == NULL)
        return;
    free(p->data);
    free(p->present);
    free(p);
}

int playbuf_put(playbuf_t *p, uint32_t ssrc, uint32_t ts, const uint8_t *payload, size_t len)
{
    if (payload == NULL && len != 0)
        return FX_ERANGE;
    /* Must fit behind the target fill after a resync (see anchor()). */
    if (len > (size_t)(p->maxd - p->delay))
        return FX_ERANGE;
    if (len == 0)
        return 0;
    p->st.put++;

    if (p->state == PO_ST_EMPTY) {
        anchor(p, ssrc, ts, NULL);
        store(p, ts_to_pos(p, ts), payload, len);
        return 0;
    }
    if (ssrc != p->ssrc) {
        /* RFC 3550 8.2: a new SSRC has its own random timestamp base. */
        anchor(p, ssrc, ts, "new-ssrc");
        store(p, ts_to_pos(p, ts), payload, len);
        return 0;
    }

    uint64_t pos = ts_to_pos(p, ts);
    int64_t d = dist(pos, p->play);
    if (d > (int64_t)p->jump || d < -(int64_t)p->jump) {
        /* The sender restarted its timestamps (or a stray packet): a new
         * timeline.  XXX: one stray packet costs two resyncs. */
        anchor(p, ssrc, ts, "ts-jump");
        store(p, ts_to_pos(p, ts), payload, len);
        return 0;
    }

    /* During the hold, a packet sent before the first one (reordered) moves
     * the start back, up to delay samples and as far as the ring allows. */
    if (p->state == PO_ST_HOLD && d < 0 && dist(pos, p->first) >= -(int64_t)p->delay &&
        dist(p->high, pos) <= (int64_t)p->maxd)
        p->play = pos;

    uint64_t end = pos + len;
    if (dist(end, p->play) > (int64_t)p->maxd) {
        /* Too far ahead: the sender's clock runs faster than ours, or a burst.
         * Skip ahead so this packet starts delay samples from the play point;
         * what lay between is lost, the output length is not. */
        p->st.too_early++;
        if (p->state != PO_ST_PLAY) {
            anchor(p, ssrc, ts, "too-early");
            pos = ts_to_pos(p, ts);
        } else {
            p->st.resync++;
            uint64_t np = pos - p->delay;
            fx_log(FX_LOG_INFO, FX_FAC_RTP, "playout resync reason=too-early ssrc=%08x "
                   "ts=%u skip=%llu", (unsigned)ssrc, (unsigned)ts,
                   (unsigned long long)dist(np, p->play));
            clear_range(p, p->play, np);
            p->play = np;
            p->late_streak = 0;
        }
        store(p, pos, payload, len);
        return 0;
    }

    if (dist(end, p->play) <= 0) {
        p->st.late++;
        if (++p->late_streak >= PLAYBUF_LATE_STREAK) {
            /* Dry for several packets in a row: the sender's clock runs slower
             * than ours (or the network stalled).  Re-anchor so the stream
             * again plays delay samples behind arrival. */
            anchor(p, ssrc, ts, "late-streak");
            store(p, ts_to_pos(p, ts), payload, len);
        }
        return 0;
    }

    p->late_streak = 0;
    if (store(p, pos, payload, len) == 0)
        p->st.dup++;
    return 0;
}

int playbuf_get(playbuf_t *p, uint8_t *out, unsigned n, uint8_t fill, unsigned *missing)
{
    if (missing != NULL)
        *missing = 0;
    if (n > INT_MAX)
        FX_PANIC("playbuf_get n=%u", n);
    if (n == 0 || p->state == PO_ST_EMPTY)
        return 0;
    if (p->state == PO_ST_HOLD) {
        /* The hold is measured in the receiver's own ticks. */
        if (p->held < p->delay) {
            p->held += n;
            return 0;
        }
        set_state(p, PO_ST_PLAY);
    }

    unsigned miss = 0;
    for (unsigned i = 0; i < n; i++) {
        size_t k = (size_t)((p->play + i) & p->mask);
        if (p->present[k]) {
            out[i] = p->data[k];
            p->present[k] = 0;
        } else {
            out[i] = fill;
            miss++;
        }
    }
    p->play += n;
    p->st.samples_out += n;
    p->st.samples_missing += miss;
    if (missing != NULL)
        *missing = miss;
    return (int)n;
}

void playbuf_get_stats(const playbuf_t *p, playbuf_stats_t *st)
{
    *st = p->st;
}
