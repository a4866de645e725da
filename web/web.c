/* web.c — the table behind web_find() (web.h). */
#include "web.h"

#include <pthread.h>
#include <string.h>

extern const unsigned char web__index_html[], web__app_js[], web__style_css[];
extern const size_t web__index_html_len, web__app_js_len, web__style_css_len;

/* Filled once: the sizes live in other files, so they are not constant expressions here. */
static struct web_file files[3];

static void fill(void)
{
	files[0] = (struct web_file){ "/", "text/html; charset=utf-8", web__index_html, web__index_html_len };
	files[1] = (struct web_file){ "/app.js", "text/javascript; charset=utf-8", web__app_js, web__app_js_len };
	files[2] = (struct web_file){ "/style.css", "text/css; charset=utf-8", web__style_css, web__style_css_len };
}

const struct web_file *web_find(const char *path)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, fill);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (strcmp(files[i].path, path) == 0)
			return &files[i];
	return NULL;
}
