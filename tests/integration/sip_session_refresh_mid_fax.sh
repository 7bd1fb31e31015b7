# Session timers (RFC 4028) on both ends with the minimum interval of 90 s: the
# refresher re-INVITEs about 45 s into the call, in the middle of a long G.711
# fax. The refresh must not disturb media: the fax arrives whole.
. "$(dirname "$0")/lib.sh"
fx_init sip_session_refresh_mid_fax 5
fx_start_faxd 0 a "t38_policy = never" "session_expires = 90"
fx_start_faxd 1 b "t38_policy = never" "session_expires = 90"
# Three dense pages: about 45 s of image data at 14,400 bit/s, so the refresh
# lands mid-fax.
fx_pages "$FX_DIR/tx.tif" 3 --dense
res=$(fx_send a "$FX_DIR/tx.tif" 1) || fx_fail "send failed: $res"
echo "$res"
grep -q "session refresh answered" "$FX_DIR/a.log" "$FX_DIR/b.log" \
    || fx_fail "no session refresh happened during the call"
[ "$(fx_field pages "$res")" = 3 ] || fx_fail "expected 3 pages"
fx_expect_same "$FX_DIR/tx.tif" "$(fx_received b)"
fx_pass
