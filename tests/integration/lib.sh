# Shared helpers for integration tests: real faxd processes on loopback.
# Each test calls fx_init NAME BLOCK with a BLOCK (1..99) of its own, so tests
# running in parallel under CTest never share ports:
#   SIP port of node i:  15000 + BLOCK*10 + i
#   media ports of node i: 30000 + BLOCK*300 + i*100 .. +99
set -u
FAX_BUILD=${FAX_BUILD:?FAX_BUILD must point at the build directory}
FAX_SRC=${FAX_SRC:?FAX_SRC must point at the source tree}
FAXD=$FAX_BUILD/faxd
FAXCTL=$FAX_BUILD/faxctl
MKPAGES=$FAX_BUILD/tests/fx_mkpages
TIFFCMP=$FAX_BUILD/tests/fx_tiffcmp
FX_PIDS=""

fx_log() { echo "[$(date +%H:%M:%S)] $FX_NAME: $*"; }
fx_fail() { echo "[$(date +%H:%M:%S)] $FX_NAME: FAIL: $*"; fx_dump_logs; exit 1; }

fx_dump_logs() {
    for f in "$FX_DIR"/*.log; do
        [ -f "$f" ] || continue
        echo "----- $f (last 40 lines)"
        tail -n 40 "$f"
    done
}

fx_cleanup() {
    for p in $FX_PIDS; do kill -TERM "$p" 2>/dev/null; done
    for p in $FX_PIDS; do
        for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
    done
    if [ "${FX_KEEP:-0}" = 0 ] && [ "${FX_OK:-0}" = 1 ]; then rm -rf "$FX_DIR"; fi
}

fx_init() {
    FX_NAME=$1
    FX_BLOCK=$2
    FX_DIR=$(mktemp -d "/tmp/fxit-$FX_NAME.XXXXXX")
    trap fx_cleanup EXIT
    fx_log "workdir $FX_DIR"
}

fx_sip_port() { echo $((15000 + FX_BLOCK * 10 + $1)); }

# fx_start_faxd INDEX NAME [extra config lines...]
fx_start_faxd() {
    local i=$1 name=$2
    shift 2
    local port rtp
    port=$(fx_sip_port "$i")
    rtp=$((30000 + FX_BLOCK * 300 + i * 100))
    mkdir -p "$FX_DIR/$name"
    {
        echo "node_name = $name"
        echo "spool_dir = $FX_DIR/$name/spool"
        echo "control_socket = $FX_DIR/$name/faxd.sock"
        echo "sip_address = 127.0.0.1"
        echo "sip_port = $port"
        echo "rtp_port_min = $rtp"
        echo "rtp_port_max = $((rtp + 99))"
        echo "local_ident = \"+1 555 01$i$FX_BLOCK\""
        echo "media_loops = 1"
        echo "log_level = info"
        for l in "$@"; do echo "$l"; done
    } > "$FX_DIR/$name.conf"
    $FAXD -c "$FX_DIR/$name.conf" > "$FX_DIR/$name.log" 2>&1 &
    local pid=$!
    FX_PIDS="$FX_PIDS $pid"
    eval "FX_PID_$name=$pid"
    for _ in $(seq 1 100); do
        if $FAXCTL -s "$FX_DIR/$name/faxd.sock" ping >/dev/null 2>&1; then return 0; fi
        kill -0 "$pid" 2>/dev/null || fx_fail "faxd $name exited at start"
        sleep 0.1
    done
    fx_fail "faxd $name did not come up"
}

fx_ctl() { local name=$1; shift; $FAXCTL -s "$FX_DIR/$name/faxd.sock" "$@"; }

# fx_pages OUT.tif N [mkpages options]
fx_pages() { local out=$1 n=$2; shift 2; $MKPAGES "$out" --pages "$n" "$@" >/dev/null || fx_fail "fx_mkpages"; }

# fx_send FROM TIFF TO_INDEX [user]: send and wait; prints the RESULT line.
# One call per job (--max-dials 1): a test sees a failed call at once instead of
# a retry hiding it; tests of the retry policy call faxctl themselves.
fx_send() {
    local from=$1 tiff=$2 to=$3 user=${4:-100}
    fx_ctl "$from" send --max-dials 1 "$tiff" "sip:$user@127.0.0.1:$(fx_sip_port "$to")"
}

# fx_received NAME: path of the newest fax in NAME's incoming folder.
fx_received() { ls -t "$FX_DIR/$1/spool/incoming/"*.tif 2>/dev/null | head -n 1; }

# fx_expect_same SENT RECEIVED [tiffcmp options]
fx_expect_same() {
    local sent=$1 rx=$2
    shift 2
    [ -n "$rx" ] && [ -f "$rx" ] || fx_fail "no received fax"
    $TIFFCMP "$sent" "$rx" "$@" || fx_fail "received fax differs from the one sent"
}

fx_field() { # fx_field KEY TEXT -> value of key=value in the (first) RESULT line of TEXT
    local line
    line=$(printf '%s\n' "$2" | grep -m1 '^RESULT ' || printf '%s\n' "$2")
    echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1 | tr -d '"'
}

fx_pass() { FX_OK=1; fx_log "PASS"; exit 0; }

# ---- impairment relays (tests/peers/fx_impair.c) ----
# A relay listens on another loopback address on a node's media ports and forwards to the
# node's real ports on 127.0.0.1; the node puts the relay's address in its SDP
# ("sdp_address = ADDR"), so the far end's media reaches it only through the relay.
IMPAIR=$FAX_BUILD/tests/fx_impair

# fx_media_ports INDEX -> "LO-HI", the media port range of node INDEX.
fx_media_ports() {
    local lo=$((30000 + FX_BLOCK * 300 + $1 * 100))
    echo "$lo-$((lo + 99))"
}

# fx_start_impair NAME INDEX ADDR [fx_impair options...]: a relay on ADDR in front of node
# INDEX's media ports; log in $FX_DIR/NAME.log, stats (on fx_stop_impair) in $FX_DIR/NAME.json.
fx_start_impair() {
    local name=$1 i=$2 addr=$3
    shift 3
    $IMPAIR --listen "$addr" --target 127.0.0.1 --ports "$(fx_media_ports "$i")" \
        --stats "$FX_DIR/$name.json" "$@" > "$FX_DIR/$name.log" 2>&1 &
    local pid=$!
    FX_PIDS="$FX_PIDS $pid"
    eval "FX_PID_$name=$pid"
    for _ in $(seq 1 100); do
        grep -q "^fx_impair: ready" "$FX_DIR/$name.log" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || fx_fail "fx_impair $name exited at start"
        sleep 0.1
    done
    fx_fail "fx_impair $name did not come up"
}

# fx_stop_impair NAME: SIGTERM the relay, wait for it, check it wrote its stats; prints them.
fx_stop_impair() {
    local name=$1 pid rc
    eval "pid=\$FX_PID_$name"
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && fx_fail "fx_impair $name did not stop"
    wait "$pid"
    rc=$?
    [ "$rc" = 0 ] || fx_fail "fx_impair $name exited with $rc"
    [ -s "$FX_DIR/$name.json" ] || fx_fail "fx_impair $name wrote no stats"
    cat "$FX_DIR/$name.json"
}

# fx_impair_stat NAME up|down KEY -> one counter from relay NAME's stats.
fx_impair_stat() {
    sed -n "s/.*\"$2\":{\([^}]*\)}.*/\1/p" "$FX_DIR/$1.json" | tr ',' '\n' |
        sed -n "s/^\"$3\"://p"
}

# ---- crash tests (tests/peers/fxfault.c, store_*.sh) ----
FXFAULT_SO=$FAX_BUILD/tests/fxfault.so
PAGEID=$FAX_BUILD/tests/fx_pageid

# fx_start_node INDEX NAME [extra config lines...]: like fx_start_faxd, for tests that run
# up to six nodes in one block and restart them: node INDEX (0..5) gets 50 media ports,
# 30000 + BLOCK*300 + INDEX*50 .. +49, so three sender/receiver pairs fit in one block.
# The log is appended to across restarts ("==== start" marks each). With FX_FAULT set
# (an FXFAULT spec, see fxfault.c) faxd runs with the fault shim on its spool;
# FX_FAULT=trace only reports every spool write/fsync/rename (to calibrate a spec).
fx_start_node() {
    local i=$1 name=$2
    shift 2
    [ "$i" -ge 0 ] && [ "$i" -le 5 ] || fx_fail "fx_start_node: index $i out of 0..5"
    local port rtp
    port=$(fx_sip_port "$i")
    rtp=$((30000 + FX_BLOCK * 300 + i * 50))
    mkdir -p "$FX_DIR/$name"
    {
        echo "node_name = $name"
        echo "spool_dir = $FX_DIR/$name/spool"
        echo "control_socket = $FX_DIR/$name/faxd.sock"
        echo "sip_address = 127.0.0.1"
        echo "sip_port = $port"
        echo "rtp_port_min = $rtp"
        echo "rtp_port_max = $((rtp + 49))"
        echo "local_ident = \"+1 555 02$i$FX_BLOCK\""
        echo "media_loops = 1"
        echo "log_level = info"
        for l in "$@"; do echo "$l"; done
    } > "$FX_DIR/$name.conf"
    echo "==== start $(date +%H:%M:%S.%N) fault=${FX_FAULT:-none}" >> "$FX_DIR/$name.log"
    if [ -n "${FX_FAULT:-}" ]; then
        [ -f "$FXFAULT_SO" ] || fx_fail "no fault shim at $FXFAULT_SO"
        # Under ASan the runtime would refuse a preload ahead of it (see fxfault.c).
        local spec=$FX_FAULT trace=0
        [ "$spec" = trace ] && { spec=""; trace=1; }
        env LD_PRELOAD="$FXFAULT_SO" FXFAULT_DIR="$FX_DIR/$name/spool" FXFAULT="$spec" \
            FXFAULT_TRACE=$trace \
            ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
            "$FAXD" -c "$FX_DIR/$name.conf" >> "$FX_DIR/$name.log" 2>&1 &
    else
        "$FAXD" -c "$FX_DIR/$name.conf" >> "$FX_DIR/$name.log" 2>&1 &
    fi
    local pid=$!
    FX_PIDS="$FX_PIDS $pid"
    eval "FX_PID_$name=$pid"
    for _ in $(seq 1 200); do
        if $FAXCTL -s "$FX_DIR/$name/faxd.sock" ping >/dev/null 2>&1; then return 0; fi
        kill -0 "$pid" 2>/dev/null || fx_fail "faxd $name exited at start"
        sleep 0.1
    done
    fx_fail "faxd $name did not come up"
}

# fx_node_pid NAME -> pid of the running faxd NAME.
fx_node_pid() { eval "echo \$FX_PID_$1"; }

# fx_kill9 NAME: SIGKILL faxd NAME (a crash: no clean-up runs) and reap it.
fx_kill9() {
    local pid
    pid=$(fx_node_pid "$1")
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    echo "==== killed -9 $(date +%H:%M:%S.%N)" >> "$FX_DIR/$1.log"
}

# fx_alive NAME: faxd NAME still runs (did not crash).
fx_alive() { kill -0 "$(fx_node_pid "$1")" 2>/dev/null; }

# fx_wait_idle NAME [TIMEOUT_S]: wait until faxd NAME has no live call. 1 on timeout.
fx_wait_idle() {
    local name=$1 t=${2:-120} n
    for _ in $(seq 1 $((t * 5))); do
        n=$(fx_ctl "$name" calls 2>/dev/null | sed -n 's/^OK calls=\([0-9]*\).*/\1/p')
        [ "$n" = 0 ] && return 0
        sleep 0.2
    done
    return 1
}

# fx_check_spool NAME: every record in NAME's incoming/ done/ failed/ queue/ loads
# (faxctl job), every image there opens page by page, and corrupt/ is empty. Prints the
# problems; 1 if any.
fx_check_spool() {
    local name=$1 sp="$FX_DIR/$1/spool" bad=0 f id out
    for f in "$sp"/incoming/*.rec "$sp"/done/*.rec "$sp"/failed/*.rec "$sp"/queue/*.rec; do
        [ -f "$f" ] || continue
        id=$(basename "$f" .rec)
        out=$(fx_ctl "$name" job "$id" 2>&1) || { echo "record $f: $out"; bad=1; }
    done
    for f in "$sp"/incoming/*.tif "$sp"/done/*.tif "$sp"/failed/*.tif "$sp"/queue/*.tif; do
        [ -f "$f" ] || continue
        out=$($PAGEID --check "$f" 2>&1) || { echo "image $f: $out"; bad=1; }
    done
    if [ -n "$(ls -A "$sp/corrupt" 2>/dev/null)" ]; then
        echo "corrupt/ holds: $(ls "$sp/corrupt")"
        bad=1
    fi
    return $bad
}
