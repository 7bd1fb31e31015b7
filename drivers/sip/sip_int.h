/* Private to drivers/sip: the call object shared by signalling (main thread,
 * sipcall.c) and media (a media loop, sipmedia.c). Fields are grouped by owner;
 * the other side never touches them, except the atomics in the status block. */
#ifndef FAX_SIP_INT_H
#define FAX_SIP_INT_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "fax/cfg.h"
#include "fax/drv.h"
#include "fax/ev.h"
#include "fxe.h"

typedef struct sipfax sipfax_t;
typedef struct call call_t;
typedef struct media media_t;
typedef struct mloop mloop_t;

/* A media loop: a thread running an ev loop and one 20 ms tick for all its calls. */
struct mloop {
    ev_loop_t *loop;
    pthread_t thread;
    ev_timer_t *tick;
    media_t *calls;       /* media-loop owned list */
    int index;
    _Atomic int n_calls;  /* for load balancing, read by main */
    _Atomic uint64_t missed_ticks; /* 20 ms ticks that came late (loop starved) */
    uint64_t last_late_log_ms;
};

/* What the main thread hands the media loop to start a call. */
typedef struct media_start {
    fxe_params_t fp;
    char tx_file[512], rx_file[512], ident[24], header[64], tag[48];
    int rtp_fd;           /* bound, owned by media from now on */
    struct sockaddr_storage rtp_peer;
    socklen_t rtp_peer_len;
    int pt;               /* 0 PCMU or 8 PCMA (or the peer's number for them) */
    bool alaw;
    unsigned playout_delay_ms;
    unsigned media_timeout_s;
    bool t38;             /* start straight in T.38 */
    int udptl_fd;
    struct sockaddr_storage udptl_peer;
    socklen_t udptl_peer_len;
    fxe_t38_params_t tp;
    int udptl_ec;         /* udptl_ec_t for sending */
    int udptl_depth;
} media_start_t;

typedef struct media_switch {
    int udptl_fd;
    struct sockaddr_storage udptl_peer;
    socklen_t udptl_peer_len;
    fxe_t38_params_t tp;
    int udptl_ec;
    int udptl_depth;
} media_switch_t;

/* Status the media loop publishes for `faxctl calls` (atomics: read by main). */
typedef struct call_status {
    _Atomic int page;
    _Atomic int rate;
    _Atomic int ecm;
    _Atomic int t38;
    _Atomic int finished;
} call_status_t;

/* sipmedia.c: called on the main thread; work happens on c's media loop. */
int sipm__start(mloop_t *ml, call_t *c, const media_start_t *ms);  /* takes fds */
void sipm__switch_t38(call_t *c, const media_switch_t *sw);          /* takes fd */
void sipm__set_peer(call_t *c, bool t38, const struct sockaddr_storage *a, socklen_t len);
void sipm__abort(call_t *c, const char *why);
void sipm__close(call_t *c);    /* media frees itself, then sipc__media_closed() */
int sipm__loop_start(mloop_t *ml, int index);
void sipm__loop_stop(mloop_t *ml);

/* sipcall.c: run on the main thread, posted there by the media loop. */
void sipc__tone(call_t *c, const char *what);
void sipc__done(call_t *c, const faxres_t *r);
void sipc__page(call_t *c, int page);
void sipc__media_closed(call_t *c);
ev_loop_t *sipc__main_loop(call_t *c);
media_t *sipc__media(call_t *c);
void sipc__set_media(call_t *c, media_t *m);
call_status_t *sipc__status(call_t *c);
mloop_t *sipc__mloop(call_t *c);

#endif
