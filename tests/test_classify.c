/*
 * Unit tests of failure classification. The logs come from the real tools,
 * run here: gcc, clang, ld, make, cmake, pkg-config, ASan and UBSan programs,
 * a Check suite. Fixed strings cover what cannot be provoked on a test machine
 * (a full disk, a dead network, the OOM killer).
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "reports/classify.h"
#include "check_main.h"
#include "core/banned.h"

static struct classifier *cls;
static char dir[4096];

static void setup(void)
{
	struct rp_error err;
	ck_assert_msg(classify_init(&cls, &err) == 0, "%s", err.msg);
}

static void teardown(void)
{
	classify_free(cls);
	cls = NULL;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

/*
 * One directory for the tools' test case, made and removed in the parent
 * process (an unchecked fixture), so a failing test leaves nothing behind.
 */
static void dir_setup(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/ripple-classify-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void dir_teardown(void)
{
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void make_dir(const char *name)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ck_assert_int_eq(mkdir(path, 0700) == 0 || errno == EEXIST, 1);
}

static void write_file(const char *name, const char *text)
{
	char path[4200];
	FILE *f;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
}

/*
 * Runs the shell command `cmd` in the test directory with stdout and stderr
 * merged, as a step's log has them, in the C locale and without sanitizer
 * options that could send a report elsewhere. Returns the output (malloc'd,
 * NUL-terminated) and sets *status to the exit status.
 */
static char *run(const char *cmd, size_t *len, int *status)
{
	char line[8192];
	size_t cap = 1 << 16, n = 0, k;
	char *out = malloc(cap);
	FILE *p;
	ck_assert_ptr_nonnull(out);
	snprintf(
	    line, sizeof(line),
	    "cd '%s' && { env -u ASAN_OPTIONS -u UBSAN_OPTIONS -u LSAN_OPTIONS LC_ALL=C sh -c '%s'; } 2>&1",
	    dir, cmd);
	p = popen(line, "r");
	ck_assert_ptr_nonnull(p);
	while ((k = fread(out + n, 1, cap - n - 1, p)) > 0) {
		n += k;
		if (n + 1 == cap) {
			cap *= 2;
			out = realloc(out, cap);
			ck_assert_ptr_nonnull(out);
		}
	}
	out[n] = '\0';
	*status = pclose(p);
	*len = n;
	return out;
}

/* Runs `cmd`, which must fail, and classifies its output as the log of `step`. */
static void run_failing(const char *cmd, enum classify_step step, struct classification *cl)
{
	struct classify_hints h = {.step = step};
	size_t len;
	int status;
	char *log = run(cmd, &len, &status);
	ck_assert_msg(status != 0, "`%s` succeeded:\n%s", cmd, log);
	ck_assert_int_eq(classify_log(cls, log, len, &h, cl), 0);
	free(log);
}

static void classify_str(const char *log, enum classify_step step, struct classification *cl)
{
	struct classify_hints h = {.step = step};
	ck_assert_int_eq(classify_log(cls, log, strlen(log), &h, cl), 0);
}

/* The log as a step writes it: each line stamped "[SSSS.mmm] ", 1 ms apart. */
static char *stamp(const char *in, size_t len, size_t *out_len)
{
	size_t cap = len * 2 + 64, o = 0, line = 0;
	char *out = malloc(cap);
	ck_assert_ptr_nonnull(out);
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(in + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (in + i)) + 1 : len - i;
		if (o + n + 16 > cap) {
			cap = (o + n + 16) * 2;
			out = realloc(out, cap);
			ck_assert_ptr_nonnull(out);
		}
		o += (size_t)snprintf(out + o, cap - o, "[%4zu.%03zu] ", line / 1000, line % 1000);
		memcpy(out + o, in + i, n);
		o += n;
		i += n;
		line++;
	}
	*out_len = o;
	return out;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && !strcmp(s + n - k, suffix);
}

/* ---- the table ---- */

START_TEST(test_table_and_examples)
{
	struct rp_error err;
	ck_assert_uint_ge(classify__n_rules(cls), 60);
	ck_assert_msg(classify__self_test(cls, NULL, 0, "patterns.txt", &err) == 0, "%s", err.msg);
}
END_TEST

START_TEST(test_category_names)
{
	ck_assert_str_eq(classify_category_name(CLASSIFY_COMPILE_ERROR), "compile_error");
	ck_assert_str_eq(classify_category_name(CLASSIFY_INFRASTRUCTURE), "infrastructure");
	ck_assert_str_eq(classify_category_name((enum classify_category)99), "unknown");
	for (int i = 0; i < CLASSIFY__N_CATEGORIES; i++)
		ck_assert_int_eq(
		    classify_category_from_name(classify_category_name((enum classify_category)i)), i);
	ck_assert_int_eq(classify_category_from_name("compile-error"), -1);
}
END_TEST

static void expect_table_error(const char *table, int code, const char *msg, int line, int column)
{
	struct classifier *c = (struct classifier *)&c;
	struct rp_error err;
	ck_assert_int_eq(classify__compile_table(table, strlen(table), "t.txt", &c, &err), code);
	ck_assert_ptr_null(c);
	ck_assert_str_eq(err.msg, msg);
	ck_assert_int_eq(err.line, line);
	ck_assert_int_eq(err.column, column);
}

START_TEST(test_invalid_tables)
{
	expect_table_error("# rules\ncompile_error 10 - ok ^a\n\nlink_error 20 - bad (unclosed\n", RP_EINVAL,
			   "t.txt:4:30: rule \"bad\": regex error at offset 9: missing closing parenthesis",
			   4, 30);
	expect_table_error("compile_eror 10 - x ^a\n", RP_EINVAL,
			   "t.txt:1: rule \"x\": unknown category \"compile_eror\"", 1, 0);
	expect_table_error("unknown 0 - x ^a\n", RP_EINVAL,
			   "t.txt:1: rule \"x\": priority \"0\" is not a number from 1 to 1000", 1, 0);
	expect_table_error("unknown 1001 - x ^a\n", RP_EINVAL,
			   "t.txt:1: rule \"x\": priority \"1001\" is not a number from 1 to 1000", 1, 0);
	expect_table_error("unknown 5 infra,slow x ^a\n", RP_EINVAL,
			   "t.txt:1: rule \"x\": flags \"infra,slow\": expected - or a list of infra, cont",
			   1, 0);
	expect_table_error("unknown 5 - X_1 ^a\n", RP_EINVAL,
			   "t.txt:1: expected a rule id of 1 to 31 characters a-z, 0-9 and -", 1, 0);
	expect_table_error("unknown 5 - x\n", RP_EINVAL, "t.txt:1: rule \"x\": the regex is missing", 1, 0);
	expect_table_error("unknown 5\n", RP_EINVAL, "t.txt:1: expected CATEGORY PRIORITY FLAGS ID REGEX", 1,
			   0);
	expect_table_error("unknown 5 - x ^a\n# again\nlink_error 6 - x ^b\n", RP_EINVAL,
			   "t.txt:3: rule \"x\" is defined twice (first on line 1)", 3, 0);
	expect_table_error(
	    "unknown 5 - g (?<file>x):(?<lien>\\d+)\n", RP_EINVAL,
	    "t.txt:1: rule \"g\": unknown group name \"lien\" (expected file, line, col, msg or subject)", 1,
	    0);
	expect_table_error("unknown 5 - n ^[^:]*: error\n", RP_EINVAL,
			   "t.txt:1:16: rule \"n\": the negated class at offset 1 does not exclude \\n "
			   "(write [^...\\n]: a match must stay on one line)",
			   1, 16);
	expect_table_error("# only comments\n\n", RP_EINVAL, "t.txt: the table has no rules", 0, 0);

	/* A valid table compiles; a class with \n, \s or \v is fine. */
	struct classifier *c;
	struct rp_error err;
	const char *ok = "unknown 5 cont,infra a ^[^:\\n]*: x\r\n  link_error 7 - b [^\\s]+y\n";
	ck_assert_int_eq(classify__compile_table(ok, strlen(ok), "t.txt", &c, &err), 0);
	ck_assert_uint_eq(classify__n_rules(c), 2);
	/* This table has no examples. */
	ck_assert_int_eq(classify__self_test(c, ok, strlen(ok), "t.txt", &err), RP_EINVAL);
	ck_assert_str_eq(err.msg, "t.txt:1: rule \"a\" has no example (a \"#> \" line above it)");
	classify_free(c);

	/* An example shadowed by a rule of higher priority is reported. */
	const char *shadow =
	    "#> x: fatal\nunknown 5 - fatal fatal\n#> fatal error\ncompile_error 9 - err error\n"
	    "#> x: fatal\nunknown 4 - late fatal$\n";
	ck_assert_int_eq(classify__compile_table(shadow, strlen(shadow), "s.txt", &c, &err), 0);
	ck_assert_int_eq(classify__self_test(c, shadow, strlen(shadow), "s.txt", &err), RP_EINVAL);
	ck_assert_str_eq(err.msg,
			 "s.txt:5: the example of rule \"late\" is matched by rule \"fatal\" instead");
	classify_free(c);
}
END_TEST

static void expect_prefilter(const char *re, const char *want)
{
	char got[1024];
	size_t n = classify__prefilter(re, strlen(re), got, sizeof(got));
	ck_assert_msg(!strcmp(got, want), "prefilter of %s: got \"%s\", want \"%s\"", re, got, want);
	ck_assert_uint_eq(n, strlen(want));
}

START_TEST(test_prefilter)
{
	expect_prefilter(
	    "^(?<file>[^\\h:\\n][^:\\n]*):(?<line>\\d+):(?:(?<col>\\d+):)? (?:fatal )?error: (?<msg>.+)$",
	    "error\\x3a\\x20");
	expect_prefilter("abc?defg", "defg");
	expect_prefilter("(?:foo|barbaz)x+", "foo|barbaz");
	expect_prefilter("(?<msg>No space left|Disk quota)", "No\\x20space\\x20left|Disk\\x20quota");
	expect_prefilter("(?:abc)?defg", "defg");
	expect_prefilter("x{2}yzw", "yzw");
	expect_prefilter("ab{0,3}cdef", "cdef");
	expect_prefilter("\\.so\\.1", "\\x2eso\\x2e1");
	expect_prefilter("a[xyz]bcd[^\\n]*", "bcd");
	expect_prefilter("(?<![^\\h\\n])Killed(?:\\h{2,}[^\\n]*)?$", "Killed");
	expect_prefilter("(?!localhost)Failed to", "Failed\\x20to");
	expect_prefilter("foo|bar", "foo|bar");
	/* Nothing required, or nothing worth a second pass. */
	expect_prefilter("foo|b", "");
	expect_prefilter("(?:foo|ba)", "");
	expect_prefilter("(?=abcd)x", "");
	expect_prefilter("ab", "");
	/* What the parser does not know turns the prefilter off. */
	expect_prefilter("(?i)error", "");
	expect_prefilter("abcd(?i:efgh)", "");
	expect_prefilter("\\Qabcd\\E", "");
	expect_prefilter("abcd\\p{L}", "");
	expect_prefilter("abcd{x}", "");
	expect_prefilter("(*UTF)abcd", "");
}
END_TEST

/* ---- compilers and linkers ---- */

static const char bad_c[] = "struct s { int a; };\n"
			    "static int f(int x) { return x; }\n"
			    "int main(void)\n"
			    "{\n"
			    "    struct s v = { 1 };\n"
			    "    return f(v);\n"
			    "}\n";

static void check_type_error(const char *cc)
{
	char cmd[256];
	struct classification cl;
	write_file("bad.c", bad_c);
	snprintf(cmd, sizeof(cmd), "%s -c bad.c -o bad.o", cc);
	run_failing(cmd, CLASSIFY_STEP_BUILD, &cl);
	ck_assert_str_eq(classify_category_name(cl.category), "compile_error");
	ck_assert_int_eq(cl.infrastructure, 0);
	ck_assert_int_eq(cl.matched, 1);
	ck_assert_str_eq(cl.rule, "cc-error");
	ck_assert_str_eq(cl.file, "bad.c");
	ck_assert_uint_eq(cl.line, 6);
	ck_assert_uint_eq(cl.column, 14);
	ck_assert_msg(!strncmp(cl.excerpt, "bad.c:6:14: error: ", 19), "excerpt: %s", cl.excerpt);
	ck_assert_str_eq(cl.excerpt + 19, cl.msg);
}

START_TEST(test_gcc_type_error)
{
	struct classification cl;
	check_type_error("gcc");
	/* gcc's own first line is "bad.c: In function 'main':", the error is on line 2. */
	write_file("bad.c", bad_c);
	run_failing("gcc -c bad.c -o bad.o", CLASSIFY_STEP_BUILD, &cl);
	ck_assert_uint_eq(cl.log_line, 2);
	ck_assert_uint_eq(cl.log_offset, strlen("bad.c: In function 'main':\n"));
	ck_assert_str_eq(cl.msg, "incompatible type for argument 1 of 'f'");
}
END_TEST

START_TEST(test_clang_type_error)
{
	struct classification cl;
	check_type_error("clang");
	write_file("bad.c", bad_c);
	run_failing("clang -c bad.c -o bad.o", CLASSIFY_STEP_BUILD, &cl);
	ck_assert_str_eq(cl.msg, "passing 'struct s' to parameter of incompatible type 'int'");
	ck_assert_uint_eq(cl.log_line, 1);
}
END_TEST

START_TEST(test_colors_and_unicode_quotes)
{
	/* Colored diagnostics and a UTF-8 locale: escapes are dropped, quotes kept. */
	struct classification cl;
	write_file("bad.c", bad_c);
	run_failing("LC_ALL=C.UTF-8 gcc -fdiagnostics-color=always -c bad.c -o bad.o", CLASSIFY_STEP_BUILD,
		    &cl);
	ck_assert_str_eq(cl.rule, "cc-error");
	ck_assert_str_eq(cl.file, "bad.c");
	ck_assert_uint_eq(cl.line, 6);
	ck_assert_uint_eq(cl.column, 14);
	ck_assert_str_eq(cl.msg, "incompatible type for argument 1 of \xe2\x80\x98"
				 "f\xe2\x80\x99");
	ck_assert_ptr_null(strchr(cl.excerpt, 0x1b));
	run_failing("clang -fcolor-diagnostics -c bad.c -o bad.o", CLASSIFY_STEP_BUILD, &cl);
	ck_assert_str_eq(cl.excerpt,
			 "bad.c:6:14: error: passing 'struct s' to parameter of incompatible type 'int'");
}
END_TEST

static const char link_c[] = "int missing_function(int);\n"
			     "int main(void)\n"
			     "{\n"
			     "    return missing_function(3);\n"
			     "}\n";

START_TEST(test_link_error)
{
	static const char *const cmds[] = {"gcc link.c -o link", "clang link.c -o link",
					   "gcc -g link.c -o link", "clang -g link.c -o link"};
	write_file("link.c", link_c);
	for (int i = 0; i < 4; i++) {
		struct classification cl;
		run_failing(cmds[i], CLASSIFY_STEP_BUILD, &cl);
		ck_assert_str_eq(classify_category_name(cl.category), "link_error");
		ck_assert_str_eq(cl.rule, "undefined-reference");
		ck_assert_str_eq(cl.subject, "missing_function");
		ck_assert_str_eq(cl.msg, "undefined reference to `missing_function'");
		/* Not the driver's trailer (collect2 / "linker command failed") that follows. */
		ck_assert_uint_eq(cl.log_line, 2);
		if (i < 2) {
			ck_assert_str_eq(cl.file, "link.c");
			ck_assert_uint_eq(cl.line, 0);
		} else {
			ck_assert_msg(ends_with(cl.file, "link.c"), "file: %s", cl.file);
			ck_assert_uint_eq(cl.line, 4);
		}
	}
}
END_TEST

START_TEST(test_missing_header_and_library)
{
	struct classification cl;
	write_file("hdr.c", "#include <nosuchheader.h>\nint main(void) { return 0; }\n");
	run_failing("gcc -c hdr.c", CLASSIFY_STEP_BUILD, &cl);
	ck_assert_str_eq(classify_category_name(cl.category), "missing_dependency");
	ck_assert_str_eq(cl.subject, "nosuchheader.h");
	ck_assert_str_eq(cl.file, "hdr.c");
	ck_assert_uint_eq(cl.line, 1);
	ck_assert_uint_eq(cl.column, 10);
	run_failing("clang -c hdr.c", CLASSIFY_STEP_BUILD, &cl);
	ck_assert_str_eq(cl.rule, "missing-header");
	ck_assert_str_eq(cl.subject, "nosuchheader.h");

	write_file("main.c", "int main(void) { return 0; }\n");
	run_failing("gcc main.c -lripplenosuchlib -o main", CLASSIFY_STEP_BUILD, &cl);
	ck_assert_str_eq(classify_category_name(cl.category), "missing_dependency");
	ck_assert_str_eq(cl.rule, "missing-library");
	ck_assert_str_eq(cl.subject, "ripplenosuchlib");
}
END_TEST

/* ---- build systems ---- */

START_TEST(test_pkg_config)
{
	struct classification cl;
	run_failing("pkg-config --cflags nosuchpkg", CLASSIFY_STEP_BUILD, &cl);
	ck_assert_str_eq(classify_category_name(cl.category), "missing_dependency");
	ck_assert_str_eq(cl.subject, "nosuchpkg");
	ck_assert_uint_eq(cl.log_line, 1);
}
END_TEST

START_TEST(test_make)
{
	struct classification cl;
	/* The compiler's error, not make's "Error 1" after it. */
	write_file("bad.c", bad_c);
	write_file("Makefile", "all:\n\tgcc -c bad.c -o bad.o\n");
	run_failing("make", CLASSIFY_STEP_BUILD, &cl);
	ck_assert_str_eq(cl.rule, "cc-error");
	ck_assert_str_eq(cl.file, "bad.c");
	ck_assert_uint_eq(cl.line, 6);

	/* A failing command that says nothing: make's line, the step decides the category. */
	write_file("Makefile", "all:\n\tfalse\n");
	run_failing("make", CLASSIFY_STEP_BUILD, &cl);
	ck_assert_str_eq(cl.rule, "make-error");
	ck_assert_str_eq(classify_category_name(cl.category), "compile_error");
	ck_assert_str_eq(cl.excerpt, "make: *** [Makefile:2: all] Error 1");
	ck_assert_str_eq(cl.file, "Makefile");
	ck_assert_uint_eq(cl.line, 2);
	ck_assert_str_eq(cl.subject, "all");
	ck_assert_str_eq(cl.msg, "Error 1");
	run_failing("make", CLASSIFY_STEP_TEST, &cl);
	ck_assert_str_eq(classify_category_name(cl.category), "test_failure");

	write_file("Makefile", "all: missing.h\n");
	run_failing("make", CLASSIFY_STEP_BUILD, &cl);
	ck_assert_str_eq(classify_category_name(cl.category), "missing_dependency");
	ck_assert_str_eq(cl.rule, "make-no-rule");
	ck_assert_str_eq(cl.subject, "missing.h");
}
END_TEST

START_TEST(test_cmake_find_package)
{
	struct classification cl;
	make_dir("src");
	write_file("src/CMakeLists.txt", "cmake_minimum_required(VERSION 3.10)\n"
					 "project(t NONE)\n"
					 "find_package(NoSuchThing REQUIRED)\n");
	run_failing("cmake -S src -B build", CLASSIFY_STEP_BUILD, &cl);
	ck_assert_str_eq(classify_category_name(cl.category), "missing_dependency");
	ck_assert_str_eq(cl.rule, "cmake-find-package");
	ck_assert_str_eq(cl.file, "CMakeLists.txt");
	ck_assert_uint_eq(cl.line, 3);
	ck_assert_str_eq(cl.subject, "NoSuchThing");
	/* The message body is joined to the "CMake Error at" line. */
	static const char head[] =
	    "CMake Error at CMakeLists.txt:3 (find_package): By not providing "
	    "\"FindNoSuchThing.cmake\" in CMAKE_MODULE_PATH this project has asked CMake";
	ck_assert_msg(!strncmp(cl.excerpt, head, sizeof(head) - 1), "excerpt: %s", cl.excerpt);
	ck_assert_msg(ends_with(cl.excerpt, "but CMake did not find one."), "excerpt: %s", cl.excerpt);
}
END_TEST

/* ---- sanitizers and tests ---- */

START_TEST(test_asan_heap_overflow)
{
	struct classification cl;
	write_file("asan.c", "#include <stdlib.h>\n"
			     "int main(void)\n"
			     "{\n"
			     "    int *a = malloc(4 * sizeof(int));\n"
			     "    a[4] = 1;\n"
			     "    free(a);\n"
			     "    return 0;\n"
			     "}\n");
	run_failing("gcc -g -fsanitize=address asan.c -o asan && ./asan", CLASSIFY_STEP_TEST, &cl);
	ck_assert_str_eq(classify_category_name(cl.category), "sanitizer");
	ck_assert_str_eq(cl.rule, "sanitizer-summary");
	ck_assert_str_eq(cl.subject, "heap-buffer-overflow");
	ck_assert_msg(ends_with(cl.file, "/asan.c"), "file: %s", cl.file);
	ck_assert_uint_eq(cl.line, 5);
	ck_assert_msg(!strncmp(cl.excerpt, "SUMMARY: AddressSanitizer: heap-buffer-overflow ", 48), "%s",
		      cl.excerpt);
}
END_TEST

START_TEST(test_ubsan_signed_overflow)
{
	struct classification cl;
	write_file("ubsan.c", "#include <limits.h>\n"
			      "#include <stdio.h>\n"
			      "int main(int argc, char **argv)\n"
			      "{\n"
			      "    int x = INT_MAX - 1 + argc;\n"
			      "    x = x + argc;\n"
			      "    printf(\"%d\\n\", x);\n"
			      "    return 1;\n"
			      "}\n");
	run_failing("gcc -g -fsanitize=undefined ubsan.c -o ubsan && ./ubsan", CLASSIFY_STEP_TEST, &cl);
	ck_assert_str_eq(classify_category_name(cl.category), "sanitizer");
	ck_assert_str_eq(cl.rule, "ubsan");
	ck_assert_str_eq(cl.file, "ubsan.c");
	ck_assert_uint_eq(cl.line, 6);
	ck_assert_uint_gt(cl.column, 0);
	ck_assert_str_eq(cl.msg,
			 "signed integer overflow: 2147483647 + 1 cannot be represented in type 'int'");
	run_failing("clang -g -fsanitize=undefined ubsan.c -o ubsan && ./ubsan", CLASSIFY_STEP_TEST, &cl);
	ck_assert_str_eq(cl.rule, "ubsan");
	ck_assert_uint_eq(cl.line, 6);
	ck_assert_uint_eq(cl.column, 11);
}
END_TEST

START_TEST(test_check_failure)
{
	struct classification cl;
	write_file("ck_demo.c", "#include <check.h>\n"
				"#include <stdlib.h>\n"
				"START_TEST(test_ok) { ck_assert(1); }\n"
				"END_TEST\n"
				"START_TEST(test_sum)\n"
				"{\n"
				"    int x = 1;\n"
				"    ck_assert_int_eq(x, 2);\n"
				"}\n"
				"END_TEST\n"
				"int main(void)\n"
				"{\n"
				"    Suite *s = suite_create(\"demo\");\n"
				"    TCase *tc = tcase_create(\"core\");\n"
				"    tcase_add_test(tc, test_ok);\n"
				"    tcase_add_test(tc, test_sum);\n"
				"    suite_add_tcase(s, tc);\n"
				"    SRunner *r = srunner_create(s);\n"
				"    srunner_run_all(r, CK_NORMAL);\n"
				"    int n = srunner_ntests_failed(r);\n"
				"    srunner_free(r);\n"
				"    return n ? EXIT_FAILURE : EXIT_SUCCESS;\n"
				"}\n");
	run_failing("cc ck_demo.c $(pkg-config --cflags --libs check) -o ck_demo && ./ck_demo",
		    CLASSIFY_STEP_TEST, &cl);
	ck_assert_str_eq(classify_category_name(cl.category), "test_failure");
	ck_assert_str_eq(cl.rule, "check-failure");
	ck_assert_str_eq(cl.file, "ck_demo.c");
	ck_assert_uint_eq(cl.line, 8);
	ck_assert_str_eq(cl.subject, "test_sum");
	ck_assert_str_eq(cl.msg, "Assertion 'x == 2' failed: x == 1, 2 == 2");
	/* Not the summary line ("50%: Checks: 2, Failures: 1, Errors: 0") before it. */
	ck_assert_uint_eq(cl.log_line, 3);
}
END_TEST

START_TEST(test_assert_abort)
{
	struct classification cl;
	write_file("as.c", "#include <assert.h>\nint main(int argc, char **argv)\n{\n    assert(argc == 2);\n"
			   "    return 0;\n}\n");
	run_failing("cc as.c -o as_prog && ./as_prog", CLASSIFY_STEP_TEST, &cl);
	ck_assert_str_eq(classify_category_name(cl.category), "test_failure");
	ck_assert_str_eq(cl.rule, "assert");
	ck_assert_str_eq(cl.file, "as.c");
	ck_assert_uint_eq(cl.line, 4);
	ck_assert_str_eq(cl.subject, "main");
	ck_assert_str_eq(cl.msg, "Assertion `argc == 2' failed.");
}
END_TEST

/* ---- fixed logs ---- */

START_TEST(test_infrastructure)
{
	static const struct {
		const char *log, *category, *rule;
		int infra;
	} cases[] = {
	    {"cc -c big.c\n/usr/bin/ld: final link failed: No space left on device\ncollect2: error: ld "
	     "returned 1 "
	     "exit status\n",
	     "infrastructure", "disk-full", 1},
	    {"Cloning into 'dep'...\nfatal: unable to access 'https://example.org/dep.git/': Could not "
	     "resolve "
	     "host: example.org\n",
	     "infrastructure", "dns-failure", 1},
	    {"curl: (7) Failed to connect to example.org port 443 after 3 ms: Connection refused\n",
	     "infrastructure", "connect-failed", 1},
	    {"ssh: connect to host example.org port 22: Connection timed out\n", "infrastructure",
	     "network-down", 1},
	    /* A test's own server on loopback that is down is the code's failure. */
	    {"curl: (7) Failed to connect to localhost port 8080 after 0 ms: Connection refused\nnot ok 1 - "
	     "serves\n",
	     "test_failure", "tap-not-ok", 0},
	    {"bwrap: Creating new namespace failed: Operation not permitted\n", "infrastructure", "sandbox",
	     1},
	    {"ripple: infrastructure error: the VM did not boot within 30 s\n", "infrastructure", "runner",
	     1},
	    {"gcc -c huge.c\ngcc: fatal error: Killed signal terminated program cc1\ncompilation "
	     "terminated.\n",
	     "out_of_memory", "compiler-killed", 1},
	    {"make: vfork: Cannot allocate memory\n", "out_of_memory", "fork-failed", 1},
	    /* A test eating all memory is the code's: not retried. */
	    {"./test_big\nbash: line 1:  8404 Killed                  ./test_big\n", "out_of_memory",
	     "killed", 0},
	    {"terminate called after throwing an instance of 'std::bad_alloc'\n", "out_of_memory", "enomem",
	     0},
	    /* Infrastructure outranks everything before it. */
	    {"a.c:1:1: error: x\ncp: error writing 'out': No space left on device\n", "infrastructure",
	     "disk-full", 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct classification cl;
		classify_str(cases[i].log, CLASSIFY_STEP_TEST, &cl);
		ck_assert_msg(!strcmp(classify_category_name(cl.category), cases[i].category), "case %zu: %s",
			      i, classify_category_name(cl.category));
		ck_assert_msg(!strcmp(cl.rule, cases[i].rule), "case %zu: rule %s", i, cl.rule);
		ck_assert_int_eq(cl.infrastructure, cases[i].infra);
	}
}
END_TEST

START_TEST(test_first_error_line)
{
	struct classification cl;
	/* make -j: another job's trailer comes first; the compiler's error still wins. */
	classify_str("make[1]: *** [Makefile:9: a.o] Error 1\n"
		     "make[1]: *** Waiting for unfinished jobs....\n"
		     "src/b.c: In function 'g':\n"
		     "src/b.c:3:1: warning: unused variable 'y'\n"
		     "src/b.c:7:12: error: 'z' undeclared (first use in this function)\n"
		     "src/c.c:2:1: error: expected ';'\n"
		     "make: *** [Makefile:5: all] Error 2\n",
		     CLASSIFY_STEP_BUILD, &cl);
	ck_assert_str_eq(cl.rule, "cc-error");
	ck_assert_str_eq(cl.excerpt, "src/b.c:7:12: error: 'z' undeclared (first use in this function)");
	ck_assert_str_eq(cl.file, "src/b.c");
	ck_assert_uint_eq(cl.line, 7);
	ck_assert_uint_eq(cl.column, 12);
	ck_assert_uint_eq(cl.log_line, 5);

	/* A sanitizer report beats the harness's failure lines around it. */
	classify_str(
	    "not ok 1 - parse\n==77==ERROR: AddressSanitizer: heap-use-after-free on address 0x1\n"
	    "SUMMARY: AddressSanitizer: heap-use-after-free /src/p.c:9:3 in parse\nnot ok 2 - print\n",
	    CLASSIFY_STEP_TEST, &cl);
	ck_assert_str_eq(cl.rule, "sanitizer-summary");
	ck_assert_str_eq(cl.file, "/src/p.c");
	ck_assert_uint_eq(cl.line, 9);
	ck_assert_uint_eq(cl.column, 3);
	ck_assert_str_eq(cl.excerpt, "SUMMARY: AddressSanitizer: heap-use-after-free /src/p.c:9:3 in parse");

	/* TAP: a failing TODO test is expected; the real failure is the next one. */
	classify_str("ok 1 - a\nnot ok 2 - b # TODO not written yet\nnot ok 3 - c\n", CLASSIFY_STEP_TEST,
		     &cl);
	ck_assert_str_eq(cl.rule, "tap-not-ok");
	ck_assert_str_eq(cl.subject, "c");
	ck_assert_uint_eq(cl.log_line, 3);
}
END_TEST

START_TEST(test_timestamps)
{
	struct classification plain, stamped;
	size_t n;
	const char *log = "make -C src\n"
			  "src/b.c:7:12: error: 'z' undeclared\n"
			  "make: *** [Makefile:5: all] Error 2\n";
	char *s = stamp(log, strlen(log), &n);
	ck_assert_int_eq(memcmp(s, "[   0.000] make -C src\n[   0.001] src/b.c:7:12: ", 48), 0);
	classify_str(log, CLASSIFY_STEP_BUILD, &plain);
	ck_assert_int_eq(classify_log(cls, s, n, NULL, &stamped), 0);
	ck_assert_str_eq(stamped.rule, "cc-error");
	ck_assert_str_eq(stamped.excerpt, plain.excerpt);
	ck_assert_str_eq(stamped.file, "src/b.c");
	ck_assert_uint_eq(stamped.line, 7);
	ck_assert_uint_eq(stamped.log_line, 2);
	ck_assert_uint_eq(stamped.log_offset, strlen("[   0.000] make -C src\n"));
	free(s);

	/* Long steps have wider stamps; a line that only looks like one keeps its text. */
	classify_str("[12345.678] FAIL: test_x\n", CLASSIFY_STEP_TEST, &stamped);
	ck_assert_str_eq(stamped.rule, "automake-fail");
	ck_assert_str_eq(stamped.excerpt, "FAIL: test_x");
	classify_str("[x] FAIL: test_x\n", CLASSIFY_STEP_TEST, &stamped);
	ck_assert_str_eq(stamped.rule, "");
	ck_assert_str_eq(stamped.excerpt, "[x] FAIL: test_x");

	/* CRLF line ends, and a progress line overwritten by CR. */
	classify_str("building\r\n[ 50%] x\r[100%] y\rsrc/q.c:1:2: error: boom\r\n", CLASSIFY_STEP_BUILD,
		     &stamped);
	ck_assert_str_eq(stamped.excerpt, "src/q.c:1:2: error: boom");
	ck_assert_uint_eq(stamped.log_line, 2);
}
END_TEST

START_TEST(test_hints)
{
	struct classification cl;
	struct classify_hints h = {.step = CLASSIFY_STEP_TEST, .timed_out = 1};
	const char *truncated =
	    "running t1\nt1 waits for the lock\n"
	    "[  12.000] ripple: output truncated at 16777216 bytes; the middle is dropped\n\n";

	/* Nothing matches: the step decides, the last non-empty line is shown. */
	classify_str(truncated, CLASSIFY_STEP_TEST, &cl);
	ck_assert_str_eq(classify_category_name(cl.category), "test_failure");
	ck_assert_int_eq(cl.matched, 0);
	ck_assert_str_eq(cl.excerpt, "t1 waits for the lock");
	ck_assert_str_eq(cl.msg, cl.excerpt);
	ck_assert_uint_eq(cl.log_line, 2);
	ck_assert_uint_eq(cl.log_offset, 11);
	classify_str(truncated, CLASSIFY_STEP_BUILD, &cl);
	ck_assert_str_eq(classify_category_name(cl.category), "compile_error");
	classify_str(truncated, CLASSIFY_STEP_UNKNOWN, &cl);
	ck_assert_str_eq(classify_category_name(cl.category), "unknown");
	ck_assert_int_eq(classify_log(cls, truncated, strlen(truncated), NULL, &cl), 0);
	ck_assert_str_eq(classify_category_name(cl.category), "unknown");

	/* Timed out: timeout whatever the log says ... */
	ck_assert_int_eq(classify_log(cls, truncated, strlen(truncated), &h, &cl), 0);
	ck_assert_str_eq(classify_category_name(cl.category), "timeout");
	ck_assert_int_eq(classify_log(cls, "", 0, &h, &cl), 0);
	ck_assert_str_eq(classify_category_name(cl.category), "timeout");
	ck_assert_str_eq(cl.excerpt, "");
	ck_assert_uint_eq(cl.log_line, 0);
	ck_assert_int_eq(classify_log(cls, NULL, 0, &h, &cl), 0);
	ck_assert_str_eq(classify_category_name(cl.category), "timeout");
	const char *failing = "not ok 1 - a\nwaiting for the server\n";
	ck_assert_int_eq(classify_log(cls, failing, strlen(failing), &h, &cl), 0);
	ck_assert_str_eq(classify_category_name(cl.category), "timeout");
	ck_assert_str_eq(cl.rule, "tap-not-ok");
	ck_assert_str_eq(cl.excerpt, "not ok 1 - a");
	/* ... unless the worker's trouble explains the hang. */
	const char *dns =
	    "git fetch\nfatal: unable to access 'https://x.example/': Temporary failure in name resolution\n";
	ck_assert_int_eq(classify_log(cls, dns, strlen(dns), &h, &cl), 0);
	ck_assert_str_eq(classify_category_name(cl.category), "infrastructure");
	ck_assert_int_eq(cl.infrastructure, 1);

	/* A SIGKILL ripple did not send: the OOM killer; SIGXCPU: the CPU limit. */
	h.timed_out = 0;
	h.term_signal = SIGKILL;
	ck_assert_int_eq(classify_log(cls, "x\n", 2, &h, &cl), 0);
	ck_assert_str_eq(classify_category_name(cl.category), "out_of_memory");
	ck_assert_int_eq(cl.infrastructure, 0);
	h.term_signal = SIGXCPU;
	ck_assert_int_eq(classify_log(cls, "x\n", 2, &h, &cl), 0);
	ck_assert_str_eq(classify_category_name(cl.category), "timeout");
	/* A matching rule still wins over the signal. */
	h.term_signal = SIGKILL;
	ck_assert_int_eq(classify_log(cls, failing, strlen(failing), &h, &cl), 0);
	ck_assert_str_eq(classify_category_name(cl.category), "test_failure");
}
END_TEST

START_TEST(test_bounds_and_sanitizing)
{
	struct classification cl;
	size_t n = 20000;
	char *log = malloc(n + 64);
	ck_assert_ptr_nonnull(log);

	/* A 20,000-byte error line: the excerpt is cut at a character and says so. */
	int k = snprintf(log, 64, "x.c:1:2: error: ");
	for (size_t i = (size_t)k; i < n; i += 2)
		memcpy(log + i, "\xc3\xa9", 2); /* é */
	log[n] = '\n';
	ck_assert_int_eq(classify_log(cls, log, n + 1, NULL, &cl), 0);
	ck_assert_str_eq(cl.rule, "cc-error");
	ck_assert_uint_le(strlen(cl.excerpt), CLASSIFY_EXCERPT_MAX - 1);
	ck_assert_uint_ge(strlen(cl.excerpt), CLASSIFY_EXCERPT_MAX - 6);
	ck_assert_msg(ends_with(cl.excerpt, "\xc3\xa9..."), "%s", cl.excerpt + 480);
	ck_assert_msg(ends_with(cl.msg, "\xc3\xa9..."), "%s", cl.msg + 480);

	/* Controls, bad UTF-8, tabs, NUL and line separators never reach the excerpt. */
	static const char weird[] = "t.c:3:4: error: a\tb\x01"
				    "c\xff"
				    "d\xe2\x80\xa8"
				    "e\xc2\x85"
				    "f\0g\x7f\n";
	ck_assert_int_eq(classify_log(cls, weird, sizeof(weird) - 1, NULL, &cl), 0);
	ck_assert_str_eq(cl.excerpt, "t.c:3:4: error: a b?c?d?e?f?g?");
	ck_assert_str_eq(cl.msg, "a b?c?d?e?f?g?");

	/* A file name too long for its field is left out rather than cut. */
	memset(log, 'a', 300);
	memcpy(log + 300, ".c:1:1: error: x\n", 17);
	ck_assert_int_eq(classify_log(cls, log, 317, NULL, &cl), 0);
	ck_assert_str_eq(cl.rule, "cc-error");
	ck_assert_str_eq(cl.file, "");
	ck_assert_uint_eq(cl.line, 1);

	/* Numbers too big for a line number are unknown (0). */
	classify_str("x.c:99999999999:1: error: y\n", CLASSIFY_STEP_BUILD, &cl);
	ck_assert_str_eq(cl.rule, "cc-error");
	ck_assert_uint_eq(cl.line, 0);
	free(log);
}
END_TEST

/* One line of build and test noise, with its '\n'. */
static size_t noise_line(char *out, size_t size, size_t n)
{
	int k;
	switch (n % 7) {
	case 0:
		k = snprintf(
		    out, size,
		    "gcc -c -O2 -Wall -Werror -I../include -DHAVE_CONFIG_H src/f%zu.c -o src/f%zu.o\n", n, n);
		break;
	case 1:
		k = snprintf(out, size, "checking for working strerror_r... yes (%zu)\n", n);
		break;
	case 2:
		k = snprintf(out, size, "ok %zu - test_buffer_%zu\n", n, n * 7);
		break;
	case 3:
		k = snprintf(out, size, "make[2]: Entering directory '/build/pkg/src/sub%zu'\n", n);
		break;
	case 4:
		k = snprintf(out, size, "  CC       libfoo_la-unit%zu.lo\n", n);
		break;
	case 5:
		k = snprintf(out, size, "PASS: test_%zu (%zu ms)\n", n, n % 97);
		break;
	default:
		k = snprintf(out, size,
			     "src/warn%zu.c:%zu:5: warning: unused variable 'tmp' [-Wunused-variable]\n", n,
			     n % 1000);
		break;
	}
	return (size_t)k;
}

/*
 * A log of `size` bytes or a little more of build and test noise, stamped as a
 * step stamps it; `error`, when given, is written once about 64 KiB before the
 * end, at *error_line (1-based) and *error_offset.
 */
static char *noise_log(size_t size, const char *error, size_t *len, size_t *error_line, size_t *error_offset)
{
	char *out = malloc(size + 4096);
	size_t o = 0, line = 0;
	ck_assert_ptr_nonnull(out);
	while (o < size) {
		o += (size_t)snprintf(out + o, 32, "[%4zu.%03zu] ", line / 1000, line % 1000);
		line++;
		if (error && o + (64u << 10) >= size) {
			*error_line = line;
			*error_offset = o - 11;
			o += (size_t)snprintf(out + o, 1024, "%s\n", error);
			error = NULL;
		} else {
			o += noise_line(out + o, 1024, line);
		}
	}
	*len = o;
	return out;
}

START_TEST(test_big_log)
{
	struct classification cl;
	struct timespec t0, t1;
	size_t len, at = 0, off = 0, size = 16u << 20;
	char *log =
	    noise_log(size, "src/net.c:42:7: error: 'struct conn' has no member named 'fd'", &len, &at, &off);
	ck_assert_uint_ge(len, size);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(classify_log(cls, log, len, NULL, &cl), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	printf("test_classify: %.1f MiB log with one error near its end classified in %.1f ms (%.0f MB/s)\n",
	       (double)len / (1 << 20), ms, (double)len / ms / 1e3);
	ck_assert_str_eq(cl.rule, "cc-error");
	ck_assert_str_eq(cl.file, "src/net.c");
	ck_assert_uint_eq(cl.line, 42);
	ck_assert_uint_eq(cl.column, 7);
	ck_assert_uint_gt(at, 250000);
	ck_assert_uint_eq(cl.log_line, at);
	ck_assert_uint_eq(cl.log_offset, off);
	ck_assert_int_eq(memcmp(log + off + 11, "src/net.c:42:7:", 15), 0);
	free(log);

	/* Only noise: the last line, found from the end. */
	log = noise_log(size, NULL, &len, &at, &off);
	ck_assert_int_eq(classify_log(cls, log, len, NULL, &cl), 0);
	ck_assert_int_eq(cl.matched, 0);
	const char *last = log + len - 1, *text;
	size_t lines = 0;
	while (last > log && last[-1] != '\n')
		last--;
	for (const char *p = log; p < log + len; p++)
		lines += *p == '\n';
	ck_assert_uint_eq(cl.log_offset, (size_t)(last - log));
	ck_assert_uint_eq(cl.log_line, lines);
	for (text = last + 11; *text == ' '; text++)
		;
	ck_assert_int_eq(strncmp(cl.excerpt, text, strlen(cl.excerpt)), 0);
	ck_assert_uint_eq(strlen(cl.excerpt), (size_t)(log + len - 1 - text));
	free(log);
}
END_TEST

struct thread_arg {
	const char *log;
	size_t len;
	int ok;
};

static void *classify_thread(void *p)
{
	struct thread_arg *a = p;
	a->ok = 1;
	for (int i = 0; i < 50; i++) {
		struct classification cl;
		if (classify_log(cls, a->log, a->len, NULL, &cl) < 0 || strcmp(cl.rule, "cc-error") ||
		    cl.line != 7)
			a->ok = 0;
	}
	return NULL;
}

START_TEST(test_threads)
{
	/* One classifier, four threads at once. */
	size_t len, at, off;
	char *log = noise_log(1u << 20, "src/b.c:7:12: error: 'z' undeclared", &len, &at, &off);
	pthread_t t[4];
	struct thread_arg a[4];
	for (int i = 0; i < 4; i++) {
		a[i] = (struct thread_arg){log, len, 0};
		ck_assert_int_eq(pthread_create(&t[i], NULL, classify_thread, &a[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
		ck_assert_int_eq(a[i].ok, 1);
	}
	free(log);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("classify");
	TCase *tc = tcase_create("table");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_table_and_examples);
	tcase_add_test(tc, test_category_names);
	tcase_add_test(tc, test_invalid_tables);
	tcase_add_test(tc, test_prefilter);
	suite_add_tcase(s, tc);

	tc = tcase_create("tools");
	tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_gcc_type_error);
	tcase_add_test(tc, test_clang_type_error);
	tcase_add_test(tc, test_colors_and_unicode_quotes);
	tcase_add_test(tc, test_link_error);
	tcase_add_test(tc, test_missing_header_and_library);
	tcase_add_test(tc, test_pkg_config);
	tcase_add_test(tc, test_make);
	tcase_add_test(tc, test_cmake_find_package);
	tcase_add_test(tc, test_asan_heap_overflow);
	tcase_add_test(tc, test_ubsan_signed_overflow);
	tcase_add_test(tc, test_check_failure);
	tcase_add_test(tc, test_assert_abort);
	suite_add_tcase(s, tc);

	tc = tcase_create("logs");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_infrastructure);
	tcase_add_test(tc, test_first_error_line);
	tcase_add_test(tc, test_timestamps);
	tcase_add_test(tc, test_hints);
	tcase_add_test(tc, test_bounds_and_sanitizing);
	tcase_add_test(tc, test_big_log);
	tcase_add_test(tc, test_threads);
	suite_add_tcase(s, tc);
	return check_run_suite(s);
}
