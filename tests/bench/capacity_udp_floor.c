/* capacity_udp_floor: what one media channel costs in the kernel alone, for
 * tests/bench/capacity.sh. No SpanDSP, no SIP: N UDP socket pairs on loopback carry a
 * 20 ms packet stream each way (G.711 at 20 ms packetisation: 50 packets a second of 12 +
 * 160 bytes, RFC 3551 4.5.14 / RFC 3550 5.1), the way faxd's media loop does it, and
 * the CPU of the thread playing faxd's role is measured. This is the floor under faxd's
 * CPU per channel-second that spandsp_alone (no sockets at all) does not have.
 *
 *   capacity_udp_floor [--channels N] [--seconds S] [--pps P] [--size B]
 *                      [--rx epoll|recvmmsg|tick] [--json OUT]
 *
 * Two threads, each with an epoll loop and a periodic timerfd (as faxd's ev loop):
 *   peer:     plays the far end; each tick sends one packet on each channel and drains
 *             what the measured side sent (recvmmsg at the tick, not measured).
 *   measured: plays one faxd media loop; each tick sends one packet on each channel;
 *             receives by --rx:
 *             epoll     each socket in epoll (level-triggered); on readiness recvfrom
 *                       until EAGAIN, at most 32 (what drivers/sip/sipmedia.c on_rtp
 *                       does today: one extra failing recvfrom per wake-up);
 *             recvmmsg  each socket in epoll; on readiness one recvmmsg(2) of up to 8
 *                       with MSG_DONTWAIT (no failing call when fewer than 8 wait);
 *             tick      sockets not in epoll; at each tick one recvmmsg(2) per socket
 *                       before sending (the jitter buffer holds 60 ms, so reading every
 *                       20 ms loses nothing), i.e. one wake-up per tick for all calls.
 * Output (stdout, and --json OUT): one JSON object with cpu_per_channel_second of the
 * measured thread (CLOCK_THREAD_CPUTIME_ID), its wake-ups and syscalls per
 * channel-second, and the packets it received (a check that the streams flowed).
 * Exit 0, or 2 on usage or set-up errors. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* recvmmsg(2); the build usually defines it already */
#endif
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "fax/fx.h"

#define FLR_BATCH 8    /* datagrams per recvmmsg */
#define FLR_MAXPKT 1500

enum { FLR_RX_EPOLL, FLR_RX_RECVMMSG, FLR_RX_TICK };

typedef struct {
    int n;           /* channels */
    int pps;         /* packets a second, each way */
    int size;        /* bytes per packet */
    int seconds;
    int rx_mode;
    int *fd_peer;    /* fd_peer[i] <-> fd_meas[i], connected to each other */
    int *fd_meas;
    atomic_int stop;
    /* results of the measured thread */
    double cpu_s;
    double wall_s;
    unsigned long long wakeups, syscalls, rx_pkts, tx_pkts;
} flr_t;

static double flr_now(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int flr_timer(int pps)
{
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    long ns = 1000000000L / pps;
    struct itimerspec its = {{0, ns}, {0, ns}};
    if (timerfd_settime(fd, 0, &its, NULL) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

/* One recvmmsg of up to FLR_BATCH datagrams; returns how many arrived (0 if none). */
static int flr_recvmmsg(int fd, unsigned long long *syscalls)
{
    static __thread uint8_t bufs[FLR_BATCH][FLR_MAXPKT];
    struct mmsghdr mm[FLR_BATCH];
    struct iovec iov[FLR_BATCH];
    memset(mm, 0, sizeof mm);
    for (int k = 0; k < FLR_BATCH; k++) {
        iov[k].iov_base = bufs[k];
        iov[k].iov_len = sizeof bufs[k];
        mm[k].msg_hdr.msg_iov = &iov[k];
        mm[k].msg_hdr.msg_iovlen = 1;
    }
    (*syscalls)++;
    int n = recvmmsg(fd, mm, FLR_BATCH, MSG_DONTWAIT, NULL);
    return n > 0 ? n : 0;
}

/* Each tick: one packet on every socket of fds. RTP-like: 12-byte header then payload
 * (RFC 3550 5.1); the content does not matter to the kernel. */
static void flr_send_all(const flr_t *f, const int *fds, uint16_t seq, unsigned long long *sys,
                         unsigned long long *tx)
{
    uint8_t pkt[FLR_MAXPKT];
    memset(pkt, 0xD5, (size_t)f->size); /* A-law silence (G.711 clause 2) */
    pkt[0] = 0x80;                      /* V=2 */
    pkt[1] = 8;                         /* PT 8, PCMA (RFC 3551 table 4) */
    pkt[2] = (uint8_t)(seq >> 8);
    pkt[3] = (uint8_t)seq;
    for (int i = 0; i < f->n; i++) {
        (*sys)++;
        if (send(fds[i], pkt, (size_t)f->size, 0) == f->size)
            (*tx)++;
    }
}

static void *flr_peer(void *arg)
{
    flr_t *f = arg;
    int tfd = flr_timer(f->pps);
    unsigned long long sys = 0, tx = 0;
    uint16_t seq = 0;
    if (tfd < 0)
        return NULL;
    while (!atomic_load(&f->stop)) {
        uint64_t exp;
        struct timespec ts = {0, 1000000};
        if (read(tfd, &exp, sizeof exp) != (ssize_t)sizeof exp) {
            nanosleep(&ts, NULL); /* the peer's own cost is not measured */
            continue;
        }
        flr_send_all(f, f->fd_peer, seq++, &sys, &tx);
        for (int i = 0; i < f->n; i++)
            while (flr_recvmmsg(f->fd_peer[i], &sys) == FLR_BATCH) {
            }
    }
    close(tfd);
    return NULL;
}

static void *flr_measured(void *arg)
{
    flr_t *f = arg;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int tfd = flr_timer(f->pps);
    uint16_t seq = 0;
    if (ep < 0 || tfd < 0)
        goto out;
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev) < 0)
        goto out;
    if (f->rx_mode != FLR_RX_TICK) {
        for (int i = 0; i < f->n; i++) {
            struct epoll_event e = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
            if (epoll_ctl(ep, EPOLL_CTL_ADD, f->fd_meas[i], &e) < 0)
                goto out;
        }
    }
    double c0 = flr_now(CLOCK_THREAD_CPUTIME_ID);
    double w0 = flr_now(CLOCK_MONOTONIC);
    double end = w0 + f->seconds;
    while (flr_now(CLOCK_MONOTONIC) < end) {
        struct epoll_event evs[64];
        f->syscalls++;
        int n = epoll_wait(ep, evs, 64, 100);
        f->wakeups++;
        for (int k = 0; k < n; k++) {
            uint32_t id = evs[k].data.u32;
            if (id == UINT32_MAX) {
                uint64_t exp;
                f->syscalls++;
                if (read(tfd, &exp, sizeof exp) != (ssize_t)sizeof exp)
                    continue;
                if (f->rx_mode == FLR_RX_TICK)
                    for (int i = 0; i < f->n; i++)
                        for (;;) {
                            int got = flr_recvmmsg(f->fd_meas[i], &f->syscalls);
                            f->rx_pkts += (unsigned)got;
                            if (got < FLR_BATCH)
                                break;
                        }
                flr_send_all(f, f->fd_meas, seq++, &f->syscalls, &f->tx_pkts);
            } else if (f->rx_mode == FLR_RX_RECVMMSG) {
                f->rx_pkts += (unsigned)flr_recvmmsg(f->fd_meas[id], &f->syscalls);
            } else {
                /* As sipmedia.c on_rtp: read until the socket is empty. */
                for (int j = 0; j < 32; j++) {
                    uint8_t buf[2048];
                    struct sockaddr_storage from;
                    socklen_t fl = sizeof from;
                    f->syscalls++;
                    if (recvfrom(f->fd_meas[id], buf, sizeof buf, MSG_DONTWAIT,
                                 (struct sockaddr *)&from, &fl) < 0)
                        break;
                    f->rx_pkts++;
                }
            }
        }
    }
    f->cpu_s = flr_now(CLOCK_THREAD_CPUTIME_ID) - c0;
    f->wall_s = flr_now(CLOCK_MONOTONIC) - w0;
out:
    atomic_store(&f->stop, 1);
    if (tfd >= 0)
        close(tfd);
    if (ep >= 0)
        close(ep);
    return NULL;
}

/* A pair of UDP sockets on 127.0.0.1, each connected to the other. */
static int flr_pair(int *a, int *b)
{
    int fd[2] = {-1, -1};
    struct sockaddr_in sa[2];
    for (int k = 0; k < 2; k++) {
        socklen_t len = sizeof sa[k];
        memset(&sa[k], 0, sizeof sa[k]);
        sa[k].sin_family = AF_INET;
        sa[k].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fd[k] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd[k] < 0 || bind(fd[k], (struct sockaddr *)&sa[k], sizeof sa[k]) < 0
            || getsockname(fd[k], (struct sockaddr *)&sa[k], &len) < 0)
            goto fail;
    }
    if (connect(fd[0], (struct sockaddr *)&sa[1], sizeof sa[1]) < 0
        || connect(fd[1], (struct sockaddr *)&sa[0], sizeof sa[0]) < 0)
        goto fail;
    *a = fd[0];
    *b = fd[1];
    return 0;
fail:;
    int rc = -errno;
    for (int k = 0; k < 2; k++)
        if (fd[k] >= 0)
            close(fd[k]);
    return rc;
}

static void flr_usage(void)
{
    fprintf(stderr, "usage: capacity_udp_floor [--channels N] [--seconds S] [--pps P] [--size B]"
                    " [--rx epoll|recvmmsg|tick] [--json OUT]\n");
}

int main(int argc, char **argv)
{
    static const char *const rx_names[] = {"epoll", "recvmmsg", "tick"};
    flr_t f = {.n = 100, .pps = 50, .size = 172, .seconds = 10, .rx_mode = FLR_RX_EPOLL};
    const char *json = NULL;
    char out[768];
    int rc = 2;

    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            goto bad;
        if (!strcmp(a, "--channels"))
            f.n = atoi(v);
        else if (!strcmp(a, "--seconds"))
            f.seconds = atoi(v);
        else if (!strcmp(a, "--pps"))
            f.pps = atoi(v);
        else if (!strcmp(a, "--size"))
            f.size = atoi(v);
        else if (!strcmp(a, "--json"))
            json = v;
        else if (!strcmp(a, "--rx")) {
            int m = -1;
            for (int k = 0; k < 3; k++)
                if (!strcmp(v, rx_names[k]))
                    m = k;
            if (m < 0)
                goto bad;
            f.rx_mode = m;
        } else
            goto bad;
    }
    if (f.n < 1 || f.n > 5000 || f.seconds < 1 || f.pps < 1 || f.pps > 1000 || f.size < 12
        || f.size > FLR_MAXPKT)
        goto bad;

    f.fd_peer = fx_calloc((size_t)f.n, sizeof(int));
    f.fd_meas = fx_calloc((size_t)f.n, sizeof(int));
    int made = 0;
    for (; made < f.n; made++) {
        int e = flr_pair(&f.fd_peer[made], &f.fd_meas[made]);
        if (e < 0) {
            fprintf(stderr, "capacity_udp_floor: socket pair %d: %s\n", made, strerror(-e));
            goto done;
        }
    }
    pthread_t tp, tm;
    if (pthread_create(&tp, NULL, flr_peer, &f) != 0)
        goto done;
    if (pthread_create(&tm, NULL, flr_measured, &f) != 0) {
        atomic_store(&f.stop, 1);
        pthread_join(tp, NULL);
        goto done;
    }
    pthread_join(tm, NULL);
    pthread_join(tp, NULL);

    double chs = (double)f.n * f.wall_s;
    snprintf(out, sizeof out,
             "{\"rx\":\"%s\",\"channels\":%d,\"pps\":%d,\"size\":%d,\"wall_s\":%.2f,"
             "\"cpu_s\":%.4f,\"cpu_per_channel_second\":%.6f,\"wakeups_per_s\":%.1f,"
             "\"syscalls_per_channel_second\":%.1f,\"rx_packets\":%llu,\"tx_packets\":%llu,"
             "\"rx_per_channel_second\":%.1f}\n",
             rx_names[f.rx_mode], f.n, f.pps, f.size, f.wall_s, f.cpu_s,
             chs > 0 ? f.cpu_s / chs : 0.0, f.wall_s > 0 ? (double)f.wakeups / f.wall_s : 0.0,
             chs > 0 ? (double)f.syscalls / chs : 0.0, f.rx_pkts, f.tx_pkts,
             chs > 0 ? (double)f.rx_pkts / chs : 0.0);
    fputs(out, stdout);
    rc = 0;
    if (json != NULL) {
        FILE *jf = fopen(json, "w");
        if (jf == NULL || fputs(out, jf) < 0 || fclose(jf) != 0) {
            fprintf(stderr, "capacity_udp_floor: cannot write %s\n", json);
            rc = 2;
        }
    }
done:
    for (int i = 0; i < made; i++) {
        close(f.fd_peer[i]);
        close(f.fd_meas[i]);
    }
    free(f.fd_peer);
    free(f.fd_meas);
    return rc;
bad:
    flr_usage();
    return 2;
}
