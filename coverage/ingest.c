/*
 * ingest.c — coverage_ingest(): gcc's gcov over a build tree's .gcda files.
 *
 * The units (.gcda files, and .gcno files that never ran) are dealt into
 * batches, each one gcov process writing its JSON documents to a file of its
 * own (--stdout: no compressed file per unit to create, write and inflate,
 * which was most of the time), `jobs` at once on a libuv loop (runner steps);
 * a batch's documents are read as soon as its gcov ended, while the others
 * still run. There are more batches than jobs so that reading overlaps with
 * gcov's own work.
 */
#define _GNU_SOURCE
#include "coverage.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "coverage/coverage-internal.h"
#include "runner/step.h"
#include "core/banned.h"

/* Batches per job, so that a batch ends (and is read) while others run. */
#define BATCHES_PER_JOB 4
/* The longest one gcov may take over its batch. */
#define GCOV_TIMEOUT_MS (10 * 60 * 1000)

#define ARENA_CHUNK (1u << 20)

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, cap;
	max_align_t data[];
};

struct arena {
	struct arena_chunk *head;
};

struct batch {
	char out[PATH_MAX]; /* gcov's stdout: its JSON documents, one after the other */
	char log[PATH_MAX];
	char **gcda; /* borrowed from the list */
	size_t n, cap;
	/* Parsed in libuv's thread pool, added up on the loop. */
	uv_work_t work;
	struct ingest *in;
	json_t **docs; /* in `arena` */
	size_t n_docs;
	struct arena arena;
	int parse_rc;
	struct rp_error parse_err;
};

struct ingest {
	const struct cov_ingest_options *o;
	struct cov_report *r;
	char gcov[PATH_MAX];
	char **gcda;
	size_t n_gcda, cap_gcda;
	struct batch *batches;
	size_t n_batches, next, running;
	uv_loop_t loop;
	int failed;
	struct rp_error err;
	char path_env[PATH_MAX + 8];
	const char *work;
};

static int add_gcda(struct ingest *in, const char *path)
{
	if (in->n_gcda == in->cap_gcda) {
		size_t cap = in->cap_gcda ? 2 * in->cap_gcda : 256;
		char **v = realloc(in->gcda, cap * sizeof(*v));
		if (!v)
			return -1;
		in->gcda = v;
		in->cap_gcda = cap;
	}
	if (!(in->gcda[in->n_gcda] = strdup(path)))
		return -1;
	in->n_gcda++;
	return 0;
}

/* nftw has no user pointer: the walk in progress, one per thread at a time. */
static __thread struct ingest *walking;
static __thread int walk_failed;

/*
 * The units: every .gcda, and every .gcno without one — code that was
 * compiled but never ran (a program no test starts), all of it uncovered,
 * which gcov reads from the notes alone, as gcovr does.
 */
static int on_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	size_t len = strlen(path);
	if (flag != FTW_F || len <= 5 || path[len - 5] != '.')
		return 0;
	int gcda = strcmp(path + len - 4, "gcda") == 0, gcno = strcmp(path + len - 4, "gcno") == 0;
	if (gcno) {
		char data[PATH_MAX];
		if (len >= sizeof(data))
			return 0;
		memcpy(data, path, len - 4);
		memcpy(data + len - 4, "gcda", 5);
		if (access(data, F_OK) == 0)
			return 0; /* read with its data */
	}
	if ((gcda || gcno) && add_gcda(walking, path) < 0) {
		walk_failed = 1;
		return 1;
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Deals the units into batches, round robin. */
static int make_batches(struct ingest *in, unsigned jobs, const char *work)
{
	size_t want = (size_t)jobs * BATCHES_PER_JOB;
	if (want > in->n_gcda)
		want = in->n_gcda;
	in->batches = calloc(want, sizeof(*in->batches));
	if (!in->batches)
		return -1;
	in->n_batches = want;
	for (size_t b = 0; b < want; b++) {
		struct batch *bt = &in->batches[b];
		bt->in = in;
		bt->cap = in->n_gcda / want + 1;
		if (!(bt->gcda = malloc(bt->cap * sizeof(*bt->gcda))))
			return -1;
		snprintf(bt->out, sizeof(bt->out), "%s/batch-%zu.json", work, b);
		snprintf(bt->log, sizeof(bt->log), "%s/batch-%zu.log", work, b);
	}
	for (size_t i = 0; i < in->n_gcda; i++) {
		struct batch *bt = &in->batches[i % want];
		bt->gcda[bt->n++] = in->gcda[i];
	}
	return 0;
}

static void fail(struct ingest *in, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(struct ingest *in, int code, const char *fmt, ...)
{
	if (in->failed)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(in->err.msg, sizeof(in->err.msg), fmt, ap);
	va_end(ap);
	in->failed = code;
}

/*
 * Parsing arenas. jansson builds an object per line of gcov's output and
 * frees it afterwards: malloc and free were a third of the reading. A batch's
 * documents are parsed into an arena of the parsing thread (jansson's
 * allocator, set once for the process, bump-allocates while a thread has an
 * arena and is plain malloc/free otherwise), added up on the loop, and
 * dropped with the arena: never freed one by one (no json_decref).
 */
static __thread struct arena *parsing_into;

static void *arena_malloc(size_t n)
{
	struct arena *a = parsing_into;
	if (!a)
		return malloc(n);
	n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
	if (!a->head || a->head->used + n > a->head->cap) {
		size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
		struct arena_chunk *c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->used = 0;
		c->cap = cap;
		c->next = a->head;
		a->head = c;
	}
	void *p = (char *)a->head->data + a->head->used;
	a->head->used += n;
	return p;
}

static void arena_free(void *p)
{
	struct arena *a = parsing_into;
	for (struct arena_chunk *c = a ? a->head : NULL; c; c = c->next)
		if ((char *)p >= (char *)c->data && (char *)p < (char *)c->data + c->cap)
			return; /* goes with the arena */
	free(p);
}

static void arena_drop(struct arena *a)
{
	while (a->head) {
		struct arena_chunk *c = a->head;
		a->head = c->next;
		free(c);
	}
}

static void use_arena_allocator(void)
{
	json_set_alloc_funcs(arena_malloc, arena_free);
}

/* In the thread pool: gcov's output of a batch, parsed (jansson), one document per unit. */
static void parse_work(uv_work_t *w)
{
	struct batch *b = w->data;
	size_t len = 0, at = 0;
	char *data = coverage__slurp(b->out, &len);
	if (!data) {
		b->parse_rc = rp_error_set(&b->parse_err, RP_EIO, "%s: cannot read gcov's output: %s", b->out,
					   strerror(errno));
		return;
	}
	b->docs = calloc(b->n + 1, sizeof(*b->docs));
	parsing_into = &b->arena;
	while (b->docs && b->n_docs <= b->n) {
		while (at < len && (data[at] == '\n' || data[at] == ' ' || data[at] == '\r' || data[at] == '\t'))
			at++;
		if (at == len)
			break;
		json_error_t jerr;
		const char *unit = b->n_docs < b->n ? b->gcda[b->n_docs] : b->out;
		if (b->n_docs == b->n) {
			b->parse_rc = rp_error_set(&b->parse_err, RP_EINVAL, "%s: more documents than units from gcov", b->out);
			break;
		}
		json_t *doc = json_loadb(data + at, len - at, JSON_DISABLE_EOF_CHECK, &jerr);
		if (!doc) {
			b->parse_rc = rp_error_set(&b->parse_err, RP_EINVAL, "%s:%d:%d: not a gcov JSON document: %s", unit,
						   jerr.line, jerr.column, jerr.text);
			break;
		}
		b->docs[b->n_docs++] = doc;
		at += jerr.position;
	}
	parsing_into = NULL;
	if (!b->docs)
		b->parse_rc = rp_error_set(&b->parse_err, RP_ENOMEM, "out of memory");
	free(data);
}

/* Back on the loop: the documents added up, in unit order. */
static void parse_after(uv_work_t *w, int status)
{
	struct batch *b = w->data;
	struct ingest *in = b->in;
	(void)status;
	if (b->parse_rc < 0)
		fail(in, b->parse_rc, "%s", b->parse_err.msg);
	for (size_t k = 0; k < b->n_docs; k++) {
		struct rp_error err;
		if (!in->failed && coverage_add_gcov_doc(in->r, b->docs[k], b->gcda[k], &err) < 0)
			fail(in, RP_EINVAL, "%s", err.msg);
	}
	free(b->docs); /* the documents themselves go with the arena */
	b->docs = NULL;
	arena_drop(&b->arena);
	if (!in->failed && b->n_docs < b->n)
		fail(in, RP_EINVAL, "gcov made data of %zu of %zu units (the first of the batch: %s)", b->n_docs, b->n,
		     b->gcda[0]);
}

static void read_batch(struct ingest *in, struct batch *b)
{
	char why[600] = "";
	if (coverage_gcov_log_complaint(b->log, why, sizeof(why))) {
		fail(in, RP_EINVAL, "gcov cannot use the coverage data: %s (written by another compiler or gcc version, "
				    "or damaged? this gcov is %s)", why, in->gcov);
		return;
	}
	b->work.data = b;
	if (uv_queue_work(&in->loop, &b->work, parse_work, parse_after) < 0)
		fail(in, RP_EIO, "cannot queue the reading of %s", b->out);
}

static void start_next(struct ingest *in);

static void batch_done(struct step *s, const struct step_result *res, void *data)
{
	struct batch *b = data;
	struct ingest *in = b->in;
	(void)s;
	in->running--;
	if (res->status == STEP_TIMED_OUT)
		fail(in, RP_EIO, "gcov took longer than %d s over %zu files", GCOV_TIMEOUT_MS / 1000, b->n);
	/* The next gcov first: it runs while this batch is read. */
	start_next(in);
	if (!in->failed)
		read_batch(in, b);
}

static void start_next(struct ingest *in)
{
	unsigned jobs = in->o->jobs;
	while (!in->failed && in->next < in->n_batches && in->running < jobs) {
		struct batch *b = &in->batches[in->next++];
		const char **argv = calloc(b->n + 5, sizeof(*argv));
		if (!argv) {
			fail(in, RP_ENOMEM, "out of memory");
			return;
		}
		size_t a = 0;
		argv[a++] = in->gcov;
		argv[a++] = "--json-format";
		argv[a++] = "--stdout";
		argv[a++] = "--branch-probabilities";
		for (size_t k = 0; k < b->n; k++)
			argv[a++] = b->gcda[k];
		argv[a] = NULL;
		const char *env[] = { in->path_env, "LC_ALL=C", NULL };
		struct step_spec spec = { .argv = argv,
					  .cwd = in->work,
					  .env = env,
					  .timeout_ms = GCOV_TIMEOUT_MS,
					  .log_path = b->log,
					  .stdout_path = b->out };
		struct step *s;
		struct rp_error err;
		if (step_start(&in->loop, &spec, batch_done, b, &s, &err) < 0) {
			fail(in, RP_EIO, "cannot run %s: %s", in->gcov, err.msg);
		} else {
			in->running++;
		}
		free(argv);
	}
}

int coverage_ingest(const struct cov_ingest_options *o, struct cov_report *out, struct rp_error *err)
{
	struct ingest in = { .o = o, .r = out };
	struct cov_ingest_options opts = *o;
	char root[PATH_MAX], dir[PATH_MAX], work[PATH_MAX];
	int rc = 0, loop_up = 0;
	work[0] = '\0';
	memset(out, 0, sizeof(*out));
	if (!o->dir)
		return rp_error_set(err, RP_EINVAL, "coverage: no directory to ingest");
	if (!realpath(o->dir, dir))
		return rp_error_set(err, RP_ENOTFOUND, "%s: %s", o->dir, strerror(errno));
	if (!realpath(o->root ? o->root : o->dir, root))
		return rp_error_set(err, RP_ENOTFOUND, "%s: %s", o->root, strerror(errno));
	if (!opts.jobs) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		opts.jobs = cpus > 0 ? (unsigned)cpus : 1;
	}
	in.o = &opts;
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, use_arena_allocator);
	if (!step_find_program(o->gcov ? o->gcov : "gcov", in.gcov, sizeof(in.gcov)))
		return rp_error_set(err, RP_ENOTFOUND, "%s: no such program (gcc's gcov is needed)", o->gcov ? o->gcov : "gcov");
	const char *path = getenv("PATH");
	snprintf(in.path_env, sizeof(in.path_env), "PATH=%s", path ? path : "/usr/bin:/bin");
	walking = &in;
	walk_failed = 0;
	if (nftw(dir, on_entry, 32, FTW_PHYS) < 0 || walk_failed) {
		rc = walk_failed ? rp_error_set(err, RP_ENOMEM, "out of memory")
				 : rp_error_set(err, RP_EIO, "%s: cannot walk it: %s", dir, strerror(errno));
		goto out;
	}
	if (in.n_gcda == 0) {
		rc = rp_error_set(err, RP_ENOTFOUND,
				  "%s: no .gcda or .gcno file under it (build with --coverage and run the tests first)", dir);
		goto out;
	}
	qsort(in.gcda, in.n_gcda, sizeof(*in.gcda), cmp_str);
	const char *tmp = o->work_dir ? o->work_dir : getenv("TMPDIR");
	snprintf(work, sizeof(work), "%s/ripple-gcov-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(work)) {
		rc = rp_error_set(err, RP_EIO, "cannot make a work directory in %s: %s", tmp && *tmp ? tmp : "/tmp",
				  strerror(errno));
		work[0] = '\0';
		goto out;
	}
	in.work = work;
	if (make_batches(&in, opts.jobs, work) < 0) {
		rc = rp_error_set(err, RP_EIO, "cannot prepare the gcov batches in %s: %s", work, strerror(errno));
		goto out;
	}
	if ((rc = coverage_report_init(out, root, err)) < 0)
		goto out;
	if (uv_loop_init(&in.loop) < 0) {
		rc = rp_error_set(err, RP_EIO, "cannot make an event loop");
		goto out;
	}
	loop_up = 1;
	start_next(&in);
	uv_run(&in.loop, UV_RUN_DEFAULT);
	if (in.failed) {
		rc = in.failed;
		*err = in.err;
		goto out;
	}
	rc = coverage_finish(out, o->exclude, err);
out:
	if (loop_up)
		uv_loop_close(&in.loop);
	for (size_t b = 0; in.batches && b < in.n_batches; b++) {
		unlink(in.batches[b].out); /* the work directory holds these files only */
		unlink(in.batches[b].log);
		free(in.batches[b].gcda);
		free(in.batches[b].docs);
		arena_drop(&in.batches[b].arena);
	}
	free(in.batches);
	if (work[0])
		rmdir(work);
	for (size_t i = 0; i < in.n_gcda; i++)
		free(in.gcda[i]);
	free(in.gcda);
	if (rc < 0)
		coverage_report_release(out);
	return rc;
}
