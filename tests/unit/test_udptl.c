/* Unit tests for drivers/sip/udptl.c: T.38 Annex D UDPTL packets (aligned PER,
 * ITU-T X.691), redundancy and parity FEC recovery, sequence handling. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fax/fx.h"
#include "udptl.h"

/* ---- helpers ---------------------------------------------------------- */

#define MAXGOT 256

/* Everything the decoder delivered. */
typedef struct got {
    unsigned n;
    uint16_t seq[MAXGOT];
    size_t   len[MAXGOT];
    uint8_t  data[MAXGOT][64];
    int      fail_at; /* cb returns -77 at this delivery index (-1: never) */
} got_t;

static int collect(void *user, const uint8_t *ifp, size_t len, uint16_t seq)
{
    got_t *g = user;
    assert_true(len > 0);
    if (g->fail_at >= 0 && (unsigned)g->fail_at == g->n)
        return -77;
    assert_true(g->n < MAXGOT);
    g->seq[g->n] = seq;
    g->len[g->n] = len;
    memcpy(g->data[g->n], ifp, len < 64 ? len : 64);
    g->n++;
    return 0;
}

static void got_init(got_t *g)
{
    memset(g, 0, sizeof *g);
    g->fail_at = -1;
}

/* Test IFP i: length 3 + i % 7 (so lengths differ), content derived from i. */
static size_t make_ifp(unsigned i, uint8_t *buf)
{
    size_t len = 3 + i % 7;
    for (size_t j = 0; j < len; j++)
        buf[j] = (uint8_t)(i * 31 + j * 7 + 1);
    return len;
}

static void check_ifp(const got_t *g, unsigned k, unsigned i)
{
    uint8_t want[64];
    size_t len = make_ifp(i, want);
    assert_int_equal(g->seq[k], (uint16_t)i);
    assert_int_equal(g->len[k], len);
    assert_memory_equal(g->data[k], want, len);
}

typedef struct dg {
    uint8_t b[512];
    size_t  len;
} dg_t;

/* Encodes IFPs first..first+count-1 (make_ifp) into dgs[]. */
static void encode_run(udptl_t *tx, unsigned first, unsigned count, dg_t *dgs)
{
    for (unsigned i = 0; i < count; i++) {
        uint8_t ifp[64];
        size_t l = make_ifp(first + i, ifp);
        assert_int_equal(udptl_encode(tx, ifp, l, dgs[i].b, sizeof dgs[i].b, &dgs[i].len), 0);
    }
}

/* A hand-built datagram writer for short strings (length < 128: one octet,
 * X.691 10.9.3.6). */
typedef struct wr {
    uint8_t b[512];
    size_t  len;
} wr_t;

static void w_u8(wr_t *w, uint8_t v) { w->b[w->len++] = v; }
static void w_seq(wr_t *w, uint16_t s)
{
    w->len = 0;
    w_u8(w, (uint8_t)(s >> 8));
    w_u8(w, (uint8_t)s);
}
static void w_str(wr_t *w, const uint8_t *p, size_t n)
{
    assert_true(n < 128);
    w_u8(w, (uint8_t)n);
    memcpy(w->b + w->len, p, n);
    w->len += n;
}

static udptl_t *mk(udptl_ec_t ec, int depth, size_t maxdg)
{
    udptl_t *u = NULL;
    assert_int_equal(udptl_new(&u), 0);
    udptl_set_tx(u, ec, depth, maxdg);
    return u;
}

static udptl_stats_t stats(const udptl_t *u)
{
    udptl_stats_t st;
    udptl_get_stats(u, &st);
    return st;
}

/* ---- PER encodings, byte-exact --------------------------------------- */

/* X.691 10.9.3.6: a length < 128 is one octet.  Datagram: seq-number (2
 * octets, 10.5.7.3), primary open type, CHOICE index 0 padded (0x00), empty
 * SEQUENCE OF count (0x00). */
static void test_per_short(void **state)
{
    (void)state;
    udptl_t *u = mk(UDPTL_EC_NONE, 0, 400);
    const uint8_t ifp[] = { 0x06, 0xd0, 0xaa };
    uint8_t out[64];
    size_t n;
    assert_int_equal(udptl_encode(u, ifp, sizeof ifp, out, sizeof out, &n), 0);
    const uint8_t want0[] = { 0x00, 0x00, 0x03, 0x06, 0xd0, 0xaa, 0x00, 0x00 };
    assert_int_equal(n, sizeof want0);
    assert_memory_equal(out, want0, n);
    assert_int_equal(udptl_encode(u, ifp, 1, out, sizeof out, &n), 0);
    const uint8_t want1[] = { 0x00, 0x01, 0x01, 0x06, 0x00, 0x00 };
    assert_int_equal(n, sizeof want1);
    assert_memory_equal(out, want1, n);

    /* 127 is still the one-octet form. */
    uint8_t big[127];
    memset(big, 0x5a, sizeof big);
    assert_int_equal(udptl_encode(u, big, sizeof big, out, sizeof out, &n), FX_ERANGE);
    uint8_t out2[256];
    assert_int_equal(udptl_encode(u, big, sizeof big, out2, sizeof out2, &n), 0);
    assert_int_equal(n, 2 + 1 + 127 + 2);
    assert_int_equal(out2[0], 0x00);
    assert_int_equal(out2[1], 0x02);
    assert_int_equal(out2[2], 0x7f);
    assert_int_equal(out2[130], 0x00);
    assert_int_equal(out2[131], 0x00);
    udptl_free(u);
}

/* X.691 10.9.3.7: 128..16383 is two octets 10nnnnnn nnnnnnnn. */
static void test_per_long(void **state)
{
    (void)state;
    static const struct {
        size_t  len;
        uint8_t l0, l1;
    } v[] = { { 128, 0x80, 0x80 }, { 300, 0x81, 0x2c }, { 1000, 0x83, 0xe8 },
              { 16383, 0xbf, 0xff } };
    udptl_t *u = mk(UDPTL_EC_NONE, 0, 0);
    udptl_t *rx = mk(UDPTL_EC_NONE, 0, 0);
    static uint8_t ifp[16383], out[16400];
    for (size_t i = 0; i < sizeof ifp; i++)
        ifp[i] = (uint8_t)(i ^ (i >> 8));
    for (unsigned t = 0; t < sizeof v / sizeof v[0]; t++) {
        size_t n;
        assert_int_equal(udptl_encode(u, ifp, v[t].len, out, sizeof out, &n), 0);
        assert_int_equal(n, 2 + 2 + v[t].len + 2);
        assert_int_equal(out[0], 0);
        assert_int_equal(out[1], t);
        assert_int_equal(out[2], v[t].l0);
        assert_int_equal(out[3], v[t].l1);
        assert_memory_equal(out + 4, ifp, v[t].len);
        assert_int_equal(out[4 + v[t].len], 0x00);
        assert_int_equal(out[5 + v[t].len], 0x00);
        got_t g;
        got_init(&g);
        assert_int_equal(udptl_decode(rx, out, n, collect, &g), 0);
        assert_int_equal(g.n, 1);
        assert_int_equal(g.len[0], v[t].len);
        assert_memory_equal(g.data[0], ifp, 64);
    }
    udptl_free(u);
    udptl_free(rx);
}

/* Captures one large delivery whole. */
typedef struct big {
    uint8_t buf[70000];
    size_t  len;
    int     n;
} big_t;

static int collect_big(void *user, const uint8_t *ifp, size_t len, uint16_t seq)
{
    (void)seq;
    big_t *b = user;
    memcpy(b->buf, ifp, len);
    b->len = len;
    b->n++;
    return 0;
}

/* X.691 10.9.3.8: 16K and more go in fragments 11mmmmmm of m*16384 octets,
 * then an ordinary length for the rest (0 included). */
static void test_per_fragments(void **state)
{
    (void)state;
    udptl_t *u = mk(UDPTL_EC_NONE, 0, 0);
    udptl_t *rx = mk(UDPTL_EC_NONE, 0, 0);
    static uint8_t ifp[65535], out[70000];
    static big_t b;
    for (size_t i = 0; i < sizeof ifp; i++)
        ifp[i] = (uint8_t)(i * 13 + (i >> 9));
    size_t n;

    /* 16384: C1, 16384 octets, 00 */
    assert_int_equal(udptl_encode(u, ifp, 16384, out, sizeof out, &n), 0);
    assert_int_equal(n, 2 + 1 + 16384 + 1 + 2);
    assert_int_equal(out[2], 0xc1);
    assert_memory_equal(out + 3, ifp, 16384);
    assert_int_equal(out[3 + 16384], 0x00);
    b.n = 0;
    assert_int_equal(udptl_decode(rx, out, n, collect_big, &b), 0);
    assert_int_equal(b.n, 1);
    assert_int_equal(b.len, 16384);
    assert_memory_equal(b.buf, ifp, 16384);

    /* 20000 = 16384 + 3616: C1, 16384 octets, 8E 20, 3616 octets */
    assert_int_equal(udptl_encode(u, ifp, 20000, out, sizeof out, &n), 0);
    assert_int_equal(n, 2 + 1 + 16384 + 2 + 3616 + 2);
    assert_int_equal(out[2], 0xc1);
    assert_int_equal(out[3 + 16384], 0x8e);
    assert_int_equal(out[4 + 16384], 0x20);
    assert_memory_equal(out + 5 + 16384, ifp + 16384, 3616);
    b.n = 0;
    assert_int_equal(udptl_decode(rx, out, n, collect_big, &b), 0);
    assert_int_equal(b.len, 20000);
    assert_memory_equal(b.buf, ifp, 20000);

    /* 65535 = 4*16384 (C4) no: 65535 < 65536, so C3 (49152) + 16383 (BF FF) */
    assert_int_equal(udptl_encode(u, ifp, 65535, out, sizeof out, &n), 0);
    assert_int_equal(n, 2 + 1 + 49152 + 2 + 16383 + 2);
    assert_int_equal(out[2], 0xc3);
    assert_int_equal(out[3 + 49152], 0xbf);
    assert_int_equal(out[4 + 49152], 0xff);
    b.n = 0;
    assert_int_equal(udptl_decode(rx, out, n, collect_big, &b), 0);
    assert_int_equal(b.len, 65535);
    assert_memory_equal(b.buf, ifp, 65535);

    /* 65536 is beyond the IFP bound. */
    static uint8_t more[65536];
    assert_int_equal(udptl_encode(u, more, sizeof more, out, sizeof out, &n), FX_ERANGE);
    assert_int_equal(udptl_encode(u, ifp, 0, out, sizeof out, &n), FX_ERANGE);
    assert_true(strlen(udptl_last_error(u)) > 0);

    /* A hand-built datagram fragmented as C1 + 16384 + C1 + 16384 + 05 + 5
     * (legal: fragments need not be the largest) decodes to 32773 octets. */
    size_t w = 0;
    out[w++] = 0x12;
    out[w++] = 0x34;
    out[w++] = 0xc1;
    memcpy(out + w, ifp, 16384);
    w += 16384;
    out[w++] = 0xc1;
    memcpy(out + w, ifp + 16384, 16384);
    w += 16384;
    out[w++] = 5;
    memcpy(out + w, ifp + 32768, 5);
    w += 5;
    out[w++] = 0x00;
    out[w++] = 0x00;
    udptl_t *rx2 = mk(UDPTL_EC_NONE, 0, 0);
    b.n = 0;
    assert_int_equal(udptl_decode(rx2, out, w, collect_big, &b), 0);
    assert_int_equal(b.len, 32773);
    assert_memory_equal(b.buf, ifp, 32773);
    /* the same with the last fragment cut short */
    assert_int_equal(udptl_decode(rx2, out, 3 + 16384 + 1 + 100, collect_big, &b), FX_EPARSE);
    assert_non_null(strstr(udptl_last_error(rx2), "past the end"));
    /* a fragment header with m = 5 is not X.691 */
    out[2] = 0xc5;
    assert_int_equal(udptl_decode(rx2, out, w, collect_big, &b), FX_EPARSE);
    assert_non_null(strstr(udptl_last_error(rx2), "fragment"));
    udptl_free(rx2);
    udptl_free(u);
    udptl_free(rx);
}

/* Redundancy, byte-exact: secondaries newest first (T.38 Annex D as SpanDSP and
 * Asterisk read them), count as a one-octet length. */
static void test_redundancy_vector(void **state)
{
    (void)state;
    udptl_t *u = mk(UDPTL_EC_REDUNDANCY, 2, 400);
    const uint8_t a[] = { 0x11 }, b[] = { 0x22, 0x23 }, c[] = { 0x33 };
    uint8_t out[64];
    size_t n;
    assert_int_equal(udptl_encode(u, a, sizeof a, out, sizeof out, &n), 0);
    const uint8_t w0[] = { 0x00, 0x00, 0x01, 0x11, 0x00, 0x00 };
    assert_int_equal(n, sizeof w0);
    assert_memory_equal(out, w0, n);
    assert_int_equal(udptl_encode(u, b, sizeof b, out, sizeof out, &n), 0);
    const uint8_t w1[] = { 0x00, 0x01, 0x02, 0x22, 0x23, 0x00, 0x01, 0x01, 0x11 };
    assert_int_equal(n, sizeof w1);
    assert_memory_equal(out, w1, n);
    assert_int_equal(udptl_encode(u, c, sizeof c, out, sizeof out, &n), 0);
    const uint8_t w2[] = { 0x00, 0x02, 0x01, 0x33, 0x00, 0x02, 0x02, 0x22, 0x23, 0x01, 0x11 };
    assert_int_equal(n, sizeof w2);
    assert_memory_equal(out, w2, n);
    udptl_stats_t st = stats(u);
    assert_int_equal(st.tx_datagrams, 3);
    assert_int_equal(st.tx_ifp, 3 + 0 + 1 + 2);
    udptl_free(u);
}

/* FEC, byte-exact: CHOICE index 1 (0x80), fec-npackets 1 as an unconstrained
 * INTEGER (length 01, value 01, X.691 12.2.6), then the fec-data count. */
static void test_fec_vector(void **state)
{
    (void)state;
    udptl_t *u = mk(UDPTL_EC_FEC, 2, 400);
    const uint8_t a[] = { 0x11 }, b[] = { 0x22, 0x23 }, c[] = { 0x33 };
    uint8_t out[64];
    size_t n;
    assert_int_equal(udptl_encode(u, a, sizeof a, out, sizeof out, &n), 0);
    const uint8_t w0[] = { 0x00, 0x00, 0x01, 0x11, 0x80, 0x01, 0x01, 0x00 };
    assert_int_equal(n, sizeof w0);
    assert_memory_equal(out, w0, n);
    assert_int_equal(udptl_encode(u, b, sizeof b, out, sizeof out, &n), 0);
    const uint8_t w1[] = { 0x00, 0x01, 0x02, 0x22, 0x23, 0x80, 0x01, 0x01, 0x01, 0x01, 0x11 };
    assert_int_equal(n, sizeof w1);
    assert_memory_equal(out, w1, n);
    assert_int_equal(udptl_encode(u, c, sizeof c, out, sizeof out, &n), 0);
    /* entry 0 covers seq 0 (a), entry 1 covers seq 1 (b) */
    const uint8_t w2[] = { 0x00, 0x02, 0x01, 0x33, 0x80, 0x01, 0x01, 0x02,
                           0x01, 0x11, 0x02, 0x22, 0x23 };
    assert_int_equal(n, sizeof w2);
    assert_memory_equal(out, w2, n);
    udptl_free(u);
}

/* ---- behaviour ------------------------------------------------------- */

static void test_roundtrip_none(void **state)
{
    (void)state;
    udptl_t *tx = mk(UDPTL_EC_NONE, 3, 400), *rx = mk(UDPTL_EC_NONE, 0, 400);
    dg_t d[10];
    encode_run(tx, 0, 10, d);
    got_t g;
    got_init(&g);
    for (unsigned i = 0; i < 10; i++) {
        assert_int_equal(udptl_decode(rx, d[i].b, d[i].len, collect, &g), 0);
        assert_string_equal(udptl_last_error(rx), "");
    }
    assert_int_equal(g.n, 10);
    for (unsigned i = 0; i < 10; i++)
        check_ifp(&g, i, i);
    udptl_stats_t st = stats(rx);
    assert_int_equal(st.rx_datagrams, 10);
    assert_int_equal(st.rx_ifp, 10);
    assert_int_equal(st.rx_recovered + st.rx_lost + st.rx_dup + st.rx_late + st.rx_bad, 0);
    udptl_free(tx);
    udptl_free(rx);
}

/* Redundancy depth 3 recovers 1, 2 and 3 consecutive lost datagrams. */
static void test_redundancy_recovers(void **state)
{
    (void)state;
    for (unsigned k = 1; k <= 3; k++) {
        udptl_t *tx = mk(UDPTL_EC_REDUNDANCY, 3, 400), *rx = mk(UDPTL_EC_NONE, 0, 400);
        dg_t d[12];
        encode_run(tx, 0, 12, d);
        got_t g;
        got_init(&g);
        for (unsigned i = 0; i < 12; i++)
            if (i < 4 || i >= 4 + k)
                assert_int_equal(udptl_decode(rx, d[i].b, d[i].len, collect, &g), 0);
        assert_int_equal(g.n, 12);
        for (unsigned i = 0; i < 12; i++)
            check_ifp(&g, i, i);
        udptl_stats_t st = stats(rx);
        assert_int_equal(st.rx_recovered, k);
        assert_int_equal(st.rx_lost, 0);
        assert_int_equal(st.rx_ifp, 12);
        udptl_free(tx);
        udptl_free(rx);
    }
}

/* Losing 5 with depth 3: the 3 newest come back, 2 are counted lost and the
 * rest is still delivered in order. */
static void test_loss_beyond_depth(void **state)
{
    (void)state;
    udptl_t *tx = mk(UDPTL_EC_REDUNDANCY, 3, 400), *rx = mk(UDPTL_EC_NONE, 0, 400);
    dg_t d[12];
    encode_run(tx, 0, 12, d);
    got_t g;
    got_init(&g);
    for (unsigned i = 0; i < 12; i++)
        if (i < 2 || i >= 7)
            assert_int_equal(udptl_decode(rx, d[i].b, d[i].len, collect, &g), 0);
    /* lost 2..6; datagram 7 carries 6, 5, 4 */
    const unsigned want[] = { 0, 1, 4, 5, 6, 7, 8, 9, 10, 11 };
    assert_int_equal(g.n, 10);
    for (unsigned i = 0; i < 10; i++)
        check_ifp(&g, i, want[i]);
    udptl_stats_t st = stats(rx);
    assert_int_equal(st.rx_lost, 2);
    assert_int_equal(st.rx_recovered, 3);
    /* the lost ones turning up later are late, not delivered */
    assert_int_equal(udptl_decode(rx, d[2].b, d[2].len, collect, &g), 0);
    assert_int_equal(udptl_decode(rx, d[5].b, d[5].len, collect, &g), 0);
    assert_int_equal(g.n, 10);
    st = stats(rx);
    assert_int_equal(st.rx_late, 1);
    assert_int_equal(st.rx_dup, 1);
    udptl_free(tx);
    udptl_free(rx);
}

static void test_reordering(void **state)
{
    (void)state;
    /* With redundancy: 0 1 3 2 4 -> 3 brings 2 along; 2 itself is a dup. */
    udptl_t *tx = mk(UDPTL_EC_REDUNDANCY, 1, 400), *rx = mk(UDPTL_EC_NONE, 0, 400);
    dg_t d[5];
    encode_run(tx, 0, 5, d);
    got_t g;
    got_init(&g);
    const unsigned order[] = { 0, 1, 3, 2, 4 };
    for (unsigned i = 0; i < 5; i++)
        assert_int_equal(udptl_decode(rx, d[order[i]].b, d[order[i]].len, collect, &g), 0);
    assert_int_equal(g.n, 5);
    for (unsigned i = 0; i < 5; i++)
        check_ifp(&g, i, i);
    udptl_stats_t st = stats(rx);
    assert_int_equal(st.rx_dup, 1);
    assert_int_equal(st.rx_recovered, 1);
    assert_int_equal(st.rx_lost, 0);
    udptl_free(tx);
    udptl_free(rx);

    /* Without: 2 is skipped (lost) when 3 comes, and late when it arrives. */
    tx = mk(UDPTL_EC_NONE, 0, 400);
    rx = mk(UDPTL_EC_NONE, 0, 400);
    encode_run(tx, 0, 5, d);
    got_init(&g);
    for (unsigned i = 0; i < 5; i++)
        assert_int_equal(udptl_decode(rx, d[order[i]].b, d[order[i]].len, collect, &g), 0);
    const unsigned want[] = { 0, 1, 3, 4 };
    assert_int_equal(g.n, 4);
    for (unsigned i = 0; i < 4; i++)
        check_ifp(&g, i, want[i]);
    st = stats(rx);
    assert_int_equal(st.rx_lost, 1);
    assert_int_equal(st.rx_late, 1);
    assert_int_equal(st.rx_dup, 0);
    udptl_free(tx);
    udptl_free(rx);
}

static void test_duplicates(void **state)
{
    (void)state;
    udptl_t *tx = mk(UDPTL_EC_REDUNDANCY, 3, 400), *rx = mk(UDPTL_EC_NONE, 0, 400);
    dg_t d[4];
    encode_run(tx, 0, 4, d);
    got_t g;
    got_init(&g);
    const unsigned order[] = { 0, 0, 1, 2, 1, 2, 3, 3, 0 };
    for (unsigned i = 0; i < sizeof order / sizeof order[0]; i++)
        assert_int_equal(udptl_decode(rx, d[order[i]].b, d[order[i]].len, collect, &g), 0);
    assert_int_equal(g.n, 4);
    for (unsigned i = 0; i < 4; i++)
        check_ifp(&g, i, i);
    udptl_stats_t st = stats(rx);
    assert_int_equal(st.rx_dup, 5);
    assert_int_equal(st.rx_recovered, 0);
    assert_int_equal(st.rx_datagrams, 9);
    udptl_free(tx);
    udptl_free(rx);
}

/* Sequence numbers wrap after 65535 on both sides, losses across the wrap
 * are recovered, and the first datagram may be anywhere. */
static void test_seq_wrap(void **state)
{
    (void)state;
    udptl_t *tx = mk(UDPTL_EC_REDUNDANCY, 2, 400), *rx = mk(UDPTL_EC_NONE, 0, 400);
    uint8_t out[64], ifp[64];
    size_t n;
    for (unsigned i = 0; i < 65534; i++) {
        size_t l = make_ifp(i, ifp);
        assert_int_equal(udptl_encode(tx, ifp, l, out, sizeof out, &n), 0);
    }
    dg_t d[6]; /* seq 65534, 65535, 0, 1, 2, 3 */
    encode_run(tx, 65534, 6, d);
    assert_int_equal(d[0].b[0], 0xff);
    assert_int_equal(d[0].b[1], 0xfe);
    assert_int_equal(d[2].b[0], 0x00);
    assert_int_equal(d[2].b[1], 0x00);
    got_t g;
    got_init(&g);
    /* receive 65534, lose 65535 and 0, receive 1 (carries 0, 65535), 2, 3 */
    assert_int_equal(udptl_decode(rx, d[0].b, d[0].len, collect, &g), 0);
    for (unsigned i = 3; i < 6; i++)
        assert_int_equal(udptl_decode(rx, d[i].b, d[i].len, collect, &g), 0);
    assert_int_equal(g.n, 6);
    for (unsigned i = 0; i < 6; i++)
        check_ifp(&g, i, 65534 + i);
    /* 65535 arriving now is a duplicate of the recovered one */
    assert_int_equal(udptl_decode(rx, d[1].b, d[1].len, collect, &g), 0);
    assert_int_equal(g.n, 6);
    udptl_stats_t st = stats(rx);
    assert_int_equal(st.rx_recovered, 2);
    assert_int_equal(st.rx_dup, 1);
    assert_int_equal(st.rx_lost, 0);
    udptl_free(tx);
    udptl_free(rx);
}

/* A gap larger than any history: all still delivered, the gap counted lost. */
static void test_big_gap(void **state)
{
    (void)state;
    udptl_t *rx = mk(UDPTL_EC_NONE, 0, 400);
    wr_t w;
    const uint8_t x[] = { 0x01, 0x02 };
    got_t g;
    got_init(&g);
    w_seq(&w, 100);
    w_str(&w, x, 2);
    w_u8(&w, 0x00);
    w_u8(&w, 0x00);
    assert_int_equal(udptl_decode(rx, w.b, w.len, collect, &g), 0);
    w_seq(&w, 1100);
    w_str(&w, x, 2);
    w_u8(&w, 0x00);
    w_u8(&w, 0x01); /* carries 1099 */
    w_str(&w, x, 1);
    assert_int_equal(udptl_decode(rx, w.b, w.len, collect, &g), 0);
    assert_int_equal(g.n, 3);
    assert_int_equal(g.seq[1], 1099);
    assert_int_equal(g.len[1], 1);
    assert_int_equal(g.seq[2], 1100);
    udptl_stats_t st = stats(rx);
    assert_int_equal(st.rx_lost, 998);
    assert_int_equal(st.rx_recovered, 1);
    udptl_free(rx);
}

/* A peer restarting its numbering far behind is followed after 3 datagrams. */
static void test_resync(void **state)
{
    (void)state;
    udptl_t *rx = mk(UDPTL_EC_NONE, 0, 400);
    wr_t w;
    const uint8_t x[] = { 0x07 };
    got_t g;
    got_init(&g);
    for (unsigned s = 5000; s < 5003; s++) {
        w_seq(&w, (uint16_t)s);
        w_str(&w, x, 1);
        w_u8(&w, 0);
        w_u8(&w, 0);
        assert_int_equal(udptl_decode(rx, w.b, w.len, collect, &g), 0);
    }
    for (unsigned s = 0; s < 4; s++) {
        w_seq(&w, (uint16_t)s);
        w_str(&w, x, 1);
        w_u8(&w, 0);
        w_u8(&w, 0);
        assert_int_equal(udptl_decode(rx, w.b, w.len, collect, &g), 0);
    }
    assert_int_equal(g.n, 5);
    assert_int_equal(g.seq[3], 2);
    assert_int_equal(g.seq[4], 3);
    udptl_stats_t st = stats(rx);
    assert_int_equal(st.rx_late, 2);
    /* 20 behind (inside the history window) is only late, however often */
    for (unsigned i = 0; i < 5; i++) {
        w_seq(&w, (uint16_t)(4 - 20));
        w_str(&w, x, 1);
        w_u8(&w, 0);
        w_u8(&w, 0);
        assert_int_equal(udptl_decode(rx, w.b, w.len, collect, &g), 0);
    }
    assert_int_equal(g.n, 5);
    assert_int_equal(stats(rx).rx_late, 7);
    udptl_free(rx);
}

/* Our FEC (fec-npackets 1) recovers losses up to the entry count. */
static void test_fec_roundtrip(void **state)
{
    (void)state;
    udptl_t *tx = mk(UDPTL_EC_FEC, 3, 400), *rx = mk(UDPTL_EC_NONE, 0, 400);
    dg_t d[12];
    encode_run(tx, 0, 12, d);
    got_t g;
    got_init(&g);
    for (unsigned i = 0; i < 12; i++)
        if (i != 3 && i != 7 && i != 8)
            assert_int_equal(udptl_decode(rx, d[i].b, d[i].len, collect, &g), 0);
    assert_int_equal(g.n, 12);
    for (unsigned i = 0; i < 12; i++)
        check_ifp(&g, i, i);
    udptl_stats_t st = stats(rx);
    assert_int_equal(st.rx_recovered, 3);
    assert_int_equal(st.rx_lost, 0);
    udptl_free(tx);
    udptl_free(rx);
}

/* Builds the datagram for packet seq with fec-npackets span and entries
 * entries over pk[] in the SpanDSP/Asterisk layout. */
static void build_fec(wr_t *w, uint16_t seq, unsigned span, unsigned entries, uint8_t pk[][8],
                      const size_t *plen)
{
    w_seq(w, seq);
    w_str(w, pk[seq], plen[seq]);
    w_u8(w, 0x80);
    w_u8(w, 1);
    w_u8(w, (uint8_t)span);
    w_u8(w, (uint8_t)entries);
    for (unsigned m = 0; m < entries; m++) {
        uint8_t x[8] = { 0 };
        size_t hi = 0;
        for (unsigned k = 0; k < span; k++) {
            unsigned c = seq - span * entries + m + k * entries;
            for (size_t j = 0; j < plen[c]; j++)
                x[j] ^= pk[c][j];
            if (plen[c] > hi)
                hi = plen[c];
        }
        w_str(w, x, hi);
    }
}

/* A peer's parity FEC with 3 packets per group, 2 groups interleaved (entry 0
 * covers 0,2,4, entry 1 covers 1,3,5 for the datagram of seq 6). */
static void test_fec_span_recovery(void **state)
{
    (void)state;
    uint8_t pk[7][8];
    size_t plen[7] = { 3, 2, 5, 4, 1, 4, 2 };
    for (unsigned i = 0; i < 7; i++)
        for (unsigned j = 0; j < 8; j++)
            pk[i][j] = (uint8_t)(0x10 * i + j + 1);
    wr_t w;

    /* lose 5 (as long as 3, the longest of its group): exact */
    udptl_t *rx = mk(UDPTL_EC_NONE, 0, 400);
    got_t g;
    got_init(&g);
    for (unsigned s = 0; s < 5; s++) {
        build_fec(&w, (uint16_t)s, 0, 0, pk, plen);
        assert_int_equal(udptl_decode(rx, w.b, w.len, collect, &g), 0);
    }
    build_fec(&w, 6, 3, 2, pk, plen);
    assert_int_equal(udptl_decode(rx, w.b, w.len, collect, &g), 0);
    assert_int_equal(g.n, 7);
    assert_int_equal(g.seq[5], 5);
    assert_int_equal(g.len[5], plen[5]);
    assert_memory_equal(g.data[5], pk[5], plen[5]);
    udptl_stats_t st = stats(rx);
    assert_int_equal(st.rx_recovered, 1);
    udptl_free(rx);

    /* There is no jitter buffer: once 3 was delivered, a lost 2 is final, and
     * 6's parity cannot bring it back. */
    rx = mk(UDPTL_EC_NONE, 0, 400);
    got_init(&g);
    for (unsigned s = 0; s < 6; s++) {
        if (s == 2)
            continue;
        build_fec(&w, (uint16_t)s, 0, 0, pk, plen);
        assert_int_equal(udptl_decode(rx, w.b, w.len, collect, &g), 0);
    }
    build_fec(&w, 6, 3, 2, pk, plen);
    assert_int_equal(udptl_decode(rx, w.b, w.len, collect, &g), 0);
    assert_int_equal(g.n, 6);
    st = stats(rx);
    assert_int_equal(st.rx_lost, 1);
    assert_int_equal(st.rx_recovered, 0);
    udptl_free(rx);

    /* lose 4 and 5, which are in different groups: datagram 6 brings both
     * back (4 from entry 0 with 0 and 2; 5 from entry 1 with 1 and 3). */
    rx = mk(UDPTL_EC_NONE, 0, 400);
    got_init(&g);
    for (unsigned s = 0; s < 4; s++) {
        build_fec(&w, (uint16_t)s, 0, 0, pk, plen);
        assert_int_equal(udptl_decode(rx, w.b, w.len, collect, &g), 0);
    }
    build_fec(&w, 6, 3, 2, pk, plen);
    assert_int_equal(udptl_decode(rx, w.b, w.len, collect, &g), 0);
    assert_int_equal(g.n, 7);
    for (unsigned i = 0; i < 7; i++)
        assert_int_equal(g.seq[i], i);
    /* 4 (len 1) is shorter than its group's entry (len 5): it comes back with
     * zero padding (the XXX in udptl.c); 5 (len 4) is the longest of its
     * group together with 3 (len 4) and comes back exactly. */
    assert_int_equal(g.len[4], 5);
    assert_memory_equal(g.data[4], pk[4], 1);
    assert_int_equal(g.data[4][1] | g.data[4][2] | g.data[4][3] | g.data[4][4], 0);
    assert_int_equal(g.len[5], 4);
    assert_memory_equal(g.data[5], pk[5], 4);
    st = stats(rx);
    assert_int_equal(st.rx_recovered, 2);
    assert_int_equal(st.rx_lost, 0);
    udptl_free(rx);

    /* fec-npackets 1 with one entry: the entry is a copy of the packet */
    rx = mk(UDPTL_EC_NONE, 0, 400);
    got_init(&g);
    for (unsigned s = 0; s < 2; s++) {
        build_fec(&w, (uint16_t)s, 0, 0, pk, plen);
        assert_int_equal(udptl_decode(rx, w.b, w.len, collect, &g), 0);
    }
    build_fec(&w, 3, 1, 1, pk, plen); /* entry covers 2 alone: recovers 2 */
    assert_int_equal(udptl_decode(rx, w.b, w.len, collect, &g), 0);
    assert_int_equal(g.n, 4);
    assert_int_equal(g.seq[2], 2);
    assert_int_equal(g.len[2], plen[2]);
    assert_memory_equal(g.data[2], pk[2], plen[2]);
    udptl_free(rx);

    rx = mk(UDPTL_EC_NONE, 0, 400);
    got_init(&g);
    for (unsigned s = 0; s < 2; s++) {
        build_fec(&w, (uint16_t)s, 0, 0, pk, plen);
        assert_int_equal(udptl_decode(rx, w.b, w.len, collect, &g), 0);
    }
    /* 2, 3, 4, 5 missing: each group lacks two, nothing is recoverable */
    build_fec(&w, 6, 3, 2, pk, plen);
    assert_int_equal(udptl_decode(rx, w.b, w.len, collect, &g), 0);
    assert_int_equal(g.n, 3);
    assert_int_equal(g.seq[2], 6);
    st = stats(rx);
    assert_int_equal(st.rx_lost, 4);
    udptl_free(rx);
}

/* max_datagram is the peer's T38FaxMaxDatagram: redundancy is trimmed oldest
 * first, and a primary that cannot fit is FX_ERANGE with nothing changed. */
static void test_max_datagram(void **state)
{
    (void)state;
    uint8_t ten[10], out[512];
    size_t n;
    /* primary 10: 2 + 1 + 10 + 1 + 1 = 15; each secondary 11: 2 fit in 40 */
    udptl_t *u = mk(UDPTL_EC_REDUNDANCY, 3, 40);
    for (unsigned i = 0; i < 4; i++) {
        memset(ten, (int)(0xa0 + i), sizeof ten);
        assert_int_equal(udptl_encode(u, ten, sizeof ten, out, sizeof out, &n), 0);
        assert_true(n <= 40);
    }
    assert_int_equal(n, 37);
    assert_int_equal(out[14], 2);  /* two secondaries */
    assert_int_equal(out[16], 0xa2); /* newest first: seq 2 ... */
    assert_int_equal(out[27], 0xa1); /* ... then seq 1; seq 0 dropped */
    /* at exactly 48 all three fit */
    udptl_set_tx(u, UDPTL_EC_REDUNDANCY, 3, 48);
    assert_int_equal(udptl_encode(u, ten, sizeof ten, out, sizeof out, &n), 0);
    assert_int_equal(n, 48);
    assert_int_equal(out[14], 3);
    /* the caller's buffer limits likewise */
    assert_int_equal(udptl_encode(u, ten, sizeof ten, out, 20, &n), 0);
    assert_int_equal(n, 15);
    assert_int_equal(out[14], 0);
    /* a primary that cannot fit: FX_ERANGE, sequence not consumed */
    uint8_t big[60];
    memset(big, 1, sizeof big);
    assert_int_equal(udptl_encode(u, big, sizeof big, out, sizeof out, &n), FX_ERANGE);
    assert_non_null(strstr(udptl_last_error(u), "max datagram 48"));
    assert_int_equal(udptl_encode(u, ten, sizeof ten, out, sizeof out, &n), 0);
    assert_int_equal(out[0], 0);
    assert_int_equal(out[1], 6);
    udptl_stats_t st = stats(u);
    assert_int_equal(st.tx_datagrams, 7);

    /* FEC: 2 + 1 + 10 + 1 + 2 + 1 = 17, each entry 11; depth 3 into 40 -> 2 */
    udptl_t *f = mk(UDPTL_EC_FEC, 3, 40);
    udptl_t *rx = mk(UDPTL_EC_NONE, 0, 400);
    dg_t d[6];
    for (unsigned i = 0; i < 6; i++) {
        memset(ten, (int)(0xb0 + i), sizeof ten);
        assert_int_equal(udptl_encode(f, ten, sizeof ten, d[i].b, sizeof d[i].b, &d[i].len), 0);
        assert_true(d[i].len <= 40);
    }
    assert_int_equal(d[5].len, 39);
    assert_int_equal(d[5].b[16], 2);
    /* and those two entries are the newest: losing 3 and 4 still recovers */
    got_t g;
    got_init(&g);
    for (unsigned i = 0; i < 6; i++)
        if (i != 3 && i != 4)
            assert_int_equal(udptl_decode(rx, d[i].b, d[i].len, collect, &g), 0);
    assert_int_equal(g.n, 6);
    assert_int_equal(g.data[3][0], 0xb3);
    assert_int_equal(g.data[4][0], 0xb4);
    udptl_free(f);
    udptl_free(rx);
    udptl_free(u);
}

/* Malformed datagrams: FX_EPARSE, a reason, nothing delivered, state kept. */
static void test_malformed(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        uint8_t     b[24];
        size_t      len;
        const char *why;
    } v[] = {
        { "empty", { 0 }, 0, "shorter than seq-number" },
        { "one octet", { 0x00 }, 1, "shorter than seq-number" },
        { "no primary length", { 0x00, 0x05 }, 2, "truncated" },
        { "primary past end", { 0x00, 0x05, 0x04, 0x01, 0x02 }, 5, "past the end" },
        { "long length cut", { 0x00, 0x05, 0x81 }, 3, "truncated" },
        { "long length past end", { 0x00, 0x05, 0x81, 0x00, 0x01 }, 5, "past the end" },
        { "zero primary", { 0x00, 0x05, 0x00, 0x00, 0x00 }, 5, "zero length" },
        { "no error-recovery", { 0x00, 0x05, 0x01, 0x07 }, 4, "before error-recovery" },
        { "no count", { 0x00, 0x05, 0x01, 0x07, 0x00 }, 5, "truncated in the" },
        { "too many secondaries", { 0x00, 0x05, 0x01, 0x07, 0x00, 17 }, 6, "absurd" },
        { "fragmented count", { 0x00, 0x05, 0x01, 0x07, 0x00, 0xc1 }, 6, "absurd" },
        { "secondary past end", { 0x00, 0x05, 0x01, 0x07, 0x00, 0x02, 0x01, 0x09, 0x03, 0x01 },
          10, "past the end" },
        { "zero secondary", { 0x00, 0x05, 0x01, 0x07, 0x00, 0x01, 0x00 }, 7, "zero length" },
        { "trailing", { 0x00, 0x05, 0x01, 0x07, 0x00, 0x00, 0xff }, 7, "trailing" },
        { "fec no npackets", { 0x00, 0x05, 0x01, 0x07, 0x80 }, 5, "fec-npackets" },
        { "fec npackets len 0", { 0x00, 0x05, 0x01, 0x07, 0x80, 0x00 }, 6, "fec-npackets" },
        { "fec npackets len 5", { 0x00, 0x05, 0x01, 0x07, 0x80, 0x05, 0, 0, 0, 0, 1, 0 }, 12,
          "fec-npackets" },
        { "fec npackets cut", { 0x00, 0x05, 0x01, 0x07, 0x80, 0x02, 0x00 }, 7, "past the end" },
        { "fec npackets negative", { 0x00, 0x05, 0x01, 0x07, 0x80, 0x01, 0xff, 0x00 }, 8,
          "negative" },
        { "fec npackets absurd", { 0x00, 0x05, 0x01, 0x07, 0x80, 0x01, 0x21, 0x00 }, 8,
          "absurd" },
        { "fec entries absurd", { 0x00, 0x05, 0x01, 0x07, 0x80, 0x01, 0x01, 0x11 }, 8,
          "absurd" },
        { "fec entry past end", { 0x00, 0x05, 0x01, 0x07, 0x80, 0x01, 0x01, 0x01, 0x05, 0x01 },
          10, "past the end" },
    };
    udptl_t *rx = mk(UDPTL_EC_NONE, 0, 400);
    got_t g;
    got_init(&g);
    for (unsigned i = 0; i < sizeof v / sizeof v[0]; i++) {
        int rc = udptl_decode(rx, v[i].b, v[i].len, collect, &g);
        if (rc != FX_EPARSE || strstr(udptl_last_error(rx), v[i].why) == NULL)
            fail_msg("%s: rc=%d error='%s' want '%s'", v[i].name, rc, udptl_last_error(rx),
                     v[i].why);
    }
    assert_int_equal(g.n, 0);
    udptl_stats_t st = stats(rx);
    assert_int_equal(st.rx_bad, sizeof v / sizeof v[0]);
    assert_int_equal(st.rx_ifp, 0);
    /* state unchanged: the first good datagram still sets the sequence */
    const uint8_t ok[] = { 0x01, 0x00, 0x01, 0x07, 0x00, 0x00 };
    assert_int_equal(udptl_decode(rx, ok, sizeof ok, collect, &g), 0);
    assert_string_equal(udptl_last_error(rx), "");
    assert_int_equal(g.n, 1);
    assert_int_equal(g.seq[0], 256);
    assert_int_equal(stats(rx).rx_lost, 0);
    /* a valid datagram parsed in a short window never reads past it: every
     * prefix of a good redundancy datagram is rejected */
    const uint8_t good[] = { 0x01, 0x02, 0x02, 0x07, 0x08, 0x00, 0x02, 0x01, 0x09, 0x02, 0x0a,
                             0x0b };
    for (size_t l = 0; l < sizeof good; l++) {
        uint8_t *cut = malloc(l ? l : 1); /* exact size, so ASan sees overreads */
        memcpy(cut, good, l);
        assert_int_equal(udptl_decode(rx, cut, l, collect, &g), FX_EPARSE);
        free(cut);
    }
    assert_int_equal(udptl_decode(rx, good, sizeof good, collect, &g), 0);
    assert_int_equal(g.n, 3); /* 257 from redundancy, then 258 */
    assert_int_equal(g.seq[1], 257);
    assert_int_equal(g.len[1], 1);
    assert_int_equal(g.data[1][0], 0x09);
    assert_int_equal(g.seq[2], 258);
    assert_int_equal(g.len[2], 2);
    assert_int_equal(udptl_decode(NULL, good, sizeof good, collect, &g), -EINVAL);
    assert_int_equal(udptl_decode(rx, good, sizeof good, NULL, &g), -EINVAL);
    udptl_free(rx);
}

/* A callback error stops delivery and is returned. */
static void test_cb_stop(void **state)
{
    (void)state;
    udptl_t *tx = mk(UDPTL_EC_REDUNDANCY, 3, 400), *rx = mk(UDPTL_EC_NONE, 0, 400);
    dg_t d[5];
    encode_run(tx, 0, 5, d);
    got_t g;
    got_init(&g);
    assert_int_equal(udptl_decode(rx, d[0].b, d[0].len, collect, &g), 0);
    g.fail_at = 2; /* 4 carries 1,2,3: the callback fails on 2 */
    assert_int_equal(udptl_decode(rx, d[4].b, d[4].len, collect, &g), -77);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.seq[1], 1);
    g.fail_at = -1;
    /* 2 was handed over (it counts as delivered); 3 and the primary 4 come
     * with the next datagram */
    assert_int_equal(udptl_decode(rx, d[4].b, d[4].len, collect, &g), 0);
    const unsigned want[] = { 0, 1, 3, 4 };
    assert_int_equal(g.n, 4);
    for (unsigned i = 0; i < 4; i++)
        check_ifp(&g, i, want[i]);
    udptl_stats_t st = stats(rx);
    assert_int_equal(st.rx_recovered, 3);
    assert_int_equal(st.rx_ifp, 5);
    udptl_free(tx);
    udptl_free(rx);
    udptl_free(NULL);
    assert_int_equal(udptl_new(NULL), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_per_short),
        cmocka_unit_test(test_per_long),
        cmocka_unit_test(test_per_fragments),
        cmocka_unit_test(test_redundancy_vector),
        cmocka_unit_test(test_fec_vector),
        cmocka_unit_test(test_roundtrip_none),
        cmocka_unit_test(test_redundancy_recovers),
        cmocka_unit_test(test_loss_beyond_depth),
        cmocka_unit_test(test_reordering),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_seq_wrap),
        cmocka_unit_test(test_big_gap),
        cmocka_unit_test(test_resync),
        cmocka_unit_test(test_fec_roundtrip),
        cmocka_unit_test(test_fec_span_recovery),
        cmocka_unit_test(test_max_datagram),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_cb_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
