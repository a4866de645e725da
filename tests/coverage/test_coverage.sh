#!/usr/bin/env bash
# Coverage of real gcc --coverage builds against gcovr: every package of the
# example universe is built with --coverage (CFLAGS/LDFLAGS appended, its own
# build files untouched) against its dependencies' installed prefixes, its
# tests run, and `ripple coverage ingest` must give gcovr's figures exactly —
# lines, branches and functions, per file and in total — on the same .gcda
# files; the dependencies' headers are left out. Then exclusion markers, the
# exports (lcov --summary reads the tracefile, xmllint the Cobertura XML) and
# bad input: no .gcda, a .gcda of another compiler, truncated and foreign gcov
# JSON (through a gcov stand-in), each a one-line error and exit status 2.
#   test_coverage.sh PATH-TO-examples/generate PATH-TO-ripple
set -uo pipefail
generate=$(realpath "${1:?usage: test_coverage.sh GENERATE RIPPLE}")
ripple=$(realpath "${2:?usage: test_coverage.sh GENERATE RIPPLE}")
work=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
. "$(dirname "${BASH_SOURCE[0]}")/../farm/lib.sh"
command -v gcovr >/dev/null || fatal "gcovr is missing: run scripts/setup"

U=$work/u
"$generate" "$U" >/dev/null || fatal "the example universe could not be generated"
# gcovr's summary as [lines covered, total, branches covered, total, functions covered, total].
gcovr_totals() { gcovr -r "$1" --json-summary -b 2>/dev/null | jq -c '[.line_covered, .line_total, .branch_covered, .branch_total, .function_covered, .function_total]'; }
gcovr_files() { gcovr -r "$1" --json-summary -b 2>/dev/null | jq -c '[.files[] | [.filename, .line_covered, .line_total, .branch_covered, .branch_total, .function_covered, .function_total]] | sort'; }
ripple_totals() { jq -c '.totals | [.lines.covered, .lines.total, .branches.covered, .branches.total, .functions.covered, .functions.total]' "$1"; }
ripple_files() { jq -c '[.files[] | [.path, .totals.lines.covered, .totals.lines.total, .totals.branches.covered, .totals.branches.total, .totals.functions.covered, .totals.functions.total]] | sort' "$1"; }

pkgconfig=
for pkg in cstruct ipaddr checkseum ethif dns tcpip unikernel; do
	build=$(jq -r --arg p "$pkg" '.packages[] | select(.name == $p) | .build' "$U/ripple.json")
	test=$(jq -r --arg p "$pkg" '.packages[] | select(.name == $p) | .test' "$U/ripple.json")
	prefix=$work/prefix/$pkg
	libs=$(ls -d "$work"/prefix/*/lib 2>/dev/null | paste -sd: -)
	(cd "$U/repos/$pkg" && export CFLAGS=--coverage LDFLAGS=--coverage RIPPLE_PREFIX=$prefix \
		PKG_CONFIG_PATH=$pkgconfig LD_LIBRARY_PATH=$libs && sh -c "$build" && sh -c "$test") >"$work/$pkg.log" 2>&1
	pkgconfig=$pkgconfig${pkgconfig:+:}$prefix/lib/pkgconfig
	"$ripple" coverage ingest "$U/repos/$pkg" --format json -o "$work/$pkg.json" 2>"$work/$pkg.err"
	status=$?
	[ $status -eq 0 ] || echo "# $pkg: $(cat "$work/$pkg.err")" >&2
	if [ "$pkg" = dns ]; then
		dns_status=$status
		continue # below: gcovr's one phantom branch
	fi
	check "$pkg: ripple's totals are gcovr's ($(ripple_totals "$work/$pkg.json" 2>/dev/null))" \
		'[ $status -eq 0 ] && [ -n "$(ripple_totals "$work/$pkg.json")" ] && [ "$(ripple_totals "$work/$pkg.json")" = "$(gcovr_totals "$U/repos/$pkg")" ]'
	check "$pkg: and so is every file's" '[ "$(ripple_files "$work/$pkg.json")" = "$(gcovr_files "$U/repos/$pkg")" ]'
done
# dns is built twice: for its tests and, with other flags, for its fuzz target, which never
# runs. gcovr 5.2 reads gcov's text output, which numbers a line's calls and branches in one
# sequence: in the fuzz unit, line 23 of src/dns.c has "call 0", "branch 1", "branch 2"; in
# the test unit "branch 0", "branch 1". gcovr adds them up by number and counts 3 branches
# there; there are 2 (gcov's JSON says so for both units), which is what ripple counts. Every
# other figure must be equal, and that line must be the only difference.
per_line() { # per_line JSON-FROM: "file:line branches" of every line with branches
	if [ "$1" = gcovr ]; then
		gcovr -r "$U/repos/dns" --json -b 2>/dev/null | jq -r '.files[] | .file as $f | .lines[] | select(.["gcovr/noncode"] | not) | select(.branches | length > 0) | "\($f):\(.line_number) \(.branches | length)"' | sort
	else
		jq -r '.files[] | .path as $f | .lines[] | select(.[2] | length > 0) | "\($f):\(.[0]) \(.[2] | length)"' "$work/dns.json" | sort
	fi
}
check "dns: lines and functions are gcovr's, per file and in total" \
	'[ "$dns_status" -eq 0 ] && [ "$(ripple_totals "$work/dns.json" | jq -c "[.[0], .[1], .[4], .[5]]")" = "$(gcovr_totals "$U/repos/dns" | jq -c "[.[0], .[1], .[4], .[5]]")" ] &&
	 [ "$(ripple_files "$work/dns.json" | jq -c "map([.[0], .[1], .[2], .[5], .[6]])")" = "$(gcovr_files "$U/repos/dns" | jq -c "map([.[0], .[1], .[2], .[5], .[6]])")" ]'
check "dns: branches differ only on src/dns.c:23, where gcovr numbers a call of the fuzz unit as a branch" \
	'[ "$(diff <(per_line gcovr) <(per_line ripple) | grep "^[<>]" | tr "\n" " ")" = "< src/dns.c:23 3 > src/dns.c:23 2 " ] &&
	 (cd "$U/repos/dns" && gcov -b -c fuzz/decode_name-dns.gcno >/dev/null 2>&1 && sed -n "/:   23:/,/:   24:/p" dns.c.gcov | grep -q "^call    0"; st=$?; rm -f ./*.gcov; exit $st)'

check "a dependency's installed headers are left out (checkseum's files are its own)" \
	'[ "$(jq -r "[.files[].path | select(startswith(\"/\") or contains(\"prefix\"))] | length" "$work/checkseum.json")" = 0 ] &&
	 [ "$(jq -r "[.files[].path] | length" "$work/checkseum.json")" -ge 2 ]'
check "the branches were really measured (tcpip has some taken and some not)" \
	'[ "$(jq ".totals.branches.covered" "$work/tcpip.json")" -gt 0 ] && [ "$(jq ".totals.branches.covered < .totals.branches.total" "$work/tcpip.json")" = true ]'

# Exclusion markers, as gcovr reads them.
X=$work/excl
mkdir -p "$X"
cat >"$X/x.c" <<'C'
#include <stdio.h>
int odd(int x)
{
	if (x % 2) // LCOV_EXCL_LINE
		return 1;
	/* GCOVR_EXCL_START */
	if (x > 100)
		printf("big\n");
	/* GCOVR_EXCL_STOP */
	if (x < 0 && x > -10) // LCOV_EXCL_BR_LINE
		return -1;
	return 0;
}
int never(void)
{
	return 42;
}
int main(int argc, char **argv)
{
	(void)argv;
	return odd(argc) + odd(argc + 1) - 1;
}
C
(cd "$X" && gcc --coverage -O0 -o x x.c && ./x)
"$ripple" coverage ingest "$X" --format json -o "$work/x1.json"
# The same project in git, then a change of it, built and run: the head's report.
git -C "$X" init -q && git -C "$X" add x.c && git -C "$X" -c user.name=t -c user.email=t@example.org commit -qm v1
head -17 "$X/x.c" >"$X/x2.c"
cat >>"$X/x2.c" <<'C'
int added(int x)
{
	if (x > 5) /* a big one */
		return 1;
	// nothing
	return 0;
}
int main(int argc, char **argv)
{
	(void)argv;
	return odd(argc) + odd(argc + 1) - 1 + added(argc);
}
C
mv "$X/x2.c" "$X/x.c"
git -C "$X" -c user.name=t -c user.email=t@example.org commit -qam v2
rm -f "$X"/*.gcda "$X"/*.gcno
(cd "$X" && gcc --coverage -O0 -o x x.c && ./x)
"$ripple" coverage ingest "$X" --format json -o "$work/x.json"
check "exclusion markers: totals equal gcovr's ($(ripple_totals "$work/x.json"))" \
	'[ "$(ripple_totals "$work/x.json")" = "$(gcovr_totals "$X")" ]'
check "the excluded lines are not in the report, the branch-excluded line keeps its line" \
	'[ "$(jq -c "[.files[0].lines[][0] | select(. == 4 or . == 7 or . == 8)]" "$work/x.json")" = "[]" ] &&
	 [ "$(jq -c "[.files[0].lines[] | select(.[0] == 10) | (.[2] | length)]" "$work/x.json")" = "[0]" ] &&
	 [ "$(jq -c "[.files[0].lines[] | select(.[0] == 16)][0][1]" "$work/x.json")" = 0 ]'

"$ripple" coverage ingest "$U/repos/tcpip" --json -o "$work/summary.json"
check "--json is the summary: the same totals and files, no lines" \
	'[ "$(ripple_totals "$work/summary.json")" = "$(ripple_totals "$work/tcpip.json")" ] &&
	 [ "$(ripple_files "$work/summary.json")" = "$(ripple_files "$work/tcpip.json")" ] &&
	 [ "$(jq "[.files[] | select(has(\"lines\"))] | length" "$work/summary.json")" = 0 ]'

# Patch coverage: the lines v2 adds or changes (git diff -U0), those gcovr counts, those that ran.
added_lines=$(git -C "$X" diff -U0 HEAD~1 HEAD -- x.c | sed -n 's/^@@ -[0-9,]* +\([0-9]*\)\(,\([0-9]*\)\)\? @@.*/\1 \3/p' |
	while read -r start count; do count=${count:-1}; for ((l = start; l < start + count; l++)); do echo "$l"; done; done | sort -n | paste -sd, -)
gcovr -r "$X" --json -b 2>/dev/null | jq -c --argjson added "[$added_lines]" '
	[.files[] | select(.file == "x.c") | .lines[] | select((.["gcovr/noncode"] | not) and (.line_number as $l | $added | any(. == $l)))] |
	[(map(select(.count > 0)) | length), length]' >"$work/patch.want"
"$ripple" coverage patch --repo "$X" --base HEAD~1 --head HEAD --base-report "$work/x1.json" --json "$work/x.json" >"$work/patch.json"
status=$?
check "patch coverage of v1..v2: $(jq -c "[.patch.covered, .patch.total]" "$work/patch.json" 2>/dev/null) of the lines the diff adds (${added_lines}), as gcovr counts them: $(cat "$work/patch.want")" \
	'[ $status -eq 0 ] && [ -n "$added_lines" ] && [ "$(jq -c "[.patch.covered, .patch.total]" "$work/patch.json")" = "$(cat "$work/patch.want")" ] &&
	 [ "$(jq .patch.total "$work/patch.json")" -gt "$(jq .patch.covered "$work/patch.json")" ] &&
	 [ "$(jq -r ".files[0].path" "$work/patch.json")" = x.c ] && [ "$(jq -c ".files[0].missed" "$work/patch.json")" = "[21]" ]'
check "and the project's line coverage before and after" \
	'[ "$(jq -r ".project | [.base, .head] | map(. * 100 | round) | join(\",\")" "$work/patch.json")" = "$(jq -r ".totals.lines.percent * 100 | round" "$work/x1.json"),$(jq -r ".totals.lines.percent * 100 | round" "$work/x.json")" ]'

# Exports.
"$ripple" coverage export --format lcov -o "$work/tcpip.info" "$work/tcpip.json"
status=$?
if command -v lcov >/dev/null; then
	lcov --rc lcov_branch_coverage=1 --summary "$work/tcpip.info" >"$work/lcov.out" 2>&1
	figure() { sed -n "s/^ *$1\.*: [0-9.]*% (\([0-9]*\) of \([0-9]*\) .*/\1 \2/p" "$work/lcov.out"; }
	check "lcov reads the tracefile and finds the same figures" \
		'[ $status -eq 0 ] && [ "$(figure lines)" = "$(jq -r ".totals.lines | \"\(.covered) \(.total)\"" "$work/tcpip.json")" ] &&
		 [ "$(figure functions)" = "$(jq -r ".totals.functions | \"\(.covered) \(.total)\"" "$work/tcpip.json")" ] &&
		 [ "$(figure branches)" = "$(jq -r ".totals.branches | \"\(.covered) \(.total)\"" "$work/tcpip.json")" ]'
else
	not_ok "lcov is missing: run scripts/setup"
fi
"$ripple" coverage export --format cobertura -o "$work/tcpip.xml" "$work/tcpip.json"
status=$?
if command -v xmllint >/dev/null; then
	check "the Cobertura XML is well-formed and says the line rate" \
		'[ $status -eq 0 ] && xmllint --noout "$work/tcpip.xml" &&
		 [ "$(xmllint --xpath "string(/coverage/@lines-valid)" "$work/tcpip.xml")" = "$(jq .totals.lines.total "$work/tcpip.json")" ]'
else
	not_ok "xmllint is missing: run scripts/setup"
fi
"$ripple" coverage export --format json -o "$work/again.json" "$work/tcpip.json"
check "the JSON export reads back what ingest wrote" \
	'[ "$(jq -S -c . "$work/again.json")" = "$(jq -S -c . "$work/tcpip.json")" ]'

# Bad input: one line, exit status 2.
bad() { # bad DESCRIPTION EXPECTED-TEXT COMMAND...
	local desc=$1 want=$2
	shift 2
	"$@" >/dev/null 2>"$work/bad.err"
	local st=$?
	check "$desc: exit $st, '$(head -c 200 "$work/bad.err")'" \
		'[ $st -eq 2 ] && [ "$(wc -l <"$work/bad.err")" -eq 1 ] && grep -q -- "$want" "$work/bad.err"'
}
mkdir -p "$work/empty"
bad "a directory without .gcda files" "no .gcda or .gcno file under it" "$ripple" coverage ingest "$work/empty"
if command -v clang >/dev/null; then
	mkdir -p "$work/clang"
	printf 'int main(void) { return 0; }\n' >"$work/clang/m.c"
	(cd "$work/clang" && clang --coverage -o m m.c && ./m)
	bad "a .gcda written by another compiler (clang)" "written by another compiler or gcc version" \
		"$ripple" coverage ingest "$work/clang"
fi
# A gcov stand-in that writes a damaged document for each .gcda it is given.
fake() { # fake NAME CONTENT: a gcov that writes CONTENT on stdout for every .gcda
	cat >"$work/$1" <<SH
#!/bin/sh
for f in "\$@"; do
	case \$f in *.gcda) printf '%s\n' '$2' ;; esac
done
SH
	chmod +x "$work/$1"
}
fake gcov-truncated '{"format_version": "1", "gcc_version": "12.2.0", "files": [{"file": "a.c", "lines": [{"line_n'
fake gcov-foreign '{"format_version": "7", "gcc_version": "99.0", "files": []}'
fake gcov-shape '{"format_version": "1", "gcc_version": "12.2.0", "current_working_directory": "'"$X"'", "files": [{"file": "x.c", "lines": [{"line_number": -3, "count": 1}]}]}'
bad "a truncated gcov JSON document" "not a gcov JSON document" "$ripple" coverage ingest "$X" --gcov "$work/gcov-truncated"
bad "a JSON document of another gcov format" 'format_version "7"; expected "1" or "2"' "$ripple" coverage ingest "$X" --gcov "$work/gcov-foreign"
bad "a line number that is not one" 'files\[0\].lines\[0\]: expected' "$ripple" coverage ingest "$X" --gcov "$work/gcov-shape"
printf '{"root": "/x", "files": [{"path": "a.c", "lines": [[5, 1, []], [3, 1, []]], "functions": []}]}' >"$work/unsorted.json"
bad "a ripple report whose lines are out of order" "expected \[LINE (ascending)" "$ripple" coverage export --format lcov "$work/unsorted.json"
bad "an unknown export format" "expected json, lcov or cobertura" "$ripple" coverage export --format html "$work/x.json"
bad "patch with an unknown revision" "unknown revision 'nosuch'" "$ripple" coverage patch --repo "$X" --base nosuch --head HEAD "$work/x.json"
echo "1..$n"
[ "$failures" -eq 0 ]
