/*
 * build_fuzz.c — a fuzz job's own part of the build engine: the fuzz step's
 * script and environment, the corpus kept between runs, and what the fuzzers
 * left (their figures, a crash minimized, its signature, its reproducer),
 * written as the job's fuzz report (docs/fuzz.md).
 *
 * Layout in the job's workspace, per fuzz target NAME:
 *   .ripple-fuzz/NAME/corpus/      the corpus the fuzzer grows (kept in the cache between runs)
 *   .ripple-fuzz/NAME/fuzz.log     libFuzzer's output (afl-fuzz's, and its figures as libFuzzer's)
 *   .ripple-fuzz/NAME/crashes/     what it wrote on a crash (crash-*, leak-*, timeout-*, oom-*),
 *                                  each with X.min (minimized) and X.repro.log (one run of X.min)
 * In the cache: fuzz/corpus/PKG/NAME/ (the corpus) and fuzz/reproducers/SHA256
 * (each reproducer, by content), fuzz/reports/ (each job's report).
 */
#define _GNU_SOURCE /* asprintf */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "artifact.h"
#include "build.h"
#include "build-internal.h"
#include "reports/crash.h"
#include "core/banned.h"

/*
 * Runs each fuzz target for its time, then minimizes every input it found
 * crashing and runs the minimized input once more (its stack gives the
 * signature). In reproduce mode (RIPPLE_FUZZ_REPRO set), runs each target
 * once on that input instead. Names and paths come from the environment,
 * never pasted into the script.
 *
 * With AFL++ (RIPPLE_FUZZ_ENGINE=afl) afl-fuzz runs the target on a copy of
 * the corpus and seeds; what it leaves is then laid out as libFuzzer's is:
 * its queue into the corpus and its crashes into crashes/, each named by its
 * content's hash, and its figures as the final stats lines of fuzz.log. It
 * minimizes with afl-tmin, and its driver runs an input file given as the
 * only argument. afl-fuzz insists on ASan aborting without symbolizing.
 */
const char build__fuzz_script[] =
    "afl=; [ \"${RIPPLE_FUZZ_ENGINE:-}\" = afl ] && afl=1\n"
    "afl_asan=\"${ASAN_OPTIONS:+$ASAN_OPTIONS:}abort_on_error=1:symbolize=0:hard_rss_limit_mb=2048\"\n"
    "by_hash() { sha1sum <\"$1\" | cut -c1-40; }\n"
    "run_once() { # $1: binary, $2: input\n"
    "  if [ -n \"$afl\" ]; then timeout 25 \"$1\" \"$2\"; else \"$1\" -runs=1 -timeout=25 \"$2\"; fi\n"
    "}\n"
    "n=1\n"
    "while [ \"$n\" -le \"${RIPPLE_FUZZ_N:-0}\" ]; do\n"
    "  eval \"name=\\$RIPPLE_FUZZ_NAME_$n bin=\\$RIPPLE_FUZZ_BIN_$n secs=\\$RIPPLE_FUZZ_SECONDS_$n "
    "seed=\\${RIPPLE_FUZZ_SEED_$n:-}\"\n"
    "  out=.ripple-fuzz/$name\n"
    "  mkdir -p \"$out/corpus\" \"$out/crashes\" || exit 1\n"
    "  if [ ! -x \"./$bin\" ] || [ -d \"./$bin\" ]; then\n"
    "    echo \"ripple: fuzz target $name: $bin was not built (does the build link it with "
    "\\$LIB_FUZZING_ENGINE?)\" >&2\n"
    "    exit 1\n"
    "  fi\n"
    "  if [ -n \"${RIPPLE_FUZZ_REPRO:-}\" ]; then\n"
    "    cp \"$RIPPLE_FUZZ_REPRO\" \"$out/crashes/crash-input\" && cp \"$RIPPLE_FUZZ_REPRO\" \"$out/crashes/crash-input.min\" || exit 1\n"
    "    echo \"ripple: fuzz target $name: running the reproducer once\"\n"
    "    run_once \"./$bin\" \"$out/crashes/crash-input.min\" >\"$out/crashes/crash-input.repro.log\" 2>&1\n"
    "    echo \"ripple: fuzz target $name: exit status $?\"\n"
    "    cat \"$out/crashes/crash-input.repro.log\"\n"
    "    n=$((n + 1))\n"
    "    continue\n"
    "  fi\n"
    "  if [ -n \"$afl\" ]; then\n"
    "    echo \"ripple: fuzz target $name: fuzzing for $secs s with AFL++ (until its first crash)\"\n"
    "    rm -rf \"$out/afl\" \"$out/afl-in\" && mkdir -p \"$out/afl-in\" || exit 1\n"
    /* The corpus is named by content already; seeds may nest; afl-fuzz refuses empty inputs. */
    "    find \"$out/corpus\" ${seed:+\"$seed\"} -type f -size +0 -exec cp -t \"$out/afl-in\" {} + || exit 1\n"
    "    [ -n \"$(ls \"$out/afl-in\")\" ] || printf '\\n' >\"$out/afl-in/empty\"\n"
    "    AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 "
    "AFL_SKIP_CRASHES=1 AFL_BENCH_UNTIL_CRASH=1 ASAN_OPTIONS=\"$afl_asan\" afl-fuzz -V \"$secs\" -t 1000+ "
    "-i \"$out/afl-in\" -o \"$out/afl\" -- \"./$bin\" >\"$out/fuzz.log\" 2>&1\n"
    "    status=$?\n"
    "    tail -20 \"$out/fuzz.log\"\n"
    "    if [ -f \"$out/afl/default/fuzzer_stats\" ]; then\n"
    "      awk -F' *: *' '$1 == \"execs_done\" { print \"stat::number_of_executed_units: \" $2 }\n"
    "        $1 == \"execs_per_sec\" { printf \"stat::average_exec_per_sec: %d\\n\", $2 }\n"
    "        $1 == \"corpus_found\" { print \"stat::new_units_added: \" $2 }\n"
    "        $1 == \"peak_rss_mb\" { print \"stat::peak_rss_mb: \" $2 }' \"$out/afl/default/fuzzer_stats\" "
    "| tee -a \"$out/fuzz.log\"\n"
    "      for f in \"$out\"/afl/default/queue/id:*; do\n"
    "        case $f in *,orig:*) continue ;; esac\n"
    "        [ -f \"$f\" ] && cp \"$f\" \"$out/corpus/$(by_hash \"$f\")\"\n"
    "      done\n"
    "      for f in \"$out\"/afl/default/crashes/id:*; do\n"
    "        [ -f \"$f\" ] && cp \"$f\" \"$out/crashes/crash-$(by_hash \"$f\")\"\n"
    "      done\n"
    "    else\n"
    /* afl-fuzz stops before fuzzing when every seed crashes: then those are the crashes. */
    "      echo \"ripple: fuzz target $name: afl-fuzz did not fuzz (exit $status); running its inputs once\"\n"
    "      ls \"$out/afl-in\" | head -1000 | while IFS= read -r f; do\n"
    "        ASAN_OPTIONS=\"$afl_asan\" timeout 25 \"./$bin\" \"$out/afl-in/$f\" </dev/null >/dev/null 2>&1\n"
    "        case $? in 0 | 124) ;; *) cp \"$out/afl-in/$f\" \"$out/crashes/crash-$(by_hash \"$out/afl-in/$f\")\" ;; esac\n"
    "      done\n"
    "      if ! ls \"$out\"/crashes/crash-* >/dev/null 2>&1; then\n"
    "        echo \"ripple: fuzz target $name: afl-fuzz failed (exit $status)\" >&2\n"
    "        exit 1\n"
    "      fi\n"
    "    fi\n"
    "    rm -rf \"$out/afl\" \"$out/afl-in\"\n"
    "  else\n"
    "    echo \"ripple: fuzz target $name: fuzzing for $secs s\"\n"
    "    \"./$bin\" -max_total_time=\"$secs\" -print_final_stats=1 -timeout=25 -rss_limit_mb=2048 "
    "-artifact_prefix=\"$out/crashes/\" \"$out/corpus\" ${seed:+\"$seed\"} 2>&1 | tee \"$out/fuzz.log\"\n"
    "  fi\n"
    "  for c in \"$out\"/crashes/crash-* \"$out\"/crashes/leak-* \"$out\"/crashes/timeout-* "
    "\"$out\"/crashes/oom-*; do\n"
    "    case $c in *.min | *.log) continue ;; esac\n"
    "    [ -f \"$c\" ] || continue\n"
    "    echo \"ripple: fuzz target $name: minimizing ${c##*/}\"\n"
    "    if [ -n \"$afl\" ]; then\n"
    "      AFL_SKIP_CPUFREQ=1 ASAN_OPTIONS=\"$afl_asan\" timeout 60 afl-tmin -i \"$c\" -o \"$c.min\" -- \"./$bin\" "
    ">\"$c.minimize.log\" 2>&1\n"
    "    else\n"
    "      \"./$bin\" -minimize_crash=1 -max_total_time=15 -timeout=25 -exact_artifact_path=\"$c.min\" "
    "\"$c\" >\"$c.minimize.log\" 2>&1\n"
    "    fi\n"
    "    [ -s \"$c.min\" ] || cp \"$c\" \"$c.min\"\n"
    "    run_once \"./$bin\" \"$c.min\" >\"$c.repro.log\" 2>&1\n"
    "  done\n"
    "  n=$((n + 1))\n"
    "done\n";

static int copy_file(const char *from, const char *to, struct rp_error *err)
{
	/* Never through a link: the files copied from a workspace are the package's to make. */
	int in = open(from, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), out = -1, rc = 0;
	char buf[65536];
	struct stat st;
	if (in < 0)
		return rp_error_set(err, RP_EIO, "cannot read %s: %s", from, strerror(errno));
	if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(in);
		return rp_error_set(err, RP_EIO, "%s: not a regular file", from);
	}
	if ((out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
		rc = rp_error_set(err, RP_EIO, "cannot write %s: %s", to, strerror(errno));
		goto out;
	}
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = rp_error_set(err, RP_EIO, "cannot read %s: %s", from, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		for (ssize_t done = 0; done < n;) {
			ssize_t w = write(out, buf + done, (size_t)(n - done));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				rc = rp_error_set(err, RP_EIO, "cannot write %s: %s", to, strerror(errno));
				goto out;
			}
			done += w;
		}
	}
out:
	if (out >= 0 && close(out) < 0 && rc == 0)
		rc = rp_error_set(err, RP_EIO, "cannot write %s: %s", to, strerror(errno));
	close(in);
	return rc;
}

/*
 * Copies the regular files of `from` that `to` lacks (a libFuzzer corpus
 * names each input by its content's hash, so a name present is that input).
 * *files and *bytes (may be NULL) count what `from` holds.
 */
static int merge_dir(const char *from, const char *to, size_t *files, uint64_t *bytes, struct rp_error *err)
{
	DIR *d = opendir(from);
	if (files)
		*files = 0;
	if (bytes)
		*bytes = 0;
	if (!d)
		return errno == ENOENT ? 0 : rp_error_set(err, RP_EIO, "cannot read %s: %s", from, strerror(errno));
	if (to && build__mkdirs(to, err) < 0) {
		closedir(d);
		return RP_EIO;
	}
	struct dirent *e;
	int rc = 0;
	while (rc == 0 && (e = readdir(d))) {
		char src[PATH_MAX], dst[PATH_MAX];
		struct stat st;
		if (e->d_name[0] == '.' || (size_t)snprintf(src, sizeof(src), "%s/%s", from, e->d_name) >= sizeof(src) ||
		    lstat(src, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (files)
			(*files)++;
		if (bytes)
			*bytes += (uint64_t)st.st_size;
		if (!to || (size_t)snprintf(dst, sizeof(dst), "%s/%s", to, e->d_name) >= sizeof(dst) ||
		    access(dst, F_OK) == 0)
			continue;
		rc = copy_file(src, dst, err);
	}
	closedir(d);
	return rc;
}

int build_fuzz_corpus_dir(const char *cache, const char *package, char *out, size_t size, struct rp_error *err)
{
	if ((size_t)snprintf(out, size, "%s/fuzz/corpus/%s", cache, package) >= size)
		return rp_error_set(err, RP_EINVAL, "the corpus directory of %s is too long a path", package);
	return 0;
}

int build_fuzz_corpus_merge(const char *cache, const char *package, const char *from, struct rp_error *err)
{
	char kept[PATH_MAX];
	int rc = build_fuzz_corpus_dir(cache, package, kept, sizeof(kept), err);
	DIR *d = rc == 0 ? opendir(from) : NULL;
	if (rc < 0)
		return rc;
	if (!d)
		return errno == ENOENT ? 0 : rp_error_set(err, RP_EIO, "cannot read %s: %s", from, strerror(errno));
	struct dirent *e;
	while (rc == 0 && (e = readdir(d))) {
		char src[PATH_MAX], dst[PATH_MAX];
		struct stat st;
		if (e->d_name[0] == '.' || (size_t)snprintf(src, sizeof(src), "%s/%s", from, e->d_name) >= sizeof(src) ||
		    (size_t)snprintf(dst, sizeof(dst), "%s/%s", kept, e->d_name) >= sizeof(dst) || lstat(src, &st) < 0 ||
		    !S_ISDIR(st.st_mode))
			continue;
		rc = merge_dir(src, dst, NULL, NULL, err);
	}
	closedir(d);
	return rc;
}

int build__fuzz_stage(const struct build__fuzz_job *fj, struct rp_error *err)
{
	const struct rp_package *p = fj->package;
	char dir[PATH_MAX], kept[PATH_MAX];
	for (size_t i = 0; i < p->n_fuzz; i++) {
		snprintf(dir, sizeof(dir), "%s/" BUILD_FUZZ_DIR "/%s/corpus", fj->src, p->fuzz[i].name);
		snprintf(kept, sizeof(kept), "%s/fuzz/corpus/%s/%s", fj->cache, p->name, p->fuzz[i].name);
		if (build__mkdirs(dir, err) < 0)
			return RP_EIO;
		int rc = fj->reproduce ? 0 : merge_dir(kept, dir, NULL, NULL, err);
		if (rc < 0)
			return rc;
	}
	if (fj->reproduce) {
		snprintf(dir, sizeof(dir), "%s/" BUILD_FUZZ_DIR "/input", fj->src);
		return copy_file(fj->reproduce, dir, err);
	}
	return 0;
}

int build__fuzz_env(const struct build__fuzz_job *fj, char ***out, size_t *n_out)
{
	const struct rp_package *p = fj->package;
	size_t cap = 4 + 4 * p->n_fuzz, n = 0;
	char **env = calloc(cap, sizeof(*env));
	if (!env)
		return RP_ENOMEM;
#define ADD(...)                                                                \
	do {                                                                    \
		if (asprintf(&env[n], __VA_ARGS__) < 0) {                       \
			env[n] = NULL;                                          \
			goto fail;                                              \
		}                                                               \
		n++;                                                            \
	} while (0)
	ADD("RIPPLE_FUZZ_N=%zu", p->n_fuzz);
	ADD("RIPPLE_FUZZ_ENGINE=%s", p->fuzz_engine == RP_FUZZ_AFL ? "afl" : "libfuzzer");
	if (fj->reproduce)
		ADD("RIPPLE_FUZZ_REPRO=" BUILD_FUZZ_DIR "/input");
	for (size_t i = 0; i < p->n_fuzz; i++) {
		ADD("RIPPLE_FUZZ_NAME_%zu=%s", i + 1, p->fuzz[i].name);
		ADD("RIPPLE_FUZZ_BIN_%zu=%s", i + 1, p->fuzz[i].binary);
		ADD("RIPPLE_FUZZ_SECONDS_%zu=%d", i + 1, fj->seconds ? (int)fj->seconds : p->fuzz[i].seconds);
		if (p->fuzz[i].corpus)
			ADD("RIPPLE_FUZZ_SEED_%zu=%s", i + 1, p->fuzz[i].corpus);
	}
#undef ADD
	*out = env;
	*n_out = n;
	return 0;
fail:
	for (size_t i = 0; i < n; i++)
		free(env[i]);
	free(env);
	return RP_ENOMEM;
}

uint64_t build__fuzz_budget_ms(const struct build__fuzz_job *fj)
{
	uint64_t total = 0;
	for (size_t i = 0; i < fj->package->n_fuzz; i++)
		total += fj->reproduce ? 0 : fj->seconds ? fj->seconds : (uint64_t)fj->package->fuzz[i].seconds;
	/* Minimizing and replaying a crash take at most about a minute per target; the build took its own time. */
	return (total + 120 * fj->package->n_fuzz + 60) * 1000;
}

/* A file's text, at most `max` bytes (its end when longer: reports end there); NULL when unreadable. */
static char *read_text(const char *path, size_t max, size_t *len)
{
	/* What the fuzz step left is the package's: a link there must not make the worker read its own files. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	FILE *f = fdopen(fd, "rb");
	if (!f) {
		close(fd);
		return NULL;
	}
	if ((uint64_t)st.st_size > max)
		fseek(f, (long)((uint64_t)st.st_size - max), SEEK_SET);
	char *buf = malloc(max + 1);
	size_t n = buf ? fread(buf, 1, max, f) : 0;
	fclose(f);
	if (!buf)
		return NULL;
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* libFuzzer's -print_final_stats line "stat::NAME: VALUE" in log text; -1 when absent. */
static long long final_stat(const char *text, const char *name)
{
	char key[64];
	snprintf(key, sizeof(key), "stat::%s:", name);
	const char *at = NULL;
	for (const char *p = text; (p = strstr(p, key)); p += strlen(key))
		at = p; /* the last one: a target run twice prints twice */
	if (!at)
		return -1;
	return strtoll(at + strlen(key), NULL, 10);
}

/* The first crash file of a target's crash directory (not a .min or .log): 1 and `out`, or 0. */
static int first_crash(const char *dir, char *out, size_t size)
{
	static const char *const kinds[] = {"crash-", "leak-", "timeout-", "oom-"};
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	char best[NAME_MAX + 1] = "";
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		int kind = 0;
		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
			kind |= strncmp(e->d_name, kinds[k], strlen(kinds[k])) == 0;
		char full[PATH_MAX];
		struct stat st;
		if (!kind || (len > 4 && strcmp(e->d_name + len - 4, ".min") == 0) ||
		    (len > 4 && strcmp(e->d_name + len - 4, ".log") == 0) ||
		    (size_t)snprintf(full, sizeof(full), "%s/%s", dir, e->d_name) >= sizeof(full) || lstat(full, &st) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (!*best || strcmp(e->d_name, best) < 0)
			snprintf(best, sizeof(best), "%s", e->d_name);
	}
	closedir(d);
	return *best && (size_t)snprintf(out, size, "%s/%s", dir, best) < size;
}

/* ---- stacks from a guest: symbolized on the host ---- */

/* Frames of one log looked up at most; a signature needs the top few. */
#define SYMBOLIZE_FRAMES 64
/* Modules of one log looked up at most. */
#define SYMBOLIZE_MODULES 8

/* An unsymbolized sanitizer frame: "#N 0xPC  (MODULE+0xOFFSET)". */
struct raw_frame {
	const char *line, *end; /* the line, without its '\n' */
	char pc[24];
	int module;
	unsigned long long offset;
	char *names; /* what llvm-symbolizer said of it: "FUNCTION\nLOCATION\n" pairs, or NULL */
};

/* Parses `line` as an unsymbolized frame; 1 with *f filled (module is the index of `mod` in modules), else 0. */
static int raw_frame_parse(const char *line, const char *end, char modules[][PATH_MAX], size_t *n_modules,
			   struct raw_frame *f)
{
	const char *p = line;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p + 1 >= end || *p != '#' || p[1] < '0' || p[1] > '9')
		return 0;
	while (p < end && *p != ' ')
		p++;
	while (p < end && *p == ' ')
		p++;
	size_t pc_len = strspn(p, "0123456789abcdefx");
	if (pc_len < 3 || pc_len >= sizeof(f->pc) || strncmp(p, "0x", 2) != 0)
		return 0;
	memcpy(f->pc, p, pc_len);
	f->pc[pc_len] = '\0';
	p += pc_len;
	while (p < end && *p == ' ')
		p++;
	if (p >= end || *p != '(')
		return 0;
	const char *close = memchr(p, ')', (size_t)(end - p));
	const char *plus = close ? memrchr(p, '+', (size_t)(close - p)) : NULL;
	if (!plus || plus - p - 1 <= 0 || plus - p - 1 >= PATH_MAX || strncmp(plus, "+0x", 3) != 0)
		return 0;
	char *stop;
	f->offset = strtoull(plus + 3, &stop, 16);
	if (stop != close)
		return 0;
	char module[PATH_MAX];
	snprintf(module, sizeof(module), "%.*s", (int)(plus - p - 1), p + 1);
	size_t m = 0;
	while (m < *n_modules && strcmp(modules[m], module) != 0)
		m++;
	if (m == *n_modules) {
		if (*n_modules == SYMBOLIZE_MODULES)
			return 0;
		snprintf(modules[(*n_modules)++], PATH_MAX, "%s", module);
	}
	f->line = line;
	f->end = end;
	f->module = (int)m;
	f->names = NULL;
	return 1;
}

/*
 * llvm-symbolizer over the frames of module `m` (its file on the host:
 * `host`): each frame's "FUNCTION\nLOCATION\n" pairs, inlined ones first.
 */
static void symbolize_module(const char *symbolizer, const char *host, struct raw_frame *frames, size_t n, int m,
			     const char *tmp_dir)
{
	const char *argv[SYMBOLIZE_FRAMES + 8];
	char obj[PATH_MAX + 8], offsets[SYMBOLIZE_FRAMES][24], out[PATH_MAX];
	size_t a = 0, k = 0;
	argv[a++] = symbolizer;
	argv[a++] = "--inlines";
	snprintf(obj, sizeof(obj), "--obj=%s", host);
	argv[a++] = obj;
	for (size_t i = 0; i < n; i++)
		if (frames[i].module == m) {
			snprintf(offsets[k], sizeof(offsets[k]), "0x%llx", frames[i].offset);
			argv[a++] = offsets[k++];
		}
	argv[a] = NULL;
	snprintf(out, sizeof(out), "%s/.symbolized-%ld", tmp_dir, (long)getpid());
	static const char *const env[] = { "PATH=/usr/bin:/bin", NULL };
	struct step_spec spec = { .argv = argv, .env = env, .timeout_ms = 60000, .stdout_path = out };
	struct step_result res;
	struct rp_error err;
	size_t len = 0;
	char *text = step_run_sync(&spec, NULL, &res, &err) == 0 && res.status == STEP_PASSED
			     ? read_text(out, 1u << 20, &len)
			     : NULL;
	unlink(out);
	/* One block per offset, in order: pairs of lines, then an empty line. */
	char *at = text;
	for (size_t i = 0; at && i < n; i++) {
		if (frames[i].module != m)
			continue;
		char *block_end = strstr(at, "\n\n");
		if (!block_end)
			break;
		*++block_end = '\0';
		if (strncmp(at, "??\n", 3) != 0)
			frames[i].names = strdup(at);
		at = block_end + 1;
	}
	free(text);
}

/*
 * A log of the fuzzers' run in a guest, with its unsymbolized frames (the
 * guest has no symbolizer) symbolized on the host as the sanitizer itself
 * would have printed them ("#N 0xPC in FUNCTION LOCATION", inlined
 * functions as frames of their own, renumbered). Files under the guest's
 * workspace are read from the host's; other modules (libc) are the host's
 * own. NULL (use the text as it is) when nothing could be symbolized.
 */
static char *symbolize_guest_log(const struct build__fuzz_job *fj, const char *text, size_t len, size_t *out_len)
{
	char symbolizer[PATH_MAX];
	if (!fj->guest_src || !step_find_program("llvm-symbolizer", symbolizer, sizeof(symbolizer)))
		return NULL;
	char (*modules)[PATH_MAX] = calloc(SYMBOLIZE_MODULES, sizeof(*modules));
	size_t n_modules = 0, n = 0;
	struct raw_frame *frames = calloc(SYMBOLIZE_FRAMES, sizeof(*frames));
	if (!frames || !modules) {
		free(frames);
		free(modules);
		return NULL;
	}
	for (const char *line = text, *end; line < text + len && n < SYMBOLIZE_FRAMES; line = end + 1) {
		end = memchr(line, '\n', (size_t)(text + len - line));
		if (!end)
			end = text + len;
		n += (size_t)raw_frame_parse(line, end, modules, &n_modules, &frames[n]);
	}
	size_t src_len = strlen(fj->guest_src);
	for (size_t m = 0; m < n_modules; m++) {
		char host[PATH_MAX];
		if (strncmp(modules[m], fj->guest_src, src_len) == 0 && modules[m][src_len] == '/')
			snprintf(host, sizeof(host), "%s%s", fj->src, modules[m] + src_len);
		else
			snprintf(host, sizeof(host), "%s", modules[m]);
		if (access(host, R_OK) == 0)
			symbolize_module(symbolizer, host, frames, n, (int)m, fj->src);
	}
	char *out = NULL;
	size_t used = 0;
	FILE *o = n ? open_memstream(&out, &used) : NULL;
	int number = 0, any = 0;
	const char *copied = text;
	for (size_t i = 0; o && i < n; i++) {
		fwrite(copied, 1, (size_t)(frames[i].line - copied), o);
		copied = frames[i].end;
		const char *hash = strchr(frames[i].line, '#');
		if (hash && hash[1] == '0' && hash[2] == ' ')
			number = 0; /* a new stack */
		if (!frames[i].names) {
			fprintf(o, "    #%d %s  (%s+0x%llx)", number++, frames[i].pc, modules[frames[i].module],
				frames[i].offset);
			continue;
		}
		any = 1;
		int first = 1;
		for (char *p = frames[i].names; *p;) {
			char *fn_end = strchr(p, '\n');
			char *loc_end = fn_end ? strchr(fn_end + 1, '\n') : NULL;
			if (!loc_end)
				break;
			fprintf(o, "%s    #%d %s in %.*s %.*s", first ? "" : "\n", number++, frames[i].pc, (int)(fn_end - p), p,
				(int)(loc_end - fn_end - 1), fn_end + 1);
			first = 0;
			p = loc_end + 1;
		}
	}
	if (o) {
		fwrite(copied, 1, (size_t)(text + len - copied), o);
		fclose(o);
	}
	for (size_t i = 0; i < n; i++)
		free(frames[i].names);
	free(frames);
	free(modules);
	if (!any) {
		free(out);
		return NULL;
	}
	*out_len = used;
	return out;
}

/* One fuzz target's results into a JSON object *out; a crash fills *crash and sets *crashed. */
static int collect_target(const struct build__fuzz_job *fj, const struct rp_fuzz *fz, struct crash_info *crash,
			  int *crashed, json_t **out, struct rp_error *err)
{
	char base[PATH_MAX], path[PATH_MAX + 64], crash_path[PATH_MAX + 64];
	snprintf(base, sizeof(base), "%s/" BUILD_FUZZ_DIR "/%s", fj->src, fz->name);
	json_t *o = json_pack("{s:s, s:s, s:i}", "name", fz->name, "binary", fz->binary, "seconds",
			      fj->reproduce ? 0 : fj->seconds ? (int)fj->seconds : fz->seconds);
	*out = NULL;
	if (!o)
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	size_t len = 0;
	char *log = NULL;
	snprintf(path, sizeof(path), "%s/fuzz.log", base);
	if (!fj->reproduce && (log = read_text(path, 1u << 20, &len))) {
		static const char *const stats[][2] = {{"number_of_executed_units", "executions"},
						       {"average_exec_per_sec", "exec_per_sec"},
						       {"new_units_added", "new_units"},
						       {"peak_rss_mb", "peak_rss_mb"}};
		for (size_t k = 0; k < sizeof(stats) / sizeof(stats[0]); k++) {
			long long v = final_stat(log, stats[k][0]);
			if (v >= 0)
				json_object_set_new(o, stats[k][1], json_integer(v));
		}
	}
	size_t files = 0;
	uint64_t bytes = 0;
	char corpus[PATH_MAX + 16], kept[PATH_MAX];
	snprintf(corpus, sizeof(corpus), "%s/corpus", base);
	snprintf(kept, sizeof(kept), "%s/fuzz/corpus/%s/%s", fj->cache, fj->package->name, fz->name);
	int rc = merge_dir(corpus, fj->reproduce ? NULL : kept, &files, &bytes, err);
	if (rc < 0)
		goto fail;
	json_object_set_new(o, "corpus_files", json_integer((json_int_t)files));
	json_object_set_new(o, "corpus_bytes", json_integer((json_int_t)bytes));

	snprintf(path, sizeof(path), "%s/crashes", base);
	json_object_set_new(o, "crash", json_null());
	if (!first_crash(path, crash_path, sizeof(crash_path)))
		goto done;
	/* The minimized input's own run gives the stack; if it does not crash, libFuzzer's first report does. */
	char repro_log[PATH_MAX + 80], min[PATH_MAX + 80];
	snprintf(repro_log, sizeof(repro_log), "%s.repro.log", crash_path);
	snprintf(min, sizeof(min), "%s.min", crash_path);
	size_t rlen = 0;
	char *rtext = read_text(repro_log, 1u << 20, &rlen);
	if (rtext && fj->guest_src) { /* symbolized on the host, and kept so: the reproducer's log reads as usual */
		size_t slen = 0;
		char *sym = symbolize_guest_log(fj, rtext, rlen, &slen);
		if (sym) {
			free(rtext);
			rtext = sym;
			rlen = slen;
			/* A new file renamed over the old name: a link left there is replaced, not followed. */
			char tmp[PATH_MAX + 96];
			snprintf(tmp, sizeof(tmp), "%s.symbolized", repro_log);
			int wfd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
			int ok = wfd >= 0 && write(wfd, rtext, rlen) == (ssize_t)rlen;
			if (wfd >= 0 && close(wfd) < 0)
				ok = 0;
			if (!ok || rename(tmp, repro_log) < 0)
				unlink(tmp);
		}
	}
	int found = rtext && crash_parse(rtext, rlen, crash);
	int minimized = found;
	if (!found && log) {
		size_t slen = 0;
		char *sym = fj->guest_src ? symbolize_guest_log(fj, log, len, &slen) : NULL;
		found = sym ? crash_parse(sym, slen, crash) : crash_parse(log, len, crash);
		free(sym);
	}
	free(rtext);
	if (!found)
		goto done; /* a reproduce run that did not crash, or an input that crashes no more */
	struct stat mst;
	const char *input = minimized && lstat(min, &mst) == 0 && S_ISREG(mst.st_mode) ? min : crash_path;
	char sha[ARTIFACT_HEX_LEN + 1], store_dir[PATH_MAX], stored[PATH_MAX + 80];
	int64_t size = 0;
	if ((rc = artifact_sha256_file(input, sha, &size, err)) < 0)
		goto fail;
	snprintf(store_dir, sizeof(store_dir), "%s/fuzz/reproducers", fj->cache);
	snprintf(stored, sizeof(stored), "%s/%s", store_dir, sha);
	if ((rc = build__mkdirs(store_dir, err)) < 0)
		goto fail;
	if (access(stored, F_OK) != 0 && (rc = copy_file(input, stored, err)) < 0)
		goto fail;
	json_t *frames = json_array();
	for (size_t f = 0; f < crash->n_frames; f++)
		json_array_append_new(frames, json_string(crash->frames[f]));
	json_object_set_new(o, "crash",
			    json_pack("{s:s, s:s, s:o, s:s, s:s, s:s, s:I, s:b}", "signature", crash->signature, "kind",
				      crash->kind, "frames", frames, "location", crash->location, "reproducer", stored,
				      "reproducer_sha256", sha, "reproducer_size", (json_int_t)size, "minimized",
				      minimized && input == min));
	*crashed = 1;
done:
	free(log);
	*out = o;
	return 0;
fail:
	free(log);
	json_decref(o);
	return rc;
}

int build__fuzz_collect(const struct build__fuzz_job *fj, struct build__fuzz_verdict *v, struct rp_error *err)
{
	memset(v, 0, sizeof(*v));
	json_t *doc = json_pack("{s:s, s:s, s:s, s:s, s:[]}", "package", fj->package->name, "target", fj->target,
				"commit", fj->commit, "mode", fj->reproduce ? "reproduce" : "fuzz", "fuzzers");
	if (!doc)
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	json_t *list = json_object_get(doc, "fuzzers");
	int rc = 0;
	for (size_t i = 0; i < fj->package->n_fuzz; i++) {
		struct crash_info crash;
		int crashed = 0;
		json_t *o;
		if ((rc = collect_target(fj, &fj->package->fuzz[i], &crash, &crashed, &o, err)) < 0)
			break;
		json_array_append_new(list, o);
		if (crashed && !v->crashed) {
			v->crashed = 1;
			snprintf(v->first_error, sizeof(v->first_error), "fuzz target %.64s: %.400s",
				 fj->package->fuzz[i].name, crash.signature);
		}
	}
	char dir[PATH_MAX - 256];
	snprintf(dir, sizeof(dir), "%s/fuzz/reports", fj->cache);
	if (rc == 0)
		rc = build__mkdirs(dir, err);
	if (rc == 0) {
		char tmp[PATH_MAX + 16];
		snprintf(v->report, sizeof(v->report), "%s/%.128s.json", dir, fj->report_name);
		snprintf(tmp, sizeof(tmp), "%s.tmp", v->report);
		if (json_dump_file(doc, tmp, JSON_INDENT(2)) != 0 || rename(tmp, v->report) != 0) {
			unlink(tmp);
			v->report[0] = '\0';
			rc = rp_error_set(err, RP_EIO, "cannot write %s", v->report);
		}
	}
	json_decref(doc);
	return rc;
}
