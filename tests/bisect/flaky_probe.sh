#!/bin/sh
# A test that answers wrongly at random, with seeded and reproducible noise, for
# bisect tests and benchmarks: the same commit's k-th run draws the same number,
# whichever tool runs it and in whichever order its probes start.
#   flaky_probe.sh MODE RATE_PER_MILLE SEED COUNTER_DIR
# MODE fail: a good commit fails RATE/1000 of its runs (a flaky test); a bad
#            commit always fails.
# MODE flip: every answer is wrong RATE/1000 of the time.
# Runs in a checkout whose file `state` says good or bad; a file `skip` makes it
# answer 125. The commit is $RIPPLE_BISECT_COMMIT, else `git rev-parse HEAD`.
mode=$1 rate=$2 seed=$3 counters=$4
[ -e skip ] && exit 125
commit=${RIPPLE_BISECT_COMMIT:-$(git rev-parse HEAD)}
k=$(
	exec 9>>"$counters/lock"
	flock 9
	n=$(cat "$counters/$commit" 2>/dev/null || echo 0)
	echo $((n + 1)) >"$counters/$commit"
	echo "$n"
)
draw=$(printf '%s %s %s' "$seed" "$commit" "$k" | md5sum | cut -c1-7)
draw=$((0x$draw % 1000))
truth=0
[ "$(cat state)" = good ] || truth=1
case $mode in
fail) [ $truth -eq 1 ] && exit 1
      [ "$draw" -lt "$rate" ] && exit 1
      exit 0 ;;
flip) [ "$draw" -lt "$rate" ] && truth=$((1 - truth))
      exit $truth ;;
esac
exit 200
