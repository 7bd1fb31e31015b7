# Cluster failover (docs/cluster.md): nodes A1 and A2 share one PostgreSQL
# (cluster = yes, lease 3 s). A1 takes 3 jobs for B while B is down: they fail
# their first dial and sleep. A1 is killed -9. Once A1's lease has expired A2
# claims the three jobs (its log says so), and when B comes up they arrive
# exactly once each, page for page. A1 restarted finds that A2 owns them: it
# drops its local copies (to failed/, "taken over by node A2", not archived)
# and dials nothing, so B's count stays at 3.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_pg.sh"
fx_init store_two_nodes_failover 40
fx_start_pg

N=3
cluster_conf() {
    fx_start_node "$1" "$2" "db_dsn = $FX_DSN" "cluster = yes" "lease_seconds = 3" \
        "retry_noanswer = 2" "retry_busy = 2" "retry_nofax = 2" "retry_protocol = 2" \
        "max_dials = 1000" "max_tries = 10"
}
cluster_conf 0 A1
cluster_conf 1 A2
B_URI="sip:100@127.0.0.1:$(fx_sip_port 2)"
fx_pages "$FX_DIR/tx.tif" 2

lease_live() { fx_ctl "$1" status | grep -qx "cluster=lease"; }
fx_wait_for "A1 holds a lease" lease_live A1
fx_wait_for "A2 holds a lease" lease_live A2

# Three jobs to B, which is not running: each dial fails, the job sleeps.
ids=""
for i in $(seq 1 $N); do
    out=$(fx_ctl A1 send --no-wait "$FX_DIR/tx.tif" "$B_URI") || fx_fail "send $i: $out"
    id=$(echo "$out" | sed -n 's/^OK job=\([0-9A-F]*\).*/\1/p')
    [ -n "$id" ] || fx_fail "no job id in: $out"
    ids="$ids $id"
done
fx_log "jobs:$ids"
all_mirrored_dialled() {
    [ "$(fx_sql "SELECT count(*) FROM jobs WHERE owner = 'A1' AND NOT final
                 AND state = 'sleeping' AND tiff IS NOT NULL")" = $N ]
}
fx_wait_for "3 sleeping jobs of A1 mirrored" all_mirrored_dialled
fx_ctl A1 jobs

fx_log "killing A1"
fx_kill9 A1
taken() { [ "$(grep -c "cluster: took over job=.* from=A1" "$FX_DIR/A2.log")" = $N ]; }
fx_wait_for "A2 takes over A1's $N jobs" taken
grep "took over" "$FX_DIR/A2.log"
[ "$(fx_sql "SELECT count(*) FROM jobs WHERE owner = 'A2' AND taken_from = 'A1'")" = $N ] ||
    fx_fail "the jobs table does not name A2 as owner"
# Each takeover happened only after A1's lease had expired (database clock).
[ "$(fx_sql "SELECT count(*) FROM jobs j, nodes n WHERE n.name = 'A1' AND j.taken_from = 'A1'
             AND j.taken_at > n.lease_until")" = $N ] || fx_fail "a job was taken before A1's lease expired"
for id in $ids; do
    [ -f "$FX_DIR/A2/spool/queue/$id.rec" ] || [ -f "$FX_DIR/A2/spool/done/$id.rec" ] ||
        fx_fail "A2's spool lacks job $id"
done

fx_log "starting B"
fx_start_node 2 B
rx_count() { ls "$FX_DIR/B/spool/incoming/"*.rec 2>/dev/null | wc -l; }
all_done() {
    for id in $ids; do [ -f "$FX_DIR/A2/spool/done/$id.rec" ] || return 1; done
}
fx_wait_for "A2 finishes the $N jobs" all_done
fx_wait_idle B || fx_fail "B still has calls"
[ "$(rx_count)" = $N ] || fx_fail "B received $(rx_count) faxes, expected $N"
for f in "$FX_DIR/B/spool/incoming/"*.tif; do
    fx_expect_same "$FX_DIR/tx.tif" "$f"
done
final_rows() { [ "$(fx_sql "SELECT count(*) FROM jobs WHERE final AND state = 'done' AND owner = 'A2'")" = $N ]; }
fx_wait_for "the jobs rows are final" final_rows
[ "$(fx_sql "SELECT count(*) FROM jobs WHERE final AND tiff IS NOT NULL")" = 0 ] ||
    fx_fail "final rows still carry their image"
archived() { [ "$(fx_sql "SELECT count(*) FROM faxes WHERE direction = 'out' AND result = 'done'")" = $N ]; }
fx_wait_for "the archive holds the $N jobs as done (sent by A2)" archived
[ "$(fx_sql "SELECT count(DISTINCT node) || ':' || min(node) FROM faxes WHERE direction = 'out'")" = "1:A2" ] ||
    fx_fail "the archive does not name A2 as sender"

fx_log "restarting A1"
cluster_conf 0 A1
dropped() { [ "$(grep -c "job dropped, taken over by node A2" "$FX_DIR/A1.log")" = $N ]; }
fx_wait_for "A1 drops its $N copies" dropped
fx_wait_for "A1 holds a lease again" lease_live A1
# A1 may dial again. Its old jobs were due long ago, so had it kept one it would
# dial at once; let it hold a live lease for 3 s of database time with nothing
# queued.
t0=$(fx_sql "SELECT now()")
long_lease() { [ "$(fx_sql "SELECT heartbeat > '$t0'::timestamptz + interval '3 seconds' FROM nodes WHERE name = 'A1'")" = t ] &&
    lease_live A1; }
fx_wait_for "A1 holds its lease for 3 more seconds" long_lease
[ "$(fx_ctl A1 status | sed -n 's/^jobs_queued=//p')" = 0 ] || fx_fail "A1's queue is not empty"
for id in $ids; do
    [ -f "$FX_DIR/A1/spool/failed/$id.rec" ] || fx_fail "A1 did not move job $id to failed/"
    [ -f "$FX_DIR/A1/spool/failed/$id.tif" ] || fx_fail "A1 did not move job $id's image to failed/"
    rec=$(fx_ctl A1 job "$id")
    echo "$rec" | grep -qx "taken_over_by=A2" || fx_fail "job $id lacks taken_over_by: $rec"
    echo "$rec" | grep -q "final_reason=taken over by node A2" || fx_fail "job $id reason: $rec"
    [ ! -f "$FX_DIR/A1/spool/queue/$id.rec" ] || fx_fail "job $id still in A1's queue"
done
# A1 placed no call since its restart, and B got nothing more.
sed -n '/^==== start/h; /^==== start/!H; ${x;p}' "$FX_DIR/A1.log" | grep -q "dialing job=" &&
    fx_fail "A1 dialled after its restart"
fx_wait_idle A1 || fx_fail "A1 has calls"
[ "$(rx_count)" = $N ] || fx_fail "B's count changed to $(rx_count) after A1's restart"
# Not archived as failed by A1: the archive has each job once, done.
[ "$(fx_sql "SELECT count(*) FROM faxes WHERE direction = 'out'")" = $N ] ||
    fx_fail "the archive holds $(fx_sql "SELECT count(*) FROM faxes WHERE direction = 'out'") outbound rows"
[ "$(fx_sql "SELECT count(*) FROM faxes WHERE result <> 'done' AND direction = 'out'")" = 0 ] ||
    fx_fail "A1 archived a dropped job"
fx_check_spool A2 || fx_fail "A2's spool check"
fx_check_spool B || fx_fail "B's spool check"
fx_pass
