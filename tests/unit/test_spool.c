/* Unit tests of the spool (archive/spool.c): record encoding and every kind of
 * damage the decoder must refuse, the folder layout, durable store/load/copy/
 * move, quarantine with its log line, name validation, and failed write/fsync/
 * rename (ENOSPC, EIO, short writes) through the module's fault hooks. Each
 * test works in its own mkdtemp() folder. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw() */
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fax/fx.h"
#include "fax/spool.h"
/* archive/ is not on the test include path; the spool's private header is
 * included by relative path on purpose (fault hooks and limits). */
#include "../../archive/spool_int.h"

/* ---- helpers ---- */

typedef struct fixture {
    char base[64];  /* mkdtemp folder */
    char root[128]; /* <base>/spool, made by spool_open */
    spool_t *s;
} fixture_t;

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->base, sizeof f->base, "/tmp/test_spool.XXXXXX");
    if (mkdtemp(f->base) == NULL)
        return -1;
    snprintf(f->root, sizeof f->root, "%s/spool", f->base);
    if (spool_open(f->root, &f->s) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    spool__set_fault_hooks(NULL, NULL, NULL);
    spool_close(f->s);
    nftw(f->base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* Number of entries in <root>/<sub> other than "." and "..". */
static int count_entries(const fixture_t *f, const char *sub)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", f->root, sub);
    DIR *d = opendir(p);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static int exists(const fixture_t *f, const char *sub, const char *name)
{
    char p[256];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s/%s", f->root, sub, name);
    return lstat(p, &st) == 0;
}

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

/* Reads a whole file (at most cap bytes) and returns its length, or -1. */
static ssize_t read_file(const char *path, unsigned char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    size_t n = 0;
    ssize_t r;
    while (n < cap && (r = read(fd, buf + n, cap - n)) > 0)
        n += (size_t)r;
    close(fd);
    return (ssize_t)n;
}

static void sample_rec(spool_rec_t *r)
{
    spool_rec_init(r);
    spool_rec_add(r, "job", "0003F2");
    spool_rec_add(r, "dest.number", "+15551234567");
    spool_rec_add(r, "note", "a=b=c");
    spool_rec_add(r, "empty", "");
    spool_rec_addf(r, "pages_2", "%d of %s", 3, "4");
}

/* Appends one record (type, length, data) to buf at *off. */
static void put_rec(unsigned char *buf, size_t *off, unsigned char type, uint32_t len,
                    const void *data, size_t data_len)
{
    buf[*off] = type;
    buf[*off + 1] = (unsigned char)(len >> 24);
    buf[*off + 2] = (unsigned char)(len >> 16);
    buf[*off + 3] = (unsigned char)(len >> 8);
    buf[*off + 4] = (unsigned char)len;
    memcpy(buf + *off + 5, data, data_len);
    *off += 5 + data_len;
}

/* ---- encode / decode ---- */

static void test_roundtrip(void **state)
{
    (void)state;
    spool_rec_t r;
    sample_rec(&r);
    /* Every byte value but NUL survives in a value. */
    char bin[256];
    for (int i = 1; i < 256; i++)
        bin[i - 1] = (char)i;
    bin[255] = '\0';
    spool_rec_add(&r, "bin", bin);
    spool_rec_add(&r, "job", "0003F3"); /* duplicate: get() returns the last */

    unsigned char *buf;
    size_t len;
    assert_int_equal(spool_rec_encode(&r, &buf, &len), 0);
    static const unsigned char head[] = { 'V', 0, 0, 0, 1, '1', 'A', 0, 0, 0, 10 };
    static const unsigned char tail[] = { 'E', 0, 0, 0, 0 };
    assert_true(len > sizeof head + sizeof tail);
    assert_memory_equal(buf, head, sizeof head);
    assert_memory_equal(buf + sizeof head, "job=0003F2", 10);
    assert_memory_equal(buf + len - 5, tail, 5);

    spool_rec_t d;
    char why[128];
    assert_int_equal(spool_rec_decode(buf, len, &d, why, sizeof why), 0);
    assert_int_equal(d.n, r.n);
    for (int i = 0; i < r.n; i++) {
        assert_string_equal(d.keys[i], r.keys[i]);
        assert_string_equal(d.values[i], r.values[i]);
    }
    assert_string_equal(spool_rec_get(&d, "job"), "0003F3");
    assert_string_equal(spool_rec_get(&d, "pages_2"), "3 of 4");
    assert_string_equal(spool_rec_get(&d, "note"), "a=b=c");
    assert_string_equal(spool_rec_get(&d, "empty"), "");
    assert_string_equal(spool_rec_get(&d, "bin"), bin);
    assert_null(spool_rec_get(&d, "missing"));

    /* Re-encoding the decoded record gives the same bytes. */
    unsigned char *buf2;
    size_t len2;
    assert_int_equal(spool_rec_encode(&d, &buf2, &len2), 0);
    assert_int_equal(len2, len);
    assert_memory_equal(buf2, buf, len);
    free(buf2);
    free(buf);
    spool_rec_free(&d);
    spool_rec_free(&r);
    assert_int_equal(r.n, 0);
    spool_rec_free(&r); /* twice is harmless */

    /* No attributes: just version and END. */
    spool_rec_init(&r);
    assert_int_equal(spool_rec_encode(&r, &buf, &len), 0);
    assert_int_equal(len, 11);
    assert_int_equal(spool_rec_decode(buf, len, &d, NULL, 0), 0);
    assert_int_equal(d.n, 0);
    free(buf);
}

static void test_encode_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = { "", "Key", "a-b", "a b", "a=b", "\xc3\xa4", "job/x" };
    unsigned char *buf = (unsigned char *)"x";
    size_t len = 1;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        spool_rec_t r;
        spool_rec_init(&r);
        spool_rec_add(&r, "ok", "1");
        spool_rec_add(&r, bad[i], "v");
        assert_int_equal(spool_rec_encode(&r, &buf, &len), -EINVAL);
        assert_null(buf);
        assert_int_equal(len, 0);
        spool_rec_free(&r);
    }

    /* Record data of exactly 64 KiB is fine, one byte more is not. */
    char *big = malloc(SPOOL_REC_MAX_DATA + 1);
    memset(big, 'x', SPOOL_REC_MAX_DATA);
    big[SPOOL_REC_MAX_DATA - 2] = '\0'; /* "k=" + 65534 = 65536 */
    spool_rec_t r;
    spool_rec_init(&r);
    spool_rec_add(&r, "k", big);
    assert_int_equal(spool_rec_encode(&r, &buf, &len), 0);
    spool_rec_t d;
    assert_int_equal(spool_rec_decode(buf, len, &d, NULL, 0), 0);
    assert_int_equal(strlen(spool_rec_get(&d, "k")), SPOOL_REC_MAX_DATA - 2);
    spool_rec_free(&d);
    free(buf);
    spool_rec_free(&r);
    big[SPOOL_REC_MAX_DATA - 2] = 'x';
    big[SPOOL_REC_MAX_DATA - 1] = '\0';
    spool_rec_add(&r, "k", big);
    assert_int_equal(spool_rec_encode(&r, &buf, &len), FX_ERANGE);
    spool_rec_free(&r);
    free(big);

    /* 1022 attributes + version + END = 1024 records: the limit. */
    for (int i = 0; i < SPOOL_REC_MAX_RECORDS - 2; i++)
        spool_rec_addf(&r, "k", "%d", i);
    assert_int_equal(spool_rec_encode(&r, &buf, &len), 0);
    assert_int_equal(spool_rec_decode(buf, len, &d, NULL, 0), 0);
    assert_int_equal(d.n, SPOOL_REC_MAX_RECORDS - 2);
    assert_string_equal(d.values[SPOOL_REC_MAX_RECORDS - 3], "1021");
    spool_rec_free(&d);
    free(buf);
    spool_rec_add(&r, "k", "one too many");
    assert_int_equal(spool_rec_encode(&r, &buf, &len), FX_ERANGE);
    spool_rec_free(&r);
}

/* Decodes buf and expects FX_ECORRUPT with `want` inside the reason. */
static void expect_corrupt(const unsigned char *buf, size_t len, const char *want)
{
    spool_rec_t d;
    char why[160];
    int rc = spool_rec_decode(buf, len, &d, why, sizeof why);
    if (rc != FX_ECORRUPT || strstr(why, want) == NULL)
        fail_msg("rc=%d why=\"%s\", wanted FX_ECORRUPT with \"%s\"", rc, why, want);
    assert_int_equal(d.n, 0);
    assert_null(d.keys);
    assert_null(d.values);
    /* A NULL or tiny why buffer is fine too. */
    assert_int_equal(spool_rec_decode(buf, len, &d, NULL, 0), FX_ECORRUPT);
    assert_int_equal(spool_rec_decode(buf, len, &d, why, 1), FX_ECORRUPT);
    assert_string_equal(why, "");
}

static void test_decode_corrupt(void **state)
{
    (void)state;
    unsigned char b[256] = { 0 };
    size_t n;

    expect_corrupt(b, 0, "empty file");

    /* truncated header: version then 3 bytes */
    n = 0;
    put_rec(b, &n, 'V', 1, "1", 1);
    memcpy(b + n, "A\0\0", 3);
    expect_corrupt(b, n + 3, "record 1: truncated header at offset 6");
    expect_corrupt(b, 3, "record 0: truncated header at offset 0");

    /* truncated data: says 10, has 4 */
    n = 0;
    put_rec(b, &n, 'V', 1, "1", 1);
    put_rec(b, &n, 'A', 10, "a=bc", 4);
    expect_corrupt(b, n, "record 1: truncated data at offset 6 (length 10, 4 bytes left)");

    /* unknown type */
    n = 0;
    put_rec(b, &n, 'V', 1, "1", 1);
    put_rec(b, &n, 'A', 3, "a=b", 3);
    put_rec(b, &n, 'Q', 0, "", 0);
    put_rec(b, &n, 'E', 0, "", 0);
    expect_corrupt(b, n, "record 2: unknown type 0x51 at offset 14");

    /* missing END */
    n = 0;
    put_rec(b, &n, 'V', 1, "1", 1);
    put_rec(b, &n, 'A', 3, "a=b", 3);
    expect_corrupt(b, n, "no END record");
    n = 0;
    put_rec(b, &n, 'V', 1, "1", 1);
    expect_corrupt(b, n, "no END record");

    /* data after END */
    n = 0;
    put_rec(b, &n, 'V', 1, "1", 1);
    put_rec(b, &n, 'E', 0, "", 0);
    b[n] = 'x';
    expect_corrupt(b, n + 1, "record 1: 1 bytes after END at offset 11");
    put_rec(b, &n, 'E', 0, "", 0);
    expect_corrupt(b, n, "bytes after END");

    /* END with data */
    n = 0;
    put_rec(b, &n, 'V', 1, "1", 1);
    put_rec(b, &n, 'E', 1, "x", 1);
    expect_corrupt(b, n, "END record with length 1");

    /* bad versions */
    n = 0;
    put_rec(b, &n, 'V', 1, "2", 1);
    put_rec(b, &n, 'E', 0, "", 0);
    expect_corrupt(b, n, "unsupported version \"2\"");
    n = 0;
    put_rec(b, &n, 'V', 2, "10", 2);
    put_rec(b, &n, 'E', 0, "", 0);
    expect_corrupt(b, n, "unsupported version \"10\"");
    n = 0;
    put_rec(b, &n, 'V', 0, "", 0);
    put_rec(b, &n, 'E', 0, "", 0);
    expect_corrupt(b, n, "unsupported version \"\"");
    n = 0;
    put_rec(b, &n, 'V', 3, "\x01\"x", 3);
    put_rec(b, &n, 'E', 0, "", 0);
    expect_corrupt(b, n, "unsupported version \"??x\""); /* control bytes never reach logs */

    /* version not first / twice */
    n = 0;
    put_rec(b, &n, 'A', 3, "a=b", 3);
    put_rec(b, &n, 'E', 0, "", 0);
    expect_corrupt(b, n, "record 0: expected version record, got type 0x41");
    n = 0;
    put_rec(b, &n, 'V', 1, "1", 1);
    put_rec(b, &n, 'V', 1, "1", 1);
    put_rec(b, &n, 'E', 0, "", 0);
    expect_corrupt(b, n, "record 1: second version record");

    /* bad attributes */
    n = 0;
    put_rec(b, &n, 'V', 1, "1", 1);
    put_rec(b, &n, 'A', 3, "abc", 3);
    put_rec(b, &n, 'E', 0, "", 0);
    expect_corrupt(b, n, "record 1: attribute without '='");
    n = 0;
    put_rec(b, &n, 'V', 1, "1", 1);
    put_rec(b, &n, 'A', 3, "A=b", 3);
    put_rec(b, &n, 'E', 0, "", 0);
    expect_corrupt(b, n, "record 1: bad attribute key \"A\"");
    n = 0;
    put_rec(b, &n, 'V', 1, "1", 1);
    put_rec(b, &n, 'A', 2, "=b", 2);
    put_rec(b, &n, 'E', 0, "", 0);
    expect_corrupt(b, n, "bad attribute key \"\"");
    n = 0;
    put_rec(b, &n, 'V', 1, "1", 1);
    put_rec(b, &n, 'A', 4, "a=\0b", 4);
    put_rec(b, &n, 'E', 0, "", 0);
    expect_corrupt(b, n, "record 1: NUL in value at offset 13");

    /* oversize record: length 65537 is refused before looking for the bytes */
    n = 0;
    put_rec(b, &n, 'V', 1, "1", 1);
    put_rec(b, &n, 'A', SPOOL_REC_MAX_DATA + 1, "a=b", 3);
    expect_corrupt(b, n, "record 1: length 65537 exceeds 65536 at offset 6");
    n = 0;
    put_rec(b, &n, 'V', 1, "1", 1);
    put_rec(b, &n, 'A', 0xffffffffu, "a=b", 3);
    expect_corrupt(b, n, "length 4294967295 exceeds");

    /* too many records: 1025 */
    size_t cap = (size_t)(SPOOL_REC_MAX_RECORDS + 1) * 8;
    unsigned char *m = malloc(cap);
    n = 0;
    put_rec(m, &n, 'V', 1, "1", 1);
    for (int i = 0; i < SPOOL_REC_MAX_RECORDS - 1; i++)
        put_rec(m, &n, 'A', 3, "a=b", 3);
    put_rec(m, &n, 'E', 0, "", 0);
    expect_corrupt(m, n, "record 1024: more than 1024 records at offset");
    /* one attribute fewer is exactly the limit */
    spool_rec_t d;
    memmove(m + 6, m + 14, n - 14);
    assert_int_equal(spool_rec_decode(m, n - 8, &d, NULL, 0), 0);
    assert_int_equal(d.n, SPOOL_REC_MAX_RECORDS - 2);
    spool_rec_free(&d);
    free(m);
}

/* Every proper prefix of a valid file, and every single-byte change of its
 * header bytes, is refused or decodes to the same thing: never a crash. */
static void test_decode_prefixes(void **state)
{
    (void)state;
    spool_rec_t r, d;
    sample_rec(&r);
    unsigned char *buf;
    size_t len;
    assert_int_equal(spool_rec_encode(&r, &buf, &len), 0);
    for (size_t i = 0; i < len; i++) {
        char why[128];
        assert_int_equal(spool_rec_decode(buf, i, &d, why, sizeof why), FX_ECORRUPT);
        assert_int_equal(d.n, 0);
    }
    /* Flipping the type byte of the first attribute record to each value. */
    for (int t = 0; t < 256; t++) {
        buf[6] = (unsigned char)t;
        int rc = spool_rec_decode(buf, len, &d, NULL, 0);
        assert_int_equal(rc, t == 'A' ? 0 : FX_ECORRUPT);
        spool_rec_free(&d);
    }
    free(buf);
    spool_rec_free(&r);
}

/* ---- folders and names ---- */

static void test_open_layout(void **state)
{
    fixture_t *f = *state;
    static const char *const subs[] = { "tmp",  "incoming", "queue",  "active",
                                        "done", "failed",   "corrupt" };
    struct stat st;
    assert_int_equal(stat(f->root, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        char p[256];
        snprintf(p, sizeof p, "%s/%s", f->root, subs[i]);
        assert_int_equal(stat(p, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 0777, 0700);
    }
    assert_string_equal(spool_root(f->s), f->root);

    /* Re-opening an existing spool works, and a trailing '/' is dropped. */
    char p[256];
    spool_t *s2;
    snprintf(p, sizeof p, "%s/", f->root);
    assert_int_equal(spool_open(p, &s2), 0);
    assert_string_equal(spool_root(s2), f->root);
    spool_close(s2);
    spool_close(NULL);

    /* Under a permissive umask the folders are still 0700. */
    mode_t old = umask(0);
    snprintf(p, sizeof p, "%s/a/b/spool2", f->base);
    assert_int_equal(spool_open(p, &s2), 0);
    spool_close(s2);
    umask(old);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    strcat(p, "/queue");
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);

    /* A sub-folder that is a file, or a root that is a file, is refused. */
    snprintf(p, sizeof p, "%s/s3", f->base);
    assert_int_equal(mkdir(p, 0700), 0);
    snprintf(p, sizeof p, "%s/s3/done", f->base);
    write_file(p, "x", 1);
    snprintf(p, sizeof p, "%s/s3", f->base);
    s2 = (spool_t *)p;
    assert_int_equal(spool_open(p, &s2), -ENOTDIR);
    assert_null(s2);
    snprintf(p, sizeof p, "%s/s3/done", f->base);
    assert_int_equal(spool_open(p, &s2), -ENOTDIR);
    /* A symlink in place of a sub-folder is not a directory either. */
    snprintf(p, sizeof p, "%s/s4", f->base);
    assert_int_equal(mkdir(p, 0700), 0);
    snprintf(p, sizeof p, "%s/s4/tmp", f->base);
    assert_int_equal(symlink("/tmp", p), 0);
    snprintf(p, sizeof p, "%s/s4", f->base);
    assert_int_equal(spool_open(p, &s2), -ENOTDIR);
    assert_int_equal(spool_open("", &s2), -EINVAL);
}

static void test_path_validation(void **state)
{
    fixture_t *f = *state;
    char buf[256], want[256];
    assert_int_equal(spool_path(f->s, "queue", "x.rec", buf, sizeof buf), 0);
    snprintf(want, sizeof want, "%s/queue/x.rec", f->root);
    assert_string_equal(buf, want);
    assert_int_equal(spool_path(f->s, "queue", "x.rec", buf, strlen(want) + 1), 0);
    assert_int_equal(spool_path(f->s, "queue", "x.rec", buf, strlen(want)), -ENAMETOOLONG);

    static const char *const bad[] = { "../x", "", ".", "..", "a/b", "/abs", "x/" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(spool_path(f->s, "queue", bad[i], buf, sizeof buf), -EINVAL);
        assert_int_equal(spool_path(f->s, bad[i], "x", buf, sizeof buf), -EINVAL);
    }
    /* Every call that takes names checks them before touching the disk. */
    spool_rec_t r;
    sample_rec(&r);
    assert_int_equal(spool_store_rec(f->s, "queue", "../x", &r), -EINVAL);
    assert_int_equal(spool_store_rec(f->s, "..", "x", &r), -EINVAL);
    spool_rec_t d;
    assert_int_equal(spool_load_rec(f->s, "queue", "../x", &d, NULL, 0), -EINVAL);
    assert_int_equal(spool_store_copy(f->s, "/etc/hostname", "queue", "../x"), -EINVAL);
    assert_int_equal(spool_create_tmp(f->s, "../x", buf, sizeof buf), -EINVAL);
    assert_int_equal(spool_store_rec(f->s, "queue", "ok", &r), 0);
    assert_int_equal(spool_move(f->s, "queue", "ok", "done", "../x"), -EINVAL);
    assert_int_equal(spool_move(f->s, "queue", "ok", "..", "x"), -EINVAL);
    assert_int_equal(spool_move(f->s, "queue", "../ok", "done", "x"), -EINVAL);
    assert_int_equal(spool_quarantine(f->s, "queue", "../ok", "x"), -EINVAL);
    assert_true(exists(f, "queue", "ok"));
    assert_int_equal(count_entries(f, "tmp"), 0);
    spool_rec_free(&r);
}

/* ---- store / load / copy / move / quarantine ---- */

static void test_store_load(void **state)
{
    fixture_t *f = *state;
    spool_rec_t r, d;
    char why[160];
    sample_rec(&r);
    assert_int_equal(spool_store_rec(f->s, "queue", "0003F2.rec", &r), 0);
    assert_int_equal(count_entries(f, "tmp"), 0);
    char p[256];
    struct stat st;
    assert_int_equal(spool_path(f->s, "queue", "0003F2.rec", p, sizeof p), 0);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    /* The file holds exactly the encoding. */
    unsigned char *enc, disk[4096];
    size_t len;
    assert_int_equal(spool_rec_encode(&r, &enc, &len), 0);
    assert_int_equal(read_file(p, disk, sizeof disk), (ssize_t)len);
    assert_memory_equal(disk, enc, len);
    free(enc);

    d.n = 99; /* out is overwritten */
    assert_int_equal(spool_load_rec(f->s, "queue", "0003F2.rec", &d, why, sizeof why), 0);
    assert_int_equal(d.n, r.n);
    assert_string_equal(spool_rec_get(&d, "dest.number"), "+15551234567");
    spool_rec_free(&d);

    /* Storing again replaces the file as a whole. */
    spool_rec_add(&r, "state", "sent");
    assert_int_equal(spool_store_rec(f->s, "queue", "0003F2.rec", &r), 0);
    assert_int_equal(spool_load_rec(f->s, "queue", "0003F2.rec", &d, why, sizeof why), 0);
    assert_string_equal(spool_rec_get(&d, "state"), "sent");
    spool_rec_free(&d);
    assert_int_equal(count_entries(f, "queue"), 1);
    assert_int_equal(count_entries(f, "tmp"), 0);

    /* A record that cannot be encoded is not stored. */
    spool_rec_add(&r, "Bad-Key", "v");
    assert_int_equal(spool_store_rec(f->s, "queue", "new.rec", &r), -EINVAL);
    assert_false(exists(f, "queue", "new.rec"));
    assert_int_equal(count_entries(f, "tmp"), 0);
    spool_rec_free(&r);

    /* Missing, damaged, symlink, directory, unknown folder. */
    assert_int_equal(spool_load_rec(f->s, "queue", "nope.rec", &d, why, sizeof why), -ENOENT);
    assert_int_equal(spool_path(f->s, "queue", "bad.rec", p, sizeof p), 0);
    write_file(p, "V\0\0\0\0011A\0\0\0\011job=0", 16);
    assert_int_equal(spool_load_rec(f->s, "queue", "bad.rec", &d, why, sizeof why),
                     FX_ECORRUPT);
    assert_string_equal(why, "record 1: truncated data at offset 6 (length 9, 5 bytes left)");
    assert_int_equal(d.n, 0);
    write_file(p, "", 0);
    assert_int_equal(spool_load_rec(f->s, "queue", "bad.rec", &d, why, sizeof why),
                     FX_ECORRUPT);
    assert_non_null(strstr(why, "empty file"));
    char link[256];
    assert_int_equal(spool_path(f->s, "queue", "link.rec", link, sizeof link), 0);
    assert_int_equal(spool_path(f->s, "queue", "0003F2.rec", p, sizeof p), 0);
    assert_int_equal(symlink(p, link), 0);
    assert_int_equal(spool_load_rec(f->s, "queue", "link.rec", &d, why, sizeof why), -ELOOP);
    assert_int_equal(spool_load_rec(f->s, "queue", "..x", &d, why, sizeof why), -ENOENT);
    assert_int_equal(spool_path(f->s, "queue", "dir.rec", p, sizeof p), 0);
    assert_int_equal(mkdir(p, 0700), 0);
    assert_int_equal(spool_load_rec(f->s, "queue", "dir.rec", &d, why, sizeof why),
                     FX_ECORRUPT);
    assert_string_equal(why, "not a regular file");
    r.n = 0;
    spool_rec_init(&r);
    assert_int_equal(spool_store_rec(f->s, "nosuch", "x.rec", &r), -ENOENT);
    assert_int_equal(count_entries(f, "tmp"), 0);
}

static void test_load_too_large(void **state)
{
    fixture_t *f = *state;
    char p[256], why[160];
    assert_int_equal(spool_path(f->s, "queue", "huge.rec", p, sizeof p), 0);
    int fd = open(p, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)SPOOL_REC_MAX_FILE + 1), 0); /* sparse */
    close(fd);
    spool_rec_t d;
    assert_int_equal(spool_load_rec(f->s, "queue", "huge.rec", &d, why, sizeof why),
                     FX_ECORRUPT);
    assert_non_null(strstr(why, "file too large"));
    assert_int_equal(d.n, 0);
}

static void test_move(void **state)
{
    fixture_t *f = *state;
    spool_rec_t r, d;
    sample_rec(&r);
    assert_int_equal(spool_store_rec(f->s, "queue", "a.rec", &r), 0);
    assert_int_equal(spool_move(f->s, "queue", "a.rec", "active", "b.rec"), 0);
    assert_false(exists(f, "queue", "a.rec"));
    assert_true(exists(f, "active", "b.rec"));
    assert_int_equal(spool_load_rec(f->s, "active", "b.rec", &d, NULL, 0), 0);
    assert_string_equal(spool_rec_get(&d, "job"), "0003F2");
    spool_rec_free(&d);
    /* Rename inside one folder. */
    assert_int_equal(spool_move(f->s, "active", "b.rec", "active", "c.rec"), 0);
    assert_true(exists(f, "active", "c.rec"));
    assert_false(exists(f, "active", "b.rec"));
    /* Missing source. */
    assert_int_equal(spool_move(f->s, "queue", "a.rec", "done", "a.rec"), -ENOENT);
    assert_false(exists(f, "done", "a.rec"));
    spool_rec_free(&r);
}

/* Runs spool_quarantine() with stderr (where fx_log writes) captured. */
static int quarantine_captured(fixture_t *f, const char *sub, const char *name, const char *why,
                               char *log, size_t loglen)
{
    char p[256];
    snprintf(p, sizeof p, "%s/log.txt", f->base);
    fflush(stderr);
    int saved = dup(2);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    int rc = spool_quarantine(f->s, sub, name, why);
    dup2(saved, 2);
    close(saved);
    ssize_t n = read_file(p, (unsigned char *)log, loglen - 1);
    assert_true(n >= 0);
    log[n] = '\0';
    unlink(p);
    return rc;
}

static void test_quarantine(void **state)
{
    fixture_t *f = *state;
    char p[256], why[160], log[4096];
    spool_rec_t d;
    assert_int_equal(spool_path(f->s, "queue", "0003F2.rec", p, sizeof p), 0);
    write_file(p, "V\0\0\0\0012", 6);
    assert_int_equal(spool_load_rec(f->s, "queue", "0003F2.rec", &d, why, sizeof why),
                     FX_ECORRUPT);
    assert_string_equal(why, "record 0: unsupported version \"2\" at offset 0");

    assert_int_equal(quarantine_captured(f, "queue", "0003F2.rec", why, log, sizeof log), 0);
    assert_false(exists(f, "queue", "0003F2.rec"));
    assert_true(exists(f, "corrupt", "0003F2.rec"));
    assert_non_null(strstr(log, "WARN spool: quarantined file=0003F2.rec from=queue "
                                "to=corrupt/0003F2.rec why=\"record 0: unsupported version"));
    assert_non_null(strchr(log, '\n'));

    /* A second damaged file of the same name keeps the first one's evidence. */
    write_file(p, "junk", 4);
    assert_int_equal(quarantine_captured(f, "queue", "0003F2.rec", "junk", log, sizeof log), 0);
    assert_true(exists(f, "corrupt", "0003F2.rec"));
    assert_true(exists(f, "corrupt", "0003F2.rec.1"));
    assert_non_null(strstr(log, "to=corrupt/0003F2.rec.1 why=\"junk\""));
    unsigned char buf[16];
    assert_int_equal(spool_path(f->s, "corrupt", "0003F2.rec.1", p, sizeof p), 0);
    assert_int_equal(read_file(p, buf, sizeof buf), 4);
    assert_memory_equal(buf, "junk", 4);

    /* Missing file: error and an ERR line. */
    assert_int_equal(quarantine_captured(f, "queue", "gone.rec", "x", log, sizeof log),
                     -ENOENT);
    assert_non_null(strstr(log, "ERR spool: quarantine failed file=gone.rec"));
    assert_int_equal(spool_quarantine(f->s, "corrupt", "0003F2.rec", "x"), -EINVAL);
}

static void test_store_copy(void **state)
{
    fixture_t *f = *state;
    size_t len = 200000; /* several read chunks */
    unsigned char *data = malloc(len), *back = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        data[i] = (unsigned char)(i * 7 + (i >> 9));
    char src[256], p[256];
    snprintf(src, sizeof src, "%s/page.tif", f->base);
    write_file(src, data, len);
    assert_int_equal(spool_store_copy(f->s, src, "incoming", "0003F2.tif"), 0);
    assert_int_equal(spool_path(f->s, "incoming", "0003F2.tif", p, sizeof p), 0);
    assert_int_equal(read_file(p, back, len + 1), (ssize_t)len);
    assert_memory_equal(back, data, len);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(count_entries(f, "tmp"), 0);

    /* An empty source copies to an empty file. */
    write_file(src, "", 0);
    assert_int_equal(spool_store_copy(f->s, src, "incoming", "empty"), 0);
    assert_int_equal(spool_path(f->s, "incoming", "empty", p, sizeof p), 0);
    assert_int_equal(read_file(p, back, len), 0);

    /* Missing source or unreadable source (a directory): nothing anywhere. */
    snprintf(src, sizeof src, "%s/nope", f->base);
    assert_int_equal(spool_store_copy(f->s, src, "incoming", "x"), -ENOENT);
    assert_int_equal(spool_store_copy(f->s, f->base, "incoming", "x"), -EISDIR);
    assert_false(exists(f, "incoming", "x"));
    assert_int_equal(count_entries(f, "tmp"), 0);
    free(data);
    free(back);
}

static void test_create_tmp(void **state)
{
    fixture_t *f = *state;
    char p[256], p2[256];
    assert_int_equal(spool_create_tmp(f->s, "rx-0003F2.tif", p, sizeof p), 0);
    assert_int_equal(spool_path(f->s, "tmp", "rx-0003F2.tif", p2, sizeof p2), 0);
    assert_string_equal(p, p2);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 0);

    /* O_EXCL: a second create of the same name fails and leaves the file alone. */
    int fd = open(p, O_WRONLY | O_APPEND);
    assert_int_equal(write(fd, "page", 4), 4);
    close(fd);
    assert_int_equal(spool_create_tmp(f->s, "rx-0003F2.tif", p2, sizeof p2), -EEXIST);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_size, 4);
    /* Also when the name is taken by a symlink (no following it). */
    assert_int_equal(spool_path(f->s, "tmp", "ln", p2, sizeof p2), 0);
    assert_int_equal(symlink("/nonexistent-spool-target", p2), 0);
    assert_int_equal(spool_create_tmp(f->s, "ln", p2, sizeof p2), -EEXIST);
    assert_int_equal(lstat("/nonexistent-spool-target", &st), -1);
    assert_int_equal(spool_create_tmp(f->s, "x", p2, 8), -ENAMETOOLONG);

    /* The received file is synced and moved into place. */
    assert_int_equal(spool_sync_file(p), 0);
    assert_int_equal(spool_sync_file("/nonexistent-spool-target"), -ENOENT);
    assert_int_equal(spool_move(f->s, "tmp", "rx-0003F2.tif", "incoming", "0003F2.tif"), 0);
    assert_true(exists(f, "incoming", "0003F2.tif"));
    assert_false(exists(f, "tmp", "rx-0003F2.tif"));
}

/* ---- fault injection ---- */

enum { FK_NONE, FK_WRITE, FK_FSYNC, FK_RENAME };
static struct {
    int kind;      /* which call fails */
    int fail_at;   /* on its Nth call (1-based) */
    int err;       /* with this errno */
    int calls;     /* calls of `kind` seen */
    int fired;     /* the fault happened */
    int short_max; /* >0: write at most this many bytes per call */
    int zero;      /* write returns 0 (no progress) */
} g_fault;

static void fault_arm(int kind, int fail_at, int err)
{
    g_fault.kind = kind;
    g_fault.fail_at = fail_at;
    g_fault.err = err;
    g_fault.calls = 0;
    g_fault.fired = 0;
}

static int fault_hit(int kind)
{
    if (g_fault.kind != kind)
        return 0;
    if (++g_fault.calls != g_fault.fail_at)
        return 0;
    g_fault.fired = 1;
    errno = g_fault.err;
    return 1;
}

static ssize_t fault_write(int fd, const void *buf, size_t len)
{
    if (fault_hit(FK_WRITE))
        return -1;
    if (g_fault.zero)
        return 0;
    if (g_fault.short_max > 0 && len > (size_t)g_fault.short_max)
        len = (size_t)g_fault.short_max;
    return write(fd, buf, len);
}

static int fault_fsync(int fd)
{
    return fault_hit(FK_FSYNC) ? -1 : fsync(fd);
}

static int fault_rename(const char *a, const char *b)
{
    return fault_hit(FK_RENAME) ? -1 : rename(a, b);
}

/* Fails each call of one kind in turn (1st, 2nd, ...) until a store gets
 * through untouched; every failed store must leave nothing behind. Returns the
 * number of failure points found. */
static int sweep(fixture_t *f, int kind, int err, int copy, const char *src)
{
    spool_rec_t r;
    sample_rec(&r);
    int points = 0;
    for (int n = 1;; n++) {
        assert_true(n < 10000);
        fault_arm(kind, n, err);
        int rc = copy ? spool_store_copy(f->s, src, "queue", "job.rec")
                      : spool_store_rec(f->s, "queue", "job.rec", &r);
        if (!g_fault.fired) {
            assert_int_equal(rc, 0);
            assert_true(exists(f, "queue", "job.rec"));
            break;
        }
        points++;
        assert_int_equal(rc, -err);
        assert_false(exists(f, "queue", "job.rec"));
        assert_int_equal(count_entries(f, "queue"), 0);
        assert_int_equal(count_entries(f, "tmp"), 0);
    }
    /* The stored file is whole. */
    spool_rec_t d;
    if (!copy) {
        assert_int_equal(spool_load_rec(f->s, "queue", "job.rec", &d, NULL, 0), 0);
        assert_int_equal(d.n, r.n);
        spool_rec_free(&d);
    }
    char p[256];
    assert_int_equal(spool_path(f->s, "queue", "job.rec", p, sizeof p), 0);
    unlink(p);
    fault_arm(FK_NONE, 0, 0);
    spool_rec_free(&r);
    return points;
}

static void test_fault_store(void **state)
{
    fixture_t *f = *state;
    spool__set_fault_hooks(fault_write, fault_fsync, fault_rename);
    static const int errs[] = { ENOSPC, EIO };
    for (int e = 0; e < 2; e++) {
        g_fault.short_max = 0;
        assert_int_equal(sweep(f, FK_WRITE, errs[e], 0, NULL), 1);
        assert_int_equal(sweep(f, FK_FSYNC, errs[e], 0, NULL), 2); /* file, then folder */
        assert_int_equal(sweep(f, FK_RENAME, errs[e], 0, NULL), 1);
        /* Short writes: the loop resumes, and a failure at any point cleans up. */
        g_fault.short_max = 3;
        spool_rec_t r;
        sample_rec(&r);
        unsigned char *enc;
        size_t len;
        assert_int_equal(spool_rec_encode(&r, &enc, &len), 0);
        free(enc);
        spool_rec_free(&r);
        assert_int_equal(sweep(f, FK_WRITE, errs[e], 0, NULL), (int)((len + 2) / 3));
        g_fault.short_max = 0;
    }

    /* store_copy goes through the same path. */
    char src[256];
    size_t big = 150000;
    unsigned char *data = malloc(big);
    memset(data, 0x5a, big);
    snprintf(src, sizeof src, "%s/src", f->base);
    write_file(src, data, big);
    free(data);
    assert_int_equal(sweep(f, FK_WRITE, ENOSPC, 1, src), 3); /* 64 KiB chunks */
    assert_int_equal(sweep(f, FK_FSYNC, EIO, 1, src), 2);
    assert_int_equal(sweep(f, FK_RENAME, EIO, 1, src), 1);

    /* A write that makes no progress is an error, not a spin. */
    g_fault.zero = 1;
    spool_rec_t r;
    sample_rec(&r);
    assert_int_equal(spool_store_rec(f->s, "queue", "z.rec", &r), -EIO);
    g_fault.zero = 0;
    assert_int_equal(count_entries(f, "tmp"), 0);
    assert_false(exists(f, "queue", "z.rec"));

    /* Replacing a file: a failure before the rename keeps the old version. */
    assert_int_equal(spool_store_rec(f->s, "queue", "old.rec", &r), 0);
    spool_rec_t r2;
    spool_rec_init(&r2);
    spool_rec_add(&r2, "job", "new");
    fault_arm(FK_RENAME, 1, EIO);
    assert_int_equal(spool_store_rec(f->s, "queue", "old.rec", &r2), -EIO);
    spool_rec_t d;
    assert_int_equal(spool_load_rec(f->s, "queue", "old.rec", &d, NULL, 0), 0);
    assert_string_equal(spool_rec_get(&d, "job"), "0003F2");
    spool_rec_free(&d);
    /* ... and when only the folder fsync fails, the new version stays (XXX in spool.c). */
    fault_arm(FK_FSYNC, 2, EIO);
    assert_int_equal(spool_store_rec(f->s, "queue", "old.rec", &r2), -EIO);
    assert_int_equal(spool_load_rec(f->s, "queue", "old.rec", &d, NULL, 0), 0);
    assert_string_equal(spool_rec_get(&d, "job"), "new");
    spool_rec_free(&d);
    assert_int_equal(count_entries(f, "tmp"), 0);

    /* move: a failed rename leaves the file where it was. */
    fault_arm(FK_RENAME, 1, EIO);
    assert_int_equal(spool_move(f->s, "queue", "old.rec", "done", "old.rec"), -EIO);
    assert_true(exists(f, "queue", "old.rec"));
    assert_false(exists(f, "done", "old.rec"));
    fault_arm(FK_FSYNC, 1, EIO);
    assert_int_equal(spool_move(f->s, "queue", "old.rec", "done", "old.rec"), -EIO);
    assert_true(exists(f, "done", "old.rec")); /* documented: the move happened */
    fault_arm(FK_FSYNC, 2, ENOSPC);
    assert_int_equal(spool_move(f->s, "done", "old.rec", "failed", "old.rec"), -ENOSPC);

    /* sync_file reports the fsync error. */
    char p[256];
    assert_int_equal(spool_path(f->s, "failed", "old.rec", p, sizeof p), 0);
    fault_arm(FK_FSYNC, 1, EIO);
    assert_int_equal(spool_sync_file(p), -EIO);

    /* Hooks reset: the real calls again, so an armed fault no longer fires. */
    spool__set_fault_hooks(NULL, NULL, NULL);
    fault_arm(FK_WRITE, 1, EIO);
    assert_int_equal(spool_store_rec(f->s, "queue", "after.rec", &r), 0);
    assert_int_equal(g_fault.fired, 0);
    fault_arm(FK_NONE, 0, 0);
    spool_rec_free(&r);
    spool_rec_free(&r2);
}

int main(void)
{
    /* Quarantine tests read the log; keep it at the default level. */
    fx_log_setup(FX_LOG_INFO, FX_FAC_ALL, "test_spool");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_encode_rejects),
        cmocka_unit_test(test_decode_corrupt),
        cmocka_unit_test(test_decode_prefixes),
        cmocka_unit_test_setup_teardown(test_open_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_move, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quarantine, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_tmp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_store, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
