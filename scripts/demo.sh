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
PIDS+=("$(weir_start_broker "$PORT" "$WORK/broker")")
echo "==> mosquitto on 127.0.0.1:$PORT"

cat >"$WORK/weir.yaml" <<CONF
gateway_id: demo-gw
rules_dir: $PWD/rules
state_dir: $WORK/state
mqtt: { host: 127.0.0.1, port: $PORT, client_id: weir-demo, qos: 1, clean_session: false }
pool: { max_concurrency: 8, max_queued: 10000 }
admin: { listen: 127.0.0.1:$ADMIN }
CONF

"$BIN/weir" check --config "$WORK/weir.yaml"
echo "==> dry run: weir test --topic sensors/site-1/telemetry --payload '{\"device\":\"dev-7\",\"temp\":91.5}'"
"$BIN/weir" test --config "$WORK/weir.yaml" --topic sensors/site-1/telemetry --payload '{"device":"dev-7","temp":91.5}'

"$BIN/weir" run --config "$WORK/weir.yaml" 2>"$WORK/weir.log" &
PIDS+=($!)
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$ADMIN/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
echo "==> weir running; health: $(curl -s "http://127.0.0.1:$ADMIN/healthz")"

# What fires: every message the rules publish.
mosquitto_sub -h 127.0.0.1 -p "$PORT" -v -t 'alerts/#' -t 'maintenance/#' | sed -u 's/^/  fired: /' &
PIDS+=($!)

SECONDS_TO_RUN=${DEMO_SECONDS:-60}
echo "==> simulating 200 devices on 3 sites at 100 msg/s for ${SECONDS_TO_RUN}s"
"$BIN/weir-sim" --host 127.0.0.1 --port "$PORT" --devices 200 --sites 3 --rate 100 --duration "$SECONDS_TO_RUN"
sleep 1

echo "==> weir metrics (http://127.0.0.1:$ADMIN/metrics):"
curl -s "http://127.0.0.1:$ADMIN/metrics" | grep -E '^weir_(events_in|rule_matched|actions_run|events_invalid|mqtt_connected)' | sed 's/^/  /'
echo "==> weir log (last lines):"
tail -n 5 "$WORK/weir.log" | sed 's/^/  /'
