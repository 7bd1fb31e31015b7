/* arc: the archive worker (see include/fax/arc.h).
 *
 * One thread per faxd with its own blocking libpq connection. Work comes from
 * marker files in the spool's arcq/ folder, named "<id>.<folder>": the
 * marker is written durably (tmp, fsync, rename, fsync dir) on the caller's
 * thread, the worker finds it through inotify(7) (or the wake eventfd, or a
 * rescan every ARC_RESCAN_MS), archives the record in one transaction and only
 * then unlinks the marker. A crash between commit and unlink replays the
 * marker; the insert is idempotent on the id (ON CONFLICT DO NOTHING), so
 * nothing is archived twice. With the database down nothing is lost: the
 * markers wait and the worker reconnects with backoff (Postfix's deferred
 * queue works the same way). */
#include "fax/arc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arc_int.h"
#include "fax/fx.h"

#define ARC_BACKOFF_MIN_MS 1000
#define ARC_BACKOFF_MAX_MS 30000
#define ARC_RESCAN_MS      30000
#define ARC_MAX_TIFF       (256u << 20) /* refuse to load larger images into one bytea */

struct arc {
    char *dsn;
    spool_t *spool;             /* borrowed */
    char node[64];
    char arcq[4096];            /* <spool>/arcq */
    pthread_t thread;
    int stop_fd;                /* eventfd: arc_close() */
    int wake_fd;                /* eventfd: arc_submit() */
    int ino_fd;                 /* inotify on arcq/, -1 if unavailable */
    atomic_bool stop;
    atomic_int state;           /* arc_state_t */
    PGconn *conn;               /* worker thread only */
    bool reconciled;            /* worker thread only */
    arc__cluster_t *cl;         /* cluster: lease, job mirror, takeover (arc_cluster.c); or NULL */
};

arc__cluster_t *arc__cluster_of(arc_t *a)
{
    return a != NULL ? a->cl : NULL;
}

const char *arc_state_name(arc_state_t s)
{
    switch (s) {
    case ARC_ST_CONNECTING: return "connecting";
    case ARC_ST_OK: return "ok";
    case ARC_ST_DOWN: return "down";
    }
    return "?";
}

/* ---- markers ---- */

int arc_mark(spool_t *spool, const char *folder, const char *id)
{
    char name[64];
    int rc = arc__marker_name(folder, id, name, sizeof name);
    if (rc < 0)
        return rc;
    spool_rec_t r;
    spool_rec_init(&r);
    spool_rec_add(&r, "id", id);
    spool_rec_add(&r, "folder", folder);
    rc = spool_store_rec(spool, "arcq", name, &r);
    spool_rec_free(&r);
    if (rc < 0)
        fx_log(FX_LOG_ERR, FX_FAC_DB, "archive: cannot write marker fax=%s folder=%s err=%s", id,
               folder, fx_strerror(rc));
    return rc;
}

int arc_submit(arc_t *a, const char *folder, const char *id)
{
    int rc = arc_mark(a->spool, folder, id);
    if (rc == 0) {
        uint64_t one = 1;
        if (write(a->wake_fd, &one, sizeof one) < 0) {
            /* The counter cannot overflow in practice; inotify wakes us anyway. */
        }
    }
    return rc;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Marker names in arcq/, sorted (ids start with the time, so oldest first).
 * Returns the count (names malloc'd) or -errno. */
static int list_markers(const char *dir, char ***out)
{
    *out = NULL;
    DIR *d = opendir(dir);
    if (d == NULL)
        return -errno;
    int n = 0, cap = 0;
    char **v = NULL;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char id[17], folder[16];
        if (arc__marker_parse(e->d_name, id, folder, sizeof folder) < 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            v = fx_realloc(v, (size_t)cap * sizeof *v);
        }
        v[n++] = fx_strdup(e->d_name);
    }
    closedir(d);
    if (n > 1)
        qsort(v, (size_t)n, sizeof *v, cmp_str);
    *out = v;
    return n;
}

static void free_names(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void arc_status(arc_t *a, arc_state_t *state, int *backlog)
{
    *state = (arc_state_t)atomic_load(&a->state);
    char **v;
    int n = list_markers(a->arcq, &v);
    *backlog = n < 0 ? 0 : n;
    if (n > 0)
        free_names(v, n);
}

/* ---- worker ---- */

/* Sleeps up to ms; returns early on stop, and on new work when wake_ok. */
static void worker_wait(arc_t *a, int ms, bool wake_ok)
{
    struct pollfd p[3];
    int n = 0;
    p[n++] = (struct pollfd){ .fd = a->stop_fd, .events = POLLIN };
    if (wake_ok) {
        p[n++] = (struct pollfd){ .fd = a->wake_fd, .events = POLLIN };
        if (a->ino_fd >= 0)
            p[n++] = (struct pollfd){ .fd = a->ino_fd, .events = POLLIN };
    }
    if (poll(p, (nfds_t)n, ms) <= 0)
        return;
    for (int i = 1; i < n; i++) {
        if (!(p[i].revents & POLLIN))
            continue;
        char buf[4096];
        /* Drain: one pass over arcq/ handles every marker these announce. */
        while (read(p[i].fd, buf, p[i].fd == a->wake_fd ? 8 : sizeof buf) > 0) {
        }
    }
}

static int db_connect(arc_t *a, char *why, size_t wl)
{
    /* Our defaults first; the DSN (expanded from "dbname") overrides them. */
    const char *keys[] = { "connect_timeout", "keepalives_idle", "keepalives_interval",
                           "keepalives_count", "application_name", "dbname", NULL };
    const char *vals[] = { "10", "30", "10", "3", "faxd-archive", a->dsn, NULL };
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (c == NULL || PQstatus(c) != CONNECTION_OK) {
        snprintf(why, wl, "%s", c ? PQerrorMessage(c) : "out of memory");
        size_t n = strlen(why);
        while (n > 0 && (why[n - 1] == '\n' || why[n - 1] == ' '))
            why[--n] = '\0';
        for (char *p = why; *p; p++)
            if (*p == '\n')
                *p = ' ';
        PQfinish(c);
        return -EIO;
    }
    /* Keep the server's notices (e.g. "relation already exists, skipping")
     * out of stderr. */
    PQsetNoticeProcessor(c, arc__quiet_notice, NULL);
    int rc = arc__migrate(c, why, wl);
    if (rc < 0) {
        PQfinish(c);
        return rc;
    }
    a->conn = c;
    return 0;
}

/* Reads a whole regular file of at most max bytes; 0, FX_ERANGE or -errno. */
int arc__read_file(const char *path, size_t max, unsigned char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 0
        || (uint64_t)st.st_size > max) {
        close(fd);
        return FX_ERANGE;
    }
    size_t n = (size_t)st.st_size, got = 0;
    unsigned char *buf = fx_malloc(n > 0 ? n : 1);
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got != n) {
        free(buf);
        return -EIO;
    }
    *out = buf;
    *len = n;
    return 0;
}

static void drop_marker(arc_t *a, const char *name)
{
    char p[4200];
    if (spool_path(a->spool, "arcq", name, p, sizeof p) == 0 && unlink(p) < 0 && errno != ENOENT)
        fx_log(FX_LOG_ERR, FX_FAC_DB, "archive: cannot remove marker %s err=%s", name,
               strerror(errno));
}

/* Archives one marker. 0 when the marker is dealt with (archived, or set
 * aside with a log line); -EIO when the database failed (marker kept). */
static int do_marker(arc_t *a, const char *name)
{
    char id[17], folder[16], why[1024], rec_name[40];
    if (arc__marker_parse(name, id, folder, sizeof folder) < 0)
        return 0;
    snprintf(rec_name, sizeof rec_name, "%s.rec", id);
    spool_rec_t r;
    int rc = spool_load_rec(a->spool, folder, rec_name, &r, why, sizeof why);
    if (rc == -ENOENT) {
        /* Only final folders are named, and final records do not move; a
         * record gone means someone removed it by hand. */
        spool_rec_free(&r);
        fx_log(FX_LOG_WARN, FX_FAC_DB, "archive: record gone, marker dropped fax=%s folder=%s",
               id, folder);
        drop_marker(a, name);
        return 0;
    }
    if (rc < 0) {
        spool_rec_free(&r);
        if (rc != FX_ECORRUPT)
            snprintf(why, sizeof why, "cannot read record: %s", fx_strerror(rc));
        spool_quarantine(a->spool, "arcq", name, why);
        return 0;
    }
    if (spool_rec_get(&r, "taken_over_by") != NULL) {
        /* cluster: a job dropped here because another node took it over; that
         * node archives the job's real outcome (docs/cluster.md). */
        fx_log(FX_LOG_INFO, FX_FAC_DB, "archive: not archived, taken over by node %s job=%s",
               spool_rec_get(&r, "taken_over_by"), id);
        spool_rec_free(&r);
        drop_marker(a, name);
        return 0;
    }
    arc__fax_t f;
    rc = arc__map_rec(&r, folder, a->node, &f, why, sizeof why);
    spool_rec_free(&r);
    if (rc < 0) {
        spool_quarantine(a->spool, "arcq", name, why);
        return 0;
    }
    unsigned char *tiff = NULL;
    size_t tiff_len = 0;
    arc__page_t *pages = NULL;
    int n_pages = 0;
    if (f.image[0] != '\0') {
        char p[4200];
        rc = spool_path(a->spool, folder, f.image, p, sizeof p);
        if (rc == 0)
            rc = arc__read_file(p, ARC_MAX_TIFF, &tiff, &tiff_len);
        if (rc == 0 && arc__tiff_pages(p, &pages, &n_pages) < 0)
            fx_log(FX_LOG_WARN, FX_FAC_DB, "archive: image unreadable as TIFF, no page rows "
                   "fax=%s", id);
        if (rc < 0)
            fx_log(FX_LOG_WARN, FX_FAC_DB, "archive: image not archived fax=%s image=%s err=%s",
                   id, f.image, fx_strerror(rc));
    }
    bool inserted = false;
    rc = arc__store(a->conn, &f, tiff, tiff_len, pages, n_pages, &inserted, why, sizeof why);
    free(tiff);
    free(pages);
    if (rc == FX_ECORRUPT) {
        /* The database refused this record's data; retrying cannot help. */
        fx_log(FX_LOG_ERR, FX_FAC_DB, "archive: record refused fax=%s reason=\"%s\"", id, why);
        spool_quarantine(a->spool, "arcq", name, why);
        arc__fax_fini(&f);
        return 0;
    }
    if (rc < 0) {
        fx_log(FX_LOG_ERR, FX_FAC_DB, "archive: insert failed fax=%s reason=\"%s\"", id, why);
        arc__fax_fini(&f);
        return rc;
    }
    fx_log(FX_LOG_INFO, FX_FAC_DB, "archive: %s fax=%s direction=%s result=%s pages=%d events=%d",
           inserted ? "archived" : "already archived", id, f.direction, f.result, f.pages,
           f.n_events);
    arc__fax_fini(&f);
    drop_marker(a, name);
    return 0;
}

/* Marks every final record in the spool that the archive lacks (records from
 * before the archive was configured, faxes recovered at start-up, a marker
 * lost to a crash between record and marker). Once per start. */
static int reconcile(arc_t *a)
{
    static const char *const folders[] = { "incoming", "done", "failed" };
    arc__sb_t ids;
    arc__sb_init(&ids);
    arc__sb_add(&ids, "{");
    int n = 0;
    for (size_t i = 0; i < sizeof folders / sizeof folders[0]; i++) {
        char dir[4200];
        if (spool_path(a->spool, folders[i], "x", dir, sizeof dir) < 0)
            continue;
        dir[strlen(dir) - 2] = '\0';
        DIR *d = opendir(dir);
        if (d == NULL)
            continue;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strlen(e->d_name) != 20 || strcmp(e->d_name + 16, ".rec") != 0
                || strspn(e->d_name, "0123456789ABCDEF") != 16)
                continue;
            arc__sb_addf(&ids, "%s%.16s:%s", n++ ? "," : "", e->d_name, folders[i]);
        }
        closedir(d);
    }
    arc__sb_add(&ids, "}");
    if (n == 0) {
        arc__sb_fini(&ids);
        return 0;
    }
    const char *p[1] = { ids.s };
    PGresult *r = PQexecParams(a->conn,
                               "SELECT x FROM unnest($1::text[]) AS x "
                               "WHERE NOT EXISTS (SELECT 1 FROM faxes WHERE id = split_part(x, ':', 1))",
                               1, NULL, p, NULL, NULL, 0);
    arc__sb_fini(&ids);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fx_log(FX_LOG_ERR, FX_FAC_DB, "archive: reconcile query failed reason=\"%s\"",
               PQerrorMessage(a->conn));
        PQclear(r);
        return -EIO;
    }
    int marked = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *v = PQgetvalue(r, i, 0);
        char id[17];
        fx_strlcpy(id, v, sizeof id);
        char name[64];
        if (arc__marker_name(v + 17, id, name, sizeof name) < 0)
            continue;
        char path[4200];
        struct stat st;
        if (spool_path(a->spool, "arcq", name, path, sizeof path) == 0 && stat(path, &st) == 0)
            continue;
        if (arc_mark(a->spool, v + 17, id) == 0)
            marked++;
    }
    PQclear(r);
    if (marked > 0)
        fx_log(FX_LOG_NOTICE, FX_FAC_DB, "archive: spool records missing from the archive "
               "queued=%d", marked);
    return 0;
}

static int drain(arc_t *a)
{
    char **v;
    int n = list_markers(a->arcq, &v);
    if (n < 0) {
        fx_log(FX_LOG_ERR, FX_FAC_DB, "archive: cannot list %s err=%s", a->arcq, fx_strerror(n));
        return 0;
    }
    int rc = 0;
    for (int i = 0; i < n && rc == 0 && !atomic_load(&a->stop); i++) {
        /* cluster: a long backlog must not let the lease lapse. */
        if (a->cl != NULL)
            rc = arc__cluster_tick(a->cl, a->conn);
        if (rc == 0)
            rc = do_marker(a, v[i]);
    }
    free_names(v, n);
    return rc;
}

static void *worker(void *arg)
{
    arc_t *a = arg;
    int backoff = ARC_BACKOFF_MIN_MS;
    char why[1024];
    while (!atomic_load(&a->stop)) {
        if (a->conn == NULL) {
            int rc = db_connect(a, why, sizeof why);
            if (rc < 0) {
                /* Log once per outage (STYLE.md 3), then quietly retry. */
                if (atomic_load(&a->state) != ARC_ST_DOWN)
                    fx_log(FX_LOG_ERR, FX_FAC_DB,
                           "archive: database unavailable, faxes wait in the spool reason=\"%s\"",
                           why);
                else
                    fx_log(FX_LOG_DEBUG, FX_FAC_DB, "archive: retry failed in_ms=%d reason=\"%s\"",
                           backoff, why);
                atomic_store(&a->state, ARC_ST_DOWN);
                worker_wait(a, backoff, false);
                backoff = backoff * 2 > ARC_BACKOFF_MAX_MS ? ARC_BACKOFF_MAX_MS : backoff * 2;
                continue;
            }
            arc_state_t was = (arc_state_t)atomic_load(&a->state);
            atomic_store(&a->state, ARC_ST_OK);
            backoff = ARC_BACKOFF_MIN_MS;
            fx_log(FX_LOG_NOTICE, FX_FAC_DB, "archive: database %s",
                   was == ARC_ST_DOWN ? "back, catching up" : "connected");
            if (!a->reconciled && reconcile(a) == 0)
                a->reconciled = true;
            if (a->cl != NULL)
                arc__cluster_connected(a->cl);
        }
        int drc = drain(a);
        /* cluster: lease, takeovers, then the job mirror (jobq/). */
        if (drc == 0 && a->cl != NULL)
            drc = arc__cluster_tick(a->cl, a->conn);
        if (drc == 0 && a->cl != NULL)
            drc = arc__cluster_mirror(a->cl, a->conn, &a->stop);
        if (drc < 0) {
            /* do_marker() logged the reason; reconnect from scratch. */
            PQfinish(a->conn);
            a->conn = NULL;
            atomic_store(&a->state, ARC_ST_DOWN);
            worker_wait(a, backoff, false);
            backoff = backoff * 2 > ARC_BACKOFF_MAX_MS ? ARC_BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        int wait_ms = ARC_RESCAN_MS;
        if (a->cl != NULL && arc__cluster_due_ms(a->cl) < wait_ms)
            wait_ms = arc__cluster_due_ms(a->cl);
        worker_wait(a, wait_ms, true);
    }
    PQfinish(a->conn);
    a->conn = NULL;
    return NULL;
}

int arc_open(const char *dsn, spool_t *spool, const char *node, arc_t **out)
{
    return arc_open_cluster(dsn, spool, node, 0, NULL, out);
}

int arc_open_cluster(const char *dsn, spool_t *spool, const char *node, int lease_seconds,
                     const arc_cluster_ops_t *ops, arc_t **out)
{
    *out = NULL;
    if (dsn == NULL || dsn[0] == '\0')
        return -EINVAL;
    arc_t *a = fx_calloc(1, sizeof *a);
    a->stop_fd = a->wake_fd = a->ino_fd = -1;
    a->dsn = fx_strdup(dsn);
    a->spool = spool;
    fx_strlcpy(a->node, node, sizeof a->node);
    int rc = spool_path(spool, "arcq", "x", a->arcq, sizeof a->arcq);
    if (rc < 0)
        goto fail;
    a->arcq[strlen(a->arcq) - 2] = '\0';
    /* spool_open() makes arcq/; an older spool may lack it. */
    if (mkdir(a->arcq, 0700) < 0 && errno != EEXIST) {
        rc = -errno;
        goto fail;
    }
    a->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    a->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (a->stop_fd < 0 || a->wake_fd < 0) {
        rc = -errno;
        goto fail;
    }
    a->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (a->ino_fd >= 0 && inotify_add_watch(a->ino_fd, a->arcq, IN_MOVED_TO | IN_CREATE) < 0) {
        close(a->ino_fd);
        a->ino_fd = -1;
    }
    if (a->ino_fd < 0)
        fx_log(FX_LOG_WARN, FX_FAC_DB, "archive: no inotify on %s (%s); rescanning every %d s",
               a->arcq, strerror(errno), ARC_RESCAN_MS / 1000);
    if (ops != NULL) {
        rc = arc__cluster_new(spool, node, lease_seconds, ops, a->ino_fd, &a->cl);
        if (rc < 0)
            goto fail;
    }
    atomic_init(&a->stop, false);
    atomic_init(&a->state, ARC_ST_CONNECTING);
    rc = -pthread_create(&a->thread, NULL, worker, a);
    if (rc < 0)
        goto fail;
    *out = a;
    return 0;

fail:
    arc__cluster_free(a->cl);
    if (a->ino_fd >= 0)
        close(a->ino_fd);
    if (a->wake_fd >= 0)
        close(a->wake_fd);
    if (a->stop_fd >= 0)
        close(a->stop_fd);
    free(a->dsn);
    free(a);
    return rc;
}

void arc_close(arc_t *a)
{
    if (a == NULL)
        return;
    atomic_store(&a->stop, true);
    uint64_t one = 1;
    if (write(a->stop_fd, &one, sizeof one) < 0) {
        /* cannot fail for an eventfd below its maximum */
    }
    /* XXX: a libpq call in flight is not interrupted; connect_timeout and TCP
     * keepalives bound how long this join can take on a dead network. */
    pthread_join(a->thread, NULL);
    arc__cluster_free(a->cl);
    if (a->ino_fd >= 0)
        close(a->ino_fd);
    close(a->wake_fd);
    close(a->stop_fd);
    free(a->dsn);
    free(a);
}
