/* cluster: faxd's side of the cluster (see cluster.h, docs/cluster.md). */
#include "cluster.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fax/fx.h"

#define CLUSTER_RETRY_MS 1000

typedef enum { MSG_ADOPT, MSG_FOREIGN, MSG_VERIFIED } msg_kind_t;

/* A report from the archive worker, queued for the main loop. */
typedef struct msg {
    struct msg *next;
    msg_kind_t kind;
    char id[17];
    char node[64];   /* ADOPT: taken from; FOREIGN: owner */
    unsigned gen;    /* VERIFIED */
} msg_t;

/* A job another node owns, still in our queue (its call is ending). */
typedef struct drop {
    struct drop *next;
    char id[17];
    char owner[64];
} drop_t;

struct cluster {
    ev_loop_t *loop;
    queue_t *q;
    arc_t *arc;
    /* inbox: worker thread -> main loop */
    pthread_mutex_t mu;
    msg_t *head, *tail;
    /* main thread only */
    drop_t *drops;
    unsigned verified_gen;  /* generation whose foreign jobs are all dropped */
    unsigned want_gen;      /* last generation the worker checked */
    bool gate_was_open;
    ev_timer_t *timer;
};

/* ---- main loop ---- */

static void try_drops(cluster_t *c)
{
    for (drop_t **pp = &c->drops; *pp != NULL;) {
        drop_t *d = *pp;
        int rc = queue_drop(c->q, d->id, d->owner);
        if (rc == 0 || rc == FX_ENOTFOUND) {
            *pp = d->next;
            free(d);
            continue;
        }
        if (rc != FX_EAGAIN)
            fx_log(FX_LOG_ERR, FX_FAC_QUEUE, "cluster: cannot drop job=%s yet err=%s", d->id,
                   fx_strerror(rc));
        pp = &d->next;
    }
    if (c->drops == NULL)
        c->verified_gen = c->want_gen;
}

static void add_drop(cluster_t *c, const char *id, const char *owner)
{
    for (drop_t *d = c->drops; d != NULL; d = d->next)
        if (strcmp(d->id, id) == 0) {
            fx_strlcpy(d->owner, owner, sizeof d->owner);
            return;
        }
    drop_t *d = fx_calloc(1, sizeof *d);
    fx_strlcpy(d->id, id, sizeof d->id);
    fx_strlcpy(d->owner, owner, sizeof d->owner);
    d->next = c->drops;
    c->drops = d;
}

static void on_inbox(void *arg)
{
    cluster_t *c = arg;
    pthread_mutex_lock(&c->mu);
    msg_t *m = c->head;
    c->head = c->tail = NULL;
    pthread_mutex_unlock(&c->mu);
    while (m != NULL) {
        msg_t *n = m->next;
        switch (m->kind) {
        case MSG_ADOPT: queue_adopt(c->q, m->id, m->node); break;
        case MSG_FOREIGN: add_drop(c, m->id, m->node); break;
        case MSG_VERIFIED:
            /* Its foreign jobs came before it (FIFO): once they are gone the
             * queue may dial under this generation. */
            c->want_gen = m->gen;
            break;
        }
        free(m);
        m = n;
    }
    try_drops(c);
}

static void on_timer(ev_loop_t *l, ev_timer_t *t, uint64_t exp, void *arg)
{
    cluster_t *c = arg;
    (void)l;
    (void)t;
    (void)exp;
    if (c->drops != NULL)
        try_drops(c);
    bool open = cluster_may_dial(c);
    if (open != c->gate_was_open)
        fx_log(open ? FX_LOG_NOTICE : FX_LOG_WARN, FX_FAC_QUEUE, "cluster: %s",
               open ? "lease live, jobs may be dialled"
                    : "no live lease (or jobs still to drop): not dialling");
    c->gate_was_open = open;
}

bool cluster_may_dial(void *arg)
{
    cluster_t *c = arg;
    return c->arc != NULL && c->drops == NULL && arc_cluster_lease_live(c->arc, c->verified_gen);
}

void cluster_status(cluster_t *c, ctl_conn_t *conn)
{
    int64_t left;
    unsigned gen;
    arc_cluster_status(c->arc, &left, &gen);
    int n = 0;
    for (const drop_t *d = c->drops; d != NULL; d = d->next)
        n++;
    ctl_reply(conn, "cluster=%s", cluster_may_dial(c) ? "lease" : "nolease");
    ctl_reply(conn, "cluster_lease_ms=%lld", (long long)left);
    ctl_reply(conn, "cluster_dropping=%d", n);
}

/* ---- worker thread: queue a report and wake the loop ---- */

static void post(cluster_t *c, msg_kind_t kind, const char *id, const char *node, unsigned gen)
{
    msg_t *m = fx_calloc(1, sizeof *m);
    m->kind = kind;
    if (id != NULL)
        fx_strlcpy(m->id, id, sizeof m->id);
    if (node != NULL)
        fx_strlcpy(m->node, node, sizeof m->node);
    m->gen = gen;
    pthread_mutex_lock(&c->mu);
    bool wake = c->head == NULL;
    if (c->tail != NULL)
        c->tail->next = m;
    else
        c->head = m;
    c->tail = m;
    pthread_mutex_unlock(&c->mu);
    if (wake)
        ev_post(c->loop, on_inbox, c);
}

static void w_adopt(void *user, const char *id, const char *from)
{
    post(user, MSG_ADOPT, id, from, 0);
}

static void w_foreign(void *user, const char *id, const char *owner)
{
    post(user, MSG_FOREIGN, id, owner, 0);
}

static void w_verified(void *user, unsigned gen)
{
    post(user, MSG_VERIFIED, NULL, NULL, gen);
}

/* ---- life ---- */

int cluster_new(const cfg_t *cfg, ev_loop_t *loop, spool_t *spool, queue_t *q,
                cluster_t **out, arc_t **arc)
{
    *out = NULL;
    *arc = NULL;
    cluster_t *c = fx_calloc(1, sizeof *c);
    c->loop = loop;
    c->q = q;
    pthread_mutex_init(&c->mu, NULL);
    /* Generation 0 is never verified: the worker's first renewal bumps it. */
    c->verified_gen = c->want_gen = ~0u;
    queue_set_gate(q, cluster_may_dial, c);
    arc_cluster_ops_t ops = { w_adopt, w_foreign, w_verified, c };
    int rc = arc_open_cluster(cfg->db_dsn, spool, cfg->node_name, cfg->lease_seconds, &ops,
                              &c->arc);
    if (rc < 0) {
        queue_set_gate(q, NULL, NULL);
        pthread_mutex_destroy(&c->mu);
        free(c);
        return rc;
    }
    c->timer = ev_timer_add(loop, CLUSTER_RETRY_MS, CLUSTER_RETRY_MS, on_timer, c);
    fx_log(FX_LOG_NOTICE, FX_FAC_QUEUE, "cluster: node %s, lease %d s; no dialling until the "
           "lease is taken and the queue checked", cfg->node_name, cfg->lease_seconds);
    *out = c;
    *arc = c->arc;
    return 0;
}

void cluster_free(cluster_t *c)
{
    if (c == NULL)
        return;
    ev_timer_del(c->loop, c->timer);
    while (c->head != NULL) {
        msg_t *n = c->head->next;
        free(c->head);
        c->head = n;
    }
    while (c->drops != NULL) {
        drop_t *n = c->drops->next;
        free(c->drops);
        c->drops = n;
    }
    pthread_mutex_destroy(&c->mu);
    free(c);
}
