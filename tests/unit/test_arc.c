/* Unit tests for the archive's pure half (archive/arc_map.c): spool record ->
 * faxes row mapping for received faxes and sent jobs, event kinds, the audit
 * hash chain (known answers from an independent SHA-256), markers, JSON and
 * UTF-8 hygiene, TIFF page digests. No database needed. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../archive/arc_int.h"
#include "fax/arc.h"
#include "fax/fx.h"

static void received_rec(spool_rec_t *r)
{
    spool_rec_init(r);
    spool_rec_add(r, "id", "0001A2B3C4D5E6F7");
    spool_rec_add(r, "kind", "received");
    spool_rec_add(r, "node", "nodeb");
    spool_rec_add(r, "from", "15551230001");
    spool_rec_add(r, "to", "100");
    spool_rec_add(r, "time_ms", "1700000010000");
    spool_rec_add(r, "result", "ok");
    spool_rec_add(r, "pages", "3");
    spool_rec_add(r, "rate", "14400");
    spool_rec_add(r, "ecm", "yes");
    spool_rec_add(r, "mode", "t38");
    spool_rec_add(r, "remote_ident", "+1 555 \"Clinic\"\\");
    spool_rec_add(r, "compression", "T.6");
    spool_rec_add(r, "resolution", "204x196");
    spool_rec_add(r, "duration_s", "12.5");
    spool_rec_add(r, "code", "0");
    spool_rec_add(r, "reason", "OK");
    spool_rec_add(r, "image", "0001A2B3C4D5E6F7.tif");
}

static void test_map_received(void **state)
{
    (void)state;
    spool_rec_t r;
    received_rec(&r);
    arc__fax_t f;
    char why[200];
    assert_int_equal(arc__map_rec(&r, "incoming", "default", &f, why, sizeof why), 0);
    assert_string_equal(f.id, "0001A2B3C4D5E6F7");
    assert_string_equal(f.node, "nodeb");
    assert_string_equal(f.direction, "in");
    assert_string_equal(f.from_number, "15551230001");
    assert_string_equal(f.to_number, "100");
    assert_string_equal(f.result, "ok");
    assert_int_equal(f.pages, 3);
    assert_true(f.ended_ms == 1700000010000ull);
    assert_true(f.started_ms == 1700000010000ull - 12500u);
    assert_string_equal(f.image, "0001A2B3C4D5E6F7.tif");
    assert_string_equal(f.numbers, "{\"15551230001\",\"100\"}");
    /* quotes and backslash escaped for jsonb */
    assert_string_equal(f.t30_json,
                        "{\"rate\":14400,\"code\":0,\"duration_s\":12.5,\"ecm\":\"yes\","
                        "\"mode\":\"t38\",\"compression\":\"T.6\",\"resolution\":\"204x196\"}");
    assert_non_null(strstr(f.doc, "Clinic"));
    assert_int_equal(f.n_events, 2);
    assert_string_equal(f.events[0].kind, "answered");
    assert_true(f.events[0].at_ms == f.started_ms);
    assert_string_equal(f.events[1].kind, "received");
    assert_non_null(strstr(f.events[1].detail, "result=ok pages=3"));
    arc__fax_fini(&f);
    spool_rec_free(&r);
}

static void test_map_received_bad(void **state)
{
    (void)state;
    char why[200];
    arc__fax_t f;
    spool_rec_t r;
    /* time_ms with junk after the digits is refused, not guessed at */
    spool_rec_init(&r);
    spool_rec_add(&r, "id", "0001A2B3C4D5E6F7");
    spool_rec_add(&r, "kind", "received");
    spool_rec_add(&r, "time_ms", "17x");
    spool_rec_add(&r, "pages", "1");
    assert_int_equal(arc__map_rec(&r, "incoming", "n", &f, why, sizeof why), FX_ECORRUPT);
    assert_non_null(strstr(why, "time_ms"));
    spool_rec_free(&r);
    /* a bad id */
    spool_rec_init(&r);
    spool_rec_add(&r, "id", "../../etc/passwd");
    spool_rec_add(&r, "kind", "received");
    assert_int_equal(arc__map_rec(&r, "incoming", "n", &f, why, sizeof why), FX_ECORRUPT);
    spool_rec_free(&r);
    /* an unknown kind */
    spool_rec_init(&r);
    spool_rec_add(&r, "id", "0001A2B3C4D5E6F7");
    spool_rec_add(&r, "kind", "mystery");
    assert_int_equal(arc__map_rec(&r, "done", "n", &f, why, sizeof why), FX_ECORRUPT);
    spool_rec_free(&r);
    /* recovered partial fax: default node, extra event, invalid UTF-8 cleaned */
    spool_rec_init(&r);
    spool_rec_add(&r, "id", "0001A2B3C4D5E6F8");
    spool_rec_add(&r, "kind", "received");
    spool_rec_add(&r, "time_ms", "1000");
    spool_rec_add(&r, "pages", "2");
    spool_rec_add(&r, "result", "partial");
    spool_rec_add(&r, "remote_ident", "ab\xff\xc3(z");
    spool_rec_add(&r, "recovered", "yes");
    assert_int_equal(arc__map_rec(&r, "incoming", "nodea", &f, why, sizeof why), 0);
    assert_string_equal(f.node, "nodea");
    assert_string_equal(f.remote_ident, "ab?" "?(z");
    assert_int_equal(f.n_events, 3);
    assert_string_equal(f.events[2].kind, "recovered");
    assert_non_null(strstr(f.t30_json, "\"recovered\":\"yes\""));
    arc__fax_fini(&f);
    spool_rec_free(&r);
}

static void test_map_job(void **state)
{
    (void)state;
    spool_rec_t r;
    spool_rec_init(&r);
    spool_rec_add(&r, "id", "00000000000000AB");
    spool_rec_add(&r, "kind", "send");
    spool_rec_add(&r, "state", "done");
    spool_rec_add(&r, "image", "00000000000000AB.tif");
    spool_rec_add(&r, "owner", "");
    spool_rec_add(&r, "pages_total", "2");
    spool_rec_add(&r, "priority", "127");
    spool_rec_add(&r, "created_ms", "1700000000000");
    spool_rec_add(&r, "n_rcpt", "2");
    spool_rec_add(&r, "rcpt.0.dest", "sip:100@127.0.0.1:15241");
    spool_rec_add(&r, "rcpt.0.state", "done");
    spool_rec_add(&r, "rcpt.0.pages", "2");
    spool_rec_add(&r, "rcpt.0.remote_ident", "+1 555 0101");
    spool_rec_add(&r, "rcpt.0.rate", "9600");
    spool_rec_add(&r, "rcpt.1.dest", "15551234567");
    spool_rec_add(&r, "rcpt.1.state", "failed");
    spool_rec_add(&r, "rcpt.1.pages", "1");
    spool_rec_add(&r, "rcpt.1.final_reason", "busy 3 times");
    spool_rec_add(&r, "event", "1700000000000 submitted: 2 pages to 2 recipient(s)");
    spool_rec_add(&r, "event", "1700000000100 rcpt=0 dial 1 of 12 to sip:100@x from page 0");
    spool_rec_add(&r, "event", "1700000001000 rcpt=0 connected, try 1 of 3");
    spool_rec_add(&r, "event", "1700000002000 rcpt=0 page 1 confirmed");
    spool_rec_add(&r, "event", "1700000003000 rcpt=0 sent, 2 pages confirmed");
    spool_rec_add(&r, "event", "garbage without a time");
    arc__fax_t f;
    char why[200];
    assert_int_equal(arc__map_rec(&r, "done", "nodea", &f, why, sizeof why), 0);
    assert_string_equal(f.direction, "out");
    assert_string_equal(f.node, "nodea");
    assert_string_equal(f.result, "done");
    assert_string_equal(f.to_number, "100,15551234567");
    assert_string_equal(f.numbers, "{\"100\",\"15551234567\"}");
    assert_string_equal(f.remote_ident, "+1 555 0101");
    assert_int_equal(f.pages, 1); /* pages every recipient got */
    assert_string_equal(f.reason, "rcpt 1: busy 3 times");
    assert_true(f.started_ms == 1700000000000ull);
    assert_true(f.ended_ms == 1700000003000ull);
    assert_non_null(strstr(f.t30_json, "\"dest\":\"sip:100@127.0.0.1:15241\""));
    assert_non_null(strstr(f.t30_json, "\"rate\":9600"));
    assert_int_equal(f.n_events, 6);
    static const char *const kinds[] = { "submitted", "dial", "connected", "page", "sent",
                                         "note" };
    for (int i = 0; i < 6; i++)
        assert_string_equal(f.events[i].kind, kinds[i]);
    assert_string_equal(f.events[1].detail, "rcpt=0 dial 1 of 12 to sip:100@x from page 0");
    assert_true(f.events[5].at_ms == 1700000000000ull);
    arc__fax_fini(&f);
    /* a recipient without dest is damage */
    spool_rec_add(&r, "n_rcpt", "3");
    assert_int_equal(arc__map_rec(&r, "done", "nodea", &f, why, sizeof why), FX_ECORRUPT);
    spool_rec_free(&r);
}

static void test_event_kinds(void **state)
{
    (void)state;
    assert_string_equal(arc__event_kind("rcpt=0 queued -> dialing"), "state");
    assert_string_equal(arc__event_kind("rcpt=0 call failed (busy): 486 Busy Here"), "failed");
    assert_string_equal(arc__event_kind("rcpt=0 retry in 180 s"), "retry");
    assert_string_equal(arc__event_kind("rcpt=0 gave up: max dials"), "gave_up");
    assert_string_equal(arc__event_kind("recovered at start-up"), "recovered");
    assert_string_equal(arc__event_kind("something else"), "note");
}

/* Known answers computed with Python's hashlib over the documented layout. */
static void test_chain_hash(void **state)
{
    (void)state;
    uint8_t zero[32] = { 0 }, h1[32], h2[32];
    char hex[65];
    arc__chain_hash(zero, "0123456789ABCDEF", 1700000000123ull, "dial", "rcpt=0 dial 1 of 12",
                    h1);
    arc__hex(h1, 32, hex);
    assert_string_equal(hex, "84601c093d713ffe51b86c1c4372adf5be38c281a3da70358b547bbbbe929995");
    arc__chain_hash(h1, "0123456789ABCDEF", 1700000000456ull, "sent",
                    "rcpt=0 sent, 2 pages confirmed", h2);
    arc__hex(h2, 32, hex);
    assert_string_equal(hex, "8622b7bac5d028c1c86cb0c7b417ada15487cf7190355c51ff132f6ac08c97f4");
    /* Every field counts, and the separators keep field boundaries. */
    uint8_t x[32];
    arc__chain_hash(h1, "0123456789ABCDEF", 1700000000457ull, "sent",
                    "rcpt=0 sent, 2 pages confirmed", x);
    assert_memory_not_equal(x, h2, 32);
    arc__chain_hash(h1, "0123456789ABCDEF", 1700000000456ull, "sen",
                    "trcpt=0 sent, 2 pages confirmed", x);
    assert_memory_not_equal(x, h2, 32);
    arc__chain_hash(zero, "0123456789ABCDEF", 1700000000456ull, "sent",
                    "rcpt=0 sent, 2 pages confirmed", x);
    assert_memory_not_equal(x, h2, 32);
}

static void test_markers(void **state)
{
    (void)state;
    char name[64], id[17], folder[16];
    assert_int_equal(arc__marker_name("incoming", "0001A2B3C4D5E6F7", name, sizeof name), 0);
    assert_string_equal(name, "0001A2B3C4D5E6F7.incoming");
    assert_int_equal(arc__marker_parse(name, id, folder, sizeof folder), 0);
    assert_string_equal(id, "0001A2B3C4D5E6F7");
    assert_string_equal(folder, "incoming");
    assert_int_equal(arc__marker_name("queue", "0001A2B3C4D5E6F7", name, sizeof name), -EINVAL);
    assert_int_equal(arc__marker_name("done", "0001a2b3c4d5e6f7", name, sizeof name), -EINVAL);
    assert_int_equal(arc__marker_name("done", "../x", name, sizeof name), -EINVAL);
    assert_int_equal(arc__marker_parse("store.0001A2B3C4D5E6F7", id, folder, sizeof folder),
                     -EINVAL);
    assert_int_equal(arc__marker_parse("0001A2B3C4D5E6F7.tmp", id, folder, sizeof folder),
                     -EINVAL);
    assert_int_equal(arc__marker_parse("0001A2B3C4D5E6F7.done", id, folder, sizeof folder), 0);
}

static void test_json_and_utf8(void **state)
{
    (void)state;
    arc__sb_t b;
    arc__sb_init(&b);
    arc__sb_json_str(&b, "a\"b\\c\n\x01 \xc3\xa9 \xe2\x82\xac \xed\xa0\x80 \xff");
    assert_string_equal(b.s, "\"a\\\"b\\\\c\\u000a\\u0001 \xc3\xa9 \xe2\x82\xac "
                             "\\ufffd\\ufffd\\ufffd \\ufffd\"");
    arc__sb_fini(&b);
    char s[] = "ok \xc3\xa9 \xc0\xaf \xf4\x90\x80\x80 end";
    arc__utf8_clean(s);
    assert_string_equal(s, "ok \xc3\xa9 ?? ???? end");
    /* growth past the first allocation */
    arc__sb_init(&b);
    for (int i = 0; i < 1000; i++)
        arc__sb_addf(&b, "%04d", i);
    assert_int_equal(b.len, 4000);
    assert_memory_equal(b.s + 3996, "0999", 4);
    arc__sb_fini(&b);
}

static void write_tiff(const char *path, int pages, unsigned char fill)
{
    TIFF *t = TIFFOpen(path, "w");
    assert_non_null(t);
    unsigned char row[216];
    for (int p = 0; p < pages; p++) {
        TIFFSetField(t, TIFFTAG_IMAGEWIDTH, 1728);
        TIFFSetField(t, TIFFTAG_IMAGELENGTH, 10);
        TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 1);
        TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 1);
        TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_NONE);
        TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISWHITE);
        TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, 10);
        for (int y = 0; y < 10; y++) {
            memset(row, p == 1 ? fill : 0, sizeof row);
            assert_true(TIFFWriteScanline(t, row, (uint32_t)y, 0) == 1);
        }
        TIFFWriteDirectory(t);
    }
    TIFFClose(t);
}

static void test_tiff_pages(void **state)
{
    (void)state;
    char a[] = "/tmp/test_arc_a.XXXXXX", b[] = "/tmp/test_arc_b.XXXXXX";
    close(mkstemp(a));
    close(mkstemp(b));
    write_tiff(a, 3, 0x00);
    write_tiff(b, 3, 0x5a); /* only page 2 differs */
    arc__page_t *pa, *pb;
    int na, nb;
    assert_int_equal(arc__tiff_pages(a, &pa, &na), 0);
    assert_int_equal(arc__tiff_pages(b, &pb, &nb), 0);
    assert_int_equal(na, 3);
    assert_int_equal(nb, 3);
    assert_int_equal(pa[0].page, 1);
    assert_int_equal(pa[2].page, 3);
    assert_int_equal(pa[0].width, 1728);
    assert_int_equal(pa[0].length, 10);
    assert_memory_equal(pa[0].sha256, pb[0].sha256, 32);
    assert_memory_not_equal(pa[1].sha256, pb[1].sha256, 32);
    assert_memory_equal(pa[2].sha256, pb[2].sha256, 32);
    /* pages 1 and 3 of a hold the same image data */
    assert_memory_equal(pa[0].sha256, pa[2].sha256, 32);
    free(pa);
    free(pb);
    /* not a TIFF */
    FILE *f = fopen(a, "w");
    fputs("not a tiff", f);
    fclose(f);
    assert_int_equal(arc__tiff_pages(a, &pa, &na), FX_ECORRUPT);
    assert_null(pa);
    unlink(a);
    unlink(b);
}

static void test_open_args(void **state)
{
    (void)state;
    arc_t *a = (arc_t *)1;
    assert_int_equal(arc_open("", NULL, "n", &a), -EINVAL);
    assert_null(a);
    arc_close(NULL);
    assert_string_equal(arc_state_name(ARC_ST_DOWN), "down");
    assert_string_equal(arc_state_name(ARC_ST_OK), "ok");
}

/* arc_mark writes a durable marker the worker can parse, in arcq/. */
static void test_mark(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_arc_spool.XXXXXX";
    assert_non_null(mkdtemp(dir));
    spool_t *s;
    assert_int_equal(spool_open(dir, &s), 0);
    assert_int_equal(arc_mark(s, "done", "00000000000000AB"), 0);
    assert_int_equal(arc_mark(s, "queue", "00000000000000AB"), -EINVAL);
    spool_rec_t r;
    char why[100];
    assert_int_equal(spool_load_rec(s, "arcq", "00000000000000AB.done", &r, why, sizeof why), 0);
    assert_string_equal(spool_rec_get(&r, "folder"), "done");
    spool_rec_free(&r);
    char p[512];
    snprintf(p, sizeof p, "%s/arcq/00000000000000AB.done", dir);
    unlink(p);
    spool_close(s);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_received), cmocka_unit_test(test_map_received_bad),
        cmocka_unit_test(test_map_job),      cmocka_unit_test(test_event_kinds),
        cmocka_unit_test(test_chain_hash),   cmocka_unit_test(test_markers),
        cmocka_unit_test(test_json_and_utf8), cmocka_unit_test(test_tiff_pages),
        cmocka_unit_test(test_open_args),    cmocka_unit_test(test_mark),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
