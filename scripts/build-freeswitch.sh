#!/usr/bin/env bash
# Builds one FreeSWITCH tree from its upstream tag, the way the lab runs it:
#   scripts/build-freeswitch.sh <1.10.3|1.10.12> <dest>
# <dest> gets bin/{freeswitch,fs_cli}, lib/ (libfreeswitch, and for 1.10.12 sofia-sip and spandsp),
# mod/ (the ten modules below); every ELF has RUNPATH $ORIGIN/../lib, so the tree runs from anywhere.
# No configuration is installed: `pbx-cutover lab up --backends freeswitch` writes its own.
#
# Sources (override the URLs to build from a mirror):
#   PBX_CUTOVER_FREESWITCH_GIT  https://github.com/signalwire/freeswitch.git   tags v1.10.3, v1.10.12
#   PBX_CUTOVER_SOFIA_SIP_GIT   https://github.com/freeswitch/sofia-sip.git    tag v1.13.17 (1.10.12 only)
#   PBX_CUTOVER_SPANDSP_GIT     https://github.com/freeswitch/spandsp.git      commit 0c7bcebe (1.10.12 only)
# Build dependencies come from Debian through apt-get as root; not root: the line is printed, exit 3.
# Time on a 2-core machine (make -j2): 1.10.3 ~4 min; sofia-sip + spandsp ~1 min; 1.10.12 ~2 min.
set -euo pipefail
# shellcheck source=scripts/lib/debian-packages.sh
source "$(dirname "$0")/lib/debian-packages.sh"

version="${1:-}"
dest="${2:-}"
case "$version" in
  1.10.3 | 1.10.12) ;;
  *) echo "build-freeswitch: usage: $0 <1.10.3|1.10.12> <dest-dir>" >&2; exit 2 ;;
esac
[ -n "$dest" ] || { echo "build-freeswitch: usage: $0 <1.10.3|1.10.12> <dest-dir>" >&2; exit 2; }

FREESWITCH_GIT="${PBX_CUTOVER_FREESWITCH_GIT:-https://github.com/signalwire/freeswitch.git}"
SOFIA_SIP_GIT="${PBX_CUTOVER_SOFIA_SIP_GIT:-https://github.com/freeswitch/sofia-sip.git}"
SPANDSP_GIT="${PBX_CUTOVER_SPANDSP_GIT:-https://github.com/freeswitch/spandsp.git}"
SOFIA_SIP_TAG=v1.13.17
SPANDSP_COMMIT=0c7bcebe
JOBS="${PBX_CUTOVER_BUILD_JOBS:-$(nproc)}"

say() { echo "build-freeswitch $version: $*"; }

BUILD_PKGS=(build-essential autoconf automake libtool libtool-bin pkg-config libssl-dev zlib1g-dev libncurses-dev
  libsqlite3-dev libcurl4-openssl-dev libpcre3-dev libspeexdsp-dev libspeex-dev libldns-dev libedit-dev libtiff-dev
  libjpeg-dev libsndfile1-dev uuid-dev yasm nasm libexpat1-dev patchelf git)
missing=()
for p in "${BUILD_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
install_debian_packages build-freeswitch "FreeSWITCH's build dependencies" "${missing[@]}"

work="$(mktemp -d "${TMPDIR:-/tmp}/pbx-cutover-build-freeswitch-$version-XXXXXX")"
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"
started=$SECONDS

# A checkout without .git: FreeSWITCH appends the git revision to its version when built inside one.
checkout() { # url ref dir
  git -c advice.detachedHead=false clone -q "$1" "$3"
  git -C "$3" -c advice.detachedHead=false checkout -q "$2"
  rm -rf "$3/.git"
}

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
if [ "$version" = 1.10.12 ]; then
  say "sofia-sip $SOFIA_SIP_TAG"
  checkout "$SOFIA_SIP_GIT" "$SOFIA_SIP_TAG" "$work/sofia-sip"
  (cd "$work/sofia-sip" && ./bootstrap.sh >/dev/null && ./configure -q --prefix="$prefix" >/dev/null && make -s -j"$JOBS" >/dev/null && make -s install >/dev/null)
  say "spandsp $SPANDSP_COMMIT"
  checkout "$SPANDSP_GIT" "$SPANDSP_COMMIT" "$work/spandsp"
  (cd "$work/spandsp" && ./bootstrap.sh >/dev/null && ./configure -q --prefix="$prefix" >/dev/null && make -s -j"$JOBS" >/dev/null && make -s install >/dev/null)
fi

say "freeswitch v$version"
src="$work/freeswitch"
checkout "$FREESWITCH_GIT" "v$version" "$src"
# only the modules the lab loads (before bootstrap, else it copies the full default list)
cat >"$src/modules.conf" <<'EOF'
applications/mod_commands
applications/mod_dptools
dialplans/mod_dialplan_xml
endpoints/mod_sofia
event_handlers/mod_event_socket
formats/mod_native_file
formats/mod_sndfile
formats/mod_tone_stream
loggers/mod_console
loggers/mod_logfile
EOF
flags=(--prefix="$prefix/fs" --disable-fhs --disable-debug --disable-libvpx --disable-libyuv --disable-core-odbc-support)
if [ "$version" = 1.10.3 ]; then
  # OpenSSL 3 removed CRYPTO_mem_ctrl/CRYPTO_MEM_CHECK_ON; 1.10.12 has this guard, 1.10.3 does not
  f="$src/src/switch_core_cert.c"
  grep -q 'CRYPTO_mem_ctrl(CRYPTO_MEM_CHECK_ON)' "$f"
  sed -i 's|^\(\s*\)CRYPTO_mem_ctrl(CRYPTO_MEM_CHECK_ON);|#ifdef CRYPTO_MEM_CHECK_ON\n\1CRYPTO_mem_ctrl(CRYPTO_MEM_CHECK_ON);\n#endif|' "$f"
  grep -q '#ifdef CRYPTO_MEM_CHECK_ON' "$f"
  # its core builds with -Werror and OpenSSL 3's deprecations are fatal (first at MD5_Init)
  export CFLAGS="-O2 -Wno-error" CXXFLAGS="-O2 -Wno-error"
  flags+=(--disable-zrtp)
fi
(cd "$src" && ./bootstrap.sh -j >/dev/null && ./configure -q "${flags[@]}" >/dev/null && make -s -j"$JOBS" >/dev/null && make -s install >/dev/null)

say "assembling the tree in $dest"
rm -rf "$dest"
mkdir -p "$dest/bin" "$dest/lib" "$dest/mod"
cp -a "$prefix/fs/bin/freeswitch" "$prefix/fs/bin/fs_cli" "$dest/bin/"
cp -a "$prefix/fs/lib/"libfreeswitch.so.* "$dest/lib/"
if [ "$version" = 1.10.12 ]; then
  cp -a "$prefix/lib/"libsofia-sip-ua.so.* "$prefix/lib/"libspandsp.so.* "$dest/lib/"
fi
while read -r m; do cp -a "$prefix/fs/mod/${m##*/}.so" "$dest/mod/"; done <"$src/modules.conf"
for f in "$dest"/bin/* "$dest"/lib/*.so* "$dest"/mod/*.so; do
  [ -L "$f" ] && continue
  strip --strip-unneeded "$f"
  patchelf --set-rpath '$ORIGIN/../lib' "$f"
done
"$dest/bin/freeswitch" -version
say "done in $((SECONDS - started)) s"
