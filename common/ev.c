/* ev: epoll event loop with timerfd timers and an eventfd post queue. */
#include "fax/ev.h"
#include "fax/fx.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

/* Each fd slot says what is behind it. Slots are indexed by fd. */
typedef enum { SLOT_FREE = 0, SLOT_FD, SLOT_TIMER, SLOT_POST } slot_kind_t;

typedef struct slot {
    slot_kind_t kind;
    ev_fd_cb cb;
    void *arg;
    ev_timer_t *timer;
    unsigned gen; /* bumped on delete so stale epoll events are ignored */
} slot_t;

struct ev_timer {
    int fd;
    ev_timer_cb cb;
    void *arg;
    bool dead;
};

typedef struct post {
    struct post *next;
    ev_post_cb cb;
    void *arg;
} post_t;

struct ev_loop {
    int epfd;
    int postfd;
    slot_t *slots;
    int n_slots;
    _Atomic bool stop;
    pthread_mutex_t post_mu;
    post_t *post_head, *post_tail;
};

static int slot_reserve(ev_loop_t *l, int fd)
{
    if (fd < 0)
        return -EBADF;
    if (fd >= l->n_slots) {
        int n = l->n_slots ? l->n_slots : 64;
        while (n <= fd)
            n *= 2;
        l->slots = fx_realloc(l->slots, (size_t)n * sizeof *l->slots);
        memset(l->slots + l->n_slots, 0, (size_t)(n - l->n_slots) * sizeof *l->slots);
        l->n_slots = n;
    }
    return 0;
}

static uint64_t pack(int fd, unsigned gen)
{
    return ((uint64_t)gen << 32) | (uint32_t)fd;
}

int ev_new(ev_loop_t **out)
{
    ev_loop_t *l = fx_calloc(1, sizeof *l);
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        int rc = -errno;
        free(l);
        return rc;
    }
    l->postfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->postfd < 0) {
        int rc = -errno;
        close(l->epfd);
        free(l);
        return rc;
    }
    pthread_mutex_init(&l->post_mu, NULL);
    slot_reserve(l, l->postfd);
    l->slots[l->postfd].kind = SLOT_POST;
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = pack(l->postfd, 0) };
    epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->postfd, &ev);
    *out = l;
    return 0;
}

void ev_free(ev_loop_t *l)
{
    if (l == NULL)
        return;
    for (int fd = 0; fd < l->n_slots; fd++) {
        if (l->slots[fd].kind == SLOT_TIMER) {
            close(fd);
            free(l->slots[fd].timer);
        }
    }
    post_t *p = l->post_head;
    while (p != NULL) {
        post_t *n = p->next;
        free(p);
        p = n;
    }
    pthread_mutex_destroy(&l->post_mu);
    close(l->postfd);
    close(l->epfd);
    free(l->slots);
    free(l);
}

static unsigned to_epoll(unsigned events)
{
    unsigned e = 0;
    if (events & EV_READ)
        e |= EPOLLIN;
    if (events & EV_WRITE)
        e |= EPOLLOUT;
    return e;
}

int ev_fd_add(ev_loop_t *l, int fd, unsigned events, ev_fd_cb cb, void *arg)
{
    int rc = slot_reserve(l, fd);
    if (rc < 0)
        return rc;
    slot_t *s = &l->slots[fd];
    if (s->kind != SLOT_FREE)
        return -EEXIST;
    struct epoll_event ev = { .events = to_epoll(events), .data.u64 = pack(fd, s->gen) };
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -errno;
    s->kind = SLOT_FD;
    s->cb = cb;
    s->arg = arg;
    return 0;
}

int ev_fd_mod(ev_loop_t *l, int fd, unsigned events)
{
    if (fd < 0 || fd >= l->n_slots || l->slots[fd].kind != SLOT_FD)
        return -ENOENT;
    struct epoll_event ev = { .events = to_epoll(events), .data.u64 = pack(fd, l->slots[fd].gen) };
    return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

void ev_fd_del(ev_loop_t *l, int fd)
{
    if (fd < 0 || fd >= l->n_slots || l->slots[fd].kind != SLOT_FD)
        return;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    l->slots[fd].kind = SLOT_FREE;
    l->slots[fd].cb = NULL;
    l->slots[fd].gen++;
}

static void ms_to_ts(uint64_t ms, struct timespec *ts)
{
    ts->tv_sec = (time_t)(ms / 1000);
    ts->tv_nsec = (long)(ms % 1000) * 1000000L;
}

ev_timer_t *ev_timer_add(ev_loop_t *l, uint64_t after_ms, uint64_t period_ms, ev_timer_cb cb,
                         void *arg)
{
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0) {
        fx_log(FX_LOG_ERR, FX_FAC_MAIN, "timerfd_create failed err=%s", strerror(errno));
        return NULL;
    }
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    /* A zero it_value would disarm the timer: fire "now" as 1 ns instead. */
    if (after_ms == 0)
        its.it_value.tv_nsec = 1;
    else
        ms_to_ts(after_ms, &its.it_value);
    ms_to_ts(period_ms, &its.it_interval);
    if (timerfd_settime(fd, 0, &its, NULL) < 0 || slot_reserve(l, fd) < 0) {
        close(fd);
        return NULL;
    }
    ev_timer_t *t = fx_calloc(1, sizeof *t);
    t->fd = fd;
    t->cb = cb;
    t->arg = arg;
    slot_t *s = &l->slots[fd];
    s->kind = SLOT_TIMER;
    s->timer = t;
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = pack(fd, s->gen) };
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        s->kind = SLOT_FREE;
        s->timer = NULL;
        close(fd);
        free(t);
        return NULL;
    }
    return t;
}

void ev_timer_del(ev_loop_t *l, ev_timer_t *t)
{
    if (t == NULL)
        return;
    slot_t *s = &l->slots[t->fd];
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, t->fd, NULL);
    s->kind = SLOT_FREE;
    s->timer = NULL;
    s->gen++;
    close(t->fd);
    free(t);
}

int ev_post(ev_loop_t *l, ev_post_cb cb, void *arg)
{
    post_t *p = fx_malloc(sizeof *p);
    p->next = NULL;
    p->cb = cb;
    p->arg = arg;
    pthread_mutex_lock(&l->post_mu);
    if (l->post_tail)
        l->post_tail->next = p;
    else
        l->post_head = p;
    l->post_tail = p;
    pthread_mutex_unlock(&l->post_mu);
    uint64_t one = 1;
    ssize_t w = write(l->postfd, &one, sizeof one);
    (void)w; /* EAGAIN means the counter is already non-zero: a wake-up is pending */
    return 0;
}

static void run_posts(ev_loop_t *l)
{
    uint64_t v;
    ssize_t r = read(l->postfd, &v, sizeof v);
    (void)r;
    pthread_mutex_lock(&l->post_mu);
    post_t *p = l->post_head;
    l->post_head = l->post_tail = NULL;
    pthread_mutex_unlock(&l->post_mu);
    while (p != NULL) {
        post_t *n = p->next;
        p->cb(p->arg);
        free(p);
        p = n;
    }
}

int ev_run_once(ev_loop_t *l, int timeout_ms)
{
    struct epoll_event evs[64];
    int n = epoll_wait(l->epfd, evs, 64, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++) {
        int fd = (int)(uint32_t)evs[i].data.u64;
        unsigned gen = (unsigned)(evs[i].data.u64 >> 32);
        if (fd >= l->n_slots)
            continue;
        slot_t *s = &l->slots[fd];
        if (s->gen != gen)
            continue; /* deleted (and maybe reused) by an earlier callback this round */
        switch (s->kind) {
        case SLOT_FD: {
            unsigned e = 0;
            if (evs[i].events & EPOLLIN)
                e |= EV_READ;
            if (evs[i].events & EPOLLOUT)
                e |= EV_WRITE;
            if (evs[i].events & (EPOLLERR | EPOLLHUP))
                e |= EV_ERROR | EV_READ;
            s->cb(l, fd, e, s->arg);
            break;
        }
        case SLOT_TIMER: {
            uint64_t exp = 0;
            ev_timer_t *t = s->timer;
            if (read(fd, &exp, sizeof exp) == (ssize_t)sizeof exp && exp > 0)
                t->cb(l, t, exp, t->arg);
            break;
        }
        case SLOT_POST:
            run_posts(l);
            break;
        case SLOT_FREE:
            break;
        }
    }
    return n;
}

int ev_run(ev_loop_t *l)
{
    while (!atomic_load(&l->stop)) {
        int rc = ev_run_once(l, 1000);
        if (rc < 0) {
            fx_log(FX_LOG_ERR, FX_FAC_MAIN, "event loop failed err=%s", fx_strerror(rc));
            return rc;
        }
    }
    return 0;
}

static void stop_cb(void *arg)
{
    (void)arg;
}

void ev_stop(ev_loop_t *l)
{
    atomic_store(&l->stop, true);
    ev_post(l, stop_cb, NULL);
}

int ev_fd(const ev_loop_t *l)
{
    return l->epfd;
}
