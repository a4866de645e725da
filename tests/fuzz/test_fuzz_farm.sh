#!/usr/bin/env bash
# Fuzzing in the farm: a real `ripple serve --workers 2` on the example universe
# (unix target), every package on a branch `ci` the test moves between nightlies.
#  1. A nightly without fuzzing, dns before the planted crash: the good pins.
#  2. dns moves to its head (the planted crash and a commit after it); a
#     fuzzing nightly's fuzz job finds the crash: the farm records it open with
#     its signature and reproducer (served byte for byte), keeps the corpus
#     as an artifact, shows the fuzz target's figures, and bisects the crash
#     on its own to the planted commit (probes replay the reproducer).
#  3. The dashboard's fuzzing page shows it (tests/web/fuzz_page.js).
#  4. A fix lands; the next nightly replays the open crash, which no longer
#     crashes: it is fixed, with the range it was fixed in.
#  5. Bad input: 4xx with one line, and the server keeps serving.
#   test_fuzz_farm.sh PATH-TO-examples/generate PATH-TO-ripple
set -uo pipefail
generate=$(realpath "${1:?usage: test_fuzz_farm.sh GENERATE RIPPLE}")
ripple=$(realpath "${2:?usage: test_fuzz_farm.sh GENERATE RIPPLE}")
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
. "$here/../farm/lib.sh"

[ -d "$here/../web/node_modules/playwright-core" ] || fatal "tests/web/node_modules/playwright-core is missing: run scripts/setup"
U=$work/u
"$generate" "$U" >/dev/null || fatal "the example universe could not be generated"
cd "$U"
S=$U/scenarios.json
planted=$(jq -r .scenarios.fuzz_crash.commit "$S")
before=$(jq -r .scenarios.fuzz_crash.good "$S")
kind=$(jq -r .scenarios.fuzz_crash.crash_kind "$S")
function=$(jq -r .scenarios.fuzz_crash.crash_function "$S")
fuzzer=$(jq -r .scenarios.fuzz_crash.target "$S")
head=$(git -C repos/dns rev-parse main)
pin() { git -C "repos/$1" branch -f ci "$2"; }
for r in repos/*; do git -C "$r" branch -f ci HEAD; done
pin dns "$before"
# The vm target is tested on its own (tests/vm); here it would only add boots.
jq 'del(.targets.vm) | (.packages[] | select(.targets) | .targets) |= map(select(. != "vm")) |
	(.packages[] | .branch) = "ci"' ripple.json >ci.json
db=$work/fuzz.db
"$ripple" serve --db "$db" --listen 127.0.0.1:0 --universe ci.json --workers 2 --url-file "$work/url" \
	--cache "$work/cache" >"$work/serve.out" 2>"$work/serve.err" &
serve_pid=$!
wait_for 300 '[ -s "$work/url" ]' || fatal "ripple serve did not start: $(tail -3 "$work/serve.err")"
RIPPLE_SERVER=$(cat "$work/url")
export RIPPLE_SERVER RIPPLE_TOKEN_FILE=$db.api-token
token() { cat "$db.api-token"; }
api() { curl -s -H "Authorization: Bearer $(token)" "$RIPPLE_SERVER/api/v1/$1"; }
# The status of a request with the API's token (or the workers' with as=worker); its body in $work/body.
code() {
	local t
	t=$(if [ "${as:-}" = worker ]; then cat "$db.worker-token"; else token; fi)
	curl -s -o "$work/body" -w '%{http_code}' -H "Authorization: Bearer $t" "$@"
}
run_nightly() { # $1: fuzz true|false; prints the run once it ended
	local run
	# The CLI's flag for a fuzzing nightly, the API's parameter for the others.
	if [ "$1" = true ]; then
		run=$("$ripple" nightly now --fuzz --json | jq -r .run)
	else
		run=$(curl -s -X POST -H "Authorization: Bearer $(token)" "$RIPPLE_SERVER/api/v1/nightly?fuzz=$1" | jq -r .run)
	fi
	wait_run "$run" || return 1
	echo "$run"
}

# 1. The good pins: dns before the crash, no fuzzing.
first=$(run_nightly false) || fatal "the first nightly did not end: $(tail -3 "$work/serve.err")"
"$ripple" status --json "$first" >"$work/s1.json"
check "a nightly without fuzzing plans no fuzz job" \
	'[ "$(jq "[.jobs[] | select(.variant == \"fuzz\")] | length" "$work/s1.json")" = 0 ]'
check "... and dns builds and passes its tests there" \
	'[ "$(jq -r "[.jobs[] | select(.package == \"dns\") | .status] | unique | join(\",\")" "$work/s1.json")" = pass ]'

# 2. dns at its head: the planted crash, found by a fuzzing nightly.
pin dns "$head"
sleep 1 # one nightly per second
second=$(run_nightly true) || fatal "the second nightly did not end: $(tail -3 "$work/serve.err")"
"$ripple" status --json "$second" >"$work/s2.json"
fuzz_job=$(jq -r '[.jobs[] | select(.variant == "fuzz" and .package == "dns")][0].id // empty' "$work/s2.json")
check "the fuzzing nightly has a fuzz job for dns (job $fuzz_job), and only for packages with fuzz targets" \
	'[ -n "$fuzz_job" ] && [ "$(jq "[.jobs[] | select(.variant == \"fuzz\")] | length" "$work/s2.json")" = 1 ]'
check "the fuzz job failed on the crash it found: $(jq -r ".jobs[] | select(.id == $fuzz_job) | .first_error" "$work/s2.json")" \
	'[ "$(jq -r ".jobs[] | select(.id == $fuzz_job) | [.status, .category] | join(\",\")" "$work/s2.json")" = fail,fuzz ]'
"$ripple" report --json "$second" >"$work/r2.json"
check "the crash is not a regression of dns's build in the nightly's report" \
	'[ "$(jq "[.pairs[] | select(.verdict == \"newly broken\")] | length" "$work/r2.json")" = 0 ]'
check "the report names the new crash: $(jq -r .markdown "$work/r2.json" | grep "new crash")" \
	'[ "$(jq -r ".fuzz.new[0].package" "$work/r2.json")" = dns ] &&
	 jq -r .markdown "$work/r2.json" | grep -q "^- new crash [0-9]* of dns on unix ($fuzzer): $kind in $function"'
api fuzz >"$work/f2.json"
check "GET /fuzz lists one crash, open, of dns/$fuzzer: $(jq -r ".crashes[0].signature" "$work/f2.json")" \
	'[ "$(jq -r "[(.crashes | length), .crashes[0].status, .crashes[0].package, .crashes[0].fuzzer] | join(\",\")" "$work/f2.json")" = "1,open,dns,$fuzzer" ]'
check "its signature names the planted bug ($kind in $function)" \
	'jq -r ".crashes[0].signature" "$work/f2.json" | grep -q "^$kind in $function"'
check "it was found by the fuzz job, at dns's head" \
	'[ "$(jq -r "[.crashes[0].found_job, .crashes[0].found_run, .crashes[0].found_commit] | join(\",\")" "$work/f2.json")" = "$fuzz_job,$second,$head" ]'
sha=$(jq -r .crashes[0].reproducer.sha256 "$work/f2.json")
status=$(code "$RIPPLE_SERVER$(jq -r .crashes[0].reproducer.url "$work/f2.json")")
check "the reproducer is served ($status), $(jq -r .crashes[0].reproducer.size "$work/f2.json") bytes hashing to its name" \
	'[ "$status" = 200 ] && [ "$(sha256sum <"$work/body" | cut -d" " -f1)" = "$sha" ] &&
	 [ "$(stat -c %s "$work/body")" = "$(jq -r .crashes[0].reproducer.size "$work/f2.json")" ]'
cp "$work/body" "$work/reproducer"
check "the fuzz target's figures: executions, exec/s, corpus" \
	'jq -e ".fuzzers | length == 1 and .[0].package == \"dns\" and .[0].fuzzer == \"$fuzzer\" and .[0].executions > 0 and
	        .[0].exec_per_sec >= 0 and .[0].job == $fuzz_job" "$work/f2.json" >/dev/null'
status=$(code "$RIPPLE_SERVER/api/v1/fuzz/corpus/dns/unix")
# The fuzzer may crash before it adds an input: the archive holds at least what the job reported.
listing=$(tar --zstd -tf "$work/body" 2>&1)
corpus_files=$(grep -c "^$fuzzer/." <<<"$listing")
check "the corpus is kept on the server as an archive ($status, $(stat -c %s "$work/body") bytes, $corpus_files inputs)" \
	'[ "$status" = 200 ] && grep -qx "$fuzzer/" <<<"$listing" &&
	 [ "$corpus_files" -ge "$(jq .fuzzers[0].corpus_files "$work/f2.json")" ]'

# The farm bisects the new crash: between the first nightly and the second.
bisect=
for _ in $(seq 1 1500); do
	bisect=$(api fuzz | jq -r '.crashes[0].bisect.id // empty')
	[ -n "$bisect" ] && [ "$(api "bisects/$bisect" | jq -r .state)" = done ] && break
	sleep 0.2
done
api "bisects/$bisect" >"$work/b.json"
check "the crash's bisection ends ($(jq -r .verdict "$work/b.json"): $(jq -r .summary "$work/b.json"))" \
	'[ "$(jq -r .state "$work/b.json")" = done ]'
check "it names the planted commit of dns" \
	'[ "$(jq -r "[.verdict, .repository, .culprit.commit, .crash] | join(\",\")" "$work/b.json")" = "culprit,dns,$planted,$(jq -r .crashes[0].id "$work/f2.json")" ]'
check "the good pins did not crash, dns's change alone did" \
	'[ "$(jq -r "[.detail.base.answer, (.detail.repositories[] | .package + \"=\" + .alone)] | join(\",\")" "$work/b.json")" = "good,dns=bad" ]'
probe_jobs=$(api "runs?limit=100" | jq -r '[.runs[] | select(.kind == "bisect") | .id] | .[]' |
	while read -r r; do "$ripple" status --json "$r" | jq -c '.jobs[] | select(.package == "dns")'; done)
check "its probes replay the reproducer: dns's fuzz build, not its build and tests" \
	'[ -n "$probe_jobs" ] && ! echo "$probe_jobs" | jq -e "select(.variant != \"fuzz\")" >/dev/null'
api fuzz >"$work/f2b.json"
check "GET /fuzz shows the crash's first bad commit" \
	'[ "$(jq -r ".crashes[0].bisect.culprit" "$work/f2b.json")" = "$planted" ]'

# 3. The dashboard's fuzzing page, in Chromium.
node "$here/../web/fuzz_page.js" "$RIPPLE_SERVER" "$db.api-token" dns "$kind in $function" >"$work/page.out" 2>&1
page=$?
sed 's/^/# page: /' "$work/page.out"
check "the fuzzing page shows the target, the open crash and its reproducer (exit $page)" '[ $page -eq 0 ]'

# 4. A fix lands; the next nightly replays the crash, which no longer crashes.
git -C repos/dns -c user.name=ripple -c user.email=ripple@example.org checkout -q ci &&
	git -C repos/dns -c user.name=ripple -c user.email=ripple@example.org revert --no-edit "$planted" >/dev/null ||
	fatal "the fix could not be committed"
fix=$(git -C repos/dns rev-parse ci)
sleep 1
third=$(run_nightly false) || fatal "the third nightly did not end: $(tail -3 "$work/serve.err")"
"$ripple" status --json "$third" >"$work/s3.json"
replay=$(jq -c '[.jobs[] | select(.variant == "fuzz")]' "$work/s3.json")
check "a nightly without fuzzing still replays the open crash, once, at dns's new head" \
	'[ "$(echo "$replay" | jq -r "[length, .[0].commit, .[0].status] | join(\",\")")" = "1,$fix,pass" ]'
api fuzz >"$work/f3.json"
"$ripple" report --json "$third" >"$work/r3.json"
check "the third nightly's report says it fixed the crash" \
	'[ "$(jq -r "[.fuzz.fixed[0].commit, .fuzz.fixed[0].fixed_commit] | join(\",\")" "$work/r3.json")" = "$head,$fix" ]'
check "the crash is fixed in the third nightly, between the head it crashed at and the fix" \
	'[ "$(jq -r ".crashes[0] | [.status, .fixed_run, .last_seen_commit, .fixed_commit] | join(\",\")" "$work/f3.json")" = "fixed,$third,$head,$fix" ]'
sleep 1
fourth=$(run_nightly false) || fatal "the fourth nightly did not end"
check "a fixed crash is replayed no more" \
	'[ "$("$ripple" status --json "$fourth" | jq "[.jobs[] | select(.variant == \"fuzz\")] | length")" = 0 ]'

# 5. Bad input.
status=$(code -X POST -H 'Content-Type: application/json' -d '{"kind": "manual", "fuzz": "yes"}' "$RIPPLE_SERVER/api/v1/runs")
check "a submit with \"fuzz\": \"yes\" is 400: $(jq -r .error "$work/body")" '[ "$status" = 400 ]'
status=$(code -X POST -H 'Content-Type: application/json' -d '{"kind": "bisect", "packages": ["dns"], "fuzz_crash": 999}' "$RIPPLE_SERVER/api/v1/runs")
check "a probe of a crash that does not exist is 400: $(jq -r .error "$work/body")" '[ "$status" = 400 ]'
status=$(code -X POST -H 'Content-Type: application/json' -d "{\"kind\": \"bisect\", \"packages\": [\"cstruct\"], \"fuzz_crash\": $(jq -r .crashes[0].id "$work/f2.json")}" "$RIPPLE_SERVER/api/v1/runs")
check "a crash's probe of another package is 400: $(jq -r .error "$work/body")" '[ "$status" = 400 ]'
status=$(code -X POST "$RIPPLE_SERVER/api/v1/nightly?fuzz=maybe")
check "?fuzz=maybe is 400: $(jq -r .error "$work/body")" '[ "$status" = 400 ]'
"$ripple" status --fuzz 1 >/dev/null 2>"$work/err"; status=$?
check "--fuzz is nightly's own flag: ripple status --fuzz is bad usage ($status), in one line: $(cat "$work/err")" \
	'[ "$status" = 2 ] && [ "$(wc -l <"$work/err")" = 1 ] && grep -q "unknown option .--fuzz." "$work/err"'
status=$(as=worker code -X PUT --data-binary @"$work/reproducer" "$RIPPLE_SERVER/api/v1/fuzz/reproducers/$sha?sha256=$(printf %064d 0)")
check "a reproducer PUT with another ?sha256= than its name is 400: $(jq -r .error "$work/body")" '[ "$status" = 400 ]'
status=$(as=worker code -X PUT --data-binary @"$work/reproducer" "$RIPPLE_SERVER/api/v1/fuzz/reproducers/$(printf %064d 0)?sha256=$(printf %064d 0)")
check "a reproducer whose bytes do not hash to its name is 400: $(jq -r .error "$work/body")" '[ "$status" = 400 ]'
status=$(code -X PUT --data-binary @"$work/reproducer" "$RIPPLE_SERVER/api/v1/fuzz/reproducers/$sha?sha256=$sha")
check "only workers upload reproducers ($status)" '[ "$status" = 401 ] || [ "$status" = 403 ]'
status=$(code "$RIPPLE_SERVER/api/v1/fuzz/corpus/nosuch/unix")
check "the corpus of a package the universe lacks is 404: $(jq -r .error "$work/body")" '[ "$status" = 404 ]'
status=$(code "$RIPPLE_SERVER/api/v1/fuzz?package=nosuch")
check "GET /fuzz?package=nosuch is 404: $(jq -r .error "$work/body")" '[ "$status" = 404 ]'
status=$(code "$RIPPLE_SERVER/api/v1/fuzz/reproducers/$(printf %064d 0)")
check "a reproducer nobody uploaded is 404 ($status)" '[ "$status" = 404 ]'
check "the server still serves after all that" '[ "$(api fuzz | jq ".crashes | length")" = 1 ]'

stop_serve
echo "1..$n"
[ "$failures" -eq 0 ]
