# One faxd (receiver) against SIPp scenarios (tests/data/sipp/*.xml) and raw
# garbage on 127.0.0.1: CANCEL races, a call ended by BYE before any page,
# malformed SDP and unusable codecs (488 with a Warning, RFC 3261 20.43),
# garbage datagrams to the SIP port and to a call's RTP port, OPTIONS. After
# every step faxd must still be alive, answer the control socket and OPTIONS.
#
# The script doubles as SIPp's mid-call hook:
#   sip_sipp_edge_cases.sh --media-garbage HOST PORT   (no faxd, no lib.sh)

# fx_udp_garbage MODE HOST PORT: sends the datagram set MODE (sip|media).
fx_udp_garbage() {
    python3 - "$@" <<'PYEOF'
import random, socket, struct, sys
mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
rnd = random.Random(20)  # fixed seed: the same bytes every run
grams = [rnd.randbytes(n) for n in (1, 12, 172, 1400, 8000)]
grams += [b"", b"\r\n\r\n", b"\x00" * 64]
if mode == "sip":
    hdr = (b"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-garbage\r\n"
           b"From: <sip:g@127.0.0.1>;tag=g\r\nTo: <sip:100@127.0.0.1>\r\n"
           b"Call-ID: garbage-1@127.0.0.1\r\nMax-Forwards: 70\r\n")
    grams += [
        # truncated INVITE: stops in the middle of a header line (RFC 3261 7.3)
        b"INVITE sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;bra",
        # Content-Length larger than the body that follows (18.3)
        b"INVITE sip:100@127.0.0.1 SIP/2.0\r\n" + hdr +
        b"CSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: 900\r\n\r\nv=0\r\n",
        # a single header close to the largest UDP datagram
        b"OPTIONS sip:100@127.0.0.1 SIP/2.0\r\n" + hdr + b"CSeq: 2 OPTIONS\r\nSubject: " +
        b"x" * 60000 + b"\r\nContent-Length: 0\r\n\r\n",
        # thousands of Via headers
        b"OPTIONS sip:100@127.0.0.1 SIP/2.0\r\n" +
        b"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-v\r\n" * 1200 + hdr[hdr.index(b"From"):] +
        b"CSeq: 3 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        # a response nobody asked for, and a status line with no headers
        b"SIP/2.0 200 OK\r\n" + hdr + b"CSeq: 9 INVITE\r\nContent-Length: 0\r\n\r\n",
        b"SIP/2.0 999999999999 Weird\r\n\r\n",
        # a request line that is not SIP, and one with NUL bytes in headers
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"BYE sip:100@127.0.0.1 SIP/2.0\r\n" + hdr.replace(b"Max", b"M\x00x") +
        b"CSeq: \xff\xfe BYE\r\nContent-Length: -5\r\n\r\n",
        # CSeq number out of range (8.1.1.5: below 2**31)
        b"INVITE sip:100@127.0.0.1 SIP/2.0\r\n" + hdr +
        b"CSeq: 99999999999999999999 INVITE\r\nContent-Length: 0\r\n\r\n",
    ]
else:
    def rtp(first, pt, seq, ts, payload, ssrc=0x11223344):
        return struct.pack("!BBHII", first, pt, seq & 0xFFFF, ts, ssrc) + payload
    grams += [
        rtp(0x40, 0, 1, 0, b"\xff" * 160),              # RTP version 1 (RFC 3550 5.1)
        rtp(0x8F, 0, 2, 160, b""),                      # CC=15 CSRCs, none present
        rtp(0x90, 0, 3, 320, b"\xbe\xde\xff\xff"),      # extension far longer than packet
        rtp(0xA0, 0, 4, 480, b"\xff" * 10 + b"\xff"),   # padding count 255 > payload
        rtp(0x80, 0, 5, 640, b"\xff" * 7000),           # oversized PCMU payload
        rtp(0x80, 96, 6, 800, b"\x00" * 160),           # payload type not negotiated
        rtp(0x80, 0, 60000, 0xFFFFFF00, b"\xff" * 160), # sequence and timestamp jump
        rtp(0x80, 0, 60001, 0x00000000, b"\xff" * 160), # timestamp wraps backwards
        rtp(0x80, 0, 7, 1, b"\xff" * 160, ssrc=0xDEADBEEF),  # a second source
        rtp(0x80, 0, 7, 1, b"\xff" * 160),              # duplicate of an earlier one
    ]
    grams += [rtp(0x80, 0, 100 + i, 160 * i, rnd.randbytes(160)) for i in range(50)]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sent = 0
for g in grams:
    s.sendto(g, (host, port))
    sent += 1
print("sent %d %s datagrams to %s:%d" % (sent, mode, host, port))
if mode == "sip":
    # TCP too (faxd listens on both): a header block that never ends, then
    # a connection that closes mid-request.
    for data in (b"OPTIONS sip:100@127.0.0.1 SIP/2.0\r\nSubject: " + b"y" * 200000,
                 b"INVITE sip:100@127.0.0.1 SIP/2.0\r\nContent-Len"):
        t = socket.create_connection((host, port), timeout=10)
        try:
            t.sendall(data)
        except OSError:
            pass  # faxd may drop the connection first: that is fine
        t.close()
    print("sent 2 tcp garbage streams")
PYEOF
}

# fx_cancel_burst HOST PORT LOCAL_PORT N: N times, INVITE and CANCEL leave in
# the same instant (SIPp waits for the 100 first, so faxd's queued 200 usually
# beats its CANCEL; here the CANCEL usually wins). Each INVITE must end with
# 487 (then ACK, RFC 3261 17.1.1.3) or 200 (then ACK and BYE, which must get
# 200); each CANCEL with 200 or 481 (9.2). Prints "cancelled=X answered=Y".
fx_cancel_burst() {
    python3 - "$@" <<'PYEOF'
import re, socket, sys, time
host, port, lport, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", lport))
s.settimeout(0.2)
def req(method, uri, branch, callid, ftag, to, cseq, body=b""):
    h = ("%s %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=%s\r\nMax-Forwards: 70\r\n"
         "From: <sip:burst@127.0.0.1:%d>;tag=%s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %s\r\n"
         "Contact: <sip:burst@127.0.0.1:%d>\r\n" % (method, uri, lport, branch, lport, ftag,
                                                     to, callid, cseq, lport))
    if body:
        h += "Content-Type: application/sdp\r\n"
    return (h + "Content-Length: %d\r\n\r\n" % len(body)).encode() + body
def wait(pred, what, limit=30.0):
    end = time.monotonic() + limit  # only against a hang
    while time.monotonic() < end:
        try:
            m = s.recv(65535).decode("latin-1")
        except socket.timeout:
            continue
        got.append(m)
        if pred(m):
            return m
    sys.exit("no %s within %.0f s; got: %s" % (what, limit, [g.split("\r\n")[0] for g in got]))
def status(m): return int(m.split(" ", 2)[1]) if m.startswith("SIP/2.0 ") else 0
def method(m): return re.search(r"^CSeq: *\d+ +(\w+)", m, re.M | re.I).group(1)
def header(m, name): return re.search(r"^%s: *(.*?)\r$" % name, m, re.M | re.I).group(1)
sdp = (b"v=0\r\no=burst 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       b"m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n" % (lport + 2))
uri = "sip:100@%s:%d" % (host, port)
cancelled = answered = 0
for i in range(n):
    got = []
    br, cid, tag = "z9hG4bK-burst-%d" % i, "burst-%d-%d@127.0.0.1" % (i, lport), "b%d" % i
    s.sendto(req("INVITE", uri, br, cid, tag, "<%s>" % uri, "1 INVITE", sdp), (host, port))
    s.sendto(req("CANCEL", uri, br, cid, tag, "<%s>" % uri, "1 CANCEL"), (host, port))
    final = wait(lambda m: status(m) >= 200 and method(m) == "INVITE", "final answer to INVITE")
    code = status(final)
    if code == 487:
        cancelled += 1
        s.sendto(req("ACK", uri, br, cid, tag, header(final, "To"), "1 ACK"), (host, port))
    elif code == 200:
        answered += 1
        target = re.search(r"<([^>]+)>", header(final, "Contact")).group(1)
        to = header(final, "To")
        s.sendto(req("ACK", target, br + "-ack", cid, tag, to, "1 ACK"), (host, port))
        s.sendto(req("BYE", target, br + "-bye", cid, tag, to, "2 BYE"), (host, port))
        bye = wait(lambda m: status(m) >= 200 and method(m) == "BYE", "answer to BYE")
        if status(bye) != 200:
            sys.exit("BYE answered %d" % status(bye))
    else:
        sys.exit("INVITE answered %d, want 487 or 200" % code)
    c = [m for m in got if status(m) >= 200 and method(m) == "CANCEL"]
    if not c:
        c = [wait(lambda m: status(m) >= 200 and method(m) == "CANCEL", "answer to CANCEL")]
    if status(c[0]) not in (200, 481):
        sys.exit("CANCEL answered %d, want 200 or 481" % status(c[0]))
    if code == 487 and status(c[0]) != 200:
        sys.exit("INVITE got 487 but its CANCEL got %d, not 200" % status(c[0]))
print("cancelled=%d answered=%d" % (cancelled, answered))
PYEOF
}

if [ "${1:-}" = "--media-garbage" ]; then
    fx_udp_garbage media "$2" "$3" > /dev/null 2>&1
    exit 0
fi

. "$(dirname "$0")/lib.sh"
fx_init sip_sipp_edge_cases 20
fx_start_faxd 0 rx "t38_policy = prefer"

SCEN=$FAX_SRC/tests/data/sipp
RX_PORT=$(fx_sip_port 0)
SIPP_PORT=$(fx_sip_port 5)
SIPP_MEDIA=$((30000 + FX_BLOCK * 300 + 5 * 100))
SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
mkdir -p "$FX_DIR/sipp"
command -v sipp > /dev/null || fx_fail "sipp not installed (Debian package sip-tester)"

# sipp_run TAG SCENARIO [sipp options]: one call, generous timeouts; the
# traces stay in $FX_DIR/sipp/TAG.*; returns SIPp's exit status.
sipp_run() {
    local tag=$1 xml=$2
    shift 2
    local d=$FX_DIR/sipp
    (cd "$d" && timeout 120 sipp -sf "$SCEN/$xml" -m 1 -l 1 -i 127.0.0.1 -p "$SIPP_PORT" \
        -mp "$SIPP_MEDIA" -nostdin -timeout 60s -timeout_error -max_recv_loops 10 \
        -trace_err -error_file "$d/$tag.err" -trace_msg -message_file "$d/$tag.msg" \
        -trace_logs -log_file "$d/$tag.log" "$@" "127.0.0.1:$RX_PORT" > "$d/$tag.out" 2>&1)
}

# sipp_fail TAG WHY: show what SIPp saw, then fail.
sipp_fail() {
    local tag=$1
    for f in "$FX_DIR/sipp/$tag".err "$FX_DIR/sipp/$tag".msg "$FX_DIR/sipp/$tag".out; do
        [ -f "$f" ] || continue
        echo "----- $f (last 60 lines)"
        tail -n 60 "$f"
    done
    fx_fail "$tag: $2"
}

# sipp_expect TAG SCENARIO [options]: the scenario must succeed.
sipp_expect() {
    local tag=$1
    sipp_run "$@" || sipp_fail "$tag" "SIPp scenario $2 failed (exit $?)"
    fx_log "$tag: scenario $2 passed"
}

# still_serving WHAT: faxd alive, control socket answers, OPTIONS gets 200.
N_ALIVE=0
still_serving() {
    local pid
    pid=$FX_PID_rx
    kill -0 "$pid" 2> /dev/null || fx_fail "faxd died after $1"
    fx_ctl rx ping > /dev/null || fx_fail "faxctl ping failed after $1"
    N_ALIVE=$((N_ALIVE + 1))
    sipp_run "alive$N_ALIVE" options.xml || sipp_fail "alive$N_ALIVE" "OPTIONS not answered after $1"
}

# no_calls_left WHAT: the call table drains (timeout only against hangs).
no_calls_left() {
    local out
    for _ in $(seq 1 600); do
        out=$(fx_ctl rx calls) || fx_fail "faxctl calls failed after $1"
        case "$out" in "OK calls=0"*) return 0 ;; esac
        sleep 0.1
    done
    fx_fail "call still listed 60 s after $1: $out"
}

# e) OPTIONS outside a dialog -> 200 with INVITE in Allow.
sipp_expect options options.xml
still_serving "OPTIONS"

# a) INVITE then CANCEL. faxd answers at once, so the CANCEL wins or loses
# the race; run it several times so both outcomes are seen over runs.
n487=0
n200=0
for i in 1 2 3 4 5 6; do
    sipp_expect "cancel$i" invite_cancel.xml
    if grep -q "^SIP/2.0 487" "$FX_DIR/sipp/cancel$i.msg"; then
        n487=$((n487 + 1))
    else
        n200=$((n200 + 1))
        grep -q "^BYE " "$FX_DIR/sipp/cancel$i.msg" || sipp_fail "cancel$i" "answered but no BYE sent"
    fi
    no_calls_left "INVITE+CANCEL run $i"
    still_serving "INVITE+CANCEL run $i"
done
fx_log "CANCEL runs: $n487 cancelled (487), $n200 answered first (ACK+BYE)"
burst=$(fx_cancel_burst 127.0.0.1 "$RX_PORT" "$(fx_sip_port 6)" 10 2>&1) \
    || fx_fail "INVITE+CANCEL burst: $burst"
fx_log "INVITE+CANCEL in one instant: $burst"
no_calls_left "INVITE+CANCEL burst"
still_serving "INVITE+CANCEL burst"

# b) a call with no fax: 200, ACK, 2 s, BYE -> 200; faxd records a failed call.
nfail_before=$(ls "$FX_DIR/rx/spool/failed/"*.rec 2> /dev/null | wc -l)
sipp_expect bye call_bye.xml -set media_hook true
id=$(sed -n 's/.*incoming call fax=\([0-9A-F]\{16\}\) .*/\1/p' "$FX_DIR/rx.log" | tail -n 1)
[ -n "$id" ] || fx_fail "no 'incoming call' line for the BYE call"
no_calls_left "BYE call"
for _ in $(seq 1 300); do
    grep -q "fax stored fax=$id .*folder=failed pages=0 result=failed" "$FX_DIR/rx.log" && break
    sleep 0.1
done
grep "call ended fax=$id " "$FX_DIR/rx.log" | grep -q "result=failed .*pages=0 " \
    || fx_fail "call $id not logged as ended failed with no pages"
grep -q "fax stored fax=$id .*folder=failed pages=0 result=failed" "$FX_DIR/rx.log" \
    || fx_fail "call $id not stored in failed/"
[ -f "$FX_DIR/rx/spool/failed/$id.rec" ] || fx_fail "no record failed/$id.rec"
[ -f "$FX_DIR/rx/spool/incoming/$id.tif" ] && fx_fail "a page image was kept for call $id"
nfail_after=$(ls "$FX_DIR/rx/spool/failed/"*.rec | wc -l)
[ "$nfail_after" -eq $((nfail_before + 1)) ] || fx_fail "expected one new record in failed/"
job=$(fx_ctl rx job "$id") || fx_fail "faxctl job $id failed"
echo "$job" | grep -qx "folder=failed\|OK folder=failed" || fx_fail "job $id not in failed/: $job"
echo "$job" | grep -qx "result=failed" || fx_fail "job $id result is not failed: $job"
echo "$job" | grep -qx "pages=0" || fx_fail "job $id has pages: $job"
still_serving "call ended by BYE"

# c) malformed SDP and f) unusable codecs: 488 + Warning (checked in the XML
# with check_it; the reason is logged by SIPp and checked again here).
for s in sdp_garbage:"SDP syntax:" \
         sdp_bad_port:"port 70000 out of range" \
         sdp_no_c:"no connection address for m=audio" \
         sdp_t38_bad_datagram:"T38FaxMaxDatagram not a number" \
         sdp_g729_only:"no usable media"; do
    xml=${s%%:*}
    want=${s#*:}
    sipp_expect "$xml" "$xml.xml"
    grep -q "488 warning: .*$want" "$FX_DIR/sipp/$xml.log" \
        || sipp_fail "$xml" "Warning reason does not say '$want'"
    still_serving "$xml"
done
no_calls_left "refused INVITEs"

# d) garbage to the SIP port (UDP and TCP), then garbage into a live call's
# RTP port (sent by SIPp's hook, this script in --media-garbage mode).
fx_udp_garbage sip 127.0.0.1 "$RX_PORT" || fx_fail "garbage sender failed"
still_serving "garbage to the SIP port"
sipp_expect media_garbage call_bye.xml -set media_hook "bash $SELF --media-garbage 127.0.0.1"
grep -q "faxd media port [0-9]" "$FX_DIR/sipp/media_garbage.log" || fx_fail "no media port seen"
no_calls_left "garbage to the media port"
still_serving "garbage to the media port"

# Everything again on the far side of the garbage: a normal call still works.
sipp_expect bye_again call_bye.xml -set media_hook true
no_calls_left "second BYE call"
still_serving "second BYE call"
fx_pass
