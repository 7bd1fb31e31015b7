/* queue: faxd's outbound queue: jobs persisted in the spool (queue/<id>.rec
 * plus queue/<id>.tif), scheduled by the job engine (fax/job.h), placed through
 * the SIP driver; final jobs move to done/ or failed/. Main thread only.
 *
 * Every change to a job is written anew to its record (tmp, fsync, rename, fsync
 * dir) before anything else happens, so a crash at any point loses no job and
 * resends no confirmed page: on start-up queue_recover() reloads them all. */
#ifndef FAXD_QUEUE_H
#define FAXD_QUEUE_H

#include <stdint.h>

#include "ctl.h"
#include "fax/cfg.h"
#include "fax/ev.h"
#include "fax/job.h"
#include "fax/sipfax.h"
#include "fax/spool.h"

typedef struct queue queue_t;

int queue_new(const cfg_t *cfg, ev_loop_t *loop, spool_t *spool, sipfax_t *sip, queue_t **out);
void queue_free(queue_t *q);
void queue_reload(queue_t *q, const cfg_t *cfg);
/* Loads every job in queue/ (damaged records go to corrupt/). Returns the count. */
int queue_recover(queue_t *q);
/* The queue's clock: wall time, or the test clock. */
uint64_t queue_now(const queue_t *q);

/* Control socket commands: SEND, JOBS, CANCEL, HOLD, RELEASE, RETRY, CLOCK.
 * Returns 1 if cmd was one of them (and was answered), 0 if not. */
int queue_command(queue_t *q, ctl_conn_t *conn, const char *cmd, char *args);

/* Counters for STATUS. */
void queue_counts(const queue_t *q, int *jobs, int *active, unsigned long *done,
                  unsigned long *failed);

#endif
