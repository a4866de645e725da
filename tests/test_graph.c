/* Unit tests of the dependency graph against brute-force references on random graphs. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/graph.h"
#include "core/manifest.h"
#include "check_main.h"
#include "core/banned.h"

struct random_graph {
	size_t n, n_edges;
	size_t *from, *to, *rank;
};

/* A random DAG: edges go from a later to an earlier node of a random permutation. */
static void random_dag(struct random_graph *r, size_t n, size_t n_edges, unsigned *seed)
{
	size_t *position = malloc(n * sizeof(*position));
	r->n = n;
	r->n_edges = 0;
	r->from = malloc((n_edges + 1) * sizeof(size_t));
	r->to = malloc((n_edges + 1) * sizeof(size_t));
	r->rank = malloc(n * sizeof(size_t));
	for (size_t i = 0; i < n; i++)
		position[i] = r->rank[i] = i;
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)rand_r(seed) % i, t = position[i - 1];
		position[i - 1] = position[j];
		position[j] = t;
		j = (size_t)rand_r(seed) % i;
		t = r->rank[i - 1];
		r->rank[i - 1] = r->rank[j];
		r->rank[j] = t;
	}
	for (size_t e = 0; e < n_edges && n > 1; e++) {
		size_t a = (size_t)rand_r(seed) % n, b = (size_t)rand_r(seed) % n;
		if (a == b)
			continue;
		if (position[a] < position[b]) {
			size_t t = a;
			a = b;
			b = t;
		}
		r->from[r->n_edges] = a;
		r->to[r->n_edges] = b;
		r->n_edges++;
	}
	free(position);
}

static void random_graph_free(struct random_graph *r)
{
	free(r->from);
	free(r->to);
	free(r->rank);
}

/* Reference closure: mark along edges until nothing changes. */
static void brute_closure(const struct random_graph *r, const size_t *seeds, size_t n_seeds, unsigned char *mark)
{
	memset(mark, 0, r->n);
	for (size_t s = 0; s < n_seeds; s++)
		mark[seeds[s]] = 1;
	for (int changed = 1; changed;) {
		changed = 0;
		for (size_t e = 0; e < r->n_edges; e++) {
			if (mark[r->to[e]] && !mark[r->from[e]]) {
				mark[r->from[e]] = 1;
				changed = 1;
			}
		}
	}
}

/* Reference order: repeatedly emit the lowest-ranked selected node whose dependencies are all emitted. */
static size_t brute_order(const struct random_graph *r, const unsigned char *mask, size_t *order)
{
	size_t *pending = calloc(r->n, sizeof(*pending));
	unsigned char *done = calloc(r->n, 1);
	size_t *by_rank = malloc(r->n * sizeof(*by_rank));
	size_t written = 0;
	for (size_t i = 0; i < r->n; i++)
		by_rank[r->rank[i]] = i;
	for (size_t e = 0; e < r->n_edges; e++)
		if (mask[r->from[e]] && mask[r->to[e]])
			pending[r->from[e]]++;
	for (;;) {
		size_t pick = r->n;
		for (size_t k = 0; k < r->n; k++) {
			size_t i = by_rank[k];
			if (mask[i] && !done[i] && pending[i] == 0) {
				pick = i;
				break;
			}
		}
		if (pick == r->n)
			break;
		done[pick] = 1;
		order[written++] = pick;
		for (size_t e = 0; e < r->n_edges; e++)
			if (r->to[e] == pick && mask[r->from[e]])
				pending[r->from[e]]--;
	}
	free(pending);
	free(done);
	free(by_rank);
	return written;
}

static void check_random(size_t n, size_t n_edges, unsigned seed)
{
	struct random_graph r;
	struct graph g;
	struct rp_error err;
	random_dag(&r, n, n_edges, &seed);
	ck_assert_int_eq(graph_init(&g, r.n, r.from, r.to, r.n_edges, r.rank, &err), 0);
	size_t seeds[3] = { (size_t)rand_r(&seed) % n, (size_t)rand_r(&seed) % n, (size_t)rand_r(&seed) % n };
	unsigned char *got = malloc(n), *want = malloc(n);
	size_t *order = malloc(n * sizeof(*order)), *want_order = malloc(n * sizeof(*want_order));
	for (size_t n_seeds = 1; n_seeds <= 3; n_seeds++) {
		long count = graph_reverse_closure(&g, seeds, n_seeds, got);
		brute_closure(&r, seeds, n_seeds, want);
		ck_assert_mem_eq(got, want, n);
		size_t want_count = 0;
		for (size_t i = 0; i < n; i++)
			want_count += want[i];
		ck_assert_int_eq(count, (long)want_count);
		long n_order = graph_topo_order(&g, got, order);
		ck_assert_int_eq(n_order, (long)want_count);
		ck_assert_uint_eq(brute_order(&r, want, want_order), want_count);
		ck_assert_mem_eq(order, want_order, want_count * sizeof(*order));
	}
	memset(want, 1, n);
	ck_assert_int_eq(graph_topo_order(&g, NULL, order), (long)n);
	ck_assert_uint_eq(brute_order(&r, want, want_order), n);
	ck_assert_mem_eq(order, want_order, n * sizeof(*order));
	ck_assert_int_eq(graph_find_cycle(&g, order), 0);
	free(got);
	free(want);
	free(order);
	free(want_order);
	graph_release(&g);
	random_graph_free(&r);
}

START_TEST(test_random_small)
{
	for (unsigned seed = 1; seed <= 200; seed++)
		check_random(1 + seed % 40, seed % 120, seed);
}
END_TEST

START_TEST(test_random_medium)
{
	for (unsigned seed = 1; seed <= 10; seed++)
		check_random(500, 2500, seed);
}
END_TEST

START_TEST(test_random_large)
{
	check_random(10000, 50000, 42);
}
END_TEST

static void check_cycle_found(const struct graph *g, const struct random_graph *r)
{
	size_t *cycle = malloc(g->n * sizeof(*cycle));
	long len = graph_find_cycle(g, cycle);
	ck_assert_int_gt(len, 0);
	for (long k = 0; k < len; k++) {
		size_t a = cycle[k], b = cycle[(k + 1) % len];
		int edge = 0;
		for (size_t e = 0; e < r->n_edges && !edge; e++)
			edge = r->from[e] == a && r->to[e] == b;
		ck_assert_msg(edge, "cycle step %zu -> %zu is not an edge", a, b);
		ck_assert_uint_le(g->rank[cycle[0]], g->rank[a]);
	}
	ck_assert_int_eq(graph_topo_order(g, NULL, cycle), RP_ECYCLE);
	free(cycle);
}

START_TEST(test_cycles)
{
	for (unsigned seed = 1; seed <= 100; seed++) {
		struct random_graph r;
		struct graph g;
		unsigned s = seed;
		random_dag(&r, 2 + seed % 50, 3 * (seed % 50), &s);
		if (r.n_edges == 0) {
			random_graph_free(&r);
			continue;
		}
		/* Reverse one edge's direction as an extra edge: a cycle through it. */
		size_t e = (size_t)rand_r(&s) % r.n_edges;
		r.from[r.n_edges] = r.to[e];
		r.to[r.n_edges] = r.from[e];
		r.n_edges++;
		ck_assert_int_eq(graph_init(&g, r.n, r.from, r.to, r.n_edges, r.rank, NULL), 0);
		check_cycle_found(&g, &r);
		graph_release(&g);
		random_graph_free(&r);
	}
}
END_TEST

START_TEST(test_self_edge_and_bad_edge)
{
	size_t from[] = { 0, 1 }, to[] = { 1, 1 };
	struct graph g;
	struct rp_error err;
	size_t cycle[2];
	ck_assert_int_eq(graph_init(&g, 2, from, to, 2, NULL, &err), 0);
	ck_assert_int_eq(graph_find_cycle(&g, cycle), 1);
	ck_assert_uint_eq(cycle[0], 1);
	graph_release(&g);
	size_t bad_to[] = { 5 };
	ck_assert_int_eq(graph_init(&g, 2, from, bad_to, 1, NULL, &err), RP_EINVAL);
	ck_assert_str_eq(err.msg, "graph edge 0 (0 -> 5) names a node out of range 0..1");
	size_t bad_rank[] = { 1, 1 };
	ck_assert_int_eq(graph_init(&g, 2, from, to, 2, bad_rank, &err), RP_EINVAL);
	ck_assert_str_eq(err.msg, "graph ranks are not a permutation of 0..1 (node 1)");
}
END_TEST

/* A 10,000-deep chain: the cycle search must not recurse. */
START_TEST(test_deep_chain)
{
	size_t n = 10000;
	size_t *from = malloc(n * sizeof(size_t)), *to = malloc(n * sizeof(size_t));
	for (size_t i = 0; i + 1 < n; i++) {
		from[i] = i + 1;
		to[i] = i;
	}
	from[n - 1] = 0;
	to[n - 1] = n - 1;
	struct graph g;
	size_t *cycle = malloc(n * sizeof(size_t));
	ck_assert_int_eq(graph_init(&g, n, from, to, n, NULL, NULL), 0);
	ck_assert_int_eq(graph_find_cycle(&g, cycle), (long)n);
	ck_assert_uint_eq(cycle[0], 0);
	ck_assert_uint_eq(cycle[1], n - 1);
	graph_release(&g);
	ck_assert_int_eq(graph_init(&g, n, from, to, n - 1, NULL, NULL), 0);
	ck_assert_int_eq(graph_topo_order(&g, NULL, cycle), (long)n);
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_eq(cycle[i], i);
	graph_release(&g);
	free(from);
	free(to);
	free(cycle);
}
END_TEST

START_TEST(test_universe_ranked_by_name)
{
	static const char text[] = "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": ["
				   "{\"name\": \"zeta\", \"repo\": \"r\", \"build\": \"b\"},"
				   "{\"name\": \"top\", \"repo\": \"r\", \"build\": \"b\", \"depends\": [\"zeta\", \"alpha\"]},"
				   "{\"name\": \"alpha\", \"repo\": \"r\", \"build\": \"b\"},"
				   "{\"name\": \"mid\", \"repo\": \"r\", \"build\": \"b\"}]}";
	struct rp_universe *u;
	struct graph g;
	struct rp_error err;
	size_t order[4], seed = 0;
	unsigned char in[4];
	ck_assert_int_eq(manifest_load_buffer(text, strlen(text), "m.json", &u, &err), 0);
	ck_assert_int_eq(graph_init_universe(&g, u, &err), 0);
	ck_assert_int_eq(graph_topo_order(&g, NULL, order), 4);
	const char *want[] = { "alpha", "mid", "zeta", "top" };
	for (int i = 0; i < 4; i++)
		ck_assert_str_eq(u->packages[order[i]].name, want[i]);
	ck_assert_int_eq(graph_reverse_closure(&g, &seed, 1, in), 2);
	ck_assert(in[0] && in[1] && !in[2] && !in[3]);
	graph_release(&g);
	manifest_free(u);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("graph");
	TCase *tc = tcase_create("graph");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_random_small);
	tcase_add_test(tc, test_random_medium);
	tcase_add_test(tc, test_random_large);
	tcase_add_test(tc, test_cycles);
	tcase_add_test(tc, test_self_edge_and_bad_edge);
	tcase_add_test(tc, test_deep_chain);
	tcase_add_test(tc, test_universe_ranked_by_name);
	suite_add_tcase(s, tc);
	return check_run_suite(s);
}
