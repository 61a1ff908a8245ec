#!/usr/bin/env bash
# Runs the whole test suite: unit tests and integration tests against real mosquitto brokers,
# real RocksDB and real processes. Installs missing Debian packages first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
weir_install_deps
export PATH="$PATH:/usr/sbin"
swift build --build-tests "$@"
swift test --skip-build --no-parallel "$@"
