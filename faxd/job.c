/* job: outbound jobs and the scheduler engine (see include/fax/job.h). */
#include "fax/job.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fax/fx.h"

/* After a crash, recovered calls wait this long before they are dialled again. */
#define JOB_RECOVER_DELAY_MS 5000

/* A recipient cancelled while its call was live: the call still holds a line
 * until its result comes back (job_sched_result) or the job leaves. */
typedef struct hanging {
    const job_t *j;
    int r;
} hanging_t;

struct job_sched {
    job_policy_t pol;
    const job_ops_t *ops;
    void *user;
    job_t **jobs;
    int n_jobs, cap;
    int active;  /* recipients in DIALING or SENDING, plus the hanging ones */
    hanging_t *hanging;
    int n_hanging, cap_hanging;
};

static const char *const state_names[] = { "queued", "sleeping", "dialing", "sending",
                                           "done",   "failed",   "cancelled", "held" };
static const char *const fail_names[] = { "none", "busy", "no answer", "no fax", "protocol",
                                          "permanent" };

const char *job_state_name(job_state_t s)
{
    return (unsigned)s < sizeof state_names / sizeof state_names[0] ? state_names[s] : "?";
}

const char *job_fail_name(job_fail_t f)
{
    return (unsigned)f < sizeof fail_names / sizeof fail_names[0] ? fail_names[f] : "?";
}

bool job_state_final(job_state_t s)
{
    return s == JOB_ST_DONE || s == JOB_ST_FAILED || s == JOB_ST_CANCELLED;
}

void job_policy_defaults(job_policy_t *p)
{
    p->max_tries = 3;
    p->max_dials = 12;
    p->delay_busy_s = 180;
    p->delay_noanswer_s = 300;
    p->delay_nofax_s = 300;
    p->delay_protocol_s = 60;
    p->per_dest_limit = 1;
    p->max_lines = 8;
    p->kill_after_s = 3 * 3600;
}

job_t *job_new(const char *id, const char *image, int pages_total, uint64_t now_ms)
{
    job_t *j = fx_calloc(1, sizeof *j);
    fx_strlcpy(j->id, id, sizeof j->id);
    fx_strlcpy(j->image, image, sizeof j->image);
    j->pages_total = pages_total;
    j->priority = 127;
    j->created_ms = now_ms;
    return j;
}

void job_free(job_t *j)
{
    if (j == NULL)
        return;
    for (int i = 0; i < j->n_events; i++)
        free(j->events[i]);
    free(j);
}

int job_add_rcpt(job_t *j, const char *dest)
{
    if (j->n_rcpt >= JOB_MAX_RCPT)
        return FX_ERANGE;
    job_rcpt_t *r = &j->rcpt[j->n_rcpt++];
    memset(r, 0, sizeof *r);
    fx_strlcpy(r->dest, dest, sizeof r->dest);
    r->state = JOB_ST_QUEUED;
    return 0;
}

void job_event(job_t *j, uint64_t now_ms, const char *fmt, ...)
{
    char text[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    size_t len = strlen(text) + 24;
    char *e = fx_malloc(len);
    snprintf(e, len, "%llu %s", (unsigned long long)now_ms, text);
    if (j->n_events == JOB_MAX_EVENTS) {
        /* Keep the first event (submission) and the most recent ones. */
        free(j->events[1]);
        memmove(&j->events[1], &j->events[2], (JOB_MAX_EVENTS - 2) * sizeof j->events[0]);
        j->n_events--;
    }
    j->events[j->n_events++] = e;
}

job_state_t job_state(const job_t *j)
{
    /* Order of "least advanced": a job is as busy as its busiest recipient. */
    /* A call in progress shows first; then held (a held job must not look as
     * if it were about to dial); then the waiting states; done comes last so a
     * job is done only when every recipient is. */
    static const int rank[] = {
        [JOB_ST_SENDING] = 0, [JOB_ST_DIALING] = 1, [JOB_ST_HELD] = 2,
        [JOB_ST_QUEUED] = 3,  [JOB_ST_SLEEPING] = 4, [JOB_ST_FAILED] = 5,
        [JOB_ST_CANCELLED] = 6, [JOB_ST_DONE] = 7,
    };
    if (j->n_rcpt == 0)
        return JOB_ST_FAILED;
    job_state_t best = j->rcpt[0].state;
    for (int i = 1; i < j->n_rcpt; i++)
        if (rank[j->rcpt[i].state] < rank[best])
            best = j->rcpt[i].state;
    return best;
}

int job_sched_new(const job_policy_t *p, const job_ops_t *ops, void *user, job_sched_t **out)
{
    job_sched_t *s = fx_calloc(1, sizeof *s);
    s->pol = *p;
    s->ops = ops;
    s->user = user;
    *out = s;
    return 0;
}

void job_sched_free(job_sched_t *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < s->n_jobs; i++)
        job_free(s->jobs[i]);
    free(s->jobs);
    free(s->hanging);
    free(s);
}

void job_sched_set_policy(job_sched_t *s, const job_policy_t *p)
{
    s->pol = *p;
}

static void rcpt_set_state(job_sched_t *s, job_t *j, int r, job_state_t st, uint64_t now)
{
    job_rcpt_t *rc = &j->rcpt[r];
    if (rc->state == st)
        return;
    bool was_active = rc->state == JOB_ST_DIALING || rc->state == JOB_ST_SENDING;
    bool is_active = st == JOB_ST_DIALING || st == JOB_ST_SENDING;
    s->active += (int)is_active - (int)was_active;
    fx_log(FX_LOG_INFO, FX_FAC_QUEUE, "job state job=%s rcpt=%d dest=%s %s -> %s", j->id, r,
           rc->dest, job_state_name(rc->state), job_state_name(st));
    job_event(j, now, "rcpt=%d %s -> %s", r, job_state_name(rc->state), job_state_name(st));
    rc->state = st;
}

void job_sched_add(job_sched_t *s, job_t *j, uint64_t now_ms)
{
    if (s->n_jobs == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->jobs = fx_realloc(s->jobs, (size_t)s->cap * sizeof *s->jobs);
    }
    s->jobs[s->n_jobs++] = j;
    if (j->max_tries <= 0)
        j->max_tries = s->pol.max_tries;
    if (j->max_dials <= 0)
        j->max_dials = s->pol.max_dials;
    if (j->kill_ms == 0)
        j->kill_ms = j->created_ms + (uint64_t)s->pol.kill_after_s * 1000u;
    bool changed = false;
    for (int r = 0; r < j->n_rcpt; r++) {
        job_rcpt_t *rc = &j->rcpt[r];
        if (rc->state == JOB_ST_DIALING || rc->state == JOB_ST_SENDING) {
            /* The call was cut by a crash or restart: its confirmed pages are
             * kept; the rest goes again after a short pause. */
            job_event(j, now_ms, "rcpt=%d call interrupted (restart) in state %s", r,
                      job_state_name(rc->state));
            rc->state = JOB_ST_SLEEPING;
            rc->next_ms = now_ms + JOB_RECOVER_DELAY_MS;
            fx_strlcpy(rc->last_reason, "call interrupted by a restart", sizeof rc->last_reason);
            changed = true;
        }
        if (rc->state != JOB_ST_DONE && j->pages_total > 0 && rc->pages_confirmed >= j->pages_total) {
            /* Every page was confirmed before the crash: done, never sent twice. */
            job_event(j, now_ms, "rcpt=%d all %d pages were confirmed before the restart", r,
                      j->pages_total);
            rc->state = JOB_ST_DONE;
            changed = true;
        }
    }
    if (changed)
        s->ops->changed(s->user, j);
}

static void hanging_add(job_sched_t *s, const job_t *j, int r)
{
    if (s->n_hanging == s->cap_hanging) {
        s->cap_hanging = s->cap_hanging ? s->cap_hanging * 2 : 16;
        s->hanging = fx_realloc(s->hanging, (size_t)s->cap_hanging * sizeof *s->hanging);
    }
    s->hanging[s->n_hanging++] = (hanging_t){ j, r };
}

/* Forgets recipient r's hanging call (r < 0: all of j's); returns how many. */
static int hanging_drop(job_sched_t *s, const job_t *j, int r)
{
    int n = 0;
    for (int i = 0; i < s->n_hanging;) {
        if (s->hanging[i].j == j && (r < 0 || s->hanging[i].r == r)) {
            s->hanging[i] = s->hanging[--s->n_hanging];
            n++;
        } else {
            i++;
        }
    }
    return n;
}

void job_sched_remove(job_sched_t *s, job_t *j)
{
    /* Calls that were cancelled but have not ended stop counting with the job. */
    s->active -= hanging_drop(s, j, -1);
    for (int i = 0; i < s->n_jobs; i++) {
        if (s->jobs[i] == j) {
            for (int r = 0; r < j->n_rcpt; r++)
                if (j->rcpt[r].state == JOB_ST_DIALING || j->rcpt[r].state == JOB_ST_SENDING)
                    s->active--;
            memmove(&s->jobs[i], &s->jobs[i + 1], (size_t)(s->n_jobs - i - 1) * sizeof *s->jobs);
            s->n_jobs--;
            return;
        }
    }
}

job_t *job_sched_find(job_sched_t *s, const char *id)
{
    for (int i = 0; i < s->n_jobs; i++)
        if (strcmp(s->jobs[i]->id, id) == 0)
            return s->jobs[i];
    return NULL;
}

job_t *job_sched_at(job_sched_t *s, int i)
{
    return i >= 0 && i < s->n_jobs ? s->jobs[i] : NULL;
}

int job_sched_active_calls(const job_sched_t *s)
{
    return s->active;
}

static int dest_active(const job_sched_t *s, const char *dest)
{
    int n = 0;
    /* a cancelled call still hanging up holds the far end's line as well */
    for (int i = 0; i < s->n_hanging; i++)
        if (strcmp(s->hanging[i].j->rcpt[s->hanging[i].r].dest, dest) == 0)
            n++;
    for (int i = 0; i < s->n_jobs; i++) {
        const job_t *j = s->jobs[i];
        for (int r = 0; r < j->n_rcpt; r++)
            if ((j->rcpt[r].state == JOB_ST_DIALING || j->rcpt[r].state == JOB_ST_SENDING)
                && strcmp(j->rcpt[r].dest, dest) == 0)
                n++;
    }
    return n;
}

static bool due(const job_t *j, const job_rcpt_t *rc, uint64_t now)
{
    if (rc->state == JOB_ST_QUEUED)
        return now >= j->not_before_ms;
    if (rc->state == JOB_ST_SLEEPING)
        return now >= rc->next_ms && now >= j->not_before_ms;
    return false;
}

static void give_up(job_sched_t *s, job_t *j, int r, uint64_t now, const char *why)
{
    job_rcpt_t *rc = &j->rcpt[r];
    fx_strlcpy(rc->final_reason, why, sizeof rc->final_reason);
    if (rc->last_reason[0] == '\0')
        fx_strlcpy(rc->last_reason, why, sizeof rc->last_reason);
    job_event(j, now, "rcpt=%d gave up: %s", r, why);
    fx_log(FX_LOG_NOTICE, FX_FAC_QUEUE, "job failed job=%s rcpt=%d dest=%s why=\"%s\"", j->id, r,
           rc->dest, why);
    rcpt_set_state(s, j, r, JOB_ST_FAILED, now);
}

int job_sched_tick(job_sched_t *s, uint64_t now_ms)
{
    int placed = 0;
    /* Kill times first: a job past its kill time never dials again. */
    for (int i = 0; i < s->n_jobs;) {
        job_t *j = s->jobs[i];
        bool changed = false;
        for (int r = 0; r < j->n_rcpt; r++) {
            job_state_t st = j->rcpt[r].state;
            if ((st == JOB_ST_QUEUED || st == JOB_ST_SLEEPING) && j->kill_ms && now_ms >= j->kill_ms) {
                give_up(s, j, r, now_ms, "kill time reached");
                changed = true;
            }
        }
        if (changed)
            s->ops->changed(s->user, j);
        /* changed() may have archived j and removed it: then slot i holds the next job */
        if (i < s->n_jobs && s->jobs[i] == j)
            i++;
    }
    /* Then dial in priority order, oldest first within a priority (over
     * recipients: an older job's recipients all go before a younger job's),
     * while lines are free; each destination takes at most per_dest_limit calls. */
    for (;;) {
        if (s->active >= s->pol.max_lines)
            break;
        job_t *best = NULL;
        int best_r = -1;
        for (int i = 0; i < s->n_jobs; i++) {
            job_t *j = s->jobs[i];
            for (int r = 0; r < j->n_rcpt; r++) {
                job_rcpt_t *rc = &j->rcpt[r];
                if (!due(j, rc, now_ms))
                    continue;
                if (dest_active(s, rc->dest) >= s->pol.per_dest_limit)
                    continue;
                if (best == NULL || j->priority < best->priority
                    || (j->priority == best->priority && j->created_ms < best->created_ms)) {
                    best = j;
                    best_r = r;
                }
                break; /* a job's recipients rank alike: its first eligible one will do */
            }
        }
        if (best == NULL)
            break;
        job_rcpt_t *rc = &best->rcpt[best_r];
        rc->dials++;
        int start = rc->pages_confirmed;
        job_event(best, now_ms, "rcpt=%d dial %d of %d to %s from page %d", best_r, rc->dials,
                  best->max_dials, rc->dest, start + 1);
        rcpt_set_state(s, best, best_r, JOB_ST_DIALING, now_ms);
        s->ops->changed(s->user, best);
        /* dial() may put its own words in last_reason when it fails; the
         * previous call's words must not pass for them. */
        char prev[sizeof rc->last_reason];
        fx_strlcpy(prev, rc->last_reason, sizeof prev);
        rc->last_reason[0] = '\0';
        int rc2 = s->ops->dial(s->user, best, best_r, start);
        if (rc2 < 0) {
            char why[sizeof rc->last_reason];
            if (rc->last_reason[0] != '\0')
                fx_strlcpy(why, rc->last_reason, sizeof why);
            else
                snprintf(why, sizeof why, "cannot place the call: %s", fx_strerror(rc2));
            fx_strlcpy(rc->last_reason, why, sizeof rc->last_reason);
            rc->last_fail = JOB_FAIL_PERMANENT;
            give_up(s, best, best_r, now_ms, why);
            s->ops->changed(s->user, best);
            continue;
        }
        fx_strlcpy(rc->last_reason, prev, sizeof rc->last_reason);
        placed++;
    }
    return placed;
}

int64_t job_sched_next_due(const job_sched_t *s, uint64_t now_ms)
{
    int64_t best = -1;
    for (int i = 0; i < s->n_jobs; i++) {
        const job_t *j = s->jobs[i];
        for (int r = 0; r < j->n_rcpt; r++) {
            const job_rcpt_t *rc = &j->rcpt[r];
            uint64_t t;
            if (rc->state == JOB_ST_QUEUED)
                t = j->not_before_ms;
            else if (rc->state == JOB_ST_SLEEPING)
                t = rc->next_ms > j->not_before_ms ? rc->next_ms : j->not_before_ms;
            else
                continue;
            int64_t d = t > now_ms ? (int64_t)(t - now_ms) : 0;
            if (best < 0 || d < best)
                best = d;
        }
    }
    return best;
}

void job_sched_connected(job_sched_t *s, job_t *j, int r, uint64_t now_ms)
{
    job_rcpt_t *rc = &j->rcpt[r];
    if (rc->state != JOB_ST_DIALING)
        return;
    rc->tries++;
    job_event(j, now_ms, "rcpt=%d connected, try %d of %d", r, rc->tries, j->max_tries);
    rcpt_set_state(s, j, r, JOB_ST_SENDING, now_ms);
    s->ops->changed(s->user, j);
}

void job_sched_page(job_sched_t *s, job_t *j, int r, int pages_confirmed, uint64_t now_ms)
{
    job_rcpt_t *rc = &j->rcpt[r];
    if (pages_confirmed <= rc->pages_confirmed)
        return;
    rc->pages_confirmed = pages_confirmed;
    job_event(j, now_ms, "rcpt=%d page %d confirmed", r, pages_confirmed);
    /* Persisted at once: after a crash these pages are not sent again. */
    s->ops->changed(s->user, j);
}

static int delay_for(const job_policy_t *p, job_fail_t f)
{
    switch (f) {
    case JOB_FAIL_BUSY: return p->delay_busy_s;
    case JOB_FAIL_NOANSWER: return p->delay_noanswer_s;
    case JOB_FAIL_NOFAX: return p->delay_nofax_s;
    case JOB_FAIL_PROTOCOL: return p->delay_protocol_s;
    default: return p->delay_protocol_s;
    }
}

void job_sched_result(job_sched_t *s, job_t *j, int r, const job_outcome_t *o, uint64_t now_ms)
{
    job_rcpt_t *rc = &j->rcpt[r];
    if (rc->state == JOB_ST_CANCELLED) {
        /* Only a call cancelled while live has a result to come, and only one. */
        if (hanging_drop(s, j, r) == 0)
            return;
        s->active--;
    } else if (rc->state != JOB_ST_DIALING && rc->state != JOB_ST_SENDING) {
        return;
    }
    if (o->connected && rc->state == JOB_ST_DIALING)
        rc->tries++;
    if (o->pages_confirmed > rc->pages_confirmed)
        rc->pages_confirmed = o->pages_confirmed;
    fx_strlcpy(rc->last_reason, o->reason ? o->reason : "", sizeof rc->last_reason);
    if (o->remote_ident)
        fx_strlcpy(rc->remote_ident, o->remote_ident, sizeof rc->remote_ident);
    if (o->mode)
        fx_strlcpy(rc->mode, o->mode, sizeof rc->mode);
    rc->last_rate = o->rate;
    rc->last_ecm = o->ecm;
    rc->duration_s = o->duration_s;
    rc->image_s = o->image_s;
    bool all = o->ok || (j->pages_total > 0 && rc->pages_confirmed >= j->pages_total);
    if (all) {
        job_event(j, now_ms, "rcpt=%d sent, %d pages confirmed", r, rc->pages_confirmed);
        rc->last_fail = JOB_FAIL_NONE;
        rcpt_set_state(s, j, r, JOB_ST_DONE, now_ms);
    } else if (rc->state == JOB_ST_CANCELLED) {
        /* its line was given back above */
        job_event(j, now_ms, "rcpt=%d call ended after cancel: %s", r, rc->last_reason);
    } else {
        rc->last_fail = o->fail;
        job_event(j, now_ms, "rcpt=%d call failed (%s): %s", r, job_fail_name(o->fail),
                  rc->last_reason);
        if (o->fail == JOB_FAIL_PERMANENT) {
            give_up(s, j, r, now_ms, rc->last_reason);
        } else if (rc->tries >= j->max_tries) {
            char why[200];
            snprintf(why, sizeof why, "%d tries used; last: %s", rc->tries, rc->last_reason);
            give_up(s, j, r, now_ms, why);
        } else if (rc->dials >= j->max_dials) {
            char why[200];
            snprintf(why, sizeof why, "%d dials used; last: %s", rc->dials, rc->last_reason);
            give_up(s, j, r, now_ms, why);
        } else {
            rc->next_ms = now_ms + (uint64_t)delay_for(&s->pol, o->fail) * 1000u;
            if (j->kill_ms && rc->next_ms >= j->kill_ms) {
                give_up(s, j, r, now_ms, "next retry would be after the kill time");
            } else {
                job_event(j, now_ms, "rcpt=%d retry in %d s", r, delay_for(&s->pol, o->fail));
                /* The job was held while this call was live (hold acts on the
                 * waiting recipients only): this one waits held with them. */
                bool held = false;
                for (int k = 0; k < j->n_rcpt; k++)
                    held = held || j->rcpt[k].state == JOB_ST_HELD;
                rcpt_set_state(s, j, r, held ? JOB_ST_HELD : JOB_ST_SLEEPING, now_ms);
            }
        }
    }
    s->ops->changed(s->user, j);
}

int job_sched_cancel(job_sched_t *s, job_t *j, uint64_t now_ms)
{
    bool any = false;
    for (int r = 0; r < j->n_rcpt; r++) {
        job_rcpt_t *rc = &j->rcpt[r];
        if (job_state_final(rc->state))
            continue;
        any = true;
        bool live = rc->state == JOB_ST_DIALING || rc->state == JOB_ST_SENDING;
        if (live) {
            /* Stays counted as active until its call ends (job_sched_result)
             * or the job leaves the scheduler (job_sched_remove). */
            job_event(j, now_ms, "rcpt=%d %s -> cancelled (hanging up)", r,
                      job_state_name(rc->state));
            fx_log(FX_LOG_INFO, FX_FAC_QUEUE, "job state job=%s rcpt=%d dest=%s %s -> cancelled",
                   j->id, r, rc->dest, job_state_name(rc->state));
            rc->state = JOB_ST_CANCELLED;
            hanging_add(s, j, r);
            s->ops->hangup(s->user, j, r);
        } else {
            rcpt_set_state(s, j, r, JOB_ST_CANCELLED, now_ms);
        }
        fx_strlcpy(rc->last_reason, "cancelled", sizeof rc->last_reason);
    }
    if (!any)
        return FX_ESTATE;
    s->ops->changed(s->user, j);
    return 0;
}

int job_sched_hold(job_sched_t *s, job_t *j, uint64_t now_ms)
{
    bool any = false;
    for (int r = 0; r < j->n_rcpt; r++)
        if (j->rcpt[r].state == JOB_ST_QUEUED || j->rcpt[r].state == JOB_ST_SLEEPING) {
            rcpt_set_state(s, j, r, JOB_ST_HELD, now_ms);
            any = true;
        }
    if (!any)
        return FX_ESTATE;
    s->ops->changed(s->user, j);
    return 0;
}

int job_sched_release(job_sched_t *s, job_t *j, uint64_t now_ms)
{
    bool any = false;
    /* Back where it was: a recipient held while it slept for a retry still
     * waits for that retry time (a hold is no way to skip a busy delay). */
    for (int r = 0; r < j->n_rcpt; r++)
        if (j->rcpt[r].state == JOB_ST_HELD) {
            rcpt_set_state(s, j, r, j->rcpt[r].next_ms > now_ms ? JOB_ST_SLEEPING : JOB_ST_QUEUED,
                           now_ms);
            any = true;
        }
    if (!any)
        return FX_ESTATE;
    s->ops->changed(s->user, j);
    return 0;
}

int job_sched_retry(job_sched_t *s, job_t *j, uint64_t now_ms)
{
    bool any = false;
    for (int r = 0; r < j->n_rcpt; r++) {
        job_rcpt_t *rc = &j->rcpt[r];
        if (rc->state == JOB_ST_SLEEPING) {
            rc->next_ms = now_ms;
            any = true;
        } else if (rc->state == JOB_ST_FAILED) {
            /* A person asked again: fresh counters, confirmed pages still count. */
            job_event(j, now_ms, "rcpt=%d retry requested after %d tries, %d dials", r,
                      rc->tries, rc->dials);
            rc->tries = 0;
            rc->dials = 0;
            rc->next_ms = 0;
            rc->last_fail = JOB_FAIL_NONE;
            rc->final_reason[0] = '\0';
            if (j->kill_ms && j->kill_ms <= now_ms)
                j->kill_ms = now_ms + (uint64_t)s->pol.kill_after_s * 1000u;
            rcpt_set_state(s, j, r, JOB_ST_QUEUED, now_ms);
            any = true;
        }
    }
    if (!any)
        return FX_ESTATE;
    s->ops->changed(s->user, j);
    return 0;
}
