#!/usr/bin/env bash
# Seed path, same command: live SIP call cutover simulation with assertions.
# Runs `pbx-cutover sim` with the seed's artifact location
# (local-lab/real-services/artifacts/call-cutover-YYYYmmdd_HHMMSS/). The seed's env vars keep working
# (CALLS_PER_PHASE, CALL_RATE, CALL_DURATION_MS, LONG_CALL_MS, POST_CUTOVER_CALLS, PHASE_GAP_SECONDS);
# extra arguments go to the command (e.g. --keep-lab, --sip-port 25060). Works from any directory;
# builds first if dist/ is missing. Exit codes: 0 pass, 1 an assertion failed, 2 bad input, 3 environment.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
if [[ ! -f dist/src/cli/main.js ]]; then
  npm run --silent build
fi
exec node dist/src/cli/main.js sim --artifacts-dir local-lab/real-services/artifacts "$@"
