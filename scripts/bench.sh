#!/usr/bin/env bash
# Runs every benchmark (dist/bench/*.bench.js) one after another and prints their figures.
# Benchmarks are not tests: run them on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
for b in dist/bench/*.bench.js; do
  echo "== ${b}"
  node "$b"
done
