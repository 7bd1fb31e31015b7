/* arc: the PostgreSQL archive of faxes, jobs, pages and audit events.
 *
 * PostgreSQL is the shared archive, never the only copy (DESIGN.md, Storage):
 * a fax or job is archived after its final record is committed in the spool.
 * arc_submit()/arc_mark() durably write a marker arcq/<id>.<folder> in the
 * spool; the archive's own worker thread (with its own libpq connection, so no
 * event loop ever waits on the database) takes markers, loads the record and
 * image from the spool and inserts them in one transaction, idempotently on the
 * id, then deletes the marker. With the database down the markers stay, the
 * worker reconnects with backoff (1 s doubling to 30 s) and catches up.
 * Reception never waits on it (invariant 3).
 *
 * Audit: every archived event gets hash = SHA-256(prev_hash || fax_id || 0x00 ||
 * at_ms (u64 big-endian) || kind || 0x00 || detail), prev_hash being the hash of
 * the event before it in insertion order over ALL faxes (32 zero bytes for the
 * first). Appends are serialised across nodes by a transaction-level advisory
 * lock; chain_head keeps the last seq and hash so a deleted tail shows too.
 * Schema and storage choices: docs/archive.md.
 *
 * Ownership: arc_open() returns an archive freed by arc_close(); it borrows the
 * spool for its whole life.
 * Threads: arc_open/arc_submit/arc_status/arc_close on one thread (faxd's main
 * thread); arc_mark() from any thread. The arc_cli_* functions block on the
 * database and are for faxctl only, never for an event loop. */
#ifndef FAX_ARC_H
#define FAX_ARC_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "fax/spool.h"

typedef struct arc arc_t;

/* How the worker sees the database (reaches the DB facility's log and STATUS). */
typedef enum {
    ARC_ST_CONNECTING = 0, /* not yet connected since start */
    ARC_ST_OK,             /* connected, schema migrated */
    ARC_ST_DOWN,           /* last attempt failed; retrying with backoff */
} arc_state_t;

const char *arc_state_name(arc_state_t s);

/* Starts the archive worker for dsn (a libpq connection string), archiving
 * from spool under this node's name. Does not touch the database itself: the
 * worker connects, applies migrations and catches up on any markers left from
 * an earlier run. 0, -EINVAL (empty dsn) or -errno (thread, inotify). */
int arc_open(const char *dsn, spool_t *spool, const char *node, arc_t **out);

/* Stops the worker (a transaction in flight finishes or fails first; its
 * marker then stays for the next start) and frees a. arc_close(NULL) is a no-op. */
void arc_close(arc_t *a);

/* A fax or job record became final in <folder>/<id>.rec (folder "incoming",
 * "done" or "failed"): durably writes its marker and wakes the worker. Returns
 * once the marker is on disk: 0, -EINVAL (bad folder or id) or -errno. */
int arc_submit(arc_t *a, const char *folder, const char *id);

/* The marker half of arc_submit(), for code that holds only the spool (the
 * queue, the SIP driver): the worker notices the new marker by itself
 * (inotify on arcq/, and a rescan at least every 30 s). Any thread. */
int arc_mark(spool_t *spool, const char *folder, const char *id);

/* Worker state and the markers waiting (backlog) right now. */
void arc_status(arc_t *a, arc_state_t *state, int *backlog);

/* ---- faxctl: synchronous queries (they block; not for event loops) ---- */

/* Recomputes the whole hash chain in seq order. Writes "audit ok events=N" and
 * returns 0 when intact; on tampering names the first broken link ("seq N:
 * ...: what differs") and returns 1. Negative codes: cannot connect/query. */
int arc_cli_verify(const char *dsn, FILE *out);

/* Prints a fax's or job's archived row, pages and timeline. 0, FX_ENOTFOUND, or
 * a negative code. */
int arc_cli_show(const char *dsn, const char *id, FILE *out);

/* Search criteria; NULL fields are not used. Dates are anything PostgreSQL
 * reads as timestamptz; a bare YYYY-MM-DD as `to` includes that whole day. */
typedef struct arc_search {
    const char *number; /* caller or called number */
    const char *from;   /* started at or after */
    const char *to;     /* started at or before */
    const char *status; /* result: ok partial failed (received), done failed cancelled (jobs) */
    const char *text;   /* full-text query over the document */
    int limit;          /* rows at most; 0 means 100 */
} arc_search_t;

/* One line per matching fax, newest first; returns the count or a negative code. */
int arc_cli_search(const char *dsn, const arc_search_t *q, FILE *out);

/* Writes the archived TIFF of id as a PDF at out_pdf (tiff2pdf from
 * libtiff-tools). 0, FX_ENOTFOUND (no such fax or no image), or a negative code. */
int arc_cli_export_pdf(const char *dsn, const char *id, const char *out_pdf, FILE *err);

/* ---- cluster: jobs mirrored to PostgreSQL, node leases, takeover ----
 * (docs/cluster.md; DESIGN.md, Storage: "no home-made consensus": PostgreSQL's
 * row locks decide every race). With cluster on, the archive worker also
 * renews this node's lease (table nodes) every lease_seconds/3, mirrors every
 * job change into table jobs (record and TIFF), and takes over non-final jobs
 * of nodes whose lease expired. */

/* What the worker tells faxd. Every callback runs on the worker thread and
 * must only hand the news over (ev_post); id and node are borrowed for the
 * call. */
typedef struct arc_cluster_ops {
    /* Job id now sits durably in queue/ (record and image) and belongs to this
     * node; from names the node it was taken from (this node's own name when a
     * takeover interrupted by a crash is completed). */
    void (*adopt)(void *user, const char *id, const char *from);
    /* Job id in this node's queue/ belongs to node owner: it must never be
     * dialled here again. */
    void (*foreign)(void *user, const char *id, const char *owner);
    /* Every queue/ job was checked for lease generation gen; the foreign()
     * calls of that check came before this one. */
    void (*verified)(void *user, unsigned gen);
    void *user;
} arc_cluster_ops_t;

/* arc_open() in cluster mode: lease_seconds (>= 3) is this node's lease; ops
 * is copied. Same returns as arc_open(). */
int arc_open_cluster(const char *dsn, spool_t *spool, const char *node, int lease_seconds,
                     const arc_cluster_ops_t *ops, arc_t **out);

/* Job id changed (its record in queue/, done/ or failed/ was just stored):
 * durably writes the marker jobq/<id> unless one is already waiting; the
 * worker mirrors the record as it is when it gets there. Any thread. 0,
 * -EINVAL (bad id) or -errno. */
int arc_job_mark(spool_t *spool, const char *id);

/* May this node dial now? True while the lease renewed last is still running
 * (measured from before the renewal was sent, on the monotonic clock) and the
 * worker's lease generation is verified_gen, the last generation whose
 * verified() callback the caller has acted on. False without cluster mode. */
bool arc_cluster_lease_live(arc_t *a, unsigned verified_gen);

/* Milliseconds of lease left (0 when none) and the current generation. */
void arc_cluster_status(arc_t *a, int64_t *left_ms, unsigned *gen);

#endif
