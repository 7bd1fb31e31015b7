/* store_client: durable job intake load for tests/bench/store.sh. Drives faxd's
 * control socket directly (no faxctl process per job) with C concurrent
 * connections until N jobs were answered.
 *
 *   store_client --socket PATH --tiff PATH --jobs N [--conns C] [--dest D]
 *                [--opts "not_before=+86400"]
 *
 * Each job is one connection: connect(2), "SEND <tiff> <dest> <opts>\n", read the
 * reply up to the "." line faxd's ctl_end() sends (faxd answers one command per
 * connection, faxd/ctl.c). The acknowledgement is the "OK job=..." line, which
 * faxd writes only after the TIFF copy and the job record are fsync'd in the
 * spool (faxd/queue.c cmd_send, invariant 2); its latency is measured from just
 * before connect(2) to the arrival of that line, CLOCK_MONOTONIC. C threads each
 * take the next job number from a shared counter, so C requests are always in
 * flight (faxd's listen backlog is 64, so C <= 64).
 *
 * Output (stdout): one JSON object: jobs, ok, errors (and the first error line),
 * wall_s, jobs_per_s (ok / wall), jobs_per_s_by_fifth (the rate over each fifth of
 * the acknowledgements, in order) and latency_ms p50/p90/p99/max/mean. Exit 0 when
 * every job was acknowledged, 1 when some were not, 2 on usage errors. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fax/fx.h"

typedef struct {
    const char *sock;
    char line[4096];   /* the SEND command, newline included */
    size_t line_len;
    int jobs;
    atomic_int next;   /* next job number to take */
    atomic_int ok;
    atomic_int errors;
    double *lat_ms;    /* per job; -1 when it failed */
    double *done_s;    /* per job: when its ack came, seconds since t0; -1 when it failed */
    double t0;
    pthread_mutex_t err_mu;
    char first_err[256];
} cli_t;

static double cli_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void cli_note_error(cli_t *c, const char *what)
{
    atomic_fetch_add(&c->errors, 1);
    pthread_mutex_lock(&c->err_mu);
    if (c->first_err[0] == '\0')
        fx_strlcpy(c->first_err, what, sizeof c->first_err);
    pthread_mutex_unlock(&c->err_mu);
}

/* One job: 0 and the ack latency in *ms, or -1 with the reason noted. */
static int cli_one(cli_t *c, double *ms)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    fx_strlcpy(sa.sun_path, c->sock, sizeof sa.sun_path);
    double t0 = cli_now_s();
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        cli_note_error(c, strerror(errno));
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        char why[128];
        snprintf(why, sizeof why, "connect: %s", strerror(errno));
        cli_note_error(c, why);
        close(fd);
        return -1;
    }
    if (fx_write_all(fd, c->line, c->line_len) < 0) {
        cli_note_error(c, "write failed");
        close(fd);
        return -1;
    }
    /* Read until the first full line (the acknowledgement), then drain to EOF. */
    char buf[1024];
    size_t len = 0;
    double t_ack = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        if (t_ack == 0 && strchr(buf, '\n') != NULL)
            t_ack = cli_now_s();
        if (len >= sizeof buf - 1)
            len = 0; /* the first line is all we check; keep reading to EOF */
    }
    close(fd);
    if (t_ack == 0 || strncmp(buf, "OK job=", 7) != 0) {
        char why[256];
        char *nl = strchr(buf, '\n');
        if (nl != NULL)
            *nl = '\0';
        snprintf(why, sizeof why, "reply: %.200s", t_ack == 0 ? "(none)" : buf);
        cli_note_error(c, why);
        return -1;
    }
    *ms = (t_ack - t0) * 1000.0;
    return 0;
}

static void *cli_thread(void *arg)
{
    cli_t *c = arg;
    for (;;) {
        int i = atomic_fetch_add(&c->next, 1);
        if (i >= c->jobs)
            return NULL;
        double ms = -1;
        c->done_s[i] = -1;
        if (cli_one(c, &ms) == 0) {
            atomic_fetch_add(&c->ok, 1);
            c->done_s[i] = cli_now_s() - c->t0;
        }
        c->lat_ms[i] = ms;
    }
}

static int cli_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static double cli_pct(const double *v, int n, double p)
{
    if (n == 0)
        return 0;
    int k = (int)((p / 100.0) * n + 0.999999) - 1;
    if (k < 0)
        k = 0;
    if (k >= n)
        k = n - 1;
    return v[k];
}

static void cli_usage(void)
{
    fprintf(stderr, "usage: store_client --socket PATH --tiff PATH --jobs N [--conns C] "
                    "[--dest D] [--opts OPTS]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *sock = NULL, *tiff = NULL, *dest = "sip:100@127.0.0.1:9";
    const char *opts = "not_before=+86400";
    int jobs = 0, conns = 16;
    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            cli_usage();
        if (strcmp(a, "--socket") == 0)
            sock = v;
        else if (strcmp(a, "--tiff") == 0)
            tiff = v;
        else if (strcmp(a, "--jobs") == 0)
            jobs = atoi(v);
        else if (strcmp(a, "--conns") == 0)
            conns = atoi(v);
        else if (strcmp(a, "--dest") == 0)
            dest = v;
        else if (strcmp(a, "--opts") == 0)
            opts = v;
        else
            cli_usage();
    }
    if (sock == NULL || tiff == NULL || jobs < 1 || conns < 1 || conns > 64)
        cli_usage();
    cli_t *c = fx_calloc(1, sizeof *c);
    c->sock = sock;
    c->jobs = jobs;
    int n = snprintf(c->line, sizeof c->line, "SEND %s %s %s\n", tiff, dest, opts);
    if (n < 0 || (size_t)n >= sizeof c->line)
        cli_usage();
    c->line_len = (size_t)n;
    c->lat_ms = fx_calloc((size_t)jobs, sizeof *c->lat_ms);
    c->done_s = fx_calloc((size_t)jobs, sizeof *c->done_s);
    pthread_mutex_init(&c->err_mu, NULL);
    atomic_init(&c->next, 0);
    atomic_init(&c->ok, 0);
    atomic_init(&c->errors, 0);
    if (conns > jobs)
        conns = jobs;
    pthread_t *th = fx_calloc((size_t)conns, sizeof *th);
    double t0 = cli_now_s();
    c->t0 = t0;
    for (int i = 0; i < conns; i++)
        if (pthread_create(&th[i], NULL, cli_thread, c) != 0) {
            fprintf(stderr, "store_client: cannot start thread %d\n", i);
            return 2;
        }
    for (int i = 0; i < conns; i++)
        pthread_join(th[i], NULL);
    double wall = cli_now_s() - t0;
    int ok = atomic_load(&c->ok);
    double *v = fx_calloc((size_t)jobs, sizeof *v);
    int m = 0;
    double sum = 0;
    for (int i = 0; i < jobs; i++)
        if (c->lat_ms[i] >= 0) {
            v[m++] = c->lat_ms[i];
            sum += c->lat_ms[i];
        }
    qsort(v, (size_t)m, sizeof *v, cli_cmp);
    /* Rate in each fifth of the run (by acknowledgement order): shows whether
     * intake slows down as the queue grows. */
    double *d = fx_calloc((size_t)jobs, sizeof *d);
    int nd = 0;
    for (int i = 0; i < jobs; i++)
        if (c->done_s[i] >= 0)
            d[nd++] = c->done_s[i];
    qsort(d, (size_t)nd, sizeof *d, cli_cmp);
    char fifths[160] = "";
    size_t fl = 0;
    for (int k = 0; k < 5 && nd >= 5; k++) {
        int a = nd * k / 5, b = nd * (k + 1) / 5 - 1;
        double start = k == 0 ? 0.0 : d[a - 1];
        double span = d[b] - start;
        int w = snprintf(fifths + fl, sizeof fifths - fl, "%s%.1f", k ? "," : "",
                         span > 0 ? (b - a + 1) / span : 0.0);
        if (w > 0 && (size_t)w < sizeof fifths - fl)
            fl += (size_t)w;
    }
    free(d);
    /* JSON string: the error line with quotes and backslashes blanked. */
    for (char *p = c->first_err; *p; p++)
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
            *p = ' ';
    printf("{\"jobs\":%d,\"conns\":%d,\"ok\":%d,\"errors\":%d,\"first_error\":\"%s\","
           "\"wall_s\":%.3f,\"jobs_per_s\":%.1f,\"jobs_per_s_by_fifth\":[%s],"
           "\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f,\"mean\":%.3f}}\n",
           jobs, conns, ok, atomic_load(&c->errors), c->first_err, wall,
           wall > 0 ? ok / wall : 0.0, fifths, cli_pct(v, m, 50), cli_pct(v, m, 90), cli_pct(v, m, 99),
           m ? v[m - 1] : 0.0, m ? sum / m : 0.0);
    free(v);
    free(th);
    free(c->lat_ms);
    free(c->done_s);
    pthread_mutex_destroy(&c->err_mu);
    free(c);
    return ok == jobs ? 0 : 1;
}
