# Crash tests (STYLE.md section 10): the spool fails under faxd (fault shim
# tests/peers/fxfault.c, preloaded) and faxd must neither lie nor crash.
#  (a1) disk full on the receiver from the 2nd page on (every write: ENOSPC, as a full
#      disk does; fsync still succeeds): page 2 is never confirmed to the sender
#      (invariant 1: a page the far end was told we received is on disk), the call ends
#      with a reason, the receiver says why, and after restart its spool holds the one
#      confirmed page, nothing corrupt.
#  (a2) the fsync of page 2 fails (EIO): page 2 is not confirmed either.
#  (b) EIO on fsync at job submission: "ERR cannot take ...", nothing of the job in
#      queue/ (invariant 2: acknowledged means durable, and only that).
#  (c) ENOSPC on the rename of the job record: the job is rejected, nothing half-written.
# Fault positions are counted, not timed: (a) calibrates the write/fsync numbers of page 2
# on a clean reception traced by the shim, in a faxd started on an existing spool as the
# faulty ones are (a fresh spool costs one more fsync at start-up).
# (b) and (c) run first: they need one call less and should keep guarding invariant 2
# even while (a) fails.
. "$(dirname "$0")/lib.sh"
fx_init store_disk_full 30
fx_pages "$FX_DIR/tx.tif" 3
CFG=("t38_policy = never" "ecm = yes")

# ---- (b) EIO on fsync while a job is submitted ----
# a restarts on its existing spool: no fsync happens before the submission, so fsync #1
# is the fsync of the copied image in tmp/ (spool_store_copy).
fx_start_node 0 a "${CFG[@]}"
kill -TERM "$(fx_node_pid a)"; wait "$(fx_node_pid a)" 2>/dev/null
FX_FAULT="fsync:1:EIO" fx_start_node 0 a "${CFG[@]}"
dest="sip:100@127.0.0.1:$(fx_sip_port 1)"
out=$(fx_ctl a send --no-wait "$FX_DIR/tx.tif" "$dest" 2>&1) && fx_fail "send acknowledged: $out"
echo "$out"
echo "$out" | grep -q "cannot take .*Input/output error" || fx_fail "unclear refusal: $out"
grep -q "fxfault: fail fsync #1 path=.*/spool/tmp/store\." "$FX_DIR/a.log" ||
    fx_fail "the fsync fault did not hit the image store"
fx_alive a || fx_fail "faxd a died after a failed fsync"
[ -z "$(ls -A "$FX_DIR/a/spool/queue")" ] || fx_fail "queue/ holds: $(ls "$FX_DIR/a/spool/queue")"
[ -z "$(ls -A "$FX_DIR/a/spool/tmp")" ] || fx_fail "tmp/ holds: $(ls "$FX_DIR/a/spool/tmp")"
jobs=$(fx_ctl a jobs) || fx_fail "jobs: $jobs"
echo "$jobs" | grep -q "^OK jobs=0" || fx_fail "a refused job is listed: $jobs"

# Same with the fsync of the job record (#3 with #1 and #2 the image file and queue/).
kill -TERM "$(fx_node_pid a)"; wait "$(fx_node_pid a)" 2>/dev/null
FX_FAULT="fsync:3:EIO" fx_start_node 0 a "${CFG[@]}"
out=$(fx_ctl a send --no-wait "$FX_DIR/tx.tif" "$dest" 2>&1) && fx_fail "send acknowledged: $out"
echo "$out"
echo "$out" | grep -q "cannot queue the job: .*Input/output error" ||
    fx_fail "unclear refusal: $out"
grep -q "fxfault: fail fsync #3 path=.*/spool/tmp/store\." "$FX_DIR/a.log" ||
    fx_fail "the fsync fault did not hit the record store"
fx_alive a || fx_fail "faxd a died after a failed fsync"
[ -z "$(ls -A "$FX_DIR/a/spool/queue")" ] || fx_fail "queue/ holds: $(ls "$FX_DIR/a/spool/queue")"
[ -z "$(ls -A "$FX_DIR/a/spool/tmp")" ] || fx_fail "tmp/ holds: $(ls "$FX_DIR/a/spool/tmp")"

# ---- (c) ENOSPC on the rename of the job record (rename #1 is the image's) ----
kill -TERM "$(fx_node_pid a)"; wait "$(fx_node_pid a)" 2>/dev/null
FX_FAULT="rename:2:ENOSPC" fx_start_node 0 a "${CFG[@]}"
out=$(fx_ctl a send --no-wait "$FX_DIR/tx.tif" "$dest" 2>&1) && fx_fail "send acknowledged: $out"
echo "$out"
echo "$out" | grep -q "cannot queue the job: .*No space left on device" ||
    fx_fail "unclear refusal: $out"
grep -q "fxfault: fail rename #2 path=.*/spool/tmp/store\." "$FX_DIR/a.log" ||
    fx_fail "the rename fault did not hit the record store"
fx_alive a || fx_fail "faxd a died after a failed rename"
[ -z "$(ls -A "$FX_DIR/a/spool/queue")" ] || fx_fail "queue/ holds: $(ls "$FX_DIR/a/spool/queue")"
[ -z "$(ls -A "$FX_DIR/a/spool/tmp")" ] || fx_fail "tmp/ holds: $(ls "$FX_DIR/a/spool/tmp")"

# ---- calibration: a clean reception, every spool call of b traced ----
fx_start_node 1 b "${CFG[@]}"
kill -TERM "$(fx_node_pid b)"; wait "$(fx_node_pid b)" 2>/dev/null
FX_FAULT=trace fx_start_node 1 b "${CFG[@]}"
# The faults above were one-shot: the same faxd a takes and delivers the next job.
res=$(fx_send a "$FX_DIR/tx.tif" 1) || fx_fail "send after the faults failed: $res"
[ "$(fx_field pages "$res")" = 3 ] || fx_fail "expected 3 pages: $res"
# The first spool write and fsync after page 1 was stored belong to page 2.
read -r nw nf < <(awk '/INFO page stored .* page=1$/ { on = 1; next }
    on && /fxfault: trace write #/ && !w { sub(/.*#/, ""); sub(/ .*/, ""); w = $0 }
    on && /fxfault: trace fsync #/ && !f { sub(/.*#/, ""); sub(/ .*/, ""); f = $0 }
    END { print w, f }' "$FX_DIR/b.log")
[ -n "$nw" ] && [ -n "$nf" ] || fx_fail "calibration: no write/fsync seen after page 1"
fx_log "calibrated: page 2 starts at write #$nw, fsync #$nf"
kill -TERM "$(fx_node_pid b)"; wait "$(fx_node_pid b)" 2>/dev/null

# fault_rx NAME SPEC: restart b with SPEC, send, check page 2 was not confirmed and the
# receiver said so; leaves the result in $res and b's new incoming fax in $new.
fault_rx() {
    local case=$1 spec=$2 before mark
    before=$(ls "$FX_DIR/b/spool/incoming/" | sort)
    mark=$(wc -l < "$FX_DIR/b.log")
    FX_FAULT="$spec" fx_start_node 1 b "${CFG[@]}"
    res=$(fx_send a "$FX_DIR/tx.tif" 1) && fx_fail "$case: send succeeded on a failing disk: $res"
    echo "$res"
    fx_alive b || fx_fail "$case: faxd b died"
    tail -n +"$mark" "$FX_DIR/b.log" | grep -q "fxfault: fail" || fx_fail "$case: fault never fired"
    local pages reason
    pages=$(fx_field pages "$res")
    [ "$pages" = 1 ] || fx_fail "$case: sender was told $pages pages arrived; only page 1 is on disk"
    [ "$(fx_field result "$res")" = partial ] || fx_fail "$case: sender should see a partial fax"
    reason=$(echo "$res" | sed -n 's/.* reason="\([^"]*\)".*/\1/p')
    [ -n "$reason" ] && [ "$reason" != OK ] || fx_fail "$case: no reason for the failed call"
    # The cause shows either as the errno of a failed fsync, or, when writes failed
    # and fsync did not, as the page found incomplete in the file.
    tail -n +"$mark" "$FX_DIR/b.log" | grep -Eq "page not durable .*page=2.*($3|page incomplete on disk)" ||
        fx_fail "$case: receiver did not say page 2 is not durable ($3)"
    fx_wait_idle b 60 || fx_fail "$case: receiver call did not end"
    # The disk is back: restart without faults; recovery keeps what was confirmed.
    kill -TERM "$(fx_node_pid b)"; wait "$(fx_node_pid b)" 2>/dev/null
    fx_start_node 1 b "${CFG[@]}"
    new=$(comm -13 <(echo "$before") <(ls "$FX_DIR/b/spool/incoming/" | sort) | grep '\.tif$')
    [ "$(echo "$new" | grep -c .)" = 1 ] || fx_fail "$case: expected one new fax, got: $new"
    kill -TERM "$(fx_node_pid b)"; wait "$(fx_node_pid b)" 2>/dev/null
}

# ---- (a1) receiver's disk fills up after page 1 ----
fault_rx a1 "write:$nw+:ENOSPC" "No space left on device"
fx_start_node 1 b "${CFG[@]}"
ids=$($PAGEID "$FX_DIR/tx.tif" "$FX_DIR/b/spool/incoming/$new") ||
    fx_fail "a1: stored pages are not the pages sent: $ids"
echo "$ids"
[ "$ids" = "$(printf 'rx 1 = tx 1\nmatched=1 pages=1')" ] ||
    fx_fail "a1: the partial fax should hold exactly page 1: $ids"
rec=$(fx_ctl b job "$(basename "$new" .tif)") || fx_fail "a1: record of the partial fax: $rec"
echo "$rec" | grep -qx "result=partial" || fx_fail "a1: partial fax not recorded as partial: $rec"
echo "$rec" | grep -qx "pages=1" || fx_fail "a1: partial fax record should say pages=1: $rec"
out=$(fx_check_spool b) || fx_fail "a1: receiver spool damaged: $out"
kill -TERM "$(fx_node_pid b)"; wait "$(fx_node_pid b)" 2>/dev/null

# ---- (a2) the fsync of page 2 fails ----
fault_rx a2 "fsync:$nf:EIO" "Input/output error"
fx_start_node 1 b "${CFG[@]}"
# Page 2's bytes may be in the file (only its fsync failed); what is there must be the
# document's first pages in order, undamaged.
ids=$($PAGEID "$FX_DIR/tx.tif" "$FX_DIR/b/spool/incoming/$new") ||
    fx_fail "a2: stored pages are not the pages sent: $ids"
echo "$ids"
echo "$ids" | grep -q '^rx 1 = tx 1$' || fx_fail "a2: page 1 missing: $ids"
out=$(fx_check_spool a) || fx_fail "sender spool damaged: $out"
out=$(fx_check_spool b) || fx_fail "receiver spool damaged: $out"
fx_alive a && fx_alive b || fx_fail "a faxd died"
fx_pass
