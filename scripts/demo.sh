#!/usr/bin/env bash
# `make demo`'s main job: start the native lab, show its status, stop it.
# (Replaced by the full call cutover simulation once `pbx-cutover sim` exists.)
set -euo pipefail
cd "$(dirname "$0")/.."
cli=(node dist/src/cli/main.js)
trap '"${cli[@]}" lab down >/dev/null 2>&1 || true' EXIT
echo "== pbx-cutover lab up"
"${cli[@]}" lab up
echo "== pbx-cutover lab status"
"${cli[@]}" lab status
echo "== pbx-cutover lab down"
"${cli[@]}" lab down
trap - EXIT
