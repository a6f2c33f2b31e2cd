#!/bin/sh
# pgtmp.sh start DIR [PORT] | stop DIR
#
# A throwaway PostgreSQL 15 cluster under DIR, listening only on a Unix
# socket in DIR (and no TCP), run as the unprivileged 'postgres' account
# when we are root (PostgreSQL refuses to run as root).  `start` prints the
# libpq connection string on stdout: host=DIR/sock port=PORT dbname=closeloop
set -eu
cmd=$1; dir=$2; port=${3:-54329}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		su postgres -s /bin/sh -c "$*"
	else
		sh -c "$*"
	fi
}
case "$cmd" in
start)
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	[ "$(id -u)" -eq 0 ] && chown postgres "$dir" && chmod 0755 "$dir"
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		as_pg "$PGBIN/initdb -D '$dir/data' -A trust -U postgres --no-sync -E UTF8 --locale=C.UTF-8" >"$dir/initdb.log" 2>&1 || {
			echo "pgtmp: initdb failed, see $dir/initdb.log" >&2; cat "$dir/initdb.log" >&2; exit 1; }
	fi
	as_pg "mkdir -p '$dir/sock'"
	as_pg "$PGBIN/pg_ctl -D '$dir/data' -l '$dir/postgres.log' -w -t 60 \
		-o \"-c listen_addresses='' -c unix_socket_directories='$dir/sock' -p $port -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50\" start" >/dev/null 2>&1 || {
		echo "pgtmp: PostgreSQL did not start, see $dir/postgres.log" >&2; tail -20 "$dir/postgres.log" >&2; exit 1; }
	as_pg "$PGBIN/psql -h '$dir/sock' -p $port -U postgres -d postgres -qAt -c \"SELECT 1 FROM pg_database WHERE datname='closeloop'\"" | grep -q 1 ||
		as_pg "$PGBIN/createdb -h '$dir/sock' -p $port -U postgres closeloop"
	echo "host=$dir/sock port=$port dbname=closeloop user=postgres"
	;;
stop)
	[ -f "$dir/data/postmaster.pid" ] || exit 0
	as_pg "$PGBIN/pg_ctl -D '$dir/data' -m fast -w stop" >/dev/null 2>&1 || true
	;;
*)
	echo "usage: pgtmp.sh start|stop DIR [PORT]" >&2; exit 2 ;;
esac
