/* fx: the common ground of every Faxgate module: error codes, allocation,
 * logging, strings and clocks.
 *
 * Ownership: fx_malloc/fx_calloc/fx_strdup return memory the caller frees with
 * free(); they abort on exhaustion, so nobody tests them for NULL.
 * Threads: everything here is safe to call from any thread; the log writes one
 * whole line per call. */
#ifndef FAX_FX_H
#define FAX_FX_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Error codes: fallible functions return 0 or a negative code, either -errno or
 * one of these (kept well away from errno values). */
enum {
    FX_EPARSE   = -10001, /* outside bytes do not parse */
    FX_EPROTO   = -10002, /* the peer broke the protocol */
    FX_ECORRUPT = -10003, /* stored data is damaged */
    FX_ETIMEOUT = -10004, /* a timer ran out */
    FX_EAGAIN   = -10005, /* resumable parser wants more input */
    FX_ERANGE   = -10006, /* a value is outside its bounds */
    FX_ENOTFOUND = -10007, /* the named thing does not exist */
    FX_ESTATE   = -10008, /* the call does not fit the object's state */
};

/* Text for any code this project returns (negative errno included). */
const char *fx_strerror(int rc);

void *fx_malloc(size_t n);
void *fx_calloc(size_t n, size_t size);
void *fx_realloc(void *p, size_t n);
char *fx_strdup(const char *s);
char *fx_strndup(const char *s, size_t n);

/* Copies at most size-1 bytes and always terminates; returns strlen(src). */
size_t fx_strlcpy(char *dst, const char *src, size_t size);

/* Log levels (syslog's order). */
typedef enum {
    FX_LOG_ERR = 0,
    FX_LOG_WARN,
    FX_LOG_NOTICE,
    FX_LOG_INFO,
    FX_LOG_DEBUG,
} fx_log_level_t;

/* Facilities are bits, enabled in config per facility. */
enum {
    FX_FAC_SIP   = 1u << 0,
    FX_FAC_T38   = 1u << 1,
    FX_FAC_T30   = 1u << 2,
    FX_FAC_MODEM = 1u << 3,
    FX_FAC_ATIO  = 1u << 4,
    FX_FAC_QUEUE = 1u << 5,
    FX_FAC_ROUTE = 1u << 6,
    FX_FAC_DB    = 1u << 7,
    FX_FAC_CONF  = 1u << 8,
    FX_FAC_RTP   = 1u << 9,
    FX_FAC_MAIN  = 1u << 10,
    FX_FAC_CTL   = 1u << 11,
    FX_FAC_ALL   = 0xffffu,
};

const char *fx_log_level_name(fx_log_level_t l);
/* Parses "err|warn|notice|info|debug"; returns 0 or FX_EPARSE. */
int fx_log_level_parse(const char *s, fx_log_level_t *out);
/* Parses a comma list of facility names ("sip,t38,all"); returns 0 or FX_EPARSE. */
int fx_log_facilities_parse(const char *s, unsigned *out);

/* Logging setup: level threshold, enabled facilities (ERR and WARN always pass),
 * and the stream (NULL means stderr). */
void fx_log_setup(fx_log_level_t level, unsigned facilities, const char *ident);
int fx_log_enabled(fx_log_level_t level, unsigned facility);
void fx_log(fx_log_level_t level, unsigned facility, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void fx_vlog(fx_log_level_t level, unsigned facility, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Unusable configuration at start: log and exit(1). */
void fx_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Our own invariant broke: log with location and abort for a core dump. */
#define FX_PANIC(...) fx__panic(__FILE__, __LINE__, __VA_ARGS__)
void fx__panic(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

/* Clocks, in milliseconds / microseconds. */
uint64_t fx_now_ms(void);      /* CLOCK_MONOTONIC */
uint64_t fx_now_us(void);      /* CLOCK_MONOTONIC */
uint64_t fx_wall_ms(void);     /* CLOCK_REALTIME */

/* Writes all of buf to fd, retrying on EINTR/short writes; 0 or -errno. */
int fx_write_all(int fd, const void *buf, size_t len);
/* fsync of a directory by path; 0 or -errno. */
int fx_fsync_dir(const char *path);
/* mkdir -p with mode; 0 or -errno. */
int fx_mkdirs(const char *path, unsigned mode);

/* A unique id of 16 upper-case hex digits: time in ms then a counter and pid bits.
 * buf must hold 17 bytes. */
void fx_make_id(char buf[17]);

#endif
