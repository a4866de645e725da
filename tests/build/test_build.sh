#!/usr/bin/env bash
# Integration test of the build engine on the example universe: the real
# `ripple` binary, real git repositories, real compilers, real bubblewrap.
#   test_build.sh PATH-TO-examples/generate PATH-TO-ripple
set -uo pipefail
generate=$(realpath "${1:?usage: test_build.sh GENERATE RIPPLE}")
ripple=$(realpath "${2:?usage: test_build.sh GENERATE RIPPLE}")
work=$(mktemp -d)
trap 'pkill -f "ripple-test-token-$$" 2>/dev/null; rm -rf "$work"' EXIT
n=0 failures=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failures=$((failures + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }

U=$work/u
"$generate" "$U" >/dev/null || { echo "not ok - the example universe could not be generated"; exit 1; }
cd "$U"
# The flaky test is the flake-handling issue's subject; here checkseum's tests must answer the same every time.
jq '(.packages[] | select(.name == "checkseum") | .test) = "true"' ripple.json >stable.json
run() { # run NAME ARGS...: stdout JSON in $work/NAME.json, stderr in $work/NAME.err, status in $status
	local name=$1
	shift
	"$ripple" "$@" --json >"$work/$name.json" 2>"$work/$name.err"
	status=$?
}
result() { jq -r --arg p "$2" '.jobs[] | select(.package == $p) | .result' "$work/$1.json"; }

# 1. The whole universe, in the sandbox, with two job slots.
run all build -m stable.json --all --target unix -j 2
check "build --all passes (exit $status)" '[ $status -eq 0 ]'
check "every job of the universe ran" '[ "$(jq ".jobs | length" $work/all.json)" -eq 7 ]'
check "nothing came from the cache the first time" '[ "$(jq .cached $work/all.json)" -eq 0 ]'

# 2. An identical second run is answered entirely from the cache.
run again build -m stable.json --all --target unix -j 2
check "a second identical run is 100% cache hits" \
	'[ "$(jq .cached $work/again.json)" -eq 7 ] && [ "$(jq .built $work/again.json)" -eq 0 ]'
check "cached results keep their outputs" \
	'[ "$(jq -r "[.jobs[].output_hash] | sort | join(\",\")" $work/all.json)" = "$(jq -r "[.jobs[].output_hash] | sort | join(\",\")" $work/again.json)" ]'

# 2a. With a build history, the plan estimates its CPU time.
"$ripple" plan -m stable.json --json >"$work/plan.json" 2>/dev/null
check "plan estimates from the last builds of its jobs" \
	'[ "$(jq .jobs_with_history $work/plan.json)" -ge 7 ] && jq -e ".estimated_cpu_seconds > 0" $work/plan.json >/dev/null'

# 2b. An archive that went missing from the cache is rebuilt, not trusted.
abi_dumps() { (cd .ripple/artifacts && sha256sum */*.abi.json); }
abi_dumps >"$work/abi.before"
rm -rf .ripple/artifacts
run healed build -m stable.json --all --target unix
check "a cache whose archives were deleted rebuilds them and passes (exit $status): $(tail -1 "$work/healed.err")" \
	'[ $status -eq 0 ] && [ "$(jq .built $work/healed.json)" -gt 0 ] && [ -n "$(ls .ripple/artifacts)" ]'
# A key's artifacts are final: what is built again must be the same bytes, its ABI dump too (not the
# work directory's path in it), and at the first attempt, not through a retry of an infrastructure error.
check "every job rebuilt at its first attempt ($(jq -c "[.jobs[].attempts]" "$work/healed.json"))" \
	'[ "$(jq "[.jobs[] | select(.attempts != 1)] | length" "$work/healed.json")" = 0 ]'
check "the ABI dumps rebuilt are the ones recorded ($(wc -l <"$work/abi.before") dumps)" \
	'[ -s "$work/abi.before" ] && abi_dumps | cmp -s - "$work/abi.before"'

# 2c. A sandbox target's resource limits reach the steps.
jq '.targets.unix.open_files = 77 | (.packages[] | select(.name == "ipaddr") | .build) = "[ $(ulimit -n) -eq 77 ]"' \
	stable.json >limits.json
run limits build -m limits.json --all --only ipaddr --target unix --no-cache
check "open_files of the target is the steps' ulimit -n" '[ "$(result limits ipaddr)" = pass ]'

# 3. A change to a leaf rebuilds nothing outside its closure.
leaf_parent=$(git -C repos/unikernel rev-parse main~1)
run leaf build -m stable.json --change "unikernel=$leaf_parent" --target unix
check "a change to a leaf builds only the leaf" \
	'[ "$(jq .built $work/leaf.json)" -eq 1 ] && [ "$(jq -r "[.jobs[] | select(.cached | not) | .package] | join(\",\")" $work/leaf.json)" = unikernel ]'

# 4. Early cutoff: a comment-only change to the lowest library rebuilds it, and nothing downstream.
git -C repos/cstruct -c user.name=t -c user.email=t@example.org checkout -q -b comment main
printf '\n/* A comment changes the tree, not the installed output. */\n' >>repos/cstruct/src/cstruct.c
git -C repos/cstruct -c user.name=t -c user.email=t@example.org commit -qam "Comment only"
comment=$(git -C repos/cstruct rev-parse HEAD)
run cutoff build -m stable.json --change "cstruct=$comment" --target unix
check "a comment-only change to cstruct rebuilds cstruct" \
	'[ "$(jq -r ".jobs[] | select(.package == \"cstruct\") | .cached" $work/cutoff.json)" = false ]'
check "its output is identical, so every dependent is a cache hit" \
	'[ "$(jq .built $work/cutoff.json)" -eq 1 ] && [ "$(jq "[.jobs[] | select(.cached)] | length" $work/cutoff.json)" -eq 6 ]'

# 4b. Two commits with the same tree have the same key: an empty commit builds nothing.
git -C repos/cstruct -c user.name=t -c user.email=t@example.org commit -q --allow-empty -m "Empty commit"
run same_tree build -m stable.json --change "cstruct=$(git -C repos/cstruct rev-parse HEAD)" --target unix
check "a commit with the same tree as a built one is a cache hit, and so is everything after it" \
	'[ "$(jq .built $work/same_tree.json)" -eq 0 ] && [ "$(jq .cached $work/same_tree.json)" -eq 7 ]'

# 5. The planted API break regresses exactly its two reverse dependencies, with their first error lines.
s=scenarios.json
pins=(--pin "cstruct=$(jq -r .scenarios.api_break.good $s)")
for p in $(jq -r '.scenarios.api_break.adapted | keys[]' $s); do
	pins+=(--pin "$p=$(jq -r --arg p "$p" '.scenarios.api_break.adapted[$p].before' $s)")
done
run api test-change -m stable.json --target unix "${pins[@]}" --change "cstruct=$(jq -r .scenarios.api_break.commit $s)"
check "test-change exits 1 when something regressed (exit $status)" '[ $status -eq 1 ]'
want=$(jq -r '.scenarios.api_break.breaks | sort | join(",")' $s)
got=$(jq -r '[.pairs[] | select(.verdict == "regressed") | .package] | sort | join(",")' "$work/api.json")
check "the API break regresses exactly $want (got $got)" '[ "$got" = "$want" ]'
check "each regression names cs_get_be16 in its first error line" \
	'[ "$(jq "[.pairs[] | select(.verdict == \"regressed\") | .change.first_error | select(test(\"cs_get_be16\"))] | length" $work/api.json)" -eq 2 ]'
check "regressions are compile errors" \
	'[ "$(jq -r "[.pairs[] | select(.verdict == \"regressed\") | .change.category] | unique | join(\",\")" $work/api.json)" = compile_error ]'
check "nothing else regressed or errored" \
	'[ "$(jq ".counts.error" $work/api.json)" -eq 0 ]'

# 5b. A test that fails once and then passes is flaky, not a regression: re-runs on both sides decide.
# (The process backend, so that the step can keep a counter across runs.)
jq --arg c "$work/flaky-counter" '.targets.unix.runner = "process"
	| (.packages[] | select(.name == "checkseum") | .env) = {"COUNTER": $c}
	| (.packages[] | select(.name == "checkseum") | .test) = "n=$(cat \"$COUNTER\" 2>/dev/null || echo 0); echo $((n + 1)) > \"$COUNTER\"; [ $n -ne 1 ]"' \
	stable.json >flaky.json
# A compatible change to cstruct that changes its output, so that checkseum is built again.
git -C repos/cstruct -c user.name=t -c user.email=t@example.org checkout -q -b extra main
printf '\nint cs_extra(void);\nint cs_extra(void) { return 1; }\n' >>repos/cstruct/src/cstruct.c
git -C repos/cstruct -c user.name=t -c user.email=t@example.org commit -qam "Add cs_extra"
run flaky test-change -m flaky.json --target unix --change "cstruct=$(git -C repos/cstruct rev-parse HEAD)" \
	--cache "$work/flaky-cache"
check "a test failing once out of three runs is flaky (exit $status)" \
	'[ "$(jq -r ".pairs[] | select(.package == \"checkseum\") | .verdict" $work/flaky.json)" = flaky ]'
check "its runs are counted" \
	'[ "$(jq -c ".pairs[] | select(.package == \"checkseum\") | .runs" $work/flaky.json)" = "{\"each_side\":3,\"change_failures\":1,\"base_failures\":0}" ]'
check "nothing flaky makes test-change fail" '[ $status -eq 0 ]'

# 5c. The process backend: dependencies' pkg-config files name their own stable prefixes,
# which must hold their builds (CMake checks the include directories exist), even when
# two ripple processes build on one cache at once.
jq '.targets.unix.runner = "process"' stable.json >process.json
"$ripple" build -m process.json --all --target unix --no-cache --json --cache "$work/process-cache" >"$work/p1.json" 2>/dev/null &
"$ripple" build -m process.json --all --target unix --no-cache --json --cache "$work/process-cache" >"$work/p2.json" 2>/dev/null
wait $!
check "the whole universe passes on the process backend, twice at once on one cache" \
	'[ "$(jq "[.jobs[] | select(.result == \"pass\")] | length" $work/p1.json)" -eq 7 ] && [ "$(jq "[.jobs[] | select(.result == \"pass\")] | length" $work/p2.json)" -eq 7 ]'
run p3 build -m process.json --all --target unix --cache "$work/process-cache"
check "and answers again from the cache" '[ "$(jq .cached $work/p3.json)" -eq 7 ]'

# 5d. --only keeps the change: the dependency it names is built at the changed revision.
run only build -m stable.json --change "cstruct=$(git -C repos/cstruct rev-parse extra)" --only checkseum --target unix
check "--only builds the changed dependency at its change" \
	'[ "$(jq -r ".jobs[] | select(.package == \"cstruct\") | .commit" $work/only.json)" = "$(git -C repos/cstruct rev-parse extra)" ]'

run rebuild build -m stable.json --change "cstruct=$(git -C repos/cstruct rev-parse extra)" --only checkseum --rebuild checkseum --target unix
check "--rebuild builds that package again and takes its dependencies from the cache" \
	'[ "$(jq -r "[.jobs[] | select(.cached | not) | .package] | join(\",\")" $work/rebuild.json)" = checkseum ]'

# 5e. Dense dependencies listed against the build order (each package on all the later ones).
jq -n '{universe: "dense", targets: {unix: {runner: "sandbox"}},
	packages: [range(1; 7) as $i | {name: "d\($i)", repo: "repos/ipaddr", build: "true",
		depends: [range(6; $i; -1) | "d\(.)"]}]}' >dense.json
run dense build -m dense.json --change d6=main --target unix
check "a dense graph plans each job once" '[ $status -eq 0 ] && [ "$(jq ".jobs | length" $work/dense.json)" -eq 6 ]'

# 6. A step past its timeout is a timeout, not a failure.
jq '(.packages[] | select(.name == "ipaddr") | .build) = "sleep 30" | (.packages[] | select(.name == "ipaddr") | .timeout) = 1' \
	stable.json >slow.json
run slow build -m slow.json --all --only ipaddr --target unix --no-cache
check "a step past its timeout is timeout" '[ "$(result slow ipaddr)" = timeout ]'

jq '(.packages[] | select(.name == "ipaddr") | .build) = "echo started; sleep 30" | (.packages[] | select(.name == "ipaddr") | .output_timeout) = 1' \
	stable.json >quiet.json
run quiet build -m quiet.json --all --only ipaddr --target unix --no-cache
check "a step silent past its output_timeout is timeout" '[ "$(result quiet ipaddr)" = timeout ]'

# 6b. An error at the end of a log longer than the output cap is still the first error line.
jq '(.packages[] | select(.name == "ipaddr") | .build) = "yes line | head -c 20000000; echo \"src/x.c:3:1: error: the real error\" >&2; exit 1"' \
	stable.json >long.json
run long build -m long.json --all --only ipaddr --target unix --no-cache
check "the error after 20 MB of output is found past the 16 MiB cap" \
	'[ "$(jq -r ".jobs[] | select(.package == \"ipaddr\") | .first_error" $work/long.json)" = "src/x.c:3:1: error: the real error" ]'

# 7. A cancelled build leaves no process behind.
jq --arg t "ripple-test-token-$$" '(.packages[] | select(.name == "ipaddr") | .build) = ("touch started; sleep 300 " + $t + " & sleep 301 " + $t + "; wait")' \
	stable.json >hang.json
"$ripple" build -m hang.json --all --only ipaddr --target unix --no-cache --keep --cache "$work/hang-cache" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 200); do
	compgen -G "$work/hang-cache/work/*/src/started" >/dev/null && break
	sleep 0.05
done
check "the hanging step started" 'compgen -G "$work/hang-cache/work/*/src/started" >/dev/null'
kill -INT $pid
wait $pid
check "the cancelled build exits non-zero" '[ $? -ne 0 ]'
sleep 0.2
check "no process of the cancelled job survives" '! pgrep -f "ripple-test-token-$$" >/dev/null'

# 8. An unreachable repository is an infrastructure error with the reason.
jq '(.packages[] | select(.name == "ipaddr") | .repo) = "repos/no-such-repository"' stable.json >gone.json
run gone build -m gone.json --all --only ipaddr --target unix
check "an unreachable repository is an error, not a failure" '[ "$(result gone ipaddr)" = error ]'
check "the error says why" \
	'jq -r ".jobs[0].first_error" $work/gone.json | grep -q "cannot fetch.*no-such-repository"'

# 9. An infrastructure failure (the disk, here said by the step) is retried and never blamed on the code.
jq '(.packages[] | select(.name == "ipaddr") | .build) = "echo \"write error: No space left on device\"; exit 1"' \
	stable.json >disk.json
run disk build -m disk.json --all --only ipaddr --target unix --no-cache
check "a full disk is an error, not a failure" '[ "$(result disk ipaddr)" = error ]'
check "it was tried 3 times" '[ "$(jq ".jobs[] | select(.package == \"ipaddr\") | .attempts" $work/disk.json)" -eq 3 ]'
check "it is classified as infrastructure" \
	'[ "$(jq -r ".jobs[] | select(.package == \"ipaddr\") | .category" $work/disk.json)" = infrastructure ]'
run disk2 build -m disk.json --all --only ipaddr --target unix
check "an infrastructure failure is never cached" '[ "$(jq .cached $work/disk2.json)" -eq 0 ]'

# 10. At test time, shared libraries resolve to the job's dependency builds, not the host's.
jq '(.packages[] | select(.name == "checkseum") | .test) = "make tests/test_random && ldd tests/test_random | grep -q \"libcstruct.* => /ripple/prefix/lib/libcstruct\""' \
	stable.json >ldd.json
run ldd build -m ldd.json --all --only checkseum --target unix --no-cache
check "checkseum's test binary loads libcstruct from the job's prefix" '[ "$(result ldd checkseum)" = pass ]'

echo "1..$n"
[ "$failures" -eq 0 ]
