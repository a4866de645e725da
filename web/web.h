/*
 * web.h — the dashboard's files (web/index.html, app.js, style.css), compiled into the
 * binary at build time, so `ripple serve` reads no file to serve them.
 *
 * Contract: web_find() maps a request path ("/", "/app.js", ...) to its file,
 * or NULL. The page is static; everything it shows it reads from the JSON API
 * (docs/api.md) and it escapes every string it puts into the page.
 */
#ifndef RIPPLE_WEB_H
#define RIPPLE_WEB_H

#include <stddef.h>

struct web_file {
	const char *path; /* "/", "/app.js", ... */
	const char *type; /* Content-Type */
	const unsigned char *data;
	size_t size;
};

const struct web_file *web_find(const char *path);

#endif
