#!/usr/bin/env bash
# Seed path, same command: preflight that the old and new stacks are reachable and truly different.
# Starts the lab as the seed did, then runs `pbx-cutover verify`; the run folder goes to
# local-lab/real-services/artifacts/verify-YYYYmmdd_HHMMSS/ (verify.json). Works from any directory.
# Extra arguments go to `lab` and `verify` alike, so pass lab flags, --config and --driver only.
#   native (default): starts the native lab if it is not running, stops it again afterwards.
#   --driver docker:  `lab up --driver docker` (pulls/builds as needed), then verify (which also checks
#                     the FusionPBX URLs 127.0.0.1:18080/18081); the containers stay up, as in the seed.
# Exit codes as `pbx-cutover verify`: 0 pass, 1 old/new not truly different, 3 something unreachable.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
if [[ ! -f dist/src/cli/main.js ]]; then
  npm run --silent build
fi
cli=(node dist/src/cli/main.js)
artifacts=local-lab/real-services/artifacts

driver=native
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --driver) driver="${args[$((i + 1))]:-}" ;;
    --driver=*) driver="${args[$i]#--driver=}" ;;
  esac
done

if [[ "$driver" == docker ]]; then
  "${cli[@]}" lab up "$@"
  exec "${cli[@]}" verify --artifacts-dir "$artifacts" "$@"
fi

started=0
stop_lab() {
  if [[ "$started" == 1 ]]; then
    "${cli[@]}" lab down "$@" >/dev/null || true
  fi
}
trap 'stop_lab "$@"' EXIT
if ! "${cli[@]}" lab status "$@" >/dev/null 2>&1; then
  "${cli[@]}" lab up "$@"
  started=1
fi
"${cli[@]}" verify --artifacts-dir "$artifacts" "$@"
