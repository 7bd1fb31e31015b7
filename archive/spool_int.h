/* spool_int: private declarations of the spool module (archive/spool.c).
 *
 * Only archive/ and the spool's own tests include this file.
 *
 * Fault hooks: every write(2), fsync(2) (files and directories) and rename(2)
 * the spool's store/move path performs goes through a function pointer, so
 * crash tests (STYLE.md section 10) can fail the Nth call with ENOSPC or EIO,
 * or return short writes. The pointers are process-wide: set them before any
 * thread uses a spool and do not change them while a spool call runs. */
#ifndef FAX_SPOOL_INT_H
#define FAX_SPOOL_INT_H

#include <stddef.h>
#include <sys/types.h>

/* Limits of the record format (see include/fax/spool.h). */
#define SPOOL_REC_MAX_DATA    65536u /* bytes of data in one record (64 KiB) */
#define SPOOL_REC_MAX_RECORDS 1024   /* records in one file, version and END included */
#define SPOOL_REC_HDR_LEN     5u     /* type:u8 length:u32 */
/* The largest well-formed record file; spool_load_rec() refuses anything longer. */
#define SPOOL_REC_MAX_FILE                                                                     \
    ((size_t)SPOOL_REC_MAX_RECORDS * (SPOOL_REC_HDR_LEN + SPOOL_REC_MAX_DATA))

/* Record types (one byte on disk). */
#define SPOOL_RT_VERSION 'V'
#define SPOOL_RT_ATTR    'A'
#define SPOOL_RT_END     'E'

/* Same contracts as the system calls: return -1 and set errno on failure. */
typedef ssize_t (*spool_write_fn)(int fd, const void *buf, size_t len);
typedef int (*spool_fsync_fn)(int fd);
typedef int (*spool_rename_fn)(const char *from, const char *to);

/* Installs fault hooks; a NULL argument restores the real system call. */
void spool__set_fault_hooks(spool_write_fn w, spool_fsync_fn f, spool_rename_fn r);

#endif
