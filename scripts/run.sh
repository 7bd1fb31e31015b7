#!/bin/sh
# Faxgate's main job on one machine, from a fresh checkout:
#   installs what it needs (Debian packages), builds, starts faxd with its spool
#   in ./state, then starts a second faxd as a stand-in for a clinic's fax
#   machine on the far end and shows faxes going through both ways, over T.38
#   and over G.711 audio, each archived in a private PostgreSQL cluster that it
#   provisions in ./state/pg. faxd keeps running afterwards; stop it (and the
#   cluster) with `scripts/run.sh stop`.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=${FAX_STATE:-$ROOT/state}
BUILD=$ROOT/build/gcc

if [ "${1:-}" = stop ]; then
    for n in faxgate farend; do
        [ -f "$STATE/$n.pid" ] && kill "$(cat "$STATE/$n.pid")" 2>/dev/null || true
        rm -f "$STATE/$n.pid"
    done
    [ -d "$STATE/pg" ] && "$ROOT/scripts/pg.sh" stop "$STATE/pg" || true
    echo "faxd stopped"
    exit 0
fi

"$ROOT/scripts/deps.sh"
echo "== building"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$(nproc)" >/dev/null

mkdir -p "$STATE"
# The archive: a private PostgreSQL cluster in the state directory (Unix socket
# only) unless FAX_DB_DSN names one.
echo "== archive: PostgreSQL"
DSN=${FAX_DB_DSN:-$("$ROOT/scripts/pg.sh" start "$STATE/pg")}
echo "   $DSN"
write_conf() { # name port rtp_base t38_reinvite
    cat > "$STATE/$1.conf" <<CONF
# Written by scripts/run.sh; see conf/faxd.conf.example for every setting.
node_name = $1
spool_dir = $STATE/$1/spool
control_socket = $STATE/$1/faxd.sock
sip_address = 127.0.0.1
sip_port = $2
rtp_port_min = $3
rtp_port_max = $(($3 + 999))
local_ident = "+1 555 0100 $1"
t38_policy = prefer
t38_reinvite = $4
log_level = notice
db_dsn = $DSN
CONF
}
write_conf faxgate 5060 40000 yes
write_conf farend 5062 42000 no

start() { # name
    if [ -f "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; then
        kill "$(cat "$STATE/$1.pid")"; sleep 1
    fi
    "$BUILD/faxd" -c "$STATE/$1.conf" >> "$STATE/$1.log" 2>&1 &
    echo $! > "$STATE/$1.pid"
    for _ in $(seq 1 50); do
        "$BUILD/faxctl" -c "$STATE/$1.conf" ping >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "faxd $1 did not start; see $STATE/$1.log" >&2
    exit 1
}
echo "== starting faxd (SIP on 127.0.0.1:5060, spool $STATE/faxgate/spool)"
start faxgate
start farend

"$BUILD/tests/fx_mkpages" "$STATE/demo.tif" --pages 2 >/dev/null
echo "== the far end faxes 2 pages to Faxgate (G.711 audio, then Faxgate switches the call to T.38)"
"$BUILD/faxctl" -c "$STATE/farend.conf" send "$STATE/demo.tif" sip:15551230001@127.0.0.1:5060
echo "== Faxgate faxes the same pages back out over G.711 audio"
"$BUILD/faxctl" -c "$STATE/faxgate.conf" send "$STATE/demo.tif" sip:15551230002@127.0.0.1:5062
for _ in $(seq 1 100); do
    "$BUILD/faxctl" -c "$STATE/faxgate.conf" status | grep -qx archive_backlog=0 && break
    sleep 0.1
done
echo "== the archive (PostgreSQL): faxes, and the audit chain check"
"$BUILD/faxctl" -c "$STATE/faxgate.conf" search
"$BUILD/faxctl" -c "$STATE/faxgate.conf" audit verify
echo "== received faxes in Faxgate's spool:"
ls -l "$STATE/faxgate/spool/incoming/"
"$BUILD/faxctl" -c "$STATE/faxgate.conf" status
kill "$(cat "$STATE/farend.pid")" 2>/dev/null || true
rm -f "$STATE/farend.pid"
echo "faxd is running (pid $(cat "$STATE/faxgate.pid")); try:"
echo "  $BUILD/faxctl -c $STATE/faxgate.conf calls"
echo "  scripts/run.sh stop"
