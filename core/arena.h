/*
 * arena.h — a bump allocator for data that lives and dies together.
 *
 * Contract: everything allocated from an arena is freed at once by
 * arena_release(), never one by one. Allocations are zeroed and aligned for
 * any type. A loaded universe keeps its strings and arrays in one arena: tens
 * of thousands of small allocations become a few large ones, and freeing the
 * universe is one walk over its chunks.
 */
#ifndef RIPPLE_CORE_ARENA_H
#define RIPPLE_CORE_ARENA_H

#include <stddef.h>

struct arena_chunk;

struct arena {
	struct arena_chunk *head;
};

void arena_init(struct arena *a);

/* Zeroed memory for `size` bytes (at least 1), or NULL when out of memory. */
void *arena_alloc(struct arena *a, size_t size);

/* Zeroed memory for `n` elements of `size` bytes; NULL on overflow or out of memory. */
void *arena_calloc(struct arena *a, size_t n, size_t size);

/* A copy of `s` in the arena, or NULL. */
char *arena_strdup(struct arena *a, const char *s);

void arena_release(struct arena *a);

#endif
