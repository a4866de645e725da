/*
 * Unit tests of crash signatures. The logs are real: tests/fixtures/crash/
 * holds small C and C++ programs with one bug each, built with clang and
 * libFuzzer, ASan, LSan or UBSan and run twice by make.sh there (NAME.log,
 * NAME.rerun.log: other addresses, PIDs, seeds, inputs found). Fixed strings
 * cover report shapes these programs cannot give on one machine.
 */
#define _GNU_SOURCE
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reports/crash.h"
#include "check_main.h"
#include "core/banned.h"

/* The fixture's bytes in a buffer of exactly their size (no NUL after them). */
static char *slurp(const char *name, size_t *len)
{
	const char *dir = getenv("RIPPLE_TEST_FIXTURES");
	char path[4096];
	ck_assert_msg(dir != NULL, "RIPPLE_TEST_FIXTURES is not set");
	snprintf(path, sizeof(path), "%s/crash/%s", dir, name);
	FILE *fp = fopen(path, "rb");
	ck_assert_msg(fp != NULL, "cannot open %s", path);
	ck_assert_int_eq(fseek(fp, 0, SEEK_END), 0);
	long size = ftell(fp);
	ck_assert_int_gt(size, 0);
	rewind(fp);
	char *text = malloc((size_t)size);
	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(fread(text, 1, (size_t)size, fp), (size_t)size);
	fclose(fp);
	*len = (size_t)size;
	return text;
}

static void parse_file(const char *name, struct crash_info *c, int expect)
{
	size_t len;
	char *text = slurp(name, &len);
	ck_assert_int_eq(crash_parse(text, len, c), expect);
	free(text);
}

struct expected {
	const char *name; /* NAME.log and NAME.rerun.log */
	const char *kind, *access;
	size_t n_frames;
	const char *frames[CRASH_FRAMES];
	const char *location; /* a prefix for "timeout": where the loop is interrupted varies */
	const char *signature;
};

static const struct expected fixtures[] = {
    {"stack_overflow", "stack-overflow", "", 3, {"decode_labels", "decode_labels", "decode_labels"},
     "/src/stack_overflow.c:8", "stack-overflow in decode_labels < decode_labels < decode_labels"},
    {"heap_overflow", "heap-buffer-overflow", "READ 4", 2, {"read_u32", "parse_header"},
     "/src/heap_overflow.c:10:2", "heap-buffer-overflow READ 4 in read_u32 < parse_header"},
    {"use_after_free", "heap-use-after-free", "WRITE 1", 2, {"mark_closed", "drop_session"},
     "/src/use_after_free.c:12:12", "heap-use-after-free WRITE 1 in mark_closed < drop_session"},
    {"null_deref", "SEGV", "READ", 1, {"value_of"}, "/src/null_deref.c:23:21", "SEGV READ in value_of"},
    {"abort", "abort", "", 2, {"check_record", "handle_record"}, "/src/abort.c:10:3",
     "abort in check_record < handle_record"},
    {"leak", "leak", "", 2, {"make_node", "build_list"}, "/src/leak.c:12:19", "leak in make_node < build_list"},
    {"ubsan_overflow", "ubsan: signed-integer-overflow", "", 2, {"add_weight", "checksum"},
     "/src/ubsan_overflow.c:10:13", "ubsan: signed-integer-overflow in add_weight < checksum"},
    {"ubsan_shift", "ubsan: invalid-shift-exponent", "", 0, {NULL}, "ubsan_shift.c:7:13",
     "ubsan: invalid-shift-exponent"},
    {"timeout", "timeout", "", 1, {"skip_options"}, "/src/timeout.c:", "timeout in skip_options"},
    {"oom", "out-of-memory", "", 1, {"alloc_table"}, "/src/oom.c:9:15", "out-of-memory in alloc_table"},
    {"rss", "out-of-memory", "", 1, {"cache_insert"}, "/src/rss.c:14:20", "out-of-memory in cache_insert"},
    {"asan_oom", "out-of-memory", "", 1, {"reserve_journal"}, "/src/asan_oom.c:8:9",
     "out-of-memory in reserve_journal"},
    {"cxx_overflow", "heap-buffer-overflow", "READ 2", 2, {"wire::load<unsigned short>", "wire::Reader::u16_at"},
     "/src/cxx_overflow.cc:14:2", "heap-buffer-overflow READ 2 in wire::load<unsigned short> < wire::Reader::u16_at"},
};
#define N_FIXTURES (sizeof(fixtures) / sizeof(fixtures[0]))

static void check_expected(const struct expected *e, const char *file)
{
	struct crash_info c;
	parse_file(file, &c, 1);
	ck_assert_msg(strcmp(c.kind, e->kind) == 0, "%s: kind '%s'", file, c.kind);
	ck_assert_msg(strcmp(c.access, e->access) == 0, "%s: access '%s'", file, c.access);
	ck_assert_msg(c.n_frames == e->n_frames, "%s: %zu frames (%s)", file, c.n_frames, c.signature);
	for (size_t i = 0; i < e->n_frames; i++)
		ck_assert_msg(strcmp(c.frames[i], e->frames[i]) == 0, "%s: frame %zu '%s'", file, i, c.frames[i]);
	if (strcmp(e->name, "timeout") == 0)
		ck_assert_msg(strncmp(c.location, e->location, strlen(e->location)) == 0, "%s: location '%s'", file,
			      c.location);
	else
		ck_assert_msg(strcmp(c.location, e->location) == 0, "%s: location '%s'", file, c.location);
	ck_assert_msg(strcmp(c.signature, e->signature) == 0, "%s: signature '%s'", file, c.signature);
}

START_TEST(test_fixture)
{
	const struct expected *e = &fixtures[_i];
	char file[128];
	snprintf(file, sizeof(file), "%s.log", e->name);
	check_expected(e, file);
}
END_TEST

/* The second run of the same bug: other addresses, PID, seed, input; the same signature. */
START_TEST(test_fixture_rerun)
{
	const struct expected *e = &fixtures[_i];
	char file[128];
	struct crash_info a, b;
	snprintf(file, sizeof(file), "%s.log", e->name);
	parse_file(file, &a, 1);
	snprintf(file, sizeof(file), "%s.rerun.log", e->name);
	parse_file(file, &b, 1);
	ck_assert_str_eq(a.signature, b.signature);
	check_expected(e, file);
	/* ... although the logs differ (but UBSan's defaults print no PID or address). */
	if (strcmp(e->name, "ubsan_shift") == 0)
		return;
	size_t la, lb;
	char *ta = slurp(file, &lb);
	snprintf(file, sizeof(file), "%s.log", e->name);
	char *tb = slurp(file, &la);
	ck_assert(la != lb || memcmp(ta, tb, la) != 0);
	free(ta);
	free(tb);
}
END_TEST

START_TEST(test_different_bugs_differ)
{
	struct crash_info c[N_FIXTURES];
	for (size_t i = 0; i < N_FIXTURES; i++) {
		char file[128];
		snprintf(file, sizeof(file), "%s.log", fixtures[i].name);
		parse_file(file, &c[i], 1);
	}
	for (size_t i = 0; i < N_FIXTURES; i++)
		for (size_t j = i + 1; j < N_FIXTURES; j++)
			ck_assert_msg(strcmp(c[i].signature, c[j].signature) != 0, "%s and %s: '%s'", fixtures[i].name,
				      fixtures[j].name, c[i].signature);
	/* No address, path, line number or PID in a signature. */
	for (size_t i = 0; i < N_FIXTURES; i++) {
		ck_assert_ptr_null(strstr(c[i].signature, "0x"));
		ck_assert_ptr_null(strchr(c[i].signature, '/'));
		ck_assert_ptr_null(strstr(c[i].signature, ".c:"));
		ck_assert_ptr_null(strstr(c[i].signature, "=="));
	}
}
END_TEST

START_TEST(test_no_crash)
{
	static const struct crash_info empty;
	struct crash_info c;
	parse_file("no_crash.log", &c, 0);
	ck_assert_int_eq(memcmp(&c, &empty, sizeof(c)), 0);
	parse_file("no_crash.rerun.log", &c, 0);
	ck_assert_int_eq(crash_parse("", 0, &c), 0);
	ck_assert_int_eq(crash_parse(NULL, 0, &c), 0);
	const char *plain = "make: Nothing to be done for 'all'.\nSUMMARY: 3 tests passed\n#1 is a heading\n";
	ck_assert_int_eq(crash_parse(plain, strlen(plain), &c), 0);
}
END_TEST

static void check_bounded(const struct crash_info *c)
{
	ck_assert_uint_lt(strnlen(c->kind, sizeof(c->kind)), sizeof(c->kind));
	ck_assert_uint_lt(strnlen(c->access, sizeof(c->access)), sizeof(c->access));
	ck_assert_uint_le(c->n_frames, CRASH_FRAMES);
	for (size_t i = 0; i < CRASH_FRAMES; i++)
		ck_assert_uint_lt(strnlen(c->frames[i], sizeof(c->frames[i])), sizeof(c->frames[i]));
	ck_assert_uint_lt(strnlen(c->location, sizeof(c->location)), sizeof(c->location));
	ck_assert_uint_lt(strnlen(c->signature, sizeof(c->signature)), sizeof(c->signature));
}

/*
 * Every prefix of every log, each in a buffer of exactly its length (so the
 * sanitizers of a CI build catch a read past `len`): no crash, bounded
 * strings, and a prefix cut inside the stack gives fewer frames, not others.
 */
START_TEST(test_truncated)
{
	const struct expected *e = &fixtures[_i];
	char file[128];
	size_t len;
	snprintf(file, sizeof(file), "%s.log", e->name);
	char *text = slurp(file, &len);
	size_t step = len / 997 + 1;
	for (size_t n = 0; n <= len; n += step) {
		char *cut = malloc(n ? n : 1);
		ck_assert_ptr_nonnull(cut);
		memcpy(cut, text, n);
		struct crash_info c;
		int r = crash_parse(cut, n, &c);
		ck_assert(r == 0 || r == 1);
		check_bounded(&c);
		if (r == 1 && strcmp(c.kind, e->kind) == 0 && strcmp(e->name, "timeout") != 0)
			for (size_t i = 0; i < c.n_frames; i++)
				ck_assert_msg(strncmp(c.frames[i], e->frames[i], strlen(c.frames[i])) == 0,
					      "%s cut at %zu: frame '%s'", file, n, c.frames[i]);
		free(cut);
	}
	free(text);
}
END_TEST

START_TEST(test_garbage)
{
	size_t len = 1 << 20;
	char *g = malloc(len);
	struct crash_info c;
	uint32_t x = 12345;
	ck_assert_ptr_nonnull(g);
	/* Random bytes, NULs included. */
	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		g[i] = (char)(x >> 16);
	}
	ck_assert(crash_parse(g, len, &c) <= 1);
	check_bounded(&c);
	/* A header, then a megabyte of one line: a frame of a huge name. */
	const char *hdr = "==1==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x1\n    #0 0x1 in ";
	memcpy(g, hdr, strlen(hdr));
	memset(g + strlen(hdr), 'f', len - strlen(hdr));
	g[len - 1] = '\n';
	ck_assert_int_eq(crash_parse(g, len, &c), 1);
	check_bounded(&c);
	ck_assert_str_eq(c.kind, "heap-buffer-overflow");
	ck_assert_uint_eq(c.n_frames, 1);
	ck_assert_uint_eq(strlen(c.frames[0]), CRASH_FRAME_MAX - 1);
	/* A kind longer than its field; frames of deep parentheses and angles. */
	size_t o = 0;
	o += (size_t)snprintf(g, len, "==1==ERROR: AddressSanitizer: ");
	memset(g + o, 'k', 300);
	o += 300;
	g[o++] = '\n';
	for (int i = 0; i < 1000; i++)
		o += (size_t)snprintf(g + o, len - o, "#%d 0x1 in f<<<<(((((%d (a.out+0x1)\n", i, i);
	ck_assert_int_eq(crash_parse(g, o, &c), 1);
	check_bounded(&c);
	ck_assert_uint_eq(strlen(c.kind), CRASH_KIND_MAX - 1);
	/* Only frame lines, no header. */
	o = 0;
	for (int i = 0; i < 1000; i++)
		o += (size_t)snprintf(g + o, len - o, "    #%d 0x1 in f /a.c:1:1\n", i);
	ck_assert_int_eq(crash_parse(g, o, &c), 0);
	free(g);
}
END_TEST

static void parse_str(const char *text, struct crash_info *c)
{
	ck_assert_int_eq(crash_parse(text, strlen(text), c), 1);
}

/* Report shapes the fixtures do not have. */
START_TEST(test_report_shapes)
{
	struct crash_info c;

	/* libFuzzer's deadly signal without abort on the stack (no ASan: a SEGV). */
	parse_str("==7== ERROR: libFuzzer: deadly signal\n"
		  "    #0 0x55 in __sanitizer_print_stack_trace (/src/t+0xe8ce1)\n"
		  "    #1 0x55 in fuzzer::PrintStackTrace() (/src/t+0x5b638)\n"
		  "    #2 0x55 in fuzzer::Fuzzer::CrashCallback() (/src/t+0x40f03)\n"
		  "    #3 0x7f  (/lib/x86_64-linux-gnu/libc.so.6+0x3c04f)\n"
		  "    #4 0x55 in parse /src/t.c:5:3\n"
		  "    #5 0x55 in LLVMFuzzerTestOneInput /src/t.c:9:2\n"
		  "    #6 0x55 in fuzzer::Fuzzer::ExecuteCallback(unsigned char const*, unsigned long) (/src/t+0x1)\n"
		  "SUMMARY: libFuzzer: deadly signal\n",
		  &c);
	ck_assert_str_eq(c.signature, "deadly signal in parse");

	/*
	 * A stack overflow starts at its recursion: where the stack ran out (in a
	 * helper the recursive function calls, or in it) varies from run to run.
	 */
	parse_str("==7==ERROR: AddressSanitizer: stack-overflow on address 0x7ffd (pc 0x55 bp 0x7 sp 0x7 T0)\n"
		  "    #0 0x55 in cs_get_u8 /src/cstruct.c:30:9\n"
		  "    #1 0x55 in decode_labels /src/src/dns.c:41:13\n"
		  "    #2 0x55 in decode_labels /src/src/dns.c:52:16\n"
		  "    #3 0x55 in decode_labels /src/src/dns.c:52:16\n"
		  "    #4 0x55 in decode_labels /src/src/dns.c:52:16\n"
		  "SUMMARY: AddressSanitizer: stack-overflow /src/cstruct.c:30:9 in cs_get_u8\n",
		  &c);
	ck_assert_str_eq(c.signature, "stack-overflow in decode_labels < decode_labels < decode_labels");
	ck_assert_str_eq(c.location, "/src/src/dns.c:41:13");
	/* Mutual recursion: the first function that comes round again. */
	parse_str("==7==ERROR: AddressSanitizer: stack-overflow on address 0x7ffd (pc 0x55 bp 0x7 sp 0x7 T0)\n"
		  "    #0 0x55 in memcpy_like /src/t.c:3:9\n"
		  "    #1 0x55 in even /src/t.c:8:9\n"
		  "    #2 0x55 in odd /src/t.c:12:9\n"
		  "    #3 0x55 in even /src/t.c:8:9\n",
		  &c);
	ck_assert_str_eq(c.signature, "stack-overflow in even < odd < even");
	/* Other kinds keep their top frames. */
	parse_str("==7==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x6 at pc 0x5 bp 0x7 sp 0x7\n"
		  "READ of size 1 at 0x6 thread T0\n"
		  "    #0 0x55 in get /src/t.c:3:9\n"
		  "    #1 0x55 in walk /src/t.c:8:9\n"
		  "    #2 0x55 in walk /src/t.c:8:9\n",
		  &c);
	ck_assert_str_eq(c.signature, "heap-buffer-overflow READ 1 in get < walk < walk");

	/* A bug in the fuzz target itself: LLVMFuzzerTestOneInput is all there is. */
	parse_str("==7==ERROR: AddressSanitizer: global-buffer-overflow on address 0x5 at pc 0x5 bp 0x7 sp 0x7\n"
		  "WRITE of size 8 at 0x5 thread T0\n"
		  "    #0 0x55 in __asan_memset (/src/t+0xa1)\n"
		  "    #1 0x55 in LLVMFuzzerTestOneInput /src/t.c:9:2\n"
		  "    #2 0x55 in main (/src/t+0x5be72)\n",
		  &c);
	ck_assert_str_eq(c.signature, "global-buffer-overflow WRITE 8 in LLVMFuzzerTestOneInput");
	ck_assert_str_eq(c.location, "/src/t.c:9:2");

	/* A recovered UBSan error before ASan's: the fatal report wins. */
	parse_str("t.c:3:5: runtime error: load of misaligned address 0x1 for type 'int'\n"
		  "SUMMARY: UndefinedBehaviorSanitizer: undefined-behavior t.c:3:5 in\n"
		  "==9==ERROR: AddressSanitizer: attempting double-free on 0x6 in thread T0:\n"
		  "    #0 0x55 in free (/src/t+0xa2ea2)\n"
		  "    #1 0x55 in release /src/t.c:12:2\n"
		  "    #2 0x55 in main /src/t.c:20:2\n",
		  &c);
	ck_assert_str_eq(c.signature, "double-free in release");
	/* Alone, it is the report; UBSan's SUMMARY names the check when report_error_type=1. */
	parse_str("t.c:3:5: runtime error: load of misaligned address 0x1 for type 'int'\n"
		  "SUMMARY: UndefinedBehaviorSanitizer: undefined-behavior t.c:3:5 in\n",
		  &c);
	ck_assert_str_eq(c.signature, "ubsan: misaligned-pointer-use");
	parse_str("t.c:3:5: runtime error: index 5 out of bounds for type 'int [4]'\n"
		  "SUMMARY: UndefinedBehaviorSanitizer: out-of-bounds-index t.c:3:5 in\n",
		  &c);
	ck_assert_str_eq(c.kind, "ubsan: out-of-bounds-index");
	ck_assert_str_eq(c.location, "t.c:3:5");

	/* ASan's SIGABRT, and a crash in main of a plain program. */
	parse_str("==1==ERROR: AddressSanitizer: ABRT on unknown address 0x03e8 (pc 0x7f bp 0x1 sp 0x1 T0)\n"
		  "    #0 0x7f in __pthread_kill_implementation nptl/./nptl/pthread_kill.c:43:17\n"
		  "    #1 0x7f in raise signal/../sysdeps/posix/raise.c:26:13\n"
		  "    #2 0x7f in abort stdlib/./stdlib/abort.c:79:7\n"
		  "    #3 0x7f in __assert_fail_base assert/assert.c:92:3\n"
		  "    #4 0x55 in main /src/m.c:4:2\n"
		  "    #5 0x7f in __libc_start_call_main csu/../sysdeps/nptl/libc_start_call_main.h:58:16\n",
		  &c);
	ck_assert_str_eq(c.signature, "abort in main");

	/* Frames beyond CRASH_FRAMES, glibc's string functions and libc frames skipped. */
	parse_str("==1==ERROR: AddressSanitizer: SEGV on unknown address 0x000000000000 (pc 0x7f T0)\n"
		  "==1==The signal is caused by a WRITE memory access.\n"
		  "    #0 0x7f in __memmove_avx_unaligned_erms string/../sysdeps/x86_64/multiarch/memmove.S:314\n"
		  "    #1 0x55 in __asan_memcpy /build/llvm-14/compiler-rt/lib/asan/asan_interceptors.cpp:22:3\n"
		  "    #2 0x55 in a /src/x.c:1:1\n"
		  "    #3 0x55 in b.part.0 /src/x.c:2:1\n"
		  "    #4 0x55 in c.isra.0 /src/x.c:3:1\n"
		  "    #5 0x55 in d /src/x.c:4:1\n",
		  &c);
	ck_assert_str_eq(c.signature, "SEGV WRITE in a < b < c");

	/* Unsymbolized program frames count with an empty location. */
	parse_str("==1==ERROR: AddressSanitizer: SEGV on unknown address 0x000000000010 (pc 0x5 T0)\n"
		  "==1==The signal is caused by a UNKNOWN memory access.\n"
		  "    #0 0x55 in lookup (/usr/lib/libfoo.so.1+0x1234)\n"
		  "    #1 0x55 in caller+0x1c (/usr/lib/libfoo.so.1+0x1300) (BuildId: 0123abcd)\n",
		  &c);
	ck_assert_str_eq(c.signature, "SEGV in lookup < caller");
	ck_assert_str_eq(c.location, "");

	/* libFuzzer's older RSS message. */
	parse_str("==2== ERROR: libFuzzer: out-of-memory (used: 2049Mb; exceeds: 2048Mb)\n"
		  "SUMMARY: libFuzzer: out-of-memory\n",
		  &c);
	ck_assert_str_eq(c.signature, "out-of-memory");
	/* CRLF line ends, as a log saved on another system might have. */
	parse_str("==1==ERROR: AddressSanitizer: stack-use-after-return on address 0x7f\r\n"
		  "READ of size 1 at 0x7f thread T0\r\n"
		  "    #0 0x55 in peek /src/x.c:1:1\r\n",
		  &c);
	ck_assert_str_eq(c.signature, "stack-use-after-return READ 1 in peek");
	ck_assert_str_eq(c.location, "/src/x.c:1:1");
}
END_TEST

static void check_clean(const char *in, const char *want)
{
	char out[CRASH_FRAME_MAX];
	size_t n = crash__clean_function(in, strlen(in), out, sizeof(out));
	ck_assert_msg(strcmp(out, want) == 0, "'%s' -> '%s', not '%s'", in, out, want);
	ck_assert_uint_eq(n, strlen(out));
}

START_TEST(test_clean_function)
{
	check_clean("decode_labels", "decode_labels");
	check_clean("wire::Reader::u16_at(unsigned long) const", "wire::Reader::u16_at");
	check_clean("unsigned short wire::load<unsigned short>(unsigned char const*)", "wire::load<unsigned short>");
	check_clean("(anonymous namespace)::Parser::next(int)", "(anonymous namespace)::Parser::next");
	check_clean("decode(unsigned char const*)::$_0::operator()(int) const", "decode::$_0::operator()");
	check_clean("std::vector<int, std::allocator<int> >::operator[](unsigned long)",
		    "std::vector<int, std::allocator<int> >::operator[]");
	check_clean("operator new(unsigned long)", "operator new");
	check_clean("operator delete[](void*)", "operator delete[]");
	check_clean("bool operator<<int>(Box<int> const&, Box<int> const&)", "operator<<int>");
	check_clean("std::function<void (int)>::operator()(int) const", "std::function<void (int)>::operator()");
	check_clean("Foo::get() &&", "Foo::get");
	check_clean("parse_record.part.0", "parse_record");
	check_clean("scan.constprop.3.isra.0", "scan");
	check_clean("handler.cold", "handler");
	check_clean("step.llvm.1234567", "step");
	check_clean("lookup+0x1c", "lookup");
	/* Cut to fit. */
	char small[8];
	ck_assert_uint_eq(crash__clean_function("abcdefghijkl", 12, small, sizeof(small)), 7);
	ck_assert_str_eq(small, "abcdefg");
}
END_TEST

static Suite *crash_suite(void)
{
	Suite *s = suite_create("crash");
	TCase *fx = tcase_create("fixtures");
	tcase_add_loop_test(fx, test_fixture, 0, N_FIXTURES);
	tcase_add_loop_test(fx, test_fixture_rerun, 0, N_FIXTURES);
	tcase_add_test(fx, test_different_bugs_differ);
	tcase_add_test(fx, test_no_crash);
	suite_add_tcase(s, fx);
	TCase *bad = tcase_create("bad input");
	tcase_add_loop_test(bad, test_truncated, 0, N_FIXTURES);
	tcase_add_test(bad, test_garbage);
	suite_add_tcase(s, bad);
	TCase *shapes = tcase_create("shapes");
	tcase_add_test(shapes, test_report_shapes);
	tcase_add_test(shapes, test_clean_function);
	suite_add_tcase(s, shapes);
	return s;
}

int main(void)
{
	return check_run_suite(crash_suite());
}
