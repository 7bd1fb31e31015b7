/* drv: the line-driver layer's public face. Only drivers/ includes SpanDSP and
 * sofia-sip headers; the rest of faxd sees these functions. */
#ifndef FAX_DRV_H
#define FAX_DRV_H

#include <stddef.h>

/* Writes the versions of the linked protocol libraries into buf. */
void drv_versions(char *buf, size_t len);

#include <stdbool.h>

/* How a fax call ended, in plain words. Filled by the driver at phase E.
 * Success only when every page was confirmed: a partial fax is "partial". */
typedef enum { FAXRES_OK = 0, FAXRES_PARTIAL, FAXRES_FAILED } faxres_status_t;

typedef struct faxres {
    faxres_status_t status;
    bool sending;            /* we were the transmitter */
    int pages;               /* pages confirmed (MCF) */
    int pages_total;         /* pages in the file we sent; -1 when receiving */
    int bit_rate;            /* last negotiated rate, bit/s */
    bool ecm;
    char compression[16];    /* "T.4 1-D", "T.4 2-D", "T.6" */
    char resolution[24];     /* "204x196" */
    char mode[8];            /* "t38" or "g711" */
    char remote_ident[24];   /* remote TSI/CSI */
    double duration_s;       /* call time, answer to hang-up */
    double image_s;          /* pure image-data time at the negotiated rate */
    int code;                /* T.30 completion code (SpanDSP's T30_ERR_*) or -1 */
    int sip_status;          /* final SIP status of a call that failed to connect, else 0 */
    bool connected;          /* the far end answered */
    char code_text[96];      /* what the code means */
} faxres_t;

const char *faxres_status_name(faxres_status_t s);
/* One line of key=value pairs; remote_ident is quoted. */
void faxres_format(const faxres_t *r, char *buf, size_t len);

#endif
