# faxd A sends a 3-page fax to faxd B over G.711 and is told to hang up while
# page 2 is on the line: A sends BYE mid-page (RFC 3261 section 15). The page
# already confirmed by MCF (T.30 clause 5.3.2.4) must survive on both sides:
# A's call ends result=partial pages=1, B stores a fax of exactly that page in
# incoming/ with result=partial. Neither faxd may crash.
. "$(dirname "$0")/lib.sh"
fx_init sip_bye_mid_page 21
fx_start_faxd 0 a "t38_policy = never" "ecm = yes"
fx_start_faxd 1 b "t38_policy = never" "ecm = yes"

# Long pages (1100 rows at fine resolution) keep page 2 on the line for a while.
fx_pages "$FX_DIR/tx.tif" 3 --lines 1100
out=$(fx_ctl a send --no-wait --max-tries 1 "$FX_DIR/tx.tif" "sip:100@127.0.0.1:$(fx_sip_port 1)") \
    || fx_fail "send refused: $out"
job=$(echo "$out" | sed -n 's/^OK job=\([0-9A-F]\{16\}\).*/\1/p')
[ -n "$job" ] || fx_fail "no job id in: $out"
fx_log "job $job queued"

# Wait for page 2 to be in transmission (page 1 confirmed). Timeouts here only
# stop a hang: 3000 polls of 0.1 s.
seen=""
for _ in $(seq 1 3000); do
    line=$(fx_ctl a calls | grep "^$job ") || line=""
    case "$line" in
    *" page=2 "*) seen=$line; break ;;
    *" page=3 "* | *" state=ending "* | *" state=closing "*)
        fx_fail "missed page 2: $line" ;;
    esac
    if [ -z "$line" ] && [ -n "$(fx_ctl a job "$job" | grep '^OK folder=\(done\|failed\)')" ]; then
        fx_fail "the job ended before page 2: $(fx_ctl a job "$job")"
    fi
    sleep 0.1
done
[ -n "$seen" ] || fx_fail "page 2 never started"
fx_log "on page 2: $seen"
# Page 1 took many seconds; 2 s more puts the BYE inside page 2's image data
# rather than at its first frame. Should page 2 finish anyway, pages=2 below
# fails the test rather than passing it by luck.
sleep 2
fx_ctl a hangup "$job" || fx_fail "hangup refused"

# A's job record: the result follows the BYE. --max-tries 1 above keeps the
# job engine from retrying (it would resume from page 2), so the job ends here.
rec=""
for _ in $(seq 1 600); do
    rec=$(fx_ctl a job "$job") || rec=""
    case "$rec" in "OK folder=done"* | "OK folder=failed"*) break ;; esac
    sleep 0.1
done
echo "$rec"
case "$rec" in "OK folder="*) ;; *) fx_fail "job $job did not end: $rec" ;; esac
# The call itself ended partial with one confirmed page ...
grep "call ended job=$job " "$FX_DIR/a.log" | grep -q "result=partial .*pages=1 " \
    || fx_fail "A: no 'call ended ... result=partial pages=1' log line"
# ... and the job keeps exactly that page as confirmed, and no other.
echo "$rec" | grep -qx "rcpt.0.pages=1" || fx_fail "A: expected rcpt.0.pages=1 confirmed"
echo "$rec" | grep -q "page 1 confirmed" || fx_fail "A: no 'page 1 confirmed' event"
echo "$rec" | grep -q "page [23] confirmed" && fx_fail "A: a page after page 1 was confirmed"

# B: the received fax, found by the id in its log.
id=""
for _ in $(seq 1 600); do
    id=$(sed -n 's/.*fax stored fax=\([0-9A-F]\{16\}\) .*/\1/p' "$FX_DIR/b.log" | tail -n 1)
    [ -n "$id" ] && break
    sleep 0.1
done
[ -n "$id" ] || fx_fail "B never stored the fax"
grep "fax stored fax=$id " "$FX_DIR/b.log"
rrec=$(fx_ctl b job "$id") || fx_fail "faxctl job $id on B failed: $rrec"
echo "$rrec"
echo "$rrec" | grep -qx "OK folder=incoming" || fx_fail "B: fax $id not in incoming/"
echo "$rrec" | grep -qx "result=partial" || fx_fail "B: expected result=partial"
echo "$rrec" | grep -qx "pages=1" || fx_fail "B: expected pages=1"
rx=$FX_DIR/b/spool/incoming/$id.tif
[ -f "$rx" ] || fx_fail "B: no image $rx"
# The stored image is exactly the confirmed page: page 1 of what was sent.
(cd "$FX_DIR" && tiffsplit tx.tif page_) || fx_fail "tiffsplit"
fx_expect_same "$FX_DIR/page_aaa.tif" "$rx"

# Both daemons survived and hold no call.
for n in a b; do
    eval "pid=\$FX_PID_$n"
    kill -0 "$pid" 2> /dev/null || fx_fail "faxd $n died"
    fx_ctl "$n" ping > /dev/null || fx_fail "faxd $n does not answer"
    for _ in $(seq 1 600); do
        case "$(fx_ctl "$n" calls)" in "OK calls=0"*) break ;; esac
        sleep 0.1
    done
    case "$(fx_ctl "$n" calls)" in "OK calls=0"*) ;; *) fx_fail "faxd $n still lists a call" ;; esac
done
fx_pass
