/* spool: the node's durable local truth for faxes and jobs (Postfix-style).
 *
 * Folders under the spool root (mode 0700): tmp/ incoming/ queue/ active/
 * done/ failed/ corrupt/. A file is stored by creating it in tmp/ with
 * O_CREAT|O_EXCL (0600), writing, fsync'ing it, renaming it into place and
 * fsync'ing the directory; only then is anything acknowledged. Files are never
 * edited in place.
 *
 * Record files ("<id>.rec") are typed, length-prefixed records: a version
 * record first, an END record last. A short, unknown or unterminated record
 * makes the reader return FX_ECORRUPT with a reason, and spool_quarantine()
 * moves such a file to corrupt/ with a log line.
 *
 * Record wire format (all integers big-endian):
 *   type:u8  length:u32  data[length]
 * Types: 'V' version (data "1"), 'A' attribute ("key=value", key [a-z0-9_.]+,
 * value any bytes but NUL), 'E' end (length 0). Max record 64 KiB, max 1024
 * records per file.
 *
 * Ownership: spool_open() returns a handle freed with spool_close().
 * Threads: a spool_t may be used from any thread; each call is independent. */
#ifndef FAX_SPOOL_H
#define FAX_SPOOL_H

#include <stddef.h>

typedef struct spool spool_t;

/* A parsed record file: attributes in file order. Freed with spool_rec_free(). */
typedef struct spool_rec {
    int n;
    char **keys;
    char **values;
} spool_rec_t;

int spool_open(const char *dir, spool_t **out);
void spool_close(spool_t *s);
const char *spool_root(const spool_t *s);

/* buf = <root>/<sub>/<name>. 0 or -ENAMETOOLONG. sub and name must be plain
 * names (no '/', not "." or ".."): -EINVAL otherwise. */
int spool_path(const spool_t *s, const char *sub, const char *name, char *buf, size_t len);

/* Builder for a record file in memory. */
void spool_rec_init(spool_rec_t *r);
void spool_rec_add(spool_rec_t *r, const char *key, const char *value);
void spool_rec_addf(spool_rec_t *r, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Last value for key, or NULL. */
const char *spool_rec_get(const spool_rec_t *r, const char *key);
void spool_rec_free(spool_rec_t *r);

/* Serialises r (version first, END last) into a malloc'd buffer. */
int spool_rec_encode(const spool_rec_t *r, unsigned char **out, size_t *out_len);
/* Parses a record file image. 0, or FX_ECORRUPT with why[] a reason
 * ("record 3: unknown type 0x51 at offset 17", "no END record", ...). */
int spool_rec_decode(const unsigned char *buf, size_t len, spool_rec_t *out, char *why,
                     size_t whylen);

/* Durably stores r as <sub>/<name> (tmp, fsync, rename, fsync dir). 0 or -errno. */
int spool_store_rec(spool_t *s, const char *sub, const char *name, const spool_rec_t *r);
/* Reads <sub>/<name>; FX_ECORRUPT with why on damage, -errno on I/O errors. */
int spool_load_rec(spool_t *s, const char *sub, const char *name, spool_rec_t *out, char *why,
                   size_t whylen);
/* Durably copies an outside file into <sub>/<name> (tmp, fsync, rename, fsync dir). */
int spool_store_copy(spool_t *s, const char *src_path, const char *sub, const char *name);
/* Creates an empty file in tmp/ (O_EXCL, 0600) and returns its path, for a
 * file that grows (a fax being received). */
int spool_create_tmp(spool_t *s, const char *name, char *path, size_t len);
/* fsync of a file by path (pages written by another library); 0 or -errno. */
int spool_sync_file(const char *path);
/* Durable rename <from_sub>/<name> -> <to_sub>/<to_name> (fsyncs both dirs). */
int spool_move(spool_t *s, const char *from_sub, const char *name, const char *to_sub,
               const char *to_name);
/* Moves a damaged file to corrupt/ and logs why. */
int spool_quarantine(spool_t *s, const char *sub, const char *name, const char *why);

#endif
