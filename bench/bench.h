/*
 * bench.h — what the benchmark programs share: finding the ripple binary,
 * the clock, and running a program to its end.
 */
#ifndef RIPPLE_BENCH_H
#define RIPPLE_BENCH_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * The ripple binary as an absolute path (the benchmarks chdir): `given`, or
 * else the one beside this benchmark's build (build/FLAVOUR/bench/X ->
 * build/FLAVOUR/cli/ripple).
 */
static inline void bench_find_ripple(const char *given, char *out, size_t size)
{
	if (given) {
		snprintf(out, size, "%s", given);
	} else {
		char self[4096];
		ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
		self[len > 0 ? len : 0] = '\0';
		char *slash = strrchr(self, '/');
		if (slash)
			*slash = '\0';
		snprintf(out, size, "%s/../cli/ripple", self);
	}
	char *absolute = realpath(out, NULL);
	if (absolute) {
		snprintf(out, size, "%s", absolute);
		free(absolute);
	}
}

/* Monotonic seconds. */
static inline double bench_now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Runs argv in `dir` (NULL: here) with stdout to `out` and stderr to `errf`
 * (NULL: /dev/null); the exit status (128 + signal; 127 when it could not be
 * started) and, when `seconds` is set, the wall-clock seconds.
 */
static inline int bench_run(char *const argv[], const char *dir, const char *out, const char *errf, double *seconds)
{
	double t0 = bench_now_s();
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (dir && chdir(dir) < 0)
			_exit(127);
		int fd = open(out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int efd = open(errf ? errf : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || efd < 0 || dup2(fd, 1) < 0 || dup2(efd, 2) < 0)
			_exit(127);
		execvp(argv[0], argv);
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (seconds)
		*seconds = bench_now_s() - t0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#endif
