/* drv: the line-driver layer's public face. Only drivers/ includes SpanDSP and
 * sofia-sip headers; the rest of faxd sees these functions. */
#ifndef FAX_DRV_H
#define FAX_DRV_H

#include <stddef.h>

/* Writes the versions of the linked protocol libraries into buf. */
void drv_versions(char *buf, size_t len);

#endif
