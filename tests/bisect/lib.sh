# Fixtures for the bisect tests: repositories with a known first bad commit.
# Sourced by test_bisect.sh.

# mk_linear DIR N CULPRIT [SKIP_FROM SKIP_TO]
# Commits 0..N on main, built with git fast-import; commit i's file `state` is
# "bad" from CULPRIT on (never when CULPRIT is 0) and "good" before; commits
# SKIP_FROM..SKIP_TO carry a file `skip`. Commit 0 is the good end, N the bad end.
mk_linear() {
	local dir=$1 n=$2 culprit=$3 sf=${4:-1} st=${5:-0}
	git init -q -b main "$dir" || return 1
	awk -v n="$n" -v c="$culprit" -v sf="$sf" -v st="$st" 'BEGIN {
		for (i = 0; i <= n; i++) {
			state = (c > 0 && i >= c) ? "bad" : "good"
			msg = "commit " i
			print "commit refs/heads/main"
			print "mark :" (i + 1)
			print "author A U Thor <author@example.org> " (1700000000 + i) " +0100"
			print "committer A U Thor <author@example.org> " (1700000000 + i) " +0100"
			print "data " length(msg); print msg
			if (i > 0) print "from :" i
			print "M 644 inline state"; print "data " length(state); print state
			if (i >= sf && i <= st) { print "M 644 inline skip"; print "data 3"; print "yes" }
			else if (i > 0) print "D skip"
			print ""
		}
	}' | git -C "$dir" fast-import --quiet || return 1
	git -C "$dir" reset -q --hard main
}

# commit_at DIR I: the id of linear commit I.
commit_at() { git -C "$1" rev-parse "main~$(($(git -C "$1" rev-list --count main) - 1 - $2))"; }

# git_first_bad DIR GOOD BAD [--first-parent] -- CMD: git bisect run's answer, or its
# list of candidates (sorted, one line) when only skipped commits are left.
git_first_bad() {
	local dir=$1 good=$2 bad=$3 fp=
	shift 3
	[ "$1" = --first-parent ] && { fp=--first-parent; shift; }
	shift
	(
		cd "$dir" || exit 1
		git bisect start $fp "$bad" "$good" >/dev/null 2>&1
		git bisect run sh -c "$*" >"$dir.gitbisect.out" 2>&1
		if grep -q "only 'skip'ped commits left" "$dir.gitbisect.out"; then
			sed -n '/could be any of/,$p' "$dir.gitbisect.out" | grep -oE '^[0-9a-f]{40}' | sort | tr '\n' ' '
		else
			git rev-parse refs/bisect/bad
		fi
		git bisect reset >/dev/null 2>&1
	)
}
