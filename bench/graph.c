/*
 * bench/graph — the dependency graph and manifest at the scale of a large
 * ecosystem: a generated universe of PACKAGES packages and EDGES dependency edges.
 *
 * Prints the median of RUNS runs of (a) parsing and validating its ripple.json,
 * (b) building the graph, reverse closure of the most depended-upon package and
 * topological order of that closure, (c) topological order of the whole universe;
 * and the peak resident memory. Targets (issue): (b) < 20 ms and < 50 MiB, (a) < 100 ms.
 *
 * usage: bench-graph [PACKAGES [EDGES [RUNS]]]     (default 10000 50000 20)
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/graph.h"
#include "core/manifest.h"
#include "core/banned.h"

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), by_value);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double peak_mib(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_maxrss / 1024.0;
}

/*
 * A universe shaped like a real ecosystem: package i depends only on packages
 * with smaller numbers, preferring low-numbered (foundational) ones, so some
 * libraries have thousands of reverse dependencies. Deterministic for a seed.
 */
static char *generate_manifest(size_t n, size_t n_edges, size_t *len)
{
	size_t cap = n * 160 + n_edges * 24 + 256, used = 0;
	char *text = malloc(cap);
	unsigned seed = 20261123;
	size_t remaining = n_edges;
	used += (size_t)snprintf(text + used, cap - used,
				 "{\n  \"universe\": \"bench\",\n  \"targets\": {\"unix\": {\"runner\": \"sandbox\"}},\n"
				 "  \"packages\": [\n");
	size_t *chosen = malloc((n_edges / (n - 1) + n) * sizeof(*chosen));
	for (size_t i = 0; i < n; i++) {
		used += (size_t)snprintf(text + used, cap - used,
					 "    {\"name\": \"pkg%05zu\", \"repo\": \"repos/pkg%05zu\", \"build\": \"make\", "
					 "\"test\": \"make check\", \"depends\": [",
					 i, i);
		/* Spread what is left evenly over the packages still to come. */
		size_t want = i == 0 ? 0 : (remaining + (n - i) - 1) / (n - i);
		if (want > i)
			want = i;
		remaining -= want;
		size_t got = 0;
		while (got < want) {
			/* Squaring a uniform draw skews choices towards the foundation. */
			double r = (double)rand_r(&seed) / RAND_MAX;
			size_t d = (size_t)(r * r * (double)i);
			if (d >= i)
				d = i - 1;
			size_t k;
			for (k = 0; k < got && chosen[k] != d; k++)
				;
			if (k < got)
				continue;
			chosen[got++] = d;
			used += (size_t)snprintf(text + used, cap - used, "%s\"pkg%05zu\"", got > 1 ? ", " : "", d);
		}
		used += (size_t)snprintf(text + used, cap - used, "]}%s\n", i + 1 < n ? "," : "");
	}
	used += (size_t)snprintf(text + used, cap - used, "  ]\n}\n");
	free(chosen);
	*len = used;
	return text;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000;
	size_t n_edges = argc > 2 ? strtoul(argv[2], NULL, 10) : 50000;
	int runs = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 20;
	if (n < 2 || runs < 1 || runs > 1000) {
		fprintf(stderr, "usage: bench-graph [PACKAGES>=2 [EDGES [RUNS 1..1000]]]\n");
		return 2;
	}
	size_t len;
	char *text = generate_manifest(n, n_edges, &len);
	double *parse = calloc((size_t)runs, sizeof(double)), *closure = calloc((size_t)runs, sizeof(double));
	double *whole = calloc((size_t)runs, sizeof(double));
	size_t *order = malloc(n * sizeof(*order));
	unsigned char *in_closure = malloc(n);
	struct rp_universe *u = NULL;
	struct rp_error err;
	size_t edges_seen = 0, closure_size = 0;

	/*
	 * jansson alone on the same text is the floor under our validation; the two
	 * are timed alternately so both see the same heap and the same machine load.
	 */
	double *floor_ms = calloc((size_t)runs, sizeof(double));
	for (int r = 0; r < runs; r++) {
		double t0 = now_ms();
		json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
		json_decref(doc);
		floor_ms[r] = now_ms() - t0;
		t0 = now_ms();
		if (manifest_load_buffer(text, len, "bench.json", &u, &err) < 0) {
			fprintf(stderr, "bench-graph: %s\n", err.msg);
			return 1;
		}
		parse[r] = now_ms() - t0;
		if (r + 1 < runs)
			manifest_free(u);
	}
	double rss_after_manifest = peak_mib();

	for (size_t i = 0; i < n; i++)
		edges_seen += u->packages[i].n_depends;

	for (int r = 0; r < runs; r++) {
		struct graph g;
		double t0 = now_ms();
		if (graph_init_universe(&g, u, &err) < 0) {
			fprintf(stderr, "bench-graph: %s\n", err.msg);
			return 1;
		}
		size_t seed = 0; /* pkg00000: the foundation everything builds on */
		long count = graph_reverse_closure(&g, &seed, 1, in_closure);
		long ordered = graph_topo_order(&g, in_closure, order);
		closure[r] = now_ms() - t0;
		if (count < 0 || ordered != count) {
			fprintf(stderr, "bench-graph: closure %ld, order %ld\n", count, ordered);
			return 1;
		}
		closure_size = (size_t)count;
		t0 = now_ms();
		ordered = graph_topo_order(&g, NULL, order);
		whole[r] = now_ms() - t0;
		if (ordered != (long)n) {
			fprintf(stderr, "bench-graph: whole order %ld of %zu\n", ordered, n);
			return 1;
		}
		graph_release(&g);
	}
	double rss_peak = peak_mib();
	double parse_ms = median(parse, runs), closure_ms = median(closure, runs), whole_ms = median(whole, runs);

	printf("universe: %zu packages, %zu dependency edges, manifest %.1f MiB\n", n, edges_seen,
	       (double)len / (1 << 20));
	double jansson_ms = median(floor_ms, runs);
	printf("parse+validate ripple.json: median %.2f ms over %d runs (target < 100 ms: %.2fx of budget)\n",
	       parse_ms, runs, parse_ms / 100.0);
	printf("  jansson alone (parse + free, same text): median %.2f ms; ripple's validation adds %.2fx\n",
	       jansson_ms, parse_ms / jansson_ms);
	printf("graph build + reverse closure (%zu packages) + topological order: median %.2f ms "
	       "(target < 20 ms: %.2fx of budget)\n",
	       closure_size, closure_ms, closure_ms / 20.0);
	printf("topological order of the whole universe: median %.2f ms\n", whole_ms);
	printf("peak resident memory: %.1f MiB (after parsing: %.1f MiB; target < 50 MiB: %.2fx of budget)\n",
	       rss_peak, rss_after_manifest, rss_peak / 50.0);
	manifest_free(u);
	free(text);
	free(parse);
	free(closure);
	free(whole);
	free(floor_ms);
	free(order);
	free(in_closure);
	return 0;
}
