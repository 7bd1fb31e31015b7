/* spool: Postfix-style spool folders and record files (see include/fax/spool.h).
 *
 * Durability follows Postfix's queue manager: a file becomes visible under its
 * real name only by rename(2) of a complete, fsync'd file in tmp/, and the
 * rename is made durable by fsync(2) of the directory (POSIX.1-2017 rename():
 * the replacement is atomic; Linux fsync(2): "calling fsync() on the file does
 * not ensure that the entry in the directory containing the file has also
 * reached disk. For that an explicit fsync() on a file descriptor for the
 * directory is also needed").
 *
 * Record files are parsed as hostile bytes: every length is checked against
 * what is left before it is used, and any deviation from the one accepted
 * layout (version, attributes, END, nothing after) is FX_ECORRUPT. */
#include "fax/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fax/fx.h"
#include "spool_int.h"

struct spool {
    char *root;
};

static const char *const spool_subs[] = {
    "tmp", "incoming", "queue", "active", "done", "failed", "corrupt",
    "arcq", /* archive markers waiting for PostgreSQL (archive/arc.c) */
};

/* ---- fault hooks (spool_int.h) ---- */

static spool_write_fn hook_write = write;
static spool_fsync_fn hook_fsync = fsync;
static spool_rename_fn hook_rename = rename;

void spool__set_fault_hooks(spool_write_fn w, spool_fsync_fn f, spool_rename_fn r)
{
    hook_write = w != NULL ? w : write;
    hook_fsync = f != NULL ? f : fsync;
    hook_rename = r != NULL ? r : rename;
}

/* fx_write_all() calls write(2) directly; this one goes through the hook. */
static int spool_write_all(int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len > 0) {
        ssize_t w = hook_write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (w == 0)
            return -EIO; /* a regular file never accepts 0 bytes of a non-empty write */
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* fx_fsync_dir() with the fsync going through the hook. */
static int spool_fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = hook_fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

/* ---- open / paths ---- */

/* A path component we are willing to join: non-empty, no '/', not "." or "..". */
static int plain_name(const char *s)
{
    if (s == NULL || s[0] == '\0' || strchr(s, '/') != NULL)
        return 0;
    if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return 0;
    return 1;
}

/* mkdir with mode 0700, or check that an existing entry is a directory. Sets
 * *created when it made the directory. */
static int ensure_dir(const char *path, int *created)
{
    if (mkdir(path, 0700) == 0) {
        /* mkdir honours the umask; the spool is 0700 whatever the umask says. */
        if (chmod(path, 0700) < 0)
            return -errno;
        *created = 1;
        return 0;
    }
    if (errno != EEXIST)
        return -errno;
    struct stat st;
    if (lstat(path, &st) < 0)
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    return 0;
}

int spool_open(const char *dir, spool_t **out)
{
    *out = NULL;
    if (dir == NULL || dir[0] == '\0')
        return -EINVAL;
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/')
        dl--;
    char *root = fx_strndup(dir, dl);
    char path[4096];
    int rc;

    /* The root itself: create missing parents too (fresh install). */
    struct stat st;
    if (stat(root, &st) < 0) {
        if (errno != ENOENT) {
            rc = -errno;
            goto fail;
        }
        rc = fx_mkdirs(root, 0700);
        if (rc < 0)
            goto fail;
        if (chmod(root, 0700) < 0) {
            rc = -errno;
            goto fail;
        }
    } else if (!S_ISDIR(st.st_mode)) {
        rc = -ENOTDIR;
        goto fail;
    }

    int created = 0;
    for (size_t i = 0; i < sizeof spool_subs / sizeof spool_subs[0]; i++) {
        int n = snprintf(path, sizeof path, "%s/%s", root, spool_subs[i]);
        if (n < 0 || (size_t)n >= sizeof path) {
            rc = -ENAMETOOLONG;
            goto fail;
        }
        rc = ensure_dir(path, &created);
        if (rc < 0)
            goto fail;
    }
    /* New folders must survive a crash like files do. */
    if (created) {
        rc = spool_fsync_dir(root);
        if (rc < 0)
            goto fail;
    }

    spool_t *s = fx_calloc(1, sizeof *s);
    s->root = root;
    *out = s;
    return 0;

fail:
    free(root);
    return rc;
}

void spool_close(spool_t *s)
{
    if (s == NULL)
        return;
    free(s->root);
    free(s);
}

const char *spool_root(const spool_t *s)
{
    return s->root;
}

int spool_path(const spool_t *s, const char *sub, const char *name, char *buf, size_t len)
{
    if (!plain_name(sub) || !plain_name(name))
        return -EINVAL;
    int n = snprintf(buf, len, "%s/%s/%s", s->root, sub, name);
    if (n < 0 || (size_t)n >= len)
        return -ENAMETOOLONG;
    return 0;
}

/* <root>/<sub> */
static int sub_path(const spool_t *s, const char *sub, char *buf, size_t len)
{
    if (!plain_name(sub))
        return -EINVAL;
    int n = snprintf(buf, len, "%s/%s", s->root, sub);
    if (n < 0 || (size_t)n >= len)
        return -ENAMETOOLONG;
    return 0;
}

/* ---- record builder ---- */

void spool_rec_init(spool_rec_t *r)
{
    r->n = 0;
    r->keys = NULL;
    r->values = NULL;
}

/* Arrays grow in powers of two from 4: capacity is implied by n. */
static void rec_push(spool_rec_t *r, char *key, char *value)
{
    int n = r->n;
    if (n == 0 || (n >= 4 && (n & (n - 1)) == 0)) {
        size_t cap = n == 0 ? 4 : (size_t)n * 2;
        r->keys = fx_realloc(r->keys, cap * sizeof *r->keys);
        r->values = fx_realloc(r->values, cap * sizeof *r->values);
    }
    r->keys[n] = key;
    r->values[n] = value;
    r->n = n + 1;
}

void spool_rec_add(spool_rec_t *r, const char *key, const char *value)
{
    if (key == NULL || value == NULL)
        FX_PANIC("spool_rec_add: NULL %s", key == NULL ? "key" : "value");
    /* Key syntax is checked by spool_rec_encode(), which can return an error. */
    rec_push(r, fx_strdup(key), fx_strdup(value));
}

void spool_rec_addf(spool_rec_t *r, const char *key, const char *fmt, ...)
{
    if (key == NULL)
        FX_PANIC("spool_rec_addf: NULL key");
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        FX_PANIC("spool_rec_addf: bad format for key %s", key);
    char *v = fx_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(v, (size_t)n + 1, fmt, ap);
    va_end(ap);
    rec_push(r, fx_strdup(key), v);
}

const char *spool_rec_get(const spool_rec_t *r, const char *key)
{
    for (int i = r->n - 1; i >= 0; i--)
        if (strcmp(r->keys[i], key) == 0)
            return r->values[i];
    return NULL;
}

void spool_rec_free(spool_rec_t *r)
{
    if (r == NULL)
        return;
    for (int i = 0; i < r->n; i++) {
        free(r->keys[i]);
        free(r->values[i]);
    }
    free(r->keys);
    free(r->values);
    spool_rec_init(r);
}

/* ---- record encoding ---- */

static int key_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
}

/* Key syntax [a-z0-9_.]+ over n bytes. */
static int key_ok(const unsigned char *k, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!key_char(k[i]))
            return 0;
    return 1;
}

static unsigned char *put_hdr(unsigned char *p, unsigned char type, uint32_t len)
{
    p[0] = type;
    p[1] = (unsigned char)(len >> 24);
    p[2] = (unsigned char)(len >> 16);
    p[3] = (unsigned char)(len >> 8);
    p[4] = (unsigned char)len;
    return p + SPOOL_REC_HDR_LEN;
}

int spool_rec_encode(const spool_rec_t *r, unsigned char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (r->n < 0)
        return -EINVAL;
    if (r->n > SPOOL_REC_MAX_RECORDS - 2)
        return FX_ERANGE;
    size_t total = SPOOL_REC_HDR_LEN + 1 + SPOOL_REC_HDR_LEN; /* version "1" + END */
    for (int i = 0; i < r->n; i++) {
        const char *k = r->keys[i], *v = r->values[i];
        if (k == NULL || v == NULL)
            return -EINVAL;
        size_t kl = strlen(k);
        /* A C string cannot hold a NUL, so a value is always NUL-free here;
         * the decoder enforces the rule for bytes coming from disk. */
        if (!key_ok((const unsigned char *)k, kl))
            return -EINVAL;
        size_t vl = strlen(v);
        if (kl >= SPOOL_REC_MAX_DATA || vl > SPOOL_REC_MAX_DATA - kl - 1)
            return FX_ERANGE;
        total += SPOOL_REC_HDR_LEN + kl + 1 + vl;
    }
    unsigned char *buf = fx_malloc(total);
    unsigned char *p = put_hdr(buf, SPOOL_RT_VERSION, 1);
    *p++ = '1';
    for (int i = 0; i < r->n; i++) {
        size_t kl = strlen(r->keys[i]), vl = strlen(r->values[i]);
        p = put_hdr(p, SPOOL_RT_ATTR, (uint32_t)(kl + 1 + vl));
        memcpy(p, r->keys[i], kl);
        p += kl;
        *p++ = '=';
        memcpy(p, r->values[i], vl);
        p += vl;
    }
    p = put_hdr(p, SPOOL_RT_END, 0);
    if ((size_t)(p - buf) != total)
        FX_PANIC("spool_rec_encode: wrote %zu of %zu bytes", (size_t)(p - buf), total);
    *out = buf;
    *out_len = total;
    return 0;
}

/* ---- record decoding ---- */

static void set_why(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_why(char *why, size_t whylen, const char *fmt, ...)
{
    if (why == NULL || whylen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

/* Printable excerpt of hostile bytes for a reason text (at most 16 bytes,
 * others as '?'), so a log line never carries control characters. */
static void excerpt(const unsigned char *d, size_t n, char *buf, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < n && i < 16 && o + 1 < len; i++)
        buf[o++] = (d[i] >= 0x20 && d[i] < 0x7f && d[i] != '"') ? (char)d[i] : '?';
    if (n > 16 && o + 4 < len) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
}

int spool_rec_decode(const unsigned char *buf, size_t len, spool_rec_t *out, char *why,
                     size_t whylen)
{
    spool_rec_init(out);
    set_why(why, whylen, "ok");
    if (len == 0) {
        set_why(why, whylen, "empty file: no version record");
        return FX_ECORRUPT;
    }
    size_t off = 0;
    int idx = 0;
    char ex[32];
    while (off < len) {
        if (idx >= SPOOL_REC_MAX_RECORDS) {
            set_why(why, whylen, "record %d: more than %d records at offset %zu", idx,
                    SPOOL_REC_MAX_RECORDS, off);
            goto corrupt;
        }
        size_t left = len - off;
        if (left < SPOOL_REC_HDR_LEN) {
            set_why(why, whylen, "record %d: truncated header at offset %zu (%zu of %u bytes)",
                    idx, off, left, SPOOL_REC_HDR_LEN);
            goto corrupt;
        }
        const unsigned char *h = buf + off;
        unsigned type = h[0];
        uint32_t dlen = (uint32_t)h[1] << 24 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 8 | h[4];
        if (dlen > SPOOL_REC_MAX_DATA) {
            set_why(why, whylen, "record %d: length %u exceeds %u at offset %zu", idx,
                    (unsigned)dlen, SPOOL_REC_MAX_DATA, off);
            goto corrupt;
        }
        if (dlen > left - SPOOL_REC_HDR_LEN) {
            set_why(why, whylen,
                    "record %d: truncated data at offset %zu (length %u, %zu bytes left)", idx,
                    off, (unsigned)dlen, left - SPOOL_REC_HDR_LEN);
            goto corrupt;
        }
        const unsigned char *d = h + SPOOL_REC_HDR_LEN;
        size_t next = off + SPOOL_REC_HDR_LEN + dlen;

        if (idx == 0) {
            /* The version record comes first, always. */
            if (type != SPOOL_RT_VERSION) {
                set_why(why, whylen,
                        "record 0: expected version record, got type 0x%02x at offset 0", type);
                goto corrupt;
            }
            if (dlen != 1 || d[0] != '1') {
                excerpt(d, dlen, ex, sizeof ex);
                set_why(why, whylen, "record 0: unsupported version \"%s\" at offset 0", ex);
                goto corrupt;
            }
        } else if (type == SPOOL_RT_VERSION) {
            set_why(why, whylen, "record %d: second version record at offset %zu", idx, off);
            goto corrupt;
        } else if (type == SPOOL_RT_ATTR) {
            const unsigned char *eq = memchr(d, '=', dlen);
            if (eq == NULL) {
                set_why(why, whylen, "record %d: attribute without '=' at offset %zu", idx,
                        off);
                goto corrupt;
            }
            size_t kl = (size_t)(eq - d);
            if (!key_ok(d, kl)) {
                excerpt(d, kl, ex, sizeof ex);
                set_why(why, whylen, "record %d: bad attribute key \"%s\" at offset %zu", idx,
                        ex, off);
                goto corrupt;
            }
            size_t vl = dlen - kl - 1;
            const unsigned char *nul = memchr(eq + 1, '\0', vl);
            if (nul != NULL) {
                set_why(why, whylen, "record %d: NUL in value at offset %zu", idx,
                        off + SPOOL_REC_HDR_LEN + (size_t)(nul - d));
                goto corrupt;
            }
            rec_push(out, fx_strndup((const char *)d, kl),
                     fx_strndup((const char *)eq + 1, vl));
        } else if (type == SPOOL_RT_END) {
            if (dlen != 0) {
                set_why(why, whylen, "record %d: END record with length %u at offset %zu", idx,
                        (unsigned)dlen, off);
                goto corrupt;
            }
            if (next != len) {
                set_why(why, whylen, "record %d: %zu bytes after END at offset %zu", idx,
                        len - next, next);
                goto corrupt;
            }
            set_why(why, whylen, "ok");
            return 0;
        } else {
            set_why(why, whylen, "record %d: unknown type 0x%02x at offset %zu", idx, type,
                    off);
            goto corrupt;
        }
        off = next;
        idx++;
    }
    set_why(why, whylen, "no END record (file ends at offset %zu after %d records)", len, idx);

corrupt:
    spool_rec_free(out);
    return FX_ECORRUPT;
}

/* ---- durable writes ---- */

/* Creates a uniquely named file in tmp/ for a store; fd and path out. */
static int tmp_create(spool_t *s, char *path, size_t len, int *fd_out)
{
    *fd_out = -1;
    for (int attempt = 0; attempt < 16; attempt++) {
        char id[17], name[40];
        fx_make_id(id);
        snprintf(name, sizeof name, "store.%s", id);
        int rc = spool_path(s, "tmp", name, path, len);
        if (rc < 0)
            return rc;
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0) {
            *fd_out = fd;
            return 0;
        }
        if (errno != EEXIST)
            return -errno;
        /* Another writer drew the same id (same ms, counter wrapped): draw again. */
    }
    return -EEXIST;
}

/* Second half of every store: fsync the filled tmp file, close it, rename it
 * to <sub>/<name> and fsync <sub>. Takes ownership of fd. On failure nothing
 * is left in tmp/, and a file that was new in <sub> is removed again.
 * XXX: when the store replaced an existing file and only the directory fsync
 * failed, the new version stays (the old one is gone since the rename); the
 * caller gets the error and must treat the file's state as unknown. */
static int store_commit(spool_t *s, int fd, const char *tmp, const char *sub, const char *name)
{
    char dst[4096], dir[4096];
    int rc = spool_path(s, sub, name, dst, sizeof dst);
    if (rc == 0)
        rc = sub_path(s, sub, dir, sizeof dir);
    if (rc == 0 && hook_fsync(fd) < 0)
        rc = -errno;
    /* close(2) can report a deferred write error (NFS); it counts. */
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc < 0) {
        unlink(tmp);
        return rc;
    }
    struct stat st;
    int existed = lstat(dst, &st) == 0;
    if (hook_rename(tmp, dst) < 0) {
        rc = -errno;
        unlink(tmp);
        return rc;
    }
    rc = spool_fsync_dir(dir);
    if (rc < 0 && !existed) {
        /* Not acknowledged, so it must not appear later as if it had been. */
        unlink(dst);
        spool_fsync_dir(dir);
    }
    return rc;
}

/* Writes buf as <sub>/<name> through tmp/. */
static int store_bytes(spool_t *s, const char *sub, const char *name, const void *buf,
                       size_t len)
{
    char tmp[4096], dst[4096];
    int rc = spool_path(s, sub, name, dst, sizeof dst);
    if (rc < 0)
        return rc;
    int fd;
    rc = tmp_create(s, tmp, sizeof tmp, &fd);
    if (rc < 0)
        return rc;
    rc = spool_write_all(fd, buf, len);
    if (rc < 0) {
        close(fd);
        unlink(tmp);
        return rc;
    }
    return store_commit(s, fd, tmp, sub, name);
}

int spool_store_rec(spool_t *s, const char *sub, const char *name, const spool_rec_t *r)
{
    unsigned char *buf;
    size_t len;
    int rc = spool_rec_encode(r, &buf, &len);
    if (rc < 0)
        return rc;
    rc = store_bytes(s, sub, name, buf, len);
    free(buf);
    return rc;
}

int spool_load_rec(spool_t *s, const char *sub, const char *name, spool_rec_t *out, char *why,
                   size_t whylen)
{
    spool_rec_init(out);
    set_why(why, whylen, "ok");
    char path[4096];
    int rc = spool_path(s, sub, name, path, sizeof path);
    if (rc < 0)
        return rc;
    /* O_NOFOLLOW: spool entries are files we wrote, never symlinks. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        set_why(why, whylen, "not a regular file");
        return FX_ECORRUPT;
    }
    if (st.st_size < 0 || (unsigned long long)st.st_size > SPOOL_REC_MAX_FILE) {
        close(fd);
        set_why(why, whylen, "file too large (%lld bytes, limit %zu)", (long long)st.st_size,
                SPOOL_REC_MAX_FILE);
        return FX_ECORRUPT;
    }
    /* Read to EOF with one byte of room beyond the size seen, so a file that
     * grew under us is noticed as too large instead of read short. */
    size_t cap = (size_t)st.st_size + 1, n = 0;
    unsigned char *buf = fx_malloc(cap);
    for (;;) {
        ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        if (got == 0)
            break;
        n += (size_t)got;
        if (n == cap) {
            if (cap > SPOOL_REC_MAX_FILE) {
                set_why(why, whylen, "file too large (grew past %zu bytes)",
                        SPOOL_REC_MAX_FILE);
                rc = FX_ECORRUPT;
                break;
            }
            cap = cap * 2 > SPOOL_REC_MAX_FILE + 1 ? SPOOL_REC_MAX_FILE + 1 : cap * 2;
            buf = fx_realloc(buf, cap);
        }
    }
    close(fd);
    if (rc == 0)
        rc = spool_rec_decode(buf, n, out, why, whylen);
    free(buf);
    return rc;
}

int spool_store_copy(spool_t *s, const char *src_path, const char *sub, const char *name)
{
    char tmp[4096], dst[4096];
    int rc = spool_path(s, sub, name, dst, sizeof dst);
    if (rc < 0)
        return rc;
    int in = open(src_path, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -errno;
    int fd;
    rc = tmp_create(s, tmp, sizeof tmp, &fd);
    if (rc < 0) {
        close(in);
        return rc;
    }
    enum { CHUNK = 65536 };
    unsigned char *buf = fx_malloc(CHUNK);
    for (;;) {
        ssize_t got = read(in, buf, CHUNK);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        if (got == 0)
            break;
        rc = spool_write_all(fd, buf, (size_t)got);
        if (rc < 0)
            break;
    }
    free(buf);
    close(in);
    if (rc < 0) {
        close(fd);
        unlink(tmp);
        return rc;
    }
    return store_commit(s, fd, tmp, sub, name);
}

int spool_create_tmp(spool_t *s, const char *name, char *path, size_t len)
{
    int rc = spool_path(s, "tmp", name, path, len);
    if (rc < 0)
        return rc;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    if (close(fd) < 0)
        return -errno;
    return 0;
}

int spool_sync_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = hook_fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

/* XXX: if the rename succeeds and a directory fsync fails, the file stays at
 * the new place (undoing the rename could fail the same way); the caller gets
 * the error and finds the file under <to_sub> on its next scan. */
int spool_move(spool_t *s, const char *from_sub, const char *name, const char *to_sub,
               const char *to_name)
{
    char from[4096], to[4096], from_dir[4096], to_dir[4096];
    int rc = spool_path(s, from_sub, name, from, sizeof from);
    if (rc == 0)
        rc = spool_path(s, to_sub, to_name, to, sizeof to);
    if (rc == 0)
        rc = sub_path(s, from_sub, from_dir, sizeof from_dir);
    if (rc == 0)
        rc = sub_path(s, to_sub, to_dir, sizeof to_dir);
    if (rc < 0)
        return rc;
    if (hook_rename(from, to) < 0)
        return -errno;
    /* The new entry first: a crash in between leaves the file in both folders
     * at worst (a hard link on some filesystems), never in neither. */
    rc = spool_fsync_dir(to_dir);
    if (rc == 0 && strcmp(from_sub, to_sub) != 0)
        rc = spool_fsync_dir(from_dir);
    return rc;
}

int spool_quarantine(spool_t *s, const char *sub, const char *name, const char *why)
{
    if (!plain_name(sub) || !plain_name(name) || strcmp(sub, "corrupt") == 0)
        return -EINVAL;
    /* Keep earlier evidence: pick corrupt/<name>, else corrupt/<name>.1 ... .99. */
    char qname[300], qpath[4096];
    int rc = -EEXIST;
    for (int i = 0; i < 100; i++) {
        int n = i == 0 ? snprintf(qname, sizeof qname, "%s", name)
                       : snprintf(qname, sizeof qname, "%s.%d", name, i);
        if (n < 0 || (size_t)n >= sizeof qname)
            return -ENAMETOOLONG;
        rc = spool_path(s, "corrupt", qname, qpath, sizeof qpath);
        if (rc < 0)
            return rc;
        struct stat st;
        if (lstat(qpath, &st) < 0 && errno == ENOENT) {
            rc = 0;
            break;
        }
        rc = -EEXIST;
    }
    if (rc < 0)
        return rc;
    rc = spool_move(s, sub, name, "corrupt", qname);
    if (rc < 0) {
        fx_log(FX_LOG_ERR, FX_FAC_QUEUE,
               "spool: quarantine failed file=%s from=%s why=\"%s\" err=\"%s\"", name, sub,
               why != NULL ? why : "", fx_strerror(rc));
        return rc;
    }
    fx_log(FX_LOG_WARN, FX_FAC_QUEUE, "spool: quarantined file=%s from=%s to=corrupt/%s why=\"%s\"",
           name, sub, qname, why != NULL ? why : "");
    return 0;
}
