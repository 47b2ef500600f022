#!/usr/bin/env bash
# `make real-services`: installs the real services (FreeSWITCH, FusionPBX), only what is missing, into one cache
# directory (the native lab's `--backends freeswitch` runs them from there):
#
#   $PBX_CUTOVER_REAL_SERVICES   default ${XDG_CACHE_HOME:-$HOME/.cache}/pbx-cutover/real-services
#     freeswitch-1.10.3/{bin,lib,mod}    old PBX
#     freeswitch-1.10.12/{bin,lib,mod}   new PBX
#     fusionpbx-5.3.0/  fusionpbx-5.5.7/ FusionPBX sources at those tags
#
# and Debian's PHP and PostgreSQL, which serve FusionPBX in `lab up --backends freeswitch --fusionpbx`.
# As root it also makes the two empty directories FusionPBX's hard-coded paths need as mount points
# (/var/www/fusionpbx, /etc/fusionpbx: each lab instance mounts its own view there in a private
# mount namespace; the host's stay empty).
#
# Where from, per item:
#   1. $PBX_CUTOVER_VENDOR (a directory holding the tarballs named as in shared/vendor/ and their
#      SHA256SUMS): each tarball is checked against SHA256SUMS before it is unpacked; a mismatch
#      stops with exit 3 and installs nothing from it;
#   2. else upstream: FreeSWITCH is built from its tag by scripts/build-freeswitch.sh (~7 min on
#      2 cores for both), FusionPBX is cloned at its tag.
# Debian runtime packages come through apt-get as root; not root, the apt-get line is printed and
# the script exits 3. Exit 2: PBX_CUTOVER_VENDOR names no such directory.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/debian-packages.sh
source scripts/lib/debian-packages.sh

say() { echo "real-services: $*"; }
fail() { echo "real-services: $1" >&2; exit "${2:-3}"; }

DEST="${PBX_CUTOVER_REAL_SERVICES:-${XDG_CACHE_HOME:-$HOME/.cache}/pbx-cutover/real-services}"
VENDOR="${PBX_CUTOVER_VENDOR:-}"
FREESWITCH_VERSIONS=(1.10.3 1.10.12)
FUSIONPBX_VERSIONS=(5.3.0 5.5.7)
FUSIONPBX_GIT="${PBX_CUTOVER_FUSIONPBX_GIT:-https://github.com/fusionpbx/fusionpbx.git}"

if [ -n "$VENDOR" ] && [ ! -d "$VENDOR" ]; then
  fail "PBX_CUTOVER_VENDOR=$VENDOR is not a directory; point it at the vendor tarballs or unset it to build from upstream" 2
fi

# --- Debian packages: the trees' runtime libraries, zstd to unpack --------------------------------
RUNTIME_PKGS=(libc6 libgcc-s1 libstdc++6 zlib1g libssl3 libcurl4 libpcre3 libsqlite3-0 libspeex1 libspeexdsp1
  libedit2 libuuid1 libfreetype6 libsndfile1 libtiff6 libjpeg62-turbo zstd)
# FusionPBX's runtime for `lab up --fusionpbx`: Debian's PHP (its built-in web server) with the
# extensions FusionPBX loads, unshare/mount (util-linux) for its private mount namespaces; PostgreSQL
# (any Debian major: the lab runs its initdb/postgres from /usr/lib/postgresql/<major>/bin).
RUNTIME_PKGS+=(php-cli php-pgsql php-xml php-curl php-mbstring util-linux mount)
missing=()
for p in "${RUNTIME_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
install_debian_packages real-services "the real services' runtime" "${missing[@]}"

if [ "$(id -u)" -eq 0 ]; then
  mkdir -p /var/www/fusionpbx /etc/fusionpbx
elif [ ! -d /var/www/fusionpbx ] || [ ! -d /etc/fusionpbx ]; then
  # only `lab up --fusionpbx` needs them (it says so, exit 3); FreeSWITCH alone runs without
  echo "real-services: warning: FusionPBX's hard-coded paths need empty mount points for lab up --fusionpbx; as root:  sudo mkdir -p /var/www/fusionpbx /etc/fusionpbx" >&2
fi

started=$SECONDS
mkdir -p "$DEST"
STAGE="$(mktemp -d "$DEST/.stage-XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT

# The checksum SHA256SUMS gives for a file name, or nothing.
expected_sum() { awk -v f="$1" '$2 == f || $2 == "*" f { print $1 }' "$VENDOR/SHA256SUMS"; }

# Unpack a vendor tarball whose single top directory is $2 into $DEST/$3 (atomically: stage, rename).
install_from_vendor() {
  local tarball="$1" top="$2" name="$3" want got
  [ -f "$VENDOR/SHA256SUMS" ] || fail "$VENDOR has no SHA256SUMS; nothing installed from it"
  want="$(expected_sum "$tarball")"
  [ -n "$want" ] || fail "$VENDOR/SHA256SUMS has no line for $tarball; nothing installed from it"
  got="$(sha256sum "$VENDOR/$tarball" | cut -d' ' -f1)"
  if [ "$got" != "$want" ]; then
    fail "$VENDOR/$tarball does not match SHA256SUMS (got $got, want $want); nothing installed from it"
  fi
  tar --zstd -xf "$VENDOR/$tarball" -C "$STAGE"
  [ -d "$STAGE/$top" ] || fail "$tarball has no $top/ directory; nothing installed from it"
  printf 'source=vendor %s\nsha256=%s\ninstalled=%s\n' "$tarball" "$got" "$(date -u +%FT%TZ)" >"$STAGE/$top/.pbx-cutover-installed"
  mv "$STAGE/$top" "$DEST/$name"
}


for v in "${FREESWITCH_VERSIONS[@]}"; do
  name="freeswitch-$v"
  if [ -f "$DEST/$name/.pbx-cutover-installed" ] && [ -x "$DEST/$name/bin/freeswitch" ]; then
    say "$name present ($DEST/$name)"
    continue
  fi
  rm -rf "${DEST:?}/$name"
  tarball="freeswitch-$v-debian12-amd64.tar.zst"
  if [ -n "$VENDOR" ] && [ -f "$VENDOR/$tarball" ]; then
    say "$name from $VENDOR/$tarball"
    install_from_vendor "$tarball" "freeswitch-$v-debian12-amd64" "$name"
  else
    say "$name: no vendor tarball${VENDOR:+ in $VENDOR}; building from upstream tag v$v (scripts/build-freeswitch.sh)"
    ./scripts/build-freeswitch.sh "$v" "$STAGE/$name"
    printf 'source=upstream tag v%s\ninstalled=%s\n' "$v" "$(date -u +%FT%TZ)" >"$STAGE/$name/.pbx-cutover-installed"
    mv "$STAGE/$name" "$DEST/$name"
  fi
  # the tree must run here (its libraries resolve): it answers -version
  if ! out="$("$DEST/$name/bin/freeswitch" -version 2>&1)"; then
    rm -rf "${DEST:?}/$name"
    fail "$name does not run on this machine: $out"
  fi
  say "$name installed: $out"
done

for v in "${FUSIONPBX_VERSIONS[@]}"; do
  name="fusionpbx-$v"
  if [ -f "$DEST/$name/.pbx-cutover-installed" ]; then
    say "$name present ($DEST/$name)"
    continue
  fi
  rm -rf "${DEST:?}/$name"
  tarball="fusionpbx-$v.tar.zst"
  if [ -n "$VENDOR" ] && [ -f "$VENDOR/$tarball" ]; then
    say "$name from $VENDOR/$tarball"
    install_from_vendor "$tarball" "fusionpbx-$v" "$name"
  else
    command -v git >/dev/null 2>&1 || fail "git is needed to fetch $name from upstream: apt-get install -y git"
    say "$name: no vendor tarball${VENDOR:+ in $VENDOR}; cloning tag $v from $FUSIONPBX_GIT"
    git -c advice.detachedHead=false clone -q --depth 1 --branch "$v" "$FUSIONPBX_GIT" "$STAGE/$name"
    rm -rf "$STAGE/$name/.git"
    printf 'source=upstream tag %s\ninstalled=%s\n' "$v" "$(date -u +%FT%TZ)" >"$STAGE/$name/.pbx-cutover-installed"
    mv "$STAGE/$name" "$DEST/$name"
  fi
  say "$name installed"
done
say "ready in $DEST ($((SECONDS - started)) s)"
