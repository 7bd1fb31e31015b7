# SIP trunks with digest authentication, against SIPp playing the carrier.
#  1. faxd A registers to the trunk: 401 challenge, REGISTER with credentials
#     checked by SIPp's <verifyauth>, 200 OK (RFC 3261 10.2, 22.2; RFC 2617).
#  2. A sends a fax to a plain number: it goes through the trunk, the 407
#     challenge is answered with Proxy-Authorization (RFC 3261 22.3), and the
#     carrier says 486 Busy Here: the job fails with "busy (SIP 486)".
#  3. faxd B has the wrong password: the registrar answers 403, B logs it and
#     keeps running; B's INVITE credentials are refused too (403).
#  4. faxd C's only trunk takes numbers starting with 9: dialling 15551234567
#     fails at once with "no trunk configured for that number".
# Ports: faxd nodes 0..2 as lib.sh lays them out; the two SIPp carriers listen
# on SIP slots 5 and 6 of this block and put their (unused) RTP echo sockets at
# the top of node 2's media range, which C never uses (its call is never dialled).
. "$(dirname "$0")/lib.sh"
fx_init sip_trunk_register_auth 22
SIPP_DIR=$FAX_SRC/tests/data/sipp
CARRIER1=$(fx_sip_port 5)
CARRIER2=$(fx_sip_port 6)
MEDIA_TOP=$((30000 + FX_BLOCK * 300 + 2 * 100 + 80))
command -v sipp >/dev/null || fx_fail "sipp is not installed"

# Must match the nonce in trunk_invite_busy.xml.
INVITE_NONCE=f00dcafe5eed1e55

trk_md5() { printf '%s' "$1" | md5sum | cut -d' ' -f1; }

# trk_digest USER PASSWORD METHOD URI: the RFC 2617 3.2.2.1 response for a
# challenge without qop (realm carrier.example, nonce INVITE_NONCE).
trk_digest() {
    local ha1 ha2
    ha1=$(trk_md5 "$1:carrier.example:$2")
    ha2=$(trk_md5 "$3:$4")
    trk_md5 "$ha1:$INVITE_NONCE:$ha2"
}

# trk_sipp NAME PORT SCENARIO [sipp options]: starts one SIPp UAS for one call
# in the background and returns once its SIP socket is bound (otherwise the
# first request would meet ICMP port unreachable). Sets TRK_SIPP_PID.
trk_sipp() {
    local name=$1 port=$2 sf=$3 mp=$4
    shift 4
    sipp -sf "$SIPP_DIR/$sf" -i 127.0.0.1 -p "$port" -mp "$mp" -m 1 -nostdin \
        -trace_msg -message_file "$FX_DIR/sipp-$name-msg.log" \
        -trace_err -error_file "$FX_DIR/sipp-$name-err.log" "$@" \
        > "$FX_DIR/sipp-$name-screen.txt" 2>&1 &
    TRK_SIPP_PID=$!
    FX_PIDS="$FX_PIDS $TRK_SIPP_PID"
    while [ -z "$(ss -Hlun "sport = :$port")" ]; do
        kill -0 "$TRK_SIPP_PID" 2>/dev/null || {
            cat "$FX_DIR/sipp-$name-screen.txt"
            fx_fail "sipp $name exited at start"
        }
        sleep 0.05
    done
}

# trk_sipp_wait PID FAXD: waits for SIPp to end its call; fails if faxd dies
# meanwhile. Sets TRK_RC to SIPp's exit status (0: the scenario passed).
trk_sipp_wait() {
    local pid=$1 faxd=$2
    while kill -0 "$pid" 2>/dev/null; do
        kill -0 "$faxd" 2>/dev/null || fx_fail "faxd exited while SIPp was running"
        sleep 0.05
    done
    TRK_RC=0
    wait "$pid" || TRK_RC=$?
}

# trk_wait_log FILE PATTERN PID: waits until faxd (PID) logged PATTERN.
# trk_registered NAME: faxd NAME sent its REGISTER at start (logged before its
# control socket opened); waits for the final answer to it. sofia-sip's
# transaction timer F (RFC 3261 17.1.2.2) ends the wait if nothing answers.
trk_registered() {
    local name=$1 pid
    eval "pid=\$FX_PID_$name"
    grep -q "register trunk=carrier aor=sip:clinic@127.0.0.1" "$FX_DIR/$name.log" \
        || fx_fail "faxd $name sent no REGISTER"
    until grep -q "register trunk=carrier status=" "$FX_DIR/$name.log"; do
        kill -0 "$pid" 2>/dev/null || fx_fail "faxd $name exited before its REGISTER was answered"
        sleep 0.05
    done
}

trunk_lines() { # trunk_lines PORT PASSWORD PREFIX REGISTER
    echo "[trunk carrier]"
    echo "host = 127.0.0.1"
    echo "port = $1"
    echo "transport = udp"
    echo "username = clinic"
    echo "password = $2"
    echo "register = $4"
    echo "register_expires = 600"
    echo "t38 = prefer"
    echo "prefix = $3"
}

fx_pages "$FX_DIR/tx.tif" 1
NUMBER=15551234567

# ---- 1. registration with the right password ----
trk_sipp reg1 "$CARRIER1" trunk_registrar.xml "$MEDIA_TOP"
reg1=$TRK_SIPP_PID
mapfile -t lines < <(trunk_lines "$CARRIER1" s3cret "" yes)
fx_start_faxd 0 a "${lines[@]}"
trk_registered a
grep -q "register trunk=carrier status=200" "$FX_DIR/a.log" || fx_fail "registration not accepted"
trk_sipp_wait "$reg1" "$FX_PID_a"
[ "$TRK_RC" = 0 ] || fx_fail "registrar scenario failed (rc=$TRK_RC)"
grep -q "Authorization: Digest username=\"clinic\", realm=\"carrier.example\"" \
    "$FX_DIR/sipp-reg1-msg.log" || fx_fail "REGISTER carried no Authorization for clinic"
fx_log "registered with status 200"

# ---- 2. a call through the trunk: 407, then 486 ----
want=$(trk_digest clinic s3cret INVITE "sip:$NUMBER@127.0.0.1:$CARRIER1;transport=udp")
trk_sipp busy1 "$CARRIER1" trunk_invite_busy.xml "$MEDIA_TOP" -set want_response "$want"
busy1=$TRK_SIPP_PID
res=$(fx_ctl a send --max-dials 1 "$FX_DIR/tx.tif" "$NUMBER") && fx_fail "send through a busy trunk succeeded: $res"
echo "$res"
[ "$(fx_field result "$res")" = failed ] || fx_fail "expected result=failed"
case "$res" in
*'reason="busy (SIP 486)"'*) ;;
*) fx_fail "expected reason \"busy (SIP 486)\"" ;;
esac
# The 486 was sent, so SIPp ends once faxd's ACK arrives.
trk_sipp_wait "$busy1" "$FX_PID_a"
[ "$TRK_RC" = 0 ] || fx_fail "carrier scenario failed (rc=$TRK_RC)"
grep -q "dialing .* uri=sip:$NUMBER@127.0.0.1:$CARRIER1;transport=udp" "$FX_DIR/a.log" \
    || fx_fail "the call did not go to the trunk"
grep -q "authenticating .* user=clinic" "$FX_DIR/a.log" || fx_fail "no INVITE authentication logged"
fx_ctl a ping >/dev/null || fx_fail "faxd a stopped answering"

# ---- 3. the wrong password: 403 to REGISTER and to INVITE, faxd lives on ----
trk_sipp reg2 "$CARRIER2" trunk_registrar.xml "$((MEDIA_TOP + 10))"
reg2=$TRK_SIPP_PID
mapfile -t lines < <(trunk_lines "$CARRIER2" wrong-s3cret "" yes)
fx_start_faxd 1 b "${lines[@]}"
trk_registered b
grep -q "register trunk=carrier status=403" "$FX_DIR/b.log" || fx_fail "expected status=403"
trk_sipp_wait "$reg2" "$FX_PID_b"
[ "$TRK_RC" != 0 ] || fx_fail "registrar accepted a wrong password"
grep -q "trunk-auth-rejected" "$FX_DIR/sipp-reg2-err.log" \
    || fx_fail "registrar failed for another reason than the digest (rc=$TRK_RC)"
fx_ctl b ping >/dev/null || fx_fail "faxd b stopped answering after a 403"

want=$(trk_digest clinic s3cret INVITE "sip:$NUMBER@127.0.0.1:$CARRIER2;transport=udp")
trk_sipp busy2 "$CARRIER2" trunk_invite_busy.xml "$((MEDIA_TOP + 10))" -set want_response "$want"
busy2=$TRK_SIPP_PID
res=$(fx_ctl b send --max-dials 1 "$FX_DIR/tx.tif" "$NUMBER") && fx_fail "send with a wrong password succeeded"
echo "$res"
[ "$(fx_field result "$res")" = failed ] || fx_fail "expected result=failed"
case "$res" in
*'(SIP 403)"'*) ;;
*) fx_fail "expected a reason ending in (SIP 403)" ;;
esac
trk_sipp_wait "$busy2" "$FX_PID_b"
[ "$TRK_RC" != 0 ] || fx_fail "carrier accepted INVITE credentials for a wrong password"
grep -q "trunk-auth-rejected" "$FX_DIR/sipp-busy2-err.log" \
    || fx_fail "carrier failed for another reason than the digest (rc=$TRK_RC)"
kill -0 "$FX_PID_b" 2>/dev/null || fx_fail "faxd b exited"
fx_ctl b ping >/dev/null || fx_fail "faxd b stopped answering after a refused call"

# ---- 4. no trunk for the number ----
mapfile -t lines < <(trunk_lines "$CARRIER2" s3cret 9 no)
fx_start_faxd 2 c "${lines[@]}"
res=$(fx_ctl c send --max-dials 1 "$FX_DIR/tx.tif" "$NUMBER") && fx_fail "send without a matching trunk succeeded"
echo "$res"
[ "$(fx_field result "$res")" = failed ] || fx_fail "expected result=failed"
case "$res" in
*'reason="no trunk configured for that number"'*) ;;
*) fx_fail "expected reason \"no trunk configured for that number\"" ;;
esac
if grep -q "NOTICE dialing " "$FX_DIR/c.log"; then fx_fail "faxd c dialled without a trunk"; fi
if grep -q "register trunk=" "$FX_DIR/c.log"; then fx_fail "faxd c registered with register = no"; fi
fx_pass
