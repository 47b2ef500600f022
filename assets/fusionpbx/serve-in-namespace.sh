#!/bin/sh
# Runs as the first program of a private mount namespace (`unshare --user --map-root-user --mount
# --propagation private`, started by `pbx-cutover lab up --fusionpbx`), then becomes the web server:
#
#   serve-in-namespace.sh <fusionpbx-tree> <etc-dir> <program> [args...]
#
# FusionPBX hard-codes its paths: it reads /etc/fusionpbx/config.conf and defaults document.root to
# /var/www/fusionpbx (5.5.7 cannot render its installer from anywhere else). Two versions side by
# side therefore each get their own view of those two paths: the tree, read-only, on
# /var/www/fusionpbx and the lab's per-instance etc dir on /etc/fusionpbx. The mounts exist only in
# this namespace; the host's /var/www/fusionpbx and /etc/fusionpbx stay empty mount points.
# The program starts in /var/www/fusionpbx: FusionPBX's command-line scripts (core/upgrade/upgrade.php)
# expect it, as its installer runs them (`cd /var/www/fusionpbx && php core/upgrade/upgrade.php`).
set -eu
tree="$1"
etc="$2"
shift 2
mount --bind "$tree" /var/www/fusionpbx
mount -o remount,bind,ro /var/www/fusionpbx
mount --bind "$etc" /etc/fusionpbx
cd /var/www/fusionpbx
exec "$@"
