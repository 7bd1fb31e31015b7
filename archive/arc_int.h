/* arc_int: private declarations of the archive module (archive/arc*.c).
 *
 * Only archive/ and the archive's own unit tests include this file.
 * arc_map.c is pure (record -> row mapping, hash chain, JSON): no DB, no I/O
 * except reading a TIFF for page digests. arc_db.c holds the schema
 * migrations and the one-transaction insert; arc.c the worker thread;
 * arc_cli.c faxctl's queries. */
#ifndef FAX_ARC_INT_H
#define FAX_ARC_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "fax/sha256.h"
#include "fax/spool.h"

/* Transaction-level advisory lock keys (pg_advisory_xact_lock): one for
 * migrations, one serialising hash chain appends across nodes. "FAXG" + n. */
#define ARC_LOCK_MIGRATE 0x46415847000001LL
#define ARC_LOCK_CHAIN   0x46415847000002LL

/* Growable string. */
typedef struct arc__sb {
    char *s;
    size_t len, cap;
} arc__sb_t;

void arc__sb_init(arc__sb_t *b);
void arc__sb_add(arc__sb_t *b, const char *s);
void arc__sb_addn(arc__sb_t *b, const char *s, size_t n);
void arc__sb_addf(arc__sb_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Adds s as a JSON string literal (RFC 8259 clause 7), quotes included. */
void arc__sb_json_str(arc__sb_t *b, const char *s);
void arc__sb_fini(arc__sb_t *b);

/* One event of a fax's or job's history. */
typedef struct arc__event {
    uint64_t at_ms;  /* wall clock, ms since the epoch */
    char *kind;      /* short word: submitted dial connected page sent failed ... */
    char *detail;    /* the event text */
} arc__event_t;

/* A record mapped to the faxes row and its events. Strings are owned (may be
 * empty, never NULL). Freed with arc__fax_fini(). */
typedef struct arc__fax {
    char id[17];
    char *node;
    const char *direction;  /* "in" or "out" (static) */
    char *from_number, *to_number, *remote_ident;
    uint64_t started_ms, ended_ms;
    int pages;
    char *result, *reason;
    char *t30_json;         /* JSON object text */
    char *doc;              /* text for the full-text document */
    char *numbers;          /* PostgreSQL text[] literal of every number involved */
    char *image;            /* image file name in the same folder, "" if none */
    int n_events;
    arc__event_t *events;
} arc__fax_t;

/* Maps a final spool record (kind=received or kind=send) read from folder to
 * a row. default_node names the node when the record does not. 0 or
 * FX_ECORRUPT with why. */
int arc__map_rec(const spool_rec_t *r, const char *folder, const char *default_node,
                 arc__fax_t *out, char *why, size_t whylen);
void arc__fax_fini(arc__fax_t *f);

/* The event's kind from its text ("rcpt=0 dial 1 of 12 ..." -> "dial"). */
const char *arc__event_kind(const char *text);

/* hash = SHA-256(prev || fax_id || 0 || at_ms u64 BE || kind || 0 || detail). */
void arc__chain_hash(const uint8_t prev[SHA256_DIGEST_LEN], const char *fax_id, uint64_t at_ms,
                     const char *kind, const char *detail, uint8_t out[SHA256_DIGEST_LEN]);

/* A page's digest: SHA-256 over its width, length (u32 BE each) and raw
 * (still compressed) strip bytes, so the digest names the page's image data
 * independent of where in the file libtiff put it. */
typedef struct arc__page {
    int page;  /* 1-based */
    uint32_t width, length;
    uint8_t sha256[SHA256_DIGEST_LEN];
} arc__page_t;

/* Digests of every page of a TIFF. 0 (*pages malloc'd, may be 0 pages) or
 * FX_ECORRUPT / -errno. */
int arc__tiff_pages(const char *path, arc__page_t **pages, int *n);

/* Migrations (arc_db.c), applied in order; each in its own transaction. */
typedef struct arc__migration {
    int version;
    const char *name;
    const char *sql;
} arc__migration_t;
extern const arc__migration_t arc__migrations[];
extern const int arc__n_migrations;

/* Applies missing migrations. 0 or -EIO with why (the server's message). */
int arc__migrate(PGconn *c, char *why, size_t whylen);

/* Inserts f with its TIFF bytes and page digests in one transaction. *inserted
 * is false when the id was archived already (nothing changed). 0, FX_ECORRUPT
 * when the server refused this row's data (SQLSTATE class 22/23: retrying cannot
 * help), or -EIO (server or connection trouble) with why. */
int arc__store(PGconn *c, const arc__fax_t *f, const unsigned char *tiff, size_t tiff_len,
               const arc__page_t *pages, int n_pages, bool *inserted, char *why, size_t whylen);

/* Marker name "<id>.<folder>" and its parse; 0 or -EINVAL. */
int arc__marker_name(const char *folder, const char *id, char *buf, size_t len);
int arc__marker_parse(const char *name, char id[17], char *folder, size_t flen);

/* Replaces every byte not part of well-formed UTF-8 by '?', in place. */
void arc__utf8_clean(char *s);

/* Hex of bytes (2*n+1 buffer). */
void arc__hex(const uint8_t *p, size_t n, char *out);

/* ---- cluster (arc_cluster.c; see fax/arc.h and docs/cluster.md) ---- */

#include "fax/arc.h"

/* Schema of the cluster's tables (nodes, jobs): migration 2 in arc_db.c. */
extern const char arc__cluster_schema[];

/* The worker's cluster half: lease, mirroring (jobq/), takeover. Created by
 * arc_open_cluster() before the worker starts; every arc__cluster_* call
 * except arc__cluster_lease_live() is made on the worker thread. */
typedef struct arc__cluster arc__cluster_t;

/* 0 or -errno (jobq/ cannot be made). ino_fd: the worker's inotify fd (-1:
 * none) to which jobq/ is added. */
int arc__cluster_new(spool_t *spool, const char *node, int lease_seconds,
                     const arc_cluster_ops_t *ops, int ino_fd, arc__cluster_t **out);
void arc__cluster_free(arc__cluster_t *c);
/* The cluster of a, NULL when not in cluster mode (arc.c). */
arc__cluster_t *arc__cluster_of(arc_t *a);
/* A new connection: the next renewal re-checks ownership before dialling. */
void arc__cluster_connected(arc__cluster_t *c);
/* Milliseconds until the lease wants renewing (0: now). */
int arc__cluster_due_ms(const arc__cluster_t *c);
/* Renews the lease when due; on the first renewal after a (re)connect or a
 * lapse checks the ownership of every queue/ job; then takes over jobs of
 * expired nodes. 0, or -EIO when the database failed (reconnect). */
int arc__cluster_tick(arc__cluster_t *c, PGconn *conn);
/* Mirrors every waiting jobq/ marker, renewing the lease in between when due.
 * 0 or -EIO. */
int arc__cluster_mirror(arc__cluster_t *c, PGconn *conn, const atomic_bool *stop);

/* What the jobs row says about a job record (pure). */
typedef struct arc__job_sum {
    char id[17];
    char state[16];       /* job_state_name() of the job */
    char image[64];       /* image file name beside the record */
    char taken_by[64];    /* "taken_over_by": dropped here, another node owns it */
    int pages_total;
    int pages_confirmed;  /* pages every recipient confirmed */
    bool final;           /* done, failed or cancelled */
} arc__job_sum_t;

/* Summarises a kind=send record. 0 or FX_ECORRUPT with why. */
int arc__job_summary(const spool_rec_t *r, arc__job_sum_t *out, char *why, size_t whylen);

/* jobq/ marker names: "<id>" (waiting) or "<id>.w" (taken by the worker).
 * 0 with *taken set, or -EINVAL. */
int arc__jobq_parse(const char *name, char id[17], bool *taken);

/* libpq notice processor that drops server NOTICEs (migrations' "already
 * exists" chatter); errors still come back through the results. */
void arc__quiet_notice(void *arg, const char *message);

/* Reads a whole regular file (no symlinks) of at most max bytes into a new
 * buffer the caller frees. 0, FX_ERANGE (too big, not a file) or -errno. */
int arc__read_file(const char *path, size_t max, unsigned char **out, size_t *len);

#endif
