# faxd A sends a 3-page fax to faxd B over T.38 through a lossy network: 5% random loss,
# 0..20 ms jitter (which reorders), 5% of datagrams held 20 ms more, 1% duplicated, in both
# directions. UDPTL redundancy (T.38 clause 9.1.4.1 / Annex D, depth 3: each datagram carries
# the three previous IFPs) must recover every lost IFP, so the fax must arrive intact.
#
# The media path: A and B put 127.0.0.2 and 127.0.0.3 in their SDP; fx_impair relays there
# forward to their real media ports on 127.0.0.1. Each datagram crosses exactly one relay.
. "$(dirname "$0")/lib.sh"
fx_init sip_impaired_t38 10
IMP="--loss 0.05 --jitter-ms 20 --reorder 0.05 --dup 0.01"
# shellcheck disable=SC2086 # IMP is a list of options
fx_start_impair ra 0 127.0.0.2 $IMP --seed 101
# shellcheck disable=SC2086
fx_start_impair rb 1 127.0.0.3 $IMP --seed 102
# A offers T.38 from the first INVITE (t38_policy = require), so the whole call is UDPTL.
fx_start_faxd 0 a "t38_policy = require" "sdp_address = 127.0.0.2" \
    "udptl_ec = redundancy" "udptl_redundancy = 3"
fx_start_faxd 1 b "t38_policy = prefer" "sdp_address = 127.0.0.3" \
    "udptl_ec = redundancy" "udptl_redundancy = 3"
fx_pages "$FX_DIR/tx.tif" 3
# One try only, so a failed call is not hidden by the queue's retry; the timeout stops a hang.
res=$(timeout 300 "$FAXCTL" -s "$FX_DIR/a/faxd.sock" send --max-tries 1 --max-dials 1 \
    "$FX_DIR/tx.tif" "sip:100@127.0.0.1:$(fx_sip_port 1)") || fx_fail "send failed: $res"
echo "$res"
[ "$(fx_field result "$res")" = ok ] || fx_fail "expected result=ok"
[ "$(fx_field mode "$res")" = t38 ] || fx_fail "expected t38 mode"
[ "$(fx_field pages "$res")" = 3 ] || fx_fail "expected 3 pages"
fx_expect_same "$FX_DIR/tx.tif" "$(fx_received b)"

# The impairment really happened, in both directions. A->B datagrams cross rb towards its
# target (up) or ra back to its client (down), whichever address A learnt; B->A the reverse.
fx_stop_impair ra
fx_stop_impair rb
for k in forwarded dropped delayed; do
    ab=$(($(fx_impair_stat rb up "$k") + $(fx_impair_stat ra down "$k")))
    ba=$(($(fx_impair_stat ra up "$k") + $(fx_impair_stat rb down "$k")))
    fx_log "A->B $k=$ab B->A $k=$ba"
    [ "$ab" -gt 0 ] || fx_fail "no datagram A->B was $k"
    [ "$ba" -gt 0 ] || fx_fail "no datagram B->A was $k"
done
fx_pass
