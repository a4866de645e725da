/*
 * bench.h — what the benchmark programs share: finding the ripple binary.
 */
#ifndef RIPPLE_BENCH_H
#define RIPPLE_BENCH_H

#include <limits.h>
#include <stdio.h>
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

#endif
