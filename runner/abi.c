/*
 * abi.c — ABI dumps with abidw and their diffs with abidiff (abi.h).
 */
#define _GNU_SOURCE
#include "abi.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "step.h"
#include "core/banned.h"

#define ABI_TIMEOUT_MS_DEFAULT 300000
/* A header larger than this is no public API one reads: left out of the dump. */
#define ABI_HEADER_MAX (1u << 20)

static int read_file(const char *path, size_t max, char **out, size_t *len, struct rp_error *err)
{
	FILE *fp = fopen(path, "rb");
	struct stat st;
	*out = NULL;
	*len = 0;
	if (!fp)
		return rp_error_set(err, errno == ENOENT ? RP_ENOTFOUND : RP_EIO, "cannot read %s: %s", path,
				    strerror(errno));
	if (fstat(fileno(fp), &st) != 0 || (size_t)st.st_size > max) {
		fclose(fp);
		return rp_error_set(err, RP_ERANGE, "%s: larger than %zu bytes", path, max);
	}
	char *buf = malloc((size_t)st.st_size + 1);
	size_t n = buf ? fread(buf, 1, (size_t)st.st_size, fp) : 0;
	fclose(fp);
	if (!buf)
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/* The first line of a step log without its time stamp, for a message. */
static void first_line(const char *log_path, char *out, size_t size)
{
	char *text = NULL;
	size_t len;
	struct rp_error ignored;
	out[0] = '\0';
	if (read_file(log_path, 1u << 20, &text, &len, &ignored) < 0)
		return;
	const char *t = text;
	if (len > STEP_STAMP_LEN && t[0] == '[')
		t += STEP_STAMP_LEN;
	snprintf(out, size, "%.*s", (int)strcspn(t, "\n"), t);
	free(text);
}

/* ---- the package's own headers ----------------------------------------------------------------- */

struct header_walk {
	const char *prefix;
	const struct artifact_layer *deps;
	json_t *headers; /* rel -> text */
	char **paths;	 /* absolute, for abidw */
	size_t n, cap;
	int failed;
};

static void walk_headers(struct header_walk *w, const char *rel)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/%s", w->prefix, rel);
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while (!w->failed && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char child[PATH_MAX], full[PATH_MAX + 8];
		struct stat st;
		snprintf(child, sizeof(child), "%s/%s", rel, e->d_name);
		snprintf(full, sizeof(full), "%s/%s", w->prefix, child);
		if (lstat(full, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			walk_headers(w, child);
			continue;
		}
		/* A dependency's header in our prefix is its API, not ours. */
		if (!S_ISREG(st.st_mode) || (w->deps && artifact_layer_has(w->deps, child)))
			continue;
		char *text = NULL;
		size_t len;
		struct rp_error ignored;
		if (read_file(full, ABI_HEADER_MAX, &text, &len, &ignored) < 0)
			continue;
		json_t *s = json_stringn(text, len);
		free(text);
		if (!s)
			continue; /* not UTF-8: no header a person reads */
		if (w->n == w->cap) {
			size_t cap = w->cap ? 2 * w->cap : 16;
			char **more = realloc(w->paths, cap * sizeof(*more));
			if (!more) {
				json_decref(s);
				w->failed = 1;
				break;
			}
			w->paths = more;
			w->cap = cap;
		}
		if (!(w->paths[w->n] = strdup(full))) {
			json_decref(s);
			w->failed = 1;
			break;
		}
		w->n++;
		json_object_set_new(w->headers, child, s);
	}
	closedir(d);
}

/* The Version of the package's own pkg-config file in the prefix, or NULL. */
static json_t *pc_version(const char *prefix, const struct artifact_layer *deps)
{
	static const char *const dirs[] = { "lib/pkgconfig", "share/pkgconfig" };
	json_t *found = NULL;
	for (size_t k = 0; k < 2 && !found; k++) {
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s/%s", prefix, dirs[k]);
		DIR *d = opendir(dir);
		struct dirent *e;
		while (d && !found && (e = readdir(d))) {
			size_t n = strlen(e->d_name);
			char rel[PATH_MAX], full[PATH_MAX + 8];
			if (n < 4 || strcmp(e->d_name + n - 3, ".pc") != 0)
				continue;
			snprintf(rel, sizeof(rel), "%s/%s", dirs[k], e->d_name);
			if (deps && artifact_layer_has(deps, rel))
				continue;
			snprintf(full, sizeof(full), "%s/%s", prefix, rel);
			char *text = NULL;
			size_t len;
			struct rp_error ignored;
			if (read_file(full, 1u << 16, &text, &len, &ignored) < 0)
				continue;
			for (char *line = text; line && *line && !found; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
				if (strncmp(line, "Version:", 8) != 0)
					continue;
				char *v = line + 8;
				v += strspn(v, " \t");
				size_t vl = strcspn(v, " \t\r\n");
				if (vl)
					found = json_stringn(v, vl);
			}
			free(text);
		}
		if (d)
			closedir(d);
	}
	return found ? found : json_null();
}

/*
 * The defined ELF symbols an abixml lists in its section `section`
 * ("elf-function-symbols" or "elf-variable-symbols").
 */
static json_t *elf_symbols(const char *xml, const char *section)
{
	json_t *list = json_array();
	char open_tag[64], close_tag[64];
	snprintf(open_tag, sizeof(open_tag), "<%s>", section);
	snprintf(close_tag, sizeof(close_tag), "</%s>", section);
	const char *from = strstr(xml, open_tag), *to = from ? strstr(from, close_tag) : NULL;
	if (!from || !to)
		return list;
	int ec;
	PCRE2_SIZE eo;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR) "<elf-symbol name='([^']+)'[^>]*is-defined='yes'", PCRE2_ZERO_TERMINATED,
				       0, &ec, &eo, NULL);
	pcre2_match_data *md = re ? pcre2_match_data_create_from_pattern(re, NULL) : NULL;
	size_t at = (size_t)(from - xml), len = (size_t)(to - xml);
	while (list && md && pcre2_match(re, (PCRE2_SPTR)xml, len, at, 0, md, NULL) >= 0) {
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
		json_array_append_new(list, json_stringn(xml + ov[2], ov[3] - ov[2]));
		at = ov[1];
	}
	pcre2_match_data_free(md);
	pcre2_code_free(re);
	return list;
}

static uint64_t now_us(void);

int abi_dump(const struct abi_dump_spec *spec, json_t **doc, uint64_t *abidw_us, struct rp_error *err)
{
	char lib[PATH_MAX], out[PATH_MAX], log[PATH_MAX], abidw[PATH_MAX];
	struct stat st;
	struct header_walk w = { .prefix = spec->prefix, .deps = spec->deps, .headers = json_object() };
	const char **argv = NULL;
	char *xml = NULL;
	size_t xml_len = 0;
	int rc = 0;
	*doc = NULL;
	snprintf(lib, sizeof(lib), "%s/%s", spec->prefix, spec->library);
	snprintf(out, sizeof(out), "%s/abidw.xml", spec->work_dir);
	snprintf(log, sizeof(log), "%s/abidw.log", spec->work_dir);
	if (!w.headers)
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	if (stat(lib, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = rp_error_set(err, RP_ENOTFOUND, "api.library %s is not in the install prefix", spec->library);
		goto done;
	}
	if (!step_find_program("abidw", abidw, sizeof(abidw))) {
		rc = rp_error_set(err, RP_EIO, "abidw: no such program (libabigail's abigail-tools is needed)");
		goto done;
	}
	walk_headers(&w, spec->headers);
	if (w.failed || !(argv = calloc(2 * w.n + 8, sizeof(*argv)))) {
		rc = rp_error_set(err, RP_ENOMEM, "out of memory");
		goto done;
	}
	size_t a = 0;
	argv[a++] = abidw;
	/*
	 * The library's path is the job's work directory, another on every build:
	 * left in, a key built again (its dump lost from the cache) would dump
	 * other bytes than the ones recorded as final.
	 */
	argv[a++] = "--no-corpus-path";
	argv[a++] = "--no-comp-dir-path"; /* the compile directory is the job's too, on a process target */
	argv[a++] = "--out-file";
	argv[a++] = out;
	for (size_t i = 0; i < w.n; i++) {
		argv[a++] = "--header-file";
		argv[a++] = w.paths[i];
	}
	argv[a++] = lib;
	argv[a] = NULL;
	static const char *const env[] = { "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", NULL };
	struct step_spec s = { .argv = argv,
			       .cwd = spec->work_dir,
			       .env = env,
			       .timeout_ms = spec->timeout_ms ? spec->timeout_ms : ABI_TIMEOUT_MS_DEFAULT,
			       .log_path = log };
	struct step_result res = { 0 };
	unlink(out);
	uint64_t t0 = now_us();
	rc = step_run_sync(&s, NULL, &res, err);
	if (abidw_us)
		*abidw_us = now_us() - t0;
	if (rc < 0)
		goto done;
	if (res.status != STEP_PASSED) {
		char why[400];
		first_line(log, why, sizeof(why));
		rc = rp_error_set(err, RP_EINVAL, "abidw cannot dump %s (%s): %s", spec->library,
				  res.status == STEP_TIMED_OUT ? "timed out" : "failed", why[0] ? why : "no message");
		goto done;
	}
	if ((rc = read_file(out, 1u << 30, &xml, &xml_len, err)) < 0)
		goto done;
	json_t *symbols = elf_symbols(xml, "elf-function-symbols"), *variables = elf_symbols(xml, "elf-variable-symbols");
	*doc = json_pack("{s:s, s:o, s:b, s:o, s:o, s:O, s:s%}", "library", spec->library, "version",
			 pc_version(spec->prefix, spec->deps), "debug_info", strstr(xml, "<abi-instr") != NULL,
			 "symbols", symbols ? symbols : json_array(), "variables", variables ? variables : json_array(),
			 "headers", w.headers, "abixml", xml, xml_len);
	if (!*doc)
		rc = rp_error_set(err, RP_EINVAL, "abidw's dump of %s is not text jansson can hold", spec->library);
done:
	unlink(out);
	free(xml);
	free(argv);
	for (size_t i = 0; i < w.n; i++)
		free(w.paths[i]);
	free(w.paths);
	json_decref(w.headers);
	return rc;
}

/* ---- reading dumps ----------------------------------------------------------------------------- */

void abi_dump_release(struct abi_dump *d)
{
	if (!d)
		return;
	json_decref(d->doc);
	free(d->symbols);
	free(d->variables);
	free(d->headers);
	memset(d, 0, sizeof(*d));
}

int abi_dump_from_json(json_t *doc, const char *origin, struct abi_dump *out, struct rp_error *err)
{
	memset(out, 0, sizeof(*out));
	json_t *symbols = json_object_get(doc, "symbols"), *variables = json_object_get(doc, "variables"),
	       *headers = json_object_get(doc, "headers"),
	       *version = json_object_get(doc, "version"), *debug = json_object_get(doc, "debug_info");
	out->library = json_string_value(json_object_get(doc, "library"));
	out->abixml = json_string_value(json_object_get(doc, "abixml"));
	if (!json_is_object(doc) || !out->library || !out->abixml || !json_is_boolean(debug) ||
	    !json_is_array(symbols) || !json_is_object(headers) || (version && !json_is_null(version) && !json_is_string(version)))
		return rp_error_set(err, RP_EINVAL,
				    "%s: not an ABI dump: expected {\"library\", \"version\", \"debug_info\", \"symbols\", "
				    "\"headers\", \"abixml\"}",
				    origin);
	/* abidiff reads a truncated corpus as an empty one: "no change" would be a wrong answer. */
	if (strncmp(out->abixml + strspn(out->abixml, " \t\r\n"), "<abi-corpus", 11) != 0 ||
	    !strstr(out->abixml, "</abi-corpus>"))
		return rp_error_set(err, RP_EINVAL, "%s: its abixml is not a whole <abi-corpus> (damaged?)", origin);
	out->version = json_string_value(version);
	out->debug_info = json_is_true(debug);
	if (variables && !json_is_array(variables))
		return rp_error_set(err, RP_EINVAL, "%s: \"variables\": expected an array of names", origin);
	out->symbols = calloc(json_array_size(symbols) + 1, sizeof(*out->symbols));
	out->variables = calloc(json_array_size(variables) + 1, sizeof(*out->variables));
	size_t total = 1;
	const char *k;
	json_t *v;
	json_object_foreach(headers, k, v)
	total += json_string_length(v) + 1;
	out->headers = malloc(total);
	if (!out->symbols || !out->variables || !out->headers) {
		abi_dump_release(out);
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	}
	size_t i;
	json_array_foreach(symbols, i, v)
	{
		if (!json_is_string(v)) {
			abi_dump_release(out);
			return rp_error_set(err, RP_EINVAL, "%s: symbols[%zu]: expected a name", origin, i);
		}
		out->symbols[i] = json_string_value(v);
	}
	json_array_foreach(variables, i, v)
	{
		if (!json_is_string(v)) {
			abi_dump_release(out);
			return rp_error_set(err, RP_EINVAL, "%s: variables[%zu]: expected a name", origin, i);
		}
		out->variables[i] = json_string_value(v);
	}
	size_t at = 0;
	json_object_foreach(headers, k, v)
	{
		if (!json_is_string(v)) {
			abi_dump_release(out);
			return rp_error_set(err, RP_EINVAL, "%s: headers[\"%s\"]: expected its text", origin, k);
		}
		memcpy(out->headers + at, json_string_value(v), json_string_length(v));
		at += json_string_length(v);
		out->headers[at++] = '\n';
	}
	out->headers[at] = '\0';
	out->doc = json_incref(doc);
	return 0;
}

int abi_dump_load(const char *path, struct abi_dump *out, struct rp_error *err)
{
	json_error_t jerr;
	memset(out, 0, sizeof(*out));
	json_t *doc = json_load_file(path, 0, &jerr);
	if (!doc) {
		struct stat st;
		if (stat(path, &st) != 0)
			return rp_error_set(err, RP_ENOTFOUND, "%s: no such ABI dump", path);
		return rp_error_set(err, RP_EINVAL, "%s:%d:%d: not an ABI dump: %s", path, jerr.line, jerr.column, jerr.text);
	}
	int rc = abi_dump_from_json(doc, path, out, err);
	json_decref(doc);
	return rc;
}

/* ---- diffs --------------------------------------------------------------------------------- */

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int write_text(const char *path, const char *text, struct rp_error *err)
{
	FILE *fp = fopen(path, "w");
	if (!fp)
		return rp_error_set(err, RP_EIO, "cannot write %s: %s", path, strerror(errno));
	int bad = fputs(text, fp) == EOF;
	bad |= fclose(fp) != 0;
	return bad ? rp_error_set(err, RP_EIO, "cannot write %s", path) : 0;
}

/*
 * A function or variable abidiff calls removed while the new library still
 * exports its name: libabigail (2.2) reports a symbol moved to another
 * version (f@@V1 -> f@@V2) as a removal only. It is a symbol version change:
 * callers built before look for the old version (ABI), their source is fine.
 */
static void still_exported(const struct abi_dump *new, struct api_diff *d)
{
	for (size_t i = 0; i < d->n; i++) {
		struct api_change *c = &d->changes[i];
		if (c->kind != API_FUNCTION_REMOVED && c->kind != API_VARIABLE_REMOVED)
			continue;
		int exported = 0;
		const char *const *names = c->kind == API_FUNCTION_REMOVED ? new->symbols : new->variables;
		for (size_t k = 0; names && names[k] && !exported; k++)
			exported = strcmp(names[k], c->name) == 0;
		if (!exported)
			continue;
		char *detail = strdup("still exported, under another symbol version: callers built before look for the old one");
		if (!detail)
			continue;
		free(c->detail);
		c->detail = detail;
		c->kind = API_SYMBOL_VERSION_CHANGED;
		c->api_breaking = 0;
		c->abi_breaking = 1;
	}
}

int abi_diff(const struct abi_dump *old, const struct abi_dump *new, const char *work_dir, struct api_diff *out,
	     uint64_t *abidiff_us, struct rp_error *err)
{
	if (abidiff_us)
		*abidiff_us = 0;
	if (!old->debug_info || !new->debug_info)
		return api_diff_symbols_vars(old->symbols, new->symbols, old->variables, new->variables, old->headers,
					     new->headers, out, err);
	char a[PATH_MAX], b[PATH_MAX], report[PATH_MAX], log[PATH_MAX], abidiff[PATH_MAX];
	snprintf(a, sizeof(a), "%s/old.abi.xml", work_dir);
	snprintf(b, sizeof(b), "%s/new.abi.xml", work_dir);
	snprintf(report, sizeof(report), "%s/abidiff.txt", work_dir);
	snprintf(log, sizeof(log), "%s/abidiff.log", work_dir);
	if (!step_find_program("abidiff", abidiff, sizeof(abidiff)))
		return rp_error_set(err, RP_ENOTFOUND, "abidiff: no such program (libabigail's abigail-tools is needed)");
	int rc = write_text(a, old->abixml, err);
	if (rc == 0)
		rc = write_text(b, new->abixml, err);
	const char *argv[] = { abidiff, a, b, NULL };
	static const char *const env[] = { "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", NULL };
	struct step_spec s = { .argv = argv,
			       .cwd = work_dir,
			       .env = env,
			       .timeout_ms = ABI_TIMEOUT_MS_DEFAULT,
			       .log_path = log,
			       .stdout_path = report };
	struct step_result res = { 0 };
	uint64_t t0 = now_us();
	if (rc == 0)
		rc = step_run_sync(&s, NULL, &res, err);
	if (abidiff_us)
		*abidiff_us = now_us() - t0;
	char *text = NULL;
	size_t len = 0;
	if (rc == 0 && res.status == STEP_TIMED_OUT)
		rc = rp_error_set(err, RP_EIO, "abidiff took longer than %d s", ABI_TIMEOUT_MS_DEFAULT / 1000);
	if (rc == 0 && res.exit_status < 0)
		rc = rp_error_set(err, RP_EIO, "abidiff was killed by signal %d", res.term_signal);
	if (rc == 0 && (res.exit_status & 3)) {
		char why[400];
		first_line(log, why, sizeof(why));
		rc = rp_error_set(err, RP_EINVAL, "abidiff cannot compare the dumps (status %d): %s", res.exit_status,
				  why[0] ? why : "no message");
	}
	if (rc == 0)
		rc = read_file(report, 1u << 28, &text, &len, err);
	if (rc == 0)
		rc = api_parse_abidiff(text, len, res.exit_status, out, err);
	if (rc == 0)
		still_exported(new, out);
	free(text);
	unlink(a);
	unlink(b);
	unlink(report);
	return rc;
}
