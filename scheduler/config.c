/*
 * config.c — the scheduler's configuration file (config.h): one table of
 * settings drives parsing, validation and the error messages.
 */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_locate.h"
#include "core/manifest.h"
#include "core/banned.h"

enum type {
	T_INT,	  /* integer in [min, max] */
	T_BOOL,
	T_URL,	  /* http:// or https:// */
	T_PATH,	  /* a file name, kept as given (relative to the config's directory) */
	T_SECRET, /* a file name; its first line is read and kept */
	T_TIME,	  /* "HH:MM" */
};

struct setting {
	const char *path; /* dotted: "nightly.every_hours" */
	enum type type;
	int min, max;
	size_t offset; /* into struct serve_config */
	const char *help; /* what is expected, for errors */
};

#define AT(field) offsetof(struct serve_config, field)
#define FORGE(k, field) (offsetof(struct serve_config, forges) + (k) * sizeof(struct config_forge) + \
			 offsetof(struct config_forge, field))

static const struct setting settings[] = {
	{ "public_url", T_URL, 0, 0, AT(public_url), "the URL users reach the dashboard at" },
	{ "lease_seconds", T_INT, 1, 3600, AT(lease_seconds), "seconds from 1 to 3600" },
	{ "flaky_retries", T_INT, 1, 20, AT(flaky_retries), "runs from 1 to 20" },
	{ "auth.public_read", T_BOOL, 0, 0, AT(public_read), "true or false" },
	{ "auth.worker_token_file", T_PATH, 0, 0, AT(worker_token_file), "a file name" },
	{ "auth.api_token_file", T_PATH, 0, 0, AT(api_token_file), "a file name" },
	{ "nightly.at", T_TIME, 0, 0, AT(nightly_hour), "a time of day \"HH:MM\"" },
	{ "nightly.every_hours", T_INT, 1, 168, AT(nightly_every_hours), "hours from 1 to 168" },
	{ "nightly.fuzz", T_BOOL, 0, 0, AT(nightly_fuzz), "true or false" },
	{ "history.daily", T_INT, 1, 3650, AT(history_daily), "points from 1 to 3650" },
	{ "history.weekly", T_INT, 1, 520, AT(history_weekly), "points from 1 to 520" },
	{ "history.monthly", T_INT, 1, 240, AT(history_monthly), "points from 1 to 240" },
	{ "history.drop_percent", T_INT, 1, 1000, AT(history_drop_percent), "a percentage from 1 to 1000" },
	{ "retention.logs_days", T_INT, 0, 36500, AT(retention_logs_days), "days from 0 (keep) to 36500" },
	{ "retention.runs_days", T_INT, 0, 36500, AT(retention_runs_days), "days from 0 (keep) to 36500" },
	{ "bisect.auto", T_BOOL, 0, 0, AT(bisect_auto), "true or false" },
	{ "bisect.probes", T_INT, 1, 32, AT(bisect_probes), "commits from 1 to 32" },
	{ "forges.github.api_url", T_URL, 0, 0, FORGE(CONFIG_GITHUB, api_url), "an http(s) URL" },
	{ "forges.github.token_file", T_SECRET, 0, 0, FORGE(CONFIG_GITHUB, token), "a file holding the token" },
	{ "forges.github.webhook_secret_file", T_SECRET, 0, 0, FORGE(CONFIG_GITHUB, secret),
	  "a file holding the webhook secret" },
	{ "forges.gitlab.api_url", T_URL, 0, 0, FORGE(CONFIG_GITLAB, api_url), "an http(s) URL" },
	{ "forges.gitlab.token_file", T_SECRET, 0, 0, FORGE(CONFIG_GITLAB, token), "a file holding the token" },
	{ "forges.gitlab.webhook_token_file", T_SECRET, 0, 0, FORGE(CONFIG_GITLAB, secret),
	  "a file holding the webhook token" },
	{ "forges.gitea.api_url", T_URL, 0, 0, FORGE(CONFIG_GITEA, api_url), "an http(s) URL" },
	{ "forges.gitea.token_file", T_SECRET, 0, 0, FORGE(CONFIG_GITEA, token), "a file holding the token" },
	{ "forges.gitea.webhook_secret_file", T_SECRET, 0, 0, FORGE(CONFIG_GITEA, secret),
	  "a file holding the webhook secret" },
};
#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))

const char *config_forge_name(enum config_forge_kind kind)
{
	static const char *const names[] = { "github", "gitlab", "gitea" };
	return (unsigned)kind < CONFIG_N_FORGES ? names[kind] : "unknown";
}

void config_defaults(struct serve_config *c)
{
	memset(c, 0, sizeof(*c));
	c->lease_seconds = 30;
	c->flaky_retries = 3;
	c->nightly_hour = 2;
	c->nightly_every_hours = 24;
	c->history_daily = 60;
	c->history_weekly = 52;
	c->history_monthly = 36;
	c->history_drop_percent = 20;
	c->retention_logs_days = 90;
	c->retention_runs_days = 0;
	c->bisect_auto = 1;
	c->bisect_probes = 4;
}

void config_free(struct serve_config *c)
{
	if (!c)
		return;
	free(c->public_url);
	free(c->worker_token_file);
	free(c->api_token_file);
	for (int k = 0; k < CONFIG_N_FORGES; k++) {
		free(c->forges[k].api_url);
		if (c->forges[k].token)
			explicit_bzero(c->forges[k].token, strlen(c->forges[k].token));
		if (c->forges[k].secret)
			explicit_bzero(c->forges[k].secret, strlen(c->forges[k].secret));
		free(c->forges[k].token);
		free(c->forges[k].secret);
	}
	free(c);
}

struct ctx {
	const char *file, *text, *dir;
	size_t len;
	struct json_step path[4];
	size_t depth;
	char dotted[128];
	struct rp_error *err;
};

__attribute__((format(printf, 3, 4))) static int fail(struct ctx *c, enum json_locate_what what, const char *fmt,
						       ...)
{
	char detail[RP_ERROR_MAX];
	int line, column;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	json_locate(c->text, c->len, c->path, c->depth, what, &line, &column);
	int rc = rp_error_set(c->err, RP_EINVAL, "%s:%d:%d: %s", c->file, line, column, detail);
	if (c->err) {
		c->err->line = line;
		c->err->column = column;
	}
	return rc;
}

/* The keys allowed right under the object at c->dotted ("" for the top), for did-you-mean. */
static size_t keys_under(const struct ctx *c, const char **out, size_t cap)
{
	size_t n = 0, plen = strlen(c->dotted);
	for (size_t i = 0; i < N_SETTINGS && n < cap; i++) {
		const char *p = settings[i].path;
		if (plen && (strncmp(p, c->dotted, plen) != 0 || p[plen] != '.'))
			continue;
		const char *rest = p + (plen ? plen + 1 : 0);
		size_t klen = strcspn(rest, ".");
		static char names[N_SETTINGS][48];
		snprintf(names[i], sizeof(names[i]), "%.*s", (int)klen, rest);
		int dup = 0;
		for (size_t k = 0; k < n; k++)
			dup |= strcmp(out[k], names[i]) == 0;
		if (!dup)
			out[n++] = names[i];
	}
	return n;
}

static int read_secret(struct ctx *c, const char *name, char **out)
{
	char path[PATH_MAX], line[4096];
	if (name[0] == '/' || !c->dir)
		snprintf(path, sizeof(path), "%s", name);
	else
		snprintf(path, sizeof(path), "%s/%s", c->dir, name);
	FILE *fp = fopen(path, "r");
	if (!fp)
		return fail(c, JSON_LOCATE_VALUE, "cannot read %s: %s; expected a readable file", path, strerror(errno));
	int ok = fgets(line, sizeof(line), fp) != NULL;
	fclose(fp);
	line[ok ? strcspn(line, "\r\n") : 0] = '\0';
	if (!line[0]) {
		explicit_bzero(line, sizeof(line));
		return fail(c, JSON_LOCATE_VALUE, "%s is empty; expected the secret on its first line", path);
	}
	*out = strdup(line);
	explicit_bzero(line, sizeof(line));
	return *out ? 0 : rp_error_set(c->err, RP_ENOMEM, "out of memory");
}

static int set_value(struct ctx *c, struct serve_config *cfg, const struct setting *s, json_t *v)
{
	char *field = (char *)cfg + s->offset;
	switch (s->type) {
	case T_INT:
		if (!json_is_integer(v) || json_integer_value(v) < s->min || json_integer_value(v) > s->max)
			return fail(c, JSON_LOCATE_VALUE, "%s: expected %s", c->dotted, s->help);
		*(int *)field = (int)json_integer_value(v);
		return 0;
	case T_BOOL:
		if (!json_is_boolean(v))
			return fail(c, JSON_LOCATE_VALUE, "%s: expected %s", c->dotted, s->help);
		*(int *)field = json_is_true(v);
		return 0;
	case T_TIME: {
		const char *t = json_string_value(v);
		int h, m;
		char end;
		if (!t || strlen(t) != 5 || sscanf(t, "%2d:%2d%c", &h, &m, &end) != 2 || h < 0 || h > 23 || m < 0 ||
		    m > 59)
			return fail(c, JSON_LOCATE_VALUE, "%s: expected %s", c->dotted, s->help);
		cfg->nightly_hour = h;
		cfg->nightly_minute = m;
		return 0;
	}
	case T_URL:
	case T_PATH:
	case T_SECRET: {
		const char *t = json_string_value(v);
		if (!t || !*t || strlen(t) > 2000)
			return fail(c, JSON_LOCATE_VALUE, "%s: expected %s", c->dotted, s->help);
		if (s->type == T_URL && strncmp(t, "http://", 7) != 0 && strncmp(t, "https://", 8) != 0)
			return fail(c, JSON_LOCATE_VALUE, "%s: \"%.200s\" is not an http(s) URL; expected %s", c->dotted,
				    t, s->help);
		char **slot = (char **)field;
		free(*slot);
		*slot = NULL;
		if (s->type == T_SECRET)
			return read_secret(c, t, slot);
		if (s->type == T_PATH && t[0] != '/' && c->dir) {
			size_t n = strlen(c->dir) + strlen(t) + 2;
			if ((*slot = malloc(n)))
				snprintf(*slot, n, "%s/%s", c->dir, t);
		} else {
			*slot = strdup(t);
		}
		if (s->type == T_URL && *slot) /* links are joined to it: no trailing slash */
			for (size_t n = strlen(*slot); n > 8 && (*slot)[n - 1] == '/'; n--)
				(*slot)[n - 1] = '\0';
		return *slot ? 0 : rp_error_set(c->err, RP_ENOMEM, "out of memory");
	}
	}
	return 0;
}

static int walk(struct ctx *c, struct serve_config *cfg, json_t *obj)
{
	const char *key;
	json_t *v;
	if (!json_is_object(obj))
		return fail(c, JSON_LOCATE_VALUE, "%s: expected an object", c->depth ? c->dotted : "the configuration");
	json_object_foreach(obj, key, v)
	{
		size_t plen = strlen(c->dotted);
		if (c->depth == sizeof(c->path) / sizeof(c->path[0]) || plen + strlen(key) + 2 > sizeof(c->dotted))
			return fail(c, JSON_LOCATE_VALUE, "nested too deep; expected the keys of docs/config.md");
		c->path[c->depth++] = (struct json_step){ key, 0 };
		snprintf(c->dotted + plen, sizeof(c->dotted) - plen, "%s%s", plen ? "." : "", key);
		const struct setting *s = NULL;
		int is_section = 0;
		size_t dlen = strlen(c->dotted);
		for (size_t i = 0; i < N_SETTINGS; i++) {
			if (strcmp(settings[i].path, c->dotted) == 0)
				s = &settings[i];
			else if (strncmp(settings[i].path, c->dotted, dlen) == 0 && settings[i].path[dlen] == '.')
				is_section = 1;
		}
		int rc = 0;
		if (s) {
			rc = set_value(c, cfg, s, v);
		} else if (is_section) {
			if (strncmp(c->dotted, "forges.", 7) == 0 && c->depth == 2) {
				for (int k = 0; k < CONFIG_N_FORGES; k++)
					if (strcmp(key, config_forge_name((enum config_forge_kind)k)) == 0)
						cfg->forges[k].enabled = 1;
			}
			if (strcmp(c->dotted, "nightly") == 0)
				cfg->nightly_enabled = 1;
			rc = walk(c, cfg, v);
		} else {
			const char *names[N_SETTINGS];
			c->dotted[plen] = '\0';
			size_t n = keys_under(c, names, N_SETTINGS);
			const char *hint = manifest_suggest(key, names, n);
			char expected[600] = "";
			for (size_t i = 0, len = 0; i < n && len < sizeof(expected) - 80; i++)
				len += (size_t)snprintf(expected + len, sizeof(expected) - len, "%s%s", i ? ", " : "",
							names[i]);
			rc = fail(c, JSON_LOCATE_KEY, "unknown key \"%.64s\"%s%s%s; expected one of %s", key,
				  hint ? " (did you mean \"" : "", hint ? hint : "", hint ? "\"?)" : "", expected);
		}
		if (rc < 0)
			return rc;
		c->depth--;
		c->dotted[plen] = '\0';
	}
	return 0;
}

int config_load_file(const char *path, struct serve_config **out, struct rp_error *err)
{
	struct serve_config *cfg = calloc(1, sizeof(*cfg));
	char *text = NULL, *dir = NULL;
	json_t *doc = NULL;
	int rc = 0;
	*out = NULL;
	if (!cfg)
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	config_defaults(cfg);
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		rc = rp_error_set(err, RP_EINVAL, "%s: %s", path, strerror(errno));
		goto out;
	}
	size_t cap = 0, len = 0, n;
	char buf[8192];
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0) {
		if (len + n + 1 > cap) {
			cap = (len + n + 1) * 2;
			char *t = cap <= (1u << 20) * 4 ? realloc(text, cap) : NULL;
			if (!t) {
				fclose(fp);
				rc = rp_error_set(err, RP_EINVAL, "%s: too large or out of memory; expected at most 2 MiB", path);
				goto out;
			}
			text = t;
		}
		memcpy(text + len, buf, n);
		len += n;
	}
	fclose(fp);
	if (!text) {
		rc = rp_error_set(err, RP_EINVAL, "%s:1:1: empty file; expected a JSON object", path);
		goto out;
	}
	text[len] = '\0';
	json_error_t jerr;
	doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc) {
		rc = rp_error_set(err, RP_EINVAL, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
		goto out;
	}
	char *slash = strrchr(path, '/');
	if (slash && (dir = strdup(path)))
		dir[slash - path] = '\0';
	struct ctx c = { .file = path, .text = text, .len = len, .dir = dir, .err = err };
	if ((rc = walk(&c, cfg, doc)) < 0)
		goto out;
	for (int k = 0; k < CONFIG_N_FORGES; k++) {
		if (cfg->forges[k].enabled && !cfg->forges[k].api_url) {
			struct json_step at[2] = { { "forges", 0 }, { config_forge_name((enum config_forge_kind)k), 0 } };
			c.depth = 2;
			memcpy(c.path, at, sizeof(at));
			rc = fail(&c, JSON_LOCATE_VALUE, "forges.%s: missing api_url; expected the forge's API URL",
				  config_forge_name((enum config_forge_kind)k));
			goto out;
		}
	}
	*out = cfg;
	cfg = NULL;
out:
	json_decref(doc);
	free(text);
	free(dir);
	config_free(cfg);
	return rc;
}
