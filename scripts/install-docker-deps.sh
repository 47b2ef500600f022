#!/usr/bin/env bash
# What `make test-docker` needs beyond `make deps`, only what is missing (Debian packages):
#   - docker.io (the docker CLI and dockerd; the engine is started by the tests when none runs)
#   - docker-compose (Compose v1) unless the `docker compose` v2 plugin answers
#   - debootstrap (the lab's Debian bookworm base image when none is present)
# As root it runs apt-get; otherwise it prints the exact command and exits 3.
set -euo pipefail
# shellcheck source=scripts/lib/debian-packages.sh
source "$(dirname "$0")/lib/debian-packages.sh"
missing=()
command -v docker >/dev/null 2>&1 || missing+=(docker.io)
[ -x /usr/sbin/dockerd ] || [ -x /usr/bin/dockerd ] || [[ " ${missing[*]-} " == *" docker.io "* ]] || missing+=(docker.io)
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then missing+=(docker-compose); fi
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
install_debian_packages install-docker-deps "the Docker engine and tools" "${missing[@]}"
