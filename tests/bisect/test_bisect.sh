#!/usr/bin/env bash
# Integration test of `ripple bisect` on generated repositories with a known
# first bad commit. Wherever the test answers the same every time, `git bisect
# run` with the same command is the reference: both must name the same commit.
#   test_bisect.sh PATH-TO-ripple
set -uo pipefail
ripple=$(realpath "${1:?usage: test_bisect.sh RIPPLE}")
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TMPDIR=$work
. "$here/lib.sh"
n=0 failures=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failures=$((failures + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_AUTHOR_NAME=T GIT_AUTHOR_EMAIL=t@example.org GIT_COMMITTER_NAME=T \
	GIT_COMMITTER_EMAIL=t@example.org

CMD='[ -e skip ] && exit 125; [ "$(cat state)" = good ]'

# rbisect NAME ARGS...: ripple bisect --json into $work/NAME.json, status in $status
rbisect() {
	local name=$1
	shift
	"$ripple" bisect --json "$@" >"$work/$name.json" 2>"$work/$name.err"
	status=$?
}
field() { jq -r "$2" "$work/$1.json"; }

# 1. Linear histories of 1, 2, 3 and 1,000 commits; culprit first, last, in the middle.
for len in 1 2 3 1000; do
	for where in first middle last; do
		case $where in
		first) c=1 ;;
		middle) c=$(((len + 1) / 2)) ;;
		last) c=$len ;;
		esac
		r=$work/lin-$len-$where
		[ -d "$r" ] && continue
		mk_linear "$r" "$len" "$c" || { not_ok "fixture $r"; continue; }
		want=$(commit_at "$r" "$c")
		good=$(commit_at "$r" 0)
		ref=$(git_first_bad "$r" "$good" main -- "$CMD")
		check "git bisect finds commit $c of $len" '[ "$ref" = "$want" ]'
		for j in 1 4; do
			rbisect "lin-$len-$where-$j" --repo "$r" --good "$good" --bad main -j $j -- sh -c "$CMD"
			got=$(field "lin-$len-$where-$j" .first_bad.id)
			check "$len commits, culprit $where, -j $j: same as git bisect (exit $status)" \
				'[ $status -eq 0 ] && [ "$got" = "$ref" ]'
		done
	done
done
probes1=$(field lin-1000-middle-1 .probe_count)
rounds4=$(field lin-1000-middle-4 .rounds)
check "1,000 commits, -j 1: at most 11 probes (got $probes1)" '[ "$probes1" -le 11 ]'
check "1,000 commits, -j 4: at most 6 rounds (got $rounds4)" '[ "$rounds4" -le 6 ]'
check "every probe's log is kept" \
	'[ "$(ls "$(field lin-1000-middle-4 .logs)" | wc -l)" -eq "$(field lin-1000-middle-4 .probe_count)" ]'
check "the report names the author, date and subject" \
	'[ "$(field lin-3-middle-1 .first_bad.subject)" = "commit 2" ] && [ "$(field lin-3-middle-1 .first_bad.author)" = "A U Thor" ] && [ "$(field lin-3-middle-1 .first_bad.date)" = "2023-11-14T23:13:22+01:00" ]'
check "the worktrees are removed" '[ -z "$(find "$work" -maxdepth 2 -name "probe-*" -type d)" ]'

# The text output says what git says.
r=$work/lin-3-middle
"$ripple" bisect --repo "$r" --good main~3 --bad main -j 2 -- sh -c "$CMD" >"$work/text.out" 2>/dev/null
check "text output: '<id> is the first bad commit'" \
	'grep -q "^$(commit_at "$r" 2) is the first bad commit$" "$work/text.out"'
# One argument is a shell command line; the probe sees its commit in RIPPLE_BISECT_COMMIT.
rbisect env --repo "$r" --good main~3 --bad main -j 1 -- 'echo "at $RIPPLE_BISECT_COMMIT"; [ "$(cat state)" = good ]'
log=$(field env '.probes[0].log')
check "one argument runs as a shell line, and the probe knows its commit" \
	'[ $status -eq 0 ] && grep -q "at $(field env ".probes[0].commit")" "$log"'

# 2. Merges: the culprit on a side branch; with --first-parent the merge is named.
m=$work/merge
git init -q -b main "$m"
(
	cd "$m"
	echo good >state && echo 0 >main.txt && git add -A && git commit -qm base
	echo 1 >main.txt && git commit -qam main1
	git checkout -qb side
	echo s1 >side.txt && git add side.txt && git commit -qm side1
	echo bad >state && git commit -qam "side2 breaks it"
	echo s3 >side.txt && git commit -qam side3
	git checkout -q main
	echo 2 >main.txt && git commit -qam main2
	git merge -q --no-ff -m "merge side" side
	echo 3 >main.txt && git commit -qam main3
) >/dev/null
want=$(git -C "$m" rev-parse side~1)
merge=$(git -C "$m" rev-parse main~1)
base=$(git -C "$m" rev-list --max-parents=0 main)
ref=$(git_first_bad "$m" "$base" main -- "$CMD")
check "git bisect blames the side branch's commit" '[ "$ref" = "$want" ]'
for j in 1 2 4; do
	rbisect merge-$j --repo "$m" --good "$base" --bad main -j $j -- sh -c "$CMD"
	check "merge, -j $j: the side branch's commit, as git bisect" '[ "$(field merge-$j .first_bad.id)" = "$ref" ]'
done
ref=$(git_first_bad "$m" "$base" main --first-parent -- "$CMD")
check "git bisect --first-parent blames the merge" '[ "$ref" = "$merge" ]'
for j in 1 3; do
	rbisect mergefp-$j --repo "$m" --good "$base" --bad main -j $j --first-parent -- sh -c "$CMD"
	check "merge --first-parent, -j $j: the merge, as git bisect" '[ "$(field mergefp-$j .first_bad.id)" = "$ref" ]'
done

# 2b. --verify-revert: revert the culprit on top of bad and expect the test to pass.
r=$work/lin-1000-middle
rbisect revert-ok --repo "$r" --good main~1000 --bad main -j 4 --verify-revert -- sh -c "$CMD"
check "--verify-revert: a clean revert that fixes the test confirms the culprit (exit $status)" \
	'[ $status -eq 0 ] && [ "$(field revert-ok .verdict)" = culprit ] && [ "$(field revert-ok .revert.result)" = fixes ] && [ "$(field revert-ok "[.probes[] | select(.revert)] | length")" -eq 1 ]'
v=$work/revert
git init -q -b main "$v"
(
	cd "$v"
	echo good >state && git add state && git commit -qm base
	echo 1 >other && git add other && git commit -qm one
	echo bad >state && git commit -qam "two breaks it"
	echo 3 >other && git commit -qam three
	touch broken && git add broken && git commit -qm "four breaks it too"
	echo worse >state && git commit -qam "five touches state"
) >/dev/null
want=$(git -C "$v" rev-parse main~3)
rbisect revert-nofix --repo "$v" --good main~5 --bad main~1 -j 2 --verify-revert -- sh -c '[ "$(cat state)" = good ] && [ ! -e broken ]'
check "--verify-revert: a revert that does not fix the test: unconfirmed, exit 1 ($status)" \
	'[ $status -eq 1 ] && [ "$(field revert-nofix .verdict)" = unconfirmed ] && [ "$(field revert-nofix .first_bad.id)" = "$want" ] && [ "$(field revert-nofix .revert.result)" = "does not fix" ]'
rbisect revert-conflict --repo "$v" --good main~5 --bad main -j 2 --verify-revert -- sh -c '[ "$(cat state)" = good ]'
check "--verify-revert: a revert that conflicts verifies nothing (exit $status)" \
	'[ $status -eq 0 ] && [ "$(field revert-conflict .verdict)" = culprit ] && [ "$(field revert-conflict .first_bad.id)" = "$want" ] && [ "$(field revert-conflict .revert.result)" = conflict ]'

# 3. Runs of skipped commits around the culprit.
for spec in "13 14" "16 18" "12 16" "15 17" "10 20"; do
	set -- $spec
	r=$work/skip-$1-$2
	mk_linear "$r" 30 15 "$1" "$2"
	good=$(commit_at "$r" 0)
	ref=$(git_first_bad "$r" "$good" main -- "$CMD")
	for j in 1 4; do
		rbisect skip-$1-$2-$j --repo "$r" --good "$good" --bad main -j $j -- sh -c "$CMD"
		v=$(field skip-$1-$2-$j .verdict)
		if [ "$v" = culprit ]; then
			got=$(field skip-$1-$2-$j .first_bad.id)
		else
			got=$(jq -r '.only_skipped[]' "$work/skip-$1-$2-$j.json" | sort | tr '\n' ' ')
		fi
		check "skipped $1..$2 around culprit 15, -j $j: $v, as git bisect" '[ "$got" = "$ref" ]'
	done
done
v=$(field skip-12-16-1 .verdict)
check "only skipped commits left: verdict only-skipped, exit 1 ($status)" '[ "$v" = only-skipped ] && [ $status -eq 1 ]'
"$ripple" bisect --repo "$work/skip-12-16" --good main~30 --bad main -j 2 -- sh -c "$CMD" >"$work/skip.out" 2>/dev/null
check "text output lists the candidates as git does" \
	'grep -q "only .skip.ped commits left to test" "$work/skip.out" && [ "$(grep -cE "^[0-9a-f]{40}$" "$work/skip.out")" -eq 6 ]'

# 4. A test that fails 20% of the time, with and without a culprit.
r=$work/flaky
mk_linear "$r" 64 40
want=$(commit_at "$r" 40)
wrong=0 right=0
for seed in 1 2 3 4 5 6; do
	mkdir -p "$work/counters-$seed"
	rbisect flaky-$seed --repo "$r" --good main~64 --bad main -j 2 --retries 3 -- \
		"$here/flaky_probe.sh" fail 200 "$seed" "$work/counters-$seed"
	v=$(field flaky-$seed .verdict)
	if [ "$v" = culprit ]; then
		if [ "$(field flaky-$seed .first_bad.id)" = "$want" ]; then right=$((right + 1)); else wrong=$((wrong + 1)); fi
	fi
done
check "flaky test with a culprit: never a wrong culprit (wrong $wrong)" '[ $wrong -eq 0 ]'
check "flaky test with a culprit: named in at least 5 of 6 seeds (right $right)" '[ $right -ge 5 ]'
check "the confirmation counts the culprit's runs" '[ "$(field flaky-1 .confirmation.commit.runs)" -ge 3 ]'
r=$work/noculprit
mk_linear "$r" 64 0
named=0
for seed in 1 2 3 4 5 6; do
	mkdir -p "$work/nc-$seed"
	rbisect nc-$seed --repo "$r" --good main~64 --bad main -j 2 --retries 3 -- \
		"$here/flaky_probe.sh" fail 200 "$seed" "$work/nc-$seed"
	[ "$(field nc-$seed .verdict)" = flaky ] || named=$((named + 1))
	[ "$(field nc-$seed .verdict)" = flaky ] && flaky_status=$status
done
check "flaky test without a culprit: 'flaky' every time (named $named)" '[ $named -eq 0 ]'
check "flaky verdict: exit 1, first_bad null, failure rates reported" \
	'[ "${flaky_status:-x}" = 1 ] && [ "$(field nc-1 .first_bad)" = null ] && [ "$(field nc-1 .suspect.id)" != null ] && [ "$(field nc-1 .confirmation.parent.runs)" -ge 3 ]'

# 5. Abort: 128 and above stops the bisection.
r=$work/lin-1000-middle
rbisect abort --repo "$r" --good main~1000 --bad main -j 2 -- sh -c '[ "$(cat state)" = good ] || exit 200'
check "status 200 aborts: exit 2, verdict aborted" '[ $status -eq 2 ] && [ "$(field abort .verdict)" = aborted ]'
check "the abort is explained on stderr" 'grep -q "aborted: the command exited with status 200" "$work/abort.err"'

# 5a. --timeout: a probe that runs too long is stopped and counts as a skip.
r=$work/lin-3-middle
rbisect timeout --repo "$r" --good main~3 --bad main -j 1 --timeout 1 -- \
	sh -c 'if [ "$(cat state)" = bad ]; then sleep 30; fi'
check "--timeout: the slow probe is a skip; only skipped commits left (exit $status)" \
	'[ $status -eq 1 ] && [ "$(field timeout .verdict)" = only-skipped ] && [ "$(field timeout "[.probes[] | select(.timed_out and .answer == \"skip\")] | length")" -eq 1 ] && [ "$(field timeout ".only_skipped | length")" -eq 2 ]'

# 5b. SIGTERM stops the running probes and leaves nothing behind.
r=$work/lin-1000-middle
marker="ripple-bisect-test-$$"
"$ripple" bisect --repo "$r" --good main~1000 --bad main -j 2 -- sh -c "sleep 60; : $marker" \
	>"$work/term.out" 2>"$work/term.err" &
pid=$!
probe_pattern="^[^ ]*sh -c sleep 60; : $marker" # the probes' shell, not ripple itself
for _ in $(seq 100); do pgrep -f "$probe_pattern" >/dev/null && break; sleep 0.1; done
kill -TERM $pid
wait $pid
status=$?
check "SIGTERM: exit 2, 'interrupted' ($status)" '[ $status -eq 2 ] && grep -q "interrupted by a signal" "$work/term.err"'
check "SIGTERM: no probe left running" '! pgrep -f "$probe_pattern" >/dev/null'

# 6. Bad input: one line on stderr, exit 2.
bad_input() { # DESCRIPTION EXPECTED-TEXT ARGS...
	local what=$1 text=$2
	shift 2
	"$ripple" bisect "$@" >"$work/bad.out" 2>"$work/bad.err"
	local st=$?
	check "$what: exit 2, one line naming it ($(head -c 200 "$work/bad.err"))" \
		'[ $st -eq 2 ] && [ "$(wc -l <"$work/bad.err")" -eq 1 ] && grep -qF -- "$text" "$work/bad.err"'
}
r=$work/lin-3-middle
bad_input "unknown revision" "unknown revision 'nope'" --repo "$r" --good nope --bad main -- true
bad_input "good not an ancestor of bad" "is not an ancestor of bad revision" --repo "$r" --good main --bad main~2 -- true
bad_input "good is bad" "is the bad commit itself" --repo "$r" --good main --bad main -- true
bad_input "no command" "no command" --repo "$r" --good main~3 --bad main
bad_input "no --good" "no --good" --repo "$r" --bad main -- true
bad_input "-j 0" "-j wants a number" --repo "$r" --good main~3 --bad main -j 0 -- true
bad_input "--retries x" "--retries wants a number" --repo "$r" --good main~3 --bad main --retries x -- true
bad_input "--timeout 0" "--timeout wants seconds" --repo "$r" --good main~3 --bad main --timeout 0 -- true
bad_input "not a repository" "is not a git repository" --repo "$work/nowhere" --good a --bad b -- true
bad_input "unknown option" "unknown option '--frob'" --frob -- true

echo "1..$n"
[ $failures -eq 0 ]
