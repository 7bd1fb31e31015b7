# The outbound queue's retry policy against SIPp peers, on faxd's test clock.
# faxd runs with test_clock = yes: the queue's clock moves only by
# `faxctl clock +SECONDS`, so every retry time is exact and no test step waits
# for it; real time goes only into SIP round trips. Policy: retry_busy = 30,
# retry_noanswer = 50, retry_protocol = 10, max_dials = 3, max_tries = 2.
#  a. A line that is always busy (486, RFC 3261 21.4.24): dials at 0, 30 and
#     60 s of queue time, never a second early, then the job fails because its
#     3 dials are used; `faxctl job` shows that schedule in the event list.
#  b. A line that rings and is not answered (180, then 480, 21.4.18): the same
#     with 50 s; no try is counted (the call never connected).
#  c. A number that does not exist (404, 21.4.5): fails at once, permanent,
#     after one dial.
#  d. Operator actions on a sleeping job: hold (no dial past the retry time),
#     release before the retry time (it still waits for it) and after it (it
#     dials at once), retry (dials now), cancel (no dial ever again).
#  e. Cancel of a ringing call: faxd sends CANCEL (9.1), the peer answers 487
#     (9.2); the job ends only once the call did, and the line is given back.
# Ports: faxd node 0 as lib.sh lays it out; the SIPp peers listen on SIP slots
# 5..9 of this block and put their (unused) media sockets in node 1's media
# range, which this test never starts.
. "$(dirname "$0")/lib.sh"
fx_init store_retry_policy 23
SIPP_DIR=$FAX_SRC/tests/data/sipp
MEDIA1=$((30000 + FX_BLOCK * 300 + 100))
command -v sipp >/dev/null || fx_fail "sipp is not installed"

# rp_sipp NAME SLOT SCENARIO CALLS: starts a SIPp UAS for CALLS calls on SIP
# slot SLOT and returns once its socket is bound. Sets RP_PID_<NAME>.
rp_sipp() {
    local name=$1 port sf=$3 calls=$4 pid
    port=$(fx_sip_port "$2")
    sipp -sf "$SIPP_DIR/$sf" -i 127.0.0.1 -p "$port" -mp $((MEDIA1 + $2 * 10)) -m "$calls" \
        -nostdin -trace_msg -message_file "$FX_DIR/sipp-$name-msg.log" \
        -trace_err -error_file "$FX_DIR/sipp-$name-err.log" \
        > "$FX_DIR/sipp-$name-screen.txt" 2>&1 &
    pid=$!
    FX_PIDS="$FX_PIDS $pid"
    eval "RP_PID_$name=$pid"
    while [ -z "$(ss -Hlun "sport = :$port")" ]; do
        kill -0 "$pid" 2>/dev/null || {
            cat "$FX_DIR/sipp-$name-screen.txt"
            fx_fail "sipp $name exited at start"
        }
        sleep 0.05
    done
}

# rp_sipp_done NAME: waits for SIPp NAME to end its calls; fails unless its
# scenario passed.
rp_sipp_done() {
    local name=$1 pid rc=0
    eval "pid=\$RP_PID_$name"
    while kill -0 "$pid" 2>/dev/null; do
        kill -0 "$FX_PID_a" 2>/dev/null || fx_fail "faxd exited while SIPp $name was running"
        sleep 0.05
    done
    wait "$pid" || rc=$?
    [ "$rc" = 0 ] || {
        cat "$FX_DIR/sipp-$name-screen.txt" "$FX_DIR/sipp-$name-err.log" 2>/dev/null
        fx_fail "SIPp $name scenario failed (rc=$rc)"
    }
}

# rp_invites NAME: how many INVITEs SIPp NAME received.
rp_invites() { grep -c "^INVITE sip:" "$FX_DIR/sipp-$1-msg.log" 2>/dev/null || true; }

rp_uri() { echo "sip:$1@127.0.0.1:$(fx_sip_port "$2")"; }

# rp_now: the queue clock in ms (moving it by nothing).
rp_now() { fx_ctl a clock +0 | sed -n 's/^OK now_ms=//p'; }

# rp_clock SECONDS: moves the queue clock; prints nothing.
rp_clock() {
    local out
    out=$(fx_ctl a clock "+$1") || fx_fail "faxctl clock +$1 failed: $out"
}

# rp_line ID: the job's line in `faxctl jobs` (recipient 0), empty if gone.
rp_line() { fx_ctl a jobs | grep "^$1 rcpt=0 " || true; }

# rp_get ID KEY: a key=value field of the job's line in `faxctl jobs`.
rp_get() { fx_field "$2" "$(rp_line "$1")"; }

# rp_wait_state ID STATE: waits until recipient 0 of ID is in STATE (the
# result of a call comes back after a SIP round trip).
rp_wait_state() {
    local id=$1 want=$2 st
    while :; do
        st=$(rp_get "$id" state)
        [ "$st" = "$want" ] && return 0
        kill -0 "$FX_PID_a" 2>/dev/null || fx_fail "faxd exited waiting for $id to be $want"
        [ -n "$(rp_line "$id")" ] || fx_fail "job $id left the queue waiting for state $want"
        sleep 0.05
    done
}

# rp_expect ID KEY VALUE [what]: one field of the job's line must be VALUE.
rp_expect() {
    local got
    got=$(rp_get "$1" "$2")
    [ "$got" = "$3" ] || fx_fail "${4:-job $1}: $2=$got, expected $3 ($(rp_line "$1"))"
}

# rp_wait_final ID FOLDER: waits until the job's record is in FOLDER (done or
# failed) and leaves `faxctl job ID` in $FX_DIR/job-ID.txt.
rp_wait_final() {
    local id=$1 folder=$2
    while :; do
        fx_ctl a job "$id" > "$FX_DIR/job-$id.txt" 2>&1
        grep -q "^OK folder=$folder\$" "$FX_DIR/job-$id.txt" && return 0
        grep -q "^OK folder=\(done\|failed\)\$" "$FX_DIR/job-$id.txt" &&
            fx_fail "job $id ended in $(head -n 1 "$FX_DIR/job-$id.txt"), expected $folder"
        kill -0 "$FX_PID_a" 2>/dev/null || fx_fail "faxd exited waiting for job $id to end"
        sleep 0.05
    done
}

# rp_rec ID KEY: a field of the final record fetched by rp_wait_final.
rp_rec() { sed -n "s/^$2=//p" "$FX_DIR/job-$1.txt" | head -n 1; }

# rp_dial_times ID T0: the queue-clock times of the job's dials, in ms after
# T0, from its event list ("<ms> rcpt=0 dial N of M to ...").
rp_dial_times() {
    sed -n 's/^event=\([0-9]*\) rcpt=0 dial [0-9]* of .*/\1/p' "$FX_DIR/job-$1.txt" |
        while read -r t; do echo $((t - $2)); done | tr '\n' ' ' | sed 's/ $//'
}

# rp_schedule NAME SLOT SCENARIO DELAY REASON: a peer failing every call the
# same way; checks the three dials land exactly DELAY s apart and the job
# then fails with its dials used.
rp_schedule() {
    local name=$1 slot=$2 sf=$3 delay=$4 reason=$5 t0 id out
    rp_sipp "$name" "$slot" "$sf" 3
    t0=$(rp_now)
    out=$(fx_ctl a send --no-wait "$FX_DIR/tx.tif" "$(rp_uri "$name" "$slot")") ||
        fx_fail "send to $name refused: $out"
    id=$(fx_field job "$out")
    fx_log "$name: job $id queued at queue time $t0"
    for n in 1 2; do
        # dial n went out at t0 + (n-1)*delay, synchronously with the clock move
        # (the job stays listed: its result can only make it sleep)
        rp_expect "$id" dials "$n/3" "$name dial $n"
        rp_wait_state "$id" sleeping
        rp_expect "$id" next_ms $((t0 + n * delay * 1000)) "$name retry $n"
        rp_expect "$id" tries 0/2 "$name (no call connected)"
        case "$(rp_line "$id")" in
        *"reason=\"$reason\""*) ;;
        *) fx_fail "$name: expected reason \"$reason\": $(rp_line "$id")" ;;
        esac
        # one second short of the retry time: nothing
        rp_clock $((delay - 1))
        rp_expect "$id" state sleeping "$name a second before retry $n"
        rp_expect "$id" dials "$n/3" "$name a second before retry $n"
        [ "$(rp_invites "$name")" = "$n" ] || fx_fail "$name: an INVITE before its retry time"
        rp_clock 1
    done
    # the third dial's result may already have ended the job: read its record
    rp_wait_final "$id" failed
    rp_sipp_done "$name"
    [ "$(rp_invites "$name")" = 3 ] || fx_fail "$name: $(rp_invites "$name") INVITEs, expected 3"
    [ "$(rp_rec "$id" rcpt.0.state)" = failed ] || fx_fail "$name: record state not failed"
    [ "$(rp_rec "$id" rcpt.0.dials)" = 3 ] || fx_fail "$name: record dials not 3"
    [ "$(rp_rec "$id" rcpt.0.tries)" = 0 ] || fx_fail "$name: record tries not 0"
    [ "$(rp_rec "$id" rcpt.0.reason)" = "$reason" ] || fx_fail "$name: record reason"
    case "$(rp_rec "$id" rcpt.0.final_reason)" in
    "3 dials used; last: $reason") ;;
    *) fx_fail "$name: final reason is \"$(rp_rec "$id" rcpt.0.final_reason)\"" ;;
    esac
    local times
    times=$(rp_dial_times "$id" "$t0")
    [ "$times" = "0 $((delay * 1000)) $((delay * 2000))" ] ||
        fx_fail "$name: dials at [$times] ms, expected [0 $((delay * 1000)) $((delay * 2000))]"
    [ "$(grep -c "^event=[0-9]* rcpt=0 retry in $delay s\$" "$FX_DIR/job-$id.txt")" = 2 ] ||
        fx_fail "$name: expected two 'retry in $delay s' events"
    [ -n "$(rp_line "$id")" ] && fx_fail "$name: failed job still listed in the queue"
    fx_log "$name: dials at [$times] ms of queue time, then: $(rp_rec "$id" rcpt.0.final_reason)"
}

fx_pages "$FX_DIR/tx.tif" 1
fx_start_faxd 0 a "test_clock = yes" "retry_busy = 30" "retry_noanswer = 50" \
    "retry_protocol = 10" "max_dials = 3" "max_tries = 2"

# ---- a. busy: 30 s apart ----
rp_schedule busy 5 retry_busy.xml 30 "busy (SIP 486)"

# ---- b. no answer: 50 s apart ----
rp_schedule noanswer 6 retry_noanswer.xml 50 "no answer (SIP 480)"

# ---- c. the number does not exist: one dial, no retry ----
rp_sipp notfound 7 retry_notfound.xml 1
res=$(fx_ctl a send "$FX_DIR/tx.tif" "$(rp_uri notfound 7)") &&
    fx_fail "send to a 404 succeeded: $res"
echo "$res"
[ "$(fx_field result "$res")" = failed ] || fx_fail "404: expected result=failed"
[ "$(fx_field dials "$res")" = 1 ] || fx_fail "404: expected dials=1"
case "$res" in
*'final="number does not exist (SIP 404)"'*) ;;
*) fx_fail "404: expected final=\"number does not exist (SIP 404)\"" ;;
esac
id=$(fx_field job "$res")
rp_wait_final "$id" failed
[ "$(rp_rec "$id" rcpt.0.fail)" = permanent ] || fx_fail "404: record fail is not permanent"
[ "$(grep -c "^event=[0-9]* rcpt=0 dial " "$FX_DIR/job-$id.txt")" = 1 ] || fx_fail "404: not 1 dial"
grep -q "retry in" "$FX_DIR/job-$id.txt" && fx_fail "404: a retry was scheduled"
rp_sipp_done notfound
rp_clock 3600
[ "$(rp_invites notfound)" = 1 ] || fx_fail "404: dialled again"

# ---- d. hold, release, retry and cancel of a sleeping job ----
rp_sipp ops 8 retry_busy.xml 4
t0=$(rp_now)
out=$(fx_ctl a send --no-wait --max-dials 6 "$FX_DIR/tx.tif" "$(rp_uri ops 8)") ||
    fx_fail "send refused: $out"
id=$(fx_field job "$out")
rp_wait_state "$id" sleeping
rp_expect "$id" next_ms $((t0 + 30000))
fx_ctl a hold "$id" >/dev/null || fx_fail "hold of a sleeping job refused"
rp_expect "$id" state held
fx_ctl a hold "$id" 2>/dev/null && fx_fail "a held job was held again"
rp_clock 10
# released before its retry time: it still waits for it
fx_ctl a release "$id" >/dev/null || fx_fail "release refused"
rp_expect "$id" state sleeping "released before the retry time"
rp_expect "$id" next_ms $((t0 + 30000)) "released before the retry time"
fx_ctl a release "$id" 2>/dev/null && fx_fail "a job that is not held was released"
rp_clock 19
rp_expect "$id" dials 1/6 "a second before the retry"
rp_clock 1
rp_expect "$id" dials 2/6 "at the retry time"
rp_wait_state "$id" sleeping
rp_expect "$id" next_ms $((t0 + 60000))
# held across its retry time: no dial; released after it: dials at once
fx_ctl a hold "$id" >/dev/null || fx_fail "second hold refused"
rp_clock 40
rp_expect "$id" state held "held past the retry time"
rp_expect "$id" dials 2/6 "held past the retry time"
[ "$(rp_invites ops)" = 2 ] || fx_fail "a held job dialled"
fx_ctl a release "$id" >/dev/null || fx_fail "second release refused"
rp_expect "$id" dials 3/6 "released after the retry time"
rp_wait_state "$id" sleeping
rp_expect "$id" next_ms $((t0 + 100000))
# retry of a sleeping job: dials now
fx_ctl a retry "$id" >/dev/null || fx_fail "retry of a sleeping job refused"
rp_expect "$id" dials 4/6 "after retry"
rp_wait_state "$id" sleeping
rp_expect "$id" next_ms $((t0 + 100000))
fx_ctl a cancel "$id" >/dev/null || fx_fail "cancel of a sleeping job refused"
rp_wait_final "$id" failed
[ "$(rp_rec "$id" rcpt.0.state)" = cancelled ] || fx_fail "cancelled job's record is not cancelled"
[ "$(rp_rec "$id" rcpt.0.dials)" = 4 ] || fx_fail "cancelled job: record dials not 4"
[ -n "$(rp_line "$id")" ] && fx_fail "cancelled job still listed"
fx_ctl a cancel "$id" 2>/dev/null && fx_fail "a cancelled job was cancelled again"
times=$(rp_dial_times "$id" "$t0")
[ "$times" = "0 30000 70000 70000" ] || fx_fail "operator actions: dials at [$times] ms"
grep -q "^event=$((t0 + 10000)) rcpt=0 held -> sleeping\$" "$FX_DIR/job-$id.txt" ||
    fx_fail "no 'held -> sleeping' event at the first release"
rp_sipp_done ops
rp_clock 3600
[ "$(rp_invites ops)" = 4 ] || fx_fail "a cancelled job dialled"
fx_log "operator actions: dials at [$times] ms of queue time"

# ---- e. cancel while ringing: the result waits for the call's end ----
rp_sipp ring 9 retry_ring_cancel.xml 1
fx_ctl a send "$FX_DIR/tx.tif" "$(rp_uri ring 9)" > "$FX_DIR/ring-send.txt" 2>&1 &
send_pid=$!
until grep -q "SIP/2.0 180 Ringing" "$FX_DIR/sipp-ring-msg.log" 2>/dev/null; do
    kill -0 "$send_pid" 2>/dev/null ||
        fx_fail "send to the ringing peer ended: $(cat "$FX_DIR/ring-send.txt")"
    sleep 0.05
done
id=$(fx_ctl a jobs | awk 'NR == 2 { print $1 }')
[ -n "$id" ] || fx_fail "the ringing job is not in the queue"
rp_expect "$id" state dialing "ringing"
fx_ctl a cancel "$id" >/dev/null || fx_fail "cancel of a ringing call refused"
rc=0
wait "$send_pid" || rc=$?
res=$(grep "^RESULT " "$FX_DIR/ring-send.txt")
echo "$res"
[ "$rc" = 1 ] || fx_fail "send of a cancelled job exited $rc"
[ "$(fx_field result "$res")" = cancelled ] || fx_fail "ringing: expected result=cancelled"
# The reason is the call's own, so the job ended after the call, not at the cancel.
case "$res" in
*'reason="cancelled before answer"'*) ;;
*) fx_fail "ringing: the result came before the call ended" ;;
esac
rp_sipp_done ring
grep -q "^CANCEL sip:" "$FX_DIR/sipp-ring-msg.log" || fx_fail "no CANCEL reached the peer"
rp_wait_final "$id" failed
[ "$(rp_rec "$id" rcpt.0.state)" = cancelled ] || fx_fail "ringing: record is not cancelled"
grep -q "call ended after cancel" "$FX_DIR/job-$id.txt" || fx_fail "ringing: no end-of-call event"
st=$(fx_ctl a status)
echo "$st" | grep -q "^jobs_calling=0\$" || fx_fail "a line is still counted busy: $st"
echo "$st" | grep -q "^jobs_queued=0\$" || fx_fail "jobs left in the queue: $st"
grep -q " ERR " "$FX_DIR/a.log" && fx_fail "faxd logged an error"
fx_pass
