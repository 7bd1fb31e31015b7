/* store_search: latency of `faxctl search` over a large archive, for
 * tests/bench/store.sh. Times arc_cli_search() itself (archive/arc_cli.c: the
 * function faxctl search calls, so the SQL is the product's, not a copy), with
 * its output going to /dev/null.
 *
 *   store_search --dsn DSN [--n N] [--seed S] [--kinds number,date,status,text,combined]
 *                [--limit L] [--warmup W]
 *
 * Query values come from the archive itself (so most searches find something, as a
 * person's would): numbers are the caller of a random received fax (row-weighted: frequent
 * senders come up more often), one in five is one of the called numbers (the
 * node's own DIDs, each on tens of thousands of rows), one in ten a number that is
 * in no row; dates are windows of 1, 7, 30 or 365 days inside the archive's span,
 * as bare YYYY-MM-DD (the `to` date includes its whole day); statuses cycle over
 * ok partial failed done cancelled; text is one or two words of a random row's
 * document (so common words are asked more often than rare ones, and two words
 * always co-occur somewhere); combined is a number with a 30-day window and, every
 * other time, status ok.
 *
 * Each call of arc_cli_search() opens its own connection (PQconnectdb) as faxctl
 * does; connect_ms reports that cost alone (PQconnectdb + PQfinish, 50 times) so
 * the query's share can be told apart. W warm-up queries of each kind run first
 * and are not counted.
 * Output (stdout): one JSON object, per kind: n, p50/p90/p99/max/mean in ms, mean
 * rows returned, queries that found nothing, and the five slowest queries with
 * their criteria. Exit 0, or 2 on usage or database errors. */
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fax/arc.h"
#include "fax/fx.h"

#define SR_SLOWEST 5

typedef struct {
    double ms;
    int rows;
    char what[512];
} sr_sample_t;

typedef struct {
    char **v;
    int n;
} sr_list_t;

static uint32_t sr_seed = 4242;

/* xorshift32 (Marsaglia 2003). */
static uint32_t sr_rand(void)
{
    uint32_t x = sr_seed;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    sr_seed = x;
    return x;
}

static double sr_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Column 0 of every row of sql into a list; exits on error. */
static void sr_fetch(PGconn *c, const char *sql, sr_list_t *out)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "store_search: %s: %s", sql, PQerrorMessage(c));
        exit(2);
    }
    out->n = PQntuples(r);
    out->v = fx_calloc((size_t)out->n + 1, sizeof *out->v);
    for (int i = 0; i < out->n; i++)
        out->v[i] = fx_strdup(PQgetvalue(r, i, 0));
    PQclear(r);
    if (out->n == 0) {
        fprintf(stderr, "store_search: no rows for: %s\n", sql);
        exit(2);
    }
}

static void sr_list_free(sr_list_t *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static const char *sr_pick(const sr_list_t *l)
{
    return l->v[sr_rand() % (uint32_t)l->n];
}

static int sr_cmp(const void *a, const void *b)
{
    double x = ((const sr_sample_t *)a)->ms, y = ((const sr_sample_t *)b)->ms;
    return x < y ? -1 : x > y;
}

static double sr_pct(const sr_sample_t *v, int n, double p)
{
    if (n == 0)
        return 0;
    int k = (int)((p / 100.0) * n + 0.999999) - 1;
    return v[k < 0 ? 0 : k >= n ? n - 1 : k].ms;
}

/* JSON-safe copy (quotes and backslashes blanked). */
static void sr_json_str(char *s)
{
    for (; *s; s++)
        if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20)
            *s = ' ';
}

typedef struct {
    sr_list_t senders, dids, words_docs;
    long long t_min, t_max; /* epoch seconds of the oldest and newest fax */
} sr_data_t;

/* A bare UTC date for epoch seconds t. */
static void sr_date(long long t, char *buf, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, len, "%Y-%m-%d", &tm);
}

static void sr_window(const sr_data_t *d, int days, char *from, char *to, size_t len)
{
    long long span = d->t_max - d->t_min - (long long)days * 86400;
    long long start = d->t_min + (span > 0 ? (long long)(sr_rand() % (uint32_t)span) : 0);
    sr_date(start, from, len);
    sr_date(start + (long long)(days - 1) * 86400, to, len);
}

static const char *sr_number(const sr_data_t *d, char *buf, size_t len)
{
    uint32_t x = sr_rand() % 10;
    if (x < 7)
        return sr_pick(&d->senders);
    if (x < 9)
        return sr_pick(&d->dids);
    snprintf(buf, len, "+999%08u", sr_rand() % 100000000u);
    return buf;
}

/* One or two lexemes of a random document (space separated in words_docs). */
static void sr_text(const sr_data_t *d, char *buf, size_t len)
{
    const char *doc = sr_pick(&d->words_docs);
    const char *w[64];
    size_t wl[64];
    int n = 0;
    for (const char *p = doc; *p && n < 64;) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        const char *e = strchr(p, ' ');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        w[n] = p;
        wl[n++] = l;
        p += l;
    }
    if (n == 0) {
        fx_strlcpy(buf, "fax", len);
        return;
    }
    int a = (int)(sr_rand() % (uint32_t)n);
    if (n > 1 && sr_rand() % 10 < 3) {
        int b = (int)(sr_rand() % (uint32_t)n);
        if (b == a)
            b = (a + 1) % n;
        snprintf(buf, len, "%.*s %.*s", (int)wl[a], w[a], (int)wl[b], w[b]);
    } else {
        snprintf(buf, len, "%.*s", (int)wl[a], w[a]);
    }
}

/* Builds query i of kind into q (strings in the caller's buffers) and a description. */
static void sr_build(const sr_data_t *d, const char *kind, int i, arc_search_t *q, char *num,
                     char *from, char *to, char *text, size_t len, char *what, size_t wlen)
{
    static const char *const statuses[] = { "ok", "partial", "failed", "done", "cancelled" };
    static const int days[] = { 1, 7, 30, 365 };
    memset(q, 0, sizeof *q);
    if (strcmp(kind, "number") == 0) {
        q->number = sr_number(d, num, len);
    } else if (strcmp(kind, "date") == 0) {
        sr_window(d, days[i % 4], from, to, len);
        q->from = from;
        q->to = to;
    } else if (strcmp(kind, "status") == 0) {
        q->status = statuses[i % 5];
    } else if (strcmp(kind, "text") == 0) {
        sr_text(d, text, len);
        q->text = text;
    } else {
        q->number = sr_number(d, num, len);
        sr_window(d, 30, from, to, len);
        q->from = from;
        q->to = to;
        if (i % 2)
            q->status = "ok";
    }
    snprintf(what, wlen, "number=%s from=%s to=%s status=%s text=%s", q->number ? q->number : "-",
             q->from ? q->from : "-", q->to ? q->to : "-", q->status ? q->status : "-",
             q->text ? q->text : "-");
}

static void sr_usage(void)
{
    fprintf(stderr, "usage: store_search --dsn DSN [--n N] [--seed S] [--kinds K,K...] "
                    "[--limit L] [--warmup W]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *dsn = NULL, *kinds = "number,date,status,text,combined";
    int n = 200, limit = 100, warmup = 10;
    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            sr_usage();
        if (strcmp(a, "--dsn") == 0)
            dsn = v;
        else if (strcmp(a, "--n") == 0)
            n = atoi(v);
        else if (strcmp(a, "--seed") == 0)
            sr_seed = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--kinds") == 0)
            kinds = v;
        else if (strcmp(a, "--limit") == 0)
            limit = atoi(v);
        else if (strcmp(a, "--warmup") == 0)
            warmup = atoi(v);
        else
            sr_usage();
    }
    if (dsn == NULL || n < 1 || limit < 1 || warmup < 0)
        sr_usage();
    if (sr_seed == 0)
        sr_seed = 1;
    PGconn *c = PQconnectdb(dsn);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "store_search: cannot connect: %s", PQerrorMessage(c));
        return 2;
    }
    sr_data_t d;
    memset(&d, 0, sizeof d);
    /* Callers of received faxes: a job's from_number is its owner, not a number,
     * and not in numbers[] (archive/arc_map.c). */
    sr_fetch(c, "SELECT from_number FROM faxes TABLESAMPLE SYSTEM (1) REPEATABLE (7) "
                "WHERE direction = 'in' AND from_number <> '' LIMIT 5000", &d.senders);
    sr_fetch(c, "SELECT to_number FROM faxes WHERE direction = 'in' AND to_number <> '' "
                "GROUP BY 1 ORDER BY count(*) DESC LIMIT 20", &d.dids);
    sr_fetch(c, "SELECT array_to_string(tsvector_to_array(doc), ' ') FROM faxes "
                "TABLESAMPLE SYSTEM (1) REPEATABLE (11) LIMIT 5000", &d.words_docs);
    sr_list_t span;
    sr_fetch(c, "SELECT extract(epoch FROM min(started))::bigint || ' ' || "
                "extract(epoch FROM max(started))::bigint FROM faxes", &span);
    if (sscanf(span.v[0], "%lld %lld", &d.t_min, &d.t_max) != 2) {
        fprintf(stderr, "store_search: empty archive\n");
        return 2;
    }
    sr_list_free(&span);
    /* What a connection alone costs (arc_cli_search opens one per call). */
    sr_sample_t conn_s[50];
    for (int i = 0; i < 50; i++) {
        double t0 = sr_now_ms();
        PGconn *x = PQconnectdb(dsn);
        PQfinish(x);
        conn_s[i].ms = sr_now_ms() - t0;
    }
    qsort(conn_s, 50, sizeof conn_s[0], sr_cmp);
    long long rows_total;
    {
        sr_list_t cnt;
        sr_fetch(c, "SELECT count(*) FROM faxes", &cnt);
        rows_total = atoll(cnt.v[0]);
        sr_list_free(&cnt);
    }
    PQfinish(c);
    FILE *devnull = fopen("/dev/null", "w");
    if (devnull == NULL)
        return 2;
    printf("{\"archive_rows\":%lld,\"limit\":%d,\"queries_per_kind\":%d,\"warmup_per_kind\":%d,"
           "\"connect_ms\":{\"p50\":%.3f,\"p99\":%.3f},\"kinds\":{",
           rows_total, limit, n, warmup, sr_pct(conn_s, 50, 50), sr_pct(conn_s, 50, 99));
    char *kl = fx_strdup(kinds), *save = NULL;
    int first = 1, bad = 0;
    sr_sample_t *s = fx_calloc((size_t)n, sizeof *s);
    for (char *k = strtok_r(kl, ",", &save); k != NULL; k = strtok_r(NULL, ",", &save)) {
        if (strcmp(k, "number") && strcmp(k, "date") && strcmp(k, "status") && strcmp(k, "text")
            && strcmp(k, "combined")) {
            fprintf(stderr, "store_search: unknown kind %s\n", k);
            return 2;
        }
        double sum = 0;
        long long rows = 0;
        int zero = 0;
        for (int i = -warmup; i < n; i++) {
            arc_search_t q;
            char num[64], from[32], to[32], text[256], what[512];
            sr_build(&d, k, i < 0 ? -i : i, &q, num, from, to, text, sizeof text, what,
                     sizeof what);
            q.limit = limit;
            double t0 = sr_now_ms();
            int rc = arc_cli_search(dsn, &q, devnull);
            double ms = sr_now_ms() - t0;
            if (rc < 0) {
                fprintf(stderr, "store_search: %s: %s\n", what, fx_strerror(rc));
                bad++;
                continue;
            }
            if (i < 0)
                continue;
            s[i].ms = ms;
            s[i].rows = rc;
            fx_strlcpy(s[i].what, what, sizeof s[i].what);
            sr_json_str(s[i].what);
            sum += ms;
            rows += rc;
            zero += rc == 0;
        }
        qsort(s, (size_t)n, sizeof *s, sr_cmp);
        printf("%s\"%s\":{\"n\":%d,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f,"
               "\"mean\":%.3f,\"rows_mean\":%.1f,\"no_rows\":%d,\"slowest\":[",
               first ? "" : ",", k, n, sr_pct(s, n, 50), sr_pct(s, n, 90), sr_pct(s, n, 99),
               s[n - 1].ms, sum / n, (double)rows / n, zero);
        for (int i = 0; i < SR_SLOWEST && i < n; i++)
            printf("%s{\"ms\":%.3f,\"rows\":%d,\"q\":\"%s\"}", i ? "," : "", s[n - 1 - i].ms,
                   s[n - 1 - i].rows, s[n - 1 - i].what);
        printf("]}");
        fflush(stdout);
        first = 0;
    }
    printf("},\"errors\":%d}\n", bad);
    free(s);
    free(kl);
    sr_list_free(&d.senders);
    sr_list_free(&d.dids);
    sr_list_free(&d.words_docs);
    fclose(devnull);
    return bad ? 2 : 0;
}
