#!/usr/bin/env bash
# Coverage on a real farm: `ripple serve --workers 2` on the example universe,
# whose cstruct, dns and ipaddr ask for coverage. A nightly gives each a
# coverage job beside its build; the figures the API serves must be gcovr's on
# a --coverage build of the same commit made here by hand (cstruct, ipaddr),
# and `ripple coverage ingest`'s on it (dns, whose one known difference from
# gcovr is pinned in tests/coverage/test_coverage.sh). Then: the file view's
# source is the file at that commit; the exports parse (lcov, xmllint); an
# unchanged nightly merges nothing twice; a commit makes a second point of the
# trend and of the history; a pull request's report names its patch coverage
# (checked against gcovr's line counts and git's diff) and the change in
# project coverage; a package whose build ignores CFLAGS fails at step
# "coverage" with one line; bad requests get 4xx; a kill -9 loses no report.
#   test_coverage_farm.sh PATH-TO-examples/generate PATH-TO-ripple
set -uo pipefail
generate=$(realpath "${1:?usage: test_coverage_farm.sh GENERATE RIPPLE}")
ripple=$(realpath "${2:?usage: test_coverage_farm.sh GENERATE RIPPLE}")
here=$(cd "$(dirname "$0")" && pwd)
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
. "$here/lib.sh"
command -v gcovr >/dev/null || fatal "gcovr is missing: run scripts/setup"

U=$work/u
"$generate" "$U" >/dev/null || fatal "the example universe could not be generated"
cd "$U"
# The vm target has no worker here. checkseum asks for coverage too, but its build
# drops the flags ripple adds (and its flaky test is pinned to pass: test_farm.sh's).
jq 'del(.targets.vm) | (.packages[] | select(.targets) | .targets) |= map(select(. != "vm")) |
	(.packages[] | select(.name == "checkseum")) |= (.coverage = true |
		.build = "unset CFLAGS LDFLAGS; " + .build | .test = "true")' \
	ripple.json >cov.json
db=$work/cov.db
start_serve() {
	"$ripple" serve --db "$db" --listen 127.0.0.1:0 --universe cov.json --workers 2 --url-file "$work/url" \
		--cache "$work/cache" >>"$work/serve.out" 2>>"$work/serve.err" &
	serve_pid=$!
	for _ in $(seq 1 300); do [ -s "$work/url" ] && break; sleep 0.1; done
	[ -s "$work/url" ] || fatal "ripple serve did not start: $(tail -3 "$work/serve.err")"
	export RIPPLE_SERVER=$(cat "$work/url") RIPPLE_TOKEN_FILE=$db.api-token
}
start_serve
api() { curl -s -H "Authorization: Bearer $(cat "$db.api-token")" "$RIPPLE_SERVER/api/v1/$1"; }
code() { curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(cat "$db.api-token")" "$RIPPLE_SERVER/api/v1/$1"; }
# Merging follows the results within a second or so.
merged() { [ "$(sqlite3 "$db" "SELECT count(*) FROM coverage_reports WHERE merged = 0")" = 0 ]; }

first=$(nightly)
"$ripple" status --json "$first" >"$work/n1.json"
check "the first nightly has a coverage job on unix for each package that asks, beside its build" \
	'[ "$(jq -c "[.jobs[] | select(.variant == \"coverage\") | [.package, .target]] | sort" "$work/n1.json")" = "[[\"checkseum\",\"unix\"],[\"cstruct\",\"unix\"],[\"dns\",\"unix\"],[\"ipaddr\",\"unix\"]]" ] &&
	 [ "$(jq "[.jobs[] | select(.variant == \"build\")] | length" "$work/n1.json")" = 7 ]'
check "they pass, with their own build keys" \
	'[ "$(jq -r "[.jobs[] | select(.variant == \"coverage\" and .package != \"checkseum\") | .status] | unique | join(\",\")" "$work/n1.json")" = pass ] &&
	 [ "$(jq "[.jobs[] | select(.package == \"ipaddr\") | .build_key] | unique | length" "$work/n1.json")" = 2 ]'
check "a build that ignores CFLAGS fails its coverage job (at its test step, category coverage) with one line that says why" \
	'jq -e ".jobs[] | select(.variant == \"coverage\" and .package == \"checkseum\") | .status == \"fail\" and .failed_step == \"test\" and .category == \"coverage\" and (.first_error | test(\"no coverage data: the build compiled nothing with --coverage\"))" "$work/n1.json" >/dev/null'
check "and its plain build passes all the same" \
	'jq -e ".jobs[] | select(.variant == \"build\" and .package == \"checkseum\") | .status == \"pass\"" "$work/n1.json" >/dev/null'
wait_for 100 merged
api coverage >"$work/all.json"
check "GET /coverage lists the three packages with figures, at their nightly commits" \
	'[ "$(jq -c "[.packages[] | .package]" "$work/all.json")" = "[\"cstruct\",\"dns\",\"ipaddr\"]" ] &&
	 [ "$(jq -r ".packages[] | select(.package == \"ipaddr\") | .commit" "$work/all.json")" = "$(git -C repos/ipaddr rev-parse HEAD)" ] &&
	 [ "$(jq ".packages[] | select(.package == \"ipaddr\") | .totals.lines.total > 0" "$work/all.json")" = true ]'

# The same commits built here with --coverage, dependencies first, and read by gcovr and ripple.
L=$work/local
prefix_paths=
for pkg in cstruct ipaddr dns; do
	git clone -q "repos/$pkg" "$L/$pkg"
	build=$(jq -r --arg p "$pkg" '.packages[] | select(.name == $p) | .build' cov.json)
	test=$(jq -r --arg p "$pkg" '.packages[] | select(.name == $p) | .test' cov.json)
	(cd "$L/$pkg" && export CFLAGS=--coverage LDFLAGS=--coverage RIPPLE_PREFIX=$L/prefix/$pkg \
		PKG_CONFIG_PATH=$prefix_paths LD_LIBRARY_PATH=$L/prefix/cstruct/lib && sh -c "$build" && sh -c "$test") \
		>"$work/local-$pkg.log" 2>&1 || fatal "the local coverage build of $pkg failed: $(tail -3 "$work/local-$pkg.log")"
	prefix_paths=$prefix_paths${prefix_paths:+:}$L/prefix/$pkg/lib/pkgconfig
done
totals() { jq -c '.totals | [.lines.covered, .lines.total, .branches.covered, .branches.total, .functions.covered, .functions.total]' "$@"; }
files() { jq -c '[.files[] | [.path, .totals.lines.covered, .totals.lines.total, .totals.branches.covered, .totals.branches.total, .totals.functions.covered, .totals.functions.total]] | sort' "$@"; }
gcovr_totals() { gcovr -r "$1" --json-summary -b 2>/dev/null | jq -c '[.line_covered, .line_total, .branch_covered, .branch_total, .function_covered, .function_total]'; }
gcovr_files() { gcovr -r "$1" --json-summary -b 2>/dev/null | jq -c '[.files[] | [.filename, .line_covered, .line_total, .branch_covered, .branch_total, .function_covered, .function_total]] | sort'; }
for pkg in cstruct ipaddr; do
	api "coverage/$pkg/latest" >"$work/$pkg.json"
	check "$pkg: the farm's totals are gcovr's on the same commit built by hand ($(totals "$work/$pkg.json"))" \
		'[ -n "$(totals "$work/$pkg.json")" ] && [ "$(totals "$work/$pkg.json")" = "$(gcovr_totals "$L/$pkg")" ]'
	check "$pkg: and so is every file's, paths relative to the repository" \
		'[ "$(files "$work/$pkg.json")" = "$(gcovr_files "$L/$pkg")" ]'
done
api coverage/dns/latest >"$work/dns.json"
"$ripple" coverage ingest "$L/dns" --format json -o "$work/dns-local.json" 2>"$work/dns-local.err"
check "dns: the farm's figures are ripple coverage ingest's on the same commit built by hand, per file too" \
	'[ -n "$(totals "$work/dns.json")" ] && [ "$(totals "$work/dns.json")" = "$(totals "$work/dns-local.json")" ] &&
	 [ "$(files "$work/dns.json")" = "$(files "$work/dns-local.json")" ]'

api "coverage/ipaddr/latest/file?path=src/ipaddr.c" >"$work/file.json"
check "the file view serves the file as it is at that commit, and its per-line hits" \
	'[ "$(jq -r .source "$work/file.json")" = "$(git -C repos/ipaddr show HEAD:src/ipaddr.c)" ] &&
	 [ "$(jq ".lines | length" "$work/file.json")" = "$(jq ".files[] | select(.path == \"src/ipaddr.c\") | .totals.lines.total" "$work/ipaddr.json")" ] &&
	 [ "$(jq "[.lines[] | select(.[1] > 0)] | length" "$work/file.json")" = "$(jq ".files[] | select(.path == \"src/ipaddr.c\") | .totals.lines.covered" "$work/ipaddr.json")" ]'
api "coverage/cstruct/latest?format=lcov" >"$work/cstruct.info"
api "coverage/cstruct/latest?format=cobertura" >"$work/cstruct.xml"
check "the lcov export reads with lcov --summary and gives the same line figures" \
	'lcov --summary "$work/cstruct.info" 2>&1 | grep -q "lines\.*: .*($(jq .totals.lines.covered "$work/cstruct.json") of $(jq .totals.lines.total "$work/cstruct.json") lines)"'
check "the Cobertura export is well-formed XML with every file" \
	'xmllint --noout "$work/cstruct.xml" && [ "$(grep -c "<class " "$work/cstruct.xml")" = "$(jq ".files | length" "$work/cstruct.json")" ]'
check "bad requests: 404 for an unknown package, file or commit; 400 for a malformed commit, a missing path or format" \
	'[ "$(code coverage/nosuch)" = 404 ] && [ "$(code "coverage/ipaddr/latest/file?path=nosuch.c")" = 404 ] &&
	 [ "$(code coverage/ipaddr/0123456789012345678901234567890123456789)" = 404 ] && [ "$(code coverage/ipaddr/xyz)" = 400 ] &&
	 [ "$(code coverage/ipaddr/latest/file)" = 400 ] && [ "$(code "coverage/ipaddr/latest?format=docx")" = 400 ] &&
	 [ "$(code coverage/ipaddr/latest)" = 200 ]'

sleep 1 # one nightly per second
second=$(nightly)
wait_for 100 merged
check "an unchanged nightly answers every coverage job from the cache and merges nothing again" \
	'[ "$("$ripple" status --json "$second" | jq "[.jobs[] | select(.variant == \"coverage\" and (.cached | not))] | length")" = 0 ] &&
	 [ "$(api coverage | jq -c "[.packages[].reports] | unique")" = "[1]" ]'

# A commit on ipaddr's branch: a function its tests call with one argument of two.
cat >>repos/ipaddr/src/ipaddr.c <<'C'

int ipaddr_scale(int x)
{
    if (x > 3)
        return x * 2;
    return x - 1;
}
C
sed -i 's/^int main(void)$/int ipaddr_scale(int x);\n\nint main(void)/; s/^    test_parse();$/    test_parse();\n    CHECK(ipaddr_scale(5) == 10);/' repos/ipaddr/tests/test_ipaddr.c
branch=$(jq -r '.packages[] | select(.name == "ipaddr") | .branch' cov.json)
base=$(git -C repos/ipaddr rev-parse "$branch")
git -C repos/ipaddr checkout -qb scale
git -C repos/ipaddr -c user.name=t -c user.email=t@example.org commit -qam "Scale, half tested"
head=$(git -C repos/ipaddr rev-parse HEAD)
pr=$("$ripple" submit --kind pr --change-ref "github:mirage/ipaddr#7" --change "ipaddr=$head" --json | jq -r .run)
wait_run "$pr"
"$ripple" report --json "$pr" >"$work/pr.json"
"$ripple" report "$pr" >"$work/pr.md"
# What the patch coverage must be: the lines the diff adds that gcovr counts on the head built by hand.
git clone -q -b scale repos/ipaddr "$L/ipaddr-pr"
(cd "$L/ipaddr-pr" && export CFLAGS=--coverage LDFLAGS=--coverage RIPPLE_PREFIX=$L/prefix/ipaddr-pr && make && make check) \
	>"$work/local-pr.log" 2>&1 || fatal "the local coverage build of the PR failed: $(tail -3 "$work/local-pr.log")"
gcovr -r "$L/ipaddr-pr" --json -b 2>/dev/null >"$work/pr-gcovr.json"
expected=$(git -C repos/ipaddr diff -U0 "$base" "$head" | python3 -c '
import json, re, sys
added, path = {}, None
for line in sys.stdin:
    if line.startswith("+++ "):
        path = line[6:].strip()
    m = re.match(r"@@ -\S+ \+(\d+)(?:,(\d+))? @@", line)
    if m and path:
        start, n = int(m.group(1)), int(m.group(2) or 1)
        added.setdefault(path, set()).update(range(start, start + n))
cov = tot = 0
uncovered = []
for f in json.load(open(sys.argv[1]))["files"]:
    for l in f["lines"]:
        if not l["gcovr/noncode"] and l["line_number"] in added.get(f["file"], ()):
            tot += 1
            cov += l["count"] > 0
            if l["count"] == 0:
                uncovered.append("%s:%d" % (f["file"], l["line_number"]))
print(cov, tot, " ".join(uncovered))' "$work/pr-gcovr.json")
read -r exp_cov exp_tot exp_unc <<<"$expected"
seen=$(jq -r '.coverage[] | select(.package == "ipaddr") | "\(.patch.covered) \(.patch.total) \([.patch_files[] | .path as $p | .lines[] | "\($p):\(.)"] | join(" "))"' "$work/pr.json")
check "the PR's patch coverage is the share of its added lines that ran, as gcovr counts them ($seen; expected $expected)" \
	'[ -n "$exp_tot" ] && [ "$exp_tot" -gt 0 ] && [ "$exp_cov" -lt "$exp_tot" ] && [ "$seen" = "$exp_cov $exp_tot $exp_unc" ]'
check "the change in project coverage is against the nightly's figures" \
	'jq -e ".coverage[] | select(.package == \"ipaddr\") | .base.commit == \"$base\" and (.change.lines - (.totals.lines.percent - .base.totals.lines.percent) | fabs) < 1e-9 and .change.lines < 0" "$work/pr.json" >/dev/null'
check "the report's Markdown (the PR comment) has the Coverage section with the lines no test ran" \
	'grep -q "^### Coverage" "$work/pr.md" && grep "^| ipaddr |" "$work/pr.md" | tail -1 | grep -q "of $exp_tot changed lines; not run: src/ipaddr.c:$(echo "$exp_unc" | sed "s/src\/ipaddr.c://g; s/ /, /g")"'
check "coverage jobs are not regression pairs: the report pairs only builds" \
	'[ "$(jq "[.pairs[] | select(.package == \"ipaddr\")] | length" "$work/pr.json")" = 1 ]'

# Onto the branch: the next nightly covers the new commit — a second point of the trend and the history.
git -C repos/ipaddr checkout -q "$branch"
git -C repos/ipaddr merge -q --ff-only scale
sleep 1
third=$(nightly)
wait_for 100 merged
api coverage/ipaddr >"$work/trend.json"
check "ipaddr's trend has both commits, oldest first, and the new one's line coverage is lower" \
	'[ "$(jq -r "[.commits[].commit] | join(\" \")" "$work/trend.json")" = "$base $head" ] &&
	 jq -e ".commits[0].totals.lines.percent > .commits[1].totals.lines.percent" "$work/trend.json" >/dev/null'
check "the nightly's figures are in ipaddr's history: coverage, branch_coverage, function_coverage" \
	'[ "$(api history/ipaddr | jq -c "[.series[] | select(.metric | test(\"coverage\")) | .metric] | sort")" = "[\"branch_coverage\",\"coverage\",\"function_coverage\"]" ]'

# kill -9 while reports may wait to be merged: after a restart every one is merged, once.
echo "/* touch */" >>repos/cstruct/src/cstruct.c 2>/dev/null || echo "/* touch */" >>"$(ls repos/cstruct/src/*.c | head -1)"
git -C repos/cstruct -c user.name=t -c user.email=t@example.org commit -qam "Touch"
sleep 1
run=$("$ripple" nightly now --json | jq -r .run)
wait_for 1800 '[ "$(sqlite3 "$db" "SELECT count(*) FROM coverage_reports WHERE run_id = $run")" -ge 1 ]'
kill -9 "$serve_pid"
wait "$serve_pid" 2>/dev/null
pkill -9 -f "$work/cache/worker-"
rm -f "$work/url"
start_serve
wait_run "$run"
wait_for 100 merged
check "after a kill -9, every coverage report is merged exactly once" \
	'merged && [ "$(sqlite3 "$db" "SELECT sum(reports) FROM coverage_commits")" = "$(sqlite3 "$db" "SELECT count(*) FROM coverage_reports WHERE problem IS NULL")" ]'

if [ -f "$here/../web/coverage_page.js" ]; then
	node "$here/../web/coverage_page.js" "$RIPPLE_SERVER" "$db.api-token" ipaddr >"$work/page.out" 2>"$work/page.err"
	status=$?
	sed 's/^/# page: /' "$work/page.out"
	check "the dashboard's coverage pages, in headless Chromium (exit $status)" '[ $status -eq 0 ]'
fi
stop_serve
echo "1..$n"
[ "$failures" -eq 0 ]
