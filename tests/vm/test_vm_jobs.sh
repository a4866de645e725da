#!/usr/bin/env bash
# VM jobs of the example universe, end to end: the real `ripple` builds each
# package of the vm target in bubblewrap and tests it in a throwaway QEMU guest
# that holds only its guest block's payload and the libraries it needs.
#  1. `ripple build --target vm`: every vm job passes; its test log is the
#     guest's console, with the tests' output and the framed status line.
#  2. A test that fails inside the guest is a `fail` of the test step with the
#     failing check as its first error; a guest that never reports is a
#     `timeout`; a kernel panic is an `error` (infrastructure) with the
#     console's tail; a payload pattern that matches nothing fails with one line.
#  3. A farm (`ripple serve --workers 2`) runs a nightly of the vm target; the
#     job's log served by the API is the console, and so is the dashboard's
#     job page in Chromium (tests/web/vm_log_page.js).
#  4. Nothing is left: no initramfs in TMPDIR, no QEMU process.
#   test_vm_jobs.sh PATH-TO-examples/generate PATH-TO-ripple
set -uo pipefail
generate=$(realpath "${1:?usage: test_vm_jobs.sh GENERATE RIPPLE}")
ripple=$(realpath "${2:?usage: test_vm_jobs.sh GENERATE RIPPLE}")
work=$(mktemp -d)
serve_pid=
cleanup() {
	{
		[ -n "$serve_pid" ] && kill -9 "$serve_pid"
		pkill -9 -f "$work/cache/worker-"
		pkill -9 -f "qemu-system.*$work"
		wait
	} 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
. "$(dirname "${BASH_SOURCE[0]}")/../farm/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
[ -d "$here/../web/node_modules/playwright-core" ] || fatal "tests/web/node_modules/playwright-core is missing: run scripts/setup"

mkdir -p "$work/tmp"
export TMPDIR=$work/tmp
U=$work/u
"$generate" "$U" >/dev/null || fatal "the example universe could not be generated"
cd "$U"
# checkseum's second test is flaky on purpose (the flake-handling tests' subject): here only its first runs.
jq '(.packages[] | select(.name == "checkseum") | .guest) |= (.test = "LD_LIBRARY_PATH=$PWD:$LD_LIBRARY_PATH ./tests/test_checkseum" | .payload = ["tests/test_checkseum"])' \
	ripple.json >stable.json
run() { # run NAME ARGS...: stdout JSON in $work/NAME.json, stderr in $work/NAME.err, status in $status
	local name=$1
	shift
	"$ripple" "$@" --json >"$work/$name.json" 2>"$work/$name.err"
	status=$?
}
field() { jq -r --arg p "$2" ".jobs[] | select(.package == \$p and .target == \"vm\") | .$3" "$work/$1.json"; }

# 1. The vm target of the whole universe.
run all build -m stable.json --all --target vm -j 2
check "build --all --target vm passes (exit $status)" '[ $status -eq 0 ]'
check "the four packages of the vm target ran there" \
	'[ "$(jq "[.jobs[] | select(.target == \"vm\" and .result == \"pass\")] | length" "$work/all.json")" -eq 4 ]'
log=$(field all dns log)
check "dns's test log is the guest's console: its tests ran there" \
	'grep -q "running tests/test_dns" "$log" && grep -q "checks passed" "$log"'
check "the console carries the init's framed status line" 'grep -q "RIPPLE-VM1 type=status exit=0 .* crc=" "$log"'
check "the guest ran the tests at the job's paths" 'grep -q "RIPPLE-VM1 type=boot" "$log" && ! grep -q "$U" "$log"'

# 2a. A check that fails inside the guest.
git -C repos/cstruct checkout -q -b vm-broken
sed -i '0,/CHECK(cs_len(&c) == 8);/s//CHECK(cs_len(\&c) == 9);/' repos/cstruct/tests/test_cstruct.c
git -C repos/cstruct -c user.name=t -c user.email=t@example.org commit -qam "Break a check"
broken=$(git -C repos/cstruct rev-parse HEAD)
run broken build -m stable.json --change "cstruct=$broken" --only cstruct --target vm
check "a failing test in the guest fails the job (exit $status)" \
	'[ $status -eq 1 ] && [ "$(field broken cstruct result)" = fail ] && [ "$(field broken cstruct failed_step)" = test ]'
check "its first error is the failing check, not the guest's boot ($(field broken cstruct first_error))" \
	'field broken cstruct first_error | grep -q "cs_len(&c) == 9"'
check "its category is the test's" '[ "$(field broken cstruct category)" != infrastructure ]'

# 2b-d. A guest that never reports, a kernel panic, a payload that is not there.
variant() { # variant NAME JQ-FILTER-ON-CSTRUCT
	jq "(.packages[] | select(.name == \"cstruct\")) |= ($2)" stable.json >"$1.json"
	run "$1" build -m "$1.json" --all --only cstruct --target vm --no-cache
}
variant hang '.timeout = 25 | .guest.test = "sleep 600"'
check "a guest that never reports is a timeout ($(field hang cstruct result))" '[ "$(field hang cstruct result)" = timeout ]'
variant panic '.guest.test = "echo c >/proc/sysrq-trigger; sleep 60"'
check "a kernel panic is an infrastructure error ($(field panic cstruct result), $(field panic cstruct category))" \
	'[ "$(field panic cstruct result)" = error ] && [ "$(field panic cstruct category)" = infrastructure ]'
check "... with the console's tail as its first error" \
	'field panic cstruct first_error | grep -q "Kernel panic.*console: "'
variant nopayload '.guest.payload = ["tests/test_cstruct", "tests/golden/*.out"]'
check "a payload pattern matching nothing fails the test with one line" \
	'[ "$(field nopayload cstruct result)" = fail ] && field nopayload cstruct first_error | grep -q "\"tests/golden/\*.out\" matches no file"'

# 3. A farm's nightly of the vm target.
db=$work/farm.db
jq '.targets = {vm: .targets.vm} | .packages |= map(select(.targets | index("vm")) | .targets = ["vm"] | .depends |= map(select(. == "cstruct")))' \
	stable.json >farm.json
"$ripple" serve --db "$db" --listen 127.0.0.1:0 --universe farm.json --workers 2 --url-file "$work/url" \
	--cache "$work/cache" >"$work/serve.out" 2>"$work/serve.err" &
serve_pid=$!
wait_for 600 '[ -s "$work/url" ]' || fatal "ripple serve did not start: $(tail -3 "$work/serve.err")"
export RIPPLE_SERVER=$(cat "$work/url") RIPPLE_TOKEN_FILE=$db.api-token
run_id=$(nightly)
"$ripple" status --json "$run_id" >"$work/nightly.json"
check "the farm's nightly of the vm target passes ($(jq -c "[.jobs[] | .status]" "$work/nightly.json"))" \
	'[ "$(jq "[.jobs[] | select(.status == \"pass\")] | length" "$work/nightly.json")" -eq 4 ]'
job=$(jq -r '.jobs[] | select(.package == "dns") | .id' "$work/nightly.json")
curl -s -H "Authorization: Bearer $(cat "$RIPPLE_TOKEN_FILE")" "$RIPPLE_SERVER/api/v1/jobs/$job/log" >"$work/dns.log"
check "the job's log from the API is the guest's console" \
	'grep -q "running tests/test_dns" "$work/dns.log" && grep -q "RIPPLE-VM1 type=status exit=0" "$work/dns.log"'
# The dashboard's job page shows that console, in headless Chromium.
node "$here/../web/vm_log_page.js" "$RIPPLE_SERVER" "$RIPPLE_TOKEN_FILE" "$job" "running tests/test_dns" \
	>"$work/page.out" 2>"$work/page.err"
status=$?
grep -v "^ok - " "$work/page.out" | sed 's/^/# page: /'
check "the dashboard's page of the VM job shows its console (exit $status)" '[ $status -eq 0 ]'
stop_serve

# 4. Nothing of any guest remains.
check "no initramfs is left in TMPDIR" '[ -z "$(find "$TMPDIR" -name "ripple-vm-*")" ]'
check "no QEMU process is left" '! pgrep -f "qemu-system.*$work" >/dev/null'

echo "1..$n"
[ "$failures" -eq 0 ]
