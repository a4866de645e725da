/*
 * bench/coverage — coverage ingestion against its floor and against gcovr.
 *
 * A generated C project of FILES source files (src/mNNN.c, 4 to 6 functions
 * each with if/else, loops, a switch and && / || conditions; about a quarter
 * of the functions and one file in 25 never called; a few lines marked
 * LCOV_EXCL_LINE and one GCOVR_EXCL_START/STOP region; include/common.h with
 * static inline functions every file uses; tests/test_main.c calling a
 * seeded subset with varied arguments), built with `gcc --coverage -O0`
 * (one gcc per CPU at once) and its test run once. Then, in one run, each
 * three times (the medians are printed) and each after the .gcda files are
 * restored from a copy taken after the test run:
 *   - the floor: one `gcov --json-format --branch-probabilities` over every
 *     .gcda file, in a scratch directory;
 *   - `ripple coverage ingest OBJDIR --root PROJECT --json`, its ratio to the
 *     floor (target <= 1.5x);
 *   - `gcovr --json-summary -b -r PROJECT --object-directory OBJDIR OBJDIR`,
 *     its ratio to ripple (target >= 10x).
 * The totals of ripple and gcovr are printed side by side; the exit status is
 * 1 when they differ (or ripple gave none), 0 when they are identical.
 *
 * usage: bench-coverage [RIPPLE [FILES]]
 *        (defaults: the ripple built beside this program, 500)
 *        BENCH_COVERAGE_KEEP=1 keeps the temporary directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "core/banned.h"

#define RUNS 3
#define PATH_SIZE 4352



static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t draw(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

/* ---- the generated project ---- */

struct project {
	char dir[PATH_SIZE];
	int files, width; /* width: digits of mNNN */
	int functions, called, source_lines;
};

static int mkdir_p(const char *dir, const char *sub)
{
	char path[PATH_SIZE];
	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "bench-coverage: cannot create %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static const char common_h[] =
    "#ifndef COMMON_H\n"
    "#define COMMON_H\n"
    "\n"
    "/* Used by every file. */\n"
    "static inline int common_clamp(int v, int lo, int hi)\n"
    "{\n"
    "\tif (v < lo)\n"
    "\t\treturn lo;\n"
    "\tif (v > hi && hi >= lo)\n"
    "\t\treturn hi;\n"
    "\treturn v;\n"
    "}\n"
    "\n"
    "/* Used by the files that have a function of the fourth kind. */\n"
    "static inline int common_sign(int v)\n"
    "{\n"
    "\treturn v > 0 ? 1 : v < 0 ? -1 : 0;\n"
    "}\n"
    "\n"
    "#endif\n";

/* Writes one function of `kind` named mNNN_fK with constants drawn here; the lines written. */
static int write_function(FILE *f, const char *name, int kind)
{
	int c1 = 1 + (int)draw(9), c2 = 1 + (int)draw(4), c3 = 10 + (int)draw(90);
	switch (kind) {
	case 0:
		fprintf(f,
			"int %s(int a, int b)\n"
			"{\n"
			"\tint acc = 0;\n"
			"\tfor (int i = 0; i < a; i++) {\n"
			"\t\tif (i %% %d == 0 && b > %d)\n"
			"\t\t\tacc += i;\n"
			"\t\telse\n"
			"\t\t\tacc -= 1;\n"
			"\t}\n"
			"\treturn common_clamp(acc, -%d, %d);\n"
			"}\n\n",
			name, c1 + 1, c2, c3, c3);
		return 12;
	case 1:
		fprintf(f,
			"int %s(int a, int b)\n"
			"{\n"
			"\tint r = %d;\n"
			"\tswitch ((a < 0 ? -a : a) %% 4) {\n"
			"\tcase 0:\n"
			"\t\tr += b;\n"
			"\t\tbreak;\n"
			"\tcase 1:\n"
			"\t\tif (b > %d || a > %d)\n"
			"\t\t\tr -= a;\n"
			"\t\tbreak;\n"
			"\tcase 2:\n"
			"\t\tr *= 2;\n"
			"\t\t/* fall through */\n"
			"\tcase 3:\n"
			"\t\tr += common_clamp(b, 0, %d);\n"
			"\t\tbreak;\n"
			"\tdefault:\n"
			"\t\tr = 0;\n"
			"\t}\n"
			"\treturn r;\n"
			"}\n\n",
			name, c1, c2 * 3, c3 / 10, c3);
		return 23;
	case 2:
		fprintf(f,
			"int %s(int a, int b)\n"
			"{\n"
			"\tint n = 0;\n"
			"\twhile (a > 0 || b > %d) {\n"
			"\t\tif (a > 0)\n"
			"\t\t\ta -= %d;\n"
			"\t\telse\n"
			"\t\t\tb -= %d;\n"
			"\t\tn++;\n"
			"\t}\n"
			"\treturn common_clamp(n, 0, %d);\n"
			"}\n\n",
			name, c1, c2, c2, c3);
		return 13;
	case 3:
		fprintf(f,
			"int %s(int a, int b)\n"
			"{\n"
			"\tint s = common_sign(a - b);\n"
			"\tint k = 0;\n"
			"\tdo {\n"
			"\t\tif (s > 0) {\n"
			"\t\t\tif (k %% 2 == 0 && a > %d)\n"
			"\t\t\t\ts += 1;\n"
			"\t\t\telse\n"
			"\t\t\t\ts -= 1;\n"
			"\t\t} else if (s < 0) {\n"
			"\t\t\ts += 2;\n"
			"\t\t} else {\n"
			"\t\t\tk += %d;\n"
			"\t\t}\n"
			"\t\tk++;\n"
			"\t} while (k < %d && s != 0);\n"
			"\treturn common_clamp(s + k, -%d, %d);\n"
			"}\n\n",
			name, c1, c2, c3 / 5, c3, c3);
		return 20;
	default:
		fprintf(f,
			"int %s(int a, int b)\n"
			"{\n"
			"\tstatic const int v[8] = {%d, %d, %d, %d, %d, %d, %d, %d};\n"
			"\tint best = 0;\n"
			"\tfor (int i = 0; i < 8; i++) {\n"
			"\t\tif (v[i] == a)\n"
			"\t\t\treturn i;\n"
			"\t\tif (v[i] < b)\n"
			"\t\t\tcontinue;\n"
			"\t\tif (v[i] > best)\n"
			"\t\t\tbest = v[i];\n"
			"\t\telse if (best > %d && a != b)\n"
			"\t\t\tbreak;\n"
			"\t}\n"
			"\treturn common_clamp(best, 0, %d);\n"
			"}\n\n",
			name, (int)draw(25), (int)draw(25), (int)draw(25), (int)draw(25), (int)draw(25),
			(int)draw(25), (int)draw(25), (int)draw(25), c1, c3);
		return 17;
	}
}

/* Arguments that reach most of the branches: a in [-3, 20], b in [-5, 30]. */
static void write_call(FILE *t, const char *name)
{
	int a = (int)draw(24) - 3, b = (int)draw(36) - 5;
	fprintf(t, "\tsum += %s(%d, %d);\n", name, a, b);
}

/*
 * Writes the project under p->dir: src/, include/common.h, tests/test_main.c.
 * The same FILES always give the same project (the generator's seed is fixed).
 */
static int generate(struct project *p)
{
	char path[PATH_SIZE + 64];
	int rc = -1;
	FILE *t = NULL, *decl = NULL, *body = NULL;
	char *decl_text = NULL, *body_text = NULL;
	size_t decl_len = 0, body_len = 0;
	if (mkdir_p(p->dir, "src") < 0 || mkdir_p(p->dir, "include") < 0 || mkdir_p(p->dir, "tests") < 0 ||
	    mkdir_p(p->dir, "obj") < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/include/common.h", p->dir);
	FILE *h = fopen(path, "w");
	if (!h)
		goto out;
	int bad = fputs(common_h, h) == EOF;
	if (fclose(h) != 0 || bad)
		goto out;
	p->source_lines = 20;
	/* The test's declarations and its per-file test functions, joined at the end. */
	decl = open_memstream(&decl_text, &decl_len);
	body = open_memstream(&body_text, &body_len);
	if (!decl || !body)
		goto out;
	int excl_region_file = p->files / 3;
	for (int i = 0; i < p->files; i++) {
		char mod[32], name[64];
		snprintf(mod, sizeof(mod), "m%0*d", p->width, i);
		snprintf(path, sizeof(path), "%s/src/%s.c", p->dir, mod);
		FILE *f = fopen(path, "w");
		if (!f)
			goto out;
		fprintf(f, "/* %s.c: generated by bench-coverage. */\n#include \"common.h\"\n\n", mod);
		p->source_lines += 3;
		int dead_file = i % 25 == 24; /* nothing in it is ever called */
		int nfun = 4 + (int)draw(3);
		fprintf(body, "static long test_%s(void)\n{\n\tlong sum = 0;\n", mod);
		for (int k = 0; k < nfun; k++) {
			snprintf(name, sizeof(name), "%s_f%d", mod, k);
			int kind = (int)draw(5);
			p->source_lines += write_function(f, name, kind);
			p->functions++;
			if (dead_file || draw(4) == 0)
				continue;
			p->called++;
			fprintf(decl, "int %s(int a, int b);\n", name);
			int calls = 1 + (int)draw(3);
			for (int c = 0; c < calls; c++)
				write_call(body, name);
		}
		if (i % 100 == 7) {
			/* Excluded lines, one with branches of its own. */
			snprintf(name, sizeof(name), "%s_guard", mod);
			fprintf(f,
				"int %s(int a);\n"
				"int %s(int a)\n"
				"{\n"
				"\tif (a > 1000 || a < -1000) // LCOV_EXCL_LINE\n"
				"\t\treturn -1; // LCOV_EXCL_LINE\n"
				"\treturn a;\n"
				"}\n\n",
				name, name);
			p->source_lines += 8;
			p->functions++;
			p->called++;
			fprintf(decl, "int %s(int a);\n", name);
			fprintf(body, "\tsum += %s(%d);\n", name, (int)draw(50));
		}
		if (i == excl_region_file) {
			/* A debugging aid nobody calls, excluded as a whole. */
			snprintf(name, sizeof(name), "%s_dump", mod);
			fprintf(f,
				"/* GCOVR_EXCL_START */\n"
				"int %s(int a);\n"
				"int %s(int a)\n"
				"{\n"
				"\tint n = 0;\n"
				"\tfor (int i = 0; i < a; i++)\n"
				"\t\tif (i & 1 && a > 3)\n"
				"\t\t\tn++;\n"
				"\treturn n;\n"
				"}\n"
				"/* GCOVR_EXCL_STOP */\n\n",
				name, name);
			p->source_lines += 12;
			p->functions++;
		}
		fprintf(body, "\treturn sum;\n}\n\n");
		if (fclose(f) != 0)
			goto out;
	}
	if (fclose(decl) != 0 || fclose(body) != 0) {
		decl = body = NULL;
		goto out;
	}
	decl = body = NULL;
	snprintf(path, sizeof(path), "%s/tests/test_main.c", p->dir);
	t = fopen(path, "w");
	if (!t)
		goto out;
	fprintf(t, "/* test_main.c: generated by bench-coverage. */\n#include <stdio.h>\n\n");
	fwrite(decl_text, 1, decl_len, t);
	fputs("\n", t);
	fwrite(body_text, 1, body_len, t);
	fprintf(t, "int main(void)\n{\n\tlong sum = 0;\n");
	for (int i = 0; i < p->files; i++)
		fprintf(t, "\tsum += test_m%0*d();\n", p->width, i);
	fprintf(t, "\tprintf(\"%%ld\\n\", sum);\n\treturn 0;\n}\n");
	if (fclose(t) != 0) {
		t = NULL;
		goto out;
	}
	t = NULL;
	rc = 0;
out:
	if (rc < 0)
		fprintf(stderr, "bench-coverage: cannot write the project under %s: %s\n", p->dir,
			strerror(errno));
	if (t)
		fclose(t);
	if (decl)
		fclose(decl);
	if (body)
		fclose(body);
	free(decl_text);
	free(body_text);
	return rc;
}

/*
 * Compiles every source into obj/ with `gcc --coverage -O0`, at most `jobs`
 * gcc processes at once (absolute paths, as CMake passes them), links
 * obj/test_main and runs it once, so that every object has its .gcda.
 */
static int build(const struct project *p, int jobs, double *build_s, double *test_s)
{
	int n = p->files + 1, next = 0, running = 0, failed = 0;
	char inc[PATH_SIZE + 16];
	snprintf(inc, sizeof(inc), "-I%s/include", p->dir);
	double t0 = bench_now_s();
	while (next < n || running > 0) {
		while (!failed && next < n && running < jobs) {
			char src[PATH_SIZE + 64], obj[PATH_SIZE + 64];
			if (next < p->files) {
				snprintf(src, sizeof(src), "%s/src/m%0*d.c", p->dir, p->width, next);
				snprintf(obj, sizeof(obj), "%s/obj/m%0*d.o", p->dir, p->width, next);
			} else {
				snprintf(src, sizeof(src), "%s/tests/test_main.c", p->dir);
				snprintf(obj, sizeof(obj), "%s/obj/test_main.o", p->dir);
			}
			char *argv[] = {"gcc", "--coverage", "-O0", "-g", inc, "-c", src, "-o", obj, NULL};
			fflush(stdout);
			pid_t pid = fork();
			if (pid < 0) {
				failed = 1;
				break;
			}
			if (pid == 0) {
				execvp(argv[0], argv);
				_exit(127);
			}
			next++;
			running++;
		}
		if (running == 0)
			break;
		int status;
		pid_t done = wait(&status);
		if (done < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		running--;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed = 1;
	}
	if (failed) {
		fprintf(stderr, "bench-coverage: gcc failed on the generated project\n");
		return -1;
	}
	/* Link with the objects as arguments: a shell would do, but not for 10,000 files. */
	size_t argc = 0;
	char **argv = calloc((size_t)n + 8, sizeof(*argv));
	char exe[PATH_SIZE + 32];
	snprintf(exe, sizeof(exe), "%s/obj/test_main", p->dir);
	if (!argv)
		return -1;
	argv[argc++] = "gcc";
	argv[argc++] = "--coverage";
	argv[argc++] = "-o";
	argv[argc++] = exe;
	for (int i = 0; i < n; i++) {
		char obj[PATH_SIZE + 64];
		if (i < p->files)
			snprintf(obj, sizeof(obj), "%s/obj/m%0*d.o", p->dir, p->width, i);
		else
			snprintf(obj, sizeof(obj), "%s/obj/test_main.o", p->dir);
		argv[argc++] = strdup(obj);
	}
	int rc = bench_run(argv, p->dir, NULL, NULL, NULL);
	for (size_t i = 4; i < argc; i++)
		free(argv[i]);
	free(argv);
	*build_s = bench_now_s() - t0;
	if (rc != 0) {
		fprintf(stderr, "bench-coverage: linking the generated project failed (exit %d)\n", rc);
		return -1;
	}
	char *test[] = {exe, NULL};
	rc = bench_run(test, p->dir, NULL, NULL, test_s);
	if (rc != 0) {
		fprintf(stderr, "bench-coverage: the generated test failed (exit %d)\n", rc);
		return -1;
	}
	return 0;
}

/* ---- the .gcda files ---- */

struct names {
	char **v;
	size_t n, cap;
};

static void names_release(struct names *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names (not paths) of the .gcda files in `dir`, sorted. */
static int list_gcda(const char *dir, struct names *out)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len < 6 || strcmp(e->d_name + len - 5, ".gcda") != 0)
			continue;
		if (out->n == out->cap) {
			size_t cap = out->cap ? 2 * out->cap : 256;
			char **v = realloc(out->v, cap * sizeof(*v));
			if (!v) {
				closedir(d);
				return -1;
			}
			out->v = v;
			out->cap = cap;
		}
		out->v[out->n++] = strdup(e->d_name);
	}
	closedir(d);
	if (out->n)
		qsort(out->v, out->n, sizeof(*out->v), by_name);
	return 0;
}

static int copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY), outfd = -1, rc = -1;
	if (in < 0)
		goto out;
	outfd = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (outfd < 0)
		goto out;
	char buf[65536];
	ssize_t got;
	while ((got = read(in, buf, sizeof(buf))) > 0)
		if (write(outfd, buf, (size_t)got) != got)
			goto out;
	rc = got < 0 ? -1 : 0;
out:
	if (in >= 0)
		close(in);
	if (outfd >= 0 && close(outfd) != 0)
		rc = -1;
	return rc;
}

/* Copies each of `names` from directory `from` to directory `to`. */
static int copy_all(const struct names *l, const char *from, const char *to)
{
	for (size_t i = 0; i < l->n; i++) {
		char a[PATH_SIZE + 256], b[PATH_SIZE + 256];
		snprintf(a, sizeof(a), "%s/%s", from, l->v[i]);
		snprintf(b, sizeof(b), "%s/%s", to, l->v[i]);
		if (copy_file(a, b) < 0) {
			fprintf(stderr, "bench-coverage: cannot copy %s to %s: %s\n", a, b, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* An empty directory at `dir` (removed first if it exists). */
static int fresh_dir(const char *dir)
{
	char *rm[] = {"rm", "-rf", (char *)dir, NULL};
	bench_run(rm, NULL, NULL, NULL, NULL);
	if (mkdir(dir, 0755) < 0) {
		fprintf(stderr, "bench-coverage: cannot create %s: %s\n", dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- the three measurements ---- */

struct bench {
	const char *ripple;
	struct project *p;
	struct names gcda;
	char work[4096], obj[PATH_SIZE + 8], pristine[PATH_SIZE + 16], scratch[PATH_SIZE + 16];
	char ripple_out[PATH_SIZE + 32], ripple_err[PATH_SIZE + 32];
	char gcovr_out[PATH_SIZE + 32], gcovr_err[PATH_SIZE + 32], gcov_err[PATH_SIZE + 32];
	char **gcov_argv; /* gcov -j -b OBJ/a.gcda ... */
};

/* Puts the .gcda files back as the test run left them, and an empty scratch directory. */
static int restore(struct bench *b)
{
	return copy_all(&b->gcda, b->pristine, b->obj) < 0 || fresh_dir(b->scratch) < 0 ? -1 : 0;
}

static int floor_once(struct bench *b, double *s)
{
	if (restore(b) < 0)
		return -1;
	int rc = bench_run(b->gcov_argv, b->scratch, NULL, b->gcov_err, s);
	if (rc != 0) {
		fprintf(stderr, "bench-coverage: gcov failed (exit %d); its errors: %s\n", rc, b->gcov_err);
		return -1;
	}
	return 0;
}

/* Prints the first lines of `path` to stderr, indented. */
static void show_head(const char *path, int lines)
{
	FILE *f = fopen(path, "r");
	char line[512];
	while (f && lines-- > 0 && fgets(line, sizeof(line), f))
		fprintf(stderr, "    %s%s", line, strchr(line, '\n') ? "" : "\n");
	if (f)
		fclose(f);
}

static int ripple_once(struct bench *b, double *s)
{
	if (restore(b) < 0)
		return -1;
	char *argv[] = {(char *)b->ripple, "coverage", "ingest", b->obj, "--root", b->p->dir, "--json", NULL};
	int rc = bench_run(argv, b->scratch, b->ripple_out, b->ripple_err, s);
	if (rc != 0) {
		fprintf(stderr,
			"bench-coverage: `%s coverage ingest OBJDIR --root PROJECT --json` failed "
			"(exit %d%s); its first lines of stderr:\n",
			b->ripple, rc,
			rc == 127 ? ": cannot run it" : ", is `ripple coverage ingest` there yet?");
		show_head(b->ripple_err, 5);
		return -1;
	}
	return 0;
}

static int gcovr_once(struct bench *b, double *s)
{
	if (restore(b) < 0)
		return -1;
	char *argv[] = {"gcovr", "--json-summary", "-b", "-r", b->p->dir, "--object-directory", b->obj,
			b->obj,	 NULL};
	int rc = bench_run(argv, b->scratch, b->gcovr_out, b->gcovr_err, s);
	if (rc != 0) {
		fprintf(stderr, "bench-coverage: gcovr failed (exit %d%s); its first lines of stderr:\n", rc,
			rc == 127 ? ": is it installed? apt-get install gcovr" : "");
		show_head(b->gcovr_err, 5);
		return -1;
	}
	return 0;
}

static int by_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), by_double);
	return v[n / 2];
}

/* ---- the totals ---- */

struct count {
	long long covered, total;
};

struct totals {
	struct count lines, branches, functions;
};

static int count_equal(struct count a, struct count b)
{
	return a.covered == b.covered && a.total == b.total;
}

static int totals_equal(const struct totals *a, const struct totals *b)
{
	return count_equal(a->lines, b->lines) && count_equal(a->branches, b->branches) &&
	       count_equal(a->functions, b->functions);
}

/* ripple's {"covered": N, "total": N} object; -1s when missing. */
static struct count ripple_count(json_t *totals, const char *what)
{
	json_t *o = json_object_get(totals, what);
	json_t *c = json_object_get(o, "covered"), *t = json_object_get(o, "total");
	struct count r = {-1, -1};
	if (json_is_integer(c) && json_is_integer(t)) {
		r.covered = json_integer_value(c);
		r.total = json_integer_value(t);
	}
	return r;
}

static void ripple_totals(json_t *totals, struct totals *out)
{
	out->lines = ripple_count(totals, "lines");
	out->branches = ripple_count(totals, "branches");
	out->functions = ripple_count(totals, "functions");
}

/* gcovr's flat PREFIX_covered / PREFIX_total members; -1s when missing. */
static struct count gcovr_count(json_t *o, const char *prefix)
{
	char ck[64], tk[64];
	snprintf(ck, sizeof(ck), "%s_covered", prefix);
	snprintf(tk, sizeof(tk), "%s_total", prefix);
	json_t *c = json_object_get(o, ck), *t = json_object_get(o, tk);
	struct count r = {-1, -1};
	if (json_is_integer(c) && json_is_integer(t)) {
		r.covered = json_integer_value(c);
		r.total = json_integer_value(t);
	}
	return r;
}

static void gcovr_totals(json_t *o, struct totals *out)
{
	out->lines = gcovr_count(o, "line");
	out->branches = gcovr_count(o, "branch");
	out->functions = gcovr_count(o, "function");
}

static void print_count(const char *what, struct count r, struct count g, int have_ripple)
{
	char rs[64], gs[64];
	if (have_ripple)
		snprintf(rs, sizeof(rs), "%lld / %lld (%.1f%%)", r.covered, r.total,
			 r.total > 0 ? 100.0 * (double)r.covered / (double)r.total : 100.0);
	else
		snprintf(rs, sizeof(rs), "-");
	snprintf(gs, sizeof(gs), "%lld / %lld (%.1f%%)", g.covered, g.total,
		 g.total > 0 ? 100.0 * (double)g.covered / (double)g.total : 100.0);
	printf("  %-10s %-26s %-26s %s\n", what, rs, gs,
	       !have_ripple ? "" : count_equal(r, g) ? "same" : "DIFFERENT");
}

/* The files whose totals differ between the two documents (the first `max` of them), to stdout. */
static void show_file_differences(json_t *rdoc, json_t *gdoc, int max)
{
	json_t *rfiles = json_object_get(rdoc, "files"), *gfiles = json_object_get(gdoc, "files");
	size_t i, j;
	json_t *rf, *gf;
	int shown = 0, differing = 0;
	json_array_foreach(gfiles, i, gf) {
		const char *name = json_string_value(json_object_get(gf, "filename"));
		struct totals g, r;
		int found = 0;
		gcovr_totals(gf, &g);
		json_array_foreach(rfiles, j, rf) {
			const char *path = json_string_value(json_object_get(rf, "path"));
			if (name && path && strcmp(name, path) == 0) {
				found = 1;
				ripple_totals(json_object_get(rf, "totals"), &r);
				break;
			}
		}
		if (found && totals_equal(&r, &g))
			continue;
		differing++;
		if (shown++ >= max)
			continue;
		if (!found)
			printf("    %s: only in gcovr's\n", name ? name : "?");
		else
			printf("    %s: lines %lld/%lld vs %lld/%lld, branches %lld/%lld vs %lld/%lld, "
			       "functions %lld/%lld vs %lld/%lld (ripple vs gcovr)\n",
			       name, r.lines.covered, r.lines.total, g.lines.covered, g.lines.total,
			       r.branches.covered, r.branches.total, g.branches.covered, g.branches.total,
			       r.functions.covered, r.functions.total, g.functions.covered,
			       g.functions.total);
	}
	json_array_foreach(rfiles, j, rf) {
		const char *path = json_string_value(json_object_get(rf, "path"));
		int found = 0;
		json_array_foreach(gfiles, i, gf) {
			const char *name = json_string_value(json_object_get(gf, "filename"));
			if (name && path && strcmp(name, path) == 0) {
				found = 1;
				break;
			}
		}
		if (found)
			continue;
		differing++;
		if (shown++ < max)
			printf("    %s: only in ripple's\n", path ? path : "?");
	}
	printf("  %d file(s) differ%s\n", differing, differing > max ? " (the first ones shown)" : "");
}

int main(int argc, char **argv)
{
	char ripple[8192];
	bench_find_ripple(argc > 1 && *argv[1] ? argv[1] : NULL, ripple, sizeof(ripple));
	int files = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 500;
	if (argc > 3 || files < 1 || files > 100000) {
		fprintf(stderr, "usage: bench-coverage [RIPPLE [FILES]]\n");
		return 2;
	}
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int jobs = ncpu > 0 ? (int)ncpu : 1;
	int status = 1;

	struct project p = {.files = files, .width = 3};
	for (int f = files - 1; f >= 1000; f /= 10)
		p.width++;
	struct bench b = {.ripple = ripple, .p = &p};
	const char *tmp = getenv("TMPDIR");
	snprintf(b.work, sizeof(b.work), "%s/ripple-bench-coverage-XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(b.work)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(p.dir, sizeof(p.dir), "%s/project", b.work);
	snprintf(b.obj, sizeof(b.obj), "%s/obj", p.dir);
	snprintf(b.pristine, sizeof(b.pristine), "%s/gcda-pristine", b.work);
	snprintf(b.scratch, sizeof(b.scratch), "%s/scratch", b.work);
	snprintf(b.ripple_out, sizeof(b.ripple_out), "%s/ripple.json", b.work);
	snprintf(b.ripple_err, sizeof(b.ripple_err), "%s/ripple.err", b.work);
	snprintf(b.gcovr_out, sizeof(b.gcovr_out), "%s/gcovr.json", b.work);
	snprintf(b.gcovr_err, sizeof(b.gcovr_err), "%s/gcovr.err", b.work);
	snprintf(b.gcov_err, sizeof(b.gcov_err), "%s/gcov.err", b.work);
	json_t *rdoc = NULL, *gdoc = NULL;

	double t0 = bench_now_s(), build_s = 0, test_s = 0;
	if (mkdir(p.dir, 0755) < 0 || generate(&p) < 0)
		goto out;
	double gen_s = bench_now_s() - t0;
	if (build(&p, jobs, &build_s, &test_s) < 0)
		goto out;
	if (list_gcda(b.obj, &b.gcda) < 0 || b.gcda.n == 0) {
		fprintf(stderr, "bench-coverage: no .gcda files in %s after the test run\n", b.obj);
		goto out;
	}
	if (mkdir(b.pristine, 0755) < 0 || copy_all(&b.gcda, b.obj, b.pristine) < 0)
		goto out;
	b.gcov_argv = calloc(b.gcda.n + 4, sizeof(*b.gcov_argv));
	if (!b.gcov_argv)
		goto out;
	b.gcov_argv[0] = "gcov";
	b.gcov_argv[1] = "--json-format";
	b.gcov_argv[2] = "--branch-probabilities";
	for (size_t i = 0; i < b.gcda.n; i++) {
		char path[PATH_SIZE + 256];
		snprintf(path, sizeof(path), "%s/%s", b.obj, b.gcda.v[i]);
		b.gcov_argv[3 + i] = strdup(path);
	}

	printf("bench-coverage: %d files (src/m%0*d.c .. m%0*d.c, %d functions, %d of them called by the "
	       "test), %d source lines; %zu .gcda files\n",
	       files, p.width, 0, p.width, files - 1, p.functions, p.called, p.source_lines, b.gcda.n);
	printf("generate %.2f s, build (gcc --coverage -O0, %d at once, and link) %.2f s, test run %.3f s\n",
	       gen_s, jobs, build_s, test_s);
	fflush(stdout);

	/* Warm the page cache (sources, .gcno, .gcda, gcov itself); not timed. */
	double warm_s;
	if (floor_once(&b, &warm_s) < 0)
		goto out;

	double floor_s[RUNS], ripple_s[RUNS], gcovr_s[RUNS];
	int have_ripple = access(ripple, X_OK) == 0;
	if (!have_ripple)
		fprintf(stderr,
			"bench-coverage: no ripple at %s (build it, or pass RIPPLE); measuring the rest\n",
			ripple);
	for (int r = 0; r < RUNS; r++) {
		if (floor_once(&b, &floor_s[r]) < 0)
			goto out;
		if (have_ripple && ripple_once(&b, &ripple_s[r]) < 0)
			have_ripple = 0;
		if (gcovr_once(&b, &gcovr_s[r]) < 0)
			goto out;
	}
	double fm = median(floor_s, RUNS), gm = median(gcovr_s, RUNS), rm = 0;
	if (have_ripple)
		rm = median(ripple_s, RUNS);

	json_error_t jerr;
	if (have_ripple && !(rdoc = json_load_file(b.ripple_out, 0, &jerr))) {
		fprintf(stderr, "bench-coverage: ripple's output is not JSON (%s, line %d): %s\n", jerr.text,
			jerr.line, b.ripple_out);
		have_ripple = 0;
	}
	if (!(gdoc = json_load_file(b.gcovr_out, 0, &jerr))) {
		fprintf(stderr, "bench-coverage: gcovr's output is not JSON (%s, line %d): %s\n", jerr.text,
			jerr.line, b.gcovr_out);
		goto out;
	}

	printf("wall-clock, median of %d runs (.gcda files restored before each; gcov warmed up once, "
	       "%.2f s):\n",
	       RUNS, warm_s);
	printf("  gcov --json-format -b, one process (the floor) %8.3f s\n", fm);
	if (have_ripple)
		printf("  ripple coverage ingest --json                  %8.3f s   %.2fx the floor "
		       "(target <= 1.5x)\n",
		       rm, fm > 0 ? rm / fm : 0);
	else
		printf("  ripple coverage ingest --json                  (no figure: see above)\n");
	printf("  gcovr --json-summary                           %8.3f s", gm);
	if (have_ripple)
		printf("   %.1fx ripple (target >= 10x)\n", rm > 0 ? gm / rm : 0);
	else
		printf("\n");
	printf("  runs: floor");
	for (int r = 0; r < RUNS; r++)
		printf(" %.3f", floor_s[r]);
	if (have_ripple) {
		printf(", ripple");
		for (int r = 0; r < RUNS; r++)
			printf(" %.3f", ripple_s[r]);
	}
	printf(", gcovr");
	for (int r = 0; r < RUNS; r++)
		printf(" %.3f", gcovr_s[r]);
	printf(" s\n\n");

	struct totals rt = {{-1, -1}, {-1, -1}, {-1, -1}}, gt;
	if (have_ripple)
		ripple_totals(json_object_get(rdoc, "totals"), &rt);
	gcovr_totals(gdoc, &gt);
	printf("totals (covered / total)  %-26s %-26s\n", "ripple", "gcovr");
	print_count("lines", rt.lines, gt.lines, have_ripple);
	print_count("branches", rt.branches, gt.branches, have_ripple);
	print_count("functions", rt.functions, gt.functions, have_ripple);
	if (!have_ripple) {
		printf("ripple gave no totals: nothing to compare\n");
	} else if (totals_equal(&rt, &gt)) {
		printf("identical: yes\n");
		status = 0;
	} else {
		printf("identical: NO\n");
		show_file_differences(rdoc, gdoc, 10);
	}

out:
	json_decref(rdoc);
	json_decref(gdoc);
	if (b.gcov_argv)
		for (size_t i = 0; i < b.gcda.n; i++)
			free(b.gcov_argv[3 + i]);
	free(b.gcov_argv);
	names_release(&b.gcda);
	const char *keep = getenv("BENCH_COVERAGE_KEEP");
	if (keep && *keep && strcmp(keep, "0") != 0) {
		printf("kept %s\n", b.work);
	} else {
		char *rmv[] = {"rm", "-rf", b.work, NULL};
		bench_run(rmv, NULL, NULL, NULL, NULL);
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "bench-coverage: cannot write the figures\n");
		return 1;
	}
	return status;
}
