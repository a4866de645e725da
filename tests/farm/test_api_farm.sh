#!/usr/bin/env bash
# API changes on a real farm: `ripple serve --workers 2` on the example
# universe, whose cstruct and ipaddr have an api block. Builds dump their
# library's ABI (abidw) as an artifact; a run's report diffs the changed
# library's dumps against the compared nightly's and links each breaking
# change to the reverse dependencies whose failure names it. Checked with
# the universe's planted scenarios: the API break of cstruct is found,
# breaking, and linked to exactly dns and ethif with their error lines; the
# compatible addition gives a minor-bump verdict and breaks nothing; the
# behaviour regression of ipaddr is labelled a behaviour change; a damaged
# dump on the server gives one clear line instead of a diff. The dashboard's
# API section is checked in Chromium (tests/web/api_page.js).
#   test_api_farm.sh PATH-TO-examples/generate PATH-TO-ripple
set -uo pipefail
generate=$(realpath "${1:?usage: test_api_farm.sh GENERATE RIPPLE}")
ripple=$(realpath "${2:?usage: test_api_farm.sh GENERATE RIPPLE}")
work=$(mktemp -d)
serve_pid=
cleanup() {
	{
		[ -n "$serve_pid" ] && kill -9 "$serve_pid"
		pkill -9 -f "$work/cache/worker-"
		wait
	} 2>/dev/null
	[ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
command -v abidw >/dev/null && command -v abidiff >/dev/null || fatal "abidw or abidiff is missing: run scripts/setup"

U=$work/u
"$generate" "$U" >/dev/null || fatal "the example universe could not be generated"
cd "$U"
# No vm worker here; checkseum's flaky test is pinned; coverage jobs are another test's.
# Bisections of the regressions would only add load: the farm runs without them.
jq 'del(.targets.vm) | (.packages[] | select(.targets) | .targets) |= map(select(. != "vm")) |
	(.packages[] | select(.name == "checkseum") | .test) = "true" | del(.packages[].coverage)' ripple.json >api.json
printf '{"bisect": {"auto": false}}\n' >config.json
db=$work/api.db
start_serve() {
	rm -f "$work/url"
	"$ripple" serve --db "$db" --listen 127.0.0.1:0 --universe api.json --config config.json --workers 2 \
		--url-file "$work/url" --cache "$work/cache" >>"$work/serve.out" 2>>"$work/serve.err" &
	serve_pid=$!
	for _ in $(seq 1 300); do [ -s "$work/url" ] && break; sleep 0.1; done
	[ -s "$work/url" ] || fatal "ripple serve did not start: $(tail -3 "$work/serve.err")"
	export RIPPLE_SERVER=$(cat "$work/url") RIPPLE_TOKEN_FILE=$db.api-token
}
start_serve
scenario() { jq -r ".scenarios.$1" scenarios.json; }
# run_of KIND ARGS...: submits a run and waits for it; prints its id.
run_of() {
	local run
	run=$("$ripple" submit --json "$@" | jq -r .run)
	wait_run "$run"
	echo "$run"
}
lib() { jq -c --arg p "$2" '.api.libraries[] | select(.package == $p)' "$1"; }

# 1. The planted break: cstruct's cs_get_be16 changes; dns and ethif, not yet adapted, stop building.
good=$(scenario api_break.good) brk=$(scenario api_break.commit) sym=$(scenario api_break.symbol)
dnsb=$(scenario api_break.adapted.dns.before) ethb=$(scenario api_break.adapted.ethif.before)
base=$(run_of --kind nightly --pin "cstruct=$good" --pin "dns=$dnsb" --pin "ethif=$ethb")
pr=$(run_of --kind pr --change-ref "github:mirage/cstruct#1" --change "cstruct=$brk" --pin "dns=$dnsb" --pin "ethif=$ethb")
"$ripple" report --json "$pr" >"$work/break.json"
"$ripple" report "$pr" >"$work/break.md"
cs=$(lib "$work/break.json" cstruct)
check "the break of $sym is found and marked breaking, for source and binary compatibility" \
	'jq -e --arg s "$sym" "[.changes[] | select(.name == \$s)] | length == 1 and .[0].kind == \"function changed\" and .[0].api_breaking and .[0].abi_breaking" <<<"$cs" >/dev/null'
check "the SONAME change is found too, and the version bump ($(jq -r .semver.why <<<"$cs")) is judged enough" \
	'jq -e "[.changes[] | select(.kind == \"SONAME changed\")] | length == 1" <<<"$cs" >/dev/null &&
	 jq -e ".semver.needed == \"major\" and .semver.made == \"major\" and .semver.enough" <<<"$cs" >/dev/null'
check "the break is linked to exactly its two broken reverse dependencies, $(scenario 'api_break.breaks | join(" and ")')" \
	'[ "$(jq -c --arg s "$sym" "[.changes[] | select(.name == \$s) | .broke[].package] | sort" <<<"$cs")" = "$(scenario "api_break.breaks | sort" | jq -c .)" ]'
check "each with its error line, the line the job's failure shows" \
	'for p in dns ethif; do
		line=$(jq -r --arg s "$sym" --arg p "$p" ".changes[] | select(.name == \$s) | .broke[] | select(.package == \$p) | .line" <<<"$cs")
		first=$(jq -r --arg p "$p" ".pairs[] | select(.package == \$p) | .first_error" "$work/break.json")
		[ -n "$line" ] && [ "$line" = "$first" ] && grep -q "$sym" <<<"$line" || exit 1
	 done'
check "the pairs say an API change caused them, and no behaviour change is claimed" \
	'[ "$(jq -c "[.pairs[] | select(.cause) | [.package, .cause]] | sort" "$work/break.json")" = "[[\"dns\",\"api change\"],[\"ethif\",\"api change\"]]" ] &&
	 [ "$(jq ".api.behaviour_changes | length" "$work/break.json")" = 0 ]'
check "the Markdown (the PR comment) says which change broke what, with the error" \
	'grep -q "^### API changes" "$work/break.md" && grep -q "changing $sym() broke \*\*dns\*\* (\`src/dns.c:[0-9]*:[0-9]*: error: .*$sym" "$work/break.md" &&
	 grep -q "changing $sym() broke \*\*ethif\*\*" "$work/break.md"'

# 2. The compatible addition: a minor bump is enough and nothing downstream breaks.
good=$(scenario api_addition.good) add=$(scenario api_addition.commit)
base=$(run_of --kind nightly --pin "cstruct=$good")
pr=$(run_of --kind pr --change-ref "github:mirage/cstruct#2" --change "cstruct=$add")
"$ripple" report --json "$pr" >"$work/add.json"
cs=$(lib "$work/add.json" cstruct)
check "the addition is two compatible changes naming the added functions, and a minor bump is enough ($(jq -r .semver.why <<<"$cs"))" \
	'[ "$(jq -c "[.changes[] | select(.api_breaking or .abi_breaking | not) | .name] | sort" <<<"$cs")" = "$(scenario "api_addition.added | sort" | jq -c .)" ] &&
	 [ "$(jq "[.changes[] | select(.api_breaking or .abi_breaking)] | length" <<<"$cs")" = 0 ] &&
	 jq -e ".semver.needed == \"minor\" and .semver.made == \"minor\" and .semver.enough" <<<"$cs" >/dev/null &&
	 [ "$(jq "[.pairs[] | select(.verdict == \"regressed\")] | length" "$work/add.json")" = 0 ]'

# 3. The behaviour regression: ipaddr's prefix mask, caught by tcpip's tests, changes no API.
good=$(scenario regression.good) bad=$(scenario regression.commit)
base=$(run_of --kind nightly --pin "ipaddr=$good")
pr=$(run_of --kind pr --change-ref "github:mirage/ipaddr#3" --change "ipaddr=$bad")
"$ripple" report --json "$pr" >"$work/behaviour.json"
"$ripple" report "$pr" >"$work/behaviour.md"
check "the regression tcpip shows is labelled a behaviour change, not blamed on the API" \
	'[ "$(jq -r ".pairs[] | select(.package == \"tcpip\") | [.verdict, .cause] | join(\",\")" "$work/behaviour.json")" = "regressed,behaviour change" ] &&
	 [ "$(jq -r "[.api.behaviour_changes[].package] | join(\",\")" "$work/behaviour.json")" = tcpip ] &&
	 [ "$(jq "[.api.libraries[].changes[]?.broke // [] | length] | add // 0" "$work/behaviour.json")" = 0 ] &&
	 grep -q "behaviour change" "$work/behaviour.md"'

# The dashboard's API section, in headless Chromium, for the break and the behaviour change.
for which in break behaviour; do
	node "$here/../web/api_page.js" "$RIPPLE_SERVER" "$db.api-token" "$(jq -r .run "$work/$which.json")" \
		>"$work/page-$which.out" 2>"$work/page-$which.err"
	status=$?
	grep -v "^ok - " "$work/page-$which.out" | sed 's/^/# page: /'
	check "the dashboard shows the $which run's API section as the report has it (exit $status)" '[ $status -eq 0 ]'
done

# 4. A damaged dump on the server: one clear line in the report instead of a diff. The
# server keeps the diffs of the last builds it compared: the dump is damaged while it is down.
key=$(jq -r .api.libraries[0].new.build_key "$work/break.json")
blob=$(find "$work/cache" -path "*/$key.abi" | head -1)
check "the server keeps each build's dump as its artifact \"abi\"" '[ -n "$blob" ] && [ -s "$blob" ]'
stop_serve
truncate -s 100 "$blob"
start_serve
"$ripple" report --json "$(jq -r .run "$work/break.json")" >"$work/damaged.json"
"$ripple" report "$(jq -r .run "$work/break.json")" >"$work/damaged.md"
problem=$(jq -r '.api.libraries[0].problem // empty' "$work/damaged.json")
check "a damaged dump gives one line that names it ($problem)" \
	'[ -n "$problem" ] && grep -q "ABI dump" <<<"$problem" && [ "$(wc -l <<<"$problem")" = 1 ] &&
	 grep -q "not compared: the ABI dump of build" "$work/damaged.md"'
stop_serve
echo "1..$n"
[ "$failures" -eq 0 ]
