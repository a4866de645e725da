#!/usr/bin/env bash
# `ripple fuzz` on the example universe: the real binary builds dns as OSS-Fuzz
# builds (clang, ASan, libFuzzer) in bubblewrap and fuzzes decode_name.
#  1. The planted crash (scenarios.json: fuzz_crash) is found within its
#     budget, minimized, and named by its kind and top frames.
#  2. A second run finds it again and calls it known: deduplicated by
#     signature; the corpus grew and was kept.
#  3. --reproduce: the reproducer crashes at the head with that signature and
#     not at the crash commit's parent.
#  4. ripple bisect with `ripple fuzz --reproduce` as its probe names the
#     planted commit; commits that do not build against today's cstruct are
#     skipped (exit 125).
#  5. In a throwaway VM (--target vm): the fuzzers run in the guest, the corpus
#     and crashes come back, the reproducer crashes there with the same signature.
#  6. Bad input: exit 2 with one line.
#  7. With AFL++ as the engine (fuzz_engine "afl"): afl-fuzz finds the same
#     crash, named by the same signature; its reproducer crashes at the head
#     and not at the crash commit's parent.
#   test_fuzz.sh PATH-TO-examples/generate PATH-TO-ripple
set -uo pipefail
generate=$(realpath "${1:?usage: test_fuzz.sh GENERATE RIPPLE}")
ripple=$(realpath "${2:?usage: test_fuzz.sh GENERATE RIPPLE}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "${BASH_SOURCE[0]}")/../farm/lib.sh"

U=$work/u
"$generate" "$U" >/dev/null || fatal "the example universe could not be generated"
cd "$U"
S=$U/scenarios.json
planted=$(jq -r .scenarios.fuzz_crash.commit "$S")
parent=$(jq -r .scenarios.fuzz_crash.good "$S")
added=$(jq -r .scenarios.fuzz_crash.fuzz_added "$S")
kind=$(jq -r .scenarios.fuzz_crash.crash_kind "$S")
function=$(jq -r .scenarios.fuzz_crash.crash_function "$S")
budget=$(jq -r '.packages[] | select(.name == "dns") | .fuzz[0].seconds' ripple.json)

# 1. The first run finds the planted crash.
start=$(date +%s)
"$ripple" fuzz dns --json >"$work/one.json" 2>"$work/one.err"
status=$? took=$(($(date +%s) - start))
crash() { jq -r ".fuzzers[0].crash.$2" "$work/$1.json"; }
check "a crash found exits 1 ($status; $(tail -1 "$work/one.err"))" '[ $status -eq 1 ]'
check "the crash is the planted one: $(crash one signature)" \
	'crash one signature | grep -q "^$kind in $function"'
check "its frames name $function first" '[ "$(crash one "frames[0]")" = "$function" ]'
check "it is new the first time" '[ "$(crash one new)" = true ]'
check "within the budget: $took s for $budget s of fuzzing (and the build)" '[ $took -le $((budget + 120)) ]'
repro=$(crash one reproducer)
check "the reproducer is kept, minimized, $(crash one reproducer_size) bytes" \
	'[ -s "$repro" ] && [ "$(crash one minimized)" = true ] && [ "$(crash one reproducer_size)" -le 8 ]'
check "libFuzzer's figures are in the report" \
	'jq -e ".fuzzers[0].executions > 0 and .fuzzers[0].corpus_files >= 0" "$work/one.json" >/dev/null'

# 2. The second run: the same crash, known.
"$ripple" fuzz dns --seconds 20 --json >"$work/two.json" 2>"$work/two.err"
status=$?
check "the second run finds it again (exit $status)" '[ $status -eq 1 ]'
check "... with the same signature" '[ "$(crash two signature)" = "$(crash one signature)" ]'
check "... and calls it known, first seen at the head" \
	'[ "$(crash two new)" = false ] && [ "$(crash two first_commit)" = "$(jq -r .commit "$work/one.json")" ]'
check "one signature remembered for dns" '[ "$(jq length .ripple/fuzz/crashes-dns.json)" -eq 1 ]'
"$ripple" fuzz dns --seconds 5 >"$work/three.txt" 2>&1
check "the text report says known and how to reproduce" \
	'grep -q "crash (known" "$work/three.txt" && grep -q "reproduce: ripple fuzz .* --reproduce " "$work/three.txt"'

# 3. The reproducer, run once.
sig=$(crash one signature)
"$ripple" fuzz dns --reproduce "$repro" --signature "$sig" >"$work/r1.txt" 2>&1
check "the reproducer crashes at the head with its signature (exit $?)" '[ $? -eq 1 ]'
"$ripple" fuzz dns --rev "$planted" --reproduce "$repro" --signature "$sig" >/dev/null 2>&1
check "... and at the planted commit" '[ $? -eq 1 ]'
"$ripple" fuzz dns --rev "$parent" --reproduce "$repro" >/dev/null 2>&1
check "... not at its parent (exit $?)" '[ $? -eq 0 ]'
"$ripple" fuzz dns --reproduce "$repro" --signature "heap-buffer-overflow in nowhere" >/dev/null 2>&1
check "another signature does not count (exit $?)" '[ $? -eq 0 ]'

# 4. Bisected with ripple bisect, the reproducer as the probe.
# shellcheck disable=SC2016
"$ripple" bisect --repo repos/dns --good "$added" --bad main -j 2 --json -- \
	sh -c '"$0" fuzz -m "$1" dns --rev "$RIPPLE_BISECT_COMMIT" --reproduce "$2" --signature "$3"' \
	"$ripple" "$U/ripple.json" "$repro" "$sig" >"$work/bisect.json" 2>"$work/bisect.err" || true
check "bisecting the crash names the planted commit ($(jq -r .first_bad.id "$work/bisect.json" 2>/dev/null))" \
	'[ "$(jq -r .first_bad.id "$work/bisect.json")" = "$planted" ]'

# 5. In a throwaway VM: the fuzzers run in the guest; the corpus and the crash come back,
# and the guest's stack, symbolized on the host, gives the same signature.
corpus_before=$(find .ripple/fuzz/corpus/dns -type f | wc -l)
start=$(date +%s)
"$ripple" fuzz dns --target vm --seconds 30 --json >"$work/vm.json" 2>"$work/vm.err"
status=$? took=$(($(date +%s) - start))
check "fuzzing in a VM ran the target ($(jq -r .fuzzers[0].executions "$work/vm.json") executions at $(jq -r .fuzzers[0].exec_per_sec "$work/vm.json")/s, $took s; exit $status)" \
	'[ $status -le 1 ] && [ "$(jq -r .fuzzers[0].executions "$work/vm.json")" -gt 0 ] && jq -e ".target == \"vm\"" "$work/vm.json" >/dev/null'
check "the fuzz step's log is the guest's console, with libFuzzer's figures" \
	'grep -l "RIPPLE-VM1 type=status" .ripple/logs/*.test.log | xargs grep -l "stat::number_of_executed_units" | grep -q .'
check "the corpus came back from the guest ($(find .ripple/fuzz/corpus/dns -type f | wc -l) inputs, $corpus_before before)" \
	'[ "$(find .ripple/fuzz/corpus/dns -type f | wc -l)" -ge "$corpus_before" ] && [ "$(jq -r .fuzzers[0].corpus_files "$work/vm.json")" -ge 0 ]'
if [ "$(jq -r '.fuzzers[0].crash != null' "$work/vm.json")" = true ]; then
	check "a crash found in the guest has the host's signature: $(crash vm signature)" '[ "$(crash vm signature)" = "$sig" ]'
fi
"$ripple" fuzz dns --target vm --reproduce "$repro" --signature "$sig" >"$work/vmr.txt" 2>&1
status=$?
check "the reproducer crashes in a VM with the same signature (exit $status; $(grep -m1 "crash" "$work/vmr.txt"))" \
	'[ $status -eq 1 ] && grep -qF "$sig" "$work/vmr.txt"'
check "... and its reproduce command names the target" 'grep -q "reproduce: ripple fuzz .* --target vm .* --reproduce " "$work/vmr.txt"'

# 6. Bad input.
for bad in "nosuch" "cstruct" "dns --seconds 0" "dns --signature x" "dns --reproduce /nonexistent" "dns --target nosuch"; do
	# shellcheck disable=SC2086
	"$ripple" fuzz $bad >/dev/null 2>"$work/bad.err"
	status=$?
	check "ripple fuzz $bad: exit 2 with one line ($(head -1 "$work/bad.err"))" \
		'[ $status -eq 2 ] && [ "$(wc -l <"$work/bad.err")" -eq 1 ]'
done

# 7. AFL++ (its own cache: nothing known from the libFuzzer runs above).
jq '(.packages[] | select(.name == "dns")) += {"fuzz_engine": "afl"}' ripple.json >afl.json
afl_cache=$work/afl-cache
# Like libFuzzer, afl-fuzz stops at its first crash: the budget is an upper bound.
"$ripple" fuzz -m afl.json dns --seconds 120 --cache "$afl_cache" --json >"$work/afl.json" 2>"$work/afl.err"
status=$?
check "AFL++ finds the planted crash (exit $status): $(crash afl signature)" \
	'[ $status -eq 1 ] && [ "$(crash afl signature)" = "$(crash one signature)" ] && [ "$(crash afl new)" = true ]'
check "afl-fuzz ran it: $(jq -r .fuzzers[0].executions "$work/afl.json") executions at $(jq -r .fuzzers[0].exec_per_sec "$work/afl.json")/s" \
	'jq -e ".fuzzers[0].executions > 0 and .fuzzers[0].exec_per_sec > 0 and .fuzzers[0].corpus_files > 0" "$work/afl.json" >/dev/null &&
	 grep -q "fuzzing for 120 s with AFL++" "$afl_cache"/logs/*.test.log'
afl_repro=$(crash afl reproducer)
"$ripple" fuzz -m afl.json dns --cache "$afl_cache" --reproduce "$afl_repro" >/dev/null 2>&1
check "its reproducer crashes at the head under AFL++'s driver (exit $?)" '[ $? -eq 1 ]'
"$ripple" fuzz -m afl.json dns --cache "$afl_cache" --rev "$parent" --reproduce "$afl_repro" >/dev/null 2>&1
check "... not at the crash commit's parent (exit $?)" '[ $? -eq 0 ]'
# Seeds that all crash: afl-fuzz will not start, and they are the crashes.
git -C repos/dns checkout -q -b afl-seeds main
mkdir -p repos/dns/fuzz/crashing && cp "$afl_repro" repos/dns/fuzz/crashing/seed
git -C repos/dns add fuzz/crashing && git -C repos/dns commit -qm "Seeds that crash"
crashing=$(git -C repos/dns rev-parse HEAD)
git -C repos/dns checkout -q main
jq '(.packages[] | select(.name == "dns") | .fuzz[0].corpus) = "fuzz/crashing"' afl.json >afl-crashing.json
"$ripple" fuzz -m afl-crashing.json dns --rev "$crashing" --seconds 30 --cache "$work/afl-cache2" --json \
	>"$work/afl2.json" 2>"$work/afl2.err"
status=$?
check "seeds that all crash are the crashes (exit $status): $(crash afl2 signature)" \
	'[ $status -eq 1 ] && [ "$(crash afl2 signature)" = "$(crash one signature)" ] &&
	 grep -q "afl-fuzz did not fuzz" "$work/afl-cache2"/logs/*.test.log'
jq '(.packages[] | select(.name == "dns")) += {"fuzz_engine": "honggfuzz"}' ripple.json >bad-engine.json
"$ripple" fuzz -m bad-engine.json dns >/dev/null 2>"$work/bad.err"
status=$?
check "an unknown engine: exit 2 with one line naming it ($(head -1 "$work/bad.err"))" \
	'[ $status -eq 2 ] && [ "$(wc -l <"$work/bad.err")" -eq 1 ] && grep -q "fuzz_engine.*honggfuzz" "$work/bad.err"'
"$ripple" fuzz -m afl.json dns --target vm >/dev/null 2>"$work/bad.err"
status=$?
check "AFL++ in a guest: exit 2 with one line ($(head -1 "$work/bad.err"))" \
	'[ $status -eq 2 ] && [ "$(wc -l <"$work/bad.err")" -eq 1 ]'

echo "1..$n"
[ "$failures" -eq 0 ]
