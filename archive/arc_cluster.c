/* arc_cluster: the cluster half of the archive worker (see fax/arc.h and
 * docs/cluster.md).
 *
 * Several nodes share one PostgreSQL; nothing else is shared and nothing here
 * is a consensus protocol of our own (DESIGN.md, Storage): every race between
 * nodes is decided by PostgreSQL row locks.
 *
 * - Lease: each node keeps a row in `nodes` whose lease_until it pushes to
 *   now() + lease every lease/3. Locally the lease counts from *before* the
 *   renewal was sent (monotonic clock), so the local view always ends no later
 *   than the database's: when this node stops dialling, no other node may
 *   have started yet.
 * - Mirror: every job change leaves a durable marker jobq/<id> (arc_job_mark,
 *   on the queue's thread, after the spool commit); the worker renames it to
 *   jobq/<id>.w, reads the record as it is now, upserts the `jobs` row (only
 *   while this node owns it) and unlinks the marker. A lost DB only delays
 *   this: the markers wait.
 * - Takeover: a non-final job whose owner's lease expired is claimed in one
 *   transaction that first locks the owner's `nodes` row (SELECT ... FOR
 *   UPDATE) and then moves the job (UPDATE ... WHERE owner = old). The owner's
 *   own renewal locks the same row, so a renewal and a takeover are ordered:
 *   either the renewal wins (the lease is live again, nothing is taken) or the
 *   takeover commits first and the owner's next ownership check sees it.
 * - Ownership check: the first renewal after start, after a reconnect and
 *   after any lapse bumps the lease generation; faxd dials only while its
 *   acknowledged generation equals the worker's (arc_cluster_lease_live), and
 *   acknowledges only after dropping every queue/ job another node owns. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arc_int.h"
#include "fax/fx.h"

#define CL_MAX_REC   (4u << 20)   /* a job record is far below this (spool.h: 1024 x 64 KiB) */
#define CL_MAX_TIFF  (256u << 20) /* as the archive: one bytea per image */
#define CL_TAKE_BATCH 32          /* jobs looked at per takeover scan */

const char arc__cluster_schema[] =
    "CREATE TABLE nodes (\n"
    "    name        text PRIMARY KEY,\n"
    "    lease_until timestamptz NOT NULL,\n"
    "    heartbeat   timestamptz NOT NULL,\n"
    "    lease_ms    integer NOT NULL DEFAULT 0\n"
    ");\n"
    "CREATE TABLE jobs (\n"
    "    id              text PRIMARY KEY,\n"
    "    owner           text NOT NULL,\n"
    "    state           text NOT NULL,\n"
    "    pages_total     integer NOT NULL DEFAULT 0,\n"
    "    pages_confirmed integer NOT NULL DEFAULT 0,\n"
    "    final           boolean NOT NULL DEFAULT false,\n"
    "    rec             bytea NOT NULL,\n"
    "    tiff            bytea,\n"
    "    taken_from      text NOT NULL DEFAULT '',\n"
    "    takeovers       integer NOT NULL DEFAULT 0,\n"
    "    taken_at        timestamptz,\n"
    "    created         timestamptz NOT NULL DEFAULT now(),\n"
    "    updated         timestamptz NOT NULL DEFAULT now()\n"
    ");\n"
    "CREATE INDEX jobs_live ON jobs (owner) WHERE NOT final;\n";

struct arc__cluster {
    spool_t *spool;             /* borrowed */
    char node[64];
    char jobq[4096];            /* <spool>/jobq */
    int lease_ms;
    arc_cluster_ops_t ops;
    _Atomic uint64_t deadline;  /* fx_now_ms() until which the lease is ours */
    atomic_uint gen;            /* lease generation (see the file comment) */
    /* worker thread only */
    uint64_t next_renew;        /* fx_now_ms() of the next renewal */
    bool need_verify;           /* ownership check due with the next renewal */
    bool verified;              /* the current generation was checked */
    bool had_lease;             /* for the log: first lease vs. a lapse */
};

/* ---- pure helpers ---- */

static bool is_id(const char *s)
{
    if (strlen(s) != 16)
        return false;
    for (int i = 0; i < 16; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F')))
            return false;
    return true;
}

int arc__jobq_parse(const char *name, char id[17], bool *taken)
{
    size_t n = strlen(name);
    if (n != 16 && !(n == 18 && strcmp(name + 16, ".w") == 0))
        return -EINVAL;
    memcpy(id, name, 16);
    id[16] = '\0';
    if (!is_id(id))
        return -EINVAL;
    *taken = n == 18;
    return 0;
}

/* Non-negative decimal int attribute; -1 when absent or malformed. */
static int attr_int(const spool_rec_t *r, const char *key)
{
    const char *v = spool_rec_get(r, key);
    if (v == NULL || v[0] == '\0' || strlen(v) > 9 || strspn(v, "0123456789") != strlen(v))
        return -1;
    return atoi(v);
}

int arc__job_summary(const spool_rec_t *r, arc__job_sum_t *out, char *why, size_t wl)
{
    memset(out, 0, sizeof *out);
    const char *id = spool_rec_get(r, "id"), *kind = spool_rec_get(r, "kind");
    const char *state = spool_rec_get(r, "state"), *image = spool_rec_get(r, "image");
    if (id == NULL || !is_id(id)) {
        snprintf(why, wl, "job record has no valid id");
        return FX_ECORRUPT;
    }
    if (kind == NULL || strcmp(kind, "send") != 0) {
        snprintf(why, wl, "record is not a job (kind=send)");
        return FX_ECORRUPT;
    }
    if (state == NULL || state[0] == '\0' || strlen(state) >= sizeof out->state) {
        snprintf(why, wl, "job record has no valid state");
        return FX_ECORRUPT;
    }
    if (image == NULL || strlen(image) >= sizeof out->image || strchr(image, '/') != NULL) {
        snprintf(why, wl, "job record has no valid image name");
        return FX_ECORRUPT;
    }
    int total = attr_int(r, "pages_total"), n = attr_int(r, "n_rcpt");
    if (total < 0 || n < 1 || n > 1024) {
        snprintf(why, wl, "job record has a bad page or recipient count");
        return FX_ECORRUPT;
    }
    int confirmed = total;
    for (int i = 0; i < n; i++) {
        char k[48];
        snprintf(k, sizeof k, "rcpt.%d.pages", i);
        int p = attr_int(r, k);
        if (p < 0) {
            snprintf(why, wl, "job record lacks '%s'", k);
            return FX_ECORRUPT;
        }
        if (p < confirmed)
            confirmed = p;
    }
    fx_strlcpy(out->id, id, sizeof out->id);
    fx_strlcpy(out->state, state, sizeof out->state);
    fx_strlcpy(out->image, image, sizeof out->image);
    const char *tb = spool_rec_get(r, "taken_over_by");
    if (tb != NULL)
        fx_strlcpy(out->taken_by, tb[0] ? tb : "?", sizeof out->taken_by);
    out->pages_total = total;
    out->pages_confirmed = confirmed;
    /* job_state_final(): done, failed, cancelled (fax/job.h). */
    out->final = strcmp(state, "done") == 0 || strcmp(state, "failed") == 0
                 || strcmp(state, "cancelled") == 0;
    return 0;
}

/* ---- markers (any thread) ---- */

int arc_job_mark(spool_t *spool, const char *id)
{
    if (id == NULL || !is_id(id))
        return -EINVAL;
    char p[4200];
    int rc = spool_path(spool, "jobq", id, p, sizeof p);
    if (rc < 0)
        return rc;
    struct stat st;
    /* A waiting marker (not yet renamed to .w by the worker) covers this
     * change too: the worker reads the record only after taking the marker. */
    if (stat(p, &st) == 0)
        return 0;
    spool_rec_t r;
    spool_rec_init(&r);
    spool_rec_add(&r, "id", id);
    rc = spool_store_rec(spool, "jobq", id, &r);
    if (rc == -ENOENT) {
        /* An older spool without jobq/ (spool_open() does not know it). */
        char dir[4200];
        if (spool_path(spool, "jobq", "x", dir, sizeof dir) == 0) {
            dir[strlen(dir) - 2] = '\0';
            if (mkdir(dir, 0700) == 0 || errno == EEXIST)
                rc = spool_store_rec(spool, "jobq", id, &r);
        }
    }
    spool_rec_free(&r);
    if (rc < 0)
        fx_log(FX_LOG_ERR, FX_FAC_DB, "cluster: cannot write job marker job=%s err=%s", id,
               fx_strerror(rc));
    return rc;
}

/* ---- lifecycle and the gate ---- */

int arc__cluster_new(spool_t *spool, const char *node, int lease_seconds,
                     const arc_cluster_ops_t *ops, int ino_fd, arc__cluster_t **out)
{
    *out = NULL;
    if (lease_seconds < 3 || ops == NULL)
        return -EINVAL;
    arc__cluster_t *c = fx_calloc(1, sizeof *c);
    c->spool = spool;
    fx_strlcpy(c->node, node, sizeof c->node);
    c->lease_ms = lease_seconds * 1000;
    c->ops = *ops;
    atomic_init(&c->deadline, 0);
    atomic_init(&c->gen, 0);
    c->need_verify = true;
    int rc = spool_path(spool, "jobq", "x", c->jobq, sizeof c->jobq);
    if (rc < 0) {
        free(c);
        return rc;
    }
    c->jobq[strlen(c->jobq) - 2] = '\0';
    if (mkdir(c->jobq, 0700) < 0 && errno != EEXIST) {
        rc = -errno;
        free(c);
        return rc;
    }
    if (ino_fd >= 0 && inotify_add_watch(ino_fd, c->jobq, IN_MOVED_TO | IN_CREATE) < 0)
        fx_log(FX_LOG_WARN, FX_FAC_DB, "cluster: no inotify on %s (%s); mirroring on rescans",
               c->jobq, strerror(errno));
    *out = c;
    return 0;
}

void arc__cluster_free(arc__cluster_t *c)
{
    free(c);
}

bool arc_cluster_lease_live(arc_t *a, unsigned verified_gen)
{
    arc__cluster_t *c = arc__cluster_of(a);
    if (c == NULL)
        return false;
    return atomic_load(&c->gen) == verified_gen && fx_now_ms() < atomic_load(&c->deadline);
}

void arc_cluster_status(arc_t *a, int64_t *left_ms, unsigned *gen)
{
    arc__cluster_t *c = arc__cluster_of(a);
    *left_ms = 0;
    *gen = 0;
    if (c == NULL)
        return;
    uint64_t now = fx_now_ms(), d = atomic_load(&c->deadline);
    *left_ms = d > now ? (int64_t)(d - now) : 0;
    *gen = atomic_load(&c->gen);
}

void arc__cluster_connected(arc__cluster_t *c)
{
    /* Conservative: while disconnected this node could not see a takeover;
     * check ownership again before the next dial. */
    c->need_verify = true;
    c->verified = false;
    atomic_fetch_add(&c->gen, 1u);
    c->next_renew = 0;
}

int arc__cluster_due_ms(const arc__cluster_t *c)
{
    uint64_t now = fx_now_ms();
    if (c->next_renew <= now)
        return 0;
    uint64_t d = c->next_renew - now;
    return d > INT_MAX ? INT_MAX : (int)d;
}

/* ---- SQL helpers ---- */

static void cl_why(PGconn *conn, char *why, size_t wl)
{
    snprintf(why, wl, "%s", PQerrorMessage(conn));
    size_t n = strlen(why);
    while (n > 0 && (why[n - 1] == '\n' || why[n - 1] == ' '))
        why[--n] = '\0';
    for (char *p = why; *p; p++)
        if (*p == '\n')
            *p = ' ';
}

/* One statement; *out gets the result when wanted (caller PQclear's). 0,
 * FX_ECORRUPT (SQLSTATE class 22/23: this row's data, PostgreSQL 15 docs
 * appendix A) or -EIO, with why. */
static int cl_exec(PGconn *conn, const char *sql, int n, const char *const *vals, const int *lens,
                   const int *fmts, int result_fmt, PGresult **out, char *why, size_t wl)
{
    if (out != NULL)
        *out = NULL;
    PGresult *r = PQexecParams(conn, sql, n, NULL, vals, lens, fmts, result_fmt);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        cl_why(conn, why, wl);
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        bool data = state != NULL && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0);
        PQclear(r);
        return data ? FX_ECORRUPT : -EIO;
    }
    if (out != NULL)
        *out = r;
    else
        PQclear(r);
    return 0;
}

static void cl_rollback(PGconn *conn)
{
    PQclear(PQexec(conn, "ROLLBACK"));
}

static bool file_exists(spool_t *spool, const char *sub, const char *name)
{
    char p[4200];
    struct stat st;
    return spool_path(spool, sub, name, p, sizeof p) == 0 && stat(p, &st) == 0;
}

/* The "{a,b}" text[] literal of the ids of queue/'s job records; count or -errno. */
static int queue_ids(spool_t *spool, arc__sb_t *out)
{
    char dir[4200];
    arc__sb_add(out, "{");
    if (spool_path(spool, "queue", "x", dir, sizeof dir) < 0)
        return -ENAMETOOLONG;
    dir[strlen(dir) - 2] = '\0';
    DIR *d = opendir(dir);
    if (d == NULL)
        return -errno;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char id[17];
        if (strlen(e->d_name) != 20 || strcmp(e->d_name + 16, ".rec") != 0)
            continue;
        memcpy(id, e->d_name, 16);
        id[16] = '\0';
        if (!is_id(id))
            continue;
        arc__sb_addf(out, "%s%s", n++ ? "," : "", id);
    }
    closedir(d);
    arc__sb_add(out, "}");
    return n;
}

/* ---- lease ---- */

/* Pushes this node's lease to now() + lease. *continuous: the lease was
 * still running when renewed (no other node may have taken anything). */
static int renew(arc__cluster_t *c, PGconn *conn, uint64_t sent, char *why, size_t wl)
{
    char lease[16];
    snprintf(lease, sizeof lease, "%d", c->lease_ms);
    const char *p[2] = { c->node, lease };
    PGresult *r = NULL;
    int rc = cl_exec(conn, "BEGIN", 0, NULL, NULL, NULL, 0, NULL, why, wl);
    /* The row lock orders this renewal against any takeover (file comment). */
    if (rc == 0)
        rc = cl_exec(conn, "SELECT lease_until >= now() FROM nodes WHERE name = $1 FOR UPDATE", 1,
                     p, NULL, NULL, 0, &r, why, wl);
    bool continuous = false;
    if (rc == 0) {
        continuous = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
        PQclear(r);
    }
    if (rc == 0 && (!continuous || c->need_verify)) {
        /* Close the gate before the new deadline becomes visible. */
        atomic_fetch_add(&c->gen, 1u);
        c->need_verify = true;
        c->verified = false;
    }
    if (rc == 0)
        rc = cl_exec(conn,
                     "INSERT INTO nodes (name, lease_until, heartbeat, lease_ms) "
                     "VALUES ($1, now() + $2::integer * interval '1 millisecond', now(), "
                     "$2::integer) "
                     "ON CONFLICT (name) DO UPDATE SET lease_until = EXCLUDED.lease_until, "
                     "heartbeat = EXCLUDED.heartbeat, lease_ms = EXCLUDED.lease_ms",
                     2, p, NULL, NULL, 0, NULL, why, wl);
    if (rc == 0)
        rc = cl_exec(conn, "COMMIT", 0, NULL, NULL, NULL, 0, NULL, why, wl);
    if (rc < 0) {
        cl_rollback(conn);
        return -EIO;
    }
    /* now() in the database is the transaction's start, after `sent`: our
     * local end of the lease comes no later than the database's. */
    atomic_store(&c->deadline, sent + (uint64_t)c->lease_ms);
    if (!c->had_lease)
        fx_log(FX_LOG_NOTICE, FX_FAC_DB, "cluster: lease taken node=%s lease_s=%d", c->node,
               c->lease_ms / 1000);
    else if (!continuous)
        fx_log(FX_LOG_WARN, FX_FAC_DB, "cluster: lease had expired, renewed node=%s "
               "(checking which jobs are still ours)", c->node);
    c->had_lease = true;
    return 0;
}

/* ---- taking jobs into the local spool ---- */

/* Writes a job fetched from the database into queue/ durably (image first,
 * so a record in queue/ always has its image) and tells faxd. 0, or a
 * negative code (logged). */
static int store_local(arc__cluster_t *c, const char *id, const char *from,
                       const unsigned char *rec, size_t rec_len, const unsigned char *tiff,
                       size_t tiff_len, bool have_tiff)
{
    char why[512];
    spool_rec_t r;
    spool_rec_init(&r);
    int rc = spool_rec_decode(rec, rec_len, &r, why, sizeof why);
    arc__job_sum_t sum;
    if (rc == 0)
        rc = arc__job_summary(&r, &sum, why, sizeof why);
    if (rc == 0 && strcmp(sum.id, id) != 0) {
        snprintf(why, sizeof why, "record names job %s", sum.id);
        rc = FX_ECORRUPT;
    }
    if (rc == 0 && !have_tiff) {
        snprintf(why, sizeof why, "the database holds no image for it");
        rc = FX_ECORRUPT;
    }
    if (rc < 0) {
        spool_rec_free(&r);
        fx_log(FX_LOG_ERR, FX_FAC_DB, "cluster: job unusable, not taken into the spool job=%s "
               "reason=\"%s\"", id, why);
        return rc;
    }
    char tmp_name[64], tmp[4200], rec_name[40];
    snprintf(tmp_name, sizeof tmp_name, "%s.take", id);
    snprintf(rec_name, sizeof rec_name, "%s.rec", id);
    if (spool_path(c->spool, "tmp", tmp_name, tmp, sizeof tmp) == 0)
        unlink(tmp); /* left by an earlier attempt that crashed */
    rc = spool_create_tmp(c->spool, tmp_name, tmp, sizeof tmp);
    int fd = -1;
    if (rc == 0) {
        fd = open(tmp, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            rc = -errno;
    }
    for (size_t off = 0; rc == 0 && off < tiff_len;) {
        ssize_t w = write(fd, tiff + off, tiff_len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            rc = w < 0 ? -errno : -EIO;
        else
            off += (size_t)w;
    }
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    if (fd >= 0 && close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0)
        rc = spool_move(c->spool, "tmp", tmp_name, "queue", sum.image);
    if (rc == 0) {
        /* Taken back after this node had dropped it: the old copy goes. */
        spool_rec_t old;
        char w2[64];
        if (spool_load_rec(c->spool, "failed", rec_name, &old, w2, sizeof w2) == 0
            && spool_rec_get(&old, "taken_over_by") != NULL) {
            char p[4200];
            if (spool_path(c->spool, "failed", rec_name, p, sizeof p) == 0)
                unlink(p);
            if (spool_path(c->spool, "failed", sum.image, p, sizeof p) == 0)
                unlink(p);
        }
        spool_rec_free(&old);
        rc = spool_store_rec(c->spool, "queue", rec_name, &r);
    }
    spool_rec_free(&r);
    if (rc < 0) {
        unlink(tmp);
        fx_log(FX_LOG_ERR, FX_FAC_DB, "cluster: cannot write job into the spool job=%s err=%s",
               id, fx_strerror(rc));
        return rc;
    }
    c->ops.adopt(c->ops.user, id, from);
    return 0;
}

/* Jobs this node owns and is not finished with, but its spool lacks (a crash
 * between a takeover's commit and its spool write). */
static int restore_orphans(arc__cluster_t *c, PGconn *conn, char *why, size_t wl)
{
    const char *p[1] = { c->node };
    PGresult *r;
    int rc = cl_exec(conn, "SELECT id, rec, tiff, tiff IS NOT NULL FROM jobs "
                     "WHERE owner = $1 AND NOT final ORDER BY id",
                     1, p, NULL, NULL, 1, &r, why, wl);
    if (rc < 0)
        return -EIO;
    for (int i = 0; i < PQntuples(r); i++) {
        char id[17];
        if (PQgetlength(r, i, 0) != 16)
            continue;
        memcpy(id, PQgetvalue(r, i, 0), 16);
        id[16] = '\0';
        if (!is_id(id))
            continue;
        char name[40];
        snprintf(name, sizeof name, "%s.rec", id);
        if (file_exists(c->spool, "queue", name) || file_exists(c->spool, "done", name))
            continue;
        if (file_exists(c->spool, "failed", name)) {
            spool_rec_t fr;
            char w2[64];
            bool dropped = spool_load_rec(c->spool, "failed", name, &fr, w2, sizeof w2) == 0
                           && spool_rec_get(&fr, "taken_over_by") != NULL;
            spool_rec_free(&fr);
            if (!dropped)
                continue;
        }
        fx_log(FX_LOG_NOTICE, FX_FAC_DB, "cluster: job owned here is missing from the spool, "
               "restoring it job=%s", id);
        bool have_tiff = PQgetlength(r, i, 3) == 1 && PQgetvalue(r, i, 3)[0] == 1;
        store_local(c, id, c->node, (const unsigned char *)PQgetvalue(r, i, 1),
                    (size_t)PQgetlength(r, i, 1), (const unsigned char *)PQgetvalue(r, i, 2),
                    (size_t)PQgetlength(r, i, 2), have_tiff);
    }
    PQclear(r);
    return 0;
}

/* Tells faxd which queue/ jobs other nodes own, completes interrupted
 * takeovers, then acknowledges the generation. */
static int verify(arc__cluster_t *c, PGconn *conn, char *why, size_t wl)
{
    unsigned gen = atomic_load(&c->gen);
    arc__sb_t ids;
    arc__sb_init(&ids);
    int n = queue_ids(c->spool, &ids);
    if (n < 0) {
        fx_log(FX_LOG_ERR, FX_FAC_DB, "cluster: cannot list the queue err=%s", fx_strerror(n));
        arc__sb_fini(&ids);
        return 0; /* not a database failure; the gate stays shut, try next renewal */
    }
    int foreign = 0;
    if (n > 0) {
        const char *p[2] = { ids.s, c->node };
        PGresult *r;
        int rc = cl_exec(conn, "SELECT id, owner FROM jobs WHERE id = ANY($1::text[]) "
                         "AND owner <> $2 ORDER BY id",
                         2, p, NULL, NULL, 0, &r, why, wl);
        if (rc < 0) {
            arc__sb_fini(&ids);
            return -EIO;
        }
        for (int i = 0; i < PQntuples(r); i++) {
            const char *id = PQgetvalue(r, i, 0), *owner = PQgetvalue(r, i, 1);
            fx_log(FX_LOG_NOTICE, FX_FAC_DB, "cluster: job in our queue is owned by node %s "
                   "now, dropping it job=%s", owner, id);
            c->ops.foreign(c->ops.user, id, owner);
            foreign++;
        }
        PQclear(r);
    }
    arc__sb_fini(&ids);
    if (restore_orphans(c, conn, why, wl) < 0)
        return -EIO;
    c->need_verify = false;
    c->verified = true;
    c->ops.verified(c->ops.user, gen);
    fx_log(FX_LOG_NOTICE, FX_FAC_DB, "cluster: ownership checked node=%s queue=%d foreign=%d "
           "gen=%u", c->node, n, foreign, gen);
    return 0;
}

/* Claims job id from node old and takes it into the spool. 0 (taken or not
 * claimable), -EIO on database trouble. */
static int claim(arc__cluster_t *c, PGconn *conn, const char *id, const char *old, char *why,
                 size_t wl)
{
    const char *p[3] = { old, c->node, id };
    PGresult *r = NULL;
    int rc = cl_exec(conn, "BEGIN", 0, NULL, NULL, NULL, 0, NULL, why, wl);
    /* Lock the owner's row whatever its lease says: its renewal waits for us
     * (or we for it, and then see the lease running again). */
    if (rc == 0)
        rc = cl_exec(conn, "SELECT lease_until >= now() FROM nodes WHERE name = $1 FOR UPDATE",
                     1, p, NULL, NULL, 0, &r, why, wl);
    bool alive = false;
    if (rc == 0) {
        alive = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
        PQclear(r);
        r = NULL;
    }
    if (rc == 0 && alive) {
        cl_rollback(conn);
        return 0;
    }
    if (rc == 0)
        rc = cl_exec(conn,
                     "UPDATE jobs SET owner = $2, taken_from = $1, takeovers = takeovers + 1, "
                     "taken_at = now(), updated = now() WHERE id = $3 AND owner = $1 AND NOT final "
                     "RETURNING rec, tiff, tiff IS NOT NULL",
                     3, p, NULL, NULL, 1, &r, why, wl);
    if (rc == 0 && PQntuples(r) != 1) {
        /* Another node was quicker, or the job ended meanwhile. */
        PQclear(r);
        cl_rollback(conn);
        return 0;
    }
    if (rc == 0)
        rc = cl_exec(conn, "COMMIT", 0, NULL, NULL, NULL, 0, NULL, why, wl);
    if (rc < 0) {
        PQclear(r);
        cl_rollback(conn);
        return -EIO;
    }
    fx_log(FX_LOG_NOTICE, FX_FAC_DB, "cluster: took over job=%s from=%s node=%s", id, old,
           c->node);
    bool have_tiff = PQgetlength(r, 0, 2) == 1 && PQgetvalue(r, 0, 2)[0] == 1;
    /* A failure here leaves the job ours in the database; restore_orphans()
     * brings it in at the next ownership check. */
    if (store_local(c, id, old, (const unsigned char *)PQgetvalue(r, 0, 0),
                    (size_t)PQgetlength(r, 0, 0), (const unsigned char *)PQgetvalue(r, 0, 1),
                    (size_t)PQgetlength(r, 0, 1), have_tiff) < 0)
        c->need_verify = true;
    PQclear(r);
    return 0;
}

static int takeover_scan(arc__cluster_t *c, PGconn *conn, char *why, size_t wl)
{
    const char *p[1] = { c->node };
    PGresult *r;
    int rc = cl_exec(conn,
                     "SELECT j.id, j.owner FROM jobs j LEFT JOIN nodes n ON n.name = j.owner "
                     "WHERE NOT j.final AND j.owner <> $1 "
                     "AND (n.lease_until IS NULL OR n.lease_until < now()) "
                     "ORDER BY j.id LIMIT 32", /* CL_TAKE_BATCH */
                     1, p, NULL, NULL, 0, &r, why, wl);
    if (rc < 0)
        return -EIO;
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        char id[17], old[64];
        fx_strlcpy(id, PQgetvalue(r, i, 0), sizeof id);
        fx_strlcpy(old, PQgetvalue(r, i, 1), sizeof old);
        if (!is_id(id))
            continue;
        rc = claim(c, conn, id, old, why, wl);
    }
    PQclear(r);
    return rc;
}

int arc__cluster_tick(arc__cluster_t *c, PGconn *conn)
{
    uint64_t now = fx_now_ms();
    if (now < c->next_renew)
        return 0;
    char why[1024];
    int rc = renew(c, conn, now, why, sizeof why);
    if (rc == 0 && c->need_verify)
        rc = verify(c, conn, why, sizeof why);
    /* Take only what we may dial: our lease runs and our queue is checked. */
    if (rc == 0 && c->verified)
        rc = takeover_scan(c, conn, why, sizeof why);
    if (rc < 0) {
        fx_log(FX_LOG_ERR, FX_FAC_DB, "cluster: lease or takeover failed node=%s reason=\"%s\"",
               c->node, why);
        return rc;
    }
    c->next_renew = now + (uint64_t)c->lease_ms / 3;
    return 0;
}

/* ---- mirror ---- */

static void unlink_marker(arc__cluster_t *c, const char *name)
{
    char p[4200];
    if (spool_path(c->spool, "jobq", name, p, sizeof p) == 0 && unlink(p) < 0 && errno != ENOENT)
        fx_log(FX_LOG_ERR, FX_FAC_DB, "cluster: cannot remove marker %s err=%s", name,
               strerror(errno));
}

/* Mirrors job id (marker wname, already taken). 0 when dealt with, -EIO when
 * the database failed (marker kept). */
static int mirror_one(arc__cluster_t *c, PGconn *conn, const char *id, const char *wname)
{
    static const char *const folders[] = { "queue", "done", "failed" };
    char rec_name[40], why[1024];
    snprintf(rec_name, sizeof rec_name, "%s.rec", id);
    spool_rec_t r;
    const char *folder = NULL;
    int rc = -ENOENT;
    for (size_t i = 0; i < sizeof folders / sizeof folders[0]; i++) {
        rc = spool_load_rec(c->spool, folders[i], rec_name, &r, why, sizeof why);
        if (rc != -ENOENT) {
            folder = folders[i];
            break;
        }
        spool_rec_free(&r);
    }
    if (rc == -ENOENT) {
        unlink_marker(c, wname);
        return 0;
    }
    arc__job_sum_t sum;
    if (rc == 0)
        rc = arc__job_summary(&r, &sum, why, sizeof why);
    spool_rec_free(&r);
    if (rc < 0) {
        fx_log(FX_LOG_ERR, FX_FAC_DB, "cluster: job record unusable, not mirrored job=%s "
               "folder=%s reason=\"%s\"", id, folder, rc == FX_ECORRUPT ? why : fx_strerror(rc));
        unlink_marker(c, wname);
        return 0;
    }
    if (sum.taken_by[0] != '\0') {
        unlink_marker(c, wname); /* dropped here: the row is another node's */
        return 0;
    }
    char path[4200];
    unsigned char *rec = NULL, *tiff = NULL;
    size_t rec_len = 0, tiff_len = 0;
    rc = spool_path(c->spool, folder, rec_name, path, sizeof path);
    if (rc == 0)
        rc = arc__read_file(path, CL_MAX_REC, &rec, &rec_len);
    if (rc < 0) {
        /* Moved between load and read (the job just finished): the marker of
         * that change follows, or this one is retried. */
        fx_log(FX_LOG_DEBUG, FX_FAC_DB, "cluster: record moved while mirroring job=%s", id);
        return 0;
    }
    char total[16], conf[16];
    snprintf(total, sizeof total, "%d", sum.pages_total);
    snprintf(conf, sizeof conf, "%d", sum.pages_confirmed);
    const char *fin = sum.final ? "true" : "false";
    const char *p[8] = { id, c->node, sum.state, total, conf, fin, (const char *)rec, NULL };
    int lens[8] = { 0, 0, 0, 0, 0, 0, (int)rec_len, 0 };
    int fmts[8] = { 0, 0, 0, 0, 0, 0, 1, 1 };
    PGresult *res = NULL;
    /* The final row drops its image: the archive (faxes, fax_files) has it. */
    rc = cl_exec(conn,
                 "UPDATE jobs SET state = $3, pages_total = $4::integer, pages_confirmed = "
                 "$5::integer, final = $6::boolean, rec = $7, "
                 "tiff = CASE WHEN $6::boolean THEN NULL ELSE tiff END, updated = now() "
                 "WHERE id = $1 AND owner = $2",
                 7, p, lens, fmts, 0, &res, why, sizeof why);
    bool updated = rc == 0 && strcmp(PQcmdTuples(res), "1") == 0;
    PQclear(res);
    bool foreign = false;
    if (rc == 0 && !updated) {
        if (!sum.final && spool_path(c->spool, folder, sum.image, path, sizeof path) == 0
            && arc__read_file(path, CL_MAX_TIFF, &tiff, &tiff_len) < 0)
            fx_log(FX_LOG_WARN, FX_FAC_DB, "cluster: job image unreadable, mirrored without "
                   "it (no other node can take it over) job=%s", id);
        p[7] = (const char *)tiff;
        lens[7] = (int)tiff_len;
        rc = cl_exec(conn,
                     "INSERT INTO jobs (id, owner, state, pages_total, pages_confirmed, final, "
                     "rec, tiff) VALUES ($1, $2, $3, $4::integer, $5::integer, $6::boolean, $7, "
                     "$8) ON CONFLICT (id) DO NOTHING",
                     8, p, lens, fmts, 0, &res, why, sizeof why);
        foreign = rc == 0 && strcmp(PQcmdTuples(res), "0") == 0;
        PQclear(res);
    }
    free(rec);
    free(tiff);
    if (rc == FX_ECORRUPT) {
        fx_log(FX_LOG_ERR, FX_FAC_DB, "cluster: job refused by the database job=%s "
               "reason=\"%s\"", id, why);
        unlink_marker(c, wname);
        return 0;
    }
    if (rc < 0) {
        fx_log(FX_LOG_ERR, FX_FAC_DB, "cluster: mirroring failed job=%s reason=\"%s\"", id, why);
        return -EIO;
    }
    if (foreign)
        /* Another node took it over: our copy is dropped at the next check. */
        fx_log(FX_LOG_WARN, FX_FAC_DB, "cluster: job owned by another node, change not "
               "mirrored job=%s state=%s", id, sum.state);
    else
        fx_log(FX_LOG_DEBUG, FX_FAC_DB, "cluster: mirrored job=%s state=%s pages=%d/%d%s", id,
               sum.state, sum.pages_confirmed, sum.pages_total, sum.final ? " final" : "");
    if (foreign)
        c->need_verify = true;
    unlink_marker(c, wname);
    return 0;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

int arc__cluster_mirror(arc__cluster_t *c, PGconn *conn, const atomic_bool *stop)
{
    DIR *d = opendir(c->jobq);
    if (d == NULL) {
        fx_log(FX_LOG_ERR, FX_FAC_DB, "cluster: cannot list %s err=%s", c->jobq, strerror(errno));
        return 0;
    }
    int n = 0, cap = 0;
    char **v = NULL;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char id[17];
        bool taken;
        if (arc__jobq_parse(e->d_name, id, &taken) < 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            v = fx_realloc(v, (size_t)cap * sizeof *v);
        }
        v[n++] = fx_strdup(e->d_name);
    }
    closedir(d);
    if (n > 1)
        qsort(v, (size_t)n, sizeof *v, cmp_str); /* ids start with the time: oldest first */
    int rc = 0;
    for (int i = 0; i < n && rc == 0 && !atomic_load(stop); i++) {
        rc = arc__cluster_tick(c, conn);
        char id[17], wname[24];
        bool taken;
        if (rc < 0 || arc__jobq_parse(v[i], id, &taken) < 0)
            continue;
        snprintf(wname, sizeof wname, "%s.w", id);
        if (!taken) {
            /* Take the marker before reading the record: a change stored
             * after this rename writes a new marker (arc_job_mark). */
            char from[4200], to[4200];
            if (spool_path(c->spool, "jobq", v[i], from, sizeof from) < 0
                || spool_path(c->spool, "jobq", wname, to, sizeof to) < 0)
                continue;
            if (rename(from, to) < 0)
                continue;
        }
        rc = mirror_one(c, conn, id, wname);
    }
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
    return rc;
}
