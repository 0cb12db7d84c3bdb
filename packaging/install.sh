#!/usr/bin/env bash
# Installs a built pgsql-ra (target/release, or the path given) and the OCF
# names Pacemaker looks up:
#   /usr/sbin/pgsql-ra
#   /usr/lib/ocf/resource.d/upfront/pgsql   -> /usr/sbin/pgsql-ra
#   /usr/lib/ocf/resource.d/upfront/pgsqlms -> /usr/sbin/pgsql-ra
# DESTDIR is honoured for staging. The personality comes from the link name.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/pgsql-ra}
dest=${DESTDIR:-}
[ -x "$bin" ] || { echo "install.sh: $bin not found; run cargo build --release" >&2; exit 1; }
install -D -m 0755 "$bin" "$dest/usr/sbin/pgsql-ra"
install -d -m 0755 "$dest/usr/lib/ocf/resource.d/upfront"
ln -sfn /usr/sbin/pgsql-ra "$dest/usr/lib/ocf/resource.d/upfront/pgsql"
ln -sfn /usr/sbin/pgsql-ra "$dest/usr/lib/ocf/resource.d/upfront/pgsqlms"
echo "installed: $dest/usr/sbin/pgsql-ra and ocf:upfront:{pgsql,pgsqlms}"
