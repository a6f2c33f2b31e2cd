#!/bin/sh
# run.sh SECONDS BIN... — run each libFuzzer target for SECONDS under the
# sanitizers it was built with (make fuzz: ASan + UBSan), seeded from
# tests/fuzz/corpus/NAME and, for the file parsers, the fixtures
# (tests/fixtures/config, tests/fixtures/directory).  New inputs
# go to build/fuzz/corpus/NAME, crashes to build/fuzz/.  Prints one line
# per target with its executions, and exits 1 on the first finding.
set -eu
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=tests/fuzz/lsan.supp:print_suppressions=0}"
secs=$1; shift
for bin in "$@"; do
	name=${bin##*/fuzz_}
	out=build/fuzz/corpus/$name
	mkdir -p "$out"
	seeds="tests/fuzz/corpus/$name"
	case $name in
	config) seeds="$seeds tests/fixtures/config" ;;
	directory) seeds="$seeds tests/fixtures/directory" ;;
	esac
	dirs=""
	for d in $seeds; do [ -d "$d" ] && dirs="$dirs $d"; done
	log=build/fuzz/$name.log
	echo "fuzz: $name for $secs s (seeds:$dirs)"
	# shellcheck disable=SC2086
	if ! "$bin" -max_total_time="$secs" -timeout=10 -max_len=65536 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix=build/fuzz/"$name"- "$out" $dirs >"$log" 2>&1; then
		tail -n 60 "$log"
		echo "fuzz: $name FOUND A PROBLEM (input saved as build/fuzz/$name-*; log $log)"
		exit 1
	fi
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	echo "fuzz: $name: $execs executions, nothing found"
done
