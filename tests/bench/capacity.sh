#!/bin/bash
# capacity.sh: how many concurrent fax calls one faxd carries, and at what cost.
#
#   tests/bench/capacity.sh [--mode t38|g711|both] [--calls N] [--out FILE.json]
#                           [--pages P] [--media-loops M] [--spread S] [--ref-runs K]
#                           [--log-level L] [--call-timeout S] [--build DIR] [--keep]
#                           [--perf] [--tmp DIR] [--floor-seconds S] [--nice N]
#
# Two faxd on loopback: A sends N faxes at once (N background `faxctl send`, started
# over --spread seconds) to B, over T.38 (UDPTL, T.38 clause 9) or G.711 audio (RTP,
# RFC 3550). B, the receiver, is measured:
#   - CPU: utime+stime of all its threads (/proc/PID/stat fields 14 and 15, proc(5)),
#     delta from just before the first send until B has no call left;
#     per channel = CPU seconds / sum of the call durations (CPU per call-second);
#   - memory: VmRSS before (idle), peak of VmRSS sampled every 0.5 s, and VmHWM;
#     per channel = (peak - idle) / N;
#   - success: RESULT lines with result=ok / N;
#   - line efficiency: sum(image_time) / sum(duration) over the RESULT lines (A's view:
#     wall time of the call, SIP set-up included); B's engine-time figure from its
#     "phase E" log lines is reported beside it.
# The reference is tests/bench/spandsp_alone (two SpanDSP engines back to back in one
# process, simulated time) on the same TIFF in the same mode, run --ref-runs times; its
# cpu_per_call_second is for the PAIR, so one engine is half of it.
#   ratio = faxd CPU per channel-second / spandsp_alone CPU per engine-second.
# Targets: ratio <= 1.5 (G.711) and <= 3 (T.38); 200 T.38 and 100 G.711 calls all
# succeed; line efficiency within 2 percentage points of spandsp_alone.
# The kernel's share: tests/bench/capacity_udp_floor (built beside spandsp_alone) runs
# N loopback UDP streams the way a media loop does (G.711: 50 packets/s of 172 bytes
# each way; T.38: 10/s of 100 bytes, roughly what B receives) for --floor-seconds
# (default 10, 0 = skip) and gives the socket cost per channel-second that
# spandsp_alone, having no sockets, does not pay. Reported as udp_floor with
# best_case_ratio = (floor + engine) / engine and ratio_above_floor.
# --nice N: start both faxd under `nice -n N` (negative needs root): shows whether
# failures at high N come from other processes taking the CPU from the media loops.
# --perf: also profile B with `perf record -g` during the run (it costs B some CPU,
# so the CPU figures of such a run are a little high); the top symbols go in the JSON
# and the report in the work dir.
# --tmp DIR: parent of the work dir (default /tmp); e.g. /dev/shm puts both spools on
# tmpfs, which takes the disk (fsync of each page and record) out of the CPU measured.
# Machine load (load average, /proc/stat busy share, top other processes) goes in the
# JSON too: the host may be running builds at the same time.
#
# Exit 0 when every call of every mode succeeded, 1 otherwise, 2 on usage/setup errors.
# Work files (configs, logs, per-call output, RSS samples) stay in the printed work dir
# when a call failed or with --keep.
set -u

SRC=$(cd "$(dirname "$0")/../.." && pwd)
MODE=both
CALLS=10
OUT=""
PAGES=1
MLOOPS=2
SPREAD=2
REFRUNS=5
LOGLEVEL=info
CALLTMO=600
KEEP=0
PERF=0
TMPBASE=/tmp
FLOORSEC=10
NICE=0
BUILD=${FAX_BUILD:-$SRC/build}
# SIP ports and media ranges: outside the integration tests' blocks (lib.sh uses SIP
# 15010..15999 and media 30000..59899) and below the kernel's ephemeral range.
SIPBASE=16500
MEDIA_A=22000
MEDIA_B=25000
MEDIA_SPAN=3000 # ports per node: an RTP and, for T.38, a UDPTL port per call (even
                # numbers only are handed out, so 3000 ports carry 1500 sockets)

cap_usage() {
    sed -n '4,7p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case $1 in
    --mode) MODE=${2:-}; shift 2 || cap_usage ;;
    --calls) CALLS=${2:-}; shift 2 || cap_usage ;;
    --out) OUT=${2:-}; shift 2 || cap_usage ;;
    --pages) PAGES=${2:-}; shift 2 || cap_usage ;;
    --media-loops) MLOOPS=${2:-}; shift 2 || cap_usage ;;
    --spread) SPREAD=${2:-}; shift 2 || cap_usage ;;
    --ref-runs) REFRUNS=${2:-}; shift 2 || cap_usage ;;
    --log-level) LOGLEVEL=${2:-}; shift 2 || cap_usage ;;
    --call-timeout) CALLTMO=${2:-}; shift 2 || cap_usage ;;
    --build) BUILD=${2:-}; shift 2 || cap_usage ;;
    --keep) KEEP=1; shift ;;
    --perf) PERF=1; shift ;;
    --tmp) TMPBASE=${2:-}; shift 2 || cap_usage ;;
    --floor-seconds) FLOORSEC=${2:-}; shift 2 || cap_usage ;;
    --nice) NICE=${2:-}; shift 2 || cap_usage ;;
    -h | --help) cap_usage ;;
    *) echo "capacity: unknown argument $1" >&2; cap_usage ;;
    esac
done
case $MODE in t38) MODES="t38" ;; g711) MODES="g711" ;; both) MODES="t38 g711" ;; *) cap_usage ;; esac
for v in "$CALLS" "$PAGES" "$MLOOPS" "$REFRUNS" "$CALLTMO" "$FLOORSEC"; do
    case $v in '' | *[!0-9]*) echo "capacity: not a number: '$v'" >&2; exit 2 ;; esac
done
case $NICE in '' | *[!0-9-]*) echo "capacity: bad --nice" >&2; exit 2 ;; esac
case $SPREAD in '' | *[!0-9.]*) echo "capacity: bad --spread" >&2; exit 2 ;; esac
[ "$CALLS" -ge 1 ] && [ "$PAGES" -ge 1 ] && [ "$REFRUNS" -ge 1 ] || cap_usage
case $LOGLEVEL in err | warn | notice | info) ;; *) echo "capacity: --log-level err|warn|notice|info (debug would dominate the CPU measured)" >&2; exit 2 ;; esac

FAXD=$BUILD/faxd
FAXCTL=$BUILD/faxctl
MKPAGES=$BUILD/tests/fx_mkpages
ALONE=$BUILD/tests/bench/spandsp_alone
FLOOR=$BUILD/tests/bench/capacity_udp_floor
for b in "$FAXD" "$FAXCTL" "$MKPAGES" "$ALONE"; do
    [ -x "$b" ] || { echo "capacity: $b missing (build first, or --build DIR / FAX_BUILD)" >&2; exit 2; }
done

W=$(mktemp -d "$TMPBASE/fxcap.XXXXXX") || exit 2
[ -n "$OUT" ] || OUT=$W/capacity.json
CAP_PIDS=""
CAP_SAMPLER=""
CAP_ALLOK=0
TCK=$(getconf CLK_TCK)
NPROC=$(nproc)

cap_log() { echo "[$(date +%H:%M:%S)] capacity: $*" >&2; }

cap_stop_pids() {
    [ -n "$CAP_SAMPLER" ] && kill "$CAP_SAMPLER" 2>/dev/null
    CAP_SAMPLER=""
    for p in $CAP_PIDS; do kill -TERM "$p" 2>/dev/null; done
    for p in $CAP_PIDS; do
        for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
    done
    CAP_PIDS=""
}

cap_cleanup() {
    cap_stop_pids
    if [ "$KEEP" = 0 ] && [ "$CAP_ALLOK" = 1 ]; then
        case $OUT in "$W"/*) ;; *) rm -rf "$W" ;; esac
    fi
}
trap cap_cleanup EXIT
trap 'exit 2' INT TERM

# ---- /proc readers (proc(5)) ------------------------------------------------------

# utime+stime in clock ticks of a process, all threads included (fields 14 and 15;
# the comm field may hold blanks, so cut after its closing parenthesis).
cap_cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12 + $13}'; }
# "utime stime" in clock ticks.
cap_cpu_split() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12, $13}'; }
# VmRSS / VmHWM in kB.
cap_status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null; }
# "name ticks" for each thread of a process.
cap_thread_ticks() {
    for t in /proc/"$1"/task/*; do
        [ -r "$t/stat" ] || continue
        printf '%s %s\n' "$(cat "$t/comm" 2>/dev/null | tr ' ' _)" \
            "$(sed 's/^.*) //' "$t/stat" 2>/dev/null | awk '{print $12 + $13}')"
    done | awk '{a[$1] += $2} END {for (n in a) print n, a[n]}' | sort
}
# Machine-wide "busy total" jiffies from the first line of /proc/stat.
cap_machine() { awk '$1 == "cpu" {t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t}' /proc/stat; }
cap_loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
# The busiest processes over the next 0.5 s (top's second sample; >= 5% of a core), as a
# JSON array of strings. Our own faxd pair is idle at that moment.
cap_top_others() {
    top -b -n 2 -d 0.5 -w 200 2> /dev/null | awk '/^top -/ {blk++}
        blk == 2 && $1 ~ /^[0-9]+$/ && $9 + 0 >= 5 && k < 6 {
        printf "%s\"%s %s%%\"", (k++ ? "," : ""), $12, $9 }' | sed 's/^/[/; s/$/]/'
}

# ---- faxd pair ----------------------------------------------------------------------

# cap_start_faxd NAME SIPPORT MEDIAMIN [extra config lines...]
cap_start_faxd() {
    local name=$1 port=$2 media=$3
    shift 3
    mkdir -p "$W/$name"
    {
        echo "node_name = cap$name"
        echo "spool_dir = $W/$name/spool"
        echo "control_socket = $W/$name/faxd.sock"
        echo "sip_address = 127.0.0.1"
        echo "sip_port = $port"
        echo "rtp_port_min = $media"
        echo "rtp_port_max = $((media + MEDIA_SPAN - 1))"
        echo "local_ident = \"+1 555 0199$port\""
        echo "media_loops = $MLOOPS"
        echo "log_level = $LOGLEVEL"
        echo "ecm = yes"
        for l in "$@"; do echo "$l"; done
    } > "$W/$name.conf"
    nice -n "$NICE" "$FAXD" -c "$W/$name.conf" > "$W/$name.log" 2>&1 &
    local pid=$!
    CAP_PIDS="$CAP_PIDS $pid"
    eval "CAP_PID_$name=$pid"
    for _ in $(seq 1 100); do
        if "$FAXCTL" -s "$W/$name/faxd.sock" ping > /dev/null 2>&1; then return 0; fi
        kill -0 "$pid" 2> /dev/null || { cap_log "faxd $name exited at start:"; tail -n 20 "$W/$name.log" >&2; exit 2; }
        sleep 0.1
    done
    cap_log "faxd $name did not come up"
    exit 2
}

# Live calls of a node (the "calls=N" line of `faxctl status`).
cap_live_calls() { "$FAXCTL" -s "$W/$1/faxd.sock" status 2> /dev/null | sed -n 's/^calls=\([0-9]*\).*/\1/p'; }

# key=value of a RESULT line.
cap_field() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1 | tr -d '"'; }

# ---- one mode ---------------------------------------------------------------------

# cap_run MODE: writes one JSON object for the mode to $W/MODE.json; sets CAP_MODE_OK=1
# when every call succeeded.
cap_run() {
    local mode=$1 d=$W/$1
    local sa=$SIPBASE sb=$((SIPBASE + 1))
    [ "$mode" = g711 ] && sa=$((SIPBASE + 2)) && sb=$((SIPBASE + 3))
    mkdir -p "$d/res"
    CAP_MODE_OK=0

    # Reference first, on a machine not yet loaded by our own faxd.
    cap_log "$mode: spandsp_alone x$REFRUNS on $W/tx.tif"
    local k ref_cpu=0 ref_sim=0 ref_eff="" ref_res=ok ref_line
    for k in $(seq 1 "$REFRUNS"); do
        ref_line=$("$ALONE" --tiff "$W/tx.tif" --mode "$mode" --ecm 1 --rx "$d/ref_rx.tif" 2> "$d/ref.err")
        echo "$ref_line" >> "$d/ref.jsonl"
        local r
        r=$(echo "$ref_line" | sed -n 's/.*"result":"\([^"]*\)".*/\1/p')
        [ "$r" = ok ] || ref_res=$r
        ref_cpu=$(awk -v a="$ref_cpu" -v b="$(echo "$ref_line" | sed -n 's/.*"cpu_seconds":\([0-9.]*\).*/\1/p')" 'BEGIN {print a + b}')
        ref_sim=$(awk -v a="$ref_sim" -v b="$(echo "$ref_line" | sed -n 's/.*"sim_seconds":\([0-9.]*\).*/\1/p')" 'BEGIN {print a + b}')
        [ -n "$ref_eff" ] || ref_eff=$(echo "$ref_line" | sed -n 's/.*"line_efficiency":\([0-9.]*\).*/\1/p')
    done
    [ -n "$ref_eff" ] || ref_eff=0

    local floor_json=null floor_pc=""
    if [ "$FLOORSEC" -gt 0 ]; then
        if [ -x "$FLOOR" ]; then
            local fargs="--pps 50 --size 172"
            [ "$mode" = t38 ] && fargs="--pps 10 --size 100"
            cap_log "$mode: capacity_udp_floor, $CALLS streams for ${FLOORSEC}s"
            # shellcheck disable=SC2086 # fargs is two options
            floor_json=$("$FLOOR" --channels "$CALLS" --seconds "$FLOORSEC" $fargs 2> "$d/floor.err") ||
                floor_json=null
            floor_pc=$(echo "$floor_json" | sed -n 's/.*"cpu_per_channel_second":\([0-9.]*\).*/\1/p')
        else
            cap_log "$mode: $FLOOR not built: no udp_floor"
        fi
    fi

    if [ "$mode" = t38 ]; then
        # A offers image/t38 in its first INVITE (t38_policy = require); B answers it.
        cap_start_faxd "a_$mode" "$sa" "$MEDIA_A" "t38_policy = require" "t38_reinvite = yes"
        cap_start_faxd "b_$mode" "$sb" "$MEDIA_B" "t38_policy = prefer" "t38_reinvite = no"
    else
        cap_start_faxd "a_$mode" "$sa" "$MEDIA_A" "t38_policy = never"
        cap_start_faxd "b_$mode" "$sb" "$MEDIA_B" "t38_policy = never"
    fi
    local pa pb
    eval "pa=\$CAP_PID_a_$mode; pb=\$CAP_PID_b_$mode"

    # Idle baseline: let both settle, then 2 s of idle CPU and the idle RSS.
    sleep 1
    local idle_c0 idle_c1 rss_idle
    idle_c0=$(cap_cpu_ticks "$pb")
    sleep 2
    idle_c1=$(cap_cpu_ticks "$pb")
    rss_idle=$(cap_status_kb "$pb" VmRSS)

    # RSS/CPU sampler, every 0.5 s: time rssB cpuB cpuA.
    (
        while :; do
            echo "$(date +%s.%N) $(cap_status_kb "$pb" VmRSS) $(cap_cpu_ticks "$pb") $(cap_cpu_ticks "$pa")"
            sleep 0.5
        done
    ) > "$d/samples" 2> /dev/null &
    CAP_SAMPLER=$!

    local load0 mach0 cpu_b0 cpu_a0 thr0 t0
    load0=$(cap_loadavg)
    local top0
    top0=$(cap_top_others)
    [ -n "$top0" ] || top0="[]"
    mach0=$(cap_machine)
    cap_thread_ticks "$pb" > "$d/threads0"
    cpu_b0=$(cap_cpu_ticks "$pb")
    local us_b0 us_b1
    us_b0=$(cap_cpu_split "$pb")
    local perf_pid=""
    if [ "$PERF" = 1 ]; then
        perf record -q -F 499 -g -p "$pb" -o "$d/perf.data" > "$d/perf.log" 2>&1 &
        perf_pid=$!
    fi
    cpu_a0=$(cap_cpu_ticks "$pa")
    t0=$(date +%s.%N)

    cap_log "$mode: starting $CALLS calls over ${SPREAD}s"
    local gap i
    gap=$(awk -v s="$SPREAD" -v n="$CALLS" 'BEGIN {printf "%.4f", (n > 1 ? s / (n - 1) : 0)}')
    for i in $(seq 1 "$CALLS"); do
        (
            timeout "$CALLTMO" "$FAXCTL" -s "$W/a_$mode/faxd.sock" send "$W/tx.tif" \
                "sip:$((1000 + i))@127.0.0.1:$sb" > "$d/res/$i.out" 2>&1
            echo $? > "$d/res/$i.rc"
        ) &
        [ "$i" -lt "$CALLS" ] && sleep "$gap"
    done
    local t_started
    t_started=$(date +%s.%N)
    wait_sends() {
        local n dead=0
        while :; do
            n=$(ls "$d/res/" | grep -c '\.rc$')
            [ "$n" -ge "$CALLS" ] && return 0
            if [ "$dead" = 0 ] && ! kill -0 "$pb" 2> /dev/null; then
                cap_log "$mode: faxd B died; see $W/b_$mode.log"
                dead=1
            fi
            sleep 0.5
        done
    }
    wait_sends
    local t_sends_done
    t_sends_done=$(date +%s.%N)
    # B may still be hanging up: stop the clock when it has no call left (max 15 s).
    for _ in $(seq 1 30); do
        [ "$(cap_live_calls "b_$mode")" = 0 ] && break
        sleep 0.5
    done
    local cpu_b1 cpu_a1 mach1 t1 hwm load1
    cpu_b1=$(cap_cpu_ticks "$pb")
    us_b1=$(cap_cpu_split "$pb")
    if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid" 2> /dev/null
        wait "$perf_pid" 2> /dev/null
    fi
    cpu_a1=$(cap_cpu_ticks "$pa")
    mach1=$(cap_machine)
    t1=$(date +%s.%N)
    cap_thread_ticks "$pb" > "$d/threads1"
    hwm=$(cap_status_kb "$pb" VmHWM)
    load1=$(cap_loadavg)
    kill "$CAP_SAMPLER" 2> /dev/null
    wait "$CAP_SAMPLER" 2> /dev/null
    CAP_SAMPLER=""
    # We have not signalled A or B yet: a "stop signal" logged so far came from someone
    # else (e.g. a broad `pkill faxd` on a shared machine) and spoils the run.
    local ext_stop
    ext_stop=$(grep -h 'stop signal' "$W/a_$mode.log" "$W/b_$mode.log" | head -n 1 | cut -d' ' -f1)
    [ -n "$ext_stop" ] && cap_log "$mode: WARNING: faxd got a stop signal we did not send at $ext_stop; this run is invalid"
    cap_stop_pids
    local perfj="null"
    if [ -n "$perf_pid" ]; then
        # Self time by symbol (no children), then by shared object.
        perf report -i "$d/perf.data" --stdio --no-children --sort dso,sym -g none \
            > "$d/perf.txt" 2> /dev/null
        perf report -i "$d/perf.data" --stdio --no-children --sort dso -g none \
            > "$d/perf_dso.txt" 2> /dev/null
        perfj=$( (
            grep -E '^ +[0-9.]+%' "$d/perf_dso.txt" | head -n 8 |
                awk '{printf "%s\"%s %s\"", (n++ ? "," : ""), $1, $2}' | sed 's/^/{"by_dso":[/; s/$/],/'
            grep -E '^ +[0-9.]+%' "$d/perf.txt" | head -n 20 | tr -d '"\\' |
                awk '{p = $1; $1 = ""; sub(/^ +/, ""); gsub(/ +/, " ");
                printf "%s\"%s %s\"", (n++ ? "," : ""), p, $0}' | sed 's/^/"by_symbol":[/; s/$/]}/'
        ) | tr -d '\n')
        [ -n "$perfj" ] || perfj="null"
    fi

    # ---- per-call results (A's RESULT lines) ----
    : > "$d/results.tsv"
    local ok=0 fail=0 line res
    for i in $(seq 1 "$CALLS"); do
        line=$(grep -m1 '^RESULT ' "$d/res/$i.out" 2> /dev/null)
        if [ -n "$line" ]; then
            res=$(cap_field result "$line")
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$i" "$res" "$(cap_field duration "$line")" \
                "$(cap_field image_time "$line")" "$(cap_field mode "$line")" \
                "$(cap_field pages "$line")" >> "$d/results.tsv"
        else
            res=none
            printf '%s\tnone\t0\t0\t-\t0\n' "$i" >> "$d/results.tsv"
        fi
        if [ "$res" = ok ]; then ok=$((ok + 1)); else fail=$((fail + 1)); fi
    done
    # Why calls failed: reason (or the faxctl message) -> count.
    local failures="[]"
    if [ "$fail" -gt 0 ]; then
        failures=$(for i in $(seq 1 "$CALLS"); do
            line=$(grep -m1 '^RESULT ' "$d/res/$i.out" 2> /dev/null)
            if [ -n "$line" ]; then
                [ "$(cap_field result "$line")" = ok ] && continue
                echo "$(cap_field result "$line") mode=$(cap_field mode "$line") pages=$(cap_field pages "$line") reason=$(echo "$line" | sed -n 's/.*reason="\([^"]*\)".*/\1/p')"
            else
                echo "no RESULT rc=$(cat "$d/res/$i.rc" 2> /dev/null): $(head -c 160 "$d/res/$i.out" | tr '\n"\\' '  /')"
            fi
        done | sort | uniq -c | sort -rn | awk '{c = $1; $1 = ""; sub(/^ /, ""); gsub(/"/, "'"'"'");
            printf "%s{\"count\":%d,\"what\":\"%s\"}", (n++ ? "," : ""), c, $0}' | sed 's/^/[/; s/$/]/')
    fi
    # Warnings and errors of both logs, by message (timestamps, tags and numbers cut).
    local logsum
    logsum=$(for n in a b; do
        awk -v node="$n" 'tolower($3) ~ /^(err|warn|crit)/ {
            for (i = 4; i <= NF; i++)
                if ($i ~ /^(fax|job|sess|dest|uri|from|to|remote)=/) $i = substr($i, 1, index($i, "=")) "*"
            $1 = ""; $2 = ""; sub(/^ +/, ""); m = $0
            gsub(/[0-9]+/, "#", m); gsub(/"/, "'"'"'", m); print node ": " substr(m, 1, 150) }' \
            "$W/${n}_$mode.log"
    done | sort | uniq -c | sort -rn | head -n 15 | awk '{c = $1; $1 = ""; sub(/^ /, "");
        gsub(/\\/, "/"); printf "%s{\"count\":%d,\"what\":\"%s\"}", (n++ ? "," : ""), c, $0}' | sed 's/^/[/; s/$/]/')

    # B's own view: engine duration and image time from its phase E lines.
    local b_eng
    b_eng=$(grep ' phase E ' "$W/b_$mode.log" | awk '{
        r = d = im = ""
        for (i = 1; i <= NF; i++) {
            if ($i ~ /^result=/) r = substr($i, 8)
            else if ($i ~ /^duration=/) d = substr($i, 10)
            else if ($i ~ /^image_time=/) im = substr($i, 12)
        }
        n++; if (r == "ok") { ok++; sd += d; si += im } }
        END { printf "%d %d %.3f %.3f", n, ok, sd, si }')
    # Precise image time on B from its per-page lines (bytes*8/rate; RESULT rounds to 0.1 s).
    local b_img
    b_img=$(grep ' page done ' "$W/b_$mode.log" | awk '{
        r = b = 0
        for (i = 1; i <= NF; i++) {
            if ($i ~ /^rate=/) r = substr($i, 6)
            else if ($i ~ /^bytes=/) b = substr($i, 7)
        }
        if (r > 0) s += b * 8 / r; n++ } END { printf "%d %.3f", n, s }')

    # Media health on B (info level logs one line per call): RTP jitter buffer and UDPTL
    # counters summed over the calls; late/lost > 0 would mean packets or ticks slipped.
    local mstats
    mstats=$(grep -hE ' (rtp|udptl) stats ' "$W/b_$mode.log" | awk '{
        for (i = 1; i <= NF; i++) if ($i ~ /^[a-z_]+=[0-9]+$/ && $i !~ /^sess=/) { split($i, kv, "="); s[$4 "_" kv[1]] += kv[2] }
        n++ } END { printf "{\"stat_lines\":%d", n; for (k in s) printf ",\"%s\":%d", k, s[k]; printf "}" }')
    [ -n "$mstats" ] || mstats="{}"

    # Threads of B: CPU seconds over the run.
    local threads=""
    threads=$(join -a1 -e0 -o 0,1.2,2.2 "$d/threads1" "$d/threads0" | awk -v tck="$TCK" \
        -v t0="$t0" -v t1="$t1" '{ s = ($2 - $3) / tck
        printf "%s\"%s\":{\"cpu_s\":%.2f,\"busy_share\":%.3f}", (n++ ? "," : ""), $1, s, s / (t1 - t0) }' |
        sed 's/^/{/; s/$/}/')
    [ -n "$threads" ] || threads="{}"

    # Peak RSS sampled; CPU of B per 0.5 s sample -> max instant use (cores).
    local samp
    samp=$(awk -v tck="$TCK" 'NF >= 4 { if ($2 > pk) pk = $2
        if (pt != "" && $1 > pt) { u = ($3 - pc) / tck / ($1 - pt); if (u > mu) mu = u }
        pt = $1; pc = $3; n++ } END { printf "%d %d %.3f", n, pk, mu }' "$d/samples")

    # ---- figures ----
    awk -v mode="$mode" -v n="$CALLS" -v ok="$ok" -v tck="$TCK" \
        -v cb0="$cpu_b0" -v cb1="$cpu_b1" -v ca0="$cpu_a0" -v ca1="$cpu_a1" \
        -v ic0="$idle_c0" -v ic1="$idle_c1" -v t0="$t0" -v ts="$t_started" \
        -v tsd="$t_sends_done" -v t1="$t1" -v rss_idle="$rss_idle" -v hwm="$hwm" \
        -v samp="$samp" -v m0="$mach0" -v m1="$mach1" -v nproc="$NPROC" \
        -v ref_cpu="$ref_cpu" -v ref_sim="$ref_sim" -v ref_eff="$ref_eff" -v ref_res="$ref_res" \
        -v refruns="$REFRUNS" -v b_eng="$b_eng" -v b_img="$b_img" -v threads="$threads" \
        -v failures="$failures" -v logsum="$logsum" -v load0="$load0" -v load1="$load1" \
        -v top0="$top0" -v us0="$us_b0" -v us1="$us_b1" -v perfj="$perfj" -v ext_stop="$ext_stop" -v mstats="$mstats" -v floor_json="$floor_json" -v floor_pc="$floor_pc" -v pages="$PAGES" -v mloops="$MLOOPS" -v spread="$SPREAD" '
    function b(x) { return x ? "true" : "false" }
    BEGIN {
        # per-call sums from the RESULT lines
        while ((getline l < "'"$d/results.tsv"'") > 0) {
            split(l, f, "\t")
            if (f[2] == "ok") { sd += f[3]; si += f[4]; nok++ }
            if (f[5] != "-" && f[5] != "" && f[5] != mode) wrongmode++
            if (f[3] > maxd) maxd = f[3]
            if (mind == "" || (f[3] > 0 && f[3] < mind)) mind = f[3]
        }
        cpu_b = (cb1 - cb0) / tck; cpu_a = (ca1 - ca0) / tck
        idle_rate = (ic1 - ic0) / tck / 2
        wall = t1 - t0
        per_ch = sd > 0 ? cpu_b / sd : 0
        ref_pair = ref_sim > 0 ? ref_cpu / ref_sim : 0
        ref_eng = ref_pair / 2
        ratio = ref_eng > 0 ? per_ch / ref_eng : 0
        eff = sd > 0 ? si / sd : 0
        split(samp, s, " "); split(m0, ma, " "); split(m1, mb, " ")
        split(b_eng, be, " "); split(b_img, bi, " ")
        peak = s[2] > hwm ? s[2] : hwm
        peak_s = s[2]
        mem_ch = (peak_s - rss_idle) / n
        mbusy = (mb[2] - ma[2]) > 0 ? (mb[1] - ma[1]) / (mb[2] - ma[2]) : 0
        b_eff = be[3] > 0 ? be[4] / be[3] : 0
        b_eff_precise = be[3] > 0 ? bi[2] / be[3] : 0
        limit = mode == "t38" ? 3 : 1.5
        target_n = mode == "t38" ? 200 : 100
        diff_pts = (eff - ref_eff) * 100
        adiff = diff_pts < 0 ? -diff_pts : diff_pts
        all_ok = ok == n
        printf "{\"mode\":\"%s\",\"calls\":%d,\"pages_per_fax\":%d,\"media_loops\":%d,", mode, n, pages, mloops
        printf "\"start_spread_s\":%s,\"starts_took_s\":%.2f,\"wall_s\":%.2f,", spread, ts - t0, wall
        printf "\"sends_done_after_s\":%.2f,", tsd - t0
        printf "\"success\":{\"ok\":%d,\"failed\":%d,\"rate\":%.4f,\"wrong_mode\":%d,\"failures\":%s},", ok, n - ok, ok / n, wrongmode, failures
        printf "\"calls_sum_duration_s\":%.1f,\"call_duration_min_s\":%.1f,\"call_duration_max_s\":%.1f,\"calls_sum_image_time_s\":%.2f,", sd, mind, maxd, si
        printf "\"receiver_b\":{\"cpu_s\":%.2f,\"cpu_idle_per_s\":%.4f,\"cpu_per_channel_second\":%.6f,", cpu_b, idle_rate, per_ch
        printf "\"cpu_per_channel_second_net_of_idle\":%.6f,", (sd > 0 ? (cpu_b - idle_rate * wall) / sd : 0)
        split(us0, u0, " "); split(us1, u1, " ")
        printf "\"cpu_user_s\":%.2f,\"cpu_sys_s\":%.2f,", (u1[1] - u0[1]) / tck, (u1[2] - u0[2]) / tck
        printf "\"peak_cpu_cores_0_5s\":%.3f,\"threads\":%s,", s[3], threads
        printf "\"rss_idle_kb\":%d,\"rss_peak_sampled_kb\":%d,\"vm_hwm_kb\":%d,\"rss_samples\":%d,", rss_idle, peak_s, hwm, s[1]
        printf "\"mem_per_channel_kb\":%.1f,\"media_stats\":%s},", mem_ch, mstats
        printf "\"sender_a\":{\"cpu_s\":%.2f,\"cpu_per_channel_second\":%.6f},", cpu_a, (sd > 0 ? cpu_a / sd : 0)
        printf "\"line_efficiency\":{\"faxd\":%.4f,\"spandsp_alone\":%.4f,\"diff_points\":%.2f,", eff, ref_eff, diff_pts
        printf "\"faxd_b_engine_time\":%.4f,\"faxd_b_engine_time_precise\":%.4f,", b_eff, b_eff_precise
        printf "\"b_phase_e_lines\":%d,\"b_phase_e_ok\":%d,\"b_engine_sum_s\":%.1f,\"b_pages_logged\":%d,", be[1], be[2], be[3], bi[1]
        printf "\"note\":\"faxd = sum(image_time)/sum(duration) of the RESULT lines (wall call time incl. SIP set-up; image_time rounded to 0.1 s); faxd_b_engine_time* use B engine time from its phase E lines, comparable with spandsp_alone simulated time\"},"
        printf "\"spandsp_alone\":{\"runs\":%d,\"result\":\"%s\",\"cpu_s\":%.4f,\"sim_s\":%.2f,", refruns, ref_res, ref_cpu, ref_sim
        printf "\"cpu_per_call_second_pair\":%.6f,\"cpu_per_engine_second\":%.6f,", ref_pair, ref_eng
        printf "\"note\":\"spandsp_alone runs two engines (sender and receiver) in one process: cpu_per_call_second is for the PAIR; per single channel it is divided by 2\"},"
        printf "\"ratio\":%.3f,\"ratio_definition\":\"receiver_b.cpu_per_channel_second / spandsp_alone.cpu_per_engine_second\",", ratio
        if (floor_pc != "" && ref_eng > 0)
            printf "\"udp_floor\":{\"run\":%s,\"best_case_ratio\":%.3f,\"ratio_above_floor\":%.3f,\"note\":\"socket cost alone per channel-second (capacity_udp_floor); best_case_ratio = (floor + spandsp engine) / engine: what faxd would reach with zero overhead of its own; ratio_above_floor = (faxd - floor) / engine\"},", floor_json, (floor_pc + ref_eng) / ref_eng, (per_ch - floor_pc) / ref_eng
        else
            printf "\"udp_floor\":null,"
        printf "\"machine\":{\"nproc\":%d,\"loadavg_before\":\"%s\",\"loadavg_after\":\"%s\",\"busy_share_during_run\":%.3f,\"busy_cores_during_run\":%.2f,\"busy_cores_ours\":%.2f,\"busy_cores_others\":%.2f,\"busiest_others_before\":%s},", nproc, load0, load1, mbusy, mbusy * nproc, (cpu_a + cpu_b) / wall, mbusy * nproc - (cpu_a + cpu_b) / wall, top0
        printf "\"targets\":{"
        printf "\"ratio\":{\"max\":%s,\"value\":%.3f,\"met\":%s},", limit, ratio, b(ref_eng > 0 && sd > 0 && ratio <= limit)
        if (n >= target_n)
            printf "\"all_succeed\":{\"calls_required\":%d,\"calls_run\":%d,\"ok\":%d,\"met\":%s},", target_n, n, ok, b(all_ok)
        else
            printf "\"all_succeed\":{\"calls_required\":%d,\"calls_run\":%d,\"ok\":%d,\"met\":null,\"note\":\"not tested at target size: run with --calls %d\"},", target_n, n, ok, target_n
        printf "\"line_efficiency\":{\"max_diff_points\":2,\"diff_points\":%.2f,\"met\":%s}}", diff_pts, b(nok > 0 && adiff <= 2)
        printf ",\"valid\":%s,\"external_stop_signal_at\":%s", b(ext_stop == ""), (ext_stop == "" ? "null" : "\"" ext_stop "\"")
        printf ",\"log_warnings\":%s,\"perf_b\":%s}", (logsum == "" ? "[]" : logsum), perfj
    }' > "$W/$mode.json"
    [ "$ok" -eq "$CALLS" ] && CAP_MODE_OK=1
    cap_log "$mode: $ok/$CALLS ok; work dir $d"
}

cap_log "work dir $W; build $BUILD; $NPROC cores; load $(cap_loadavg)"
"$MKPAGES" "$W/tx.tif" --pages "$PAGES" --seed 7 > /dev/null || { cap_log "fx_mkpages failed"; exit 2; }

objs=""
allok=1
for m in $MODES; do
    cap_run "$m"
    [ "$CAP_MODE_OK" = 1 ] || allok=0
    objs="$objs${objs:+,}$(cat "$W/$m.json")"
done
{
    printf '{"bench":"capacity","date":"%s","host":"%s","tiff":{"pages":%d,"maker":"fx_mkpages --seed 7"},' \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(uname -n)" "$PAGES"
    printf '"faxd_config":{"nice":%d,"media_loops":%d,"log_level":"%s","ports_per_node":%d,"ecm":"yes","t38":"A t38_policy=require (T.38 in the first INVITE), B prefer","g711":"t38_policy=never on both"},' \
        "$NICE" "$MLOOPS" "$LOGLEVEL" "$MEDIA_SPAN"
    printf '"workdir":"%s","workdir_fs":"%s","runs":[%s]}\n' "$W" "$(stat -f -c %T "$W")" "$objs"
} > "$OUT.tmp"
if command -v jq > /dev/null 2>&1; then
    jq . "$OUT.tmp" > "$OUT" || { cap_log "invalid JSON left in $OUT.tmp"; exit 2; }
    rm -f "$OUT.tmp"
else
    mv "$OUT.tmp" "$OUT"
fi
cat "$OUT"
cap_log "wrote $OUT"
CAP_ALLOK=$allok
[ "$allok" = 1 ] && exit 0
exit 1
