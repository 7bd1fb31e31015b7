# SIGHUP with a broken config keeps the running one; SIGTERM during a call lets
# the call finish with its result, then faxd exits; a faxd that is stopping
# refuses new calls with 503.
. "$(dirname "$0")/lib.sh"
fx_init faxd_signals 6
fx_start_faxd 0 a "t38_policy = never"
fx_start_faxd 1 b "t38_policy = never"
# 1. a bad reload is refused and logged with file:line
cp "$FX_DIR/b.conf" "$FX_DIR/b.conf.good"
echo "sip_prot = 5" >> "$FX_DIR/b.conf"
kill -HUP "$FX_PID_b"
sleep 0.5
grep -q "reload failed, keeping running config: .*b.conf:[0-9]*: unknown setting 'sip_prot'" \
    "$FX_DIR/b.log" || fx_fail "bad reload not reported"
fx_ctl b ping >/dev/null || fx_fail "b died after a bad reload"
cp "$FX_DIR/b.conf.good" "$FX_DIR/b.conf"
kill -HUP "$FX_PID_b"
sleep 0.5
grep -q "configuration reloaded" "$FX_DIR/b.log" || fx_fail "good reload not applied"
# 2. SIGTERM mid-call: the call completes, then faxd exits 0
fx_pages "$FX_DIR/tx.tif" 2
fx_send a "$FX_DIR/tx.tif" 1 > "$FX_DIR/send.out" 2>&1 &
sender=$!
for _ in $(seq 1 200); do
    fx_ctl b calls | grep -q "state=active" && break
    sleep 0.1
done
fx_ctl b calls | grep -q "state=active" || fx_fail "call never became active"
kill -TERM "$FX_PID_b"
sleep 0.5
# while stopping, new calls are refused
res2=$(fx_send a "$FX_DIR/tx.tif" 1) && fx_fail "a call was accepted while stopping"
echo "$res2" | grep -q "far end unavailable (SIP 503)" || fx_fail "expected 503 refusal: $res2"
wait "$sender" || fx_fail "the call in progress failed: $(cat "$FX_DIR/send.out")"
cat "$FX_DIR/send.out"
grep -q "result=ok" "$FX_DIR/send.out" || fx_fail "call in progress did not finish ok"
for _ in $(seq 1 100); do kill -0 "$FX_PID_b" 2>/dev/null || break; sleep 0.1; done
kill -0 "$FX_PID_b" 2>/dev/null && fx_fail "faxd did not exit after its calls ended"
wait "$FX_PID_b"; rc=$?
[ "$rc" = 0 ] || fx_fail "faxd exit code $rc"
grep -q "faxd stopped" "$FX_DIR/b.log" || fx_fail "no clean stop logged"
fx_expect_same "$FX_DIR/tx.tif" "$(fx_received b)"
fx_pass
