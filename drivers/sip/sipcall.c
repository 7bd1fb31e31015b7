/* sipcall: SIP signalling for fax calls with sofia-sip's nua (RFC 3261), its
 * offer/answer engine off (NUTAG_MEDIA_ENABLE(0)): Faxgate writes and reads SDP
 * itself (sdpf.c) so audio, image/t38 (T.38 Annex D, RFC 4612), re-INVITEs and
 * refusals stay under its control. Runs on the main thread; media runs on the
 * media loops (sipmedia.c) and reports back through ev_post. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sofia-sip/su_config.h>
#include <sofia-sip/nua.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/su_log.h>
#include <sofia-sip/su_tag_io.h>
#include <sofia-sip/su_wait.h>

#include "fax/arc.h" /* archive: marker for the PostgreSQL worker */
#include "fax/fx.h"
#include "fax/sipfax.h"
#include "sdpf.h"
#include "sip_int.h"
#include "udptl.h"

#define MAX_MEDIA_LOOPS 64

typedef enum {
    CALL_ST_INVITING = 0, /* outbound INVITE sent, no final answer yet */
    CALL_ST_ANSWERED,     /* inbound: 200 sent, waiting for ACK */
    CALL_ST_ACTIVE,       /* media running */
    CALL_ST_ENDING,       /* fax over or BYE on its way */
    CALL_ST_CLOSING,      /* media loop releasing the call */
} call_state_t;

static const char *const call_state_names[] = { "inviting", "answered", "active", "ending",
                                                "closing" };

const char *sipc_call_state_name(call_state_t s);
const char *sipc_call_state_name(call_state_t s)
{
    return (unsigned)s < sizeof call_state_names / sizeof call_state_names[0]
               ? call_state_names[s]
               : "?";
}

struct call {
    call_t *next;
    sipfax_t *sf;
    nua_handle_t *nh;
    unsigned no;
    char id[17];
    char tag[48];
    call_state_t state;
    bool outbound, sending;
    char file[512];        /* tx TIFF (sending) or tmp rx TIFF (receiving) */
    char from[64], to[64], peer[128];
    cfg_t38_policy_t t38_policy;
    const cfg_trunk_t *trunk;
    int auth_tries;
    /* SDP state (RFC 3264 section 8): our o= line and what the session is now */
    uint64_t sdp_id, sdp_version;
    bool t38_active;       /* agreed stream is image/t38 */
    bool reinvite_pending; /* our re-INVITE to T.38 awaits its answer */
    bool t38_tried;
    uint16_t rtp_port, udptl_port;
    int pending_udptl_fd;  /* socket for a T.38 offer we made, until answered */
    sdpf_t38_t t38_local;  /* what we last stated in SDP */
    int pt;                /* agreed G.711 payload type */
    bool alaw;
    /* media */
    mloop_t *ml;
    media_t *m;            /* media-loop owned; main only passes it back */
    bool media_started;
    bool media_closing;
    call_status_t status;
    /* result */
    bool have_result;
    faxres_t res;
    uint64_t start_ms;
    ev_timer_t *phase_e_timer;
    ev_timer_t *bye_timer;
    bool bye_sent;
    bool terminated;       /* nua says the dialog is gone */
    sipfax_done_cb cb;
    void *cb_arg;
    const sipfax_send_ops_t *send_ops;
    int start_page;
    int sip_status;        /* final status of our INVITE */
    bool connected;
};

struct sipfax {
    const cfg_t *cfg;
    su_home_t home[1];
    su_root_t *root;
    nua_t *nua;
    su_wait_t wait[1];
    ev_loop_t *main;
    spool_t *spool;
    mloop_t loops[MAX_MEDIA_LOOPS];
    int n_loops;
    call_t *calls;
    int n_calls;
    unsigned next_no;
    int next_port;
    bool shutting_down;
    bool nua_shutdown_done;
    ev_timer_t *grace_timer;
    void (*idle_cb)(void *);
    void *idle_arg;
    sipfax_done_cb on_rx;
    void *on_rx_arg;
    nua_handle_t *reg[CFG_MAX_TRUNKS];
};

static void call_set_state(call_t *c, call_state_t st)
{
    if (c->state == st)
        return;
    fx_log(FX_LOG_INFO, FX_FAC_SIP, "call state %s %s -> %s", c->tag,
           sipc_call_state_name(c->state), sipc_call_state_name(st));
    c->state = st;
}

/* ---- accessors for sipmedia.c ---- */

ev_loop_t *sipc__main_loop(call_t *c) { return c->sf->main; }
media_t *sipc__media(call_t *c) { return c->m; }
void sipc__set_media(call_t *c, media_t *m) { c->m = m; }
call_status_t *sipc__status(call_t *c) { return &c->status; }
mloop_t *sipc__mloop(call_t *c) { return c->ml; }

/* ---- sockets ---- */

/* Binds a UDP socket on the media address with a port from the configured
 * range (even ports for RTP, RFC 3550 11). Returns fd and port. */
static int open_media_socket(sipfax_t *sf, uint16_t *port_out)
{
    const cfg_t *cfg = sf->cfg;
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICHOST;
    int rc = getaddrinfo(cfg->media_address, NULL, &hints, &ai);
    if (rc != 0)
        return FX_EPARSE;
    int span = (cfg->rtp_port_max - cfg->rtp_port_min + 1) / 2;
    for (int tries = 0; tries < span; tries++) {
        if (sf->next_port < cfg->rtp_port_min || sf->next_port + 1 > cfg->rtp_port_max)
            sf->next_port = cfg->rtp_port_min + (cfg->rtp_port_min & 1);
        int port = sf->next_port;
        sf->next_port += 2;
        int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            rc = -errno;
            freeaddrinfo(ai);
            return rc;
        }
        struct sockaddr_storage sa;
        memcpy(&sa, ai->ai_addr, ai->ai_addrlen);
        if (sa.ss_family == AF_INET)
            ((struct sockaddr_in *)&sa)->sin_port = htons((uint16_t)port);
        else
            ((struct sockaddr_in6 *)&sa)->sin6_port = htons((uint16_t)port);
        if (bind(fd, (struct sockaddr *)&sa, ai->ai_addrlen) == 0) {
            int bufsz = 256 * 1024;
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof bufsz);
            freeaddrinfo(ai);
            *port_out = (uint16_t)port;
            return fd;
        }
        close(fd);
    }
    freeaddrinfo(ai);
    return -EADDRINUSE;
}

static int peer_addr(const char *addr, uint16_t port, struct sockaddr_storage *out,
                     socklen_t *len)
{
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICHOST;
    if (getaddrinfo(addr, NULL, &hints, &ai) != 0)
        return FX_EPARSE;
    memset(out, 0, sizeof *out);
    memcpy(out, ai->ai_addr, ai->ai_addrlen);
    *len = ai->ai_addrlen;
    freeaddrinfo(ai);
    if (out->ss_family == AF_INET)
        ((struct sockaddr_in *)out)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)out)->sin6_port = htons(port);
    return 0;
}

/* ---- SDP ---- */

static void our_t38(const sipfax_t *sf, sdpf_t38_t *t)
{
    sdpf_t38_defaults(t);
    t->max_bitrate = (unsigned)sf->cfg->max_rate;
    t->max_datagram = (unsigned)sf->cfg->t38_max_datagram;
    t->udp_ec = sf->cfg->udptl_ec == CFG_UDPTL_EC_FEC          ? SDPF_EC_FEC
                : sf->cfg->udptl_ec == CFG_UDPTL_EC_REDUNDANCY ? SDPF_EC_REDUNDANCY
                                                               : SDPF_EC_NONE;
}

/* Builds our SDP for the call's current (or proposed) stream. */
static int build_sdp(call_t *c, bool t38, const sdpf_t38_t *t38p, const sdpf_desc_t *offer,
                     char *out, size_t cap)
{
    sdpf_local_t l;
    memset(&l, 0, sizeof l);
    l.user = "faxgate";
    l.sess_id = c->sdp_id;
    l.sess_version = c->sdp_version;
    l.addr = c->sf->cfg->sdp_address[0] ? c->sf->cfg->sdp_address : c->sf->cfg->media_address;
    l.pt_pcmu = -1;
    l.pt_pcma = -1;
    if (t38) {
        l.t38 = true;
        l.t38_port = c->udptl_port;
        l.t38p = *t38p;
        /* In an answer, every offered m= line gets one back (RFC 3264 6). */
        if (offer != NULL && offer->audio.index >= 0)
            l.reject_audio_line = true;
        l.t38_first = offer == NULL || offer->audio.index < 0 || offer->t38.index < offer->audio.index;
    } else {
        l.audio = true;
        l.audio_port = c->rtp_port;
        if (offer != NULL) {
            if (c->alaw)
                l.pt_pcma = c->pt;
            else
                l.pt_pcmu = c->pt;
            if (offer->t38.index >= 0)
                l.reject_t38_line = true;
            l.t38_first = offer->t38.index >= 0 && offer->t38.index < offer->audio.index;
        } else {
            l.pt_pcmu = 0;
            l.pt_pcma = 8;
        }
    }
    return sdpf_build(&l, out, cap);
}

/* ---- life and death of calls ---- */

static void call_free(call_t *c)
{
    sipfax_t *sf = c->sf;
    for (call_t **pp = &sf->calls; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    sf->n_calls--;
    ev_timer_del(sf->main, c->phase_e_timer);
    ev_timer_del(sf->main, c->bye_timer);
    if (c->pending_udptl_fd >= 0)
        close(c->pending_udptl_fd);
    if (c->nh != NULL) {
        nua_handle_bind(c->nh, NULL);
        nua_handle_destroy(c->nh);
    }
    free(c);
    if (sf->shutting_down && sf->n_calls == 0 && sf->idle_cb != NULL) {
        void (*cb)(void *) = sf->idle_cb;
        sf->idle_cb = NULL;
        cb(sf->idle_arg);
    }
}

static call_t *call_new(sipfax_t *sf, nua_handle_t *nh, bool outbound, const char *id)
{
    call_t *c = fx_calloc(1, sizeof *c);
    c->sf = sf;
    c->nh = nh;
    c->no = ++sf->next_no;
    c->outbound = outbound;
    c->pending_udptl_fd = -1;
    if (id != NULL)
        fx_strlcpy(c->id, id, sizeof c->id);
    else
        fx_make_id(c->id);
    snprintf(c->tag, sizeof c->tag, "%s=%s sess=%u", outbound ? "job" : "fax", c->id, c->no);
    c->sdp_id = fx_wall_ms();
    c->sdp_version = 1;
    c->start_ms = fx_now_ms();
    /* The least loaded media loop takes the call for its whole life. */
    int best = 0;
    for (int i = 1; i < sf->n_loops; i++)
        if (atomic_load(&sf->loops[i].n_calls) < atomic_load(&sf->loops[best].n_calls))
            best = i;
    c->ml = &sf->loops[best];
    c->next = sf->calls;
    sf->calls = c;
    sf->n_calls++;
    return c;
}

static void call_finish_result(call_t *c, faxres_status_t st, int sip_status, const char *why)
{
    if (c->have_result)
        return;
    c->have_result = true;
    memset(&c->res, 0, sizeof c->res);
    c->res.status = st;
    c->res.sending = c->sending;
    c->res.pages_total = -1;
    c->res.code = -1;
    fx_strlcpy(c->res.mode, c->t38_active ? "t38" : "g711", sizeof c->res.mode);
    c->res.duration_s = (double)(fx_now_ms() - c->start_ms) / 1000.0;
    if (sip_status > 0)
        snprintf(c->res.code_text, sizeof c->res.code_text, "%s (SIP %d)", why, sip_status);
    else
        fx_strlcpy(c->res.code_text, why, sizeof c->res.code_text);
}

/* Stores a received fax in incoming/ with its record; a call that brought no
 * page leaves a record in failed/ so every call is accounted for. */
static void store_received(call_t *c)
{
    sipfax_t *sf = c->sf;
    char name[40], rec_name[40];
    snprintf(name, sizeof name, "%s.tif", c->id);
    snprintf(rec_name, sizeof rec_name, "%s.rec", c->id);
    spool_rec_t r;
    spool_rec_init(&r);
    spool_rec_add(&r, "id", c->id);
    spool_rec_add(&r, "kind", "received");
    spool_rec_add(&r, "node", sf->cfg->node_name);
    spool_rec_add(&r, "from", c->from);
    spool_rec_add(&r, "to", c->to);
    spool_rec_addf(&r, "time_ms", "%llu", (unsigned long long)fx_wall_ms());
    spool_rec_add(&r, "result", faxres_status_name(c->res.status));
    spool_rec_addf(&r, "pages", "%d", c->res.pages);
    spool_rec_addf(&r, "rate", "%d", c->res.bit_rate);
    spool_rec_add(&r, "ecm", c->res.ecm ? "yes" : "no");
    spool_rec_add(&r, "mode", c->res.mode);
    spool_rec_add(&r, "remote_ident", c->res.remote_ident);
    spool_rec_add(&r, "compression", c->res.compression);
    spool_rec_add(&r, "resolution", c->res.resolution);
    spool_rec_addf(&r, "duration_s", "%.1f", c->res.duration_s);
    spool_rec_addf(&r, "code", "%d", c->res.code);
    spool_rec_add(&r, "reason", c->res.code_text);
    /* The record goes in first and the image follows it: if the record cannot
     * be written (disk full), the image stays in tmp/ and the start-up recovery
     * keeps its confirmed pages as a partial fax once there is room again. */
    const char *sub = "failed";
    int rc = 0;
    bool have_image = c->res.pages > 0 && access(c->file, F_OK) == 0;
    if (have_image) {
        rc = spool_sync_file(c->file);
        if (rc == 0) {
            sub = "incoming";
            spool_rec_add(&r, "image", name);
        } else {
            have_image = false;
            fx_log(FX_LOG_ERR, FX_FAC_QUEUE, "cannot store received fax %s err=%s", c->tag,
                   fx_strerror(rc));
        }
    }
    rc = spool_store_rec(sf->spool, sub, rec_name, &r);
    if (rc < 0) {
        fx_log(FX_LOG_ERR, FX_FAC_QUEUE,
               "cannot store fax record %s err=%s; its pages stay in tmp/ for recovery", c->tag,
               fx_strerror(rc));
    } else if (have_image) {
        rc = spool_move(sf->spool, "tmp", name, "incoming", name);
        if (rc == 0)
            spool_path(sf->spool, "incoming", name, c->file, sizeof c->file);
        else
            fx_log(FX_LOG_ERR, FX_FAC_QUEUE,
                   "cannot move received fax into incoming %s err=%s; recovery will", c->tag,
                   fx_strerror(rc));
    } else if (c->file[0] != '\0') {
        unlink(c->file);
        c->file[0] = '\0';
    }
    if (rc == 0)
        fx_log(FX_LOG_NOTICE, FX_FAC_QUEUE, "fax stored %s folder=%s pages=%d result=%s", c->tag,
               sub, c->res.pages, faxres_status_name(c->res.status));
    /* archive: the record is final; queue it for PostgreSQL (never waits on the DB). */
    if (rc == 0 && sf->cfg->db_dsn[0] != '\0')
        arc_mark(sf->spool, sub, c->id);
    spool_rec_free(&r);
}

static void call_report(call_t *c)
{
    c->res.sip_status = c->connected ? 0 : c->sip_status;
    c->res.connected = c->connected || !c->outbound;
    sipfax_call_info_t info = { c->id, c->outbound, c->from, c->to, c->file };
    char line[512];
    faxres_format(&c->res, line, sizeof line);
    fx_log(FX_LOG_NOTICE, FX_FAC_SIP, "call ended %s from=%s to=%s %s", c->tag, c->from, c->to,
           line);
    if (!c->sending && !c->outbound)
        store_received(c);
    if (c->cb != NULL)
        c->cb(c->cb_arg, &info, &c->res);
    else if (!c->outbound && c->sf->on_rx != NULL)
        c->sf->on_rx(c->sf->on_rx_arg, &info, &c->res);
}

/* The media loop has let go of the call: report and free. */
void sipc__media_closed(call_t *c)
{
    if (!c->have_result)
        call_finish_result(c, FAXRES_FAILED, 0, "call ended before the fax started");
    call_report(c);
    call_free(c);
}

static void call_close(call_t *c)
{
    if (c->media_closing)
        return;
    c->media_closing = true;
    call_set_state(c, CALL_ST_CLOSING);
    if (c->media_started) {
        sipm__close(c);
    } else {
        sipc__media_closed(c);
    }
}

static void send_bye(call_t *c)
{
    if (c->bye_sent || c->terminated)
        return;
    c->bye_sent = true;
    call_set_state(c, CALL_ST_ENDING);
    if (c->state == CALL_ST_INVITING)
        nua_cancel(c->nh, TAG_END());
    else
        nua_bye(c->nh, TAG_END());
}

static void on_bye_timer(ev_loop_t *l, ev_timer_t *t, uint64_t exp, void *arg)
{
    call_t *c = arg;
    (void)l;
    (void)exp;
    ev_timer_del(c->sf->main, t);
    c->bye_timer = NULL;
    send_bye(c);
}

/* Media reports phase E: hang up shortly after, so the last frames (DCN, the
 * final MCF) leave before the BYE (T.30 clause 5.3.2.5). */
void sipc__page(call_t *c, int page)
{
    if (c->send_ops != NULL && c->send_ops->page != NULL)
        c->send_ops->page(c->cb_arg, page); /* fxe counts from page 1 of the file */
}

void sipc__done(call_t *c, const faxres_t *r)
{
    if (!c->have_result) {
        c->have_result = true;
        c->res = *r;
    }
    if (c->terminated) {
        call_close(c);
        return;
    }
    call_set_state(c, CALL_ST_ENDING);
    if (c->bye_timer == NULL && !c->bye_sent)
        c->bye_timer = ev_timer_add(c->sf->main, 500, 0, on_bye_timer, c);
}

static void on_phase_e_timer(ev_loop_t *l, ev_timer_t *t, uint64_t exp, void *arg)
{
    call_t *c = arg;
    (void)l;
    (void)exp;
    ev_timer_del(c->sf->main, t);
    c->phase_e_timer = NULL;
    fx_log(FX_LOG_WARN, FX_FAC_SIP, "phase E timer expired %s limit_s=%d", c->tag,
           c->sf->cfg->phase_e_timeout);
    if (c->media_started)
        sipm__abort(c, "call time limit reached");
    else
        call_finish_result(c, FAXRES_FAILED, 0, "call time limit reached");
    send_bye(c);
    if (c->bye_timer == NULL)
        c->bye_timer = ev_timer_add(c->sf->main, 2000, 0, on_bye_timer, c);
}

/* ---- starting media ---- */

static void fill_fxe_params(call_t *c, media_start_t *ms)
{
    const cfg_t *cfg = c->sf->cfg;
    ms->fp.calling = c->outbound;
    ms->fp.sending = c->sending;
    ms->fp.start_page = c->start_page;
    ms->fp.ecm = cfg->ecm;
    ms->fp.max_rate = cfg->max_rate;
    ms->fp.detect_tones = cfg->t38_reinvite && c->t38_policy != CFG_T38_NEVER;
    fx_strlcpy(ms->ident, cfg->local_ident, sizeof ms->ident);
    fx_strlcpy(ms->header, cfg->header_info, sizeof ms->header);
    fx_strlcpy(ms->tag, c->tag, sizeof ms->tag);
    if (c->sending)
        fx_strlcpy(ms->tx_file, c->file, sizeof ms->tx_file);
    else
        fx_strlcpy(ms->rx_file, c->file, sizeof ms->rx_file);
}

static void t38_params_from(const sdpf_t38_t *peer, const sdpf_t38_t *agreed,
                            fxe_t38_params_t *tp)
{
    tp->version = agreed->version;
    /* Honour the peer's T38FaxMaxDatagram; with none stated, assume the
     * conservative 72 bytes some gateways use. */
    tp->max_datagram = peer->max_datagram > 0 ? (int)peer->max_datagram : 72;
    tp->transferred_tcf = agreed->rate_mgmt == SDPF_RM_TRANSFERRED_TCF;
}

static int udptl_ec_of(sdpf_ec_t ec)
{
    return ec == SDPF_EC_FEC ? UDPTL_EC_FEC : ec == SDPF_EC_REDUNDANCY ? UDPTL_EC_REDUNDANCY
                                                                     : UDPTL_EC_NONE;
}

static int start_media(call_t *c, int rtp_fd, const sdpf_desc_t *peer, bool t38, int udptl_fd,
                       const sdpf_t38_t *agreed)
{
    media_start_t ms;
    memset(&ms, 0, sizeof ms);
    fill_fxe_params(c, &ms);
    ms.rtp_fd = rtp_fd;
    ms.udptl_fd = -1;
    ms.pt = c->pt;
    ms.alaw = c->alaw;
    ms.playout_delay_ms = (unsigned)c->sf->cfg->playout_delay_ms;
    ms.media_timeout_s = (unsigned)c->sf->cfg->media_timeout;
    if (peer->audio.present)
        peer_addr(peer->audio.addr, peer->audio.port, &ms.rtp_peer, &ms.rtp_peer_len);
    if (t38) {
        ms.t38 = true;
        ms.udptl_fd = udptl_fd;
        peer_addr(peer->t38.addr, peer->t38.port, &ms.udptl_peer, &ms.udptl_peer_len);
        t38_params_from(&peer->t38.t38, agreed, &ms.tp);
        ms.udptl_ec = udptl_ec_of(agreed->udp_ec);
        ms.udptl_depth = c->sf->cfg->udptl_redundancy;
    }
    c->media_started = true;
    call_set_state(c, CALL_ST_ACTIVE);
    int timeout = c->sf->cfg->phase_e_timeout;
    c->phase_e_timer = ev_timer_add(c->sf->main, (uint64_t)timeout * 1000, 0, on_phase_e_timer, c);
    return sipm__start(c->ml, c, &ms);
}

/* Our own re-INVITE to image/t38 (T.38 Annex D.2.2), on CED/V.21 detection or
 * because policy requires T.38. */
static void send_t38_reinvite(call_t *c, const char *why)
{
    if (c->t38_active || c->reinvite_pending || c->t38_tried || c->state != CALL_ST_ACTIVE
        || c->bye_sent)
        return;
    uint16_t port = 0;
    int fd = open_media_socket(c->sf, &port);
    if (fd < 0) {
        fx_log(FX_LOG_ERR, FX_FAC_SIP, "no port for T.38 %s err=%s", c->tag, fx_strerror(fd));
        return;
    }
    c->pending_udptl_fd = fd;
    c->udptl_port = port;
    c->reinvite_pending = true;
    c->t38_tried = true;
    our_t38(c->sf, &c->t38_local);
    c->sdp_version++;
    char sdp[2048];
    if (build_sdp(c, true, &c->t38_local, NULL, sdp, sizeof sdp) < 0)
        return;
    fx_log(FX_LOG_NOTICE, FX_FAC_SIP, "re-INVITE to T.38 %s why=\"%s\"", c->tag, why);
    nua_invite(c->nh, SIPTAG_CONTENT_TYPE_STR("application/sdp"), SIPTAG_PAYLOAD_STR(sdp),
               TAG_END());
}

void sipc__tone(call_t *c, const char *what)
{
    if (c->sf->cfg->t38_reinvite && c->t38_policy != CFG_T38_NEVER)
        send_t38_reinvite(c, what);
}

/* ---- incoming requests ---- */

static void respond_488(nua_handle_t *nh, const char *why)
{
    char warn[300];
    /* RFC 3261 20.43: 399 is the miscellaneous warning, text in quotes. */
    snprintf(warn, sizeof warn, "399 faxgate \"%s\"", why);
    for (char *p = warn + 13; *p; p++)
        if (*p == '"' && p[1] != '\0')
            *p = '\'';
    nua_respond(nh, 488, "Not Acceptable Here", SIPTAG_WARNING_STR(warn), TAG_END());
}

static void user_of(const url_t *u, char *out, size_t len)
{
    if (u != NULL && u->url_user != NULL)
        fx_strlcpy(out, u->url_user, len);
    else
        fx_strlcpy(out, "", len);
    /* Keep only characters that are safe in a log line and a record. */
    for (char *p = out; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || *p == '+' || *p == '-' || *p == '.' || *p == '_' || *p == '*' || *p == '#'))
            *p = '_';
}

static void new_incoming(sipfax_t *sf, nua_handle_t *nh, const sip_t *sip)
{
    if (sf->shutting_down) {
        nua_respond(nh, 503, "Service Unavailable", SIPTAG_RETRY_AFTER_STR("60"), TAG_END());
        nua_handle_destroy(nh);
        return;
    }
    sdpf_desc_t peer;
    char why[200];
    if (sip->sip_payload == NULL || sip->sip_payload->pl_len == 0) {
        /* XXX: an INVITE without offer (we would offer in the 200) is not supported yet. */
        respond_488(nh, "INVITE without SDP offer is not supported");
        nua_handle_destroy(nh);
        return;
    }
    if (sdpf_parse(sip->sip_payload->pl_data, sip->sip_payload->pl_len, &peer, why, sizeof why)
        < 0) {
        fx_log(FX_LOG_NOTICE, FX_FAC_SIP, "INVITE refused: bad SDP why=\"%s\"", why);
        respond_488(nh, why);
        nua_handle_destroy(nh);
        return;
    }
    const cfg_t *cfg = sf->cfg;
    bool use_t38 = peer.t38.present && cfg->t38_policy != CFG_T38_NEVER;
    bool use_audio = !use_t38 && peer.audio.present && (peer.audio.pt_pcmu >= 0 || peer.audio.pt_pcma >= 0);
    if (!use_t38 && !use_audio) {
        const char *r = peer.t38.present ? "T.38 is disabled here and no G.711 audio was offered"
                                         : "no usable media: need PCMU/PCMA audio or image/t38";
        fx_log(FX_LOG_NOTICE, FX_FAC_SIP, "INVITE refused why=\"%s\"", r);
        respond_488(nh, r);
        nua_handle_destroy(nh);
        return;
    }
    call_t *c = call_new(sf, nh, false, NULL);
    nua_handle_bind(nh, c);
    c->t38_policy = cfg->t38_policy;
    user_of(sip->sip_from ? sip->sip_from->a_url : NULL, c->from, sizeof c->from);
    user_of(sip->sip_request ? sip->sip_request->rq_url : NULL, c->to, sizeof c->to);
    char name[40];
    snprintf(name, sizeof name, "%s.tif", c->id);
    int rc = spool_create_tmp(sf->spool, name, c->file, sizeof c->file);
    if (rc < 0) {
        /* Reception needs somewhere durable to put pages: refuse clearly. */
        fx_log(FX_LOG_ERR, FX_FAC_SIP, "INVITE refused: spool unusable %s err=%s", c->tag,
               fx_strerror(rc));
        nua_respond(nh, 503, "Spool Unavailable", TAG_END());
        call_finish_result(c, FAXRES_FAILED, 503, "spool unusable");
        call_close(c);
        return;
    }
    int rtp_fd = -1, udptl_fd = -1;
    if (peer.audio.present || !use_t38)
        rtp_fd = open_media_socket(sf, &c->rtp_port);
    if (use_t38)
        udptl_fd = open_media_socket(sf, &c->udptl_port);
    if ((use_audio && rtp_fd < 0) || (use_t38 && udptl_fd < 0)) {
        fx_log(FX_LOG_ERR, FX_FAC_SIP, "INVITE refused: no media port %s", c->tag);
        nua_respond(nh, 503, "No Media Ports", TAG_END());
        if (rtp_fd >= 0)
            close(rtp_fd);
        if (udptl_fd >= 0)
            close(udptl_fd);
        call_finish_result(c, FAXRES_FAILED, 503, "no media port");
        call_close(c);
        return;
    }
    if (peer.audio.pt_pcmu >= 0) {
        c->pt = peer.audio.pt_pcmu;
        c->alaw = false;
    } else {
        c->pt = peer.audio.pt_pcma >= 0 ? peer.audio.pt_pcma : 0;
        c->alaw = peer.audio.pt_pcma >= 0;
    }
    sdpf_t38_t agreed;
    char sdp[2048];
    if (use_t38) {
        sdpf_t38_t ours;
        our_t38(sf, &ours);
        sdpf_t38_answer(&peer.t38.t38, &ours, &agreed);
        c->t38_local = agreed;
        c->t38_active = true;
        rc = build_sdp(c, true, &agreed, &peer, sdp, sizeof sdp);
    } else {
        rc = build_sdp(c, false, NULL, &peer, sdp, sizeof sdp);
    }
    fx_log(FX_LOG_NOTICE, FX_FAC_SIP, "incoming call %s from=%s to=%s mode=%s", c->tag, c->from,
           c->to, use_t38 ? "t38" : "g711");
    nua_respond(nh, 200, "OK", SIPTAG_CONTENT_TYPE_STR("application/sdp"),
                SIPTAG_PAYLOAD_STR(sdp), TAG_END());
    call_set_state(c, CALL_ST_ANSWERED);
    start_media(c, rtp_fd, &peer, use_t38, udptl_fd, &agreed);
}

/* A re-INVITE from the peer: a switch to T.38, or a session refresh. */
static void re_invite(call_t *c, const sip_t *sip)
{
    sdpf_desc_t peer;
    char why[200];
    char sdp[2048];
    if (c->reinvite_pending) {
        /* Glare (RFC 3261 14.2): our own re-INVITE is outstanding. */
        nua_respond(c->nh, 491, "Request Pending", TAG_END());
        return;
    }
    if (sip->sip_payload == NULL || sip->sip_payload->pl_len == 0) {
        /* No offer: we offer our current session unchanged (RFC 3264 8). */
        build_sdp(c, c->t38_active, &c->t38_local, NULL, sdp, sizeof sdp);
        nua_respond(c->nh, 200, "OK", SIPTAG_CONTENT_TYPE_STR("application/sdp"),
                    SIPTAG_PAYLOAD_STR(sdp), TAG_END());
        return;
    }
    if (sdpf_parse(sip->sip_payload->pl_data, sip->sip_payload->pl_len, &peer, why, sizeof why)
        < 0) {
        fx_log(FX_LOG_NOTICE, FX_FAC_SIP, "re-INVITE refused: bad SDP %s why=\"%s\"", c->tag, why);
        respond_488(c->nh, why);
        return;
    }
    if (peer.t38.present && !c->t38_active) {
        if (c->t38_policy == CFG_T38_NEVER) {
            fx_log(FX_LOG_NOTICE, FX_FAC_SIP, "re-INVITE to T.38 refused by policy %s", c->tag);
            respond_488(c->nh, "T.38 is disabled on this line");
            return;
        }
        uint16_t port = 0;
        int fd = open_media_socket(c->sf, &port);
        if (fd < 0) {
            respond_488(c->nh, "no UDPTL port available");
            return;
        }
        c->udptl_port = port;
        sdpf_t38_t ours, agreed;
        our_t38(c->sf, &ours);
        sdpf_t38_answer(&peer.t38.t38, &ours, &agreed);
        c->t38_local = agreed;
        c->t38_active = true;
        c->sdp_version++;
        build_sdp(c, true, &agreed, &peer, sdp, sizeof sdp);
        media_switch_t sw;
        memset(&sw, 0, sizeof sw);
        sw.udptl_fd = fd;
        peer_addr(peer.t38.addr, peer.t38.port, &sw.udptl_peer, &sw.udptl_peer_len);
        t38_params_from(&peer.t38.t38, &agreed, &sw.tp);
        sw.udptl_ec = udptl_ec_of(agreed.udp_ec);
        sw.udptl_depth = c->sf->cfg->udptl_redundancy;
        fx_log(FX_LOG_NOTICE, FX_FAC_SIP, "peer re-INVITE to T.38 accepted %s", c->tag);
        nua_respond(c->nh, 200, "OK", SIPTAG_CONTENT_TYPE_STR("application/sdp"),
                    SIPTAG_PAYLOAD_STR(sdp), TAG_END());
        if (c->media_started)
            sipm__switch_t38(c, &sw);
        else
            close(fd);
        return;
    }
    if (!peer.t38.present && c->t38_active) {
        /* XXX: SpanDSP 0.0.6 cannot hand a T.38 session back to audio mid-fax. */
        respond_488(c->nh, "switching back from T.38 to audio is not supported");
        return;
    }
    /* Same media: a session refresh (RFC 4028) or a hold/address change. The
     * session is unchanged, so our answer keeps its version (RFC 3264 8). */
    struct sockaddr_storage a;
    socklen_t alen;
    const sdpf_media_t *pm = c->t38_active ? &peer.t38 : &peer.audio;
    if (pm->present && peer_addr(pm->addr, pm->port, &a, &alen) == 0 && c->media_started)
        sipm__set_peer(c, c->t38_active, &a, alen);
    build_sdp(c, c->t38_active, &c->t38_local, &peer, sdp, sizeof sdp);
    fx_log(FX_LOG_INFO, FX_FAC_SIP, "session refresh answered %s", c->tag);
    nua_respond(c->nh, 200, "OK", SIPTAG_CONTENT_TYPE_STR("application/sdp"),
                SIPTAG_PAYLOAD_STR(sdp), TAG_END());
}

/* ---- responses to our requests ---- */

static const char *sip_failure_words(int status)
{
    switch (status) {
    case 486:
    case 600: return "busy";
    case 408:
    case 480:
    case 487: return "no answer";
    case 404:
    case 484:
    case 604: return "number does not exist";
    case 403:
    case 603: return "call refused";
    case 401:
    case 407: return "authentication failed";
    case 488:
    case 606: return "far end cannot take fax media";
    case 503: return "far end unavailable";
    default: return status >= 500 ? "far end error" : "call failed";
    }
}

static bool authenticate(call_t *c, nua_handle_t *nh, const sip_t *sip, const cfg_trunk_t *tr)
{
    if (tr == NULL || tr->username[0] == '\0')
        return false;
    const char *realm = tr->realm;
    char rbuf[128] = "";
    if (realm[0] == '\0') {
        const msg_auth_t *au = sip->sip_www_authenticate ? sip->sip_www_authenticate
                                                         : sip->sip_proxy_authenticate;
        const char *rp = au ? msg_header_find_param(au->au_common, "realm=") : NULL;
        if (rp == NULL)
            return false;
        fx_strlcpy(rbuf, rp, sizeof rbuf);
        realm = rbuf;
    }
    char auth[512];
    /* NUTAG_AUTH wants scheme:"realm":user:password; the realm keeps its quotes. */
    if (realm[0] == '"')
        snprintf(auth, sizeof auth, "Digest:%s:%s:%s", realm, tr->username, tr->password);
    else
        snprintf(auth, sizeof auth, "Digest:\"%s\":%s:%s", realm, tr->username, tr->password);
    if (c != NULL)
        fx_log(FX_LOG_INFO, FX_FAC_SIP, "authenticating %s user=%s", c->tag, tr->username);
    nua_authenticate(nh, NUTAG_AUTH(auth), TAG_END());
    return true;
}

static void invite_response(call_t *c, int status, const char *phrase, const sip_t *sip)
{
    if (status < 200)
        return;
    if (c->reinvite_pending) {
        /* Answer to our re-INVITE to T.38. */
        c->reinvite_pending = false;
        sdpf_desc_t peer;
        char why[200] = "";
        if (status == 200 && sip != NULL && sip->sip_payload != NULL
            && sdpf_parse(sip->sip_payload->pl_data, sip->sip_payload->pl_len, &peer, why,
                          sizeof why) == 0
            && peer.t38.present) {
            sdpf_t38_t agreed = c->t38_local;
            /* The answer carries the agreed version; our side follows it. */
            agreed.version = peer.t38.t38.version < agreed.version ? peer.t38.t38.version : agreed.version;
            agreed.udp_ec = peer.t38.t38.udp_ec;
            media_switch_t sw;
            memset(&sw, 0, sizeof sw);
            sw.udptl_fd = c->pending_udptl_fd;
            c->pending_udptl_fd = -1;
            peer_addr(peer.t38.addr, peer.t38.port, &sw.udptl_peer, &sw.udptl_peer_len);
            t38_params_from(&peer.t38.t38, &agreed, &sw.tp);
            sw.udptl_ec = udptl_ec_of(agreed.udp_ec);
            sw.udptl_depth = c->sf->cfg->udptl_redundancy;
            c->t38_active = true;
            c->t38_local = agreed;
            fx_log(FX_LOG_NOTICE, FX_FAC_SIP, "T.38 accepted by peer %s", c->tag);
            sipm__switch_t38(c, &sw);
            return;
        }
        /* Refused (488/606) or unusable: stay on audio with ECM; our SDP state
         * goes back to the audio session (the o= version keeps increasing). */
        if (c->pending_udptl_fd >= 0) {
            close(c->pending_udptl_fd);
            c->pending_udptl_fd = -1;
        }
        c->udptl_port = 0;
        fx_log(FX_LOG_NOTICE, FX_FAC_SIP,
               "re-INVITE to T.38 refused, staying on audio %s status=%d why=\"%s\"", c->tag,
               status, status == 200 ? (why[0] ? why : "answer has no image/t38") : phrase);
        if (status == 200) {
            /* The peer accepted something other than T.38: drop the call rather than
             * run media that disagrees with the SDP. */
            send_bye(c);
            return;
        }
        if (c->t38_policy == CFG_T38_REQUIRE) {
            call_finish_result(c, FAXRES_FAILED, status, "T.38 required but refused by far end");
            sipm__abort(c, "T.38 required");
            send_bye(c);
        }
        return;
    }
    if (c->state != CALL_ST_INVITING)
        return;
    c->sip_status = status;
    if (status == 401 || status == 407) {
        if (c->auth_tries++ < 2 && authenticate(c, c->nh, sip, c->trunk))
            return;
    }
    if (status >= 300) {
        fx_log(FX_LOG_NOTICE, FX_FAC_SIP, "call failed %s status=%d phrase=\"%s\"", c->tag,
               status, phrase);
        /* A 403 (or another challenge) after we sent credentials means the
         * password was wrong, whatever the phrase says. */
        const char *words = (c->auth_tries > 0 && (status == 403 || status == 401 || status == 407))
                                ? "authentication failed"
                                : sip_failure_words(status);
        call_finish_result(c, FAXRES_FAILED, status, words);
        c->terminated = true;
        call_close(c);
        return;
    }
    sdpf_desc_t peer;
    char why[200];
    if (sip == NULL || sip->sip_payload == NULL
        || sdpf_parse(sip->sip_payload->pl_data, sip->sip_payload->pl_len, &peer, why, sizeof why)
               < 0) {
        fx_log(FX_LOG_NOTICE, FX_FAC_SIP, "answer has no usable SDP %s", c->tag);
        call_finish_result(c, FAXRES_FAILED, status, "answer without usable SDP");
        send_bye(c);
        return;
    }
    c->connected = true;
    if (c->send_ops != NULL && c->send_ops->connected != NULL)
        c->send_ops->connected(c->cb_arg);
    bool t38 = c->t38_policy == CFG_T38_REQUIRE && peer.t38.present;
    if (!t38 && !(peer.audio.present && (peer.audio.pt_pcmu >= 0 || peer.audio.pt_pcma >= 0))) {
        call_finish_result(c, FAXRES_FAILED, status, "answer has no media we offered");
        send_bye(c);
        return;
    }
    int rtp_fd = -1;
    if (!t38) {
        /* The rtp socket was bound when we offered; it is re-opened here on the same port
         * is not possible, so the offer's socket was kept in pending_udptl_fd's twin. */
        rtp_fd = c->pending_udptl_fd;
        c->pending_udptl_fd = -1;
        if (peer.audio.pt_pcmu >= 0) {
            c->pt = peer.audio.pt_pcmu;
            c->alaw = false;
        } else {
            c->pt = peer.audio.pt_pcma;
            c->alaw = true;
        }
        start_media(c, rtp_fd, &peer, false, -1, NULL);
    } else {
        int fd = c->pending_udptl_fd;
        c->pending_udptl_fd = -1;
        sdpf_t38_t agreed = c->t38_local;
        agreed.version = peer.t38.t38.version < agreed.version ? peer.t38.t38.version : agreed.version;
        agreed.udp_ec = peer.t38.t38.udp_ec;
        c->t38_active = true;
        start_media(c, -1, &peer, true, fd, &agreed);
    }
    fx_log(FX_LOG_NOTICE, FX_FAC_SIP, "call answered %s mode=%s", c->tag, t38 ? "t38" : "g711");
}

/* ---- the nua callback ---- */

static void on_state(call_t *c, tagi_t tags[])
{
    int cs = nua_callstate_init;
    tl_gets(tags, NUTAG_CALLSTATE_REF(cs), TAG_END());
    if (cs == nua_callstate_ready && c->state == CALL_ST_ANSWERED)
        call_set_state(c, CALL_ST_ACTIVE);
    if (cs == nua_callstate_ready && !c->outbound && c->t38_policy == CFG_T38_REQUIRE
        && !c->t38_active)
        send_t38_reinvite(c, "policy requires T.38");
    if (cs == nua_callstate_terminated) {
        c->terminated = true;
        if (c->media_started && !c->have_result)
            sipm__abort(c, "far end hung up");
        call_close(c);
    }
}

static void on_register(sipfax_t *sf, int status, const char *phrase, nua_handle_t *nh,
                        const sip_t *sip)
{
    int i;
    for (i = 0; i < sf->cfg->n_trunks; i++)
        if (sf->reg[i] == nh)
            break;
    if (i == sf->cfg->n_trunks)
        return;
    const cfg_trunk_t *tr = &sf->cfg->trunks[i];
    if (status == 401 || status == 407) {
        if (authenticate(NULL, nh, sip, tr))
            return;
    }
    if (status >= 200)
        fx_log(status < 300 ? FX_LOG_NOTICE : FX_LOG_WARN, FX_FAC_SIP,
               "register trunk=%s status=%d phrase=\"%s\"%s", tr->name, status, phrase,
               /* sofia answers 904 when a second challenge follows our credentials */
               status == 904 || status == 403 ? " why=\"authentication failed: check the "
                                                "trunk's username and password\""
                                              : "");
}

static void nua_cb(nua_event_t event, int status, char const *phrase, nua_t *nua,
                   nua_magic_t *magic, nua_handle_t *nh, nua_hmagic_t *hmagic, sip_t const *sip,
                   tagi_t tags[])
{
    sipfax_t *sf = (sipfax_t *)magic;
    call_t *c = (call_t *)hmagic;
    (void)nua;
    switch (event) {
    case nua_i_invite:
        if (c == NULL)
            new_incoming(sf, nh, sip);
        else
            re_invite(c, sip);
        break;
    case nua_r_invite:
        if (c != NULL)
            invite_response(c, status, phrase, sip);
        break;
    case nua_i_state:
        if (c != NULL)
            on_state(c, tags);
        break;
    case nua_i_bye:
        if (c != NULL)
            fx_log(FX_LOG_INFO, FX_FAC_SIP, "BYE from far end %s", c->tag);
        break;
    case nua_i_cancel:
        if (c != NULL)
            fx_log(FX_LOG_INFO, FX_FAC_SIP, "CANCEL from far end %s", c->tag);
        break;
    case nua_r_register:
    case nua_r_unregister:
        on_register(sf, status, phrase, nh, sip);
        break;
    case nua_r_shutdown:
        if (status >= 200)
            sf->nua_shutdown_done = true;
        break;
    case nua_i_error:
        fx_log(FX_LOG_WARN, FX_FAC_SIP, "sip error status=%d phrase=\"%s\"", status, phrase);
        break;
    case nua_i_options:
    case nua_i_ack:
    case nua_i_active:
    case nua_i_terminated:
    case nua_r_bye:
    case nua_r_cancel:
        break;
    default:
        if (c == NULL && nh != NULL && event == nua_i_outbound)
            break;
        if (status > 100 && nh != NULL && c == NULL && event < nua_r_set_params
            && event != nua_i_state) {
            /* Requests we do not handle outside a call. */
            nua_handle_destroy(nh);
        }
        break;
    }
}

/* ---- hosting our main ev loop inside sofia's reactor ---- */

static int on_ev_ready(su_root_magic_t *magic, su_wait_t *w, su_wakeup_arg_t *arg)
{
    sipfax_t *sf = (sipfax_t *)arg;
    (void)magic;
    (void)w;
    ev_run_once(sf->main, 0);
    return 0;
}

__attribute__((format(printf, 2, 0))) static void sofia_log(void *stream, char const *fmt,
                                                             va_list ap)
{
    (void)stream;
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    fx_log(FX_LOG_DEBUG, FX_FAC_SIP, "sofia %s", buf);
}

static void start_registrations(sipfax_t *sf)
{
    for (int i = 0; i < sf->cfg->n_trunks; i++) {
        const cfg_trunk_t *tr = &sf->cfg->trunks[i];
        if (!tr->do_register || tr->username[0] == '\0')
            continue;
        char aor[256], registrar[256], expires[16];
        snprintf(aor, sizeof aor, "sip:%s@%s", tr->username, tr->host);
        snprintf(registrar, sizeof registrar, "sip:%s:%d;transport=%s", tr->host, tr->port,
                 tr->transport);
        snprintf(expires, sizeof expires, "%d", tr->register_expires);
        sf->reg[i] = nua_handle(sf->nua, NULL, SIPTAG_TO_STR(aor), SIPTAG_FROM_STR(aor), TAG_END());
        nua_register(sf->reg[i], NUTAG_REGISTRAR(registrar), NUTAG_M_USERNAME(tr->username),
                     SIPTAG_EXPIRES_STR(expires), TAG_END());
        fx_log(FX_LOG_INFO, FX_FAC_SIP, "register trunk=%s aor=%s", tr->name, aor);
    }
}

int sipfax_new(const cfg_t *cfg, ev_loop_t *main_loop, spool_t *spool, sipfax_done_cb on_rx,
               void *on_rx_arg, sipfax_t **out)
{
    sipfax_t *sf = fx_calloc(1, sizeof *sf);
    sf->cfg = cfg;
    sf->main = main_loop;
    sf->spool = spool;
    sf->on_rx = on_rx;
    sf->on_rx_arg = on_rx_arg;
    sf->next_port = cfg->rtp_port_min;
    su_init();
    su_home_init(sf->home);
    su_log_redirect(NULL, sofia_log, NULL);
    sf->root = su_root_create((su_root_magic_t *)sf);
    if (sf->root == NULL) {
        fx_log(FX_LOG_ERR, FX_FAC_SIP, "sofia reactor could not start");
        free(sf);
        return -ENOMEM;
    }
    su_wait_create(sf->wait, ev_fd(main_loop), SU_WAIT_IN);
    su_root_register(sf->root, sf->wait, on_ev_ready, (su_wakeup_arg_t *)sf, 0);

    char url[256];
    const char *host = cfg->sip_address;
    bool v6 = strchr(host, ':') != NULL;
    const char *tp = cfg->sip_udp && cfg->sip_tcp ? "" : cfg->sip_udp ? ";transport=udp"
                                                                     : ";transport=tcp";
    snprintf(url, sizeof url, "sip:%s%s%s:%d%s", v6 ? "[" : "", host, v6 ? "]" : "",
             cfg->sip_port, tp);
    sf->nua = nua_create(sf->root, nua_cb, (nua_magic_t *)sf, NUTAG_URL(url),
                         NUTAG_MEDIA_ENABLE(0), SIPTAG_USER_AGENT_STR(cfg->sip_user_agent),
                         /* Advertise only what we handle (sofia's defaults add PRACK,
                          * MESSAGE, SUBSCRIBE, NOTIFY, REFER and 100rel). */
                         SIPTAG_ALLOW_STR("INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE"),
                         SIPTAG_SUPPORTED_STR("timer"),
                         NUTAG_SESSION_TIMER((unsigned)cfg->session_expires),
                         NUTAG_AUTOANSWER(0), NUTAG_ENABLEINVITE(1), TAG_END());
    if (sf->nua == NULL) {
        fx_log(FX_LOG_ERR, FX_FAC_SIP, "cannot listen for SIP url=%s (address in use?)", url);
        su_root_destroy(sf->root);
        su_home_deinit(sf->home);
        free(sf);
        return -EADDRINUSE;
    }
    fx_log(FX_LOG_NOTICE, FX_FAC_SIP, "listening url=%s", url);
    int n = cfg->media_loops;
    if (n <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n = cores > 0 ? (int)cores : 1;
    }
    if (n > MAX_MEDIA_LOOPS)
        n = MAX_MEDIA_LOOPS;
    for (int i = 0; i < n; i++) {
        int rc = sipm__loop_start(&sf->loops[i], i);
        if (rc < 0) {
            fx_log(FX_LOG_ERR, FX_FAC_SIP, "media loop %d failed err=%s", i, fx_strerror(rc));
            sf->n_loops = i;
            sipfax_free(sf);
            return rc;
        }
        sf->n_loops = i + 1;
    }
    start_registrations(sf);
    *out = sf;
    return 0;
}

void sipfax_free(sipfax_t *sf)
{
    if (sf == NULL)
        return;
    if (sf->nua != NULL) {
        nua_shutdown(sf->nua);
        uint64_t until = fx_now_ms() + 3000;
        while (!sf->nua_shutdown_done && fx_now_ms() < until)
            su_root_step(sf->root, 100);
        nua_destroy(sf->nua);
    }
    for (int i = 0; i < sf->n_loops; i++)
        sipm__loop_stop(&sf->loops[i]);
    su_root_unregister(sf->root, sf->wait, on_ev_ready, (su_wakeup_arg_t *)sf);
    su_root_destroy(sf->root);
    su_home_deinit(sf->home);
    su_deinit();
    free(sf);
}

void sipfax_run(sipfax_t *sf)
{
    su_root_run(sf->root);
}

void sipfax_stop(sipfax_t *sf)
{
    su_root_break(sf->root);
}

static void on_grace(ev_loop_t *l, ev_timer_t *t, uint64_t exp, void *arg)
{
    sipfax_t *sf = arg;
    (void)l;
    (void)exp;
    ev_timer_del(sf->main, t);
    sf->grace_timer = NULL;
    for (call_t *c = sf->calls; c != NULL; c = c->next) {
        fx_log(FX_LOG_WARN, FX_FAC_SIP, "shutdown: ending call %s", c->tag);
        if (c->media_started && !c->have_result)
            sipm__abort(c, "faxd shutting down");
        else if (!c->have_result)
            call_finish_result(c, FAXRES_FAILED, 0, "faxd shutting down");
        send_bye(c);
    }
}

void sipfax_shutdown(sipfax_t *sf, unsigned grace_ms, void (*cb)(void *), void *arg)
{
    sf->shutting_down = true;
    sf->idle_cb = cb;
    sf->idle_arg = arg;
    for (int i = 0; i < sf->cfg->n_trunks; i++)
        if (sf->reg[i] != NULL)
            nua_unregister(sf->reg[i], TAG_END());
    if (sf->n_calls == 0) {
        sf->idle_cb = NULL;
        cb(arg);
        return;
    }
    fx_log(FX_LOG_NOTICE, FX_FAC_SIP, "shutdown: waiting for calls=%d grace_ms=%u", sf->n_calls,
           grace_ms);
    sf->grace_timer = ev_timer_add(sf->main, grace_ms, 0, on_grace, sf);
}

int sipfax_send(sipfax_t *sf, const char *dest, const char *tiff, int start_page,
                const char *job_id, const sipfax_send_ops_t *ops, void *arg)
{
    const cfg_t *cfg = sf->cfg;
    if (sf->shutting_down)
        return FX_ESTATE;
    char uri[512];
    const cfg_trunk_t *tr = NULL;
    char number[64] = "";
    if (strncmp(dest, "sip:", 4) == 0) {
        fx_strlcpy(uri, dest, sizeof uri);
        const char *at = strchr(dest + 4, '@');
        if (at != NULL && (size_t)(at - dest - 4) < sizeof number)
            fx_strlcpy(number, dest + 4, (size_t)(at - dest - 4) + 1);
    } else {
        for (const char *p = dest; *p; p++)
            if (!((*p >= '0' && *p <= '9') || *p == '+' || *p == '*' || *p == '#'))
                return FX_EPARSE;
        tr = cfg_trunk_for(cfg, dest);
        if (tr == NULL)
            return FX_ENOTFOUND;
        fx_strlcpy(number, dest, sizeof number);
        snprintf(uri, sizeof uri, "sip:%s@%s:%d;transport=%s", dest, tr->host, tr->port,
                 tr->transport);
    }
    if (access(tiff, R_OK) != 0)
        return -errno;
    char from[256];
    const char *fu = tr && tr->from_user[0] ? tr->from_user
                     : tr && tr->username[0] ? tr->username
                                            : "faxgate";
    snprintf(from, sizeof from, "<sip:%s@%s>", fu, tr ? tr->host : cfg->sip_address);
    nua_handle_t *nh = nua_handle(sf->nua, NULL, NUTAG_URL(uri), SIPTAG_TO_STR(uri),
                                  SIPTAG_FROM_STR(from), TAG_END());
    if (nh == NULL)
        return -ENOMEM;
    call_t *c = call_new(sf, nh, true, job_id);
    nua_handle_bind(nh, c);
    c->sending = true;
    c->trunk = tr;
    c->t38_policy = tr ? tr->t38 : cfg->t38_policy;
    c->cb = ops->done;
    c->cb_arg = arg;
    c->send_ops = ops;
    c->start_page = start_page > 0 ? start_page : 0;
    fx_strlcpy(c->file, tiff, sizeof c->file);
    fx_strlcpy(c->from, fu, sizeof c->from);
    fx_strlcpy(c->to, number, sizeof c->to);
    fx_strlcpy(c->peer, uri, sizeof c->peer);
    char sdp[2048];
    int rc;
    if (c->t38_policy == CFG_T38_REQUIRE) {
        /* T.38 from the first offer (T.38 Annex D.2.1). */
        rc = open_media_socket(sf, &c->udptl_port);
        if (rc >= 0) {
            c->pending_udptl_fd = rc;
            our_t38(sf, &c->t38_local);
            rc = build_sdp(c, true, &c->t38_local, NULL, sdp, sizeof sdp);
        }
    } else {
        rc = open_media_socket(sf, &c->rtp_port);
        if (rc >= 0) {
            c->pending_udptl_fd = rc; /* holds the RTP socket until the answer */
            rc = build_sdp(c, false, NULL, NULL, sdp, sizeof sdp);
        }
    }
    if (rc < 0) {
        c->cb = NULL;
        nua_handle_bind(nh, NULL);
        call_free(c);
        return rc;
    }
    call_set_state(c, CALL_ST_INVITING);
    fx_log(FX_LOG_NOTICE, FX_FAC_SIP, "dialing %s uri=%s t38=%s", c->tag, uri,
           cfg_t38_policy_name(c->t38_policy));
    nua_invite(nh, SIPTAG_CONTENT_TYPE_STR("application/sdp"), SIPTAG_PAYLOAD_STR(sdp),
               TAG_END());
    return 0;
}

void sipfax_list_calls(sipfax_t *sf, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (call_t *c = sf->calls; c != NULL && off + 1 < len; c = c->next) {
        int n = snprintf(buf + off, len - off,
                         "%s dir=%s state=%s mode=%s page=%d rate=%d ecm=%s from=%s to=%s "
                         "duration=%.1f\n",
                         c->id, c->outbound ? "out" : "in", sipc_call_state_name(c->state),
                         atomic_load(&c->status.t38) ? "t38" : "g711",
                         atomic_load(&c->status.page), atomic_load(&c->status.rate),
                         atomic_load(&c->status.ecm) ? "yes" : "no", c->from, c->to,
                         (double)(fx_now_ms() - c->start_ms) / 1000.0);
        if (n < 0)
            break;
        off += (size_t)n;
    }
}

int sipfax_call_count(const sipfax_t *sf)
{
    return sf->n_calls;
}

static void hangup_call(call_t *c)
{
    fx_log(FX_LOG_NOTICE, FX_FAC_SIP, "hangup requested %s state=%s", c->tag,
           sipc_call_state_name(c->state));
    if (c->state == CALL_ST_INVITING) {
        call_finish_result(c, FAXRES_FAILED, 0, "cancelled before answer");
        nua_cancel(c->nh, TAG_END());
        return;
    }
    if (c->media_started && !c->have_result)
        sipm__abort(c, "hangup requested");
    send_bye(c);
}

int sipfax_hangup(sipfax_t *sf, const char *id)
{
    for (call_t *c = sf->calls; c != NULL; c = c->next) {
        if (strcmp(c->id, id) == 0 && !c->media_closing) {
            hangup_call(c);
            return 0;
        }
    }
    return FX_ENOTFOUND;
}

int sipfax_hangup_arg(sipfax_t *sf, const void *arg)
{
    for (call_t *c = sf->calls; c != NULL; c = c->next) {
        if (c->cb_arg == arg && !c->media_closing) {
            hangup_call(c);
            return 0;
        }
    }
    return FX_ENOTFOUND;
}

void sipfax_reload(sipfax_t *sf, const cfg_t *cfg)
{
    /* Registrations are indexed by trunk position: drop the old ones and start
     * afresh so a reordered, removed, added or corrected trunk registers right.
     * Calls in progress keep pointers into the old cfg's trunks; the daemon
     * keeps old configs alive until exit. */
    for (int i = 0; i < CFG_MAX_TRUNKS; i++) {
        if (sf->reg[i] != NULL) {
            nua_unregister(sf->reg[i], TAG_END());
            nua_handle_destroy(sf->reg[i]);
            sf->reg[i] = NULL;
        }
    }
    sf->cfg = cfg;
    start_registrations(sf);
}
