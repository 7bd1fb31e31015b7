/* In-process protocol tests: two fax engines back to back, no sockets and no
 * real time (samples are the clock). Covers G.711 with and without ECM, T.38,
 * and a switch from audio to T.38 mid-call. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>
#include <unistd.h>

#include "fax/fx.h"
#include "fxe.h"

/* Writes an N-page 1728-wide fine-resolution TIFF with a simple pattern. */
static void make_tiff(const char *path, int pages, int rows)
{
    TIFF *t = TIFFOpen(path, "w");
    assert_non_null(t);
    uint8_t line[216];
    for (int p = 0; p < pages; p++) {
        TIFFSetField(t, TIFFTAG_IMAGEWIDTH, 1728);
        TIFFSetField(t, TIFFTAG_IMAGELENGTH, rows);
        TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 1);
        TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 1);
        TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_CCITTFAX3);
        TIFFSetField(t, TIFFTAG_GROUP3OPTIONS, 0);
        TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISWHITE);
        TIFFSetField(t, TIFFTAG_FILLORDER, FILLORDER_LSB2MSB);
        TIFFSetField(t, TIFFTAG_XRESOLUTION, 204.0);
        TIFFSetField(t, TIFFTAG_YRESOLUTION, 196.0);
        TIFFSetField(t, TIFFTAG_RESOLUTIONUNIT, RESUNIT_INCH);
        TIFFSetField(t, TIFFTAG_SUBFILETYPE, FILETYPE_PAGE);
        TIFFSetField(t, TIFFTAG_PAGENUMBER, p, pages);
        TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, rows);
        for (int y = 0; y < rows; y++) {
            memset(line, 0, sizeof line);
            for (int x = 0; x < 216; x++)
                if (((x / 8) + (y / 16) + p) % 5 == 0)
                    line[x] = 0xFF;
            TIFFWriteScanline(t, line, (uint32_t)y, 0);
        }
        TIFFWriteDirectory(t);
    }
    TIFFClose(t);
}

typedef struct side {
    fxe_t *e;
    struct side *peer;
    int pages;
    bool done;
    faxres_t res;
    int tones;
    int refuse_page;      /* page_done fails for this page (receiver's disk full) */
    /* T.38 packets in flight to the peer */
    uint8_t q[256][512];
    size_t qlen[256];
    int nq;
    uint16_t seq;
} side_t;

static int s_t38_tx(void *user, const uint8_t *ifp, size_t len, int count)
{
    side_t *s = user;
    (void)count;
    if (s->nq < 256 && len <= 512) {
        memcpy(s->q[s->nq], ifp, len);
        s->qlen[s->nq++] = len;
    }
    return 0;
}

static int s_page(void *user, int page)
{
    side_t *s = user;
    if (s->refuse_page != 0 && page >= s->refuse_page)
        return -1;
    s->pages = page;
    return 0;
}

static void s_done(void *user, const faxres_t *r)
{
    side_t *s = user;
    s->done = true;
    s->res = *r;
}

static void s_tone(void *user, const char *what)
{
    side_t *s = user;
    (void)what;
    s->tones++;
}

static const fxe_ops_t ops = { s_t38_tx, s_page, s_done, s_tone };

static void flush(side_t *from)
{
    for (int i = 0; i < from->nq; i++)
        fxe_t38_rx(from->peer->e, from->q[i], from->qlen[i], from->seq++);
    from->nq = 0;
}

static void run_call(bool t38, bool ecm, bool switch_mid, const char *dir)
{
    char tx[512], rx[512];
    snprintf(tx, sizeof tx, "%s/tx.tif", dir);
    snprintf(rx, sizeof rx, "%s/rx.tif", dir);
    make_tiff(tx, 3, 200);
    side_t a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.peer = &b;
    b.peer = &a;
    fxe_params_t pa = { .calling = true, .sending = true, .tx_file = tx, .ident = "+1 555 0001",
                        .ecm = ecm, .max_rate = 14400, .detect_tones = switch_mid,
                        .log_tag = "sess=a" };
    fxe_params_t pb = { .calling = false, .sending = false, .rx_file = rx, .ident = "+1 555 0002",
                        .ecm = ecm, .max_rate = 14400, .detect_tones = switch_mid,
                        .log_tag = "sess=b" };
    fxe_t38_params_t tp = { .version = 0, .max_datagram = 400, .transferred_tcf = true };
    assert_int_equal(fxe_new(&pa, &ops, &a, t38, &tp, &a.e), 0);
    assert_int_equal(fxe_new(&pb, &ops, &b, t38, &tp, &b.e), 0);
    int16_t ba[160], bb[160];
    /* At most 10 simulated minutes. */
    for (int tick = 0; tick < 30000 && !(a.done && b.done); tick++) {
        if (switch_mid && !fxe_is_t38(a.e) && a.tones > 0) {
            assert_int_equal(fxe_switch_t38(a.e, &tp), 0);
            assert_int_equal(fxe_switch_t38(b.e, &tp), 0);
        }
        if (fxe_is_t38(a.e)) {
            fxe_t38_tick(a.e, 160);
            fxe_t38_tick(b.e, 160);
            flush(&a);
            flush(&b);
        } else {
            fxe_audio_tx(a.e, ba, 160);
            fxe_audio_tx(b.e, bb, 160);
            fxe_audio_rx(b.e, ba, 160);
            fxe_audio_rx(a.e, bb, 160);
        }
    }
    assert_true(a.done);
    assert_true(b.done);
    assert_int_equal(a.res.status, FAXRES_OK);
    assert_int_equal(b.res.status, FAXRES_OK);
    assert_int_equal(a.res.pages, 3);
    assert_int_equal(a.res.pages_total, 3);
    assert_int_equal(b.res.pages, 3);
    assert_int_equal(b.pages, 3);
    assert_string_equal(b.res.remote_ident, "+1 555 0001");
    assert_string_equal(a.res.mode, t38 || switch_mid ? "t38" : "g711");
    if (!t38 && !switch_mid)
        assert_int_equal(a.res.ecm, ecm);
    assert_true(a.res.image_s > 0.0);
    fxe_free(a.e);
    fxe_free(b.e);
    TIFF *t = TIFFOpen(rx, "r");
    assert_non_null(t);
    assert_int_equal(TIFFNumberOfDirectories(t), 3);
    TIFFClose(t);
    unlink(tx);
    unlink(rx);
}

static char g_dir[256];

static void test_g711_ecm(void **st) { (void)st; run_call(false, true, false, g_dir); }
static void test_g711_no_ecm(void **st) { (void)st; run_call(false, false, false, g_dir); }
static void test_t38(void **st) { (void)st; run_call(true, true, false, g_dir); }
static void test_switch_to_t38(void **st) { (void)st; run_call(false, true, true, g_dir); }

/* A call dropped mid-fax is never "ok". */
static void test_abort_is_not_ok(void **st)
{
    (void)st;
    char tx[512], rx[512];
    snprintf(tx, sizeof tx, "%s/tx.tif", g_dir);
    snprintf(rx, sizeof rx, "%s/rx.tif", g_dir);
    make_tiff(tx, 3, 200);
    side_t a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.peer = &b;
    b.peer = &a;
    fxe_params_t pa = { .calling = true, .sending = true, .tx_file = tx, .ident = "A",
                        .ecm = true, .max_rate = 14400 };
    fxe_params_t pb = { .calling = false, .sending = false, .rx_file = rx, .ident = "B",
                        .ecm = true, .max_rate = 14400 };
    fxe_t38_params_t tp = { .version = 0, .max_datagram = 400, .transferred_tcf = true };
    assert_int_equal(fxe_new(&pa, &ops, &a, true, &tp, &a.e), 0);
    assert_int_equal(fxe_new(&pb, &ops, &b, true, &tp, &b.e), 0);
    for (int tick = 0; tick < 30000 && a.pages < 1; tick++) {
        fxe_t38_tick(a.e, 160);
        fxe_t38_tick(b.e, 160);
        flush(&a);
        flush(&b);
    }
    assert_int_equal(a.pages, 1);
    fxe_abort(a.e, "BYE");
    fxe_abort(b.e, "BYE");
    assert_true(a.done);
    assert_true(b.done);
    assert_int_not_equal(a.res.status, FAXRES_OK);
    assert_int_not_equal(b.res.status, FAXRES_OK);
    fxe_free(a.e);
    fxe_free(b.e);
    unlink(tx);
    unlink(rx);
}

/* A page the receiver cannot store is never confirmed: SpanDSP 0.0.6 sends MCF
 * whatever phase D returns, so the engine must fall silent and end the call.
 * Without that the sender counted 3 pages while only 1 was on disk. */
static void refused_page_run(bool t38)
{
    char tx[512], rx[512];
    snprintf(tx, sizeof tx, "%s/tx.tif", g_dir);
    snprintf(rx, sizeof rx, "%s/rx.tif", g_dir);
    make_tiff(tx, 3, 200);
    side_t a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.peer = &b;
    b.peer = &a;
    b.refuse_page = 2;
    fxe_params_t pa = { .calling = true, .sending = true, .tx_file = tx, .ident = "A",
                        .ecm = true, .max_rate = 14400 };
    fxe_params_t pb = { .calling = false, .sending = false, .rx_file = rx, .ident = "B",
                        .ecm = true, .max_rate = 14400 };
    fxe_t38_params_t tp = { .version = 0, .max_datagram = 400, .transferred_tcf = true };
    assert_int_equal(fxe_new(&pa, &ops, &a, t38, &tp, &a.e), 0);
    assert_int_equal(fxe_new(&pb, &ops, &b, t38, &tp, &b.e), 0);
    int16_t ba[160], bb[160];
    for (int tick = 0; tick < 60000 && !(a.done && b.done); tick++) {
        if (t38) {
            fxe_t38_tick(a.e, 160);
            fxe_t38_tick(b.e, 160);
            flush(&a);
            flush(&b);
        } else {
            fxe_audio_tx(a.e, ba, 160);
            fxe_audio_tx(b.e, bb, 160);
            fxe_audio_rx(b.e, ba, 160);
            fxe_audio_rx(a.e, bb, 160);
        }
    }
    assert_true(b.done);
    assert_int_equal(b.pages, 1);
    assert_int_equal(b.res.pages, 1);
    assert_int_not_equal(b.res.status, FAXRES_OK);
    /* The sender never heard MCF for page 2. */
    if (a.done)
        assert_true(a.res.pages <= 1);
    else
        assert_true(a.pages <= 1);
    fxe_free(a.e);
    fxe_free(b.e);
    unlink(tx);
    unlink(rx);
}

static void test_refused_page_g711(void **st) { (void)st; refused_page_run(false); }
static void test_refused_page_t38(void **st) { (void)st; refused_page_run(true); }

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/test_fxe.XXXXXX");
    if (mkdtemp(g_dir) == NULL)
        return 1;
    fx_log_setup(FX_LOG_WARN, FX_FAC_ALL, "test_fxe");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_t38),
        cmocka_unit_test(test_g711_ecm),
        cmocka_unit_test(test_g711_no_ecm),
        cmocka_unit_test(test_switch_to_t38),
        cmocka_unit_test(test_abort_is_not_ok),
        cmocka_unit_test(test_refused_page_g711),
        cmocka_unit_test(test_refused_page_t38),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(g_dir);
    return rc;
}
