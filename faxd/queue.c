/* queue: the outbound queue (see queue.h). */
#include "queue.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <tiffio.h>
#include <unistd.h>

#include "fax/arc.h" /* archive: marker for the PostgreSQL worker */
#include "fax/fx.h"

typedef struct waiter {
    struct waiter *next;
    char id[17];
    ctl_conn_t *conn;  /* holds a reference */
} waiter_t;

/* One call in flight: which job and recipient it is for. Owned by the call:
 * linked into queue.calls from dial until its done callback, freed there. */
typedef struct call_ref {
    struct call_ref *next;
    queue_t *q;
    char id[17];
    int r;
} call_ref_t;

struct queue {
    const cfg_t *cfg;
    ev_loop_t *loop;
    spool_t *spool;
    sipfax_t *sip;
    job_sched_t *sched;
    ev_timer_t *tick;
    int64_t clock_offset_ms;  /* test clock: fake time = base + offset */
    uint64_t clock_base_ms;
    waiter_t *waiters;
    call_ref_t *calls;  /* calls placed whose result has not come back */
    unsigned long n_done, n_failed;
    bool (*may_dial)(void *arg); /* cluster: no dialling without a live lease (cluster.c) */
    void *may_dial_arg;
};

/* cluster: every job_sched_tick() goes through here, so a node without a live
 * lease places no call (docs/cluster.md). */
static int sched_tick(queue_t *q, uint64_t now)
{
    if (q->may_dial != NULL && !q->may_dial(q->may_dial_arg))
        return 0;
    return job_sched_tick(q->sched, now);
}

/* cluster: mirror a job change to PostgreSQL (marker for the archive worker). */
static void cluster_mark(queue_t *q, const char *id)
{
    if (q->cfg->cluster && q->cfg->db_dsn[0] != '\0')
        arc_job_mark(q->spool, id);
}

static bool call_in_flight(const queue_t *q, const char *id)
{
    for (const call_ref_t *c = q->calls; c != NULL; c = c->next)
        if (strcmp(c->id, id) == 0)
            return true;
    return false;
}

static void call_unlink(queue_t *q, call_ref_t *cr)
{
    for (call_ref_t **pp = &q->calls; *pp != NULL; pp = &(*pp)->next)
        if (*pp == cr) {
            *pp = cr->next;
            return;
        }
}

uint64_t queue_now(const queue_t *q)
{
    if (q->cfg->test_clock)
        return q->clock_base_ms + (uint64_t)q->clock_offset_ms;
    return fx_wall_ms();
}

static void policy_from(const cfg_t *c, job_policy_t *p)
{
    job_policy_defaults(p);
    p->max_tries = c->max_tries;
    p->max_dials = c->max_dials;
    p->delay_busy_s = c->retry_busy;
    p->delay_noanswer_s = c->retry_noanswer;
    p->delay_nofax_s = c->retry_nofax;
    p->delay_protocol_s = c->retry_protocol;
    p->per_dest_limit = c->dest_concurrency;
    p->max_lines = c->max_outbound_calls;
    p->kill_after_s = c->job_lifetime;
}

/* ---- records ---- */

static void job_to_rec(const job_t *j, spool_rec_t *r)
{
    spool_rec_init(r);
    spool_rec_add(r, "id", j->id);
    spool_rec_add(r, "kind", "send");
    spool_rec_add(r, "state", job_state_name(job_state(j)));
    spool_rec_add(r, "image", j->image);
    spool_rec_add(r, "owner", j->owner);
    spool_rec_addf(r, "pages_total", "%d", j->pages_total);
    spool_rec_addf(r, "priority", "%d", j->priority);
    spool_rec_addf(r, "created_ms", "%llu", (unsigned long long)j->created_ms);
    spool_rec_addf(r, "not_before_ms", "%llu", (unsigned long long)j->not_before_ms);
    spool_rec_addf(r, "kill_ms", "%llu", (unsigned long long)j->kill_ms);
    spool_rec_addf(r, "max_tries", "%d", j->max_tries);
    spool_rec_addf(r, "max_dials", "%d", j->max_dials);
    spool_rec_addf(r, "n_rcpt", "%d", j->n_rcpt);
    for (int i = 0; i < j->n_rcpt; i++) {
        const job_rcpt_t *rc = &j->rcpt[i];
        char k[48];
#define RK(name) (snprintf(k, sizeof k, "rcpt.%d." name, i), k)
        spool_rec_add(r, RK("dest"), rc->dest);
        spool_rec_add(r, RK("state"), job_state_name(rc->state));
        spool_rec_add(r, RK("fail"), job_fail_name(rc->last_fail));
        spool_rec_addf(r, RK("tries"), "%d", rc->tries);
        spool_rec_addf(r, RK("dials"), "%d", rc->dials);
        spool_rec_addf(r, RK("pages"), "%d", rc->pages_confirmed);
        spool_rec_addf(r, RK("next_ms"), "%llu", (unsigned long long)rc->next_ms);
        spool_rec_add(r, RK("reason"), rc->last_reason);
        spool_rec_add(r, RK("final_reason"), rc->final_reason);
        spool_rec_add(r, RK("remote_ident"), rc->remote_ident);
        spool_rec_addf(r, RK("rate"), "%d", rc->last_rate);
        spool_rec_add(r, RK("ecm"), rc->last_ecm ? "yes" : "no");
        spool_rec_add(r, RK("mode"), rc->mode);
        spool_rec_addf(r, RK("duration_s"), "%.1f", rc->duration_s);
        spool_rec_addf(r, RK("image_s"), "%.2f", rc->image_s);
#undef RK
    }
    for (int i = 0; i < j->n_events; i++)
        spool_rec_add(r, "event", j->events[i]);
}

static int parse_state(const char *s, job_state_t *out)
{
    for (int i = 0; i <= JOB_ST_HELD; i++)
        if (strcmp(s, job_state_name((job_state_t)i)) == 0) {
            *out = (job_state_t)i;
            return 0;
        }
    return FX_EPARSE;
}

static int parse_fail(const char *s, job_fail_t *out)
{
    for (int i = 0; i <= JOB_FAIL_PERMANENT; i++)
        if (strcmp(s, job_fail_name((job_fail_t)i)) == 0) {
            *out = (job_fail_t)i;
            return 0;
        }
    return FX_EPARSE;
}

static const char *need(const spool_rec_t *r, const char *k, char *why, size_t wl)
{
    const char *v = spool_rec_get(r, k);
    if (v == NULL)
        snprintf(why, wl, "job record lacks '%s'", k);
    return v;
}

/* Rebuilds a job from its record; FX_ECORRUPT with why on anything missing. */
static int job_from_rec(const spool_rec_t *r, job_t **out, char *why, size_t wl)
{
    const char *id = need(r, "id", why, wl), *image = need(r, "image", why, wl);
    const char *n = need(r, "n_rcpt", why, wl), *pt = need(r, "pages_total", why, wl);
    const char *cr = need(r, "created_ms", why, wl);
    if (!id || !image || !n || !pt || !cr)
        return FX_ECORRUPT;
    int nr = atoi(n);
    if (strlen(id) != 16 || nr < 1 || nr > JOB_MAX_RCPT) {
        snprintf(why, wl, "job record has a bad id or recipient count");
        return FX_ECORRUPT;
    }
    job_t *j = job_new(id, image, atoi(pt), strtoull(cr, NULL, 10));
    const char *v;
    if ((v = spool_rec_get(r, "owner")))
        fx_strlcpy(j->owner, v, sizeof j->owner);
    if ((v = spool_rec_get(r, "priority")))
        j->priority = atoi(v);
    if ((v = spool_rec_get(r, "not_before_ms")))
        j->not_before_ms = strtoull(v, NULL, 10);
    if ((v = spool_rec_get(r, "kill_ms")))
        j->kill_ms = strtoull(v, NULL, 10);
    if ((v = spool_rec_get(r, "max_tries")))
        j->max_tries = atoi(v);
    if ((v = spool_rec_get(r, "max_dials")))
        j->max_dials = atoi(v);
    for (int i = 0; i < nr; i++) {
        char k[48];
        snprintf(k, sizeof k, "rcpt.%d.dest", i);
        const char *dest = need(r, k, why, wl);
        snprintf(k, sizeof k, "rcpt.%d.state", i);
        const char *st = need(r, k, why, wl);
        if (dest == NULL || st == NULL) {
            job_free(j);
            return FX_ECORRUPT;
        }
        job_add_rcpt(j, dest);
        job_rcpt_t *rc = &j->rcpt[i];
        if (parse_state(st, &rc->state) < 0) {
            snprintf(why, wl, "job record: unknown state '%s'", st);
            job_free(j);
            return FX_ECORRUPT;
        }
#define GET(name) (snprintf(k, sizeof k, "rcpt.%d." name, i), spool_rec_get(r, k))
        if ((v = GET("fail")))
            parse_fail(v, &rc->last_fail);
        if ((v = GET("tries")))
            rc->tries = atoi(v);
        if ((v = GET("dials")))
            rc->dials = atoi(v);
        if ((v = GET("pages")))
            rc->pages_confirmed = atoi(v);
        if ((v = GET("next_ms")))
            rc->next_ms = strtoull(v, NULL, 10);
        if ((v = GET("reason")))
            fx_strlcpy(rc->last_reason, v, sizeof rc->last_reason);
        if ((v = GET("final_reason")))
            fx_strlcpy(rc->final_reason, v, sizeof rc->final_reason);
        if ((v = GET("remote_ident")))
            fx_strlcpy(rc->remote_ident, v, sizeof rc->remote_ident);
        if ((v = GET("rate")))
            rc->last_rate = atoi(v);
        if ((v = GET("ecm")))
            rc->last_ecm = strcmp(v, "yes") == 0;
        if ((v = GET("mode")))
            fx_strlcpy(rc->mode, v, sizeof rc->mode);
        if ((v = GET("duration_s")))
            rc->duration_s = strtod(v, NULL);
        if ((v = GET("image_s")))
            rc->image_s = strtod(v, NULL);
#undef GET
    }
    for (int i = 0; i < r->n && j->n_events < JOB_MAX_EVENTS; i++)
        if (strcmp(r->keys[i], "event") == 0)
            j->events[j->n_events++] = fx_strdup(r->values[i]);
    *out = j;
    return 0;
}

static void notify_waiters(queue_t *q, job_t *j)
{
    for (waiter_t **pp = &q->waiters; *pp != NULL;) {
        waiter_t *w = *pp;
        if (strcmp(w->id, j->id) != 0) {
            pp = &w->next;
            continue;
        }
        job_state_t st = job_state(j);
        for (int i = 0; i < j->n_rcpt; i++) {
            const job_rcpt_t *rc = &j->rcpt[i];
            ctl_reply(w->conn,
                      "RESULT job=%s rcpt=%d dest=%s result=%s pages=%d pages_total=%d "
                      "tries=%d dials=%d rate=%d ecm=%s mode=%s remote=\"%s\" duration=%.1f "
                      "image_time=%.2f reason=\"%s\" final=\"%s\"",
                      j->id, i, rc->dest,
                      rc->state == JOB_ST_DONE ? "ok"
                      : rc->pages_confirmed > 0 ? "partial"
                                                : job_state_name(rc->state),
                      rc->pages_confirmed, j->pages_total, rc->tries, rc->dials, rc->last_rate,
                      rc->last_ecm ? "yes" : "no", rc->mode[0] ? rc->mode : "-", rc->remote_ident,
                      rc->duration_s, rc->image_s, rc->last_reason, rc->final_reason);
        }
        ctl_reply(w->conn, "JOB job=%s state=%s", j->id, job_state_name(st));
        ctl_end(w->conn);
        ctl_conn_unref(w->conn);
        *pp = w->next;
        free(w);
    }
}

/* Persists j: a live job rewrites queue/<id>.rec; a final one moves with its
 * image to done/ or failed/ and leaves the scheduler. */
static void on_changed(void *user, job_t *j)
{
    queue_t *q = user;
    spool_rec_t r;
    job_to_rec(j, &r);
    char rec_name[40], tif_name[40];
    snprintf(rec_name, sizeof rec_name, "%s.rec", j->id);
    snprintf(tif_name, sizeof tif_name, "%s.tif", j->id);
    job_state_t st = job_state(j);
    /* A cancelled recipient whose call has not ended is not final yet either:
     * its result may still confirm the last page (then it is done), and the
     * scheduler counts its line until then. */
    bool live = call_in_flight(q, j->id);
    for (int i = 0; i < j->n_rcpt; i++)
        if (j->rcpt[i].state == JOB_ST_DIALING || j->rcpt[i].state == JOB_ST_SENDING)
            live = true;
    bool finished = job_state_final(st) && !live;
    int rc;
    if (finished) {
        const char *to = st == JOB_ST_DONE ? "done" : "failed";
        rc = spool_store_rec(q->spool, to, rec_name, &r);
        if (rc == 0) {
            spool_move(q->spool, "queue", tif_name, to, tif_name);
            char p[1024];
            if (spool_path(q->spool, "queue", rec_name, p, sizeof p) == 0)
                unlink(p);
            if (st == JOB_ST_DONE)
                q->n_done++;
            else
                q->n_failed++;
            fx_log(FX_LOG_NOTICE, FX_FAC_QUEUE, "job finished job=%s state=%s folder=%s", j->id,
                   job_state_name(st), to);
            /* archive: the record and image are final; queue them for PostgreSQL. */
            if (q->cfg->db_dsn[0] != '\0')
                arc_mark(q->spool, to, j->id);
        }
    } else {
        rc = spool_store_rec(q->spool, "queue", rec_name, &r);
    }
    spool_rec_free(&r);
    if (rc < 0) {
        /* XXX: the job goes on in memory; the record on disk is one step behind
         * until the next change succeeds. */
        fx_log(FX_LOG_ERR, FX_FAC_QUEUE, "cannot store job record job=%s err=%s", j->id,
               fx_strerror(rc));
        return;
    }
    cluster_mark(q, j->id);
    if (finished) {
        notify_waiters(q, j);
        job_sched_remove(q->sched, j);
        job_free(j);
    }
}

/* ---- calls ---- */

static job_fail_t classify(const faxres_t *r)
{
    if (!r->connected) {
        switch (r->sip_status) {
        case 486:
        case 600: return JOB_FAIL_BUSY;
        case 404:
        case 484:
        case 604:
        case 403:
        case 603:
        case 401:
        case 407: return JOB_FAIL_PERMANENT;
        case 488:
        case 606: return JOB_FAIL_NOFAX;
        default: return JOB_FAIL_NOANSWER;
        }
    }
    return r->pages > 0 ? JOB_FAIL_PROTOCOL : JOB_FAIL_NOFAX;
}

static void call_connected(void *arg)
{
    call_ref_t *cr = arg;
    job_t *j = job_sched_find(cr->q->sched, cr->id);
    if (j != NULL)
        job_sched_connected(cr->q->sched, j, cr->r, queue_now(cr->q));
}

static void call_page(void *arg, int pages)
{
    call_ref_t *cr = arg;
    job_t *j = job_sched_find(cr->q->sched, cr->id);
    if (j != NULL)
        job_sched_page(cr->q->sched, j, cr->r, pages, queue_now(cr->q));
}

static void call_done(void *arg, const sipfax_call_info_t *info, const faxres_t *r)
{
    call_ref_t *cr = arg;
    queue_t *q = cr->q;
    (void)info;
    /* No longer in flight: the change the result makes may finish the job. */
    call_unlink(q, cr);
    job_t *j = job_sched_find(q->sched, cr->id);
    if (j != NULL) {
        job_outcome_t o;
        memset(&o, 0, sizeof o);
        o.ok = r->status == FAXRES_OK;
        o.connected = r->connected;
        o.fail = o.ok ? JOB_FAIL_NONE : classify(r);
        o.pages_confirmed = r->pages;
        o.reason = r->code_text;
        o.remote_ident = r->remote_ident;
        o.rate = r->bit_rate;
        o.ecm = r->ecm;
        o.mode = r->mode;
        o.duration_s = r->duration_s;
        o.image_s = r->image_s;
        job_sched_result(q->sched, j, cr->r, &o, queue_now(q));
        sched_tick(q, queue_now(q));
    }
    free(cr);
}

static const sipfax_send_ops_t send_ops = { call_connected, call_page, call_done };

static int on_dial(void *user, job_t *j, int r, int start_page)
{
    queue_t *q = user;
    call_ref_t *cr = fx_calloc(1, sizeof *cr);
    cr->q = q;
    fx_strlcpy(cr->id, j->id, sizeof cr->id);
    cr->r = r;
    char path[1024];
    int rc = spool_path(q->spool, "queue", j->image, path, sizeof path);
    cr->next = q->calls;
    q->calls = cr;
    if (rc == 0)
        rc = sipfax_send(q->sip, j->rcpt[r].dest, path, start_page, j->id, &send_ops, cr);
    if (rc < 0) {
        call_unlink(q, cr);
        free(cr);
        if (rc == FX_ENOTFOUND)
            fx_strlcpy(j->rcpt[r].last_reason, "no trunk configured for that number",
                       sizeof j->rcpt[r].last_reason);
        return rc == FX_ENOTFOUND ? FX_ENOTFOUND : rc;
    }
    return 0;
}

static void on_hangup(void *user, job_t *j, int r)
{
    queue_t *q = user;
    /* Each recipient's call is known by the call_ref handed to the driver. */
    for (call_ref_t *c = q->calls; c != NULL; c = c->next)
        if (c->r == r && strcmp(c->id, j->id) == 0)
            sipfax_hangup_arg(q->sip, c);
}

static const job_ops_t job_ops = { on_dial, on_hangup, on_changed };

static void on_tick(ev_loop_t *l, ev_timer_t *t, uint64_t exp, void *arg)
{
    queue_t *q = arg;
    (void)l;
    (void)t;
    (void)exp;
    sched_tick(q, queue_now(q));
}

int queue_new(const cfg_t *cfg, ev_loop_t *loop, spool_t *spool, sipfax_t *sip, queue_t **out)
{
    queue_t *q = fx_calloc(1, sizeof *q);
    q->cfg = cfg;
    q->loop = loop;
    q->spool = spool;
    q->sip = sip;
    q->clock_base_ms = fx_wall_ms();
    job_policy_t p;
    policy_from(cfg, &p);
    job_sched_new(&p, &job_ops, q, &q->sched);
    q->tick = ev_timer_add(loop, 1000, 1000, on_tick, q);
    *out = q;
    return 0;
}

void queue_free(queue_t *q)
{
    if (q == NULL)
        return;
    ev_timer_del(q->loop, q->tick);
    while (q->waiters != NULL) {
        waiter_t *w = q->waiters;
        q->waiters = w->next;
        ctl_conn_unref(w->conn);
        free(w);
    }
    job_sched_free(q->sched);
    free(q);
}

void queue_reload(queue_t *q, const cfg_t *cfg)
{
    q->cfg = cfg;
    job_policy_t p;
    policy_from(cfg, &p);
    job_sched_set_policy(q->sched, &p);
}

int queue_recover(queue_t *q)
{
    char dir[1024];
    if (spool_path(q->spool, "queue", "x", dir, sizeof dir) < 0)
        return 0;
    dir[strlen(dir) - 2] = '\0';
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    int n = 0;
    struct dirent *e;
    uint64_t now = queue_now(q);
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len != 20 || strcmp(e->d_name + 16, ".rec") != 0)
            continue;
        spool_rec_t r;
        char why[256];
        int rc = spool_load_rec(q->spool, "queue", e->d_name, &r, why, sizeof why);
        job_t *j = NULL;
        if (rc == 0)
            rc = job_from_rec(&r, &j, why, sizeof why);
        else if (rc != FX_ECORRUPT)
            snprintf(why, sizeof why, "%s", fx_strerror(rc));
        spool_rec_free(&r);
        if (rc < 0) {
            spool_quarantine(q->spool, "queue", e->d_name, why);
            continue;
        }
        job_event(j, now, "recovered at start-up");
        fx_log(FX_LOG_NOTICE, FX_FAC_QUEUE, "job recovered job=%s state=%s", j->id,
               job_state_name(job_state(j)));
        job_sched_add(q->sched, j, now);
        n++;
    }
    closedir(d);
    /* Jobs already final (all pages confirmed before a crash) leave the queue now. */
    for (int i = 0; job_sched_at(q->sched, i) != NULL;) {
        job_t *j = job_sched_at(q->sched, i);
        if (job_state_final(job_state(j)))
            on_changed(q, j);
        else
            i++;
    }
    return n;
}

void queue_counts(const queue_t *q, int *jobs, int *active, unsigned long *done,
                  unsigned long *failed)
{
    int n = 0;
    while (job_sched_at(q->sched, n) != NULL)
        n++;
    *jobs = n;
    *active = job_sched_active_calls(q->sched);
    *done = q->n_done;
    *failed = q->n_failed;
}

/* ---- commands ---- */

static int tiff_pages(const char *path)
{
    TIFFSetWarningHandler(NULL);
    TIFFSetErrorHandler(NULL);
    TIFF *t = TIFFOpen(path, "r");
    if (t == NULL)
        return -1;
    int n = (int)TIFFNumberOfDirectories(t);
    TIFFClose(t);
    return n;
}

/* SEND <tiff> <dest>[,<dest>...] [wait] [priority=N] [not_before=+S] [kill=+S]
 *      [max_tries=N] [max_dials=N] [owner=NAME]
 * The TIFF is copied into the spool and the record written and fsync'd before
 * the job is acknowledged (invariant 2). */
static void cmd_send(queue_t *q, ctl_conn_t *conn, char *args)
{
    char *save = NULL;
    char *tiff = strtok_r(args, " ", &save);
    char *dests = strtok_r(NULL, " ", &save);
    if (tiff == NULL || dests == NULL) {
        ctl_reply(conn, "ERR usage: SEND <tiff> <dest>[,<dest>...] [wait] [priority=N] "
                        "[not_before=+S] [kill=+S] [max_tries=N] [max_dials=N]");
        return;
    }
    uint64_t now = queue_now(q);
    int pages = tiff_pages(tiff);
    if (pages <= 0) {
        ctl_reply(conn, "ERR %s is not a readable TIFF fax document", tiff);
        return;
    }
    char id[17];
    fx_make_id(id);
    char tif_name[40], rec_name[40];
    snprintf(tif_name, sizeof tif_name, "%s.tif", id);
    snprintf(rec_name, sizeof rec_name, "%s.rec", id);
    job_t *j = job_new(id, tif_name, pages, now);
    bool wait = false;
    for (char *o = strtok_r(NULL, " ", &save); o != NULL; o = strtok_r(NULL, " ", &save)) {
        if (strcmp(o, "wait") == 0)
            wait = true;
        else if (strncmp(o, "priority=", 9) == 0)
            j->priority = atoi(o + 9);
        else if (strncmp(o, "not_before=+", 12) == 0)
            j->not_before_ms = now + strtoull(o + 12, NULL, 10) * 1000u;
        else if (strncmp(o, "kill=+", 6) == 0)
            j->kill_ms = now + strtoull(o + 6, NULL, 10) * 1000u;
        else if (strncmp(o, "max_tries=", 10) == 0)
            j->max_tries = atoi(o + 10);
        else if (strncmp(o, "max_dials=", 10) == 0)
            j->max_dials = atoi(o + 10);
        else if (strncmp(o, "owner=", 6) == 0)
            fx_strlcpy(j->owner, o + 6, sizeof j->owner);
        else {
            ctl_reply(conn, "ERR unknown SEND option '%.40s'", o);
            job_free(j);
            return;
        }
    }
    if (j->priority < 0 || j->priority > 255) {
        ctl_reply(conn, "ERR priority must be 0 (most urgent) .. 255");
        job_free(j);
        return;
    }
    char *dsave = NULL;
    for (char *d = strtok_r(dests, ",", &dsave); d != NULL; d = strtok_r(NULL, ",", &dsave)) {
        if (job_add_rcpt(j, d) < 0) {
            ctl_reply(conn, "ERR too many recipients (at most %d)", JOB_MAX_RCPT);
            job_free(j);
            return;
        }
    }
    int rc = spool_store_copy(q->spool, tiff, "queue", tif_name);
    if (rc < 0) {
        ctl_reply(conn, "ERR cannot take %s: %s", tiff, fx_strerror(rc));
        job_free(j);
        return;
    }
    job_event(j, now, "submitted: %d pages to %d recipient(s)", pages, j->n_rcpt);
    if (j->max_tries <= 0)
        j->max_tries = q->cfg->max_tries;
    if (j->max_dials <= 0)
        j->max_dials = q->cfg->max_dials;
    if (j->kill_ms == 0)
        j->kill_ms = now + (uint64_t)q->cfg->job_lifetime * 1000u;
    spool_rec_t r;
    job_to_rec(j, &r);
    rc = spool_store_rec(q->spool, "queue", rec_name, &r);
    spool_rec_free(&r);
    if (rc < 0) {
        char p[1024];
        if (spool_path(q->spool, "queue", tif_name, p, sizeof p) == 0)
            unlink(p);
        ctl_reply(conn, "ERR cannot queue the job: %s", fx_strerror(rc));
        job_free(j);
        return;
    }
    fx_log(FX_LOG_NOTICE, FX_FAC_QUEUE, "job accepted job=%s pages=%d rcpts=%d priority=%d",
           j->id, pages, j->n_rcpt, j->priority);
    ctl_reply(conn, "OK job=%s pages=%d recipients=%d", j->id, pages, j->n_rcpt);
    cluster_mark(q, j->id); /* after the client's OK; the DB never delays it */
    if (wait) {
        waiter_t *w = fx_calloc(1, sizeof *w);
        fx_strlcpy(w->id, j->id, sizeof w->id);
        w->conn = conn;
        ctl_conn_ref(conn);
        ctl_hold(conn);
        w->next = q->waiters;
        q->waiters = w;
    }
    job_sched_add(q->sched, j, now);
    sched_tick(q, now);
}

static void list_job(ctl_conn_t *conn, const job_t *j)
{
    for (int i = 0; i < j->n_rcpt; i++) {
        const job_rcpt_t *rc = &j->rcpt[i];
        ctl_reply(conn,
                  "%s rcpt=%d dest=%s state=%s pages=%d/%d tries=%d/%d dials=%d/%d "
                  "priority=%d next_ms=%llu reason=\"%s\"",
                  j->id, i, rc->dest, job_state_name(rc->state), rc->pages_confirmed,
                  j->pages_total, rc->tries, j->max_tries, rc->dials, j->max_dials, j->priority,
                  (unsigned long long)rc->next_ms, rc->last_reason);
    }
}

int queue_command(queue_t *q, ctl_conn_t *conn, const char *cmd, char *args)
{
    uint64_t now = queue_now(q);
    if (strcasecmp(cmd, "SEND") == 0) {
        cmd_send(q, conn, args ? args : (char *)"");
        return 1;
    }
    if (strcasecmp(cmd, "JOBS") == 0) {
        int n = 0;
        while (job_sched_at(q->sched, n) != NULL)
            n++;
        ctl_reply(conn, "OK jobs=%d", n);
        for (int i = 0; i < n; i++)
            list_job(conn, job_sched_at(q->sched, i));
        return 1;
    }
    if (strcasecmp(cmd, "CLOCK") == 0) {
        if (!q->cfg->test_clock) {
            ctl_reply(conn, "ERR the queue clock is the real one (test_clock = no)");
            return 1;
        }
        if (args != NULL && args[0] == '+')
            q->clock_offset_ms += (int64_t)(strtod(args + 1, NULL) * 1000.0);
        ctl_reply(conn, "OK now_ms=%llu", (unsigned long long)queue_now(q));
        sched_tick(q, queue_now(q));
        return 1;
    }
    int (*op)(job_sched_t *, job_t *, uint64_t) = NULL;
    if (strcasecmp(cmd, "CANCEL") == 0)
        op = job_sched_cancel;
    else if (strcasecmp(cmd, "HOLD") == 0)
        op = job_sched_hold;
    else if (strcasecmp(cmd, "RELEASE") == 0)
        op = job_sched_release;
    else if (strcasecmp(cmd, "RETRY") == 0)
        op = job_sched_retry;
    if (op == NULL)
        return 0;
    job_t *j = args ? job_sched_find(q->sched, args) : NULL;
    if (j == NULL) {
        ctl_reply(conn, "ERR no job in the queue with id '%.40s'", args ? args : "");
        return 1;
    }
    char id[17];
    fx_strlcpy(id, j->id, sizeof id);
    int rc = op(q->sched, j, now);
    if (rc < 0) {
        ctl_reply(conn, "ERR job %s is %s: nothing to %s", id, job_state_name(job_state(j)), cmd);
        return 1;
    }
    ctl_reply(conn, "OK job=%s", id);
    sched_tick(q, now);
    return 1;
}

/* ---- cluster (docs/cluster.md; called by faxd/cluster.c) ---- */

void queue_set_gate(queue_t *q, bool (*may_dial)(void *arg), void *arg)
{
    q->may_dial = may_dial;
    q->may_dial_arg = arg;
}

int queue_adopt(queue_t *q, const char *id, const char *from)
{
    if (job_sched_find(q->sched, id) != NULL)
        return 0; /* told twice */
    char rec_name[40], why[256];
    snprintf(rec_name, sizeof rec_name, "%s.rec", id);
    spool_rec_t r;
    job_t *j = NULL;
    int rc = spool_load_rec(q->spool, "queue", rec_name, &r, why, sizeof why);
    if (rc == 0)
        rc = job_from_rec(&r, &j, why, sizeof why);
    else if (rc != FX_ECORRUPT)
        snprintf(why, sizeof why, "%s", fx_strerror(rc));
    spool_rec_free(&r);
    if (rc < 0) {
        fx_log(FX_LOG_ERR, FX_FAC_QUEUE, "cannot take over job=%s from=%s reason=\"%s\"", id,
               from, why);
        if (rc == FX_ECORRUPT)
            spool_quarantine(q->spool, "queue", rec_name, why);
        return rc;
    }
    uint64_t now = queue_now(q);
    job_event(j, now, "taken over from node %s", from);
    fx_log(FX_LOG_NOTICE, FX_FAC_QUEUE, "job taken over job=%s from=%s state=%s", id, from,
           job_state_name(job_state(j)));
    job_sched_add(q->sched, j, now);
    on_changed(q, j); /* persists the event; may finish j (all pages were confirmed) */
    sched_tick(q, now);
    return 0;
}

int queue_drop(queue_t *q, const char *id, const char *owner)
{
    job_t *j = job_sched_find(q->sched, id);
    if (j == NULL)
        return FX_ENOTFOUND;
    if (call_in_flight(q, id)) {
        /* Its calls end first (their results come back); then we drop it. */
        for (call_ref_t *c = q->calls; c != NULL; c = c->next)
            if (strcmp(c->id, id) == 0)
                sipfax_hangup_arg(q->sip, c);
        return FX_EAGAIN;
    }
    uint64_t now = queue_now(q);
    char why[160];
    snprintf(why, sizeof why, "taken over by node %s", owner);
    for (int i = 0; i < j->n_rcpt; i++) {
        job_rcpt_t *rc = &j->rcpt[i];
        if (job_state_final(rc->state))
            continue;
        rc->state = JOB_ST_FAILED;
        fx_strlcpy(rc->final_reason, why, sizeof rc->final_reason);
    }
    job_event(j, now, "dropped: %s", why);
    spool_rec_t r;
    job_to_rec(j, &r);
    /* Marks the record as not ours: neither archived nor mirrored from here. */
    spool_rec_add(&r, "taken_over_by", owner);
    char rec_name[40], tif_name[40];
    snprintf(rec_name, sizeof rec_name, "%s.rec", id);
    snprintf(tif_name, sizeof tif_name, "%s.tif", id);
    int rc = spool_store_rec(q->spool, "failed", rec_name, &r);
    spool_rec_free(&r);
    if (rc < 0) {
        fx_log(FX_LOG_ERR, FX_FAC_QUEUE, "cannot drop job=%s err=%s", id, fx_strerror(rc));
        return rc;
    }
    spool_move(q->spool, "queue", tif_name, "failed", tif_name);
    char p[1024];
    if (spool_path(q->spool, "queue", rec_name, p, sizeof p) == 0)
        unlink(p);
    fx_log(FX_LOG_NOTICE, FX_FAC_QUEUE, "job dropped, taken over by node %s job=%s", owner, id);
    notify_waiters(q, j);
    job_sched_remove(q->sched, j);
    job_free(j);
    return 0;
}
