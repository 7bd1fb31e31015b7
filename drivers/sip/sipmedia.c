/* sipmedia: the media half of a SIP fax call, living on one media loop.
 * RTP/G.711 with a playout buffer (RFC 3550, G.711) and UDPTL/T.38 (T.38 Annex D),
 * both driving the call's SpanDSP engine (fxe) on the loop's 20 ms tick.
 * Symmetric media: we send to where the peer's packets come from (RFC 4961). */
#include <arpa/inet.h>

#include <errno.h>
#include <sys/stat.h>
#include <tiffio.h>
#include <pthread.h>
#include <spandsp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fax/fx.h"
#include "fax/spool.h"
#include "playout.h"
#include "rtp.h"
#include "sip_int.h"
#include "udptl.h"

#define FRAME 160  /* 20 ms at 8 kHz (G.711, RFC 3551 4.5.14) */
/* Lost audio is concealed by repetition for at most 60 ms; longer gaps are
 * treated as the far end having stopped. */
#define CONCEAL_MAX_FRAMES 3

struct media {
    media_t *next;
    mloop_t *ml;
    call_t *c;
    char tag[48];
    char rx_file[512];
    bool receiving;
    int rtp_fd;
    struct sockaddr_storage rtp_peer;
    socklen_t rtp_peer_len;
    bool rtp_learned;
    int udptl_fd;
    struct sockaddr_storage udptl_peer;
    socklen_t udptl_peer_len;
    bool udptl_learned;
    int pt;
    bool alaw;
    uint16_t tx_seq;
    uint32_t tx_ts;
    uint32_t tx_ssrc;
    playbuf_t *po;
    udptl_t *u;
    fxe_t *fxe;
    bool done;          /* phase E reported */
    bool dir_synced;
    unsigned ticks;
    int16_t last_amp[FRAME];   /* the last frame heard, for concealment */
    bool have_last;
    unsigned conceal_run;      /* consecutive frames concealed */
    unsigned last_rx_tick;     /* tick of the last packet from the far end */
    unsigned timeout_ticks;    /* media_timeout in ticks */
    uint64_t rtp_bad, udptl_bad;
};

static void post_tone(void *arg);

/* ---- callbacks from the engine (on the media loop) ---- */

static int m_t38_tx(void *user, const uint8_t *ifp, size_t len, int count)
{
    media_t *m = user;
    if (m->udptl_fd < 0 || m->u == NULL)
        return 0;
    if (count < 1)
        count = 1;
    for (int i = 0; i < count; i++) {
        uint8_t dg[1500];
        size_t n = 0;
        int rc = udptl_encode(m->u, ifp, len, dg, sizeof dg, &n);
        if (rc < 0) {
            fx_log(FX_LOG_WARN, FX_FAC_T38, "udptl encode failed %s len=%zu err=%s", m->tag, len,
                   fx_strerror(rc));
            return rc;
        }
        if (sendto(m->udptl_fd, dg, n, 0, (struct sockaddr *)&m->udptl_peer, m->udptl_peer_len)
            < 0)
            fx_log(FX_LOG_DEBUG, FX_FAC_T38, "udptl send failed %s err=%s", m->tag,
                   strerror(errno));
    }
    return 0;
}

/* fsync succeeds even when earlier writes failed (a full disk makes libtiff's
 * writes fail silently), so after it the file itself is checked: at least
 * `page` complete directories, and the last one's strips inside the file. */
static int page_is_on_disk(const char *path, int page)
{
    TIFFSetWarningHandler(NULL);
    TIFFSetErrorHandler(NULL);
    TIFF *t = TIFFOpen(path, "r");
    if (t == NULL)
        return -EIO;
    int rc = 0;
    int n = (int)TIFFNumberOfDirectories(t);
    if (n < page || !TIFFSetDirectory(t, (uint16_t)(page - 1))) {
        rc = -EIO;
    } else {
        struct stat sb;
        uint64_t *off = NULL, *cnt = NULL;
        uint32_t ns = TIFFNumberOfStrips(t);
        if (stat(path, &sb) < 0 || !TIFFGetField(t, TIFFTAG_STRIPOFFSETS, &off)
            || !TIFFGetField(t, TIFFTAG_STRIPBYTECOUNTS, &cnt) || off == NULL || cnt == NULL) {
            rc = -EIO;
        } else {
            for (uint32_t i = 0; i < ns; i++)
                if (off[i] + cnt[i] > (uint64_t)sb.st_size)
                    rc = -EIO;
        }
    }
    TIFFClose(t);
    return rc;
}

typedef struct page_msg {
    call_t *c;
    int page;
} page_msg_t;

static void post_page(void *arg)
{
    page_msg_t *pm = arg;
    sipc__page(pm->c, pm->page);
    free(pm);
}

/* A page is confirmed: make it durable before SpanDSP answers MCF (invariant 1). */
static int m_page_done(void *user, int page)
{
    media_t *m = user;
    call_status_t *st = sipc__status(m->c);
    atomic_store(&st->page, page + 1);
    if (!m->receiving) {
        page_msg_t *pm = fx_malloc(sizeof *pm);
        pm->c = m->c;
        pm->page = page;
        ev_post(sipc__main_loop(m->c), post_page, pm);
        return 0;
    }
    /* XXX: the fsync runs on the media loop; it is one page-sized write per
     * page, rare next to the 20 ms audio work, but a slow disk stalls the loop. */
    int rc = spool_sync_file(m->rx_file);
    if (rc == 0 && page_is_on_disk(m->rx_file, page) < 0) {
        fx_log(FX_LOG_ERR, FX_FAC_T30,
               "page not durable %s page=%d err=\"page incomplete on disk: a write failed (disk "
               "full or I/O error)\"",
               m->tag, page);
        return FX_ECORRUPT;
    }
    if (rc == 0 && !m->dir_synced) {
        char dir[512];
        fx_strlcpy(dir, m->rx_file, sizeof dir);
        char *slash = strrchr(dir, '/');
        if (slash != NULL) {
            *slash = '\0';
            rc = fx_fsync_dir(dir);
        }
        m->dir_synced = rc == 0;
    }
    if (rc < 0)
        fx_log(FX_LOG_ERR, FX_FAC_T30, "page not durable %s page=%d err=%s", m->tag, page,
               fx_strerror(rc));
    else
        fx_log(FX_LOG_INFO, FX_FAC_T30, "page stored %s page=%d", m->tag, page);
    return rc;
}

typedef struct done_msg {
    call_t *c;
    faxres_t r;
} done_msg_t;

static void post_done(void *arg)
{
    done_msg_t *d = arg;
    sipc__done(d->c, &d->r);
    free(d);
}

static void m_done(void *user, const faxres_t *r)
{
    media_t *m = user;
    m->done = true;
    atomic_store(&sipc__status(m->c)->finished, 1);
    done_msg_t *d = fx_malloc(sizeof *d);
    d->c = m->c;
    d->r = *r;
    ev_post(sipc__main_loop(m->c), post_done, d);
}

typedef struct tone_msg {
    call_t *c;
    char what[32];
} tone_msg_t;

static void post_tone(void *arg)
{
    tone_msg_t *t = arg;
    sipc__tone(t->c, t->what);
    free(t);
}

static void m_tone(void *user, const char *what)
{
    media_t *m = user;
    fx_log(FX_LOG_INFO, FX_FAC_SIP, "tone detected %s tone=\"%s\"", m->tag, what);
    tone_msg_t *t = fx_malloc(sizeof *t);
    t->c = m->c;
    fx_strlcpy(t->what, what, sizeof t->what);
    ev_post(sipc__main_loop(m->c), post_tone, t);
}

static const fxe_ops_t m_ops = { m_t38_tx, m_page_done, m_done, m_tone };

/* ---- socket input ---- */

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
}

/* Symmetric media: the first packet from a new source address makes it our
 * send target. XXX: a spoofed first packet could steal the stream; a check of
 * the address against the SDP's would stop that but breaks NAT'd peers. */
static void learn(media_t *m, bool *learned, struct sockaddr_storage *peer, socklen_t *plen,
                  const struct sockaddr_storage *from, socklen_t flen, const char *what)
{
    if (*learned && same_addr(peer, from))
        return;
    if (!same_addr(peer, from)) {
        char a[INET6_ADDRSTRLEN] = "?";
        if (from->ss_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)from)->sin_addr, a, sizeof a);
        else
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)from)->sin6_addr, a, sizeof a);
        fx_log(FX_LOG_INFO, FX_FAC_RTP, "symmetric %s peer learned %s addr=%s port=%d", what,
               m->tag, a, ntohs(((const struct sockaddr_in *)from)->sin_port));
        memcpy(peer, from, sizeof *peer);
        *plen = flen;
    }
    *learned = true;
}

static void rtp_packet(media_t *m, const uint8_t *buf, size_t n,
                       const struct sockaddr_storage *from, socklen_t flen)
{
    if (rtp_is_rtcp(buf, n))
        return;
    rtp_hdr_t h;
    const char *why = NULL;
    if (rtp_parse(buf, n, &h, &why) < 0) {
        if (m->rtp_bad++ < 5)
            fx_log(FX_LOG_NOTICE, FX_FAC_RTP, "rtp packet dropped %s len=%zu why=\"%s\"", m->tag,
                   n, why ? why : "?");
        return;
    }
    if (h.pt != m->pt) {
        /* Telephone-events or comfort noise: not fax audio (RFC 4733, 3389). */
        return;
    }
    learn(m, &m->rtp_learned, &m->rtp_peer, &m->rtp_peer_len, from, flen, "rtp");
    m->last_rx_tick = m->ticks;
    if (m->po != NULL && h.payload_len > 0)
        playbuf_put(m->po, h.ssrc, h.ts, h.payload, h.payload_len);
}

/* RTP is read on the media tick, not on readiness: at 50 packets a second per
 * call, one recvmmsg per tick costs far less than a loop wake-up per packet,
 * and the playout buffer's hold absorbs the up to 20 ms of extra wait. */
#define RTP_BATCH 8
static void rtp_drain(media_t *m)
{
    if (m->rtp_fd < 0)
        return;
    static __thread uint8_t bufs[RTP_BATCH][1536];
    struct mmsghdr msgs[RTP_BATCH];
    struct iovec iov[RTP_BATCH];
    struct sockaddr_storage from[RTP_BATCH];
    for (int round = 0; round < 8; round++) {
        for (int i = 0; i < RTP_BATCH; i++) {
            iov[i].iov_base = bufs[i];
            iov[i].iov_len = sizeof bufs[i];
            memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_name = &from[i];
            msgs[i].msg_hdr.msg_namelen = sizeof from[i];
        }
        int n = recvmmsg(m->rtp_fd, msgs, RTP_BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0)
            return;
        for (int i = 0; i < n; i++)
            rtp_packet(m, bufs[i], msgs[i].msg_len, &from[i], msgs[i].msg_hdr.msg_namelen);
        if (n < RTP_BATCH)
            return;
    }
}

static int deliver_ifp(void *user, const uint8_t *ifp, size_t len, uint16_t seq)
{
    media_t *m = user;
    if (m->fxe != NULL)
        fxe_t38_rx(m->fxe, ifp, len, seq);
    return 0;
}

static void on_udptl(ev_loop_t *loop, int fd, unsigned events, void *arg)
{
    media_t *m = arg;
    (void)loop;
    (void)events;
    for (int i = 0; i < 32; i++) {
        uint8_t buf[2048];
        struct sockaddr_storage from;
        socklen_t flen = sizeof from;
        ssize_t n = recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &flen);
        if (n < 0)
            return;
        if (m->u == NULL)
            continue;
        int rc = udptl_decode(m->u, buf, (size_t)n, deliver_ifp, m);
        if (rc < 0) {
            if (m->udptl_bad++ < 5)
                fx_log(FX_LOG_NOTICE, FX_FAC_T38, "udptl datagram dropped %s len=%zd why=\"%s\"",
                       m->tag, n, udptl_last_error(m->u));
            continue;
        }
        learn(m, &m->udptl_learned, &m->udptl_peer, &m->udptl_peer_len, &from, flen, "udptl");
        m->last_rx_tick = m->ticks;
    }
}

/* ---- the 20 ms tick ---- */

static void publish_status(media_t *m)
{
    int page = 0, rate = 0;
    bool ecm = false;
    fxe_progress(m->fxe, &page, &rate, &ecm);
    call_status_t *st = sipc__status(m->c);
    atomic_store(&st->page, page);
    atomic_store(&st->rate, rate);
    atomic_store(&st->ecm, ecm);
}

static void tick_one(media_t *m)
{
    if (m->fxe == NULL || m->done)
        return;
    /* `faxctl calls` sees page, rate and ECM refreshed once a second. */
    if (++m->ticks % 50 == 0)
        publish_status(m);
    /* A far end that vanished without a BYE sends nothing more: end the call
     * rather than wait for the hard phase E limit. */
    if (m->timeout_ticks > 0 && m->ticks - m->last_rx_tick > m->timeout_ticks) {
        fx_log(FX_LOG_NOTICE, FX_FAC_RTP, "no media from far end %s for_s=%u", m->tag,
               m->timeout_ticks / 50);
        fxe_abort(m->fxe, "no media from the far end");
        return;
    }
    if (fxe_is_t38(m->fxe)) {
        fxe_t38_tick(m->fxe, FRAME);
        return;
    }
    rtp_drain(m);
    /* Receive: exactly FRAME samples of timeline per tick; lost audio becomes
     * fill-in of the same length, so the modems never lose their place. */
    uint8_t law[FRAME];
    unsigned missing = 0;
    int got = playbuf_get(m->po, law, FRAME, m->alaw ? 0xD5 : 0xFF, &missing);
    if (got == FRAME && missing < FRAME) {
        int16_t amp[FRAME];
        for (int i = 0; i < FRAME; i++)
            amp[i] = m->alaw ? alaw_to_linear(law[i]) : ulaw_to_linear(law[i]);
        fxe_audio_rx(m->fxe, amp, FRAME);
        memcpy(m->last_amp, amp, sizeof amp);
        m->have_last = true;
        m->conceal_run = 0;
    } else if (got == FRAME && m->have_last && m->conceal_run < CONCEAL_MAX_FRAMES) {
        /* A lost frame is replaced by the last frame heard, sample for sample.
         * Measured at 0.5% loss: SpanDSP's fax_rx_fillin() skips the symbols of
         * a lost frame, so a loss during V.17 training makes the training fail
         * (no CFR/FTT, the call drops) in about a third of calls; repeating the
         * previous 20 ms keeps the symbol count and carrier, and the modem's
         * training and TCF ride over it (12 of 12 calls against 8 of 12). */
        fxe_audio_rx(m->fxe, m->last_amp, FRAME);
        m->conceal_run++;
    } else {
        /* Nothing heard yet, or a long gap: real silence, not concealment. */
        fxe_audio_fillin(m->fxe, FRAME);
    }
    if (m->fxe == NULL || m->done || fxe_is_t38(m->fxe))
        return;
    /* Send. */
    int16_t amp[FRAME];
    fxe_audio_tx(m->fxe, amp, FRAME);
    uint8_t pl[FRAME];
    for (int i = 0; i < FRAME; i++)
        pl[i] = m->alaw ? linear_to_alaw(amp[i]) : linear_to_ulaw(amp[i]);
    uint8_t pkt[12 + FRAME];
    int n = rtp_build(pkt, sizeof pkt, (uint8_t)m->pt, m->tx_seq == 0, m->tx_seq, m->tx_ts,
                      m->tx_ssrc, pl, FRAME);
    m->tx_seq++;
    m->tx_ts += FRAME;
    if (n > 0 && m->rtp_fd >= 0)
        sendto(m->rtp_fd, pkt, (size_t)n, 0, (struct sockaddr *)&m->rtp_peer, m->rtp_peer_len);
}

static void on_tick(ev_loop_t *loop, ev_timer_t *t, uint64_t exp, void *arg)
{
    mloop_t *ml = arg;
    (void)loop;
    (void)t;
    if (exp > 1) {
        /* The loop was starved (CPU contention, a slow fsync): say so, at most
         * every 10 s, since late audio is the first suspect of a failed call. */
        atomic_fetch_add(&ml->missed_ticks, exp - 1);
        uint64_t now = fx_now_ms();
        if (now - ml->last_late_log_ms >= 10000) {
            ml->last_late_log_ms = now;
            fx_log(FX_LOG_WARN, FX_FAC_RTP, "media loop late loop=%d missed_ticks=%llu calls=%d",
                   ml->index, (unsigned long long)atomic_load(&ml->missed_ticks),
                   atomic_load(&ml->n_calls));
        }
    }
    /* Catch up when the loop fell behind, but never by more than 200 ms at once. */
    if (exp > 10)
        exp = 10;
    for (uint64_t k = 0; k < exp; k++)
        for (media_t *m = ml->calls; m != NULL; m = m->next)
            tick_one(m);
}

/* ---- messages from the main thread ---- */

typedef struct start_msg {
    mloop_t *ml;
    call_t *c;
    media_start_t ms;
} start_msg_t;

static void do_start(void *arg)
{
    start_msg_t *s = arg;
    media_t *m = fx_calloc(1, sizeof *m);
    m->ml = s->ml;
    m->c = s->c;
    m->rtp_fd = s->ms.rtp_fd;
    m->udptl_fd = -1;
    m->rtp_peer = s->ms.rtp_peer;
    m->rtp_peer_len = s->ms.rtp_peer_len;
    m->pt = s->ms.pt;
    m->alaw = s->ms.alaw;
    m->tx_ssrc = (uint32_t)random();
    m->tx_ts = (uint32_t)random();
    m->tx_seq = (uint16_t)(random() | 1);
    m->receiving = !s->ms.fp.sending;
    m->timeout_ticks = s->ms.media_timeout_s * 50u;
    fx_strlcpy(m->tag, s->ms.tag, sizeof m->tag);
    fx_strlcpy(m->rx_file, s->ms.rx_file, sizeof m->rx_file);
    s->ms.fp.tx_file = s->ms.tx_file;
    s->ms.fp.rx_file = s->ms.rx_file;
    s->ms.fp.ident = s->ms.ident;
    s->ms.fp.header = s->ms.header;
    s->ms.fp.log_tag = s->ms.tag;
    /* The buffer may run up to 340 ms past its hold before it skips ahead. */
    unsigned maxd = s->ms.playout_delay_ms + 340 > 400 ? s->ms.playout_delay_ms + 340 : 400;
    int rc = playbuf_new(&m->po, s->ms.playout_delay_ms, maxd);
    if (rc == 0 && s->ms.t38) {
        m->udptl_fd = s->ms.udptl_fd;
        m->udptl_peer = s->ms.udptl_peer;
        m->udptl_peer_len = s->ms.udptl_peer_len;
        rc = udptl_new(&m->u);
        if (rc == 0) {
            udptl_set_tx(m->u, (udptl_ec_t)s->ms.udptl_ec, s->ms.udptl_depth,
                         s->ms.tp.max_datagram > 0 ? (size_t)s->ms.tp.max_datagram : 400);
            rc = ev_fd_add(m->ml->loop, m->udptl_fd, EV_READ, on_udptl, m);
        }
    }
    sipc__set_media(s->c, m);
    m->next = m->ml->calls;
    m->ml->calls = m;
    atomic_fetch_add(&m->ml->n_calls, 1);
    if (rc == 0)
        rc = fxe_new(&s->ms.fp, &m_ops, m, s->ms.t38, &s->ms.tp, &m->fxe);
    if (rc < 0) {
        fx_log(FX_LOG_ERR, FX_FAC_SIP, "media start failed %s err=%s", m->tag, fx_strerror(rc));
        faxres_t r;
        memset(&r, 0, sizeof r);
        r.status = FAXRES_FAILED;
        r.sending = s->ms.fp.sending;
        r.pages_total = -1;
        r.code = -1;
        snprintf(r.code_text, sizeof r.code_text, "media could not start: %s", fx_strerror(rc));
        m_done(m, &r);
    } else {
        atomic_store(&sipc__status(m->c)->t38, s->ms.t38);
        atomic_store(&sipc__status(m->c)->page, 1);
    }
    free(s);
}

int sipm__start(mloop_t *ml, call_t *c, const media_start_t *ms)
{
    start_msg_t *s = fx_malloc(sizeof *s);
    s->ml = ml;
    s->c = c;
    s->ms = *ms;
    return ev_post(ml->loop, do_start, s);
}

typedef struct switch_msg {
    call_t *c;
    media_switch_t sw;
} switch_msg_t;

static void do_switch(void *arg)
{
    switch_msg_t *s = arg;
    media_t *m = sipc__media(s->c);
    if (m == NULL || m->done || m->fxe == NULL) {
        close(s->sw.udptl_fd);
        free(s);
        return;
    }
    if (m->udptl_fd >= 0) {
        ev_fd_del(m->ml->loop, m->udptl_fd);
        close(m->udptl_fd);
    }
    udptl_free(m->u);
    m->u = NULL;
    m->udptl_fd = s->sw.udptl_fd;
    m->udptl_peer = s->sw.udptl_peer;
    m->udptl_peer_len = s->sw.udptl_peer_len;
    m->udptl_learned = false;
    m->last_rx_tick = m->ticks; /* the new stream gets a full media_timeout to start */
    int rc = udptl_new(&m->u);
    if (rc == 0) {
        udptl_set_tx(m->u, (udptl_ec_t)s->sw.udptl_ec, s->sw.udptl_depth,
                     s->sw.tp.max_datagram > 0 ? (size_t)s->sw.tp.max_datagram : 400);
        rc = ev_fd_add(m->ml->loop, m->udptl_fd, EV_READ, on_udptl, m);
    }
    if (rc == 0)
        rc = fxe_switch_t38(m->fxe, &s->sw.tp);
    if (rc < 0)
        fx_log(FX_LOG_ERR, FX_FAC_T38, "switch to T.38 failed %s err=%s", m->tag, fx_strerror(rc));
    else
        atomic_store(&sipc__status(m->c)->t38, 1);
    /* RTP stops with the switch (T.38 Annex D: the audio stream is replaced). */
    if (m->rtp_fd >= 0) {
        ev_fd_del(m->ml->loop, m->rtp_fd);
        close(m->rtp_fd);
        m->rtp_fd = -1;
    }
    free(s);
}

void sipm__switch_t38(call_t *c, const media_switch_t *sw)
{
    switch_msg_t *s = fx_malloc(sizeof *s);
    s->c = c;
    s->sw = *sw;
    ev_post(sipc__mloop(c)->loop, do_switch, s);
}

typedef struct peer_msg {
    call_t *c;
    bool t38;
    struct sockaddr_storage a;
    socklen_t len;
} peer_msg_t;

static void do_peer(void *arg)
{
    peer_msg_t *p = arg;
    media_t *m = sipc__media(p->c);
    if (m != NULL) {
        /* A re-offer (session refresh) may move the peer; packets already
         * learned from the real source keep priority (symmetric media). */
        if (p->t38 && !m->udptl_learned) {
            m->udptl_peer = p->a;
            m->udptl_peer_len = p->len;
        } else if (!p->t38 && !m->rtp_learned) {
            m->rtp_peer = p->a;
            m->rtp_peer_len = p->len;
        }
    }
    free(p);
}

void sipm__set_peer(call_t *c, bool t38, const struct sockaddr_storage *a, socklen_t len)
{
    peer_msg_t *p = fx_malloc(sizeof *p);
    p->c = c;
    p->t38 = t38;
    p->a = *a;
    p->len = len;
    ev_post(sipc__mloop(c)->loop, do_peer, p);
}

typedef struct abort_msg {
    call_t *c;
    char why[96];
} abort_msg_t;

static void do_abort(void *arg)
{
    abort_msg_t *a = arg;
    media_t *m = sipc__media(a->c);
    if (m != NULL && m->fxe != NULL && !m->done)
        fxe_abort(m->fxe, a->why);
    free(a);
}

void sipm__abort(call_t *c, const char *why)
{
    abort_msg_t *a = fx_malloc(sizeof *a);
    a->c = c;
    fx_strlcpy(a->why, why, sizeof a->why);
    ev_post(sipc__mloop(c)->loop, do_abort, a);
}

static void post_closed(void *arg)
{
    sipc__media_closed(arg);
}

static void do_close(void *arg)
{
    call_t *c = arg;
    media_t *m = sipc__media(c);
    if (m != NULL) {
        mloop_t *ml = m->ml;
        for (media_t **pp = &ml->calls; *pp != NULL; pp = &(*pp)->next) {
            if (*pp == m) {
                *pp = m->next;
                break;
            }
        }
        atomic_fetch_sub(&ml->n_calls, 1);
        if (m->fxe != NULL && !m->done)
            fxe_abort(m->fxe, "call closed");
        fxe_free(m->fxe);
        if (m->rtp_fd >= 0) {
            ev_fd_del(ml->loop, m->rtp_fd);
            close(m->rtp_fd);
        }
        if (m->udptl_fd >= 0) {
            ev_fd_del(ml->loop, m->udptl_fd);
            close(m->udptl_fd);
        }
        if (m->po != NULL) {
            playbuf_stats_t ps;
            playbuf_get_stats(m->po, &ps);
            fx_log(FX_LOG_INFO, FX_FAC_RTP,
                   "rtp stats %s put=%llu late=%llu dup=%llu resync=%llu missing=%llu out=%llu",
                   m->tag, (unsigned long long)ps.put, (unsigned long long)ps.late,
                   (unsigned long long)ps.dup, (unsigned long long)ps.resync,
                   (unsigned long long)ps.samples_missing, (unsigned long long)ps.samples_out);
        }
        if (m->u != NULL) {
            udptl_stats_t us;
            udptl_get_stats(m->u, &us);
            fx_log(FX_LOG_INFO, FX_FAC_T38,
                   "udptl stats %s rx=%llu recovered=%llu lost=%llu dup=%llu bad=%llu tx=%llu",
                   m->tag, (unsigned long long)us.rx_ifp, (unsigned long long)us.rx_recovered,
                   (unsigned long long)us.rx_lost, (unsigned long long)us.rx_dup,
                   (unsigned long long)us.rx_bad, (unsigned long long)us.tx_datagrams);
        }
        playbuf_free(m->po);
        udptl_free(m->u);
        free(m);
        sipc__set_media(c, NULL);
    }
    ev_post(sipc__main_loop(c), post_closed, c);
}

void sipm__close(call_t *c)
{
    ev_post(sipc__mloop(c)->loop, do_close, c);
}

static void *loop_thread(void *arg)
{
    mloop_t *ml = arg;
    char name[16];
    snprintf(name, sizeof name, "media%d", ml->index);
    pthread_setname_np(pthread_self(), name);
    ev_run(ml->loop);
    return NULL;
}

int sipm__loop_start(mloop_t *ml, int index)
{
    memset(ml, 0, sizeof *ml);
    ml->index = index;
    int rc = ev_new(&ml->loop);
    if (rc < 0)
        return rc;
    ml->tick = ev_timer_add(ml->loop, 20, 20, on_tick, ml);
    if (ml->tick == NULL)
        return -EMFILE;
    rc = pthread_create(&ml->thread, NULL, loop_thread, ml);
    return rc == 0 ? 0 : -rc;
}

void sipm__loop_stop(mloop_t *ml)
{
    if (ml->loop == NULL)
        return;
    ev_stop(ml->loop);
    pthread_join(ml->thread, NULL);
    ev_timer_del(ml->loop, ml->tick);
    ev_free(ml->loop);
    ml->loop = NULL;
}
