# What the farm's integration scripts share: TAP output and checks. Sourced:
#   . "$(dirname "$0")/lib.sh"
# ok DESC / not_ok DESC print one TAP line; check DESC CONDITION evaluates the
# condition (a string, so the description can name what it checks) and prints
# ok or not ok; fatal DESC ends the script at once (its cleanup trap still
# runs); wait_for TENTHS CONDITION waits up to TENTHS tenths of a second for
# the condition. The script ends with: echo "1..$n"; [ "$failures" -eq 0 ]
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
