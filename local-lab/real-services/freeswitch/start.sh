#!/bin/sh
# pbx-cutover lab: prepare FreeSWITCH's configuration for an offline Docker network, then run the
# image's own entrypoint. Mounted read-only at /pbx-cutover/freeswitch; the image is not modified.
set -eu
conf=/etc/freeswitch
# 1. the image's vanilla configuration, as its entrypoint would copy it on first start
if [ ! -f "$conf/freeswitch.xml" ]; then
  mkdir -p "$conf"
  cp -a /usr/share/freeswitch/conf/vanilla/. "$conf/"
fi
# 2. event socket on 0.0.0.0 with the lab's password (never logged)
password="${FREESWITCH_ESL_PASSWORD:-ClueCon}"
case "$password" in *[!A-Za-z0-9._-]*) echo "start.sh: FREESWITCH_ESL_PASSWORD may only use A-Z a-z 0-9 . _ -" >&2; exit 2;; esac
sed "s/@ESL_PASSWORD@/$password/" /pbx-cutover/freeswitch/event_socket.conf.xml > "$conf/autoload_configs/event_socket.conf.xml"
# 3. no public STUN lookups: external SIP/RTP addresses = this container's own IPv4 address
sed -i -E 's/(data="external_(rtp|sip)_ip=)[^"]*"/\1$${local_ip_v4}"/' "$conf/vars.xml"
# 4. hand over to the image's entrypoint (or start FreeSWITCH in the foreground)
if [ -x /docker-entrypoint.sh ]; then
  exec /docker-entrypoint.sh freeswitch
fi
exec freeswitch -nonat -nf
