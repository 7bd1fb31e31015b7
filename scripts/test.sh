#!/bin/sh
# Runs the whole test suite: installs dependencies (Debian packages), builds with
# gcc -Werror and runs every CTest test, then builds with clang ASan+UBSan and
# runs the suite again, then runs each fuzz target for a bounded time.
# Usage: scripts/test.sh            (everything)
#        FAX_QUICK=1 scripts/test.sh (gcc build and tests only)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
JOBS=${FAX_TEST_JOBS:-6}
FUZZ_SECONDS=${FAX_FUZZ_SECONDS:-20}
"$ROOT/scripts/deps.sh"

step() { printf '\n==== %s\n' "$*"; }

step "gcc build (-Werror)"
cmake -S "$ROOT" -B "$ROOT/build/gcc" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=gcc >/dev/null
cmake --build "$ROOT/build/gcc" -j"$(nproc)"

step "test suite (gcc)"
(cd "$ROOT/build/gcc" && ctest --output-on-failure -j"$JOBS" -LE bench-long)

if [ "${FAX_QUICK:-0}" = 1 ]; then exit 0; fi

step "clang ASan+UBSan build"
cmake -S "$ROOT" -B "$ROOT/build/asan" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
      -DFAX_ASAN=ON -DFAX_UBSAN=ON -DFAX_FUZZ=ON >/dev/null
cmake --build "$ROOT/build/asan" -j"$(nproc)"

step "test suite (ASan+UBSan)"
# The crash tests run their full 30 rounds in the gcc stage; here 6 rounds take
# the same crash paths under the sanitizers within CI's time budget.
export ROUNDS=${FAX_ASAN_CRASH_ROUNDS:-6}
# Leak checking stays on; sofia-sip and SpanDSP keep a few process-lifetime
# allocations, listed in tests/lsan.supp.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export LSAN_OPTIONS=suppressions=$ROOT/tests/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd "$ROOT/build/asan" && ctest --output-on-failure -j"$JOBS" -LE bench-long)

step "fuzzing (${FUZZ_SECONDS}s per target)"
for f in "$ROOT"/tests/fuzz/fuzz_*.c; do
    t=$(basename "$f" .c)
    corpus="$ROOT/tests/fuzz/corpus/${t#fuzz_}"
    work=$(mktemp -d)
    cp -r "$corpus"/. "$work"/ 2>/dev/null || true
    echo "-- $t"
    log="$ROOT/build/asan/$t.log"
    # A crash, leak or timeout makes the fuzzer exit non-zero: the run fails and the
    # input is kept as build/asan/<target>-crash-*; add it to the corpus as a test.
    if ! "$ROOT/build/asan/tests/$t" -max_total_time="$FUZZ_SECONDS" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=0 -artifact_prefix="$ROOT/build/asan/$t-" \
        "$work" > "$log" 2>&1; then
        tail -n 40 "$log"
        echo "fuzz target $t failed; see $log"
        rm -rf "$work"
        exit 1
    fi
    tail -n 1 "$log"
    rm -rf "$work"
done
echo
echo "all test stages passed"
