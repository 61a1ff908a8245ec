#!/usr/bin/env bash
# Diagnoses the publish path through the real daemon (the analysis behind BENCHMARKS.md's
# "end to end" and "p99" rows): rule `SELECT device, seq, temp ... WHERE temp >= 0` with a QoS 0
# publish, QoS 0 input, `mqtt.ack: receipt`, a fresh mosquitto on loopback.
#
#   scripts/probe-publish-path.sh WEIR_BINARY e2e [EVENTS]          # default 200000
#       feeds EVENTS as fast as `mosquitto_pub -l` can; prints delivered events/s, the CPU time of
#       mosquitto and of Weir, and Weir's system calls per event (perf stat, when perf is there).
#   scripts/probe-publish-path.sh WEIR_BINARY latency [RATE] [SECONDS]   # default 10000 5
#       feeds a paced load (python3 writes RATE lines/s into `mosquitto_pub -l`); prints the
#       p50, p90 and p99 of weir_event_to_action_seconds (histogram bucket bounds).
# WEIR_CPUS / OTHER_CPUS (e.g. 0 and 1) pin Weir, and mosquitto with the feeder, with taskset.
set -euo pipefail
weir=$(realpath "$1"); mode=$2; port=${PORT:-18870}; admin=$((port + 1))
work=$(mktemp -d /tmp/weir-probe.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
pin() { if [ -n "${1:-}" ]; then echo "taskset -c $1"; fi; }
mkdir -p "$work/rules"
cat >"$work/rules/r.yaml" <<'RULE'
name: relay
sql: SELECT device, seq, temp FROM "in/+/tele" WHERE temp >= 0
actions: [ { publish: { topic: "out/${device}", qos: 0 } } ]
RULE
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_inflight_messages 1000\nmax_queued_messages 1000000\n' \
  "$port" >"$work/mosquitto.conf"
cat >"$work/weir.yaml" <<CONF
gateway_id: probe
rules_dir: $work/rules
state_dir: $work/state
log_level: warning
mqtt: { host: 127.0.0.1, port: $port, client_id: weir-probe, qos: 0, clean_session: true, ack: receipt }
admin: { listen: 127.0.0.1:$admin }
rules_watch_interval: 0s
CONF
$(pin "${OTHER_CPUS:-}") "$(command -v mosquitto || echo /usr/sbin/mosquitto)" -c "$work/mosquitto.conf" >"$work/broker.log" 2>&1 &
pids+=($!); broker=$!
for _ in $(seq 1 50); do (echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
$(pin "${WEIR_CPUS:-}") "$weir" run --config "$work/weir.yaml" >"$work/weir.log" 2>&1 &
pids+=($!); daemon=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$admin/healthz" >/dev/null && break; sleep 0.1; done
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # clock ticks (1/100 s)

case "$mode" in
e2e)
  events=${3:-200000}
  python3 -c "import sys
for i in range($events): sys.stdout.write('{\"device\":\"d%d\",\"seq\":%d,\"temp\":21.5}\n' % (i % 1000, i))" >"$work/lines.txt"
  mosquitto_sub -h 127.0.0.1 -p "$port" -t 'out/#' >"$work/out.txt" & pids+=($!)
  sleep 0.5
  m0=$(cpu "$broker"); w0=$(cpu "$daemon"); t0=$(date +%s.%N)
  if command -v perf >/dev/null; then
    perf stat -e syscalls:sys_enter_write,syscalls:sys_enter_read,syscalls:sys_enter_poll,context-switches \
      -p "$daemon" -o "$work/perf.txt" -- sleep 600 >/dev/null 2>&1 & pids+=($!); perf=$!
  fi
  # Its stdin stays open (fd 3) until the end: mosquitto_pub -l drops what it has not sent at EOF.
  mkfifo "$work/feed"
  $(pin "${OTHER_CPUS:-}") mosquitto_pub -h 127.0.0.1 -p "$port" -t in/probe/tele -l <"$work/feed" &
  pids+=($!)
  exec 3>"$work/feed"
  cat "$work/lines.txt" >&3
  n=0
  for _ in $(seq 1 1200); do n=$(wc -l <"$work/out.txt"); [ "$n" -ge "$events" ] && break; sleep 0.05; done
  t1=$(date +%s.%N); m1=$(cpu "$broker"); w1=$(cpu "$daemon")
  secs=$(echo "$t1 - $t0" | bc -l)
  printf 'delivered %d events in %.2f s = %.0f events/s; CPU: mosquitto %d ms, weir %d ms (%.1f us per event)\n' \
    "$n" "$secs" "$(echo "$n / $secs" | bc -l)" $(((m1 - m0) * 10)) $(((w1 - w0) * 10)) "$(echo "($w1 - $w0) * 10000 / $n" | bc -l)"
  exec 3>&-
  if [ -n "${perf:-}" ]; then
    pkill -INT -P "$perf" sleep 2>/dev/null || kill -INT "$perf"; wait "$perf" 2>/dev/null || true
    awk -v n="$n" '/syscalls:|context-switches/ { gsub(",", "", $1); printf "  %s: %.2f per event\n", $2, $1 / n }' "$work/perf.txt"
  fi
  ;;
latency)
  rate=${3:-10000}; seconds=${4:-5}
  buckets() { curl -s "http://127.0.0.1:$admin/metrics" | grep '^weir_event_to_action_seconds_bucket'; }
  buckets >"$work/before.txt"
  python3 -c "import os, sys, time
rate, secs = $rate, $seconds
out = os.fdopen(1, 'wb', buffering=0); start = time.monotonic(); sent = 0; total = int(rate * secs)
while sent < total:
    due = min(total, int((time.monotonic() - start) * rate))
    if due > sent:
        out.write(b''.join(b'{\"device\":\"d%d\",\"seq\":%d,\"temp\":21.5}\n' % (i % 1000, i) for i in range(sent, due)))
        sent = due
    time.sleep(0.0005)
time.sleep(0.5)" | $(pin "${OTHER_CPUS:-}") mosquitto_pub -h 127.0.0.1 -p "$port" -t in/probe/tele -l
  sleep 0.5
  buckets >"$work/after.txt"
  paste "$work/before.txt" "$work/after.txt" | awk '
    { count[NR] = $4 - $2; bound[NR] = $1; sub(/.*le="/, "", bound[NR]); sub(/".*/, "", bound[NR]) }
    END {
      total = count[NR]
      for (i = 1; i <= NR; i++) {
        if (!p50 && count[i] >= total * 0.50) p50 = bound[i]
        if (!p90 && count[i] >= total * 0.90) p90 = bound[i]
        if (!p99 && count[i] >= total * 0.99) p99 = bound[i]
      }
      printf "%d events; receipt -> action done, bucket bounds in s: p50 <= %s, p90 <= %s, p99 <= %s\n", total, p50, p90, p99
    }'
  ;;
*) echo "mode: e2e or latency" >&2; exit 2 ;;
esac
