/*
 * bench/build — the build engine's overhead against its floor.
 *
 * A generated universe of PACKAGES packages whose steps are `true`, in DEPTH
 * layers (each package depends on one to three packages of the layer below),
 * all in one git repository. Measured in the same run:
 *   - `make -j JOBS` over a Makefile with the same DAG and `@true` recipes;
 *   - `ripple build --all -j JOBS` on the process backend with a cold cache,
 *     its ratio to make (target <= 1.5) and its peak memory (target < 100 MiB);
 *   - the same build again, fully cached (target <= 0.5 s);
 *   - the per-job overhead of the sandbox backend: SANDBOX_JOBS independent
 *     packages built on the sandbox and on the process backend.
 *
 * usage: bench-build [RIPPLE [PACKAGES [DEPTH [JOBS]]]]
 *        (defaults: the ripple built beside this program, 1000, 20, 2)
 */
#include <errno.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "core/banned.h"

#define SANDBOX_JOBS 40

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs argv with stdout and stderr to /dev/null; wall seconds, peak RSS in MiB, exit status. */
static int run(char *const argv[], const char *dir, double *seconds, double *peak_mib)
{
	double t0 = now_s();
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (dir && chdir(dir) < 0)
			_exit(127);
		if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
			_exit(127);
		execvp(argv[0], argv);
		_exit(127);
	}
	int status;
	struct rusage ru;
	while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
		;
	*seconds = now_s() - t0;
	if (peak_mib)
		*peak_mib = (double)ru.ru_maxrss / 1024.0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int make_repo(const char *dir)
{
	git_repository *repo = NULL;
	git_index *index = NULL;
	git_oid tree_id, commit_id;
	git_tree *tree = NULL;
	git_signature *sig = NULL;
	char path[4400];
	int rc = -1;
	git_libgit2_init();
	if (git_repository_init(&repo, dir, 0) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/README", dir);
	FILE *f = fopen(path, "w");
	if (!f)
		goto out;
	fputs("a package whose steps are `true`\n", f);
	fclose(f);
	if (git_repository_index(&index, repo) < 0 || git_index_add_bypath(index, "README") < 0 ||
	    git_index_write_tree(&tree_id, index) < 0 || git_tree_lookup(&tree, repo, &tree_id) < 0 ||
	    git_signature_new(&sig, "bench", "bench@example.org", 1700000000, 0) < 0 ||
	    git_commit_create_v(&commit_id, repo, "refs/heads/main", sig, sig, NULL, "one commit", tree, 0) < 0)
		goto out;
	git_repository_set_head(repo, "refs/heads/main");
	rc = 0;
out:
	git_signature_free(sig);
	git_tree_free(tree);
	git_index_free(index);
	git_repository_free(repo);
	return rc;
}

/* Writes ripple.json (runner `runner`) and a Makefile with the same DAG. */
static int write_universe(const char *dir, const char *manifest_name, const char *runner, int n, int depth,
			  int with_makefile)
{
	char path[4400];
	snprintf(path, sizeof(path), "%s/%s", dir, manifest_name);
	FILE *m = fopen(path, "w");
	snprintf(path, sizeof(path), "%s/Makefile", dir);
	FILE *mk = with_makefile ? fopen(path, "w") : NULL;
	if (!m || (with_makefile && !mk))
		return -1;
	unsigned seed = 42;
	int per_layer = depth > 0 ? (n + depth - 1) / depth : n;
	fprintf(m, "{\"universe\": \"bench\", \"targets\": {\"t\": {\"runner\": \"%s\"}}, \"packages\": [\n", runner);
	if (mk) {
		fprintf(mk, ".PHONY: all");
		for (int i = 0; i < n; i++)
			fprintf(mk, " p%04d", i);
		fprintf(mk, "\nall:");
		for (int i = 0; i < n; i++)
			fprintf(mk, " p%04d", i);
		fputc('\n', mk);
	}
	for (int i = 0; i < n; i++) {
		int layer = i / per_layer;
		fprintf(m, "%s{\"name\": \"p%04d\", \"repo\": \"repo\", \"build\": \"true\", \"depends\": [", i ? ",\n" : "",
			i);
		if (mk)
			fprintf(mk, "p%04d:", i);
		if (layer > 0) {
			int lo = (layer - 1) * per_layer, k = 1 + (int)(rand_r(&seed) % 3), picked[3];
			for (int d = 0; d < k; d++) {
				picked[d] = lo + (int)(rand_r(&seed) % (unsigned)per_layer);
				int dup = 0;
				for (int e = 0; e < d; e++)
					dup |= picked[e] == picked[d];
				if (dup) {
					picked[d--] = -1;
					k--;
					continue;
				}
				fprintf(m, "%s\"p%04d\"", d ? ", " : "", picked[d]);
				if (mk)
					fprintf(mk, " p%04d", picked[d]);
			}
		}
		fputs("]}", m);
		if (mk)
			fputs("\n\t@true\n", mk);
	}
	fputs("\n]}\n", m);
	fclose(m);
	if (mk)
		fclose(mk);
	return 0;
}

int main(int argc, char **argv)
{
	char ripple[4200];
	bench_find_ripple(argc > 1 ? argv[1] : NULL, ripple, sizeof(ripple));
	int n = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 1000;
	int depth = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 20;
	int jobs = argc > 4 ? (int)strtol(argv[4], NULL, 10) : 2;
	if (n < 1 || n > 9999 || depth < 1 || depth > n || jobs < 1 || jobs > 64 || access(ripple, X_OK) < 0) {
		fprintf(stderr, "usage: bench-build [RIPPLE [PACKAGES 1..9999 [DEPTH 1..PACKAGES [JOBS 1..64]]]]\n");
		return 2;
	}
	char dir[] = "/tmp/ripple-bench-build-XXXXXX", path[4200], jobs_arg[16], cache[4200], sandbox_cache[4200];
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/repo", dir);
	if (mkdir(path, 0755) < 0 || make_repo(path) < 0 ||
	    write_universe(dir, "ripple.json", "process", n, depth, 1) < 0 ||
	    write_universe(dir, "sandbox.json", "sandbox", SANDBOX_JOBS, 1, 0) < 0 ||
	    write_universe(dir, "process.json", "process", SANDBOX_JOBS, 1, 0) < 0) {
		fprintf(stderr, "bench-build: cannot set up %s\n", dir);
		return 1;
	}
	snprintf(jobs_arg, sizeof(jobs_arg), "%d", jobs);
	snprintf(cache, sizeof(cache), "%s/cache", dir);
	snprintf(sandbox_cache, sizeof(sandbox_cache), "%s/sandbox-cache", dir);

	double make_s, cold_s, warm_s, cold_mib, sb_s, pr_s;
	char *make_argv[] = { "make", "-s", "-j", jobs_arg, NULL };
	char *build_argv[] = { ripple, "build", "-m", "ripple.json", "--all", "-j", jobs_arg, "--cache", cache, NULL };
	char *sb_argv[] = { ripple, "build", "-m", "sandbox.json", "--all", "-j", "1", "--cache", sandbox_cache, NULL };
	char *pr_argv[] = { ripple, "build", "-m", "process.json", "--all", "-j", "1", "--cache", sandbox_cache, NULL };
	int st_make = run(make_argv, dir, &make_s, NULL);
	int st_cold = run(build_argv, dir, &cold_s, &cold_mib);
	int st_warm = run(build_argv, dir, &warm_s, NULL);
	/* The sandbox universe and the process one differ only in the runner, so no build key is shared. */
	int st_sb = run(sb_argv, dir, &sb_s, NULL);
	int st_pr = run(pr_argv, dir, &pr_s, NULL);
	if (st_make || st_cold || st_warm || st_sb || st_pr) {
		fprintf(stderr, "bench-build: a run failed (make %d, cold %d, cached %d, sandbox %d, process %d); see %s\n",
			st_make, st_cold, st_warm, st_sb, st_pr, dir);
		return 1;
	}
	printf("universe: %d packages, depth %d, steps `true`, %d job slots\n", n, depth, jobs);
	printf("make -j %d (the floor):                %.3f s\n", jobs, make_s);
	printf("ripple build --all, cold cache:        %.3f s  ratio to make %.2f (target <= 1.5)\n", cold_s,
	       cold_s / make_s);
	printf("ripple build --all, fully cached:      %.3f s  (target <= 0.5 s)\n", warm_s);
	printf("peak memory of ripple build (cold):    %.1f MiB (target < 100 MiB)\n", cold_mib);
	printf("sandbox backend, %d jobs one at a time: %.3f s vs process %.3f s: %.1f ms more per job\n",
	       SANDBOX_JOBS, sb_s, pr_s, (sb_s - pr_s) * 1000 / SANDBOX_JOBS);
	char *rm_argv[] = { "rm", "-rf", dir, NULL };
	double ignored;
	run(rm_argv, NULL, &ignored, NULL);
	return 0;
}
