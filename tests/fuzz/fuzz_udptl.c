/* Fuzz target for drivers/sip/udptl.c: decodes arbitrary datagrams and
 * re-encodes every IFP delivered, checking that a second decoder gets exactly
 * that IFP back.
 *
 * Input: octet 0 picks the re-encoder's error recovery (bits 0-1) and depth
 * (bits 2-4); the rest is a series of datagrams, each preceded by a two-octet
 * big-endian length (the last one takes whatever remains). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fax/fx.h"
#include "udptl.h"

typedef struct fz {
    udptl_t       *enc;   /* re-encodes delivered IFPs */
    udptl_t       *check; /* decodes the re-encoded datagrams */
    const uint8_t *want;  /* the IFP check must deliver next */
    size_t         want_len;
    int            got;
    int            last_seq; /* last seq delivered by the fuzzed decoder, -1: none */
    uint8_t        out[70000];
} fz_t;

static int on_check(void *user, const uint8_t *ifp, size_t len, uint16_t seq)
{
    (void)seq;
    fz_t *f = user;
    if (len != f->want_len || memcmp(ifp, f->want, len) != 0) {
        fprintf(stderr, "fuzz_udptl: re-encoded IFP came back different\n");
        abort();
    }
    f->got++;
    return 0;
}

static int on_ifp(void *user, const uint8_t *ifp, size_t len, uint16_t seq)
{
    fz_t *f = user;
    if (len == 0 || len > 65535)
        abort();
    /* delivery is in increasing order (modulo 2^16) within and across calls */
    if (f->last_seq >= 0 && (uint16_t)(seq - (uint16_t)f->last_seq) == 0)
        abort();
    f->last_seq = seq;

    size_t n;
    int rc = udptl_encode(f->enc, ifp, len, f->out, sizeof f->out, &n);
    if (rc != 0) {
        fprintf(stderr, "fuzz_udptl: re-encode failed: %s\n", udptl_last_error(f->enc));
        abort();
    }
    f->want = ifp;
    f->want_len = len;
    f->got = 0;
    rc = udptl_decode(f->check, f->out, n, on_check, f);
    /* our own stream is consecutive: exactly the primary comes back */
    if (rc != 0 || f->got != 1) {
        fprintf(stderr, "fuzz_udptl: check decode rc=%d got=%d: %s\n", rc, f->got,
                udptl_last_error(f->check));
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static fz_t f;
    udptl_t *u = NULL;
    if (udptl_new(&u) != 0 || udptl_new(&f.enc) != 0 || udptl_new(&f.check) != 0)
        abort();
    udptl_set_tx(f.enc, (udptl_ec_t)(data[0] & 3), (data[0] >> 2) & 7, 0);
    f.last_seq = -1;
    size_t pos = 1;
    while (pos < size) {
        size_t len = size - pos;
        if (len >= 2) {
            size_t l = ((size_t)data[pos] << 8) | data[pos + 1];
            pos += 2;
            len = l < size - pos ? l : size - pos;
        } else {
            pos = size - len;
        }
        /* an exact-size copy so ASan catches any read past the datagram */
        uint8_t *dg = malloc(len ? len : 1);
        memcpy(dg, data + pos, len);
        int rc = udptl_decode(u, dg, len, on_ifp, &f);
        if (rc != 0 && rc != FX_EPARSE)
            abort();
        if (rc == FX_EPARSE && udptl_last_error(u)[0] == '\0')
            abort();
        free(dg);
        pos += len;
    }
    udptl_stats_t st;
    udptl_get_stats(u, &st);
    if (st.rx_recovered > st.rx_ifp)
        abort();
    udptl_free(u);
    udptl_free(f.enc);
    udptl_free(f.check);
    return 0;
}
