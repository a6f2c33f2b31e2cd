#!/bin/sh
# deb-test.sh — install the package `make deb` built (build/deb), check
# what the package promises, and purge it again.  Needs root (dpkg).
#   - the daemon is installed, neither enabled nor started;
#   - /etc/closeloop/closeloop.conf is a conffile; the closeloop account,
#     closeloop(8) and closeloop.conf(5) exist;
#   - systemd-analyze verify accepts the installed unit;
#   - the installed binary checks a configuration, says "run closeloop
#     migrate" on an empty ledger, migrates a throwaway cluster, and then
#     check-config --connect passes;
#   - purge removes the binary and the account's state folder.
# Prints "deb: N passed, N failed".
set -u
cd "$(dirname "$0")/.."
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "PASS $1"; }
no() { fail=$((fail + 1)); echo "FAIL $1"; }
check() { name=$1; shift; if "$@" >/tmp/deb-test.$$ 2>&1; then ok "$name"; else no "$name"; cat /tmp/deb-test.$$; fi; }

deb=$(ls build/deb/closeloop_*_*.deb 2>/dev/null | head -n1)
[ -n "$deb" ] || { echo "deb-test: no package in build/deb: run make deb first" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "deb-test: needs root (dpkg -i); run it with sudo" >&2; exit 1; }
if dpkg-query -W closeloop >/dev/null 2>&1; then
	echo "deb-test: closeloop is already installed here; remove it first (dpkg --purge closeloop)" >&2
	exit 1
fi

work=$(mktemp -d)
pgdir="$work/pg"
cleanup() {
	sh tests/pgtmp.sh destroy "$pgdir" >/dev/null 2>&1 || true
	dpkg --purge closeloop >/dev/null 2>&1 || true
	rm -rf "$work" /tmp/deb-test.$$
}
trap cleanup EXIT

check "dpkg -i" dpkg -i "$deb"
check "binary runs" /usr/bin/closeloop version
check "conffile" sh -c 'dpkg-query -W -f="\${Conffiles}" closeloop | grep -q /etc/closeloop/closeloop.conf'
check "account" getent passwd closeloop
check "manual pages" sh -c 'man -w closeloop >/dev/null && man -w closeloop.conf >/dev/null'
check "not enabled" sh -c '! ls /etc/systemd/system/*.wants/closeloop.service 2>/dev/null'
check "not started" sh -c '! pgrep -f "^/usr/bin/closeloop"'
check "unit verifies" systemd-analyze verify /lib/systemd/system/closeloop.service

dsn=$(sh tests/pgtmp.sh start "$pgdir" "${PGPORT_TEST:-54391}") || { no "cluster"; exit 1; }
conf="$work/closeloop.conf"
cat >"$conf" <<EOC
database = { dsn = "$dsn"; };
connectors = ( { name = "github-main"; type = "github"; base_url = "https://api.github.com";
                 token_env = "DEB_TEST_TOKEN"; targets = [ "acme/payments" ]; } );
EOC
export DEB_TEST_TOKEN=ghp_debTestToken0123456789
check "check-config" /usr/bin/closeloop check-config "$conf"
check "empty ledger says migrate" sh -c "out=\$(/usr/bin/closeloop check-config --connect '$conf' 2>&1); rc=\$?; echo \"\$out\"; [ \$rc -eq 1 ] && echo \"\$out\" | grep -q 'run .closeloop migrate'"
check "migrate" /usr/bin/closeloop migrate -c "$conf"
check "check-config --connect" /usr/bin/closeloop check-config --connect "$conf"

check "purge" dpkg --purge closeloop
check "purged" sh -c '! test -e /usr/bin/closeloop && ! test -e /var/lib/closeloop'
echo "deb: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
