/* spandsp_alone: the reference for capacity benchmarks. Two SpanDSP 0.0.6 fax engines
 * back to back in one process, no sockets and no real time: one fax of a TIFF goes from
 * a calling sender to an answering receiver, and we measure how much CPU one call
 * costs per second of (simulated) call time and how well the line was used.
 *
 *   spandsp_alone --tiff F [--mode g711|t38] [--ecm 0|1] [--json OUT] [--rx OUT.tif]
 *                 [--t38-version N] [--max-seconds S] [--verbose]
 *
 * g711: two fax_state_t (SpanDSP's T.30 over its V.21/V.27ter/V.29/V.17 modems) swap
 *       160-sample (20 ms) blocks, passed through G.711 A-law (G.711 clause 2) as an RTP
 *       leg would carry them.
 * t38:  two t38_terminal_state_t; each IFP packet one sends (T.38 clause 7) is queued and
 *       handed to the other's t38_core_rx_ifp_packet with a per-direction sequence number
 *       (as UDPTL would number it, T.38 clause 9.1), and both are ticked with
 *       t38_terminal_send_timeout(160) for each 20 ms of simulated time.
 *
 * Output: one JSON object (stdout, and to --json OUT); "ecm" is what was negotiated
 * (from the last page's statistics), "rate" the last page's bit rate. E.g.
 *   {"mode":"g711","ecm_requested":1,"ecm":1,"pages":3,"sim_seconds":25.1,"cpu_seconds":0.027,
 *    "cpu_per_call_second":0.0011,"rate":14400,"image_bytes":4092,
 *    "line_efficiency":0.09,"result":"ok"}   (3 light 400-row fine pages)
 * line_efficiency = sum over pages of image bits / negotiated rate, divided by the
 * simulated call time (1.0 would be a call that is nothing but page data).
 * The received file is compared with the sent one (fx_faxtiff.h, as fx_tiffcmp does);
 * result is "ok" only when both ends completed with T30_ERR_OK and every page matches.
 * Exit 0 ok, 1 fax failed or pages differ, 2 usage or setup error.
 *
 * See the "SpanDSP 0.0.6 pitfalls" comments below for what driving the API needs. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <spandsp.h>

#include "../peers/fx_faxtiff.h"

#define BLOCK           160     /* samples per 20 ms at 8 kHz (G.711 clause 1) */
#define QUEUE_MAX       1024    /* IFP packets in flight per direction */
#define IFP_MAX         1500    /* larger than any IFP SpanDSP builds (UDPTL MTU) */

typedef struct {
    int     len;
    uint8_t buf[IFP_MAX];
} pkt_t;

typedef struct side {
    const char            *name;
    fax_state_t           *fax;    /* g711 mode */
    t38_terminal_state_t  *t38;    /* t38 mode */
    t30_state_t           *t30;
    struct side           *peer;
    /* phase D/E results */
    int                    done;
    int                    completion;
    int                    pages;
    long long              image_bytes;
    long long              image_bits_time_us; /* sum of image_size*8/rate, microseconds */
    int                    rate;
    int                    ecm;
    /* T.38: packets sent by this side, waiting to reach the peer */
    pkt_t                 *q;
    int                    qn;
    int                    overflow;
    uint16_t               tx_seq;
} side_t;

/* ---- T.30 callbacks ---------------------------------------------------------------- */

/* Phase D (T.30 clause 5.3.5, post-message): called once per page on each side after
 * MPS/EOP and its response. The statistics describe the page just transferred. */
static int on_phase_d(t30_state_t *t, void *user, int result)
{
    side_t *s = user;
    t30_stats_t st;

    (void)result;
    t30_get_transfer_statistics(t, &st);
    s->pages++;
    s->rate = st.bit_rate;
    s->ecm = st.error_correcting_mode;
    s->image_bytes += st.image_size;
    if (st.bit_rate > 0)
        s->image_bits_time_us += (long long)st.image_size * 8 * 1000000LL / st.bit_rate;
    fprintf(stderr, "%s: page %d done: rate=%d ecm=%d %dx%d res=%dx%d image=%d bytes bad_rows=%d\n",
            s->name, s->pages, st.bit_rate, st.error_correcting_mode, st.width, st.length,
            st.x_resolution, st.y_resolution, st.image_size, st.bad_rows);
    return T30_ERR_OK;
}

/* Phase E (T.30 clause 5.3.6, call release): called once with the completion code. */
static void on_phase_e(t30_state_t *t, void *user, int completion)
{
    side_t *s = user;

    (void)t;
    s->done = 1;
    s->completion = completion;
    fprintf(stderr, "%s: phase E: %d (%s)\n", s->name, completion,
            t30_completion_code_to_str(completion));
}

/* ---- T.38 wiring ------------------------------------------------------------------- */

/* SpanDSP 0.0.6 pitfall: the tx packet handler is called from inside
 * t38_terminal_send_timeout() and from inside t38_core_rx_ifp_packet() (indicators).
 * Feeding the peer directly from here re-enters SpanDSP through the peer's reply; queue
 * instead and deliver from the loop. count is the redundancy SpanDSP asks for (the
 * number of times UDPTL should send it); over a lossless pipe once is enough. */
static int t38_tx(t38_core_state_t *core, void *user, const uint8_t *buf, int len, int count)
{
    side_t *s = user;

    (void)core;
    (void)count;
    if (len <= 0 || len > IFP_MAX || s->qn >= QUEUE_MAX) {
        s->overflow = 1;
        return -1;
    }
    memcpy(s->q[s->qn].buf, buf, (size_t)len);
    s->q[s->qn].len = len;
    s->qn++;
    return 0;
}

/* Delivers everything each side queued to the other, until both queues are empty. */
static void t38_pump(side_t *a, side_t *b)
{
    for (int round = 0; round < 16 && (a->qn || b->qn); round++) {
        side_t *from[2] = {a, b};
        for (int k = 0; k < 2; k++) {
            side_t *s = from[k];
            int n = s->qn;
            /* Copy out first: delivery may make the peer queue packets for us. */
            pkt_t *batch = fx_malloc(sizeof(pkt_t) * (size_t)(n ? n : 1));
            memcpy(batch, s->q, sizeof(pkt_t) * (size_t)n);
            s->qn = 0;
            for (int i = 0; i < n; i++)
                t38_core_rx_ifp_packet(t38_terminal_get_t38_core_state(s->peer->t38),
                                       batch[i].buf, batch[i].len, s->tx_seq++);
            free(batch);
        }
    }
}

/* ---- set-up ------------------------------------------------------------------------ */

static void setup_logging(logging_state_t *l, const char *tag, int verbose)
{
    if (!verbose)
        return;
    span_log_set_level(l, SPAN_LOG_SHOW_SEVERITY | SPAN_LOG_SHOW_PROTOCOL | SPAN_LOG_SHOW_TAG
                              | SPAN_LOG_FLOW);
    span_log_set_tag(l, tag);
}

/* T.30 settings common to both modes. SpanDSP 0.0.6 pitfalls:
 *  - t30_set_tx_file/t30_set_rx_file must be called before the first audio/tick; the
 *    sender's file is opened when phase B starts, and a bad file ends the call in phase
 *    E with T30_ERR_FILEERROR, not an error return here.
 *  - ECM is off unless t30_set_ecm_capability(t, 1) on both ends; T.6 (MMR) is only used
 *    with ECM (T.30 clause 6.2.7 / Annex A), so offering it without ECM is harmless.
 *  - t30_set_tx_page_header_info() would add a header row band to every page sent;
 *    leave it unset when the received pages must equal the file. */
static void setup_t30(side_t *s, int sender, const char *tiff, const char *rx, int ecm,
                      int verbose)
{
    t30_state_t *t = s->t30;

    t30_set_tx_ident(t, sender ? "FAXGATE-TX" : "FAXGATE-RX");
    t30_set_ecm_capability(t, ecm);
    t30_set_supported_compressions(t, T30_SUPPORT_T4_1D_COMPRESSION
                                          | T30_SUPPORT_T4_2D_COMPRESSION
                                          | T30_SUPPORT_T6_COMPRESSION);
    t30_set_supported_modems(t, T30_SUPPORT_V27TER | T30_SUPPORT_V29 | T30_SUPPORT_V17);
    if (sender)
        t30_set_tx_file(t, tiff, -1, -1);
    else
        t30_set_rx_file(t, rx, -1);
    t30_set_phase_d_handler(t, on_phase_d, s);
    t30_set_phase_e_handler(t, on_phase_e, s);
    setup_logging(t30_get_logging_state(t), s->name, verbose);
}

static int setup_g711(side_t *s, int sender)
{
    /* The sender places the call (CNG, waits for CED/DIS): calling_party = TRUE. */
    s->fax = fax_init(NULL, sender);
    if (!s->fax)
        return -1;
    /* Pitfall: without transmit-on-idle fax_tx() returns fewer samples than asked (0
     * while silent); an RTP leg needs a full 20 ms block every 20 ms. */
    fax_set_transmit_on_idle(s->fax, 1);
    fax_set_tep_mode(s->fax, 0);
    s->t30 = fax_get_t30_state(s->fax);
    return 0;
}

static int setup_t38(side_t *s, int sender, int version, int verbose)
{
    t38_core_state_t *core;

    s->t38 = t38_terminal_init(NULL, sender, t38_tx, s);
    if (!s->t38)
        return -1;
    core = t38_terminal_get_t38_core_state(s->t38);
    /* T38FaxVersion from SDP (T.38 Annex D); both ends must agree. */
    t38_set_t38_version(core, version);
    /* UDP: transferredTCF (T.38 clause 5.2.2 / Annex D: TCF is carried end to end). */
    t38_set_data_rate_management_method(core, T38_DATA_RATE_MANAGEMENT_TRANSFERRED_TCF);
    t38_set_max_datagram_size(core, 400);
    t38_set_fastest_image_data_rate(core, 14400);
    /* 0: pace packets in real time (what a UDPTL leg wants); NO_PACING would send as
     * fast as the loop ticks, which also shortens the simulated call. */
    t38_terminal_set_config(s->t38, 0);
    t38_terminal_set_tep_mode(s->t38, 0);
    s->t30 = t38_terminal_get_t30_state(s->t38);
    setup_logging(t38_terminal_get_logging_state(s->t38), s->name, verbose);
    setup_logging(t38_core_get_logging_state(core), s->name, verbose);
    return 0;
}

static void teardown(side_t *s)
{
    if (s->fax) {
        /* Pitfall: fax_release() runs t30 release, which closes the rx TIFF (the page
         * count in PageNumber is only fixed up then); do not read the file before. */
        fax_release(s->fax);
        fax_free(s->fax);
    }
    if (s->t38) {
        t38_terminal_release(s->t38);
        t38_terminal_free(s->t38);
    }
    free(s->q);
}

static double cpu_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
    fprintf(stderr, "usage: spandsp_alone --tiff F [--mode g711|t38] [--ecm 0|1] [--json OUT]"
                    " [--rx OUT.tif] [--t38-version N] [--max-seconds S] [--verbose]\n");
}

int main(int argc, char **argv)
{
    const char *tiff = NULL;
    const char *json = NULL;
    const char *rx = NULL;
    char rx_tmp[64] = "";
    int t38 = 0;
    int ecm = 1;
    int version = 0;
    int verbose = 0;
    long max_seconds = 600;
    side_t tx = {.name = "tx"};
    side_t rcv = {.name = "rx"};
    long long samples = 0;
    double cpu0;
    double cpu;
    double sim;
    const char *result;
    fxt_doc_t da;
    fxt_doc_t db;
    fxt_cmp_result_t cr = {0};
    int cmp_rc = -1;
    char out[768];

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--tiff") && v) {
            tiff = v;
            i++;
        } else if (!strcmp(a, "--mode") && v) {
            if (!strcmp(v, "g711"))
                t38 = 0;
            else if (!strcmp(v, "t38"))
                t38 = 1;
            else
                goto bad;
            i++;
        } else if (!strcmp(a, "--ecm") && v && (!strcmp(v, "0") || !strcmp(v, "1"))) {
            ecm = v[0] == '1';
            i++;
        } else if (!strcmp(a, "--json") && v) {
            json = v;
            i++;
        } else if (!strcmp(a, "--rx") && v) {
            rx = v;
            i++;
        } else if (!strcmp(a, "--t38-version") && v && v[0] >= '0' && v[0] <= '3' && !v[1]) {
            version = v[0] - '0';
            i++;
        } else if (!strcmp(a, "--max-seconds") && v && atol(v) > 0) {
            max_seconds = atol(v);
            i++;
        } else if (!strcmp(a, "--verbose")) {
            verbose = 1;
        } else {
            goto bad;
        }
    }
    if (!tiff)
        goto bad;
    if (!rx) {
        snprintf(rx_tmp, sizeof(rx_tmp), "/tmp/spandsp_alone_rx_%ld.tif", (long)getpid());
        rx = rx_tmp;
    }
    unlink(rx); /* never compare against a file left by an earlier run */

    fxt_tiff_quiet(0);
    tx.peer = &rcv;
    rcv.peer = &tx;
    tx.q = fx_calloc(QUEUE_MAX, sizeof(pkt_t));
    rcv.q = fx_calloc(QUEUE_MAX, sizeof(pkt_t));
    if (t38 ? (setup_t38(&tx, 1, version, verbose) < 0 || setup_t38(&rcv, 0, version, verbose) < 0)
            : (setup_g711(&tx, 1) < 0 || setup_g711(&rcv, 0) < 0)) {
        fprintf(stderr, "spandsp_alone: engine init failed\n");
        teardown(&tx);
        teardown(&rcv);
        return 2;
    }
    setup_t30(&tx, 1, tiff, rx, ecm, verbose);
    setup_t30(&rcv, 0, tiff, rx, ecm, verbose);

    cpu0 = cpu_now();
    while (!(tx.done && rcv.done) && samples < (long long)max_seconds * 8000) {
        if (t38) {
            /* Pitfall: T.38 terminals have no audio clock; without regular
             * t38_terminal_send_timeout() calls nothing is sent and T.30 timers stop. */
            t38_terminal_send_timeout(tx.t38, BLOCK);
            t38_terminal_send_timeout(rcv.t38, BLOCK);
            t38_pump(&tx, &rcv);
            if (tx.overflow || rcv.overflow)
                break;
        } else {
            int16_t ab[BLOCK];
            int16_t ba[BLOCK];
            int n;

            n = fax_tx(tx.fax, ab, BLOCK);
            if (n < BLOCK)
                memset(ab + n, 0, sizeof(int16_t) * (size_t)(BLOCK - n));
            n = fax_tx(rcv.fax, ba, BLOCK);
            if (n < BLOCK)
                memset(ba + n, 0, sizeof(int16_t) * (size_t)(BLOCK - n));
            /* The RTP leg carries A-law (G.711 clause 2): quantise as it would. */
            for (int i = 0; i < BLOCK; i++) {
                ab[i] = alaw_to_linear(linear_to_alaw(ab[i]));
                ba[i] = alaw_to_linear(linear_to_alaw(ba[i]));
            }
            fax_rx(rcv.fax, ab, BLOCK);
            fax_rx(tx.fax, ba, BLOCK);
        }
        samples += BLOCK;
    }
    cpu = cpu_now() - cpu0;
    sim = (double)samples / 8000.0;
    teardown(&tx);
    teardown(&rcv);

    /* Compare what arrived with what was sent. */
    if (tx.done && rcv.done && tx.completion == T30_ERR_OK && rcv.completion == T30_ERR_OK) {
        fxt_cmp_opts_t co = {.min_agree = 0.995, .max_length_diff = 0};
        if (fxt_load_doc(tiff, &da) == 0) {
            if (fxt_load_doc(rx, &db) == 0) {
                cmp_rc = fxt_cmp_doc(&da, &db, &co, stderr, &cr);
                fxt_doc_fini(&db);
            }
            fxt_doc_fini(&da);
        }
    }
    if (tx.overflow || rcv.overflow)
        result = "ifp_queue_overflow";
    else if (!(tx.done && rcv.done))
        result = "timeout";
    else if (tx.completion != T30_ERR_OK)
        result = "tx_failed";
    else if (rcv.completion != T30_ERR_OK)
        result = "rx_failed";
    else if (cmp_rc != 0)
        result = "pages_differ";
    else
        result = "ok";

    snprintf(out, sizeof(out),
             "{\"mode\":\"%s\",\"ecm_requested\":%d,\"ecm\":%d,\"pages\":%d,\"pages_rx\":%d,\"sim_seconds\":%.3f,"
             "\"cpu_seconds\":%.4f,\"cpu_per_call_second\":%.6f,\"rate\":%d,"
             "\"image_bytes\":%lld,\"line_efficiency\":%.4f,\"agree_min\":%.6f,"
             "\"tx_completion\":\"%s\",\"rx_completion\":\"%s\",\"result\":\"%s\"}\n",
             t38 ? "t38" : "g711", ecm, tx.ecm, tx.pages, rcv.pages, sim, cpu,
             sim > 0 ? cpu / sim : 0.0, tx.rate, tx.image_bytes,
             sim > 0 ? (double)tx.image_bits_time_us / 1e6 / sim : 0.0,
             cmp_rc >= 0 ? cr.agree_min : 0.0,
             tx.done ? t30_completion_code_to_str(tx.completion) : "none",
             rcv.done ? t30_completion_code_to_str(rcv.completion) : "none", result);
    fputs(out, stdout);
    if (cmp_rc > 0)
        fprintf(stderr, "spandsp_alone: %s\n", cr.reason);
    if (json) {
        FILE *f = fopen(json, "w");
        if (!f || fputs(out, f) < 0 || fclose(f) != 0) {
            fprintf(stderr, "spandsp_alone: cannot write %s\n", json);
            return 2;
        }
    }
    if (rx_tmp[0])
        unlink(rx_tmp);
    return strcmp(result, "ok") ? 1 : 0;
bad:
    usage();
    return 2;
}
