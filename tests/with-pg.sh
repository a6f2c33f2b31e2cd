#!/bin/sh
# with-pg.sh CMD ARGS... — run CMD with a throwaway PostgreSQL cluster.
#
# Starts a cluster with tests/pgtmp.sh under build/pg-unit on port
# $PGPORT_TEST (default 54391), exports CLOSELOOP_TEST_DSN (the DSN pgtmp.sh
# prints, dbname=closeloop), runs CMD, stops the cluster (also when CMD fails
# or the script is interrupted), removes it, and exits with CMD's status.
# When CLOSELOOP_TEST_DSN is already set, CMD runs against that server and
# no cluster is started.
set -u
if [ $# -eq 0 ]; then
	echo "usage: with-pg.sh CMD [ARGS...]" >&2
	exit 2
fi
if [ -n "${CLOSELOOP_TEST_DSN:-}" ]; then
	"$@"
	exit $?
fi
here=$(cd "$(dirname "$0")" && pwd)
dir=${PGTEST_DIR:-build/pg-unit}
port=${PGPORT_TEST:-54391}
stop() { sh "$here/pgtmp.sh" destroy "$dir" || true; }
trap 'stop' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
dsn=$(sh "$here/pgtmp.sh" start "$dir" "$port") || {
	echo "with-pg: could not start PostgreSQL under $dir (port $port)" >&2
	exit 1
}
CLOSELOOP_TEST_DSN=$dsn
export CLOSELOOP_TEST_DSN
"$@"
rc=$?
exit $rc
