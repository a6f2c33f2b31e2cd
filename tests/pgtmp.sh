#!/bin/sh
# pgtmp.sh start DIR [PORT] | stop DIR | destroy DIR
#
# A throwaway PostgreSQL cluster for the tests, the demo and the benchmark,
# listening only on a Unix socket (no TCP).  `start` prints the libpq
# connection string on stdout: host=SOCKDIR port=PORT dbname=closeloop
# user=postgres.
#
# DIR (inside the checkout, e.g. build/pg-unit) only records where the
# cluster is (DIR/cluster).  The cluster itself -- data, socket, logs --
# lives in a directory made by `mktemp -d` under /tmp, owned by the account
# that runs the server, because:
#   - PostgreSQL refuses to run as root, so as root the server runs as the
#     `postgres` account, which cannot enter a checkout under a private
#     (0700) home directory;
#   - a Unix socket path is limited to ~107 bytes and is a comma-separated
#     list in unix_socket_directories, so a deep checkout or one whose path
#     holds a space or a comma cannot host the socket.
# `stop` stops the server and keeps the cluster (a later `start` finds it
# again, same data and socket); `destroy` stops it and removes the
# directory.
#
# PGTMP_OPTS adds server options to `start` ("-c name=value ..."; the
# flags benchmark loads pg_stat_statements that way to count statements).
#
# The server binaries are the highest installed major version
# (/usr/lib/postgresql/N/bin, Debian's layout) unless PGBIN names them.
# Debian's pg_virtualenv wraps one command in a cluster; the harness needs
# start and stop from different processes on a port of its choosing, so we
# keep this small script and follow the same layout.
set -eu
cmd=${1:-}; dir=${2:-}; port=${3:-54329}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
	echo "usage: pgtmp.sh start|stop|destroy DIR [PORT]" >&2; exit 2
fi

find_pgbin() {
	if [ -n "${PGBIN:-}" ]; then printf '%s\n' "$PGBIN"; return 0; fi
	best=""
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] || continue
		best=$(printf '%s\n%s\n' "$best" "$d" | sed '/^$/d' | sort -V | tail -n1)
	done
	if [ -z "$best" ]; then
		echo "pgtmp: no PostgreSQL server found under /usr/lib/postgresql/*/bin;" \
			"install it with: sudo apt-get install postgresql (or run sh tests/install-deps.sh)" >&2
		return 1
	fi
	printf '%s\n' "$best"
}

# Run a command (given as arguments, never re-parsed by a shell) as the
# account that owns the cluster.
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		# runuser (util-linux) keeps the argument vector as it is
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

case "$cmd" in
start)
	PGBIN=$(find_pgbin)
	mkdir -p "$dir"
	pg=""
	[ -f "$dir/cluster" ] && pg=$(cat "$dir/cluster")
	if [ -z "$pg" ] || [ ! -d "$pg" ]; then
		pg=$(mktemp -d /tmp/closeloop-pg.XXXXXXXX)
		[ "$(id -u)" -eq 0 ] && chown postgres: "$pg"
		printf '%s\n' "$pg" >"$dir/cluster"
	fi
	if [ ! -f "$pg/data/PG_VERSION" ]; then
		as_pg "$PGBIN/initdb" -D "$pg/data" -A trust -U postgres --no-sync -E UTF8 \
			--locale=C.UTF-8 >"$pg/initdb.log" 2>&1 || {
			echo "pgtmp: initdb failed (log: $pg/initdb.log):" >&2; cat "$pg/initdb.log" >&2
			echo "pgtmp: remove $pg and $dir/cluster, then try again" >&2; exit 1; }
	fi
	as_pg mkdir -p "$pg/sock"
	# a server left running by an interrupted run is reused as it is
	as_pg "$PGBIN/pg_ctl" -D "$pg/data" status >/dev/null 2>&1 ||
	as_pg "$PGBIN/pg_ctl" -D "$pg/data" -l "$pg/postgres.log" -w -t 60 \
		-o "-c listen_addresses= -c unix_socket_directories=$pg/sock -p $port -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50 ${PGTMP_OPTS:-}" \
		start >/dev/null 2>&1 || {
		echo "pgtmp: PostgreSQL did not start on port $port (log: $pg/postgres.log):" >&2
		tail -20 "$pg/postgres.log" >&2
		echo "pgtmp: if the port is taken, choose another (PGPORT_TEST, PGPORT_INTEGRATION, DEMO_PGPORT, BENCH_PGPORT)" >&2
		exit 1; }
	if ! as_pg "$PGBIN/psql" -h "$pg/sock" -p "$port" -U postgres -d postgres -qAt \
		-c "SELECT 1 FROM pg_database WHERE datname='closeloop'" | grep -q 1; then
		as_pg "$PGBIN/createdb" -h "$pg/sock" -p "$port" -U postgres closeloop
	fi
	echo "host=$pg/sock port=$port dbname=closeloop user=postgres"
	;;
stop|destroy)
	[ -f "$dir/cluster" ] || exit 0
	pg=$(cat "$dir/cluster")
	if [ -n "$pg" ] && [ -f "$pg/data/postmaster.pid" ]; then
		PGBIN=$(find_pgbin)
		as_pg "$PGBIN/pg_ctl" -D "$pg/data" -m fast -w stop >/dev/null 2>&1 || true
	fi
	[ "$cmd" = stop ] && exit 0
	case "$pg" in /tmp/closeloop-pg.*) rm -rf "$pg" ;; esac
	rm -f "$dir/cluster"
	;;
*)
	echo "usage: pgtmp.sh start|stop|destroy DIR [PORT]" >&2; exit 2 ;;
esac
