#!/usr/bin/env bash
# Builds the libFuzzer harnesses in Fuzz/Harnesses and runs each for a bounded number of inputs.
#
#   scripts/fuzz.sh [--runs N] [--max-total-time S] [--keep-going] [--build-only] [--no-regressions] [harness...]
#
# Default: every harness, 20000 inputs each (a smoke). First each harness replays the known crashes
# under Fuzz/regressions/<harness>/ (whole files, whatever their size). A crash, a sanitizer report,
# a timeout (one input over 10 s) or an out-of-memory is a finding: its input is written under
# .build-fuzz/artifacts/<harness>/ and the script exits 1 after the summary. libFuzzer stops at the
# first finding; --keep-going (fork mode) carries on and counts them, for long runs. See docs/fuzzing.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

runs=20000
max_time=0
build_only=false
keep_going=false
regressions=true
selected=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --max-total-time) max_time=$2; shift 2 ;;
    --build-only) build_only=true; shift ;;
    --keep-going) keep_going=true; shift ;;
    --no-regressions) regressions=false; shift ;;
    -h|--help) sed -n 2,10p "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) selected+=("$1"); shift ;;
  esac
done

# Which module each harness needs: the script builds only what the selection needs, so the
# parser harnesses alone skip NIO and BoringSSL (most of the build time).
declare -A module=(
  [json]=WeirCore [sql-lexer]=WeirRules [sql]=WeirRules [rules]=WeirRules [cron]=WeirRules [template]=WeirRules
  [dead-letter]=WeirStore [journal]=WeirStore [window-state]=WeirStore
  [outbox]=WeirForwarder [rfc3339]=WeirForwarder [config]=WeirDaemon
)
# Longest input per harness: long enough for a rule file or a window state, short enough to stay fast.
declare -A max_len=(
  [json]=4096 [sql-lexer]=1024 [sql]=2048 [rules]=4096 [cron]=128 [template]=1024
  [dead-letter]=4096 [journal]=4096 [window-state]=8192 [outbox]=4096 [rfc3339]=64 [config]=4096
)
all=(json sql-lexer sql rules config cron template outbox dead-letter journal window-state rfc3339)
[ ${#selected[@]} -gt 0 ] || selected=("${all[@]}")
for h in "${selected[@]}"; do
  [ -n "${module[$h]:-}" ] || { echo "unknown harness '$h' (known: ${all[*]})" >&2; exit 2; }
done

# Another scratch path (FUZZ_SCRATCH) gives a build from scratch without touching the usual one.
scratch=${FUZZ_SCRATCH:-.build-fuzz}
# Coverage (-sanitize=fuzzer compiles as -fsanitize=fuzzer-no-link) and ASan in every Swift module,
# dependencies included; one flag: a second -sanitize= replaces the first, losing the coverage.
# -enable-testing so harnesses reach internal decoders with @testable.
flags=(-c release --scratch-path "$scratch" -Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing)

# The modules the selection needs (SwiftPM builds their dependencies too; one already built is a no-op).
targets=()
for m in WeirCore WeirRules WeirStore WeirForwarder WeirDaemon; do
  for h in "${selected[@]}"; do
    if [ "${module[$h]}" = "$m" ] || { [ "$h" = window-state ] && [ "$m" = WeirRules ]; }; then targets+=("$m"); break; fi
  done
done

start=$(date +%s)
weir_install_deps  # the C libraries the modules link (a no-op once installed)
mkdir -p "$scratch/logs"
for t in "${targets[@]}"; do
  echo "==> building $t (release, coverage + ASan) in $scratch"
  if ! swift build "${flags[@]}" --target "$t" >"$scratch/logs/build-$t.log" 2>&1; then
    tail -30 "$scratch/logs/build-$t.log" >&2
    echo "build of $t failed; log: $scratch/logs/build-$t.log" >&2
    exit 1
  fi
done
bin=$(swift build "${flags[@]}" --show-bin-path)

# Every object built so far except the executables' (they have their own main; libFuzzer has one).
mapfile -t objects < <(find "$bin" -name '*.o' -path '*.build/*' \
  ! -path '*/weir.build/*' ! -path '*/weir_sim.build/*' ! -path '*/weir_bench.build/*' \
  ! -path '*/weir-sim.build/*' ! -path '*/weir-bench.build/*' ! -path '*Tests.build/*' | sort)
# The C modules the Swift modules import, as SwiftPM passes them to its own compiles: taken from its
# build description, keeping those that exist (a target not built has no generated module map).
includes=(-I "$bin/Modules")
while IFS= read -r map; do [ -f "$map" ] && includes+=(-Xcc "-fmodule-map-file=$map"); done < <(
  grep -o '"-Xcc","-fmodule-map-file=[^"]*"' "$scratch/release.yaml" | sed 's/.*=//; s/"$//' | sort -u)
while IFS= read -r dir; do [ -d "$dir" ] && includes+=(-Xcc -I -Xcc "$dir"); done < <(
  grep -o '"-Xcc","-I","-Xcc","[^"]*"' "$scratch/release.yaml" | sed 's/.*,"//; s/"$//' | sort -u)

mkdir -p "$scratch/fuzz-bin"
for h in "${selected[@]}"; do
  out="$scratch/fuzz-bin/$h"
  if [ "$out" -nt Fuzz/Harnesses/$h.swift ] && [ "$out" -nt Fuzz/Harnesses/Common.swift ] \
    && [ -z "$(find "$bin" -name '*.o' -newer "$out" -print -quit)" ]; then
    continue  # up to date
  fi
  echo "==> linking $h"
  swiftc -sanitize=fuzzer,address -parse-as-library -O -g -module-name "fuzz_${h//-/_}" \
    "${includes[@]}" Fuzz/Harnesses/Common.swift "Fuzz/Harnesses/$h.swift" "${objects[@]}" \
    -lrocksdb -lzstd -lpcre2-8 -lmosquitto -lyaml -lstdc++ -use-ld=lld -o "$out"
done
echo "==> built in $(( $(date +%s) - start )) s"
$build_only && exit 0

# Swift runtime caches and the harnesses' global fixtures read as leaks at exit: not findings.
export ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
# Swift's own crash backtracer hangs under ASan instead of exiting: let libFuzzer report traps.
export SWIFT_BACKTRACE=enable=no

# The fuzzer runs in the foreground; if this script is interrupted, stop it too.
child=""
trap '[ -n "$child" ] && kill "$child" 2>/dev/null; exit 130' INT TERM

failed=0
printf '%-13s %10s %8s %8s %6s %6s %10s %8s %s\n' harness inputs seconds exec/s cov ft corpus crashes result
for h in "${selected[@]}"; do
  work="$scratch/corpus/$h"
  artifacts="$scratch/artifacts/$h"
  log="$scratch/logs/$h.log"
  mkdir -p "$work" "$artifacts"
  # Replayed as files, not loaded as seeds: a corpus is cut to -max_len, and some of these are
  # large on purpose (deep nesting). libFuzzer stops at the first one that still crashes.
  replay=ok
  if $regressions && [ -n "$(ls -A "Fuzz/regressions/$h" 2>/dev/null)" ]; then
    if ! "$scratch/fuzz-bin/$h" -timeout=30 -rss_limit_mb=4096 "Fuzz/regressions/$h"/* >"$scratch/logs/$h-regressions.log" 2>&1; then
      failed=1
      replay="a known crash still crashes ($scratch/logs/$h-regressions.log)"
    fi
  fi
  # New inputs go to the working corpus (first directory); the committed seeds stay as they are.
  dirs=("$work" "Fuzz/corpus/$h")
  extra=()
  [ -f "Fuzz/dict/$h.dict" ] && extra+=("-dict=Fuzz/dict/$h.dict")
  # One child at a time; -runs is then per child job, so the total can pass it by one job's worth.
  $keep_going && extra+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  t0=$(date +%s.%N)
  status=0
  "$scratch/fuzz-bin/$h" -runs="$runs" -max_total_time="$max_time" -max_len="${max_len[$h]}" -timeout=10 \
    -rss_limit_mb=2048 -detect_leaks=0 -print_final_stats=1 -artifact_prefix="$artifacts/" "${extra[@]}" \
    "${dirs[@]}" >"$log" 2>&1 &
  child=$!
  wait "$child" || status=$?
  child=""
  seconds=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  field() { echo "$last" | awk -v k="$1:" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }'; }
  cov=$(field cov) ft=$(field ft) corp=$(field corp)
  if $keep_going; then
    # Fork mode: "#<inputs>: cov: … oom/timeout/crash: a/b/c …" lines, no final stats.
    inputs=$(echo "$last" | grep -oE '^#[0-9]+' | tr -d '#' || true)
    crashes=$(field oom/timeout/crash | awk -F/ '{ print $1 + $2 + $3 }')
    [ "${crashes:-0}" -eq 0 ] || status=1
  else
    inputs=$(awk '/stat::number_of_executed_units:/ { print $2 }' "$log")
    crashes=$([ "$status" -eq 0 ] && echo 0 || echo 1)
  fi
  rate=$(awk -v n="${inputs:-0}" -v s="$seconds" 'BEGIN { printf "%d", (s > 0 ? n / s : 0) }')
  result=ok
  [ "$replay" = ok ] || result="REGRESSION: $replay"
  if [ "$status" -ne 0 ]; then
    failed=1
    what=$(grep -m1 -E 'ERROR: libFuzzer|ERROR: AddressSanitizer|Fatal error|fuzz property|runtime failure|error in line' "$log" \
      | cut -c1-100 || true)
    result="FINDING (exit $status): $what; input in $artifacts, log $log"
  fi
  printf '%-13s %10s %8.1f %8s %6s %6s %10s %8s %s\n' "$h" "${inputs:-0}" "$seconds" "$rate" "${cov:--}" "${ft:--}" "${corp:--}" \
    "$crashes" "$result"
done
exit "$failed"
