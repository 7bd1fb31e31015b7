#!/bin/bash
# impaired_g711.sh: how often a G.711 fax with ECM gets through a lossy, jittery network.
#
#   tests/bench/impaired_g711.sh [OUT.json]     (default: build/bench/impaired_g711.json)
#
# Runs tests/integration/sip_impaired_g711.sh with 30 calls (3 at a time, port BLOCK 12):
# two faxd on loopback, each behind an fx_impair relay that drops 0.5% of the RTP packets
# and delays each by a uniform 0..20 ms, both directions. Writes
#   {"calls":30,"ok":N,"rate":N/30,"loss":0.005,"jitter_ms":20,"parallel":3,
#    "playout_delay_ms":null,"failed":[...],"ab":{...},"ba":{...},"aim":27,"aim_met":bool}
# ("ab"/"ba": the relays' forwarded/dropped/delayed counts A->B and B->A). The aim is 27/30.
# Not a CTest test: run by hand. Environment: FAX_BUILD (default build/ beside the sources),
# IMPAIRED_CALLS (30), IMPAIRED_PAR (3), IMPAIRED_LOSS, IMPAIRED_JITTER, IMPAIRED_PLAYOUT
# (faxd's playout_delay_ms), FX_KEEP=1 to keep the work dir (/tmp/fxit-sip_impaired_g711.*).
# Exit 0 when the aim is met, 1 when not, 2 when the run itself broke.
set -u
src=$(cd "$(dirname "$0")/../.." && pwd)
export FAX_SRC=${FAX_SRC:-$src}
export FAX_BUILD=${FAX_BUILD:-$src/build}
out=${1:-$FAX_BUILD/bench/impaired_g711.json}
case $out in /*) ;; *) out=$PWD/$out ;; esac
calls=${IMPAIRED_CALLS:-30}
aim=$(( (calls * 9 + 9) / 10 ))
if [ ! -x "$FAX_BUILD/tests/fx_impair" ]; then
    echo "impaired_g711: no $FAX_BUILD/tests/fx_impair: build first" >&2
    exit 2
fi
rm -f "$out"
FX_IMP_CALLS=$calls FX_IMP_MIN=0 FX_IMP_PAR=${IMPAIRED_PAR:-3} FX_IMP_BLOCK=12 \
    FX_IMP_LOSS=${IMPAIRED_LOSS:-0.005} FX_IMP_JITTER=${IMPAIRED_JITTER:-20} \
    FX_IMP_PLAYOUT=${IMPAIRED_PLAYOUT:-} FX_IMP_JSON=$out \
    bash "$FAX_SRC/tests/integration/sip_impaired_g711.sh"
rc=$?
[ "$rc" = 0 ] && [ -s "$out" ] || { echo "impaired_g711: run failed (rc=$rc)" >&2; exit 2; }
ok=$(sed -n 's/.*"ok":\([0-9]*\).*/\1/p' "$out")
met=false
[ "$ok" -ge "$aim" ] && met=true
sed -i "s/}\$/,\"aim\":$aim,\"aim_met\":$met}/" "$out"
cat "$out"
[ "$met" = true ]
