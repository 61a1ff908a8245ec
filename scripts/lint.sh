#!/usr/bin/env bash
# Style checks that CI runs before the tests: swift-format's lint (the toolchain's, with the
# repository's .swift-format), no line over 140 columns, no Swift file in Sources over 400 lines,
# and every module import declared in Package.swift.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0

findings=$(swift format lint --strict --recursive Sources Tests Package.swift 2>&1 || true)
if [ -n "$findings" ]; then
    echo "$findings"
    echo "lint: swift format findings (fix with: swift format -i -r Sources Tests Package.swift)"
    status=1
fi

long=$( (find Sources Tests -name '*.swift'; echo Package.swift) | tr '\n' '\0' | xargs -0 awk 'length > 140 { print FILENAME ":" FNR ": " length " columns" }')
if [ -n "$long" ]; then
    echo "$long"
    echo "lint: lines over 140 columns"
    status=1
fi

big=$(find Sources -name '*.swift' -print0 | xargs -0 wc -l | awk '$2 != "total" && $1 > 400 { print $2 ": " $1 " lines" }')
if [ -n "$big" ]; then
    echo "$big"
    echo "lint: files over 400 lines (split them by concern)"
    status=1
fi

if ! python3 scripts/check-imports.py; then
    echo "lint: imports not declared in Package.swift"
    status=1
fi

[ "$status" -eq 0 ] && echo "lint: ok"
exit "$status"
