/* job: the outbound scheduler engine (fax/job.h) driven through its public API
 * with a fake clock (now_ms is a number the test advances) and a fake ops table
 * that records every dial, hangup and changed() call.
 *
 * Covered: the retry schedule per failure kind, tries (connected calls) versus
 * dials (calls placed), permanent failures, kill and not-before times, priority
 * and FIFO order, per-destination and total line limits, several recipients and
 * job_state(), resume from the first unconfirmed page, recovery after a crash,
 * cancel / hold / release / retry, the capped event list, and a changed() that
 * removes final jobs the way faxd/queue.c does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fax/fx.h"
#include "fax/job.h"

#define T0 1000000u  /* the fake clock's start, in ms */
#define MAX_LOG 128

typedef struct dial_rec {
    job_t *j;
    char id[17];
    int r;
    int start_page;
    uint64_t at;
} dial_rec_t;

/* The fake ops' record of what the scheduler asked for. */
typedef struct fake {
    job_sched_t *s;
    uint64_t now;           /* the clock dial() stamps its records with */
    int n_dials;
    dial_rec_t dials[MAX_LOG];
    int n_hangups;
    dial_rec_t hangups[MAX_LOG];
    int n_changed;
    job_t *last_changed;
    int dial_rc;            /* what dial() returns */
    const char *dial_reason;/* written into last_reason by a failing dial(), as queue.c does */
    bool remove_final;      /* changed() removes and frees final jobs (queue.c's on_changed) */
    int n_removed;
} fake_t;

static fake_t F;

static int fk_dial(void *user, job_t *j, int r, int start_page)
{
    fake_t *f = user;
    assert_ptr_equal(f, &F);
    assert_true(f->n_dials < MAX_LOG);
    dial_rec_t *d = &f->dials[f->n_dials++];
    d->j = j;
    fx_strlcpy(d->id, j->id, sizeof d->id);
    d->r = r;
    d->start_page = start_page;
    d->at = f->now;
    /* The recipient is already marked as dialing when dial() runs. */
    assert_int_equal(j->rcpt[r].state, JOB_ST_DIALING);
    if (f->dial_rc < 0 && f->dial_reason != NULL)
        fx_strlcpy(j->rcpt[r].last_reason, f->dial_reason, sizeof j->rcpt[r].last_reason);
    return f->dial_rc;
}

static void fk_hangup(void *user, job_t *j, int r)
{
    fake_t *f = user;
    assert_true(f->n_hangups < MAX_LOG);
    dial_rec_t *d = &f->hangups[f->n_hangups++];
    d->j = j;
    fx_strlcpy(d->id, j->id, sizeof d->id);
    d->r = r;
    d->at = f->now;
}

static void fk_changed(void *user, job_t *j)
{
    fake_t *f = user;
    f->n_changed++;
    f->last_changed = j;
    if (!f->remove_final)
        return;
    bool live = false;
    for (int i = 0; i < j->n_rcpt; i++)
        if (j->rcpt[i].state == JOB_ST_DIALING || j->rcpt[i].state == JOB_ST_SENDING)
            live = true;
    if (job_state_final(job_state(j)) && !live) {
        job_sched_remove(f->s, j);
        job_free(j);
        f->n_removed++;
    }
}

static const job_ops_t fake_ops = { fk_dial, fk_hangup, fk_changed };

static job_policy_t pol_default(void)
{
    job_policy_t p;
    job_policy_defaults(&p);
    return p;
}

static job_sched_t *sched_with(const job_policy_t *p)
{
    memset(&F, 0, sizeof F);
    F.now = T0;
    assert_int_equal(job_sched_new(p, &fake_ops, &F, &F.s), 0);
    return F.s;
}

static int teardown(void **st)
{
    (void)st;
    job_sched_free(F.s);
    F.s = NULL;
    return 0;
}

/* A job created at `at` with one recipient per dest given (NULL-terminated). */
static job_t *mkjob(const char *id, int pages, uint64_t at, const char *dest, ...)
{
    job_t *j = job_new(id, "doc.tif", pages, at);
    va_list ap;
    va_start(ap, dest);
    for (const char *d = dest; d != NULL; d = va_arg(ap, const char *))
        assert_int_equal(job_add_rcpt(j, d), 0);
    va_end(ap);
    return j;
}

static int tick(uint64_t now)
{
    F.now = now;
    return job_sched_tick(F.s, now);
}

/* One call's end, the way queue.c reports it. */
static void result(job_t *j, int r, bool ok, bool connected, job_fail_t fail, int pages,
                   const char *reason, uint64_t now)
{
    job_outcome_t o;
    memset(&o, 0, sizeof o);
    o.ok = ok;
    o.connected = connected;
    o.fail = fail;
    o.pages_confirmed = pages;
    o.reason = reason;
    o.remote_ident = "+1 555 0199";
    o.rate = 14400;
    o.ecm = true;
    o.mode = "t38";
    F.now = now;
    job_sched_result(F.s, j, r, &o, now);
}

static bool has_event(const job_t *j, const char *needle)
{
    for (int i = 0; i < j->n_events; i++)
        if (strstr(j->events[i], needle) != NULL)
            return true;
    return false;
}

/* ---- names and defaults ---- */

static void test_policy_defaults_and_names(void **st)
{
    (void)st;
    job_policy_t p = pol_default();
    assert_int_equal(p.max_tries, 3);
    assert_int_equal(p.max_dials, 12);
    assert_int_equal(p.delay_busy_s, 180);
    assert_int_equal(p.delay_noanswer_s, 300);
    assert_int_equal(p.delay_nofax_s, 300);
    assert_int_equal(p.delay_protocol_s, 60);
    assert_int_equal(p.per_dest_limit, 1);
    assert_int_equal(p.max_lines, 8);
    assert_int_equal(p.kill_after_s, 3 * 3600);

    assert_string_equal(job_state_name(JOB_ST_QUEUED), "queued");
    assert_string_equal(job_state_name(JOB_ST_SLEEPING), "sleeping");
    assert_string_equal(job_state_name(JOB_ST_DIALING), "dialing");
    assert_string_equal(job_state_name(JOB_ST_SENDING), "sending");
    assert_string_equal(job_state_name(JOB_ST_DONE), "done");
    assert_string_equal(job_state_name(JOB_ST_FAILED), "failed");
    assert_string_equal(job_state_name(JOB_ST_CANCELLED), "cancelled");
    assert_string_equal(job_state_name(JOB_ST_HELD), "held");
    assert_string_equal(job_state_name((job_state_t)99), "?");
    assert_string_equal(job_fail_name(JOB_FAIL_NONE), "none");
    assert_string_equal(job_fail_name(JOB_FAIL_BUSY), "busy");
    assert_string_equal(job_fail_name(JOB_FAIL_NOANSWER), "no answer");
    assert_string_equal(job_fail_name(JOB_FAIL_NOFAX), "no fax");
    assert_string_equal(job_fail_name(JOB_FAIL_PROTOCOL), "protocol");
    assert_string_equal(job_fail_name(JOB_FAIL_PERMANENT), "permanent");
    assert_string_equal(job_fail_name((job_fail_t)42), "?");

    assert_true(job_state_final(JOB_ST_DONE));
    assert_true(job_state_final(JOB_ST_FAILED));
    assert_true(job_state_final(JOB_ST_CANCELLED));
    assert_false(job_state_final(JOB_ST_QUEUED));
    assert_false(job_state_final(JOB_ST_SLEEPING));
    assert_false(job_state_final(JOB_ST_DIALING));
    assert_false(job_state_final(JOB_ST_SENDING));
    assert_false(job_state_final(JOB_ST_HELD));
}

static void test_job_new_and_rcpts(void **st)
{
    (void)st;
    job_t *j = job_new("00000000000000A1", "a.tif", 4, T0);
    assert_string_equal(j->id, "00000000000000A1");
    assert_string_equal(j->image, "a.tif");
    assert_int_equal(j->pages_total, 4);
    assert_int_equal(j->priority, 127);
    assert_int_equal(j->created_ms, T0);
    assert_int_equal(j->n_rcpt, 0);
    char d[16];
    for (int i = 0; i < JOB_MAX_RCPT; i++) {
        snprintf(d, sizeof d, "sip:%d@h", i);
        assert_int_equal(job_add_rcpt(j, d), 0);
        assert_int_equal(j->rcpt[i].state, JOB_ST_QUEUED);
    }
    assert_int_equal(job_add_rcpt(j, "sip:one-too-many@h"), FX_ERANGE);
    assert_int_equal(j->n_rcpt, JOB_MAX_RCPT);
    assert_string_equal(j->rcpt[JOB_MAX_RCPT - 1].dest, "sip:31@h");
    job_free(j);
    job_free(NULL);
}

/* ---- the retry schedule ---- */

/* Each failure kind sleeps its own default delay, to the millisecond, and the
 * next dial comes exactly then, not a millisecond earlier. */
static void test_default_retry_schedule_per_kind(void **st)
{
    (void)st;
    static const struct {
        job_fail_t fail;
        bool connected;
        int pages;
        int delay_s;
    } cases[] = {
        { JOB_FAIL_BUSY, false, 0, 180 },
        { JOB_FAIL_NOANSWER, false, 0, 300 },
        { JOB_FAIL_NOFAX, true, 0, 300 },
        { JOB_FAIL_PROTOCOL, true, 1, 60 },
    };
    for (unsigned c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        job_policy_t p = pol_default();
        job_sched_t *s = sched_with(&p);
        job_t *j = mkjob("00000000000000B1", 3, T0, "sip:100@peer", NULL);
        job_sched_add(s, j, T0);
        assert_int_equal(j->max_tries, 3);
        assert_int_equal(j->max_dials, 12);
        assert_int_equal(j->kill_ms, T0 + 3u * 3600u * 1000u);
        assert_int_equal(tick(T0), 1);
        assert_int_equal(F.n_dials, 1);
        assert_int_equal(F.dials[0].start_page, 0);
        assert_int_equal(j->rcpt[0].dials, 1);
        assert_int_equal(job_sched_active_calls(s), 1);
        uint64_t end = T0 + 7000;
        if (cases[c].connected)
            job_sched_connected(s, j, 0, T0 + 2000);
        if (cases[c].pages > 0)
            job_sched_page(s, j, 0, cases[c].pages, T0 + 5000);
        result(j, 0, false, cases[c].connected, cases[c].fail, cases[c].pages, "why", end);
        assert_int_equal(j->rcpt[0].state, JOB_ST_SLEEPING);
        assert_int_equal(j->rcpt[0].last_fail, cases[c].fail);
        assert_int_equal(j->rcpt[0].next_ms, end + (uint64_t)cases[c].delay_s * 1000u);
        assert_int_equal(j->rcpt[0].tries, cases[c].connected ? 1 : 0);
        assert_int_equal(job_sched_active_calls(s), 0);
        assert_int_equal(job_sched_next_due(s, end), (int64_t)cases[c].delay_s * 1000);
        assert_int_equal(tick(end + (uint64_t)cases[c].delay_s * 1000u - 1), 0);
        assert_int_equal(F.n_dials, 1);
        assert_int_equal(tick(end + (uint64_t)cases[c].delay_s * 1000u), 1);
        assert_int_equal(F.n_dials, 2);
        assert_int_equal(F.dials[1].start_page, cases[c].pages);
        assert_int_equal(j->rcpt[0].dials, 2);
        teardown(NULL);
    }
}

/* Delays come from the policy in force when the call ends. */
static void test_policy_delays_and_set_policy(void **st)
{
    (void)st;
    job_policy_t p = pol_default();
    p.delay_busy_s = 30;
    p.delay_noanswer_s = 50;
    p.delay_nofax_s = 70;
    p.delay_protocol_s = 10;
    job_sched_t *s = sched_with(&p);
    job_t *j = mkjob("00000000000000B2", 1, T0, "sip:1@x", NULL);
    job_sched_add(s, j, T0);
    tick(T0);
    result(j, 0, false, false, JOB_FAIL_NOANSWER, 0, "no answer", T0 + 1000);
    assert_int_equal(j->rcpt[0].next_ms, T0 + 1000 + 50000);
    p.delay_noanswer_s = 5;
    job_sched_set_policy(s, &p);
    tick(T0 + 51000);
    result(j, 0, false, false, JOB_FAIL_NOANSWER, 0, "no answer", T0 + 52000);
    assert_int_equal(j->rcpt[0].next_ms, T0 + 52000 + 5000);
    tick(T0 + 57000);
    result(j, 0, false, true, JOB_FAIL_NOFAX, 0, "no fax", T0 + 58000);
    assert_int_equal(j->rcpt[0].next_ms, T0 + 58000 + 70000);
    tick(T0 + 128000);
    result(j, 0, false, true, JOB_FAIL_NONE, 0, "ended", T0 + 129000);
    /* a failure of no stated kind waits as long as a protocol failure */
    assert_int_equal(j->rcpt[0].next_ms, T0 + 129000 + 10000);
    assert_int_equal(F.n_dials, 4);
}

/* ---- tries and dials ---- */

static void test_max_tries_counts_only_connected_calls(void **st)
{
    (void)st;
    job_policy_t p = pol_default();
    p.max_tries = 2;
    p.max_dials = 10;
    job_sched_t *s = sched_with(&p);
    job_t *j = mkjob("00000000000000C1", 2, T0, "sip:1@x", NULL);
    job_sched_add(s, j, T0);
    uint64_t t = T0;
    /* Three busy signals: three dials, no try. */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(tick(t), 1);
        result(j, 0, false, false, JOB_FAIL_BUSY, 0, "busy (SIP 486)", t + 100);
        t = j->rcpt[0].next_ms;
        assert_int_equal(j->rcpt[0].state, JOB_ST_SLEEPING);
    }
    assert_int_equal(j->rcpt[0].tries, 0);
    assert_int_equal(j->rcpt[0].dials, 3);
    /* A connected call through job_sched_connected counts once, not again at its end. */
    assert_int_equal(tick(t), 1);
    job_sched_connected(s, j, 0, t + 10);
    assert_int_equal(j->rcpt[0].state, JOB_ST_SENDING);
    assert_int_equal(j->rcpt[0].tries, 1);
    result(j, 0, false, true, JOB_FAIL_NOFAX, 0, "no fax answered", t + 100);
    assert_int_equal(j->rcpt[0].tries, 1);
    assert_int_equal(j->rcpt[0].state, JOB_ST_SLEEPING);
    t = j->rcpt[0].next_ms;
    /* A connected call reported only at its end counts too: the second try ends it. */
    assert_int_equal(tick(t), 1);
    result(j, 0, false, true, JOB_FAIL_NOFAX, 0, "no fax answered", t + 100);
    assert_int_equal(j->rcpt[0].tries, 2);
    assert_int_equal(j->rcpt[0].dials, 5);
    assert_int_equal(j->rcpt[0].state, JOB_ST_FAILED);
    assert_non_null(strstr(j->rcpt[0].final_reason, "2 tries used"));
    assert_non_null(strstr(j->rcpt[0].final_reason, "no fax answered"));
    assert_int_equal(job_state(j), JOB_ST_FAILED);
    assert_int_equal(job_sched_next_due(s, t + 100), -1);
    assert_int_equal(tick(t + 1000000), 0);
    assert_int_equal(F.n_dials, 5);
}

static void test_max_dials_counts_all_calls(void **st)
{
    (void)st;
    job_policy_t p = pol_default();
    p.max_tries = 5;
    p.max_dials = 3;
    p.delay_busy_s = 30;
    job_sched_t *s = sched_with(&p);
    job_t *j = mkjob("00000000000000C2", 2, T0, "sip:1@x", NULL);
    job_sched_add(s, j, T0);
    assert_int_equal(tick(T0), 1);
    result(j, 0, false, false, JOB_FAIL_BUSY, 0, "busy (SIP 486)", T0);
    assert_int_equal(tick(T0 + 30000), 1);
    /* a connected call is a dial too */
    result(j, 0, false, true, JOB_FAIL_PROTOCOL, 1, "T.30 T5 expired", T0 + 30000);
    assert_int_equal(j->rcpt[0].state, JOB_ST_SLEEPING);
    assert_int_equal(j->rcpt[0].next_ms, T0 + 30000 + 60000);
    assert_int_equal(tick(T0 + 90000), 1);
    assert_int_equal(F.dials[2].start_page, 1);
    result(j, 0, false, false, JOB_FAIL_BUSY, 1, "busy (SIP 486)", T0 + 90000);
    assert_int_equal(j->rcpt[0].dials, 3);
    assert_int_equal(j->rcpt[0].tries, 1);
    assert_int_equal(j->rcpt[0].state, JOB_ST_FAILED);
    assert_int_equal(j->rcpt[0].last_fail, JOB_FAIL_BUSY);
    assert_non_null(strstr(j->rcpt[0].final_reason, "3 dials used"));
    assert_non_null(strstr(j->rcpt[0].final_reason, "busy (SIP 486)"));
    assert_string_equal(j->rcpt[0].last_reason, "busy (SIP 486)");
    assert_int_equal(tick(T0 + 10000000), 0);
    assert_int_equal(F.n_dials, 3);
    /* per-job limits override the policy */
    job_t *k = mkjob("00000000000000C3", 1, T0, "sip:2@x", NULL);
    k->max_dials = 1;
    job_sched_add(s, k, T0);
    assert_int_equal(k->max_dials, 1);
    assert_int_equal(k->max_tries, 5);
    assert_int_equal(tick(T0 + 10000000), 1);
    result(k, 0, false, false, JOB_FAIL_BUSY, 0, "busy", T0 + 10000000);
    assert_int_equal(k->rcpt[0].state, JOB_ST_FAILED);
    assert_non_null(strstr(k->rcpt[0].final_reason, "1 dials used"));
}

static void test_permanent_failure_gives_up_at_once(void **st)
{
    (void)st;
    job_policy_t p = pol_default();
    job_sched_t *s = sched_with(&p);
    job_t *j = mkjob("00000000000000D1", 1, T0, "sip:404@x", NULL);
    job_sched_add(s, j, T0);
    tick(T0);
    int changed = F.n_changed;
    result(j, 0, false, false, JOB_FAIL_PERMANENT, 0, "number does not exist (SIP 404)",
           T0 + 200);
    assert_int_equal(F.n_changed, changed + 1);
    assert_int_equal(j->rcpt[0].state, JOB_ST_FAILED);
    assert_int_equal(j->rcpt[0].last_fail, JOB_FAIL_PERMANENT);
    assert_int_equal(j->rcpt[0].dials, 1);
    assert_string_equal(j->rcpt[0].final_reason, "number does not exist (SIP 404)");
    assert_int_equal(job_sched_active_calls(s), 0);
    assert_int_equal(job_sched_next_due(s, T0 + 200), -1);
    assert_int_equal(tick(T0 + 3600000), 0);
    assert_int_equal(F.n_dials, 1);
    assert_true(has_event(j, "gave up: number does not exist"));
}

/* A dial that cannot even be placed is a permanent failure with its own reason,
 * never the reason left over from an earlier call. */
static void test_dial_error_is_permanent(void **st)
{
    (void)st;
    job_policy_t p = pol_default();
    p.delay_busy_s = 1;
    job_sched_t *s = sched_with(&p);
    job_t *j = mkjob("00000000000000D2", 1, T0, "sip:1@x", NULL);
    job_sched_add(s, j, T0);
    tick(T0);
    result(j, 0, false, false, JOB_FAIL_BUSY, 0, "busy (SIP 486)", T0);
    F.dial_rc = -EMFILE;
    assert_int_equal(tick(T0 + 1000), 0);
    assert_int_equal(F.n_dials, 2);
    assert_int_equal(j->rcpt[0].state, JOB_ST_FAILED);
    assert_int_equal(j->rcpt[0].last_fail, JOB_FAIL_PERMANENT);
    assert_int_equal(job_sched_active_calls(s), 0);
    assert_null(strstr(j->rcpt[0].final_reason, "busy"));
    assert_non_null(strstr(j->rcpt[0].final_reason, fx_strerror(-EMFILE)));
    assert_non_null(strstr(j->rcpt[0].last_reason, fx_strerror(-EMFILE)));
    /* the driver's own words win when it gave some (queue.c: no trunk for the number) */
    job_t *k = mkjob("00000000000000D3", 1, T0, "15551234567", NULL);
    job_sched_add(s, k, T0);
    F.dial_rc = FX_ENOTFOUND;
    F.dial_reason = "no trunk configured for that number";
    assert_int_equal(tick(T0 + 2000), 0);
    assert_int_equal(k->rcpt[0].state, JOB_ST_FAILED);
    assert_string_equal(k->rcpt[0].final_reason, "no trunk configured for that number");
    assert_int_equal(k->rcpt[0].last_fail, JOB_FAIL_PERMANENT);
}

/* ---- kill and not-before times ---- */

static void test_kill_time(void **st)
{
    (void)st;
    job_policy_t p = pol_default();
    job_sched_t *s = sched_with(&p);
    /* busy every 180 s (each call takes 1 s), killed after 400 s: dials at 0 s
     * and 181 s, ... */
    job_t *j = mkjob("00000000000000E1", 1, T0, "sip:1@x", NULL);
    j->kill_ms = T0 + 400000;
    job_sched_add(s, j, T0);
    assert_int_equal(j->kill_ms, T0 + 400000);
    tick(T0);
    result(j, 0, false, false, JOB_FAIL_BUSY, 0, "busy", T0 + 1000);
    assert_int_equal(j->rcpt[0].state, JOB_ST_SLEEPING);
    assert_int_equal(tick(T0 + 181000), 1);
    /* ... 181 + 1 + 180 = 362 < 400: still sleeps; then 363 + 180 > 400: fails at
     * once instead of sleeping past the kill time. */
    result(j, 0, false, false, JOB_FAIL_BUSY, 0, "busy", T0 + 182000);
    assert_int_equal(j->rcpt[0].state, JOB_ST_SLEEPING);
    assert_int_equal(tick(T0 + 362000), 1);
    result(j, 0, false, false, JOB_FAIL_BUSY, 0, "busy", T0 + 363000);
    assert_int_equal(j->rcpt[0].state, JOB_ST_FAILED);
    assert_non_null(strstr(j->rcpt[0].final_reason, "kill time"));
    assert_string_equal(j->rcpt[0].last_reason, "busy");
    assert_int_equal(F.n_dials, 3);

    /* A retry falling exactly on the kill time fails too: the job would be dead by then. */
    job_t *e = mkjob("00000000000000E2", 1, T0, "sip:2@x", NULL);
    e->kill_ms = T0 + 181000;
    job_sched_add(s, e, T0);
    tick(T0 + 1000);
    result(e, 0, false, false, JOB_FAIL_BUSY, 0, "busy", T0 + 1000);
    assert_int_equal(e->rcpt[0].state, JOB_ST_FAILED);

    /* A queued job whose not-before time lies past its kill time never dials. */
    job_t *k = mkjob("00000000000000E3", 1, T0, "sip:3@x", NULL);
    k->not_before_ms = T0 + 600000;
    k->kill_ms = T0 + 500000;
    job_sched_add(s, k, T0);
    int n = F.n_dials;
    assert_int_equal(tick(T0 + 499999), 0);
    assert_int_equal(k->rcpt[0].state, JOB_ST_QUEUED);
    assert_int_equal(tick(T0 + 500000), 0);
    assert_int_equal(k->rcpt[0].state, JOB_ST_FAILED);
    assert_string_equal(k->rcpt[0].final_reason, "kill time reached");
    assert_int_equal(tick(T0 + 600000), 0);
    assert_int_equal(F.n_dials, n);

    /* The default kill time is creation + kill_after_s, not the time it was added. */
    job_t *d = mkjob("00000000000000E4", 1, T0 - 5000, "sip:4@x", NULL);
    job_sched_add(s, d, T0);
    assert_int_equal(d->kill_ms, T0 - 5000 + 3u * 3600u * 1000u);
}

/* Held past its retry time and released before the kill time: it dials, and
 * the retry after that would fall past the kill time, so it fails at once. */
static void test_kill_time_while_sleeping(void **st)
{
    (void)st;
    job_policy_t p = pol_default();
    p.delay_noanswer_s = 10;
    job_sched_t *s = sched_with(&p);
    job_t *j = mkjob("00000000000000E5", 1, T0, "sip:1@x", NULL);
    j->kill_ms = T0 + 20000;
    job_sched_add(s, j, T0);
    tick(T0);
    result(j, 0, false, false, JOB_FAIL_NOANSWER, 0, "no answer", T0 + 5000);
    assert_int_equal(j->rcpt[0].next_ms, T0 + 15000);
    job_sched_hold(s, j, T0 + 6000);
    job_sched_release(s, j, T0 + 19000);
    /* released after the retry time but before the kill: dials */
    assert_int_equal(tick(T0 + 19000), 1);
    result(j, 0, false, false, JOB_FAIL_NOANSWER, 0, "no answer", T0 + 19500);
    assert_int_equal(j->rcpt[0].state, JOB_ST_FAILED);
    assert_non_null(strstr(j->rcpt[0].final_reason, "kill time"));
}

static void test_not_before(void **st)
{
    (void)st;
    job_policy_t p = pol_default();
    p.delay_busy_s = 10;
    job_sched_t *s = sched_with(&p);
    assert_int_equal(job_sched_next_due(s, T0), -1);
    job_t *j = mkjob("00000000000000F1", 1, T0, "sip:1@x", NULL);
    j->not_before_ms = T0 + 60000;
    job_sched_add(s, j, T0);
    assert_int_equal(tick(T0), 0);
    assert_int_equal(job_sched_next_due(s, T0), 60000);
    assert_int_equal(job_sched_next_due(s, T0 + 59000), 1000);
    assert_int_equal(tick(T0 + 59999), 0);
    assert_int_equal(j->rcpt[0].state, JOB_ST_QUEUED);
    assert_int_equal(tick(T0 + 60000), 1);
    assert_int_equal(F.dials[0].at, T0 + 60000);
    assert_int_equal(job_sched_next_due(s, T0 + 60000), -1);
    result(j, 0, false, false, JOB_FAIL_BUSY, 0, "busy", T0 + 61000);
    assert_int_equal(job_sched_next_due(s, T0 + 61000), 10000);
    assert_int_equal(job_sched_next_due(s, T0 + 99000), 0);
    /* a not-before time moved later holds a sleeping recipient back too */
    j->not_before_ms = T0 + 100000;
    assert_int_equal(job_sched_next_due(s, T0 + 71000), 29000);
    assert_int_equal(tick(T0 + 71000), 0);
    assert_int_equal(tick(T0 + 100000), 1);
}

/* ---- order and limits ---- */

static void test_priority_then_fifo(void **st)
{
    (void)st;
    job_policy_t p = pol_default();
    p.max_lines = 1;
    job_sched_t *s = sched_with(&p);
    job_t *a = mkjob("000000000000000A", 1, T0 + 1, "sip:a@x", NULL);
    job_t *b = mkjob("000000000000000B", 1, T0 + 2, "sip:b@x", NULL);
    job_t *c = mkjob("000000000000000C", 1, T0 + 0, "sip:c@x", NULL);
    job_t *d = mkjob("000000000000000D", 1, T0 + 3, "sip:d@x", NULL);
    job_t *e = mkjob("000000000000000E", 1, T0 + 9, "sip:e@x", NULL);
    b->priority = 10;
    d->priority = 10;
    e->priority = 0;
    e->not_before_ms = T0 + 5000; /* most urgent, but not yet */
    /* added out of creation order: FIFO goes by creation time */
    job_sched_add(s, a, T0 + 10);
    job_sched_add(s, b, T0 + 10);
    job_sched_add(s, c, T0 + 10);
    job_sched_add(s, d, T0 + 10);
    job_sched_add(s, e, T0 + 10);
    const char *want[] = { "000000000000000B", "000000000000000D", "000000000000000E",
                           "000000000000000C", "000000000000000A" };
    uint64_t t = T0 + 10;
    for (int i = 0; i < 5; i++) {
        if (i == 2)
            t = T0 + 5000;
        assert_int_equal(tick(t), 1);
        assert_int_equal(tick(t), 0); /* one line only */
        assert_int_equal(F.n_dials, i + 1);
        assert_string_equal(F.dials[i].id, want[i]);
        result(F.dials[i].j, 0, true, true, JOB_FAIL_NONE, 1, "ok", t);
        assert_int_equal(F.dials[i].j->rcpt[0].state, JOB_ST_DONE);
    }
    assert_int_equal(tick(t), 0);
    /* same priority and same creation time: the one added first goes first */
    job_t *x = mkjob("00000000000000F8", 1, T0, "sip:x@x", NULL);
    job_t *y = mkjob("00000000000000F9", 1, T0, "sip:y@x", NULL);
    job_sched_add(s, x, t);
    job_sched_add(s, y, t);
    assert_int_equal(tick(t), 1);
    assert_string_equal(F.dials[5].id, "00000000000000F8");
}

static void test_per_destination_limit(void **st)
{
    (void)st;
    job_policy_t p = pol_default();
    job_sched_t *s = sched_with(&p);
    job_t *a = mkjob("0000000000000A01", 1, T0, "sip:same@x", NULL);
    job_t *b = mkjob("0000000000000A02", 1, T0 + 1, "sip:same@x", NULL);
    job_t *c = mkjob("0000000000000A03", 1, T0 + 2, "sip:other@x", NULL);
    job_sched_add(s, a, T0);
    job_sched_add(s, b, T0);
    job_sched_add(s, c, T0);
    assert_int_equal(tick(T0), 2);
    assert_string_equal(F.dials[0].id, "0000000000000A01");
    assert_string_equal(F.dials[1].id, "0000000000000A03");
    assert_int_equal(b->rcpt[0].state, JOB_ST_QUEUED);
    assert_int_equal(job_sched_active_calls(s), 2);
    job_sched_connected(s, a, 0, T0 + 1000);
    assert_int_equal(tick(T0 + 1000), 0); /* sending holds the destination as well */
    result(a, 0, true, true, JOB_FAIL_NONE, 1, "ok", T0 + 2000);
    assert_int_equal(tick(T0 + 2000), 1);
    assert_string_equal(F.dials[2].id, "0000000000000A02");
    teardown(NULL);

    /* two calls to one destination when the policy allows it */
    p.per_dest_limit = 2;
    s = sched_with(&p);
    job_sched_add(s, mkjob("0000000000000A11", 1, T0, "sip:same@x", NULL), T0);
    job_sched_add(s, mkjob("0000000000000A12", 1, T0, "sip:same@x", NULL), T0);
    job_sched_add(s, mkjob("0000000000000A13", 1, T0, "sip:same@x", NULL), T0);
    assert_int_equal(tick(T0), 2);
    assert_int_equal(job_sched_active_calls(s), 2);
}

static void test_max_lines(void **st)
{
    (void)st;
    job_policy_t p = pol_default();
    p.max_lines = 2;
    job_sched_t *s = sched_with(&p);
    /* one job with three recipients and a younger job: two lines in all, and
     * the older job's recipients go first (FIFO over recipients) */
    job_t *a = mkjob("0000000000000B01", 1, T0, "sip:1@x", "sip:2@x", "sip:3@x", NULL);
    job_t *b = mkjob("0000000000000B02", 1, T0 + 1, "sip:4@x", NULL);
    job_sched_add(s, a, T0);
    job_sched_add(s, b, T0);
    assert_int_equal(tick(T0), 2);
    assert_int_equal(job_sched_active_calls(s), 2);
    assert_int_equal(tick(T0 + 1), 0);
    assert_string_equal(F.dials[0].id, "0000000000000B01");
    assert_int_equal(F.dials[0].r, 0);
    assert_string_equal(F.dials[1].id, "0000000000000B01");
    assert_int_equal(F.dials[1].r, 1);
    assert_int_equal(b->rcpt[0].state, JOB_ST_QUEUED);
    result(a, 0, false, false, JOB_FAIL_BUSY, 0, "busy", T0 + 2);
    assert_int_equal(job_sched_active_calls(s), 1);
    assert_int_equal(tick(T0 + 2), 1);
    assert_string_equal(F.dials[2].id, "0000000000000B01");
    assert_int_equal(F.dials[2].r, 2);
    /* more lines at run time: the younger job goes at once */
    p.max_lines = 8;
    job_sched_set_policy(s, &p);
    assert_int_equal(tick(T0 + 3), 1);
    assert_string_equal(F.dials[3].id, "0000000000000B02");
    assert_int_equal(job_sched_active_calls(s), 3);
    /* fewer lines at run time: nothing new until enough calls ended */
    p.max_lines = 2;
    job_sched_set_policy(s, &p);
    assert_int_equal(tick(a->rcpt[0].next_ms), 0);
    result(b, 0, true, true, JOB_FAIL_NONE, 1, "ok", T0 + 4);
    assert_int_equal(tick(a->rcpt[0].next_ms), 0);
    result(a, 1, true, true, JOB_FAIL_NONE, 1, "ok", T0 + 5);
    assert_int_equal(tick(a->rcpt[0].next_ms), 1);
}

/* ---- several recipients ---- */

static void test_recipients_independent(void **st)
{
    (void)st;
    job_policy_t p = pol_default();
    p.delay_busy_s = 20;
    job_sched_t *s = sched_with(&p);
    job_t *j = mkjob("0000000000000C01", 3, T0, "sip:1@x", "sip:2@x", "sip:3@x", NULL);
    job_sched_add(s, j, T0);
    assert_int_equal(job_state(j), JOB_ST_QUEUED);
    assert_int_equal(tick(T0), 3);
    assert_int_equal(job_state(j), JOB_ST_DIALING);
    job_sched_connected(s, j, 0, T0 + 1000);
    assert_int_equal(job_state(j), JOB_ST_SENDING);
    job_sched_page(s, j, 0, 3, T0 + 5000);
    result(j, 0, true, true, JOB_FAIL_NONE, 3, "ok", T0 + 6000);
    result(j, 1, false, false, JOB_FAIL_BUSY, 0, "busy", T0 + 6000);
    result(j, 2, false, false, JOB_FAIL_PERMANENT, 0, "not found", T0 + 6000);
    assert_int_equal(j->rcpt[0].state, JOB_ST_DONE);
    assert_int_equal(j->rcpt[0].pages_confirmed, 3);
    assert_string_equal(j->rcpt[0].remote_ident, "+1 555 0199");
    assert_string_equal(j->rcpt[0].mode, "t38");
    assert_int_equal(j->rcpt[0].last_rate, 14400);
    assert_true(j->rcpt[0].last_ecm);
    assert_int_equal(j->rcpt[0].tries, 1);
    assert_int_equal(j->rcpt[1].state, JOB_ST_SLEEPING);
    assert_int_equal(j->rcpt[1].pages_confirmed, 0);
    assert_int_equal(j->rcpt[2].state, JOB_ST_FAILED);
    assert_int_equal(job_state(j), JOB_ST_SLEEPING);
    /* only the sleeping one dials again, from its own first page */
    assert_int_equal(tick(T0 + 26000), 1);
    assert_int_equal(F.dials[3].r, 1);
    assert_int_equal(F.dials[3].start_page, 0);
    assert_int_equal(j->rcpt[1].dials, 2);
    assert_int_equal(j->rcpt[0].dials, 1);
    result(j, 1, true, true, JOB_FAIL_NONE, 3, "ok", T0 + 30000);
    /* done, done, failed: the job failed */
    assert_int_equal(job_state(j), JOB_ST_FAILED);
}

static void test_job_state_derivation(void **st)
{
    (void)st;
    static const struct {
        job_state_t a, b, want;
    } cases[] = {
        { JOB_ST_SENDING, JOB_ST_SLEEPING, JOB_ST_SENDING },
        { JOB_ST_DONE, JOB_ST_DIALING, JOB_ST_DIALING },
        { JOB_ST_QUEUED, JOB_ST_SLEEPING, JOB_ST_QUEUED },
        { JOB_ST_FAILED, JOB_ST_SLEEPING, JOB_ST_SLEEPING },
        { JOB_ST_DONE, JOB_ST_QUEUED, JOB_ST_QUEUED },
        { JOB_ST_DONE, JOB_ST_DONE, JOB_ST_DONE },
        { JOB_ST_DONE, JOB_ST_FAILED, JOB_ST_FAILED },
        { JOB_ST_DONE, JOB_ST_CANCELLED, JOB_ST_CANCELLED },
        { JOB_ST_CANCELLED, JOB_ST_FAILED, JOB_ST_FAILED },
        { JOB_ST_HELD, JOB_ST_DONE, JOB_ST_HELD },
        { JOB_ST_HELD, JOB_ST_FAILED, JOB_ST_HELD },
        /* held if held: a held job does not look as if it were about to dial ... */
        { JOB_ST_HELD, JOB_ST_SLEEPING, JOB_ST_HELD },
        { JOB_ST_QUEUED, JOB_ST_HELD, JOB_ST_HELD },
        /* ... but a call still in progress shows */
        { JOB_ST_HELD, JOB_ST_SENDING, JOB_ST_SENDING },
        { JOB_ST_DIALING, JOB_ST_HELD, JOB_ST_DIALING },
    };
    job_t *j = mkjob("0000000000000C02", 1, T0, "sip:1@x", "sip:2@x", NULL);
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        j->rcpt[0].state = cases[i].a;
        j->rcpt[1].state = cases[i].b;
        if (job_state(j) != cases[i].want)
            fail_msg("case %u: %s + %s gave %s, want %s", i, job_state_name(cases[i].a),
                     job_state_name(cases[i].b), job_state_name(job_state(j)),
                     job_state_name(cases[i].want));
    }
    job_free(j);
    job_t *none = job_new("0000000000000C03", "x.tif", 1, T0);
    assert_int_equal(job_state(none), JOB_ST_FAILED);
    job_free(none);
}

/* ---- pages, resume, recovery ---- */

static void test_resume_from_first_unconfirmed_page(void **st)
{
    (void)st;
    job_policy_t p = pol_default();
    job_sched_t *s = sched_with(&p);
    job_t *j = mkjob("0000000000000D01", 5, T0, "sip:1@x", NULL);
    job_sched_add(s, j, T0);
    tick(T0);
    assert_int_equal(F.dials[0].start_page, 0);
    job_sched_connected(s, j, 0, T0 + 1000);
    int n = F.n_changed;
    job_sched_page(s, j, 0, 1, T0 + 2000);
    assert_int_equal(F.n_changed, n + 1);
    assert_int_equal(j->rcpt[0].pages_confirmed, 1);
    job_sched_page(s, j, 0, 2, T0 + 3000);
    assert_int_equal(F.n_changed, n + 2);
    /* the same count again, or a smaller one, changes nothing */
    job_sched_page(s, j, 0, 2, T0 + 3100);
    job_sched_page(s, j, 0, 1, T0 + 3200);
    assert_int_equal(F.n_changed, n + 2);
    assert_int_equal(j->rcpt[0].pages_confirmed, 2);
    assert_true(has_event(j, "page 2 confirmed"));
    /* the call ends reporting fewer pages than we saw confirmed: we keep ours */
    result(j, 0, false, true, JOB_FAIL_PROTOCOL, 1, "T.30 DCN", T0 + 4000);
    assert_int_equal(j->rcpt[0].pages_confirmed, 2);
    assert_int_equal(tick(j->rcpt[0].next_ms), 1);
    assert_int_equal(F.dials[1].start_page, 2);
    assert_true(has_event(j, "from page 3"));
    job_sched_connected(s, j, 0, j->rcpt[0].next_ms + 1000);
    job_sched_page(s, j, 0, 4, j->rcpt[0].next_ms + 2000);
    result(j, 0, false, true, JOB_FAIL_PROTOCOL, 4, "T.30 DCN", j->rcpt[0].next_ms + 3000);
    assert_int_equal(tick(j->rcpt[0].next_ms), 1);
    assert_int_equal(F.dials[2].start_page, 4);
    /* a call that confirmed every page is done even if the driver said it failed */
    result(j, 0, false, true, JOB_FAIL_PROTOCOL, 5, "no MCF after the last page",
           j->rcpt[0].next_ms + 3000);
    assert_int_equal(j->rcpt[0].state, JOB_ST_DONE);
    assert_int_equal(j->rcpt[0].last_fail, JOB_FAIL_NONE);
    assert_int_equal(job_state(j), JOB_ST_DONE);
}

static void test_recovery_in_add(void **st)
{
    (void)st;
    job_policy_t p = pol_default();
    job_sched_t *s = sched_with(&p);
    /* a job as queue_recover() rebuilds it from a record written mid-call */
    job_t *j = mkjob("0000000000000D02", 5, T0 - 60000, "sip:1@x", "sip:2@x", "sip:3@x",
                     "sip:4@x", NULL);
    j->rcpt[0].state = JOB_ST_DIALING;
    j->rcpt[0].dials = 1;
    j->rcpt[1].state = JOB_ST_SENDING;
    j->rcpt[1].dials = 2;
    j->rcpt[1].tries = 1;
    j->rcpt[1].pages_confirmed = 3;
    j->rcpt[2].state = JOB_ST_SENDING;
    j->rcpt[2].pages_confirmed = 5; /* all confirmed; the crash came before the result */
    j->rcpt[3].state = JOB_ST_SLEEPING;
    j->rcpt[3].next_ms = T0 + 100000;
    job_sched_add(s, j, T0);
    assert_int_equal(F.n_changed, 1);
    assert_int_equal(F.n_dials, 0);
    assert_int_equal(job_sched_active_calls(s), 0);
    assert_int_equal(j->rcpt[0].state, JOB_ST_SLEEPING);
    assert_int_equal(j->rcpt[0].next_ms, T0 + 5000);
    assert_int_equal(j->rcpt[0].dials, 1);
    assert_string_equal(j->rcpt[0].last_reason, "call interrupted by a restart");
    assert_int_equal(j->rcpt[1].state, JOB_ST_SLEEPING);
    assert_int_equal(j->rcpt[1].next_ms, T0 + 5000);
    assert_int_equal(j->rcpt[1].tries, 1);
    assert_int_equal(j->rcpt[2].state, JOB_ST_DONE);
    assert_int_equal(j->rcpt[3].state, JOB_ST_SLEEPING);
    assert_int_equal(j->rcpt[3].next_ms, T0 + 100000);
    assert_true(has_event(j, "call interrupted (restart)"));
    assert_true(has_event(j, "all 5 pages were confirmed"));
    assert_int_equal(job_sched_next_due(s, T0), 5000);
    assert_int_equal(tick(T0 + 4999), 0);
    /* one line per destination, each its own: both interrupted calls resume */
    assert_int_equal(tick(T0 + 5000), 2);
    assert_int_equal(F.dials[0].r, 0);
    assert_int_equal(F.dials[0].start_page, 0);
    assert_int_equal(F.dials[1].r, 1);
    assert_int_equal(F.dials[1].start_page, 3);
    assert_int_equal(j->rcpt[1].dials, 3);

    /* a job with nothing to recover is not written again */
    job_t *k = mkjob("0000000000000D03", 1, T0, "sip:9@x", NULL);
    int n = F.n_changed;
    job_sched_add(s, k, T0);
    assert_int_equal(F.n_changed, n);
    assert_ptr_equal(job_sched_find(s, "0000000000000D03"), k);
    assert_ptr_equal(job_sched_at(s, 0), j);
    assert_ptr_equal(job_sched_at(s, 1), k);
    assert_null(job_sched_at(s, 2));
    assert_null(job_sched_at(s, -1));
    assert_null(job_sched_find(s, "nope"));
}

/* A single-recipient job recovered with every page confirmed is done without a dial. */
static void test_recovery_all_confirmed_is_done(void **st)
{
    (void)st;
    job_policy_t p = pol_default();
    job_sched_t *s = sched_with(&p);
    job_t *j = mkjob("0000000000000D04", 2, T0, "sip:1@x", NULL);
    j->rcpt[0].state = JOB_ST_DIALING;
    j->rcpt[0].pages_confirmed = 2;
    job_sched_add(s, j, T0);
    assert_int_equal(j->rcpt[0].state, JOB_ST_DONE);
    assert_int_equal(job_state(j), JOB_ST_DONE);
    assert_int_equal(F.n_changed, 1);
    assert_int_equal(tick(T0 + 3600000), 0);
    assert_int_equal(F.n_dials, 0);
}

/* ---- operator actions ---- */

static void test_cancel_sleeping(void **st)
{
    (void)st;
    job_policy_t p = pol_default();
    job_sched_t *s = sched_with(&p);
    job_t *j = mkjob("0000000000000E01", 1, T0, "sip:1@x", NULL);
    job_sched_add(s, j, T0);
    tick(T0);
    result(j, 0, false, false, JOB_FAIL_BUSY, 0, "busy", T0 + 1000);
    int n = F.n_changed;
    assert_int_equal(job_sched_cancel(s, j, T0 + 2000), 0);
    assert_int_equal(F.n_changed, n + 1);
    assert_int_equal(F.n_hangups, 0);
    assert_int_equal(j->rcpt[0].state, JOB_ST_CANCELLED);
    assert_string_equal(j->rcpt[0].last_reason, "cancelled");
    assert_int_equal(job_state(j), JOB_ST_CANCELLED);
    assert_int_equal(job_sched_next_due(s, T0 + 2000), -1);
    assert_int_equal(tick(T0 + 1000000), 0);
    assert_int_equal(F.n_dials, 1);
    assert_int_equal(job_sched_cancel(s, j, T0 + 3000), FX_ESTATE);
    assert_int_equal(job_sched_hold(s, j, T0 + 3000), FX_ESTATE);
    assert_int_equal(job_sched_retry(s, j, T0 + 3000), FX_ESTATE);
    /* a late result for a call that is long over changes nothing */
    n = F.n_changed;
    result(j, 0, true, true, JOB_FAIL_NONE, 1, "ok", T0 + 4000);
    assert_int_equal(j->rcpt[0].state, JOB_ST_CANCELLED);
    assert_int_equal(F.n_changed, n);
    assert_int_equal(job_sched_active_calls(s), 0);
}

static void test_cancel_live_call(void **st)
{
    (void)st;
    job_policy_t p = pol_default();
    p.max_lines = 1;
    job_sched_t *s = sched_with(&p);
    job_t *j = mkjob("0000000000000E02", 3, T0, "sip:1@x", NULL);
    job_t *other = mkjob("0000000000000E03", 1, T0 + 1, "sip:2@x", NULL);
    job_sched_add(s, j, T0);
    job_sched_add(s, other, T0);
    tick(T0);
    assert_int_equal(F.n_dials, 1);
    assert_int_equal(job_sched_cancel(s, j, T0 + 500), 0);
    assert_int_equal(F.n_hangups, 1);
    assert_ptr_equal(F.hangups[0].j, j);
    assert_int_equal(F.hangups[0].r, 0);
    assert_int_equal(j->rcpt[0].state, JOB_ST_CANCELLED);
    /* the line stays taken until the call has ended */
    assert_int_equal(job_sched_active_calls(s), 1);
    assert_int_equal(tick(T0 + 600), 0);
    /* cancelling again is refused, and does not hang up twice */
    assert_int_equal(job_sched_cancel(s, j, T0 + 700), FX_ESTATE);
    assert_int_equal(F.n_hangups, 1);
    result(j, 0, false, false, JOB_FAIL_NOANSWER, 0, "cancelled before answer", T0 + 800);
    assert_int_equal(j->rcpt[0].state, JOB_ST_CANCELLED);
    assert_int_equal(job_sched_active_calls(s), 0);
    assert_int_equal(j->rcpt[0].dials, 1);
    assert_true(has_event(j, "call ended after cancel"));
    /* a duplicate result neither frees a line twice nor changes the state */
    result(j, 0, false, false, JOB_FAIL_NOANSWER, 0, "again", T0 + 850);
    assert_int_equal(job_sched_active_calls(s), 0);
    assert_int_equal(tick(T0 + 900), 1);
    assert_string_equal(F.dials[1].id, "0000000000000E03");
}

/* Cancelled while sending the last page: if every page got through, the
 * recipient has its fax, and the job says so. */
static void test_cancel_live_then_all_pages_done(void **st)
{
    (void)st;
    job_policy_t p = pol_default();
    job_sched_t *s = sched_with(&p);
    job_t *j = mkjob("0000000000000E04", 3, T0, "sip:1@x", NULL);
    job_sched_add(s, j, T0);
    tick(T0);
    job_sched_connected(s, j, 0, T0 + 1000);
    job_sched_page(s, j, 0, 2, T0 + 2000);
    assert_int_equal(job_sched_cancel(s, j, T0 + 3000), 0);
    assert_int_equal(F.n_hangups, 1);
    assert_int_equal(job_sched_active_calls(s), 1);
    result(j, 0, true, true, JOB_FAIL_NONE, 3, "ok", T0 + 4000);
    assert_int_equal(j->rcpt[0].state, JOB_ST_DONE);
    assert_int_equal(j->rcpt[0].pages_confirmed, 3);
    assert_int_equal(job_state(j), JOB_ST_DONE);
    assert_int_equal(job_sched_active_calls(s), 0);
}

/* Cancel while the call is live, then the job leaves the scheduler before the
 * result came (an owner that archives final jobs): the line is freed with it. */
static void test_remove_with_live_calls(void **st)
{
    (void)st;
    job_policy_t p = pol_default();
    job_sched_t *s = sched_with(&p);
    job_t *a = mkjob("0000000000000E05", 1, T0, "sip:1@x", "sip:2@x", NULL);
    job_sched_add(s, a, T0);
    assert_int_equal(tick(T0), 2);
    job_sched_connected(s, a, 1, T0 + 100);
    assert_int_equal(job_sched_cancel(s, a, T0 + 200), 0);
    assert_int_equal(F.n_hangups, 2);
    assert_int_equal(job_sched_active_calls(s), 2);
    job_sched_remove(s, a);
    assert_int_equal(job_sched_active_calls(s), 0);
    assert_null(job_sched_find(s, "0000000000000E05"));
    /* a job removed while dialing frees its line too */
    job_t *b = mkjob("0000000000000E06", 1, T0, "sip:3@x", NULL);
    job_sched_add(s, b, T0);
    assert_int_equal(tick(T0 + 300), 1);
    assert_int_equal(job_sched_active_calls(s), 1);
    job_sched_remove(s, b);
    assert_int_equal(job_sched_active_calls(s), 0);
    job_free(a);
    job_free(b);
}

static void test_hold_release_queued_and_sleeping(void **st)
{
    (void)st;
    job_policy_t p = pol_default();
    p.delay_busy_s = 30;
    job_sched_t *s = sched_with(&p);
    job_t *j = mkjob("0000000000000F01", 1, T0, "sip:1@x", NULL);
    j->not_before_ms = T0 + 1000;
    job_sched_add(s, j, T0);
    assert_int_equal(job_sched_release(s, j, T0), FX_ESTATE);
    assert_int_equal(job_sched_hold(s, j, T0), 0);
    assert_int_equal(j->rcpt[0].state, JOB_ST_HELD);
    assert_int_equal(job_state(j), JOB_ST_HELD);
    assert_int_equal(job_sched_hold(s, j, T0), FX_ESTATE);
    assert_int_equal(job_sched_next_due(s, T0), -1);
    assert_int_equal(tick(T0 + 100000), 0);
    assert_int_equal(job_sched_release(s, j, T0 + 100000), 0);
    assert_int_equal(j->rcpt[0].state, JOB_ST_QUEUED);
    assert_int_equal(tick(T0 + 100000), 1);
    assert_int_equal(job_sched_hold(s, j, T0 + 100000), FX_ESTATE); /* dialing */
    result(j, 0, false, false, JOB_FAIL_BUSY, 0, "busy", T0 + 101000);
    assert_int_equal(j->rcpt[0].next_ms, T0 + 131000);

    /* held while sleeping, released before the retry time: it still waits for it */
    int n = F.n_changed;
    assert_int_equal(job_sched_hold(s, j, T0 + 110000), 0);
    assert_int_equal(F.n_changed, n + 1);
    assert_int_equal(tick(T0 + 119000), 0);
    assert_int_equal(job_sched_release(s, j, T0 + 120000), 0);
    assert_int_equal(F.n_changed, n + 2);
    assert_int_equal(j->rcpt[0].state, JOB_ST_SLEEPING);
    assert_int_equal(j->rcpt[0].next_ms, T0 + 131000);
    assert_int_equal(tick(T0 + 130999), 0);
    assert_int_equal(tick(T0 + 131000), 1);
    assert_int_equal(F.n_dials, 2);
    result(j, 0, false, false, JOB_FAIL_BUSY, 0, "busy", T0 + 132000);

    /* released after the retry time passed: dials at once */
    assert_int_equal(job_sched_hold(s, j, T0 + 133000), 0);
    assert_int_equal(tick(T0 + 200000), 0);
    assert_int_equal(job_sched_release(s, j, T0 + 200000), 0);
    assert_int_equal(tick(T0 + 200000), 1);
    assert_int_equal(F.n_dials, 3);
    assert_true(has_event(j, "sleeping -> held"));
    assert_true(has_event(j, "held -> sleeping"));
}

/* A hold reaches a recipient whose call was live when the job was held: its
 * call ends and it waits held, with the others, rather than dialling again. */
static void test_hold_with_a_live_recipient(void **st)
{
    (void)st;
    job_policy_t p = pol_default();
    p.delay_busy_s = 10;
    job_sched_t *s = sched_with(&p);
    job_t *j = mkjob("0000000000000F02", 1, T0, "sip:1@x", "sip:2@x", NULL);
    job_sched_add(s, j, T0);
    assert_int_equal(tick(T0), 2);
    result(j, 0, false, false, JOB_FAIL_BUSY, 0, "busy", T0 + 1000);
    assert_int_equal(job_sched_hold(s, j, T0 + 2000), 0);
    assert_int_equal(j->rcpt[0].state, JOB_ST_HELD);
    assert_int_equal(j->rcpt[1].state, JOB_ST_DIALING);
    assert_int_equal(job_state(j), JOB_ST_DIALING);
    result(j, 1, false, false, JOB_FAIL_BUSY, 0, "busy", T0 + 3000);
    assert_int_equal(j->rcpt[1].state, JOB_ST_HELD);
    assert_int_equal(j->rcpt[1].next_ms, T0 + 13000);
    assert_int_equal(job_state(j), JOB_ST_HELD);
    assert_int_equal(tick(T0 + 100000), 0);
    assert_int_equal(F.n_dials, 2);
    assert_int_equal(job_sched_release(s, j, T0 + 100000), 0);
    assert_int_equal(tick(T0 + 100000), 2);
}

static void test_retry_failed_and_sleeping(void **st)
{
    (void)st;
    job_policy_t p = pol_default();
    p.max_dials = 2;
    p.delay_protocol_s = 60;
    job_sched_t *s = sched_with(&p);
    job_t *j = mkjob("0000000000000F03", 4, T0, "sip:1@x", NULL);
    j->kill_ms = T0 + 1000000;
    job_sched_add(s, j, T0);
    tick(T0);
    job_sched_connected(s, j, 0, T0 + 100);
    job_sched_page(s, j, 0, 1, T0 + 200);
    result(j, 0, false, true, JOB_FAIL_PROTOCOL, 1, "DCN", T0 + 300);
    assert_int_equal(j->rcpt[0].state, JOB_ST_SLEEPING);
    assert_int_equal(job_sched_retry(s, j, T0 + 400), 0);
    /* a sleeping recipient dials now, not at its retry time */
    assert_int_equal(tick(T0 + 400), 1);
    assert_int_equal(F.dials[1].start_page, 1);
    result(j, 0, false, true, JOB_FAIL_PROTOCOL, 2, "DCN", T0 + 500);
    assert_int_equal(j->rcpt[0].state, JOB_ST_FAILED);
    assert_int_equal(j->rcpt[0].tries, 2);
    assert_int_equal(j->rcpt[0].dials, 2);
    assert_true(j->rcpt[0].final_reason[0] != '\0');
    /* a failed one gets fresh counters; its confirmed pages still count */
    int n = F.n_changed;
    assert_int_equal(job_sched_retry(s, j, T0 + 2000000), 0);
    assert_int_equal(F.n_changed, n + 1);
    assert_int_equal(j->rcpt[0].state, JOB_ST_QUEUED);
    assert_int_equal(j->rcpt[0].tries, 0);
    assert_int_equal(j->rcpt[0].dials, 0);
    assert_int_equal(j->rcpt[0].pages_confirmed, 2);
    assert_string_equal(j->rcpt[0].final_reason, "");
    assert_int_equal(j->rcpt[0].last_fail, JOB_FAIL_NONE);
    /* its kill time had passed: it gets a new lifetime from now */
    assert_int_equal(j->kill_ms, T0 + 2000000 + 3u * 3600u * 1000u);
    assert_true(has_event(j, "retry requested after 2 tries, 2 dials"));
    assert_int_equal(tick(T0 + 2000000), 1);
    assert_int_equal(F.dials[2].start_page, 2);
    assert_int_equal(j->rcpt[0].dials, 1);
    assert_int_equal(job_sched_retry(s, j, T0 + 2000001), FX_ESTATE); /* dialing */
    result(j, 0, true, true, JOB_FAIL_NONE, 4, "ok", T0 + 2001000);
    assert_int_equal(job_state(j), JOB_ST_DONE);
    assert_string_equal(j->rcpt[0].final_reason, "");
    assert_int_equal(job_sched_retry(s, j, T0 + 2002000), FX_ESTATE);
}

/* ---- events ---- */

static void test_event_list_capped_keeps_first(void **st)
{
    (void)st;
    job_t *j = job_new("0000000000000A99", "x.tif", 1, T0);
    job_event(j, T0, "submitted: %d pages", 1);
    assert_int_equal(j->n_events, 1);
    assert_string_equal(j->events[0], "1000000 submitted: 1 pages");
    for (int i = 1; i < 300; i++)
        job_event(j, T0 + (uint64_t)i, "event %d", i);
    assert_int_equal(j->n_events, JOB_MAX_EVENTS);
    assert_string_equal(j->events[0], "1000000 submitted: 1 pages");
    /* then the newest JOB_MAX_EVENTS - 1, oldest first */
    char want[64];
    for (int k = 1; k < JOB_MAX_EVENTS; k++) {
        int i = 300 - JOB_MAX_EVENTS + k;
        snprintf(want, sizeof want, "%llu event %d", (unsigned long long)(T0 + (uint64_t)i), i);
        assert_string_equal(j->events[k], want);
    }
    /* a long text is cut, not overflowed */
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    job_event(j, UINT64_MAX, "%s", big);
    assert_int_equal(j->n_events, JOB_MAX_EVENTS);
    assert_true(strncmp(j->events[JOB_MAX_EVENTS - 1], "18446744073709551615 xxx", 24) == 0);
    job_free(j);
}

/* The scheduler writes an event for every dial and every state change, with
 * the caller's clock, and calls changed() after each. */
static void test_events_follow_the_schedule(void **st)
{
    (void)st;
    job_policy_t p = pol_default();
    p.delay_busy_s = 30;
    p.max_dials = 3;
    job_sched_t *s = sched_with(&p);
    job_t *j = mkjob("0000000000000A98", 1, T0, "sip:busy@x", NULL);
    job_sched_add(s, j, T0);
    for (uint64_t t = T0; j->rcpt[0].state != JOB_ST_FAILED; t += 30000) {
        int n = F.n_changed;
        assert_int_equal(tick(t), 1);
        assert_true(F.n_changed > n);
        result(j, 0, false, false, JOB_FAIL_BUSY, 0, "busy (SIP 486)", t);
    }
    assert_true(has_event(j, "1000000 rcpt=0 dial 1 of 3 to sip:busy@x from page 1"));
    assert_true(has_event(j, "1030000 rcpt=0 dial 2 of 3"));
    assert_true(has_event(j, "1060000 rcpt=0 dial 3 of 3"));
    assert_true(has_event(j, "1000000 rcpt=0 retry in 30 s"));
    assert_true(has_event(j, "1060000 rcpt=0 gave up: 3 dials used"));
    assert_true(has_event(j, "1060000 rcpt=0 dialing -> failed"));
    assert_ptr_equal(F.last_changed, j);
}

/* changed() may archive and free a final job from inside the scheduler, as
 * queue.c does; the scheduler must not skip or touch anything after that. */
static void test_changed_may_remove_final_jobs(void **st)
{
    (void)st;
    job_policy_t p = pol_default();
    job_sched_t *s = sched_with(&p);
    F.remove_final = true;
    for (int i = 0; i < 3; i++) {
        char id[17];
        snprintf(id, sizeof id, "00000000000001%02d", i);
        job_t *j = mkjob(id, 1, T0, "sip:1@x", NULL);
        j->not_before_ms = T0 + 10000; /* stays queued ... */
        j->kill_ms = T0 + 5000;        /* ... until its kill time */
        job_sched_add(s, j, T0);
    }
    job_t *live = mkjob("0000000000000199", 1, T0, "sip:2@x", NULL);
    job_sched_add(s, live, T0);
    assert_int_equal(tick(T0), 1);
    /* all three pass their kill time in the same tick */
    assert_int_equal(tick(T0 + 5000), 0);
    assert_int_equal(F.n_removed, 3);
    assert_ptr_equal(job_sched_at(s, 0), live);
    assert_null(job_sched_at(s, 1));
    /* a result that finishes the job frees it; the tick after is harmless */
    result(live, 0, false, false, JOB_FAIL_PERMANENT, 0, "not found", T0 + 6000);
    assert_int_equal(F.n_removed, 4);
    assert_null(job_sched_at(s, 0));
    assert_int_equal(job_sched_active_calls(s), 0);
    /* a dial error finishing a job frees it inside tick */
    job_t *d = mkjob("0000000000000198", 1, T0, "sip:3@x", NULL);
    job_t *e = mkjob("0000000000000197", 1, T0, "sip:4@x", NULL);
    job_sched_add(s, d, T0);
    job_sched_add(s, e, T0);
    F.dial_rc = -EIO;
    assert_int_equal(tick(T0 + 7000), 0);
    assert_int_equal(F.n_removed, 6);
    assert_int_equal(F.n_dials, 3);
    /* cancel of a sleeping single job frees it too */
    F.dial_rc = 0;
    job_t *c = mkjob("0000000000000196", 1, T0, "sip:5@x", NULL);
    job_sched_add(s, c, T0);
    tick(T0 + 8000);
    result(c, 0, false, false, JOB_FAIL_BUSY, 0, "busy", T0 + 8000);
    assert_int_equal(job_sched_cancel(s, c, T0 + 9000), 0);
    assert_int_equal(F.n_removed, 7);
    assert_null(job_sched_at(s, 0));
}

int main(void)
{
    fx_log_setup(FX_LOG_ERR, 0, "test_job");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_defaults_and_names),
        cmocka_unit_test(test_job_new_and_rcpts),
        cmocka_unit_test_teardown(test_default_retry_schedule_per_kind, teardown),
        cmocka_unit_test_teardown(test_policy_delays_and_set_policy, teardown),
        cmocka_unit_test_teardown(test_max_tries_counts_only_connected_calls, teardown),
        cmocka_unit_test_teardown(test_max_dials_counts_all_calls, teardown),
        cmocka_unit_test_teardown(test_permanent_failure_gives_up_at_once, teardown),
        cmocka_unit_test_teardown(test_dial_error_is_permanent, teardown),
        cmocka_unit_test_teardown(test_kill_time, teardown),
        cmocka_unit_test_teardown(test_kill_time_while_sleeping, teardown),
        cmocka_unit_test_teardown(test_not_before, teardown),
        cmocka_unit_test_teardown(test_priority_then_fifo, teardown),
        cmocka_unit_test_teardown(test_per_destination_limit, teardown),
        cmocka_unit_test_teardown(test_max_lines, teardown),
        cmocka_unit_test_teardown(test_recipients_independent, teardown),
        cmocka_unit_test(test_job_state_derivation),
        cmocka_unit_test_teardown(test_resume_from_first_unconfirmed_page, teardown),
        cmocka_unit_test_teardown(test_recovery_in_add, teardown),
        cmocka_unit_test_teardown(test_recovery_all_confirmed_is_done, teardown),
        cmocka_unit_test_teardown(test_cancel_sleeping, teardown),
        cmocka_unit_test_teardown(test_cancel_live_call, teardown),
        cmocka_unit_test_teardown(test_cancel_live_then_all_pages_done, teardown),
        cmocka_unit_test_teardown(test_remove_with_live_calls, teardown),
        cmocka_unit_test_teardown(test_hold_release_queued_and_sleeping, teardown),
        cmocka_unit_test_teardown(test_hold_with_a_live_recipient, teardown),
        cmocka_unit_test_teardown(test_retry_failed_and_sleeping, teardown),
        cmocka_unit_test(test_event_list_capped_keeps_first),
        cmocka_unit_test_teardown(test_events_follow_the_schedule, teardown),
        cmocka_unit_test_teardown(test_changed_may_remove_final_jobs, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
