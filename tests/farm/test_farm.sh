#!/usr/bin/env bash
# Integration test of the farm: a real `ripple serve` with its SQLite store in a
# temporary directory, real `ripple worker` processes on loopback, the example
# universe built in the sandbox; workers and the scheduler killed mid-run.
#   test_farm.sh PATH-TO-examples/generate PATH-TO-ripple
set -uo pipefail
generate=$(realpath "${1:?usage: test_farm.sh GENERATE RIPPLE}")
ripple=$(realpath "${2:?usage: test_farm.sh GENERATE RIPPLE}")
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	pkill -9 -f "ripple-farm-test-$$" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
n=0 failures=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failures=$((failures + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }
fatal() { not_ok "$1"; echo "1..$n"; exit 1; }

U=$work/u
"$generate" "$U" >/dev/null || fatal "the example universe could not be generated"
cd "$U"
# Flaky tests are the flake-handling issue's subject; here every answer must be stable.
jq '(.packages[] | select(.name == "checkseum") | .test) = "true"' ripple.json >stable.json
# The same universe with a slow test in a low package, to kill things while it runs.
jq '(.packages[] | select(.name == "ipaddr") | .test) = "sleep 6; make check"' stable.json >slow.json

# serve NAME ARGS...: starts `ripple serve` (tagged for cleanup), waits for its URL file.
serve() {
	local name=$1
	shift
	rm -f "$work/$name.url"
	"$ripple" serve --url-file "$work/$name.url" "$@" --cache "$work/$name.cache" \
		>>"$work/$name.out" 2>>"$work/$name.err" &
	serve_pid=$!
	pids+=("$serve_pid")
	for _ in $(seq 1 300); do
		[ -s "$work/$name.url" ] && break
		kill -0 "$serve_pid" 2>/dev/null || break
		sleep 0.1
	done
	url=$(cat "$work/$name.url" 2>/dev/null)
	[ -n "$url" ] || fatal "ripple serve $name did not start: $(tail -3 "$work/$name.err")"
}
# worker NAME DB: a worker process on the server at $url.
worker() {
	"$ripple" worker --server "$url" --token-file "$2.worker-token" --name "$1" \
		--cache "$work/worker-$1-ripple-farm-test-$$" >>"$work/worker-$1.out" 2>>"$work/worker-$1.err" &
	worker_pid=$!
	pids+=("$worker_pid")
}
api() { # api METHOD PATH [BODY]: as the API token; body of the answer on stdout, status in $code
	local out
	out=$(curl -s -o "$work/body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $(cat "$db.api-token")" \
		-H 'Content-Type: application/json' ${3:+--data-binary "$3"} "$url$2")
	code=$out
	cat "$work/body"
}
# wait_run RUN SECONDS: until the run is done or cancelled.
wait_run() {
	local state
	for _ in $(seq 1 $(($2 * 5))); do
		state=$(api GET "/api/v1/runs/$1" | jq -r .run.state)
		[ "$state" = done ] || [ "$state" = cancelled ] && return 0
		sleep 0.2
	done
	return 1
}
jobs_of() { api GET "/api/v1/runs/$1" >"$work/run-$1.json"; }
status_of() { jq -r --arg p "$2" '.jobs[] | select(.package == $p) | .status' "$work/run-$1.json"; }

# 1. The whole example universe on a farm of two local workers.
db=$work/one.db
serve one --db "$db" --listen 127.0.0.1:0 --universe stable.json --workers 2 --lease-seconds 5
check "serve made its tokens, private to their owner" \
	'[ "$(stat -c %a "$db.worker-token")" = 600 ] && [ "$(stat -c %a "$db.api-token")" = 600 ]'
run=$(api POST /api/v1/runs '{"kind": "manual", "title": "whole universe", "targets": ["unix"]}' | jq -r .run)
check "a submit answers 201 with the run" '[ "$code" = 201 ] && [ "$run" -ge 1 ]'
wait_run "$run" 300
jobs_of "$run"
check "the run ends done" '[ "$(jq -r .run.state "$work/run-$run.json")" = done ]'
check "every job of the universe ran and passed" \
	'[ "$(jq "[.jobs[] | select(.status == \"pass\")] | length" "$work/run-$run.json")" -eq 7 ]'
check "the jobs were spread over both workers" \
	'[ "$(jq "[.jobs[].worker] | unique | length" "$work/run-$run.json")" -eq 2 ]'
job=$(jq -r '.jobs[] | select(.package == "dns") | .id' "$work/run-$run.json")
api GET "/api/v1/jobs/$job/log" >"$work/dns.log"
check "a job's log was streamed to the scheduler" 'grep -q "cc\|gcc\|make" "$work/dns.log"'
run2=$(api POST /api/v1/runs '{"kind": "manual", "targets": ["unix"]}' | jq -r .run)
wait_run "$run2" 60
jobs_of "$run2"
check "an identical second run is answered from the cache" \
	'[ "$(jq "[.jobs[] | select(.cached and .status == \"pass\")] | length" "$work/run-$run2.json")" -eq 7 ]'
curl -s -H "Authorization: Bearer $(cat "$db.api-token")" "$url/metrics" >"$work/metrics"
check "metrics count jobs by state" 'grep -q "^ripple_jobs{state=\"done\"} 14$" "$work/metrics"'
kill -TERM "$serve_pid"
wait "$serve_pid"
check "serve stops on SIGTERM with status 0 and its workers with it" \
	'[ $? -eq 0 ] && ! pgrep -f "local-1.*$work/one.cache" >/dev/null'

echo "1..$n"
[ "$failures" -eq 0 ]
