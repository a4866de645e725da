/*
 * crash.c — crash signatures from sanitizer and libFuzzer reports.
 *
 * One pass finds the report's header line (the first fatal one, else the
 * first UBSan runtime error); a second, bounded walk from there reads the
 * access line, the first stack and, for UBSan, the SUMMARY. Lines are never
 * copied whole: every field is cut into its fixed-size buffer. Frames follow
 * the sanitizers' default stack_trace_format, "#N 0xPC in FUNCTION LOCATION",
 * where LOCATION is "file:line[:col]" or "(module+0xoff)", optionally followed
 * by " (BuildId: ...)". A last line without its '\n' is taken as cut short
 * (a log capped by the runner) and ignored: half a frame would name another
 * function.
 */
#define _GNU_SOURCE
#include "reports/crash.h"

#include <stdio.h>
#include <string.h>

#include "core/banned.h"

/* Lines after the header within which the stack must start (heap profiles of
 * libFuzzer's RSS limit come after a few lines of their own). */
#define CRASH__STACK_WITHIN 64
/* Lines after the stack within which UBSan's SUMMARY is looked for. */
#define CRASH__SUMMARY_WITHIN 8

enum crash__report {
	R_NONE,
	R_ASAN,	  /* ERROR: AddressSanitizer: / HWAddressSanitizer: */
	R_LSAN,	  /* ERROR: LeakSanitizer: */
	R_MSAN,	  /* MemorySanitizer: */
	R_FUZZER, /* ERROR: libFuzzer: */
	R_UBSAN,  /* FILE:LINE:COL: runtime error: MSG */
};

struct crash__line {
	const char *p;
	size_t n;
	int cut; /* the text ends in this line, with no '\n': it may be cut short */
};

/* ---- small bounded string helpers ---- */

static const char *crash__find(const char *p, size_t n, const char *needle)
{
	return memmem(p, n, needle, strlen(needle));
}

static int crash__starts(const char *p, size_t n, const char *prefix)
{
	size_t k = strlen(prefix);
	return n >= k && memcmp(p, prefix, k) == 0;
}

static int crash__equals(const char *p, size_t n, const char *s)
{
	return strlen(s) == n && memcmp(p, s, n) == 0;
}

/* Copies p[0..n) into out (size bytes), cut to fit, control bytes as '?'. */
static void crash__copy(char *out, size_t size, const char *p, size_t n)
{
	if (n >= size)
		n = size - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = (unsigned char)p[i] < 0x20 || p[i] == 0x7f ? '?' : p[i];
	out[n] = '\0';
}

static void crash__trim(const char **p, size_t *n)
{
	while (*n > 0 && (**p == ' ' || **p == '\t')) {
		(*p)++;
		(*n)--;
	}
	while (*n > 0 && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t' || (*p)[*n - 1] == '\r'))
		(*n)--;
}

/* The next line of text[*pos..len) into *l, without its '\n'; 0 at the end. */
static int crash__next_line(const char *text, size_t len, size_t *pos, struct crash__line *l)
{
	if (*pos >= len)
		return 0;
	const char *p = text + *pos;
	const char *nl = memchr(p, '\n', len - *pos);
	size_t n = nl ? (size_t)(nl - p) : len - *pos;
	*pos += n + (nl != NULL);
	if (n > 0 && p[n - 1] == '\r')
		n--;
	l->p = p;
	l->n = n;
	l->cut = nl == NULL;
	return 1;
}

/* ---- report headers ---- */

/* The kind of report `l` starts, with *rest pointing after the tool's name. */
static enum crash__report crash__header(const struct crash__line *l, const char **rest)
{
	static const struct {
		const char *marker;
		enum crash__report report;
	} headers[] = {
	    {"ERROR: AddressSanitizer: ", R_ASAN},  {"ERROR: HWAddressSanitizer: ", R_ASAN},
	    {"ERROR: LeakSanitizer: ", R_LSAN},	    {"WARNING: MemorySanitizer: ", R_MSAN},
	    {"ERROR: MemorySanitizer: ", R_MSAN},    {"ERROR: libFuzzer: ", R_FUZZER},
	    {": runtime error: ", R_UBSAN},
	};
	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		const char *m = crash__find(l->p, l->n, headers[i].marker);
		if (m != NULL) {
			*rest = m + strlen(headers[i].marker);
			return headers[i].report;
		}
	}
	return R_NONE;
}

/* ASan's bug type from the rest of its ERROR line, as its SUMMARY names it. */
static void crash__asan_kind(const char *p, size_t n, char *kind, size_t size)
{
	static const struct {
		const char *prefix, *kind;
	} special[] = {
	    {"attempting double-free", "double-free"},
	    {"attempting free on address which was not malloc()-ed", "bad-free"},
	    {"allocator is out of memory", "out-of-memory"},
	    {"requested allocation size", "allocation-size-too-big"},
	    {"calloc parameters overflow", "calloc-overflow"},
	    {"reallocarray parameters overflow", "reallocarray-overflow"},
	    {"invalid alignment requested", "invalid-allocation-alignment"},
	    {"ABRT ", "abort"},
	};
	for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++)
		if (crash__starts(p, n, special[i].prefix)) {
			crash__copy(kind, size, special[i].kind, strlen(special[i].kind));
			return;
		}
	size_t k = 0;
	while (k < n && p[k] != ' ' && p[k] != ':' && p[k] != '(' && p[k] != ';')
		k++;
	crash__copy(kind, size, p, k);
}

/* libFuzzer's error from the rest of its ERROR line. */
static void crash__fuzzer_kind(const char *p, size_t n, char *kind, size_t size)
{
	const char *k;
	if (crash__starts(p, n, "timeout"))
		k = "timeout";
	else if (crash__starts(p, n, "out-of-memory") || crash__find(p, n, "rss limit exhausted"))
		k = "out-of-memory";
	else {
		const char *paren = memchr(p, '(', n);
		size_t m = paren ? (size_t)(paren - p) : n;
		crash__trim(&p, &m);
		crash__copy(kind, size, p, m);
		return;
	}
	crash__copy(kind, size, k, strlen(k));
}

/*
 * UBSan's check name for a runtime error message (ubsan_checks.inc), for
 * reports whose SUMMARY says only "undefined-behavior". Order matters: the
 * more specific messages first.
 */
static const char *crash__ubsan_check(const char *p, size_t n)
{
	static const struct {
		const char *needle, *check;
	} checks[] = {
	    {"unsigned integer overflow", "unsigned-integer-overflow"},
	    {"signed integer overflow", "signed-integer-overflow"},
	    {"negation of", "signed-integer-overflow"},
	    {"division of", "signed-integer-overflow"},
	    {"division by zero", "integer-divide-by-zero"},
	    {"shift exponent", "invalid-shift-exponent"},
	    {"left shift of", "invalid-shift-base"},
	    {"out of bounds for type", "out-of-bounds-index"},
	    {"misaligned address", "misaligned-pointer-use"},
	    {"null pointer passed as argument", "invalid-null-argument"},
	    {"null pointer returned from function", "invalid-null-return"},
	    {"null pointer", "null-pointer-use"},
	    {"offset", "pointer-overflow"},
	    {"pointer index expression", "pointer-overflow"},
	    {"not a valid value for type 'bool'", "invalid-bool-load"},
	    {"not a valid value for type", "invalid-enum-load"},
	    {"outside the range of representable values", "float-cast-overflow"},
	    {"unreachable program point", "unreachable-call"},
	    {"end of a value-returning function", "missing-return"},
	    {"variable length array bound", "non-positive-vla-index"},
	    {"through pointer to incorrect function type", "function-type-mismatch"},
	    {"implicit conversion", "implicit-conversion"},
	    {"which is not a valid argument", "invalid-builtin-use"},
	    {"insufficient space for an object", "insufficient-object-size"},
	};
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++)
		if (crash__find(p, n, checks[i].needle))
			return checks[i].check;
	return "undefined-behavior";
}

/* ---- frames ---- */

/* Whether the trimmed line is a stack frame: "#N ...". */
static int crash__is_frame(const char *p, size_t n)
{
	crash__trim(&p, &n);
	return n >= 2 && p[0] == '#' && p[1] >= '0' && p[1] <= '9';
}

struct crash__frame {
	const char *func; /* as printed, "" when none */
	size_t func_n;
	const char *file; /* "file:line[:col]", NULL when the location is a module or none */
	size_t file_n;
	const char *module; /* "/lib/x86_64-linux-gnu/libc.so.6" without "+0x..", NULL when none */
	size_t module_n;
};

/* Whether the token looks like "path:LINE[:COL]". */
static int crash__is_file_location(const char *p, size_t n)
{
	size_t i = n;
	int colons = 0;
	while (i > 0 && colons < 2) {
		size_t digits = 0;
		while (i > 0 && p[i - 1] >= '0' && p[i - 1] <= '9') {
			i--;
			digits++;
		}
		if (digits == 0 || i == 0 || p[i - 1] != ':')
			break;
		i--;
		colons++;
	}
	return colons > 0 && i > 0;
}

static void crash__parse_frame(const char *p, size_t n, struct crash__frame *f)
{
	memset(f, 0, sizeof(*f));
	f->func = "";
	crash__trim(&p, &n);
	/* "#N" and "0xPC" */
	for (int field = 0; field < 2; field++) {
		while (n > 0 && p[0] != ' ') {
			p++;
			n--;
		}
		crash__trim(&p, &n);
	}
	/* A trailing " (BuildId: ...)" says nothing of the frame. */
	const char *b = crash__find(p, n, " (BuildId: ");
	if (b != NULL)
		n = (size_t)(b - p);
	crash__trim(&p, &n);
	/* The location is the last token, when it looks like one. */
	const char *sp = NULL;
	for (size_t i = n; i > 0; i--)
		if (p[i - 1] == ' ') {
			sp = p + i - 1;
			break;
		}
	const char *tok = sp ? sp + 1 : p;
	size_t tok_n = n - (size_t)(tok - p);
	size_t rest_n = n;
	if (tok_n >= 2 && tok[0] == '(' && tok[tok_n - 1] == ')') {
		const char *plus = crash__find(tok, tok_n, "+0x");
		if (plus != NULL || sp == NULL || !crash__starts(p, n, "in ")) {
			f->module = tok + 1;
			f->module_n = plus ? (size_t)(plus - tok - 1) : tok_n - 2;
			rest_n = sp ? (size_t)(sp - p) : 0;
		}
	} else if (sp != NULL && crash__is_file_location(tok, tok_n)) {
		f->file = tok;
		f->file_n = tok_n;
		rest_n = (size_t)(sp - p);
	}
	if (crash__starts(p, rest_n, "in ")) {
		const char *fn = p + 3;
		size_t fn_n = rest_n - 3;
		crash__trim(&fn, &fn_n);
		f->func = fn;
		f->func_n = fn_n;
	}
}

/*
 * Copies a run of a name into out, returning the new length; cut to fit.
 */
static size_t crash__put(char *out, size_t size, size_t o, const char *p, size_t n)
{
	while (n-- > 0 && o + 1 < size)
		out[o++] = *p++;
	return o;
}

static int crash__ident_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
	       c == '$' || c == '.';
}

size_t crash__clean_function(const char *name, size_t n, char *out, size_t size)
{
	char tmp[CRASH_FRAME_MAX * 4];
	size_t o = 0, i = 0;
	int angle = 0;

	if (size == 0)
		return 0;
	crash__trim(&name, &n);
	/* Pass 1: drop argument lists and what follows them up to "::" (const, &). */
	while (i < n) {
		char c = name[i];
		if (crash__starts(name + i, n - i, "(anonymous namespace)")) {
			o = crash__put(tmp, sizeof(tmp), o, name + i, 21);
			i += 21;
			continue;
		}
		if (crash__starts(name + i, n - i, "operator") && (i == 0 || !crash__ident_char(name[i - 1]))) {
			/* The operator's own symbol: (), [], <<, ->, new, ... copied as is. */
			size_t j = i + 8;
			if (crash__starts(name + j, n - j, "()"))
				j += 2;
			else if (j < n && name[j] == ' ')
				while (j < n && name[j] != '(' && name[j] != '<')
					j++;
			else
				while (j < n && strchr("+-*/%^&|~!=<>,[]", name[j]) != NULL && name[j] != '\0')
					j++;
			o = crash__put(tmp, sizeof(tmp), o, name + i, j - i);
			i = j;
			continue;
		}
		if (c == '<')
			angle++;
		else if (c == '>' && angle > 0)
			angle--;
		if (c == '(' && angle == 0) {
			int depth = 0;
			size_t j = i;
			for (; j < n; j++) {
				if (name[j] == '(')
					depth++;
				else if (name[j] == ')' && --depth == 0)
					break;
			}
			i = j < n ? j + 1 : n;
			/* Qualifiers after the list: " const", " &", " volatile", " noexcept". */
			while (i < n && !crash__starts(name + i, n - i, "::"))
				i++;
			continue;
		}
		if (o + 1 < sizeof(tmp))
			tmp[o++] = c;
		i++;
	}
	while (o > 0 && tmp[o - 1] == ' ')
		o--;
	/* Pass 2: the return type of a template ("unsigned short wire::load<...>"): the
	 * name starts after the last space outside <> and (). */
	size_t start = 0;
	angle = 0;
	int paren = 0;
	for (size_t k = 0; k < o; k++) {
		char c = tmp[k];
		if (c == '<')
			angle++;
		else if (c == '>' && angle > 0)
			angle--;
		else if (c == '(')
			paren++;
		else if (c == ')' && paren > 0)
			paren--;
		else if (c == ' ' && angle == 0 && paren == 0 && !(k >= 8 && memcmp(tmp + k - 8, "operator", 8) == 0))
			start = k + 1;
	}
	/* Pass 3: "+0x1c" offsets and clone suffixes (.part.0, .isra.0, .cold, .llvm.123). */
	size_t end = o;
	for (size_t k = start; k < o; k++)
		if (tmp[k] == '+' && k + 2 < o && tmp[k + 1] == '0' && tmp[k + 2] == 'x') {
			end = k;
			break;
		}
	for (size_t k = start; k < end; k++)
		if (tmp[k] == '.' && k > start && crash__ident_char(tmp[k - 1]) &&
		    (crash__starts(tmp + k, end - k, ".part.") || crash__starts(tmp + k, end - k, ".isra.") ||
		     crash__starts(tmp + k, end - k, ".constprop.") || crash__starts(tmp + k, end - k, ".cold") ||
		     crash__starts(tmp + k, end - k, ".llvm.") || crash__starts(tmp + k, end - k, ".lto_priv."))) {
			end = k;
			break;
		}
	size_t len = end - start;
	if (len >= size)
		len = size - 1;
	memcpy(out, tmp + start, len);
	out[len] = '\0';
	return len;
}

/* Whether the module (a path) is libc, the C++ runtime or the sanitizer runtime. */
static int crash__system_module(const char *p, size_t n)
{
	static const char *const libs[] = {"libc.so",	  "libc-",	 "libpthread", "ld-linux",   "ld-musl",
					   "libdl.",	  "libm.so",	 "librt.",     "libstdc++.", "libc++.",
					   "libc++abi.", "libgcc_s.",   "libclang_rt.", "libasan.",  "libubsan.",
					   "liblsan.",	  "libFuzzer", "[vdso]",      "linux-vdso"};
	const char *base = p;
	for (size_t i = 0; i < n; i++)
		if (p[i] == '/')
			base = p + i + 1;
	size_t bn = n - (size_t)(base - p);
	for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++)
		if (crash__starts(base, bn, libs[i]))
			return 1;
	return 0;
}

/* Whether a cleaned function name belongs to a runtime, libc or an allocator. */
static int crash__runtime_function(const char *f)
{
	static const char *const prefixes[] = {
	    "__asan_",	    "__asan::",	      "_asan_",		 "__lsan_",	   "__lsan::",	    "__ubsan_",
	    "__ubsan::",    "__msan_",	      "__msan::",	 "__hwasan_",	   "__hwasan::",    "__tsan_",
	    "__tsan::",	    "__sanitizer_",   "__sanitizer::",	 "__interceptor_", "___interceptor_",
	    "__interception::", "fuzzer::",   "__GI_",		 "__libc_",	   "__pthread_kill", "__assert_",
	    "__cxa_throw",  "__cxa_rethrow",  "__cxxabiv1::",	 "__gnu_cxx::__verbose_terminate_handler",
	    "std::terminate", "std::__terminate", "__fortify_fail", "__chk_fail",  "__stack_chk_fail",
	    "__mem",	    "__str",	      "__wmem",		 "__wcs",	   "__run_exit_handlers",
	};
	static const char *const names[] = {
	    "abort",	   "raise",	  "gsignal",	 "pthread_kill", "tgkill",	  "_start",	   "exit",
	    "__restore_rt", "start_thread", "clone",	 "clone3",	 "__clone",	  "__clone3",	   "malloc",
	    "calloc",	   "realloc",	  "reallocarray", "free",	 "cfree",	  "posix_memalign", "aligned_alloc",
	    "memalign",	   "valloc",	  "pvalloc",	 "strdup",	 "strndup",	  "operator new",  "operator new[]",
	    "operator delete", "operator delete[]", "memcpy", "memmove", "memset",	  "memcmp",	   "memchr",
	    "memrchr",	   "bcmp",	  "bzero",	 "strlen",	 "strnlen",	  "strcmp",	   "strncmp",
	    "strcasecmp",  "strncasecmp", "strcpy",	 "strncpy",	 "stpcpy",	  "strcat",	   "strncat",
	    "strchr",	   "strrchr",	  "strstr",	 "strcasestr",	 "wcslen",	  "printf",	   "fprintf",
	    "vfprintf",	   "snprintf",	  "vsnprintf",	 "sprintf",	 "vsprintf",	  "puts",	   "fputs",
	    "fwrite",	   "fread",	  "sscanf",	 "__assert_fail", "__stack_chk_fail",
	};
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strncmp(f, prefixes[i], strlen(prefixes[i])) == 0)
			return 1;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(f, names[i]) == 0)
			return 1;
	return 0;
}

/* Whether the function is how SIGABRT gets raised (a deadly signal's kind). */
static int crash__abort_function(const char *f)
{
	return strcmp(f, "abort") == 0 || strcmp(f, "raise") == 0 || strcmp(f, "gsignal") == 0 ||
	       strncmp(f, "__GI_abort", 10) == 0 || strncmp(f, "__GI_raise", 10) == 0 ||
	       strncmp(f, "__assert_fail", 13) == 0 || strncmp(f, "__pthread_kill", 14) == 0;
}

/*
 * Frames of the program kept from the top of the stack: more than the
 * signature takes, because a stack overflow's signature starts at its
 * recursion, which may lie below the frame that ran out of stack.
 */
#define CRASH__DEEP 16

struct crash__stack {
	int done;     /* an entry point was reached: later frames are its callers */
	int saw_abort; /* abort(), raise() or assert on the stack */
	char frames[CRASH__DEEP][CRASH_FRAME_MAX];
	char location[CRASH__DEEP][CRASH_LOCATION_MAX];
	size_t n;
};

/* Takes one frame line into out->frames if it is the program's. */
static void crash__take_frame(const char *p, size_t n, struct crash__stack *st, struct crash_info *out)
{
	struct crash__frame f;
	char name[CRASH_FRAME_MAX];

	if (st->done)
		return;
	crash__parse_frame(p, n, &f);
	if (f.func_n == 0)
		return;
	crash__clean_function(f.func, f.func_n, name, sizeof(name));
	if (name[0] == '\0')
		return;
	if (crash__abort_function(name))
		st->saw_abort = 1;
	if (crash__runtime_function(name))
		return;
	if (f.file != NULL && (crash__find(f.file, f.file_n, "compiler-rt/lib/") ||
			       crash__find(f.file, f.file_n, "/sanitizer_common/")))
		return;
	if (f.module != NULL && crash__system_module(f.module, f.module_n))
		return;
	int entry = strcmp(name, "LLVMFuzzerTestOneInput") == 0 || strcmp(name, "main") == 0;
	if (entry) {
		st->done = 1;
		if (st->n > 0)
			return;
	}
	st->location[st->n][0] = '\0';
	if (f.file != NULL)
		crash__copy(st->location[st->n], sizeof(st->location[st->n]), f.file, f.file_n);
	memcpy(st->frames[st->n], name, sizeof(name));
	if (++st->n == CRASH__DEEP)
		st->done = 1;
}

/*
 * The signature's frames from the kept ones: the top CRASH_FRAMES, except for
 * a stack overflow, whose frames start at the first function that recurs
 * (appears again deeper): where in the recursion the stack ran out — in the
 * recursive function or in a helper it calls — varies from run to run.
 */
static void crash__pick_frames(const struct crash__stack *st, struct crash_info *out)
{
	size_t start = 0;
	if (strcmp(out->kind, "stack-overflow") == 0) {
		for (size_t i = 0; i < st->n && !start; i++)
			for (size_t k = i + 1; k < st->n; k++)
				if (strcmp(st->frames[i], st->frames[k]) == 0) {
					start = i + 1; /* + 1: 0 means none found yet */
					break;
				}
		start = start ? start - 1 : 0;
	}
	for (size_t i = start; i < st->n && out->n_frames < CRASH_FRAMES; i++)
		memcpy(out->frames[out->n_frames++], st->frames[i], sizeof(st->frames[i]));
	if (start < st->n)
		memcpy(out->location, st->location[start], sizeof(out->location));
}

/* ---- the report ---- */

static void crash__signature(struct crash_info *out)
{
	size_t o = 0, size = sizeof(out->signature);
	int w = snprintf(out->signature, size, "%s", out->kind);
	o = w > 0 ? (size_t)w : 0;
	if (out->access[0] != '\0' && o < size) {
		w = snprintf(out->signature + o, size - o, " %s", out->access);
		o += w > 0 ? (size_t)w : 0;
	}
	for (size_t i = 0; i < out->n_frames && o < size; i++) {
		w = snprintf(out->signature + o, size - o, "%s%s", i == 0 ? " in " : " < ", out->frames[i]);
		o += w > 0 ? (size_t)w : 0;
	}
}

/* "READ of size 4 at ..." -> "READ 4"; "The signal is caused by a WRITE memory access." -> "WRITE". */
static void crash__access(const char *p, size_t n, char *access, size_t size)
{
	const char *m;
	crash__trim(&p, &n);
	for (int i = 0; i < 2; i++) {
		const char *word = i == 0 ? "READ" : "WRITE";
		size_t wl = strlen(word);
		if (crash__starts(p, n, word) && crash__starts(p + wl, n - wl, " of size ")) {
			const char *d = p + wl + 9;
			size_t k = 0;
			while (d + k < p + n && d[k] >= '0' && d[k] <= '9')
				k++;
			if (k > 0 && k < 12) {
				snprintf(access, size, "%s %.*s", word, (int)k, d);
				return;
			}
		}
	}
	m = crash__find(p, n, "The signal is caused by a ");
	if (m != NULL) {
		m += strlen("The signal is caused by a ");
		size_t rest = n - (size_t)(m - p);
		if (crash__starts(m, rest, "READ "))
			snprintf(access, size, "READ");
		else if (crash__starts(m, rest, "WRITE "))
			snprintf(access, size, "WRITE");
	}
}

int crash_parse(const char *text, size_t len, struct crash_info *out)
{
	struct crash__line l, hdr = {NULL, 0, 0};
	enum crash__report report = R_NONE;
	const char *rest = NULL;
	size_t pos = 0, after = 0;

	memset(out, 0, sizeof(*out));
	if (text == NULL)
		return 0;
	/* The first fatal report; the first UBSan error only when none follows. */
	while (crash__next_line(text, len, &pos, &l)) {
		const char *r;
		if (l.cut)
			break;
		enum crash__report k = crash__header(&l, &r);
		if (k == R_NONE || (k == R_UBSAN && report == R_UBSAN))
			continue;
		hdr = l;
		report = k;
		rest = r;
		after = pos;
		if (k != R_UBSAN)
			break;
	}
	if (report == R_NONE)
		return 0;

	size_t rest_n = hdr.n - (size_t)(rest - hdr.p);
	switch (report) {
	case R_ASAN:
		crash__asan_kind(rest, rest_n, out->kind, sizeof(out->kind));
		break;
	case R_LSAN:
		snprintf(out->kind, sizeof(out->kind), "leak");
		break;
	case R_MSAN: {
		size_t k = 0;
		while (k < rest_n && rest[k] != ' ' && rest[k] != ':')
			k++;
		crash__copy(out->kind, sizeof(out->kind), rest, k);
		break;
	}
	case R_FUZZER:
		crash__fuzzer_kind(rest, rest_n, out->kind, sizeof(out->kind));
		break;
	case R_UBSAN: {
		snprintf(out->kind, sizeof(out->kind), "ubsan: %s", crash__ubsan_check(rest, rest_n));
		/* "FILE:LINE:COL: runtime error:" — the location when there is no stack. */
		const char *m = crash__find(hdr.p, hdr.n, ": runtime error: ");
		const char *f = hdr.p;
		size_t fn = (size_t)(m - hdr.p);
		crash__trim(&f, &fn);
		if (crash__is_file_location(f, fn))
			crash__copy(out->location, sizeof(out->location), f, fn);
		break;
	}
	case R_NONE:
		break;
	}

	/* The access line and the first stack, before the next report or SUMMARY. */
	struct crash__stack st;
	memset(&st, 0, sizeof(st));
	int in_stack = 0, stack_seen = 0;
	size_t lines = 0, since_stack = 0;
	pos = after;
	while (crash__next_line(text, len, &pos, &l)) {
		const char *r;
		if (l.cut)
			break;
		if (crash__is_frame(l.p, l.n)) {
			if (stack_seen && !in_stack)
				break; /* a second stack: "freed by", "allocated by" */
			in_stack = stack_seen = 1;
			crash__take_frame(l.p, l.n, &st, out);
			continue;
		}
		in_stack = 0;
		if (crash__starts(l.p, l.n, "SUMMARY: ")) {
			if (report == R_UBSAN) {
				/* "SUMMARY: UndefinedBehaviorSanitizer: CHECK FILE:LINE:COL in" */
				const char *u = crash__find(l.p, l.n, "UndefinedBehaviorSanitizer: ");
				if (u != NULL) {
					u += strlen("UndefinedBehaviorSanitizer: ");
					size_t un = l.n - (size_t)(u - l.p), k = 0;
					while (k < un && u[k] != ' ')
						k++;
					if (k > 0 && !crash__equals(u, k, "undefined-behavior") && k + 7 < sizeof(out->kind))
						snprintf(out->kind, sizeof(out->kind), "ubsan: %.*s", (int)k, u);
				}
			}
			break;
		}
		if (crash__header(&l, &r) != R_NONE)
			break;
		if (stack_seen) {
			if (report != R_UBSAN || ++since_stack > CRASH__SUMMARY_WITHIN)
				break;
			continue;
		}
		if (report == R_ASAN && out->access[0] == '\0')
			crash__access(l.p, l.n, out->access, sizeof(out->access));
		if (++lines > CRASH__STACK_WITHIN)
			break;
	}
	if (report == R_FUZZER && strcmp(out->kind, "deadly signal") == 0 && st.saw_abort)
		snprintf(out->kind, sizeof(out->kind), "abort");
	crash__pick_frames(&st, out);
	crash__signature(out);
	return 1;
}
