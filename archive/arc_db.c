/* arc_db: schema migrations and the one-transaction archive insert
 * (see arc_int.h). Runs on the archive worker thread (or in faxctl) with a
 * blocking libpq connection; never on an event loop.
 *
 * Migrations are versioned: schema_migrations(version) records each one
 * applied; each runs in its own transaction under a transaction-level
 * advisory lock (PostgreSQL 15 docs 9.27.10), so nodes starting together
 * apply each exactly once. Never edit a migration that has shipped: add one. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arc_int.h"
#include "fax/fx.h"

const arc__migration_t arc__migrations[] = {
    { 1, "faxes, pages, files, events with hash chain",
      "CREATE TABLE faxes (\n"
      "    id           text PRIMARY KEY,\n"
      "    node         text NOT NULL,\n"
      "    direction    text NOT NULL CHECK (direction IN ('in', 'out')),\n"
      "    from_number  text NOT NULL DEFAULT '',\n"
      "    to_number    text NOT NULL DEFAULT '',\n"
      "    numbers      text[] NOT NULL DEFAULT '{}',\n"
      "    remote_ident text NOT NULL DEFAULT '',\n"
      "    started      timestamptz NOT NULL,\n"
      "    ended        timestamptz NOT NULL,\n"
      "    pages        integer NOT NULL DEFAULT 0,\n"
      "    result       text NOT NULL,\n"
      "    reason       text NOT NULL DEFAULT '',\n"
      "    t30          jsonb NOT NULL DEFAULT '{}',\n"
      "    doc          tsvector NOT NULL DEFAULT ''::tsvector,\n"
      "    archived_at  timestamptz NOT NULL DEFAULT now()\n"
      ");\n"
      "CREATE INDEX faxes_doc ON faxes USING gin (doc);\n"
      "CREATE INDEX faxes_numbers ON faxes USING gin (numbers);\n"
      "CREATE INDEX faxes_started ON faxes (started);\n"
      "CREATE INDEX faxes_result ON faxes (result, started);\n"
      "CREATE TABLE fax_files (\n"
      "    fax_id text PRIMARY KEY REFERENCES faxes (id),\n"
      "    sha256 bytea NOT NULL,\n"
      "    size   bigint NOT NULL,\n"
      "    tiff   bytea NOT NULL\n"
      ");\n"
      "CREATE TABLE fax_pages (\n"
      "    fax_id text NOT NULL REFERENCES faxes (id),\n"
      "    page   integer NOT NULL CHECK (page >= 1),\n"
      "    width  integer NOT NULL,\n"
      "    length integer NOT NULL,\n"
      "    sha256 bytea NOT NULL,\n"
      "    PRIMARY KEY (fax_id, page)\n"
      ");\n"
      "CREATE TABLE events (\n"
      "    seq       bigserial PRIMARY KEY,\n"
      "    fax_id    text NOT NULL,\n"
      "    at        timestamptz NOT NULL,\n"
      "    kind      text NOT NULL,\n"
      "    detail    text NOT NULL,\n"
      "    prev_hash bytea NOT NULL,\n"
      "    hash      bytea NOT NULL\n"
      ");\n"
      "CREATE INDEX events_fax ON events (fax_id, seq);\n"
      "CREATE TABLE chain_head (\n"
      "    one  boolean PRIMARY KEY DEFAULT true CHECK (one),\n"
      "    seq  bigint NOT NULL,\n"
      "    hash bytea NOT NULL\n"
      ");\n" },
    /* cluster: the SQL lives with the code that uses it (arc_cluster.c). */
    { 2, "cluster: node leases and mirrored jobs", arc__cluster_schema },
};
const int arc__n_migrations = (int)(sizeof arc__migrations / sizeof arc__migrations[0]);

/* Runs one command; 0, or -EIO with the server's message in why. */
static int exec_ok(PGconn *c, const char *sql, char *why, size_t wl)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        snprintf(why, wl, "%s", PQerrorMessage(c));
        rc = -EIO;
    }
    PQclear(r);
    return rc;
}

static int exec_params(PGconn *c, const char *sql, int n, const char *const *vals,
                       const int *lens, const int *fmts, PGresult **out, char *why, size_t wl)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, vals, lens, fmts, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        snprintf(why, wl, "%s", PQerrorMessage(c));
        /* SQLSTATE classes 22 (data exception) and 23 (integrity constraint
         * violation), PostgreSQL 15 docs appendix A: this row's data is the
         * problem, not the server; anything else may pass on retry. */
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        bool data = state != NULL && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0);
        PQclear(r);
        return data ? FX_ECORRUPT : -EIO;
    }
    if (out != NULL)
        *out = r;
    else
        PQclear(r);
    return 0;
}

static void strip_nl(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
}

static void rollback(PGconn *c)
{
    PGresult *r = PQexec(c, "ROLLBACK");
    PQclear(r);
}

int arc__migrate(PGconn *c, char *why, size_t wl)
{
    char lock[128];
    snprintf(lock, sizeof lock, "SELECT pg_advisory_xact_lock(%lld)", (long long)ARC_LOCK_MIGRATE);
    int rc = exec_ok(c, "BEGIN", why, wl);
    if (rc == 0)
        rc = exec_ok(c, lock, why, wl);
    if (rc == 0)
        rc = exec_ok(c,
                     "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
                     "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
                     why, wl);
    if (rc == 0)
        rc = exec_ok(c, "COMMIT", why, wl);
    if (rc < 0) {
        rollback(c);
        strip_nl(why);
        return rc;
    }
    for (int i = 0; i < arc__n_migrations; i++) {
        const arc__migration_t *m = &arc__migrations[i];
        char ver[16];
        snprintf(ver, sizeof ver, "%d", m->version);
        const char *p[2] = { ver, m->name };
        PGresult *r = NULL;
        rc = exec_ok(c, "BEGIN", why, wl);
        if (rc == 0)
            rc = exec_ok(c, lock, why, wl);
        if (rc == 0)
            rc = exec_params(c, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, p, NULL,
                             NULL, &r, why, wl);
        bool have = rc == 0 && PQntuples(r) > 0;
        PQclear(r);
        if (rc == 0 && !have) {
            rc = exec_ok(c, m->sql, why, wl);
            if (rc == 0)
                rc = exec_params(c, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                                 2, p, NULL, NULL, NULL, why, wl);
        }
        if (rc == 0)
            rc = exec_ok(c, "COMMIT", why, wl);
        if (rc < 0) {
            rollback(c);
            strip_nl(why);
            char tmp[512];
            snprintf(tmp, sizeof tmp, "migration %d (%s): %s", m->version, m->name, why);
            fx_strlcpy(why, tmp, wl);
            return rc;
        }
        if (!have)
            fx_log(FX_LOG_NOTICE, FX_FAC_DB, "archive: applied migration version=%d name=\"%s\"",
                   m->version, m->name);
    }
    return 0;
}

/* ms since the epoch as a timestamptz expression on parameter $n (exact: no
 * floating point on the way). */
#define TS(n) "(timestamptz 'epoch' + $" #n "::bigint * interval '1 millisecond')"

int arc__store(PGconn *c, const arc__fax_t *f, const unsigned char *tiff, size_t tiff_len,
               const arc__page_t *pages, int n_pages, bool *inserted, char *why, size_t wl)
{
    *inserted = false;
    char lock[128], started[24], ended[24], npages[16];
    snprintf(lock, sizeof lock, "SELECT pg_advisory_xact_lock(%lld)", (long long)ARC_LOCK_CHAIN);
    snprintf(started, sizeof started, "%" PRIu64, f->started_ms);
    snprintf(ended, sizeof ended, "%" PRIu64, f->ended_ms);
    snprintf(npages, sizeof npages, "%d", f->pages);
    PGresult *r = NULL;
    int rc = exec_ok(c, "BEGIN", why, wl);
    /* The chain lock first: every archive write is serialised cluster-wide,
     * so seq order is insertion order is chain order. */
    if (rc == 0)
        rc = exec_ok(c, lock, why, wl);
    if (rc == 0) {
        const char *p[14] = { f->id,         f->node,   f->direction, f->from_number,
                              f->to_number,  f->numbers, f->remote_ident, started,
                              ended,         npages,     f->result,    f->reason,
                              f->t30_json,   f->doc };
        rc = exec_params(c,
                         "INSERT INTO faxes (id, node, direction, from_number, to_number, "
                         "numbers, remote_ident, started, ended, pages, result, reason, t30, doc) "
                         "VALUES ($1, $2, $3, $4, $5, $6::text[], $7, " TS(8) ", " TS(9)
                         ", $10::integer, $11, $12, $13::jsonb, to_tsvector('simple', $14)) "
                         "ON CONFLICT (id) DO NOTHING RETURNING id",
                         14, p, NULL, NULL, &r, why, wl);
    }
    if (rc == 0 && PQntuples(r) == 0) {
        /* Archived before (a marker replayed after a crash): nothing to do. */
        PQclear(r);
        rollback(c);
        return 0;
    }
    PQclear(r);
    r = NULL;
    if (rc == 0 && tiff != NULL) {
        uint8_t d[SHA256_DIGEST_LEN];
        fx_sha256(tiff, tiff_len, d);
        char size[24];
        snprintf(size, sizeof size, "%zu", tiff_len);
        const char *p[4] = { f->id, (const char *)d, size, (const char *)tiff };
        int lens[4] = { 0, SHA256_DIGEST_LEN, 0, (int)tiff_len };
        int fmts[4] = { 0, 1, 0, 1 };
        rc = exec_params(c,
                         "INSERT INTO fax_files (fax_id, sha256, size, tiff) "
                         "VALUES ($1, $2, $3::bigint, $4)",
                         4, p, lens, fmts, NULL, why, wl);
    }
    for (int i = 0; rc == 0 && i < n_pages; i++) {
        char pg[16], w[16], l[16];
        snprintf(pg, sizeof pg, "%d", pages[i].page);
        snprintf(w, sizeof w, "%" PRIu32, pages[i].width);
        snprintf(l, sizeof l, "%" PRIu32, pages[i].length);
        const char *p[5] = { f->id, pg, w, l, (const char *)pages[i].sha256 };
        int lens[5] = { 0, 0, 0, 0, SHA256_DIGEST_LEN };
        int fmts[5] = { 0, 0, 0, 0, 1 };
        rc = exec_params(c,
                         "INSERT INTO fax_pages (fax_id, page, width, length, sha256) "
                         "VALUES ($1, $2::integer, $3::integer, $4::integer, $5)",
                         5, p, lens, fmts, NULL, why, wl);
    }
    uint8_t prev[SHA256_DIGEST_LEN];
    memset(prev, 0, sizeof prev);
    if (rc == 0)
        rc = exec_params(c, "SELECT hash FROM chain_head", 0, NULL, NULL, NULL, &r, why, wl);
    if (rc == 0) {
        if (PQntuples(r) == 1) {
            size_t n = 0;
            unsigned char *h = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 0), &n);
            if (h != NULL && n == SHA256_DIGEST_LEN)
                memcpy(prev, h, n);
            else {
                snprintf(why, wl, "chain_head.hash is not a SHA-256 digest");
                rc = -EIO;
            }
            PQfreemem(h);
        }
        PQclear(r);
        r = NULL;
    }
    char last_seq[24] = "";
    for (int i = 0; rc == 0 && i < f->n_events; i++) {
        const arc__event_t *e = &f->events[i];
        uint8_t h[SHA256_DIGEST_LEN];
        arc__chain_hash(prev, f->id, e->at_ms, e->kind, e->detail, h);
        char at[24];
        snprintf(at, sizeof at, "%" PRIu64, e->at_ms);
        const char *p[6] = { f->id, at, e->kind, e->detail, (const char *)prev, (const char *)h };
        int lens[6] = { 0, 0, 0, 0, SHA256_DIGEST_LEN, SHA256_DIGEST_LEN };
        int fmts[6] = { 0, 0, 0, 0, 1, 1 };
        rc = exec_params(c,
                         "INSERT INTO events (fax_id, at, kind, detail, prev_hash, hash) "
                         "VALUES ($1, " TS(2) ", $3, $4, $5, $6) RETURNING seq",
                         6, p, lens, fmts, &r, why, wl);
        if (rc == 0) {
            fx_strlcpy(last_seq, PQgetvalue(r, 0, 0), sizeof last_seq);
            PQclear(r);
            r = NULL;
            memcpy(prev, h, sizeof prev);
        }
    }
    if (rc == 0 && last_seq[0] != '\0') {
        const char *p[2] = { last_seq, (const char *)prev };
        int lens[2] = { 0, SHA256_DIGEST_LEN };
        int fmts[2] = { 0, 1 };
        rc = exec_params(c,
                         "INSERT INTO chain_head (one, seq, hash) VALUES (true, $1::bigint, $2) "
                         "ON CONFLICT (one) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash",
                         2, p, lens, fmts, NULL, why, wl);
    }
    if (rc == 0)
        rc = exec_ok(c, "COMMIT", why, wl);
    if (rc < 0) {
        rollback(c);
        strip_nl(why);
        return rc;
    }
    *inserted = true;
    return 0;
}

void arc__quiet_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}
