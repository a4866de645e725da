/*
 * strmap.h — a string → index map for name lookups in large universes.
 *
 * Contract: keys are borrowed, not copied: they must outlive the map and not
 * change while in it. Open addressing with linear probing, kept at most half
 * full, so lookups stay O(1) for 10,000-package universes.
 */
#ifndef RIPPLE_CORE_STRMAP_H
#define RIPPLE_CORE_STRMAP_H

#include <stddef.h>

struct strmap {
	const char **keys;
	size_t *values;
	size_t capacity; /* a power of two, or 0 before the first put */
	size_t count;
};

void strmap_init(struct strmap *m);
void strmap_release(struct strmap *m);

/*
 * Inserts `key` → `value`. Returns 0, RP_EEXISTS when `key` is already present
 * (its value is left unchanged and stored in *existing when non-NULL), or RP_ENOMEM.
 */
int strmap_put(struct strmap *m, const char *key, size_t value, size_t *existing);

/* Returns 1 and sets *value when `key` is present, 0 otherwise. */
int strmap_get(const struct strmap *m, const char *key, size_t *value);

#endif
