/*
 * Unit tests of coverage/report.c: hand-written gcov JSON documents (gcc 12's
 * shape) gathered with coverage_add_gcov_json(), gcovr 5.2's source-based
 * rules applied by coverage_finish() to small sources each test writes into
 * its own directory, merging of finished reports, and ripple's JSON form.
 * Every figure is exact and chosen so that only the rule gets it right; the
 * gcovr code each case mirrors is named in its comment.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "coverage/coverage.h"
#include "check_main.h"
#include "core/banned.h"

static char tmpdir[PATH_MAX];

static void setup(void)
{
	check_tmpdir_make(tmpdir, "coverage");
}

static void teardown(void)
{
	check_tmpdir_remove(tmpdir);
}

/* ---- gcov JSON, as gcc 12 writes it --------------------------------------------------- */

#define BR(c) "{\"count\": " #c ", \"fallthrough\": true, \"throw\": false}"
#define LNB(n, c, br)                                                                                        \
	"{\"line_number\": " #n ", \"count\": " #c ", \"branches\": [" br "], \"unexecuted_block\": "        \
	"false, \"function_name\": \"f\"}"
#define LN(n, c) LNB(n, c, "")
#define FN(name, line, calls)                                                                                \
	"{\"name\": \"" name "\", \"demangled_name\": \"" name "\", \"start_line\": " #line                  \
	", \"start_column\": 5, \"end_line\": 99, \"end_column\": 1, \"blocks\": 3, \"blocks_executed\": "   \
	"2, \"execution_count\": " #calls "}"
#define FILE_(path, lines, fns) "{\"file\": \"" path "\", \"lines\": [" lines "], \"functions\": [" fns "]}"

/* One gcov document over `files` (a JSON array's contents), run in `cwd`. */
static char *gcov_doc(const char *cwd, const char *files)
{
	char *doc = NULL;
	ck_assert_int_ge(
	    asprintf(&doc,
		     "{\"format_version\": \"1\", \"gcc_version\": \"12.2.0\", "
		     "\"current_working_directory\": \"%s\", \"data_file\": \"x.gcda\", \"files\": [%s]}",
		     cwd, files),
	    0);
	return doc;
}

static int add_doc(struct cov_report *r, const char *cwd, const char *files, struct rp_error *err)
{
	char *doc = gcov_doc(cwd, files);
	int rc = coverage_add_gcov_json(r, doc, strlen(doc), "unit.gcov.json", err);
	free(doc);
	return rc;
}

static void add_ok(struct cov_report *r, const char *cwd, const char *files)
{
	struct rp_error err = {.msg = ""};
	int rc = add_doc(r, cwd, files, &err);
	ck_assert_msg(rc == 0, "coverage_add_gcov_json = %d: %s", rc, err.msg);
}

static void init_ok(struct cov_report *r, const char *root)
{
	struct rp_error err = {.msg = ""};
	int rc = coverage_report_init(r, root, &err);
	ck_assert_msg(rc == 0, "coverage_report_init = %d: %s", rc, err.msg);
}

static void finish_ok(struct cov_report *r, const char *const *exclude)
{
	struct rp_error err = {.msg = ""};
	int rc = coverage_finish(r, exclude, &err);
	ck_assert_msg(rc == 0, "coverage_finish = %d: %s", rc, err.msg);
}

/* ---- sources and lookups ------------------------------------------------------------------- */

/* Writes `text` to tmpdir/rel, making its directories. */
static void write_src(const char *rel, const char *text)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	for (char *p = path + strlen(tmpdir) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		ck_assert_msg(mkdir(path, 0755) == 0 || errno == EEXIST, "mkdir %s", path);
		*p = '/';
	}
	FILE *fp = fopen(path, "wb");
	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(fputs(text, fp) >= 0, 1);
	ck_assert_int_eq(fclose(fp), 0);
}

static const struct cov_file *file_of(const struct cov_report *r, const char *path)
{
	for (size_t i = 0; i < r->n_files; i++)
		if (strcmp(r->files[i].path, path) == 0)
			return &r->files[i];
	ck_abort_msg("no file %s in the report", path);
	return NULL;
}

static const struct cov_line *line_of(const struct cov_file *f, uint32_t line)
{
	for (size_t i = 0; i < f->n_lines; i++)
		if (f->lines[i].line == line)
			return &f->lines[i];
	return NULL;
}

static const struct cov_function *function_of(const struct cov_file *f, const char *name)
{
	for (size_t i = 0; i < f->n_functions; i++)
		if (strcmp(f->functions[i].name, name) == 0)
			return &f->functions[i];
	return NULL;
}

/* The counted lines of `f`, "LINE:HITS[b,b,...] ...", for one readable assertion. */
static const char *lines_str(const struct cov_file *f)
{
	static char buf[4096];
	size_t n = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < f->n_lines && n < sizeof(buf) - 64; i++) {
		const struct cov_line *l = &f->lines[i];
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%u:%llu", i ? " " : "", l->line,
				      (unsigned long long)l->hits);
		if (l->n_branches) {
			for (uint32_t b = 0; b < l->n_branches && n < sizeof(buf) - 32; b++)
				n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%c%llu", b ? ',' : '[',
						      (unsigned long long)f->branches[l->first_branch + b]);
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "]");
		}
	}
	return buf;
}

#define ck_count(c, cov, tot)                                                                                \
	do {                                                                                                 \
		ck_assert_uint_eq((c).covered, (cov));                                                       \
		ck_assert_uint_eq((c).total, (tot));                                                         \
	} while (0)

/* ---- 1. no-code lines (gcov_parser.py _is_non_code, _line_noncode_and_count) --------------- */

static const char no_code_src[] =
    "}\n"		  /*  1: 0 hits: out */
    "{\n"		  /*  2: 0 hits: out */
    "else\n"		  /*  3: 0 hits: out */
    "  // comment\n"	  /*  4: 0 hits: out */
    "/* c */ {\n"	  /*  5: 0 hits: out */
    "\n"		  /*  6: 0 hits: out */
    "} else {\n"	  /*  7: 0 hits: counted, uncovered */
    "x = 1;\n"		  /*  8: 0 hits: counted, uncovered */
    "}\n"		  /*  9: 1 hit: counted, covered */
    "{\n"		  /* 10 */
    "else\n"		  /* 11 */
    "  // comment\n"	  /* 12 */
    "/* c */ {\n"	  /* 13 */
    "\n"		  /* 14 */
    "  x = 2;\n"	  /* 15: 4 hits */
    "\t}  // end\t\n"	  /* 16: 0 hits: out (comment, then whitespace) */
    "}}\n"		  /* 17: 0 hits: counted ("}}" is code to gcovr) */
    "/* a */ /* b */\r\n" /* 18: 0 hits: out (two comments, CRLF) */
    "/* a // b */ x\n";	  /* 19: 0 hits: counted ("//" goes first, then no comment closes) */

START_TEST(test_no_code_lines)
{
	write_src("src/a.c", no_code_src);
	write_src("src/short.c", "int x;\nint y;\n");
	struct cov_report r;
	init_ok(&r, tmpdir);
	add_ok(
	    &r, tmpdir,
	    FILE_(
		"src/a.c",
		LNB(1, 0, BR(0) "," BR(0)) "," LN(2, 0) "," LN(3, 0) "," LN(4, 0) "," LN(5, 0) "," LN(6, 0) "," LN(7, 0) "," LNB(
		    8, 0,
		    BR(0) "," BR(
			0)) "," LN(9,
				   1) "," LN(10,
					     2) "," LN(11,
						       3) "," LN(12,
								 4) "," LN(13,
									   5) "," LN(14,
										     6) "," LNB(15, 4,
												BR(3) "," BR(
												    0)) "," LN(16,
													       0) "," LN(17,
															 0) "," LN(18,
																   0) "," LN(19,
																	     0),
		FN("f", 1, 1)) ","
	    /* Cannot be read: gcov shows "/" "*EOF*" "/" for each line, no code when not run. */
	    FILE_("src/missing.c", LN(1, 0) "," LN(2, 5) "," LNB(3, 0, BR(0)), FN("m", 2, 5)) ","
	    /* Lines 5 and 6 lie past the end of a readable file: "/" "*EOF*" "/" too. */
	    FILE_("src/short.c", LN(2, 0) "," LN(5, 0) "," LN(6, 1), FN("s", 6, 1)));
	finish_ok(&r, NULL);

	ck_assert_uint_eq(r.n_files, 3);
	ck_assert_str_eq(r.files[0].path, "src/a.c");
	ck_assert_str_eq(r.files[1].path, "src/missing.c");
	ck_assert_str_eq(r.files[2].path, "src/short.c");

	const struct cov_file *a = file_of(&r, "src/a.c");
	ck_assert_str_eq(lines_str(a), "7:0 8:0[0,0] 9:1 10:2 11:3 12:4 13:5 14:6 15:4[3,0] 17:0 19:0");
	ck_count(a->totals.lines, 7, 11);
	ck_count(a->totals.branches, 1, 4); /* line 1's two branches go with it */
	ck_count(a->totals.functions, 1, 1);

	const struct cov_file *m = file_of(&r, "src/missing.c");
	ck_assert_str_eq(lines_str(m), "2:5");
	ck_count(m->totals.lines, 1, 1);
	ck_count(m->totals.branches, 0, 0);

	const struct cov_file *s = file_of(&r, "src/short.c");
	ck_assert_str_eq(lines_str(s), "2:0 6:1");
	ck_count(s->totals.lines, 1, 2);

	ck_count(r.totals.lines, 9, 14);
	ck_count(r.totals.branches, 1, 4);
	ck_count(r.totals.functions, 3, 3);
	ck_assert_uint_eq(r.units, 1);
	ck_assert_str_eq(r.gcc_version, "12.2.0");
	coverage_report_release(&r);
}
END_TEST

/*
 * gcovr's _is_non_code() has no length limit: a line of 0 hits whose text is
 * 600 spaces and "}", or one C comment of 600 characters, is no code; so is
 * one of exactly 511 characters (510 spaces and "}").
 */
START_TEST(test_no_code_long_lines)
{
	char src[4096];
	char pad[601];
	memset(pad, ' ', 600);
	pad[600] = '\0';
	char comment[601];
	memset(comment, 'x', 600);
	comment[600] = '\0';
	/* Line 4: 510 spaces and "}", 511 characters, which fit in no_code()'s buffer but count as long. */
	snprintf(src, sizeof(src), "%s}\n/* %s */\nint x;\n%s}\n", pad, comment, pad + 90);
	write_src("long.c", src);
	struct cov_report r;
	init_ok(&r, tmpdir);
	add_ok(&r, tmpdir, FILE_("long.c", LN(1, 0) "," LN(2, 0) "," LN(3, 1) "," LN(4, 0), FN("l", 3, 1)));
	finish_ok(&r, NULL);
	const struct cov_file *f = file_of(&r, "long.c");
	ck_assert_msg(
	    strcmp(lines_str(f), "3:1") == 0,
	    "long no-code lines: counted \"%s\", gcovr counts \"3:1\"",
	    lines_str(f));
	ck_count(f->totals.lines, 1, 1);
	coverage_report_release(&r);
}
END_TEST

/*
 * A file with no functions left (only gcc's internal "__foo", dropped): no
 * sorting of an empty array (qsort(NULL, 0) is undefined; UBSan stops on it).
 */
START_TEST(test_file_without_functions)
{
	write_src("nofn.c", "int x = 1;\nint y;\n");
	struct cov_report r;
	init_ok(&r, tmpdir);
	add_ok(&r, tmpdir, FILE_("nofn.c", LN(1, 1) "," LN(2, 0), FN("__foo", 1, 1)));
	finish_ok(&r, NULL);
	const struct cov_file *f = file_of(&r, "nofn.c");
	ck_assert_str_eq(lines_str(f), "1:1 2:0");
	ck_assert_uint_eq(f->n_functions, 0);
	ck_count(f->totals.functions, 0, 0);
	ck_count(r.totals.lines, 1, 2);
	coverage_report_release(&r);
}
END_TEST

/* ---- 2. exclusion markers (gcov_parser.py _find_excluded_ranges, _process_exclusion_marker) -- */

static const char excl_src[] = "int a = 1; // LCOV_EXCL_LINE\n"	    /*  1: out */
			       "int b = 2;\n"			    /*  2: counted 0 */
			       "/* GCOVR_EXCL_START */ int c;\n"    /*  3: out, its branches too */
			       "int d;\n"			    /*  4: out */
			       "int e; // GCOVR_EXCL_LINE\n"	    /*  5: out (once: inside the region) */
			       "int f; /* GCOVR_EXCL_STOP */\n"	    /*  6: counted: STOP is not excluded */
			       "int g; // GCOV_EXCL_LINE\n"	    /*  7: out although run */
			       "if (x) y(); // LCOV_EXCL_BR_LINE\n" /*  8: kept, branches out */
			       "// LCOV_EXCL_BR_START\n"	    /*  9 */
			       "if (p) q();\n"			    /* 10: kept, branches out */
			       "if (r) s(); // LCOV_EXCL_BR_STOP\n" /* 11: kept with branches */
			       "int h;\n"			    /* 12 */
			       "int i; // LCOV_EXCL_STOP\n"	    /* 13: STOP without START: ignored */
			       "int j;\n"			    /* 14 */
			       "int k; // GCOVR_EXCL_START\n"	    /* 15: never closed: excludes nothing */
			       "int l; // LCOV_EXCL_LINE\n" /* 16: inside that open region: not excluded */
			       "/* LCOV_EXCL_START */ m; /* LCOV_EXCL_STOP */\n"; /* 17: [17, 17) is empty */

START_TEST(test_exclusion_markers)
{
	write_src("e.c", excl_src);
	struct cov_report r;
	init_ok(&r, tmpdir);
	add_ok(
	    &r, tmpdir,
	    FILE_(
		"e.c",
		LN(1, 0) "," LN(2, 0) "," LNB(3, 5, BR(1) "," BR(0)) "," LN(4, 0) "," LN(5, 0) "," LNB(6, 0, BR(0) "," BR(2)) "," LN(
		    7,
		    3) "," LNB(8, 2,
			       BR(1) "," BR(
				   1)) "," LNB(10, 1,
					       BR(1) "," BR(
						   0)) "," LNB(11, 1,
							       BR(0) "," BR(
								   1)) "," LNB(12, 7,
									       BR(0) "," BR(3) "," BR(
										   0)) "," LN(13,
											      0) "," LN(14,
													1) "," LN(15,
														  0) "," LN(16,
															    0) "," LN(17,
																      0),
		/* gcovr 5.2 counts functions in excluded regions */
		FN("in_region", 4, 0) "," FN("main", 12, 1)));
	finish_ok(&r, NULL);
	const struct cov_file *f = file_of(&r, "e.c");
	ck_assert_str_eq(lines_str(f),
			 "2:0 6:0[0,2] 8:2 10:1 11:1[0,1] 12:7[0,3,0] 13:0 14:1 15:0 16:0 17:0");
	ck_count(f->totals.lines, 5, 11);
	ck_count(f->totals.branches, 3, 7);
	ck_count(f->totals.functions, 1, 2);
	ck_assert_ptr_null(line_of(f, 3));
	ck_assert_ptr_null(line_of(f, 7));
	ck_assert_uint_eq(line_of(f, 8)->n_branches, 0);
	const struct cov_function *fn = function_of(f, "in_region");
	ck_assert_ptr_nonnull(fn);
	ck_assert_uint_eq(fn->line, 4);
	ck_assert_uint_eq(fn->calls, 0);
	coverage_report_release(&r);
}
END_TEST

/* Nested regions close innermost first; START/STOP of different spellings still pair (gcovr warns). */
START_TEST(test_exclusion_nested)
{
	write_src("n.c", "int a;\n"		       /* 1 */
			 "int b; // GCOV_EXCL_START\n" /* 2: out */
			 "int c; // LCOV_EXCL_START\n" /* 3: out */
			 "int d; // LCOV_EXCL_STOP\n"  /* 4: out (outer region) */
			 "int e;\n"		       /* 5: out */
			 "int f; // GCOVR_EXCL_STOP\n" /* 6: counted */
			 "int g;\n");		       /* 7 */
	struct cov_report r;
	init_ok(&r, tmpdir);
	add_ok(&r, tmpdir,
	       FILE_("n.c",
		     LN(1, 1) "," LN(2, 1) "," LN(3, 1) "," LN(4, 1) "," LN(5, 1) "," LN(6, 0) "," LN(7, 2),
		     FN("n", 1, 1)));
	finish_ok(&r, NULL);
	const struct cov_file *f = file_of(&r, "n.c");
	ck_assert_str_eq(lines_str(f), "1:1 6:0 7:2");
	ck_count(f->totals.lines, 2, 3);
	coverage_report_release(&r);
}
END_TEST

/* ---- 3. merging across units (merging.py merge_line, merge_branch, merge_function) ------- */

static const char header_src[] = "static inline int h(int x)\n" /* 1 */
				 "{\n"				/* 2 */
				 "    return x ? 1 : 2;\n"	/* 3 */
				 "}\n"				/* 4 */
				 "int v = f() + g();\n"		/* 5: code of two functions */
				 "}\n"				/* 6 */
				 "int w;\n";			/* 7 */

START_TEST(test_merge_units)
{
	write_src("src/h.h", header_src);
	char srcdir[PATH_MAX + 8];
	snprintf(srcdir, sizeof(srcdir), "%s/src", tmpdir);
	struct cov_report r;
	init_ok(&r, tmpdir);
	/* Unit 1 lists line 5 twice (functions f and g): its branches follow each other, [1,0] then [4]. */
	add_ok(&r, tmpdir,
	       FILE_("src/h.h",
		     LN(1, 0) "," LN(2, 0) "," LNB(3, 0, BR(0) "," BR(0)) "," LN(4, 0) "," LNB(
			 5, 1, BR(1) "," BR(0)) "," LNB(5, 2, BR(4)) "," LN(6, 0) "," LN(7, 0),
		     FN("h", 1, 0) "," FN("g", 5, 0) "," FN("__foo", 5, 1) "," FN(
			 "_GLOBAL__sub_I_x", 1, 1) "," FN("_GLOBAL__sub_D_x", 1, 1)));
	add_ok(&r, tmpdir,
	       FILE_("src/h.h",
		     LN(1, 3) "," LNB(3, 3, BR(2) "," BR(1)) "," LN(4, 0) "," LNB(
			 5, 1, BR(1) "," BR(0) "," BR(1)) "," LN(6, 2),
		     FN("h", 1, 3) "," FN("__foo", 5, 4)));
	/* The same header from another directory, named relatively. */
	add_ok(&r, srcdir, FILE_("h.h", LNB(3, 1, BR(0) "," BR(0) "," BR(7)), FN("h", 1, 1)));
	finish_ok(&r, NULL);

	ck_assert_uint_eq(r.units, 3);
	ck_assert_uint_eq(r.n_files, 1);
	const struct cov_file *f = file_of(&r, "src/h.h");
	/* 2 and 4 ("{", "}") are never run: out. 6 ("}") has 0 then 2: counted, covered. */
	ck_assert_str_eq(lines_str(f), "1:3 3:4[2,1,7] 5:4[2,0,5] 6:2 7:0");
	ck_count(f->totals.lines, 4, 5);
	ck_count(f->totals.branches, 5, 6);
	ck_count(f->totals.functions, 2, 3);
	ck_assert_uint_eq(f->n_functions, 3);
	/* by name */
	ck_assert_str_eq(f->functions[0].name, "_GLOBAL__sub_D_x");
	ck_assert_str_eq(f->functions[1].name, "g");
	ck_assert_str_eq(f->functions[2].name, "h");
	ck_assert_uint_eq(f->functions[2].calls, 4);
	ck_assert_uint_eq(f->functions[2].line, 1);
	ck_assert_uint_eq(f->functions[1].calls, 0);
	ck_assert_ptr_null(function_of(f, "__foo"));
	ck_assert_ptr_null(function_of(f, "_GLOBAL__sub_I_x"));
	ck_count(r.totals.lines, 4, 5);
	ck_count(r.totals.branches, 5, 6);
	ck_count(r.totals.functions, 2, 3);
	coverage_report_release(&r);
}
END_TEST

/* ---- 4. the root and exclude globs ---------------------------------------------------------- */

START_TEST(test_root_filtering)
{
	char root[PATH_MAX + 16], root_slash[PATH_MAX + 16];
	snprintf(root, sizeof(root), "%s/root", tmpdir);
	snprintf(root_slash, sizeof(root_slash), "%s/root//", tmpdir);
	write_src("root/src/a.c", "int a;\n");
	write_src("root/lib/b.c", "int b;\n");
	write_src("root/lib/c.c", "int c;\n");
	write_src("rootx/d.c", "int d;\n");
	write_src("other/x.c", "int x;\n");
	char *files = NULL;
	ck_assert_int_ge(
	    asprintf(
		&files,
		FILE_("/usr/include/stdio.h", LN(1, 1), "") "," FILE_("../other/x.c", LN(1, 1), "") "," FILE_(
		    "./src/../src/a.c", LN(1, 1),
		    FN("a", 1,
		       1)) "," FILE_("%s/root/lib/b.c", LN(1, 0),
				     FN("b", 1,
					0)) "," FILE_("%s/root//lib/./c.c", LN(1, 2),
						      FN("c", 1,
							 2)) "," FILE_("%s/rootx/d.c", LN(1, 1),
								       "") "," FILE_("src/../../root/src/a.c",
										     LN(1, 4), ""),
		tmpdir, tmpdir, tmpdir),
	    0);

	struct cov_report r;
	init_ok(&r, root_slash);
	ck_assert_str_eq(r.root, root);
	add_ok(&r, root, files);
	finish_ok(&r, NULL);
	ck_assert_uint_eq(r.n_files, 3);
	ck_assert_str_eq(r.files[0].path, "lib/b.c");
	ck_assert_str_eq(r.files[1].path, "lib/c.c");
	ck_assert_str_eq(r.files[2].path, "src/a.c");
	ck_assert_str_eq(lines_str(&r.files[2]), "1:5");
	ck_assert_str_eq(lines_str(&r.files[1]), "1:2");
	ck_count(r.totals.lines, 2, 3);
	ck_count(r.totals.functions, 2, 3);
	coverage_report_release(&r);

	static const char *const exclude[] = {"lib/*", "*.h", NULL};
	init_ok(&r, root);
	add_ok(&r, root, files);
	finish_ok(&r, exclude);
	ck_assert_uint_eq(r.n_files, 1);
	ck_assert_str_eq(r.files[0].path, "src/a.c");
	ck_count(r.totals.lines, 1, 1);
	ck_count(r.totals.functions, 1, 1);
	coverage_report_release(&r);
	free(files);
}
END_TEST

/* ---- 5. errors ---------------------------------------------------------------------------------- */

static void expect_einval(const char *doc, const char *what)
{
	struct cov_report r;
	struct rp_error err = {.msg = ""};
	/* Root "/": files outside the root are skipped unread, and these must be read. */
	init_ok(&r, "/");
	int rc = coverage_add_gcov_json(&r, doc, strlen(doc), "bad/unit7.gcov.json", &err);
	ck_assert_msg(rc == RP_EINVAL, "%s: rc %d, expected RP_EINVAL (%s)", what, rc, err.msg);
	ck_assert_msg(strstr(err.msg, "bad/unit7.gcov.json") != NULL,
		      "%s: the message does not name the origin: %s", what, err.msg);
	coverage_report_release(&r);
}

#define HEAD                                                                                                 \
	"{\"format_version\": \"1\", \"gcc_version\": \"12.2.0\", \"current_working_directory\": \"/tmp\", "

START_TEST(test_errors)
{
	expect_einval("{\"format_version\": \"1\", \"gcc_version\": \"12.", "truncated");
	expect_einval("", "empty");
	expect_einval("[1, 2, 3]", "an array");
	expect_einval("\"files\"", "a string");
	expect_einval("{\"format_version\": \"7\", \"gcc_version\": \"99.1.0\", \"files\": []}", "format 7");
	expect_einval(HEAD "\"files\": [" FILE_("a.c", LN(0, 1), "") "]}", "line 0");
	expect_einval(HEAD "\"files\": [" FILE_("a.c", LN(-1, 1), "") "]}", "line -1");
	expect_einval(HEAD "\"files\": [" FILE_("a.c", LN(1, -2), "") "]}", "count -2");
	expect_einval(HEAD "\"files\": [" FILE_("a.c", LNB(1, 1, "{\"count\": \"3\"}"), "") "]}",
		      "branch count string");
	expect_einval(HEAD "\"files\": [" FILE_("a.c", LN(1, 1), "{\"name\": \"f\"}") "]}",
		      "function without counts");
	expect_einval(HEAD "\"files\": {}}", "files not an array");
	expect_einval("{\"format_version\": \"1\", \"gcc_version\": \"12.2.0\", \"files\": [" FILE_(
			  "src/a.c", LN(1, 1), "") "]}",
		      "relative file, no cwd");

	/* Adding to or finishing a finished report. */
	struct cov_report r;
	struct rp_error err = {.msg = ""};
	init_ok(&r, tmpdir);
	add_ok(&r, tmpdir, FILE_("a.c", LN(1, 1), FN("f", 1, 1)));
	finish_ok(&r, NULL);
	char *doc = gcov_doc(tmpdir, FILE_("a.c", LN(1, 1), ""));
	ck_assert_int_eq(coverage_add_gcov_json(&r, doc, strlen(doc), "late.gcov.json", &err), RP_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "late.gcov.json"));
	ck_assert_int_eq(coverage_finish(&r, NULL, &err), RP_EINVAL);
	ck_assert_uint_eq(r.units, 1);
	ck_count(r.totals.lines, 1, 1);

	/* Merging needs both reports finished. */
	struct cov_report open;
	init_ok(&open, tmpdir);
	ck_assert_int_eq(coverage_merge(&r, &open, &err), RP_EINVAL);
	ck_assert_int_eq(coverage_merge(&open, &r, &err), RP_EINVAL);
	coverage_report_release(&open);
	coverage_report_release(&r);
	free(doc);
}
END_TEST

/* ---- 6. merging finished reports, ripple's JSON ---------------------------------------------- */

static void two_reports(struct cov_report *a, struct cov_report *b)
{
	write_src("src/a.c", "int a1;\nint a2;\nint a3;\nint a4;\nint a5;\nint a6;\n");
	write_src("src/m.c", "int m1;\n");
	write_src("lib/z.c", "int z1;\nint z2;\n");
	init_ok(a, tmpdir);
	add_ok(a, tmpdir,
	       FILE_("src/a.c", LNB(1, 2, BR(1) "," BR(0)) "," LN(2, 0) "," LN(4, 1),
		     FN("f", 1, 1) "," FN("g", 2, 0)) "," FILE_("src/m.c", LN(1, 0), FN("m", 1, 0)));
	finish_ok(a, NULL);
	init_ok(b, tmpdir);
	add_ok(b, tmpdir,
	       FILE_("src/a.c",
		     LNB(1, 0, BR(0) "," BR(5) "," BR(0)) "," LN(2, 3) "," LN(4, 0) "," LNB(6, 0, BR(0)),
		     FN("g", 2, 2) "," FN("h", 6, 0)) "," FILE_("lib/z.c", LN(2, 9), FN("z", 2, 9)));
	finish_ok(b, NULL);
}

START_TEST(test_merge_reports)
{
	struct cov_report a, b;
	struct rp_error err = {.msg = ""};
	two_reports(&a, &b);
	int rc = coverage_merge(&a, &b, &err);
	ck_assert_msg(rc == 0, "coverage_merge = %d: %s", rc, err.msg);
	ck_assert_uint_eq(a.n_files, 3);
	ck_assert_str_eq(a.files[0].path, "lib/z.c");
	ck_assert_str_eq(a.files[1].path, "src/a.c");
	ck_assert_str_eq(a.files[2].path, "src/m.c");
	const struct cov_file *f = &a.files[1];
	ck_assert_str_eq(lines_str(f), "1:2[1,5,0] 2:3 4:1 6:0[0]");
	ck_count(f->totals.lines, 3, 4);
	ck_count(f->totals.branches, 2, 4);
	ck_count(f->totals.functions, 2, 3);
	ck_assert_uint_eq(function_of(f, "f")->calls, 1);
	ck_assert_uint_eq(function_of(f, "g")->calls, 2);
	ck_assert_uint_eq(function_of(f, "h")->calls, 0);
	ck_assert_uint_eq(function_of(f, "h")->line, 6);
	ck_assert_str_eq(lines_str(&a.files[0]), "2:9");
	ck_assert_str_eq(lines_str(&a.files[2]), "1:0");
	ck_count(a.totals.lines, 4, 6);
	ck_count(a.totals.branches, 2, 4);
	ck_count(a.totals.functions, 3, 5);
	ck_assert_uint_eq(a.units, 2);
	/* `from` is left as it was */
	ck_assert_uint_eq(b.n_files, 2);
	ck_count(b.totals.lines, 2, 5);
	ck_count(b.totals.branches, 1, 4);
	coverage_report_release(&a);
	coverage_report_release(&b);
}
END_TEST

static void assert_same_report(const struct cov_report *x, const struct cov_report *y)
{
	ck_assert_str_eq(x->root, y->root);
	ck_assert_str_eq(x->gcc_version, y->gcc_version);
	ck_assert_uint_eq(x->units, y->units);
	ck_assert_mem_eq(&x->totals, &y->totals, sizeof(x->totals));
	ck_assert_uint_eq(x->n_files, y->n_files);
	for (size_t i = 0; i < x->n_files; i++) {
		const struct cov_file *p = &x->files[i], *q = &y->files[i];
		ck_assert_str_eq(p->path, q->path);
		ck_assert_mem_eq(&p->totals, &q->totals, sizeof(p->totals));
		ck_assert_uint_eq(p->n_lines, q->n_lines);
		ck_assert_uint_eq(p->n_branches, q->n_branches);
		char first[4096];
		snprintf(first, sizeof(first), "%s", lines_str(p));
		ck_assert_str_eq(first, lines_str(q));
		ck_assert_uint_eq(p->n_functions, q->n_functions);
		for (size_t k = 0; k < p->n_functions; k++) {
			ck_assert_str_eq(p->functions[k].name, q->functions[k].name);
			ck_assert_uint_eq(p->functions[k].line, q->functions[k].line);
			ck_assert_uint_eq(p->functions[k].calls, q->functions[k].calls);
		}
	}
}

START_TEST(test_json_round_trip)
{
	struct cov_report a, b, back;
	struct rp_error err = {.msg = ""};
	two_reports(&a, &b);
	ck_assert_int_eq(coverage_merge(&a, &b, &err), 0);

	json_t *doc = coverage_to_json(&a, 1);
	ck_assert_ptr_nonnull(doc);
	char *text = json_dumps(doc, JSON_COMPACT);
	ck_assert_ptr_nonnull(text);
	json_decref(doc);
	json_error_t jerr;
	doc = json_loads(text, 0, &jerr);
	ck_assert_ptr_nonnull(doc);
	/* the totals as written */
	json_t *lines = json_object_get(json_object_get(json_object_get(doc, "totals"), "lines"), "total");
	ck_assert_int_eq(json_integer_value(lines), 6);
	int rc = coverage_from_json(doc, &back, &err);
	ck_assert_msg(rc == 0, "coverage_from_json = %d: %s", rc, err.msg);
	assert_same_report(&a, &back);
	ck_count(back.totals.lines, 4, 6);
	ck_count(back.totals.branches, 2, 4);
	ck_count(back.totals.functions, 3, 5);

	/* and once more, through the report read back */
	json_t *again = coverage_to_json(&back, 1);
	char *text2 = json_dumps(again, JSON_COMPACT);
	ck_assert_str_eq(text, text2);
	free(text2);
	json_decref(again);

	/* Without lines, the summary only. */
	json_t *summary = coverage_to_json(&a, 0);
	json_t *f0 = json_array_get(json_object_get(summary, "files"), 0);
	ck_assert_ptr_null(json_object_get(f0, "lines"));
	ck_assert_ptr_nonnull(json_object_get(f0, "totals"));
	json_decref(summary);

	json_decref(doc);
	free(text);
	coverage_report_release(&back);
	coverage_report_release(&a);
	coverage_report_release(&b);
}
END_TEST

static void expect_from_json_einval(const char *text, const char *what)
{
	json_error_t jerr;
	json_t *doc = json_loads(text, 0, &jerr);
	ck_assert_msg(doc != NULL, "%s: bad test JSON: %s", what, jerr.text);
	struct cov_report r;
	struct rp_error err = {.msg = ""};
	int rc = coverage_from_json(doc, &r, &err);
	ck_assert_msg(rc == RP_EINVAL, "%s: rc %d, expected RP_EINVAL", what, rc);
	ck_assert_msg(strstr(err.msg, "coverage JSON") != NULL, "%s: %s", what, err.msg);
	ck_assert_ptr_null(r.files);
	ck_assert_uint_eq(r.n_files, 0);
	json_decref(doc);
}

START_TEST(test_from_json_refusals)
{
	expect_from_json_einval(
	    "{\"root\": \"/r\", \"files\": [{\"path\": \"a.c\", \"lines\": [[2, 1, []], [1, 0, []]], "
	    "\"functions\": []}]}",
	    "lines descending");
	expect_from_json_einval(
	    "{\"root\": \"/r\", \"files\": [{\"path\": \"a.c\", \"lines\": [[2, 1, []], [2, 0, []]], "
	    "\"functions\": []}]}",
	    "a line twice");
	expect_from_json_einval(
	    "{\"root\": \"/r\", \"files\": [{\"path\": \"a.c\", \"lines\": [[1, -1, []]], "
	    "\"functions\": []}]}",
	    "negative hits");
	expect_from_json_einval(
	    "{\"root\": \"/r\", \"files\": [{\"path\": \"a.c\", \"lines\": [[1, 1, [2, -1]]], "
	    "\"functions\": []}]}",
	    "negative branch hits");
	expect_from_json_einval("{\"root\": \"/r\", \"files\": [{\"lines\": [], \"functions\": []}]}",
				"missing path");
	expect_from_json_einval("{\"root\": \"/r\", \"files\": [{\"path\": \"a.c\", \"lines\": [], "
				"\"functions\": [[\"f\", 1, -3]]}]}",
				"negative calls");
	expect_from_json_einval("{\"files\": []}", "missing root");
	/* A good one, with the second file wrong: nothing half made is left. */
	expect_from_json_einval(
	    "{\"root\": \"/r\", \"files\": [{\"path\": \"a.c\", \"lines\": [[1, 1, [1]]], "
	    "\"functions\": []}, {\"path\": \"b.c\", \"lines\": [[0, 1, []]], \"functions\": []}]}",
	    "line 0 in the second file");
}
END_TEST

/* ---- 7. percent -------------------------------------------------------------------------------- */

START_TEST(test_percent)
{
	ck_assert_double_eq(coverage_percent((struct cov_count){0, 0}), 100.0);
	ck_assert_double_eq(coverage_percent((struct cov_count){1, 4}), 25.0);
	ck_assert_double_eq(coverage_percent((struct cov_count){0, 3}), 0.0);
	ck_assert_double_eq(coverage_percent((struct cov_count){3, 3}), 100.0);
}
END_TEST

static Suite *coverage_suite(void)
{
	Suite *s = suite_create("coverage");
	TCase *tc = tcase_create("rules");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_no_code_lines);
	tcase_add_test(tc, test_no_code_long_lines);
	tcase_add_test(tc, test_file_without_functions);
	tcase_add_test(tc, test_exclusion_markers);
	tcase_add_test(tc, test_exclusion_nested);
	suite_add_tcase(s, tc);

	tc = tcase_create("gathering");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_merge_units);
	tcase_add_test(tc, test_root_filtering);
	tcase_add_test(tc, test_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("reports");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_merge_reports);
	tcase_add_test(tc, test_json_round_trip);
	tcase_add_test(tc, test_from_json_refusals);
	tcase_add_test(tc, test_percent);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run_suite(coverage_suite());
}
