#!/usr/bin/env bash
# Reports to a forge: a real `ripple serve --workers 2` with a GitHub token in
# its config, a signed pull-request webhook, and the fake forge
# (tests/fake_forge/fake_forge.py) serving GitHub's status and comment
# endpoints on loopback. The status goes pending -> failure with the summary;
# the comment is made once and edited by the next run; a forge answering 500
# for a while gets the report once it is back; the token is never printed. A
# failing test is run 3 times on the head and on the base before it is called
# a regression ("3/3 new failures vs 0/3 before"), and one that fails once in
# three is "flaky (1/3)", counted in GET /flakiness.
#   test_forge_report.sh PATH-TO-examples/generate PATH-TO-ripple FIXTURES-DIR FAKE-FORGE
set -uo pipefail
generate=$(realpath "${1:?usage: test_forge_report.sh GENERATE RIPPLE FIXTURES FAKE-FORGE}")
ripple=$(realpath "${2:?}")
fixtures=$(realpath "${3:?}")
fake_forge=$(realpath "${4:?}")
work=$(mktemp -d)
serve_pid= forge_pid=
cleanup() {
	{
		[ -n "$serve_pid" ] && kill -9 "$serve_pid"
		[ -n "$forge_pid" ] && kill "$forge_pid"
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
# Jobs run as plain processes here, so checkseum's test can count its runs in $work: with
# a file FLAKY in its tree (a pull request adds it) its first run fails, the others pass.
flaky_test="if [ -f FLAKY ]; then flock $work/flaky.lock sh -c 'n=\$(cat $work/flaky.count 2>/dev/null || echo 0); echo \$((n + 1)) >$work/flaky.count; [ \$n -ne 0 ]' || { echo 'not ok 1 - random sums'; exit 1; }; fi"
jq --arg t "$flaky_test" '(.packages[] | select(.name == "checkseum") | .test) = $t | del(.targets.vm) |
	.targets.unix.runner = "process" |
	(.packages[] | select(.targets) | .targets) |= map(select(. != "vm"))' ripple.json >stable.json

python3 "$fake_forge" --token forge-token --log "$work/forge.log" --port-file "$work/forge.port" \
	--parent-pid $$ >/dev/null 2>"$work/forge.err" &
forge_pid=$!
wait_for 100 '[ -s "$work/forge.port" ]' || fatal "the fake forge did not start: $(cat "$work/forge.err")"
forge=http://127.0.0.1:$(cat "$work/forge.port")
control() { curl -s -X POST --data-binary "$1" "$forge/_control" >/dev/null; }
state() { curl -s "$forge/_control/state"; }
control '{"seed": {"forge": "github", "repo": "mirage/ipaddr", "number": 7, "bodies": ["looks good to me"]}}'
control '{"seed": {"forge": "github", "repo": "mirage/checkseum", "number": 9}}'

printf 'github-secret\n' >"$work/github.secret"
printf 'forge-token\n' >"$work/forge.token"
cat >"$work/config.json" <<EOF
{
  "public_url": "http://ci.example.org/",
  "forges": {
    "github": { "api_url": "$forge", "token_file": "forge.token", "webhook_secret_file": "github.secret" }
  }
}
EOF
db=$work/report.db
"$ripple" serve --config "$work/config.json" --db "$db" --listen 127.0.0.1:0 --universe stable.json --workers 2 \
	--url-file "$work/url" --cache "$work/cache" >"$work/serve.out" 2>"$work/serve.err" &
serve_pid=$!
wait_for 300 '[ -s "$work/url" ]' || fatal "ripple serve did not start: $(tail -3 "$work/serve.err")"
url=$(cat "$work/url")
export RIPPLE_SERVER=$url RIPPLE_TOKEN_FILE=$db.api-token
done_run() { case $("$ripple" status --json "$1" | jq -r .run.state) in done | cancelled) return 0 ;; esac; return 1; }

nightly=$("$ripple" nightly now --json | jq -r .run)
wait_for 1200 'done_run "$nightly"' || fatal "the first nightly did not finish"

# ipaddr's regression: its own tests pass, tcpip's fail.
brk=$(jq -r .scenarios.regression.commit scenarios.json)
base=$(git -C repos/ipaddr rev-parse main)
hmac() { openssl dgst -sha256 -hmac github-secret <"$1" | sed 's/^.*= //'; }
deliver() { # deliver ACTION HEAD DELIVERY [PACKAGE NUMBER]: the run it made, on stdout
	local pkg=${4:-ipaddr} number=${5:-7}
	sed -e "s|REPO_URL|file://$U/repos/$pkg|g" -e "s|HEAD_SHA|$2|g" -e "s|BASE_SHA|$base|g" -e "s|cstruct|$pkg|g" \
		"$fixtures/hooks/github_pull_request.json" |
		jq --arg a "$1" --argjson n "$number" '.action = $a | .number = $n | .pull_request.number = $n' >"$work/hook.json"
	curl -s -X POST -H 'Content-Type: application/json' -H "X-GitHub-Event: pull_request" \
		-H "X-GitHub-Delivery: $3" -H "X-Hub-Signature-256: sha256=$(hmac "$work/hook.json")" \
		--data-binary "@$work/hook.json" "$url/hooks/github" | jq -r .run
}
statuses() { state | jq -c --arg sha "$1" '[.statuses[] | select(.repo == "mirage/ipaddr" and .sha == $sha)]'; }
ripple_comments() { state | jq -c '[.comments[] | select(.body | startswith("<!-- ripple:report -->"))]'; }

# 1. A regression in ipaddr that only a reverse dependency's tests catch.
run1=$(deliver opened "$brk" d-1)
check "a signed pull request makes a run ($run1)" '[ "$run1" -ge 1 ] 2>/dev/null'
wait_for 1200 'done_run "$run1"'
wait_for 200 '[ "$(statuses "$brk" | jq "map(select(.state != \"pending\")) | length")" -ge 1 ]'
statuses "$brk" >"$work/s1.json"
check "the head got 'pending' first, then one final status" \
	'[ "$(jq -r ".[0].state" "$work/s1.json")" = pending ] && [ "$(jq "map(select(.state != \"pending\")) | length" "$work/s1.json")" -eq 1 ]'
"$ripple" report --json "$run1" >"$work/r1.json"
regressed=$(jq '[.pairs[] | select(.verdict == "regressed" and .package != "ipaddr")] | length' "$work/r1.json")
final=$(jq -r 'map(select(.state != "pending")) | .[0]' "$work/s1.json")
check "the final status is failure: '$(jq -r .description <<<"$final")'" \
	'[ "$regressed" -ge 1 ] && [ "$(jq -r .state <<<"$final")" = failure ] &&
	 jq -r .description <<<"$final" | grep -Eq "^(ipaddr itself regressed, )?$regressed reverse dependenc(y|ies) regressed"'
tcpip=$(jq -c '.pairs[] | select(.package == "tcpip")' "$work/r1.json")
# What a failure here needs to be understood: every job of the run that did not end as expected.
"$ripple" status --json "$run1" | jq -c '.jobs[] | select(.status == "error" or .status == "cancelled") | [.id, .package, .rerun_of, .status, .first_error]' >&2
check "before it is called regressed, tcpip's failing test ran 3 times, and 3 times passing on the base" \
	'[ "$(jq -c "[.verdict, .runs.head, .runs.base, .detail]" <<<"$tcpip")" = "[\"regressed\",[3,3],[0,3],\"3/3 new failures vs 0/3 before\"]" ] &&
	 [ "$("$ripple" status --json "$run1" | jq "[.jobs[] | select(.variant == \"build\")] | length")" -eq 11 ]'
check "the status names ripple and links to the run page" \
	'[ "$(jq -r .context <<<"$final")" = ripple ] && [ "$(jq -r .target_url <<<"$final")" = "http://ci.example.org/#/runs/$run1" ]'
wait_for 100 '[ "$(ripple_comments | jq length)" -eq 1 ]'
ripple_comments >"$work/c1.json"
comment_id=$(jq -r '.[0].id' "$work/c1.json")
check "one PR comment with the Markdown report, beside the human one" \
	'[ "$(jq length "$work/c1.json")" -eq 1 ] && [ "$(state | jq "[.comments[] | select(.body == \"looks good to me\")] | length")" -eq 1 ] &&
	 jq -r ".[0].body" "$work/c1.json" | grep -q "## ripple: run $run1 (pr)" &&
	 jq -r ".[0].body" "$work/c1.json" | grep -Eq "\| tcpip \| unix \| regressed \(3/3 new failures vs 0/3 before\)(, behaviour change|, by an API change \(below\))? \((to bisect|bisecting|bisected below)\) \| pass \| fail \|" &&
	 jq -r ".[0].body" "$work/c1.json" | grep -Eq "^\| tcpip \|.* \| \[#[0-9]+\]\(http://ci.example.org/#/jobs/[0-9]+\) \|$" &&
	 jq -r ".[0].body" "$work/c1.json" | grep -q "Compared with nightly run $nightly (http://ci.example.org/#/runs/$nightly)"'

# 2. A push fixes the PR: a new run, success, the same comment edited.
run2=$(deliver synchronize "$base" d-2)
wait_for 1200 'done_run "$run2"'
wait_for 200 '[ "$(statuses "$base" | jq "map(select(.state != \"pending\")) | length")" -ge 1 ]'
final2=$(statuses "$base" | jq -c 'map(select(.state != "pending")) | .[0]')
check "the new head's final status is success: '$(jq -r .description <<<"$final2")'" \
	'[ "$(jq -r .state <<<"$final2")" = success ]'
wait_for 100 'ripple_comments | jq -r ".[0].body" | grep -q "## ripple: run $run2 "'
ripple_comments >"$work/c2.json"
check "the comment was edited in place, not posted again" \
	'[ "$(jq length "$work/c2.json")" -eq 1 ] && [ "$(jq -r ".[0].id" "$work/c2.json")" = "$comment_id" ] &&
	 [ "$(grep -c "\"method\": \"PATCH\"" "$work/forge.log")" -ge 1 ] &&
	 [ "$(grep "\"method\": \"POST\"" "$work/forge.log" | grep -c "/issues/7/comments")" -eq 1 ]'

# 3. The forge answers 500 for a while: the report waits, then arrives whole.
control '{"fail_next": 100000, "status": 500}'
run3=$(deliver synchronize "$brk" d-3)
wait_for 1200 'done_run "$run3"'
sleep 3
check "while the forge fails, nothing is recorded there and ripple keeps trying" \
	'! ripple_comments | jq -r ".[0].body" | grep -q "## ripple: run $run3 " && [ "$(grep -c "\"status\": 500" "$work/forge.log")" -ge 2 ]'
control '{"fail_next": 0}'
# The report's retries back off (doubling, up to minutes): a long run3 means a long wait.
wait_for 1500 'ripple_comments | jq -r ".[0].body" | grep -q "## ripple: run $run3 "'
check "once the forge is back, the final status and the edited comment arrive" \
	'ripple_comments | jq -r ".[0].body" | grep -q "## ripple: run $run3 " && [ "$(ripple_comments | jq length)" -eq 1 ] &&
	 [ "$(statuses "$brk" | jq "map(select(.state == \"failure\")) | length")" -ge 2 ]'

# 4. A test that fails once in three runs: flaky, not a regression.
git -C repos/checkseum checkout -q -b flaky
echo flaky >repos/checkseum/FLAKY
git -C repos/checkseum add FLAKY
git -C repos/checkseum -c user.name=t -c user.email=t@example.org commit -qm "A flaky test"
flaky_head=$(git -C repos/checkseum rev-parse HEAD)
git -C repos/checkseum checkout -q main
run4=$(deliver opened "$flaky_head" d-4 checkseum 9)
wait_for 1200 'done_run "$run4"'
"$ripple" report --json "$run4" >"$work/r4.json"
"$ripple" status --json "$run4" | jq -c '.jobs[] | select(.status == "error" or .status == "cancelled") | [.id, .package, .rerun_of, .status, .first_error]' >&2
pair=$(jq -c '.pairs[] | select(.package == "checkseum")' "$work/r4.json")
check "checkseum's test, failing once in three runs, is flaky (1/3), not regressed" \
	'[ "$(jq -c "[.verdict, .runs.head, .runs.base, .detail]" <<<"$pair")" = "[\"flaky\",[1,3],[0,3],\"flaky (1/3)\"]" ] &&
	 [ "$(cat "$work/flaky.count")" = 3 ]'
node "$(dirname "$fake_forge")/../web/run_cells.js" "$url" "$run4" "$db.api-token" >"$work/cells.json" 2>"$work/cells.err"
check "the run page shows one cell per pair, the flake checks counted in checkseum's ($(jq -c '.[] | select(.package == "checkseum") | .text' "$work/cells.json" 2>/dev/null))" \
	'[ "$(jq "[.[] | select(.package == \"checkseum\")] | length" "$work/cells.json")" -eq 1 ] &&
	 [ "$(jq -r ".[] | select(.package == \"checkseum\") | .text" "$work/cells.json")" = "fail · run again 2×, 0 failed" ]'
wait_for 200 '[ "$(state | jq --arg sha "$flaky_head" "[.statuses[] | select(.sha == \$sha and .state != \"pending\")] | length")" -ge 1 ]'
final4=$(state | jq -c --arg sha "$flaky_head" '[.statuses[] | select(.sha == $sha and .state != "pending")] | .[0]')
check "its status is success, saying '1 flaky': '$(jq -r .description <<<"$final4")'" \
	'[ "$(jq -r .state <<<"$final4")" = success ] && jq -r .description <<<"$final4" | grep -q "1 flaky"'
curl -s -H "Authorization: Bearer $(cat "$db.api-token")" "$url/api/v1/flakiness" >"$work/flaky.json"
check "GET /flakiness scores the test 'random sums' of checkseum on unix: its key failed 1 of 3 runs" \
	'[ "$(jq -c ".pairs[] | select(.package == \"checkseum\") | [.target, .test, .keys, .flaky_keys, .runs, .failures, .score]" "$work/flaky.json")" = "[\"unix\",\"random sums\",1,1,3,1,1]" ] &&
	 [ "$(jq -c ".pairs[] | select(.package == \"tcpip\") | .flaky_keys" "$work/flaky.json")" = 0 ]'

# 5. A pull request of three commits whose second breaks a reverse dependency: the farm
# bisects inside it, and the PR's comment is edited to name that commit.
git -C repos/ipaddr checkout -q -b three main
echo "a note" >repos/ipaddr/NOTES
git -C repos/ipaddr add NOTES
git -C repos/ipaddr -c user.name=t -c user.email=t@example.org commit -qm "Add notes"
git -C repos/ipaddr -c user.name=t -c user.email=t@example.org revert --no-edit "$base" >/dev/null
pr_culprit=$(git -C repos/ipaddr rev-parse HEAD)
echo "more" >>repos/ipaddr/NOTES
git -C repos/ipaddr -c user.name=t -c user.email=t@example.org commit -qam "More notes"
three_head=$(git -C repos/ipaddr rev-parse HEAD)
git -C repos/ipaddr checkout -q main
control '{"seed": {"forge": "github", "repo": "mirage/ipaddr", "number": 11}}'
run5=$(deliver opened "$three_head" d-5 ipaddr 11)
wait_for 1200 'done_run "$run5"'
api() { curl -s -H "Authorization: Bearer $(cat "$db.api-token")" "$url/api/v1/$1"; }
bisected() {
	api "bisects?run=$run5" | jq -e '[.bisects[] | select(.package == "tcpip" and .state == "done")] | length == 1' >/dev/null
}
wait_for 1800 bisected
api "bisects?run=$run5" | jq -c '.bisects[] | select(.package == "tcpip")' >"$work/b5.json"
api "bisects?run=$run5" | jq -c '[.bisects[] | [.package, .verdict]]' >&2
if [ "$(jq -r .verdict "$work/b5.json")" != culprit ]; then # what a failure here needs to be understood
	api "bisects/$(jq .id "$work/b5.json")" | jq -c '.detail' >&2
	for r in $(api "bisects/$(jq .id "$work/b5.json")" | jq -r '.detail.repositories[].probes[]?.run'); do
		"$ripple" status --json "$r" | jq -c '[.run.id, .run.title, [.jobs[] | [.package, .status, .cached, .first_error]]]' >&2
	done
fi
check "the farm bisects the pull request's three commits to the one that broke tcpip: $(jq -r .summary "$work/b5.json")" \
	'[ "$(jq -r "[.verdict, .repository, .culprit.commit] | join(\",\")" "$work/b5.json")" = "culprit,ipaddr,$pr_culprit" ]'
pr_comment() { state | jq -r '[.comments[] | select(.number == 11 and (.body | startswith("<!-- ripple:report -->")))] | .[0].body // empty'; }
wait_for 300 'pr_comment | grep -q "first bad commit: ipaddr ${pr_culprit:0:12}"'
check "the PR's one comment is edited to name that commit, with tcpip's failing assertion" \
	'pr_comment | grep -q "^- \*\*tcpip on unix\*\*: first bad commit: ipaddr ${pr_culprit:0:12} \"Revert" &&
	 pr_comment | grep -q "assertion failed: tcpip_next_hop" &&
	 [ "$(state | jq "[.comments[] | select(.number == 11)] | length")" -eq 1 ]'

check "the forge token never appears in the scheduler's output" \
	'! grep -q forge-token "$work/serve.out" "$work/serve.err"'

kill -TERM "$serve_pid"
wait "$serve_pid"
status=$?
serve_pid=
check "ripple serve stops cleanly with reports in flight (exit $status)" '[ $status -eq 0 ]'
check "no sanitizer report" '! grep -q "ERROR: AddressSanitizer\|runtime error:" "$work/serve.err"'
echo "1..$n"
[ "$failures" -eq 0 ]
