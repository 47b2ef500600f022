#!/usr/bin/env bash
# `make demo`'s main job: the full live call cutover simulation (old -> both -> new, then an
# in-flight cutover under a long call) on the native lab, with the seed's default knobs.
# `pbx-cutover sim` starts the lab (it is not running here) and stops it again at the end,
# on success, failure and Ctrl-C. Knobs can be overridden with the seed's env vars.
set -euo pipefail
cd "$(dirname "$0")/.."
cli=(node dist/src/cli/main.js)
echo "== pbx-cutover sim (seed defaults; about 40 s: three phases of 10 calls, then a 25 s in-flight call)"
status=0
"${cli[@]}" sim "$@" || status=$?
run="$(readlink -f artifacts/latest 2>/dev/null || true)"
echo
echo "== evidence: ${run:-artifacts/}"
if [[ -n "$run" ]]; then
  echo "   results.json, junit.xml, old|both|new|inflight.assertions.txt, per-phase backend message logs, UAC logs"
  echo "   inflight.assertions.txt:"
  sed 's/^/     /' "$run/inflight.assertions.txt" 2>/dev/null || true
fi
exit "$status"
