/* cluster: faxd's side of running as one node of several (docs/cluster.md).
 *
 * The archive worker (fax/arc.h, archive/arc_cluster.c) keeps this node's
 * lease in PostgreSQL, mirrors jobs and takes over the jobs of dead nodes; it
 * reports on its own thread. This module carries those reports to the main
 * loop (one inbox, one ev_post wake-up) and acts on them there: jobs taken
 * over join the queue (queue_adopt), jobs another node owns leave it
 * (queue_drop), and the queue dials only while cluster_may_dial() says yes:
 * the lease runs and every job another node owns has been dropped.
 *
 * Ownership: cluster_new() starts the archive worker in cluster mode; the
 * caller owns both results: it stops the worker with arc_close() BEFORE
 * cluster_free() (the worker's callbacks use the cluster).
 * Threads: every function on the main loop's thread. */
#ifndef FAXD_CLUSTER_H
#define FAXD_CLUSTER_H

#include <stdbool.h>

#include "ctl.h"
#include "fax/arc.h"
#include "fax/cfg.h"
#include "fax/ev.h"
#include "fax/spool.h"
#include "queue.h"

typedef struct cluster cluster_t;

/* Starts the archive worker for cfg->db_dsn in cluster mode (cfg->cluster
 * must be set; cfg is borrowed for the cluster's life, reloads do not change
 * cluster settings), installs the dial gate in q, and returns the cluster and
 * the archive (*arc, for STATUS and arc_close()). 0 or the arc_open_cluster()
 * code. */
int cluster_new(const cfg_t *cfg, ev_loop_t *loop, spool_t *spool, queue_t *q,
                cluster_t **out, arc_t **arc);

/* Frees c (after arc_close() of its archive). NULL is a no-op. */
void cluster_free(cluster_t *c);

/* The dial gate (queue_set_gate): a live, verified lease and no job another
 * node owns still waiting to be dropped. arg is the cluster. */
bool cluster_may_dial(void *arg);

/* STATUS lines: cluster=lease|nolease (may this node dial), cluster_lease_ms=N
 * (lease left), cluster_dropping=N (jobs waiting to be dropped). */
void cluster_status(cluster_t *c, ctl_conn_t *conn);

#endif
