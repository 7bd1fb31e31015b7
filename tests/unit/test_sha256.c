/* Unit tests for common/sha256.c: FIPS 180-4 / NIST example vectors, padding
 * boundaries around one block, and streaming in odd pieces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fax/sha256.h"

static void hex_of(const void *data, size_t len, char hex[65])
{
    uint8_t d[SHA256_DIGEST_LEN];
    fx_sha256(data, len, d);
    fx_sha256_hex(d, hex);
}

/* NIST "Cryptographic Standards and Guidelines: Examples with Intermediate
 * Values", SHA-256: one block, two blocks, the empty string, 896-bit message. */
static void test_nist_vectors(void **state)
{
    (void)state;
    char hex[65];
    hex_of("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hex_of(two, strlen(two), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    hex_of("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *long_msg = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                           "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    hex_of(long_msg, strlen(long_msg), hex);
    assert_string_equal(hex, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

/* One million 'a' (FIPS 180-2 appendix B.3), fed in 997-byte pieces. */
static void test_million_a(void **state)
{
    (void)state;
    char *buf = malloc(1000000);
    memset(buf, 'a', 1000000);
    fx_sha256_t c;
    fx_sha256_init(&c);
    for (size_t off = 0; off < 1000000; off += 997)
        fx_sha256_update(&c, buf + off, 1000000 - off < 997 ? 1000000 - off : 997);
    uint8_t d[32];
    char hex[65];
    fx_sha256_final(&c, d);
    fx_sha256_hex(d, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(buf);
}

/* Lengths where padding (clause 5.1.1) needs one or two extra blocks. The
 * expected digests are of n times 'x', from an independent implementation
 * (coreutils sha256sum). */
static void test_padding_boundaries(void **state)
{
    (void)state;
    static const struct {
        size_t n;
        const char *hex;
    } v[] = {
        { 55, "d5e285683cd4efc02d021a5c62014694958901005d6f71e89e0989fac77e4072" },
        { 56, "04c26261370ee7541549d16dee320c723e3fd14671e66a099afe0a377c16888e" },
        { 63, "75220b47218278e656f2013bb8f0c455a25eaf01e86c64924e9d48d89776d6f2" },
        { 64, "7ce100971f64e7001e8fe5a51973ecdfe1ced42befe7ee8d5fd6219506b5393c" },
        { 65, "9537c5fdf120482f7d58d25e9ed583f52c02b4e304ea814db1633ad565aed7e9" },
        { 119, "000b48d4edf0fa7bee3c6236ecd2785baa5db4eeb8bb54341b029e0d9fa5fb0c" },
        { 120, "13f05a0b594787f5ecd315edc96141bd3243203d1b7d4f0836f37308b276ba98" },
    };
    char buf[128], hex[65];
    memset(buf, 'x', sizeof buf);
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        hex_of(buf, v[i].n, hex);
        assert_string_equal(hex, v[i].hex);
    }
}

/* Any split of the input gives the one-shot digest. */
static void test_streaming_splits(void **state)
{
    (void)state;
    uint8_t msg[300];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)(i * 131u + 7u);
    uint8_t want[32], got[32];
    fx_sha256(msg, sizeof msg, want);
    for (size_t piece = 1; piece <= 129; piece++) {
        fx_sha256_t c;
        fx_sha256_init(&c);
        for (size_t off = 0; off < sizeof msg; off += piece) {
            size_t n = sizeof msg - off < piece ? sizeof msg - off : piece;
            fx_sha256_update(&c, msg + off, n);
            fx_sha256_update(&c, NULL, 0);
        }
        fx_sha256_final(&c, got);
        assert_memory_equal(got, want, 32);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nist_vectors),
        cmocka_unit_test(test_million_a),
        cmocka_unit_test(test_padding_boundaries),
        cmocka_unit_test(test_streaming_splits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
