/*
 * bench-api — the API diff of the example universe's planted break and its
 * links to the broken reverse dependencies, the wall-clock split into
 * libabigail's abidw, its abidiff, and ripple's own part (reading the dumps,
 * classifying abidiff's report, the semver verdict, searching the failure
 * logs, rendering). Target: ripple's own part under 10% of the total.
 *
 *   bench-api [ROUNDS [GENERATE]]     (default 10 rounds, examples/generate of this tree)
 *
 * Set-up, not timed: the universe is generated, cstruct is built with -g
 * before and after its API break and installed into two prefixes, and dns
 * and ethif (not adapted yet) are built against the broken one, which fails:
 * their logs are what the farm would link. Each round then does what the
 * farm does for a run's report: two ABI dumps (abidw), their round trip
 * through the dump document (as artifacts are), abidiff, the verdict, the
 * links, the Markdown and JSON.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "bench.h"
#include "reports/api.h"
#include "runner/abi.h"

#ifndef BENCH_SOURCE_DIR
#define BENCH_SOURCE_DIR "."
#endif

static int sh(const char *dir, const char *log, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int sh(const char *dir, const char *log, const char *fmt, ...)
{
	char *cmd = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&cmd, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	char *argv[] = { "/bin/sh", "-c", cmd, NULL };
	int rc = bench_run(argv, dir, log, log, NULL);
	free(cmd);
	return rc;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	fseek(fp, 0, SEEK_END);
	long size = ftell(fp);
	rewind(fp);
	char *buf = malloc((size_t)size + 1);
	*len = buf ? fread(buf, 1, (size_t)size, fp) : 0;
	fclose(fp);
	if (buf)
		buf[*len] = '\0';
	return buf;
}

static int by_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 10;
	char generate[4096], work[] = "/tmp/bench-api-XXXXXX", u[4200], path[4400];
	snprintf(generate, sizeof(generate), "%s", argc > 2 ? argv[2] : BENCH_SOURCE_DIR "/examples/generate");
	if (rounds < 1 || !mkdtemp(work)) {
		fprintf(stderr, "usage: bench-api [ROUNDS [GENERATE]]\n");
		return 2;
	}
	snprintf(u, sizeof(u), "%s/u", work);
	char *gen[] = { generate, u, NULL };
	if (bench_run(gen, NULL, NULL, NULL, NULL) != 0) {
		fprintf(stderr, "bench-api: %s failed\n", generate);
		return 1;
	}
	/* The scenario's commits. */
	snprintf(path, sizeof(path), "%s/scenarios.json", u);
	json_t *sc = json_load_file(path, 0, NULL);
	json_t *brk = json_object_get(json_object_get(sc, "scenarios"), "api_break");
	const char *good = json_string_value(json_object_get(brk, "good"));
	const char *bad = json_string_value(json_object_get(brk, "commit"));
	const char *dnsb = json_string_value(json_object_get(json_object_get(json_object_get(brk, "adapted"), "dns"), "before"));
	const char *ethb = json_string_value(json_object_get(json_object_get(json_object_get(brk, "adapted"), "ethif"), "before"));
	if (!good || !bad || !dnsb || !ethb) {
		fprintf(stderr, "bench-api: the universe has no api_break scenario\n");
		return 1;
	}
	const struct {
		const char *name, *repo, *rev, *prefix, *deps;
		int must_fail;
	} builds[] = {
		{ "old", "cstruct", good, "p-old", NULL, 0 },
		{ "new", "cstruct", bad, "p-new", NULL, 0 },
		{ "dns", "dns", dnsb, "p-dns", "p-new", 1 },
		{ "ethif", "ethif", ethb, "p-ethif", "p-new", 1 },
	};
	for (size_t i = 0; i < sizeof(builds) / sizeof(builds[0]); i++) {
		char log[4400];
		snprintf(log, sizeof(log), "%s/%s.log", work, builds[i].name);
		int rc = sh(work, log,
			    "git clone -q '%s/repos/%s' src-%s && cd src-%s && git checkout -q %s && "
			    "export CFLAGS=-g PKG_CONFIG_PATH='%s/%s/lib/pkgconfig' && make && make install PREFIX='%s/%s'",
			    u, builds[i].repo, builds[i].name, builds[i].name, builds[i].rev, work,
			    builds[i].deps ? builds[i].deps : "none", work, builds[i].prefix);
		if ((rc != 0) != builds[i].must_fail) {
			fprintf(stderr, "bench-api: building %s at %.12s %s (see %s)\n", builds[i].name, builds[i].rev,
				rc ? "failed" : "passed, but must fail", log);
			return 1;
		}
	}
	size_t dns_len = 0, ethif_len = 0;
	snprintf(path, sizeof(path), "%s/dns.log", work);
	char *dns_log = slurp(path, &dns_len);
	snprintf(path, sizeof(path), "%s/ethif.log", work);
	char *ethif_log = slurp(path, &ethif_len);

	double *total = calloc((size_t)rounds, sizeof(double)), *abidw = calloc((size_t)rounds, sizeof(double));
	double *abidiff = calloc((size_t)rounds, sizeof(double)), *own = calloc((size_t)rounds, sizeof(double));
	long links = 0;
	size_t changes = 0;
	printf("bench-api: cstruct %.12s -> %.12s, dns and ethif linked, %d rounds\n\n", good, bad, rounds);
	printf("%6s %10s %10s %10s %10s %8s\n", "round", "total ms", "abidw ms", "abidiff ms", "ripple ms", "ripple %");
	for (int r = 0; r < rounds; r++) {
		struct rp_error err;
		char prefix_old[4400], prefix_new[4400];
		snprintf(prefix_old, sizeof(prefix_old), "%s/p-old", work);
		snprintf(prefix_new, sizeof(prefix_new), "%s/p-new", work);
		struct abi_dump_spec so = { .prefix = prefix_old, .library = "lib/libcstruct.so", .headers = "include",
					    .work_dir = work };
		struct abi_dump_spec sn = so;
		sn.prefix = prefix_new;
		json_t *d_old = NULL, *d_new = NULL;
		uint64_t w1 = 0, w2 = 0, dms = 0;
		double t0 = bench_now_s();
		if (abi_dump(&so, &d_old, &w1, &err) < 0 || abi_dump(&sn, &d_new, &w2, &err) < 0) {
			fprintf(stderr, "bench-api: %s\n", err.msg);
			return 1;
		}
		/* As artifacts: written, read back, checked. */
		char *t_old = json_dumps(d_old, JSON_COMPACT), *t_new = json_dumps(d_new, JSON_COMPACT);
		json_decref(d_old);
		json_decref(d_new);
		json_t *j_old = json_loads(t_old, 0, NULL), *j_new = json_loads(t_new, 0, NULL);
		free(t_old);
		free(t_new);
		struct abi_dump a, b;
		struct api_diff d;
		if (abi_dump_from_json(j_old, "old", &a, &err) < 0 || abi_dump_from_json(j_new, "new", &b, &err) < 0 ||
		    abi_diff(&a, &b, work, &d, &dms, &err) < 0) {
			fprintf(stderr, "bench-api: %s\n", err.msg);
			return 1;
		}
		json_decref(j_old);
		json_decref(j_new);
		struct api_semver sv;
		api_semver_verdict(&d, a.version, b.version, &sv);
		struct api_link found[16];
		long n1 = api_link_failure(&d, dns_log, dns_len, found, 16, &err);
		long n2 = api_link_failure(&d, ethif_log, ethif_len, found, 16, &err);
		char *md = NULL;
		size_t md_len = 0;
		FILE *mf = open_memstream(&md, &md_len);
		api_diff_markdown(mf, "cstruct", &d, &sv, &err);
		fclose(mf);
		json_t *doc = api_diff_json(&d);
		char *js = json_dumps(doc, JSON_COMPACT);
		double t1 = bench_now_s();
		free(md);
		free(js);
		json_decref(doc);
		links = n1 + n2;
		changes = d.n;
		api_diff_release(&d);
		abi_dump_release(&a);
		abi_dump_release(&b);
		total[r] = (t1 - t0) * 1000;
		abidw[r] = (double)(w1 + w2) / 1000;
		abidiff[r] = (double)dms / 1000;
		own[r] = total[r] - abidw[r] - abidiff[r];
		printf("%6d %10.1f %10.1f %10.1f %10.1f %7.1f%%\n", r + 1, total[r], abidw[r], abidiff[r], own[r],
		       100 * own[r] / total[r]);
	}
	if (links != 2 || changes == 0) {
		fprintf(stderr, "bench-api: expected the break linked to dns and ethif; got %ld links over %zu changes\n",
			links, changes);
		return 1;
	}
	double share[4096];
	for (int r = 0; r < rounds && r < 4096; r++)
		share[r] = own[r] / total[r];
	qsort(total, (size_t)rounds, sizeof(double), by_double);
	qsort(abidw, (size_t)rounds, sizeof(double), by_double);
	qsort(abidiff, (size_t)rounds, sizeof(double), by_double);
	qsort(own, (size_t)rounds, sizeof(double), by_double);
	qsort(share, (size_t)(rounds < 4096 ? rounds : 4096), sizeof(double), by_double);
	int m = rounds / 2;
	printf("\nmedian: total %.1f ms = abidw %.1f + abidiff %.1f + ripple %.1f ms; ripple's share %.1f%% "
	       "(worst round %.1f%%; target < 10%%: %s)\n",
	       total[m], abidw[m], abidiff[m], own[m], 100 * share[m], 100 * share[rounds - 1],
	       share[m] < 0.10 ? "met" : "NOT met");
	sh(NULL, NULL, "rm -rf '%s'", work);
	return share[m] < 0.10 ? 0 : 1;
}
