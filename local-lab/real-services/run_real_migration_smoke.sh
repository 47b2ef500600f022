#!/usr/bin/env bash
# Seed path, same command: staged dispatcher cutover old -> both -> new with evidence.
# Runs `pbx-cutover migrate` with the seed's artifact location
# (local-lab/real-services/artifacts/run-YYYYmmdd_HHMMSS/). Works from any directory; extra
# arguments go to the command (e.g. --keep-lab, --sip-port 25060). Builds first if dist/ is missing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
if [[ ! -f dist/src/cli/main.js ]]; then
  npm run --silent build
fi
exec node dist/src/cli/main.js migrate --artifacts-dir local-lab/real-services/artifacts "$@"
