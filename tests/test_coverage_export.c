/*
 * Unit tests of the coverage exports: the exact lcov tracefile and Cobertura
 * document of a small hand-made report, lcov's own reading of the tracefile,
 * xmllint's of the XML, and the error paths (bad shape, a full disk).
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coverage/coverage.h"
#include "check_main.h"
#include "core/banned.h"

/* Heap copies, laid out as coverage_report_release() expects to free them. */
static void *dup_mem(const void *p, size_t n)
{
	void *q = malloc(n ? n : 1);
	ck_assert_ptr_nonnull(q);
	memcpy(q, p, n);
	return q;
}

static char *dup_str(const char *s)
{
	char *d = strdup(s);
	ck_assert_ptr_nonnull(d);
	return d;
}

static void set_file(struct cov_file *f, const char *path, const struct cov_line *lines, size_t n_lines,
		     const uint64_t *branches, size_t n_branches, const struct cov_function *fns,
		     size_t n_fns, struct cov_totals totals)
{
	f->path = dup_str(path);
	f->lines = n_lines ? dup_mem(lines, n_lines * sizeof(*lines)) : NULL;
	f->n_lines = n_lines;
	f->branches = n_branches ? dup_mem(branches, n_branches * sizeof(*branches)) : NULL;
	f->n_branches = n_branches;
	f->functions = n_fns ? dup_mem(fns, n_fns * sizeof(*fns)) : NULL;
	for (size_t i = 0; i < n_fns; i++)
		f->functions[i].name = dup_str(fns[i].name);
	f->n_functions = n_fns;
	f->totals = totals;
}

/* What coverage_report_release() frees; done here so the test needs only export.c. */
static void fixture_free(struct cov_report *r)
{
	for (size_t i = 0; i < r->n_files; i++) {
		struct cov_file *f = &r->files[i];
		free(f->path);
		free(f->lines);
		free(f->branches);
		for (size_t k = 0; k < f->n_functions; k++)
			free(f->functions[k].name);
		free(f->functions);
	}
	free(r->files);
	free(r->root);
	free(r->gcc_version);
	memset(r, 0, sizeof(*r));
}

/*
 * Three files, by path:
 *  lib/a&b<c>.c  functions helper (line 10, never called) and main; line 4 has
 *                branches 1 and 0, line 10 (0 hits) branches 0 and 0.
 *                lines 3/5, branches 1/4, functions 1/2.
 *  lib/b.c       one line never run, nothing else: lines 0/1, branches 0/0.
 *  z.c           at the root; line 1 has branches 7, 2, 0: lines 1/2, branches 2/3, functions 1/1.
 * Totals: lines 4/8, branches 3/7, functions 2/3.
 */
static struct cov_report fixture(const char *root)
{
	struct cov_report r = {0};
	r.root = dup_str(root);
	r.gcc_version = dup_str("12.2.0");
	r.n_files = 3;
	r.files = calloc(3, sizeof(*r.files));
	ck_assert_ptr_nonnull(r.files);

	const struct cov_line a_lines[] = {
	    {3, 1, 0, 0}, {4, 1, 0, 2}, {5, 1, 2, 0}, {10, 0, 2, 2}, {11, 0, 4, 0},
	};
	const uint64_t a_branches[] = {1, 0, 0, 0};
	const struct cov_function a_fns[] = {{"helper", 10, 0}, {"main", 3, 1}};
	set_file(&r.files[0], "lib/a&b<c>.c", a_lines, 5, a_branches, 4, a_fns, 2,
		 (struct cov_totals){{3, 5}, {1, 4}, {1, 2}});

	const struct cov_line b_lines[] = {{1, 0, 0, 0}};
	set_file(&r.files[1], "lib/b.c", b_lines, 1, NULL, 0, NULL, 0,
		 (struct cov_totals){{0, 1}, {0, 0}, {0, 0}});

	const struct cov_line z_lines[] = {{1, 7, 0, 3}, {2, 0, 3, 0}};
	const uint64_t z_branches[] = {7, 2, 0};
	const struct cov_function z_fns[] = {{"z", 1, 7}};
	set_file(&r.files[2], "z.c", z_lines, 2, z_branches, 3, z_fns, 1,
		 (struct cov_totals){{1, 2}, {2, 3}, {1, 1}});

	r.totals = (struct cov_totals){{4, 8}, {3, 7}, {2, 3}};
	r.units = 2;
	return r;
}

static const char expected_lcov[] = "TN:\n"
				    "SF:/src/r&d/lib/a&b<c>.c\n"
				    "FN:10,helper\n"
				    "FN:3,main\n"
				    "FNDA:0,helper\n"
				    "FNDA:1,main\n"
				    "FNF:2\n"
				    "FNH:1\n"
				    "BRDA:4,0,0,1\n"
				    "BRDA:4,0,1,0\n"
				    "BRDA:10,0,0,-\n"
				    "BRDA:10,0,1,-\n"
				    "BRF:4\n"
				    "BRH:1\n"
				    "DA:3,1\n"
				    "DA:4,1\n"
				    "DA:5,1\n"
				    "DA:10,0\n"
				    "DA:11,0\n"
				    "LF:5\n"
				    "LH:3\n"
				    "end_of_record\n"
				    "TN:\n"
				    "SF:/src/r&d/lib/b.c\n"
				    "DA:1,0\n"
				    "LF:1\n"
				    "LH:0\n"
				    "end_of_record\n"
				    "TN:\n"
				    "SF:/src/r&d/z.c\n"
				    "FN:1,z\n"
				    "FNDA:7,z\n"
				    "FNF:1\n"
				    "FNH:1\n"
				    "BRDA:1,0,0,7\n"
				    "BRDA:1,0,1,2\n"
				    "BRDA:1,0,2,0\n"
				    "BRF:3\n"
				    "BRH:2\n"
				    "DA:1,7\n"
				    "DA:2,0\n"
				    "LF:2\n"
				    "LH:1\n"
				    "end_of_record\n";

static const char expected_cobertura[] =
    "<?xml version='1.0' encoding='UTF-8'?>\n"
    "<!DOCTYPE coverage SYSTEM 'http://cobertura.sourceforge.net/xml/coverage-04.dtd'>\n"
    "<coverage line-rate=\"0.5\" branch-rate=\"0.42857142857142855\" lines-covered=\"4\" lines-valid=\"8\""
    " branches-covered=\"3\" branches-valid=\"7\" complexity=\"0.0\" timestamp=\"1700000000\""
    " version=\"ripple\">\n"
    "  <sources>\n"
    "    <source>/src/r&amp;d</source>\n"
    "  </sources>\n"
    "  <packages>\n"
    "    <package name=\"\" line-rate=\"0.5\" branch-rate=\"0.6666666666666666\" complexity=\"0.0\">\n"
    "      <classes>\n"
    "        <class name=\"z_c\" filename=\"z.c\" line-rate=\"0.5\" branch-rate=\"0.6666666666666666\""
    " complexity=\"0.0\">\n"
    "          <methods/>\n"
    "          <lines>\n"
    "            <line number=\"1\" hits=\"7\" branch=\"true\" condition-coverage=\"66% (2/3)\">\n"
    "              <conditions>\n"
    "                <condition number=\"0\" type=\"jump\" coverage=\"66%\"/>\n"
    "              </conditions>\n"
    "            </line>\n"
    "            <line number=\"2\" hits=\"0\" branch=\"false\"/>\n"
    "          </lines>\n"
    "        </class>\n"
    "      </classes>\n"
    "    </package>\n"
    "    <package name=\"lib\" line-rate=\"0.5\" branch-rate=\"0.25\" complexity=\"0.0\">\n"
    "      <classes>\n"
    "        <class name=\"a&amp;b&lt;c&gt;_c\" filename=\"lib/a&amp;b&lt;c&gt;.c\" line-rate=\"0.6\""
    " branch-rate=\"0.25\" complexity=\"0.0\">\n"
    "          <methods/>\n"
    "          <lines>\n"
    "            <line number=\"3\" hits=\"1\" branch=\"false\"/>\n"
    "            <line number=\"4\" hits=\"1\" branch=\"true\" condition-coverage=\"50% (1/2)\">\n"
    "              <conditions>\n"
    "                <condition number=\"0\" type=\"jump\" coverage=\"50%\"/>\n"
    "              </conditions>\n"
    "            </line>\n"
    "            <line number=\"5\" hits=\"1\" branch=\"false\"/>\n"
    "            <line number=\"10\" hits=\"0\" branch=\"true\" condition-coverage=\"0% (0/2)\">\n"
    "              <conditions>\n"
    "                <condition number=\"0\" type=\"jump\" coverage=\"0%\"/>\n"
    "              </conditions>\n"
    "            </line>\n"
    "            <line number=\"11\" hits=\"0\" branch=\"false\"/>\n"
    "          </lines>\n"
    "        </class>\n"
    "        <class name=\"b_c\" filename=\"lib/b.c\" line-rate=\"0.0\" branch-rate=\"1.0\""
    " complexity=\"0.0\">\n"
    "          <methods/>\n"
    "          <lines>\n"
    "            <line number=\"1\" hits=\"0\" branch=\"false\"/>\n"
    "          </lines>\n"
    "        </class>\n"
    "      </classes>\n"
    "    </package>\n"
    "  </packages>\n"
    "</coverage>\n";

/* What a writer puts in a memory stream; *rc gets its return. Caller frees. */
static char *write_mem(int (*writer)(const struct cov_report *, FILE *, struct rp_error *),
		       const struct cov_report *r, int *rc, struct rp_error *err)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(f);
	*rc = writer(r, f, err);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_uint_eq(strlen(buf), len);
	return buf;
}

static int have_program(const char *name)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", name);
	return system(cmd) == 0;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_lcov_exact)
{
	struct rp_error err = {.msg = ""};
	struct cov_report r = fixture("/src/r&d");
	int rc;
	char *text = write_mem(coverage_write_lcov, &r, &rc, &err);
	ck_assert_msg(rc == 0, "%s", err.msg);
	ck_assert_str_eq(text, expected_lcov);
	free(text);
	fixture_free(&r);
}
END_TEST

/* The root's trailing slashes are not doubled; "/" joins as "/x.c". */
START_TEST(test_lcov_root_join)
{
	static const char *const roots[] = {"/src/r&d/", "/src/r&d//", "/"};
	static const char *const want[] = {"SF:/src/r&d/lib/b.c\n", "SF:/src/r&d/lib/b.c\n", "SF:/lib/b.c\n"};
	for (int i = 0; i < 3; i++) {
		struct rp_error err = {.msg = ""};
		struct cov_report r = fixture(roots[i]);
		int rc;
		char *text = write_mem(coverage_write_lcov, &r, &rc, &err);
		ck_assert_msg(rc == 0, "%s", err.msg);
		ck_assert_msg(strstr(text, want[i]), "root %s: no %s in\n%s", roots[i], want[i], text);
		free(text);
		char *xml = write_mem(coverage_write_cobertura, &r, &rc, &err);
		ck_assert_msg(rc == 0, "%s", err.msg);
		ck_assert_ptr_nonnull(
		    strstr(xml, i == 2 ? "<source>/</source>" : "<source>/src/r&amp;d</source>"));
		free(xml);
		fixture_free(&r);
	}
}
END_TEST

/* "lines......: 50.0% (4 of 8 lines)" → 4, 8. */
static void summary_figure(const char *summary, const char *label, unsigned long *hit, unsigned long *found)
{
	const char *p = strstr(summary, label);
	ck_assert_msg(p != NULL, "no %s in lcov's summary:\n%s", label, summary);
	p = strchr(p, '(');
	ck_assert_msg(p != NULL, "no figures after %s in lcov's summary:\n%s", label, summary);
	ck_assert_int_eq(sscanf(p, "(%lu of %lu", hit, found), 2);
}

START_TEST(test_lcov_reads_the_tracefile)
{
	ck_assert_msg(have_program("lcov"), "lcov is not on PATH: run scripts/setup");
	char dir[PATH_MAX], cmd[PATH_MAX * 2], summary[4096];
	struct rp_error err = {.msg = ""};
	struct cov_report r = fixture("/src/r&d");
	int rc;
	char *text = write_mem(coverage_write_lcov, &r, &rc, &err);
	ck_assert_msg(rc == 0, "%s", err.msg);
	check_tmpdir_make(dir, "cov-lcov");
	write_file(check_path(dir, "cov.info"), text);

	/* lcov 1.x counts branches only when asked (lcov_branch_coverage); 2.x accepts the same setting. */
	snprintf(cmd, sizeof(cmd), "lcov --rc lcov_branch_coverage=1 --summary '%s' 2>&1",
		 check_path(dir, "cov.info"));
	FILE *p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	size_t n = fread(summary, 1, sizeof(summary) - 1, p);
	summary[n] = '\0';
	ck_assert_msg(pclose(p) == 0, "lcov --summary failed:\n%s", summary);

	unsigned long hit, found;
	summary_figure(summary, "lines", &hit, &found);
	ck_assert_uint_eq(hit, 4);
	ck_assert_uint_eq(found, 8);
	ck_assert_uint_eq(hit, r.totals.lines.covered);
	ck_assert_uint_eq(found, r.totals.lines.total);
	summary_figure(summary, "functions", &hit, &found);
	ck_assert_uint_eq(hit, 2);
	ck_assert_uint_eq(found, 3);
	ck_assert_uint_eq(hit, r.totals.functions.covered);
	ck_assert_uint_eq(found, r.totals.functions.total);
	summary_figure(summary, "branches", &hit, &found);
	ck_assert_uint_eq(hit, 3);
	ck_assert_uint_eq(found, 7);
	ck_assert_uint_eq(hit, r.totals.branches.covered);
	ck_assert_uint_eq(found, r.totals.branches.total);

	check_tmpdir_remove(dir);
	free(text);
	fixture_free(&r);
}
END_TEST

START_TEST(test_cobertura_exact)
{
	struct rp_error err = {.msg = ""};
	struct cov_report r = fixture("/src/r&d");
	int rc;
	ck_assert_int_eq(setenv("SOURCE_DATE_EPOCH", "1700000000", 1), 0);
	char *xml = write_mem(coverage_write_cobertura, &r, &rc, &err);
	ck_assert_msg(rc == 0, "%s", err.msg);
	/* The parts that carry figures first, so a failure names them. */
	ck_assert_ptr_nonnull(strstr(xml, " lines-covered=\"4\" lines-valid=\"8\" branches-covered=\"3\""
					  " branches-valid=\"7\""));
	ck_assert_ptr_nonnull(strstr(xml, "condition-coverage=\"50% (1/2)\""));
	ck_assert_ptr_nonnull(strstr(xml, "condition-coverage=\"66% (2/3)\""));
	ck_assert_ptr_nonnull(strstr(xml, "filename=\"lib/a&amp;b&lt;c&gt;.c\""));
	ck_assert_ptr_null(strstr(xml, "a&b"));
	ck_assert_str_eq(xml, expected_cobertura);
	free(xml);
	fixture_free(&r);
}
END_TEST

/* Quotes, apostrophes and a tab in a path are escaped too; the directory becomes the package name. */
START_TEST(test_cobertura_escapes_quotes)
{
	struct rp_error err = {.msg = ""};
	struct cov_report r = fixture("/src/r&d");
	free(r.files[1].path);
	r.files[1].path = dup_str("it's/\"q\"\t.c");
	int rc;
	char *xml = write_mem(coverage_write_cobertura, &r, &rc, &err);
	ck_assert_msg(rc == 0, "%s", err.msg);
	ck_assert_ptr_nonnull(
	    strstr(xml, "<package name=\"it&apos;s\" line-rate=\"0.0\" branch-rate=\"1.0\""));
	ck_assert_ptr_nonnull(
	    strstr(xml, "<class name=\"&quot;q&quot;&#9;_c\" filename=\"it&apos;s/&quot;q&quot;&#9;.c\""));
	free(xml);
	fixture_free(&r);
}
END_TEST

/* Nested directories give dotted package names, and a report without files is still a document. */
START_TEST(test_cobertura_nested_and_empty)
{
	struct rp_error err = {.msg = ""};
	struct cov_report r = fixture("/src");
	free(r.files[1].path);
	r.files[1].path = dup_str("lib/sub/dir/b.c");
	int rc;
	char *xml = write_mem(coverage_write_cobertura, &r, &rc, &err);
	ck_assert_msg(rc == 0, "%s", err.msg);
	const char *lib = strstr(xml, "<package name=\"lib\" line-rate=\"0.6\" branch-rate=\"0.25\"");
	const char *sub = strstr(xml, "<package name=\"lib.sub.dir\" line-rate=\"0.0\" branch-rate=\"1.0\"");
	ck_assert_ptr_nonnull(lib);
	ck_assert_ptr_nonnull(sub);
	ck_assert(lib < sub); /* "lib" < "lib/sub/dir", as gcovr sorts */
	free(xml);
	fixture_free(&r);

	struct cov_report empty = {0};
	empty.root = dup_str("/src");
	ck_assert_int_eq(setenv("SOURCE_DATE_EPOCH", "42", 1), 0);
	xml = write_mem(coverage_write_cobertura, &empty, &rc, &err);
	ck_assert_msg(rc == 0, "%s", err.msg);
	ck_assert_str_eq(
	    xml, "<?xml version='1.0' encoding='UTF-8'?>\n"
		 "<!DOCTYPE coverage SYSTEM 'http://cobertura.sourceforge.net/xml/coverage-04.dtd'>\n"
		 "<coverage line-rate=\"1.0\" branch-rate=\"1.0\" lines-covered=\"0\" lines-valid=\"0\""
		 " branches-covered=\"0\" branches-valid=\"0\" complexity=\"0.0\" timestamp=\"42\""
		 " version=\"ripple\">\n"
		 "  <sources>\n    <source>/src</source>\n  </sources>\n"
		 "  <packages/>\n"
		 "</coverage>\n");
	free(xml);
	char *text = write_mem(coverage_write_lcov, &empty, &rc, &err);
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(text, "");
	free(text);
	fixture_free(&empty);
}
END_TEST

START_TEST(test_cobertura_well_formed)
{
	ck_assert_msg(have_program("xmllint"), "xmllint is not on PATH: run scripts/setup (libxml2-utils)");
	char dir[PATH_MAX], cmd[PATH_MAX * 2];
	struct rp_error err = {.msg = ""};
	struct cov_report r = fixture("/src/r&d");
	free(r.files[1].path);
	r.files[1].path = dup_str("it's/\"q\"\t\xc3\xa9.c"); /* quotes, a tab, an é */
	int rc;
	char *xml = write_mem(coverage_write_cobertura, &r, &rc, &err);
	ck_assert_msg(rc == 0, "%s", err.msg);
	check_tmpdir_make(dir, "cov-xml");
	write_file(check_path(dir, "cov.xml"), xml);
	snprintf(cmd, sizeof(cmd), "xmllint --noout --nonet '%s'", check_path(dir, "cov.xml"));
	ck_assert_int_eq(system(cmd), 0);
	/* The parser reads the escaped attribute back as the path itself. */
	snprintf(cmd, sizeof(cmd), "xmllint --nonet --xpath 'string((//class)[2]/@filename)' '%s'",
		 check_path(dir, "cov.xml"));
	char got[256];
	FILE *p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	size_t n = fread(got, 1, sizeof(got) - 1, p);
	got[n] = '\0';
	ck_assert_int_eq(pclose(p), 0);
	if (n && got[n - 1] == '\n') /* xmllint ends its answer with a line feed */
		got[n - 1] = '\0';
	ck_assert_str_eq(got, "it's/\"q\"\t\xc3\xa9.c");
	/* And the negative control: the same check fails on broken XML. */
	write_file(check_path(dir, "bad.xml"), "<coverage><a&b/></coverage>\n");
	snprintf(cmd, sizeof(cmd), "xmllint --noout --nonet '%s' 2>/dev/null", check_path(dir, "bad.xml"));
	ck_assert_int_ne(system(cmd), 0);
	check_tmpdir_remove(dir);
	free(xml);
	fixture_free(&r);
}
END_TEST

/* A report whose shape is wrong, or whose text a format cannot carry, writes nothing. */
START_TEST(test_bad_input_writes_nothing)
{
	struct rp_error err = {.msg = ""};
	struct cov_report r = fixture("/src");
	int rc;

	r.files[2].lines[1].first_branch = 2;
	r.files[2].lines[1].n_branches = 2; /* 2..4 of 3 */
	char *text = write_mem(coverage_write_lcov, &r, &rc, &err);
	ck_assert_int_eq(rc, RP_EINVAL);
	ck_assert_str_eq(text, "");
	ck_assert_str_eq(err.msg, "lcov tracefile: z.c:2: branches 2..4 outside the file's 3");
	free(text);
	text = write_mem(coverage_write_cobertura, &r, &rc, &err);
	ck_assert_int_eq(rc, RP_EINVAL);
	ck_assert_str_eq(text, "");
	free(text);
	r.files[2].lines[1].n_branches = 0;

	free(r.files[0].functions[1].name);
	r.files[0].functions[1].name = dup_str("main\nDA:1,1");
	text = write_mem(coverage_write_lcov, &r, &rc, &err);
	ck_assert_int_eq(rc, RP_EINVAL);
	ck_assert_str_eq(text, "");
	ck_assert_ptr_nonnull(strstr(err.msg, "lib/a&b<c>.c: function 1"));
	free(text);

	free(r.files[1].path);
	r.files[1].path = dup_str("lib/b\x01.c");
	text = write_mem(coverage_write_cobertura, &r, &rc, &err);
	ck_assert_int_eq(rc, RP_EINVAL);
	ck_assert_str_eq(text, "");
	free(text);
	free(r.files[1].path);
	r.files[1].path = dup_str("lib/b\xc3.c"); /* a truncated UTF-8 sequence */
	text = write_mem(coverage_write_cobertura, &r, &rc, &err);
	ck_assert_int_eq(rc, RP_EINVAL);
	ck_assert_str_eq(err.msg, "Cobertura XML: file 1: its path is not UTF-8 text XML can carry");
	free(text);
	fixture_free(&r);
}
END_TEST

/* A full disk is RP_EIO with one line saying so, for both formats. */
START_TEST(test_write_error)
{
	FILE *full = fopen("/dev/full", "w");
	ck_assert_msg(full != NULL, "/dev/full cannot be opened");
	struct rp_error err = {.msg = ""};
	struct cov_report r = fixture("/src");
	ck_assert_int_eq(coverage_write_lcov(&r, full, &err), RP_EIO);
	ck_assert_str_eq(err.msg, "cannot write the lcov tracefile: No space left on device");
	clearerr(full);
	ck_assert_int_eq(coverage_write_cobertura(&r, full, &err), RP_EIO);
	ck_assert_str_eq(err.msg, "cannot write the Cobertura XML: No space left on device");
	fclose(full);

	/* A stream opened for reading fails at the first write. */
	FILE *ro = fopen("/dev/null", "r");
	ck_assert_ptr_nonnull(ro);
	ck_assert_int_eq(coverage_write_lcov(&r, ro, &err), RP_EIO);
	ck_assert_ptr_nonnull(strstr(err.msg, "cannot write the lcov tracefile: "));
	ck_assert_ptr_null(strchr(err.msg, '\n'));
	fclose(ro);
	fixture_free(&r);
}
END_TEST

static Suite *coverage_export_suite(void)
{
	Suite *s = suite_create("coverage_export");
	TCase *lcov = tcase_create("lcov");
	tcase_add_test(lcov, test_lcov_exact);
	tcase_add_test(lcov, test_lcov_root_join);
	tcase_add_test(lcov, test_lcov_reads_the_tracefile);
	suite_add_tcase(s, lcov);
	TCase *cob = tcase_create("cobertura");
	tcase_add_test(cob, test_cobertura_exact);
	tcase_add_test(cob, test_cobertura_escapes_quotes);
	tcase_add_test(cob, test_cobertura_nested_and_empty);
	tcase_add_test(cob, test_cobertura_well_formed);
	suite_add_tcase(s, cob);
	TCase *errors = tcase_create("errors");
	tcase_add_test(errors, test_bad_input_writes_nothing);
	tcase_add_test(errors, test_write_error);
	suite_add_tcase(s, errors);
	return s;
}

int main(void)
{
	return check_run_suite(coverage_export_suite());
}
