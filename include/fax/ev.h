/* ev: a small non-blocking event loop on epoll (Redis-sized). One loop per
 * thread: the main loop (signalling, control socket) and one media loop per core.
 *
 * Ownership: ev_new() makes a loop the caller frees with ev_free() after it has
 * stopped. Timers are owned by the loop: ev_timer_del() frees them.
 * Threads: every function except ev_post() and ev_stop() must be called on the
 * loop's own thread. ev_post() and ev_stop() may be called from any thread.
 *
 * The loop's own fd (ev_fd) is an epoll fd that becomes readable whenever the
 * loop has work, so a foreign reactor (sofia-sip's su_root) can host it. */
#ifndef FAX_EV_H
#define FAX_EV_H

#include <stdint.h>

typedef struct ev_loop ev_loop_t;
typedef struct ev_timer ev_timer_t;

enum { EV_READ = 1u, EV_WRITE = 2u, EV_ERROR = 4u };

typedef void (*ev_fd_cb)(ev_loop_t *loop, int fd, unsigned events, void *arg);
/* A timer callback is told how many periods elapsed since it last ran (>= 1;
 * more when the loop fell behind), so periodic media ticks can catch up. */
typedef void (*ev_timer_cb)(ev_loop_t *loop, ev_timer_t *t, uint64_t expirations, void *arg);
typedef void (*ev_post_cb)(void *arg);

int ev_new(ev_loop_t **out);
void ev_free(ev_loop_t *loop);

/* Watches fd for EV_READ/EV_WRITE. One watch per fd. 0 or -errno. */
int ev_fd_add(ev_loop_t *loop, int fd, unsigned events, ev_fd_cb cb, void *arg);
int ev_fd_mod(ev_loop_t *loop, int fd, unsigned events);
/* Stops watching fd (does not close it). Safe inside any callback. */
void ev_fd_del(ev_loop_t *loop, int fd);

/* A timer after `after_ms`, then every `period_ms` if non-zero. Each timer has
 * its own timerfd so periodic timers keep exact phase (20 ms media ticks).
 * Returns NULL only when the kernel refuses a timerfd (logged). */
ev_timer_t *ev_timer_add(ev_loop_t *loop, uint64_t after_ms, uint64_t period_ms, ev_timer_cb cb,
                         void *arg);
/* Cancels and frees t (NULL ok). Safe inside the timer's own callback. */
void ev_timer_del(ev_loop_t *loop, ev_timer_t *t);

/* Queues cb(arg) to run on the loop's thread. Any thread. 0 or -errno. */
int ev_post(ev_loop_t *loop, ev_post_cb cb, void *arg);

/* Runs until ev_stop(). Returns 0. */
int ev_run(ev_loop_t *loop);
/* Runs ready callbacks once, waiting at most timeout_ms (0: do not wait). */
int ev_run_once(ev_loop_t *loop, int timeout_ms);
void ev_stop(ev_loop_t *loop);
int ev_fd(const ev_loop_t *loop);

#endif
