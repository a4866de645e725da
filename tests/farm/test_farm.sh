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
	{
		for p in "${pids[@]}"; do kill -9 "$p"; done
		pkill -9 -f "ripple-farm-test-$$"
		wait
	} 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

U=$work/u
"$generate" "$U" >/dev/null || fatal "the example universe could not be generated"
cd "$U"
# Flaky tests are the flake-handling issue's subject; here every answer must be stable.
# Coverage jobs are test_coverage_farm.sh's: here one job per package and target.
jq '(.packages[] | select(.name == "checkseum") | .test) = "true" | del(.packages[].coverage)' ripple.json >stable.json
# The same universe with a slow test in a low package, to kill things while it runs.
jq '(.packages[] | select(.name == "ipaddr") | .test) = "for i in 1 2 3 4 5 6; do echo tick $i; sleep 1; done; make check"' \
	stable.json >slow.json

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
api() { # api METHOD PATH [BODY]: as the API token; the answer's body on stdout, its status in $work/code
	curl -s -o "$work/body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $(cat "$db.api-token")" \
		-H 'Content-Type: application/json' ${3:+--data-binary "$3"} "$url$2" >"$work/code"
	cat "$work/body"
}
code() { cat "$work/code"; }
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
check "a submit answers 201 with the run" '[ "$(code)" = 201 ] && [ "$run" -ge 1 ]'
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

# 2. A job whose dependency failed to build is skipped without running, under its root failure.
brk=$(jq -r .scenarios.api_break.commit scenarios.json)
dns_before=$(jq -r .scenarios.api_break.adapted.dns.before scenarios.json)
ethif_before=$(jq -r .scenarios.api_break.adapted.ethif.before scenarios.json)
run3=$(api POST /api/v1/runs "{\"kind\": \"manual\", \"targets\": [\"unix\"],
	\"changes\": [{\"package\": \"cstruct\", \"rev\": \"$brk\"}],
	\"pins\": [{\"package\": \"dns\", \"rev\": \"$dns_before\"}, {\"package\": \"ethif\", \"rev\": \"$ethif_before\"}]}" |
	jq -r .run)
wait_run "$run3" 300
jobs_of "$run3"
check "the API break fails dns and ethif at their build, naming cs_get_be16" \
	'[ "$(status_of "$run3" dns)" = fail ] && [ "$(status_of "$run3" ethif)" = fail ] &&
	 jq -e "[.jobs[] | select(.package == \"dns\") | .first_error] | .[0] | test(\"cs_get_be16\")" "$work/run-$run3.json" >/dev/null'
ethif_job=$(jq -r '.jobs[] | select(.package == "ethif") | .id' "$work/run-$run3.json")
check "tcpip, which needs ethif, is skipped under ethif's failure without running" \
	'[ "$(status_of "$run3" tcpip)" = skipped ] &&
	 [ "$(jq -r ".jobs[] | select(.package == \"tcpip\") | .cause" "$work/run-$run3.json")" = "$ethif_job" ] &&
	 [ "$(jq -r ".jobs[] | select(.package == \"tcpip\") | .worker" "$work/run-$run3.json")" = null ]'

# 3. A superseded pull-request run is cancelled; a cancelled run stops its running job.
pr1=$(api POST /api/v1/runs '{"kind": "pr", "change_ref": "test:owner/repo#1", "targets": ["unix"],
	"changes": [{"package": "ipaddr", "rev": "main~1"}]}' | jq -r .run)
pr2=$(api POST /api/v1/runs '{"kind": "pr", "change_ref": "test:owner/repo#1", "targets": ["unix"],
	"changes": [{"package": "ipaddr", "rev": "main"}]}' | jq -r .run)
wait_run "$pr1" 60
check "a newer run of the same pull request cancels the older" \
	'[ "$(api GET "/api/v1/runs/$pr1" | jq -r .run.state)" = cancelled ]'
wait_run "$pr2" 120
check "the newer run completes" '[ "$(api GET "/api/v1/runs/$pr2" | jq -r .run.state)" = done ]'
again=$(api POST /api/v1/runs '{"kind": "manual", "request_id": "same-id-1", "targets": ["unix"]}' | jq -r .run)
again2=$(api POST /api/v1/runs '{"kind": "manual", "request_id": "same-id-1", "targets": ["unix"]}' | jq -r .run)
check "a submit repeated with its request id returns the first run (200, not planned again)" \
	'[ "$again" = "$again2" ] && [ "$(code)" = 200 ]'
wait_run "$again" 60

kill -TERM "$serve_pid"
wait "$serve_pid"
serve_status=$?
check "serve stops on SIGTERM with status 0 and its workers with it" \
	'[ $serve_status -eq 0 ] && ! pgrep -f "local-1.*$work/one.cache" >/dev/null'

# 4. A worker killed mid-job: the job is requeued when its lease expires and ends on another worker.
# Leases of 4 s: heartbeats every 1.3 s, so a loaded machine's pause does not lose a live lease too.
db=$work/two.db
serve two --db "$db" --listen 127.0.0.1:0 --universe slow.json --lease-seconds 4
worker wa "$db"
wa=$worker_pid
run=$(api POST /api/v1/runs '{"kind": "manual", "targets": ["unix"], "changes": [{"package": "ipaddr", "rev": "main"}]}' |
	jq -r .run)
ipaddr_job=$(api GET "/api/v1/runs/$run" | jq -r '.jobs[] | select(.package == "ipaddr") | .id')
for _ in $(seq 1 300); do
	api GET "/api/v1/jobs/$ipaddr_job/log" | grep -q "tick 1" && break
	sleep 0.1
done
check "the slow job is running on worker wa" '[ "$(api GET "/api/v1/jobs/$ipaddr_job" | jq -r .worker)" = wa ]'
{
	kill -9 "$wa"
	wait "$wa"
} 2>/dev/null
worker wb "$db"
wait_run "$run" 120
api GET "/api/v1/jobs/$ipaddr_job" >"$work/ipaddr.json"
check "after wa was killed the job passed on wb, as its second attempt" \
	'[ "$(jq -r .status "$work/ipaddr.json")" = pass ] && [ "$(jq -r .worker "$work/ipaddr.json")" = wb ] &&
	 [ "$(jq -r .attempt "$work/ipaddr.json")" = 1 ]'
check "the lost lease is counted" \
	'curl -s -H "Authorization: Bearer $(cat "$db.api-token")" "$url/metrics" | grep -q "^ripple_lease_expiries_total 1$"'

# 5. A late result from an expired lease is refused (409) and not stored.
wtok=$(cat "$db.worker-token")
wpost() { curl -s -o "$work/body" -w '%{http_code}' -X POST -H "Authorization: Bearer $wtok" --data-binary "$2" "$url$1"; }
kill -TERM "$worker_pid"
wait "$worker_pid" 2>/dev/null
wpost /api/v1/workers/register '{"worker": "late", "targets": ["unix"]}' >/dev/null
wpost /api/v1/workers/register '{"worker": "ghost", "targets": ["unix"]}' >/dev/null
# A long-poll whose client gave up must not take the job that arrives after it left.
curl -s -o /dev/null --max-time 1 -X POST -H "Authorization: Bearer $wtok" \
	--data-binary '{"worker": "ghost", "targets": ["unix"], "wait_ms": 20000}' "$url/api/v1/lease"
run=$(api POST /api/v1/runs '{"kind": "manual", "targets": ["unix"], "changes": [{"package": "ipaddr", "rev": "main~1"}]}' |
	jq -r .run)
sleep 1
# (wb's own long-poll was still waiting when it was stopped: it must not take the job either.)
check "a job is not leased to a long-poll whose client left" \
	'[ "$(api GET "/api/v1/runs/$run" | jq -r "[.jobs[] | select(.state == \"leased\")] | length")" = 0 ]' 
t0=$(date +%s%N)
pressed=$(wpost /api/v1/lease '{"worker": "late", "targets": ["unix"], "wait_ms": 5000, "free_disk_bytes": 1000}')
waited=$((($(date +%s%N) - t0) / 1000000))
check "a worker short of disk gets no job, at once (${waited} ms), though one is ready" \
	'[ "$pressed" = 204 ] && [ "$waited" -lt 2000 ]'
lease_code=$(wpost /api/v1/lease '{"worker": "late", "targets": ["unix"], "wait_ms": 10000}')
job=$(jq -r .job.id "$work/body")
fence=$(jq -r .job.fence "$work/body")
check "a worker leases a job with a fencing token" '[ "$lease_code" = 200 ] && [ "$fence" -ge 1 ]'
for _ in $(seq 1 200); do
	[ "$(api GET "/api/v1/jobs/$job" | jq -r .state)" = queued ] && break
	sleep 0.1
done
late=$(wpost "/api/v1/jobs/$job/result" "{\"worker\": \"late\", \"fence\": $fence, \"status\": \"fail\",
	\"failed_step\": \"build\", \"category\": \"compile error\", \"first_error\": \"late\"}")
check "the late result is refused with 409" '[ "$late" = 409 ]'
check "and nothing of it was stored" \
	'[ "$(api GET "/api/v1/jobs/$job" | jq -r ".status, .first_error" | tr "\n" " ")" = "null null " ]'
hb=$(wpost "/api/v1/jobs/$job/heartbeat" "{\"worker\": \"late\", \"fence\": $fence}")
check "its heartbeat is refused with 409 too" '[ "$hb" = 409 ]'

kill -TERM "$serve_pid"
wait "$serve_pid"

# 6. Cancelling a run: its running job is stopped within seconds, the CLI's way.
db=$work/three.db
serve three --db "$db" --listen 127.0.0.1:0 --universe slow.json --lease-seconds 3 --workers 1
export RIPPLE_SERVER=$url RIPPLE_TOKEN_FILE=$db.api-token
run=$("$ripple" submit --target unix --change ipaddr=main --json | jq -r .run)
ipaddr_job=$(api GET "/api/v1/runs/$run" | jq -r '.jobs[] | select(.package == "ipaddr") | .id')
for _ in $(seq 1 300); do
	"$ripple" logs "$ipaddr_job" 2>/dev/null | grep -q "tick 1" && break
	sleep 0.1
done
"$ripple" cancel "$run" >"$work/cancel.out"
cancelled_at=$(date +%s%N)
check "ripple cancel says what it cancelled" 'grep -q "running jobs told to stop" "$work/cancel.out"'
for _ in $(seq 1 100); do
	[ "$(api GET "/api/v1/jobs/$ipaddr_job" | jq -r .status)" = cancelled ] && break
	sleep 0.1
done
stopped_in=$((($(date +%s%N) - cancelled_at) / 1000000))
check "the running job ended cancelled within 5 s (${stopped_in} ms)" \
	'[ "$(api GET "/api/v1/jobs/$ipaddr_job" | jq -r .status)" = cancelled ] && [ "$stopped_in" -lt 5000 ]'
check "the run is cancelled and ripple status says so" '"$ripple" status "$run" | head -1 | grep -q cancelled'
check "no step of it is left running" '! pgrep -f "echo tick" >/dev/null'
kill -TERM "$serve_pid"
wait "$serve_pid"

# 7. The scheduler killed with SIGKILL mid-run and restarted: the worker keeps its job and
#    reports when the scheduler is back; nothing acknowledged is lost or stored twice.
db=$work/four.db
serve four --db "$db" --listen 127.0.0.1:0 --universe slow.json --lease-seconds 15
port=${url##*:}
worker wk "$db"
run=$(api POST /api/v1/runs '{"kind": "manual", "targets": ["unix"]}' | jq -r .run)
ipaddr_job=$(api GET "/api/v1/runs/$run" | jq -r '.jobs[] | select(.package == "ipaddr") | .id')
for _ in $(seq 1 300); do
	api GET "/api/v1/jobs/$ipaddr_job/log" | grep -q "tick 2" && break
	sleep 0.1
done
{
	kill -9 "$serve_pid"
	wait "$serve_pid"
} 2>/dev/null
sleep 1 # the worker meets a dead scheduler for a while
serve four --db "$db" --listen "127.0.0.1:$port" --universe slow.json --lease-seconds 15
wait_run "$run" 180
jobs_of "$run"
check "after the restart the run completes, every job passing" \
	'[ "$(jq -r .run.state "$work/run-$run.json")" = done ] &&
	 [ "$(jq "[.jobs[] | select(.status == \"pass\")] | length" "$work/run-$run.json")" -eq 7 ]'
check "the job that ran through the restart kept its first attempt" \
	'[ "$(jq -r ".jobs[] | select(.package == \"ipaddr\") | .attempt" "$work/run-$run.json")" = 0 ]'
api GET "/api/v1/jobs/$ipaddr_job/log" >"$work/ipaddr-restart.log"
check "its log is whole: every tick once, in order" \
	'[ "$(grep -o "tick [0-9]" "$work/ipaddr-restart.log" | tr "\n" " ")" = "tick 1 tick 2 tick 3 tick 4 tick 5 tick 6 " ]'
dups=$(sqlite3 "$db" "SELECT count(*) FROM (SELECT job_id, attempt FROM results GROUP BY 1, 2 HAVING count(*) > 1)")
gaps=$(sqlite3 "$db" "SELECT count(*) FROM log_chunks a WHERE byte_offset > 0 AND NOT EXISTS
	(SELECT 1 FROM log_chunks b WHERE b.job_id = a.job_id AND b.attempt = a.attempt
	 AND b.byte_offset + length(b.data) = a.byte_offset)")
check "no result stored twice, no log chunk overlapping or missing" '[ "$dups" = 0 ] && [ "$gaps" = 0 ]'

# 8. Bad requests: each answered 4xx with a JSON error, and the server is healthy afterwards.
bad=0 total=0
probe() { # probe EXPECTED-CODE-PATTERN METHOD PATH [TOKEN] [BODY-FILE]
	local got
	total=$((total + 1))
	got=$(curl -s -o "$work/bad" -w '%{http_code}' -X "$2" ${4:+-H "Authorization: Bearer $4"} \
		${5:+--data-binary "@$5"} --path-as-is "$url$3")
	if [[ ! "$got" =~ ^$1$ ]] || { [ "$2" != HEAD ] && ! jq -e .error "$work/bad" >/dev/null 2>&1; }; then
		bad=$((bad + 1))
		echo "# $2 $3 -> $got (expected $1): $(head -c 200 "$work/bad")"
	fi
}
atok=$(cat "$db.api-token") wtok=$(cat "$db.worker-token")
printf '{"kind": "manual", "changes": [' >"$work/trunc.json"
head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' 'a' >"$work/big.json"
printf '[1, 2, 3]' >"$work/array.json"
printf '{"kind": 7}' >"$work/kindnum.json"
printf '{"kind": "pr"}' >"$work/prnoref.json"
printf '{"changes": [{"package": "nope", "rev": "main"}]}' >"$work/nopkg.json"
printf '{"changes": [{"package": "ipaddr", "rev": "no-such-branch"}]}' >"$work/norev.json"
printf '{"changes": [{"package": "ipaddr", "rev": "a b"}]}' >"$work/badrev.json"
printf '{"changes": {"package": "ipaddr"}}' >"$work/changesobj.json"
printf '{"targets": ["mars"]}' >"$work/badtarget.json"
printf '{"worker": "x y", "targets": ["unix"]}' >"$work/badworker.json"
printf '{"worker": "w", "targets": "unix"}' >"$work/targetsstr.json"
printf '{"worker": "w", "fence": "one"}' >"$work/fencestr.json"
printf '{"worker": "w", "fence": 1, "status": "great"}' >"$work/badstatus.json"
printf '\xff\xfe{}' >"$work/binary.json"
printf '{"a": 1, "a": 2}' >"$work/dupkey.json"
for body in trunc big array kindnum prnoref nopkg norev badrev changesobj badtarget binary dupkey badworker \
	targetsstr fencestr badstatus; do
	probe '4[0-9][0-9]' POST /api/v1/runs "$atok" "$work/$body.json"
	probe '40[13]' POST /api/v1/runs "$wtok" "$work/$body.json"
	probe '401' POST /api/v1/runs "" "$work/$body.json"
	probe '403' POST /api/v1/runs "not-the-token" "$work/$body.json"
done
for body in trunc big array badworker targetsstr binary dupkey kindnum nopkg changesobj fencestr badstatus; do
	probe '4[0-9][0-9]' POST /api/v1/workers/register "$wtok" "$work/$body.json"
	probe '4[0-9][0-9]' POST /api/v1/lease "$wtok" "$work/$body.json"
	probe '403' POST /api/v1/lease "$atok" "$work/$body.json"
	probe '4[0-9][0-9]' POST /api/v1/jobs/1/heartbeat "$wtok" "$work/$body.json"
	probe '4[0-9][0-9]' POST /api/v1/jobs/1/result "$wtok" "$work/$body.json"
done
for body in fencestr badstatus; do
	probe '4[0-9][0-9]' POST /api/v1/jobs/1/result "$wtok" "$work/$body.json"
	probe '4[0-9][0-9]' POST /api/v1/jobs/1/heartbeat "$wtok" "$work/$body.json"
done
for path in /api/v1/jobs/0 /api/v1/jobs/-1 /api/v1/jobs/abc /api/v1/jobs/99999999 /api/v1/runs/0 \
	/api/v1/runs/99999999 /api/v1/jobs/1/../../runs /api/v1/../../etc/passwd /api/v1//runs /api/v1/runs/ \
	/api/v1/runs/1/2/3/4/5 /api/v2/runs /etc/passwd /api/v1/jobs/1/log?offset=-5 \
	/api/v1/jobs/1/log?length=abc /api/v1/runs?limit=0 /api/v1/runs?limit=x /api/v1/jobs/123456789012345678901 \
	/api/v1/artifacts/zz/prefix /api/v1/artifacts/../../x /%2e%2e/%2e%2e/etc/passwd /api/v1/jobs/1%00 \
	/api/v1/universe; do
	probe '4[0-9][0-9]' GET "$path" "$atok"
done
for method in DELETE PATCH PUT; do
	probe '40[45]' "$method" /api/v1/runs "$atok"
	probe '40[45]' "$method" /api/v1/jobs/1 "$atok"
done
probe '4[0-9][0-9]' PUT "/api/v1/jobs/1/log?worker=w&fence=1&offset=0" "$wtok" "$work/array.json"
probe '4[0-9][0-9]' PUT "/api/v1/jobs/1/log?worker=w" "$wtok" "$work/array.json"
probe '4[0-9][0-9]' PUT "/api/v1/jobs/1/log?worker=w&fence=1&offset=0" "$wtok" "$work/big.json"
probe '4[0-9][0-9]' PUT "/api/v1/artifacts/$(printf 'a%.0s' $(seq 64))/prefix?sha256=$(printf 'b%.0s' $(seq 64))" \
	"$wtok" "$work/array.json"
probe '4[0-9][0-9]' PUT "/api/v1/artifacts/$(printf 'a%.0s' $(seq 64))/prefix" "$wtok" "$work/array.json"
probe '4[0-9][0-9]' PUT "/api/v1/artifacts/$(printf 'a%.0s' $(seq 64))/PREFIX?sha256=$(printf 'b%.0s' $(seq 64))" \
	"$wtok" "$work/array.json"
probe '4[0-9][0-9]' GET "/api/v1/artifacts/$(printf 'a%.0s' $(seq 64))/prefix" "$wtok"
probe '4[0-9][0-9]' POST "/api/v1/runs/1/cancel" "$wtok"
probe '4[0-9][0-9]' POST "/api/v1/runs/99999/cancel" "$atok"
probe '401' GET /api/v1/runs ""
probe '401' GET /metrics ""
for path in /api/v1/jobs/1/log/stream/x /api/v1/workers/register/x /api/v1/lease/1 /api/v1/universe/x \
	/api/v1/runs/1/cancel/x /api/v1/jobs/1/heartbeat/x /api/v1 /api /api/v1/ /api/v1/jobs /api/v1/artifacts \
	"/api/v1/runs?before=-1" "/api/v1/runs?limit=100000" "/api/v1/jobs/1/log?attempt=9999" \
	"/api/v1/jobs/1/log?offset=1e3" /api/v1/jobs/00 /api/v1/runs/+1 "/api/v1/jobs/1/log/stream?offset=x" \
	"/api/v1/jobs/1/log?attempt=-1" "/api/v1/jobs/1/log?length=99999999999" /api/v1/runs/1.5 /api/v1/runs/0x10 \
	"/api/v1/runs/1%2fcancel" /api/v1/JOBS/1 /API/v1/runs /api/V1/runs /metrics/x /healthz/x \
	/index.html /app.js/x "/api/v1/runs?limit=-1" "/api/v1/runs?before=abc" /api/v1/workers/x; do
	probe '4[0-9][0-9]' GET "$path" "$atok"
done
for header in "Bearer" "Bearer " "Basic $atok" "bearer $atok" "Bearer $(head -c 600 /dev/zero | tr '\0' 'x')"; do
	got=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: $header" "$url/api/v1/runs")
	total=$((total + 1))
	[[ "$got" =~ ^40[13]$ ]] || { bad=$((bad + 1)); echo "# Authorization: ${header:0:20}... -> $got"; }
done
check "$total malformed or unauthorized requests all answered 4xx with a JSON error ($bad not)" \
	'[ "$total" -ge 200 ] && [ "$bad" -eq 0 ]'
check "the server is healthy afterwards" '[ "$(curl -s "$url/healthz")" = ok ] && kill -0 "$serve_pid"'
check "and still serves the run" '[ "$(api GET "/api/v1/runs/$run" | jq -r .run.state)" = done ]'

kill -TERM "$serve_pid"
wait "$serve_pid"
# Under the sanitizer build a report goes to stderr of a process the test does not wait on.
check "no sanitizer report from any scheduler or worker process" \
	'! grep -l "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$work"/*.err'

echo "1..$n"
[ "$failures" -eq 0 ]
