#!/bin/sh
# tests/sim/recorded/install.sh DEST — install the npm packages of
# recorded GitHub responses and GitHub's GraphQL schema (package.json here, versions pinned by
# package-lock.json) into DEST/node_modules with `npm ci`, once: a second
# run with the same lock file does nothing.  Installs Debian's nodejs and
# npm first when npm is missing.  Scripts of the packages are not run
# (--ignore-scripts): the fixtures are read as JSON, and graphql-js runs only
# in tests/sim/graphql_check.js.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
DEST=$(cd "$1" && pwd)   # absolute: npm runs inside it and logs there
if [ -f "$DEST/package-lock.json" ] && [ -d "$DEST/node_modules/@octokit/fixtures" ] &&
   [ -d "$DEST/node_modules/@octokit/graphql-schema" ] &&
   cmp -s "$HERE/package-lock.json" "$DEST/package-lock.json"; then
	exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
	echo "recorded: npm is missing; installing Debian's nodejs and npm"
	SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq || true
	$SUDO apt-get install -o DPkg::Lock::Timeout=300 -y -qq --no-install-recommends nodejs npm >/dev/null
fi
cp "$HERE/package.json" "$HERE/package-lock.json" "$DEST/"
if ! (cd "$DEST" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >"$DEST/npm-ci.log" 2>&1); then
	echo "recorded: npm ci failed in $DEST (see $DEST/npm-ci.log); the replay of recorded GitHub" >&2
	echo "recorded: responses needs the npm registry once, then works offline" >&2
	rm -f "$DEST/package-lock.json"
	exit 1
fi
echo "recorded: installed @octokit/fixtures, @octokit/webhooks-examples, @octokit/graphql-schema and graphql in $DEST"
