#include "json_locate.h"

#include <jansson.h>
#include <string.h>

#include "banned.h"

struct cursor {
	const char *p;
	const char *end;
};

static void skip_space(struct cursor *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

/* c->p is at an opening quote; leaves it after the closing one. */
static void skip_string(struct cursor *c)
{
	c->p++;
	while (c->p < c->end && *c->p != '"') {
		if (*c->p == '\\' && c->p + 1 < c->end)
			c->p++;
		c->p++;
	}
	if (c->p < c->end)
		c->p++;
}

/* Skips one whole value; the text is valid JSON, so brackets balance. */
static void skip_value(struct cursor *c)
{
	int depth = 0;
	do {
		skip_space(c);
		if (c->p >= c->end)
			return;
		char ch = *c->p;
		if (ch == '"') {
			skip_string(c);
		} else if (ch == '{' || ch == '[') {
			depth++;
			c->p++;
		} else if (ch == '}' || ch == ']') {
			depth--;
			c->p++;
		} else if (ch == ',' || ch == ':') {
			c->p++;
		} else {
			while (c->p < c->end && !strchr(",]} \t\r\n", *c->p))
				c->p++;
		}
	} while (depth > 0);
}

static int key_equals(const char *raw, size_t raw_len, const char *key)
{
	/* raw includes both quotes */
	if (!memchr(raw, '\\', raw_len))
		return raw_len - 2 == strlen(key) && memcmp(raw + 1, key, raw_len - 2) == 0;
	json_t *decoded = json_loadb(raw, raw_len, JSON_DECODE_ANY, NULL);
	int equal = json_is_string(decoded) && strcmp(json_string_value(decoded), key) == 0;
	json_decref(decoded);
	return equal;
}

/* Moves c->p to the member `key` of the object at c->p; returns its key's start or NULL. */
static const char *enter_member(struct cursor *c, const char *key)
{
	skip_space(c);
	if (c->p >= c->end || *c->p != '{')
		return NULL;
	c->p++;
	for (;;) {
		skip_space(c);
		if (c->p >= c->end || *c->p != '"')
			return NULL;
		const char *key_start = c->p;
		skip_string(c);
		int match = key_equals(key_start, (size_t)(c->p - key_start), key);
		skip_space(c);
		if (c->p < c->end && *c->p == ':')
			c->p++;
		skip_space(c);
		if (match)
			return key_start;
		skip_value(c);
		skip_space(c);
		if (c->p >= c->end || *c->p != ',')
			return NULL;
		c->p++;
	}
}

static int enter_element(struct cursor *c, size_t index)
{
	skip_space(c);
	if (c->p >= c->end || *c->p != '[')
		return 0;
	c->p++;
	for (size_t i = 0;; i++) {
		skip_space(c);
		if (c->p >= c->end || *c->p == ']')
			return 0;
		if (i == index)
			return 1;
		skip_value(c);
		skip_space(c);
		if (c->p >= c->end || *c->p != ',')
			return 0;
		c->p++;
	}
}

void json_position(const char *text, size_t offset, int *line, int *column)
{
	int l = 1, col = 1;
	for (size_t i = 0; i < offset && text[i]; i++) {
		unsigned char ch = (unsigned char)text[i];
		if (ch == '\n') {
			l++;
			col = 1;
		} else if ((ch & 0xC0) != 0x80) {
			col++;
		}
	}
	*line = l;
	*column = col;
}

size_t json_locate(const char *text, size_t len, const struct json_step *path, size_t depth,
		   enum json_locate_what what, int *line, int *column)
{
	struct cursor c = { text, text + len };
	skip_space(&c);
	const char *found = c.p;
	size_t resolved = 0;
	for (; resolved < depth; resolved++) {
		struct cursor probe = c;
		const char *key_start = NULL;
		if (path[resolved].key) {
			key_start = enter_member(&probe, path[resolved].key);
			if (!key_start)
				break;
		} else if (!enter_element(&probe, path[resolved].index)) {
			break;
		}
		c = probe;
		skip_space(&c);
		found = (what == JSON_LOCATE_KEY && resolved + 1 == depth && key_start) ? key_start : c.p;
	}
	json_position(text, (size_t)(found - text), line, column);
	return resolved;
}
