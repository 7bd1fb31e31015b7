/* sipfax: the SIP line driver: sofia-sip signalling on the main thread, media
 * (RTP with G.711, UDPTL with T.38) on media loops, SpanDSP T.30 per call.
 *
 * Ownership: sipfax_new() returns a driver freed with sipfax_free() after
 * sipfax_run() has returned. It borrows cfg, main loop and spool for its life
 * (sipfax_reload hands it a new cfg to borrow).
 * Threads: every function is called on the main thread; callbacks run there. */
#ifndef FAX_SIPFAX_H
#define FAX_SIPFAX_H

#include <stdbool.h>
#include <stddef.h>

#include "fax/cfg.h"
#include "fax/drv.h"
#include "fax/ev.h"
#include "fax/spool.h"

typedef struct sipfax sipfax_t;

/* Facts about a finished call, for the daemon's log, spool and replies. */
typedef struct sipfax_call_info {
    const char *id;        /* fax id (received) or job id (sent) */
    bool outbound;
    const char *from;      /* caller number / user part */
    const char *to;        /* called number (DID) */
    const char *file;      /* received TIFF in the spool (receiving), else the sent file */
} sipfax_call_info_t;

/* A finished call: received faxes are already stored in incoming/. */
typedef void (*sipfax_done_cb)(void *arg, const sipfax_call_info_t *info, const faxres_t *r);

/* Creates the driver: binds the SIP listeners, starts the media loops.
 * 0, or -errno / FX_E* with a log line saying what failed. */
int sipfax_new(const cfg_t *cfg, ev_loop_t *main_loop, spool_t *spool, sipfax_done_cb on_rx,
               void *on_rx_arg, sipfax_t **out);
void sipfax_free(sipfax_t *sf);

/* Runs the main loop (sofia's reactor hosting main_loop) until sipfax_stop(). */
void sipfax_run(sipfax_t *sf);
void sipfax_stop(sipfax_t *sf);

/* Graceful shutdown: refuse new calls (503), let calls in progress end, abort
 * those still running after grace_ms with a result; cb runs once all are gone. */
void sipfax_shutdown(sipfax_t *sf, unsigned grace_ms, void (*cb)(void *), void *arg);

/* Progress of a call we placed. */
typedef struct sipfax_send_ops {
    void (*connected)(void *arg);                 /* the far end answered */
    void (*page)(void *arg, int pages_confirmed);  /* counted from page 1 of the file */
    sipfax_done_cb done;                           /* once, with the result */
} sipfax_send_ops_t;

/* Places a call to dest ("sip:NUMBER@host[:port]" or a number routed through a
 * trunk) sending tiff from start_page (0-based). job_id names the call in logs
 * and results. ops->done runs once with the result (also on failure to
 * connect). 0, or an error without callbacks. */
int sipfax_send(sipfax_t *sf, const char *dest, const char *tiff, int start_page,
                const char *job_id, const sipfax_send_ops_t *ops, void *arg);

/* Writes one line per live call ("id dir state mode page rate ecm peer duration"). */
void sipfax_list_calls(sipfax_t *sf, char *buf, size_t len);
int sipfax_call_count(const sipfax_t *sf);

/* Ends a live call by id (BYE, or CANCEL before answer); its result follows
 * through the usual callback. 0 or FX_ENOTFOUND. */
int sipfax_hangup(sipfax_t *sf, const char *id);
/* The same for the call placed with this callback argument (one recipient of a
 * job with several). 0 or FX_ENOTFOUND. */
int sipfax_hangup_arg(sipfax_t *sf, const void *arg);

/* Takes a new configuration (borrowed). Listener addresses need a restart;
 * everything else applies to new calls. */
void sipfax_reload(sipfax_t *sf, const cfg_t *cfg);

#endif
