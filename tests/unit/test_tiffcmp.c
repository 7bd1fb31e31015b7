/* Unit tests for tests/peers/fx_faxtiff.h: the test-document generator behind fx_mkpages
 * and the page comparison behind fx_tiffcmp and tests/bench/spandsp_alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../peers/fx_faxtiff.h"

static char dir[64];

static const char *tmp(const char *name)
{
    static char buf[4][128];
    static int k;

    k = (k + 1) % 4;
    snprintf(buf[k], sizeof(buf[k]), "%s/%s", dir, name);
    return buf[k];
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/test_tiffcmp.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    fxt_tiff_quiet(1);
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const fxt_gen_opts_t base = {.pages = 3, .lines = 200, .fine = 1, .t6 = 0, .dense = 0,
                                    .seed = 5};
static const fxt_cmp_opts_t strict = {.min_agree = 0.995, .max_length_diff = 0,
                                      .allow_resolution_change = 0};

static void write_doc(const char *path, const fxt_doc_t *d)
{
    TIFF *tif = TIFFOpen(path, "w");

    assert_non_null(tif);
    for (int i = 0; i < d->npages; i++)
        assert_int_equal(fxt_write_page(tif, &d->pages[i], 0, i + 1, d->npages, NULL), 0);
    TIFFClose(tif);
}

static void load(const char *path, fxt_doc_t *d)
{
    assert_int_equal(fxt_load_doc(path, d), 0);
}

static long count_black(const fxt_page_t *p)
{
    long n = 0;

    for (int y = 0; y < p->length; y++)
        for (int x = 0; x < p->width; x++)
            n += fxt_get(p, x, y);
    return n;
}

static void *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = fx_malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* A T.4 1-D and a T.6 document of the same options decode to the same pixels, with the
 * tags fx_mkpages promises. */
static void test_t4_t6_same_pixels(void **state)
{
    fxt_gen_opts_t o6 = base;
    fxt_doc_t a;
    fxt_doc_t b;
    fxt_cmp_result_t r;
    TIFF *tif;
    uint16_t comp = 0;
    uint16_t fill = 0;
    uint16_t pn = 9;
    uint16_t pt = 9;
    uint32_t g3 = 99;
    char *desc = NULL;

    (void)state;
    o6.t6 = 1;
    assert_int_equal(fxt_write_doc(tmp("a.tif"), &base), 0);
    assert_int_equal(fxt_write_doc(tmp("a6.tif"), &o6), 0);
    load(tmp("a.tif"), &a);
    load(tmp("a6.tif"), &b);
    assert_int_equal(a.npages, 3);
    assert_int_equal(a.pages[0].width, 1728);
    assert_int_equal(a.pages[0].length, 200);
    assert_true(fabsf(a.pages[0].xres - 204.0f) < 0.01f);
    assert_true(fabsf(a.pages[0].yres - 196.0f) < 0.01f);
    assert_int_equal(fxt_cmp_doc(&a, &b, &strict, NULL, &r), 0);
    assert_int_equal(r.pages_ok, 3);
    assert_true(r.agree_min == 1.0);
    assert_string_equal(r.reason, "");
    fxt_doc_fini(&a);
    fxt_doc_fini(&b);

    tif = TIFFOpen(tmp("a.tif"), "r");
    assert_non_null(tif);
    assert_true(TIFFSetDirectory(tif, 1));
    TIFFGetField(tif, TIFFTAG_COMPRESSION, &comp);
    TIFFGetField(tif, TIFFTAG_FILLORDER, &fill);
    TIFFGetField(tif, TIFFTAG_GROUP3OPTIONS, &g3);
    TIFFGetField(tif, TIFFTAG_PAGENUMBER, &pn, &pt);
    TIFFGetField(tif, TIFFTAG_IMAGEDESCRIPTION, &desc);
    assert_int_equal(comp, COMPRESSION_CCITTFAX3);
    assert_int_equal(fill, FILLORDER_LSB2MSB);
    assert_int_equal(g3, 0);
    assert_int_equal(pn, 1);
    assert_int_equal(pt, 3);
    assert_non_null(desc);
    assert_non_null(strstr(desc, "PAGE 2/3"));
    TIFFClose(tif);
}

/* Same seed: the same bytes. Another seed: pages that differ visibly. */
static void test_deterministic_and_seeded(void **state)
{
    fxt_gen_opts_t o2 = base;
    size_t la;
    size_t lb;
    void *ba;
    void *bb;
    fxt_doc_t a;
    fxt_doc_t b;
    fxt_cmp_result_t r;

    (void)state;
    assert_int_equal(fxt_write_doc(tmp("d1.tif"), &base), 0);
    assert_int_equal(fxt_write_doc(tmp("d2.tif"), &base), 0);
    ba = slurp(tmp("d1.tif"), &la);
    bb = slurp(tmp("d2.tif"), &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(ba, bb, la);
    free(ba);
    free(bb);

    o2.seed = 6;
    assert_int_equal(fxt_write_doc(tmp("d3.tif"), &o2), 0);
    load(tmp("d1.tif"), &a);
    load(tmp("d3.tif"), &b);
    assert_int_equal(fxt_cmp_doc(&a, &b, &strict, NULL, &r), 1);
    assert_int_equal(r.pages_ok, 0);
    assert_true(r.agree_min < 0.99);
    assert_non_null(strstr(r.reason, "page 1 agree"));
    /* Pages of one document differ from each other too. */
    {
        double ag;
        char why[160];
        assert_int_equal(fxt_cmp_page(&a.pages[0], &a.pages[1], 1, &strict, NULL, &ag, why,
                                      sizeof(why)), 1);
    }
    fxt_doc_fini(&a);
    fxt_doc_fini(&b);
}

/* The drawing: border, title, and a dense page much blacker than a light one. */
static void test_render(void **state)
{
    fxt_gen_opts_t ol = base;
    fxt_gen_opts_t od = base;
    fxt_page_t light;
    fxt_page_t dense;

    (void)state;
    ol.lines = od.lines = 1000; /* leave room for a body below the title and pattern */
    od.dense = 1;
    assert_int_equal(fxt_render_page(&light, &ol, 1), 0);
    assert_int_equal(fxt_render_page(&dense, &od, 1), 0);
    assert_int_equal(fxt_get(&light, 20, 100), 1);     /* left border */
    assert_int_equal(fxt_get(&light, 1707, 100), 1);   /* right border */
    assert_int_equal(fxt_get(&light, 10, 100), 0);     /* margin */
    assert_int_equal(fxt_get(&light, 1720, 100), 0);
    /* The F of FAXGATE: its top bar at x = 64.., y = 32.. (10 x 10 pixel font dots). */
    assert_int_equal(fxt_get(&light, 65, 33), 1);
    assert_true(count_black(&dense) > 4 * count_black(&light));
    fxt_page_fini(&light);
    fxt_page_fini(&dense);
    assert_int_equal(fxt_render_page(&light, &(fxt_gen_opts_t){.pages = 1, .lines = 10}, 1),
                     FX_ERANGE);
    assert_int_equal(fxt_write_doc(tmp("bad.tif"), &(fxt_gen_opts_t){.pages = 0, .lines = 400}),
                     FX_ERANGE);
}

static void test_page_count(void **state)
{
    fxt_gen_opts_t o2 = base;
    fxt_doc_t a;
    fxt_doc_t b;
    fxt_cmp_result_t r;

    (void)state;
    o2.pages = 2;
    assert_int_equal(fxt_write_doc(tmp("c3.tif"), &base), 0);
    assert_int_equal(fxt_write_doc(tmp("c2.tif"), &o2), 0);
    load(tmp("c3.tif"), &a);
    load(tmp("c2.tif"), &b);
    /* Page 2/2 and 2/3 differ in their title, so only the count is checked by reason. */
    assert_int_equal(fxt_cmp_doc(&a, &b, &strict, NULL, &r), 1);
    assert_int_equal(r.pages_a, 3);
    assert_int_equal(r.pages_b, 2);
    fxt_doc_fini(&b);
    /* A prefix of the same document: the pages match, the count does not. */
    b.npages = 2;
    b.pages = fx_calloc(2, sizeof(fxt_page_t));
    for (int i = 0; i < 2; i++) {
        assert_int_equal(fxt_page_init(&b.pages[i], 1728, 200), 0);
        memcpy(b.pages[i].bits, a.pages[i].bits, (size_t)200 * 216);
        b.pages[i].xres = a.pages[i].xres;
        b.pages[i].yres = a.pages[i].yres;
    }
    assert_int_equal(fxt_cmp_doc(&a, &b, &strict, NULL, &r), 1);
    assert_int_equal(r.pages_ok, 2);
    assert_string_equal(r.reason, "page count 2 != 3");
    fxt_doc_fini(&a);
    fxt_doc_fini(&b);
}

/* Flipping k pixels gives agreement exactly 1 - k / area, and the threshold decides. */
static void test_pixel_agreement(void **state)
{
    fxt_doc_t a;
    fxt_doc_t b;
    fxt_cmp_result_t r;
    fxt_cmp_opts_t loose = strict;
    const int k = 1728 * 200 / 100; /* 1% */

    (void)state;
    assert_int_equal(fxt_write_doc(tmp("p.tif"), &base), 0);
    load(tmp("p.tif"), &a);
    load(tmp("p.tif"), &b);
    for (int i = 0; i < k; i++) {
        int x = (i * 7) % 1728;
        int y = (i * 7) / 1728;
        fxt_set(&b.pages[1], x, y, !fxt_get(&b.pages[1], x, y));
    }
    write_doc(tmp("p2.tif"), &b);
    fxt_doc_fini(&b);
    load(tmp("p2.tif"), &b);
    assert_int_equal(fxt_cmp_doc(&a, &b, &strict, NULL, &r), 1);
    assert_int_equal(r.pages_ok, 2);
    assert_true(fabs(r.agree_min - 0.99) < 1e-9);
    assert_string_equal(r.reason, "page 2 agree 0.990000 < 0.995000");
    loose.min_agree = 0.98;
    assert_int_equal(fxt_cmp_doc(&a, &b, &loose, NULL, &r), 0);
    fxt_doc_fini(&a);
    fxt_doc_fini(&b);
}

/* A received page at standard resolution is a mismatch, unless allowed, when rows map
 * 1:2 onto the fine original. */
static void test_resolution_change(void **state)
{
    fxt_doc_t a;
    fxt_doc_t b;
    fxt_cmp_result_t r;
    fxt_cmp_opts_t allow = strict;
    FILE *out;
    char line[256];

    (void)state;
    assert_int_equal(fxt_write_doc(tmp("r.tif"), &base), 0);
    load(tmp("r.tif"), &a);
    b.npages = a.npages;
    b.pages = fx_calloc((size_t)b.npages, sizeof(fxt_page_t));
    for (int i = 0; i < b.npages; i++) {
        fxt_page_t *p = &b.pages[i];
        assert_int_equal(fxt_page_init(p, 1728, 100), 0);
        for (int y = 0; y < 100; y++)
            memcpy(p->bits + (size_t)y * 216, a.pages[i].bits + (size_t)(2 * y) * 216, 216);
        p->xres = 204.0f;
        p->yres = 98.0f;
    }
    write_doc(tmp("r98.tif"), &b);
    fxt_doc_fini(&b);
    load(tmp("r98.tif"), &b);
    assert_true(fabsf(b.pages[0].yres - 98.0f) < 0.01f);

    out = tmpfile();
    assert_non_null(out);
    assert_int_equal(fxt_cmp_doc(&a, &b, &strict, out, &r), 1);
    assert_string_equal(r.reason, "page 1 resolution 204x98 != 204x196");
    rewind(out);
    assert_non_null(fgets(line, sizeof(line), out));
    assert_non_null(strstr(line, "res=204x98/204x196"));
    fclose(out);

    allow.allow_resolution_change = 1;
    assert_int_equal(fxt_cmp_doc(&a, &b, &allow, NULL, &r), 0);
    assert_true(r.agree_min == 1.0);
    fxt_doc_fini(&a);
    fxt_doc_fini(&b);
}

/* Length and width differences. */
static void test_length_width(void **state)
{
    fxt_doc_t a;
    fxt_doc_t b;
    fxt_cmp_result_t r;
    fxt_cmp_opts_t two = strict;

    (void)state;
    assert_int_equal(fxt_write_doc(tmp("l.tif"), &base), 0);
    load(tmp("l.tif"), &a);
    b.npages = 3;
    b.pages = fx_calloc(3, sizeof(fxt_page_t));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(fxt_page_init(&b.pages[i], 1728, 202), 0); /* 2 white rows more */
        memcpy(b.pages[i].bits, a.pages[i].bits, (size_t)200 * 216);
        b.pages[i].xres = 204.0f;
        b.pages[i].yres = 196.0f;
    }
    assert_int_equal(fxt_cmp_doc(&a, &b, &strict, NULL, &r), 1);
    assert_string_equal(r.reason, "page 1 length 202 (202 sent rows) != 200");
    two.max_length_diff = 2;
    assert_int_equal(fxt_cmp_doc(&a, &b, &two, NULL, &r), 0);
    assert_true(r.agree_min == 1.0);
    fxt_doc_fini(&b);

    /* A 32-row header band on top (SpanDSP's page header at fine): fails as is, matches
     * with rx_skip_rows 32. */
    b.npages = 3;
    b.pages = fx_calloc(3, sizeof(fxt_page_t));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(fxt_page_init(&b.pages[i], 1728, 232), 0);
        fxt_text(&b.pages[i], 0, 0, 2, 4, "22-NOV-2026 HEADER P.1");
        memcpy(b.pages[i].bits + (size_t)32 * 216, a.pages[i].bits, (size_t)200 * 216);
        b.pages[i].xres = 204.0f;
        b.pages[i].yres = 196.0f;
    }
    assert_int_equal(fxt_cmp_doc(&a, &b, &strict, NULL, &r), 1);
    two = strict;
    two.rx_skip_rows = 32;
    assert_int_equal(fxt_cmp_doc(&a, &b, &two, NULL, &r), 0);
    assert_true(r.agree_min == 1.0);
    two.rx_skip_rows = 31;
    assert_int_equal(fxt_cmp_doc(&a, &b, &two, NULL, &r), 1);
    fxt_doc_fini(&b);

    b.npages = 3;
    b.pages = fx_calloc(3, sizeof(fxt_page_t));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(fxt_page_init(&b.pages[i], 2048, 200), 0);
        b.pages[i].xres = 204.0f;
        b.pages[i].yres = 196.0f;
    }
    write_doc(tmp("w.tif"), &b);
    fxt_doc_fini(&b);
    load(tmp("w.tif"), &b);
    assert_int_equal(b.pages[0].width, 2048);
    assert_int_equal(fxt_cmp_doc(&a, &b, &strict, NULL, &r), 1);
    assert_string_equal(r.reason, "page 1 width 2048 != 1728");
    fxt_doc_fini(&a);
    fxt_doc_fini(&b);
}

/* Files that are missing, not TIFF, not bilevel, or cut short give errors, not crashes. */
static void test_load_errors(void **state)
{
    fxt_doc_t d;
    FILE *f;
    TIFF *tif;
    uint8_t row[64] = {0};
    size_t len;
    void *buf;
    int rc;

    (void)state;
    assert_int_equal(fxt_load_doc(tmp("missing.tif"), &d), -ENOENT);

    f = fopen(tmp("junk.tif"), "wb");
    assert_non_null(f);
    fputs("this is not a TIFF file at all, just text\n", f);
    fclose(f);
    assert_true(fxt_load_doc(tmp("junk.tif"), &d) < 0);

    tif = TIFFOpen(tmp("gray.tif"), "w");
    assert_non_null(tif);
    TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, 64u);
    TIFFSetField(tif, TIFFTAG_IMAGELENGTH, 4u);
    TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, 8);
    TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, 1);
    TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK);
    TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    for (uint32_t y = 0; y < 4; y++)
        assert_true(TIFFWriteScanline(tif, row, y, 0) >= 0);
    TIFFClose(tif);
    assert_int_equal(fxt_load_doc(tmp("gray.tif"), &d), FX_EPARSE);

    /* Cut a valid document at several points: every prefix is rejected or loads. */
    assert_int_equal(fxt_write_doc(tmp("t.tif"), &base), 0);
    buf = slurp(tmp("t.tif"), &len);
    for (size_t cut = 8; cut < len; cut += len / 7) {
        f = fopen(tmp("cut.tif"), "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(buf, 1, cut, f), cut);
        fclose(f);
        rc = fxt_load_doc(tmp("cut.tif"), &d);
        if (rc == 0)
            fxt_doc_fini(&d);
        else
            assert_true(rc == FX_EPARSE || rc == FX_ECORRUPT || rc == FX_ERANGE);
    }
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_t4_t6_same_pixels),
        cmocka_unit_test(test_deterministic_and_seeded),
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_page_count),
        cmocka_unit_test(test_pixel_agreement),
        cmocka_unit_test(test_resolution_change),
        cmocka_unit_test(test_length_width),
        cmocka_unit_test(test_load_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
