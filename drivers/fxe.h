/* fxe: one fax engine for one call: SpanDSP's T.30 over G.711 audio or as a
 * T.38 terminal, with a switch from audio to T.38 mid-call (T.38 Annex D / ITU-T
 * T.38 clause 9: after the re-INVITE the call continues as a new T.38 session).
 *
 * No fds, no clocks: audio blocks, IFP packets and elapsed samples go in; IFP
 * packets to send, page events and the final result leave through callbacks.
 * That makes it drivable back to back in one process (tests/unit/test_fxe.c).
 *
 * Ownership: fxe_new() returns an engine freed with fxe_free().
 * Threads: one engine lives on one media loop. */
#ifndef FAX_FXE_H
#define FAX_FXE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fax/drv.h"

typedef struct fxe fxe_t;

typedef struct fxe_ops {
    /* An IFP packet to send (T.38 mode); count is how many times SpanDSP wants it
     * sent. Returns 0 or <0. */
    int (*t38_tx)(void *user, const uint8_t *ifp, size_t len, int count);
    /* A page was confirmed (receiver: written and about to be MCF'd; the callee
     * must make it durable before returning; sender: MCF received). Return 0, or
     * <0 to refuse the page (the receiver then answers with a failure). */
    int (*page_done)(void *user, int page_no);
    /* Phase E: the fax ended; r is the final result. */
    void (*done)(void *user, const faxres_t *r);
    /* Audio mode: a CNG, CED or V.21 preamble was heard (used to start T.38). */
    void (*tone)(void *user, const char *what);
} fxe_ops_t;

typedef struct fxe_params {
    bool calling;           /* we placed the call */
    bool sending;           /* we transmit the document */
    const char *tx_file;    /* TIFF to send (sending) */
    int start_page;         /* first page to send, 0-based (resuming a job) */
    const char *rx_file;    /* TIFF to write (receiving) */
    const char *ident;      /* our TSI/CSI */
    const char *header;     /* page header text, may be NULL */
    bool ecm;
    int max_rate;           /* 14400, 9600, 4800, 2400 */
    bool detect_tones;      /* report CNG/CED/V.21 in audio mode */
    const char *log_tag;    /* e.g. "sess=17" for log lines */
} fxe_params_t;

typedef struct fxe_t38_params {
    int version;            /* T38FaxVersion agreed */
    int max_datagram;       /* peer's T38FaxMaxDatagram */
    bool transferred_tcf;   /* rate management (UDP: transferredTCF) */
} fxe_t38_params_t;

int fxe_new(const fxe_params_t *p, const fxe_ops_t *ops, void *user, bool t38,
            const fxe_t38_params_t *tp, fxe_t **out);
void fxe_free(fxe_t *e);

/* Switches an audio engine to T.38: the audio engine is dropped and a T.38
 * terminal starts afresh (T.30 restarts from phase B). */
int fxe_switch_t38(fxe_t *e, const fxe_t38_params_t *tp);
bool fxe_is_t38(const fxe_t *e);

/* Audio mode: n samples received (linear 16-bit); missing samples (lost
 * packets) are given by fxe_audio_fillin so the modems keep the timeline. */
void fxe_audio_rx(fxe_t *e, const int16_t *amp, int n);
void fxe_audio_fillin(fxe_t *e, int n);
/* Audio mode: fills amp with n samples to send. */
void fxe_audio_tx(fxe_t *e, int16_t *amp, int n);

/* T.38 mode: a received IFP packet with its UDPTL sequence number. */
void fxe_t38_rx(fxe_t *e, const uint8_t *ifp, size_t len, uint16_t seq);
/* T.38 mode: n samples (1/8000 s) of time passed. */
void fxe_t38_tick(fxe_t *e, int n);

/* Ends the call from outside (BYE, shutdown): phase E runs with the given
 * reason if it has not yet; done() fires once. */
void fxe_abort(fxe_t *e, const char *why);

/* The current page, rate and phase for `faxctl calls`. */
void fxe_progress(const fxe_t *e, int *page, int *rate, bool *ecm);

#endif
