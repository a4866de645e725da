/*
 * crash.h — crash signatures: from the output of a crashing fuzz target or
 * sanitized program (libFuzzer, AddressSanitizer, LeakSanitizer, UBSan) to
 * the kind of bug and the top frames of its stack, the key fuzz crashes are
 * deduplicated by (as ClusterFuzz's crash state is).
 *
 * Contract:
 * - crash_parse() reads a whole log: libFuzzer's banner and progress lines,
 *   the report, "SUMMARY:", the "Test unit written to" line. It reads at most
 *   `len` bytes (NUL is an ordinary byte) and keeps at most CRASH_FRAMES
 *   frames; every string of `struct crash_info` is bounded and NUL-terminated.
 *   A last line without its '\n' is taken as cut short (a capped log) and
 *   ignored, so a truncated log gives fewer frames, never half a name.
 * - The report is the first fatal one: "ERROR: AddressSanitizer:",
 *   "ERROR: LeakSanitizer: detected memory leaks", "ERROR: libFuzzer:"
 *   (timeout, out-of-memory, deadly signal, ...), "MemorySanitizer:". A UBSan
 *   "runtime error:" line is the report only when no fatal report follows it
 *   (UBSan goes on after an error unless built with -fno-sanitize-recover).
 * - kind: ASan's bug type as its SUMMARY spells it ("heap-buffer-overflow",
 *   "stack-overflow", "SEGV", "double-free", "bad-free", "out-of-memory",
 *   "allocation-size-too-big", ...; SIGABRT is "abort"); "leak"; libFuzzer's
 *   "timeout", "out-of-memory" (malloc limit and RSS limit alike); for
 *   libFuzzer's "deadly signal", "abort" when abort()/raise()/assert is on the
 *   stack, else "deadly signal"; "ubsan: CHECK" with UBSan's check name
 *   ("ubsan: signed-integer-overflow", "ubsan: invalid-shift-exponent"), from
 *   SUMMARY when UBSan names it there, else from the runtime error's message.
 * - access: "READ 4" / "WRITE 1" from ASan's "READ of size 4", "READ" /
 *   "WRITE" for a SEGV whose report says which; "" otherwise.
 * - frames: the first stack of the report (for a leak, the first leak's
 *   allocation stack; for libFuzzer's RSS limit, its heap profile's largest
 *   context), keeping only frames that belong to the program. Skipped: frames
 *   without a function name; the sanitizer runtime and libFuzzer (names
 *   __asan_, __asan::, __sanitizer_, __interceptor_, __ubsan_, __lsan_,
 *   fuzzer::, ..., and any frame whose source is under compiler-rt/lib/ or
 *   whose module is libclang_rt.*); libc and the C++ runtime (__GI_*,
 *   __libc_*, raise, abort, __assert_fail, pthread_kill, _start, modules
 *   libc.so, libstdc++.so, ...); allocation functions (malloc, calloc, free,
 *   operator new, ...) and libc's memory and string functions (memcpy,
 *   strlen, __memcpy_avx_unaligned, ...) as the interceptors that report in
 *   their place. Entry points — LLVMFuzzerTestOneInput and main — end the
 *   stack: they are kept only when no frame of the program lies above them
 *   (a bug in the fuzz target itself), and what calls them (libFuzzer's
 *   driver, libc) never counts. Recursion is kept as it is ("decode_labels <
 *   decode_labels < decode_labels").
 * - Function names are as the symbolizer prints them, minus what changes
 *   between builds or says nothing of the bug: C++ argument lists and
 *   qualifiers ("wire::Reader::u16_at(unsigned long) const" ->
 *   "wire::Reader::u16_at"), a template's return type ("unsigned short
 *   wire::load<unsigned short>(...)" -> "wire::load<unsigned short>"),
 *   "+0x1c" offsets and compiler clone suffixes (.part.0, .isra.0,
 *   .constprop.0, .cold, .llvm.123). Template arguments and
 *   "(anonymous namespace)" stay.
 * - location: "file:line[:col]" of the first kept frame as the report gives
 *   it; for a UBSan error without a stack, the runtime error line's; "" when
 *   unknown (a frame known only by module+offset).
 * - signature: "KIND[ ACCESS][ in F1[ < F2[ < F3]]]", e.g.
 *   "heap-buffer-overflow READ 4 in read_u32 < parse_header" — no address,
 *   line, path, PID or seed, so two runs of the same bug, on any build of the
 *   same code, give the same signature.
 * - Nothing here allocates, prints or exits; any number of threads may call it.
 */
#ifndef RIPPLE_REPORTS_CRASH_H
#define RIPPLE_REPORTS_CRASH_H

#include <stddef.h>

/* Frames of a signature (ClusterFuzz's crash state has three too). */
#define CRASH_FRAMES 3
/* Bounds of the strings of struct crash_info, NUL included. */
#define CRASH_KIND_MAX 64
#define CRASH_ACCESS_MAX 16
#define CRASH_FRAME_MAX 128
#define CRASH_LOCATION_MAX 256
#define CRASH_SIGNATURE_MAX 512

struct crash_info {
	char kind[CRASH_KIND_MAX];		     /* "heap-buffer-overflow", "leak", "ubsan: ...", ... */
	char access[CRASH_ACCESS_MAX];		     /* "READ 4", "WRITE 1", "READ", or "" */
	char frames[CRASH_FRAMES][CRASH_FRAME_MAX]; /* the program's top frames, innermost first */
	size_t n_frames;
	char location[CRASH_LOCATION_MAX];   /* "/src/dns.c:57:9" of frames[0]; "" when unknown */
	char signature[CRASH_SIGNATURE_MAX]; /* "KIND[ ACCESS][ in F1 < F2 < F3]" */
};

/*
 * Finds the crash report in the `len` bytes of `text` and fills `*out`.
 * Returns 1 when a report was found, 0 when there is none (then `*out` is all
 * empty strings and no frames).
 */
int crash_parse(const char *text, size_t len, struct crash_info *out);

/* ---- internal, for tests ---- */

/*
 * The function name `name` (n bytes, as a symbolizer prints it) cleaned as
 * signatures use it, into out (size bytes, cut to fit); returns its length.
 */
size_t crash__clean_function(const char *name, size_t n, char *out, size_t size);

#endif
