/* ctl: the control socket (see ctl.h). */
#include "ctl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fax/fx.h"

struct ctl {
    ev_loop_t *loop;
    int fd;
    char path[108];
    ctl_handler h;
    void *arg;
};

struct ctl_conn {
    ctl_t *ctl;
    int fd;
    int refs;      /* the loop's watch + holders (a SEND waiting for its result) */
    bool held;
    bool closed;
    size_t len;
    char buf[4096];
};

static void conn_close(ctl_conn_t *c)
{
    if (!c->closed) {
        c->closed = true;
        ev_fd_del(c->ctl->loop, c->fd);
        close(c->fd);
        c->fd = -1;
    }
    ctl_conn_unref(c);
}

void ctl_conn_ref(ctl_conn_t *c)
{
    c->refs++;
}

void ctl_conn_unref(ctl_conn_t *c)
{
    if (--c->refs == 0)
        free(c);
}

void ctl_reply(ctl_conn_t *c, const char *fmt, ...)
{
    if (c->closed)
        return;
    char line[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    /* XXX: a client that stops reading makes send() fail with EAGAIN; it is then
     * dropped rather than allowed to stall the main loop. */
    size_t off = 0;
    while (off < (size_t)n) {
        ssize_t w = send(c->fd, line + off, (size_t)n - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            fx_log(FX_LOG_WARN, FX_FAC_CTL, "control client dropped err=%s", strerror(errno));
            ev_fd_del(c->ctl->loop, c->fd);
            close(c->fd);
            c->fd = -1;
            c->closed = true;
            /* the loop's reference goes with the watch */
            ctl_conn_unref(c);
            return;
        }
        off += (size_t)w;
    }
}

void ctl_hold(ctl_conn_t *c)
{
    c->held = true;
}

void ctl_end(ctl_conn_t *c)
{
    if (c->closed)
        return;
    ctl_reply(c, ".");
    if (!c->closed)
        conn_close(c);
}

static void on_conn(ev_loop_t *loop, int fd, unsigned events, void *arg)
{
    ctl_conn_t *c = arg;
    (void)loop;
    (void)events;
    ssize_t n = recv(fd, c->buf + c->len, sizeof c->buf - 1 - c->len, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        conn_close(c);
        return;
    }
    if (n < 0)
        return;
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    char *nl = strchr(c->buf, '\n');
    if (nl == NULL) {
        if (c->len >= sizeof c->buf - 1) {
            ctl_reply(c, "ERR command line too long");
            ctl_end(c);
        }
        return;
    }
    if (c->held)
        return; /* one command per connection */
    *nl = '\0';
    if (nl > c->buf && nl[-1] == '\r')
        nl[-1] = '\0';
    ctl_conn_ref(c); /* the handler may end the connection */
    c->ctl->h(c->ctl->arg, c, c->buf);
    if (!c->held && !c->closed)
        ctl_end(c);
    ctl_conn_unref(c);
}

static void on_accept(ev_loop_t *loop, int fd, unsigned events, void *arg)
{
    ctl_t *ctl = arg;
    (void)events;
    for (;;) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0)
            return;
        ctl_conn_t *c = fx_calloc(1, sizeof *c);
        c->ctl = ctl;
        c->fd = cfd;
        c->refs = 1;
        if (ev_fd_add(loop, cfd, EV_READ, on_conn, c) < 0) {
            close(cfd);
            free(c);
        }
    }
}

int ctl_open(ev_loop_t *loop, const char *path, ctl_handler h, void *arg, ctl_t **out)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path)
        return -ENAMETOOLONG;
    fx_strlcpy(sa.sun_path, path, sizeof sa.sun_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    /* A stale socket from a crashed faxd: remove it only if nobody answers on it. */
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
        close(fd);
        return -EADDRINUSE;
    }
    unlink(path);
    char dir[512];
    fx_strlcpy(dir, path, sizeof dir);
    char *slash = strrchr(dir, '/');
    if (slash != NULL && slash != dir) {
        *slash = '\0';
        fx_mkdirs(dir, 0750);
    }
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 64) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    chmod(path, 0660);
    ctl_t *c = fx_calloc(1, sizeof *c);
    c->loop = loop;
    c->fd = fd;
    c->h = h;
    c->arg = arg;
    fx_strlcpy(c->path, path, sizeof c->path);
    int rc = ev_fd_add(loop, fd, EV_READ, on_accept, c);
    if (rc < 0) {
        close(fd);
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void ctl_close(ctl_t *c)
{
    if (c == NULL)
        return;
    ev_fd_del(c->loop, c->fd);
    close(c->fd);
    unlink(c->path);
    free(c);
}
