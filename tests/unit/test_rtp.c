/* Unit tests for RTP header parse/build (drivers/sip/rtp.c), RFC 3550 5.1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fax/fx.h"
#include "rtp.h"

static void test_build_parse_roundtrip(void **state)
{
    (void)state;
    uint8_t pl[160], pkt[200];
    for (int i = 0; i < 160; i++)
        pl[i] = (uint8_t)(i * 3);
    int n = rtp_build(pkt, sizeof pkt, 8, true, 0xBEEF, 0xFFFFFFF0u, 0x01020304u, pl, sizeof pl);
    assert_int_equal(n, 172);
    /* RFC 3550 5.1 wire layout. */
    static const uint8_t hdr[12] = {0x80, 0x88, 0xBE, 0xEF, 0xFF, 0xFF, 0xFF, 0xF0,
                                    0x01, 0x02, 0x03, 0x04};
    assert_memory_equal(pkt, hdr, 12);

    rtp_hdr_t h;
    const char *why = "x";
    assert_int_equal(rtp_parse(pkt, (size_t)n, &h, &why), 0);
    assert_null(why);
    assert_int_equal(h.pt, 8);
    assert_true(h.marker);
    assert_int_equal(h.seq, 0xBEEF);
    assert_int_equal(h.ts, 0xFFFFFFF0u);
    assert_int_equal(h.ssrc, 0x01020304u);
    assert_ptr_equal(h.payload, pkt + 12);
    assert_int_equal(h.payload_len, 160);
    assert_memory_equal(h.payload, pl, 160);
    assert_false(rtp_is_rtcp(pkt, (size_t)n));

    /* Marker clear, PT 0, empty payload. */
    n = rtp_build(pkt, 12, 0, false, 1, 2, 3, NULL, 0);
    assert_int_equal(n, 12);
    assert_int_equal(rtp_parse(pkt, 12, &h, NULL), 0);
    assert_false(h.marker);
    assert_int_equal(h.pt, 0);
    assert_int_equal(h.payload_len, 0);
}

static void test_build_errors(void **state)
{
    (void)state;
    uint8_t pkt[40], pl[40] = {0};
    assert_int_equal(rtp_build(pkt, 11, 0, false, 0, 0, 0, NULL, 0), FX_ERANGE);
    assert_int_equal(rtp_build(pkt, sizeof pkt, 0, false, 0, 0, 0, pl, 29), FX_ERANGE);
    assert_int_equal(rtp_build(pkt, sizeof pkt, 0, false, 0, 0, 0, pl, 28), 40);
    assert_int_equal(rtp_build(pkt, sizeof pkt, 128, false, 0, 0, 0, pl, 4), FX_ERANGE);
    assert_int_equal(rtp_build(pkt, sizeof pkt, 0, false, 0, 0, 0, NULL, 4), FX_ERANGE);
    assert_int_equal(rtp_build(pkt, SIZE_MAX, 0, false, 0, 0, 0, pl, SIZE_MAX - 4), FX_ERANGE);
}

/* V=2 P=1 X=1 CC=2, two CSRCs, a 2-word extension, 4 payload octets and 3
 * octets of padding. */
static void test_parse_csrc_ext_padding(void **state)
{
    (void)state;
    const uint8_t pkt[] = {
        0xB2, 0x00, 0x00, 0x07, 0x00, 0x00, 0x01, 0x00, 0xCA, 0xFE, 0xBA, 0xBE, /* fixed */
        0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x22, 0x22,                         /* CSRCs */
        0xBE, 0xDE, 0x00, 0x02, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* ext */
        0xA1, 0xA2, 0xA3, 0xA4,                                                 /* payload */
        0x00, 0x00, 0x03,                                                       /* pad */
    };
    rtp_hdr_t h;
    const char *why = NULL;
    assert_int_equal(rtp_parse(pkt, sizeof pkt, &h, &why), 0);
    assert_null(why);
    assert_int_equal(h.seq, 7);
    assert_int_equal(h.ts, 256);
    assert_int_equal(h.ssrc, 0xCAFEBABEu);
    assert_ptr_equal(h.payload, pkt + 32);
    assert_int_equal(h.payload_len, 4);
    assert_int_equal(h.payload[0], 0xA1);
    assert_int_equal(h.payload[3], 0xA4);

    /* Padding that eats the whole payload leaves an empty one. */
    uint8_t p2[sizeof pkt];
    memcpy(p2, pkt, sizeof pkt);
    p2[sizeof p2 - 1] = 7;
    assert_int_equal(rtp_parse(p2, sizeof p2, &h, &why), 0);
    assert_int_equal(h.payload_len, 0);
    /* One octet more reaches into the extension. */
    p2[sizeof p2 - 1] = 8;
    assert_int_equal(rtp_parse(p2, sizeof p2, &h, &why), FX_EPARSE);
    assert_string_equal(why, "padding longer than the payload");
}

static void expect_fail(const uint8_t *pkt, size_t len, const char *reason)
{
    rtp_hdr_t h;
    const char *why = NULL;
    assert_int_equal(rtp_parse(pkt, len, &h, &why), FX_EPARSE);
    assert_non_null(why);
    assert_string_equal(why, reason);
    /* why is optional */
    assert_int_equal(rtp_parse(pkt, len, &h, NULL), FX_EPARSE);
}

static void test_parse_errors(void **state)
{
    (void)state;
    uint8_t pkt[64];
    memset(pkt, 0, sizeof pkt);
    pkt[0] = 0x80;
    expect_fail(pkt, 11, "datagram shorter than the 12-octet RTP header");
    expect_fail(pkt, 0, "datagram shorter than the 12-octet RTP header");
    expect_fail(NULL, 20, "datagram shorter than the 12-octet RTP header");

    for (unsigned v = 0; v < 4; v++) {
        if (v == 2)
            continue;
        pkt[0] = (uint8_t)(v << 6);
        expect_fail(pkt, 20, "RTP version is not 2");
    }

    pkt[0] = 0x83; /* CC=3 needs 24 octets of header */
    expect_fail(pkt, 23, "CSRC list runs past the end of the datagram");
    rtp_hdr_t h;
    assert_int_equal(rtp_parse(pkt, 24, &h, NULL), 0);
    assert_int_equal(h.payload_len, 0);

    pkt[0] = 0x90; /* X=1 */
    expect_fail(pkt, 15, "header extension header runs past the end of the datagram");
    pkt[14] = 0x00;
    pkt[15] = 0x03; /* three words: 12 + 4 + 12 = 28 */
    expect_fail(pkt, 27, "header extension runs past the end of the datagram");
    assert_int_equal(rtp_parse(pkt, 28, &h, NULL), 0);
    assert_int_equal(h.payload_len, 0);
    pkt[15] = 0xFF; /* length far beyond the datagram */
    pkt[14] = 0xFF;
    expect_fail(pkt, 64, "header extension runs past the end of the datagram");

    memset(pkt, 0, sizeof pkt);
    pkt[0] = 0xA0; /* P=1 */
    pkt[19] = 0;
    expect_fail(pkt, 20, "padding count is zero");
    pkt[19] = 9; /* 8 payload octets only */
    expect_fail(pkt, 20, "padding longer than the payload");
    pkt[11] = 200; /* header-only packet whose padding octet is the SSRC's */
    expect_fail(pkt, 12, "padding longer than the payload");
    pkt[19] = 8;
    assert_int_equal(rtp_parse(pkt, 20, &h, NULL), 0);
    assert_int_equal(h.payload_len, 0);
}

/* RFC 5761 4: second octet 192..223 (PT 64..95 with M) is RTCP. */
static void test_is_rtcp(void **state)
{
    (void)state;
    uint8_t b[12] = {0x80, 200, 0, 6}; /* SR */
    assert_true(rtp_is_rtcp(b, sizeof b));
    b[1] = 201; /* RR */
    assert_true(rtp_is_rtcp(b, 4));
    b[1] = 192;
    assert_true(rtp_is_rtcp(b, 4));
    b[1] = 223;
    assert_true(rtp_is_rtcp(b, 4));
    b[1] = 191;
    assert_false(rtp_is_rtcp(b, 4));
    b[1] = 224;
    assert_false(rtp_is_rtcp(b, 4));
    b[1] = 0x80 | 8; /* PCMA with marker */
    assert_false(rtp_is_rtcp(b, sizeof b));
    b[1] = 0;
    assert_false(rtp_is_rtcp(b, sizeof b));
    b[1] = 200;
    assert_false(rtp_is_rtcp(b, 3)); /* shorter than an RTCP common header */
    assert_false(rtp_is_rtcp(NULL, 12));
    b[0] = 0x40; /* version 1 */
    assert_false(rtp_is_rtcp(b, sizeof b));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_parse_roundtrip),
        cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_parse_csrc_ext_padding),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_is_rtcp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
