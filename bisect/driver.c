/*
 * driver.c — the standalone bisect: a git repository, a range, a command.
 *
 * The range is what `git bisect` bisects: the commits reachable from bad and
 * not from any good revision (libgit2 revwalk, topological, parents first;
 * first parents only with --first-parent). The parents of range commits that
 * are outside it are the known-good boundary. Each round asks the search
 * (search.c) for its probes, checks each one out into a fresh directory with
 * libgit2, starts them all as runner steps on one libuv loop, waits for them
 * all, removes the worktrees and feeds the answers back.
 */
#define _XOPEN_SOURCE 700
#define _DEFAULT_SOURCE
#include <errno.h>
#include <signal.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "bisect.h"
#include "runner/git.h"
#include "runner/step.h"
#include "core/banned.h"

extern char **environ;

#define ENV_COMMIT "RIPPLE_BISECT_COMMIT"

enum bisect_exit_meaning bisect_exit_meaning(int st)
{
	if (st == 0)
		return BISECT_EXIT_GOOD;
	if (st == 125)
		return BISECT_EXIT_SKIP;
	if (st < 0 || st >= 128)
		return BISECT_EXIT_ABORT;
	return BISECT_EXIT_BAD;
}

static const char *git_msg(void)
{
	const git_error *e = git_error_last();
	return e && e->message ? e->message : "unknown libgit2 error";
}

struct cand {
	git_oid id;
	uint32_t index;
};

static int cand_cmp(const void *a, const void *b)
{
	return git_oid_cmp(&((const struct cand *)a)->id, &((const struct cand *)b)->id);
}

struct oidset {
	struct cand *v; /* sorted by id */
	size_t n;
};

static int64_t oidset_find(const struct oidset *s, const git_oid *id)
{
	struct cand key;
	key.id = *id;
	struct cand *f = bsearch(&key, s->v, s->n, sizeof(*s->v), cand_cmp);
	return f ? (int64_t)f->index : -1;
}

struct probe {
	struct bisect_run_ctx *ctx;
	uint32_t cand;
	char hex[GIT_OID_HEXSZ + 1];
	char dir[4096];
	char log[4200];
	uv_work_t work;
	int ck_rc; /* the checkout's result, and its error */
	struct rp_error ck_err;
	int started;
	struct step *step;
	int done;
	struct step_result res;
};

struct bisect_run_ctx {
	const struct bisect_options *opt;
	git_repository *repo;
	git_oid *ids; /* candidate index -> commit */
	size_t n;
	char root[2048];
	char logs[2048];
	struct bisect_report *rep;
	size_t cap_probes;
	struct probe *round;
	size_t n_round;
	int aborting;
	unsigned seq;
	const char *gitdir;	      /* for the checkout threads, each opens its own repository */
	const struct step_spec *spec; /* the round's command, without cwd, env, log */
	int failed;		      /* the round's first error, in fail_err */
	size_t outstanding;	      /* probes of the round not finished yet */
	uv_signal_t sigint, sigterm;  /* stop everything on Ctrl-C or SIGTERM */
	int interrupted;
	struct rp_error fail_err;
	git_index *revert_index; /* set: probes check this out instead of their commit (one at a time) */
	char **old;		 /* worktrees to remove */
	size_t n_old, cap_old;
};

/* Writes exactly the files of `id` into `dir` (new), from the repository's object database. */
static int checkout(git_repository *repo, const git_oid *id, const char *dir, struct rp_error *err)
{
	git_commit *c = NULL;
	git_tree *tree = NULL;
	git_index *empty = NULL;
	int rc;
	char hex[GIT_OID_HEXSZ + 1];
	git_oid_tostr(hex, sizeof(hex), id);
	if (mkdir(dir, 0755) < 0) {
		rc = rp_error_set(err, RP_EIO, "cannot create worktree %s: %s", dir, strerror(errno));
		goto out;
	}
	if (git_commit_lookup(&c, repo, id) < 0 || git_commit_tree(&tree, c) < 0 ||
	    git_index_new(&empty) < 0) {
		rc = rp_error_set(err, RP_EIO, "cannot read commit %s: %s", hex, git_msg());
		goto out;
	}
	git_checkout_options opts;
	git_checkout_options_init(&opts, GIT_CHECKOUT_OPTIONS_VERSION);
	/* An empty baseline: every file is written, whatever the repository's own index holds. */
	opts.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_DONT_UPDATE_INDEX;
	opts.target_directory = dir;
	opts.baseline_index = empty;
	if (git_checkout_tree(repo, (const git_object *)tree, &opts) < 0) {
		rc = rp_error_set(err, RP_EIO, "cannot check out %s into %s: %s", hex, dir, git_msg());
		goto out;
	}
	rc = 0;
out:
	git_index_free(empty);
	git_tree_free(tree);
	git_commit_free(c);
	return rc;
}

/* Worktrees of the last round, removed during the next one (or at the end). */
static int keep_old(struct bisect_run_ctx *ctx, const char *dir)
{
	if (ctx->n_old == ctx->cap_old) {
		size_t cap = ctx->cap_old ? ctx->cap_old * 2 : 8;
		char **v = realloc(ctx->old, cap * sizeof(*v));
		if (!v)
			return -1;
		ctx->old = v;
		ctx->cap_old = cap;
	}
	char *d = strdup(dir);
	if (!d)
		return -1;
	ctx->old[ctx->n_old++] = d;
	return 0;
}

static void drop_old(struct bisect_run_ctx *ctx)
{
	for (size_t i = 0; i < ctx->n_old; i++) {
		workspace_remove(ctx->old[i]);
		free(ctx->old[i]);
	}
	ctx->n_old = 0;
}

static void stop_round(struct bisect_run_ctx *ctx)
{
	ctx->aborting = 1;
	for (size_t i = 0; i < ctx->n_round; i++)
		if (ctx->round[i].step)
			step_cancel(ctx->round[i].step);
}

static void finished_one(struct bisect_run_ctx *ctx)
{
	if (--ctx->outstanding == 0) {
		uv_close((uv_handle_t *)&ctx->sigint, NULL);
		uv_close((uv_handle_t *)&ctx->sigterm, NULL);
	}
}

/* The handler only marks the round; the loop cancels the probes. */
static void on_signal(uv_signal_t *h, int signum)
{
	struct bisect_run_ctx *ctx = h->data;
	(void)signum;
	ctx->interrupted = 1;
	stop_round(ctx);
}

/* Writes the files of an in-memory index (a revert) into `dir` (new). */
static int checkout_index(git_repository *repo, git_index *index, const char *dir, struct rp_error *err)
{
	git_index *empty = NULL;
	int rc = 0;
	if (mkdir(dir, 0755) < 0)
		return rp_error_set(err, RP_EIO, "cannot create worktree %s: %s", dir, strerror(errno));
	if (git_index_new(&empty) < 0)
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	git_checkout_options opts;
	git_checkout_options_init(&opts, GIT_CHECKOUT_OPTIONS_VERSION);
	opts.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_DONT_UPDATE_INDEX;
	opts.target_directory = dir;
	opts.baseline_index = empty;
	if (git_checkout_index(repo, index, &opts) < 0)
		rc = rp_error_set(err, RP_EIO, "cannot check out the revert into %s: %s", dir, git_msg());
	git_index_free(empty);
	return rc;
}

static void on_done(struct step *step, const struct step_result *res, void *data)
{
	struct probe *p = data;
	(void)step;
	p->res = *res;
	p->done = 1;
	p->step = NULL;
	finished_one(p->ctx);
	int st = res->lost ? -1 : res->exit_status;
	/* A probe past --timeout is a skip, not an abort: killing it was our doing. */
	if (res->status != STEP_TIMED_OUT && bisect_exit_meaning(st) == BISECT_EXIT_ABORT &&
	    !p->ctx->aborting)
		stop_round(p->ctx);
}

/* The user's environment without RIPPLE_BISECT_COMMIT, plus it; NULL-terminated, caller frees. */
static char **probe_env(const char *hex, char *slot, size_t slot_len)
{
	size_t n = 0;
	while (environ && environ[n])
		n++;
	char **env = calloc(n + 2, sizeof(*env));
	if (!env)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], ENV_COMMIT "=", sizeof(ENV_COMMIT)) != 0)
			env[k++] = environ[i];
	snprintf(slot, slot_len, ENV_COMMIT "=%s", hex);
	env[k++] = slot;
	env[k] = NULL;
	return env;
}

static int fill_commit(git_repository *repo, const git_oid *id, struct bisect_commit *out,
		       struct rp_error *err)
{
	git_commit *c = NULL;
	memset(out, 0, sizeof(*out));
	git_oid_tostr(out->id, sizeof(out->id), id);
	if (git_commit_lookup(&c, repo, id) < 0)
		return rp_error_set(err, RP_EIO, "cannot read commit %s: %s", out->id, git_msg());
	const git_signature *a = git_commit_author(c);
	const char *subj = git_commit_summary(c);
	out->author_name = strdup(a->name ? a->name : "");
	out->author_email = strdup(a->email ? a->email : "");
	out->author_time = a->when.time;
	out->author_offset = a->when.offset;
	out->subject = strdup(subj ? subj : "");
	git_commit_free(c);
	if (!out->author_name || !out->author_email || !out->subject)
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	return 0;
}

static int resolve(git_repository *repo, const char *rev, git_oid *out, struct rp_error *err)
{
	git_object *o = NULL, *c = NULL;
	if (!rev || !rev[0])
		return rp_error_set(err, RP_EINVAL, "an empty revision");
	if (git_revparse_single(&o, repo, rev) < 0)
		return rp_error_set(err, RP_ENOTFOUND, "unknown revision '%s': %s", rev, git_msg());
	int rc = 0;
	if (git_object_peel(&c, o, GIT_OBJECT_COMMIT) < 0)
		rc = rp_error_set(err, RP_EINVAL, "revision '%s' is not a commit", rev);
	else
		*out = *git_object_id(c);
	git_object_free(c);
	git_object_free(o);
	return rc;
}

static int record_probe(struct bisect_run_ctx *ctx, const struct probe *p, unsigned round)
{
	struct bisect_report *rep = ctx->rep;
	if (rep->n_probes == ctx->cap_probes) {
		size_t cap = ctx->cap_probes ? ctx->cap_probes * 2 : 64;
		struct bisect_probe_record *v = realloc(rep->probes, cap * sizeof(*v));
		if (!v)
			return -1;
		rep->probes = v;
		ctx->cap_probes = cap;
	}
	struct bisect_probe_record *r = &rep->probes[rep->n_probes++];
	memset(r, 0, sizeof(*r));
	git_oid_tostr(r->id, sizeof(r->id), &ctx->ids[p->cand]);
	r->round = round;
	r->exit_status = p->res.lost ? -1 : p->res.exit_status;
	r->answer = bisect_exit_meaning(r->exit_status);
	r->duration_ms = p->res.duration_ms;
	return 0;
}

/* The program `name` as execvp() would find it on $PATH; 0 when it is not there. */

/* Off the loop, in libuv's thread pool: a repository of its own, the checkout. */
static void work_checkout(uv_work_t *w)
{
	struct probe *p = w->data;
	git_repository *repo = NULL;
	if (p->ctx->revert_index) {
		/* One revert probe at a time, while the loop thread waits: the index belongs to ctx->repo. */
		p->ck_rc = checkout_index(p->ctx->repo, p->ctx->revert_index, p->dir, &p->ck_err);
		return;
	}
	if (git_repository_open(&repo, p->ctx->gitdir) < 0) {
		p->ck_rc = rp_error_set(&p->ck_err, RP_EIO, "cannot open %s: %s", p->ctx->gitdir, git_msg());
		return;
	}
	p->ck_rc = checkout(repo, &p->ctx->ids[p->cand], p->dir, &p->ck_err);
	git_repository_free(repo);
}

/* Back on the loop: start the probe as soon as its worktree is there. */
static void after_checkout(uv_work_t *w, int status)
{
	struct probe *p = w->data;
	struct bisect_run_ctx *ctx = p->ctx;
	if (status < 0 && p->ck_rc == 0)
		p->ck_rc = rp_error_set(&p->ck_err, RP_EIO, "the checkout of a probe was cancelled");
	if (p->ck_rc < 0 || ctx->aborting || ctx->failed) {
		if (p->ck_rc < 0 && !ctx->failed) {
			ctx->failed = p->ck_rc;
			ctx->fail_err = p->ck_err;
		}
		finished_one(ctx);
		return;
	}
	char envslot[64];
	char **env = probe_env(p->hex, envslot, sizeof(envslot));
	if (!env) {
		ctx->failed = rp_error_set(&ctx->fail_err, RP_ENOMEM, "out of memory");
		finished_one(ctx);
		return;
	}
	struct step_spec spec = *ctx->spec;
	spec.cwd = p->dir;
	spec.env = (const char *const *)env;
	spec.log_path = p->log;
	int rc = step_start(w->loop, &spec, on_done, p, &p->step, &p->ck_err);
	free(env);
	if (rc < 0) {
		ctx->failed = rc;
		ctx->fail_err = p->ck_err;
		finished_one(ctx);
		return;
	}
	p->started = 1;
}

/*
 * Runs one round of probes: the checkouts in the thread pool, each probe
 * started on the loop as soon as its worktree is ready; fills the records.
 * Returns 0, or the first error (a checkout, a spawn): then nothing of the
 * round is recorded.
 */
static int run_round(struct bisect_run_ctx *ctx, const uint32_t *cands, size_t count, unsigned round,
		     struct rp_error *err)
{
	const struct bisect_options *opt = ctx->opt;
	uv_loop_t loop;
	int rc = 0;
	char prog[4096];
	size_t argc = 0;
	while (opt->argv[argc])
		argc++;
	const char **argv = calloc(argc + 5, sizeof(*argv));
	ctx->round = calloc(count, sizeof(*ctx->round));
	if (!argv || !ctx->round) {
		free(argv);
		free(ctx->round);
		ctx->round = NULL;
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	}
	/* One argument is a shell command line, as `git bisect run` treats it; more run as given. */
	struct step_spec spec;
	memset(&spec, 0, sizeof(spec));
	if (argc == 1) {
		spec.script = opt->argv[0];
	} else if (step_find_program(opt->argv[0], prog, sizeof(prog))) {
		argv[0] = prog;
		for (size_t i = 1; i < argc; i++)
			argv[i] = opt->argv[i];
		spec.argv = argv;
	} else {
		/* Not found: let the shell say so, with status 127 as for git. */
		argv[0] = "/bin/sh";
		argv[1] = "-c";
		argv[2] = "exec \"$@\"";
		argv[3] = "sh";
		for (size_t i = 0; i < argc; i++)
			argv[4 + i] = opt->argv[i];
		spec.argv = argv;
	}
	spec.timeout_ms = opt->timeout_ms;
	ctx->spec = &spec;
	ctx->n_round = count;
	ctx->failed = 0;
	ctx->outstanding = 0;
	if (uv_loop_init(&loop) < 0) {
		free(argv);
		free(ctx->round);
		ctx->round = NULL;
		return rp_error_set(err, RP_EIO, "cannot create an event loop");
	}
	uv_signal_init(&loop, &ctx->sigint);
	uv_signal_init(&loop, &ctx->sigterm);
	ctx->sigint.data = ctx->sigterm.data = ctx;
	uv_signal_start(&ctx->sigint, on_signal, SIGINT);
	uv_signal_start(&ctx->sigterm, on_signal, SIGTERM);
	for (size_t i = 0; i < count; i++) {
		struct probe *p = &ctx->round[i];
		p->ctx = ctx;
		p->cand = cands[i];
		git_oid_tostr(p->hex, sizeof(p->hex), &ctx->ids[p->cand]);
		unsigned seq = ++ctx->seq;
		if (snprintf(p->dir, sizeof(p->dir), "%s/probe-%04u-%.12s", ctx->root, seq, p->hex) >=
			(int)sizeof(p->dir) ||
		    snprintf(p->log, sizeof(p->log), "%s/probe-%04u-%.12s.log", ctx->logs, seq, p->hex) >=
			(int)sizeof(p->log)) {
			rc = rp_error_set(err, RP_EIO, "the work directory's path is too long");
			break;
		}
		p->work.data = p;
		if (uv_queue_work(&loop, &p->work, work_checkout, after_checkout) < 0) {
			rc = rp_error_set(err, RP_EIO, "cannot queue a checkout");
			p->dir[0] = '\0';
			break;
		}
		ctx->outstanding++;
	}
	if (rc < 0)
		ctx->failed = rc;
	if (ctx->outstanding == 0) {
		uv_close((uv_handle_t *)&ctx->sigint, NULL);
		uv_close((uv_handle_t *)&ctx->sigterm, NULL);
	}
	/* The last round's worktrees go while this round's probes run. */
	drop_old(ctx);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	free(argv);
	ctx->spec = NULL;
	if (rc == 0 && ctx->failed) {
		rc = ctx->failed;
		if (err)
			*err = ctx->fail_err;
	}
	for (size_t i = 0; i < count && rc == 0; i++) {
		struct probe *p = &ctx->round[i];
		if (record_probe(ctx, p, round) < 0) {
			rc = rp_error_set(err, RP_ENOMEM, "out of memory");
			break;
		}
		struct bisect_probe_record *r = &ctx->rep->probes[ctx->rep->n_probes - 1];
		r->log_path = strdup(p->log);
		if (p->started && p->res.status == STEP_TIMED_OUT) {
			r->answer = BISECT_EXIT_SKIP;
			r->timed_out = 1;
		}
		if (!p->started || p->res.status == STEP_CANCELLED) {
			r->answer = BISECT_EXIT_ABORT; /* not run or cancelled: another probe aborted */
			r->exit_status = -1;
		}
		if (opt->on_probe)
			opt->on_probe(r, opt->data);
	}
	for (size_t i = 0; i < count && !opt->keep; i++)
		if (ctx->round[i].dir[0] && keep_old(ctx, ctx->round[i].dir) < 0)
			workspace_remove(ctx->round[i].dir);
	return rc;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int make_dirs(struct bisect_run_ctx *ctx, struct rp_error *err)
{
	const struct bisect_options *opt = ctx->opt;
	const char *base = opt->work_dir;
	if (!base || !base[0])
		base = getenv("TMPDIR");
	if (!base || !base[0])
		base = "/tmp";
	if (opt->work_dir && mkdir(opt->work_dir, 0755) < 0 && errno != EEXIST)
		return rp_error_set(err, RP_EIO, "cannot create the work directory %s: %s", opt->work_dir,
				    strerror(errno));
	snprintf(ctx->root, sizeof(ctx->root), "%s/ripple-bisect-XXXXXX", base);
	if (!mkdtemp(ctx->root))
		return rp_error_set(err, RP_EIO, "cannot create a directory in %s: %s", base,
				    strerror(errno));
	if (opt->log_dir) {
		snprintf(ctx->logs, sizeof(ctx->logs), "%s", opt->log_dir);
		if (mkdir(ctx->logs, 0755) < 0 && errno != EEXIST)
			return rp_error_set(err, RP_EIO, "cannot create the log directory %s: %s", ctx->logs,
					    strerror(errno));
	} else {
		if (snprintf(ctx->logs, sizeof(ctx->logs), "%s/logs", ctx->root) >= (int)sizeof(ctx->logs))
			return rp_error_set(err, RP_EIO, "the work directory's path is too long");
		if (mkdir(ctx->logs, 0755) < 0)
			return rp_error_set(err, RP_EIO, "cannot create the log directory %s: %s", ctx->logs,
					    strerror(errno));
	}
	return 0;
}

void bisect_report_release(struct bisect_report *rep)
{
	if (!rep)
		return;
	free(rep->first_bad.author_name);
	free(rep->first_bad.author_email);
	free(rep->first_bad.subject);
	free(rep->suspects);
	for (size_t i = 0; i < rep->n_probes; i++)
		free(rep->probes[i].log_path);
	free(rep->probes);
	free(rep->log_dir);
	free(rep->abort_msg);
	memset(rep, 0, sizeof(*rep));
}

/* The range and its boundary as candidates: boundary first (known good), then the range in order. */
static int build_candidates(git_repository *repo, const git_oid *bad, const git_oid *goods, size_t n_goods,
			    int first_parent, git_oid **ids_out, size_t *n_out, uint32_t **pstart_out,
			    uint32_t **parents_out, uint8_t **known_out, size_t *range_out,
			    struct rp_error *err)
{
	git_revwalk *w = NULL;
	git_oid *range = NULL, *ids = NULL;
	struct cand *sorted = NULL, *bsorted = NULL;
	uint32_t *pstart = NULL, *parents = NULL;
	uint8_t *known = NULL;
	git_oid *boundary = NULL;
	size_t nr = 0, cap = 0, nb = 0, capb = 0, np = 0, capp = 0;
	int rc = RP_ENOMEM;

	if (git_revwalk_new(&w, repo) < 0 ||
	    git_revwalk_sorting(w, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE) < 0 ||
	    git_revwalk_push(w, bad) < 0) {
		rc = rp_error_set(err, RP_EIO, "cannot walk the history: %s", git_msg());
		goto out;
	}
	for (size_t i = 0; i < n_goods; i++)
		if (git_revwalk_hide(w, &goods[i]) < 0) {
			rc = rp_error_set(err, RP_EIO, "cannot walk the history: %s", git_msg());
			goto out;
		}
	if (first_parent)
		git_revwalk_simplify_first_parent(w);
	git_oid id;
	int r;
	while ((r = git_revwalk_next(&id, w)) == 0) {
		if (nr == cap) {
			cap = cap ? cap * 2 : 256;
			git_oid *v = realloc(range, cap * sizeof(*v));
			if (!v)
				goto nomem;
			range = v;
		}
		range[nr++] = id;
	}
	if (r != GIT_ITEROVER) {
		rc = rp_error_set(err, RP_EIO, "cannot walk the history: %s", git_msg());
		goto out;
	}
	if (nr == 0) {
		rc = rp_error_set(err, RP_EINVAL, "no commits between good and bad");
		goto out;
	}
	/* With first parents only, a walk may list the bad commit last but must end with it. */
	if (!git_oid_equal(&range[nr - 1], bad)) {
		rc = rp_error_set(err, RP_EIO, "the history walk did not end at the bad commit");
		goto out;
	}
	sorted = malloc(nr * sizeof(*sorted));
	if (!sorted)
		goto nomem;
	for (size_t i = 0; i < nr; i++) {
		sorted[i].id = range[i];
		sorted[i].index = (uint32_t)i;
	}
	qsort(sorted, nr, sizeof(*sorted), cand_cmp);
	struct oidset rs = {sorted, nr};
	/* Boundary: parents outside the range. */
	for (size_t i = 0; i < nr; i++) {
		git_commit *c;
		if (git_commit_lookup(&c, repo, &range[i]) < 0) {
			rc = rp_error_set(err, RP_EIO, "cannot read a commit: %s", git_msg());
			goto out;
		}
		unsigned pc = first_parent ? (git_commit_parentcount(c) > 0) : git_commit_parentcount(c);
		for (unsigned j = 0; j < pc; j++) {
			const git_oid *p = git_commit_parent_id(c, j);
			if (oidset_find(&rs, p) >= 0)
				continue;
			int seen = 0;
			for (size_t b = 0; b < nb && !seen; b++)
				seen = git_oid_equal(&boundary[b], p);
			if (seen)
				continue;
			if (nb == capb) {
				capb = capb ? capb * 2 : 16;
				git_oid *v = realloc(boundary, capb * sizeof(*v));
				if (!v) {
					git_commit_free(c);
					goto nomem;
				}
				boundary = v;
			}
			boundary[nb++] = *p;
		}
		git_commit_free(c);
	}
	size_t n = nb + nr;
	ids = malloc(n * sizeof(*ids));
	pstart = malloc((n + 1) * sizeof(*pstart));
	known = calloc(n, 1);
	bsorted = malloc((nb ? nb : 1) * sizeof(*bsorted));
	if (!ids || !pstart || !known || !bsorted)
		goto nomem;
	for (size_t b = 0; b < nb; b++) {
		ids[b] = boundary[b];
		known[b] = 1;
		pstart[b] = 0;
		bsorted[b].id = boundary[b];
		bsorted[b].index = (uint32_t)b;
	}
	qsort(bsorted, nb, sizeof(*bsorted), cand_cmp);
	struct oidset bs = {bsorted, nb};
	for (size_t i = 0; i < nr; i++) {
		size_t ci = nb + i;
		ids[ci] = range[i];
		pstart[ci] = (uint32_t)np;
		git_commit *c;
		if (git_commit_lookup(&c, repo, &range[i]) < 0) {
			rc = rp_error_set(err, RP_EIO, "cannot read a commit: %s", git_msg());
			goto out;
		}
		unsigned pc = first_parent ? (git_commit_parentcount(c) > 0) : git_commit_parentcount(c);
		for (unsigned j = 0; j < pc; j++) {
			const git_oid *p = git_commit_parent_id(c, j);
			int64_t x = oidset_find(&rs, p);
			x = x >= 0 ? x + (int64_t)nb : oidset_find(&bs, p);
			if (x < 0 || (size_t)x >= ci)
				continue;
			if (np == capp) {
				capp = capp ? capp * 2 : 256;
				uint32_t *v = realloc(parents, capp * sizeof(*v));
				if (!v) {
					git_commit_free(c);
					goto nomem;
				}
				parents = v;
			}
			parents[np++] = (uint32_t)x;
		}
		git_commit_free(c);
	}
	pstart[n] = (uint32_t)np;
	*ids_out = ids;
	*n_out = n;
	*pstart_out = pstart;
	*parents_out = parents;
	*known_out = known;
	*range_out = nr;
	ids = NULL;
	pstart = parents = NULL;
	known = NULL;
	rc = 0;
	goto out;
nomem:
	rc = rp_error_set(err, RP_ENOMEM, "out of memory");
out:
	git_revwalk_free(w);
	free(range);
	free(sorted);
	free(bsorted);
	free(boundary);
	free(ids);
	free(pstart);
	free(parents);
	free(known);
	return rc;
}

int bisect_range_build(git_repository *repo, const git_oid *bad, const git_oid *goods, size_t n_goods,
		       int first_parent, struct bisect_range *out, struct rp_error *err)
{
	memset(out, 0, sizeof(*out));
	return build_candidates(repo, bad, goods, n_goods, first_parent, &out->ids, &out->n, &out->parent_start,
				&out->parents, &out->known_good, &out->range_size, err);
}

void bisect_range_release(struct bisect_range *r)
{
	free(r->ids);
	free(r->parent_start);
	free(r->parents);
	free(r->known_good);
	memset(r, 0, sizeof(*r));
}

/*
 * KernelCI's check: revert the culprit on top of the bad commit and expect the
 * test to pass. Runs max(1, retries) probes, one at a time; a revert that does
 * not apply cleanly verifies nothing.
 */
static int verify_revert(struct bisect_run_ctx *ctx, struct bisect_search *s, uint32_t culprit, uint32_t bad,
			 unsigned round, struct rp_error *err)
{
	struct bisect_report *rep = ctx->rep;
	git_commit *c = NULL, *b = NULL;
	git_index *idx = NULL;
	int rc = 0;
	(void)s;
	if (git_commit_lookup(&c, ctx->repo, &ctx->ids[culprit]) < 0 ||
	    git_commit_lookup(&b, ctx->repo, &ctx->ids[bad]) < 0) {
		rc = rp_error_set(err, RP_EIO, "cannot read a commit: %s", git_msg());
		goto out;
	}
	unsigned mainline = git_commit_parentcount(c) > 1 ? 1 : 0;
	if (git_revert_commit(&idx, ctx->repo, c, b, mainline, NULL) < 0 || git_index_has_conflicts(idx)) {
		rep->revert = BISECT_REVERT_CONFLICT;
		goto out;
	}
	ctx->revert_index = idx;
	unsigned runs = ctx->opt->retries ? ctx->opt->retries : 1, passed = 0;
	for (unsigned i = 0; i < runs; i++) {
		uint32_t cand = culprit;
		size_t first = rep->n_probes;
		rc = run_round(ctx, &cand, 1, round + 1 + i, err);
		free(ctx->round);
		ctx->round = NULL;
		if (rc < 0)
			goto out;
		struct bisect_probe_record *r = &rep->probes[first];
		r->revert = 1;
		if (r->answer == BISECT_EXIT_ABORT) {
			rep->verdict = BISECT_ABORTED;
			if (!rep->abort_msg)
				rep->abort_msg =
				    strdup(ctx->interrupted ? "interrupted by a signal"
							    : "the command aborted on the revert");
			goto out;
		}
		passed += r->answer == BISECT_EXIT_GOOD;
		rep->rounds++;
	}
	rep->revert_runs = runs;
	rep->revert_passed = passed;
	rep->revert = passed == runs ? BISECT_REVERT_FIXES : BISECT_REVERT_DOES_NOT_FIX;
	if (passed < runs)
		rep->verdict = BISECT_UNCONFIRMED;
out:
	ctx->revert_index = NULL;
	git_index_free(idx);
	git_commit_free(b);
	git_commit_free(c);
	return rc;
}

int bisect_run(const struct bisect_options *opt, struct bisect_report *rep, struct rp_error *err)
{
	struct bisect_run_ctx ctx;
	git_oid bad, *goods = NULL;
	size_t n_goods = 0;
	uint32_t *pstart = NULL, *parents = NULL, *probes = NULL;
	uint8_t *known = NULL;
	struct bisect_search *s = NULL;
	int rc;

	memset(&ctx, 0, sizeof(ctx));
	memset(rep, 0, sizeof(*rep));
	ctx.opt = opt;
	ctx.rep = rep;
	uint64_t t0 = now_ms();
	if (!opt->repo || !opt->good || !opt->good[0] || !opt->bad || !opt->argv || !opt->argv[0] ||
	    opt->jobs == 0)
		return rp_error_set(err, RP_EINVAL,
				    "bisect: a repository, good and bad revisions and a command are needed");
	git_libgit2_init();
	if (git_repository_open_ext(&ctx.repo, opt->repo, 0, NULL) < 0) {
		rc = rp_error_set(err, RP_ENOTFOUND, "%s is not a git repository: %s", opt->repo, git_msg());
		goto out;
	}
	ctx.gitdir = git_repository_path(ctx.repo);
	if ((rc = resolve(ctx.repo, opt->bad, &bad, err)) < 0)
		goto out;
	while (opt->good[n_goods])
		n_goods++;
	goods = calloc(n_goods, sizeof(*goods));
	if (!goods) {
		rc = rp_error_set(err, RP_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n_goods; i++) {
		if ((rc = resolve(ctx.repo, opt->good[i], &goods[i], err)) < 0)
			goto out;
		if (git_oid_equal(&goods[i], &bad)) {
			rc = rp_error_set(err, RP_EINVAL, "good revision '%s' is the bad commit itself",
					  opt->good[i]);
			goto out;
		}
		int d = git_graph_descendant_of(ctx.repo, &bad, &goods[i]);
		if (d < 0) {
			rc = rp_error_set(err, RP_EIO, "cannot compare '%s' and '%s': %s", opt->good[i],
					  opt->bad, git_msg());
			goto out;
		}
		if (d == 0) {
			rc = rp_error_set(err, RP_EINVAL,
					  "good revision '%s' is not an ancestor of bad revision '%s'",
					  opt->good[i], opt->bad);
			goto out;
		}
	}
	size_t n = 0, range = 0;
	if ((rc = build_candidates(ctx.repo, &bad, goods, n_goods, opt->first_parent, &ctx.ids, &n, &pstart,
				   &parents, &known, &range, err)) < 0)
		goto out;
	ctx.n = n;
	rep->range_size = range;
	struct bisect_search_config cfg = {
	    .k = opt->jobs,
	    .noise = opt->retries ? (opt->noise > 0 ? opt->noise : 0.1) : 0,
	    .confidence = 0.995,
	    .retries = opt->retries,
	};
	if ((rc = bisect_search_new(n, pstart, parents, known, &cfg, &s, err)) < 0)
		goto out;
	if ((rc = make_dirs(&ctx, err)) < 0)
		goto out;
	rep->log_dir = strdup(ctx.logs);
	probes =
	    calloc(opt->jobs > 4 * (cfg.retries + 1) ? opt->jobs : 4 * (cfg.retries + 1), sizeof(*probes));
	if (!probes || !rep->log_dir) {
		rc = rp_error_set(err, RP_ENOMEM, "out of memory");
		goto out;
	}
	enum bisect_verdict v;
	size_t count;
	unsigned round = 0;
	while ((v = bisect_search_next(s, probes, opt->jobs, &count)) == BISECT_RUNNING) {
		round++;
		size_t first = rep->n_probes;
		rc = run_round(&ctx, probes, count, round, err);
		free(ctx.round);
		ctx.round = NULL;
		if (rc < 0)
			goto out;
		for (size_t i = first; i < rep->n_probes; i++) {
			struct bisect_probe_record *r = &rep->probes[i];
			uint32_t c = probes[i - first];
			if (r->answer == BISECT_EXIT_ABORT)
				continue;
			bisect_search_answer(s, c,
					     r->answer == BISECT_EXIT_GOOD  ? BISECT_GOOD
					     : r->answer == BISECT_EXIT_BAD ? BISECT_BAD
									    : BISECT_SKIP);
		}
		if (ctx.aborting) {
			v = BISECT_ABORTED;
			if (ctx.interrupted)
				rep->abort_msg = strdup("interrupted by a signal");
			/* The probe that asked to abort, not the ones cancelled because of it. */
			for (int pass = 0; pass < 2 && !rep->abort_msg; pass++) {
				for (size_t i = first; i < rep->n_probes && !rep->abort_msg; i++) {
					struct bisect_probe_record *r = &rep->probes[i];
					char msg[160];
					if (pass == 0 && r->exit_status >= 128)
						snprintf(msg, sizeof(msg),
							 "the command exited with status %d at %.12s (128 or "
							 "above aborts)",
							 r->exit_status, r->id);
					else if (pass == 1 && r->exit_status < 0)
						snprintf(msg, sizeof(msg),
							 "the command was killed by a signal at %.12s",
							 r->id);
					else
						continue;
					rep->abort_msg = strdup(msg);
				}
			}
			break;
		}
	}
	rep->verdict = v;
	struct bisect_search_result res;
	bisect_search_result(s, &res);
	rep->rounds = round;
	rep->confidence = res.confidence;
	if (res.suspect >= 0 && v != BISECT_ABORTED) {
		if ((rc = fill_commit(ctx.repo, &ctx.ids[res.suspect], &rep->first_bad, err)) < 0)
			goto out;
		bisect_search_counts(s, (uint32_t)res.suspect, &rep->culprit_runs, &rep->culprit_bad);
		if (res.parent >= 0) {
			git_oid_tostr(rep->parent_id, sizeof(rep->parent_id), &ctx.ids[res.parent]);
			bisect_search_counts(s, (uint32_t)res.parent, &rep->parent_runs, &rep->parent_bad);
		}
	}
	if (res.n_suspects) {
		rep->suspects = calloc(res.n_suspects, sizeof(*rep->suspects));
		if (!rep->suspects) {
			rc = rp_error_set(err, RP_ENOMEM, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < res.n_suspects; i++)
			git_oid_tostr(rep->suspects[i], sizeof(rep->suspects[i]), &ctx.ids[res.suspects[i]]);
		rep->n_suspects = res.n_suspects;
	}
	if (opt->verify_revert && v == BISECT_CULPRIT &&
	    (rc = verify_revert(&ctx, s, (uint32_t)res.culprit, (uint32_t)(n - 1), round, err)) < 0)
		goto out;
	rc = 0;
out:
	rep->wall_ms = now_ms() - t0;
	if (ctx.root[0] && !opt->keep) {
		/* Keep the logs: remove only the worktrees left (a failed round) when logs live elsewhere. */
		if (opt->log_dir)
			workspace_remove(ctx.root);
	}
	drop_old(&ctx);
	free(ctx.old);
	bisect_search_free(s);
	free(probes);
	free(pstart);
	free(parents);
	free(known);
	free(goods);
	free(ctx.ids);
	git_repository_free(ctx.repo);
	if (rc < 0)
		bisect_report_release(rep);
	return rc;
}
