/* store_fsyncref: the raw cost of durable file creation on a filesystem, the
 * reference under faxd's job intake for tests/bench/store.sh.
 *
 *   store_fsyncref --dir DIR --jobs N [--tiff-bytes B] [--rec-bytes B]
 *                  [--mode job|group|threads] [--batch K] [--threads T]
 *                  [--sync fsync|fdatasync|syncfs|srange]
 *
 * A "job" is what faxd's cmd_send stores before it acknowledges: two files, the
 * TIFF copy (--tiff-bytes) and the job record (--rec-bytes), each made durable the
 * spool's way (archive/spool.c store_commit): create DIR/tmp/<name> with
 * O_CREAT|O_EXCL, write, fsync(2), close, rename(2) into DIR/queue/, fsync(2) of
 * DIR/queue (Linux fsync(2): the directory entry is durable only after an fsync
 * of the directory). Modes:
 *   job      one job after the other on one thread: 4 fsyncs per job, as faxd today;
 *   group    group commit: K jobs at a time: write all 2K tmp files, make them
 *            durable (--sync: fsync or fdatasync of each; ONE syncfs(2) of the
 *            filesystem; or srange: sync_file_range(2) SYNC_FILE_RANGE_WRITE on every
 *            file first, so all their blocks are allocated and written together and
 *            the first fsync's journal commit covers them all, then fsync of each),
 *            rename all 2K, ONE fsync of DIR/queue; every job of the batch is
 *            acknowledged at the end of the batch;
 *   threads  T threads each doing "job" in parallel (the journal, e.g. ext4's jbd2,
 *            may merge concurrent fsyncs into one commit).
 * Output (stdout): one JSON object with jobs_per_s, files, sync calls per job and
 * the acknowledgement latency per job (job/threads: each job's own time; group:
 * the batch's time, which every job in it waits) p50/p99/max in ms. The files
 * are removed afterwards (not timed). Exit 0, 1 on an I/O error, 2 on usage. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* syncfs(2), sync_file_range(2) */
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fax/fx.h"

enum { REF_JOB, REF_GROUP, REF_THREADS };
enum { REF_FSYNC, REF_FDATASYNC, REF_SYNCFS, REF_SRANGE };

typedef struct {
    char tmp[4096], queue[4096];
    int jobs, batch, threads, mode, sync;
    size_t tiff_bytes, rec_bytes;
    unsigned char *tiff_buf, *rec_buf;
    atomic_int next;
    atomic_long syncs;
    atomic_int failed;
    double *lat_ms; /* per job */
} ref_t;

static double ref_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int ref_sync_fd(ref_t *r, int fd)
{
    atomic_fetch_add(&r->syncs, 1);
    int rc = r->sync == REF_FDATASYNC ? fdatasync(fd) : fsync(fd);
    return rc < 0 ? -errno : 0;
}

static int ref_sync_dir(ref_t *r)
{
    int fd = open(r->queue, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    atomic_fetch_add(&r->syncs, 1);
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

/* Creates and fills tmp/<name>; fd out (still open). */
static int ref_write_tmp(ref_t *r, const char *name, const unsigned char *buf, size_t len,
                         int *fd_out)
{
    char p[4400];
    snprintf(p, sizeof p, "%s/%s", r->tmp, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int rc = fx_write_all(fd, buf, len);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

static int ref_rename(ref_t *r, const char *name)
{
    char from[4400], to[4400];
    snprintf(from, sizeof from, "%s/%s", r->tmp, name);
    snprintf(to, sizeof to, "%s/%s", r->queue, name);
    return rename(from, to) < 0 ? -errno : 0;
}

/* One store the spool's way: tmp, write, fsync, close, rename, fsync dir. */
static int ref_store(ref_t *r, const char *name, const unsigned char *buf, size_t len)
{
    int fd;
    int rc = ref_write_tmp(r, name, buf, len, &fd);
    if (rc < 0)
        return rc;
    rc = ref_sync_fd(r, fd);
    close(fd);
    if (rc == 0)
        rc = ref_rename(r, name);
    if (rc == 0)
        rc = ref_sync_dir(r);
    return rc;
}

static void ref_names(int job, char *tif, char *rec, size_t len)
{
    snprintf(tif, len, "J%08d.tif", job);
    snprintf(rec, len, "J%08d.rec", job);
}

static int ref_one_job(ref_t *r, int job)
{
    char tif[40], rec[40];
    ref_names(job, tif, rec, sizeof tif);
    int rc = ref_store(r, tif, r->tiff_buf, r->tiff_bytes);
    if (rc == 0)
        rc = ref_store(r, rec, r->rec_buf, r->rec_bytes);
    return rc;
}

static void *ref_worker(void *arg)
{
    ref_t *r = arg;
    for (;;) {
        int i = atomic_fetch_add(&r->next, 1);
        if (i >= r->jobs)
            return NULL;
        double t0 = ref_now_s();
        if (ref_one_job(r, i) < 0) {
            atomic_fetch_add(&r->failed, 1);
            return NULL;
        }
        r->lat_ms[i] = (ref_now_s() - t0) * 1000.0;
    }
}

/* Group commit of jobs [first, first + k). */
static int ref_group(ref_t *r, int first, int k)
{
    int *fds = fx_calloc((size_t)(2 * k), sizeof *fds);
    int rc = 0, n = 0;
    for (int i = 0; i < k && rc == 0; i++) {
        char tif[40], rec[40];
        ref_names(first + i, tif, rec, sizeof tif);
        rc = ref_write_tmp(r, tif, r->tiff_buf, r->tiff_bytes, &fds[n]);
        if (rc == 0)
            n++;
        if (rc == 0)
            rc = ref_write_tmp(r, rec, r->rec_buf, r->rec_bytes, &fds[n]);
        if (rc == 0)
            n++;
    }
    if (rc == 0 && r->sync == REF_SYNCFS && n > 0) {
        atomic_fetch_add(&r->syncs, 1);
        if (syncfs(fds[0]) < 0)
            rc = -errno;
    }
    /* Start the writeback of every file before waiting on any (sync_file_range(2)
     * alone makes nothing durable: the fsyncs below still do). */
    for (int i = 0; rc == 0 && r->sync == REF_SRANGE && i < n; i++)
        if (sync_file_range(fds[i], 0, 0, SYNC_FILE_RANGE_WRITE) < 0)
            rc = -errno;
    for (int i = 0; i < n; i++) {
        if (rc == 0 && r->sync != REF_SYNCFS)
            rc = ref_sync_fd(r, fds[i]);
        close(fds[i]);
    }
    free(fds);
    for (int i = 0; i < k && rc == 0; i++) {
        char tif[40], rec[40];
        ref_names(first + i, tif, rec, sizeof tif);
        rc = ref_rename(r, tif);
        if (rc == 0)
            rc = ref_rename(r, rec);
    }
    if (rc == 0)
        rc = ref_sync_dir(r);
    return rc;
}

static int ref_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double ref_pct(const double *v, int n, double p)
{
    if (n == 0)
        return 0;
    int k = (int)((p / 100.0) * n + 0.999999) - 1;
    return v[k < 0 ? 0 : k >= n ? n - 1 : k];
}

static void ref_usage(void)
{
    fprintf(stderr, "usage: store_fsyncref --dir DIR --jobs N [--tiff-bytes B] [--rec-bytes B] "
                    "[--mode job|group|threads] [--batch K] [--threads T] "
                    "[--sync fsync|fdatasync|syncfs|srange]\n");
    exit(2);
}

static void ref_cleanup(const ref_t *r)
{
    for (int i = 0; i < r->jobs; i++) {
        char tif[40], rec[40], p[4400];
        ref_names(i, tif, rec, sizeof tif);
        snprintf(p, sizeof p, "%s/%s", r->queue, tif);
        unlink(p);
        snprintf(p, sizeof p, "%s/%s", r->queue, rec);
        unlink(p);
        snprintf(p, sizeof p, "%s/%s", r->tmp, tif);
        unlink(p);
        snprintf(p, sizeof p, "%s/%s", r->tmp, rec);
        unlink(p);
    }
}

int main(int argc, char **argv)
{
    ref_t *r = fx_calloc(1, sizeof *r);
    const char *dir = NULL;
    r->tiff_bytes = 4096;
    r->rec_bytes = 600;
    r->batch = 32;
    r->threads = 4;
    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            ref_usage();
        if (strcmp(a, "--dir") == 0)
            dir = v;
        else if (strcmp(a, "--jobs") == 0)
            r->jobs = atoi(v);
        else if (strcmp(a, "--tiff-bytes") == 0)
            r->tiff_bytes = (size_t)atol(v);
        else if (strcmp(a, "--rec-bytes") == 0)
            r->rec_bytes = (size_t)atol(v);
        else if (strcmp(a, "--batch") == 0)
            r->batch = atoi(v);
        else if (strcmp(a, "--threads") == 0)
            r->threads = atoi(v);
        else if (strcmp(a, "--mode") == 0) {
            if (strcmp(v, "job") == 0)
                r->mode = REF_JOB;
            else if (strcmp(v, "group") == 0)
                r->mode = REF_GROUP;
            else if (strcmp(v, "threads") == 0)
                r->mode = REF_THREADS;
            else
                ref_usage();
        } else if (strcmp(a, "--sync") == 0) {
            if (strcmp(v, "fsync") == 0)
                r->sync = REF_FSYNC;
            else if (strcmp(v, "fdatasync") == 0)
                r->sync = REF_FDATASYNC;
            else if (strcmp(v, "syncfs") == 0)
                r->sync = REF_SYNCFS;
            else if (strcmp(v, "srange") == 0)
                r->sync = REF_SRANGE;
            else
                ref_usage();
        } else
            ref_usage();
    }
    if (dir == NULL || r->jobs < 1 || r->batch < 1 || r->threads < 1 || r->threads > 256)
        ref_usage();
    if ((r->sync == REF_SYNCFS || r->sync == REF_SRANGE) && r->mode != REF_GROUP) {
        fprintf(stderr, "store_fsyncref: --sync syncfs|srange only with --mode group\n");
        return 2;
    }
    snprintf(r->tmp, sizeof r->tmp, "%s/tmp", dir);
    snprintf(r->queue, sizeof r->queue, "%s/queue", dir);
    if (fx_mkdirs(r->tmp, 0700) < 0 || fx_mkdirs(r->queue, 0700) < 0) {
        fprintf(stderr, "store_fsyncref: cannot make %s/{tmp,queue}\n", dir);
        return 2;
    }
    r->tiff_buf = fx_malloc(r->tiff_bytes + 1);
    r->rec_buf = fx_malloc(r->rec_bytes + 1);
    for (size_t i = 0; i < r->tiff_bytes; i++)
        r->tiff_buf[i] = (unsigned char)(i * 131u + 7u);
    memset(r->rec_buf, 'r', r->rec_bytes);
    r->lat_ms = fx_calloc((size_t)r->jobs, sizeof *r->lat_ms);
    atomic_init(&r->next, 0);
    atomic_init(&r->syncs, 0);
    atomic_init(&r->failed, 0);
    int rc = 0;
    double t0 = ref_now_s();
    if (r->mode == REF_JOB) {
        r->threads = 1;
        ref_worker(r);
    } else if (r->mode == REF_THREADS) {
        pthread_t *th = fx_calloc((size_t)r->threads, sizeof *th);
        for (int i = 0; i < r->threads; i++)
            if (pthread_create(&th[i], NULL, ref_worker, r) != 0)
                return 2;
        for (int i = 0; i < r->threads; i++)
            pthread_join(th[i], NULL);
        free(th);
    } else {
        for (int first = 0; first < r->jobs && rc == 0; first += r->batch) {
            int k = r->jobs - first < r->batch ? r->jobs - first : r->batch;
            double b0 = ref_now_s();
            rc = ref_group(r, first, k);
            double ms = (ref_now_s() - b0) * 1000.0;
            for (int i = 0; i < k; i++)
                r->lat_ms[first + i] = ms;
        }
        if (rc < 0)
            atomic_fetch_add(&r->failed, 1);
    }
    double wall = ref_now_s() - t0;
    ref_cleanup(r);
    int failed = atomic_load(&r->failed);
    qsort(r->lat_ms, (size_t)r->jobs, sizeof *r->lat_ms, ref_cmp);
    static const char *const modes[] = { "job", "group", "threads" };
    static const char *const syncs[] = { "fsync", "fdatasync", "syncfs", "srange" };
    long ns = atomic_load(&r->syncs);
    printf("{\"mode\":\"%s\",\"sync\":\"%s\",\"batch\":%d,\"threads\":%d,\"jobs\":%d,"
           "\"files\":%d,\"tiff_bytes\":%zu,\"rec_bytes\":%zu,\"failed\":%s,\"wall_s\":%.3f,"
           "\"jobs_per_s\":%.1f,\"files_per_s\":%.1f,\"sync_calls\":%ld,"
           "\"sync_calls_per_job\":%.3f,\"latency_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f}}\n",
           modes[r->mode], syncs[r->sync], r->mode == REF_GROUP ? r->batch : 1, r->threads,
           r->jobs, 2 * r->jobs, r->tiff_bytes, r->rec_bytes, failed ? "true" : "false", wall,
           r->jobs / wall, 2 * r->jobs / wall, ns, (double)ns / r->jobs,
           ref_pct(r->lat_ms, r->jobs, 50), ref_pct(r->lat_ms, r->jobs, 99),
           r->lat_ms[r->jobs - 1]);
    free(r->tiff_buf);
    free(r->rec_buf);
    free(r->lat_ms);
    free(r);
    return failed ? 1 : 0;
}
