/*
 * json_locate.h — where in a JSON text a member sits, for error messages.
 *
 * jansson parses ripple's JSON documents but keeps no positions for values, and
 * a manifest error must name the line and column it is about. This module
 * answers only that question, on a text jansson has already accepted: it walks
 * the structure to the member at a path and returns its 1-based line and column
 * (columns count UTF-8 characters, as jansson's own syntax errors do). Values are
 * never interpreted here; keys with escapes are decoded by jansson.
 */
#ifndef RIPPLE_CORE_JSON_LOCATE_H
#define RIPPLE_CORE_JSON_LOCATE_H

#include <stddef.h>

/* One step of a path: an object member (key != NULL) or an array element. */
struct json_step {
	const char *key;
	size_t index;
};

enum json_locate_what {
	JSON_LOCATE_VALUE, /* the first character of the value at the path */
	JSON_LOCATE_KEY,   /* the opening quote of the last step's key */
};

/*
 * Finds the path in `text` (valid JSON of `len` bytes). When a step cannot be
 * resolved, the position of the deepest value that could be is returned, so a
 * "missing field" error points at the object that lacks it. Returns the number
 * of steps resolved.
 */
size_t json_locate(const char *text, size_t len, const struct json_step *path, size_t depth,
		   enum json_locate_what what, int *line, int *column);

/* The 1-based line and column of byte `offset` of `text`. */
void json_position(const char *text, size_t offset, int *line, int *column);

#endif
