#include "manifest.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "graph.h"
#include "json_locate.h"
#include "banned.h"

#define MAX_PATH_DEPTH 8
/* Room for "fuzz entry N of the api block of package \"NAME\"" and the like. */
#define WHERE_MAX 256
#define PACKAGE_WHERE_MAX (MANIFEST_NAME_MAX + 32)

/* Validation state: the text for positions, and the path to the value being checked. */
struct vctx {
	const char *file;
	const char *text;
	size_t len;
	struct json_step path[MAX_PATH_DEPTH];
	size_t depth;
	struct rp_error *err;
	struct arena *arena; /* the universe's: everything it keeps is allocated here */
	/*
	 * The members of the object check_keys() last walked, so that member()
	 * finds them by a short scan instead of another hash lookup each; on a
	 * large universe those lookups are cache misses that cost more than the
	 * whole validation.
	 */
	const json_t *seen_object;
	const char *seen_keys[16];
	json_t *seen_values[16];
	size_t n_seen;
};

static void push_key(struct vctx *c, const char *key)
{
	c->path[c->depth].key = key;
	c->path[c->depth].index = 0;
	c->depth++;
}

static void push_index(struct vctx *c, size_t index)
{
	c->path[c->depth].key = NULL;
	c->path[c->depth].index = index;
	c->depth++;
}

static void pop(struct vctx *c)
{
	c->depth--;
}

static void err_at(struct rp_error *err, int line, int column)
{
	if (err) {
		err->line = line;
		err->column = column;
	}
}

__attribute__((format(printf, 3, 4))) static int fail(struct vctx *c, enum json_locate_what what,
						       const char *fmt, ...)
{
	char detail[RP_ERROR_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	int line, column;
	json_locate(c->text, c->len, c->path, c->depth, what, &line, &column);
	int rc = rp_error_set(c->err, RP_EINVAL, "%s:%d:%d: %s", c->file, line, column, detail);
	err_at(c->err, line, column);
	return rc;
}

static int no_memory(struct vctx *c)
{
	return rp_error_set(c->err, RP_ENOMEM, "%s: out of memory while loading the manifest", c->file);
}

static const char *json_type_name(json_type type)
{
	switch (type) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number with a fraction";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "a value";
}

static const char *type_name(const json_t *v)
{
	return json_type_name(json_typeof(v));
}

static const char *const runner_names[] = { "process", "sandbox", "vm", "xen" };
#define N_RUNNERS (sizeof(runner_names) / sizeof(runner_names[0]))

/*
 * The options each runner takes, besides "runner". A key not listed here is a
 * typo until a backend learns to read it, so it is refused like any unknown key.
 */
static const char *const runner_options[N_RUNNERS][8] = {
	[RP_RUNNER_PROCESS] = { "runner" },
	[RP_RUNNER_SANDBOX] = { "runner", "cpu_seconds", "memory", "open_files", "file_size" },
	[RP_RUNNER_VM] = { "runner", "memory", "cpus", "kernel", "network", "accel", "output_max" },
	[RP_RUNNER_XEN] = { "runner", "driver", "memory", "vcpus", "kernel", "console_dir", "uri", "kind" },
};

const char *manifest_runner_name(enum rp_runner runner)
{
	return (size_t)runner < N_RUNNERS ? runner_names[runner] : "unknown";
}

int manifest_runner_boots_guest(enum rp_runner runner)
{
	return runner == RP_RUNNER_VM || runner == RP_RUNNER_XEN;
}

/* Levenshtein distance with two rows; inputs are short names. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[2][130];
	if (la > 128 || lb > 128)
		return (size_t)-1;
	for (size_t j = 0; j <= lb; j++)
		row[0][j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t *cur = row[i & 1], *prev = row[(i - 1) & 1];
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
			size_t best = prev[j - 1] + cost;
			if (prev[j] + 1 < best)
				best = prev[j] + 1;
			if (cur[j - 1] + 1 < best)
				best = cur[j - 1] + 1;
			cur[j] = best;
		}
	}
	return row[la & 1][lb];
}

const char *manifest_suggest(const char *word, const char *const *candidates, size_t n)
{
	const char *best = NULL;
	size_t best_distance = (size_t)-1;
	size_t len = strlen(word);
	for (size_t i = 0; i < n; i++) {
		size_t d = edit_distance(word, candidates[i]);
		if (d < best_distance) {
			best_distance = d;
			best = candidates[i];
		}
	}
	/* Close enough to be a typo: two edits, or a third of the word. */
	if (best && (best_distance <= 2 || best_distance * 3 <= len) && best_distance < len)
		return best;
	return NULL;
}

const char *manifest_suggest_package(const struct rp_universe *u, const char *name)
{
	const char **names = malloc((u->n_packages ? u->n_packages : 1) * sizeof(*names));
	if (!names)
		return NULL;
	for (size_t i = 0; i < u->n_packages; i++)
		names[i] = u->packages[i].name;
	const char *hint = manifest_suggest(name, names, u->n_packages);
	free(names);
	return hint;
}

int manifest_valid_name(const char *name)
{
	size_t len = strlen(name);
	if (len == 0 || len > MANIFEST_NAME_MAX)
		return 0;
	if (!islower((unsigned char)name[0]) && !isdigit((unsigned char)name[0]))
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)name[i];
		if (!islower(ch) && !isdigit(ch) && ch != '-' && ch != '_' && ch != '.')
			return 0;
	}
	return 1;
}

static int valid_env_name(const char *name)
{
	if (!isalpha((unsigned char)name[0]) && name[0] != '_')
		return 0;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return 0;
	return 1;
}

/* A git branch name as `git check-ref-format --branch` would accept it, kept simple. */
static int valid_branch(const char *b)
{
	if (!*b || b[0] == '-' || b[0] == '/' || b[strlen(b) - 1] == '/' || b[strlen(b) - 1] == '.')
		return 0;
	if (strstr(b, "..") || strstr(b, "//") || strstr(b, "@{") || strstr(b, ".lock"))
		return 0;
	for (const char *p = b; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f || strchr("~^:?*[\\", *p))
			return 0;
	return 1;
}

static int is_blank_n(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!isspace((unsigned char)s[i]))
			return 0;
	return 1;
}

/* MAJOR.MINOR[.PATCH] with an optional -prerelease or +build suffix. */
static int valid_version(const char *v)
{
	int parts = 0;
	const char *p = v;
	for (;;) {
		if (!isdigit((unsigned char)*p))
			return 0;
		while (isdigit((unsigned char)*p))
			p++;
		parts++;
		if (*p != '.' || parts == 3)
			break;
		p++;
	}
	if (parts < 2)
		return 0;
	return *p == '\0' || ((*p == '-' || *p == '+') && p[1] != '\0');
}

static int is_blank(const char *s)
{
	return is_blank_n(s, strlen(s));
}

/* Rejects keys of `obj` not in `allowed`, naming the closest allowed one. */
static int check_keys(struct vctx *c, json_t *obj, const char *const *allowed, size_t n, const char *where)
{
	const char *key;
	json_t *value;
	c->seen_object = NULL;
	c->n_seen = 0;
	json_object_foreach(obj, key, value) {
		size_t i;
		for (i = 0; i < n; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (i < n) {
			if (c->n_seen < sizeof(c->seen_keys) / sizeof(c->seen_keys[0])) {
				c->seen_keys[c->n_seen] = allowed[i];
				c->seen_values[c->n_seen++] = value;
			}
			continue;
		}
		push_key(c, key);
		const char *hint = manifest_suggest(key, allowed, n);
		if (hint)
			return fail(c, JSON_LOCATE_KEY, "unknown key \"%s\" in %s; did you mean \"%s\"?", key, where,
				    hint);
		char list[512] = "";
		size_t used = 0;
		for (i = 0; i < n && used < sizeof(list); i++)
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", allowed[i]);
		return fail(c, JSON_LOCATE_KEY, "unknown key \"%s\" in %s; expected one of: %s", key, where, list);
	}
	if (c->n_seen < sizeof(c->seen_keys) / sizeof(c->seen_keys[0]))
		c->seen_object = obj;
	return 0;
}

static json_t *lookup(struct vctx *c, json_t *obj, const char *key)
{
	if (obj != c->seen_object)
		return json_object_get(obj, key);
	for (size_t i = 0; i < c->n_seen; i++)
		if (strcmp(c->seen_keys[i], key) == 0)
			return c->seen_values[i];
	return NULL;
}

enum presence { OPTIONAL, REQUIRED };

/*
 * Fetches member `key` of `obj` expecting `type`. Returns 1 and sets *out when
 * present and well typed, 0 when absent and optional, or an error.
 */
static int member(struct vctx *c, json_t *obj, const char *key, json_type type, enum presence presence,
		  const char *where, json_t **out)
{
	json_t *v = lookup(c, obj, key);
	if (!v) {
		if (presence == OPTIONAL)
			return 0;
		return fail(c, JSON_LOCATE_VALUE, "%s is missing required field \"%s\"", where, key);
	}
	int ok = type == JSON_TRUE ? json_is_boolean(v) : json_typeof(v) == type;
	if (!ok) {
		push_key(c, key);
		int rc = fail(c, JSON_LOCATE_VALUE, "\"%s\" of %s must be %s, got %s", key, where,
			      json_type_name(type), type_name(v));
		pop(c);
		return rc;
	}
	*out = v;
	return 1;
}

/* A string member; when `empty_what` is given, one of only whitespace is refused. */
static int string_member(struct vctx *c, json_t *obj, const char *key, enum presence presence,
			 const char *where, const char *empty_what, char **out)
{
	json_t *v = NULL;
	int rc = member(c, obj, key, JSON_STRING, presence, where, &v);
	if (rc <= 0)
		return rc;
	const char *s = json_string_value(v);
	push_key(c, key);
	if (empty_what && is_blank(s))
		rc = fail(c, JSON_LOCATE_VALUE, "\"%s\" of %s is empty; expected %s", key, where, empty_what);
	pop(c);
	if (rc < 0)
		return rc;
	*out = arena_strdup(c->arena, s);
	return *out ? 1 : no_memory(c);
}

static int int_member(struct vctx *c, json_t *obj, const char *key, const char *where, long min, long max,
		      const char *unit, int *out)
{
	json_t *v = NULL;
	int rc = member(c, obj, key, JSON_INTEGER, OPTIONAL, where, &v);
	if (rc <= 0)
		return rc;
	json_int_t n = json_integer_value(v);
	if (n < min || n > max) {
		push_key(c, key);
		rc = fail(c, JSON_LOCATE_VALUE, "\"%s\" of %s must be between %ld and %ld %s, got %lld", key, where,
			  min, max, unit, (long long)n);
		pop(c);
		return rc;
	}
	*out = (int)n;
	return 1;
}

static int load_targets(struct vctx *c, json_t *root, struct rp_universe *u)
{
	json_t *targets;
	int rc = member(c, root, "targets", JSON_OBJECT, REQUIRED, "the top level", &targets);
	if (rc < 0)
		return rc;
	push_key(c, "targets");
	if (json_object_size(targets) == 0) {
		rc = fail(c, JSON_LOCATE_VALUE, "\"targets\" declares no target; expected at least one, such as "
						"{\"unix\": {\"runner\": \"sandbox\"}}");
		goto out;
	}
	u->targets = arena_calloc(c->arena, json_object_size(targets), sizeof(*u->targets));
	if (!u->targets) {
		rc = no_memory(c);
		goto out;
	}
	const char *name;
	json_t *t;
	json_object_foreach(targets, name, t) {
		char where[PACKAGE_WHERE_MAX];
		push_key(c, name);
		if (!manifest_valid_name(name)) {
			rc = fail(c, JSON_LOCATE_KEY, "invalid target name \"%s\"; expected lowercase letters, digits, "
						      "'.', '_' or '-', starting with a letter or digit", name);
			goto out;
		}
		snprintf(where, sizeof(where), "target \"%s\"", name);
		if (!json_is_object(t)) {
			rc = fail(c, JSON_LOCATE_VALUE, "%s must be an object with a \"runner\", got %s", where,
				  type_name(t));
			goto out;
		}
		char *runner = NULL;
		rc = string_member(c, t, "runner", REQUIRED, where, "a runner name", &runner);
		if (rc < 0)
			goto out;
		size_t r;
		for (r = 0; r < N_RUNNERS; r++)
			if (strcmp(runner, runner_names[r]) == 0)
				break;
		if (r == N_RUNNERS) {
			const char *hint = manifest_suggest(runner, runner_names, r);
			push_key(c, "runner");
			rc = fail(c, JSON_LOCATE_VALUE, "%s has unknown runner \"%s\"; expected process, sandbox, vm or xen%s%s%s",
				  where, runner, hint ? " (did you mean \"" : "", hint ? hint : "", hint ? "\"?)" : "");

			goto out;
		}

		size_t n_options = 0;
		while (n_options < 8 && runner_options[r][n_options])
			n_options++;
		char runner_where[WHERE_MAX];
		snprintf(runner_where, sizeof(runner_where), "%s (runner %s)", where, runner_names[r]);
		if ((rc = check_keys(c, t, runner_options[r], n_options, runner_where)) < 0)
			goto out;
		struct rp_target *target = &u->targets[u->n_targets++];
		target->runner = (enum rp_runner)r;
		target->name = arena_strdup(c->arena, name);
		target->options = json_incref(t);
		if (!target->name) {
			rc = no_memory(c);
			goto out;
		}
		pop(c);
	}
	rc = 0;
out:
	c->depth = 0;
	return rc;
}

long manifest_find_target(const struct rp_universe *u, const char *name)
{
	for (size_t i = 0; i < u->n_targets; i++)
		if (strcmp(u->targets[i].name, name) == 0)
			return (long)i;
	return -1;
}

long manifest_find_package(const struct rp_universe *u, const char *name)
{
	size_t index;
	return strmap_get(&u->package_index, name, &index) ? (long)index : -1;
}

int manifest_package_has_target(const struct rp_package *pkg, size_t target)
{
	for (size_t i = 0; i < pkg->n_targets; i++)
		if (pkg->targets[i] == target)
			return 1;
	return 0;
}

static int load_package_targets(struct vctx *c, json_t *obj, struct rp_universe *u, struct rp_package *p,
				const char *where)
{
	json_t *list;
	int rc = member(c, obj, "targets", JSON_ARRAY, OPTIONAL, where, &list);
	if (rc < 0)
		return rc;
	size_t n = rc ? json_array_size(list) : u->n_targets;
	if (rc && n == 0) {
		push_key(c, "targets");
		rc = fail(c, JSON_LOCATE_VALUE, "\"targets\" of %s is empty; expected at least one target", where);
		pop(c);
		return rc;
	}
	p->targets = arena_calloc(c->arena, n, sizeof(*p->targets));
	if (!p->targets)
		return no_memory(c);
	if (!rc) {
		for (size_t i = 0; i < n; i++)
			p->targets[i] = i;
		p->n_targets = n;
		return 0;
	}
	push_key(c, "targets");
	for (size_t i = 0; i < n; i++) {
		json_t *item = json_array_get(list, i);
		push_index(c, i);
		if (!json_is_string(item)) {
			rc = fail(c, JSON_LOCATE_VALUE, "targets of %s must be target names (strings), got %s", where,
				  type_name(item));
			goto out;
		}
		const char *name = json_string_value(item);
		long t = manifest_find_target(u, name);
		if (t < 0) {
			char declared[512] = "";
			size_t used = 0;
			const char **names = calloc(u->n_targets, sizeof(*names));
			if (!names) {
				rc = no_memory(c);
				goto out;
			}
			for (size_t k = 0; k < u->n_targets; k++) {
				names[k] = u->targets[k].name;
				if (used < sizeof(declared))
					used += (size_t)snprintf(declared + used, sizeof(declared) - used, "%s%s",
								 k ? ", " : "", names[k]);
			}
			const char *hint = manifest_suggest(name, names, u->n_targets);
			rc = fail(c, JSON_LOCATE_VALUE, "%s uses undeclared target \"%s\"%s%s%s; declared targets: %s",
				  where, name, hint ? " (did you mean \"" : "", hint ? hint : "", hint ? "\"?)" : "",
				  declared);
			free(names);
			goto out;
		}
		if (manifest_package_has_target(p, (size_t)t)) {
			rc = fail(c, JSON_LOCATE_VALUE, "%s lists target \"%s\" twice", where, name);
			goto out;
		}
		p->targets[p->n_targets++] = (size_t)t;
		pop(c);
	}
	rc = 0;
out:
	c->depth = 2; /* back to the package object */
	return rc;
}

static int env_by_name(const void *a, const void *b)
{
	return strcmp(((const struct rp_env *)a)->name, ((const struct rp_env *)b)->name);
}

static int load_env(struct vctx *c, json_t *obj, struct rp_package *p, const char *where)
{
	json_t *env;
	int rc = member(c, obj, "env", JSON_OBJECT, OPTIONAL, where, &env);
	if (rc <= 0)
		return rc;
	p->env = arena_calloc(c->arena, json_object_size(env), sizeof(*p->env));
	if (!p->env)
		return no_memory(c);
	push_key(c, "env");
	const char *key;
	json_t *value;
	json_object_foreach(env, key, value) {
		push_key(c, key);
		if (!valid_env_name(key)) {
			rc = fail(c, JSON_LOCATE_KEY, "env of %s: \"%s\" is not a valid variable name; expected "
						      "letters, digits and '_', not starting with a digit", where, key);
			goto out;
		}
		if (strncmp(key, "RIPPLE_", 7) == 0) {
			rc = fail(c, JSON_LOCATE_KEY, "env of %s: \"%s\" is reserved; names starting with RIPPLE_ are "
						      "set by ripple itself", where, key);
			goto out;
		}
		if (!json_is_string(value)) {
			rc = fail(c, JSON_LOCATE_VALUE, "env \"%s\" of %s must be a string, got %s",
				  key, where, type_name(value));
			goto out;
		}
		struct rp_env *e = &p->env[p->n_env++];
		e->name = arena_strdup(c->arena, key);
		e->value = arena_strdup(c->arena, json_string_value(value));
		if (!e->name || !e->value) {
			rc = no_memory(c);
			goto out;
		}
		pop(c);
	}
	qsort(p->env, p->n_env, sizeof(*p->env), env_by_name);
	rc = 0;
out:
	c->depth = 2;
	return rc;
}

static int load_api(struct vctx *c, json_t *obj, struct rp_package *p, const char *pkg_where)
{
	static const char *const keys[] = { "library", "headers" };
	json_t *api;
	int rc = member(c, obj, "api", JSON_OBJECT, OPTIONAL, pkg_where, &api);
	if (rc <= 0)
		return rc;
	char where[WHERE_MAX];
	snprintf(where, sizeof(where), "the api block of %s", pkg_where);
	push_key(c, "api");
	if ((rc = check_keys(c, api, keys, 2, where)) < 0)
		goto out;
	if ((rc = string_member(c, api, "library", REQUIRED, where, "a path inside the install prefix",
				&p->api_library)) < 0)
		goto out;
	if ((rc = string_member(c, api, "headers", OPTIONAL, where, "a directory inside the install prefix",
				&p->api_headers)) < 0)
		goto out;
	p->has_api = 1;
	rc = 0;
out:
	c->depth = 2;
	return rc;
}

/*
 * Why `url` is not a webhook URL ripple will POST to, or NULL when it is one:
 * http:// or https://, a host, at most MANIFEST_WEBHOOK_MAX bytes, nothing a
 * request line or a log line could be split by.
 */
static const char *webhook_problem(const char *url, char *buf, size_t size)
{
	size_t len = strlen(url);
	if (len > MANIFEST_WEBHOOK_MAX) {
		snprintf(buf, size, "is %zu bytes long; expected at most %u", len, MANIFEST_WEBHOOK_MAX);
		return buf;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)url[i];
		if (ch <= ' ' || ch == 0x7f) {
			snprintf(buf, size, "has %s at byte %zu; expected a URL without whitespace or control characters",
				 ch == ' ' ? "a space" : isspace(ch) ? "whitespace" : "a control character", i + 1);
			return buf;
		}
	}
	size_t scheme = strncmp(url, "https://", 8) == 0 ? 8 : strncmp(url, "http://", 7) == 0 ? 7 : 0;
	if (!scheme) {
		snprintf(buf, size, "must start with http:// or https://, got \"%.40s%s\"", url, len > 40 ? "..." : "");
		return buf;
	}
	if (strchr("/?#", url[scheme])) {
		snprintf(buf, size, "names no host in \"%.40s%s\"; expected a URL such as https://hooks.example.org/ripple",
			 url, len > 40 ? "..." : "");
		return buf;
	}
	return NULL;
}

/*
 * The notify block: who hears of what a nightly newly broke. It is no input of
 * a build, so buildkey.c must never hash it (a new address rebuilds nothing).
 */
static int load_notify(struct vctx *c, json_t *obj, struct rp_package *p, const char *pkg_where)
{
	static const char *const keys[] = { "webhook" };
	json_t *notify;
	int rc = member(c, obj, "notify", JSON_OBJECT, OPTIONAL, pkg_where, &notify);
	if (rc <= 0)
		return rc;
	char where[WHERE_MAX], problem[256];
	snprintf(where, sizeof(where), "the notify block of %s", pkg_where);
	push_key(c, "notify");
	if ((rc = check_keys(c, notify, keys, sizeof(keys) / sizeof(keys[0]), where)) < 0)
		goto out;
	if ((rc = string_member(c, notify, "webhook", REQUIRED, where, "an http:// or https:// URL",
				&p->notify_webhook)) < 0)
		goto out;
	if (webhook_problem(p->notify_webhook, problem, sizeof(problem))) {
		push_key(c, "webhook");
		rc = fail(c, JSON_LOCATE_VALUE, "\"webhook\" of %s %s", where, problem);
		goto out;
	}
	rc = 0;
out:
	c->depth = 2;
	return rc;
}

/*
 * Why `path` is not `noun` (a glob pattern, a directory) inside the source
 * tree, or NULL when it is one: relative, no "." or ".." component, no control
 * character, at most MANIFEST_GUEST_PATTERN_MAX bytes. `example` shows one.
 */
static const char *tree_path_problem(const char *path, const char *noun, const char *example, char *buf,
				     size_t size)
{
	size_t len = strlen(path);
	if (len == 0) {
		snprintf(buf, size, "is empty; expected %s relative to the source tree, such as \"%s\"", noun, example);
		return buf;
	}
	if (len > MANIFEST_GUEST_PATTERN_MAX) {
		snprintf(buf, size, "is %zu bytes long; expected at most %u", len, MANIFEST_GUEST_PATTERN_MAX);
		return buf;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)path[i];
		if (ch < ' ' || ch == 0x7f) {
			snprintf(buf, size, "has a control character at byte %zu; expected %s without one", i + 1, noun);
			return buf;
		}
	}
	if (path[0] == '/') {
		snprintf(buf, size, "is absolute (\"%.40s%s\"); expected %s relative to the source tree, such as \"%s\"",
			 path, len > 40 ? "..." : "", noun, example);
		return buf;
	}
	for (const char *part = path; *part;) {
		size_t n = strcspn(part, "/");
		if ((n == 1 && part[0] == '.') || (n == 2 && part[0] == '.' && part[1] == '.')) {
			snprintf(buf, size, "has a \"%.*s\" component (\"%.40s%s\"); expected %s inside the source tree, "
					    "without \".\" or \"..\"", (int)n, part, path, len > 40 ? "..." : "", noun);
			return buf;
		}
		part += n;
		part += *part == '/';
	}
	return NULL;
}

static const char *payload_problem(const char *pattern, char *buf, size_t size)
{
	return tree_path_problem(pattern, "a glob pattern", "tests/test_*", buf, size);
}

static int load_fuzz(struct vctx *c, json_t *obj, struct rp_package *p, const char *pkg_where)
{
	static const char *const keys[] = { "name", "binary", "seconds", "corpus" };
	json_t *list;
	int rc = member(c, obj, "fuzz", JSON_ARRAY, OPTIONAL, pkg_where, &list);
	if (rc <= 0)
		return rc;
	size_t n = json_array_size(list);
	p->fuzz = arena_calloc(c->arena, n, sizeof(*p->fuzz));
	if (!p->fuzz)
		return no_memory(c);
	struct strmap names;
	strmap_init(&names);
	push_key(c, "fuzz");
	for (size_t i = 0; i < n; i++) {
		json_t *f = json_array_get(list, i);
		char where[WHERE_MAX];
		snprintf(where, sizeof(where), "fuzz entry %zu of %s", i + 1, pkg_where);
		push_index(c, i);
		if (!json_is_object(f)) {
			rc = fail(c, JSON_LOCATE_VALUE, "%s must be an object, got %s", where, type_name(f));
			goto out;
		}
		if ((rc = check_keys(c, f, keys, 4, where)) < 0)
			goto out;
		struct rp_fuzz *fz = &p->fuzz[p->n_fuzz++];
		fz->seconds = 60;
		if ((rc = string_member(c, f, "name", REQUIRED, where, "a fuzz target name", &fz->name)) < 0)
			goto out;
		if (!manifest_valid_name(fz->name)) {
			push_key(c, "name");
			rc = fail(c, JSON_LOCATE_VALUE, "invalid fuzz target name \"%s\" in %s; expected lowercase "
							"letters, digits, '.', '_' or '-'", fz->name, pkg_where);
			goto out;
		}
		rc = strmap_put(&names, fz->name, i, NULL);
		if (rc == RP_EEXISTS) {
			push_key(c, "name");
			rc = fail(c, JSON_LOCATE_VALUE, "duplicate fuzz target \"%s\" in %s", fz->name, pkg_where);
			goto out;
		}
		if (rc < 0) {
			rc = no_memory(c);
			goto out;
		}
		if ((rc = string_member(c, f, "binary", REQUIRED, where, "a path to the fuzz binary", &fz->binary)) < 0)
			goto out;
		if ((rc = int_member(c, f, "seconds", where, 1, MANIFEST_FUZZ_SECONDS_MAX, "seconds", &fz->seconds)) < 0)
			goto out;
		if ((rc = string_member(c, f, "corpus", OPTIONAL, where, "a directory of seed inputs in the tree",
					&fz->corpus)) < 0)
			goto out;
		char problem[200];
		const char *why = fz->corpus ? tree_path_problem(fz->corpus, "a directory", "fuzz/corpus", problem,
								 sizeof(problem))
					     : NULL;
		if (why) {
			push_key(c, "corpus");
			rc = fail(c, JSON_LOCATE_VALUE, "\"corpus\" of %s %s", where, why);
			goto out;
		}
		pop(c);
	}
	rc = 0;
out:
	strmap_release(&names);
	c->depth = 2;
	return rc;
}

/* "fuzz_engine": libfuzzer or afl; AFL++ fuzzes on a process or sandbox target only. */
static int load_fuzz_engine(struct vctx *c, json_t *obj, const struct rp_universe *u, struct rp_package *p,
			    const char *pkg_where)
{
	char *engine = NULL;
	int rc = string_member(c, obj, "fuzz_engine", OPTIONAL, pkg_where, NULL, &engine);
	if (rc <= 0)
		return rc;
	push_key(c, "fuzz_engine");
	if (strcmp(engine, "libfuzzer") == 0) {
		p->fuzz_engine = RP_FUZZ_LIBFUZZER;
	} else if (strcmp(engine, "afl") == 0) {
		p->fuzz_engine = RP_FUZZ_AFL;
		/* The target fuzzing picks is a process or sandbox one whenever the package has one. */
		long t = manifest_fuzz_target(u, p);
		if (p->n_fuzz && (t < 0 || u->targets[t].runner == RP_RUNNER_VM))
			return fail(c, JSON_LOCATE_VALUE, "\"fuzz_engine\": \"afl\" of %s needs a process or sandbox "
							  "target: AFL++ does not fuzz in a guest", pkg_where);
	} else {
		return fail(c, JSON_LOCATE_VALUE, "\"fuzz_engine\" of %s must be \"libfuzzer\" or \"afl\", got \"%s\"",
			    pkg_where, engine);
	}
	pop(c);
	return 0;
}

/*
 * Why `pattern` is not a payload pattern, or NULL when it is one. The guest
 * gets what it matches inside the source tree and nothing else, so a pattern
 * may not climb out of it (absolute, "..") nor name the tree itself (".").
 */
/*
 * The guest block: what a throwaway VM runs. Whether a package needs one is
 * known only with its targets, so check_guest() asks for it afterwards.
 */
static int load_guest(struct vctx *c, json_t *obj, struct rp_package *p, const char *pkg_where)
{
	static const char *const keys[] = { "prepare", "test", "payload" };
	json_t *guest, *list;
	int rc = member(c, obj, "guest", JSON_OBJECT, OPTIONAL, pkg_where, &guest);
	if (rc <= 0)
		return rc;
	char where[WHERE_MAX], problem[256];
	snprintf(where, sizeof(where), "the guest block of %s", pkg_where);
	push_key(c, "guest");
	if ((rc = check_keys(c, guest, keys, sizeof(keys) / sizeof(keys[0]), where)) < 0)
		goto out;
	if ((rc = string_member(c, guest, "prepare", OPTIONAL, where, "a shell command (or no \"prepare\" key)",
				&p->guest_prepare)) < 0)
		goto out;
	if ((rc = string_member(c, guest, "test", REQUIRED, where, "a shell command", &p->guest_test)) < 0)
		goto out;
	if ((rc = member(c, guest, "payload", JSON_ARRAY, REQUIRED, where, &list)) < 0)
		goto out;
	size_t n = json_array_size(list);
	push_key(c, "payload");
	if (n == 0) {
		rc = fail(c, JSON_LOCATE_VALUE, "\"payload\" of %s is empty; expected at least one glob pattern, such as "
						"\"tests/test_*\"", where);
		goto out;
	}
	if (n > MANIFEST_GUEST_PAYLOAD_MAX) {
		rc = fail(c, JSON_LOCATE_VALUE, "\"payload\" of %s has %zu patterns; expected at most %u", where, n,
			  MANIFEST_GUEST_PAYLOAD_MAX);
		goto out;
	}
	p->guest_payload = arena_calloc(c->arena, n, sizeof(*p->guest_payload));
	if (!p->guest_payload) {
		rc = no_memory(c);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *item = json_array_get(list, i);
		push_index(c, i);
		if (!json_is_string(item)) {
			rc = fail(c, JSON_LOCATE_VALUE, "payload pattern %zu of %s must be a string, got %s", i + 1, where,
				  type_name(item));
			goto out;
		}
		const char *why = payload_problem(json_string_value(item), problem, sizeof(problem));
		if (why) {
			rc = fail(c, JSON_LOCATE_VALUE, "payload pattern %zu of %s %s", i + 1, where, why);
			goto out;
		}
		p->guest_payload[i] = arena_strdup(c->arena, json_string_value(item));
		if (!p->guest_payload[i]) {
			rc = no_memory(c);
			goto out;
		}
		p->n_guest_payload++;
		pop(c);
	}
	p->has_guest = 1;
	rc = 0;
out:
	c->depth = 2;
	return rc;
}

/*
 * A package on a target that boots a guest needs a guest block: without one
 * there is nothing to put in the guest, and its tests would silently not run.
 * Points at the first such entry of "targets", or at the package when it
 * takes every target by default.
 */
static int check_guest(struct vctx *c, json_t *obj, const struct rp_universe *u, const struct rp_package *p)
{
	if (p->has_guest)
		return 0;
	for (size_t i = 0; i < p->n_targets; i++) {
		const struct rp_target *t = &u->targets[p->targets[i]];
		if (!manifest_runner_boots_guest(t->runner))
			continue;
		if (json_object_get(obj, "targets")) {
			push_key(c, "targets");
			push_index(c, i);
		}
		int rc = fail(c, JSON_LOCATE_VALUE, "package \"%s\" runs on target \"%s\" (runner %s) but has no \"guest\" "
						    "block; expected {\"test\": ..., \"payload\": [...]}",
			      p->name, t->name, manifest_runner_name(t->runner));
		c->depth = 2;
		return rc;
	}
	return 0;
}

static const char *const package_keys[] = { "name",    "repo",     "branch",  "depends", "targets",
					    "build",   "test",     "timeout", "output_timeout", "env",
					    "version", "coverage", "api",     "fuzz",    "guest",   "notify",
					    "fuzz_engine" };

/* Loads package `i`'s own fields; dependencies are resolved later, once all names are known. */
static int load_package(struct vctx *c, json_t *obj, size_t i, struct rp_universe *u)
{
	struct rp_package *p = &u->packages[i];
	char where[PACKAGE_WHERE_MAX];
	int rc;
	c->depth = 0;
	push_key(c, "packages");
	push_index(c, i);
	if (!json_is_object(obj))
		return fail(c, JSON_LOCATE_VALUE, "package %zu must be an object, got %s", i + 1, type_name(obj));
	snprintf(where, sizeof(where), "package %zu", i + 1);
	if ((rc = check_keys(c, obj, package_keys, sizeof(package_keys) / sizeof(package_keys[0]), where)) < 0)
		return rc;
	if ((rc = string_member(c, obj, "name", REQUIRED, where, "a package name", &p->name)) < 0)
		return rc;
	if (!manifest_valid_name(p->name)) {
		push_key(c, "name");
		return fail(c, JSON_LOCATE_VALUE, "invalid package name \"%s\"; expected at most %d lowercase letters, "
						  "digits, '.', '_' or '-', starting with a letter or digit",
			    p->name, MANIFEST_NAME_MAX);
	}
	size_t first;
	rc = strmap_put(&u->package_index, p->name, i, &first);
	if (rc == RP_EEXISTS) {
		struct json_step first_at[] = { { "packages", 0 }, { NULL, first } };
		int line, column;
		json_locate(c->text, c->len, first_at, 2, JSON_LOCATE_VALUE, &line, &column);
		push_key(c, "name");
		return fail(c, JSON_LOCATE_VALUE, "duplicate package \"%s\"; first defined at line %d", p->name, line);
	}
	if (rc < 0)
		return no_memory(c);
	snprintf(where, sizeof(where), "package \"%s\"", p->name);
	if ((rc = string_member(c, obj, "repo", REQUIRED, where, "a git URL or a local path", &p->repo)) < 0)
		return rc;
	if ((rc = string_member(c, obj, "branch", OPTIONAL, where, "a branch name", &p->branch)) < 0)
		return rc;
	if (!rc && !(p->branch = arena_strdup(c->arena, "main")))
		return no_memory(c);
	if (!valid_branch(p->branch)) {
		push_key(c, "branch");
		return fail(c, JSON_LOCATE_VALUE, "invalid branch name \"%s\" in %s; expected a git branch name", p->branch,
			    where);
	}
	if ((rc = string_member(c, obj, "build", REQUIRED, where, "a shell command", &p->build)) < 0)
		return rc;
	if ((rc = string_member(c, obj, "test", OPTIONAL, where, "a shell command (or no \"test\" key)", &p->test)) < 0)
		return rc;
	p->timeout = MANIFEST_TIMEOUT_DEFAULT;
	if ((rc = int_member(c, obj, "timeout", where, 1, MANIFEST_TIMEOUT_MAX, "seconds", &p->timeout)) < 0)
		return rc;
	p->output_timeout = MANIFEST_OUTPUT_TIMEOUT_DEFAULT;
	if ((rc = int_member(c, obj, "output_timeout", where, 1, MANIFEST_TIMEOUT_MAX, "seconds", &p->output_timeout)) < 0)
		return rc;
	if ((rc = string_member(c, obj, "version", OPTIONAL, where, "a version such as 1.2.0", &p->version)) < 0)
		return rc;
	if (rc && !valid_version(p->version)) {
		push_key(c, "version");
		return fail(c, JSON_LOCATE_VALUE, "invalid version \"%s\" in %s; expected MAJOR.MINOR.PATCH, such as 1.2.0",
			    p->version, where);
	}
	json_t *coverage;
	if ((rc = member(c, obj, "coverage", JSON_TRUE, OPTIONAL, where, &coverage)) < 0)
		return rc;
	p->coverage = rc && json_is_true(coverage);
	json_t *depends;
	if ((rc = member(c, obj, "depends", JSON_ARRAY, OPTIONAL, where, &depends)) < 0)
		return rc;
	if ((rc = load_package_targets(c, obj, u, p, where)) < 0)
		return rc;
	if ((rc = load_env(c, obj, p, where)) < 0)
		return rc;
	if ((rc = load_api(c, obj, p, where)) < 0)
		return rc;
	if ((rc = load_fuzz(c, obj, p, where)) < 0)
		return rc;
	if ((rc = load_fuzz_engine(c, obj, u, p, where)) < 0)
		return rc;
	if ((rc = load_guest(c, obj, p, where)) < 0)
		return rc;
	if ((rc = load_notify(c, obj, p, where)) < 0)
		return rc;
	return check_guest(c, obj, u, p);
}

/*
 * Resolves package `i`'s dependency names to indices. `seen` has a slot per
 * package; seen[d] == i + 1 marks d as already listed by package i, so
 * duplicate detection stays linear without clearing the array between packages.
 */
static int resolve_depends(struct vctx *c, json_t *obj, size_t i, struct rp_universe *u, size_t *seen)
{
	struct rp_package *p = &u->packages[i];
	json_t *list = json_object_get(obj, "depends");
	c->depth = 0;
	push_key(c, "packages");
	push_index(c, i);
	push_key(c, "depends");
	size_t n = list ? json_array_size(list) : 0;
	p->depends = arena_calloc(c->arena, n, sizeof(*p->depends));
	if (!p->depends)
		return no_memory(c);
	for (size_t k = 0; k < n; k++) {
		json_t *item = json_array_get(list, k);
		push_index(c, k);
		if (!json_is_string(item))
			return fail(c, JSON_LOCATE_VALUE, "depends of package \"%s\" must list package names (strings), got %s",
				    p->name, type_name(item));
		const char *name = json_string_value(item);
		long d = manifest_find_package(u, name);
		if (d < 0) {
			const char *hint = manifest_suggest_package(u, name);
			return fail(c, JSON_LOCATE_VALUE, "package \"%s\" depends on unknown package \"%s\"%s%s%s",
				    p->name, name, hint ? "; did you mean \"" : "", hint ? hint : "", hint ? "\"?" : "");
		}
		if ((size_t)d == i)
			return fail(c, JSON_LOCATE_VALUE, "package \"%s\" depends on itself", p->name);
		if (seen[d] == i + 1)
			return fail(c, JSON_LOCATE_VALUE, "package \"%s\" lists dependency \"%s\" twice", p->name, name);
		seen[d] = i + 1;
		p->depends[p->n_depends++] = (size_t)d;
		pop(c);
	}
	/* A job on target T needs its dependencies built on T. */
	for (size_t k = 0; k < p->n_depends; k++) {
		const struct rp_package *dep = &u->packages[p->depends[k]];
		for (size_t t = 0; t < p->n_targets; t++) {
			if (manifest_package_has_target(dep, p->targets[t]))
				continue;
			push_index(c, k);
			return fail(c, JSON_LOCATE_VALUE,
				    "package \"%s\" is built on target \"%s\" but its dependency \"%s\" does not "
				    "support that target; add it to the targets of \"%s\"",
				    p->name, u->targets[p->targets[t]].name, dep->name, dep->name);
		}
	}
	return 0;
}

static int check_acyclic(struct vctx *c, struct rp_universe *u)
{
	struct graph g;
	int rc = graph_init_universe(&g, u, c->err);
	if (rc < 0)
		return rc;
	size_t *cycle = malloc((u->n_packages ? u->n_packages : 1) * sizeof(*cycle));
	if (!cycle) {
		graph_release(&g);
		return no_memory(c);
	}
	long len = graph_find_cycle(&g, cycle);
	if (len < 0) {
		rc = no_memory(c);
	} else if (len > 0) {
		char text[RP_ERROR_MAX - 128] = "";
		size_t used = 0;
		for (long k = 0; k <= len && used < sizeof(text); k++)
			used += (size_t)snprintf(text + used, sizeof(text) - used, "%s%s", k ? " -> " : "",
						 u->packages[cycle[k % len]].name);
		/* Point at the first package's dependency on the second. */
		const struct rp_package *first = &u->packages[cycle[0]];
		size_t k = 0;
		while (first->depends[k] != cycle[1 % len])
			k++;
		c->depth = 0;
		push_key(c, "packages");
		push_index(c, cycle[0]);
		push_key(c, "depends");
		push_index(c, k);
		rc = fail(c, JSON_LOCATE_VALUE, "dependency cycle: %s", text);
	}
	free(cycle);
	graph_release(&g);
	return rc;
}

static int load_universe(struct vctx *c, json_t *root, struct rp_universe *u)
{
	static const char *const top_keys[] = { "universe", "targets", "packages" };
	int rc;
	if (!json_is_object(root))
		return fail(c, JSON_LOCATE_VALUE, "expected a JSON object at the top level, got %s", type_name(root));
	if ((rc = check_keys(c, root, top_keys, 3, "the top level")) < 0)
		return rc;
	if ((rc = string_member(c, root, "universe", REQUIRED, "the top level", "a universe name", &u->name)) < 0)
		return rc;
	if (!manifest_valid_name(u->name)) {
		push_key(c, "universe");
		return fail(c, JSON_LOCATE_VALUE, "invalid universe name \"%s\"; expected lowercase letters, digits, "
						  "'.', '_' or '-', starting with a letter or digit", u->name);
	}
	if ((rc = load_targets(c, root, u)) < 0)
		return rc;
	json_t *packages;
	if ((rc = member(c, root, "packages", JSON_ARRAY, REQUIRED, "the top level", &packages)) < 0)
		return rc;
	size_t n = json_array_size(packages);
	if (n == 0) {
		push_key(c, "packages");
		return fail(c, JSON_LOCATE_VALUE, "\"packages\" is empty; expected at least one package");
	}
	u->packages = arena_calloc(c->arena, n, sizeof(*u->packages));
	if (!u->packages)
		return no_memory(c);
	for (size_t i = 0; i < n; i++) {
		u->n_packages = i + 1;
		if ((rc = load_package(c, json_array_get(packages, i), i, u)) < 0)
			return rc;
	}
	size_t *seen = calloc(n, sizeof(*seen));
	if (!seen)
		return no_memory(c);
	for (size_t i = 0; i < n && rc >= 0; i++)
		rc = resolve_depends(c, json_array_get(packages, i), i, u, seen);
	free(seen);
	if (rc < 0)
		return rc;
	return check_acyclic(c, u);
}

/*
 * jansson reports where it stopped reading, which is after the token it
 * complains about ("... near 'TOKEN'"); point at the token's start instead.
 */
static void syntax_error_position(const char *text, size_t len, const json_error_t *jerr, int *line, int *column)
{
	*line = jerr->line > 0 ? jerr->line : 1;
	*column = jerr->column > 0 ? jerr->column : 1;
	const char *near = strstr(jerr->text, " near '");
	if (jerr->position <= 0 || (size_t)jerr->position > len)
		return;
	if (!near) {
		/* No token quoted (a number too big): walk back over the number or literal. */
		size_t start = (size_t)jerr->position;
		while (start > 0 && (isalnum((unsigned char)text[start - 1]) || strchr("+-.", text[start - 1])))
			start--;
		if (start < (size_t)jerr->position)
			json_position(text, start, line, column);
		return;
	}
	near += strlen(" near '");
	size_t token_len = strlen(near);
	if (token_len == 0 || near[token_len - 1] != '\'')
		return;
	token_len--;
	size_t end = (size_t)jerr->position;
	if (token_len > end || memcmp(text + end - token_len, near, token_len) != 0)
		return;
	json_position(text, end - token_len, line, column);
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

int manifest_load_buffer(const char *text, size_t len, const char *name, struct rp_universe **out,
			 struct rp_error *err)
{
	struct vctx c = { .file = name, .text = text, .len = len, .err = err };
	struct rp_universe *u = calloc(1, sizeof(*u));
	json_t *root = NULL;
	int rc;
	*out = NULL;
	if (!u)
		return no_memory(&c);
	strmap_init(&u->package_index);
	arena_init(&u->arena);
	c.arena = &u->arena;
	u->path = strdup(name);
	u->dir = dir_of(name);
	if (!u->path || !u->dir) {
		rc = no_memory(&c);
		goto out;
	}
	if (is_blank_n(text, len)) {
		rc = rp_error_set(err, RP_EINVAL, "%s:1:1: the file is empty; expected a JSON object describing a universe",
				  name);
		err_at(err, 1, 1);
		goto out;
	}
	json_error_t jerr;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		int line, column;
		syntax_error_position(text, len, &jerr, &line, &column);
		rc = rp_error_set(err, RP_EINVAL, "%s:%d:%d: invalid JSON: %s", name, line, column, jerr.text);
		err_at(err, line, column);
		goto out;
	}
	rc = load_universe(&c, root, u);
out:
	json_decref(root);
	if (rc < 0) {
		manifest_free(u);
		return rc;
	}
	*out = u;
	return 0;
}

int manifest_load_file(const char *path, struct rp_universe **out, struct rp_error *err)
{
	char *text = NULL;
	struct stat st;
	int rc;
	*out = NULL;
	/* Non-blocking, so a FIFO given by mistake is refused instead of waited on. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return rp_error_set(err, RP_EIO, "%s: cannot open the manifest: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		rc = rp_error_set(err, RP_EIO, "%s: cannot read the manifest: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = rp_error_set(err, RP_EIO, "%s: cannot read the manifest: %s", path,
				  S_ISDIR(st.st_mode) ? "it is a directory" : "not a regular file");
		goto out;
	}
	if ((unsigned long long)st.st_size > MANIFEST_MAX_BYTES) {
		rc = rp_error_set(err, RP_EINVAL, "%s: the manifest is larger than %u MiB; expected a smaller file",
				  path, MANIFEST_MAX_BYTES >> 20);
		goto out;
	}
	size_t size = (size_t)st.st_size, got = 0;
	text = malloc(size + 1);
	if (!text) {
		rc = rp_error_set(err, RP_ENOMEM, "%s: out of memory reading the manifest", path);
		goto out;
	}
	while (got < size) {
		ssize_t n = read(fd, text + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = rp_error_set(err, RP_EIO, "%s: cannot read the manifest: %s", path,
					  n < 0 ? strerror(errno) : "the file shrank while being read");
			goto out;
		}
		got += (size_t)n;
	}
	text[size] = '\0';
	rc = manifest_load_buffer(text, size, path, out, err);
out:
	free(text);
	close(fd);
	return rc;
}

void manifest_free(struct rp_universe *u)
{
	if (!u)
		return;
	for (size_t i = 0; i < u->n_targets; i++)
		json_decref(u->targets[i].options);
	strmap_release(&u->package_index);
	arena_release(&u->arena);
	free(u->path);
	free(u->dir);
	free(u);
}

long manifest_fuzz_target(const struct rp_universe *u, const struct rp_package *p)
{
	long t = manifest_coverage_target(u, p);
	for (size_t i = 0; t < 0 && i < p->n_targets; i++)
		if (u->targets[p->targets[i]].runner == RP_RUNNER_VM)
			t = (long)p->targets[i];
	return t;
}

long manifest_coverage_target(const struct rp_universe *u, const struct rp_package *p)
{
	long first_local = -1;
	for (size_t i = 0; i < p->n_targets; i++) {
		const struct rp_target *t = &u->targets[p->targets[i]];
		if (t->runner != RP_RUNNER_PROCESS && t->runner != RP_RUNNER_SANDBOX)
			continue;
		if (strcmp(t->name, "unix") == 0)
			return (long)p->targets[i];
		if (first_local < 0)
			first_local = (long)p->targets[i];
	}
	return first_local;
}
