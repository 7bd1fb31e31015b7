# Faxgate nodes behind Kamailio's dispatcher (docs/cluster.md): Kamailio on
# 127.0.0.1 (tests/data/kamailio/kamailio.cfg) spreads calls round-robin over
# receivers R1 and R2 and probes them with OPTIONS every second. A third faxd,
# S, sends 4 faxes to Kamailio's address: both nodes get some. R2 is killed;
# once the probes have marked it down (Kamailio's dispatcher:dst-down event),
# 3 more faxes all go straight to R1 and succeed.
. "$(dirname "$0")/lib.sh"
fx_init cluster_kamailio 41
# wait_for DESCRIPTION COMMAND...: polls COMMAND every 0.2 s, generous limit.
wait_for() {
    local what=$1
    shift
    for _ in $(seq 1 1500); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    fx_fail "timed out waiting for: $what"
}
KAMAILIO=$(command -v kamailio || echo /usr/sbin/kamailio)
[ -x "$KAMAILIO" ] || fx_fail "kamailio is not installed (scripts/deps.sh installs it)"

fx_start_faxd 1 R1
fx_start_faxd 2 R2
fx_start_faxd 0 S
R1_URI="sip:127.0.0.1:$(fx_sip_port 1)"
R2_URI="sip:127.0.0.1:$(fx_sip_port 2)"
KPORT=$(fx_sip_port 9)

sed -e "s/@NODE1@/127.0.0.1:$(fx_sip_port 1)/" -e "s/@NODE2@/127.0.0.1:$(fx_sip_port 2)/" \
    "$FAX_SRC/tests/data/kamailio/dispatcher.list" > "$FX_DIR/dispatcher.list"
mkdir -p "$FX_DIR/kam"
"$KAMAILIO" -DD -E -f "$FAX_SRC/tests/data/kamailio/kamailio.cfg" -Y "$FX_DIR/kam" \
    -P "$FX_DIR/kam/kamailio.pid" -w "$FX_DIR/kam" -m 32 -M 8 \
    -A "LISTEN_PORT=$KPORT" -A "DS_LIST=\"$FX_DIR/dispatcher.list\"" -A PING_S=1 \
    > "$FX_DIR/kamailio.log" 2>&1 &
KPID=$!
FX_PIDS="$FX_PIDS $KPID"
kam_up() { kill -0 "$KPID" && ss -lun | grep -q "127.0.0.1:$KPORT "; }
wait_for "Kamailio listens on $KPORT" kam_up
fx_pages "$FX_DIR/tx.tif" 1

rx() { ls "$FX_DIR/$1/spool/incoming/"*.rec 2>/dev/null | wc -l; }
send_via_kamailio() {
    local res
    res=$(fx_ctl S send --max-dials 1 "$FX_DIR/tx.tif" "sip:100@127.0.0.1:$KPORT") ||
        fx_fail "fax $1 through Kamailio failed: $res"
    [ "$(fx_field result "$res")" = ok ] || fx_fail "fax $1: $res"
}

for i in 1 2 3 4; do send_via_kamailio "$i"; done
fx_log "R1 received $(rx R1), R2 received $(rx R2)"
[ "$(($(rx R1) + $(rx R2)))" = 4 ] || fx_fail "the nodes received $(rx R1)+$(rx R2) faxes, not 4"
[ "$(rx R1)" -ge 1 ] && [ "$(rx R2)" -ge 1 ] || fx_fail "round-robin did not reach both nodes"
grep -q "dispatcher: node down" "$FX_DIR/kamailio.log" &&
    fx_fail "Kamailio marked a live node down"

fx_log "killing R2"
kill -KILL "$FX_PID_R2"
wait "$FX_PID_R2" 2>/dev/null
r2_down() { grep -Eq "dispatcher: node down .*=$R2_URI( |\$)" "$FX_DIR/kamailio.log"; }
wait_for "Kamailio's probes mark R2 down" r2_down
grep "dispatcher: node" "$FX_DIR/kamailio.log"

before_r1=$(rx R1)
before_r2=$(rx R2)
dispatched_before=$(grep -c "dispatch: INVITE .* to node $R1_URI\$" "$FX_DIR/kamailio.log")
for i in 5 6 7; do send_via_kamailio "$i"; done
[ "$(rx R1)" = $((before_r1 + 3)) ] || fx_fail "R1 received $(($(rx R1) - before_r1)) of 3"
[ "$(rx R2)" = "$before_r2" ] || fx_fail "R2's count changed while it was dead"
# Straight to the survivor: no INVITE went to R2 or needed a failover.
[ "$(grep -c "dispatch: INVITE .* to node $R1_URI\$" "$FX_DIR/kamailio.log")" = $((dispatched_before + 3)) ] ||
    fx_fail "Kamailio did not send the 3 INVITEs to R1 directly"
grep -q "(failover)" "$FX_DIR/kamailio.log" && fx_fail "a call needed a failover after R2 was marked down"
for f in "$FX_DIR"/R1/spool/incoming/*.tif "$FX_DIR"/R2/spool/incoming/*.tif; do
    fx_expect_same "$FX_DIR/tx.tif" "$f"
done
fx_pass
