/*
 * patch.c — patch coverage (coverage.h): the lines a change adds or changes,
 * from libgit2's diff against the merge base, and how many of them ran.
 */
#define _GNU_SOURCE
#include "coverage.h"

#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "core/banned.h"

struct collect {
	struct cov_patch *p;
	int failed;
};

static const char *git_msg(void)
{
	const git_error *e = git_error_last();
	return e && e->message ? e->message : "unknown libgit2 error";
}

static struct cov_patch_file *file_for(struct collect *c, const char *path)
{
	struct cov_patch *p = c->p;
	if (p->n_files && strcmp(p->files[p->n_files - 1].path, path) == 0)
		return &p->files[p->n_files - 1];
	struct cov_patch_file *v = realloc(p->files, (p->n_files + 1) * sizeof(*v));
	if (!v)
		return NULL;
	p->files = v;
	struct cov_patch_file *f = &v[p->n_files];
	memset(f, 0, sizeof(*f));
	if (!(f->path = strdup(path)))
		return NULL;
	p->n_files++;
	return f;
}

static int on_line(const git_diff_delta *d, const git_diff_hunk *h, const git_diff_line *l, void *data)
{
	struct collect *c = data;
	(void)h;
	if (l->origin != GIT_DIFF_LINE_ADDITION || l->new_lineno <= 0 || !d->new_file.path)
		return 0;
	struct cov_patch_file *f = file_for(c, d->new_file.path);
	uint32_t *v = f ? realloc(f->lines, (f->n_lines + 1) * sizeof(*v)) : NULL;
	if (!v) {
		c->failed = 1;
		return -1;
	}
	f->lines = v;
	f->lines[f->n_lines++] = (uint32_t)l->new_lineno;
	return 0;
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct cov_patch_file *)a)->path, ((const struct cov_patch_file *)b)->path);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

void coverage_patch_release(struct cov_patch *p)
{
	for (size_t i = 0; p && i < p->n_files; i++) {
		free(p->files[i].path);
		free(p->files[i].lines);
	}
	if (p) {
		free(p->files);
		memset(p, 0, sizeof(*p));
	}
}

int coverage_patch_lines(const char *repo_path, const char *base, const char *head, struct cov_patch *out,
			 struct rp_error *err)
{
	git_repository *repo = NULL;
	git_object *bo = NULL, *ho = NULL;
	git_commit *mc = NULL, *hc = NULL;
	git_tree *mt = NULL, *ht = NULL;
	git_diff *diff = NULL;
	git_object *bc_obj = NULL, *hc_obj = NULL;
	git_oid merge_base;
	int rc = 0;
	memset(out, 0, sizeof(*out));
	git_libgit2_init();
	if (git_repository_open_ext(&repo, repo_path, 0, NULL) < 0) {
		rc = rp_error_set(err, RP_ENOTFOUND, "%s is not a git repository: %s", repo_path, git_msg());
		goto out;
	}
	if (git_revparse_single(&bo, repo, base) < 0 || git_revparse_single(&ho, repo, head) < 0) {
		rc = rp_error_set(err, RP_ENOTFOUND, "%s: unknown revision '%s': %s", repo_path, bo ? head : base,
				  git_msg());
		goto out;
	}
	if (git_object_peel(&bc_obj, bo, GIT_OBJECT_COMMIT) < 0 || git_object_peel(&hc_obj, ho, GIT_OBJECT_COMMIT) < 0) {
		git_object_free(bc_obj);
		rc = rp_error_set(err, RP_EINVAL, "%s: '%s' or '%s' is not a commit", repo_path, base, head);
		goto out;
	}
	int mb = git_merge_base(&merge_base, repo, git_object_id(bc_obj), git_object_id(hc_obj));
	git_oid_tostr(out->head, sizeof(out->head), git_object_id(hc_obj));
	git_object_free(bc_obj);
	hc = (git_commit *)hc_obj;
	if (mb < 0) {
		rc = rp_error_set(err, RP_EINVAL, "%s: '%s' and '%s' have no common ancestor", repo_path, base, head);
		goto out;
	}
	git_oid_tostr(out->base, sizeof(out->base), &merge_base);
	if (git_commit_lookup(&mc, repo, &merge_base) < 0 || git_commit_tree(&mt, mc) < 0 ||
	    git_commit_tree(&ht, hc) < 0) {
		rc = rp_error_set(err, RP_EIO, "%s: cannot read the trees: %s", repo_path, git_msg());
		goto out;
	}
	git_diff_options opts;
	git_diff_options_init(&opts, GIT_DIFF_OPTIONS_VERSION);
	opts.context_lines = 0;
	opts.interhunk_lines = 0;
	if (git_diff_tree_to_tree(&diff, repo, mt, ht, &opts) < 0) {
		rc = rp_error_set(err, RP_EIO, "%s: cannot diff %s..%s: %s", repo_path, out->base, out->head, git_msg());
		goto out;
	}
	git_diff_find_options fo;
	git_diff_find_options_init(&fo, GIT_DIFF_FIND_OPTIONS_VERSION);
	fo.flags = GIT_DIFF_FIND_RENAMES;
	if (git_diff_find_similar(diff, &fo) < 0) {
		rc = rp_error_set(err, RP_EIO, "%s: cannot follow renames: %s", repo_path, git_msg());
		goto out;
	}
	struct collect c = { .p = out };
	if (git_diff_foreach(diff, NULL, NULL, NULL, on_line, &c) < 0 || c.failed) {
		rc = c.failed ? rp_error_set(err, RP_ENOMEM, "out of memory")
			      : rp_error_set(err, RP_EIO, "%s: cannot walk the diff: %s", repo_path, git_msg());
		goto out;
	}
	for (size_t i = 0; i < out->n_files; i++)
		qsort(out->files[i].lines, out->files[i].n_lines, sizeof(uint32_t), cmp_u32);
	if (out->n_files)
		qsort(out->files, out->n_files, sizeof(*out->files), by_path);
out:
	git_diff_free(diff);
	git_tree_free(mt);
	git_tree_free(ht);
	git_commit_free(mc);
	git_commit_free(hc);
	git_object_free(bo);
	git_object_free(ho);
	git_repository_free(repo);
	if (rc < 0)
		coverage_patch_release(out);
	return rc;
}

static const struct cov_file *report_file(const struct cov_report *r, const char *path)
{
	size_t lo = 0, hi = r->n_files;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(r->files[mid].path, path);
		if (c == 0)
			return &r->files[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void coverage_patch_figures(const struct cov_report *r, const struct cov_patch *p, struct cov_count *total,
			    struct cov_count *per_file)
{
	memset(total, 0, sizeof(*total));
	for (size_t i = 0; i < p->n_files; i++) {
		struct cov_count c = { 0, 0 };
		const struct cov_file *f = report_file(r, p->files[i].path);
		/* Both ascending: one merge walk. */
		for (size_t a = 0, b = 0; f && a < p->files[i].n_lines && b < f->n_lines;) {
			if (p->files[i].lines[a] < f->lines[b].line) {
				a++;
			} else if (p->files[i].lines[a] > f->lines[b].line) {
				b++;
			} else {
				c.total++;
				c.covered += f->lines[b].hits > 0;
				a++;
				b++;
			}
		}
		if (per_file)
			per_file[i] = c;
		total->covered += c.covered;
		total->total += c.total;
	}
}

size_t coverage_patch_uncovered(const struct cov_report *r, const struct cov_patch_file *pf, uint32_t *out, size_t cap)
{
	const struct cov_file *f = report_file(r, pf->path);
	size_t n = 0;
	for (size_t a = 0, b = 0; f && a < pf->n_lines && b < f->n_lines;) {
		if (pf->lines[a] < f->lines[b].line) {
			a++;
		} else if (pf->lines[a] > f->lines[b].line) {
			b++;
		} else {
			if (f->lines[b].hits == 0 && n++ < cap)
				out[n - 1] = pf->lines[a];
			a++;
			b++;
		}
	}
	return n;
}
