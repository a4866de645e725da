#!/usr/bin/env bash
# Nightlies on a real farm: the first builds everything, an unchanged one
# builds nothing, a commit that breaks a package is reported newly broken
# against the previous nightly (and bisected: tests/farm/test_autobisect.sh),
# and its fix newly fixed; the broken package's notify webhook
# (tests/fake_forge/receiver.py) hears of it once, through a receiver failure.
#   test_nightly.sh PATH-TO-examples/generate PATH-TO-ripple PATH-TO-receiver.py
set -uo pipefail
generate=$(realpath "${1:?usage: test_nightly.sh GENERATE RIPPLE RECEIVER}")
ripple=$(realpath "${2:?usage: test_nightly.sh GENERATE RIPPLE RECEIVER}")
receiver=$(realpath "${3:?usage: test_nightly.sh GENERATE RIPPLE RECEIVER}")
work=$(mktemp -d)
serve_pid= receiver_pid=
cleanup() {
	{
		[ -n "$serve_pid" ] && kill -9 "$serve_pid"
		[ -n "$receiver_pid" ] && kill "$receiver_pid"
		pkill -9 -f "$work/cache/worker-"
		wait
	} 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

U=$work/u
"$generate" "$U" >/dev/null || fatal "the example universe could not be generated"
cd "$U"
# The vm target needs the VM backend (a later issue): no worker would ever take its jobs.
python3 "$receiver" --log "$work/hooks.log" --port-file "$work/receiver.port" --fail-first 1 --parent-pid $$ \
	2>"$work/receiver.err" &
receiver_pid=$!
for _ in $(seq 1 100); do [ -s "$work/receiver.port" ] && break; sleep 0.1; done
[ -s "$work/receiver.port" ] || fatal "the receiver did not start: $(cat "$work/receiver.err")"
hook="http://127.0.0.1:$(cat "$work/receiver.port")/ripple/ipaddr?team=net"
# checkseum's test prints a figure (RIPPLE-METRIC) kept in its repository, for the history.
jq --arg hook "$hook" '(.packages[] | select(.name == "checkseum") | .test) =
	"echo \"RIPPLE-METRIC throughput=$(cat tput 2>/dev/null || echo 100) MB/s\"" | del(.targets.vm) |
	(.packages[] | select(.targets) | .targets) |= map(select(. != "vm")) |
	(.packages[] | select(.name == "ipaddr") | .notify) = {webhook: $hook}' ripple.json >stable.json
db=$work/nightly.db
"$ripple" serve --db "$db" --listen 127.0.0.1:0 --universe stable.json --workers 2 --url-file "$work/url" \
	--cache "$work/cache" >"$work/serve.out" 2>"$work/serve.err" &
serve_pid=$!
for _ in $(seq 1 300); do [ -s "$work/url" ] && break; sleep 0.1; done
[ -s "$work/url" ] || fatal "ripple serve did not start: $(tail -3 "$work/serve.err")"
export RIPPLE_SERVER=$(cat "$work/url") RIPPLE_TOKEN_FILE=$db.api-token
cached() { "$ripple" status --json "$1" | jq '[.jobs[] | select(.cached)] | length'; }
jobs() { "$ripple" status --json "$1" | jq '.jobs | length'; }

first=$(nightly)
check "the first nightly builds every package on every target it can" \
	'[ "$(cached "$first")" -eq 0 ] && [ "$("$ripple" status --json "$first" | jq -r .run.kind)" = nightly ]'
"$ripple" report --json "$first" >"$work/r1.json"
check "with no earlier nightly its report compares with nothing" \
	'[ "$(jq -r .against "$work/r1.json")" = null ]'

sleep 1 # one nightly per second: a second call within it finds the same run
t0=$(date +%s%N)
second=$(nightly)
took=$((($(date +%s%N) - t0) / 1000000))
check "an unchanged nightly builds nothing: every job from the cache (${took} ms)" \
	'[ "$second" != "$first" ] && [ "$(cached "$second")" -eq "$(jobs "$second")" ]'
"$ripple" report "$second" >"$work/r2.md"
check "its report is against the first nightly, nothing newly broken" \
	'grep -q "Compared with nightly run $first" "$work/r2.md" && ! grep -q "newly broken" "$work/r2.md"'

# A commit on ipaddr's branch that breaks its tests.
sed -i 's/^check:/check: fail-on-purpose\nfail-on-purpose:\n\t@echo "test failed on purpose" >\&2; exit 1\n\norig-check:/' repos/ipaddr/Makefile
git -C repos/ipaddr -c user.name=t -c user.email=t@example.org commit -qam "Break the tests"
# and checkseum's throughput halves.
echo 50 >repos/checkseum/tput
git -C repos/checkseum add tput
git -C repos/checkseum -c user.name=t -c user.email=t@example.org commit -qm "Slower sums"
sleep 1
third=$(nightly)
"$ripple" report "$third" >"$work/r3.md"
status=$?
"$ripple" report --json "$third" >"$work/r3.json"
check "the broken commit is reported newly broken, its bisection planned (exit $status)" \
	'[ $status -eq 1 ] && grep -Eq "\| ipaddr \| unix \| newly broken \((to bisect|bisecting|bisected below)\) \| pass \| fail \|" "$work/r3.md"'
check "and only ipaddr's pairs are newly broken" \
	'[ "$(jq -r "[.pairs[] | select(.verdict == \"newly broken\") | .package] | unique | join(\",\")" "$work/r3.json")" = ipaddr ]'
delivered() { [ -s "$work/hooks.log" ] && jq -s '[.[] | select(.status == 204)] | length' "$work/hooks.log"; }
for _ in $(seq 1 300); do [ "$(delivered)" = 1 ] && break; sleep 0.1; done
jq -s '[.[] | select(.status == 204)] | .[0]' "$work/hooks.log" >"$work/hook.json" 2>/dev/null
check "ipaddr's webhook got the newly broken pair, after a refused first try" \
	'[ "$(delivered)" = 1 ] && [ "$(jq -s "[.[] | select(.status == 500)] | length" "$work/hooks.log")" = 1 ] &&
	 [ "$(jq -r .path "$work/hook.json")" = /ripple/ipaddr ] && [ "$(jq -r .query "$work/hook.json")" = team=net ] &&
	 [ "$(jq -r ".headers[\"x-ripple-event\"]" "$work/hook.json")" = nightly.newly_broken ] &&
	 [ "$(jq -r ".body | [.event, .package, .run, (.pairs | length), .pairs[0].target, .pairs[0].before, .pairs[0].status] | join(\",\")" "$work/hook.json")" = "nightly.newly_broken,ipaddr,$third,1,unix,pass,fail" ] &&
	 [ "$(jq -s "map(.headers[\"x-ripple-delivery\"]) | unique | length" "$work/hooks.log")" = 1 ] &&
	 jq -r .body.pairs[0].job_url "$work/hook.json" | grep -q "/#/jobs/[0-9]"'
# The notification went out after the nightly's history was recorded: its report now has the drops.
"$ripple" report "$third" >"$work/r3.md"
"$ripple" report --json "$third" >"$work/r3.json"
check "checkseum's throughput, halved, is reported as a metric drop" \
	'[ "$(jq -r ".metric_drops | map([.package, .target, .metric, .value, .baseline] | join(\",\")) | join(\";\")" "$work/r3.json")" = "checkseum,unix,throughput,50,100" ] &&
	 grep -q "| checkseum | unix | throughput | 50 MB/s | 100 MB/s | -50.0% |" "$work/r3.md"'
curl -s -H "Authorization: Bearer $(cat "$db.api-token")" "$RIPPLE_SERVER/api/v1/history/checkseum?target=unix&metric=throughput" >"$work/h.json"
# Both nightlies ran today (UTC): one point; or, when they straddled midnight, one point on each day.
check "GET /history keeps both values in today's point (min 50, max 100, n 2)" \
	'[ "$(jq -r ".series[0] | [.unit, (if (.points | length) == 2 and .points[1].start_ms - .points[0].start_ms == 86400000 then 1 else (.points | length) end),
	   (.points | map(.n) | add), (.points | map(.min) | min), (.points | map(.max) | max)] | join(\",\")" "$work/h.json")" = "MB/s,1,2,50,100" ]'
curl -s -H "Authorization: Bearer $(cat "$db.api-token")" "$RIPPLE_SERVER/api/v1/history/ipaddr?resolution=month" >"$work/h2.json"
check "and build times, test times, artifact sizes and (ipaddr asks for it) coverage per package, by month too" \
	'[ "$(jq -r "[.series[].metric] | unique | join(\",\")" "$work/h2.json")" = "artifact_size,branch_coverage,build_time,coverage,function_coverage,test_time" ] &&
	 [ "$(curl -s -o /dev/null -w "%{http_code}" -H "Authorization: Bearer $(cat "$db.api-token")" "$RIPPLE_SERVER/api/v1/history/nosuch")" = 404 ] &&
	 [ "$(curl -s -o /dev/null -w "%{http_code}" -H "Authorization: Bearer $(cat "$db.api-token")" "$RIPPLE_SERVER/api/v1/history/ipaddr?resolution=year")" = 400 ]'

git -C repos/ipaddr -c user.name=t -c user.email=t@example.org revert --no-edit HEAD >/dev/null
sleep 1
fourth=$(nightly)
"$ripple" report --json "$fourth" >"$work/r4.json"
check "reverting it is reported newly fixed" \
	'[ "$(jq -r "[.pairs[] | select(.package == \"ipaddr\" and .target == \"unix\") | .verdict] | .[0]" "$work/r4.json")" = "newly fixed" ]'
sleep 1
check "a fix sends no notification" '[ "$(wc -l <"$work/hooks.log")" -eq 2 ]'

stop_serve
echo "1..$n"
[ "$failures" -eq 0 ]
