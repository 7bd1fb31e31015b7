#!/bin/bash
# store.sh: how fast faxd stores: durable job intake, archive inserts, archive search.
#
#   tests/bench/store.sh [--out FILE.json] [--parts intake,archive,search] [--jobs N]
#                        [--conns C] [--strace-jobs M] [--arc-n N] [--rows R]
#                        [--queries Q] [--extra-sql SQL] [--build DIR] [--tmp DIR] [--keep]
#
# (1) intake: one faxd (no db_dsn, SIP on 127.0.0.1:16510, nothing dials: every job
#     is `not_before=+86400`); tests/bench/store_client sends N `SEND <tiff> <dest>
#     not_before=+86400` over C concurrent control connections (no faxctl process per
#     job). faxd acknowledges a job ("OK job=...") only after the TIFF copy and the job
#     record are fsync'd (faxd/queue.c cmd_send, archive/spool.c store_commit), so the
#     rate is the durable intake rate. Measured: jobs/s, p50/p99 ack latency, faxd's
#     CPU per job (/proc/PID/stat utime+stime), the disk's flush requests per job
#     (/proc/diskstats field 15 "flush requests completed", kernel
#     Documentation/admin-guide/iostats.rst), then a second, smaller run of M jobs
#     under `strace -c -f` for the syscalls per job (fsync, rename, openat, ...;
#     strace slows faxd down, so that run's rate is not reported). Reference, same
#     filesystem, same run: tests/bench/store_fsyncref stores the same N jobs (two
#     files each, the TIFF's and the record's sizes) the spool's way (tmp, write,
#     fsync, rename, fsync dir), one after the other (= faxd without its own
#     overhead), then as group commit (batches of 16/32/64 jobs: all tmp files,
#     fsync each or one syncfs(2), renames, one dir fsync) and as 4 parallel writers.
#     ratio = reference jobs/s / faxd jobs/s (1.0 = faxd costs nothing above fsync).
# (2) archive: a private PostgreSQL 15 (scripts/pg.sh); tests/bench/store_arcgen
#     writes N received faxes (1-page TIFF, record, arcq/ marker via arc_mark) into
#     a fresh spool; faxd is started on it with db_dsn and the clock runs until
#     `faxctl status` says archive_backlog=0. Rate = N / time from the worker's
#     first to its last "archive: archived" log line (and from faxd's start). Also
#     pg_stat_wal (WAL syncs per fax) and the CPU of faxd and of the archive's
#     PostgreSQL backend per fax.
# (3) search: R synthetic faxes (default 1,000,000) bulk-loaded with SQL into the
#     same archive's faxes table (generate_series: E.164 numbers with a skewed
#     sender distribution, 20 DIDs, a year of dates, results, remote idents, a doc
#     tsvector over id, node, numbers, ident, result, reason and ~20 words of
#     OCR-like text with an order number), ANALYZEd, then tests/bench/store_search
#     times Q calls of arc_cli_search() per kind (number, date, status, text,
#     combined): p50/p90/p99 in ms, against the target p99 < 100 ms. Each plan is
#     shown with EXPLAIN ANALYZE for one slow query of each kind.
#     --extra-sql SQL: after the first timing, run SQL (e.g. a candidate CREATE INDEX)
#     and time every kind again; both are reported ("before", "after").
# Machine load (load average, busy share of all CPUs during each part, the busiest
# other processes) goes in the JSON: the host may be running other work.
#
# Exit 0 when every part ran (targets met or not: see "targets"), 1 when a part
# failed, 2 on usage/set-up errors. The work dir is kept on failure or with --keep.
set -u

SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=""
PARTS="intake,archive,search"
JOBS=5000
CONNS=32
STRACE_JOBS=500
ARC_N=2000
ROWS=1000000
QUERIES=200
EXTRA_SQL=""
KEEP=0
TMPBASE=/tmp
BUILD=${FAX_BUILD:-$SRC/build}
SIPPORT=16510 # outside lib.sh's 15010..15999 and capacity.sh's 16500..16503

st_usage() {
    sed -n '4,6p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case $1 in
    --out) OUT=${2:-}; shift 2 || st_usage ;;
    --parts) PARTS=${2:-}; shift 2 || st_usage ;;
    --jobs) JOBS=${2:-}; shift 2 || st_usage ;;
    --conns) CONNS=${2:-}; shift 2 || st_usage ;;
    --strace-jobs) STRACE_JOBS=${2:-}; shift 2 || st_usage ;;
    --arc-n) ARC_N=${2:-}; shift 2 || st_usage ;;
    --rows) ROWS=${2:-}; shift 2 || st_usage ;;
    --queries) QUERIES=${2:-}; shift 2 || st_usage ;;
    --extra-sql) EXTRA_SQL=${2:-}; shift 2 || st_usage ;;
    --build) BUILD=${2:-}; shift 2 || st_usage ;;
    --tmp) TMPBASE=${2:-}; shift 2 || st_usage ;;
    --keep) KEEP=1; shift ;;
    -h | --help) st_usage ;;
    *) echo "store: unknown argument $1" >&2; st_usage ;;
    esac
done
for v in "$JOBS" "$CONNS" "$STRACE_JOBS" "$ARC_N" "$ROWS" "$QUERIES"; do
    case $v in '' | *[!0-9]*) echo "store: not a number: '$v'" >&2; exit 2 ;; esac
done
[ "$JOBS" -ge 1 ] && [ "$CONNS" -ge 1 ] && [ "$CONNS" -le 64 ] && [ "$ARC_N" -ge 1 ] &&
    [ "$ROWS" -ge 1000 ] && [ "$QUERIES" -ge 1 ] || st_usage
for p in $(echo "$PARTS" | tr ',' ' '); do
    case $p in intake | archive | search) ;; *) echo "store: unknown part $p" >&2; exit 2 ;; esac
done
has_part() { case ",$PARTS," in *",$1,"*) return 0 ;; esac; return 1; }

FAXD=$BUILD/faxd
FAXCTL=$BUILD/faxctl
MKPAGES=$BUILD/tests/fx_mkpages
CLIENT=$BUILD/tests/bench/store_client
REF=$BUILD/tests/bench/store_fsyncref
ARCGEN=$BUILD/tests/bench/store_arcgen
SEARCH=$BUILD/tests/bench/store_search
PGSH=$SRC/scripts/pg.sh
PSQL=/usr/lib/postgresql/15/bin/psql
for b in "$FAXD" "$FAXCTL" "$MKPAGES" "$CLIENT" "$REF" "$ARCGEN" "$SEARCH"; do
    [ -x "$b" ] || { echo "store: $b missing (build first, or --build DIR / FAX_BUILD)" >&2; exit 2; }
done
if has_part intake; then
    command -v strace > /dev/null || { echo "store: strace missing (apt-get install strace)" >&2; exit 2; }
fi
if has_part archive || has_part search; then
    [ -x "$PSQL" ] || { echo "store: $PSQL missing (PostgreSQL 15: scripts/deps.sh)" >&2; exit 2; }
fi

W=$(mktemp -d "$TMPBASE/fxstore.XXXXXX") || exit 2
chmod 0755 "$W"
[ -n "$OUT" ] || OUT=$W/store.json
ST_PIDS=""
ST_PG=""
ST_OK=0
TCK=$(getconf CLK_TCK)
NPROC=$(nproc)
DEV=$(df --output=source "$W" | tail -n 1 | sed 's|^/dev/||')
DEVBASE=$DEV
# A partition's flushes are counted on its disk: vda1 -> vda, nvme0n1p1 -> nvme0n1.
[ -d "/sys/block/$DEVBASE" ] || DEVBASE=$(echo "$DEV" | sed -E 's/p?[0-9]+$//')

st_log() { echo "[$(date +%H:%M:%S)] store: $*" >&2; }

st_stop_pids() {
    for p in $ST_PIDS; do kill -TERM "$p" 2> /dev/null; done
    for p in $ST_PIDS; do
        for _ in $(seq 1 100); do kill -0 "$p" 2> /dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2> /dev/null
    done
    ST_PIDS=""
}

st_cleanup() {
    st_stop_pids
    [ -n "$ST_PG" ] && "$PGSH" stop "$ST_PG" > /dev/null 2>&1
    if [ "$KEEP" = 0 ] && [ "$ST_OK" = 1 ]; then
        [ -n "$ST_PG" ] && rm -rf "$ST_PG"
        case $OUT in "$W"/*) ;; *) rm -rf "$W" ;; esac
    fi
}
trap st_cleanup EXIT
trap 'exit 2' INT TERM

# ---- /proc readers (proc(5)) ------------------------------------------------------

# utime+stime of a process in clock ticks (fields 14 and 15, after the comm field).
st_cpu() { sed 's/^.*) //' "/proc/$1/stat" 2> /dev/null | awk '{print $12 + $13}'; }
# "busy total" jiffies of all CPUs (first line of /proc/stat; idle and iowait are not busy).
st_machine() { awk '$1 == "cpu" {t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t}' /proc/stat; }
# iowait jiffies of all CPUs.
st_iowait() { awk '$1 == "cpu" {print $6}' /proc/stat; }
st_loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
# "writes flushes" completed on the spool's disk (iostats.rst fields 5 and 15).
st_disk() { awk -v d="$DEVBASE" '$3 == d {print $8, $20}' /proc/diskstats; }
# The busiest processes over 0.5 s (>= 5% of a core) as a JSON array of strings.
st_top_others() {
    local t
    t=$(top -b -n 2 -d 0.5 -w 200 2> /dev/null | awk '/^top -/ {blk++}
        blk == 2 && $1 ~ /^[0-9]+$/ && $9 + 0 >= 5 && k < 6 {
        printf "%s\"%s %s%%\"", (k++ ? "," : ""), $12, $9 }')
    echo "[$t]"
}
# JSON of the machine over an interval: st_mach_json "m0" "m1" "load0" "load1" top wall io0 io1
st_mach_json() {
    awk -v m0="$1" -v m1="$2" -v l0="$3" -v l1="$4" -v top="$5" -v nproc="$NPROC" \
        -v io0="$6" -v io1="$7" 'BEGIN {
        split(m0, a, " "); split(m1, b, " ")
        busy = (b[2] - a[2]) > 0 ? (b[1] - a[1]) / (b[2] - a[2]) : 0
        iow = (b[2] - a[2]) > 0 ? (io1 - io0) / (b[2] - a[2]) : 0
        printf "{\"nproc\":%d,\"loadavg_before\":\"%s\",\"loadavg_after\":\"%s\",", nproc, l0, l1
        printf "\"busy_share\":%.3f,\"busy_cores\":%.2f,\"iowait_share\":%.3f,\"busiest_others_before\":%s}", busy, busy * nproc, iow, top }'
}

# ---- faxd -------------------------------------------------------------------------

# st_start_faxd NAME [extra config lines...]: sets ST_FAXD_PID, socket $W/NAME/faxd.sock
st_start_faxd() {
    local name=$1
    shift
    mkdir -p "$W/$name"
    {
        echo "node_name = store$name"
        echo "spool_dir = $W/$name/spool"
        echo "control_socket = $W/$name/faxd.sock"
        echo "sip_address = 127.0.0.1"
        echo "sip_port = $SIPPORT"
        echo "rtp_port_min = 21000"
        echo "rtp_port_max = 21999"
        echo "log_level = info"
        for l in "$@"; do echo "$l"; done
    } > "$W/$name.conf"
    "$FAXD" -c "$W/$name.conf" > "$W/$name.log" 2>&1 &
    ST_FAXD_PID=$!
    ST_PIDS="$ST_PIDS $ST_FAXD_PID"
    for _ in $(seq 1 100); do
        "$FAXCTL" -s "$W/$name/faxd.sock" ping > /dev/null 2>&1 && return 0
        kill -0 "$ST_FAXD_PID" 2> /dev/null || { st_log "faxd $name exited at start:"; tail -n 20 "$W/$name.log" >&2; exit 2; }
        sleep 0.1
    done
    st_log "faxd $name did not come up"
    exit 2
}

st_stop_faxd() {
    kill -TERM "$1" 2> /dev/null
    for _ in $(seq 1 100); do kill -0 "$1" 2> /dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2> /dev/null
    wait "$1" 2> /dev/null
    ST_PIDS=$(echo "$ST_PIDS" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' ')
}

st_status() { "$FAXCTL" -s "$W/$1/faxd.sock" status 2> /dev/null | sed -n "s/^$2=//p"; }

# ---- (1) intake -------------------------------------------------------------------

st_intake() {
    local d=$W/intake
    mkdir -p "$d"
    local tif_bytes
    tif_bytes=$(stat -c %s "$W/tx.tif")
    # The reference's one-by-one mode right before faxd and again right after it:
    # the disk's speed drifts with other work on the host, the pair brackets it.
    # (668 bytes: a job record of this bench, one recipient; the later runs use the
    # size measured in faxd's queue/.)
    local ref_before
    ref_before=$("$REF" --dir "$d/ref" --jobs "$JOBS" --tiff-bytes "$tif_bytes" --rec-bytes 668 --mode job) ||
        { st_log "store_fsyncref failed"; return 1; }
    st_start_faxd intake
    local pid=$ST_FAXD_PID sock=$W/intake/faxd.sock
    # Warm-up (not counted): page cache, allocator, the queue's first growth.
    "$CLIENT" --socket "$sock" --tiff "$W/tx.tif" --jobs 50 --conns 4 > "$d/warmup.json" ||
        { st_log "intake warm-up failed: $(cat "$d/warmup.json")"; return 1; }
    sync
    sleep 1
    local top0 load0 m0 io0 c0 dk0 t0
    top0=$(st_top_others)
    load0=$(st_loadavg)
    m0=$(st_machine)
    io0=$(st_iowait)
    c0=$(st_cpu "$pid")
    dk0=$(st_disk)
    st_log "intake: $JOBS jobs over $CONNS connections"
    "$CLIENT" --socket "$sock" --tiff "$W/tx.tif" --jobs "$JOBS" --conns "$CONNS" > "$d/client.json"
    local crc=$?
    local c1 dk1 m1 io1 load1
    c1=$(st_cpu "$pid")
    dk1=$(st_disk)
    m1=$(st_machine)
    io1=$(st_iowait)
    load1=$(st_loadavg)
    [ "$crc" = 0 ] || st_log "intake: some jobs were refused: $(cat "$d/client.json")"
    local queued
    queued=$(st_status intake jobs_queued)
    local rec_bytes
    rec_bytes=$(find "$W/intake/spool/queue" -name '*.rec' | head -n 50 | xargs stat -c %s | awk '{s += $1; n++} END {printf "%d", n ? s / n : 600}')

    # Syscalls per job: a separate run under strace (it slows faxd down).
    st_log "intake: $STRACE_JOBS jobs under strace -c -f"
    strace -c -f -p "$pid" -o "$d/strace.txt" 2> "$d/strace.err" &
    local spid=$!
    sleep 1
    "$CLIENT" --socket "$sock" --tiff "$W/tx.tif" --jobs "$STRACE_JOBS" --conns "$CONNS" > "$d/client_strace.json"
    sleep 0.5
    kill -INT "$spid" 2> /dev/null
    wait "$spid" 2> /dev/null
    local sc
    # strace -c table: "% time  seconds  usecs/call  calls  [errors]  syscall"; the
    # epoll_wait and accept4 counts depend on how the connections arrive.
    sc=$(awk -v n="$STRACE_JOBS" '$1 ~ /^[0-9.]+$/ && $4 ~ /^[0-9]+$/ && $NF ~ /^[a-z_0-9]+$/ {
            printf "%s\"%s\":%.3f", (k++ ? "," : ""), $NF, $4 / n }' "$d/strace.txt")
    st_stop_faxd "$pid"

    # Reference on the same filesystem, same sizes, same number of jobs.
    st_log "intake: reference store_fsyncref ($JOBS jobs, $tif_bytes + $rec_bytes bytes)"
    local refs="" r
    for args in "--mode job" "--mode threads --threads 4" "--mode group --batch 16" \
        "--mode group --batch 32" "--mode group --batch 64" "--mode group --batch 32 --sync syncfs" \
        "--mode group --batch 32 --sync fdatasync"; do
        # shellcheck disable=SC2086 # args are several options
        r=$("$REF" --dir "$d/ref" --jobs "$JOBS" --tiff-bytes "$tif_bytes" --rec-bytes "$rec_bytes" $args) ||
            { st_log "store_fsyncref $args failed"; return 1; }
        refs="$refs${refs:+,}$r"
    done
    local mach
    mach=$(st_mach_json "$m0" "$m1" "$load0" "$load1" "$top0" "$io0" "$io1")
    awk -v client="$(cat "$d/client.json")" -v refs="[$refs]" -v refb="$ref_before" -v c0="$c0" -v c1="$c1" \
        -v tck="$TCK" -v dk0="$dk0" -v dk1="$dk1" -v jobs="$JOBS" -v conns="$CONNS" \
        -v queued="$queued" -v sc="$sc" -v sjobs="$STRACE_JOBS" -v mach="$mach" \
        -v tifb="$tif_bytes" -v recb="$rec_bytes" -v dev="$DEVBASE" '
    function num(s, k,   m) { if (match(s, "\"" k "\":[0-9.]+")) { m = substr(s, RSTART, RLENGTH); sub(/.*:/, "", m); return m + 0 } return 0 }
    BEGIN {
        rate = num(client, "jobs_per_s"); ok = num(client, "ok")
        split(dk0, a, " "); split(dk1, b, " ")
        cpu = (c1 - c0) / tck
        # the reference objects, in the order they were run
        n = split(refs, parts, "},{")
        ref_job = num(parts[1], "jobs_per_s")
        ref_job_b = num(refb, "jobs_per_s")
        printf "{\"jobs\":%d,\"conns\":%d,\"tiff_bytes\":%d,\"rec_bytes\":%d,\"client\":%s,", jobs, conns, tifb, recb, client
        printf "\"jobs_per_s\":%.1f,\"faxd_cpu_s\":%.2f,\"faxd_cpu_ms_per_job\":%.3f,", rate, cpu, ok ? cpu * 1000 / ok : 0
        printf "\"disk\":\"%s\",\"disk_writes_per_job\":%.2f,\"disk_flushes_per_job\":%.2f,", dev, ok ? (b[1] - a[1]) / ok : 0, ok ? (b[2] - a[2]) / ok : 0
        printf "\"queued_after\":%d,", queued
        printf "\"syscalls_per_job\":{\"jobs\":%d,%s},", sjobs, sc
        printf "\"reference_before\":%s,\"reference\":%s,", refb, refs
        printf "\"reference_job_per_s_mean\":%.1f,", (ref_job + ref_job_b) / 2
        printf "\"ratio_ref_job_over_faxd\":%.3f,", (rate > 0 ? (ref_job + ref_job_b) / 2 / rate : 0)
        printf "\"machine\":%s,", mach
        printf "\"target\":{\"jobs_per_s\":500,\"met\":%s}}", (rate >= 500 ? "true" : "false")
    }' > "$d/intake.json"
    st_log "intake: $(grep -o '"jobs_per_s":[0-9.]*' "$d/intake.json" | head -n 2 | tail -n 1) (reference job mode $(echo "$refs" | grep -o '"jobs_per_s":[0-9.]*' | head -n 1))"
    return 0
}

# ---- PostgreSQL ---------------------------------------------------------------------

st_start_pg() {
    [ -n "$ST_PG" ] && return 0
    ST_PG=$(mktemp -d /tmp/fxpg-store.XXXXXX)
    st_log "postgresql in $ST_PG"
    DSN=$("$PGSH" start "$ST_PG") || { st_log "cannot start PostgreSQL"; exit 2; }
}
st_sql() { $PSQL "$DSN" -v ON_ERROR_STOP=1 -tAq -c "$1"; }

# ---- (2) archive ------------------------------------------------------------------

st_archive() {
    local d=$W/archive
    mkdir -p "$d"
    st_start_pg
    st_log "archive: store_arcgen: $ARC_N received faxes with markers"
    "$ARCGEN" --spool "$W/arc/spool" --tiff "$W/tx.tif" --n "$ARC_N" > "$d/arcgen.out" ||
        { st_log "store_arcgen failed"; return 1; }
    # The schema first (a first faxd start migrates; no markers then), so the timed
    # start finds the tables.
    local wal0 top0 load0 m0 io0 t0 t1
    top0=$(st_top_others)
    load0=$(st_loadavg)
    m0=$(st_machine)
    io0=$(st_iowait)
    wal0=$(st_sql "SELECT wal_records, wal_bytes, wal_sync, wal_write FROM pg_stat_wal" 2> /dev/null | tr '|' ' ')
    t0=$(date +%s.%N)
    st_start_faxd arc "db_dsn = $DSN"
    local pid=$ST_FAXD_PID
    local bpid="" bc0=0 bc1
    for _ in $(seq 1 100); do
        bpid=$(st_sql "SELECT pid FROM pg_stat_activity WHERE application_name = 'faxd-archive' LIMIT 1")
        [ -n "$bpid" ] && break
        sleep 0.05
    done
    [ -n "$bpid" ] && bc0=$(st_cpu "$bpid")
    local c0
    c0=$(st_cpu "$pid")
    st_log "archive: waiting for archive_backlog=0"
    local bl=""
    for _ in $(seq 1 6000); do
        bl=$(st_status arc archive_backlog)
        [ "$bl" = 0 ] && break
        kill -0 "$pid" 2> /dev/null || { st_log "faxd died"; return 1; }
        sleep 0.1
    done
    t1=$(date +%s.%N)
    local c1 m1 io1 load1 wal1
    c1=$(st_cpu "$pid")
    bc1=$([ -n "$bpid" ] && st_cpu "$bpid")
    m1=$(st_machine)
    io1=$(st_iowait)
    load1=$(st_loadavg)
    # Backends flush their WAL counters to pg_stat_wal when idle, at most once a
    # second (PostgreSQL 15 docs 28.2.2): wait for the archive's backend.
    sleep 2
    wal1=$(st_sql "SELECT wal_records, wal_bytes, wal_sync, wal_write FROM pg_stat_wal" | tr '|' ' ')
    local rows
    rows=$(st_sql "SELECT count(*) FROM faxes")
    # First and last "archived" log lines: the worker's own span.
    local span
    # (log lines start with an ISO 8601 UTC time, "2026-11-22T02:29:53.388Z")
    span=$(grep ' archive: archived ' "$W/arc.log" | awk 'NR == 1 {f = $1} {l = $1} END {print f "|" l}')
    local ts_first ts_last
    ts_first=$(date -d "$(echo "$span" | cut -d'|' -f1)" +%s.%N 2> /dev/null)
    ts_last=$(date -d "$(echo "$span" | cut -d'|' -f2)" +%s.%N 2> /dev/null)
    st_stop_faxd "$pid"
    local mach
    mach=$(st_mach_json "$m0" "$m1" "$load0" "$load1" "$top0" "$io0" "$io1")
    awk -v n="$ARC_N" -v rows="$rows" -v t0="$t0" -v t1="$t1" -v f="${ts_first:-0}" \
        -v l="${ts_last:-0}" -v c0="$c0" -v c1="$c1" -v bc0="$bc0" -v bc1="${bc1:-0}" \
        -v tck="$TCK" -v w0="$wal0" -v w1="$wal1" -v mach="$mach" -v bl="$bl" '
    BEGIN {
        split(w0, a, " "); split(w1, b, " ")
        worker_s = (l > f) ? l - f : 0
        printf "{\"faxes\":%d,\"rows_archived\":%d,\"backlog_end\":%s,", n, rows, bl == "" ? "null" : bl
        printf "\"wall_from_start_s\":%.3f,\"per_s_from_start\":%.1f,", t1 - t0, n / (t1 - t0)
        printf "\"worker_span_s\":%.3f,\"per_s_worker\":%s,", worker_s, (worker_s > 0 ? sprintf("%.1f", (n - 1) / worker_s) : "null")
        printf "\"faxd_cpu_ms_per_fax\":%.3f,\"pg_backend_cpu_ms_per_fax\":%.3f,", (c1 - c0) / tck * 1000 / n, (bc1 - bc0) / tck * 1000 / n
        printf "\"pg_wal_per_fax\":{\"records\":%.1f,\"bytes\":%.0f,\"syncs\":%.2f,\"writes\":%.2f},", (b[1] - a[1]) / n, (b[2] - a[2]) / n, (b[3] - a[3]) / n, (b[4] - a[4]) / n
        printf "\"machine\":%s}", mach
    }' > "$d/archive.json"
    st_log "archive: $rows rows; $(grep -o '"per_s_worker":[0-9.a-z]*' "$d/archive.json")"
    [ "$rows" -ge "$ARC_N" ] && [ "$bl" = 0 ]
}

# ---- (3) search -------------------------------------------------------------------

# The bulk load of part 3 (psql variable :rows). Rows are generated in time order,
# as the archive fills, so the heap is ordered by started like a real one.
st_load_sql() {
    cat <<'SQL'
-- store.sh (3): :rows synthetic faxes straight into the archive's faxes table.
SET maintenance_work_mem = '512MB';
SET work_mem = '64MB';
CREATE TEMP TABLE st_words AS
SELECT string_to_array(
 'invoice order delivery note payment reminder account statement customer number date '
 'total amount due please find attached copy signed contract agreement page fax cover '
 'sheet urgent confidential patient prescription doctor clinic referral appointment '
 'insurance claim policy form request quote quotation price list item quantity unit '
 'shipping address street city postal code phone email reference subject dear sir madam '
 'regards sincerely thank you best kind attention department sales purchase office '
 'manager director lawyer court case file hearing notice tax vat registration bank '
 'transfer iban bic euro dollar net gross discount terms conditions warranty service '
 'repair report inspection result laboratory sample test medical record discharge summary '
 'pharmacy dosage tablets daily weeks months year january february march april may june '
 'july august september october november december monday tuesday wednesday thursday friday '
 'receipt credit debit balance overdue final cancellation confirmation booking reservation '
 'hotel room arrival departure guest tenant landlord rent lease property building permit '
 'municipality application approval rejected approved pending review enclosed documents '
 'original stamp signature witness notary certificate birth marriage translation', ' ')
 AS w;
SELECT array_length(w, 1) AS nw FROM st_words \gset
CREATE TEMP TABLE st_names AS
SELECT ARRAY['ACME GMBH','Praxis Dr. Weber','KANZLEI MUELLER & PARTNER','Stadtwerke Nord',
 'Apotheke am Markt','Hotel Seeblick','Autohaus Schmidt','Steuerberatung Kraus','Klinikum Sued',
 'Amtsgericht Mitte','Spedition Lange','Baumarkt Hoffmann','FAX','Versicherung AG',
 'Labor Dr. Berg','Notariat Fischer','Elektro Wagner','Immobilien Koch'] AS n;
INSERT INTO faxes (id, node, direction, from_number, to_number, numbers, remote_ident, started,
                   ended, pages, result, reason, t30, doc, archived_at)
SELECT id, node, dir, fromn, ton,
       CASE WHEN dir = 'in' THEN ARRAY[fromn, ton] ELSE ARRAY[ton] END,
       ident, started, started + dur, pages, res, reason,
       jsonb_build_object('rate', rate, 'ecm', 'yes', 'mode', CASE WHEN g % 3 = 0 THEN 't38' ELSE 'g711' END,
                          'duration_s', extract(epoch FROM dur)),
       to_tsvector('simple', concat_ws(' ', id, node, fromn, ton, ident, res, reason, body)),
       started + dur + interval '3 seconds'
FROM (
  SELECT g, x.*,
         upper(lpad(to_hex(((extract(epoch FROM x.started) * 1000)::bigint << 24) | (g & 16777215)), 16, '0')) AS id,
         CASE WHEN x.dir = 'in' THEN x.sender
              ELSE (ARRAY['alice','bob','carol','dave','erin','frank','grace','heidi'])[1 + g % 8] END AS fromn,
         CASE WHEN x.dir = 'in' THEN '+4940555' || lpad((g % 20)::text, 4, '0') ELSE x.sender END AS ton,
         CASE WHEN x.r3 < 0.2 THEN ''
              WHEN x.r3 < 0.6 THEN regexp_replace(x.sender, '^\+(\d\d)(\d\d)(\d+)$', '+\1 \2 \3')
              ELSE (SELECT n[1 + (x.si % array_length(n, 1))] FROM st_names) END AS ident,
         CASE WHEN x.dir = 'in' THEN
                CASE WHEN x.r4 < 0.85 THEN 'ok' WHEN x.r4 < 0.90 THEN 'partial' ELSE 'failed' END
              ELSE CASE WHEN x.r4 < 0.85 THEN 'done' WHEN x.r4 < 0.98 THEN 'failed' ELSE 'cancelled' END
         END AS res,
         (SELECT array_to_string(ARRAY(
             SELECT w[1 + floor(power(random(), 2) * :nw)::int]
             FROM generate_series(1, 10 + (g % 20)) AS k WHERE k > 0 AND g > 0), ' ')
          FROM st_words) || ' order ' || (100000 + floor(random() * 900000))::int AS body
  FROM generate_series(1, :rows) AS g,
  LATERAL (
    SELECT CASE WHEN random() < 0.7 THEN 'in' ELSE 'out' END AS dir,
           -- a year of faxes in time order, as the archive fills (heap order ~ started)
           now() - interval '365 days' + (g::float8 / :rows) * interval '365 days'
             + random() * interval '60 seconds' AS started,
           -- senders: 200,000 numbers, skewed (the busiest has ~1.7% of the faxes)
           floor(200000 * power(random(), 3))::int AS si,
           random() AS r3, random() AS r4,
           (ARRAY[14400, 9600, 14400, 7200, 4800])[1 + g % 5] AS rate,
           1 + least(floor(-ln(1 - random()) * 3)::int, 49) AS pages,
           interval '1 second' * (20 + floor(random() * 400)) AS dur,
           CASE WHEN g % 2 = 0 THEN 'node1' ELSE 'node2' END AS node
    WHERE g > 0
  ) AS x0,
  LATERAL (SELECT x0.*, '+49' || (30 + x0.si % 70)::text || lpad((1000000 + x0.si * 7)::text, 8, '0') AS sender) AS x
) AS y,
LATERAL (SELECT CASE WHEN y.res IN ('ok', 'done') THEN 'OK'
               ELSE (ARRAY['Disconnected after T.30 T2','Busy (SIP 486)','No answer (SIP 408)',
                           'T.30 T1 timeout: no fax machine','Page rejected (RTN)','Cancelled by user'])[1 + y.g % 6] END AS reason) AS rr;
ANALYZE faxes;
SQL
}


st_search() {
    local d=$W/search
    mkdir -p "$d"
    st_start_pg
    # The schema: a faxd start with db_dsn migrates it (part 2 did, unless skipped).
    if [ "$(st_sql "SELECT to_regclass('faxes') IS NOT NULL")" != t ]; then
        mkdir -p "$W/mig"
        st_start_faxd mig "db_dsn = $DSN"
        for _ in $(seq 1 100); do
            [ "$(st_sql "SELECT to_regclass('faxes') IS NOT NULL")" = t ] && break
            sleep 0.1
        done
        st_stop_faxd "$ST_FAXD_PID"
    fi
    st_log "search: loading $ROWS synthetic faxes"
    local l0 l1
    l0=$(date +%s.%N)
    st_load_sql > "$d/load.sql"
    $PSQL "$DSN" -v ON_ERROR_STOP=1 -q -v rows="$ROWS" -f "$d/load.sql" > "$d/load.out" 2>&1 ||
        { st_log "bulk load failed: $(tail -n 5 "$d/load.out")"; return 1; }
    l1=$(date +%s.%N)
    local total size
    total=$(st_sql "SELECT count(*) FROM faxes")
    size=$(st_sql "SELECT pg_total_relation_size('faxes')")
    st_log "search: $total rows, $((size / 1048576)) MiB with indexes; timing queries"
    local top0 load0 m0 io0 m1 io1 load1
    top0=$(st_top_others)
    load0=$(st_loadavg)
    m0=$(st_machine)
    io0=$(st_iowait)
    "$SEARCH" --dsn "$DSN" --n "$QUERIES" > "$d/before.json" ||
        { st_log "store_search failed"; return 1; }
    m1=$(st_machine)
    io1=$(st_iowait)
    load1=$(st_loadavg)
    local mach
    mach=$(st_mach_json "$m0" "$m1" "$load0" "$load1" "$top0" "$io0" "$io1")
    st_explain "$d/before.json" > "$d/explain_before.txt"
    local after=null fixj=null
    if [ -n "$EXTRA_SQL" ]; then
        st_log "search: running --extra-sql, then timing again"
        local f0 f1
        f0=$(date +%s.%N)
        $PSQL "$DSN" -v ON_ERROR_STOP=1 -q -c "$EXTRA_SQL" > "$d/fix.out" 2>&1 ||
            { st_log "--extra-sql failed: $(tail -n 5 "$d/fix.out")"; return 1; }
        st_sql "ANALYZE faxes"
        f1=$(date +%s.%N)
        "$SEARCH" --dsn "$DSN" --n "$QUERIES" > "$d/after.json" || { st_log "store_search failed"; return 1; }
        st_explain "$d/after.json" > "$d/explain_after.txt"
        after=$(cat "$d/after.json")
        fixj=$(awk -v a="$f0" -v b="$f1" -v q="$EXTRA_SQL" 'BEGIN {gsub(/["\\]/, " ", q); printf "{\"sql\":\"%s\",\"run_s\":%.1f}", q, b - a}')
    fi
    awk -v rows="$total" -v size="$size" -v ls="$l0" -v le="$l1" -v before="$(cat "$d/before.json")" \
        -v after="$after" -v mach="$mach" -v fix="$fixj" '
    function p99s(s,   out, k, m, rest) {
        # "kind":{..."p99":X : list each kind with p99 <= 100
        out = ""; rest = s
        while (match(rest, /"[a-z]+":\{"n":[0-9]+,"p50":[0-9.]+,"p90":[0-9.]+,"p99":[0-9.]+/)) {
            m = substr(rest, RSTART, RLENGTH); rest = substr(rest, RSTART + RLENGTH)
            k = m; sub(/^"/, "", k); sub(/".*/, "", k)
            sub(/.*"p99":/, "", m)
            out = out (out == "" ? "" : ",") "\"" k "\":{\"p99_ms\":" m ",\"met\":" (m + 0 < 100 ? "true" : "false") "}"
        }
        return "{" out "}"
    }
    BEGIN {
        printf "{\"archive_rows\":%d,\"faxes_total_bytes\":%d,\"load_s\":%.1f,", rows, size, le - ls
        printf "\"before\":%s,\"fix\":%s,\"after\":%s,", before, fix, after
        printf "\"machine\":%s,", mach
        printf "\"target\":{\"p99_ms_max\":100,\"before\":%s,\"after\":%s}}", p99s(before), after == "null" ? "null" : p99s(after)
    }' > "$d/search.json"
    st_log "search: $(grep -o '"[a-z]*":{"n":[0-9]*,"p50":[0-9.]*,"p90":[0-9.]*,"p99":[0-9.]*' "$d/before.json" | tr '\n' ' ')"
    return 0
}

# EXPLAIN (ANALYZE, BUFFERS) of the slowest query of each kind in a store_search
# result, with the WHERE clause of arc_cli.c (archive/arc_cli.c arc_cli_search:
# keep in step). Unnamed statements are planned with their parameter values, so a
# plan with literals is the plan the product gets.
st_explain() {
    grep -o '"[a-z]*":{"n":[0-9]*[^]]*' "$1" | while read -r kindline; do
        local kind q
        kind=$(echo "$kindline" | sed 's/^"\([a-z]*\)".*/\1/')
        q=$(echo "$kindline" | grep -o '"q":"[^"]*"' | head -n 1 | sed 's/^"q":"//; s/"$//')
        local num from to status text
        num=$(echo "$q" | sed -n 's/.*number=\([^ ]*\) from=.*/\1/p')
        from=$(echo "$q" | sed -n 's/.* from=\([^ ]*\) to=.*/\1/p')
        to=$(echo "$q" | sed -n 's/.* to=\([^ ]*\) status=.*/\1/p')
        status=$(echo "$q" | sed -n 's/.* status=\([^ ]*\) text=.*/\1/p')
        text=$(echo "$q" | sed -n 's/.* text=\(.*\)$/\1/p')
        lit() { [ "$1" = - ] && echo "NULL::text" || echo "'$(echo "$1" | sed "s/'/''/g")'::text"; }
        echo "== $kind: $q"
        $PSQL "$DSN" -q -c "EXPLAIN (ANALYZE, BUFFERS) SELECT id, direction, result, pages, from_number, to_number, started, remote_ident, node FROM faxes WHERE
 ($(lit "$num") IS NULL OR numbers @> ARRAY[$(lit "$num")]) AND
 ($(lit "$from") IS NULL OR started >= $(lit "$from")::timestamptz) AND
 ($(lit "$to") IS NULL OR started < CASE WHEN $(lit "$to") ~ '^\d{4}-\d{2}-\d{2}\$' THEN ($(lit "$to")::date + 1)::timestamptz ELSE $(lit "$to")::timestamptz + interval '1 microsecond' END) AND
 ($(lit "$status") IS NULL OR result = $(lit "$status")) AND
 ($(lit "$text") IS NULL OR doc @@ plainto_tsquery('simple', $(lit "$text")))
 ORDER BY started DESC, id LIMIT 100" 2>&1
    done
}

# ---- main ---------------------------------------------------------------------------

st_log "work dir $W; build $BUILD; $NPROC cores; load $(st_loadavg); disk $DEVBASE"
"$MKPAGES" "$W/tx.tif" --pages 1 --seed 7 > /dev/null || { st_log "fx_mkpages failed"; exit 2; }

allok=1
intake=null
archive=null
search=null
if has_part intake; then
    if st_intake; then intake=$(cat "$W/intake/intake.json"); else allok=0; fi
fi
if has_part archive; then
    if st_archive; then archive=$(cat "$W/archive/archive.json"); else allok=0; [ -s "$W/archive/archive.json" ] && archive=$(cat "$W/archive/archive.json"); fi
fi
if has_part search; then
    if st_search; then search=$(cat "$W/search/search.json"); else allok=0; fi
fi
{
    printf '{"bench":"store","date":"%s","host":"%s","kernel":"%s","workdir":"%s","workdir_fs":"%s","disk":"%s","disk_write_cache":"%s",' \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(uname -n)" "$(uname -r)" "$W" "$(stat -f -c %T "$W")" \
        "$DEVBASE" "$(cat "/sys/block/$DEVBASE/queue/write_cache" 2> /dev/null || echo unknown)"
    printf '"tiff":{"pages":1,"maker":"fx_mkpages --pages 1 --seed 7","bytes":%d},' "$(stat -c %s "$W/tx.tif")"
    printf '"intake":%s,"archive":%s,"search":%s}\n' "$intake" "$archive" "$search"
} > "$OUT.tmp"
if command -v jq > /dev/null 2>&1; then
    jq . "$OUT.tmp" > "$OUT" || { st_log "invalid JSON left in $OUT.tmp"; exit 2; }
    rm -f "$OUT.tmp"
else
    mv "$OUT.tmp" "$OUT"
fi
cat "$OUT"
st_log "wrote $OUT"
[ "$allok" = 1 ] && ST_OK=1 && exit 0
exit 1
