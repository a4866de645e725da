/*
 * coverage-internal.h — what coverage/'s files share beyond coverage.h.
 * Nothing outside coverage/ includes this.
 */
#ifndef RIPPLE_COVERAGE_INTERNAL_H
#define RIPPLE_COVERAGE_INTERNAL_H

#include <stddef.h>

/* The whole of a file, NUL-terminated, in a malloc'd buffer (*len without the NUL); NULL when it cannot be read. */
char *coverage__slurp(const char *path, size_t *len);

#endif
