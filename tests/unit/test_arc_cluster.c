/* Unit tests for the cluster half of the archive (archive/arc_cluster.c) that
 * need no database: job record summaries (what the jobs row says), jobq/
 * marker names and writing, the cluster settings, and the dial gate staying
 * shut while the database cannot be reached. The lease, mirror and takeover
 * against a real PostgreSQL: tests/integration/store_two_nodes_failover.sh. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../archive/arc_int.h"
#include "fax/arc.h"
#include "fax/cfg.h"
#include "fax/fx.h"

#define ID "A2011CEBDA93C000"

static void job_rec(spool_rec_t *r, const char *state, int n_rcpt, const int *pages)
{
    spool_rec_init(r);
    spool_rec_add(r, "id", ID);
    spool_rec_add(r, "kind", "send");
    spool_rec_add(r, "state", state);
    spool_rec_add(r, "image", ID ".tif");
    spool_rec_add(r, "pages_total", "3");
    spool_rec_addf(r, "n_rcpt", "%d", n_rcpt);
    for (int i = 0; i < n_rcpt; i++) {
        char k[32];
        snprintf(k, sizeof k, "rcpt.%d.pages", i);
        spool_rec_addf(r, k, "%d", pages[i]);
    }
}

static void test_summary(void **state)
{
    (void)state;
    spool_rec_t r;
    arc__job_sum_t s;
    char why[128];
    int pages[3] = { 3, 1, 2 };
    job_rec(&r, "sleeping", 3, pages);
    assert_int_equal(arc__job_summary(&r, &s, why, sizeof why), 0);
    assert_string_equal(s.id, ID);
    assert_string_equal(s.state, "sleeping");
    assert_string_equal(s.image, ID ".tif");
    assert_int_equal(s.pages_total, 3);
    assert_int_equal(s.pages_confirmed, 1); /* what every recipient confirmed */
    assert_false(s.final);
    assert_string_equal(s.taken_by, "");
    spool_rec_add(&r, "taken_over_by", "A2");
    assert_int_equal(arc__job_summary(&r, &s, why, sizeof why), 0);
    assert_string_equal(s.taken_by, "A2");
    spool_rec_free(&r);
    static const char *const finals[] = { "done", "failed", "cancelled" };
    static const char *const live[] = { "queued", "sleeping", "dialing", "sending", "held" };
    for (int i = 0; i < 3; i++) {
        job_rec(&r, finals[i], 1, pages);
        assert_int_equal(arc__job_summary(&r, &s, why, sizeof why), 0);
        assert_true(s.final);
        spool_rec_free(&r);
    }
    for (int i = 0; i < 5; i++) {
        job_rec(&r, live[i], 1, pages);
        assert_int_equal(arc__job_summary(&r, &s, why, sizeof why), 0);
        assert_false(s.final);
        spool_rec_free(&r);
    }
}

/* Each broken record is refused with a reason, never half-read. */
static void test_summary_refuses(void **state)
{
    (void)state;
    static const struct {
        const char *key, *value, *why;
    } cases[] = {
        { "id", "a2011cebda93c000", "no valid id" },
        { "id", "A2011CEBDA93C00", "no valid id" },
        { "kind", "received", "not a job" },
        { "state", "", "no valid state" },
        { "state", "a-state-name-far-too-long", "no valid state" },
        { "image", "../../etc/passwd", "no valid image" },
        { "pages_total", "-1", "bad page" },
        { "pages_total", "1x", "bad page" },
        { "n_rcpt", "0", "bad page or recipient" },
        { "n_rcpt", "2", "lacks 'rcpt.1.pages'" },
        { "rcpt.0.pages", "", "lacks 'rcpt.0.pages'" },
        { "rcpt.0.pages", "99999999999", "lacks 'rcpt.0.pages'" },
    };
    int pages[1] = { 1 };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        spool_rec_t r;
        job_rec(&r, "queued", 1, pages);
        spool_rec_add(&r, cases[i].key, cases[i].value); /* the last value wins */
        arc__job_sum_t s;
        char why[128] = "";
        assert_int_equal(arc__job_summary(&r, &s, why, sizeof why), FX_ECORRUPT);
        if (strstr(why, cases[i].why) == NULL)
            fail_msg("case %zu: why \"%s\" lacks \"%s\"", i, why, cases[i].why);
        spool_rec_free(&r);
    }
    spool_rec_t r;
    spool_rec_init(&r);
    arc__job_sum_t s;
    char why[128];
    assert_int_equal(arc__job_summary(&r, &s, why, sizeof why), FX_ECORRUPT);
    spool_rec_free(&r);
}

static void test_jobq_names(void **state)
{
    (void)state;
    char id[17];
    bool taken = true;
    assert_int_equal(arc__jobq_parse(ID, id, &taken), 0);
    assert_string_equal(id, ID);
    assert_false(taken);
    assert_int_equal(arc__jobq_parse(ID ".w", id, &taken), 0);
    assert_string_equal(id, ID);
    assert_true(taken);
    static const char *const bad[] = { "", ".w", ID ".x", ID ".ww", ID "0", "A2011CEBDA93C00",
                                       "a2011cebda93c000", "A2011CEBDA93C00G", ID ".done" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(arc__jobq_parse(bad[i], id, &taken), -EINVAL);
}

static char g_dir[256];

static int setup_spool(void **state)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/test_arc_cluster.XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    spool_t *sp = NULL;
    assert_int_equal(spool_open(g_dir, &sp), 0);
    *state = sp;
    return 0;
}

static int teardown_spool(void **state)
{
    spool_close(*state);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static void test_job_mark(void **state)
{
    spool_t *sp = *state;
    char p[512], pw[512], dir[512];
    snprintf(dir, sizeof dir, "%s/jobq", g_dir);
    snprintf(p, sizeof p, "%s/jobq/%s", g_dir, ID);
    snprintf(pw, sizeof pw, "%s/jobq/%s.w", g_dir, ID);
    /* jobq/ is made on demand (spool_open() does not know it). */
    rmdir(dir);
    assert_int_equal(arc_job_mark(sp, ID), 0);
    struct stat st1, st2;
    assert_int_equal(stat(p, &st1), 0);
    assert_true((st1.st_mode & 0777) == 0600);
    /* A waiting marker covers the next change: not rewritten. */
    assert_int_equal(arc_job_mark(sp, ID), 0);
    assert_int_equal(stat(p, &st2), 0);
    assert_true(st1.st_ino == st2.st_ino);
    /* Once the worker took it (renamed to .w), a change writes a new one. */
    assert_int_equal(rename(p, pw), 0);
    assert_int_equal(arc_job_mark(sp, ID), 0);
    assert_int_equal(stat(p, &st2), 0);
    assert_int_equal(stat(pw, &st2), 0);
    spool_rec_t r;
    char why[128];
    assert_int_equal(spool_load_rec(sp, "jobq", ID, &r, why, sizeof why), 0);
    assert_string_equal(spool_rec_get(&r, "id"), ID);
    spool_rec_free(&r);
    assert_int_equal(arc_job_mark(sp, "../x"), -EINVAL);
    assert_int_equal(arc_job_mark(sp, "a2011cebda93c000"), -EINVAL);
    assert_int_equal(arc_job_mark(sp, NULL), -EINVAL);
}

static void nop_adopt(void *u, const char *id, const char *from)
{
    (void)u;
    (void)id;
    (void)from;
    fail_msg("adopt without a database");
}

static void nop_foreign(void *u, const char *id, const char *owner)
{
    (void)u;
    (void)id;
    (void)owner;
    fail_msg("foreign without a database");
}

static void nop_verified(void *u, unsigned gen)
{
    (void)gen;
    (*(int *)u)++;
}

/* No database: no lease, so the gate stays shut for every generation. */
static void test_gate_without_db(void **state)
{
    spool_t *sp = *state;
    int verified = 0;
    arc_cluster_ops_t ops = { nop_adopt, nop_foreign, nop_verified, &verified };
    arc_t *a = NULL;
    assert_int_equal(arc_open_cluster("host=/nonexistent/faxgate dbname=x connect_timeout=1", sp,
                                      "n1", 2, &ops, &a),
                     -EINVAL); /* lease below 3 s */
    assert_null(a);
    assert_int_equal(arc_open_cluster("host=/nonexistent/faxgate dbname=x connect_timeout=1", sp,
                                      "n1", 3, &ops, &a),
                     0);
    /* Wait (event-driven, generous) until the worker has tried and failed. */
    arc_state_t st = ARC_ST_CONNECTING;
    int backlog;
    for (int i = 0; i < 3000 && st != ARC_ST_DOWN; i++) {
        arc_status(a, &st, &backlog);
        if (st != ARC_ST_DOWN)
            usleep(10000);
    }
    assert_int_equal(st, ARC_ST_DOWN);
    for (unsigned g = 0; g < 8; g++)
        assert_false(arc_cluster_lease_live(a, g));
    assert_false(arc_cluster_lease_live(a, ~0u));
    int64_t left;
    unsigned gen;
    arc_cluster_status(a, &left, &gen);
    assert_int_equal(left, 0);
    arc_close(a);
    assert_int_equal(verified, 0);
    /* Without cluster mode: never a lease. */
    assert_false(arc_cluster_lease_live(NULL, 0));
    arc_cluster_status(NULL, &left, &gen);
    assert_int_equal(left, 0);
}

static void test_cfg_cluster(void **state)
{
    (void)state;
    cfg_t *c = NULL;
    char err[2048];
    const char *ok = "db_dsn = dbname=faxgate\ncluster = yes\nlease_seconds = 3\n";
    assert_int_equal(cfg_parse("x.conf", ok, strlen(ok), &c, err, sizeof err), 0);
    assert_true(c->cluster);
    assert_int_equal(c->lease_seconds, 3);
    cfg_free(c);
    c = NULL;
    assert_int_equal(cfg_parse("x.conf", "", 0, &c, err, sizeof err), 0);
    assert_false(c->cluster);
    assert_int_equal(c->lease_seconds, 30);
    cfg_free(c);
    c = NULL;
    const char *no_dsn = "cluster = yes\n";
    assert_int_equal(cfg_parse("x.conf", no_dsn, strlen(no_dsn), &c, err, sizeof err), FX_EPARSE);
    assert_non_null(strstr(err, "x.conf:1: cluster = yes needs db_dsn"));
    const char *short_lease = "db_dsn = x\ncluster = yes\nlease_seconds = 2\n";
    assert_int_equal(cfg_parse("x.conf", short_lease, strlen(short_lease), &c, err, sizeof err),
                     FX_EPARSE);
    assert_non_null(strstr(err, "x.conf:3: lease_seconds"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_summary),
        cmocka_unit_test(test_summary_refuses),
        cmocka_unit_test(test_jobq_names),
        cmocka_unit_test_setup_teardown(test_job_mark, setup_spool, teardown_spool),
        cmocka_unit_test_setup_teardown(test_gate_without_db, setup_spool, teardown_spool),
        cmocka_unit_test(test_cfg_cluster),
    };
    fx_log_setup(FX_LOG_ERR, FX_FAC_ALL, "test_arc_cluster");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
