#!/usr/bin/env bash
# Seed path, same command: the call cutover simulation with a live terminal dashboard.
# Runs `pbx-cutover dashboard` with the seed's artifact location
# (local-lab/real-services/artifacts/call-cutover-YYYYmmdd_HHMMSS/, with live-metrics.csv). The seed's
# env vars keep working (DASH_INTERVAL_SECONDS, DASH_NO_CLEAR, and every sim knob: CALLS_PER_PHASE,
# CALL_RATE, CALL_DURATION_MS, LONG_CALL_MS, POST_CUTOVER_CALLS, PHASE_GAP_SECONDS); extra arguments go
# to the command. Works from any directory; builds first if dist/ is missing.
# Exit codes: 0 pass, 1 an assertion failed, 2 bad input, 3 environment.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
if [[ ! -f dist/src/cli/main.js ]]; then
  npm run --silent build
fi
exec node dist/src/cli/main.js dashboard --artifacts-dir local-lab/real-services/artifacts "$@"
