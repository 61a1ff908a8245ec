#!/usr/bin/env bash
# Runs the whole test suite: unit tests and integration tests against real mosquitto brokers,
# real RocksDB and real processes. Installs missing Debian packages first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
# Chromium: the status page's test loads it in a real (headless) browser.
weir_install_deps chromium
export PATH="$PATH:/usr/sbin"
swift build --build-tests "$@"
log=$(mktemp -t weir-test.XXXXXX)
trap 'rm -f "$log"' EXIT
status=0
swift test --skip-build --no-parallel "$@" 2>&1 | tee "$log" || status=$?
# The shipped rules' own tests (rules/**/*.test.yaml), through the real CLI as an operator runs them.
echo "==> weir test --rules rules"
"$(swift build --show-bin-path "$@")/weir" test --rules rules 2>&1 | tee -a "$log" || status=$?
if [ "$status" -ne 0 ]; then
    # CI logs are often read from the tail: repeat what failed, and why, at the end.
    echo
    echo "=== failures ==="
    grep -E -A3 "✘|recorded an issue|error:|Fatal error|Crash" "$log" | grep -v "^--$" | head -200 || true
fi
exit "$status"
