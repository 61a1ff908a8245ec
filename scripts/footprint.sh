#!/usr/bin/env bash
# Idle memory of a weir binary (BENCHMARKS.md, "Footprint (issue 12)"): `weir run` on the shipped
# config/weir.yaml with one simple rule, connected to a mosquitto on a free loopback port (and a
# second one standing in for the "cloud" upstream), 5 s after /healthz answers. Prints the binary's
# size, VmRSS, smaps_rollup, the binary's own mappings and the biggest mappings by resident size.
#
#   swift build -c release --static-swift-stdlib --product weir --scratch-path .build-fp-rel
#   cp .build-fp-rel/release/weir /tmp/weir && strip /tmp/weir && sync
#   scripts/footprint.sh /tmp/weir
#
#   scripts/footprint.sh --order packaging/weir.order .build-fp-rel/release/weir   # an unstripped binary
#
# --order FILE runs the same start under valgrind's callgrind instead (start, /healthz, a few
# events through the overheat rule, idle, SIGTERM) and writes to FILE every function of the binary
# that ran, one symbol a line: lld's --symbol-ordering-file (scripts/package.sh) then lays them out
# next to each other, so that the code a running daemon touches fills fewer pages.
set -euo pipefail
order=""
if [ "${1:-}" = "--order" ]; then
  order=$(realpath -m "${2:?--order needs a file}")
  shift 2
fi
weir=$(realpath "$1")
cd "$(dirname "$0")/.."
source scripts/lib.sh
export PATH="$PATH:/usr/sbin"
dir=$(mktemp -d -t weir-footprint.XXXXXX)
local_port=$(weir_free_port)
cloud_port=$(weir_free_port)
admin_port=$(weir_free_port)
local_broker=$(weir_start_broker "$local_port" "$dir/broker-local")
cloud_broker=$(weir_start_broker "$cloud_port" "$dir/broker-cloud")
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  kill "$local_broker" "$cloud_broker" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
mkdir -p "$dir/rules"
cat >"$dir/rules/overheat.yaml" <<'RULE'
name: overheat
sql: SELECT device, temp FROM "sensors/+/telemetry" WHERE temp > 80
actions:
  - publish: { topic: "alerts/${device}", qos: 1 }
RULE
sed -e "s#^rules_dir: .*#rules_dir: $dir/rules#" -e "s#^state_dir: .*#state_dir: $dir/state#" \
  -e "s#^  port: 1883#  port: $local_port#" -e "s#^      port: 1884#      port: $cloud_port#" \
  -e "s#listen: 127.0.0.1:9110#listen: 127.0.0.1:$admin_port#" config/weir.yaml >"$dir/weir.yaml"
"$weir" check --config "$dir/weir.yaml" >/dev/null
if [ -n "$order" ]; then
  # Mangled names (--demangle=no), uncompressed, so every function is a plain "fn=<symbol>" line.
  valgrind --tool=callgrind --demangle=no --compress-strings=no --compress-pos=no --dump-instr=no \
    --callgrind-out-file="$dir/callgrind.out" "$weir" run --config "$dir/weir.yaml" 2>"$dir/weir.log" &
else
  "$weir" run --config "$dir/weir.yaml" 2>"$dir/weir.log" &
fi
pid=$!
for _ in $(seq 1 1200); do
  curl -sf "http://127.0.0.1:$admin_port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
if [ -n "$order" ]; then
  for i in $(seq 1 20); do
    mosquitto_pub -p "$local_port" -q 1 -t sensors/site-1/telemetry -m "{\"device\":\"d$i\",\"temp\":$((70 + i))}"
  done
  sleep 20
  kill -TERM "$pid"
  wait "$pid" || true
  pid=""
  # The functions of the binary that ran, in the order callgrind first lists them; symbols of the
  # shared libraries (not in the binary's symbol table) are left out.
  nm --defined-only "$weir" | awk '$2 ~ /^[tTwW]$/ {print $3}' | sort -u >"$dir/symbols"
  sed -n 's/^c\{0,1\}fn=//p' "$dir/callgrind.out" | awk '!seen[$0]++' |
    awk 'NR == FNR { known[$0] = 1; next } known[$0]' "$dir/symbols" - >"$order"
  echo "$order: $(wc -l <"$order") functions of $(wc -l <"$dir/symbols") in the binary ran"
  exit 0
fi
sleep 5
echo "binary: $weir, $(stat -c %s "$weir") bytes; healthz $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$admin_port/healthz")"
grep -E "VmRSS|VmHWM|RssAnon|RssFile" "/proc/$pid/status"
grep -E "^(Rss|Pss|Shared_Clean|Private_Clean|Private_Dirty|Anonymous):" "/proc/$pid/smaps_rollup"
echo "-- the binary's mappings (KiB):"
awk -v bin="$weir" '/^[0-9a-f]+-[0-9a-f]+ /{ show = ($6 == bin); perms = $2 } show && /^(Size|Rss):/{ line = line " " $1 " " $2 } show && /^VmFlags/{ print perms line; line = "" }' "/proc/$pid/smaps"
echo "-- Rss by kind (KiB): the binary, librocksdb, the other shared libraries, anonymous (heap, stacks and [anon] mappings):"
awk -v bin="$weir" '/^[0-9a-f]+-[0-9a-f]+ /{ name = $6 } /^Rss:/{
    kind = (name == bin) ? "binary" : (name ~ /librocksdb/) ? "librocksdb" : (name ~ /\.so/) ? "other-libs" : "anonymous"
    rss[kind] += $2 } END { printf "binary %d  librocksdb %d  other-libs %d  anonymous %d\n", rss["binary"], rss["librocksdb"], rss["other-libs"], rss["anonymous"] }' \
  "/proc/$pid/smaps"
echo "-- biggest mappings by Rss (KiB):"
awk '/^[0-9a-f]+-[0-9a-f]+ /{ name = ($6 == "" ? "[anonymous]" : $6) } /^Rss:/{ rss[name] += $2 } END { for (n in rss) printf "%8d %s\n", rss[n], n }' \
  "/proc/$pid/smaps" | sort -rn | head -12
