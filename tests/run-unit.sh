#!/bin/sh
# run-unit.sh BIN... — run every cmocka binary, sum the results, print
# "N passed, N failed" and exit non-zero when any test failed.
set -u
pass=0; fail=0; bad=""
for t in "$@"; do
	out=$("$t" 2>&1); rc=$?
	printf '%s\n' "$out"
	p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9][0-9]*\) test.*/\1/p' | tail -n1)
	f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9][0-9]*\) test.*/\1/p' | tail -n1)
	pass=$((pass + ${p:-0})); fail=$((fail + ${f:-0}))
	# a binary that died without cmocka's summary counts as one failure
	if [ $rc -ne 0 ] && [ -z "$f" ]; then fail=$((fail + 1)); fi
	if [ $rc -ne 0 ]; then bad="$bad $t"; fi
done
echo "unit: $pass passed, $fail failed"
[ -n "$bad" ] && { echo "failing:$bad"; exit 1; }
exit 0
