#!/usr/bin/env bash
# Product-path drain (issue 10): COUNT rows queued in a real `weir run`'s outbox while the cloud
# broker is down (fed through a local mosquitto with `mosquitto_pub -l`), then the cloud mosquitto
# started; prints the seconds from its start until weir_outbox_depth is 0.
# Usage: scripts/bench-drain.sh WEIR_BINARY [COUNT]
set -euo pipefail
WEIR=${1:?weir binary}
COUNT=${2:-1000000}
export PATH=$PATH:/usr/sbin
WORK=$(mktemp -d /tmp/weir-drain.XXXXXX)
LOCAL_PORT=$((20000 + RANDOM % 10000)); CLOUD_PORT=$((LOCAL_PORT + 1)); ADMIN_PORT=$((LOCAL_PORT + 2))
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
for b in local cloud; do
  port=$LOCAL_PORT; [ $b = cloud ] && port=$CLOUD_PORT
  printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_inflight_messages 1000\npersistence false\n' "$port" > "$WORK/$b.conf"
done
mosquitto -c "$WORK/local.conf" > "$WORK/local.log" 2>&1 & pids+=($!)
mkdir -p "$WORK/rules" "$WORK/state"
cat > "$WORK/rules/fwd.yaml" <<R
name: fwd
sql: SELECT device, seq, temp FROM "bench/in" WHERE temp >= 0
actions:
  - forward: cloud
R
cat > "$WORK/weir.yaml" <<C
gateway_id: gw-01
rules_dir: $WORK/rules
state_dir: $WORK/state
log_level: warning
mqtt: { host: 127.0.0.1, port: $LOCAL_PORT, qos: 1, ack: receipt }
admin: { listen: 127.0.0.1:$ADMIN_PORT }
upstreams:
  cloud:
    mqtt: { host: 127.0.0.1, port: $CLOUD_PORT, topic: "weir/gw-01/events" }
    batch: { max_events: 500, max_bytes: 256KiB, max_delay: 20ms }
    compression: zstd
    retry: { backoff: 50ms, max_backoff: 100ms }
    queue: { max_bytes: none, ttl: none }
C
sleep 0.5
"$WEIR" run --config "$WORK/weir.yaml" > "$WORK/weir.log" 2>&1 & pids+=($!)
metric() { curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | awk -v m="$1" 'index($0, m) == 1 { print $2 }' | head -1; }
until curl -s "http://127.0.0.1:$ADMIN_PORT/healthz" > /dev/null; do sleep 0.2; done
sleep 1
python3 -c "
import json,sys
for i in range($COUNT): sys.stdout.write(json.dumps({'device':'d%d'%(i%1000),'seq':i,'temp':20.5+i%10})+'\n')" > "$WORK/in.txt"
start=$(date +%s.%N)
mosquitto_pub -p "$LOCAL_PORT" -t bench/in -q 1 -l < "$WORK/in.txt"
until awk -v v="$(metric 'weir_actions_run_total{action="forward"')" -v c="$COUNT" 'BEGIN { exit !(v + 0 >= c) }'; do sleep 0.2; done
echo "fill: $COUNT rows queued in $(echo "$(date +%s.%N) - $start" | bc) s"
"$WEIR" outbox stats --config "$WORK/weir.yaml" || true
start=$(date +%s.%N)
mosquitto -c "$WORK/cloud.conf" > "$WORK/cloud.log" 2>&1 & pids+=($!)
(sleep 0.3; mosquitto_sub -p "$CLOUD_PORT" -t 'weir/#' -q 1 > /dev/null 2>&1) & pids+=($!)
until awk -v v="$(metric 'weir_outbox_depth{upstream="cloud"}')" 'BEGIN { exit !(v != "" && v + 0 == 0) }'; do sleep 0.05; done
end=$(date +%s.%N)
echo "drain: $COUNT rows, cloud start to weir_outbox_depth 0: $(echo "$end - $start" | bc) s"
"$WEIR" outbox stats --config "$WORK/weir.yaml" || true
