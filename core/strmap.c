#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "banned.h"

/* FNV-1a: short names, no adversarial input that a stronger hash would need. */
static uint64_t strmap__hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

void strmap_init(struct strmap *m)
{
	memset(m, 0, sizeof(*m));
}

void strmap_release(struct strmap *m)
{
	free(m->keys);
	free(m->values);
	strmap_init(m);
}

static size_t strmap__slot(const char **keys, size_t capacity, const char *key)
{
	size_t mask = capacity - 1;
	size_t i = (size_t)strmap__hash(key) & mask;
	while (keys[i] && strcmp(keys[i], key) != 0)
		i = (i + 1) & mask;
	return i;
}

static int strmap__grow(struct strmap *m)
{
	size_t capacity = m->capacity ? m->capacity * 2 : 16;
	const char **keys = calloc(capacity, sizeof(*keys));
	size_t *values = calloc(capacity, sizeof(*values));
	if (!keys || !values) {
		free(keys);
		free(values);
		return RP_ENOMEM;
	}
	for (size_t i = 0; i < m->capacity; i++) {
		if (!m->keys[i])
			continue;
		size_t j = strmap__slot(keys, capacity, m->keys[i]);
		keys[j] = m->keys[i];
		values[j] = m->values[i];
	}
	free(m->keys);
	free(m->values);
	m->keys = keys;
	m->values = values;
	m->capacity = capacity;
	return 0;
}

int strmap_put(struct strmap *m, const char *key, size_t value, size_t *existing)
{
	if ((m->count + 1) * 2 > m->capacity) {
		int rc = strmap__grow(m);
		if (rc)
			return rc;
	}
	size_t i = strmap__slot(m->keys, m->capacity, key);
	if (m->keys[i]) {
		if (existing)
			*existing = m->values[i];
		return RP_EEXISTS;
	}
	m->keys[i] = key;
	m->values[i] = value;
	m->count++;
	return 0;
}

int strmap_get(const struct strmap *m, const char *key, size_t *value)
{
	if (!m->capacity)
		return 0;
	size_t i = strmap__slot(m->keys, m->capacity, key);
	if (!m->keys[i])
		return 0;
	if (value)
		*value = m->values[i];
	return 1;
}
