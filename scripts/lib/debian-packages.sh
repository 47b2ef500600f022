# Sourced by the install scripts: installs a set of Debian packages with apt-get, quietly.
#
#   install_debian_packages PREFIX WHAT PACKAGE...
#
# As root: one line on stdout for the whole set ("PREFIX: installing WHAT: pkgs ... done in N s"),
# apt-get's own output (update and install) kept in a log file whose path the line names; when apt-get
# fails, the last lines of that log go to stderr and the function exits the script with 3.
# Not root: the exact apt-get line to run goes to stderr, exit 3.
# The log directory is $PBX_CUTOVER_LOG_DIR, else ${XDG_CACHE_HOME:-~/.cache}/pbx-cutover/logs.

debian_packages_am_root() { [ "$(id -u)" -eq 0 ]; }

install_debian_packages() {
  local prefix="$1" what="$2"
  shift 2
  [ "$#" -gt 0 ] || return 0
  if ! debian_packages_am_root; then
    echo "$prefix: missing Debian packages ($what): $*" >&2
    echo "$prefix: run as root:  sudo apt-get update && sudo apt-get install -y $*" >&2
    exit 3
  fi
  local dir="${PBX_CUTOVER_LOG_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pbx-cutover/logs}"
  mkdir -p "$dir"
  local log
  log="$dir/apt-$prefix-$(date -u +%Y%m%d_%H%M%S).log"
  local started=$SECONDS rc=0
  printf '%s: installing %s: %s (apt log: %s) ...' "$prefix" "$what" "$*" "$log"
  {
    echo "# $prefix: apt-get update && apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get update -q &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
  } >"$log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo " failed"
    {
      echo "$prefix: apt-get failed (exit $rc) installing $what: $*; the last lines of its log:"
      tail -n 20 "$log" | sed 's/^/    /'
      echo "$prefix: full log: $log"
    } >&2
    exit 3
  fi
  echo " done in $((SECONDS - started)) s"
}
