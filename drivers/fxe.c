/* fxe: SpanDSP T.30 engine for one call, over G.711 audio or T.38 (see fxe.h).
 * Coded against SpanDSP 0.0.6's public API only. */
#include "fxe.h"

#include <errno.h>
#include <spandsp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fax/fx.h"

#define SAMPLE_RATE 8000

struct fxe {
    fxe_params_t p;
    char tx_file[512], rx_file[512], ident[24], header[64], tag[48];
    const fxe_ops_t *ops;
    void *user;
    fax_state_t *audio;                 /* audio mode engine, or NULL */
    t38_terminal_state_t *t38;          /* T.38 mode engine, or NULL */
    modem_connect_tones_rx_state_t *tones; /* CNG/CED/V.21 detector in audio mode */
    bool tone_reported;
    bool finished;
    bool aborting;
    bool muted;                         /* a page could not be stored: send nothing more */
    uint64_t samples;                   /* time since start, in samples */
    double image_s;
    int pages_done;
    int last_rate;
    faxres_t res;
};

/* SpanDSP's log lines (0.0.6 gives no per-instance user pointer). */
static void span_msg(int level, const char *text)
{
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        n--;
    /* SpanDSP's warnings are mostly protocol chatter of healthy calls ("ECM
     * carrier not found" on every ECM call): info; its errors are warnings. */
    fx_log(level <= SPAN_LOG_ERROR     ? FX_LOG_WARN
           : level <= SPAN_LOG_WARNING ? FX_LOG_INFO
                                       : FX_LOG_DEBUG,
           FX_FAC_T30, "spandsp %.*s", (int)n, text);
}

static void setup_logging(logging_state_t *ls)
{
    if (ls == NULL)
        return;
    span_log_set_message_handler(ls, span_msg);
    if (fx_log_enabled(FX_LOG_DEBUG, FX_FAC_T30))
        span_log_set_level(ls, SPAN_LOG_SHOW_SEVERITY | SPAN_LOG_SHOW_PROTOCOL | SPAN_LOG_FLOW);
    else
        span_log_set_level(ls, SPAN_LOG_WARNING);
}

static t30_state_t *t30_of(const fxe_t *e)
{
    if (e->t38 != NULL)
        return t38_terminal_get_t30_state(e->t38);
    if (e->audio != NULL)
        return fax_get_t30_state(e->audio);
    return NULL;
}

static const char *compression_name(int enc)
{
    switch (enc) {
    case T4_COMPRESSION_ITU_T4_1D: return "T.4 1-D";
    case T4_COMPRESSION_ITU_T4_2D: return "T.4 2-D";
    case T4_COMPRESSION_ITU_T6: return "T.6";
    default: return "none";
    }
}

/* Phase B: DIS/DCS exchanged (T.30 clause 5.3.3). */
static int phase_b(t30_state_t *t, void *user, int result)
{
    fxe_t *e = user;
    (void)t;
    fx_log(FX_LOG_INFO, FX_FAC_T30, "phase B %s remote=\"%s\"", e->tag,
           t30_get_rx_ident(t30_of(e)) ? t30_get_rx_ident(t30_of(e)) : "");
    (void)result;
    return T30_ERR_OK;
}

/* Phase D: a page ended. For a receiver SpanDSP has written the page's TIFF
 * directory and calls us before it sends MCF (T.30 clause 5.3.2.4): the page is
 * made durable here, so a confirmed page is always on disk (invariant 1). */
static int phase_d(t30_state_t *t, void *user, int result)
{
    fxe_t *e = user;
    t30_stats_t st;
    t30_get_transfer_statistics(t, &st);
    /* Pages count from the start of the file, also when a resumed job starts
     * further in (SpanDSP counts the pages of this call only). */
    int page = e->p.sending ? st.pages_tx + e->p.start_page : st.pages_rx;
    if (page <= e->pages_done)
        return T30_ERR_OK; /* not a new confirmed page (RTN, retrain, PPS for a partial page) */
    if (e->muted)
        return T30_ERR_FILEERROR;
    e->last_rate = st.bit_rate;
    fx_log(FX_LOG_INFO, FX_FAC_T30, "page done %s page=%d rate=%d ecm=%d bytes=%d result=%d",
           e->tag, page, st.bit_rate, st.error_correcting_mode, st.image_size, result);
    if (e->ops->page_done != NULL && e->ops->page_done(e->user, page) < 0) {
        /* SpanDSP 0.0.6 sends MCF whatever this handler returns, so the only way
         * not to confirm a page we could not store is to fall silent at once and
         * end the call: the sender then never hears MCF for it. */
        fx_log(FX_LOG_ERR, FX_FAC_T30,
               "page could not be stored, not confirming it and ending the call %s page=%d",
               e->tag, page);
        e->muted = true;
        return T30_ERR_FILEERROR;
    }
    e->pages_done = page;
    if (st.bit_rate > 0)
        e->image_s += (double)st.image_size * 8.0 / st.bit_rate;
    return T30_ERR_OK;
}

static void fill_result(fxe_t *e, int code)
{
    t30_state_t *t = t30_of(e);
    faxres_t *r = &e->res;
    t30_stats_t st;
    memset(&st, 0, sizeof st);
    if (t != NULL)
        t30_get_transfer_statistics(t, &st);
    r->sending = e->p.sending;
    /* A receiver counts the pages it stored; a sender the pages confirmed. */
    r->pages = e->p.sending ? st.pages_tx + e->p.start_page : e->pages_done;
    if (r->pages < e->pages_done)
        r->pages = e->pages_done;
    r->pages_total = e->p.sending ? st.pages_in_file : -1;
    r->bit_rate = st.bit_rate ? st.bit_rate : e->last_rate;
    r->ecm = st.error_correcting_mode != 0;
    fx_strlcpy(r->compression, compression_name(st.encoding), sizeof r->compression);
    if (st.x_resolution > 0)
        snprintf(r->resolution, sizeof r->resolution, "%dx%d",
                 (int)(st.x_resolution * 0.0254 + 0.5), (int)(st.y_resolution * 0.0254 + 0.5));
    fx_strlcpy(r->mode, e->t38 ? "t38" : "g711", sizeof r->mode);
    const char *rid = t != NULL ? t30_get_rx_ident(t) : NULL;
    fx_strlcpy(r->remote_ident, rid ? rid : "", sizeof r->remote_ident);
    r->duration_s = (double)e->samples / SAMPLE_RATE;
    r->image_s = e->image_s;
    r->code = code;
    if (code >= 0)
        fx_strlcpy(r->code_text, t30_completion_code_to_str(code), sizeof r->code_text);
    if (code == T30_ERR_OK) {
        if (e->p.sending && r->pages_total > 0 && r->pages < r->pages_total)
            r->status = FAXRES_PARTIAL;
        else if (r->pages > 0)
            r->status = FAXRES_OK;
        else
            r->status = FAXRES_FAILED;
    } else {
        r->status = r->pages > 0 ? FAXRES_PARTIAL : FAXRES_FAILED;
    }
}

/* Phase E: the call is over at T.30 level (clause 5.3.2.5). */
static void phase_e(t30_state_t *t, void *user, int code)
{
    fxe_t *e = user;
    (void)t;
    if (e->finished)
        return;
    e->finished = true;
    fill_result(e, code);
    if (e->aborting && code == T30_ERR_OK && e->res.status != FAXRES_OK)
        e->res.status = e->res.pages > 0 ? FAXRES_PARTIAL : FAXRES_FAILED;
    char line[512];
    faxres_format(&e->res, line, sizeof line);
    fx_log(FX_LOG_NOTICE, FX_FAC_T30, "phase E %s %s", e->tag, line);
    if (e->ops->done != NULL)
        e->ops->done(e->user, &e->res);
}

static void setup_t30(fxe_t *e, t30_state_t *t)
{
    t30_set_tx_ident(t, e->ident);
    if (e->header[0])
        t30_set_tx_page_header_info(t, e->header);
    t30_set_ecm_capability(t, e->p.ecm);
    t30_set_supported_compressions(t, T30_SUPPORT_T4_1D_COMPRESSION | T30_SUPPORT_T4_2D_COMPRESSION
                                          | T30_SUPPORT_T6_COMPRESSION);
    int modems = T30_SUPPORT_V27TER;
    if (e->p.max_rate >= 7200)
        modems |= T30_SUPPORT_V29;
    if (e->p.max_rate >= 12000)
        modems |= T30_SUPPORT_V17;
    t30_set_supported_modems(t, modems);
    if (e->p.sending)
        t30_set_tx_file(t, e->tx_file, e->p.start_page > 0 ? e->p.start_page : -1, -1);
    else
        t30_set_rx_file(t, e->rx_file, -1);
    t30_set_phase_b_handler(t, phase_b, e);
    t30_set_phase_d_handler(t, phase_d, e);
    t30_set_phase_e_handler(t, phase_e, e);
    setup_logging(t30_get_logging_state(t));
}

static int t38_tx_handler(t38_core_state_t *s, void *user, const uint8_t *buf, int len, int count)
{
    fxe_t *e = user;
    (void)s;
    if (len <= 0 || e->ops->t38_tx == NULL || e->muted)
        return 0;
    return e->ops->t38_tx(e->user, buf, (size_t)len, count);
}

static void tone_cb(void *user, int code, int level, int delay)
{
    fxe_t *e = user;
    (void)level;
    (void)delay;
    if (e->tone_reported || e->ops->tone == NULL)
        return;
    const char *what = NULL;
    switch (code) {
    case MODEM_CONNECT_TONES_FAX_CNG: what = "CNG"; break;
    case MODEM_CONNECT_TONES_ANS:
    case MODEM_CONNECT_TONES_ANS_PR: what = "CED"; break;
    case MODEM_CONNECT_TONES_FAX_PREAMBLE: what = "V.21 preamble"; break;
    default: break;
    }
    if (what != NULL) {
        e->tone_reported = true;
        e->ops->tone(e->user, what);
    }
}

static int start_t38(fxe_t *e, const fxe_t38_params_t *tp)
{
    e->t38 = t38_terminal_init(NULL, e->p.calling, t38_tx_handler, e);
    if (e->t38 == NULL)
        return -ENOMEM;
    t38_core_state_t *core = t38_terminal_get_t38_core_state(e->t38);
    t38_set_t38_version(core, tp->version);
    /* T.38 clause 8.2 / Annex D: over UDP only transferredTCF is allowed. */
    t38_set_data_rate_management_method(core, tp->transferred_tcf ? 2 : 1);
    if (tp->max_datagram > 0)
        t38_set_max_datagram_size(core, tp->max_datagram);
    t38_set_fastest_image_data_rate(core, e->p.max_rate);
    /* UDPTL carries redundancy itself, so each IFP needs sending once only. */
    t38_set_redundancy_control(core, T38_PACKET_CATEGORY_CONTROL_DATA, 1);
    t38_set_redundancy_control(core, T38_PACKET_CATEGORY_CONTROL_DATA_END, 1);
    t38_set_redundancy_control(core, T38_PACKET_CATEGORY_IMAGE_DATA, 1);
    t38_set_redundancy_control(core, T38_PACKET_CATEGORY_IMAGE_DATA_END, 1);
    t38_set_redundancy_control(core, T38_PACKET_CATEGORY_INDICATOR, 1);
    t38_terminal_set_config(e->t38, 0);
    t38_terminal_set_tep_mode(e->t38, 0);
    setup_logging(t38_terminal_get_logging_state(e->t38));
    setup_logging(t38_core_get_logging_state(core));
    setup_t30(e, t38_terminal_get_t30_state(e->t38));
    return 0;
}

int fxe_new(const fxe_params_t *p, const fxe_ops_t *ops, void *user, bool t38,
            const fxe_t38_params_t *tp, fxe_t **out)
{
    fxe_t *e = fx_calloc(1, sizeof *e);
    e->p = *p;
    e->ops = ops;
    e->user = user;
    if (p->tx_file)
        fx_strlcpy(e->tx_file, p->tx_file, sizeof e->tx_file);
    if (p->rx_file)
        fx_strlcpy(e->rx_file, p->rx_file, sizeof e->rx_file);
    fx_strlcpy(e->ident, p->ident ? p->ident : "", sizeof e->ident);
    fx_strlcpy(e->header, p->header ? p->header : "", sizeof e->header);
    fx_strlcpy(e->tag, p->log_tag ? p->log_tag : "", sizeof e->tag);
    e->p.tx_file = e->tx_file;
    e->p.rx_file = e->rx_file;
    e->p.ident = e->ident;
    e->p.header = e->header;
    e->p.log_tag = e->tag;
    e->res.code = -1;
    int rc;
    if (t38) {
        rc = start_t38(e, tp);
    } else {
        e->audio = fax_init(NULL, p->calling);
        rc = e->audio ? 0 : -ENOMEM;
        if (rc == 0) {
            fax_set_transmit_on_idle(e->audio, 1);
            fax_set_tep_mode(e->audio, 0);
            setup_logging(fax_get_logging_state(e->audio));
            setup_t30(e, fax_get_t30_state(e->audio));
            if (p->detect_tones) {
                /* The caller listens for the answerer's CED or V.21 preamble (T.30
                 * clause 5.2.1, Annex D of T.38: the usual re-INVITE triggers); the
                 * answerer listens for the caller's CNG. */
                e->tones = modem_connect_tones_rx_init(
                    NULL, p->calling ? MODEM_CONNECT_TONES_FAX_CED_OR_PREAMBLE
                                     : MODEM_CONNECT_TONES_FAX_CNG,
                    tone_cb, e);
            }
        }
    }
    if (rc < 0) {
        fxe_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

void fxe_free(fxe_t *e)
{
    if (e == NULL)
        return;
    if (e->tones)
        modem_connect_tones_rx_free(e->tones);
    if (e->audio) {
        t30_set_phase_e_handler(fax_get_t30_state(e->audio), NULL, NULL);
        fax_release(e->audio);
        fax_free(e->audio);
    }
    if (e->t38) {
        t30_set_phase_e_handler(t38_terminal_get_t30_state(e->t38), NULL, NULL);
        t38_terminal_release(e->t38);
        t38_terminal_free(e->t38);
    }
    free(e);
}

int fxe_switch_t38(fxe_t *e, const fxe_t38_params_t *tp)
{
    if (e->t38 != NULL)
        return 0;
    if (e->finished)
        return FX_ESTATE;
    if (e->audio != NULL) {
        /* The audio session's T.30 must not report phase E: the call goes on. */
        t30_state_t *t = fax_get_t30_state(e->audio);
        t30_set_phase_e_handler(t, NULL, NULL);
        t30_set_phase_d_handler(t, NULL, NULL);
        fax_release(e->audio);
        fax_free(e->audio);
        e->audio = NULL;
    }
    if (e->tones) {
        modem_connect_tones_rx_free(e->tones);
        e->tones = NULL;
    }
    if (e->pages_done > 0)
        fx_log(FX_LOG_WARN, FX_FAC_T38, "switch to T.38 after %d pages %s", e->pages_done, e->tag);
    /* XXX: pages confirmed over audio before the switch are in the rx file that
     * the new T.30 session rewrites; in practice the switch happens before phase C. */
    e->pages_done = 0;
    int rc = start_t38(e, tp);
    fx_log(FX_LOG_INFO, FX_FAC_T38, "switched to T.38 %s version=%d max_datagram=%d rc=%d", e->tag,
           tp->version, tp->max_datagram, rc);
    return rc;
}

bool fxe_is_t38(const fxe_t *e)
{
    return e->t38 != NULL;
}

void fxe_audio_rx(fxe_t *e, const int16_t *amp, int n)
{
    if (e->audio == NULL || e->finished)
        return;
    int16_t buf[480];
    while (n > 0) {
        int k = n > 480 ? 480 : n;
        memcpy(buf, amp, (size_t)k * sizeof *buf);
        if (e->tones != NULL && !e->tone_reported)
            modem_connect_tones_rx(e->tones, buf, k);
        fax_rx(e->audio, buf, k);
        amp += k;
        n -= k;
        e->samples += (uint64_t)k;
    }
}

void fxe_audio_fillin(fxe_t *e, int n)
{
    if (e->audio == NULL || e->finished)
        return;
    /* SpanDSP 0.0.6: fax_rx_fillin keeps the modems' timing across lost audio. */
    fax_rx_fillin(e->audio, n);
    e->samples += (uint64_t)n;
}

static void abort_if_muted(fxe_t *e)
{
    if (e->muted && !e->finished)
        fxe_abort(e, "a received page could not be stored");
}

void fxe_audio_tx(fxe_t *e, int16_t *amp, int n)
{
    abort_if_muted(e);
    if (e->audio == NULL || e->finished || e->muted) {
        memset(amp, 0, (size_t)n * sizeof *amp);
        return;
    }
    int got = fax_tx(e->audio, amp, n);
    if (got < n)
        memset(amp + got, 0, (size_t)(n - got) * sizeof *amp);
}

void fxe_t38_rx(fxe_t *e, const uint8_t *ifp, size_t len, uint16_t seq)
{
    if (e->t38 == NULL || e->finished)
        return;
    t38_core_rx_ifp_packet(t38_terminal_get_t38_core_state(e->t38), ifp, (int)len, seq);
}

void fxe_t38_tick(fxe_t *e, int n)
{
    abort_if_muted(e);
    if (e->t38 == NULL || e->finished)
        return;
    e->samples += (uint64_t)n;
    t38_terminal_send_timeout(e->t38, n);
}

void fxe_abort(fxe_t *e, const char *why)
{
    if (e->finished)
        return;
    e->aborting = true;
    fx_log(FX_LOG_NOTICE, FX_FAC_T30, "fax aborted %s why=\"%s\"", e->tag, why);
    t30_state_t *t = t30_of(e);
    if (t != NULL)
        t30_terminate(t);
    if (!e->finished) {
        /* t30_terminate reports phase E only from some states; make sure done fires. */
        e->finished = true;
        fill_result(e, T30_ERR_CALLDROPPED);
        if (e->ops->done != NULL)
            e->ops->done(e->user, &e->res);
    }
    if (e->res.status == FAXRES_OK && e->p.sending && e->res.pages_total > 0
        && e->res.pages < e->res.pages_total)
        e->res.status = FAXRES_PARTIAL;
}

void fxe_progress(const fxe_t *e, int *page, int *rate, bool *ecm)
{
    t30_state_t *t = t30_of(e);
    t30_stats_t st;
    memset(&st, 0, sizeof st);
    if (t != NULL)
        t30_get_transfer_statistics(t, &st);
    *page = (e->p.sending ? st.pages_tx + e->p.start_page : st.pages_rx) + 1;
    *rate = st.bit_rate;
    *ecm = st.error_correcting_mode != 0;
}

const char *faxres_status_name(faxres_status_t s)
{
    switch (s) {
    case FAXRES_OK: return "ok";
    case FAXRES_PARTIAL: return "partial";
    case FAXRES_FAILED: return "failed";
    }
    return "?";
}

void faxres_format(const faxres_t *r, char *buf, size_t len)
{
    snprintf(buf, len,
             "result=%s dir=%s pages=%d pages_total=%d rate=%d ecm=%s compression=\"%s\" "
             "resolution=%s mode=%s remote=\"%s\" duration=%.1f image_time=%.1f code=%d "
             "reason=\"%s\"",
             faxres_status_name(r->status), r->sending ? "send" : "receive", r->pages,
             r->pages_total, r->bit_rate, r->ecm ? "yes" : "no", r->compression,
             r->resolution[0] ? r->resolution : "-", r->mode[0] ? r->mode : "-", r->remote_ident,
             r->duration_s, r->image_s, r->code, r->code_text);
}
