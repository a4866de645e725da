/*
 * export.c — a cov_report in the formats other tools read: the lcov
 * tracefile (what geninfo writes, so lcov, genhtml and Codecov take it) and
 * Cobertura XML (what gcovr writes, so GitLab and Jenkins take it).
 *
 * Both writers check the report's shape first (branch ranges inside the
 * file's array, names present, text the format can carry) and write nothing
 * when it is wrong (RP_EINVAL). A failed write is RP_EIO; the stream is
 * flushed at the end so that a full disk shows here and not at fclose().
 * The figures written are the totals the report carries (coverage_finish()
 * computed them); per-line records are written as they are.
 */
#include "coverage.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/banned.h"

/* The output stream and the first write error on it; later writes are skipped. */
struct sink {
	FILE *out;
	int failed;
	int saved_errno;
};

static void sink_fail(struct sink *s)
{
	if (!s->failed) {
		s->failed = 1;
		s->saved_errno = errno;
	}
}

static void put(struct sink *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct sink *s, const char *fmt, ...)
{
	va_list ap;
	if (s->failed)
		return;
	va_start(ap, fmt);
	if (vfprintf(s->out, fmt, ap) < 0)
		sink_fail(s);
	va_end(ap);
}

static int sink_finish(struct sink *s, const char *what, struct rp_error *err)
{
	if (!s->failed && fflush(s->out) != 0)
		sink_fail(s);
	if (!s->failed && ferror(s->out)) {
		s->failed = 1;
		s->saved_errno = 0;
	}
	if (!s->failed)
		return 0;
	return rp_error_set(err, RP_EIO, "cannot write the %s: %s", what,
			    s->saved_errno ? strerror(s->saved_errno) : "write error");
}

/* The root without trailing slashes ("/" stays "/"), and the separator to put before a relative path. */
static int root_len(const char *root, const char **sep)
{
	size_t n = strlen(root);
	while (n > 1 && root[n - 1] == '/')
		n--;
	*sep = (n == 1 && root[0] == '/') ? "" : "/";
	return (int)n;
}

/* The shape every writer relies on: names present and each line's branches inside the file's array. */
static int check_shape(const struct cov_report *r, const char *what, struct rp_error *err)
{
	if (!r->root || !*r->root)
		return rp_error_set(err, RP_EINVAL, "%s: the report has no root", what);
	if (r->n_files && !r->files)
		return rp_error_set(err, RP_EINVAL, "%s: the report has %zu files but no array", what,
				    r->n_files);
	for (size_t i = 0; i < r->n_files; i++) {
		const struct cov_file *f = &r->files[i];
		if (!f->path || !*f->path)
			return rp_error_set(err, RP_EINVAL, "%s: file %zu has no path", what, i);
		if ((f->n_lines && !f->lines) || (f->n_branches && !f->branches) ||
		    (f->n_functions && !f->functions))
			return rp_error_set(err, RP_EINVAL, "%s: %s: a count without its array", what,
					    f->path);
		for (size_t k = 0; k < f->n_lines; k++) {
			const struct cov_line *l = &f->lines[k];
			if ((uint64_t)l->first_branch + l->n_branches > f->n_branches)
				return rp_error_set(err, RP_EINVAL,
						    "%s: %s:%" PRIu32 ": branches %" PRIu32 "..%" PRIu64
						    " outside the file's %zu",
						    what, f->path, l->line, l->first_branch,
						    (uint64_t)l->first_branch + l->n_branches, f->n_branches);
		}
		for (size_t k = 0; k < f->n_functions; k++)
			if (!f->functions[k].name || !*f->functions[k].name)
				return rp_error_set(err, RP_EINVAL, "%s: %s: function %zu has no name", what,
						    f->path, k);
	}
	return 0;
}

/* ---- lcov ---- */

/* A tracefile is line-based: a line break in a name would start a record of its own. */
static int lcov_text_ok(const char *s)
{
	return !strpbrk(s, "\n\r");
}

static int lcov_check_text(const struct cov_report *r, struct rp_error *err)
{
	if (!lcov_text_ok(r->root))
		return rp_error_set(err, RP_EINVAL, "lcov tracefile: the root holds a line break");
	for (size_t i = 0; i < r->n_files; i++) {
		const struct cov_file *f = &r->files[i];
		if (!lcov_text_ok(f->path))
			return rp_error_set(err, RP_EINVAL,
					    "lcov tracefile: file %zu: its path holds a line break", i);
		for (size_t k = 0; k < f->n_functions; k++)
			if (!lcov_text_ok(f->functions[k].name))
				return rp_error_set(
				    err, RP_EINVAL,
				    "lcov tracefile: %s: function %zu: its name holds a line break", f->path,
				    k);
	}
	return 0;
}

static void lcov_file(struct sink *s, const char *root, int rlen, const char *sep, const struct cov_file *f)
{
	const struct cov_totals *t = &f->totals;

	put(s, "TN:\nSF:%.*s%s%s\n", rlen, root, sep, f->path);
	for (size_t k = 0; k < f->n_functions; k++)
		put(s, "FN:%" PRIu32 ",%s\n", f->functions[k].line, f->functions[k].name);
	for (size_t k = 0; k < f->n_functions; k++)
		put(s, "FNDA:%" PRIu64 ",%s\n", f->functions[k].calls, f->functions[k].name);
	/* geninfo leaves out FNF/FNH and BRF/BRH when there is nothing to count. */
	if (t->functions.total || f->n_functions)
		put(s, "FNF:%" PRIu64 "\nFNH:%" PRIu64 "\n", t->functions.total, t->functions.covered);

	/*
	 * A branch of a line never run is "-" (its block never ran), as geninfo
	 * writes for gcov's unexecuted blocks; lcov counts it as found, not hit.
	 */
	for (size_t k = 0; k < f->n_lines; k++) {
		const struct cov_line *l = &f->lines[k];
		for (uint32_t b = 0; b < l->n_branches; b++) {
			if (l->hits == 0)
				put(s, "BRDA:%" PRIu32 ",0,%" PRIu32 ",-\n", l->line, b);
			else
				put(s, "BRDA:%" PRIu32 ",0,%" PRIu32 ",%" PRIu64 "\n", l->line, b,
				    f->branches[l->first_branch + b]);
		}
	}
	if (t->branches.total || f->n_branches)
		put(s, "BRF:%" PRIu64 "\nBRH:%" PRIu64 "\n", t->branches.total, t->branches.covered);

	for (size_t k = 0; k < f->n_lines; k++)
		put(s, "DA:%" PRIu32 ",%" PRIu64 "\n", f->lines[k].line, f->lines[k].hits);
	put(s, "LF:%" PRIu64 "\nLH:%" PRIu64 "\nend_of_record\n", t->lines.total, t->lines.covered);
}

int coverage_write_lcov(const struct cov_report *r, FILE *out, struct rp_error *err)
{
	struct sink s = {out, 0, 0};
	const char *sep;
	int rc = check_shape(r, "lcov tracefile", err);
	if (rc < 0)
		return rc;
	rc = lcov_check_text(r, err);
	if (rc < 0)
		return rc;
	int rlen = root_len(r->root, &sep);
	for (size_t i = 0; i < r->n_files && !s.failed; i++)
		lcov_file(&s, r->root, rlen, sep, &r->files[i]);
	return sink_finish(&s, "lcov tracefile", err);
}

/* ---- Cobertura ---- */

/*
 * XML 1.0 carries only valid UTF-8 without the C0 controls other than tab,
 * line feed and carriage return (those three are written as references, so
 * that attribute normalisation keeps them).
 */
static int xml_text_ok(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	while (*s) {
		unsigned c = *s, cp, min;
		size_t n;
		if (c < 0x80) {
			if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
				return 0;
			s++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			n = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return 0;
		}
		for (size_t i = 1; i <= n; i++) {
			if ((s[i] & 0xc0) != 0x80) /* also stops at the NUL */
				return 0;
			cp = cp << 6 | (s[i] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe ||
		    cp == 0xffff)
			return 0;
		s += n + 1;
	}
	return 1;
}

static int xml_check_text(const struct cov_report *r, struct rp_error *err)
{
	if (!xml_text_ok(r->root))
		return rp_error_set(err, RP_EINVAL,
				    "Cobertura XML: the root is not UTF-8 text XML can carry");
	for (size_t i = 0; i < r->n_files; i++)
		if (!xml_text_ok(r->files[i].path))
			return rp_error_set(
			    err, RP_EINVAL,
			    "Cobertura XML: file %zu: its path is not UTF-8 text XML can carry", i);
	return 0;
}

/* `n` bytes of `v` (or all of it when n is (size_t)-1), escaped for an attribute value or text. */
static void put_xml_n(struct sink *s, const char *v, size_t n, int dot_to_underscore)
{
	for (size_t i = 0; i < n && v[i] && !s->failed; i++) {
		const char *rep = NULL;
		char c = v[i];
		switch (c) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&apos;";
			break;
		case '\t':
			rep = "&#9;";
			break;
		case '\n':
			rep = "&#10;";
			break;
		case '\r':
			rep = "&#13;";
			break;
		case '.':
			if (dot_to_underscore)
				c = '_';
			break;
		default:
			break;
		}
		if (rep ? fputs(rep, s->out) == EOF : fputc(c, s->out) == EOF)
			sink_fail(s);
	}
}

static void put_xml(struct sink *s, const char *v)
{
	put_xml_n(s, v, (size_t)-1, 0);
}

/*
 * covered/total as Python's str(float) writes it (the shortest text that
 * reads back as the same double, "1.0" style), which is what gcovr writes;
 * 1.0 when there is nothing to cover, as gcovr (6.0 on) does.
 */
static void format_rate(struct cov_count c, char buf[32])
{
	if (!c.total) {
		snprintf(buf, 32, "1.0");
		return;
	}
	double v = (double)c.covered / (double)c.total;
	for (int p = 1; p <= 17; p++) {
		snprintf(buf, 32, "%.*g", p, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	if (!strpbrk(buf, ".e"))
		memcpy(buf + strlen(buf), ".0", 3);
}

static void count_add(struct cov_count *into, struct cov_count c)
{
	into->covered += c.covered;
	into->total += c.total;
}

/* The directory part of a path ("" for a file at the root) and its last component. */
static size_t dir_len(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? (size_t)(slash - path) : 0;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* Packages by directory, classes by name ('.' read as '_'): gcovr's order. */
static int file_order(const void *pa, const void *pb)
{
	const struct cov_file *a = *(const struct cov_file *const *)pa,
			      *b = *(const struct cov_file *const *)pb;
	size_t la = dir_len(a->path), lb = dir_len(b->path);
	int c = memcmp(a->path, b->path, la < lb ? la : lb);
	if (c || la != lb)
		return c ? c : (la < lb ? -1 : 1);
	const unsigned char *x = (const unsigned char *)base_name(a->path);
	const unsigned char *y = (const unsigned char *)base_name(b->path);
	for (;; x++, y++) {
		unsigned cx = *x == '.' ? '_' : *x, cy = *y == '.' ? '_' : *y;
		if (cx != cy || !cx)
			return (int)cx - (int)cy;
	}
}

static void cobertura_line(struct sink *s, const struct cov_file *f, const struct cov_line *l)
{
	put(s, "            <line number=\"%" PRIu32 "\" hits=\"%" PRIu64 "\" branch=\"", l->line, l->hits);
	if (!l->n_branches) {
		put(s, "false\"/>\n");
		return;
	}
	uint64_t covered = 0, total = l->n_branches;
	for (uint32_t b = 0; b < l->n_branches; b++)
		covered += f->branches[l->first_branch + b] > 0;
	/* gcovr truncates: int(100 * covered / total). */
	unsigned pct = (unsigned)(covered * 100 / total);
	put(s,
	    "true\" condition-coverage=\"%u%% (%" PRIu64 "/%" PRIu64 ")\">\n"
	    "              <conditions>\n"
	    "                <condition number=\"0\" type=\"jump\" coverage=\"%u%%\"/>\n"
	    "              </conditions>\n"
	    "            </line>\n",
	    pct, covered, total, pct);
}

static void cobertura_class(struct sink *s, const struct cov_file *f)
{
	char lr[32], br[32];
	format_rate(f->totals.lines, lr);
	format_rate(f->totals.branches, br);
	put(s, "        <class name=\"");
	put_xml_n(s, base_name(f->path), (size_t)-1, 1);
	put(s, "\" filename=\"");
	put_xml(s, f->path);
	put(s, "\" line-rate=\"%s\" branch-rate=\"%s\" complexity=\"0.0\">\n          <methods/>\n", lr, br);
	if (!f->n_lines) {
		put(s, "          <lines/>\n        </class>\n");
		return;
	}
	put(s, "          <lines>\n");
	for (size_t k = 0; k < f->n_lines && !s->failed; k++)
		cobertura_line(s, f, &f->lines[k]);
	put(s, "          </lines>\n        </class>\n");
}

/* One <package> for files[0..n), which share a directory. */
static void cobertura_package(struct sink *s, const struct cov_file *const *files, size_t n)
{
	struct cov_count lines = {0, 0}, branches = {0, 0};
	char lr[32], br[32];
	for (size_t i = 0; i < n; i++) {
		count_add(&lines, files[i]->totals.lines);
		count_add(&branches, files[i]->totals.branches);
	}
	format_rate(lines, lr);
	format_rate(branches, br);
	/* gcovr's name: the directory with '/' as '.', "" for the root's own files. */
	put(s, "    <package name=\"");
	size_t dl = dir_len(files[0]->path);
	for (size_t i = 0; i < dl && !s->failed; i++) {
		if (files[0]->path[i] == '/')
			put(s, ".");
		else
			put_xml_n(s, files[0]->path + i, 1, 0);
	}
	put(s, "\" line-rate=\"%s\" branch-rate=\"%s\" complexity=\"0.0\">\n      <classes>\n", lr, br);
	for (size_t i = 0; i < n && !s->failed; i++)
		cobertura_class(s, files[i]);
	put(s, "      </classes>\n    </package>\n");
}

/* SOURCE_DATE_EPOCH when set (reproducible output), else now. */
static unsigned long long report_time(void)
{
	const char *e = getenv("SOURCE_DATE_EPOCH");
	if (e && *e >= '0' && *e <= '9') {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(e, &end, 10);
		if (!*end && !errno)
			return v;
	}
	time_t now = time(NULL);
	return now < 0 ? 0 : (unsigned long long)now;
}

int coverage_write_cobertura(const struct cov_report *r, FILE *out, struct rp_error *err)
{
	struct sink s = {out, 0, 0};
	const struct cov_file **order = NULL;
	char lr[32], br[32];
	const char *sep;
	int rc = check_shape(r, "Cobertura XML", err);
	if (rc < 0)
		goto out;
	rc = xml_check_text(r, err);
	if (rc < 0)
		goto out;
	if (r->n_files) {
		order = malloc(r->n_files * sizeof(*order));
		if (!order) {
			rc = rp_error_set(err, RP_ENOMEM, "Cobertura XML: no memory to order %zu files",
					  r->n_files);
			goto out;
		}
		for (size_t i = 0; i < r->n_files; i++)
			order[i] = &r->files[i];
		qsort(order, r->n_files, sizeof(*order), file_order);
	}

	format_rate(r->totals.lines, lr);
	format_rate(r->totals.branches, br);
	put(&s,
	    "<?xml version='1.0' encoding='UTF-8'?>\n"
	    "<!DOCTYPE coverage SYSTEM 'http://cobertura.sourceforge.net/xml/coverage-04.dtd'>\n"
	    "<coverage line-rate=\"%s\" branch-rate=\"%s\" lines-covered=\"%" PRIu64
	    "\" lines-valid=\"%" PRIu64 "\" branches-covered=\"%" PRIu64 "\" branches-valid=\"%" PRIu64
	    "\" complexity=\"0.0\" timestamp=\"%llu\" version=\"ripple\">\n"
	    "  <sources>\n    <source>",
	    lr, br, r->totals.lines.covered, r->totals.lines.total, r->totals.branches.covered,
	    r->totals.branches.total, report_time());
	int rlen = root_len(r->root, &sep);
	put_xml_n(&s, r->root, (size_t)rlen, 0);
	put(&s, "</source>\n  </sources>\n");

	if (!r->n_files) {
		put(&s, "  <packages/>\n</coverage>\n");
	} else {
		put(&s, "  <packages>\n");
		for (size_t i = 0; i < r->n_files && !s.failed;) {
			size_t j = i + 1, dl = dir_len(order[i]->path);
			while (j < r->n_files && dir_len(order[j]->path) == dl &&
			       !memcmp(order[j]->path, order[i]->path, dl))
				j++;
			cobertura_package(&s, order + i, j - i);
			i = j;
		}
		put(&s, "  </packages>\n</coverage>\n");
	}
	rc = sink_finish(&s, "Cobertura XML", err);
out:
	free(order);
	return rc;
}
