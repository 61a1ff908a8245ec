#!/usr/bin/env bash
# Rule evaluations/s through the real daemon: RULES rules on one topic, each
# `WHERE temp > a AND temp <= b` with disjoint intervals (each event matches exactly one rule),
# EVENTS QoS 0 events fed by `mosquitto_pub -l`, `mqtt.ack: receipt`.
# Usage: scripts/bench-many-rules.sh WEIR_BINARY [RULES] [EVENTS] [PORT]
# With CALLGRIND=1 the daemon runs under callgrind, collecting only inside RuleSet.process.
set -euo pipefail
weir=$1; rules=${2:-1000}; events=${3:-30000}; port=${4:-18830}; admin=$((port + 1))
work=$(mktemp -d /tmp/weir-many-rules.XXXXXX)
mkdir -p "$work/rules" "$work/state"
for ((i = 0; i < rules; i++)); do
  printf 'name: r%05d\nsql: SELECT device, temp FROM "bench/+/tele" WHERE temp > %d AND temp <= %d\nactions: [ { log: { level: debug } } ]\n' \
    "$i" "$i" "$((i + 1))" >"$work/rules/r$(printf %05d "$i").yaml"
done
cat >"$work/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
max_queued_messages 10000000
max_queued_bytes 0
CONF
cat >"$work/weir.yaml" <<CONF
gateway_id: bench
rules_dir: $work/rules
state_dir: $work/state
log_level: warning
mqtt: { host: 127.0.0.1, port: $port, qos: 0, ack: receipt, buffer: 4096 }
admin: { listen: "127.0.0.1:$admin" }
rules_watch_interval: 0s
CONF
# Temperatures spread over every rule's interval; fractional so that no value sits on a bound.
awk -v n="$events" -v r="$rules" 'BEGIN { for (i = 0; i < n; i++) printf "{\"device\":\"d%d\",\"seq\":%d,\"temp\":%.2f}\n", i % 100, i, (i * 7.31) % (r - 1) + 0.5 }' >"$work/events.jsonl"
/usr/sbin/mosquitto -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
mpid=$!
sleep 0.5
if [[ "${CALLGRIND:-0}" == 1 ]]; then
  valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" --toggle-collect='*RuleSet*process*' \
    "$weir" run -c "$work/weir.yaml" 2>"$work/weir.log" &
else
  "$weir" run -c "$work/weir.yaml" 2>"$work/weir.log" &
fi
wpid=$!
metric() { curl -s "http://127.0.0.1:$admin/metrics" | awk -v m="$1" '$1 ~ "^"m"({|$)" { s += $2 } END { printf "%d", s }'; }
for _ in $(seq 600); do [[ "$(metric weir_mqtt_connected)" == 1 ]] && break; sleep 0.1; done
sleep 1
t0=$(date +%s.%N)
mosquitto_pub -p "$port" -t bench/dev/tele -q 0 -l <"$work/events.jsonl"
last=-1; stall=0
while :; do
  done_=$(metric weir_rule_matched_total)
  [[ "$done_" -ge "$events" ]] && break
  if [[ "$done_" == "$last" ]]; then stall=$((stall + 1)); [[ $stall -gt 100 ]] && break; else stall=0; t1=$(date +%s.%N); fi
  last=$done_; sleep 0.05
done
[[ "$done_" -ge "$events" ]] && t1=$(date +%s.%N)
in=$(metric weir_events_in_total); matched=$(metric weir_rule_matched_total); errors=$(metric weir_rule_errors_total)
awk -v n="$matched" -v r="$rules" -v a="$t0" -v b="$t1" -v i="$in" -v e="$errors" 'BEGIN {
  s = b - a; printf "rules=%d events_in=%d matched=%d errors=%d seconds=%.3f events/s=%.0f rule_evals/s=%.0f\n", r, i, n, e, s, n / s, n * r / s }'
kill -INT "$wpid"; wait "$wpid" || true
kill "$mpid"; wait "$mpid" 2>/dev/null || true
if [[ "${CALLGRIND:-0}" == 1 ]]; then
  callgrind_annotate "$work/callgrind.out" 2>/dev/null | sed -n '1,40p'
fi
echo "work dir: $work"
