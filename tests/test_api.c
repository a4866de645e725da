/*
 * Unit tests of reports/api.c: abidiff's reports — real ones, made by gcc,
 * abidw and abidiff from the small libraries of tests/fixtures/abidiff/src
 * (its README and make.sh say how) — read into classified changes; the
 * weaker method on symbols and header prototypes; the semver verdict; the
 * links from breaking changes to gcc's and clang's errors in a build log;
 * the JSON and Markdown renderings.
 */
#define _GNU_SOURCE
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "reports/api.h"
#include "check_main.h"
#include "core/banned.h"

/* ---- fixtures ---------------------------------------------------------------------------------- */

static char *slurp(const char *name, const char *ext, size_t *len)
{
	const char *dir = getenv("RIPPLE_TEST_FIXTURES");
	char path[4096];
	ck_assert_msg(dir != NULL, "RIPPLE_TEST_FIXTURES is not set");
	snprintf(path, sizeof(path), "%s/abidiff/%s.%s", dir, name, ext);
	FILE *fp = fopen(path, "rb");
	ck_assert_msg(fp != NULL, "cannot open %s", path);
	char *text = NULL;
	size_t size = 0;
	FILE *mem = open_memstream(&text, &size);
	ck_assert_ptr_nonnull(mem);
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
		ck_assert_uint_eq(fwrite(buf, 1, n, mem), n);
	fclose(fp);
	ck_assert_int_eq(fclose(mem), 0);
	*len = size;
	return text;
}

/* Parses fixture NAME.txt with the exit status abidiff gave (NAME.status); asserts it parses. */
static void parse_fixture(const char *name, struct api_diff *d)
{
	size_t len, slen;
	char *text = slurp(name, "txt", &len);
	char *status = slurp(name, "status", &slen);
	char *end;
	long st = strtol(status, &end, 10);
	ck_assert_msg(end != status, "%s.status holds no number", name);
	struct rp_error err;
	memset(&err, 0, sizeof(err));
	int rc = api_parse_abidiff(text, len, (int)st, d, &err);
	ck_assert_msg(rc == 0, "%s: %s", name, err.msg);
	ck_assert_int_eq(d->exit_status, (int)st);
	ck_assert_int_eq(d->weaker, 0);
	free(text);
	free(status);
}

/* Whether fixture NAME.txt contains `needle` (a check that the fixture shows what a test is about). */
static int fixture_says(const char *name, const char *needle)
{
	size_t len;
	char *text = slurp(name, "txt", &len);
	int yes = strstr(text, needle) != NULL;
	free(text);
	return yes;
}

static const struct api_change *only(const struct api_diff *d, enum api_change_kind kind, const char *name)
{
	const struct api_change *found = NULL;
	for (size_t i = 0; i < d->n; i++) {
		if (d->changes[i].kind == kind && strcmp(d->changes[i].name, name) == 0) {
			ck_assert_msg(found == NULL, "%s '%s' appears twice", api_change_kind_name(kind), name);
			found = &d->changes[i];
		}
	}
	ck_assert_msg(found != NULL, "no %s '%s' among %zu changes", api_change_kind_name(kind), name, d->n);
	return found;
}

static size_t count_of(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; p && (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

#define ck_assert_detail_has(c, s)                                                                            \
	ck_assert_msg((c)->detail && strstr((c)->detail, (s)), "detail of %s: '%s' lacks '%s'", (c)->name,    \
		      (c)->detail ? (c)->detail : "(null)", (s))

/* ---- abidiff's report, change by change ------------------------------------------------------ */

START_TEST(test_function_removed)
{
	struct api_diff d;
	parse_fixture("fn_removed", &d);
	ck_assert_uint_eq(d.n, 1);
	const struct api_change *c = only(&d, API_FUNCTION_REMOVED, "g");
	ck_assert_str_eq(c->before, "int g(int)");
	ck_assert_ptr_null(c->after);
	ck_assert_int_eq(c->api_breaking, 1);
	ck_assert_int_eq(c->abi_breaking, 1);
	api_diff_release(&d);
	ck_assert_uint_eq(d.n, 0);
	ck_assert_ptr_null(d.changes);
}
END_TEST

START_TEST(test_function_added)
{
	struct api_diff d;
	parse_fixture("fn_added", &d);
	ck_assert_uint_eq(d.n, 1);
	const struct api_change *c = only(&d, API_FUNCTION_ADDED, "g");
	ck_assert_ptr_null(c->before);
	ck_assert_str_eq(c->after, "int g(int)");
	ck_assert_int_eq(c->api_breaking, 0);
	ck_assert_int_eq(c->abi_breaking, 0);
	ck_assert_int_eq(api_change_breaking(c), 0);
	api_diff_release(&d);
}
END_TEST

START_TEST(test_parameter_int_to_long)
{
	struct api_diff d;
	parse_fixture("param_long", &d);
	ck_assert_uint_eq(d.n, 1);
	const struct api_change *c = only(&d, API_FUNCTION_CHANGED, "f");
	ck_assert_str_eq(c->before, "int f(int)");
	ck_assert_detail_has(c, "parameter 1 changed from 'int' to 'long int'");
	ck_assert_detail_has(c, "size changed from 32 to 64 bits");
	ck_assert_int_eq(c->api_breaking, 0); /* an int argument converts to long */
	ck_assert_int_eq(c->abi_breaking, 1);
	/* abidiff says where: "[C] 'function int f(int)' at v2.c:1:1 has ..." */
	ck_assert_ptr_nonnull(c->where);
	ck_assert_str_eq(c->where, "v2.c:1:1");
	api_diff_release(&d);
}
END_TEST

START_TEST(test_parameter_int_to_pointer)
{
	struct api_diff d;
	parse_fixture("param_ptr", &d);
	ck_assert_uint_eq(d.n, 1);
	const struct api_change *c = only(&d, API_FUNCTION_CHANGED, "f");
	ck_assert_detail_has(c, "parameter 1 changed from 'int' to 'char*'");
	ck_assert_int_eq(c->api_breaking, 1);
	ck_assert_int_eq(c->abi_breaking, 1);
	api_diff_release(&d);
}
END_TEST

START_TEST(test_parameter_added)
{
	struct api_diff d;
	parse_fixture("param_added", &d);
	ck_assert_uint_eq(d.n, 1);
	const struct api_change *c = only(&d, API_FUNCTION_CHANGED, "f");
	ck_assert_str_eq(c->before, "int f(int)");
	ck_assert_detail_has(c, "parameter 2 of type 'int' was added");
	ck_assert_int_eq(c->api_breaking, 1);
	ck_assert_int_eq(c->abi_breaking, 1);
	api_diff_release(&d);
}
END_TEST

START_TEST(test_return_type_changed)
{
	struct api_diff d;
	parse_fixture("return_type", &d);
	ck_assert_uint_eq(d.n, 1);
	const struct api_change *c = only(&d, API_FUNCTION_CHANGED, "f");
	ck_assert_detail_has(c, "return type changed from 'int' to 'long int'");
	ck_assert_int_eq(c->api_breaking, 0);
	ck_assert_int_eq(c->abi_breaking, 1);
	api_diff_release(&d);
}
END_TEST

/* A struct that grows, reached through area() and norm(): one type change, no function change. */
static void check_struct_grows(const char *fixture)
{
	struct api_diff d;
	parse_fixture(fixture, &d);
	ck_assert_uint_eq(d.n, 1);
	const struct api_change *c = only(&d, API_TYPE_CHANGED, "struct point");
	ck_assert_detail_has(c, "member 'int z' added");
	ck_assert_detail_has(c, "size changed from 64 to 96 bits");
	ck_assert_uint_eq(count_of(c->detail, "size changed"), 1);
	ck_assert_uint_eq(count_of(c->detail, "member 'int z' added"), 1);
	ck_assert_int_eq(c->api_breaking, 0); /* callers' source still compiles */
	ck_assert_int_eq(c->abi_breaking, 1); /* but sizeof changed under them */
	api_diff_release(&d);
}

START_TEST(test_struct_grows_once)
{
	check_struct_grows("struct_grows");
}
END_TEST

START_TEST(test_struct_grows_reached_twice)
{
	/* The fixture must show the type reached from both functions for this to mean anything. */
	ck_assert(fixture_says("struct_grows_redundant", "'function int area(point*)'"));
	ck_assert(fixture_says("struct_grows_redundant", "'function int norm(point*)'"));
	check_struct_grows("struct_grows_redundant");
}
END_TEST

START_TEST(test_member_removed)
{
	struct api_diff d;
	parse_fixture("member_removed", &d);
	ck_assert_uint_eq(d.n, 1);
	const struct api_change *c = only(&d, API_TYPE_CHANGED, "struct pair");
	ck_assert_detail_has(c, "member 'int y' removed");
	ck_assert_int_eq(c->api_breaking, 1);
	ck_assert_int_eq(c->abi_breaking, 1);
	api_diff_release(&d);
}
END_TEST

START_TEST(test_enumerator_inserted)
{
	struct api_diff d;
	/* By default abidiff counts an enumerator added at the end as harmless and says nothing. */
	parse_fixture("enum_inserted", &d);
	ck_assert_uint_eq(d.n, 0);
	api_diff_release(&d);
	parse_fixture("enum_inserted_harmless", &d);
	ck_assert_uint_eq(d.n, 1);
	const struct api_change *c = only(&d, API_ENUM_CHANGED, "enum color");
	ck_assert_detail_has(c, "YELLOW added");
	ck_assert_int_eq(c->api_breaking, 0);
	ck_assert_int_eq(c->abi_breaking, 0);
	api_diff_release(&d);
}
END_TEST

START_TEST(test_enumerator_value_changed)
{
	struct api_diff d;
	parse_fixture("enum_value", &d);
	ck_assert_uint_eq(d.n, 1);
	const struct api_change *c = only(&d, API_ENUM_CHANGED, "enum color");
	ck_assert_detail_has(c, "BLUE changed value from 2 to 5");
	ck_assert_int_eq(c->api_breaking, 0);
	ck_assert_int_eq(c->abi_breaking, 1);
	api_diff_release(&d);
}
END_TEST

START_TEST(test_enumerator_removed)
{
	struct api_diff d;
	parse_fixture("enum_removed", &d);
	ck_assert_uint_eq(d.n, 1);
	const struct api_change *c = only(&d, API_ENUM_CHANGED, "enum color");
	ck_assert_detail_has(c, "BLUE removed");
	ck_assert_int_eq(c->api_breaking, 1);
	ck_assert_int_eq(c->abi_breaking, 1);
	api_diff_release(&d);
}
END_TEST

START_TEST(test_variables)
{
	struct api_diff d;
	parse_fixture("variables", &d);
	ck_assert_uint_eq(d.n, 3);
	const struct api_change *gone = only(&d, API_VARIABLE_REMOVED, "gone");
	ck_assert_str_eq(gone->before, "int gone");
	ck_assert_int_eq(gone->api_breaking, 1);
	ck_assert_int_eq(gone->abi_breaking, 1);
	const struct api_change *fresh = only(&d, API_VARIABLE_ADDED, "fresh");
	ck_assert_str_eq(fresh->after, "int fresh");
	ck_assert_int_eq(api_change_breaking(fresh), 0);
	const struct api_change *counter = only(&d, API_VARIABLE_CHANGED, "counter");
	ck_assert_str_eq(counter->before, "int counter");
	ck_assert_str_eq(counter->after, "long int counter");
	ck_assert_ptr_nonnull(counter->where);
	ck_assert_str_eq(counter->where, "v2.c:1:1");
	ck_assert_int_eq(counter->api_breaking, 0);
	ck_assert_int_eq(counter->abi_breaking, 1);
	/* In abidiff's order: removed, added, changed. */
	ck_assert_int_eq(d.changes[0].kind, API_VARIABLE_REMOVED);
	ck_assert_int_eq(d.changes[1].kind, API_VARIABLE_ADDED);
	ck_assert_int_eq(d.changes[2].kind, API_VARIABLE_CHANGED);
	api_diff_release(&d);
}
END_TEST

START_TEST(test_soname_changed)
{
	struct api_diff d;
	parse_fixture("soname", &d);
	ck_assert_uint_eq(d.n, 1);
	const struct api_change *c = only(&d, API_SONAME_CHANGED, "libfix.so.2");
	ck_assert_str_eq(c->before, "libfix.so.1");
	ck_assert_str_eq(c->after, "libfix.so.2");
	ck_assert_int_eq(c->api_breaking, 0);
	ck_assert_int_eq(c->abi_breaking, 1);
	api_diff_release(&d);
}
END_TEST

/*
 * f@@V1 -> f@@V2. libabigail 2.2 lists only "[D] 'function int f(int)' {f@@V1}"
 * and not the f@@V2 it became (see the fixtures' README), so the report cannot
 * tell a version change from a removal: what can be asserted is that f is one
 * change, named without its version, that breaks the ABI, and that the
 * versioned symbol is not mistaken for another function. g (still V1) is not
 * a change.
 */
START_TEST(test_symbol_version)
{
	struct api_diff d;
	ck_assert(fixture_says("symver", "{f@@V1}"));
	parse_fixture("symver", &d);
	ck_assert_uint_eq(d.n, 1);
	const struct api_change *c = &d.changes[0];
	ck_assert_str_eq(c->name, "f");
	ck_assert_int_eq(c->abi_breaking, 1);
	ck_assert(c->kind == API_FUNCTION_REMOVED || c->kind == API_SYMBOL_VERSION_CHANGED);
	for (size_t i = 0; i < d.n; i++)
		ck_assert_str_ne(d.changes[i].name, "g");
	api_diff_release(&d);
}
END_TEST

START_TEST(test_no_debug_info_symbols)
{
	struct api_diff d;
	parse_fixture("nodebug", &d);
	ck_assert_uint_eq(d.n, 4);
	const struct api_change *g = only(&d, API_FUNCTION_REMOVED, "g");
	const struct api_change *h = only(&d, API_FUNCTION_ADDED, "h");
	const struct api_change *gone = only(&d, API_VARIABLE_REMOVED, "gone_v");
	const struct api_change *added = only(&d, API_VARIABLE_ADDED, "new_v");
	ck_assert(g->api_breaking && g->abi_breaking);
	ck_assert(gone->api_breaking && gone->abi_breaking);
	ck_assert(!api_change_breaking(h) && !api_change_breaking(added));
	/* No declaration is known, only the symbol, and the detail says so. */
	ck_assert_ptr_null(g->before);
	ck_assert_ptr_null(h->after);
	ck_assert_detail_has(g, "no debug info");
	ck_assert_detail_has(added, "no debug info");
	/* f and shared_v did not change. */
	for (size_t i = 0; i < d.n; i++) {
		ck_assert_str_ne(d.changes[i].name, "f");
		ck_assert_str_ne(d.changes[i].name, "shared_v");
	}
	api_diff_release(&d);
}
END_TEST

/* ---- what is not a report ------------------------------------------------------------------- */

static void check_abidiff_error(const char *fixture, const char *message)
{
	size_t len, slen;
	char *text = slurp(fixture, "txt", &len);
	char *status = slurp(fixture, "status", &slen);
	int st = (int)strtol(status, NULL, 10);
	ck_assert_msg(st & 3, "%s: abidiff's status %d has neither error bit", fixture, st);
	struct api_diff d;
	struct rp_error err;
	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(api_parse_abidiff(text, len, st, &d, &err), RP_EINVAL);
	ck_assert_msg(strstr(err.msg, message) != NULL, "'%s' lacks '%s'", err.msg, message);
	ck_assert_ptr_null(strchr(err.msg, '\n')); /* one line: abidiff's first */
	ck_assert_uint_eq(d.n, 0);
	api_diff_release(&d);
	free(text);
	free(status);
}

START_TEST(test_abidiff_error_status)
{
	check_abidiff_error("error_missing", "file missing.xml does not exist");
	check_abidiff_error("error_usage", "unrecognized option");
}
END_TEST

START_TEST(test_not_a_report)
{
	static const char text[] = "<html><body>502 Bad Gateway</body></html>\nretry later\n";
	struct api_diff d;
	struct rp_error err;
	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(api_parse_abidiff(text, strlen(text), 0, &d, &err), RP_EINVAL);
	ck_assert_msg(strstr(err.msg, "not an abidiff report") != NULL, "%s", err.msg);
	ck_assert_uint_eq(d.n, 0);
	api_diff_release(&d);
}
END_TEST

/* ---- the weaker method ------------------------------------------------------------------------- */

START_TEST(test_symbols_and_prototypes)
{
	static const char *const old_syms[] = { "ff", "f", "g", "h", "same", NULL };
	static const char *const new_syms[] = { "ff", "f", "h", "same", "k", NULL };
	/* ff's prototype changes and comes first: f's must not be taken for it. */
	static const char old_h[] = "#ifndef X_H\n#define X_H\n/* what ff does */\nint ff(char *s);\n"
				    "int f(int a);\nvoid g(void);\nint h(int x,\n      int y);\nint same(void);\n#endif\n";
	static const char new_h[] = "#ifndef X_H\n#define X_H\nint ff(const char *s);\nint f(int a);\n"
				    "int h(long x, int y);\nint same(void);\nint k(void);\n#endif\n";
	struct api_diff d;
	struct rp_error err;
	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(api_diff_symbols(old_syms, new_syms, old_h, new_h, &d, &err), 0);
	ck_assert_int_eq(d.weaker, 1);
	ck_assert_uint_eq(d.n, 4);
	const struct api_change *g = only(&d, API_FUNCTION_REMOVED, "g");
	ck_assert_str_eq(g->before, "void g(void)");
	ck_assert(g->api_breaking && g->abi_breaking);
	const struct api_change *h = only(&d, API_FUNCTION_CHANGED, "h");
	ck_assert_str_eq(h->before, "int h(int x, int y)"); /* over two lines, spaces squeezed */
	ck_assert_str_eq(h->after, "int h(long x, int y)");
	ck_assert(h->api_breaking && h->abi_breaking);
	const struct api_change *ff = only(&d, API_FUNCTION_CHANGED, "ff");
	ck_assert_str_eq(ff->before, "int ff(char *s)");
	ck_assert_str_eq(ff->after, "int ff(const char *s)");
	const struct api_change *k = only(&d, API_FUNCTION_ADDED, "k");
	ck_assert_str_eq(k->after, "int k(void)");
	ck_assert_int_eq(api_change_breaking(k), 0);
	for (size_t i = 0; i < d.n; i++) {
		ck_assert_str_ne(d.changes[i].name, "f");
		ck_assert_str_ne(d.changes[i].name, "same");
	}
	api_diff_release(&d);

	/* Without headers only the symbol tables count. */
	ck_assert_int_eq(api_diff_symbols(old_syms, new_syms, NULL, NULL, &d, &err), 0);
	ck_assert_int_eq(d.weaker, 1);
	ck_assert_uint_eq(d.n, 2);
	ck_assert_ptr_null(only(&d, API_FUNCTION_REMOVED, "g")->before);
	ck_assert_ptr_null(only(&d, API_FUNCTION_ADDED, "k")->after);
	api_diff_release(&d);
}
END_TEST

/* Variables apart from functions: a removed variable is one, not a function. */
START_TEST(test_symbols_variables_apart)
{
	static const char *const old_fns[] = {"f", NULL}, *const new_fns[] = {"f", NULL};
	static const char *const old_vars[] = {"counter", "gone", NULL}, *const new_vars[] = {"counter", "fresh", NULL};
	struct api_diff d;
	struct rp_error err;
	ck_assert_int_eq(api_diff_symbols_vars(old_fns, new_fns, old_vars, new_vars, NULL, NULL, &d, &err), 0);
	ck_assert_int_eq(d.weaker, 1);
	ck_assert_uint_eq(d.n, 2);
	const struct api_change *gone = only(&d, API_VARIABLE_REMOVED, "gone");
	ck_assert(gone->api_breaking && gone->abi_breaking);
	const struct api_change *fresh = only(&d, API_VARIABLE_ADDED, "fresh");
	ck_assert(!fresh->api_breaking && !fresh->abi_breaking);
	api_diff_release(&d);
}
END_TEST

/* ---- semver ------------------------------------------------------------------------------------ */

START_TEST(test_semver_addition_minor)
{
	struct api_diff d;
	struct api_semver sv;
	parse_fixture("fn_added", &d);
	api_semver_verdict(&d, "1.0.0", "1.1.0", &sv);
	ck_assert_int_eq(sv.parsed, 1);
	ck_assert_int_eq(sv.needed, API_BUMP_MINOR);
	ck_assert_int_eq(sv.made, API_BUMP_MINOR);
	ck_assert_int_eq(sv.enough, 1);
	ck_assert_msg(strstr(sv.why, "enough") && !strstr(sv.why, "NOT"), "%s", sv.why);
	/* A patch bump is too small for an addition. */
	api_semver_verdict(&d, "1.0.0", "1.0.1", &sv);
	ck_assert_int_eq(sv.made, API_BUMP_PATCH);
	ck_assert_int_eq(sv.enough, 0);
	api_diff_release(&d);
}
END_TEST

START_TEST(test_semver_break_needs_major)
{
	struct api_diff d;
	struct api_semver sv;
	parse_fixture("param_ptr", &d);
	api_semver_verdict(&d, "1.1.0", "1.2.0", &sv);
	ck_assert_int_eq(sv.parsed, 1);
	ck_assert_int_eq(sv.needed, API_BUMP_MAJOR);
	ck_assert_int_eq(sv.made, API_BUMP_MINOR);
	ck_assert_int_eq(sv.enough, 0);
	ck_assert_msg(strstr(sv.why, "NOT enough") != NULL, "%s", sv.why);
	api_semver_verdict(&d, "1.1.0", "2.0.0", &sv);
	ck_assert_int_eq(sv.made, API_BUMP_MAJOR);
	ck_assert_int_eq(sv.enough, 1);
	/* An ABI-only break (int -> long) needs major too. */
	api_diff_release(&d);
	parse_fixture("param_long", &d);
	api_semver_verdict(&d, "v1.1.0", "v1.2.0", &sv);
	ck_assert_int_eq(sv.parsed, 1);
	ck_assert_int_eq(sv.needed, API_BUMP_MAJOR);
	ck_assert_int_eq(sv.enough, 0);
	api_diff_release(&d);
}
END_TEST

START_TEST(test_semver_below_one)
{
	struct api_diff d;
	struct api_semver sv;
	parse_fixture("fn_removed", &d);
	api_semver_verdict(&d, "0.3.0", "0.4.0", &sv);
	ck_assert_int_eq(sv.parsed, 1);
	ck_assert_int_eq(sv.needed, API_BUMP_MINOR); /* below 1.0 the minor is the major */
	ck_assert_int_eq(sv.made, API_BUMP_MINOR);
	ck_assert_int_eq(sv.enough, 1);
	api_semver_verdict(&d, "0.3.0", "0.3.1", &sv);
	ck_assert_int_eq(sv.made, API_BUMP_PATCH);
	ck_assert_int_eq(sv.enough, 0);
	api_diff_release(&d);
}
END_TEST

START_TEST(test_semver_unparsable)
{
	struct api_diff d;
	struct api_semver sv;
	parse_fixture("fn_removed", &d);
	api_semver_verdict(&d, "release-7", "1.2.0", &sv);
	ck_assert_int_eq(sv.parsed, 0);
	ck_assert_int_eq(sv.needed, API_BUMP_MAJOR);
	ck_assert_int_eq(sv.enough, 0);
	ck_assert_msg(strstr(sv.why, "release-7") != NULL, "%s", sv.why);
	api_semver_verdict(&d, NULL, "2.0.0", &sv);
	ck_assert_int_eq(sv.parsed, 0);
	ck_assert_msg(strstr(sv.why, "unknown") != NULL, "%s", sv.why);
	api_semver_verdict(&d, "1", "2", &sv);
	ck_assert_int_eq(sv.parsed, 0);
	api_diff_release(&d);
	/* Nothing changed: nothing needed. */
	memset(&d, 0, sizeof(d));
	api_semver_verdict(&d, "1.0.0", "1.0.0", &sv);
	ck_assert_int_eq(sv.parsed, 1);
	ck_assert_int_eq(sv.needed, API_BUMP_NONE);
	ck_assert_int_eq(sv.made, API_BUMP_NONE);
	ck_assert_int_eq(sv.enough, 1);
}
END_TEST

/* ---- links to downstream failures -------------------------------------------------------------- */

/* A diff made by hand: changes named as abidiff would name them. */
static void push_change(struct api_diff *d, enum api_change_kind kind, const char *name, const char *detail, int api,
			int abi)
{
	struct api_change *more = realloc(d->changes, (d->n + 1) * sizeof(*more));
	ck_assert_ptr_nonnull(more);
	d->changes = more;
	struct api_change *c = &d->changes[d->n++];
	memset(c, 0, sizeof(*c));
	c->kind = kind;
	c->name = strdup(name);
	c->detail = detail ? strdup(detail) : NULL;
	c->api_breaking = api;
	c->abi_breaking = abi;
}

static long link_log(const struct api_diff *d, const char *log, struct api_link *links, size_t cap)
{
	struct rp_error err;
	memset(&err, 0, sizeof(err));
	long n = api_link_failure(d, log, strlen(log), links, cap, &err);
	ck_assert_msg(n >= 0, "%s", err.msg);
	return n;
}

START_TEST(test_link_gcc)
{
	struct api_diff d = { 0 };
	push_change(&d, API_FUNCTION_REMOVED, "cs_gone", NULL, 1, 1);
	push_change(&d, API_FUNCTION_CHANGED, "cs_get_be16", "parameter 3 of type 'uint16_t*' was added", 1, 1);
	push_change(&d, API_TYPE_CHANGED, "struct p", "size changed from 64 to 32 bits; member 'int y' removed", 1, 1);
	push_change(&d, API_FUNCTION_CHANGED, "cs_blit", "parameter 1 changed from 'int' to 'char*'", 1, 1);
	push_change(&d, API_TYPE_CHANGED, "cs_view", "member 'int len' changed", 1, 1);
	struct api_link links[8];
	/* gcc 12, LANG=C.UTF-8 (its quotes) and ld, as a step log stamps them. */
	const char *log = "[   0.102] cc -std=c11 -O2 -c -o src/dns.o src/dns.c\n"
			  "[   1.234] src/dns.c:40:9: error: too few arguments to function \xe2\x80\x98"
			  "cs_get_be16\xe2\x80\x99\n"
			  "[   1.234] src/dns.c:41:6: error: \xe2\x80\x98struct p\xe2\x80\x99 has no member named "
			  "\xe2\x80\x98y\xe2\x80\x99\n"
			  "[   1.240] src/dns.c:42:5: warning: passing argument 1 of \xe2\x80\x98"
			  "cs_blit\xe2\x80\x99 from incompatible pointer type [-Wincompatible-pointer-types]\n"
			  "[   1.250] src/dns.c:43:3: error: unknown type name \xe2\x80\x98"
			  "cs_view\xe2\x80\x99\n"
			  "[   2.001] /usr/bin/ld: src/dns.o: in function `decode':\n"
			  "[   2.001] dns.c:(.text+0x1e): undefined reference to `cs_gone'\n";
	long n = link_log(&d, log, links, 8);
	ck_assert_int_eq(n, 5);
	ck_assert_uint_eq(links[0].change, 0);
	ck_assert_str_eq(links[0].shape, "undefined reference");
	ck_assert_str_eq(links[0].line, "dns.c:(.text+0x1e): undefined reference to `cs_gone'");
	ck_assert_uint_eq(links[1].change, 1);
	ck_assert_str_eq(links[1].shape, "too few arguments");
	ck_assert_str_eq(links[1].line, "src/dns.c:40:9: error: too few arguments to function \xe2\x80\x98"
					"cs_get_be16\xe2\x80\x99");
	ck_assert_uint_eq(links[2].change, 2);
	ck_assert_str_eq(links[2].shape, "no member named");
	ck_assert_ptr_null(strchr(links[2].line, '['));
	ck_assert_uint_eq(links[3].change, 3);
	ck_assert_str_eq(links[3].shape, "incompatible pointer type");
	ck_assert_str_eq(links[3].line, "src/dns.c:42:5: warning: passing argument 1 of \xe2\x80\x98"
					"cs_blit\xe2\x80\x99 from incompatible pointer type [-Wincompatible-pointer-types]");
	ck_assert_uint_eq(links[4].change, 4);
	ck_assert_str_eq(links[4].shape, "unknown type name");
	/* The cap holds. */
	ck_assert_int_eq(link_log(&d, log, links, 2), 2);
	api_diff_release(&d);
}
END_TEST

START_TEST(test_link_gcc_ascii_and_implicit)
{
	struct api_diff d = { 0 };
	push_change(&d, API_FUNCTION_REMOVED, "cs_gone", NULL, 1, 1);
	struct api_link links[2];
	/* LANG=C quotes; the compiler's line comes first, the linker's later: the first is the link. */
	const char *log = "[   1.000] x.c:3:3: warning: implicit declaration of function 'cs_gone' "
			  "[-Wimplicit-function-declaration]\n"
			  "[   2.000] x.c:(.text+0x5): undefined reference to `cs_gone'\n";
	ck_assert_int_eq(link_log(&d, log, links, 2), 1);
	ck_assert_str_eq(links[0].shape, "implicit declaration");
	ck_assert_str_eq(links[0].line,
			 "x.c:3:3: warning: implicit declaration of function 'cs_gone' [-Wimplicit-function-declaration]");
	api_diff_release(&d);
}
END_TEST

START_TEST(test_link_clang)
{
	struct api_diff d = { 0 };
	push_change(&d, API_FUNCTION_REMOVED, "cs_gone", NULL, 1, 1);
	push_change(&d, API_TYPE_CHANGED, "struct p", "member 'int y' removed", 1, 1);
	push_change(&d, API_TYPE_CHANGED, "struct point", "size changed from 64 to 96 bits", 0, 1);
	push_change(&d, API_ENUM_CHANGED, "enum color", "enumerator color::BLUE removed", 1, 1);
	struct api_link links[8];
	const char *log = "x.c:3:3: warning: implicit declaration of function 'cs_gone' is invalid in C99 "
			  "[-Wimplicit-function-declaration]\n"
			  "x.c:8:5: error: no member named 'y' in 'struct p'\n"
			  "x.c:9:8: warning: incompatible pointer types passing 'struct point *' to parameter of type "
			  "'struct pt *' [-Wincompatible-pointer-types]\n"
			  "x.c:10:7: error: use of undeclared identifier 'BLUE'\n";
	ck_assert_int_eq(link_log(&d, log, links, 8), 4);
	ck_assert_str_eq(links[0].shape, "implicit declaration");
	ck_assert_uint_eq(links[1].change, 1);
	ck_assert_str_eq(links[1].shape, "no member named");
	ck_assert_str_eq(links[1].line, "x.c:8:5: error: no member named 'y' in 'struct p'");
	ck_assert_uint_eq(links[2].change, 2);
	ck_assert_str_eq(links[2].shape, "incompatible pointer type");
	ck_assert_uint_eq(links[3].change, 3);
	ck_assert_str_eq(links[3].shape, "undeclared");
	ck_assert_str_eq(links[3].line, "x.c:10:7: error: use of undeclared identifier 'BLUE'");
	api_diff_release(&d);
}
END_TEST

START_TEST(test_link_not_linked)
{
	struct api_diff d = { 0 };
	push_change(&d, API_FUNCTION_REMOVED, "f", NULL, 1, 1);
	push_change(&d, API_FUNCTION_ADDED, "g", NULL, 0, 0);	/* compatible: never the cause */
	push_change(&d, API_TYPE_CHANGED, "struct p", "member 'int y' added", 0, 1);
	struct api_link links[4];
	/* Every shape, but naming ff, gf or f_2, never f; and the compatible g named plainly. */
	const char *log = "[   1.000] a.c:1:1: warning: implicit declaration of function 'ff'; did you mean 'f'? "
			  "[-Wimplicit-function-declaration]\n"
			  "[   1.100] a.c:2:1: error: too few arguments to function 'ff'\n"
			  "[   1.100] a.c:3:1: error: too many arguments to function 'gf'\n"
			  "[   1.200] a.c:4:1: warning: passing argument 1 of 'ff' from incompatible pointer type "
			  "[-Wincompatible-pointer-types]\n"
			  "[   1.300] a.c:5:1: error: unknown type name 'f_2'\n"
			  "[   1.400] a.c:6:1: warning: implicit declaration of function 'g'\n"
			  "[   1.500] a.c:7:1: error: 'struct q' has no member named 'yy'\n"
			  "[   2.000] a.c:(.text+0x1): undefined reference to `ff'\n";
	ck_assert_int_eq(link_log(&d, log, links, 4), 0);
	/* The same log with f itself: linked. */
	const char *real = "[   1.100] a.c:2:1: error: too few arguments to function 'f'\n";
	ck_assert_int_eq(link_log(&d, real, links, 4), 1);
	ck_assert_uint_eq(links[0].change, 0);
	ck_assert_str_eq(links[0].line, "a.c:2:1: error: too few arguments to function 'f'");
	api_diff_release(&d);
}
END_TEST

/* ---- renderers --------------------------------------------------------------------------------- */

START_TEST(test_json_shape)
{
	struct api_diff d;
	parse_fixture("variables", &d);
	json_t *doc = api_diff_json(&d);
	ck_assert_ptr_nonnull(doc);
	ck_assert(json_is_false(json_object_get(doc, "weaker")));
	json_t *changes = json_object_get(doc, "changes");
	ck_assert(json_is_array(changes));
	ck_assert_uint_eq(json_array_size(changes), d.n);
	static const char *const keys[] = { "kind", "name", "before", "after", "detail", "api_breaking", "abi_breaking", "where" };
	for (size_t i = 0; i < json_array_size(changes); i++) {
		json_t *c = json_array_get(changes, i);
		ck_assert_uint_eq(json_object_size(c), sizeof(keys) / sizeof(keys[0]));
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			ck_assert_msg(json_object_get(c, keys[k]) != NULL, "change %zu has no %s", i, keys[k]);
		ck_assert_str_eq(json_string_value(json_object_get(c, "kind")), api_change_kind_name(d.changes[i].kind));
		ck_assert_str_eq(json_string_value(json_object_get(c, "name")), d.changes[i].name);
		ck_assert(json_is_boolean(json_object_get(c, "api_breaking")));
		ck_assert_int_eq(json_is_true(json_object_get(c, "api_breaking")), d.changes[i].api_breaking);
		ck_assert_int_eq(json_is_true(json_object_get(c, "abi_breaking")), d.changes[i].abi_breaking);
	}
	json_t *removed = json_array_get(changes, 0);
	ck_assert_str_eq(json_string_value(json_object_get(removed, "kind")), "variable removed");
	ck_assert_str_eq(json_string_value(json_object_get(removed, "before")), "int gone");
	ck_assert(json_is_null(json_object_get(removed, "after")));
	ck_assert(json_is_null(json_object_get(removed, "where")));
	json_t *changed = json_array_get(changes, 2);
	ck_assert_str_eq(json_string_value(json_object_get(changed, "after")), "long int counter");
	ck_assert_str_eq(json_string_value(json_object_get(changed, "where")), "v2.c:1:1");
	json_decref(doc);
	api_diff_release(&d);

	/* weaker is said, and an empty diff is an empty list. */
	static const char *const none[] = { NULL };
	struct rp_error err;
	ck_assert_int_eq(api_diff_symbols(none, none, NULL, NULL, &d, &err), 0);
	doc = api_diff_json(&d);
	ck_assert(json_is_true(json_object_get(doc, "weaker")));
	ck_assert_uint_eq(json_array_size(json_object_get(doc, "changes")), 0);
	json_decref(doc);
	api_diff_release(&d);
}
END_TEST

static char *markdown(const struct api_diff *d, const struct api_semver *sv)
{
	char *text = NULL;
	size_t size = 0;
	FILE *mem = open_memstream(&text, &size);
	struct rp_error err;
	ck_assert_ptr_nonnull(mem);
	ck_assert_int_eq(api_diff_markdown(mem, "lib: API changes from `a` to b", d, sv, &err), 0);
	ck_assert_int_eq(fclose(mem), 0);
	return text;
}

START_TEST(test_markdown)
{
	struct api_diff d;
	struct api_semver sv;
	parse_fixture("variables", &d); /* one compatible change between two breaking ones */
	api_semver_verdict(&d, "1.1.0", "1.2.0", &sv);
	char *md = markdown(&d, &sv);
	ck_assert_msg(strncmp(md, "## lib: API changes from 'a' to b\n", 34) == 0, "%s", md);
	const char *brk = strstr(md, "### Breaking (2)"), *cmp = strstr(md, "### Compatible (1)");
	ck_assert_msg(brk && cmp && brk < cmp, "%s", md);
	const char *gone = strstr(md, "`int gone`"), *counter = strstr(md, "`long int counter`"),
		   *fresh = strstr(md, "`int fresh`");
	ck_assert_msg(gone && counter && fresh, "%s", md);
	ck_assert(brk < gone && gone < cmp && brk < counter && counter < cmp && cmp < fresh);
	const char *semver = strstr(md, "\n**Semver: ");
	ck_assert_msg(semver && semver < brk, "%s", md);
	ck_assert_msg(strstr(md, "NOT enough**\n") && strstr(semver, "1.1.0") < strstr(semver, "1.2.0"), "%s", md);
	ck_assert_ptr_null(strstr(md, "_Compared by exported symbols"));
	free(md);
	api_diff_release(&d);

	/* Nothing changed; and the weaker method says so. */
	static const char *const syms[] = { "f", NULL };
	struct rp_error err;
	ck_assert_int_eq(api_diff_symbols(syms, syms, NULL, NULL, &d, &err), 0);
	md = markdown(&d, NULL);
	ck_assert_msg(strstr(md, "No API or ABI change.") && strstr(md, "_Compared by exported symbols and header prototypes"),
		      "%s", md);
	ck_assert_ptr_null(strstr(md, "###"));
	ck_assert_ptr_null(strstr(md, "Semver"));
	free(md);
	api_diff_release(&d);
}
END_TEST

static Suite *api_suite(void)
{
	Suite *s = suite_create("api");
	TCase *parse = tcase_create("abidiff");
	tcase_add_test(parse, test_function_removed);
	tcase_add_test(parse, test_function_added);
	tcase_add_test(parse, test_parameter_int_to_long);
	tcase_add_test(parse, test_parameter_int_to_pointer);
	tcase_add_test(parse, test_parameter_added);
	tcase_add_test(parse, test_return_type_changed);
	tcase_add_test(parse, test_struct_grows_once);
	tcase_add_test(parse, test_struct_grows_reached_twice);
	tcase_add_test(parse, test_member_removed);
	tcase_add_test(parse, test_enumerator_inserted);
	tcase_add_test(parse, test_enumerator_value_changed);
	tcase_add_test(parse, test_enumerator_removed);
	tcase_add_test(parse, test_variables);
	tcase_add_test(parse, test_soname_changed);
	tcase_add_test(parse, test_symbol_version);
	tcase_add_test(parse, test_no_debug_info_symbols);
	tcase_add_test(parse, test_abidiff_error_status);
	tcase_add_test(parse, test_not_a_report);
	suite_add_tcase(s, parse);
	TCase *weaker = tcase_create("weaker");
	tcase_add_test(weaker, test_symbols_and_prototypes);
	tcase_add_test(weaker, test_symbols_variables_apart);
	suite_add_tcase(s, weaker);
	TCase *semver = tcase_create("semver");
	tcase_add_test(semver, test_semver_addition_minor);
	tcase_add_test(semver, test_semver_break_needs_major);
	tcase_add_test(semver, test_semver_below_one);
	tcase_add_test(semver, test_semver_unparsable);
	suite_add_tcase(s, semver);
	TCase *link = tcase_create("link");
	tcase_add_test(link, test_link_gcc);
	tcase_add_test(link, test_link_gcc_ascii_and_implicit);
	tcase_add_test(link, test_link_clang);
	tcase_add_test(link, test_link_not_linked);
	suite_add_tcase(s, link);
	TCase *render = tcase_create("render");
	tcase_add_test(render, test_json_shape);
	tcase_add_test(render, test_markdown);
	suite_add_tcase(s, render);
	return s;
}

int main(void)
{
	return check_run_suite(api_suite());
}
