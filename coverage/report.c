/*
 * report.c — the figures of coverage.h: gathering gcov's JSON documents,
 * the source-based rules that make them gcovr's, merging, and ripple's own
 * JSON form.
 *
 * Gathering keeps, per source file under the root, an array indexed by line
 * number (hits, whether any unit has code there, the branch hits) and the
 * functions by name, so that a header seen by 500 units costs 500 additions,
 * not 500 searches. coverage_finish() turns that into the compact cov_file.
 */
#define _GNU_SOURCE
#include "coverage.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/strmap.h"
#include "coverage/coverage-internal.h"
#include "core/banned.h"

struct acc_line {
	uint64_t hits;
	uint64_t *branches;
	uint32_t n_branches;
	uint32_t unit, unit_branches; /* the last unit that had it, and its branches so far in that unit */
	uint8_t present;	      /* some unit has code on it */
};

struct acc_file {
	char *abs; /* the strmap's key */
	struct acc_line *lines;
	uint32_t cap_lines; /* lines[0..cap_lines-1], index = line number */
	struct cov_function *fns;
	size_t n_fns, cap_fns;
	struct strmap fn_index;
};

struct acc {
	struct strmap by_path;
	struct acc_file *files;
	size_t n_files, cap_files;
};

double coverage_percent(struct cov_count c)
{
	return c.total ? 100.0 * (double)c.covered / (double)c.total : 100.0;
}

static void acc_free(struct acc *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n_files; i++) {
		struct acc_file *f = &a->files[i];
		for (uint32_t l = 0; l < f->cap_lines; l++)
			free(f->lines[l].branches);
		free(f->lines);
		for (size_t k = 0; k < f->n_fns; k++)
			free(f->fns[k].name);
		free(f->fns);
		strmap_release(&f->fn_index);
		free(f->abs);
	}
	free(a->files);
	strmap_release(&a->by_path);
	free(a);
}

static void file_free(struct cov_file *f)
{
	free(f->path);
	free(f->lines);
	free(f->branches);
	for (size_t k = 0; k < f->n_functions; k++)
		free(f->functions[k].name);
	free(f->functions);
}

void coverage_report_release(struct cov_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_files; i++)
		file_free(&r->files[i]);
	free(r->files);
	free(r->root);
	free(r->gcc_version);
	acc_free(r->acc_);
	memset(r, 0, sizeof(*r));
}

int coverage_report_init(struct cov_report *r, const char *root, struct rp_error *err)
{
	memset(r, 0, sizeof(*r));
	struct acc *a = calloc(1, sizeof(*a));
	size_t len = strlen(root);
	while (len > 1 && root[len - 1] == '/')
		len--;
	if (!a || !(r->root = strndup(root, len))) {
		free(a);
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	}
	strmap_init(&a->by_path);
	r->acc_ = a;
	return 0;
}

/* Collapses "//", "/./" and "dir/../" of an absolute path in place. */
static void normalize(char *p)
{
	char *out = p, *seg = p;
	while (*seg) {
		while (*seg == '/')
			seg++;
		char *end = seg;
		while (*end && *end != '/')
			end++;
		size_t len = (size_t)(end - seg);
		if (len == 0)
			break;
		if (len == 1 && seg[0] == '.') {
			/* nothing */
		} else if (len == 2 && seg[0] == '.' && seg[1] == '.') {
			while (out > p && *--out != '/')
				;
		} else {
			*out++ = '/';
			memmove(out, seg, len);
			out += len;
		}
		seg = end;
	}
	if (out == p)
		*out++ = '/';
	*out = '\0';
}

static struct acc_file *acc_file_of(struct acc *a, const char *abs, struct rp_error *err)
{
	size_t at;
	if (strmap_get(&a->by_path, abs, &at))
		return &a->files[at];
	if (a->n_files == a->cap_files) {
		size_t cap = a->cap_files ? 2 * a->cap_files : 64;
		struct acc_file *v = realloc(a->files, cap * sizeof(*v));
		if (!v)
			return rp_error_set(err, RP_ENOMEM, "out of memory"), NULL;
		/* The map's keys are the files' own strings, which do not move. */
		a->files = v;
		a->cap_files = cap;
	}
	struct acc_file *f = &a->files[a->n_files];
	memset(f, 0, sizeof(*f));
	strmap_init(&f->fn_index);
	if (!(f->abs = strdup(abs)) || strmap_put(&a->by_path, f->abs, a->n_files, NULL) < 0) {
		free(f->abs);
		return rp_error_set(err, RP_ENOMEM, "out of memory"), NULL;
	}
	a->n_files++;
	return f;
}

static int grow_lines(struct acc_file *f, uint32_t line, struct rp_error *err)
{
	if (line < f->cap_lines)
		return 0;
	uint32_t cap = f->cap_lines ? f->cap_lines : 64;
	while (cap <= line)
		cap *= 2;
	struct acc_line *v = realloc(f->lines, (size_t)cap * sizeof(*v));
	if (!v)
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	memset(v + f->cap_lines, 0, (size_t)(cap - f->cap_lines) * sizeof(*v));
	f->lines = v;
	f->cap_lines = cap;
	return 0;
}

/* A JSON integer >= 0 (gcov writes counts as integers), or -1. */
static int64_t count_of(const json_t *v)
{
	if (json_is_integer(v) && json_integer_value(v) >= 0)
		return json_integer_value(v);
	return -1;
}

static int add_function(struct acc_file *f, const json_t *fn, const char *origin, size_t fi, size_t k,
			struct rp_error *err)
{
	const char *name = json_string_value(json_object_get(fn, "name"));
	int64_t line = count_of(json_object_get(fn, "start_line")), calls = count_of(json_object_get(fn, "execution_count"));
	if (!name || line < 0 || calls < 0)
		return rp_error_set(err, RP_EINVAL,
				    "%s: files[%zu].functions[%zu]: expected {\"name\", \"start_line\", \"execution_count\"}",
				    origin, fi, k);
	/* gcc's own: static constructors and the like, which gcovr leaves out too. */
	if (strncmp(name, "__", 2) == 0 || strncmp(name, "_GLOBAL__sub_I_", 15) == 0)
		return 0;
	size_t at;
	if (strmap_get(&f->fn_index, name, &at)) {
		f->fns[at].calls += (uint64_t)calls;
		return 0;
	}
	if (f->n_fns == f->cap_fns) {
		size_t cap = f->cap_fns ? 2 * f->cap_fns : 16;
		struct cov_function *v = realloc(f->fns, cap * sizeof(*v));
		if (!v)
			return rp_error_set(err, RP_ENOMEM, "out of memory");
		/* The map's keys point at the names, which do not move with the array. */
		f->fns = v;
		f->cap_fns = cap;
	}
	struct cov_function *c = &f->fns[f->n_fns];
	if (!(c->name = strdup(name)) || strmap_put(&f->fn_index, c->name, f->n_fns, NULL) < 0) {
		free(c->name);
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	}
	c->line = (uint32_t)(line > UINT32_MAX ? UINT32_MAX : line);
	c->calls = (uint64_t)calls;
	f->n_fns++;
	return 0;
}

/*
 * One line of one unit. A unit may list a line more than once (code of two
 * functions on it); its branches then follow each other, as gcov numbers
 * them in its text output, and are added by position to the other units'.
 */
static int add_line(struct acc_file *f, const json_t *ln, uint32_t unit, const char *origin, size_t fi, size_t k,
		    struct rp_error *err)
{
	int64_t line = count_of(json_object_get(ln, "line_number")), hits = count_of(json_object_get(ln, "count"));
	const json_t *br = json_object_get(ln, "branches");
	if (line < 1 || line > 100000000 || hits < 0 || (br && !json_is_array(br)))
		return rp_error_set(err, RP_EINVAL,
				    "%s: files[%zu].lines[%zu]: expected {\"line_number\" >= 1, \"count\" >= 0, \"branches\": [...]}",
				    origin, fi, k);
	int rc = grow_lines(f, (uint32_t)line, err);
	if (rc < 0)
		return rc;
	struct acc_line *l = &f->lines[line];
	l->present = 1;
	l->hits += (uint64_t)hits;
	if (l->unit != unit) {
		l->unit = unit;
		l->unit_branches = 0;
	}
	size_t nb = br ? json_array_size(br) : 0, first = l->unit_branches;
	if (first + nb > l->n_branches) {
		uint64_t *v = realloc(l->branches, (first + nb) * sizeof(*v));
		if (!v)
			return rp_error_set(err, RP_ENOMEM, "out of memory");
		memset(v + l->n_branches, 0, (first + nb - l->n_branches) * sizeof(*v));
		l->branches = v;
		l->n_branches = (uint32_t)(first + nb);
	}
	for (size_t b = 0; b < nb; b++) {
		int64_t taken = count_of(json_object_get(json_array_get(br, b), "count"));
		if (taken < 0)
			return rp_error_set(err, RP_EINVAL, "%s: files[%zu].lines[%zu].branches[%zu]: expected {\"count\" >= 0}",
					    origin, fi, k, b);
		l->branches[first + b] += (uint64_t)taken;
	}
	l->unit_branches = (uint32_t)(first + nb);
	return 0;
}

int coverage_add_gcov_doc(struct cov_report *into, const json_t *doc, const char *origin, struct rp_error *err)
{
	struct acc *a = into->acc_;
	if (!a)
		return rp_error_set(err, RP_EINVAL, "%s: the report is finished; start another one", origin);
	int rc = 0;
	const char *format = json_string_value(json_object_get(doc, "format_version"));
	const char *gcc = json_string_value(json_object_get(doc, "gcc_version"));
	const char *cwd = json_string_value(json_object_get(doc, "current_working_directory"));
	const json_t *files = json_object_get(doc, "files");
	if (!json_is_object(doc) || !format || !gcc || !json_is_array(files)) {
		rc = rp_error_set(err, RP_EINVAL,
				  "%s: not gcov's JSON: expected {\"format_version\", \"gcc_version\", \"files\": [...]}", origin);
		goto out;
	}
	if (strcmp(format, "1") != 0 && strcmp(format, "2") != 0) {
		rc = rp_error_set(err, RP_EINVAL, "%s: gcov JSON format_version \"%s\"; expected \"1\" or \"2\" (gcc 9 to 14)",
				  origin, format);
		goto out;
	}
	if (!into->gcc_version && !(into->gcc_version = strdup(gcc))) {
		rc = rp_error_set(err, RP_ENOMEM, "out of memory");
		goto out;
	}
	size_t root_len = strlen(into->root), i;
	json_t *file;
	json_array_foreach(files, i, file)
	{
		const char *name = json_string_value(json_object_get(file, "file"));
		json_t *lines = json_object_get(file, "lines"), *fns = json_object_get(file, "functions");
		if (!name || !*name || !json_is_array(lines) || (fns && !json_is_array(fns))) {
			rc = rp_error_set(err, RP_EINVAL, "%s: files[%zu]: expected {\"file\", \"lines\": [...], \"functions\": [...]}",
					  origin, i);
			goto out;
		}
		char *abs = NULL;
		if (name[0] == '/')
			abs = strdup(name);
		else if (cwd && asprintf(&abs, "%s/%s", cwd, name) < 0)
			abs = NULL;
		else if (!cwd) {
			rc = rp_error_set(err, RP_EINVAL, "%s: files[%zu]: a relative file name without \"current_working_directory\"",
					  origin, i);
			goto out;
		}
		if (!abs) {
			rc = rp_error_set(err, RP_ENOMEM, "out of memory");
			goto out;
		}
		normalize(abs);
		/* Only the sources under the root: not the system's headers, not the dependencies'. */
		if (strncmp(abs, into->root, root_len) != 0 || (abs[root_len] != '/' && root_len > 1)) {
			free(abs);
			continue;
		}
		struct acc_file *f = acc_file_of(a, abs, err);
		free(abs);
		if (!f) {
			rc = RP_ENOMEM;
			goto out;
		}
		size_t k;
		json_t *v;
		json_array_foreach(lines, k, v)
		if ((rc = add_line(f, v, (uint32_t)into->units + 1, origin, i, k, err)) < 0)
			goto out;
		json_array_foreach(fns, k, v)
		if ((rc = add_function(f, v, origin, i, k, err)) < 0)
			goto out;
	}
	into->units++;
out:
	return rc;
}

int coverage_add_gcov_json(struct cov_report *into, const char *data, size_t len, const char *origin,
			   struct rp_error *err)
{
	if (!into->acc_)
		return rp_error_set(err, RP_EINVAL, "%s: the report is finished; start another one", origin);
	size_t at = 0, n = 0;
	int rc = 0;
	for (;;) {
		while (at < len && (data[at] == ' ' || data[at] == '\n' || data[at] == '\r' || data[at] == '\t'))
			at++;
		if (at == len && n > 0)
			return 0;
		char where[600];
		snprintf(where, sizeof(where), n ? "%s, document %zu" : "%s", origin, n + 1);
		json_error_t jerr;
		json_t *doc = json_loadb(data + at, len - at, JSON_DISABLE_EOF_CHECK, &jerr);
		if (!doc)
			return rp_error_set(err, RP_EINVAL, "%s:%d:%d: not a gcov JSON document: %s", where, jerr.line,
					    jerr.column, jerr.text);
		rc = coverage_add_gcov_doc(into, doc, where, err);
		json_decref(doc);
		if (rc < 0)
			return rc;
		at += jerr.position;
		n++;
	}
}

/* ---- the source-based rules -------------------------------------------------------- */

/* The lines of a source file (pointers into buf, NUL-terminated), or n 0 when it cannot be read. */
struct source {
	char *buf;
	char **line; /* line[1..n] */
	size_t n;
};

char *coverage__slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	size_t cap = 1 << 16, n = 0, got;
	char *buf = malloc(cap + 1);
	while (buf && (got = fread(buf + n, 1, cap - n, fp)) > 0) {
		n += got;
		if (n == cap) {
			char *v = realloc(buf, 2 * cap + 1);
			if (!v) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = v;
			cap *= 2;
		}
	}
	int bad = ferror(fp);
	fclose(fp);
	if (bad) {
		free(buf);
		return NULL;
	}
	if (buf)
		buf[n] = '\0';
	*len = n;
	return buf;
}

static void source_read(const char *path, struct source *s)
{
	size_t len = 0;
	memset(s, 0, sizeof(*s));
	char *buf = coverage__slurp(path, &len);
	if (!buf)
		return;
	size_t lines = 1;
	for (size_t i = 0; i < len; i++)
		lines += buf[i] == '\n';
	char **line = malloc((lines + 2) * sizeof(*line));
	if (!line) {
		free(buf);
		return;
	}
	size_t n = 0;
	for (char *p = buf; p < buf + len;) {
		char *nl = memchr(p, '\n', (size_t)(buf + len - p));
		line[++n] = p;
		if (!nl)
			break;
		*nl = '\0';
		if (nl > p && nl[-1] == '\r')
			nl[-1] = '\0';
		p = nl + 1;
	}
	s->buf = buf;
	s->line = line;
	s->n = n;
}

static void source_free(struct source *s)
{
	free(s->buf);
	free(s->line);
}

/*
 * gcovr's test for a line that holds no code: empty once comments are taken
 * out, or just "{", "}" or "else". Comments as gcovr strips them: "//" to the
 * end first, then each "/" "*" ... "*" "/" on the line.
 */
static int no_code(const char *text)
{
	size_t n = 0;
	while (text[n] && !(text[n] == '/' && text[n + 1] == '/'))
		n++;
	char small[512], *buf = n < sizeof(small) ? small : malloc(n + 1);
	if (!buf)
		return 0; /* out of memory: count the line, the safe side */
	/* C comments, non-greedy, each on this line only; an unclosed one stays as text. */
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		if (text[i] == '/' && text[i + 1] == '*') {
			const char *end = strstr(text + i + 2, "*/");
			if (end && (size_t)(end - text) + 2 <= n) {
				i = (size_t)(end - text) + 2;
				continue;
			}
		}
		buf[o++] = text[i++];
	}
	char *a = buf, *z = buf + o;
	while (a < z && (*a == ' ' || *a == '\t' || *a == '\n' || *a == '\r' || *a == '\f' || *a == '\v'))
		a++;
	while (z > a && (z[-1] == ' ' || z[-1] == '\t' || z[-1] == '\n' || z[-1] == '\r' || z[-1] == '\f' || z[-1] == '\v'))
		z--;
	size_t len = (size_t)(z - a);
	int none = len == 0 || (len == 1 && (*a == '{' || *a == '}')) || (len == 4 && memcmp(a, "else", 4) == 0);
	if (buf != small)
		free(buf);
	return none;
}

/* Half-open line ranges [from, to). */
struct ranges {
	uint32_t (*r)[2];
	size_t n, cap;
};

static int ranges_add(struct ranges *rs, uint32_t from, uint32_t to)
{
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? 2 * rs->cap : 8;
		void *v = realloc(rs->r, cap * sizeof(*rs->r));
		if (!v)
			return -1;
		rs->r = v;
		rs->cap = cap;
	}
	rs->r[rs->n][0] = from;
	rs->r[rs->n][1] = to;
	rs->n++;
	return 0;
}

static int in_ranges(const struct ranges *rs, uint32_t line)
{
	for (size_t i = 0; i < rs->n; i++)
		if (line >= rs->r[i][0] && line < rs->r[i][1])
			return 1;
	return 0;
}

/*
 * The regions the markers exclude, as gcovr finds them: "(PREFIX)_EXCL_LINE"
 * excludes its line (unless a region is open), "_START" opens a region and
 * "_STOP" closes the last one opened, excluding [start, stop); an unclosed
 * region excludes nothing. PREFIX is [GL]COVR? (GCOV, GCOVR, LCOV).
 */
static int find_excluded(const struct source *s, pcre2_code *re, struct ranges *out)
{
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
	uint32_t stack[64];
	size_t depth = 0;
	int rc = 0;
	if (!md)
		return -1;
	for (size_t l = 1; l <= s->n && rc == 0; l++) {
		const char *text = s->line[l];
		if (!strstr(text, "_EXCL_"))
			continue;
		size_t off = 0, len = strlen(text);
		while (off < len && pcre2_match(re, (PCRE2_SPTR)text, len, off, 0, md, NULL) >= 0) {
			PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
			const char *flag = text + ov[4];
			size_t flag_len = ov[5] - ov[4];
			if (flag_len == 4 && memcmp(flag, "LINE", 4) == 0) {
				if (!depth)
					rc = ranges_add(out, (uint32_t)l, (uint32_t)l + 1);
			} else if (flag_len == 5 && memcmp(flag, "START", 5) == 0) {
				if (depth < sizeof(stack) / sizeof(stack[0]))
					stack[depth++] = (uint32_t)l;
			} else if (depth) {
				rc = ranges_add(out, stack[--depth], (uint32_t)l);
			}
			off = ov[1] > off ? ov[1] : off + 1;
		}
	}
	pcre2_match_data_free(md);
	return rc;
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct cov_file *)a)->path, ((const struct cov_file *)b)->path);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct cov_function *)a)->name, ((const struct cov_function *)b)->name);
}

static void file_totals(struct cov_file *f)
{
	memset(&f->totals, 0, sizeof(f->totals));
	for (size_t i = 0; i < f->n_lines; i++) {
		const struct cov_line *l = &f->lines[i];
		f->totals.lines.total++;
		f->totals.lines.covered += l->hits > 0;
		for (uint32_t b = 0; b < l->n_branches; b++) {
			f->totals.branches.total++;
			f->totals.branches.covered += f->branches[l->first_branch + b] > 0;
		}
	}
	for (size_t k = 0; k < f->n_functions; k++) {
		f->totals.functions.total++;
		f->totals.functions.covered += f->functions[k].calls > 0;
	}
}

static void report_totals(struct cov_report *r)
{
	memset(&r->totals, 0, sizeof(r->totals));
	for (size_t i = 0; i < r->n_files; i++) {
		struct cov_totals *t = &r->files[i].totals;
		r->totals.lines.covered += t->lines.covered;
		r->totals.lines.total += t->lines.total;
		r->totals.branches.covered += t->branches.covered;
		r->totals.branches.total += t->branches.total;
		r->totals.functions.covered += t->functions.covered;
		r->totals.functions.total += t->functions.total;
	}
}

static int excluded_path(const char *rel, const char *const *exclude)
{
	for (size_t i = 0; exclude && exclude[i]; i++)
		if (fnmatch(exclude[i], rel, 0) == 0)
			return 1;
	return 0;
}

/* One gathered file as a cov_file, the rules applied. */
static int finish_file(struct cov_report *r, struct acc_file *af, const char *sources, pcre2_code *line_re,
		       pcre2_code *br_re, struct cov_file *out, struct rp_error *err)
{
	struct source src;
	struct ranges no_lines = { 0 }, no_branches = { 0 };
	int rc = 0;
	memset(out, 0, sizeof(*out));
	if (sources) {
		char *at = NULL;
		size_t root_len = strlen(r->root);
		if (asprintf(&at, "%s/%s", sources, af->abs + root_len + (root_len > 1)) < 0)
			return rp_error_set(err, RP_ENOMEM, "out of memory");
		source_read(at, &src);
		free(at);
	} else {
		source_read(af->abs, &src);
	}
	if (src.n && (find_excluded(&src, line_re, &no_lines) < 0 || find_excluded(&src, br_re, &no_branches) < 0)) {
		rc = rp_error_set(err, RP_ENOMEM, "out of memory");
		goto out;
	}
	size_t nl = 0, nb = 0;
	for (uint32_t l = 1; l < af->cap_lines; l++)
		if (af->lines[l].present) {
			nl++;
			nb += af->lines[l].n_branches;
		}
	out->path = strdup(af->abs + strlen(r->root) + (strlen(r->root) > 1));
	out->lines = calloc(nl ? nl : 1, sizeof(*out->lines));
	out->branches = calloc(nb ? nb : 1, sizeof(*out->branches));
	if (!out->path || !out->lines || !out->branches) {
		rc = rp_error_set(err, RP_ENOMEM, "out of memory");
		goto out;
	}
	for (uint32_t l = 1; l < af->cap_lines; l++) {
		const struct acc_line *a = &af->lines[l];
		if (!a->present || in_ranges(&no_lines, l))
			continue;
		/* gcov shows "/" "*EOF*" "/" for lines of a source it cannot read: no code, as gcovr sees it. */
		const char *text = l <= src.n ? src.line[l] : "/*EOF*/";
		if (a->hits == 0 && no_code(text))
			continue;
		struct cov_line *c = &out->lines[out->n_lines++];
		c->line = l;
		c->hits = a->hits;
		c->first_branch = (uint32_t)out->n_branches;
		if (!in_ranges(&no_branches, l)) {
			c->n_branches = a->n_branches;
			for (uint32_t b = 0; b < a->n_branches; b++)
				out->branches[out->n_branches++] = a->branches[b];
		}
	}
	/* The functions move to the cov_file; their names with them. */
	out->functions = af->fns;
	out->n_functions = af->n_fns;
	af->fns = NULL;
	af->n_fns = af->cap_fns = 0;
	if (out->n_functions)
		qsort(out->functions, out->n_functions, sizeof(*out->functions), by_name);
	file_totals(out);
out:
	free(no_lines.r);
	free(no_branches.r);
	source_free(&src);
	return rc;
}

int coverage_finish(struct cov_report *r, const char *const *exclude, struct rp_error *err)
{
	return coverage_finish_at(r, NULL, exclude, err);
}

int coverage_finish_at(struct cov_report *r, const char *sources, const char *const *exclude, struct rp_error *err)
{
	struct acc *a = r->acc_;
	int rc = 0, ec;
	PCRE2_SIZE eo;
	if (!a)
		return rp_error_set(err, RP_EINVAL, "the coverage report is finished already");
	pcre2_code *line_re = pcre2_compile((PCRE2_SPTR) "([GL]COVR?)_EXCL_(LINE|START|STOP)", PCRE2_ZERO_TERMINATED,
					    0, &ec, &eo, NULL);
	pcre2_code *br_re = pcre2_compile((PCRE2_SPTR) "([GL]COVR?)_EXCL_BR_(LINE|START|STOP)", PCRE2_ZERO_TERMINATED,
					  0, &ec, &eo, NULL);
	r->files = calloc(a->n_files ? a->n_files : 1, sizeof(*r->files));
	if (!line_re || !br_re || !r->files) {
		rc = rp_error_set(err, RP_ENOMEM, "out of memory");
		goto out;
	}
	size_t root_len = strlen(r->root);
	for (size_t i = 0; i < a->n_files && rc == 0; i++) {
		const char *rel = a->files[i].abs + root_len + (root_len > 1);
		if (excluded_path(rel, exclude))
			continue;
		rc = finish_file(r, &a->files[i], sources, line_re, br_re, &r->files[r->n_files], err);
		r->n_files++; /* released with the report, also when half made */
	}
	if (rc == 0) {
		if (r->n_files)
			qsort(r->files, r->n_files, sizeof(*r->files), by_path);
		report_totals(r);
		acc_free(a);
		r->acc_ = NULL;
	}
out:
	pcre2_code_free(line_re);
	pcre2_code_free(br_re);
	return rc;
}

/* ---- merging ---------------------------------------------------------------------------- */

/* Adds file `b` into `a` (same path): lines by number, branches by position, functions by name. */
static int merge_file(struct cov_file *a, const struct cov_file *b, struct rp_error *err)
{
	size_t nl = a->n_lines + b->n_lines, nb = a->n_branches + b->n_branches, nf = a->n_functions + b->n_functions;
	struct cov_line *lines = calloc(nl ? nl : 1, sizeof(*lines));
	uint64_t *branches = calloc(nb ? nb : 1, sizeof(*branches));
	struct cov_function *fns = calloc(nf ? nf : 1, sizeof(*fns));
	size_t i = 0, j = 0, n = 0, m = 0, k = 0;
	if (!lines || !branches || !fns) {
		free(lines);
		free(branches);
		free(fns);
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	}
	while (i < a->n_lines || j < b->n_lines) {
		const struct cov_line *x = i < a->n_lines ? &a->lines[i] : NULL, *y = j < b->n_lines ? &b->lines[j] : NULL;
		struct cov_line *o = &lines[n++];
		if (x && (!y || x->line <= y->line))
			*o = *x;
		else
			*o = *y;
		o->hits = 0;
		uint32_t w = (x && o->line == x->line ? x->n_branches : 0), v = (y && o->line == y->line ? y->n_branches : 0);
		o->n_branches = w > v ? w : v;
		o->first_branch = (uint32_t)m;
		if (x && o->line == x->line) {
			o->hits += x->hits;
			for (uint32_t q = 0; q < x->n_branches; q++)
				branches[m + q] += a->branches[x->first_branch + q];
			i++;
		}
		if (y && o->line == y->line) {
			o->hits += y->hits;
			for (uint32_t q = 0; q < y->n_branches; q++)
				branches[m + q] += b->branches[y->first_branch + q];
			j++;
		}
		m += o->n_branches;
	}
	int rc = 0;
	for (i = 0, j = 0; i < a->n_functions || j < b->n_functions;) {
		const struct cov_function *x = i < a->n_functions ? &a->functions[i] : NULL;
		const struct cov_function *y = j < b->n_functions ? &b->functions[j] : NULL;
		int c = !x ? 1 : !y ? -1 : strcmp(x->name, y->name);
		const struct cov_function *src = c <= 0 ? x : y;
		fns[k] = *src;
		if (!(fns[k].name = strdup(src->name)))
			rc = -1;
		fns[k].calls = (c <= 0 ? x->calls : 0) + (c >= 0 ? y->calls : 0);
		k++;
		i += c <= 0;
		j += c >= 0;
	}
	if (rc < 0) {
		for (size_t q = 0; q < k; q++)
			free(fns[q].name);
		free(lines);
		free(branches);
		free(fns);
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	}
	for (size_t q = 0; q < a->n_functions; q++)
		free(a->functions[q].name);
	free(a->functions);
	free(a->lines);
	free(a->branches);
	a->lines = lines;
	a->n_lines = n;
	a->branches = branches;
	a->n_branches = m;
	a->functions = fns;
	a->n_functions = k;
	file_totals(a);
	return 0;
}

static int copy_file(struct cov_file *out, const struct cov_file *in, struct rp_error *err)
{
	memset(out, 0, sizeof(*out));
	out->path = strdup(in->path);
	if (!out->path)
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	return merge_file(out, in, err); /* into an empty file: a copy */
}

int coverage_merge(struct cov_report *into, const struct cov_report *from, struct rp_error *err)
{
	if (into->acc_ || from->acc_)
		return rp_error_set(err, RP_EINVAL, "coverage: finish both reports before merging them");
	for (size_t i = 0; i < from->n_files; i++) {
		const struct cov_file *f = &from->files[i];
		size_t lo = 0, hi = into->n_files;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (strcmp(into->files[mid].path, f->path) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		int rc;
		if (lo < into->n_files && strcmp(into->files[lo].path, f->path) == 0) {
			rc = merge_file(&into->files[lo], f, err);
		} else {
			struct cov_file *v = realloc(into->files, (into->n_files + 1) * sizeof(*v));
			if (!v)
				return rp_error_set(err, RP_ENOMEM, "out of memory");
			into->files = v;
			memmove(&v[lo + 1], &v[lo], (into->n_files - lo) * sizeof(*v));
			into->n_files++;
			rc = copy_file(&v[lo], f, err);
		}
		if (rc < 0)
			return rc;
	}
	into->units += from->units;
	if (!into->gcc_version && from->gcc_version && !(into->gcc_version = strdup(from->gcc_version)))
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	report_totals(into);
	return 0;
}

/* ---- ripple's JSON ------------------------------------------------------------------------ */

static json_t *count_json(struct cov_count c)
{
	return json_pack("{s:I, s:I, s:f}", "covered", (json_int_t)c.covered, "total", (json_int_t)c.total, "percent",
			 coverage_percent(c));
}

json_t *coverage_totals_json(const struct cov_totals *t)
{
	return json_pack("{s:o, s:o, s:o}", "lines", count_json(t->lines), "branches", count_json(t->branches),
			 "functions", count_json(t->functions));
}

json_t *coverage_to_json(const struct cov_report *r, int with_lines)
{
	json_t *files = json_array();
	for (size_t i = 0; files && i < r->n_files; i++) {
		const struct cov_file *f = &r->files[i];
		json_t *doc = json_pack("{s:s, s:o}", "path", f->path, "totals", coverage_totals_json(&f->totals));
		if (doc && with_lines) {
			json_t *lines = json_array(), *fns = json_array();
			for (size_t k = 0; k < f->n_lines; k++) {
				const struct cov_line *l = &f->lines[k];
				json_t *br = json_array();
				for (uint32_t b = 0; b < l->n_branches; b++)
					json_array_append_new(br, json_integer((json_int_t)f->branches[l->first_branch + b]));
				json_array_append_new(lines, json_pack("[I, I, o]", (json_int_t)l->line, (json_int_t)l->hits, br));
			}
			for (size_t k = 0; k < f->n_functions; k++)
				json_array_append_new(fns, json_pack("[s, I, I]", f->functions[k].name,
								     (json_int_t)f->functions[k].line,
								     (json_int_t)f->functions[k].calls));
			json_object_set_new(doc, "lines", lines);
			json_object_set_new(doc, "functions", fns);
		}
		json_array_append_new(files, doc);
	}
	return json_pack("{s:s, s:o, s:I, s:o, s:o}", "root", r->root ? r->root : "", "gcc_version",
			 r->gcc_version ? json_string(r->gcc_version) : json_null(), "units", (json_int_t)r->units,
			 "totals", coverage_totals_json(&r->totals), "files", files);
}

int coverage_from_json(const json_t *doc, struct cov_report *out, struct rp_error *err)
{
	memset(out, 0, sizeof(*out));
	const char *root = json_string_value(json_object_get(doc, "root"));
	const json_t *files = json_object_get(doc, "files");
	if (!root || !json_is_array(files))
		return rp_error_set(err, RP_EINVAL, "coverage JSON: expected {\"root\", \"files\": [...]}");
	const char *gcc = json_string_value(json_object_get(doc, "gcc_version"));
	out->root = strdup(root);
	out->gcc_version = gcc ? strdup(gcc) : NULL;
	out->units = (size_t)(json_integer_value(json_object_get(doc, "units")) > 0 ? json_integer_value(json_object_get(doc, "units")) : 0);
	out->files = calloc(json_array_size(files) + 1, sizeof(*out->files));
	if (!out->root || (gcc && !out->gcc_version) || !out->files) {
		coverage_report_release(out);
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	}
	size_t i;
	json_t *f;
	json_array_foreach(files, i, f)
	{
		const char *path = json_string_value(json_object_get(f, "path"));
		const json_t *lines = json_object_get(f, "lines"), *fns = json_object_get(f, "functions");
		if (!path || !json_is_array(lines) || !json_is_array(fns)) {
			coverage_report_release(out);
			return rp_error_set(err, RP_EINVAL, "coverage JSON: files[%zu]: expected {\"path\", \"lines\": [...], \"functions\": [...]}", i);
		}
		struct cov_file *cf = &out->files[out->n_files++];
		size_t nb = 0, k;
		json_t *l;
		json_array_foreach(lines, k, l)
			nb += json_array_size(json_array_get(l, 2));
		cf->path = strdup(path);
		cf->lines = calloc(json_array_size(lines) + 1, sizeof(*cf->lines));
		cf->branches = calloc(nb + 1, sizeof(*cf->branches));
		cf->functions = calloc(json_array_size(fns) + 1, sizeof(*cf->functions));
		if (!cf->path || !cf->lines || !cf->branches || !cf->functions) {
			coverage_report_release(out);
			return rp_error_set(err, RP_ENOMEM, "out of memory");
		}
		uint32_t prev = 0;
		json_array_foreach(lines, k, l)
		{
			int64_t line = count_of(json_array_get(l, 0)), hits = count_of(json_array_get(l, 1));
			const json_t *br = json_array_get(l, 2);
			if (!json_is_array(l) || line < 1 || line > UINT32_MAX || (uint32_t)line <= prev || hits < 0 || !json_is_array(br)) {
				coverage_report_release(out);
				return rp_error_set(err, RP_EINVAL, "coverage JSON: files[%zu].lines[%zu]: expected [LINE (ascending), HITS, [BRANCH HITS...]]", i, k);
			}
			struct cov_line *cl = &cf->lines[cf->n_lines++];
			cl->line = prev = (uint32_t)line;
			cl->hits = (uint64_t)hits;
			cl->first_branch = (uint32_t)cf->n_branches;
			cl->n_branches = (uint32_t)json_array_size(br);
			size_t b;
			json_t *bv;
			json_array_foreach(br, b, bv)
			{
				if (count_of(bv) < 0) {
					coverage_report_release(out);
					return rp_error_set(err, RP_EINVAL, "coverage JSON: files[%zu].lines[%zu]: branch hits must be integers >= 0", i, k);
				}
				cf->branches[cf->n_branches++] = (uint64_t)count_of(bv);
			}
		}
		json_t *fn;
		json_array_foreach(fns, k, fn)
		{
			const char *name = json_string_value(json_array_get(fn, 0));
			int64_t line = count_of(json_array_get(fn, 1)), calls = count_of(json_array_get(fn, 2));
			if (!name || line < 0 || line > UINT32_MAX || calls < 0) {
				coverage_report_release(out);
				return rp_error_set(err, RP_EINVAL, "coverage JSON: files[%zu].functions[%zu]: expected [NAME, LINE, CALLS]", i, k);
			}
			struct cov_function *cfn = &cf->functions[cf->n_functions++];
			if (!(cfn->name = strdup(name))) {
				coverage_report_release(out);
				return rp_error_set(err, RP_ENOMEM, "out of memory");
			}
			cfn->line = (uint32_t)line;
			cfn->calls = (uint64_t)calls;
		}
		if (cf->n_functions)
			qsort(cf->functions, cf->n_functions, sizeof(*cf->functions), by_name);
		file_totals(cf);
	}
	if (out->n_files)
		qsort(out->files, out->n_files, sizeof(*out->files), by_path);
	report_totals(out);
	return 0;
}

int coverage_gcov_log_complaint(const char *log_path, char *line, size_t size)
{
	FILE *fp = fopen(log_path, "r");
	char buf[1024];
	int found = 0;
	while (fp && !found && fgets(buf, sizeof(buf), fp)) {
		/* "[   0.001] x.gcda:version 'B33*', prefer version 'B22*'" and the like. */
		char *text = strchr(buf, ']');
		text = text ? text + 1 : buf;
		while (*text == ' ')
			text++;
		if ((strstr(text, ".gcda:") || strstr(text, ".gcno:")) &&
		    (strstr(text, ":version '") || strstr(text, "corrupt") || strstr(text, ":cannot open notes") ||
		     strstr(text, ":not a gcov") || strstr(text, ":overflowed"))) {
			size_t len = strcspn(text, "\n");
			if (len >= size)
				len = size - 1;
			memcpy(line, text, len);
			line[len] = '\0';
			found = 1;
		}
	}
	if (fp)
		fclose(fp);
	return found;
}
