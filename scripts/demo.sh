#!/usr/bin/env bash
# The demo: a local broker, simulated devices and Weir running the shipped rules/ examples,
# showing what fires as it runs. DEMO_SECONDS (default 60) bounds it; Ctrl-C stops it early.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
weir_install_deps

echo "==> building (release)"
swift build -c release --product weir >/dev/null
swift build -c release --product weir-sim >/dev/null
BIN=$(swift build -c release --show-bin-path)

WORK=$(mktemp -d /tmp/weir-demo.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "==> demo files kept in $WORK"
}
trap cleanup EXIT
trap "exit 130" INT TERM

PORT=$(weir_free_port)
ADMIN=$(weir_free_port)
CLOUD=$(weir_free_port)
PIDS+=("$(weir_start_broker "$PORT" "$WORK/broker")")
CLOUD_PID=$(weir_start_broker "$CLOUD" "$WORK/cloud")
PIDS+=("$CLOUD_PID")
echo "==> mosquitto (gateway) on 127.0.0.1:$PORT, mosquitto (\"cloud\" upstream) on 127.0.0.1:$CLOUD"

cat >"$WORK/weir.yaml" <<CONF
gateway_id: demo-gw
rules_dir: $PWD/rules
state_dir: $WORK/state
mqtt: { host: 127.0.0.1, port: $PORT, client_id: weir-demo, qos: 1, clean_session: false }
pool: { max_concurrency: 8, max_queued: 10000 }
admin: { listen: 127.0.0.1:$ADMIN }
upstreams:
  cloud:
    mqtt: { host: 127.0.0.1, port: $CLOUD, topic: "weir/\${gateway_id}/events" }
    batch: { max_events: 500, max_bytes: 256KiB, max_delay: 1s }
    compression: zstd
CONF

"$BIN/weir" check --config "$WORK/weir.yaml"
echo "==> dry run: weir test --topic sensors/site-1/telemetry --payload '{\"device\":\"dev-7\",\"temp\":91.5}'"
"$BIN/weir" test --config "$WORK/weir.yaml" --topic sensors/site-1/telemetry --payload '{"device":"dev-7","temp":91.5}'

# What fires: every message the rules publish (subscribed before Weir starts, so the password
# rotation that runs at the first start shows too). Process substitution, not a pipe: $! is then
# mosquitto_sub itself, which cleanup can stop.
mosquitto_sub -h 127.0.0.1 -p "$PORT" -v -t 'alerts/#' -t 'maintenance/#' -t 'weir/rotation/#' > >(sed -u 's/^/  fired: /') &
PIDS+=($!)
sleep 0.3
"$BIN/weir" run --config "$WORK/weir.yaml" 2>"$WORK/weir.log" &
PIDS+=($!)
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$ADMIN/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
echo "==> weir running; health: $(curl -s "http://127.0.0.1:$ADMIN/healthz")"

# What fires: every batch the upstream receives.
mosquitto_sub -h 127.0.0.1 -p "$CLOUD" -t 'weir/#' -F '  upstream: %t received a batch of %l bytes (zstd CloudEvents)' &
PIDS+=($!)
mosquitto_sub -h 127.0.0.1 -p "$CLOUD" -t 'weir/#' -C 1 -N -F %p >"$WORK/batch.zst" &
PIDS+=($!)

SECONDS_TO_RUN=${DEMO_SECONDS:-60}
echo "==> simulating 200 devices on 3 sites at 100 msg/s for ${SECONDS_TO_RUN}s"
"$BIN/weir-sim" --host 127.0.0.1 --port "$PORT" --devices 200 --sites 3 --rate 100 --duration "$SECONDS_TO_RUN" &
SIM=$!
PIDS+=("$SIM")
# An uplink outage in the middle: the 10 s summaries closing meanwhile wait in the outbox.
OUTAGE_AT=$((SECONDS_TO_RUN / 3))
sleep "$OUTAGE_AT"
echo "==> uplink outage: stopping the \"cloud\" broker for 12 s"
kill "$CLOUD_PID" 2>/dev/null || true
sleep 12
echo "==> during the outage: $(curl -s "http://127.0.0.1:$ADMIN/metrics" | grep -E '^weir_outbox_depth' || true)"
PIDS+=("$(weir_start_broker "$CLOUD" "$WORK/cloud")")
sleep 0.5
# mosquitto_sub reconnects by itself; only the one-batch capture may need starting again.
if [ ! -s "$WORK/batch.zst" ]; then
  mosquitto_sub -h 127.0.0.1 -p "$CLOUD" -t 'weir/#' -C 1 -N -F %p >"$WORK/batch.zst" &
  PIDS+=($!)
fi
echo "==> uplink back; the backlog drains"
wait "$SIM" || true
sleep 1

sleep 1
echo "==> weir metrics (http://127.0.0.1:$ADMIN/metrics):"
curl -s "http://127.0.0.1:$ADMIN/metrics" | grep -E '^weir_(events_in|rule_matched|actions_run|events_invalid|mqtt_connected|forwarded)' | sed 's/^/  /'
if [ -s "$WORK/batch.zst" ]; then
  "$BIN/weir" decode "$WORK/batch.zst" >"$WORK/batch.json"
  echo "==> first upstream batch, decoded with 'weir decode' (first 3 of $(wc -l <"$WORK/batch.json") events):"
  head -n 3 "$WORK/batch.json" | sed 's/^/  /'
fi
echo "==> functions (exec oneshot, workers, chained by emit):"
curl -s "http://127.0.0.1:$ADMIN/metrics" | grep -E '^weir_(function_invocations|function_failures|function_dead_letters|schedule_runs|events_emitted)' | sed 's/^/  /'
echo "==> password rotation (rules/examples/password-rotation, every 60d: ran at first start):"
sed 's/^/  /' "$WORK/state/functions/rotation/history" 2>/dev/null || echo "  (no run recorded)"
echo "==> outbox (weir outbox stats):"
"$BIN/weir" outbox stats --config "$WORK/weir.yaml" | sed 's/^/  /'
RAW=$(curl -s "http://127.0.0.1:$ADMIN/metrics" | awk '/^weir_events_in_total/ {print $2}')
SENT=$(curl -s "http://127.0.0.1:$ADMIN/metrics" | awk -F' ' '/^weir_forwarded_bytes_total/ {print $2}')
echo "==> uplink: ${SENT:-0} bytes for ${RAW:-0} readings (10 s summaries, zstd CloudEvents)"
echo "==> weir log (last lines):"
tail -n 5 "$WORK/weir.log" | sed 's/^/  /'
