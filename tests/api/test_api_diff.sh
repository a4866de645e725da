#!/usr/bin/env bash
# `ripple api-diff` and `ripple api-report` on the example universe: real
# builds of cstruct at two revisions (-g added by the build engine, abidw after
# the build), abidiff, and ripple's classification. The planted addition
# (minor bump, enough) and break (major bump, SONAME change); a removal this
# script commits with only a minor bump (exit 1, NOT enough); the same diff by
# build keys; a build without debug info (the weaker method, said so); and bad
# input, each exit status 2 with one line on stderr: a damaged and a missing
# ABI dump, a package without an api block, a revision that does not exist.
#   test_api_diff.sh PATH-TO-examples/generate PATH-TO-ripple
set -uo pipefail
generate=$(realpath "${1:?usage: test_api_diff.sh GENERATE RIPPLE}")
ripple=$(realpath "${2:?usage: test_api_diff.sh GENERATE RIPPLE}")
work=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
. "$(dirname "${BASH_SOURCE[0]}")/../farm/lib.sh"
command -v abidw >/dev/null && command -v abidiff >/dev/null || fatal "abidw or abidiff is missing: run scripts/setup"

U=$work/u
"$generate" "$U" >/dev/null || fatal "the example universe could not be generated"
# No VM here: the vm target is dropped, as the other tests do.
M=$U/local.json
jq 'del(.targets.vm) | (.packages[] | select(.targets) | .targets) |= map(select(. != "vm"))' \
	"$U/ripple.json" >"$M" || fatal "cannot write the local manifest"
CACHE=$work/cache
S=$U/scenarios.json
sc() { jq -r ".scenarios.$1" "$S"; }
# api RESULT-NAME ARGS...: runs ripple with the manifest and cache; stdout, stderr and status in $work/NAME.*
api() {
	local name=$1
	shift
	"$ripple" "$@" >"$work/$name.out" 2>"$work/$name.err"
	echo $? >"$work/$name.status"
}
status_of() { cat "$work/$1.status"; }
# j NAME FILTER: jq over a JSON result
j() { jq -r "$2" "$work/$1.out"; }
one_line_err() { [ "$(wc -l <"$work/$1.err")" -eq 1 ] && [ -s "$work/$1.err" ]; }

# ---- the planted addition: cstruct 1.0.0 -> 1.1.0 adds cs_get_be32 and cs_set_be32 -------------
api add api-diff -m "$M" --cache "$CACHE" --json cstruct "$(sc api_addition.good)" "$(sc api_addition.commit)"
check "addition: exit 0 ($(status_of add): $(head -c 300 "$work/add.err"))" '[ "$(status_of add)" = 0 ]'
check "addition: only compatible \"function added\" changes" \
	'[ "$(j add ".changes | length")" -ge 1 ] &&
	 [ "$(j add "[.changes[] | select(.kind != \"function added\" or .api_breaking or .abi_breaking)] | length")" = 0 ]'
check "addition: the functions added are exactly the scenario's ($(j add '[.changes[].name] | join(",")'))" \
	'[ "$(j add "[.changes[].name] | sort | join(\",\")")" = "$(jq -r ".scenarios.api_addition.added | sort | join(\",\")" "$S")" ]'
check "addition: each with its new prototype" \
	'[ "$(j add "[.changes[] | select(.before == null and (.after | test(\"cs_[gs]et_be32\\\\(\")))] | length")" = "$(j add ".changes | length")" ]'
check "addition: versions are the scenario's, a minor bump, enough" \
	'[ "$(j add ".versions.old")" = "$(sc api_addition.version_before)" ] && [ "$(j add ".versions.new")" = "$(sc api_addition.version_after)" ] &&
	 [ "$(j add ".semver | [.needed, .made, .enough, .parsed] | join(\" \")")" = "minor minor true true" ]'
check "addition: not the weaker method" '[ "$(j add .weaker)" = false ]'

# ---- the planted break: cstruct 1.1.0 -> 2.0.0 changes cs_get_be16 ------------------------------
symbol=$(sc api_break.symbol)
api brk api-diff -m "$M" --cache "$CACHE" --json cstruct "$(sc api_break.good)" "$(sc api_break.commit)"
check "break: exit 0, the major bump is enough ($(status_of brk): $(head -c 300 "$work/brk.err"))" '[ "$(status_of brk)" = 0 ]'
check "break: $symbol is one \"function changed\", breaking the API and the ABI" \
	'[ "$(j brk "[.changes[] | select(.name == \"$symbol\")] | length")" = 1 ] &&
	 [ "$(j brk ".changes[] | select(.name == \"$symbol\") | [.kind, .api_breaking, .abi_breaking] | join(\" \")")" = "function changed true true" ]'
check "break: the detail says what changed (its return type, a parameter added)" \
	'j brk ".changes[] | select(.name == \"$symbol\") | .detail" | grep -q "return type changed" &&
	 j brk ".changes[] | select(.name == \"$symbol\") | .detail" | grep -q "parameter 3 of type .uint16_t\\*. was added"'
check "break: the SONAME change, libcstruct.so.1 -> libcstruct.so.2, ABI only" \
	'[ "$(j brk ".changes[] | select(.kind == \"SONAME changed\") | [.before, .after, .api_breaking, .abi_breaking] | join(\" \")")" = "libcstruct.so.1 libcstruct.so.2 false true" ]'
check "break: nothing else changed" '[ "$(j brk ".changes | length")" = 2 ]'
check "break: semver needs major, made major" \
	'[ "$(j brk ".semver | [.needed, .made, .enough] | join(\" \")")" = "major major true" ] &&
	 [ "$(j brk ".versions | [.old, .new] | join(\" \")")" = "$(sc api_break.version_before) $(sc api_break.version_after)" ]'

# ---- the same diff by build keys: from the cache, the same changes -------------------------------
k_old=$(j brk .old.build_key) k_new=$(j brk .new.build_key)
api keys api-diff -m "$M" --cache "$CACHE" --json cstruct "$k_old" "$k_new"
check "by build keys: exit 0 and the same changes" \
	'[ "$(status_of keys)" = 0 ] && [ "$(j keys ".changes | length")" = 2 ] &&
	 [ "$(jq -c .changes "$work/keys.out")" = "$(jq -c .changes "$work/brk.out")" ] && [ "$(j keys .timing.cached)" = true ]'
check "by build keys: the same keys" '[ "$(j keys .old.build_key) $(j keys .new.build_key)" = "$k_old $k_new" ]'

# ---- a changelog with both kinds: from before the addition to the break ------------------------
api report api-report -m "$M" --cache "$CACHE" cstruct --from "$(sc api_addition.good)" --to "$(sc api_break.commit)"
b_line=$(grep -n '^### Breaking' "$work/report.out" | cut -d: -f1)
c_line=$(grep -n '^### Compatible' "$work/report.out" | cut -d: -f1)
check "api-report: exit 0 (1.0.0 -> 2.0.0)" '[ "$(status_of report)" = 0 ]'
check "api-report: \"### Breaking\" (line ${b_line:-none}) before \"### Compatible\" (line ${c_line:-none})" \
	'[ -n "$b_line" ] && [ -n "$c_line" ] && [ "$b_line" -lt "$c_line" ]'
check "api-report: $symbol under Breaking, cs_get_be32 under Compatible" \
	'sed -n "${b_line},${c_line}p" "$work/report.out" | grep -q "^- \*\*function changed\*\* .*$symbol" &&
	 sed -n "${c_line},\$p" "$work/report.out" | grep -q "^- \*\*function added\*\* .*cs_get_be32"'

# ---- a bump too small: cs_set_be32 removed, only the minor version bumped -----------------------
R=$U/repos/cstruct
before=$(git -C "$R" rev-parse HEAD)
version=$(sed -n 's/^VERSION = //p' "$R/Makefile")
minor=$(echo "$version" | awk -F. '{ printf "%d.%d.0", $1, $2 + 1 }')
(cd "$R" && sed -i '/cs_set_be32/d' include/cstruct.h && sed -i '/^int cs_set_be32/,/^}/d' src/cstruct.c &&
	sed -i '/cs_set_be32/d; /b\[1\] == 0x11/d' tests/test_cstruct.c &&
	sed -i "s/^VERSION = .*/VERSION = $minor/" Makefile &&
	git -c user.name=Tester -c user.email=tester@example.org commit -qam "Remove cs_set_be32 ($minor)") ||
	fatal "cannot commit the removal in $R"
removal=$(git -C "$R" rev-parse HEAD)
check "the removal commit removed cs_set_be32 from the header and bumped $version -> $minor" \
	'! git -C "$R" grep -q cs_set_be32 HEAD -- include src && [ "$(git -C "$R" show HEAD:Makefile | sed -n "s/^VERSION = //p")" = "$minor" ]'
api small api-diff -m "$M" --cache "$CACHE" cstruct "$before" "$removal"
check "too small a bump: exit 1 ($(status_of small): $(head -c 300 "$work/small.err"))" '[ "$(status_of small)" = 1 ]'
check "too small a bump: the Markdown says NOT enough, and why" \
	'grep -q "^\*\*Semver: .*$version.*$minor.*needs major: NOT enough\*\*$" "$work/small.out"'
check "too small a bump: cs_set_be32 removed, breaking" \
	'grep -q "^- \*\*function removed\*\* .int cs_set_be32(cstruct\*, size_t, uint32_t)..*breaks source and binary" "$work/small.out"'
check "too small a bump: not the weaker method" '! grep -q "_Compared by exported symbols" "$work/small.out"'
api small_json api-diff -m "$M" --cache "$CACHE" --json cstruct "$before" "$removal"
check "too small a bump (JSON): needed major, made minor, not enough; only cs_set_be32 removed" \
	'[ "$(status_of small_json)" = 1 ] && [ "$(j small_json ".semver | [.needed, .made, .enough] | join(\" \")")" = "major minor false" ] &&
	 [ "$(j small_json "[.changes[] | [.kind, .name] | join(\":\")] | join(\",\")")" = "function removed:cs_set_be32" ]'

# ---- no debug info: CFLAGS=-g0, so ripple adds no -g; the weaker method, said so ----------------
M0=$U/nodebug.json
jq '(.packages[] | select(.name == "cstruct") | .env) = {"CFLAGS": "-g0"}' "$M" >"$M0" || fatal "cannot write the -g0 manifest"
api g0 api-diff -m "$M0" --cache "$CACHE" --json cstruct "$before" "$removal"
check "no debug info: exit 1 (the same removal, the same minor bump: $(status_of g0): $(head -c 300 "$work/g0.err"))" \
	'[ "$(status_of g0)" = 1 ]'
check "no debug info: \"weaker\": true" '[ "$(j g0 .weaker)" = true ]'
check "no debug info: other builds than with debug info" \
	'[ "$(j g0 .old.build_key)" != "$(j small_json .old.build_key)" ] && [ "$(j g0 .new.build_key)" != "$(j small_json .new.build_key)" ]'
check "no debug info: still finds cs_set_be32 removed, with its header prototype" \
	'[ "$(j g0 ".changes[] | select(.name == \"cs_set_be32\") | [.kind, .api_breaking, .abi_breaking] | join(\" \")")" = "function removed true true" ] &&
	 j g0 ".changes[] | select(.name == \"cs_set_be32\") | .before" | grep -q "^int cs_set_be32(cstruct \*c, size_t off, uint32_t v)$"'
check "no debug info: and nothing else (no types are seen)" '[ "$(j g0 ".changes | length")" = 1 ]'
api g0_md api-diff -m "$M0" --cache "$CACHE" cstruct "$before" "$removal"
check "no debug info: the Markdown says it compared symbols and header prototypes only" \
	'[ "$(status_of g0_md)" = 1 ] && grep -q "^_Compared by exported symbols and header prototypes only (no debug info)" "$work/g0_md.out"'

# ---- bad input: exit 2, one line on stderr --------------------------------------------------------
api noapi api-diff -m "$M" --cache "$CACHE" dns "$(sc api_break.good)" "$(sc api_break.commit)"
check "a package without an api block: exit 2, one line naming it ($(head -c 200 "$work/noapi.err"))" \
	'[ "$(status_of noapi)" = 2 ] && one_line_err noapi && grep -q "dns" "$work/noapi.err" && grep -q "api" "$work/noapi.err" && [ ! -s "$work/noapi.out" ]'
api norev api-diff -m "$M" --cache "$CACHE" cstruct "$(sc api_break.good)" no-such-revision
check "an unknown revision: exit 2, one line naming it ($(head -c 200 "$work/norev.err"))" \
	'[ "$(status_of norev)" = 2 ] && one_line_err norev && grep -q "no-such-revision" "$work/norev.err" && [ ! -s "$work/norev.out" ]'
missing=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
api missing api-diff -m "$M" --cache "$CACHE" cstruct "$k_old" "$missing"
check "a missing ABI dump (unknown key): exit 2, one line ($(head -c 200 "$work/missing.err"))" \
	'[ ${#missing} = 64 ] && [ "$(status_of missing)" = 2 ] && one_line_err missing && grep -q "${missing:0:12}" "$work/missing.err" && [ ! -s "$work/missing.out" ]'
dump=$CACHE/artifacts/${k_new:0:2}/$k_new.abi.json
check "the new side's ABI dump is in the cache ($dump)" '[ -s "$dump" ] && jq -e ".abixml and .symbols" "$dump" >/dev/null'
truncate -s $(($(stat -c %s "$dump") / 2)) "$dump"
api corrupt api-diff -m "$M" --cache "$CACHE" cstruct "$k_old" "$k_new"
check "a damaged ABI dump: exit 2, one line naming it ($(head -c 200 "$work/corrupt.err"))" \
	'[ "$(status_of corrupt)" = 2 ] && one_line_err corrupt && grep -q "$k_new" "$work/corrupt.err" && grep -qi "abi dump" "$work/corrupt.err" && [ ! -s "$work/corrupt.out" ]'

echo "1..$n"
[ "$failures" -eq 0 ]
