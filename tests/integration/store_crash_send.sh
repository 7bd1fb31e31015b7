# Crash test (STYLE.md section 10), invariant 2: acknowledged means durable, and a job
# survives a crash of its sender without being lost or sent twice. Rounds: A queues a
# 3-page fax to B; at a random moment A is killed -9 and restarted; queue_recover() reloads
# the job and resumes from the first page not confirmed (t30_set_tx_file start page).
# Checked per round, once every call has ended:
#  - exactly one done/ record for the job, none in failed/ or queue/;
#  - every page 1..3 reached B (B's faxes are matched page by page with fx_pageid;
#    each round sends a document drawn with its own seed, so pages name their round);
#  - the pages A's record showed confirmed at the kill were not sent again;
#  - at most one page arrived twice, and only the page in flight at the kill.
# That last allowance is the inherent at-least-once of fax: the receiver's MCF for a
# page may reach A, or be sent by B, after A's last durable record and before the kill
# (the confirmation is persisted by the main loop a moment after the media loop sees
# it), so A cannot know the page arrived and sends it again. T.30 has no way to ask
# the far end which pages it already holds. Any other duplicate is a bug.
# Three A/B pairs (G.711 with ECM, G.711 without ECM, T.38) run side by side.
# Retry settings are the defaults except retry_protocol = retry_nofax = 0, so a resumed
# call that fails is redialled at once. FX_SEED makes the kill moments reproducible.
. "$(dirname "$0")/lib.sh"
fx_init store_crash_send 32
SEED=${FX_SEED:-$(date +%s)}
ROUNDS=${ROUNDS:-30}
fx_log "seed $SEED (rerun with FX_SEED=$SEED), $ROUNDS rounds over 3 pairs"
: > "$FX_DIR/pids"
crash_cleanup() {
    FX_PIDS="$FX_PIDS $(cat "$FX_DIR/pids" 2>/dev/null)"
    fx_cleanup
}
trap crash_cleanup EXIT

pair_cfg() { # pair_cfg P a|b -> config lines, one per line
    case "$1/$2" in
    0/*) printf '%s\n' "t38_policy = never" "ecm = yes" ;;
    1/*) printf '%s\n' "t38_policy = never" "ecm = no" ;;
    2/a) printf '%s\n' "t38_policy = prefer" "t38_reinvite = yes" ;;
    2/b) printf '%s\n' "t38_policy = prefer" "t38_reinvite = no" ;;
    esac
    # B: bound the orphaned half of a killed call (see the report on T.38 orphans).
    [ "$2" = a ] && printf '%s\n' "retry_protocol = 0" "retry_nofax = 0" ||
        printf '%s\n' "phase_e_timeout = 60"
}

start() {
    local p=$1 role=$2 i cfg=()
    [ "$role" = a ] && i=$((2 * p)) || i=$((2 * p + 1))
    mapfile -t cfg < <(pair_cfg "$p" "$role")
    fx_start_node "$i" "$role$p" "${cfg[@]}"
    fx_node_pid "$role$p" >> "$FX_DIR/pids"
}

# rec_pages FILE -> rcpt.0.pages of a job record file (read while faxd is down).
rec_pages() {
    [ -f "$1" ] || { echo 0; return; }
    tr -c '[:print:]' '\n' < "$1" | sed -n 's/^.*rcpt\.0\.pages=\([0-9]*\).*$/\1/p' | tail -n 1
}

# check_b P: after all rounds of pair P, B's faxes are matched to the rounds (each fax's
# pages must all be pages of one round's document) and each round's pages are counted.
check_b() {
    local p=$1 b=b$1 f r k c lines seen durable dups
    fx_wait_idle "$b" 120 || fx_fail "B still in a call long after the last round"
    declare -A got=()
    for f in $(comm -13 "$FX_DIR/b$p.before" <(ls "$FX_DIR/$b/spool/incoming/" | sort) |
        grep '\.tif$'); do
        local owner=""
        for r in $(cut -d' ' -f1 "$FX_DIR/rounds.$p"); do
            if lines=$($PAGEID "$FX_DIR/tx.$p.$r.tif" "$FX_DIR/$b/spool/incoming/$f"); then
                owner=$r
                break
            fi
        done
        [ -n "$owner" ] || fx_fail "B's fax $f is not (only) pages of one sent document: $lines"
        got[$owner]="${got[$owner]:-} $(echo "$lines" | sed -n 's/^rx [0-9]* = tx \([0-9]*\)$/\1/p' | tr '\n' ' ')"
        got[n$owner]=$((${got[n$owner]:-0} + 1))
    done
    while read -r r id ms durable where; do
        seen=${got[$r]:-}
        dups=0
        for k in 1 2 3; do
            c=$(echo "$seen" | tr ' ' '\n' | grep -cx "$k")
            [ "$c" -ge 1 ] || fx_fail "round $r job $id: page $k never reached B (seen:$seen)"
            if [ "$c" -gt 1 ]; then
                [ "$k" -le "$durable" ] &&
                    fx_fail "round $r job $id: page $k sent again though A had it confirmed on disk (seen:$seen)"
                [ "$k" = $((durable + 1)) ] && [ "$c" = 2 ] ||
                    fx_fail "round $r job $id: page $k arrived $c times, $durable were durable (seen:$seen)"
                dups=$((dups + 1))
            fi
        done
        fx_log "round $r job=$id kill_ms=$ms durable=$durable was=$where faxes=${got[n$r]:-0} pages seen:$seen"
        echo "$r $ms $durable $where $dups ${got[n$r]:-0}" >> "$FX_DIR/stats.$p"
    done < "$FX_DIR/rounds.$p"
    local out
    out=$(fx_check_spool "$b") || fx_fail "B's spool damaged: $out"
}

# worker P N: N rounds on pair P. A's side is checked each round; B's at the end, since
# B's half of a killed call lingers until T.30 (or, under T.38, phase_e_timeout) ends it.
worker() {
    local p=$1 n=$2 a=a$1 b=b$1 r
    FX_NAME="store_crash_send[p$p]"
    RANDOM=$((SEED + p))
    start "$p" a
    start "$p" b
    ls "$FX_DIR/$b/spool/incoming/" | sort > "$FX_DIR/b$p.before"
    : > "$FX_DIR/rounds.$p"
    local dest="sip:100@127.0.0.1:$(fx_sip_port $((2 * p + 1)))"
    for r in $(seq 1 "$n"); do
        local tx="$FX_DIR/tx.$p.$r.tif" out id ms st durable where
        fx_pages "$tx" 3 --seed $((1000 * p + r))
        out=$(fx_ctl "$a" send --no-wait "$tx" "$dest") || fx_fail "send: $out"
        id=$(echo "$out" | sed -n 's/^OK job=\([0-9A-F]*\).*/\1/p')
        [ -n "$id" ] || fx_fail "no job id in: $out"
        ms=$((2000 + RANDOM % 23000))
        sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"
        fx_kill9 "$a"
        # What A's disk says was confirmed when it died.
        where=queue
        [ -f "$FX_DIR/$a/spool/done/$id.rec" ] && where=done
        durable=$(rec_pages "$FX_DIR/$a/spool/$where/$id.rec")
        durable=${durable:-0}
        start "$p" a
        for _ in $(seq 1 900); do
            st=$(fx_ctl "$a" job "$id" 2>/dev/null | sed -n 's/^OK folder=//p')
            [ "$st" = done ] || [ "$st" = failed ] && break
            sleep 0.2
        done
        [ "$st" = done ] || fx_fail "round $r: job $id ended in '$st', not done (kill at ${ms} ms)"
        [ -f "$FX_DIR/$a/spool/done/$id.rec" ] && [ ! -e "$FX_DIR/$a/spool/failed/$id.rec" ] &&
            [ ! -e "$FX_DIR/$a/spool/queue/$id.rec" ] ||
            fx_fail "round $r: job $id not exactly once in done/: $(ls "$FX_DIR/$a"/spool/*/"$id".*)"
        out=$(fx_check_spool "$a") || fx_fail "round $r: A's spool damaged: $out"
        echo "$r $id $ms $durable $where" >> "$FX_DIR/rounds.$p"
    done
    check_b "$p"
    fx_alive "$a" && fx_alive "$b" || fx_fail "a faxd died"
}

per=$(((ROUNDS + 2) / 3))
pids=""
for p in 0 1 2; do
    worker "$p" "$per" &
    pids="$pids $!"
done
bad=0
for w in $pids; do wait "$w" || bad=1; done
[ "$bad" = 0 ] || fx_fail "a pair failed (see above); seed $SEED"

cat "$FX_DIR"/stats.* | awk -v seed="$SEED" '
    { n++; if ($4 == "done") ph["end"]++; else ph[$3]++; dup += $5; faxes += $6 }
    END {
        printf "SUMMARY seed=%s rounds=%d kills: before page 1=%d, after page 1=%d, " \
               "after page 2=%d, after the job was done=%d; faxes at B=%d; " \
               "pages in flight sent twice=%d\n",
               seed, n, ph[0], ph[1], ph[2], ph["end"], faxes, dup
    }'
[ "$(cat "$FX_DIR"/stats.* | wc -l)" -ge "$ROUNDS" ] || fx_fail "fewer rounds than $ROUNDS ran"
fx_pass
