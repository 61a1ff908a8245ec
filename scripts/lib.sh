# Shared helpers for the demo, test and benchmark scripts. Source it; do not run it.

WEIR_APT_PACKAGES=(pkg-config libmosquitto-dev librocksdb-dev libzstd-dev libpcre2-dev libyaml-dev libssl-dev tzdata mosquitto mosquitto-clients curl openssl python3)

# Installs the Debian packages Weir needs, and any named as arguments, once; uses sudo when not root.
weir_install_deps() {
  local missing=()
  for p in "${WEIR_APT_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "==> installing: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The packaged broker is not needed as a system service: tests and the demo start their own.
  $sudo systemctl disable --now mosquitto >/dev/null 2>&1 || true
}

# Prints a TCP port on 127.0.0.1 that nothing listens on.
weir_free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$(( (RANDOM % 30000) + 20000 ))
    if ! (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  echo "no free port found" >&2
  return 1
}

weir_mosquitto_bin() {
  command -v mosquitto 2>/dev/null || echo /usr/sbin/mosquitto
}

# Starts a mosquitto broker on 127.0.0.1:$1 with data in $2; prints its pid.
weir_start_broker() {
  local port=$1 dir=$2
  mkdir -p "$dir"
  cat >"$dir/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
user root
persistence true
persistence_location $dir/
max_queued_messages 100000
# Weir acknowledges after durable: the in-flight window is what one fsync can cover.
max_inflight_messages 1000
CONF
  "$(weir_mosquitto_bin)" -c "$dir/mosquitto.conf" >"$dir/mosquitto.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 50); do
    (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && { echo "$pid"; return 0; }
    sleep 0.1
  done
  echo "mosquitto did not start on port $port; see $dir/mosquitto.log" >&2
  return 1
}
