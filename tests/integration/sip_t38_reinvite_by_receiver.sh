# The receiving faxd B starts the switch: it hears A's CNG and re-INVITEs to
# image/t38; A accepts; 3 pages arrive over T.38.
. "$(dirname "$0")/lib.sh"
fx_init sip_t38_reinvite_by_receiver 3
fx_start_faxd 0 a "t38_policy = prefer" "t38_reinvite = no"
fx_start_faxd 1 b "t38_policy = prefer" "t38_reinvite = yes"
fx_pages "$FX_DIR/tx.tif" 3
res=$(fx_send a "$FX_DIR/tx.tif" 1) || fx_fail "send failed: $res"
echo "$res"
[ "$(fx_field mode "$res")" = t38 ] || fx_fail "expected t38 mode"
grep -q "re-INVITE to T.38 .*CNG" "$FX_DIR/b.log" || fx_fail "B did not re-INVITE on CNG"
grep -q "peer re-INVITE to T.38 accepted" "$FX_DIR/a.log" || fx_fail "A did not accept"
fx_expect_same "$FX_DIR/tx.tif" "$(fx_received b)"
fx_pass
