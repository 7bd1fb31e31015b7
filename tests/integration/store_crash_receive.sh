# Crash test (STYLE.md section 10), invariant 1: a page the far end was told we received
# is on disk. Rounds: A sends a 3-page fax to B; at a random moment B is killed -9, A's call
# is hung up at once; B restarts (faxd/recover.c turns the cut-off reception into a partial
# fax). B's spool must then hold at least every page A saw confirmed ("page N confirmed"
# events of A's job), each pixel-identical to the page sent, and nothing damaged.
# Three A/B pairs run side by side (G.711 with ECM, G.711 without ECM, T.38), so the test
# takes about a third of the rounds' time. Each round sends a document drawn with its own
# seed, so a page found in B's spool names its round too.
# The B nodes archive into a real PostgreSQL; at the end every fax each B kept must be in
# the archive with the same page count (the archive catches up after the restarts).
# FX_SEED (default: the clock) makes the kill moments reproducible; ROUNDS (default 30).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_pg.sh"
fx_init store_crash_receive 31
fx_start_pg
SEED=${FX_SEED:-$(date +%s)}
ROUNDS=${ROUNDS:-30}
fx_log "seed $SEED (rerun with FX_SEED=$SEED), $ROUNDS rounds over 3 pairs"
: > "$FX_DIR/pids"
# Workers start and restart faxd in subshells: their pids reach the clean-up via a file.
crash_cleanup() {
    FX_PIDS="$FX_PIDS $(cat "$FX_DIR/pids" 2>/dev/null)"
    fx_pg_cleanup
}
trap crash_cleanup EXIT

pair_cfg() { # pair_cfg P a|b -> config lines, one per line
    case "$1/$2" in
    0/*) printf '%s\n' "t38_policy = never" "ecm = yes" ;;
    1/*) printf '%s\n' "t38_policy = never" "ecm = no" ;;
    2/a) printf '%s\n' "t38_policy = prefer" "t38_reinvite = yes" ;;
    2/b) printf '%s\n' "t38_policy = prefer" "t38_reinvite = no" ;;
    esac
    [ "$2" = b ] && printf '%s\n' "db_dsn = $FX_DSN"
    return 0
}

# start P a|b: (re)starts node a<P> or b<P>.
start() {
    local p=$1 role=$2 i cfg=()
    [ "$role" = a ] && i=$((2 * p)) || i=$((2 * p + 1))
    mapfile -t cfg < <(pair_cfg "$p" "$role")
    fx_start_node "$i" "$role$p" "${cfg[@]}"
    fx_node_pid "$role$p" >> "$FX_DIR/pids"
}

# worker P N: N rounds on pair P; one line per round in $FX_DIR/stats.P.
worker() {
    local p=$1 n=$2 a=a$1 b=b$1 r
    FX_NAME="store_crash_receive[p$p]"
    RANDOM=$((SEED + p))
    start "$p" a
    start "$p" b
    local dest="sip:100@127.0.0.1:$(fx_sip_port $((2 * p + 1)))"
    for r in $(seq 1 "$n"); do
        local tx="$FX_DIR/tx.$p.$r.tif" before out id ms st confirmed new ids k
        fx_pages "$tx" 3 --seed $((1000 * p + r))
        before=$(ls "$FX_DIR/$b/spool/incoming/" | sort)
        out=$(fx_ctl "$a" send --no-wait --max-dials 1 "$tx" "$dest") || fx_fail "send: $out"
        id=$(echo "$out" | sed -n 's/^OK job=\([0-9A-F]*\).*/\1/p')
        [ -n "$id" ] || fx_fail "no job id in: $out"
        ms=$((2000 + RANDOM % 23000))
        sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"
        fx_kill9 "$b"
        fx_ctl "$a" hangup "$id" >/dev/null 2>&1 # the call may be over already
        for _ in $(seq 1 300); do
            st=$(fx_ctl "$a" job "$id" 2>/dev/null | sed -n 's/^OK folder=//p')
            [ "$st" = done ] || [ "$st" = failed ] && break
            sleep 0.2
        done
        [ "$st" = done ] || [ "$st" = failed ] || fx_fail "round $r: job $id did not end ($st)"
        confirmed=$(fx_ctl "$a" job "$id" | sed -n 's/.*rcpt=0 page \([0-9]*\) confirmed.*/\1/p' |
            sort -n | tail -n 1)
        confirmed=${confirmed:-0}
        start "$p" b
        new=$(comm -13 <(echo "$before") <(ls "$FX_DIR/$b/spool/incoming/" | sort) | grep '\.tif$')
        if [ "$confirmed" -gt 0 ] && [ "$(echo "$new" | grep -c .)" != 1 ]; then
            fx_fail "round $r: A saw $confirmed page(s) confirmed; B holds no fax of it (new: $new)"
        fi
        local stored=0
        if [ -n "$new" ]; then
            ids=$($PAGEID "$tx" "$FX_DIR/$b/spool/incoming/$new") ||
                fx_fail "round $r: B's pages are not the pages sent (kill at ${ms} ms): $ids"
            stored=$(echo "$ids" | sed -n 's/^matched=\([0-9]*\).*/\1/p')
            for k in $(seq 1 "$stored"); do
                echo "$ids" | grep -qx "rx $k = tx $k" ||
                    fx_fail "round $r: B's page $k is not page $k sent: $ids"
            done
            out=$(fx_ctl "$b" job "${new%.tif}") || fx_fail "round $r: record of $new: $out"
            echo "$out" | grep -qx "pages=$stored" ||
                fx_fail "round $r: record of $new does not say pages=$stored: $out"
        fi
        [ "$stored" -ge "$confirmed" ] ||
            fx_fail "round $r: A saw $confirmed page(s) confirmed, B kept $stored (kill at ${ms} ms)"
        out=$(fx_check_spool "$b") || fx_fail "round $r: B's spool damaged: $out"
        fx_log "round $r job=$id kill_ms=$ms confirmed=$confirmed stored=$stored A=$st"
        echo "$r $ms $confirmed $stored $st" >> "$FX_DIR/stats.$p"
    done
    fx_alive "$a" || fx_fail "faxd $a died"
    out=$(fx_check_spool "$a") || fx_fail "A's spool damaged: $out"
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

# Summary: rounds, kills by how far the fax had got, pages checked.
cat "$FX_DIR"/stats.* | awk -v seed="$SEED" '
    { n++; ph[$3]++; checked += $4; if ($5 == "done") whole++ }
    END {
        printf "SUMMARY seed=%s rounds=%d kills: before page 1=%d, after page 1=%d, " \
               "after page 2=%d, after page 3=%d; complete faxes=%d; pages checked=%d\n",
               seed, n, ph[0], ph[1], ph[2], ph[3], whole, checked
    }'
[ "$(cat "$FX_DIR"/stats.* | wc -l)" -ge "$ROUNDS" ] || fx_fail "fewer rounds than $ROUNDS ran"

# The archive: every fax kept in a B spool is in PostgreSQL with its page count.
archived=0
for p in 0 1 2; do
    fx_wait_for "b$p archive backlog drained" \
        sh -c "$FAXCTL -s '$FX_DIR/b$p/faxd.sock' status | grep -qx archive_backlog=0"
    for rec in "$FX_DIR/b$p/spool/incoming/"*.rec; do
        [ -f "$rec" ] || continue
        id=$(basename "$rec" .rec)
        want=$(fx_ctl "b$p" job "$id" | sed -n 's/^pages=//p')
        got=$(fx_sql "SELECT pages FROM faxes WHERE id = '$id'")
        [ "$got" = "$want" ] || fx_fail "archive: fax $id has pages='$got', the spool says $want"
        archived=$((archived + 1))
    done
done
fx_log "archive holds all $archived faxes kept in the spools, with their page counts"
fx_pass
