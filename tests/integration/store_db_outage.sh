# PostgreSQL goes down while faxes flow A -> B: reception and sending go on
# (the spool has every fax), `faxctl status` shows archive=down and the
# backlog; once PostgreSQL is back both nodes catch up and the archive holds
# every fax exactly once, with an intact audit chain.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_pg.sh"
fx_init store_db_outage 25
fx_start_pg
fx_start_faxd 0 a "db_dsn = $FX_DSN"
fx_start_faxd 1 b "db_dsn = $FX_DSN"
fx_pages "$FX_DIR/tx.tif" 1

# One fax with the database up.
res=$(fx_send a "$FX_DIR/tx.tif" 1) || fx_fail "send before the outage failed: $res"
archived() { [ "$(fx_sql "SELECT count(*) FROM faxes")" = "$1" ]; }
fx_wait_for "first fax archived on both sides" archived 2

fx_log "stopping PostgreSQL"
fx_stop_pg
N=3
for i in $(seq 1 $N); do
    res=$(fx_send a "$FX_DIR/tx.tif" 1) || fx_fail "send $i during the outage failed: $res"
    echo "$res"
done
[ "$(ls "$FX_DIR/b/spool/incoming/"*.rec | wc -l)" = $((N + 1)) ] || fx_fail "b did not store every fax"
down() { fx_ctl "$1" status | grep -qx "archive=down" && fx_ctl "$1" status | grep -qx "archive_backlog=$N"; }
fx_wait_for "a reports archive=down backlog=$N" down a
fx_wait_for "b reports archive=down backlog=$N" down b
fx_ctl b status
grep -q "archive: .*reason=" "$FX_DIR/b.log" || fx_fail "b logged no reason for the outage"
[ "$(grep -c "ERR.*archive:" "$FX_DIR/b.log")" -le 2 ] || fx_fail "b logged the outage more than once"

fx_log "starting PostgreSQL again"
fx_restart_pg
caught_up() { fx_ctl "$1" status | grep -qx "archive=ok" && fx_ctl "$1" status | grep -qx "archive_backlog=0"; }
fx_wait_for "a caught up" caught_up a
fx_wait_for "b caught up" caught_up b

# Every fax exactly once: the archive's ids are exactly the spools' final records.
spool_ids=$( (ls "$FX_DIR/a/spool/done/" "$FX_DIR/b/spool/incoming/") | sed -n 's/\.rec$//p' | sort)
db_ids=$(fx_sql "SELECT id FROM faxes ORDER BY id")
[ "$(echo "$spool_ids" | wc -l)" = $((2 * (N + 1))) ] || fx_fail "spool holds $(echo "$spool_ids" | wc -l) records"
[ "$spool_ids" = "$(echo "$db_ids" | sort)" ] || fx_fail "archive ids differ from the spool: $db_ids"
[ "$(fx_sql "SELECT count(*) FROM faxes WHERE direction = 'in'")" = $((N + 1)) ] || fx_fail "received count"
# No duplicated events: received faxes have exactly their two events.
[ "$(fx_sql "SELECT count(*) FROM events e JOIN faxes f ON f.id = e.fax_id WHERE f.direction = 'in'")" = $((2 * (N + 1))) ] ||
    fx_fail "received faxes do not have exactly 2 events each"
[ "$(fx_sql "SELECT count(*) FROM (SELECT fax_id, at, detail FROM events GROUP BY 1, 2, 3 HAVING count(*) > 1) d")" = 0 ] ||
    fx_fail "duplicated events"
$FAXCTL -c "$FX_DIR/a.conf" audit verify || fx_fail "audit verify after catching up"
grep -q "archive: database back, catching up" "$FX_DIR/a.log" || fx_fail "a did not log the reconnect"
fx_pass
