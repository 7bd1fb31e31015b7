# A far end that vanishes mid-fax without a BYE (killed) leaves a T.38 call
# with no packets: the receiver ends it after media_timeout, keeping the pages
# it confirmed, instead of holding the line until the hard phase E limit. A
# healthy T.38 caller is silent for several seconds at the start (until it hears
# DIS), so the timeout must stay well above that; 15 s here, 30 s by default.
. "$(dirname "$0")/lib.sh"
fx_init sip_media_timeout 9
fx_start_faxd 0 a "t38_policy = require"
fx_start_faxd 1 b "t38_policy = prefer" "media_timeout = 15" "phase_e_timeout = 600"
fx_pages "$FX_DIR/tx.tif" 3 --lines 1100
fx_send a "$FX_DIR/tx.tif" 1 > "$FX_DIR/send.out" 2>&1 &
for _ in $(seq 1 600); do
    grep -q "page stored .*page=1" "$FX_DIR/b.log" && break
    sleep 0.1
done
grep -q "page stored .*page=1" "$FX_DIR/b.log" || fx_fail "page 1 never arrived"
kill -KILL "$FX_PID_a"
for _ in $(seq 1 600); do
    grep -q "call ended fax=" "$FX_DIR/b.log" && break
    sleep 0.1
done
grep -q "no media from far end .*for_s=15" "$FX_DIR/b.log" || fx_fail "no media timeout logged"
grep -q "call ended fax=.*result=partial.*pages=1" "$FX_DIR/b.log" \
    || fx_fail "the call did not end as partial with 1 page"
fx_pages "$FX_DIR/page1.tif" 1 --lines 1100
fx_expect_same "$FX_DIR/page1.tif" "$(fx_received b)"
[ "$(fx_ctl b calls | head -n 1)" = "OK calls=0" ] || fx_fail "call still listed"
fx_pass
