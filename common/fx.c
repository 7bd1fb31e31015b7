/* fx: errors, allocation, logging, strings and clocks (see include/fax/fx.h). */
#include "fax/fx.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *fx_strerror(int rc)
{
    switch (rc) {
    case 0: return "success";
    case FX_EPARSE: return "cannot parse input";
    case FX_EPROTO: return "protocol violation by peer";
    case FX_ECORRUPT: return "stored data is corrupt";
    case FX_ETIMEOUT: return "timed out";
    case FX_EAGAIN: return "more input needed";
    case FX_ERANGE: return "value out of range";
    case FX_ENOTFOUND: return "not found";
    case FX_ESTATE: return "not allowed in this state";
    default: break;
    }
    if (rc < 0 && rc > -4096)
        return strerror(-rc);
    return "unknown error";
}

static void oom(void)
{
    static const char msg[] = "faxgate: out of memory\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    abort();
}

void *fx_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        oom();
    return p;
}

void *fx_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL)
        oom();
    return p;
}

void *fx_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        oom();
    return q;
}

char *fx_strdup(const char *s)
{
    char *p = strdup(s);
    if (p == NULL)
        oom();
    return p;
}

char *fx_strndup(const char *s, size_t n)
{
    char *p = strndup(s, n);
    if (p == NULL)
        oom();
    return p;
}

size_t fx_strlcpy(char *dst, const char *src, size_t size)
{
    size_t len = strlen(src);
    if (size > 0) {
        size_t n = len < size - 1 ? len : size - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
    }
    return len;
}

/* ---- logging ---- */

static struct {
    _Atomic int level;
    _Atomic unsigned facilities;
    char ident[32];
} g_log = { FX_LOG_INFO, FX_FAC_ALL, "faxgate" };

static const char *const level_names[] = { "ERR", "WARN", "NOTICE", "INFO", "DEBUG" };

static const struct {
    const char *name;
    unsigned bit;
} fac_names[] = {
    { "sip", FX_FAC_SIP },     { "t38", FX_FAC_T38 },     { "t30", FX_FAC_T30 },
    { "modem", FX_FAC_MODEM }, { "atio", FX_FAC_ATIO },   { "queue", FX_FAC_QUEUE },
    { "route", FX_FAC_ROUTE }, { "db", FX_FAC_DB },       { "conf", FX_FAC_CONF },
    { "rtp", FX_FAC_RTP },     { "main", FX_FAC_MAIN },   { "ctl", FX_FAC_CTL },
    { "all", FX_FAC_ALL },
};

const char *fx_log_level_name(fx_log_level_t l)
{
    if ((unsigned)l < sizeof level_names / sizeof level_names[0])
        return level_names[l];
    return "?";
}

int fx_log_level_parse(const char *s, fx_log_level_t *out)
{
    for (unsigned i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (fx_log_level_t)i;
            return 0;
        }
    }
    return FX_EPARSE;
}

int fx_log_facilities_parse(const char *s, unsigned *out)
{
    unsigned bits = 0;
    const char *p = s;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        size_t n = strcspn(p, ", ");
        unsigned i;
        for (i = 0; i < sizeof fac_names / sizeof fac_names[0]; i++) {
            if (strlen(fac_names[i].name) == n && strncasecmp(p, fac_names[i].name, n) == 0) {
                bits |= fac_names[i].bit;
                break;
            }
        }
        if (i == sizeof fac_names / sizeof fac_names[0])
            return FX_EPARSE;
        p += n;
    }
    *out = bits;
    return 0;
}

void fx_log_setup(fx_log_level_t level, unsigned facilities, const char *ident)
{
    atomic_store(&g_log.level, (int)level);
    atomic_store(&g_log.facilities, facilities);
    if (ident != NULL)
        fx_strlcpy(g_log.ident, ident, sizeof g_log.ident);
}

int fx_log_enabled(fx_log_level_t level, unsigned facility)
{
    if ((int)level > atomic_load(&g_log.level))
        return 0;
    if (level <= FX_LOG_WARN)
        return 1;
    return (atomic_load(&g_log.facilities) & facility) != 0;
}

void fx_vlog(fx_log_level_t level, unsigned facility, const char *fmt, va_list ap)
{
    if (!fx_log_enabled(level, facility))
        return;
    char line[2048];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%d] %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, g_log.ident, (int)getpid(),
                     fx_log_level_name(level));
    if (n < 0)
        return;
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    if (m < 0)
        return;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    /* One write per line so lines from threads never interleave. */
    ssize_t w = write(2, line, len);
    (void)w;
}

void fx_log(fx_log_level_t level, unsigned facility, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fx_vlog(level, facility, fmt, ap);
    va_end(ap);
}

void fx_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fx_vlog(FX_LOG_ERR, FX_FAC_MAIN, fmt, ap);
    va_end(ap);
    exit(1);
}

void fx__panic(const char *file, int line, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fx_log(FX_LOG_ERR, FX_FAC_MAIN, "PANIC %s at=%s:%d", msg, file, line);
    abort();
}

uint64_t fx_now_ms(void)
{
    return fx_now_us() / 1000;
}

uint64_t fx_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t fx_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int fx_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int fx_fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

int fx_mkdirs(const char *path, unsigned mode)
{
    char buf[4096];
    if (fx_strlcpy(buf, path, sizeof buf) >= sizeof buf)
        return -ENAMETOOLONG;
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, mode) < 0 && errno != EEXIST)
                return -errno;
            *p = '/';
        }
    }
    if (mkdir(buf, mode) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

void fx_make_id(char buf[17])
{
    static _Atomic unsigned counter;
    uint64_t ms = fx_wall_ms();
    unsigned c = atomic_fetch_add(&counter, 1);
    /* 40 bits of ms time (34 years), 12 bits of pid, 12 bits of counter. */
    uint64_t v = ((ms & 0xffffffffffull) << 24) | (((uint64_t)getpid() & 0xfffu) << 12) | (c & 0xfffu);
    snprintf(buf, 17, "%016llX", (unsigned long long)v);
}
