#!/usr/bin/env bash
# Installs what pbx-cutover needs on a Debian machine, only what is missing:
#   - npm packages (npm ci from the committed lockfile)
#   - Debian's kamailio (kamailio, kamcmd) and sip-tester (sipp)
#   - Debian's tshark (the e2e test opens the HEP capture's pcap with it) and its dumpcap (wireshark-common:
#     sim captures the caller's RTP with it)
#   - Debian's chromium (the web e2e test drives it headless with playwright-core; never a browser download)
#   - Debian's openssh-server (the production-target e2e tests run an sshd per test node; the package's
#     own service is not started where policy-rc.d forbids it, and the tests never use it)
#   - Debian's postgresql and kamailio-postgres-modules (the production-target e2e test's node reads its
#     dispatcher table through db_postgres from a PostgreSQL the test starts; the tool talks to it with psql)
#   - Debian's kamailio-tls-modules (the production-target e2e tests serve a node's JSON-RPC over TLS)
#   - Debian's rtpengine-daemon (the lab's media relay, `lab up --media-relay rtpengine`: userspace only,
#     no kernel module; Kamailio's rtpengine.so is in the kamailio package). Its packaged service is never
#     used: the lab starts its own rtpengine with --config-file=none
# As root it runs apt-get; otherwise it prints the exact command and exits 3.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/debian-packages.sh
source scripts/lib/debian-packages.sh

missing=()
command -v kamailio >/dev/null 2>&1 || [ -x /usr/sbin/kamailio ] || missing+=(kamailio)
command -v kamcmd >/dev/null 2>&1 || [ -x /usr/sbin/kamcmd ] || { [[ " ${missing[*]-} " == *" kamailio "* ]] || missing+=(kamailio); }
command -v sipp >/dev/null 2>&1 || missing+=(sip-tester)
command -v tshark >/dev/null 2>&1 || missing+=(tshark)
command -v dumpcap >/dev/null 2>&1 || [ -x /usr/bin/dumpcap ] || missing+=(wireshark-common)
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh >/dev/null 2>&1 || missing+=(openssh-client)
[ -x /usr/lib/postgresql/15/bin/postgres ] || missing+=(postgresql)
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
[ -f /usr/lib/x86_64-linux-gnu/kamailio/modules/db_postgres.so ] || missing+=(kamailio-postgres-modules)
[ -f /usr/lib/x86_64-linux-gnu/kamailio/modules/tls.so ] || missing+=(kamailio-tls-modules)
command -v rtpengine >/dev/null 2>&1 || [ -x /usr/bin/rtpengine ] || missing+=(rtpengine-daemon)

install_debian_packages install-deps "the lab's tools" "${missing[@]}"

# The Debian package enables a system kamailio service; the lab never uses it.
# Where systemd runs it would hold port 5060 only; we leave it alone.

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "install-deps: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
