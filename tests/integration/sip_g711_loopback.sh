# faxd A sends a 3-page fax to faxd B over G.711 audio with ECM.
. "$(dirname "$0")/lib.sh"
fx_init sip_g711_loopback 1
fx_start_faxd 0 a "t38_policy = never" "ecm = yes"
fx_start_faxd 1 b "t38_policy = never" "ecm = yes"
fx_pages "$FX_DIR/tx.tif" 3
res=$(fx_send a "$FX_DIR/tx.tif" 1) || fx_fail "send failed: $res"
echo "$res"
[ "$(fx_field mode "$res")" = g711 ] || fx_fail "expected g711 mode"
[ "$(fx_field ecm "$res")" = yes ] || fx_fail "expected ECM"
[ "$(fx_field pages "$res")" = 3 ] || fx_fail "expected 3 pages"
fx_expect_same "$FX_DIR/tx.tif" "$(fx_received b)"
rec=$(ls "$FX_DIR/b/spool/incoming/"*.rec) || fx_fail "no record"
fx_pass
