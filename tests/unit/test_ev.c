/* ev loop: fd watches, one-shot and periodic timers with catch-up counts,
 * cross-thread posts, deleting watches from inside callbacks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "fax/ev.h"
#include "fax/fx.h"

static int fired;
static uint64_t exp_sum;

static void on_timer(ev_loop_t *l, ev_timer_t *t, uint64_t exp, void *arg)
{
    (void)arg;
    fired++;
    exp_sum += exp;
    if (fired == 3)
        ev_timer_del(l, t); /* deleting itself from its own callback */
}

static void test_periodic_timer(void **st)
{
    (void)st;
    ev_loop_t *l;
    assert_int_equal(ev_new(&l), 0);
    fired = 0;
    exp_sum = 0;
    assert_non_null(ev_timer_add(l, 1, 1, on_timer, NULL));
    for (int i = 0; i < 200 && fired < 3; i++)
        ev_run_once(l, 50);
    assert_int_equal(fired, 3);
    assert_true(exp_sum >= 3);
    ev_free(l);
}

static void on_oneshot(ev_loop_t *l, ev_timer_t *t, uint64_t exp, void *arg)
{
    (void)exp;
    *(int *)arg += 1;
    ev_timer_del(l, t);
}

static void test_oneshot_zero_delay(void **st)
{
    (void)st;
    ev_loop_t *l;
    int n = 0;
    assert_int_equal(ev_new(&l), 0);
    assert_non_null(ev_timer_add(l, 0, 0, on_oneshot, &n));
    for (int i = 0; i < 20 && n == 0; i++)
        ev_run_once(l, 50);
    assert_int_equal(n, 1);
    ev_free(l);
}

static void on_read(ev_loop_t *l, int fd, unsigned events, void *arg)
{
    char buf[16];
    assert_true(events & EV_READ);
    ssize_t r = read(fd, buf, sizeof buf);
    assert_int_equal(r, 3);
    *(int *)arg += 1;
    ev_fd_del(l, fd);
}

static void test_fd_watch(void **st)
{
    (void)st;
    ev_loop_t *l;
    int p[2];
    int n = 0;
    assert_int_equal(pipe(p), 0);
    assert_int_equal(ev_new(&l), 0);
    assert_int_equal(ev_fd_add(l, p[0], EV_READ, on_read, &n), 0);
    assert_int_equal(ev_fd_add(l, p[0], EV_READ, on_read, &n), -EEXIST);
    assert_int_equal(write(p[1], "abc", 3), 3);
    for (int i = 0; i < 20 && n == 0; i++)
        ev_run_once(l, 50);
    assert_int_equal(n, 1);
    /* deleted: more data does not call back */
    assert_int_equal(write(p[1], "abc", 3), 3);
    ev_run_once(l, 10);
    assert_int_equal(n, 1);
    ev_free(l);
    close(p[0]);
    close(p[1]);
}

static int posted;
static void on_post(void *arg)
{
    posted += *(int *)arg;
}

static void *poster(void *arg)
{
    ev_loop_t *l = arg;
    static int one = 1;
    for (int i = 0; i < 1000; i++)
        ev_post(l, on_post, &one);
    ev_stop(l);
    return NULL;
}

static void test_cross_thread_post(void **st)
{
    (void)st;
    ev_loop_t *l;
    assert_int_equal(ev_new(&l), 0);
    posted = 0;
    pthread_t t;
    pthread_create(&t, NULL, poster, l);
    ev_run(l);
    pthread_join(t, NULL);
    /* Posts queued before ev_stop all ran: ev_stop's own post comes after them. */
    assert_int_equal(posted, 1000);
    ev_free(l);
}

int main(void)
{
    fx_log_setup(FX_LOG_WARN, FX_FAC_ALL, "test_ev");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_periodic_timer),
        cmocka_unit_test(test_oneshot_zero_delay),
        cmocka_unit_test(test_fd_watch),
        cmocka_unit_test(test_cross_thread_post),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
