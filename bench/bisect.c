/*
 * bench/bisect — `ripple bisect` against `git bisect run`, in the same run.
 *
 *  1. Speed: a linear history of COMMITS commits (default 1,024) with the
 *     first bad commit at 8 places spread over it and a probe of `sleep 0.2`
 *     plus the test: the summed wall-clock of `git bisect run` divided by that
 *     of `ripple bisect -j 4`, and the probes each made (target >= 2x).
 *  2. Flakes: a test whose answers are wrong with probability 5% and 20%
 *     (seeded: the k-th run of a commit in trial t draws the same number for
 *     both tools), TRIALS trials each with a random first bad commit: how
 *     often each tool names the right commit, how often it names a wrong one,
 *     and the probes made; `git bisect run` against `ripple bisect --retries 3
 *     -j 1` (target >= 99% at 5%, >= 95% at 20%, at most 2.5x git's probes, no
 *     confident wrong answer). "flip" noise turns any answer into its
 *     opposite; "fail" noise only makes good commits fail (a flaky test).
 *
 * usage: bench-bisect [RIPPLE [TRIALS [COMMITS [NOISE]]]]
 *        (defaults: the ripple built beside this program, 100, 1024;
 *        TRIALS 0 measures the speed only; NOISE is passed as --noise)
 */
#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "core/banned.h"

#define SPEED_POSITIONS 8



/* Commits 0..n: file `n` holds the commit's number; the probes compare it with $BENCH_CULPRIT. */
static int make_repo(const char *dir, int n, char (*ids)[41])
{
	git_repository *repo = NULL;
	git_signature *sig = NULL;
	git_oid parent;
	int rc = -1;
	git_libgit2_init();
	if (git_repository_init(&repo, dir, 0) < 0)
		goto out;
	for (int i = 0; i <= n; i++) {
		char num[32], msg[64];
		snprintf(num, sizeof(num), "%d\n", i);
		snprintf(msg, sizeof(msg), "commit %d", i);
		git_oid b1, tree_id, commit_id;
		git_treebuilder *tb = NULL;
		git_tree *tree = NULL;
		git_commit *pc = NULL;
		int bad = git_blob_create_from_buffer(&b1, repo, num, strlen(num)) < 0 ||
			  git_treebuilder_new(&tb, repo, NULL) < 0 ||
			  git_treebuilder_insert(NULL, tb, "n", &b1, GIT_FILEMODE_BLOB) < 0 ||
			  git_treebuilder_write(&tree_id, tb) < 0 ||
			  git_tree_lookup(&tree, repo, &tree_id) < 0 ||
			  (i > 0 && git_commit_lookup(&pc, repo, &parent) < 0);
		git_signature_free(sig);
		sig = NULL;
		if (!bad)
			bad = git_signature_new(&sig, "bench", "bench@example.org", 1700000000 + i, 0) < 0 ||
			      git_commit_create_v(&commit_id, repo, "refs/heads/main", sig, sig, NULL, msg,
						  tree, i > 0 ? 1 : 0, pc) < 0;
		git_treebuilder_free(tb);
		git_tree_free(tree);
		git_commit_free(pc);
		if (bad)
			goto out;
		parent = commit_id;
		git_oid_tostr(ids[i], 41, &commit_id);
	}
	git_checkout_options co;
	git_checkout_options_init(&co, GIT_CHECKOUT_OPTIONS_VERSION);
	co.checkout_strategy = GIT_CHECKOUT_FORCE;
	if (git_repository_set_head(repo, "refs/heads/main") < 0 || git_checkout_head(repo, &co) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		fprintf(stderr, "bench-bisect: cannot make the repository: %s\n",
			git_error_last() ? git_error_last()->message : "?");
	git_signature_free(sig);
	git_repository_free(repo);
	return rc;
}

/* git bisect run in `repo`; the first bad commit (41 bytes) and the probes it ran. */
static int git_bisect(const char *repo, const char *good, const char *probe, const char *work,
		      char *first_bad, int *probes, double *seconds)
{
	char out[4200];
	snprintf(out, sizeof(out), "%s/git-bisect.out", work);
	char *start[] = {"git", "bisect", "start", "main", (char *)good, NULL};
	char *runv[] = {"git", "bisect", "run", "sh", "-c", (char *)probe, NULL};
	char *bad[] = {"git", "rev-parse", "refs/bisect/bad", NULL};
	char *reset[] = {"git", "bisect", "reset", NULL};
	char revp[4200];
	snprintf(revp, sizeof(revp), "%s/git-rev.out", work);
	first_bad[0] = '\0';
	*probes = 0;
	if (bench_run(start, repo, NULL, NULL, NULL) != 0)
		return -1;
	bench_run(runv, repo, out, NULL, seconds);
	bench_run(bad, repo, revp, NULL, NULL);
	bench_run(reset, repo, NULL, NULL, NULL);
	FILE *f = fopen(revp, "r");
	if (f) {
		if (!fgets(first_bad, 41, f))
			first_bad[0] = '\0';
		fclose(f);
	}
	f = fopen(out, "r");
	char line[8192];
	while (f && fgets(line, sizeof(line), f))
		*probes += strncmp(line, "running ", 8) == 0;
	if (f)
		fclose(f);
	return 0;
}

struct ripple_out {
	char verdict[32];
	char first_bad[41];
	int probes;
	unsigned rounds;
	long wall_ms;
};

static const char *noise_arg; /* --noise for ripple, or NULL */

static int ripple_bisect(const char *ripple, const char *repo, const char *good, const char *jobs,
			 const char *retries, const char *probe, const char *work, struct ripple_out *res,
			 double *seconds)
{
	char out[4200];
	snprintf(out, sizeof(out), "%s/ripple-bisect.json", work);
	char *argv[] = {(char *)ripple,	 "bisect",     "--json",     "--repo", (char *)repo, "--good",
			(char *)good,	 "--bad",      "main",	     "-j",     (char *)jobs, "--retries",
			(char *)retries, "--work-dir", (char *)work, "--",     "sh",	     "-c",
			(char *)probe,	 NULL,	       NULL,	     NULL};
	if (noise_arg && strcmp(retries, "0") != 0) {
		/* "--noise P" before "--" (index 15). */
		memmove(&argv[17], &argv[15], 5 * sizeof(*argv));
		argv[15] = "--noise";
		argv[16] = (char *)noise_arg;
	}
	memset(res, 0, sizeof(*res));
	bench_run(argv, NULL, out, NULL, seconds);
	json_error_t jerr;
	json_t *doc = json_load_file(out, 0, &jerr);
	if (!doc)
		return -1;
	const char *v = json_string_value(json_object_get(doc, "verdict"));
	const char *id = json_string_value(json_object_get(json_object_get(doc, "first_bad"), "id"));
	snprintf(res->verdict, sizeof(res->verdict), "%s", v ? v : "?");
	snprintf(res->first_bad, sizeof(res->first_bad), "%s", id ? id : "");
	res->probes = (int)json_integer_value(json_object_get(doc, "probe_count"));
	res->rounds = (unsigned)json_integer_value(json_object_get(doc, "rounds"));
	res->wall_ms = (long)json_integer_value(json_object_get(doc, "wall_ms"));
	json_decref(doc);
	char *rm[] = {"sh", "-c", "rm -rf \"$0\"/ripple-bisect-*", (char *)work, NULL};
	bench_run(rm, NULL, NULL, NULL, NULL);
	return 0;
}

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* The flaky test: reads `n`, is bad from $BENCH_CULPRIT on, answers wrongly as the noise says. */
static const char flaky_probe[] =
    "#!/bin/sh\n"
    "n=$(cat n)\n"
    "commit=$n\n"
    "k=$( exec 9>>\"$BENCH_COUNTERS/lock\"; flock 9;\n"
    "     c=$(cat \"$BENCH_COUNTERS/$commit\" 2>/dev/null || echo 0); echo $((c + 1)) "
    ">\"$BENCH_COUNTERS/$commit\"; echo $c )\n"
    "draw=$(printf '%s %s %s' \"$BENCH_SEED\" \"$commit\" \"$k\" | md5sum | cut -c1-7)\n"
    "draw=$((0x$draw % 1000))\n"
    "truth=0; [ \"$n\" -ge \"$BENCH_CULPRIT\" ] && truth=1\n"
    "if [ \"$BENCH_MODE\" = flip ]; then [ \"$draw\" -lt \"$BENCH_RATE\" ] && truth=$((1 - truth)); exit "
    "$truth; fi\n"
    "[ $truth -eq 1 ] && exit 1\n"
    "[ \"$draw\" -lt \"$BENCH_RATE\" ] && exit 1\n"
    "exit 0\n";

static void flaky(const char *ripple, const char *repo, char (*ids)[41], int n, int trials, const char *mode,
		  int rate, const char *work)
{
	char probe_path[4200], counters[4300], env[64];
	snprintf(probe_path, sizeof(probe_path), "%s/flaky_probe.sh", work);
	FILE *f = fopen(probe_path, "w");
	if (!f)
		return;
	fputs(flaky_probe, f);
	fclose(f);
	chmod(probe_path, 0755);
	int g_right = 0, g_wrong = 0, r_right = 0, r_wrong = 0, r_flaky = 0;
	long g_probes = 0, r_probes = 0;
	for (int t = 0; t < trials; t++) {
		int culprit = 1 + (int)(next_rand() % (uint64_t)n);
		snprintf(env, sizeof(env), "%d", culprit);
		setenv("BENCH_CULPRIT", env, 1);
		snprintf(env, sizeof(env), "%s-%d-%d", mode, rate, t);
		setenv("BENCH_SEED", env, 1);
		snprintf(env, sizeof(env), "%d", rate);
		setenv("BENCH_RATE", env, 1);
		setenv("BENCH_MODE", mode, 1);
		/* Each tool sees the same sequence of draws per commit: its own counters. */
		char first_bad[41];
		int probes;
		snprintf(counters, sizeof(counters), "%s/counters-git-%d", work, t);
		mkdir(counters, 0755);
		setenv("BENCH_COUNTERS", counters, 1);
		git_bisect(repo, ids[0], probe_path, work, first_bad, &probes, NULL);
		g_probes += probes;
		if (strcmp(first_bad, ids[culprit]) == 0)
			g_right++;
		else
			g_wrong++;
		snprintf(counters, sizeof(counters), "%s/counters-ripple-%d", work, t);
		mkdir(counters, 0755);
		setenv("BENCH_COUNTERS", counters, 1);
		struct ripple_out r;
		if (ripple_bisect(ripple, repo, ids[0], "1", "3", probe_path, work, &r, NULL) < 0) {
			fprintf(stderr, "bench-bisect: ripple bisect gave no JSON in trial %d\n", t);
			continue;
		}
		r_probes += r.probes;
		if (strcmp(r.verdict, "culprit") == 0 && strcmp(r.first_bad, ids[culprit]) == 0)
			r_right++;
		else if (strcmp(r.verdict, "culprit") == 0)
			r_wrong++;
		else
			r_flaky++;
	}
	double gp = (double)g_probes / trials, rp = (double)r_probes / trials;
	printf("%s %2d%%, %d trials: git bisect run     right %5.1f%%, wrong %5.1f%%,                 %5.1f "
	       "probes\n",
	       mode, rate / 10, trials, 100.0 * g_right / trials, 100.0 * g_wrong / trials, gp);
	printf("%s %2d%%, %d trials: ripple --retries 3%s%s right %5.1f%%, wrong %5.1f%%, flaky %5.1f%%, %5.1f "
	       "probes (%.2fx git)\n",
	       mode, rate / 10, trials, noise_arg ? " --noise " : "", noise_arg ? noise_arg : "",
	       100.0 * r_right / trials, 100.0 * r_wrong / trials,
	       100.0 * r_flaky / trials, rp, gp > 0 ? rp / gp : 0);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	char ripple[8192];
	bench_find_ripple(argc > 1 ? argv[1] : NULL, ripple, sizeof(ripple));
	int trials = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 100;
	int n = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 1024;
	noise_arg = argc > 4 ? argv[4] : NULL;
	if (trials < 0 || n < 2) {
		fprintf(stderr, "usage: bench-bisect [RIPPLE [TRIALS [COMMITS [NOISE]]]]\n");
		return 2;
	}
	const char *tmp = getenv("TMPDIR");
	char workbuf[4096];
	snprintf(workbuf, sizeof(workbuf), "%s/ripple-bench-bisect-XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(workbuf)) {
		perror("mkdtemp");
		return 1;
	}
	char repo[4200];
	snprintf(repo, sizeof(repo), "%s/repo", workbuf);
	char(*ids)[41] = calloc((size_t)n + 1, sizeof(*ids));
	if (!ids || make_repo(repo, n, ids) < 0)
		return 1;
	/* Git identity for `git bisect` in environments without one. */
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);

	/*
	 * Where the first bad commit lies changes the rounds a k-ary search needs
	 * (4 or 5 for 1,024 commits with k = 4) and git's probes (10 or 11), so the
	 * speed is measured at SPEED_POSITIONS culprits spread over the history.
	 */
	printf("bench-bisect: %d commits; probe: sleep 0.2 and the test; first bad commit at %d positions\n", n,
	       SPEED_POSITIONS);
	const char *probe = "sleep 0.2; [ \"$(cat n)\" -lt \"$BENCH_CULPRIT\" ]";
	double gsum = 0, rsum = 0;
	int gprobes_sum = 0, rprobes_sum = 0, wrong = 0;
	for (int pos = 0; pos < SPEED_POSITIONS; pos++) {
		int first = 1 + (int)((long)(n - 1) * (2 * pos + 1) / (2 * SPEED_POSITIONS));
		char env[32], first_bad[41];
		snprintf(env, sizeof(env), "%d", first);
		setenv("BENCH_CULPRIT", env, 1);
		int gprobes;
		double gs = 0, rs = 0;
		git_bisect(repo, ids[0], probe, workbuf, first_bad, &gprobes, &gs);
		struct ripple_out r;
		if (ripple_bisect(ripple, repo, ids[0], "4", "0", probe, workbuf, &r, &rs) < 0) {
			fprintf(stderr, "bench-bisect: ripple bisect gave no JSON\n");
			return 1;
		}
		int git_right = strcmp(first_bad, ids[first]) == 0, ripple_right = strcmp(r.first_bad, ids[first]) == 0;
		wrong += !git_right + !ripple_right;
		printf("first bad %4d: git bisect run %5.2f s, %2d probes, %s; ripple bisect -j 4 %5.2f s, %2d probes "
		       "in %u rounds, %s; %.2fx\n",
		       first, gs, gprobes, git_right ? "right" : "WRONG", rs, r.probes, r.rounds,
		       ripple_right ? "right" : "WRONG", rs > 0 ? gs / rs : 0);
		gsum += gs;
		rsum += rs;
		gprobes_sum += gprobes;
		rprobes_sum += r.probes;
	}
	printf("all positions: git bisect run %.2f s, %d probes; ripple bisect -j 4 %.2f s, %d probes%s\n", gsum,
	       gprobes_sum, rsum, rprobes_sum, wrong ? "; SOME ANSWERS WRONG" : "");
	printf("speed-up: %.2fx (target >= 2x)\n\n", rsum > 0 ? gsum / rsum : 0);
	fflush(stdout);

	if (trials > 0) {
		flaky(ripple, repo, ids, n, trials, "flip", 50, workbuf);
		flaky(ripple, repo, ids, n, trials, "flip", 200, workbuf);
		flaky(ripple, repo, ids, n, trials, "fail", 200, workbuf);
	}

	char *rm[] = {"rm", "-rf", workbuf, NULL};
	bench_run(rm, NULL, NULL, NULL, NULL);
	free(ids);
	return 0;
}
