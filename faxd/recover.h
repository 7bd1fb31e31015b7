/* recover: start-up repair of the spool after a crash (main thread, before any
 * call is taken). Received faxes cut off by the crash are kept with the pages
 * that were confirmed (each was fsync'd before its MCF), as "partial"; half-
 * written store files are removed. Returns the number of faxes recovered. */
#ifndef FAXD_RECOVER_H
#define FAXD_RECOVER_H

#include "fax/spool.h"

int recover_spool(spool_t *spool, const char *node);

#endif
