#!/bin/sh
# install-deps.sh — install the Debian packages closeloop builds, tests and
# runs with, when they are missing.  Uses sudo when not root and says what
# it installs.  Safe to run again: it does nothing when all are present.
# PostgreSQL is Debian's `postgresql` (15 on Debian 12, 17 on Debian 13);
# tests/pgtmp.sh uses the highest installed server.
set -eu
PKGS="build-essential pkg-config libuv1-dev libcurl4-openssl-dev libpq-dev \
libjson-c-dev libconfig-dev libcmocka-dev libmd4c-dev libyaml-dev libsystemd-dev \
libssl-dev libhttp-parser-dev postgresql python3 python3-jsonschema python3-aiosmtpd openssl ca-certificates time"
# `install-deps.sh fuzz` (make fuzz): clang and its libFuzzer runtime only
if [ "${1:-}" = fuzz ]; then
	PKGS="clang libclang-rt-14-dev"
fi
# `install-deps.sh deb` (make deb): Debian's packaging tools
if [ "${1:-}" = deb ]; then
	PKGS="dpkg-dev debhelper fakeroot lintian"
fi
missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0
echo "closeloop: installing missing Debian packages:$missing"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || {
		echo "closeloop: not root and no sudo; as root run: apt-get install$missing" >&2; exit 1; }
	SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || echo "closeloop: apt-get update failed; trying the install anyway" >&2
# shellcheck disable=SC2086
$SUDO apt-get install -o DPkg::Lock::Timeout=300 -y -qq --no-install-recommends $missing >/dev/null || {
	echo "closeloop: could not install:$missing" >&2
	echo "closeloop: check the network and /etc/apt/sources.list, then run: sudo apt-get install$missing" >&2
	exit 1; }
echo "closeloop: installed:$missing"
