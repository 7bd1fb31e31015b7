/* Fuzz target: RTP datagrams (rtp_parse, rtp_is_rtcp) feeding a playout
 * buffer, with receiver ticks in between.
 *
 * Input layout: octet 0 picks the playout delay, octet 1 the max delay; then
 * records of [len_hi len_lo ticks] followed by len datagram octets (cut short
 * at the end of the input).  Each record's datagram goes through the receive
 * path, then `ticks & 7` gets of 80..335 samples are made.  The target checks
 * the contracts: parse results lie inside the datagram, get returns 0 or n and
 * never reports more missing than n, and the stats add up. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fax/fx.h"
#include "playout.h"
#include "rtp.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool quiet;
    if (!quiet) {
        /* Resync lines at INFO would drown the fuzzer; WARN and ERR stay. */
        fx_log_setup(FX_LOG_WARN, 0, "fuzz_rtp");
        quiet = true;
    }
    if (size < 2)
        return 0;
    unsigned delay = data[0] % 200;                 /* 0..199 ms */
    unsigned maxd = delay + 1 + data[1] * 20u % (PLAYBUF_MAX_DELAY_MS - delay);
    data += 2;
    size -= 2;

    playbuf_t *p;
    CHECK(playbuf_new(&p, delay, maxd) == 0);
    uint64_t gets_out = 0, gets_missing = 0, puts = 0;
    bool playing = false;
    uint8_t out[400];

    while (size >= 3) {
        size_t len = (size_t)data[0] << 8 | data[1];
        unsigned ticks = data[2];
        data += 3;
        size -= 3;
        if (len > size)
            len = size;
        /* Copy so ASan sees the datagram's exact extent. */
        uint8_t *dg = malloc(len ? len : 1);
        memcpy(dg, data, len);
        data += len;
        size -= len;

        rtp_hdr_t h;
        const char *why = NULL;
        if (!rtp_is_rtcp(dg, len)) {
            int rc = rtp_parse(dg, len, &h, &why);
            if (rc == 0) {
                CHECK(why == NULL);
                CHECK(h.pt <= 127);
                CHECK(h.payload >= dg && h.payload_len <= len);
                CHECK((size_t)(h.payload - dg) + h.payload_len <= len);
                volatile uint8_t sink = 0;
                for (size_t i = 0; i < h.payload_len; i++)
                    sink ^= h.payload[i];
                (void)sink;
                /* Rebuilding the packet (without CSRCs, extension, padding)
                 * parses back to the same fields. */
                uint8_t *re = malloc(RTP_HDR_LEN + h.payload_len);
                int rn = rtp_build(re, RTP_HDR_LEN + h.payload_len, h.pt, h.marker, h.seq, h.ts,
                                   h.ssrc, h.payload, h.payload_len);
                CHECK(rn == (int)(RTP_HDR_LEN + h.payload_len));
                CHECK(rtp_build(re, (size_t)rn - 1, h.pt, h.marker, h.seq, h.ts, h.ssrc,
                                h.payload, h.payload_len) == FX_ERANGE);
                rtp_hdr_t h2;
                CHECK(rtp_parse(re, (size_t)rn, &h2, NULL) == 0);
                CHECK(h2.pt == h.pt && h2.marker == h.marker && h2.seq == h.seq);
                CHECK(h2.ts == h.ts && h2.ssrc == h.ssrc && h2.payload_len == h.payload_len);
                CHECK(memcmp(h2.payload, h.payload, h.payload_len) == 0);
                free(re);
                rc = playbuf_put(p, h.ssrc, h.ts, h.payload, h.payload_len);
                CHECK(rc == 0 || rc == FX_ERANGE);
                CHECK(rc == 0 || h.payload_len > (maxd - delay) * 8u);
                if (rc == 0 && h.payload_len > 0)
                    puts++;
            } else {
                CHECK(rc == FX_EPARSE);
                CHECK(why != NULL && why[0] != '\0');
            }
        }
        free(dg);

        for (unsigned t = 0; t < (ticks & 7u); t++) {
            unsigned n = 80u + (ticks * 37u + t * 11u) % 256u;
            unsigned missing = 0;
            int r = playbuf_get(p, out, n, 0xFF, &missing);
            CHECK(r == 0 || r == (int)n);
            CHECK(missing <= n);
            if (r == 0) {
                CHECK(!playing); /* never stops once started */
                CHECK(missing == 0);
            } else {
                playing = true;
                gets_out += n;
                gets_missing += missing;
            }
        }
    }

    playbuf_stats_t st;
    playbuf_get_stats(p, &st);
    CHECK(st.put == puts);
    CHECK(st.samples_out == gets_out);
    CHECK(st.samples_missing == gets_missing);
    CHECK(st.late + st.dup + st.too_early <= st.put);
    CHECK(st.resync <= st.put);
    playbuf_free(p);
    return 0;
}
