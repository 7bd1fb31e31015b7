/* Unit tests for the G.711 playout buffer (drivers/sip/playout.c).
 *
 * A small discrete-event simulation drives it: packets carry a known sample
 * pattern and arrive at given milliseconds; the receiver calls get(160) every
 * 20 ms of its own clock.  Expected output sample j is pat(j): packets are
 * built so that their sample index in the intended output stream is known, and
 * the tests check that the timeline comes out with every sample at its place. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fax/fx.h"
#include "playout.h"

#define FILL   0xFFu /* PCMU silence; pat() never yields it */
#define TICK   20
#define NTICK  160u

/* A hash of the sample index (murmur3's finaliser), 7 bits: no two nearby
 * windows look alike, and it never equals FILL. */
static uint8_t pat(uint32_t i)
{
    i ^= i >> 16;
    i *= 0x85ebca6bu;
    i ^= i >> 13;
    i *= 0xc2b2ae35u;
    i ^= i >> 16;
    return (uint8_t)(i & 0x7f);
}

typedef struct pkt {
    int      arr;   /* arrival time, ms */
    int      ord;   /* tie-break: insertion order */
    uint32_t ssrc;
    uint32_t ts;
    uint32_t len;
    uint32_t base;  /* index of its first sample in the expected output */
} pkt_t;

typedef struct sim {
    playbuf_t *p;
    pkt_t     *pk;
    size_t     npk, cap;
    uint8_t   *out;        /* all samples returned while playing */
    size_t     nout;
    unsigned  *miss;       /* missing count per played tick */
    size_t     nticks;     /* played ticks */
    unsigned   hold_ticks; /* gets that returned 0 after the first packet */
    int        first_arr;  /* arrival time of the first packet */
    int        start_ms;   /* time of the first get that returned n */
} sim_t;

static void sim_init(sim_t *s, unsigned delay_ms, unsigned max_ms)
{
    memset(s, 0, sizeof *s);
    assert_int_equal(playbuf_new(&s->p, delay_ms, max_ms), 0);
    s->first_arr = -1;
    s->start_ms = -1;
}

static void sim_fini(sim_t *s)
{
    playbuf_free(s->p);
    free(s->pk);
    free(s->out);
    free(s->miss);
}

static void sim_add(sim_t *s, int arr, uint32_t ssrc, uint32_t ts, uint32_t len, uint32_t base)
{
    if (s->npk == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->pk = fx_realloc(s->pk, s->cap * sizeof *s->pk);
    }
    s->pk[s->npk] = (pkt_t){arr, (int)s->npk, ssrc, ts, len, base};
    s->npk++;
}

/* count packets of ptime_ms starting at sample base, sent from t0_ms, with
 * arrival = send time + lat_ms. */
static void sim_stream(sim_t *s, unsigned count, unsigned ptime_ms, uint32_t ssrc, uint32_t ts0,
                       uint32_t base, int t0_ms, int lat_ms)
{
    uint32_t len = ptime_ms * 8;
    for (unsigned k = 0; k < count; k++)
        sim_add(s, t0_ms + (int)(k * ptime_ms) + lat_ms, ssrc, ts0 + k * len, len, base + k * len);
}

static int pkt_cmp(const void *a, const void *b)
{
    const pkt_t *x = a, *y = b;
    if (x->arr != y->arr)
        return x->arr < y->arr ? -1 : 1;
    return x->ord < y->ord ? -1 : x->ord > y->ord;
}

static void sim_run(sim_t *s, int end_ms)
{
    qsort(s->pk, s->npk, sizeof *s->pk, pkt_cmp);
    size_t next = 0;
    size_t ticks = (size_t)end_ms / TICK + 1;
    s->out = fx_realloc(s->out, ticks * NTICK);
    s->miss = fx_realloc(s->miss, ticks * sizeof *s->miss);
    uint8_t payload[4096];
    for (int t = 0; t <= end_ms; t++) {
        while (next < s->npk && s->pk[next].arr == t) {
            const pkt_t *k = &s->pk[next++];
            assert_true(k->len <= sizeof payload);
            for (uint32_t i = 0; i < k->len; i++)
                payload[i] = pat(k->base + i);
            assert_int_equal(playbuf_put(s->p, k->ssrc, k->ts, payload, k->len), 0);
            if (s->first_arr < 0)
                s->first_arr = t;
        }
        if (t % TICK != 0)
            continue;
        unsigned m = 12345;
        uint8_t buf[NTICK];
        int r = playbuf_get(s->p, buf, NTICK, FILL, &m);
        if (r == 0) {
            /* Never 0 once playing, and never anything in between. */
            assert_int_equal(s->start_ms, -1);
            assert_int_equal(m, 0);
            if (s->first_arr >= 0)
                s->hold_ticks++;
            continue;
        }
        assert_int_equal(r, (int)NTICK);
        assert_true(m <= NTICK);
        if (s->start_ms < 0)
            s->start_ms = t;
        memcpy(s->out + s->nout, buf, NTICK);
        s->nout += NTICK;
        s->miss[s->nticks++] = m;
    }
}

/* Output [from, to) equals the expected pattern. */
static void expect_pat(const sim_t *s, size_t from, size_t to)
{
    assert_true(to <= s->nout);
    for (size_t j = from; j < to; j++) {
        if (s->out[j] != pat((uint32_t)j))
            fail_msg("sample %zu is %02x, want %02x", j, s->out[j], pat((uint32_t)j));
    }
}

static void expect_fill(const sim_t *s, size_t from, size_t to)
{
    assert_true(to <= s->nout);
    for (size_t j = from; j < to; j++) {
        if (s->out[j] != FILL)
            fail_msg("sample %zu is %02x, want fill", j, s->out[j]);
    }
}

/* Missing samples reported over the first `samples` of output. */
static unsigned missing_in(const sim_t *s, size_t samples)
{
    unsigned sum = 0;
    for (size_t i = 0; i < samples / NTICK && i < s->nticks; i++)
        sum += s->miss[i];
    return sum;
}

static playbuf_stats_t stats(const sim_t *s)
{
    playbuf_stats_t st;
    playbuf_get_stats(s->p, &st);
    return st;
}

/* In order, 20 ms: identical output, delayed by the 60 ms hold; after the
 * stream stops, get() keeps returning n, all missing. */
static void test_in_order(void **state)
{
    (void)state;
    sim_t s;
    sim_init(&s, 60, 400);
    sim_stream(&s, 50, 20, 0x1111, 1000, 0, 0, 5);
    sim_run(&s, 2000);
    assert_int_equal(s.first_arr, 5);
    assert_int_equal(s.hold_ticks, 3);      /* t=20,40,60 held */
    assert_int_equal(s.start_ms, 80);       /* 75 ms after arrival */
    expect_pat(&s, 0, 50 * 160);
    assert_int_equal(missing_in(&s, 50 * 160), 0);
    /* Stream ended: ticks keep coming, all concealment. */
    assert_true(s.nout > 60 * 160);
    expect_fill(&s, 50 * 160, s.nout);
    assert_int_equal(s.miss[s.nticks - 1], NTICK);
    playbuf_stats_t st = stats(&s);
    assert_int_equal(st.put, 50);
    assert_int_equal(st.late + st.dup + st.too_early + st.resync, 0);
    assert_int_equal(st.samples_out, s.nout);
    assert_int_equal(st.samples_missing, s.nout - 50 * 160);
    sim_fini(&s);
}

/* One lost 20 ms packet: exactly 160 missing samples where it belonged, and
 * everything after it still at its place (the timeline did not shrink). */
static void test_lost_packet(void **state)
{
    (void)state;
    sim_t s;
    sim_init(&s, 60, 400);
    for (unsigned k = 0; k < 50; k++) {
        if (k != 10)
            sim_add(&s, (int)k * 20 + 5, 7, 5000 + k * 160, 160, k * 160);
    }
    sim_run(&s, 1200);
    expect_pat(&s, 0, 1600);
    expect_fill(&s, 1600, 1760);
    expect_pat(&s, 1760, 50 * 160);
    assert_int_equal(missing_in(&s, 50 * 160), 160);
    assert_int_equal(s.miss[10], 160);
    playbuf_stats_t st = stats(&s);
    assert_int_equal(st.late + st.resync, 0);
    sim_fini(&s);
}

/* Reordering within the delay window is repaired, including a first packet
 * that is not the earliest one. */
static void test_reorder(void **state)
{
    (void)state;
    sim_t s;
    sim_init(&s, 60, 400);
    for (unsigned k = 0; k < 60; k++) {
        /* Pairs swapped: 1,0,3,2,...; every fifth one 40 ms later still. */
        int send = (int)(k ^ 1u) * 20;
        int extra = (k % 5 == 3) ? 40 : 0;
        sim_add(&s, send + 5 + extra, 9, 77 + k * 160, 160, k * 160);
    }
    sim_run(&s, 1500);
    expect_pat(&s, 0, 60 * 160);
    assert_int_equal(missing_in(&s, 60 * 160), 0);
    playbuf_stats_t st = stats(&s);
    assert_int_equal(st.late + st.resync + st.dup, 0);
    sim_fini(&s);
}

static void run_ptime(unsigned ptime)
{
    sim_t s;
    sim_init(&s, 60, 400);
    unsigned count = 1200 / ptime;
    sim_stream(&s, count, ptime, 3, 0x40000000u, 0, 0, 3);
    sim_run(&s, 1600);
    size_t total = count * ptime * 8;
    expect_pat(&s, 0, total - total % NTICK);
    assert_int_equal(missing_in(&s, total - total % NTICK), 0);
    assert_int_equal(stats(&s).resync, 0);
    sim_fini(&s);
}

static void test_ptime_10(void **state)
{
    (void)state;
    run_ptime(10);
}

static void test_ptime_30(void **state)
{
    (void)state;
    run_ptime(30);
}

static void test_ptime_40(void **state)
{
    (void)state;
    run_ptime(40);
}

/* RTP timestamps wrap at 2^32 without a hiccup. */
static void test_ts_wrap(void **state)
{
    (void)state;
    sim_t s;
    sim_init(&s, 60, 400);
    sim_stream(&s, 50, 20, 0xabc, 0xFFFFFFFFu - 1000, 0, 0, 5);
    sim_run(&s, 1200);
    expect_pat(&s, 0, 50 * 160);
    assert_int_equal(missing_in(&s, 50 * 160), 0);
    playbuf_stats_t st = stats(&s);
    assert_int_equal(st.late + st.resync, 0);
    sim_fini(&s);
}

/* A new SSRC with its own seq/ts base continuing the cadence: one resync,
 * and the new stream lands right behind the old one, nothing missing. */
static void test_new_ssrc(void **state)
{
    (void)state;
    sim_t s;
    sim_init(&s, 60, 400);
    sim_stream(&s, 25, 20, 0xAAAA, 1000, 0, 0, 5);
    sim_stream(&s, 25, 20, 0xBBBB, 0x80001234u, 25 * 160, 500, 5);
    sim_run(&s, 1400);
    expect_pat(&s, 0, 50 * 160);
    assert_int_equal(missing_in(&s, 50 * 160), 0);
    playbuf_stats_t st = stats(&s);
    assert_int_equal(st.resync, 1);
    assert_int_equal(st.late, 0);
    /* A stray packet of the old SSRC afterwards is a new stream again, not a
     * crash; it only costs a resync. */
    uint8_t b[160] = {0};
    assert_int_equal(playbuf_put(s.p, 0xAAAA, 1000, b, sizeof b), 0);
    assert_int_equal(stats(&s).resync, 2);
    sim_fini(&s);
}

/* A gap in the new SSRC case: the new stream starts later; the gap is filled. */
static void test_new_ssrc_gap(void **state)
{
    (void)state;
    sim_t s;
    sim_init(&s, 60, 400);
    sim_stream(&s, 25, 20, 1, 1000, 0, 0, 5);
    /* 200 ms of silence (no packets), then stream 2. */
    sim_stream(&s, 25, 20, 2, 99, 25 * 160 + 1600, 700, 5);
    sim_run(&s, 1600);
    expect_pat(&s, 0, 25 * 160);
    expect_fill(&s, 25 * 160, 25 * 160 + 1600);
    expect_pat(&s, 25 * 160 + 1600, 50 * 160 + 1600);
    assert_int_equal(missing_in(&s, 50 * 160 + 1600), 1600);
    assert_int_equal(stats(&s).resync, 1);
    sim_fini(&s);
}

/* The sender restarts its timestamps (same SSRC): resync, seamless. */
static void test_ts_jump(void **state)
{
    (void)state;
    sim_t s;
    sim_init(&s, 60, 400);
    sim_stream(&s, 25, 20, 5, 1000, 0, 0, 5);
    sim_stream(&s, 25, 20, 5, 1000 + 25 * 160 + 8000 * 10, 25 * 160, 500, 5);
    sim_run(&s, 1400);
    expect_pat(&s, 0, 50 * 160);
    assert_int_equal(missing_in(&s, 50 * 160), 0);
    assert_int_equal(stats(&s).resync, 1);
    sim_fini(&s);
}

/* Duplicates change nothing. */
static void test_duplicates(void **state)
{
    (void)state;
    sim_t s;
    sim_init(&s, 60, 400);
    sim_stream(&s, 40, 20, 4, 0, 0, 0, 5);
    sim_stream(&s, 40, 20, 4, 0, 0, 0, 6);  /* each again 1 ms later */
    sim_stream(&s, 10, 20, 4, 0, 0, 0, 40); /* some a third time, later */
    sim_run(&s, 1200);
    expect_pat(&s, 0, 40 * 160);
    assert_int_equal(missing_in(&s, 40 * 160), 0);
    playbuf_stats_t st = stats(&s);
    assert_int_equal(st.put, 90);
    /* Third copies arrive 35 ms after the first, still before playing. */
    assert_int_equal(st.dup, 50);
    assert_int_equal(st.late, 0);
    assert_int_equal(st.resync, 0);
    sim_fini(&s);
}

/* A packet arriving after its time was played is dropped: 160 missing there. */
static void test_late_packet(void **state)
{
    (void)state;
    sim_t s;
    sim_init(&s, 60, 400);
    for (unsigned k = 0; k < 50; k++)
        sim_add(&s, (int)k * 20 + 5 + (k == 10 ? 200 : 0), 8, k * 160, 160, k * 160);
    sim_run(&s, 1200);
    expect_pat(&s, 0, 1600);
    expect_fill(&s, 1600, 1760);
    expect_pat(&s, 1760, 50 * 160);
    assert_int_equal(missing_in(&s, 50 * 160), 160);
    playbuf_stats_t st = stats(&s);
    assert_int_equal(st.late, 1);
    assert_int_equal(st.resync, 0);
    sim_fini(&s);

    /* Isolated late packets, more of them than PLAYBUF_LATE_STREAK but with
     * on-time ones between: each is only a hole, never a resync. */
    sim_init(&s, 60, 400);
    for (unsigned k = 0; k < 60; k++) {
        bool late = k % 10 == 5;
        sim_add(&s, (int)k * 20 + 5 + (late ? 200 : 0), 8, k * 160, 160, k * 160);
    }
    sim_run(&s, 1500);
    for (unsigned k = 0; k < 60; k++) {
        if (k % 10 == 5)
            expect_fill(&s, k * 160, k * 160 + 160);
        else
            expect_pat(&s, k * 160, k * 160 + 160);
    }
    st = stats(&s);
    assert_int_equal(st.late, 6);
    assert_true(st.late > PLAYBUF_LATE_STREAK);
    assert_int_equal(st.resync, 0);
    sim_fini(&s);
}

/* Jitter of +-20 ms with a 60 ms delay: nothing missing, for several seeds. */
static void test_jitter(void **state)
{
    (void)state;
    for (uint32_t seed = 1; seed <= 8; seed++) {
        sim_t s;
        sim_init(&s, 60, 400);
        uint32_t r = seed;
        for (unsigned k = 0; k < 500; k++) {
            r = r * 1103515245u + 12345u;
            int jit = (int)((r >> 16) % 41) - 20;
            sim_add(&s, (int)k * 20 + 25 + jit, seed, seed * 1000003u + k * 160, 160, k * 160);
        }
        sim_run(&s, 10400);
        expect_pat(&s, 0, 500 * 160);
        assert_int_equal(missing_in(&s, 500 * 160), 0);
        playbuf_stats_t st = stats(&s);
        assert_int_equal(st.late + st.resync + st.too_early, 0);
        sim_fini(&s);
    }
}

/* Sender clock 1% fast: the level grows; when a packet ends beyond max_delay
 * the play point skips ahead.  Output never stops and, since the skipped part
 * was buffered audio, nothing is reported missing while the stream lasts. */
static void test_drift_fast(void **state)
{
    (void)state;
    sim_t s;
    sim_init(&s, 60, 400);
    for (unsigned k = 0; k < 3000; k++)
        sim_add(&s, (int)(k * 198 / 10) + 5, 6, k * 160, 160, k * 160);
    sim_run(&s, 59500);
    playbuf_stats_t st = stats(&s);
    assert_true(st.too_early >= 1);
    assert_int_equal(st.resync, st.too_early);
    assert_int_equal(st.late, 0);
    assert_int_equal(st.samples_missing, 0);
    /* The level stayed bounded: output is short of the input by the skips. */
    assert_true(s.nout > 2900 * 160);

    /* Output is the pattern up to the first skip at j0, then the pattern
     * shifted by s: nothing inserted, only buffered audio jumped over. */
    size_t j0 = 0;
    while (j0 < s.nout && s.out[j0] == pat((uint32_t)j0))
        j0++;
    assert_true(j0 < s.nout);
    uint32_t sh = 1;
    while (sh <= 8000) {
        bool ok = true;
        for (uint32_t i = 0; i < 64 && ok; i++)
            ok = s.out[j0 + i] == pat((uint32_t)j0 + sh + i);
        if (ok)
            break;
        sh++;
    }
    assert_true(sh > 0 && sh <= (400 - 60) * 8);
    size_t j1 = j0;
    while (j1 < s.nout && s.out[j1] == pat((uint32_t)j1 + sh))
        j1++;
    assert_true(j1 - j0 > 10 * 160);
    /* The packet that triggered the skip starts delay (480 samples) after the
     * new play point, and the skip happened at the first get after it came. */
    uint32_t b = (uint32_t)j0 + sh + 480;
    assert_int_equal(b % 160, 0);
    int t_arr = (int)((b / 160) * 198 / 10) + 5;
    /* Puts come before the get of the same millisecond: ticks t < t_arr. */
    size_t played_before = (size_t)((t_arr - 1 - s.start_ms) / TICK + 1) * NTICK;
    assert_int_equal(j0, played_before);
    sim_fini(&s);
}

/* Sender clock 1% slow: the buffer runs dry; partly late packets keep their
 * on-time part; after a streak of wholly late packets it re-anchors. */
static void test_drift_slow(void **state)
{
    (void)state;
    sim_t s;
    sim_init(&s, 60, 400);
    for (unsigned k = 0; k < 1500; k++)
        sim_add(&s, (int)(k * 202 / 10) + 5, 6, k * 160, 160, k * 160);
    sim_run(&s, 30400);
    playbuf_stats_t st = stats(&s);
    assert_true(st.resync >= 1);
    assert_true(st.late >= PLAYBUF_LATE_STREAK - 1);
    assert_int_equal(st.too_early, 0);
    /* Loss is bounded: well under 5% of the samples. */
    assert_true(st.samples_missing * 20 < st.samples_out);
    /* Every tick produced n samples once started. */
    assert_int_equal(st.samples_out, s.nout);
    sim_fini(&s);
}

static void test_args(void **state)
{
    (void)state;
    playbuf_t *p = NULL;
    assert_int_equal(playbuf_new(&p, 60, 60), FX_ERANGE);
    assert_int_equal(playbuf_new(&p, 60, 40), FX_ERANGE);
    assert_int_equal(playbuf_new(&p, 60, PLAYBUF_MAX_DELAY_MS + 1), FX_ERANGE);
    assert_int_equal(playbuf_new(NULL, 60, 400), FX_ERANGE);
    assert_int_equal(playbuf_new(&p, 60, 400), 0);

    uint8_t buf[4000], out[160];
    memset(buf, 0x11, sizeof buf);
    unsigned m = 99;
    assert_int_equal(playbuf_get(p, out, 160, FILL, &m), 0); /* nothing yet */
    assert_int_equal(m, 0);
    assert_int_equal(playbuf_put(p, 1, 0, NULL, 160), FX_ERANGE);
    assert_int_equal(playbuf_put(p, 1, 0, buf, (400 - 60) * 8 + 1), FX_ERANGE);
    assert_int_equal(playbuf_put(p, 1, 0, buf, 0), 0);
    assert_int_equal(playbuf_get(p, out, 160, FILL, &m), 0); /* len 0 ignored */
    playbuf_stats_t st;
    playbuf_get_stats(p, &st);
    assert_int_equal(st.put, 0);

    /* The largest packet is accepted and plays out whole. */
    assert_int_equal(playbuf_put(p, 1, 0, buf, (400 - 60) * 8), 0);
    assert_int_equal(playbuf_get(p, out, 0, FILL, &m), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(playbuf_get(p, out, 160, FILL, &m), 0);
    for (int i = 0; i < 17; i++) {
        assert_int_equal(playbuf_get(p, out, 160, FILL, NULL), 160);
        assert_int_equal(out[0], 0x11);
    }
    assert_int_equal(playbuf_get(p, out, 160, FILL, &m), 160);
    assert_int_equal(m, 160);
    playbuf_free(p);
    playbuf_free(NULL);
}

/* During the hold an earlier packet moves the start back only up to delay:
 * a stray old one does not add its distance to the latency. */
static void test_hold_stray_old(void **state)
{
    (void)state;
    playbuf_t *p;
    assert_int_equal(playbuf_new(&p, 60, 400), 0);
    uint8_t a[160], b[160], out[160];
    memset(a, 0x11, sizeof a);
    memset(b, 0x22, sizeof b);
    assert_int_equal(playbuf_put(p, 1, 10000, a, 160), 0);
    assert_int_equal(playbuf_put(p, 1, 10000 - 2000, b, 160), 0); /* 250 ms older */
    assert_int_equal(playbuf_put(p, 1, 10000 - 320, b, 160), 0);  /* 40 ms older: ok */
    unsigned m;
    for (int i = 0; i < 3; i++)
        assert_int_equal(playbuf_get(p, out, 160, FILL, &m), 0);
    assert_int_equal(playbuf_get(p, out, 160, FILL, &m), 160);
    assert_int_equal(out[0], 0x22);
    assert_int_equal(m, 0);
    assert_int_equal(playbuf_get(p, out, 160, FILL, &m), 160);
    assert_int_equal(m, 160); /* 10000-160 .. 10000 never came */
    assert_int_equal(playbuf_get(p, out, 160, FILL, &m), 160);
    assert_int_equal(out[0], 0x11);
    assert_int_equal(out[159], 0x11);
    playbuf_stats_t st;
    playbuf_get_stats(p, &st);
    assert_int_equal(st.late, 1);
    playbuf_free(p);
}

/* A new SSRC is anchored delay after the play point; the old stream's audio
 * buffered beyond that point is dropped, the part before it still plays. */
static void test_new_ssrc_drops_old_tail(void **state)
{
    (void)state;
    playbuf_t *p;
    assert_int_equal(playbuf_new(&p, 60, 400), 0);
    uint8_t a[160], b[160], out[160];
    memset(a, 0x11, sizeof a);
    memset(b, 0x22, sizeof b);
    unsigned m;
    assert_int_equal(playbuf_put(p, 1, 0, a, 160), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(playbuf_get(p, out, 160, FILL, &m), 0);
    assert_int_equal(playbuf_get(p, out, 160, FILL, &m), 160); /* play = 160 */
    for (uint32_t ts = 160; ts < 1280; ts += 160)
        assert_int_equal(playbuf_put(p, 1, ts, a, 160), 0);
    assert_int_equal(playbuf_put(p, 2, 0xDEAD0000u, b, 160), 0); /* lands at 640 */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(playbuf_get(p, out, 160, FILL, &m), 160);
        assert_int_equal(m, 0);
        assert_int_equal(out[0], 0x11);
    }
    assert_int_equal(playbuf_get(p, out, 160, FILL, &m), 160);
    assert_int_equal(m, 0);
    assert_int_equal(out[0], 0x22);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(playbuf_get(p, out, 160, FILL, &m), 160);
        assert_int_equal(m, 160);
    }
    /* The new stream continues at its own timestamps. */
    assert_int_equal(playbuf_put(p, 2, 0xDEAD0000u + 160 * 4, b, 160), 0);
    assert_int_equal(playbuf_get(p, out, 160, FILL, &m), 160);
    assert_int_equal(m, 0);
    assert_int_equal(out[0], 0x22);
    playbuf_free(p);
}

/* delay 0: plays at the first get after the first packet. */
static void test_zero_delay(void **state)
{
    (void)state;
    playbuf_t *p;
    assert_int_equal(playbuf_new(&p, 0, 100), 0);
    uint8_t in[80], out[80];
    for (int i = 0; i < 80; i++)
        in[i] = (uint8_t)i;
    assert_int_equal(playbuf_put(p, 1, 42, in, 80), 0);
    unsigned m = 7;
    assert_int_equal(playbuf_get(p, out, 80, 0xD5, &m), 80);
    assert_int_equal(m, 0);
    assert_memory_equal(in, out, 80);
    /* Odd get sizes take exactly the next samples; gaps use the fill byte. */
    assert_int_equal(playbuf_put(p, 1, 42 + 100, in, 80), 0);
    assert_int_equal(playbuf_get(p, out, 30, 0xD5, &m), 30);
    assert_int_equal(m, 20);
    assert_int_equal(out[0], 0xD5);
    assert_int_equal(out[19], 0xD5);
    assert_int_equal(out[20], 0);
    assert_int_equal(out[29], 9);
    playbuf_free(p);
}

int main(void)
{
    fx_log_setup(FX_LOG_WARN, 0, "test_playout");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order),   cmocka_unit_test(test_lost_packet),
        cmocka_unit_test(test_reorder),    cmocka_unit_test(test_ptime_10),
        cmocka_unit_test(test_ptime_30),   cmocka_unit_test(test_ptime_40),
        cmocka_unit_test(test_ts_wrap),    cmocka_unit_test(test_new_ssrc),
        cmocka_unit_test(test_new_ssrc_gap), cmocka_unit_test(test_ts_jump),
        cmocka_unit_test(test_duplicates), cmocka_unit_test(test_late_packet),
        cmocka_unit_test(test_jitter),     cmocka_unit_test(test_drift_fast),
        cmocka_unit_test(test_drift_slow), cmocka_unit_test(test_args),
        cmocka_unit_test(test_zero_delay), cmocka_unit_test(test_hold_stray_old),
        cmocka_unit_test(test_new_ssrc_drops_old_tail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
