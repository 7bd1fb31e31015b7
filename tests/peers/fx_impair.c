/* fx_impair: a UDP impairment relay for media tests (loss, jitter, reordering, duplicates).
 *
 *   fx_impair --listen ADDR --target ADDR --ports LO-HI [--loss P] [--jitter-ms J]
 *             [--reorder P] [--dup P] [--seed S] [--stats FILE] [--verbose]
 *
 * For every port p in LO..HI it binds ADDR:p (IPv4). A datagram arriving at ADDR:p from a
 * client C goes on to TARGET:p from an upstream socket of its own for the pair (p, C),
 * created on first use and bound to ADDR:0; a datagram arriving on that upstream socket goes
 * back to C from ADDR:p. So it behaves as a NAT that keeps ports, in front of TARGET, and a
 * faxd that learns its peer from where packets come from (symmetric media, RFC 4961 clause 3)
 * keeps talking through it.
 *
 * Each datagram, in either direction and independently of all others, is:
 *   - dropped with probability --loss (a Bernoulli channel, as in ITU-T G.1050's random loss);
 *   - otherwise held a uniform random 0..J ms (J = --jitter-ms), which reorders packets sent
 *     less than J ms apart, and with probability --reorder held J ms more (a late straggler);
 *   - with probability --dup sent once more, the copy with its own random hold.
 * The random numbers come from one xorshift64* generator seeded by --seed (default 1), drawn
 * in a fixed order per datagram, so a seed gives the same decisions for the same sequence of
 * arrivals (both directions share the generator, so a different interleaving of the two
 * directions, which real timing gives, changes which datagrams are hit, not how many).
 * Held datagrams wait in a binary min-heap ordered by due time, then arrival order.
 *
 * Prints "fx_impair: ready ..." on stdout once every port is bound. --verbose adds a line per
 * dropped datagram ("drop up port=P len=N seq=S at=UTC time"; seq is the RTP sequence number
 * (RFC 3550 clause 5.1) or UDPTL seq_number (T.38 clause 9.1) when the payload looks like
 * one), so a failure in a faxd log can be lined up with the losses that caused it.
 * On SIGTERM or SIGINT it writes the counters as JSON to --stats (to FILE.tmp, then renamed,
 * so a reader never sees half a file) and exits 0:
 *   {"up":{...},"down":{...},"flows":N}, each direction with received, forwarded (datagrams
 *   sent, copies included), dropped, delayed (held > 0 ms), reordered (held the extra J ms),
 *   duplicated, overflow (dropped because the hold queue was full). "up" is client -> target.
 * Exit 2 on a usage error or when a port cannot be bound; 1 on a later I/O failure.
 * Single thread, epoll; nothing blocks. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fax/fx.h"

#define IMP_MAX_PORTS   2048u   /* listening ports per relay */
#define IMP_MAX_FLOWS   8192u   /* (port, client) pairs */
#define IMP_MAX_HELD    65536u  /* datagrams waiting in the heap */
#define IMP_MAX_DGRAM   65535u  /* largest UDP payload over IPv4 */
#define IMP_FLOW_BUCKETS 4096u  /* hash buckets, a power of two */

enum { IMP_UP = 0, IMP_DOWN = 1 };
enum { IMP_EP_LISTEN = 1, IMP_EP_FLOW = 2, IMP_EP_SIGNAL = 3 };

typedef struct imp_dir_stats {
    uint64_t received;
    uint64_t forwarded;
    uint64_t dropped;
    uint64_t delayed;
    uint64_t reordered;
    uint64_t duplicated;
    uint64_t overflow;
} imp_dir_stats_t;

/* Every epoll registration points at one of these; kind tells which. */
typedef struct imp_listener {
    int kind; /* IMP_EP_LISTEN */
    int fd;
    uint16_t port;
} imp_listener_t;

typedef struct imp_flow {
    int kind; /* IMP_EP_FLOW */
    int fd;   /* upstream socket, bound to ADDR:0 */
    imp_listener_t *l;
    struct sockaddr_in client;
    struct imp_flow *next; /* hash chain */
} imp_flow_t;

typedef struct imp_held {
    uint64_t due_us;
    uint64_t seq; /* arrival order breaks ties, so equal holds keep their order */
    int fd;
    int dir;
    struct sockaddr_in to;
    size_t len;
    uint8_t data[];
} imp_held_t;

typedef struct imp {
    struct in_addr listen;
    struct in_addr target;
    unsigned lo, hi;
    double loss, reorder, dup;
    unsigned jitter_ms;
    uint64_t rng;
    const char *stats_path;
    bool verbose;

    int ep;
    int sigfd;
    int sig_kind; /* IMP_EP_SIGNAL, epoll points here */
    imp_listener_t *ls;
    unsigned nls;
    imp_flow_t *buckets[IMP_FLOW_BUCKETS];
    unsigned nflows;

    imp_held_t **heap;
    unsigned nheld;
    uint64_t seq;

    imp_dir_stats_t st[2];
    uint8_t buf[IMP_MAX_DGRAM];
} imp_t;

/* ---- random numbers: xorshift64* (Marsaglia 2003; Vigna's multiplier) ---- */

static uint64_t imp_rand(imp_t *im)
{
    uint64_t x = im->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    im->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [0, 1) from the top 53 bits. */
static double imp_unit(imp_t *im)
{
    return (double)(imp_rand(im) >> 11) * (1.0 / 9007199254740992.0);
}

static void imp_seed(imp_t *im, uint64_t seed)
{
    /* splitmix64 step, so that seeds 0, 1, 2 give unrelated, never-zero states. */
    uint64_t z = seed + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    im->rng = z ? z : 0x9E3779B97F4A7C15ULL;
}

/* ---- the hold queue: binary min-heap on (due_us, seq) ---- */

static bool held_before(const imp_held_t *a, const imp_held_t *b)
{
    return a->due_us < b->due_us || (a->due_us == b->due_us && a->seq < b->seq);
}

static void heap_push(imp_t *im, imp_held_t *h)
{
    unsigned i = im->nheld++;
    while (i > 0) {
        unsigned parent = (i - 1) / 2;
        if (!held_before(h, im->heap[parent]))
            break;
        im->heap[i] = im->heap[parent];
        i = parent;
    }
    im->heap[i] = h;
}

static imp_held_t *heap_pop(imp_t *im)
{
    imp_held_t *top = im->heap[0];
    imp_held_t *last = im->heap[--im->nheld];
    unsigned i = 0;
    for (;;) {
        unsigned c = 2 * i + 1;
        if (c >= im->nheld)
            break;
        if (c + 1 < im->nheld && held_before(im->heap[c + 1], im->heap[c]))
            c++;
        if (!held_before(im->heap[c], last))
            break;
        im->heap[i] = im->heap[c];
        i = c;
    }
    if (im->nheld > 0)
        im->heap[i] = last;
    return top;
}

/* ---- sending ---- */

static void send_now(imp_t *im, int fd, int dir, const struct sockaddr_in *to, const uint8_t *p,
                     size_t len)
{
    /* A full socket buffer or an ICMP port unreachable (the target not up yet) loses the
     * datagram, as the network would; it is not counted as forwarded. */
    if (sendto(fd, p, len, 0, (const struct sockaddr *)to, sizeof *to) == (ssize_t)len)
        im->st[dir].forwarded++;
}

/* One copy of a datagram: a random hold, maybe the extra reorder hold, then out. */
static void emit(imp_t *im, int fd, int dir, const struct sockaddr_in *to, const uint8_t *p,
                 size_t len, uint64_t now_us)
{
    uint64_t hold_us = 0;
    if (im->jitter_ms > 0) {
        /* Uniform over 0..J ms in microseconds, inclusive. */
        hold_us = imp_rand(im) % ((uint64_t)im->jitter_ms * 1000u + 1u);
        if (imp_unit(im) < im->reorder) {
            hold_us += (uint64_t)im->jitter_ms * 1000u;
            im->st[dir].reordered++;
        }
    }
    if (hold_us == 0) {
        send_now(im, fd, dir, to, p, len);
        return;
    }
    if (im->nheld >= IMP_MAX_HELD) {
        im->st[dir].overflow++;
        return;
    }
    imp_held_t *h = fx_malloc(sizeof *h + len);
    h->due_us = now_us + hold_us;
    h->seq = im->seq++;
    h->fd = fd;
    h->dir = dir;
    h->to = *to;
    h->len = len;
    memcpy(h->data, p, len);
    heap_push(im, h);
    im->st[dir].delayed++;
}

/* The sequence number a media datagram carries, or -1: RTP version 2 (RFC 3550 clause 5.1,
 * octets 2-3) or else UDPTL (T.38 clause 9.1, octets 0-1). */
static long media_seq(const uint8_t *p, size_t len)
{
    if (len >= 12 && (p[0] & 0xC0) == 0x80)
        return (long)p[2] << 8 | p[3];
    if (len >= 2)
        return (long)p[0] << 8 | p[1];
    return -1;
}

static void log_drop(const imp_t *im, int dir, uint16_t port, size_t len)
{
    uint64_t ms = fx_wall_ms();
    time_t t = (time_t)(ms / 1000u);
    struct tm tm;
    char ts[32];
    gmtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    printf("drop %s port=%u len=%zu seq=%ld at=%s.%03uZ\n", dir == IMP_UP ? "up" : "down", port,
           len, media_seq(im->buf, len), ts, (unsigned)(ms % 1000u));
    fflush(stdout);
}

/* Applies the channel to one arrived datagram. The draws happen in a fixed order (loss,
 * hold, reorder, duplicate, copy's hold, copy's reorder) so a seed replays the same. */
static void impair(imp_t *im, int fd, int dir, uint16_t port, const struct sockaddr_in *to,
                   size_t len)
{
    uint64_t now = fx_now_us();
    im->st[dir].received++;
    if (imp_unit(im) < im->loss) {
        im->st[dir].dropped++;
        if (im->verbose)
            log_drop(im, dir, port, len);
        return;
    }
    emit(im, fd, dir, to, im->buf, len, now);
    if (imp_unit(im) < im->dup) {
        im->st[dir].duplicated++;
        emit(im, fd, dir, to, im->buf, len, now);
    }
}

static void flush_due(imp_t *im)
{
    uint64_t now = fx_now_us();
    while (im->nheld > 0 && im->heap[0]->due_us <= now) {
        imp_held_t *h = heap_pop(im);
        send_now(im, h->fd, h->dir, &h->to, h->data, h->len);
        free(h);
    }
}

/* epoll_wait timeout: until the first held datagram is due, rounded up to whole ms. */
static int next_timeout_ms(const imp_t *im)
{
    if (im->nheld == 0)
        return -1;
    uint64_t now = fx_now_us();
    uint64_t due = im->heap[0]->due_us;
    if (due <= now)
        return 0;
    uint64_t ms = (due - now + 999u) / 1000u;
    return ms > 60000u ? 60000 : (int)ms;
}

/* ---- flows ---- */

static unsigned flow_hash(uint16_t port, const struct sockaddr_in *c)
{
    uint32_t h = c->sin_addr.s_addr * 2654435761u;
    h ^= ((uint32_t)c->sin_port << 16 | port) * 2246822519u;
    h ^= h >> 15;
    return h & (IMP_FLOW_BUCKETS - 1u);
}

static int udp_socket(struct in_addr addr, uint16_t port, int *out)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr = addr;
    sa.sin_port = htons(port);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    *out = fd;
    return 0;
}

/* The upstream socket for (listener, client), made on first use. NULL when the table is
 * full or no socket can be had: the datagram is then lost (and counted dropped). */
static imp_flow_t *flow_get(imp_t *im, imp_listener_t *l, const struct sockaddr_in *c)
{
    unsigned b = flow_hash(l->port, c);
    for (imp_flow_t *f = im->buckets[b]; f != NULL; f = f->next)
        if (f->l == l && f->client.sin_port == c->sin_port &&
            f->client.sin_addr.s_addr == c->sin_addr.s_addr)
            return f;
    if (im->nflows >= IMP_MAX_FLOWS)
        return NULL;
    int fd;
    if (udp_socket(im->listen, 0, &fd) < 0)
        return NULL;
    imp_flow_t *f = fx_calloc(1, sizeof *f);
    f->kind = IMP_EP_FLOW;
    f->fd = fd;
    f->l = l;
    f->client = *c;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = f};
    if (epoll_ctl(im->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        close(fd);
        free(f);
        return NULL;
    }
    f->next = im->buckets[b];
    im->buckets[b] = f;
    im->nflows++;
    return f;
}

/* ---- input ---- */

static void on_listener(imp_t *im, imp_listener_t *l)
{
    for (;;) {
        struct sockaddr_in from;
        socklen_t flen = sizeof from;
        ssize_t n = recvfrom(l->fd, im->buf, sizeof im->buf, 0, (struct sockaddr *)&from, &flen);
        if (n < 0)
            return; /* EAGAIN: drained (or a transient error: try again on the next event) */
        if (from.sin_family != AF_INET)
            continue;
        imp_flow_t *f = flow_get(im, l, &from);
        if (f == NULL) {
            im->st[IMP_UP].received++;
            im->st[IMP_UP].dropped++;
            continue;
        }
        struct sockaddr_in to;
        memset(&to, 0, sizeof to);
        to.sin_family = AF_INET;
        to.sin_addr = im->target;
        to.sin_port = htons(l->port);
        impair(im, f->fd, IMP_UP, l->port, &to, (size_t)n);
    }
}

static void on_flow(imp_t *im, imp_flow_t *f)
{
    for (;;) {
        ssize_t n = recv(f->fd, im->buf, sizeof im->buf, 0);
        if (n < 0)
            return;
        impair(im, f->l->fd, IMP_DOWN, f->l->port, &f->client, (size_t)n);
    }
}

/* ---- stats ---- */

static void put_dir(FILE *fp, const char *name, const imp_dir_stats_t *s)
{
    fprintf(fp,
            "\"%s\":{\"received\":%llu,\"forwarded\":%llu,\"dropped\":%llu,\"delayed\":%llu,"
            "\"reordered\":%llu,\"duplicated\":%llu,\"overflow\":%llu}",
            name, (unsigned long long)s->received, (unsigned long long)s->forwarded,
            (unsigned long long)s->dropped, (unsigned long long)s->delayed,
            (unsigned long long)s->reordered, (unsigned long long)s->duplicated,
            (unsigned long long)s->overflow);
}

static int write_stats(const imp_t *im)
{
    char tmp[4096];
    if (im->stats_path == NULL)
        return 0;
    if (snprintf(tmp, sizeof tmp, "%s.tmp", im->stats_path) >= (int)sizeof tmp)
        return -ENAMETOOLONG;
    FILE *fp = fopen(tmp, "w");
    if (fp == NULL)
        return -errno;
    fputc('{', fp);
    put_dir(fp, "up", &im->st[IMP_UP]);
    fputc(',', fp);
    put_dir(fp, "down", &im->st[IMP_DOWN]);
    fprintf(fp,
            ",\"flows\":%u,\"held\":%u,\"loss\":%g,\"jitter_ms\":%u,\"reorder\":%g,\"dup\":%g}\n",
            im->nflows, im->nheld, im->loss, im->jitter_ms, im->reorder, im->dup);
    if (fclose(fp) != 0) {
        int rc = -errno;
        unlink(tmp);
        return rc;
    }
    if (rename(tmp, im->stats_path) < 0) {
        int rc = -errno;
        unlink(tmp);
        return rc;
    }
    return 0;
}

/* ---- set-up ---- */

static void usage(void)
{
    fprintf(stderr, "usage: fx_impair --listen ADDR --target ADDR --ports LO-HI [--loss P]"
                    " [--jitter-ms J] [--reorder P] [--dup P] [--seed S] [--stats FILE]"
                    " [--verbose]\n");
}

static int parse_prob(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0.0 && v <= 1.0))
        return FX_EPARSE;
    *out = v;
    return 0;
}

static int parse_ulong(const char *s, unsigned long lo, unsigned long hi, char **endp,
                       unsigned long *out)
{
    char *end;
    if (*s < '0' || *s > '9')
        return FX_EPARSE;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || v < lo || v > hi)
        return FX_EPARSE;
    if (endp != NULL)
        *endp = end;
    else if (*end)
        return FX_EPARSE;
    *out = v;
    return 0;
}

static int parse_ports(const char *s, unsigned *lo, unsigned *hi)
{
    char *end;
    unsigned long a, b;
    if (parse_ulong(s, 1, 65535, &end, &a) < 0 || *end != '-')
        return FX_EPARSE;
    if (parse_ulong(end + 1, 1, 65535, NULL, &b) < 0 || b < a || b - a + 1 > IMP_MAX_PORTS)
        return FX_EPARSE;
    *lo = (unsigned)a;
    *hi = (unsigned)b;
    return 0;
}

static int parse_args(imp_t *im, int argc, char **argv)
{
    bool have_listen = false, have_target = false, have_ports = false;
    unsigned long v;
    imp_seed(im, 1);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--verbose")) {
            im->verbose = true;
            continue;
        }
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (val == NULL)
            return FX_EPARSE;
        i++;
        if (!strcmp(a, "--listen")) {
            if (inet_pton(AF_INET, val, &im->listen) != 1)
                return FX_EPARSE;
            have_listen = true;
        } else if (!strcmp(a, "--target")) {
            if (inet_pton(AF_INET, val, &im->target) != 1)
                return FX_EPARSE;
            have_target = true;
        } else if (!strcmp(a, "--ports")) {
            if (parse_ports(val, &im->lo, &im->hi) < 0)
                return FX_EPARSE;
            have_ports = true;
        } else if (!strcmp(a, "--loss")) {
            if (parse_prob(val, &im->loss) < 0)
                return FX_EPARSE;
        } else if (!strcmp(a, "--reorder")) {
            if (parse_prob(val, &im->reorder) < 0)
                return FX_EPARSE;
        } else if (!strcmp(a, "--dup")) {
            if (parse_prob(val, &im->dup) < 0)
                return FX_EPARSE;
        } else if (!strcmp(a, "--jitter-ms")) {
            if (parse_ulong(val, 0, 10000, NULL, &v) < 0)
                return FX_EPARSE;
            im->jitter_ms = (unsigned)v;
        } else if (!strcmp(a, "--seed")) {
            if (parse_ulong(val, 0, ~0ul, NULL, &v) < 0)
                return FX_EPARSE;
            imp_seed(im, v);
        } else if (!strcmp(a, "--stats")) {
            im->stats_path = val;
        } else {
            return FX_EPARSE;
        }
    }
    return have_listen && have_target && have_ports ? 0 : FX_EPARSE;
}

static int setup(imp_t *im)
{
    sigset_t ss;
    sigemptyset(&ss);
    sigaddset(&ss, SIGTERM);
    sigaddset(&ss, SIGINT);
    if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0)
        return -errno;
    im->sigfd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
    im->ep = epoll_create1(EPOLL_CLOEXEC);
    if (im->sigfd < 0 || im->ep < 0)
        return -errno;
    im->sig_kind = IMP_EP_SIGNAL;
    struct epoll_event sev = {.events = EPOLLIN, .data.ptr = &im->sig_kind};
    if (epoll_ctl(im->ep, EPOLL_CTL_ADD, im->sigfd, &sev) < 0)
        return -errno;

    im->nls = im->hi - im->lo + 1;
    im->ls = fx_calloc(im->nls, sizeof *im->ls);
    im->heap = fx_calloc(IMP_MAX_HELD, sizeof *im->heap);
    for (unsigned i = 0; i < im->nls; i++)
        im->ls[i].fd = -1;
    for (unsigned i = 0; i < im->nls; i++) {
        imp_listener_t *l = &im->ls[i];
        l->kind = IMP_EP_LISTEN;
        l->port = (uint16_t)(im->lo + i);
        int rc = udp_socket(im->listen, l->port, &l->fd);
        if (rc < 0) {
            fprintf(stderr, "fx_impair: bind port %u: %s\n", l->port, fx_strerror(rc));
            return rc;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = l};
        if (epoll_ctl(im->ep, EPOLL_CTL_ADD, l->fd, &ev) < 0)
            return -errno;
    }
    return 0;
}

static void teardown(imp_t *im)
{
    while (im->nheld > 0)
        free(heap_pop(im));
    free(im->heap);
    for (unsigned b = 0; b < IMP_FLOW_BUCKETS; b++) {
        imp_flow_t *f = im->buckets[b];
        while (f != NULL) {
            imp_flow_t *next = f->next;
            close(f->fd);
            free(f);
            f = next;
        }
    }
    for (unsigned i = 0; im->ls != NULL && i < im->nls; i++)
        if (im->ls[i].fd >= 0)
            close(im->ls[i].fd);
    free(im->ls);
    if (im->ep >= 0)
        close(im->ep);
    if (im->sigfd >= 0)
        close(im->sigfd);
}

int main(int argc, char **argv)
{
    imp_t *im = fx_calloc(1, sizeof *im);
    int status = 0;
    char la[INET_ADDRSTRLEN], ta[INET_ADDRSTRLEN];

    im->ep = -1;
    im->sigfd = -1;
    if (parse_args(im, argc, argv) < 0) {
        usage();
        free(im);
        return 2;
    }
    int rc = setup(im);
    if (rc < 0) {
        fprintf(stderr, "fx_impair: %s\n", fx_strerror(rc));
        teardown(im);
        free(im);
        return 2;
    }
    inet_ntop(AF_INET, &im->listen, la, sizeof la);
    inet_ntop(AF_INET, &im->target, ta, sizeof ta);
    printf("fx_impair: ready listen=%s target=%s ports=%u-%u loss=%g jitter_ms=%u reorder=%g "
           "dup=%g\n",
           la, ta, im->lo, im->hi, im->loss, im->jitter_ms, im->reorder, im->dup);
    fflush(stdout);

    bool running = true;
    while (running) {
        struct epoll_event evs[64];
        int n = epoll_wait(im->ep, evs, 64, next_timeout_ms(im));
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "fx_impair: epoll_wait: %s\n", strerror(errno));
            status = 1;
            break;
        }
        for (int i = 0; i < n; i++) {
            int kind = *(int *)evs[i].data.ptr;
            if (kind == IMP_EP_LISTEN) {
                on_listener(im, evs[i].data.ptr);
            } else if (kind == IMP_EP_FLOW) {
                on_flow(im, evs[i].data.ptr);
            } else {
                struct signalfd_siginfo si;
                while (read(im->sigfd, &si, sizeof si) == (ssize_t)sizeof si)
                    running = false;
            }
        }
        flush_due(im);
    }
    rc = write_stats(im);
    if (rc < 0) {
        fprintf(stderr, "fx_impair: stats %s: %s\n", im->stats_path, fx_strerror(rc));
        status = 1;
    }
    teardown(im);
    free(im);
    return status;
}
