/*
 * git.h — local git mirrors and per-job workspaces, with libgit2 only (never a
 * `git` subprocess).
 *
 * Contract:
 * - A mirror is a bare repository under a cache directory, one per remote
 *   repository, named by the SHA-256 of the repository's normalized URL (see
 *   mirror_normalize_url()), so "repo", "./repo/", "file:///abs/repo" and
 *   "/abs/repo/.git" all share one mirror, as do "HTTPS://Host/x.git" and
 *   "https://host/x". It holds every branch (refs/heads/) and tag (refs/tags/)
 *   of the remote, and its HEAD follows the remote's default branch. It also
 *   holds the forges' pull-request heads, renamed so that they are never taken
 *   for branches: refs/pull/N/head (GitHub, Gitea) as refs/ripple/pull/N and
 *   refs/merge-requests/N/head (GitLab) as refs/ripple/merge-requests/N. So a
 *   PR's head commit resolves by its id even when it comes from a fork and no
 *   branch reaches it.
 * - mirror_open() clones a missing mirror (and only then talks to the remote);
 *   mirror_fetch() brings an open mirror up to date and deletes the branches
 *   and tags the remote no longer has. Pull-request refs are updated (forced)
 *   but never deleted; no object is ever deleted.
 * - Clones and fetches of one mirror are serialized by an exclusive flock() on
 *   "<cache>/<sha256>.lock", so any number of threads and processes may open and
 *   fetch the same mirror at once. A clone is made in a temporary directory and
 *   renamed into place, so a half-made mirror is never visible; leftovers of a
 *   crashed clone are removed by the next clone. Readers (resolve, checkout)
 *   take no lock: libgit2 writes objects before the refs that name them and
 *   replaces refs by rename, and ripple never garbage-collects a mirror.
 * - A `struct mirror` is used by one thread at a time. Threads that work on the
 *   same repository open a struct mirror each (opening an existing mirror is a
 *   few file reads). A struct mirror must not cross a fork().
 * - Every function returns 0 or a negative RP_E* code and then writes one line
 *   into `err` (when non-NULL) naming the repository URL as the caller gave it
 *   and, for libgit2 failures, libgit2's own message:
 *     RP_EUNREACHABLE  the remote cannot be fetched (missing path, not a
 *                      repository, refused connection, bad URL, TLS, auth):
 *                      "cannot fetch URL: <libgit2 message>";
 *     RP_ENOTFOUND     an unknown revision or a commit the mirror lacks;
 *     RP_EINVAL        a malformed argument, an ambiguous short id, a
 *                      revision that is not a commit;
 *     RP_EEXISTS       a workspace directory that is not empty;
 *     RP_EIO           the cache or workspace could not be written;
 *     RP_ENOMEM.
 * - libgit2 is initialized once per process, on first use, in a thread-safe way
 *   (pthread_once), and the process keeps it: nothing here ever calls
 *   git_libgit2_shutdown(). Code that calls libgit2 directly must still call
 *   git_libgit2_init() itself or mirror_global_init() first.
 * - Network: http(s), ssh and git:// go through libgit2's transports with the
 *   proxy settings of the environment and git config; local paths and file://
 *   URLs need no network. No credentials are supplied yet, so private
 *   repositories and ssh URLs fail as RP_EUNREACHABLE.
 *
 * Calling sequence:
 *
 *	struct mirror *m;
 *	git_oid commit, tree;
 *	struct rp_error err;
 *	if (mirror_open(cache_dir, pkg->repo, universe->dir, &m, &err) < 0)
 *		... err.msg; RP_EUNREACHABLE is an infrastructure error ...
 *	if (mirror_fetch(m, &err) < 0) ...              (skip to build offline)
 *	if (mirror_resolve(m, pkg->branch, &commit, &err) < 0) ...
 *	mirror_tree_of(m, &commit, &tree, &err);        (feeds the build key)
 *	workspace_checkout(m, &commit, job_dir, &err);  (job_dir new or empty)
 *	mirror_close(m);
 *
 * Design notes: docs/internals/git.md.
 */
#ifndef RIPPLE_RUNNER_GIT_H
#define RIPPLE_RUNNER_GIT_H

#include <stdint.h>

#include <git2.h>

#include "core/error.h"

struct mirror;

/*
 * Initializes libgit2 for the process, once, whichever thread calls first.
 * Every function below calls it; calling it again is cheap. Returns 0, or
 * RP_ENOMEM / RP_EIO when libgit2 could not start (then on every call).
 */
int mirror_global_init(struct rp_error *err);

/*
 * The identity of a repository URL, as mirrors are keyed by; the caller frees
 * *out with free(). `url` is an http(s)/ssh/git URL, a file:// URL, an
 * scp-like "[user@]host:path", or a local path; a relative path is resolved
 * against `base_dir` (the current directory when NULL).
 *  - Network URLs: scheme and host lowercased, user info and the scheme's
 *    default port dropped, then trailing slashes, one ".git" suffix and the
 *    trailing slashes before it dropped: "HTTPS://u@Host:443/a/B.git/" is
 *    "https://host/a/B". An scp-like address is keyed as the ssh:// URL the
 *    forges treat it as: "git@Host:a/b.git" is "ssh://host/a/b".
 *  - Local paths and file:// URLs (host empty or "localhost", %XX decoded):
 *    made absolute, symbolic links and "."/".." resolved (realpath(), or
 *    lexically when the path does not exist), a final "/.git" component
 *    dropped, and written as "file:///abs/path". A ".git" suffix of a local
 *    directory name is kept: "x" and "x.git" are different directories.
 * Returns RP_EINVAL for an empty or malformed URL (a file:// URL naming another
 * host, a scheme without a host).
 */
int mirror_normalize_url(const char *url, const char *base_dir, char **out, struct rp_error *err);

/*
 * Opens the mirror of `url` under `cache_dir` (created when missing), cloning
 * it first when the cache does not have it yet; `url` and `base_dir` are as
 * for mirror_normalize_url(). An existing mirror is opened as it is, without
 * contacting the remote. On success the caller owns *out and releases it with
 * mirror_close(); on failure *out is NULL and no mirror was left behind.
 */
int mirror_open(const char *cache_dir, const char *url, const char *base_dir, struct mirror **out,
		struct rp_error *err);

/*
 * Fetches every branch, tag and pull-request head (refs/pull/N/head into
 * refs/ripple/pull/N, refs/merge-requests/N/head into
 * refs/ripple/merge-requests/N) of the remote into the mirror, forcing
 * non-fast-forward updates, deleting the branches and tags the remote no
 * longer has (never a refs/ripple/ ref), and pointing HEAD at the remote's
 * default branch. A remote without pull-request refs fetches as one without
 * them. Holds the mirror's lock while it runs. On failure the mirror keeps its
 * previous state.
 */
int mirror_fetch(struct mirror *m, struct rp_error *err);

/*
 * Resolves `rev` to a commit id, trying in order: a branch (refs/heads/REV), a
 * tag (refs/tags/REV, annotated tags peeled), a full ref name ("refs/..."), a
 * full ref name as the remote has it ("refs/pull/7/head", found as
 * refs/ripple/pull/7), a full or abbreviated (at least 4 hex digits) commit
 * id (any commit the mirror holds, whatever reaches it), then any other
 * libgit2 revision expression ("main~2", "v1.0^", "HEAD"). RP_ENOTFOUND names
 * `rev` and the repository; RP_EINVAL for an ambiguous short id or a revision
 * that names a tree or blob.
 */
int mirror_resolve(struct mirror *m, const char *rev, git_oid *commit, struct rp_error *err);

/* The tree id of `commit`: what build keys hash. RP_ENOTFOUND when the mirror lacks it. */
int mirror_tree_of(struct mirror *m, const git_oid *commit, git_oid *tree, struct rp_error *err);

/* What reports and bisect show about a commit. */
struct mirror_commit_info {
	git_oid id;
	git_oid tree;
	char *author_name;
	char *author_email;
	int64_t author_time; /* seconds since the epoch */
	int author_offset;   /* the author's time zone, minutes east of UTC */
	int64_t commit_time; /* committer time, seconds since the epoch */
	char *subject;	     /* the message's first paragraph, joined into one line */
	unsigned int n_parents;
};

/*
 * Fills `info` about `commit`. On success the caller owns the strings inside
 * `info` and frees them with mirror_commit_info_release(); on failure `info`
 * holds nothing to release.
 */
int mirror_commit_info(struct mirror *m, const git_oid *commit, struct mirror_commit_info *info,
		       struct rp_error *err);

/* Frees the strings of `info` and zeroes it; safe on a zeroed struct. */
void mirror_commit_info_release(struct mirror_commit_info *info);

/*
 * The content of `path` (relative to the repository's root) at `commit`,
 * NUL-terminated, into *data (the caller frees it) and its length. RP_ENOTFOUND
 * (no such commit or file), RP_ERANGE (larger than `max` bytes), RP_EIO.
 */
int mirror_file_at(struct mirror *m, const git_oid *commit, const char *path, size_t max, char **data, size_t *len,
		   struct rp_error *err);

/*
 * Checks out exactly the files of `commit` into `dir`, straight from the bare
 * mirror: no clone, no .git directory, no index written anywhere. `dir` must
 * not exist (it is created, with its parents) or be an empty directory, else
 * RP_EEXISTS. Executable bits and symbolic links are preserved; blobs are
 * written byte for byte unless the commit's own .gitattributes asks for a
 * conversion (the host's core.autocrlf is ignored); submodules are left as
 * empty directories. On failure `dir` may hold a partial checkout: the caller
 * owns `dir` and removes it.
 */
int workspace_checkout(struct mirror *m, const git_oid *commit, const char *dir, struct rp_error *err);

/*
 * Removes `path` and everything under it, without a process and never
 * following symbolic links (rm -rf of a workspace); a directory a build left
 * read-only is made writable first. 0 (a missing `path` too), or -1 when
 * something could not be removed.
 */
int workspace_remove(const char *path);

/* The mirror's bare repository directory; owned by `m`, valid until mirror_close(). */
const char *mirror_path(const struct mirror *m);

/* The normalized URL (see mirror_normalize_url()); owned by `m`, valid until mirror_close(). */
const char *mirror_url(const struct mirror *m);

/*
 * The mirror's libgit2 repository, for read-only walks (bisect's revwalk,
 * diffs); borrowed from `m`, valid until mirror_close(), same one-thread rule.
 */
git_repository *mirror_repository(struct mirror *m);

/* Closes `m` and frees it; NULL is allowed. The mirror stays in the cache. */
void mirror_close(struct mirror *m);

#endif
