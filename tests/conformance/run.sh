#!/bin/sh
# tests/conformance/run.sh — `make conformance`
#
# Checks that what closeloop sends to GitHub conforms to GitHub's published
# OpenAPI description (@octokit/openapi, api.github.com.json), by putting
# Stoplight Prism's validation proxy between the client and the GitHub
# simulator (tests/sim/github_sim.py):
#
#     curl scenario / closeloop  ->  prism proxy --errors  ->  github_sim.py
#
# With --errors Prism refuses a request that violates the description with
# a 422 problem document (type .../prism/errors#UNPROCESSABLE_ENTITY) and
# turns a response that violates it into an error (…#VIOLATIONS), so the
# simulator's answers are checked too.  Every request is also recorded by
# the simulator and checked by check_requests.py, which is stricter than
# Prism about names GitHub silently ignores (unknown query parameters and
# body properties).
#
# Steps: install Prism and the description under build/conformance (npm);
# trim the description to the issues endpoints (trim_spec.py, also works
# around a Prism bug, see there); self-test that Prism really rejects a bad
# request and a bad response; run a representative curl scenario (the
# requests connectors/github.c makes); run build/closeloop (migrate,
# import, sync --once twice) against the proxy when the binary exists;
# report Prism's validation output; exit 1 on any violation.
#
# Environment: CONFORMANCE_API_VERSION (default 2022-11-28),
# CONFORMANCE_PGPORT (default 54395), CLOSELOOP_BIN (default
# build/closeloop), CONFORMANCE_NO_PRISM=1 (force the
# fallback).  Logs stay in build/conformance.
# If Prism cannot be installed or started, the run says why and falls back
# to check_requests.py alone (the requests then go to the simulator).
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
W=$ROOT/build/conformance
PRISM_VERSION=5.14.2
OPENAPI_VERSION=23.0.2
API_VERSION=${CONFORMANCE_API_VERSION:-2022-11-28}
PGPORT=${CONFORMANCE_PGPORT:-54395}
TOKEN=conformance-token
SPEC_FULL=$W/api.github.com-$OPENAPI_VERSION.json
SPEC=$W/github-issues-$API_VERSION.json
RECORD=$W/requests.jsonl
PRISM_LOG=$W/prism.log
SIM_PID=""
PRISM_PID=""
PGDIR=""
VIOL=0
FAIL=0

mkdir -p "$W"

say() { printf '%s\n' "$*"; }
die() { say "conformance: $*" >&2; exit 1; }

cleanup() {
	[ -n "$PRISM_PID" ] && kill "$PRISM_PID" 2>/dev/null || true
	[ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null || true
	[ -n "$PGDIR" ] && sh tests/pgtmp.sh destroy "$PGDIR" || true
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# ---- tools ------------------------------------------------------------------
fetch_spec() {
	[ -s "$SPEC_FULL" ] && return 0
	command -v npm >/dev/null 2>&1 || { say "npm is not installed"; return 1; }
	(cd "$W" && rm -rf package && npm pack --silent --loglevel=error "@octokit/openapi@$OPENAPI_VERSION" >/dev/null &&
		tar -xzf "octokit-openapi-$OPENAPI_VERSION.tgz" package/generated/api.github.com.json &&
		mv package/generated/api.github.com.json "$SPEC_FULL" &&
		rm -rf package "octokit-openapi-$OPENAPI_VERSION.tgz")
}

# Sets PRISM_WHY and returns 1 when Prism cannot be used.
install_prism() {
	PRISM=$W/node_modules/.bin/prism
	if [ "${CONFORMANCE_NO_PRISM:-0}" = 1 ]; then PRISM_WHY="CONFORMANCE_NO_PRISM=1 is set"; return 1; fi
	if ! command -v node >/dev/null 2>&1; then PRISM_WHY="node is not installed"; return 1; fi
	major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
	if [ "$major" -lt 18 ]; then PRISM_WHY="node $(node --version) is older than prism $PRISM_VERSION needs (>= 18.20.1)"; return 1; fi
	if [ -x "$PRISM" ] && [ "$("$PRISM" --version 2>/dev/null)" = "$PRISM_VERSION" ]; then return 0; fi
	[ -f "$W/package.json" ] || printf '{ "name": "closeloop-conformance", "private": true }\n' >"$W/package.json"
	if ! (cd "$W" && npm install --no-audit --no-fund --loglevel=error "@stoplight/prism-cli@$PRISM_VERSION" >"$W/npm-install.log" 2>&1); then
		PRISM_WHY="npm install @stoplight/prism-cli@$PRISM_VERSION failed (see $W/npm-install.log)"; return 1
	fi
	if [ "$("$PRISM" --version 2>/dev/null)" != "$PRISM_VERSION" ]; then
		PRISM_WHY="prism --version does not run: $("$PRISM" --version 2>&1 | tail -1)"; return 1
	fi
}

# ---- processes ----------------------------------------------------------------
start_sim() { # public-base-URL port (0 = any)
	rm -f "$W/sim.port"
	python3 tests/sim/github_sim.py --port "$2" --port-file "$W/sim.port" --token "$TOKEN" \
		--repos 'etcd-io/*,dfds/*,conformance/*' --link-style repos --public-url "$1" --record "$RECORD" >"$W/sim.log" 2>&1 &
	SIM_PID=$!
	i=0
	while [ ! -s "$W/sim.port" ]; do
		i=$((i + 1)); [ $i -gt 200 ] && die "the simulator did not start (see $W/sim.log)"
		kill -0 "$SIM_PID" 2>/dev/null || die "the simulator exited (see $W/sim.log)"
		sleep 0.05
	done
	SIM_URL=http://127.0.0.1:$(cat "$W/sim.port")
}

start_prism() { # port; sets PRISM_WHY and returns 1 on failure
	"$PRISM" proxy "$SPEC" "$SIM_URL" --errors -p "$1" -h 127.0.0.1 >"$PRISM_LOG" 2>&1 &
	PRISM_PID=$!
	i=0
	while :; do
		code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
			-H "X-GitHub-Api-Version: $API_VERSION" "http://127.0.0.1:$1/repos/conformance/probe/issues" || true)
		[ "$code" = 200 ] && return 0
		if ! kill -0 "$PRISM_PID" 2>/dev/null; then
			PRISM_WHY="prism proxy exited: $(grep -m1 -i 'fatal\|error' "$PRISM_LOG" | cut -c1-300)"; PRISM_PID=""; return 1
		fi
		i=$((i + 1)); [ $i -gt 240 ] && { PRISM_WHY="prism proxy did not answer within 60 s"; return 1; }
		sleep 0.25
	done
}

sim_admin() { # method path [json]
	curl -sf -X "$1" ${3:+-H "Content-Type: application/json" --data-binary "$3"} "$SIM_URL$2" >/dev/null ||
		die "simulator admin $1 $2 failed"
}

# ---- one request of the scenario ----------------------------------------------
# req EXPECTED-STATUS METHOD PATH [JSON-BODY] [EXTRA-HEADER]
# Counts a Prism problem document or an sl-violations header as a violation
# and any other status than EXPECTED as a failure.  Leaves the answer in
# $W/resp.json and $W/resp.hdr.
req() {
	exp=$1; m=$2; p=$3; rbody=${4:-}; extra=${5:-}
	case "$p" in http*) url=$p ;; *) url=$BASE$p ;; esac
	: >"$W/resp.json"
	set -- -s -o "$W/resp.json" -D "$W/resp.hdr" -w '%{http_code}' -X "$m" \
		-H "Authorization: Bearer $TOKEN" -H "Accept: application/vnd.github+json" \
		-H "X-GitHub-Api-Version: $API_VERSION" -H "User-Agent: closeloop-conformance"
	[ -n "$rbody" ] && set -- "$@" -H "Content-Type: application/json" --data-binary "$rbody"
	[ -n "$extra" ] && set -- "$@" -H "$extra"
	code=$(curl "$@" "$url") || code=000
	if grep -q 'stoplight.io/prism/errors' "$W/resp.json" 2>/dev/null ||
		grep -i '^sl-violations:' "$W/resp.hdr" | grep -q '"severity":"Error"'; then
		VIOL=$((VIOL + 1))
		say "  VIOLATION $m $url -> $code"
		grep -i '^sl-violations:' "$W/resp.hdr" | cut -c1-600 | sed 's/^/      /'
		head -c 2000 "$W/resp.json" | sed 's/^/      /'; echo
	elif [ "$code" != "$exp" ]; then
		FAIL=$((FAIL + 1))
		say "  UNEXPECTED $m $url -> $code (expected $exp): $(head -c 300 "$W/resp.json")"
	else
		say "  ok $code  $m $url"
		grep -i '^sl-violations:' "$W/resp.hdr" | cut -c1-400 | sed 's/^/      prism warning: /' || true
	fi
}

hdr() { grep -i "^$1:" "$W/resp.hdr" | tail -1 | cut -d' ' -f2- | tr -d '\r'; }
json_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$W/resp.json" "$1"; }
next_link() { hdr link | sed -n 's/.*<\([^>]*\)>; rel="next".*/\1/p'; }

# Negative checks: Prism must refuse a request without a title and must
# flag a response that is not an issue list.  Guards against a Prism that
# silently validates nothing (see trim_spec.py fix_nullable).
self_test() {
	say "self-test: Prism must reject an invalid request and an invalid response"
	code=$(curl -s -o "$W/resp.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
		-H "X-GitHub-Api-Version: $API_VERSION" -H "Content-Type: application/json" \
		--data-binary '{"body":"no title"}' "$BASE/repos/conformance/probe/issues")
	grep -q 'prism/errors#UNPROCESSABLE_ENTITY' "$W/resp.json" ||
		die "Prism did not refuse a create without title (HTTP $code: $(head -c 300 "$W/resp.json"))"
	sim_admin POST /_sim/faults '{"match":{"method":"GET","path_regex":"^/repos/conformance/probe/issues$"},"count":1,"action":{"status":200,"body":[{"id":"not-a-number"}]}}'
	code=$(curl -s -o "$W/resp.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
		-H "X-GitHub-Api-Version: $API_VERSION" "$BASE/repos/conformance/probe/issues")
	grep -q 'prism/errors#VIOLATIONS' "$W/resp.json" ||
		die "Prism did not flag an invalid response (HTTP $code: $(head -c 300 "$W/resp.json"))"
	say "  ok: both refused"
}

# ---- the representative scenario -----------------------------------------------
# The requests connectors/github.c makes: incremental list (state=all,
# sort=updated, direction=asc, per_page=100, since) following Link,
# conditional list/get, create with title/body/labels/assignees, update
# with state/state_reason/labels/assignees/body/title, get one issue.
curl_scenario() {
	say "scenario: representative GitHub connector requests through $BASE"
	R=/repos/etcd-io/etcd
	LIST="$R/issues?state=all&sort=updated&direction=asc&per_page=100"
	req 200 GET "$LIST"
	pages=1; next=$(next_link)
	while [ -n "$next" ]; do
		req 200 GET "$next"; pages=$((pages + 1)); next=$(next_link)
		[ $pages -gt 10 ] && { FAIL=$((FAIL + 1)); say "  Link next never ends"; break; }
	done
	[ $pages -ge 2 ] || { FAIL=$((FAIL + 1)); say "  expected at least 2 pages, got $pages"; }
	since=$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u +%Y-%m-%dT00:00:00Z)
	req 200 GET "$LIST&since=$since"
	tag=$(hdr etag)
	req 304 GET "$LIST&since=$since" "" "If-None-Match: $tag"
	ISSUE_BODY='Follow-up from PM-2022-014.\n\n<!-- closeloop:begin -->\nDue: 2026-12-31\n<!-- closeloop:end -->\n<!-- closeloop-token: 7f1c2a -->'
	req 201 POST "$R/issues" "{\"title\":\"Add a data-consistency check to the release pipeline\",\"body\":\"$ISSUE_BODY\",\"labels\":[\"closeloop\",\"priority:P1\",\"type:detect\"],\"assignees\":[\"marek-etcd\"]}"
	n1=$(json_field number)
	req 201 POST "$R/issues" '{"title":"Document the corruption-check flags","body":"b","labels":[],"assignees":[]}'
	n2=$(json_field number)
	req 200 PATCH "$R/issues/$n1" "{\"title\":\"Add a data-consistency check to CI\",\"body\":\"$ISSUE_BODY\",\"labels\":[\"closeloop\",\"priority:P0\",\"type:detect\"],\"assignees\":[\"lingchen-etcd\"]}"
	req 200 PATCH "$R/issues/$n1" '{"state":"closed","state_reason":"completed"}'
	req 200 PATCH "$R/issues/$n2" '{"state":"closed","state_reason":"not_planned"}'
	req 200 PATCH "$R/issues/$n2" '{"state":"open","state_reason":"reopened"}'
	req 200 PATCH "$R/issues/$n2" '{"assignees":[],"labels":["closeloop"]}'
	req 200 GET "$R/issues/$n1"
	tag=$(hdr etag)
	req 304 GET "$R/issues/$n1" "" "If-None-Match: $tag"
	req 200 GET "$R/issues/14045"
	sim_admin POST "/_sim/issues/etcd-io/etcd/13637/delete" '{}'
	req 410 GET "$R/issues/13637"
	req 404 GET "$R/issues/999999"
}

# ---- closeloop itself ------------------------------------------------------------
# Runs the real daemon's one-shot sync against the proxy when build/closeloop
# exists: migrate, directory load, import the example postmortems, sync
# (creates issues), an edit made "on GitHub", sync again (incremental list
# with since and If-None-Match, then pulls).
run_closeloop_sync() {
	BIN=${CLOSELOOP_BIN:-$ROOT/build/closeloop}
	if [ ! -x "$BIN" ] || ! "$BIN" --help 2>&1 | grep -q 'sync'; then
		say "closeloop: $BIN with a sync command not found; only the curl scenario ran"
		return 0
	fi
	say "closeloop: migrate, import, sync --once (twice) through $BASE"
	PGDIR=$W/pg
	sh tests/pgtmp.sh destroy "$PGDIR" 2>/dev/null || true
	rm -rf "$PGDIR"
	DSN=$(sh tests/pgtmp.sh start "$PGDIR" "$PGPORT") || { FAIL=$((FAIL + 1)); say "  PostgreSQL did not start"; return 0; }
	CONF=$W/closeloop.conf
	: >"$W/closeloop.log"
	cat >"$CONF" <<EOF
# generated by tests/conformance/run.sh
database = { dsn = "$DSN"; };
log_level = "info";
directory = "$ROOT/examples/directory.conf";
connectors = (
    {
        name = "github-demo";
        type = "github";
        base_url = "$BASE";
        api_version = "$API_VERSION";
        token_env = "CLOSELOOP_GITHUB_TOKEN";
        targets = [ "dfds/platform-backlog", "etcd-io/etcd" ];
        max_attempts = 2;
        request_timeout = 30;
        max_inflight = 4;
    }
);
EOF
	export CLOSELOOP_GITHUB_TOKEN=$TOKEN
	unset CLOSELOOP_CONFIG || true
	run_cl migrate -c "$CONF"
	run_cl directory load -c "$CONF"
	run_cl import -c "$CONF" --platform etcd --team etcd-maintainers examples/postmortems/etcd/v3.5-data-inconsistency.md
	run_cl import -c "$CONF" --platform kubernetes --team dfds-platform \
		"examples/postmortems/dfds/PM2021-004 - ADFS outage.md" \
		"examples/postmortems/dfds/PM2022-006 - ALB 502 errors.md"
	run_cl sync --once -c "$CONF"
	sim_admin POST "/_sim/clock" '{"advance_s": 5}'
	sim_admin POST "/_sim/issues/etcd-io/etcd/14045/edit" '{"state":"closed","state_reason":"completed","actor":"marek-etcd"}'
	run_cl sync --once -c "$CONF"
}

run_cl() {
	rc=0
	"$BIN" "$@" >"$W/closeloop.out" 2>&1 || rc=$?
	cat "$W/closeloop.out" >>"$W/closeloop.log"
	if [ $rc -eq 0 ]; then
		say "  ok  closeloop $*"
	else
		FAIL=$((FAIL + 1))
		say "  FAILED closeloop $* (exit $rc):"
		tail -20 "$W/closeloop.out" | sed 's/^/      /'
	fi
}

# ---- main ------------------------------------------------------------------------
fetch_spec || die "could not get @octokit/openapi@$OPENAPI_VERSION with npm (registry unreachable?)"
python3 tests/conformance/trim_spec.py --api-version "$API_VERSION" "$SPEC_FULL" "$SPEC"
: >"$RECORD"

PRISM_WHY=""
USE_PRISM=1
install_prism || USE_PRISM=0
if [ $USE_PRISM -eq 1 ]; then
	PPORT=$(free_port)
	BASE=http://127.0.0.1:$PPORT
	start_sim "$BASE" 0
	start_prism "$PPORT" || USE_PRISM=0
fi
if [ $USE_PRISM -eq 0 ]; then
	say "conformance: Prism $PRISM_VERSION cannot be used here: $PRISM_WHY"
	say "conformance: falling back to check_requests.py on the recorded requests alone"
	[ -n "$SIM_PID" ] && { kill "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true; }
	PPORT=$(free_port)
	BASE=http://127.0.0.1:$PPORT
	start_sim "$BASE" "$PPORT"
	: >"$RECORD"
fi

sim_admin POST /_sim/seed "$(python3 -c '
import json
issues = [{"number": n, "title": "etcd-io/etcd issue %d" % n} for n in (14045, 14039, 13637, 13775, 13973, 13839)]
issues += [{"title": "older issue %d" % i, "created_at": "2022-01-01T00:00:00Z", "updated_at": "2022-02-01T00:00:00Z"} for i in range(110)]
print(json.dumps({"repos": {"etcd-io/etcd": {"issues": issues, "pulls": 5}}}))')"

[ $USE_PRISM -eq 1 ] && self_test
MARK_LOG=$(wc -l <"$PRISM_LOG" 2>/dev/null || echo 0)
MARK_REC=$(wc -l <"$RECORD")

curl_scenario
run_closeloop_sync

say ""
say "==== recorded requests: check_requests.py (stricter than Prism on unknown names) ===="
tail -n +$((MARK_REC + 1)) "$RECORD" >"$W/requests-checked.jsonl"
if ! python3 tests/conformance/check_requests.py "$SPEC" "$W/requests-checked.jsonl"; then
	VIOL=$((VIOL + 1))
fi
if [ $USE_PRISM -eq 1 ]; then
	say ""
	say "==== Prism $PRISM_VERSION validation output (after the self-test) ===="
	tail -n +$((MARK_LOG + 1)) "$PRISM_LOG" | grep -E 'VALIDATOR|Violation|terminated with error' | cut -c1-400 || true
	pv=$(tail -n +$((MARK_LOG + 1)) "$PRISM_LOG" | grep -c 'terminated with error' || true)
	pw=$(tail -n +$((MARK_LOG + 1)) "$PRISM_LOG" | grep 'Violation' | grep -vc 'error' || true)
	say "prism: $pv request(s)/response(s) refused for violations, $pw warning(s)"
	VIOL=$((VIOL + pv))
fi
say ""
if [ $VIOL -gt 0 ] || [ $FAIL -gt 0 ]; then
	say "conformance: FAILED ($VIOL violation group(s), $FAIL unexpected result(s)); logs in $W"
	exit 1
fi
say "conformance: OK (API version $API_VERSION$([ $USE_PRISM -eq 1 ] && echo ", Prism $PRISM_VERSION proxy" || echo ", check_requests.py only"))"
