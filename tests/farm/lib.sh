# What the farm's integration scripts share: TAP output and checks. Sourced:
#   . "$(dirname "$0")/lib.sh"
# ok DESC / not_ok DESC print one TAP line; check DESC CONDITION evaluates the
# condition (a string, so the description can name what it checks) and prints
# ok or not ok; fatal DESC ends the script at once (its cleanup trap still
# runs); wait_for TENTHS CONDITION waits up to TENTHS tenths of a second for
# the condition. With a farm up ($ripple, $serve_pid, $work/serve.err, and
# RIPPLE_SERVER / RIPPLE_TOKEN_FILE exported): wait_run RUN waits up to 3
# minutes for a run to end; nightly starts a nightly, waits for it and prints
# its run id; stop_serve stops the scheduler with SIGTERM and checks that it
# exits 0 and that neither it nor its workers printed a sanitizer report.
# The script ends with: echo "1..$n"; [ "$failures" -eq 0 ]
n=0 failures=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failures=$((failures + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }
fatal() { not_ok "$1"; echo "1..$n"; exit 1; }
wait_for() {
	local i
	for ((i = 0; i < $1; i++)); do
		eval "$2" && return 0
		sleep 0.1
	done
	return 1
}
wait_run() {
	for _ in $(seq 1 900); do
		case $("$ripple" status --json "$1" | jq -r .run.state) in done | cancelled) return 0 ;; esac
		sleep 0.2
	done
	return 1
}
nightly() {
	local run
	run=$("$ripple" nightly now --json | jq -r .run)
	wait_run "$run"
	echo "$run"
}
stop_serve() {
	kill -TERM "$serve_pid"
	wait "$serve_pid"
	local status=$?
	serve_pid=
	check "serve stops with status 0 ($status)" '[ $status -eq 0 ]'
	check "no sanitizer report from the server or its workers" \
		'! grep -q "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$work/serve.err"'
}
