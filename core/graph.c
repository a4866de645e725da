#include "graph.h"

#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "banned.h"

void graph_release(struct graph *g)
{
	free(g->dep_start);
	free(g->deps);
	free(g->rdep_start);
	free(g->rdeps);
	free(g->rank);
	memset(g, 0, sizeof(*g));
}

/* Counting sort of edges into compressed rows keyed by `key`, values `value`. */
static int graph__fill(size_t n, const size_t *key, const size_t *value, size_t n_edges,
		       size_t **start_out, size_t **items_out)
{
	size_t *start = calloc(n + 1, sizeof(*start));
	size_t *items = malloc((n_edges ? n_edges : 1) * sizeof(*items));
	size_t *fill = malloc((n ? n : 1) * sizeof(*fill));
	if (!start || !items || !fill) {
		free(start);
		free(items);
		free(fill);
		return RP_ENOMEM;
	}
	for (size_t e = 0; e < n_edges; e++)
		start[key[e] + 1]++;
	for (size_t i = 0; i < n; i++)
		start[i + 1] += start[i];
	memcpy(fill, start, n * sizeof(*fill));
	for (size_t e = 0; e < n_edges; e++)
		items[fill[key[e]]++] = value[e];
	free(fill);
	*start_out = start;
	*items_out = items;
	return 0;
}

int graph_init(struct graph *g, size_t n, const size_t *from, const size_t *to, size_t n_edges,
	       const size_t *rank, struct rp_error *err)
{
	memset(g, 0, sizeof(*g));
	for (size_t e = 0; e < n_edges; e++)
		if (from[e] >= n || to[e] >= n)
			return rp_error_set(err, RP_EINVAL, "graph edge %zu (%zu -> %zu) names a node out of range 0..%zu",
					    e, from[e], to[e], n ? n - 1 : 0);
	g->n = n;
	g->rank = malloc((n ? n : 1) * sizeof(*g->rank));
	unsigned char *seen = calloc(n ? n : 1, 1);
	if (!g->rank || !seen) {
		free(seen);
		goto nomem;
	}
	for (size_t i = 0; i < n; i++) {
		g->rank[i] = rank ? rank[i] : i;
		if (g->rank[i] >= n || seen[g->rank[i]]++) {
			free(seen);
			graph_release(g);
			return rp_error_set(err, RP_EINVAL, "graph ranks are not a permutation of 0..%zu (node %zu)",
					    n ? n - 1 : 0, i);
		}
	}
	free(seen);
	if (graph__fill(n, from, to, n_edges, &g->dep_start, &g->deps) < 0)
		goto nomem;
	if (graph__fill(n, to, from, n_edges, &g->rdep_start, &g->rdeps) < 0)
		goto nomem;
	return 0;
nomem:
	graph_release(g);
	return rp_error_set(err, RP_ENOMEM, "out of memory building a graph of %zu nodes", n);
}

struct named_node {
	const char *name;
	size_t node;
};

static int graph__by_name(const void *a, const void *b)
{
	return strcmp(((const struct named_node *)a)->name, ((const struct named_node *)b)->name);
}

int graph_init_universe(struct graph *g, const struct rp_universe *u, struct rp_error *err)
{
	size_t n = u->n_packages, n_edges = 0;
	for (size_t i = 0; i < n; i++)
		n_edges += u->packages[i].n_depends;
	size_t *from = malloc((n_edges ? n_edges : 1) * sizeof(*from));
	size_t *to = malloc((n_edges ? n_edges : 1) * sizeof(*to));
	struct named_node *by_name = malloc((n ? n : 1) * sizeof(*by_name));
	size_t *rank = malloc((n ? n : 1) * sizeof(*rank));
	int rc;
	if (!from || !to || !by_name || !rank) {
		rc = rp_error_set(err, RP_ENOMEM, "out of memory building the dependency graph");
		goto out;
	}
	size_t e = 0;
	for (size_t i = 0; i < n; i++) {
		for (size_t d = 0; d < u->packages[i].n_depends; d++) {
			from[e] = i;
			to[e] = u->packages[i].depends[d];
			e++;
		}
		by_name[i].name = u->packages[i].name;
		by_name[i].node = i;
	}
	qsort(by_name, n, sizeof(*by_name), graph__by_name);
	for (size_t r = 0; r < n; r++)
		rank[by_name[r].node] = r;
	rc = graph_init(g, n, from, to, n_edges, rank, err);
out:
	free(from);
	free(to);
	free(by_name);
	free(rank);
	return rc;
}

long graph_reverse_closure(const struct graph *g, const size_t *seeds, size_t n_seeds,
			   unsigned char *in_closure)
{
	size_t *queue = malloc((g->n ? g->n : 1) * sizeof(*queue));
	if (!queue)
		return RP_ENOMEM;
	memset(in_closure, 0, g->n);
	size_t head = 0, tail = 0;
	for (size_t s = 0; s < n_seeds; s++) {
		if (seeds[s] < g->n && !in_closure[seeds[s]]) {
			in_closure[seeds[s]] = 1;
			queue[tail++] = seeds[s];
		}
	}
	while (head < tail) {
		size_t node = queue[head++];
		for (size_t k = g->rdep_start[node]; k < g->rdep_start[node + 1]; k++) {
			size_t r = g->rdeps[k];
			if (!in_closure[r]) {
				in_closure[r] = 1;
				queue[tail++] = r;
			}
		}
	}
	free(queue);
	return (long)tail;
}

/* A binary min-heap of nodes ordered by rank. */
struct rank_heap {
	size_t *items;
	size_t len;
	const size_t *rank;
};

static void heap_push(struct rank_heap *h, size_t node)
{
	size_t i = h->len++;
	h->items[i] = node;
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (h->rank[h->items[parent]] <= h->rank[h->items[i]])
			break;
		size_t t = h->items[parent];
		h->items[parent] = h->items[i];
		h->items[i] = t;
		i = parent;
	}
}

static size_t heap_pop(struct rank_heap *h)
{
	size_t top = h->items[0];
	h->items[0] = h->items[--h->len];
	size_t i = 0;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < h->len && h->rank[h->items[l]] < h->rank[h->items[m]])
			m = l;
		if (r < h->len && h->rank[h->items[r]] < h->rank[h->items[m]])
			m = r;
		if (m == i)
			break;
		size_t t = h->items[m];
		h->items[m] = h->items[i];
		h->items[i] = t;
		i = m;
	}
	return top;
}

long graph_topo_order(const struct graph *g, const unsigned char *mask, size_t *order)
{
	size_t *pending = calloc(g->n ? g->n : 1, sizeof(*pending));
	struct rank_heap heap = { malloc((g->n ? g->n : 1) * sizeof(size_t)), 0, g->rank };
	long written = 0;
	size_t selected = 0;
	if (!pending || !heap.items) {
		written = RP_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < g->n; i++) {
		if (mask && !mask[i])
			continue;
		selected++;
		for (size_t k = g->dep_start[i]; k < g->dep_start[i + 1]; k++)
			if (!mask || mask[g->deps[k]])
				pending[i]++;
		if (!pending[i])
			heap_push(&heap, i);
	}
	while (heap.len) {
		size_t node = heap_pop(&heap);
		order[written++] = node;
		for (size_t k = g->rdep_start[node]; k < g->rdep_start[node + 1]; k++) {
			size_t r = g->rdeps[k];
			if ((!mask || mask[r]) && --pending[r] == 0)
				heap_push(&heap, r);
		}
	}
	if ((size_t)written != selected)
		written = RP_ECYCLE;
out:
	free(pending);
	free(heap.items);
	return written;
}

enum { WHITE = 0, GREY, BLACK };

long graph_find_cycle(const struct graph *g, size_t *cycle)
{
	/* Iterative DFS: a recursive one would overflow the stack on a 10,000-deep chain. */
	unsigned char *colour = calloc(g->n ? g->n : 1, 1);
	size_t *stack = malloc((g->n ? g->n : 1) * sizeof(*stack));
	size_t *next_edge = malloc((g->n ? g->n : 1) * sizeof(*next_edge));
	size_t *by_rank = malloc((g->n ? g->n : 1) * sizeof(*by_rank));
	long length = 0;
	if (!colour || !stack || !next_edge || !by_rank) {
		length = RP_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < g->n; i++)
		by_rank[g->rank[i]] = i;
	for (size_t r = 0; r < g->n && !length; r++) {
		size_t root = by_rank[r];
		if (colour[root] != WHITE)
			continue;
		size_t depth = 0;
		stack[depth++] = root;
		colour[root] = GREY;
		next_edge[root] = g->dep_start[root];
		while (depth && !length) {
			size_t node = stack[depth - 1];
			if (next_edge[node] == g->dep_start[node + 1]) {
				colour[node] = BLACK;
				depth--;
				continue;
			}
			size_t dep = g->deps[next_edge[node]++];
			if (colour[dep] == WHITE) {
				colour[dep] = GREY;
				next_edge[dep] = g->dep_start[dep];
				stack[depth++] = dep;
			} else if (colour[dep] == GREY) {
				size_t start = depth - 1;
				while (stack[start] != dep)
					start--;
				length = (long)(depth - start);
				/* Rotate so the cycle starts at its lowest-ranked node. */
				size_t lowest = 0;
				for (long k = 1; k < length; k++)
					if (g->rank[stack[start + (size_t)k]] < g->rank[stack[start + lowest]])
						lowest = (size_t)k;
				for (long k = 0; k < length; k++)
					cycle[k] = stack[start + (lowest + (size_t)k) % (size_t)length];
			}
		}
	}
out:
	free(colour);
	free(stack);
	free(next_edge);
	free(by_rank);
	return length;
}
