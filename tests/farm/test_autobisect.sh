#!/usr/bin/env bash
# The farm bisects on its own: a real `ripple serve --workers 2` on the example
# universe, every package on a branch `ci` the test moves between nightlies.
#  1. Two repositories change between two nightlies (cstruct: two compatible
#     commits; ipaddr: the planted regression, an unbuildable commit among
#     them). tcpip is newly broken; the farm finds that ipaddr's change alone
#     breaks it and cstruct's does not, bisects inside ipaddr to the planted
#     commit (scenarios.json), with its failure excerpt, and the nightly's
#     report says so. Probes of known build keys come from the cache. The
#     scheduler is killed (-9) while it bisects and carries on after a restart.
#  2. tcpip's test (in the manifest) fails only when cstruct >= 2.1 and ipaddr
#     >= 1.2.1 are installed together: two repositories change, neither alone
#     breaks it, and the verdict is an interaction between them.
#   test_autobisect.sh PATH-TO-examples/generate PATH-TO-ripple
set -uo pipefail
generate=$(realpath "${1:?usage: test_autobisect.sh GENERATE RIPPLE}")
ripple=$(realpath "${2:?usage: test_autobisect.sh GENERATE RIPPLE}")
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
serve_pid=
cleanup() {
	{
		[ -n "$serve_pid" ] && kill -9 "$serve_pid"
		pkill -9 -f "$work/cache/worker-"
		wait
	} 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ -d "$here/../web/node_modules/playwright-core" ] || fatal "tests/web/node_modules/playwright-core is missing: run scripts/setup"
U=$work/u
"$generate" "$U" >/dev/null || fatal "the example universe could not be generated"
cd "$U"
S=$U/scenarios.json
culprit=$(jq -r .scenarios.regression.commit "$S")
subject=$(jq -r .scenarios.regression.subject "$S")
good=$(jq -r .scenarios.regression.good "$S")
bad=$(jq -r .scenarios.regression.bad "$S")
fixed=$(jq -r .scenarios.regression.fix "$S")
unbuildable=$(jq -r .scenarios.unbuildable.commit "$S")
cstruct_2_0=$(jq -r .scenarios.api_break.commit "$S")
cstruct_head=$(jq -r .heads.cstruct "$S")
flaky=$(jq -r .scenarios.flaky.commit "$S")
pin() { git -C "repos/$1" branch -f ci "$2"; }
for r in repos/*; do git -C "$r" branch -f ci HEAD; done
pin checkseum "$flaky~1" # before the flaky test: every answer of this test is exact
pin cstruct "$cstruct_2_0"
pin ipaddr "$good"
# No VM backend yet: the vm target is left out. tcpip's test also fails when the
# newest cstruct and ipaddr meet (part 2).
jq 'del(.targets.vm) | (.packages[] | select(.targets) | .targets) |= map(select(. != "vm")) |
	(.packages[] | .branch) = "ci" |
	(.packages[] | select(.name == "tcpip") | .test) = "make check && if pkg-config --atleast-version=2.1 cstruct && pkg-config --atleast-version=1.2.1 ipaddr; then echo \"tcpip: assertion failed: cstruct 2.1 with ipaddr 1.2.1\" >&2; exit 1; fi"' \
	ripple.json >ci.json
db=$work/bisect.db
start_serve() {
	rm -f "$work/url"
	"$ripple" serve --db "$db" --listen 127.0.0.1:0 --universe ci.json --workers 2 --url-file "$work/url" \
		--cache "$work/cache" >>"$work/serve.out" 2>>"$work/serve.err" &
	serve_pid=$!
	for _ in $(seq 1 300); do [ -s "$work/url" ] && break; sleep 0.1; done
	[ -s "$work/url" ] || fatal "ripple serve did not start: $(tail -3 "$work/serve.err")"
	RIPPLE_SERVER=$(cat "$work/url")
	export RIPPLE_SERVER RIPPLE_TOKEN_FILE=$db.api-token
}
start_serve
api() { curl -s -H "Authorization: Bearer $(cat "$db.api-token")" "$RIPPLE_SERVER/api/v1/$1"; }
# Waits for run $1's bisection of $2 on unix to end; its document in $work/b.json.
wait_bisect() {
	local id
	for _ in $(seq 1 1500); do
		id=$(api "bisects?run=$1" | jq -r "[.bisects[] | select(.package == \"$2\" and .target == \"unix\")][0].id // empty")
		if [ -n "$id" ] && api "bisects/$id" >"$work/b.json" && [ "$(jq -r .state "$work/b.json")" = done ]; then
			return 0
		fi
		sleep 0.2
	done
	return 1
}

first=$(nightly)
check "the first nightly passes everywhere" \
	'[ "$("$ripple" status --json "$first" | jq "[.jobs[] | select(.status != \"pass\")] | length")" = 0 ]'

# 1. Two repositories change; one of them breaks tcpip.
pin cstruct "$cstruct_head"
pin ipaddr "$bad"
sleep 1 # one nightly per second
second=$(nightly)
"$ripple" report --json "$second" >"$work/r2.json"
check "tcpip is newly broken by the second nightly" \
	'[ "$(jq -r "[.pairs[] | select(.verdict == \"newly broken\") | .package] | join(\",\")" "$work/r2.json")" = tcpip ]'
# Kill the scheduler while it bisects: the next one carries on from the store.
for _ in $(seq 1 300); do
	[ "$(api "runs?limit=50" | jq '[.runs[] | select(.kind == "bisect")] | length')" -ge 3 ] && break
	sleep 0.1
done
probes_before=$(api "runs?limit=100" | jq '[.runs[] | select(.kind == "bisect")] | length')
{
	kill -9 "$serve_pid"
	wait "$serve_pid"
} 2>/dev/null
pkill -9 -f "$work/cache/worker-"
serve_pid=
start_serve
check "the scheduler was killed with probes of the bisection under way ($probes_before)" '[ "$probes_before" -ge 3 ]'
wait_bisect "$second" tcpip || fatal "the bisection of tcpip did not end: $(tail -5 "$work/serve.err")"
cp "$work/b.json" "$work/b1.json"
check "the bisection names the planted commit of ipaddr" \
	'[ "$(jq -r "[.verdict, .repository, .culprit.commit] | join(\",\")" "$work/b1.json")" = "culprit,ipaddr,$culprit" ]'
check "with its subject, author and parent" \
	'[ "$(jq -r .culprit.subject "$work/b1.json")" = "$subject" ] && [ -n "$(jq -r ".culprit.author // empty" "$work/b1.json")" ] &&
	 [ "$(jq -r .culprit.parent "$work/b1.json")" = "$(git -C repos/ipaddr rev-parse "$culprit~1")" ]'
check "ipaddr's change alone breaks tcpip, cstruct's does not, the good pins pass" \
	'[ "$(jq -r "[.detail.base.answer, (.detail.repositories[] | .package + \"=\" + .alone)] | join(\",\")" "$work/b1.json")" = "good,cstruct=good,ipaddr=bad" ]'
check "the culprit failed every time and its parent never (3 runs each, flake checks)" \
	'jq -r .summary "$work/b1.json" | grep -q "failed 3 of 3 runs, its parent 0 of 3"'
check "the excerpt shows tcpip's failing assertion" \
	'jq -r .excerpt "$work/b1.json" | grep -q "assertion failed: tcpip_next_hop"'
check "only ipaddr's commits were probed, never twice from the cache, the unbuildable one at most skipped" \
	'jq -e "[.detail.repositories[] | select(.package == \"ipaddr\") | .probes[]] |
		(length > 0) and all(.answer != null) and
		all(if .commit == \"$unbuildable\" then .answer == \"skip\" else true end)" "$work/b1.json" >/dev/null'
bisect_runs=$(api "runs?limit=100" | jq "[.runs[] | select(.change_ref == \"bisect:$(jq .id "$work/b1.json")\")]")
check "probes are runs of kind bisect, one per commit (request ids survive the restart)" \
	'[ "$(echo "$bisect_runs" | jq length)" -ge 3 ] &&
	 [ "$(echo "$bisect_runs" | jq "[.[].title] | unique | length")" = "$(echo "$bisect_runs" | jq length)" ]'
base_run=$(jq .detail.base.run "$work/b1.json")
alone_run=$(jq -r '.detail.repositories[] | select(.package == "ipaddr") | .alone_run' "$work/b1.json")
check "a probe runs only what tcpip needs, and what was built before costs nothing: the good pins all from the cache, ipaddr's new commit alone builds only tcpip" \
	'[ "$("$ripple" status --json "$base_run" | jq -r "[.jobs[].package] | sort | join(\",\")")" = "checkseum,cstruct,ethif,ipaddr,tcpip" ] &&
	 [ "$("$ripple" status --json "$base_run" | jq "[.jobs[] | select(.cached | not)] | length")" = 0 ] &&
	 [ "$("$ripple" status --json "$alone_run" | jq -r "[.jobs[] | select(.cached | not) | .package] | join(\",\")")" = tcpip ]'
"$ripple" report "$second" >"$work/r2.md"
"$ripple" report --json "$second" >"$work/r2.json"
check "the nightly's report carries the culprit where it said 'to bisect'" \
	'grep -q "| tcpip | unix | newly broken, behaviour change (bisected below) |" "$work/r2.md" &&
	 grep -q "^- \*\*tcpip on unix\*\*: first bad commit: ipaddr ${culprit:0:12} \"$subject\"" "$work/r2.md" &&
	 grep -q "assertion failed: tcpip_next_hop" "$work/r2.md" &&
	 [ "$(jq -r ".pairs[] | select(.package == \"tcpip\") | .bisect.culprit.commit" "$work/r2.json")" = "$culprit" ]'
node "$here/../web/bisect_page.js" "$RIPPLE_SERVER" "$(jq .id "$work/b1.json")" "$db.api-token" >"$work/page.json" 2>"$work/page.err"
check "the dashboard's bisect page (headless Chromium) shows the culprit, its excerpt, both suspects, and the run page links to it" \
	'jq -e --arg c "${culprit:0:12}" --arg s "$subject" "(.state == \"done\") and (.culprit | contains(\$c) and contains(\$s)) and
		(.excerpt | contains(\"assertion failed: tcpip_next_hop\")) and (.suspects | length == 2) and (.probes > 0) and
		.run_page_lists and (.errors | length == 0)" "$work/page.json" >/dev/null || { cat "$work/page.err" >&2; false; }'

# 2. Back to good, then two changes that only break tcpip together.
pin cstruct "$cstruct_2_0"
pin ipaddr "$good"
sleep 1 # one nightly per second
third=$(nightly)
check "back at the good pins tcpip is newly fixed" \
	'[ "$("$ripple" report --json "$third" | jq -r ".pairs[] | select(.package == \"tcpip\") | .verdict")" = "newly fixed" ]'
pin cstruct "$cstruct_head"
pin ipaddr "$fixed"
sleep 1 # one nightly per second
fourth=$(nightly)
check "cstruct 2.1 and ipaddr 1.2.1 together break tcpip" \
	'[ "$("$ripple" report --json "$fourth" | jq -r ".pairs[] | select(.package == \"tcpip\") | .verdict")" = "newly broken" ]'
wait_bisect "$fourth" tcpip || fatal "the second bisection did not end: $(tail -5 "$work/serve.err")"
check "neither change alone breaks it: an interaction between cstruct and ipaddr" \
	'[ "$(jq -r .verdict "$work/b.json")" = interaction ] &&
	 [ "$(jq -r .summary "$work/b.json")" = "interaction between cstruct and ipaddr: each change alone passes, together they fail" ] &&
	 [ "$(jq -r .culprit "$work/b.json")" = null ]'
check "GET /bisects/N of an unknown bisection is 404, a bad run filter 400" \
	'[ "$(curl -s -o /dev/null -w "%{http_code}" -H "Authorization: Bearer $(cat "$db.api-token")" "$RIPPLE_SERVER/api/v1/bisects/9999")" = 404 ] &&
	 [ "$(curl -s -o /dev/null -w "%{http_code}" -H "Authorization: Bearer $(cat "$db.api-token")" "$RIPPLE_SERVER/api/v1/bisects?run=x")" = 400 ]'

stop_serve
echo "1..$n"
[ "$failures" -eq 0 ]
