# PostgreSQL helpers for integration tests (source after lib.sh and fx_init).
# fx_start_pg: a throwaway cluster (scripts/pg.sh) in its own temp dir, torn
# down by the test's cleanup; sets FX_PG_DIR and FX_DSN.
# The cluster directory is not under $FX_DIR: as root it belongs to the
# postgres user, and $FX_DIR (mode 0700, root) is not searchable by it.
PGSH=$FAX_SRC/scripts/pg.sh
PSQL=/usr/lib/postgresql/15/bin/psql
FX_PG_DIR=""

fx_pg_cleanup() {
    if [ -n "$FX_PG_DIR" ]; then
        "$PGSH" stop "$FX_PG_DIR" >/dev/null 2>&1 || true
        if [ "${FX_KEEP:-0}" = 0 ] && [ "${FX_OK:-0}" = 1 ]; then rm -rf "$FX_PG_DIR"; fi
    fi
    fx_cleanup
}

fx_start_pg() {
    FX_PG_DIR=$(mktemp -d "/tmp/fxpg-$FX_NAME.XXXXXX")
    trap fx_pg_cleanup EXIT
    fx_log "postgresql in $FX_PG_DIR"
    FX_DSN=$("$PGSH" start "$FX_PG_DIR") || fx_fail "cannot start PostgreSQL"
}

# fx_stop_pg / fx_restart_pg: the same cluster down and up again (outage tests).
fx_stop_pg() { "$PGSH" stop "$FX_PG_DIR" || fx_fail "cannot stop PostgreSQL"; }
fx_restart_pg() { "$PGSH" start "$FX_PG_DIR" >/dev/null || fx_fail "cannot restart PostgreSQL"; }

# fx_sql SQL: one query, unaligned tuples only.
fx_sql() { $PSQL "$FX_DSN" -v ON_ERROR_STOP=1 -tAq -c "$1"; }

# fx_wait_for DESCRIPTION COMMAND...: polls COMMAND every 0.2 s, generous limit.
fx_wait_for() {
    local what=$1
    shift
    for _ in $(seq 1 1500); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    fx_fail "timed out waiting for: $what"
}
