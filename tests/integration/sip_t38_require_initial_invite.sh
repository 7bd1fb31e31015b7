# t38_policy = require: A's first INVITE offers image/t38 only (T.38 Annex D.2.1);
# B answers T.38 at once and the fax runs as T.38 from the start. Also over SIP
# TCP, so the TCP listener carries a whole call.
. "$(dirname "$0")/lib.sh"
fx_init sip_t38_require_initial_invite 8
fx_start_faxd 0 a "t38_policy = require"
fx_start_faxd 1 b "t38_policy = prefer"
fx_pages "$FX_DIR/tx.tif" 2
res=$(fx_ctl a send "$FX_DIR/tx.tif" "sip:200@127.0.0.1:$(fx_sip_port 1);transport=tcp") \
    || fx_fail "send failed: $res"
echo "$res"
[ "$(fx_field mode "$res")" = t38 ] || fx_fail "expected t38 mode"
grep -q "incoming call .* mode=t38" "$FX_DIR/b.log" || fx_fail "B did not answer with T.38"
if grep -q "re-INVITE" "$FX_DIR/a.log" "$FX_DIR/b.log"; then fx_fail "no re-INVITE expected"; fi
fx_expect_same "$FX_DIR/tx.tif" "$(fx_received b)"
fx_pass
