#!/usr/bin/env bash
# Runs the real `ripple` binary: every command in the table answers help, and
# exit statuses and error lines are what the README promises.
set -uo pipefail
ripple=$(realpath "${1:?usage: test_cli.sh PATH-TO-RIPPLE}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
n=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failures=$((failures + 1)); echo "not ok $n - $1"; }
# expect STATUS DESCRIPTION -- COMMAND...: runs it, keeps stdout/stderr in $out/$err
expect() {
	local want=$1 what=$2
	shift 3
	"$@" >"$work/out" 2>"$work/err"
	local got=$?
	out=$(cat "$work/out")
	err=$(cat "$work/err")
	if [ "$got" -eq "$want" ]; then ok "$what (exit $got)"; else not_ok "$what: exit $got, want $want; stderr: $err"; fi
}
contains() { if grep -qF -- "$2" <<<"$1"; then ok "$3"; else not_ok "$3: '$2' not in: $1"; fi; }
one_line() { if [ "$(printf '%s\n' "$1" | wc -l)" -eq 1 ] && [ -n "$1" ]; then ok "$2 is one line"; else not_ok "$2 is not one line: $1"; fi; }

expect 0 "ripple help" -- "$ripple" help
commands=$(awk '/^Commands:/{on=1; next} on && /^  [a-z]/{print $1} on && /^$/{on=0}' "$work/out")
[ "$(wc -w <<<"$commands")" -ge 6 ] && ok "help lists the commands" || not_ok "help lists the commands: $commands"
for c in $commands; do
	expect 0 "ripple help $c" -- "$ripple" help "$c"
	contains "$out" "usage: ripple $c" "help $c shows its usage"
	expect 0 "ripple $c --help" -- "$ripple" "$c" --help
	contains "$out" "usage: ripple $c" "$c --help shows its usage"
done
expect 0 "ripple --version" -- "$ripple" --version
contains "$out" "ripple 0." "--version names ripple"
expect 2 "unknown command" -- "$ripple" frobnicate
one_line "$err" "unknown command error"
contains "$err" "'frobnicate' is not a ripple command" "unknown command is named"
expect 2 "help of an unknown command" -- "$ripple" help frobnicate
expect 2 "no command" -- "$ripple"
contains "$err" "expected a command" "no command is a usage error on stderr"
[ -z "$out" ] && ok "no command prints nothing on stdout" || not_ok "no command printed: $out"

cat >"$work/ripple.json" <<'JSON'
{
  "universe": "cli",
  "targets": { "unix": { "runner": "sandbox" } },
  "packages": [
    { "name": "top", "repo": "repos/top", "depends": ["low"], "build": "make" },
    { "name": "low", "repo": "repos/low", "build": "make" },
    { "name": "side", "repo": "repos/side", "depends": ["low"], "build": "make" }
  ]
}
JSON
cd "$work"
expect 0 "check the default manifest" -- "$ripple" check
contains "$out" 'universe "cli" is valid: 3 packages, 2 dependencies, 1 targets' "check summary"
expect 0 "check --json" -- "$ripple" check --json ripple.json
contains "$out" '"valid": true' "check --json says valid"
expect 0 "revdeps low" -- "$ripple" revdeps low
[ "$out" = $'side\ntop' ] && ok "revdeps in build order, ties by name" || not_ok "revdeps output: $out"
expect 0 "revdeps --json" -- "$ripple" revdeps --json top
contains "$out" '"revdeps": []' "revdeps of a leaf is empty"
expect 2 "revdeps of an unknown package" -- "$ripple" revdeps nope
one_line "$err" "unknown package error"
expect 2 "revdeps without packages" -- "$ripple" revdeps
expect 0 "plan of the whole universe" -- "$ripple" plan
contains "$out" "plan: 3 jobs for 3 packages, 2 edges" "plan summary"
expect 0 "plan of a change" -- "$ripple" plan --change top=abc --json
contains "$out" '"jobs_count": 1' "plan of a leaf change has one job"
expect 2 "plan of an unknown package" -- "$ripple" plan --change lwo=1
contains "$err" 'did you mean "low"?' "plan suggests the package"
expect 2 "plan with a bad option" -- "$ripple" plan --frob
contains "$err" "see 'ripple help plan'" "bad option points at help"

printf '{"universe": "x",\n "targets": {"unix": {"runner": "sandbox"}},\n "packages": [{"name": "a", "repo": "r", "buld": "make"}]}\n' >bad.json
expect 2 "check a bad manifest" -- "$ripple" check bad.json
one_line "$err" "manifest error"
contains "$err" 'bad.json:3:42: unknown key "buld" in package 1; did you mean "build"?' "manifest error names line, column and the fix"
expect 2 "check --json of a bad manifest" -- "$ripple" check --json bad.json
contains "$out" '"valid": false' "check --json reports invalid on stdout"
contains "$out" '"line": 3' "check --json gives the line"
contains "$out" '"column": 42' "check --json gives the column"
mkfifo pipe.json
expect 2 "check of a FIFO does not block" -- timeout 10 "$ripple" check pipe.json
contains "$err" "not a regular file" "FIFO is refused"
expect 2 "check a missing file" -- "$ripple" check missing.json
contains "$err" "missing.json: cannot open the manifest" "missing file error"

expect 0 "db migrate creates the store" -- "$ripple" db migrate --db store.db
contains "$out" "store.db: schema version" "db migrate names the version"
expect 0 "db check of a fresh store" -- "$ripple" db check --db store.db
contains "$out" "store.db: ok" "db check says ok"
expect 0 "db check --json" -- "$ripple" db check --db store.db --json
contains "$out" '"integrity": "ok"' "db check --json reports integrity"
expect 2 "db check of a missing store" -- "$ripple" db check --db absent.db
one_line "$err" "missing store error"
[ ! -e absent.db ] && ok "db check does not create a store" || not_ok "db check created absent.db"
printf 'this is not a database, just text that is long enough to fill a header......\n' >junk.db
expect 2 "db check of a file that is not a database" -- "$ripple" db check --db junk.db
contains "$err" "junk.db: not an SQLite database" "foreign file error"
if command -v sqlite3 >/dev/null; then
	sqlite3 store.db 'PRAGMA user_version = 99;'
	expect 2 "db migrate refuses a newer schema" -- "$ripple" db migrate --db store.db
	contains "$err" "store.db: database schema version 99 is newer than this ripple supports" "newer schema error"
else
	not_ok "sqlite3 is missing; scripts/setup installs it"
fi
expect 2 "db without a subcommand" -- "$ripple" db

expect 2 "build without --change or --all" -- "$ripple" build
contains "$err" "nothing to build" "build says what it needs"
expect 2 "build with a bad -j" -- "$ripple" build --all -j 0
contains "$err" "-j expects a number of job slots from 1 to 256" "bad -j is explained"
expect 2 "test-change of an unknown package" -- "$ripple" test-change lwo=1
contains "$err" 'did you mean "low"?' "test-change takes its change as an operand and suggests the package"
expect 2 "build --only an unknown package" -- "$ripple" build --all --only lwo
contains "$err" '--only lwo: no such package in ripple.json; did you mean "low"?' "--only suggests the package"
expect 2 "test-change --target an unknown target" -- "$ripple" test-change low=1 --target vm
contains "$err" "--target vm: no such target" "test-change checks --target"
expect 2 "test-change with a bad --retries" -- "$ripple" test-change low=1 --retries 0
contains "$err" "--retries expects a number of runs from 1 to 20" "bad --retries is explained"

# The farm's commands: bad usage and bad input are exit 2 with one line, before any network.
expect 2 "serve with a bad --listen" -- "$ripple" serve --listen nowhere --db farm.db
one_line "$err" "serve --listen error"
contains "$err" "expected ADDR:PORT" "serve says what --listen takes"
expect 2 "serve with a bad manifest" -- "$ripple" serve --universe bad.json --db farm.db
contains "$err" "bad.json:3:" "serve names the manifest's line"
expect 2 "serve --workers out of range" -- "$ripple" serve --workers 1000
expect 2 "worker without --server" -- "$ripple" worker --token-file ripple.json
one_line "$err" "worker without --server error"
: >empty-token
expect 2 "worker with an empty token file" -- "$ripple" worker --server http://127.0.0.1:9 --token-file empty-token
one_line "$err" "worker empty token error"
expect 2 "worker with a bad name" -- "$ripple" worker --server http://127.0.0.1:9 --token-file ripple.json --name "a b"
expect 2 "submit with a malformed --change" -- "$ripple" submit --change lowonly
contains "$err" "--change lowonly: expected PACKAGE=REVISION" "submit explains --change"
expect 2 "status of a run id that is not a number" -- "$ripple" status abc
expect 2 "logs without a job" -- "$ripple" logs
expect 2 "cancel of run 0" -- "$ripple" cancel 0
expect 2 "submit with a missing token file" -- "$ripple" submit --token-file absent-token
contains "$err" "absent-token" "submit names the missing token file"
expect 1 "status when no scheduler answers" -- "$ripple" status --server http://127.0.0.1:9
one_line "$err" "unreachable scheduler error"

if [ -w /dev/full ]; then
	expect 1 "write error on stdout is reported" -- sh -c "\"$ripple\" help >/dev/full"
fi

echo "1..$n"
[ "$failures" -eq 0 ]
