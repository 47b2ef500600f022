#!/usr/bin/env bash
# `make demo`'s main job: the full live call cutover (old -> both -> new, then an in-flight
# cutover under a long call) with the default knobs, on the real services when they are
# installed: old = FreeSWITCH 1.10.3, new = FreeSWITCH 1.10.12 behind the lab's Kamailio.
#
#   DEMO_BACKENDS=freeswitch   the real services (default when `make real-services` installed both trees)
#   DEMO_BACKENDS=sipp         the SIPp stand-ins (default when they are not installed)
#
# freeswitch: `lab up --backends freeswitch`, `verify` (the versions, from three sources each, must
# differ), `sim` on that lab, `lab down`; the lab is stopped on success, failure and Ctrl-C.
# sipp: `sim` starts and stops its own lab. Knobs: the env vars (CALLS_PER_PHASE, ...);
# extra arguments go to every command (e.g. --lab-dir, ports).
set -euo pipefail
cd "$(dirname "$0")/.."
cli=(node dist/src/cli/main.js)
real="${PBX_CUTOVER_REAL_SERVICES:-${XDG_CACHE_HOME:-$HOME/.cache}/pbx-cutover/real-services}"
if [[ -z "${DEMO_BACKENDS:-}" ]]; then
  if [[ -x "$real/freeswitch-1.10.3/bin/freeswitch" && -x "$real/freeswitch-1.10.12/bin/freeswitch" ]]; then
    DEMO_BACKENDS=freeswitch
  else
    DEMO_BACKENDS=sipp
  fi
fi
case "$DEMO_BACKENDS" in
  freeswitch | sipp) ;;
  *) echo "demo: DEMO_BACKENDS must be freeswitch or sipp, got '$DEMO_BACKENDS'" >&2; exit 2 ;;
esac

evidence() {
  local run
  run="$(readlink -f artifacts/latest 2>/dev/null || true)"
  echo
  echo "== evidence: ${run:-artifacts/}"
  [[ -n "$run" ]] || return 0
  echo "   results.json, junit.xml, old|both|new|inflight.assertions.txt, UAC logs, capture.pcap (HEP from Kamailio)"
  if [[ "$DEMO_BACKENDS" == freeswitch ]]; then
    echo "   freeswitch-old.events.ndjson, freeswitch-new.events.ndjson (each FreeSWITCH's channel events from its event socket)"
  else
    echo "   per-phase stand-in message logs"
  fi
  echo "   inflight.assertions.txt:"
  sed 's/^/     /' "$run/inflight.assertions.txt" 2>/dev/null || true
}

start=$(date +%s)
if [[ "$DEMO_BACKENDS" == sipp ]]; then
  echo "== pbx-cutover sim on the SIPp stand-ins (the default knobs; about 40 s: three phases of 10 calls, then a 25 s in-flight call)"
  [[ -x "$real/freeswitch-1.10.12/bin/freeswitch" ]] || echo "   (the real services are not installed in $real: make real-services)"
  status=0
  "${cli[@]}" sim "$@" || status=$?
  evidence
  echo "== demo: $(( $(date +%s) - start )) s, exit $status"
  exit "$status"
fi

echo "== the real services: old FreeSWITCH 1.10.3, new FreeSWITCH 1.10.12 (from $real) behind Kamailio"
if "${cli[@]}" lab status "$@" >/dev/null 2>&1; then
  echo "demo: a lab is already running in this lab dir; stop it first: node dist/src/cli/main.js lab down $*" >&2
  exit 3
fi
down() { "${cli[@]}" lab down "$@" >/dev/null 2>&1 || true; }
trap 'down "$@"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
"${cli[@]}" lab up --backends freeswitch "$@"

echo
echo "== pbx-cutover verify (each version from the SIP User-Agent, the event socket and the binary; they must differ)"
vout="$("${cli[@]}" verify "$@")" || { echo "$vout"; echo "demo: verify did not pass; no calls were made" >&2; exit 1; }
echo "$vout"
vjson="$(sed -n 's/^verify\.json: //p' <<<"$vout" | tail -1)"

echo
echo "== pbx-cutover sim on them (the default knobs; about 45 s: three phases of 10 calls, then a 25 s in-flight call on 1.10.3)"
status=0
"${cli[@]}" sim "$@" || status=$?
evidence
if [[ -n "$vjson" && -f "$vjson" ]]; then
  echo
  echo "== versions proved (verify.json: $vjson)"
  node -e '
    const v = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    for (const role of ["old", "new"]) {
      const rows = v.components.filter((c) => c.component.startsWith(role) && c.version);
      console.log(`   ${role}: ` + rows.map((c) => `${c.version} (${c.source})`).join(", "));
    }' "$vjson"
fi
echo "== demo: $(( $(date +%s) - start )) s, exit $status"
exit "$status"
