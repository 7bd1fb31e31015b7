/* fxfault: an LD_PRELOAD shim that makes spool I/O fail on demand, for the crash
 * tests (STYLE.md section 10, "Crash tests"; DESIGN.md invariants 1 and 2).
 *
 * Only files under one directory are touched, so the rest of the process (logs,
 * sockets, the TIFF being submitted from outside the spool) works as usual:
 *
 *   FXFAULT_DIR=/path/to/spool     files at or under this path are "ours"
 *   FXFAULT=RULE[,RULE...]         what to fail; RULE = OP:N[+]:ERRNO
 *       OP     write   write(2), pwrite(2), writev(2), pwritev(2) on our fds
 *              fsync   fsync(2), fdatasync(2) on our fds (files and directories)
 *              rename  rename(2), renameat(2), renameat2(2) when either path is ours
 *              open    open(2), openat(2), creat(2) of a path that is ours
 *       N      fail the Nth matching call (1-based) ...
 *       N+     ... or every matching call from the Nth on
 *       ERRNO  ENOSPC, EIO, EDQUOT, EROFS, EACCES, EPERM, EMFILE, ENOMEM, or a number
 *   FXFAULT_LOG=0                  do not report each injected fault on stderr
 *   FXFAULT_TRACE=1                report every matching call ("fxfault: trace OP #N path=")
 *                                  so a test can calibrate N on a clean run (FXFAULT may
 *                                  then be empty)
 *
 * e.g. FXFAULT=write:2+:ENOSPC (disk full from the 2nd write on), FXFAULT=fsync:3:EIO.
 * Each injected fault prints "fxfault: fail OP #N path=... err=..." on stderr, so a
 * test can check the fault fired (a test whose fault never fires proves nothing).
 *
 * An fd is "ours" when it came from open/openat/creat of a path under FXFAULT_DIR
 * (relative paths are resolved against the cwd or the openat directory fd); close(2)
 * forgets it. Calls reach libc through dlsym(RTLD_NEXT, ...). Counters are atomics:
 * faxd's media loops fsync received pages on their own threads.
 *
 * Under ASan the runtime in the executable intercepts write() etc. first and then
 * calls dlsym(RTLD_NEXT) from the executable, which finds this shim next: the chain
 * still goes through here. The runtime's check that it comes first in the library
 * list must be switched off (ASAN_OPTIONS=verify_asan_link_order=0): lib.sh's
 * fx_fault_env does that. This file is built without sanitizers (tests/CMakeLists.txt)
 * so it needs no sanitizer runtime of its own.
 *
 * Limits (XXX): fds duplicated with dup/dup2/fcntl(F_DUPFD) are not followed; stdio
 * (fopen) reaches open() inside libc without the PLT and is not seen; mmap writes are
 * not seen. faxd's spool code and libtiff use plain open/write/fsync/rename. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define FXF_MAX_FD 65536
#define FXF_MAX_RULES 8

typedef enum { FXF_OP_WRITE = 0, FXF_OP_FSYNC, FXF_OP_RENAME, FXF_OP_OPEN, FXF_OP_N } fxf_op_t;

static const char *const fxf_op_names[FXF_OP_N] = { "write", "fsync", "rename", "open" };

typedef struct fxf_rule {
    fxf_op_t op;
    unsigned long nth; /* 1-based */
    bool from_on;      /* "N+": every call from the Nth on */
    int err;
} fxf_rule_t;

/* Set once under fxf_once, read-only afterwards. */
static pthread_once_t fxf_once = PTHREAD_ONCE_INIT;
static char fxf_dir[PATH_MAX];
static size_t fxf_dir_len;
static fxf_rule_t fxf_rules[FXF_MAX_RULES];
static int fxf_n_rules;
static bool fxf_log = true;
static bool fxf_trace;

/* Matching calls per operation, and which fds are ours (1) or not (0). */
static atomic_ulong fxf_count[FXF_OP_N];
static atomic_uchar fxf_ours[FXF_MAX_FD];

/* ---- the real functions ---- */

/* Last-resort message, straight to the kernel (no libc function to trust yet). */
static void fxf_die(const char *what)
{
    char line[200];
    int n = snprintf(line, sizeof line, "fxfault: %s\n", what);
    if (n > 0)
        (void)!syscall(SYS_write, 2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    abort();
}

/* dlsym(RTLD_NEXT) once per symbol; racing threads store the same pointer. */
static void *fxf_sym(void *_Atomic *slot, const char *name)
{
    void *p = atomic_load_explicit(slot, memory_order_acquire);
    if (p == NULL) {
        p = dlsym(RTLD_NEXT, name);
        if (p == NULL)
            fxf_die("dlsym(RTLD_NEXT) found no libc function to pass calls on to");
        atomic_store_explicit(slot, p, memory_order_release);
    }
    return p;
}

#define FXF_REAL(type, name)                                                                   \
    static type fxf_real_##name(void)                                                          \
    {                                                                                          \
        static void *_Atomic slot;                                                             \
        void *p = fxf_sym(&slot, #name);                                                       \
        type f;                                                                                \
        memcpy(&f, &p, sizeof f); /* object to function pointer (POSIX dlsym rationale) */     \
        return f;                                                                              \
    }

typedef int (*openat_fn)(int, const char *, int, ...);
typedef int (*close_fn)(int);
typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*writev_fn)(int, const struct iovec *, int);
typedef ssize_t (*pwritev_fn)(int, const struct iovec *, int, off_t);
typedef int (*fsync_fn)(int);
typedef int (*rename_fn)(const char *, const char *);
typedef int (*renameat_fn)(int, const char *, int, const char *);
typedef int (*renameat2_fn)(int, const char *, int, const char *, unsigned);

FXF_REAL(openat_fn, openat)
FXF_REAL(close_fn, close)
FXF_REAL(write_fn, write)
FXF_REAL(pwrite_fn, pwrite)
FXF_REAL(writev_fn, writev)
FXF_REAL(pwritev_fn, pwritev)
FXF_REAL(fsync_fn, fsync)
FXF_REAL(fsync_fn, fdatasync)
FXF_REAL(rename_fn, rename)
FXF_REAL(renameat_fn, renameat)
FXF_REAL(renameat2_fn, renameat2)

/* Writes a line to stderr with the real write(2); keeps errno. */
static void fxf_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fxf_say(const char *fmt, ...)
{
    char line[PATH_MAX + 200];
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > 0) {
        if ((size_t)n >= sizeof line)
            n = (int)sizeof line - 1;
        (void)fxf_real_write()(2, line, (size_t)n);
    }
    errno = saved;
}

/* ---- configuration ---- */

static const struct {
    const char *name;
    int err;
} fxf_errnos[] = {
    { "ENOSPC", ENOSPC }, { "EIO", EIO },       { "EDQUOT", EDQUOT }, { "EROFS", EROFS },
    { "EACCES", EACCES }, { "EPERM", EPERM },   { "EMFILE", EMFILE }, { "ENOMEM", ENOMEM },
    { "EINTR", EINTR },   { "EAGAIN", EAGAIN }, { "EFBIG", EFBIG },
};

static const char *fxf_errno_name(int err)
{
    for (size_t i = 0; i < sizeof fxf_errnos / sizeof fxf_errnos[0]; i++)
        if (fxf_errnos[i].err == err)
            return fxf_errnos[i].name;
    return "?";
}

/* "OP:N[+]:ERRNO" -> r; false on a bad rule. */
static bool fxf_parse_rule(const char *s, size_t len, fxf_rule_t *r)
{
    char buf[64];
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *c1 = strchr(buf, ':');
    char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (c1 == NULL || c2 == NULL)
        return false;
    *c1 = '\0';
    *c2 = '\0';
    int op = -1;
    for (int i = 0; i < FXF_OP_N; i++)
        if (strcmp(buf, fxf_op_names[i]) == 0)
            op = i;
    if (op < 0)
        return false;
    char *end;
    errno = 0;
    unsigned long n = strtoul(c1 + 1, &end, 10);
    if (errno != 0 || end == c1 + 1 || n == 0)
        return false;
    r->from_on = false;
    if (*end == '+') {
        r->from_on = true;
        end++;
    }
    if (*end != '\0')
        return false;
    r->op = (fxf_op_t)op;
    r->nth = n;
    r->err = 0;
    for (size_t i = 0; i < sizeof fxf_errnos / sizeof fxf_errnos[0]; i++)
        if (strcmp(c2 + 1, fxf_errnos[i].name) == 0)
            r->err = fxf_errnos[i].err;
    if (r->err == 0) {
        long e = strtol(c2 + 1, &end, 10);
        if (*end != '\0' || end == c2 + 1 || e <= 0 || e > 4095)
            return false;
        r->err = (int)e;
    }
    return true;
}

static void fxf_setup(void)
{
    const char *d = getenv("FXFAULT_DIR");
    const char *f = getenv("FXFAULT");
    const char *l = getenv("FXFAULT_LOG");
    const char *t = getenv("FXFAULT_TRACE");
    fxf_log = !(l != NULL && strcmp(l, "0") == 0);
    fxf_trace = t != NULL && strcmp(t, "1") == 0;
    if (d != NULL && d[0] == '/') {
        /* The spool may not exist yet (faxd creates it): fall back to the text. */
        char real[PATH_MAX];
        if (realpath(d, real) == NULL)
            snprintf(real, sizeof real, "%s", d);
        size_t n = strlen(real);
        while (n > 1 && real[n - 1] == '/')
            n--;
        real[n] = '\0';
        memcpy(fxf_dir, real, n + 1);
        fxf_dir_len = n;
    } else if (d != NULL) {
        fxf_die("FXFAULT_DIR must be an absolute path");
    }
    for (const char *p = f; p != NULL && *p != '\0';) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        p += strspn(p, " ");
        if (len == 0 || strspn(p, " ") >= len || *p == '\0') { /* empty rule: none */
            p = comma ? comma + 1 : NULL;
            continue;
        }
        if (fxf_n_rules == FXF_MAX_RULES)
            fxf_die("too many rules in FXFAULT");
        if (!fxf_parse_rule(p, len, &fxf_rules[fxf_n_rules]))
            fxf_die("bad FXFAULT rule (want OP:N[+]:ERRNO, OP write|fsync|rename|open)");
        fxf_n_rules++;
        p = comma ? comma + 1 : NULL;
    }
    if (fxf_log && (fxf_n_rules > 0 || fxf_trace))
        fxf_say("fxfault: armed dir=%s rules=%s trace=%d\n", fxf_dir_len ? fxf_dir : "(none)",
                f != NULL ? f : "", fxf_trace);
}

static void fxf_init(void)
{
    pthread_once(&fxf_once, fxf_setup);
}

/* ---- matching ---- */

/* Is path (relative to dirfd) at or under FXFAULT_DIR? Lexical: no ".." folding. */
static bool fxf_path_ours(int dirfd, const char *path)
{
    if (fxf_dir_len == 0 || path == NULL)
        return false;
    char buf[2 * PATH_MAX];
    if (path[0] != '/') {
        char base[PATH_MAX];
        if (dirfd == AT_FDCWD) {
            if (getcwd(base, sizeof base) == NULL)
                return false;
        } else {
            char link[64];
            snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
            ssize_t n = readlink(link, base, sizeof base - 1);
            if (n < 0)
                return false;
            base[n] = '\0';
        }
        snprintf(buf, sizeof buf, "%s/%s", base, path);
        path = buf;
    }
    return strncmp(path, fxf_dir, fxf_dir_len) == 0
           && (path[fxf_dir_len] == '/' || path[fxf_dir_len] == '\0');
}

static bool fxf_fd_ours(int fd)
{
    return fd >= 0 && fd < FXF_MAX_FD && atomic_load(&fxf_ours[fd]) != 0;
}

static void fxf_fd_set(int fd, bool ours)
{
    if (fd >= 0 && fd < FXF_MAX_FD)
        atomic_store(&fxf_ours[fd], ours ? 1 : 0);
}

/* Counts a matching call of op; returns the errno to inject, or 0 to let it through. */
static int fxf_hit(fxf_op_t op, const char *path, int fd)
{
    unsigned long n = atomic_fetch_add(&fxf_count[op], 1) + 1;
    char where[PATH_MAX];
    if (path == NULL && (fxf_log || fxf_trace)) {
        char link[64];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t len = readlink(link, where, sizeof where - 1);
        where[len < 0 ? 0 : len] = '\0';
        path = where;
    }
    for (int i = 0; i < fxf_n_rules; i++) {
        const fxf_rule_t *r = &fxf_rules[i];
        if (r->op != op || !(n == r->nth || (r->from_on && n >= r->nth)))
            continue;
        if (fxf_log)
            fxf_say("fxfault: fail %s #%lu path=%s err=%s\n", fxf_op_names[op], n, path,
                    fxf_errno_name(r->err));
        return r->err;
    }
    if (fxf_trace) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        fxf_say("fxfault: trace %s #%lu path=%s t=%lld.%03ld\n", fxf_op_names[op], n, path,
                (long long)ts.tv_sec, ts.tv_nsec / 1000000);
    }
    return 0;
}

/* ---- open ---- */

static int fxf_open(int dirfd, const char *path, int flags, mode_t mode)
{
    fxf_init();
    bool ours = fxf_path_ours(dirfd, path);
    if (ours) {
        int err = fxf_hit(FXF_OP_OPEN, path, -1);
        if (err != 0) {
            errno = err;
            return -1;
        }
    }
    int fd = fxf_real_openat()(dirfd, path, flags, mode);
    /* Always set: clears a stale mark if an fd of ours was closed behind our back. */
    if (fd >= 0)
        fxf_fd_set(fd, ours);
    return fd;
}

/* The mode argument exists only with O_CREAT or O_TMPFILE (POSIX open(), Linux open(2)). */
#define FXF_MODE(flags, last, mode)                                                            \
    do {                                                                                       \
        (mode) = 0;                                                                            \
        if ((flags) & (O_CREAT | O_TMPFILE)) {                                                 \
            va_list ap_;                                                                       \
            va_start(ap_, last);                                                               \
            (mode) = (mode_t)va_arg(ap_, int);                                                 \
            va_end(ap_);                                                                       \
        }                                                                                      \
    } while (0)

int open(const char *path, int flags, ...)
{
    mode_t mode;
    FXF_MODE(flags, flags, mode);
    return fxf_open(AT_FDCWD, path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
    mode_t mode;
    FXF_MODE(flags, flags, mode);
    return fxf_open(AT_FDCWD, path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...)
{
    mode_t mode;
    FXF_MODE(flags, flags, mode);
    return fxf_open(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
    mode_t mode;
    FXF_MODE(flags, flags, mode);
    return fxf_open(dirfd, path, flags, mode);
}

/* _FORTIFY_SOURCE's checked variants (no mode: O_CREAT is refused by them). */
int __open_2(const char *path, int flags);
int __open_2(const char *path, int flags)
{
    return fxf_open(AT_FDCWD, path, flags, 0);
}

int __open64_2(const char *path, int flags);
int __open64_2(const char *path, int flags)
{
    return fxf_open(AT_FDCWD, path, flags, 0);
}

int creat(const char *path, mode_t mode)
{
    return fxf_open(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

int creat64(const char *path, mode_t mode)
{
    return fxf_open(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

int close(int fd)
{
    fxf_fd_set(fd, false);
    return fxf_real_close()(fd);
}

/* ---- write ---- */

/* 0 to go on, or -1 with errno set when this write on fd is to fail. */
static int fxf_write_check(int fd)
{
    if (!fxf_fd_ours(fd))
        return 0;
    fxf_init();
    int err = fxf_hit(FXF_OP_WRITE, NULL, fd);
    if (err == 0)
        return 0;
    errno = err;
    return -1;
}

ssize_t write(int fd, const void *buf, size_t len)
{
    if (fxf_write_check(fd) < 0)
        return -1;
    return fxf_real_write()(fd, buf, len);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
    if (fxf_write_check(fd) < 0)
        return -1;
    return fxf_real_pwrite()(fd, buf, len, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
    if (fxf_write_check(fd) < 0)
        return -1;
    return fxf_real_pwrite()(fd, buf, len, (off_t)off);
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
    if (fxf_write_check(fd) < 0)
        return -1;
    return fxf_real_writev()(fd, iov, n);
}

ssize_t pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
    if (fxf_write_check(fd) < 0)
        return -1;
    return fxf_real_pwritev()(fd, iov, n, off);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int n, off64_t off)
{
    if (fxf_write_check(fd) < 0)
        return -1;
    return fxf_real_pwritev()(fd, iov, n, (off_t)off);
}

/* ---- fsync ---- */

static int fxf_sync_check(int fd)
{
    if (!fxf_fd_ours(fd))
        return 0;
    fxf_init();
    int err = fxf_hit(FXF_OP_FSYNC, NULL, fd);
    if (err == 0)
        return 0;
    errno = err;
    return -1;
}

int fsync(int fd)
{
    if (fxf_sync_check(fd) < 0)
        return -1;
    return fxf_real_fsync()(fd);
}

int fdatasync(int fd)
{
    if (fxf_sync_check(fd) < 0)
        return -1;
    return fxf_real_fdatasync()(fd);
}

/* ---- rename ---- */

static int fxf_rename_check(int olddir, const char *from, int newdir, const char *to)
{
    fxf_init();
    bool from_ours = fxf_path_ours(olddir, from);
    if (!from_ours && !fxf_path_ours(newdir, to))
        return 0;
    int err = fxf_hit(FXF_OP_RENAME, from_ours ? from : to, -1);
    if (err == 0)
        return 0;
    errno = err;
    return -1;
}

int rename(const char *from, const char *to)
{
    if (fxf_rename_check(AT_FDCWD, from, AT_FDCWD, to) < 0)
        return -1;
    return fxf_real_rename()(from, to);
}

int renameat(int olddir, const char *from, int newdir, const char *to)
{
    if (fxf_rename_check(olddir, from, newdir, to) < 0)
        return -1;
    return fxf_real_renameat()(olddir, from, newdir, to);
}

int renameat2(int olddir, const char *from, int newdir, const char *to, unsigned flags)
{
    if (fxf_rename_check(olddir, from, newdir, to) < 0)
        return -1;
    return fxf_real_renameat2()(olddir, from, newdir, to, flags);
}

/* Arms the shim at load time, so a bad FXFAULT stops the process at once. */
__attribute__((constructor)) static void fxf_ctor(void)
{
    fxf_init();
}
