/* arc_cli: faxctl's archive queries: audit verify, show, search, export
 * (see include/fax/arc.h). Synchronous libpq: faxctl is a command-line tool,
 * not an event loop. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arc_int.h"
#include "fax/arc.h"
#include "fax/fx.h"

static PGconn *cli_connect(const char *dsn, FILE *err)
{
    if (dsn == NULL || dsn[0] == '\0') {
        fprintf(err, "archive: no db_dsn in the configuration\n");
        return NULL;
    }
    PGconn *c = PQconnectdb(dsn);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(err, "archive: cannot connect: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, arc__quiet_notice, NULL);
    return c;
}

/* Parses "hex" into out (n bytes); 0 or -1. */
static int unhex(const char *s, uint8_t *out, size_t n)
{
    if (strlen(s) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

int arc_cli_verify(const char *dsn, FILE *out)
{
    PGconn *c = cli_connect(dsn, out);
    if (c == NULL)
        return -EIO;
    /* Rows one at a time (single-row mode): the chain may be long. */
    if (!PQsendQuery(c, "SELECT seq, fax_id, (extract(epoch FROM at) * 1000)::bigint, kind, "
                        "detail, encode(prev_hash, 'hex'), encode(hash, 'hex') "
                        "FROM events ORDER BY seq")
        || !PQsetSingleRowMode(c)) {
        fprintf(out, "archive: query failed: %s", PQerrorMessage(c));
        PQfinish(c);
        return -EIO;
    }
    uint8_t expect_prev[SHA256_DIGEST_LEN];
    memset(expect_prev, 0, sizeof expect_prev);
    char prev_seq[24] = "";
    long long n = 0;
    int rc = 0;
    PGresult *r;
    while ((r = PQgetResult(c)) != NULL) {
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_SINGLE_TUPLE && rc == 0) {
            const char *seq = PQgetvalue(r, 0, 0), *fax = PQgetvalue(r, 0, 1);
            uint64_t at = strtoull(PQgetvalue(r, 0, 2), NULL, 10);
            const char *kind = PQgetvalue(r, 0, 3), *detail = PQgetvalue(r, 0, 4);
            uint8_t prev[SHA256_DIGEST_LEN], hash[SHA256_DIGEST_LEN], want[SHA256_DIGEST_LEN];
            char hx[65], hy[65];
            if (unhex(PQgetvalue(r, 0, 5), prev, sizeof prev) < 0
                || unhex(PQgetvalue(r, 0, 6), hash, sizeof hash) < 0) {
                fprintf(out, "TAMPERED seq %s fax=%s: prev_hash or hash is not a SHA-256 digest\n",
                        seq, fax);
                rc = 1;
            } else if (memcmp(prev, expect_prev, sizeof prev) != 0) {
                arc__hex(prev, sizeof prev, hx);
                arc__hex(expect_prev, sizeof expect_prev, hy);
                if (prev_seq[0] != '\0')
                    fprintf(out, "TAMPERED seq %s fax=%s: broken link: prev_hash %s is not the "
                            "hash %s of the event before it (seq %s); events between them were "
                            "deleted or inserted, or seq %s was re-hashed\n",
                            seq, fax, hx, hy, prev_seq, prev_seq);
                else
                    fprintf(out, "TAMPERED seq %s fax=%s: broken link: the first event's "
                            "prev_hash %s is not all zeros; earlier events were deleted\n",
                            seq, fax, hx);
                rc = 1;
            } else {
                arc__chain_hash(prev, fax, at, kind, detail, want);
                if (memcmp(want, hash, sizeof want) != 0) {
                    arc__hex(hash, sizeof hash, hx);
                    arc__hex(want, sizeof want, hy);
                    fprintf(out, "TAMPERED seq %s fax=%s: content differs from what was hashed "
                            "(fax_id, at, kind or detail changed): stored hash %s, content "
                            "hashes to %s; detail now \"%s\"\n",
                            seq, fax, hx, hy, detail);
                    rc = 1;
                }
            }
            memcpy(expect_prev, hash, sizeof hash);
            fx_strlcpy(prev_seq, seq, sizeof prev_seq);
            n++;
        } else if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK && rc == 0) {
            fprintf(out, "archive: query failed: %s", PQerrorMessage(c));
            rc = -EIO;
        }
        PQclear(r);
    }
    if (rc == 0) {
        /* The head catches a deleted tail, which leaves no broken link. */
        r = PQexec(c, "SELECT seq, encode(hash, 'hex') FROM chain_head");
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            fprintf(out, "archive: query failed: %s", PQerrorMessage(c));
            rc = -EIO;
        } else if (PQntuples(r) == 1) {
            char hx[65];
            arc__hex(expect_prev, sizeof expect_prev, hx);
            if (strcmp(PQgetvalue(r, 0, 0), prev_seq) != 0
                || strcmp(PQgetvalue(r, 0, 1), hx) != 0) {
                fprintf(out, "TAMPERED seq %s: chain head says the last event is seq %s with "
                        "hash %s, but the last event is seq %s with hash %s; events at the end "
                        "were deleted or the head was changed\n",
                        PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1),
                        prev_seq[0] ? prev_seq : "(none)", hx);
                rc = 1;
            }
        } else if (n > 0) {
            fprintf(out, "TAMPERED: events exist but the chain head is missing\n");
            rc = 1;
        }
        PQclear(r);
    }
    if (rc == 0)
        fprintf(out, "audit ok events=%lld\n", n);
    PQfinish(c);
    return rc;
}

int arc_cli_show(const char *dsn, const char *id, FILE *out)
{
    PGconn *c = cli_connect(dsn, out);
    if (c == NULL)
        return -EIO;
    const char *p[1] = { id };
    PGresult *r = PQexecParams(
        c,
        "SELECT id, node, direction, from_number, to_number, remote_ident, "
        "to_char(started AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
        "to_char(ended AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), pages, result, "
        "reason, t30::text, (SELECT size FROM fax_files WHERE fax_id = id), "
        "(SELECT encode(sha256, 'hex') FROM fax_files WHERE fax_id = id) "
        "FROM faxes WHERE id = $1",
        1, NULL, p, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(out, "archive: query failed: %s", PQerrorMessage(c));
        rc = -EIO;
    } else if (PQntuples(r) == 0) {
        rc = FX_ENOTFOUND;
    } else {
        static const char *const names[] = { "id",      "node",   "direction", "from",
                                             "to",      "remote", "started",   "ended",
                                             "pages",   "result", "reason",    "t30",
                                             "tiff_bytes", "tiff_sha256" };
        for (int i = 0; i < 14; i++)
            if (!PQgetisnull(r, 0, i))
                fprintf(out, "%s=%s\n", names[i], PQgetvalue(r, 0, i));
    }
    PQclear(r);
    if (rc == 0) {
        r = PQexecParams(c,
                         "SELECT page, width, length, encode(sha256, 'hex') FROM fax_pages "
                         "WHERE fax_id = $1 ORDER BY page",
                         1, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(r) == PGRES_TUPLES_OK)
            for (int i = 0; i < PQntuples(r); i++)
                fprintf(out, "page %s %sx%s sha256=%s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
                        PQgetvalue(r, i, 2), PQgetvalue(r, i, 3));
        PQclear(r);
        r = PQexecParams(c,
                         "SELECT seq, to_char(at AT TIME ZONE 'UTC', "
                         "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), kind, detail FROM events "
                         "WHERE fax_id = $1 ORDER BY seq",
                         1, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(r) == PGRES_TUPLES_OK) {
            fprintf(out, "timeline:\n");
            for (int i = 0; i < PQntuples(r); i++)
                fprintf(out, "  %s seq=%s %-10s %s\n", PQgetvalue(r, i, 1), PQgetvalue(r, i, 0),
                        PQgetvalue(r, i, 2), PQgetvalue(r, i, 3));
        } else {
            fprintf(out, "archive: query failed: %s", PQerrorMessage(c));
            rc = -EIO;
        }
        PQclear(r);
    }
    PQfinish(c);
    return rc;
}

int arc_cli_search(const char *dsn, const arc_search_t *q, FILE *out)
{
    PGconn *c = cli_connect(dsn, out);
    if (c == NULL)
        return -EIO;
    char limit[16];
    snprintf(limit, sizeof limit, "%d", q->limit > 0 ? q->limit : 100);
    const char *p[6] = { q->number, q->from, q->to, q->status, q->text, limit };
    /* A NULL parameter is SQL NULL: that criterion is off. A bare date as the
     * upper bound includes its whole day. */
    PGresult *r = PQexecParams(
        c,
        "SELECT id, direction, result, pages, from_number, to_number, "
        "to_char(started AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), remote_ident, node "
        "FROM faxes WHERE "
        "($1::text IS NULL OR numbers @> ARRAY[$1::text]) AND "
        "($2::text IS NULL OR started >= $2::timestamptz) AND "
        "($3::text IS NULL OR started < CASE WHEN $3 ~ '^\\d{4}-\\d{2}-\\d{2}$' "
        "  THEN ($3::date + 1)::timestamptz ELSE $3::timestamptz + interval '1 microsecond' END) "
        "AND ($4::text IS NULL OR result = $4) AND "
        "($5::text IS NULL OR doc @@ plainto_tsquery('simple', $5)) "
        "ORDER BY started DESC, id LIMIT $6::integer",
        6, NULL, p, NULL, NULL, 0);
    int rc;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(out, "archive: search failed: %s", PQerrorMessage(c));
        rc = -EIO;
    } else {
        rc = PQntuples(r);
        for (int i = 0; i < rc; i++)
            fprintf(out, "%s dir=%s result=%s pages=%s from=%s to=%s started=%s remote=\"%s\" "
                    "node=%s\n",
                    PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
                    PQgetvalue(r, i, 3), PQgetvalue(r, i, 4), PQgetvalue(r, i, 5),
                    PQgetvalue(r, i, 6), PQgetvalue(r, i, 7), PQgetvalue(r, i, 8));
    }
    PQclear(r);
    PQfinish(c);
    return rc;
}

int arc_cli_export_pdf(const char *dsn, const char *id, const char *out_pdf, FILE *err)
{
    PGconn *c = cli_connect(dsn, err);
    if (c == NULL)
        return -EIO;
    const char *p[1] = { id };
    /* Binary result: the bytea arrives as raw bytes. */
    PGresult *r = PQexecParams(c, "SELECT tiff FROM fax_files WHERE fax_id = $1", 1, NULL, p,
                               NULL, NULL, 1);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(err, "archive: query failed: %s", PQerrorMessage(c));
        rc = -EIO;
    } else if (PQntuples(r) == 0) {
        rc = FX_ENOTFOUND;
    }
    char tmp[] = "/tmp/faxctl-export.XXXXXX";
    int fd = -1;
    if (rc == 0) {
        fd = mkstemp(tmp);
        if (fd < 0)
            rc = -errno;
    }
    if (rc == 0) {
        rc = fx_write_all(fd, PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0));
        if (close(fd) < 0 && rc == 0)
            rc = -errno;
    }
    PQclear(r);
    PQfinish(c);
    if (rc == 0) {
        pid_t pid = fork();
        if (pid < 0) {
            rc = -errno;
        } else if (pid == 0) {
            execlp("tiff2pdf", "tiff2pdf", "-o", out_pdf, tmp, (char *)NULL);
            fprintf(err, "archive: cannot run tiff2pdf (libtiff-tools): %s\n", strerror(errno));
            _exit(127);
        } else {
            int status = 0;
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(err, "archive: tiff2pdf failed (status %d)\n", status);
                rc = -EIO;
            }
        }
    }
    if (fd >= 0)
        unlink(tmp);
    return rc;
}
