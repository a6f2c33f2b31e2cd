#!/bin/sh
# demo.sh — `make demo`: a throwaway PostgreSQL, the GitHub simulator, the
# real postmortems in examples/postmortems, the daemon, and a round trip.
set -eu
cd "$(dirname "$0")/.."
exec python3 examples/demo.py "$@"
