/* queue: faxd's outbound queue: jobs persisted in the spool (queue/<id>.rec
 * plus queue/<id>.tif), scheduled by the job engine (fax/job.h), placed through
 * the SIP driver; final jobs move to done/ or failed/. Main thread only.
 *
 * Every change to a job is written anew to its record (tmp, fsync, rename, fsync
 * dir) before anything else happens, so a crash at any point loses no job and
 * resends no confirmed page: on start-up queue_recover() reloads them all. */
#ifndef FAXD_QUEUE_H
#define FAXD_QUEUE_H

#include <stdbool.h>
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

/* ---- cluster (faxd/cluster.c, docs/cluster.md) ---- */
/* Every dial waits for may_dial(arg) to say yes (NULL: always). */
void queue_set_gate(queue_t *q, bool (*may_dial)(void *arg), void *arg);
/* Loads queue/<id>.rec, written by the archive worker after a takeover from
 * node from, into the scheduler. 0 (also when already there) or a negative
 * code (logged; a damaged record goes to corrupt/). */
int queue_adopt(queue_t *q, const char *id, const char *from);
/* Node owner owns job id now: the job leaves the queue for failed/ with the
 * reason "taken over by node <owner>" and a taken_over_by attribute (never
 * archived from here). 0, FX_ENOTFOUND (no such job in the queue), FX_EAGAIN
 * (a call for it was live: hung up; call again once it ended) or -errno. */
int queue_drop(queue_t *q, const char *id, const char *owner);

/* Counters for STATUS. */
void queue_counts(const queue_t *q, int *jobs, int *active, unsigned long *done,
                  unsigned long *failed);

#endif
