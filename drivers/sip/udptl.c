/* udptl: T.38 Annex D UDPTL packets in aligned PER (see udptl.h).
 *
 * Encoding rules used (ITU-T X.691, aligned variant):
 *  - seq-number INTEGER (0..65535): a constrained whole number with a range of
 *    65536, two octets, octet-aligned (X.691 10.5.7.3).
 *  - primary-ifp-packet, an open type: the IFP octets preceded by an
 *    unconstrained length determinant (X.691 10.2).
 *  - error-recovery CHOICE of two alternatives: a one-bit index (X.691 22.6),
 *    padded to the octet because the length determinant after it is
 *    octet-aligned: 0x00 for secondary-ifp-packets, 0x80 for fec-info.
 *  - SEQUENCE OF: the count as an unconstrained length determinant (X.691
 *    20.6), then each component.
 *  - fec-npackets, an unconstrained INTEGER: a length determinant giving the
 *    octet count, then the value in minimal two's complement (X.691 12.2.6).
 *  - Length determinant (X.691 10.9.3.5-10.9.3.8): n < 128 is one octet
 *    0nnnnnnn; n < 16384 is two octets 10nnnnnn nnnnnnnn; above that the
 *    content is sent in fragments of m * 16384 octets (m = 1..4) each preceded
 *    by the octet 11mmmmmm, ending with an ordinary length determinant (possibly
 *    0) for the remainder.
 *
 * Parity FEC layout (as SpanDSP and Asterisk send it): a datagram with primary
 * sequence S, fec-npackets N and E fec-data entries has entry m (0..E-1) cover
 * the N packets S - N*E + m + k*E, k = 0..N-1; the entry is the XOR of their
 * IFPs, each zero-padded to the longest, and is as long as the longest. */
#include "udptl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fax/fx.h"

#define UDPTL_TX_HIST        16u    /* sent IFPs kept; power of two, > max depth */
#define UDPTL_RX_HIST        32u    /* received IFPs kept; power of two */
#define UDPTL_MAX_DEPTH      8      /* udptl_set_tx() clamp */
#define UDPTL_MAX_SECONDARY  16u    /* more secondary IFPs in one datagram is absurd */
#define UDPTL_MAX_FEC_ENTRIES 16u   /* likewise fec-data entries */
#define UDPTL_MAX_FEC_NPACKETS 32u  /* likewise packets per FEC group */
#define UDPTL_MAX_IFP        65535u /* the IFP length bound we enforce */
#define UDPTL_FRAG           16384u /* X.691 10.9.3.8: fragment unit */
#define UDPTL_RESYNC_AFTER   3      /* far-behind datagrams in a row before resync */
#define UDPTL_MAX_ITEMS      16u    /* max(UDPTL_MAX_SECONDARY, UDPTL_MAX_FEC_ENTRIES) */

/* One remembered IFP packet (sent or received), indexed by seq modulo the ring. */
typedef struct udptl_slot {
    uint8_t *buf;
    size_t   len;
    size_t   cap;
    uint16_t seq;
    bool     valid; /* holds the IFP of packet seq */
} udptl_slot_t;

struct udptl {
    /* send side */
    udptl_ec_t   tx_ec;
    int          tx_depth;
    size_t       tx_max;
    uint16_t     tx_seq;  /* next sequence number to send */
    uint32_t     tx_sent; /* datagrams sent, saturating: how much history exists */
    udptl_slot_t tx[UDPTL_TX_HIST];

    /* receive side: every valid rx slot holds a packet in [rx_next-32, rx_next-1] */
    bool         rx_started;
    uint16_t     rx_next; /* everything before it was delivered or counted lost */
    int          rx_far_old;
    udptl_slot_t rx[UDPTL_RX_HIST];

    uint8_t *scratch; /* reassembled fragments on rx, FEC parity on tx */
    size_t   scratch_cap;

    udptl_stats_t st;
    char          err[160];
};

/* A decoded octet string: contiguous in the datagram, or (fragmented) copied
 * into u->scratch after the whole datagram validated. */
typedef struct udptl_item {
    const uint8_t *p;
    size_t         len;
    size_t         off;  /* datagram offset of its first length determinant */
    bool           frag; /* X.691 10.9.3.8 fragments: must be reassembled */
} udptl_item_t;

typedef struct udptl_pkt {
    uint16_t     seq;
    udptl_item_t primary;
    bool         fec;       /* error-recovery is fec-info */
    unsigned     npackets;  /* fec-npackets */
    unsigned     n;         /* secondaries or fec-data entries */
    udptl_item_t item[UDPTL_MAX_ITEMS];
} udptl_pkt_t;

typedef struct udptl_rd {
    const uint8_t *d;
    size_t         len;
    size_t         pos;
} udptl_rd_t;

__attribute__((format(printf, 2, 3))) static int udptl_fail(udptl_t *u, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(u->err, sizeof u->err, fmt, ap);
    va_end(ap);
    return FX_EPARSE;
}

static void slot_store(udptl_slot_t *s, uint16_t seq, const uint8_t *p, size_t len)
{
    if (s->cap < len) {
        s->buf = fx_realloc(s->buf, len);
        s->cap = len;
    }
    memcpy(s->buf, p, len);
    s->len = len;
    s->seq = seq;
    s->valid = true;
}

static uint8_t *scratch_get(udptl_t *u, size_t n)
{
    if (u->scratch_cap < n) {
        u->scratch = fx_realloc(u->scratch, n);
        u->scratch_cap = n;
    }
    return u->scratch;
}

/* ---- PER writing ------------------------------------------------------ */

/* Octets needed for the length determinant(s) of an n-octet string (X.691
 * 10.9.3.5-10.9.3.8), fragment headers included. */
static size_t per_len_overhead(size_t n)
{
    size_t w = 0;
    while (n >= UDPTL_FRAG) {
        size_t m = n / UDPTL_FRAG > 4 ? 4 : n / UDPTL_FRAG;
        w++;
        n -= m * UDPTL_FRAG;
    }
    return w + (n < 128 ? 1 : 2);
}

/* Writes data as a length-prefixed (fragmented if >= 16K) octet string; the
 * caller has checked the room.  Returns the octets written. */
static size_t per_put_octets(uint8_t *o, const uint8_t *data, size_t n)
{
    size_t w = 0;
    while (n >= UDPTL_FRAG) {
        size_t m = n / UDPTL_FRAG > 4 ? 4 : n / UDPTL_FRAG;
        o[w++] = (uint8_t)(0xc0 | m);
        memcpy(o + w, data, m * UDPTL_FRAG);
        w += m * UDPTL_FRAG;
        data += m * UDPTL_FRAG;
        n -= m * UDPTL_FRAG;
    }
    if (n < 128) {
        o[w++] = (uint8_t)n;
    } else {
        o[w++] = (uint8_t)(0x80 | (n >> 8));
        o[w++] = (uint8_t)(n & 0xff);
    }
    if (n > 0)
        memcpy(o + w, data, n);
    return w + n;
}

/* Octets of a non-negative unconstrained INTEGER, without its length octet
 * (X.691 12.2.6: minimal two's complement). */
static size_t per_uint_octets(unsigned v)
{
    size_t k = 1;
    while (k < sizeof v && (v >> (8 * k - 1)) != 0)
        k++;
    if (k == sizeof v && (v >> (8 * k - 1)) != 0)
        k++;
    return k;
}

static size_t per_put_uint(uint8_t *o, unsigned v)
{
    size_t k = per_uint_octets(v);
    o[0] = (uint8_t)k;
    for (size_t i = 0; i < k; i++) {
        unsigned sh = (unsigned)(8 * (k - 1 - i));
        o[1 + i] = sh >= 8 * sizeof v ? 0 : (uint8_t)(v >> sh);
    }
    return 1 + k;
}

/* ---- PER reading ------------------------------------------------------ */

/* One length determinant (X.691 10.9.3.5-10.9.3.8).  *frag is set when it is a
 * fragment header (the value is then m * 16384).  Returns 0, or -1 truncated,
 * -2 for a fragment header with m outside 1..4. */
static int rd_len(udptl_rd_t *r, size_t *n, bool *frag)
{
    *frag = false;
    if (r->pos >= r->len)
        return -1;
    uint8_t b = r->d[r->pos++];
    if ((b & 0x80) == 0) {
        *n = b;
        return 0;
    }
    if ((b & 0x40) == 0) {
        if (r->pos >= r->len)
            return -1;
        *n = ((size_t)(b & 0x3f) << 8) | r->d[r->pos++];
        return 0;
    }
    unsigned m = b & 0x3f;
    if (m < 1 || m > 4)
        return -2;
    *n = m * UDPTL_FRAG;
    *frag = true;
    return 0;
}

/* A SEQUENCE OF count (X.691 20.6) bounded by max. */
static int rd_count(udptl_t *u, udptl_rd_t *r, const char *what, unsigned max, unsigned *out)
{
    size_t n = 0;
    bool frag = false;
    int rc = rd_len(r, &n, &frag);
    if (rc == -1)
        return udptl_fail(u, "truncated in the %s count at offset %zu", what, r->pos);
    if (rc < 0 || frag || n > max)
        return udptl_fail(u, "%s count %s%zu is absurd (max %u)", what, frag ? ">= " : "", n,
                          max);
    *out = (unsigned)n;
    return 0;
}

/* An octet string / open type, possibly fragmented (X.691 10.9.3.8). */
static int rd_octets(udptl_t *u, udptl_rd_t *r, const char *what, unsigned idx,
                     udptl_item_t *it)
{
    size_t total = 0;
    it->off = r->pos;
    it->frag = false;
    it->p = r->d + r->pos;
    for (;;) {
        size_t n;
        bool frag;
        size_t at = r->pos;
        int rc = rd_len(r, &n, &frag);
        if (rc == -1)
            return udptl_fail(u, "truncated in the length of %s %u at offset %zu", what, idx, at);
        if (rc < 0)
            return udptl_fail(u, "bad fragment length octet 0x%02x in %s %u at offset %zu",
                              r->d[at], what, idx, at);
        if (n > r->len - r->pos)
            return udptl_fail(u, "%s %u: length %zu at offset %zu runs %zu octets past the end",
                              what, idx, n, at, n - (r->len - r->pos));
        if (!frag && !it->frag)
            it->p = r->d + r->pos;
        r->pos += n;
        total += n;
        if (total > UDPTL_MAX_IFP)
            return udptl_fail(u, "%s %u: length %zu exceeds %u", what, idx, total, UDPTL_MAX_IFP);
        if (!frag)
            break;
        it->frag = true;
    }
    it->len = total;
    return 0;
}

/* Copies the fragments of it, already validated, into dst. */
static void rd_reassemble(const uint8_t *d, size_t len, const udptl_item_t *it, uint8_t *dst)
{
    udptl_rd_t r = { d, len, it->off };
    size_t w = 0;
    for (;;) {
        size_t n;
        bool frag;
        if (rd_len(&r, &n, &frag) != 0)
            FX_PANIC("udptl: validated fragment no longer parses at %zu", r.pos);
        memcpy(dst + w, d + r.pos, n);
        w += n;
        r.pos += n;
        if (!frag)
            break;
    }
}

/* Parses a whole UDPTLPacket (T.38 Annex D) without touching any state but the
 * error text; on success fragmented items still need reassembly. */
static int udptl_parse(udptl_t *u, const uint8_t *d, size_t len, udptl_pkt_t *p)
{
    udptl_rd_t r = { d, len, 0 };
    int rc;

    if (len < 2)
        return udptl_fail(u, "datagram of %zu octets is shorter than seq-number", len);
    p->seq = (uint16_t)((d[0] << 8) | d[1]);
    r.pos = 2;
    if ((rc = rd_octets(u, &r, "primary IFP", 0, &p->primary)) != 0)
        return rc;
    if (p->primary.len == 0)
        return udptl_fail(u, "primary IFP has zero length (seq %u)", p->seq);
    if (r.pos >= len)
        return udptl_fail(u, "datagram ends before error-recovery (seq %u)", p->seq);
    /* X.691 22.6: the CHOICE index is the top bit; we ignore the padding bits. */
    p->fec = (d[r.pos++] & 0x80) != 0;
    p->npackets = 0;
    if (!p->fec) {
        if ((rc = rd_count(u, &r, "secondary-ifp-packets", UDPTL_MAX_SECONDARY, &p->n)) != 0)
            return rc;
        for (unsigned i = 0; i < p->n; i++) {
            if ((rc = rd_octets(u, &r, "secondary IFP", i, &p->item[i])) != 0)
                return rc;
            if (p->item[i].len == 0)
                return udptl_fail(u, "secondary IFP %u has zero length (seq %u)", i, p->seq);
        }
    } else {
        /* fec-npackets, unconstrained INTEGER (X.691 12.2.6). */
        size_t at = r.pos;
        if (at >= len)
            return udptl_fail(u, "truncated before fec-npackets (seq %u)", p->seq);
        size_t k = d[r.pos++];
        if (k < 1 || k > 4)
            return udptl_fail(u, "fec-npackets of %zu octets at offset %zu (want 1..4)", k, at);
        if (k > len - r.pos)
            return udptl_fail(u, "fec-npackets at offset %zu runs past the end", at);
        if (d[r.pos] & 0x80)
            return udptl_fail(u, "negative fec-npackets at offset %zu", at);
        uint32_t v = 0;
        for (size_t i = 0; i < k; i++)
            v = (v << 8) | d[r.pos++];
        if (v > UDPTL_MAX_FEC_NPACKETS)
            return udptl_fail(u, "fec-npackets %u is absurd (max %u)", (unsigned)v,
                              UDPTL_MAX_FEC_NPACKETS);
        p->npackets = v;
        if ((rc = rd_count(u, &r, "fec-data", UDPTL_MAX_FEC_ENTRIES, &p->n)) != 0)
            return rc;
        for (unsigned i = 0; i < p->n; i++)
            if ((rc = rd_octets(u, &r, "fec-data entry", i, &p->item[i])) != 0)
                return rc;
    }
    if (r.pos != len)
        return udptl_fail(u, "%zu trailing octets after the UDPTLPacket (seq %u)", len - r.pos,
                          p->seq);
    return 0;
}

/* ---- object ----------------------------------------------------------- */

int udptl_new(udptl_t **out)
{
    if (out == NULL)
        return -EINVAL;
    udptl_t *u = fx_calloc(1, sizeof *u);
    u->tx_ec = UDPTL_EC_REDUNDANCY;
    u->tx_depth = 3;
    u->tx_max = 400;
    *out = u;
    return 0;
}

void udptl_free(udptl_t *u)
{
    if (u == NULL)
        return;
    for (unsigned i = 0; i < UDPTL_TX_HIST; i++)
        free(u->tx[i].buf);
    for (unsigned i = 0; i < UDPTL_RX_HIST; i++)
        free(u->rx[i].buf);
    free(u->scratch);
    free(u);
}

void udptl_set_tx(udptl_t *u, udptl_ec_t ec, int depth, size_t max_datagram)
{
    if (u == NULL)
        return;
    if (ec != UDPTL_EC_REDUNDANCY && ec != UDPTL_EC_FEC)
        ec = UDPTL_EC_NONE;
    u->tx_ec = ec;
    u->tx_depth = depth < 0 ? 0 : depth > UDPTL_MAX_DEPTH ? UDPTL_MAX_DEPTH : depth;
    u->tx_max = max_datagram;
}

const char *udptl_last_error(const udptl_t *u)
{
    return u != NULL ? u->err : "no udptl context";
}

void udptl_get_stats(const udptl_t *u, udptl_stats_t *st)
{
    if (u != NULL && st != NULL)
        *st = u->st;
}

/* ---- send ------------------------------------------------------------- */

static const udptl_slot_t *tx_slot(const udptl_t *u, uint16_t seq)
{
    const udptl_slot_t *s = &u->tx[seq & (UDPTL_TX_HIST - 1)];
    if (!s->valid || s->seq != seq)
        FX_PANIC("udptl: tx history lacks seq %u", seq);
    return s;
}

/* Length of FEC entry m: the longest IFP it covers. */
static size_t fec_entry_len(const udptl_t *u, uint16_t seq, unsigned span, unsigned entries,
                            unsigned m)
{
    size_t hi = 0;
    uint16_t base = (uint16_t)(seq - span * entries + m);
    for (unsigned k = 0; k < span; k++) {
        const udptl_slot_t *s = tx_slot(u, (uint16_t)(base + k * entries));
        if (s->len > hi)
            hi = s->len;
    }
    return hi;
}

int udptl_encode(udptl_t *u, const uint8_t *ifp, size_t ifp_len, uint8_t *out, size_t cap,
                 size_t *out_len)
{
    if (u == NULL || ifp == NULL || out == NULL || out_len == NULL)
        return -EINVAL;
    u->err[0] = '\0';
    if (ifp_len == 0 || ifp_len > UDPTL_MAX_IFP) {
        snprintf(u->err, sizeof u->err, "IFP length %zu outside 1..%u", ifp_len, UDPTL_MAX_IFP);
        return FX_ERANGE;
    }
    size_t limit = cap;
    if (u->tx_max != 0 && u->tx_max < limit)
        limit = u->tx_max;
    const uint16_t seq = u->tx_seq;
    /* seq-number, primary, error-recovery CHOICE octet */
    const size_t base = 2 + per_len_overhead(ifp_len) + ifp_len + 1;
    size_t size = base + 1; /* with an empty SEQUENCE OF */
    unsigned n = 0, span = 0;

    if (u->tx_ec == UDPTL_EC_REDUNDANCY) {
        /* Newest first, as T.38 Annex D receivers (SpanDSP, Asterisk) read them;
         * trimming drops the oldest, i.e. the tail. */
        n = (unsigned)u->tx_depth;
        if (n > u->tx_sent)
            n = u->tx_sent;
        for (;; n--) {
            size = base + 1;
            for (unsigned i = 0; i < n; i++) {
                const udptl_slot_t *s = tx_slot(u, (uint16_t)(seq - 1 - i));
                size += per_len_overhead(s->len) + s->len;
            }
            if (size <= limit || n == 0)
                break;
        }
    } else if (u->tx_ec == UDPTL_EC_FEC) {
        /* fec-npackets 1: entry m covers seq - n + m.  With fewer entries the
         * coverage is still the newest packets, so trimming drops the oldest. */
        span = 1;
        n = (unsigned)u->tx_depth;
        if (n > u->tx_sent / span)
            n = u->tx_sent / span;
        for (;; n--) {
            size = base + 1 + per_uint_octets(span) + 1;
            for (unsigned m = 0; m < n; m++) {
                size_t l = fec_entry_len(u, seq, span, n, m);
                size += per_len_overhead(l) + l;
            }
            if (size <= limit || n == 0)
                break;
        }
    }
    if (size > limit) {
        snprintf(u->err, sizeof u->err,
                 "IFP of %zu octets needs a %zu-octet datagram; limit is %zu (max datagram %zu, "
                 "buffer %zu)",
                 ifp_len, size, limit, u->tx_max, cap);
        return FX_ERANGE;
    }

    size_t w = 0;
    out[w++] = (uint8_t)(seq >> 8);
    out[w++] = (uint8_t)(seq & 0xff);
    w += per_put_octets(out + w, ifp, ifp_len);
    if (u->tx_ec == UDPTL_EC_FEC) {
        out[w++] = 0x80;
        w += per_put_uint(out + w, span);
        out[w++] = (uint8_t)n;
        for (unsigned m = 0; m < n; m++) {
            size_t l = fec_entry_len(u, seq, span, n, m);
            uint8_t *x = scratch_get(u, l);
            memset(x, 0, l);
            uint16_t b = (uint16_t)(seq - span * n + m);
            for (unsigned k = 0; k < span; k++) {
                const udptl_slot_t *s = tx_slot(u, (uint16_t)(b + k * n));
                for (size_t j = 0; j < s->len; j++)
                    x[j] ^= s->buf[j];
            }
            w += per_put_octets(out + w, x, l);
        }
    } else {
        out[w++] = 0x00;
        out[w++] = (uint8_t)n;
        for (unsigned i = 0; i < n; i++) {
            const udptl_slot_t *s = tx_slot(u, (uint16_t)(seq - 1 - i));
            w += per_put_octets(out + w, s->buf, s->len);
        }
        u->st.tx_ifp += n;
    }
    if (w != size)
        FX_PANIC("udptl: encoded %zu octets, computed %zu", w, size);

    slot_store(&u->tx[seq & (UDPTL_TX_HIST - 1)], seq, ifp, ifp_len);
    u->tx_seq = (uint16_t)(seq + 1);
    if (u->tx_sent < UINT32_MAX)
        u->tx_sent++;
    u->st.tx_datagrams++;
    u->st.tx_ifp++;
    *out_len = w;
    return 0;
}

/* ---- receive ---------------------------------------------------------- */

static udptl_slot_t *rx_slot(udptl_t *u, uint16_t seq)
{
    return &u->rx[seq & (UDPTL_RX_HIST - 1)];
}

static bool rx_have(udptl_t *u, uint16_t seq)
{
    const udptl_slot_t *s = rx_slot(u, seq);
    return s->valid && s->seq == seq;
}

static void rx_start(udptl_t *u, uint16_t seq)
{
    for (unsigned i = 0; i < UDPTL_RX_HIST; i++)
        u->rx[i].valid = false;
    u->rx_started = true;
    u->rx_next = seq;
    u->rx_far_old = 0;
}

/* Parity FEC (T.38 Annex D fec-info): rebuild packets in [seq-win, seq-1] that
 * are the only missing one of a group.  Repeats while progress is made, since a
 * rebuilt packet may complete another group. */
static void rx_fec_recover(udptl_t *u, const udptl_pkt_t *p, unsigned win)
{
    const unsigned span = p->npackets, entries = p->n;
    if (span == 0 || entries == 0 || win == 0)
        return;
    bool progress = true;
    for (unsigned pass = 0; progress && pass <= entries; pass++) {
        progress = false;
        for (unsigned m = 0; m < entries; m++) {
            const udptl_item_t *fe = &p->item[m];
            uint16_t base = (uint16_t)(p->seq - span * entries + m);
            unsigned missing = 0;
            uint16_t target = 0;
            size_t others_max = 0;
            for (unsigned k = 0; k < span && missing < 2; k++) {
                uint16_t x = (uint16_t)(base + k * entries);
                if (rx_have(u, x)) {
                    if (rx_slot(u, x)->len > others_max)
                        others_max = rx_slot(u, x)->len;
                } else {
                    missing++;
                    target = x;
                }
            }
            uint16_t back = (uint16_t)(p->seq - target);
            /* Only packets in the window (their slots were reset for exactly
             * them, so no other covered packet shares the slot); an entry
             * shorter than a covered packet is not a parity of them. */
            if (missing != 1 || back < 1 || back > win || fe->len == 0 || others_max > fe->len)
                continue;
            udptl_slot_t *t = rx_slot(u, target);
            slot_store(t, target, fe->p, fe->len);
            for (unsigned k = 0; k < span; k++) {
                uint16_t x = (uint16_t)(base + k * entries);
                if (x == target)
                    continue;
                const udptl_slot_t *s = rx_slot(u, x);
                for (size_t j = 0; j < s->len; j++)
                    t->buf[j] ^= s->buf[j];
            }
            /* XXX: the recovered length is the entry's length, the longest of
             * the group.  That is exact when the lost packet was the longest
             * (fe->len > others_max); otherwise it carries zero padding, as in
             * SpanDSP and Asterisk, since Annex D parity carries no length. */
            progress = true;
        }
    }
}

int udptl_decode(udptl_t *u, const uint8_t *dgram, size_t len, udptl_ifp_cb cb, void *user)
{
    if (u == NULL || cb == NULL || (dgram == NULL && len > 0))
        return -EINVAL;
    u->err[0] = '\0';
    u->st.rx_datagrams++;

    udptl_pkt_t p;
    if (udptl_parse(u, dgram, len, &p) != 0) {
        u->st.rx_bad++;
        return FX_EPARSE;
    }
    /* Fragmented strings (X.691 10.9.3.8) are not contiguous: copy them into
     * scratch, at most len octets in all. */
    bool any_frag = p.primary.frag;
    for (unsigned i = 0; i < p.n; i++)
        any_frag = any_frag || p.item[i].frag;
    if (any_frag) {
        uint8_t *sc = scratch_get(u, len);
        size_t at = 0;
        udptl_item_t *all[1 + UDPTL_MAX_ITEMS];
        all[0] = &p.primary;
        for (unsigned i = 0; i < p.n; i++)
            all[1 + i] = &p.item[i];
        for (unsigned i = 0; i < 1 + p.n; i++) {
            if (!all[i]->frag)
                continue;
            rd_reassemble(dgram, len, all[i], sc + at);
            all[i]->p = sc + at;
            at += all[i]->len;
        }
    }

    const uint16_t seq = p.seq;
    if (!u->rx_started)
        rx_start(u, seq);
    int d = (int16_t)(uint16_t)(seq - u->rx_next);
    if (d < 0) {
        if (rx_have(u, seq)) {
            u->st.rx_dup++;
            u->rx_far_old = 0;
            return 0;
        }
        if (d >= -(int)UDPTL_RX_HIST) {
            u->rx_far_old = 0;
            u->st.rx_late++;
            return 0;
        }
        if (++u->rx_far_old < UDPTL_RESYNC_AFTER) {
            u->st.rx_late++;
            return 0;
        }
        /* The peer restarted its numbering (a new T.38 session reusing the
         * port, a gateway failover): follow it rather than drop everything. */
        fx_log(FX_LOG_NOTICE, FX_FAC_T38, "udptl resync expected=%u got=%u", u->rx_next, seq);
        rx_start(u, seq);
        d = 0;
    }
    u->rx_far_old = 0;

    /* Packets rx_next .. seq-1 are missing.  Only the last win of them can be
     * rebuilt (the history ring holds 32 packets, the primary included). */
    const unsigned win = (unsigned)d < UDPTL_RX_HIST - 1 ? (unsigned)d : UDPTL_RX_HIST - 1;
    u->st.rx_lost += (unsigned)d - win;
    const uint16_t lo = (uint16_t)(seq - win);
    for (unsigned i = 0; i < win; i++) {
        udptl_slot_t *s = rx_slot(u, (uint16_t)(lo + i));
        s->seq = (uint16_t)(lo + i);
        s->valid = false;
    }
    if (!p.fec) {
        /* secondary-ifp-packets: item i is packet seq-1-i (newest first). */
        for (unsigned i = 0; i < p.n && i < win; i++) {
            uint16_t x = (uint16_t)(seq - 1 - i);
            slot_store(rx_slot(u, x), x, p.item[i].p, p.item[i].len);
        }
    } else {
        rx_fec_recover(u, &p, win);
    }

    for (unsigned i = 0; i < win; i++) {
        uint16_t x = (uint16_t)(lo + i);
        udptl_slot_t *s = rx_slot(u, x);
        u->rx_next = (uint16_t)(x + 1);
        if (!s->valid) {
            u->st.rx_lost++;
            continue;
        }
        u->st.rx_recovered++;
        u->st.rx_ifp++;
        int rc = cb(user, s->buf, s->len, x);
        if (rc < 0)
            return rc;
    }
    udptl_slot_t *s = rx_slot(u, seq);
    slot_store(s, seq, p.primary.p, p.primary.len);
    u->rx_next = (uint16_t)(seq + 1);
    u->st.rx_ifp++;
    int rc = cb(user, s->buf, s->len, seq);
    return rc < 0 ? rc : 0;
}
