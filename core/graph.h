/*
 * graph.h — the dependency graph of a universe: reverse closure, topological
 * order with deterministic tie-breaking, cycle detection.
 *
 * Contract: nodes are 0..n-1; an edge (from, to) means "from depends on to".
 * The graph stores both directions in compressed adjacency arrays and owns them;
 * graph_release() frees them. Ties in topological order are broken by `rank`
 * (for a universe, the position of the package's name in sorted order), so the
 * same universe always yields the same order whatever the manifest's order.
 * Nothing here allocates per query beyond what the caller is told.
 */
#ifndef RIPPLE_CORE_GRAPH_H
#define RIPPLE_CORE_GRAPH_H

#include <stddef.h>

#include "error.h"

struct rp_universe;

struct graph {
	size_t n;
	size_t *dep_start; /* n + 1 offsets into deps */
	size_t *deps;
	size_t *rdep_start; /* n + 1 offsets into rdeps */
	size_t *rdeps;
	size_t *rank; /* rank[node]: tie-breaking key, a permutation of 0..n-1 */
};

/*
 * Builds the graph. `rank` may be NULL (node order is the tie-break); it is copied.
 * Duplicate edges are kept; self edges make a cycle. Returns 0, RP_EINVAL for a
 * node out of range, or RP_ENOMEM.
 */
int graph_init(struct graph *g, size_t n, const size_t *from, const size_t *to, size_t n_edges,
	       const size_t *rank, struct rp_error *err);

/* The graph of a universe's dependencies, ranked by package name. */
int graph_init_universe(struct graph *g, const struct rp_universe *u, struct rp_error *err);

void graph_release(struct graph *g);

/*
 * Marks in `in_closure` (n bytes, written entirely) the seeds and every node
 * that depends on one of them, directly or transitively. Returns the number
 * of marked nodes, or RP_ENOMEM.
 */
long graph_reverse_closure(const struct graph *g, const size_t *seeds, size_t n_seeds,
			   unsigned char *in_closure);

/*
 * Writes into `order` the nodes selected by `mask` (all when NULL), every node
 * after all of its selected dependencies, ties broken by lowest rank first.
 * Returns the number written, RP_ECYCLE when the selection has a cycle (order
 * then holds only the nodes that could be ordered), or RP_ENOMEM.
 */
long graph_topo_order(const struct graph *g, const unsigned char *mask, size_t *order);

/*
 * Finds a dependency cycle. Writes its nodes into `cycle` (room for n) such that
 * each depends on the next and the last on the first, starting at the node of
 * lowest rank, and returns its length; returns 0 when the graph is acyclic,
 * RP_ENOMEM on allocation failure.
 */
long graph_find_cycle(const struct graph *g, size_t *cycle);

#endif
