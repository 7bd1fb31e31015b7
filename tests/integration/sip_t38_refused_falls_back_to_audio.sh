# A wants T.38 and re-INVITEs; B has T.38 disabled and refuses with 488. The
# call stays on audio (ECM) with consistent SDP, and all pages arrive.
. "$(dirname "$0")/lib.sh"
fx_init sip_t38_refused_falls_back_to_audio 4
fx_start_faxd 0 a "t38_policy = prefer" "t38_reinvite = yes" "ecm = yes"
fx_start_faxd 1 b "t38_policy = never" "ecm = yes"
fx_pages "$FX_DIR/tx.tif" 3
res=$(fx_send a "$FX_DIR/tx.tif" 1) || fx_fail "send failed: $res"
echo "$res"
[ "$(fx_field mode "$res")" = g711 ] || fx_fail "expected to stay on g711"
[ "$(fx_field ecm "$res")" = yes ] || fx_fail "expected ECM on audio"
grep -q "re-INVITE to T.38 refused, staying on audio .*status=488" "$FX_DIR/a.log" \
    || fx_fail "A did not log the 488 refusal"
grep -q "re-INVITE to T.38 refused by policy" "$FX_DIR/b.log" || fx_fail "B did not refuse"
fx_expect_same "$FX_DIR/tx.tif" "$(fx_received b)"
fx_pass
