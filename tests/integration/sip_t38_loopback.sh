# faxd A sends a 3-page fax to faxd B over T.38: A hears B's CED / V.21 preamble
# and re-INVITEs to image/t38; B accepts and the call continues as T.38.
. "$(dirname "$0")/lib.sh"
fx_init sip_t38_loopback 2
fx_start_faxd 0 a "t38_policy = prefer" "t38_reinvite = yes"
fx_start_faxd 1 b "t38_policy = prefer" "t38_reinvite = no"
fx_pages "$FX_DIR/tx.tif" 3
res=$(fx_send a "$FX_DIR/tx.tif" 1) || fx_fail "send failed: $res"
echo "$res"
[ "$(fx_field mode "$res")" = t38 ] || fx_fail "expected t38 mode"
[ "$(fx_field pages "$res")" = 3 ] || fx_fail "expected 3 pages"
grep -q "peer re-INVITE to T.38 accepted" "$FX_DIR/b.log" || fx_fail "B did not see a re-INVITE"
fx_expect_same "$FX_DIR/tx.tif" "$(fx_received b)"
fx_pass
