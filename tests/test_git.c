/*
 * Unit tests of runner/git: mirrors and workspaces, on real repositories that
 * the tests build with libgit2 (no git command) in a fresh temporary directory.
 */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "runner/git.h"
#include "check_main.h"
#include "core/banned.h"

static char tmp[1024];	     /* this test's directory, its canonical path */
static char cache[PATH_MAX]; /* tmp/cache */
static char src[PATH_MAX];   /* tmp/src: the "remote" repository, non-bare */
static git_repository *src_repo;

/* ---- fixture helpers ---- */

static void rm_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		ck_assert_ptr_nonnull(d);
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			char sub[PATH_MAX];
			snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
			rm_tree(sub);
		}
		closedir(d);
		rmdir(path);
	} else {
		unlink(path);
	}
}

static void setup(void)
{
	const char *base = getenv("TMPDIR");
	char templ[PATH_MAX];
	snprintf(templ, sizeof(templ), "%s/ripple-test-git-XXXXXX", base && base[0] ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(templ));
	/* Canonical, so that expected keys match what realpath() gives the module. */
	char *real = realpath(templ, NULL);
	ck_assert_ptr_nonnull(real);
	ck_assert_uint_lt(strlen(real), sizeof(tmp));
	snprintf(tmp, sizeof(tmp), "%s", real);
	free(real);
	snprintf(cache, sizeof(cache), "%s/cache", tmp);
	snprintf(src, sizeof(src), "%s/src", tmp);
	ck_assert_int_eq(mirror_global_init(NULL), 0); /* libgit2, for the fixtures too */
	ck_assert_int_eq(git_repository_init(&src_repo, src, 0), 0);
	ck_assert_int_eq(git_repository_set_head(src_repo, "refs/heads/main"), 0);
}

static void teardown(void)
{
	git_repository_free(src_repo);
	src_repo = NULL;
	rm_tree(tmp);
}

struct file {
	const char *path; /* may contain '/' */
	const char *content;
	size_t len; /* 0: strlen(content) */
	git_filemode_t mode;
};

/*
 * Commits `files` (replacing the tree of the branch's tip, not added to it) on
 * `branch` of the source repository, with the branch's tip as parent. A fixed
 * author and time keep ids reproducible.
 */
static git_oid commit_on(const char *branch, const struct file *files, size_t n, const char *message,
			 int when)
{
	git_treebuilder *empty_tb;
	git_oid empty_id, tree_id, id, parent_id;
	git_tree *empty, *tree;
	git_tree_update updates[16];
	git_signature *sig;
	git_commit *parent = NULL;
	char ref[256];

	ck_assert_uint_le(n, 16);
	ck_assert_int_eq(git_treebuilder_new(&empty_tb, src_repo, NULL), 0);
	ck_assert_int_eq(git_treebuilder_write(&empty_id, empty_tb), 0);
	git_treebuilder_free(empty_tb);
	ck_assert_int_eq(git_tree_lookup(&empty, src_repo, &empty_id), 0);
	for (size_t i = 0; i < n; i++) {
		size_t len = files[i].len ? files[i].len : strlen(files[i].content);
		memset(&updates[i], 0, sizeof(updates[i]));
		updates[i].action = GIT_TREE_UPDATE_UPSERT;
		ck_assert_int_eq(git_blob_create_from_buffer(&updates[i].id, src_repo, files[i].content, len),
				 0);
		updates[i].filemode = files[i].mode ? files[i].mode : GIT_FILEMODE_BLOB;
		updates[i].path = files[i].path;
	}
	ck_assert_int_eq(git_tree_create_updated(&tree_id, src_repo, empty, n, updates), 0);
	git_tree_free(empty);
	ck_assert_int_eq(git_tree_lookup(&tree, src_repo, &tree_id), 0);

	snprintf(ref, sizeof(ref), "refs/heads/%s", branch);
	if (git_reference_name_to_id(&parent_id, src_repo, ref) == 0)
		ck_assert_int_eq(git_commit_lookup(&parent, src_repo, &parent_id), 0);
	ck_assert_int_eq(git_signature_new(&sig, "Ada Lovelace", "ada@example.org", 1700000000 + when, 60),
			 0);
	const git_commit *parents[1] = {parent};
	ck_assert_int_eq(
	    git_commit_create(&id, src_repo, ref, sig, sig, NULL, message, tree, parent ? 1 : 0, parents), 0);
	git_signature_free(sig);
	git_commit_free(parent);
	git_tree_free(tree);
	return id;
}

static git_oid commit_simple(const char *branch, const char *content, const char *message, int when)
{
	struct file f[] = {{"README", content, 0, 0}};
	return commit_on(branch, f, 1, message, when);
}

static void tag_annotated(const char *name, const git_oid *target)
{
	git_object *obj;
	git_signature *sig;
	git_oid id;
	ck_assert_int_eq(git_object_lookup(&obj, src_repo, target, GIT_OBJECT_COMMIT), 0);
	ck_assert_int_eq(git_signature_new(&sig, "Ada Lovelace", "ada@example.org", 1700000000, 0), 0);
	ck_assert_int_eq(git_tag_create(&id, src_repo, name, obj, sig, "release", 0), 0);
	git_signature_free(sig);
	git_object_free(obj);
}

static void tag_light(const char *name, const git_oid *target)
{
	git_object *obj;
	git_oid id;
	ck_assert_int_eq(git_object_lookup(&obj, src_repo, target, GIT_OBJECT_COMMIT), 0);
	ck_assert_int_eq(git_tag_create_lightweight(&id, src_repo, name, obj, 0), 0);
	git_object_free(obj);
}

/* A commit in `repo`: one README holding `content`, child of `parent` (NULL: a root); no ref moves. */
static git_oid commit_detached(git_repository *repo, const git_oid *parent_id, const char *content,
			       const char *message, int when)
{
	git_treebuilder *tb;
	git_oid blob, tree_id, id;
	git_tree *tree;
	git_signature *sig;
	git_commit *parent = NULL;
	ck_assert_int_eq(git_blob_create_from_buffer(&blob, repo, content, strlen(content)), 0);
	ck_assert_int_eq(git_treebuilder_new(&tb, repo, NULL), 0);
	ck_assert_int_eq(git_treebuilder_insert(NULL, tb, "README", &blob, GIT_FILEMODE_BLOB), 0);
	ck_assert_int_eq(git_treebuilder_write(&tree_id, tb), 0);
	git_treebuilder_free(tb);
	ck_assert_int_eq(git_tree_lookup(&tree, repo, &tree_id), 0);
	if (parent_id)
		ck_assert_int_eq(git_commit_lookup(&parent, repo, parent_id), 0);
	ck_assert_int_eq(git_signature_new(&sig, "Grace Hopper", "grace@example.org", 1700000000 + when, 0),
			 0);
	const git_commit *parents[1] = {parent};
	ck_assert_int_eq(
	    git_commit_create(&id, repo, NULL, sig, sig, NULL, message, tree, parent ? 1 : 0, parents), 0);
	git_signature_free(sig);
	git_commit_free(parent);
	git_tree_free(tree);
	return id;
}

/* Creates ref `name` of `repo` pointing at `id`, or moves it there (forced, as a forge does). */
static void set_ref(git_repository *repo, const char *name, const git_oid *id)
{
	git_reference *ref;
	ck_assert_int_eq(git_reference_create(&ref, repo, name, id, 1, NULL), 0);
	git_reference_free(ref);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The mirror's refs, sorted and joined by spaces, into `buf`. */
static const char *ref_names(struct mirror *m, char *buf, size_t size)
{
	git_strarray refs;
	size_t used = 0;
	ck_assert_int_eq(git_reference_list(&refs, mirror_repository(m)), 0);
	qsort(refs.strings, refs.count, sizeof(*refs.strings), by_name);
	buf[0] = '\0';
	for (size_t i = 0; i < refs.count; i++)
		used += (size_t)snprintf(buf + used, used < size ? size - used : 0, "%s%s", i ? " " : "",
					 refs.strings[i]);
	ck_assert_uint_lt(used, size);
	git_strarray_dispose(&refs);
	return buf;
}

static void delete_ref(const char *name)
{
	git_reference *ref;
	ck_assert_int_eq(git_reference_lookup(&ref, src_repo, name), 0);
	ck_assert_int_eq(git_reference_delete(ref), 0);
	git_reference_free(ref);
}

/* Entries of `dir` whose name ends with `suffix` (or contains it, when `anywhere`). */
static int count_entries(const char *dir, const char *suffix, int anywhere)
{
	int n = 0;
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name), sl = strlen(suffix);
		if (anywhere ? strstr(e->d_name, suffix) != NULL
			     : len >= sl && strcmp(e->d_name + len - sl, suffix) == 0)
			n++;
	}
	closedir(d);
	return n;
}

static void read_file(const char *path, char *buf, size_t size, size_t *len)
{
	int fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ssize_t n = read(fd, buf, size);
	ck_assert_int_ge(n, 0);
	*len = (size_t)n;
	close(fd);
}

static void assert_oid_eq(const git_oid *a, const git_oid *b)
{
	char ha[GIT_OID_HEXSZ + 1], hb[GIT_OID_HEXSZ + 1];
	ck_assert_str_eq(git_oid_tostr(ha, sizeof(ha), a), git_oid_tostr(hb, sizeof(hb), b));
}

/* ---- tests ---- */

START_TEST(test_normalize_network)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"https://example.org/org/repo.git", "https://example.org/org/repo"},
	    {"HTTPS://User:secret@Example.ORG:443/Org/Repo.git/", "https://example.org/Org/Repo"},
	    {"https://example.org/org/repo/", "https://example.org/org/repo"},
	    {"http://Example.org:80/x", "http://example.org/x"},
	    {"http://example.org:8080/x.git", "http://example.org:8080/x"},
	    {"https://[::1]:443/x.git", "https://[::1]/x"},
	    {"ssh://git@GitHub.com/org/repo.git", "ssh://github.com/org/repo"},
	    {"git@GitHub.com:org/repo.git", "ssh://github.com/org/repo"},
	    {"github.com:org/repo", "ssh://github.com/org/repo"},
	    {"git://example.org:9418/r.git", "git://example.org/r"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *key = NULL;
		struct rp_error err;
		ck_assert_msg(mirror_normalize_url(cases[i].in, NULL, &key, &err) == 0, "%s: %s", cases[i].in,
			      err.msg);
		ck_assert_str_eq(key, cases[i].want);
		free(key);
	}
	static const char *bad[] = {"", "https:///x", "file://otherhost/x", "git@:x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *key = NULL;
		struct rp_error err;
		ck_assert_int_eq(mirror_normalize_url(bad[i], NULL, &key, &err), RP_EINVAL);
		ck_assert_ptr_null(key);
		ck_assert_ptr_null(strchr(err.msg, '\n'));
	}
}
END_TEST

START_TEST(test_normalize_local)
{
	char want[PATH_MAX + 16], url[PATH_MAX + 32], link[PATH_MAX];
	snprintf(want, sizeof(want), "file://%s", src);
	snprintf(link, sizeof(link), "%s/link", tmp);
	ck_assert_int_eq(symlink("src", link), 0);
	const char *rel[] = {"src", "./src/", "src/.git", "x/../src", "link", "link/.git/"};
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		char *key;
		struct rp_error err;
		ck_assert_msg(mirror_normalize_url(rel[i], tmp, &key, &err) == 0, "%s: %s", rel[i], err.msg);
		ck_assert_str_eq(key, want);
		free(key);
	}
	static const struct {
		const char *prefix, *suffix;
	} abs_forms[] = {
	    {"", ""}, {"", "/"}, {"file://", ""}, {"file://localhost", "/.git"}, {"FILE://", ""}};
	for (size_t i = 0; i < sizeof(abs_forms) / sizeof(abs_forms[0]); i++) {
		char *key;
		struct rp_error err;
		snprintf(url, sizeof(url), "%s%s%s", abs_forms[i].prefix, src, abs_forms[i].suffix);
		ck_assert_msg(mirror_normalize_url(url, "/elsewhere", &key, &err) == 0, "%s: %s", url,
			      err.msg);
		ck_assert_str_eq(key, want);
		free(key);
	}
	/* Percent escapes of file:// URLs are decoded; a missing path is cleaned lexically. */
	char *key;
	snprintf(url, sizeof(url), "file://%s/a%%20b/../c", tmp);
	ck_assert_int_eq(mirror_normalize_url(url, NULL, &key, NULL), 0);
	snprintf(want, sizeof(want), "file://%s/c", tmp);
	ck_assert_str_eq(key, want);
	free(key);
	/* "x" and "x.git" are different local directories. */
	ck_assert_int_eq(mirror_normalize_url("other.git", tmp, &key, NULL), 0);
	snprintf(want, sizeof(want), "file://%s/other.git", tmp);
	ck_assert_str_eq(key, want);
	free(key);
}
END_TEST

START_TEST(test_path_and_file_url_share_mirror)
{
	struct mirror *a, *b;
	struct rp_error err;
	char url[PATH_MAX + 16];
	git_oid c1 = commit_simple("main", "one\n", "first", 0), ga, gb;

	ck_assert_msg(mirror_open(cache, "src", tmp, &a, &err) == 0, "%s", err.msg);
	snprintf(url, sizeof(url), "file://%s/", src);
	ck_assert_msg(mirror_open(cache, url, NULL, &b, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(mirror_path(a), mirror_path(b));
	ck_assert_str_eq(mirror_url(a), mirror_url(b));
	ck_assert_int_eq(count_entries(cache, ".git", 0), 1);
	ck_assert_int_eq(count_entries(cache, ".tmp-", 1), 0);

	/* The mirror is bare, named by the SHA-256 of the normalized URL. */
	unsigned char md[32];
	unsigned int len;
	char name[80];
	ck_assert_int_eq(EVP_Digest(mirror_url(a), strlen(mirror_url(a)), md, &len, EVP_sha256(), NULL), 1);
	for (unsigned int i = 0; i < len; i++)
		snprintf(name + 2 * i, 3, "%02x", md[i]);
	snprintf(name + 64, sizeof(name) - 64, ".git");
	ck_assert_str_eq(strrchr(mirror_path(a), '/') + 1, name);
	ck_assert_int_eq(git_repository_is_bare(mirror_repository(a)), 1);

	ck_assert_int_eq(mirror_resolve(a, "main", &ga, &err), 0);
	ck_assert_int_eq(mirror_resolve(b, "main", &gb, &err), 0);
	assert_oid_eq(&ga, &c1);
	assert_oid_eq(&gb, &c1);
	/* HEAD follows the remote's default branch. */
	ck_assert_int_eq(mirror_resolve(a, "HEAD", &ga, &err), 0);
	assert_oid_eq(&ga, &c1);
	mirror_close(a);
	mirror_close(b);
}
END_TEST

START_TEST(test_fetch_updates_and_prunes)
{
	struct mirror *m;
	struct rp_error err;
	git_oid c1 = commit_simple("main", "one\n", "first", 0);
	git_oid f1 = commit_simple("feature", "feature\n", "feature work", 1);
	git_oid got;
	tag_light("old", &c1);

	ck_assert_msg(mirror_open(cache, src, NULL, &m, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(mirror_resolve(m, "feature", &got, &err), 0);
	assert_oid_eq(&got, &f1);
	ck_assert_int_eq(mirror_resolve(m, "old", &got, &err), 0);

	git_oid c2 = commit_simple("main", "two\n", "second", 2);
	git_oid n1 = commit_simple("new", "new\n", "new branch", 3);
	delete_ref("refs/heads/feature");
	delete_ref("refs/tags/old");

	/* Opening an existing mirror does not fetch. */
	ck_assert_int_eq(mirror_resolve(m, "main", &got, &err), 0);
	assert_oid_eq(&got, &c1);

	ck_assert_msg(mirror_fetch(m, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(mirror_resolve(m, "main", &got, &err), 0);
	assert_oid_eq(&got, &c2);
	ck_assert_int_eq(mirror_resolve(m, "new", &got, &err), 0);
	assert_oid_eq(&got, &n1);
	ck_assert_int_eq(mirror_resolve(m, "feature", &got, &err), RP_ENOTFOUND);
	ck_assert_int_eq(mirror_resolve(m, "old", &got, &err), RP_ENOTFOUND);
	/* A remote without pull-request refs gives a mirror of exactly its branches and tags. */
	char refs[512];
	ck_assert_str_eq(ref_names(m, refs, sizeof(refs)), "refs/heads/main refs/heads/new");
	/* The objects of the deleted branch stay: a pinned commit can still be built. */
	ck_assert_int_eq(mirror_tree_of(m, &f1, &got, &err), 0);

	/* A second handle sees what the first one fetched; a fetch with nothing new is fine. */
	struct mirror *again;
	ck_assert_int_eq(mirror_open(cache, src, NULL, &again, &err), 0);
	ck_assert_int_eq(mirror_resolve(again, "main", &got, &err), 0);
	assert_oid_eq(&got, &c2);
	ck_assert_int_eq(mirror_fetch(again, &err), 0);
	mirror_close(again);
	mirror_close(m);
}
END_TEST

/*
 * A bare "forge" repository with pull-request and merge-request refs whose
 * commits no branch reaches, as a PR from a fork has on GitHub, Gitea, GitLab.
 */
START_TEST(test_fetch_pull_request_refs)
{
	struct mirror *m;
	struct rp_error err;
	git_repository *forge;
	git_oid got;
	char forge_path[PATH_MAX], hex[GIT_OID_HEXSZ + 1], refs[1024];
	snprintf(forge_path, sizeof(forge_path), "%s/forge.git", tmp);
	ck_assert_int_eq(git_repository_init(&forge, forge_path, 1), 0);
	ck_assert_int_eq(git_repository_set_head(forge, "refs/heads/main"), 0);

	git_oid main1 = commit_detached(forge, NULL, "main\n", "main", 0);
	set_ref(forge, "refs/heads/main", &main1);
	git_oid feature = commit_detached(forge, &main1, "feature\n", "feature", 1);
	set_ref(forge, "refs/heads/feature", &feature);
	/* A branch that looks like a PR ref must stay a branch, distinct from the PR's head. */
	set_ref(forge, "refs/heads/pull/7", &main1);
	git_oid pr1 = commit_detached(forge, &main1, "pr 7\n", "pull request 7", 2);
	set_ref(forge, "refs/pull/7/head", &pr1);
	git_oid mr1 = commit_detached(forge, &main1, "mr 3\n", "merge request 3", 3);
	set_ref(forge, "refs/merge-requests/3/head", &mr1);
	/* GitHub's test merge is not mirrored: only heads are. */
	git_oid merge = commit_detached(forge, &pr1, "merged\n", "merge of 7", 4);
	set_ref(forge, "refs/pull/7/merge", &merge);

	ck_assert_msg(mirror_open(cache, forge_path, NULL, &m, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(ref_names(m, refs, sizeof(refs)),
			 "refs/heads/feature refs/heads/main refs/heads/pull/7 refs/ripple/merge-requests/3 "
			 "refs/ripple/pull/7");
	/* The PR's commit resolves by its id, as the scheduler resolves a PR head. */
	ck_assert_msg(mirror_resolve(m, git_oid_tostr(hex, sizeof(hex), &pr1), &got, &err) == 0, "%s",
		      err.msg);
	assert_oid_eq(&got, &pr1);
	ck_assert_int_eq(mirror_tree_of(m, &pr1, &got, &err), 0);
	ck_assert_int_eq(mirror_resolve(m, git_oid_tostr(hex, sizeof(hex), &mr1), &got, &err), 0);
	assert_oid_eq(&got, &mr1);
	/* ... and by the ref name, as the forge or as the mirror has it. */
	ck_assert_int_eq(mirror_resolve(m, "refs/pull/7/head", &got, &err), 0);
	assert_oid_eq(&got, &pr1);
	ck_assert_int_eq(mirror_resolve(m, "refs/ripple/pull/7", &got, &err), 0);
	assert_oid_eq(&got, &pr1);
	ck_assert_int_eq(mirror_resolve(m, "refs/merge-requests/3/head", &got, &err), 0);
	assert_oid_eq(&got, &mr1);
	ck_assert_int_eq(mirror_resolve(m, "pull/7", &got, &err), 0); /* the branch */
	assert_oid_eq(&got, &main1);
	/*
	 * (Its commit is in the mirror all the same: libgit2's local transport
	 * copies the objects of every advertised ref, wanted or not; over the
	 * network only what the refspecs name is downloaded.)
	 */
	ck_assert_int_eq(mirror_resolve(m, "refs/pull/7/merge", &got, &err), RP_ENOTFOUND);

	/* A force-push to the PR, a branch and a merge request deleted upstream. */
	git_oid pr2 = commit_detached(forge, &main1, "pr 7, reworked\n", "pull request 7, v2", 5);
	set_ref(forge, "refs/pull/7/head", &pr2);
	git_reference *ref;
	ck_assert_int_eq(git_reference_lookup(&ref, forge, "refs/heads/feature"), 0);
	ck_assert_int_eq(git_reference_delete(ref), 0);
	git_reference_free(ref);
	ck_assert_int_eq(git_reference_lookup(&ref, forge, "refs/merge-requests/3/head"), 0);
	ck_assert_int_eq(git_reference_delete(ref), 0);
	git_reference_free(ref);

	ck_assert_msg(mirror_fetch(m, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(mirror_resolve(m, git_oid_tostr(hex, sizeof(hex), &pr2), &got, &err), 0);
	assert_oid_eq(&got, &pr2);
	ck_assert_int_eq(mirror_resolve(m, "refs/pull/7/head", &got, &err), 0);
	assert_oid_eq(&got, &pr2);
	/* The branch is pruned as before; the merge request's head is kept; no object goes. */
	ck_assert_int_eq(mirror_resolve(m, "feature", &got, &err), RP_ENOTFOUND);
	ck_assert_str_eq(ref_names(m, refs, sizeof(refs)),
			 "refs/heads/main refs/heads/pull/7 refs/ripple/merge-requests/3 refs/ripple/pull/7");
	ck_assert_int_eq(mirror_resolve(m, "refs/merge-requests/3/head", &got, &err), 0);
	assert_oid_eq(&got, &mr1);
	ck_assert_int_eq(mirror_resolve(m, git_oid_tostr(hex, sizeof(hex), &pr1), &got, &err), 0);
	assert_oid_eq(&got, &pr1);
	ck_assert_int_eq(mirror_tree_of(m, &feature, &got, &err), 0);

	/* A checkout of the PR's head gives its files. */
	char ws[PATH_MAX], path[PATH_MAX + 16], buf[64];
	size_t len;
	snprintf(ws, sizeof(ws), "%s/ws", tmp);
	ck_assert_msg(workspace_checkout(m, &pr2, ws, &err) == 0, "%s", err.msg);
	snprintf(path, sizeof(path), "%s/README", ws);
	read_file(path, buf, sizeof(buf), &len);
	ck_assert_uint_eq(len, 15);
	ck_assert_int_eq(memcmp(buf, "pr 7, reworked\n", 15), 0);
	mirror_close(m);
	git_repository_free(forge);
}
END_TEST

START_TEST(test_resolve)
{
	struct mirror *m;
	struct rp_error err;
	git_oid c1 = commit_simple("main", "one\n", "first", 0);
	git_oid c2 = commit_simple("main", "two\n", "second", 1);
	git_oid got;
	char hex[GIT_OID_HEXSZ + 1];
	tag_annotated("v1.0", &c1);
	tag_light("light", &c2);

	ck_assert_msg(mirror_open(cache, "src", tmp, &m, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(mirror_resolve(m, "main", &got, &err), 0);
	assert_oid_eq(&got, &c2);
	ck_assert_int_eq(mirror_resolve(m, "v1.0", &got, &err), 0); /* annotated: peeled to the commit */
	assert_oid_eq(&got, &c1);
	ck_assert_int_eq(mirror_resolve(m, "light", &got, &err), 0);
	assert_oid_eq(&got, &c2);
	ck_assert_int_eq(mirror_resolve(m, "refs/tags/v1.0", &got, &err), 0);
	assert_oid_eq(&got, &c1);
	git_oid_tostr(hex, sizeof(hex), &c1);
	ck_assert_int_eq(mirror_resolve(m, hex, &got, &err), 0);
	assert_oid_eq(&got, &c1);
	hex[7] = '\0';
	ck_assert_int_eq(mirror_resolve(m, hex, &got, &err), 0);
	assert_oid_eq(&got, &c1);
	ck_assert_int_eq(mirror_resolve(m, "main~1", &got, &err), 0);
	assert_oid_eq(&got, &c1);

	ck_assert_int_eq(mirror_resolve(m, "no-such-branch", &got, &err), RP_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(err.msg, "'no-such-branch'"));
	ck_assert_ptr_nonnull(strstr(err.msg, " src"));
	ck_assert_int_eq(mirror_resolve(m, "0123456789abcdef0123456789abcdef01234567", &got, &err),
			 RP_ENOTFOUND);
	ck_assert_int_eq(mirror_resolve(m, "", &got, &err), RP_EINVAL);
	/* A tree is not a commit. */
	git_oid tree;
	ck_assert_int_eq(mirror_tree_of(m, &c1, &tree, &err), 0);
	git_oid_tostr(hex, sizeof(hex), &tree);
	ck_assert_int_eq(mirror_resolve(m, hex, &got, &err), RP_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "not a commit"));
	mirror_close(m);
}
END_TEST

START_TEST(test_tree_ids_and_commit_info)
{
	struct mirror *m;
	struct rp_error err;
	git_oid t1, t2, t3;
	git_oid c1 = commit_simple("main", "same\n", "first", 0);
	git_oid c2 = commit_simple("main", "same\n", "Reword, same files\n\nbody text", 1);
	git_oid c3 = commit_simple("main", "changed\n", "change", 2);

	ck_assert_msg(mirror_open(cache, src, NULL, &m, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(git_oid_equal(&c1, &c2), 0);
	ck_assert_int_eq(mirror_tree_of(m, &c1, &t1, &err), 0);
	ck_assert_int_eq(mirror_tree_of(m, &c2, &t2, &err), 0);
	ck_assert_int_eq(mirror_tree_of(m, &c3, &t3, &err), 0);
	assert_oid_eq(&t1, &t2);
	ck_assert_int_eq(git_oid_equal(&t1, &t3), 0);

	git_oid missing;
	ck_assert_int_eq(git_oid_fromstr(&missing, "0123456789abcdef0123456789abcdef01234567"), 0);
	ck_assert_int_eq(mirror_tree_of(m, &missing, &t1, &err), RP_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(err.msg, "0123456789abcdef0123456789abcdef01234567"));
	ck_assert_int_eq(mirror_tree_of(m, &t3, &t1, &err), RP_EINVAL); /* a tree, not a commit */
	ck_assert_ptr_nonnull(strstr(err.msg, "not a commit"));

	struct mirror_commit_info info;
	ck_assert_int_eq(mirror_commit_info(m, &c2, &info, &err), 0);
	assert_oid_eq(&info.id, &c2);
	assert_oid_eq(&info.tree, &t2);
	ck_assert_str_eq(info.author_name, "Ada Lovelace");
	ck_assert_str_eq(info.author_email, "ada@example.org");
	ck_assert_int_eq(info.author_time, 1700000001);
	ck_assert_int_eq(info.author_offset, 60);
	ck_assert_int_eq(info.commit_time, 1700000001);
	ck_assert_str_eq(info.subject, "Reword, same files");
	ck_assert_uint_eq(info.n_parents, 1);
	mirror_commit_info_release(&info);
	ck_assert_ptr_null(info.subject);
	mirror_commit_info_release(&info);
	ck_assert_int_eq(mirror_commit_info(m, &missing, &info, &err), RP_ENOTFOUND);
	mirror_close(m);
}
END_TEST

START_TEST(test_checkout_exact)
{
	static const char binary[] = "a\r\nb\0c\xff\n";
	struct file files[] = {
	    {"README", "hello\n", 0, 0},
	    {"bin/run.sh", "#!/bin/sh\necho run\n", 0, GIT_FILEMODE_BLOB_EXECUTABLE},
	    {"link", "README", 0, GIT_FILEMODE_LINK},
	    {"dir/sub/deep.txt", "line one\nline two\n", 0, 0},
	    {"data.bin", binary, sizeof(binary) - 1, 0},
	    /* Would turn LF into CRLF if filters ran: workspaces are byte-exact instead. */
	    {".gitattributes", "*.txt text eol=crlf\n", 0, 0},
	};
	struct mirror *m;
	struct rp_error err;
	char ws[PATH_MAX], path[PATH_MAX + 64], buf[256];
	size_t len;
	struct stat st;
	git_oid old = commit_simple("main", "old\n", "old", 0);
	git_oid c = commit_on("main", files, sizeof(files) / sizeof(files[0]), "files", 1);

	ck_assert_msg(mirror_open(cache, src, NULL, &m, &err) == 0, "%s", err.msg);
	snprintf(ws, sizeof(ws), "%s/jobs/1/src", tmp); /* parents are created */
	ck_assert_msg(workspace_checkout(m, &c, ws, &err) == 0, "%s", err.msg);

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (files[i].mode == GIT_FILEMODE_LINK)
			continue;
		snprintf(path, sizeof(path), "%s/%s", ws, files[i].path);
		read_file(path, buf, sizeof(buf), &len);
		size_t want = files[i].len ? files[i].len : strlen(files[i].content);
		ck_assert_uint_eq(len, want);
		ck_assert_int_eq(memcmp(buf, files[i].content, want), 0);
		ck_assert_int_eq(lstat(path, &st), 0);
		ck_assert_int_eq(S_ISREG(st.st_mode), 1);
		ck_assert_int_eq((st.st_mode & S_IXUSR) != 0, files[i].mode == GIT_FILEMODE_BLOB_EXECUTABLE);
	}
	snprintf(path, sizeof(path), "%s/link", ws);
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert_int_eq(S_ISLNK(st.st_mode), 1);
	ssize_t n = readlink(path, buf, sizeof(buf));
	ck_assert_int_eq(n, 6);
	ck_assert_int_eq(memcmp(buf, "README", 6), 0);
	/* Exactly the commit's files: no .git, no index, nothing else. */
	ck_assert_int_eq(count_entries(ws, "", 1), 8); /* . .. README bin link dir data.bin .gitattributes */
	snprintf(path, sizeof(path), "%s/index", mirror_path(m));
	ck_assert_int_eq(access(path, F_OK), -1);

	/* A second checkout into the now non-empty directory is refused and changes nothing. */
	ck_assert_int_eq(workspace_checkout(m, &old, ws, &err), RP_EEXISTS);
	ck_assert_ptr_nonnull(strstr(err.msg, ws));
	snprintf(path, sizeof(path), "%s/README", ws);
	read_file(path, buf, sizeof(buf), &len);
	ck_assert_uint_eq(len, 6);

	/* An existing empty directory is fine, and gets only that commit's files. */
	snprintf(ws, sizeof(ws), "%s/empty", tmp);
	ck_assert_int_eq(mkdir(ws, 0755), 0);
	ck_assert_int_eq(workspace_checkout(m, &old, ws, &err), 0);
	ck_assert_int_eq(count_entries(ws, "", 1), 3);
	snprintf(path, sizeof(path), "%s/README", ws);
	read_file(path, buf, sizeof(buf), &len);
	ck_assert_uint_eq(len, 4);
	ck_assert_int_eq(memcmp(buf, "old\n", 4), 0);

	/* A file where the directory should be; an unknown commit. */
	ck_assert_int_eq(workspace_checkout(m, &old, path, &err), RP_EEXISTS);
	git_oid missing;
	ck_assert_int_eq(git_oid_fromstr(&missing, "0123456789abcdef0123456789abcdef01234567"), 0);
	snprintf(ws, sizeof(ws), "%s/never", tmp);
	ck_assert_int_eq(workspace_checkout(m, &missing, ws, &err), RP_ENOTFOUND);
	ck_assert_int_eq(access(ws, F_OK), -1);
	mirror_close(m);
}
END_TEST

/* One process or thread of the concurrency tests: open, fetch, resolve main. */
static int open_fetch_resolve(git_oid *out, struct rp_error *err)
{
	struct mirror *m;
	int rc = mirror_open(cache, "src", tmp, &m, err);
	if (rc < 0)
		return rc;
	if ((rc = mirror_fetch(m, err)) == 0)
		rc = mirror_resolve(m, "main", out, err);
	mirror_close(m);
	return rc;
}

START_TEST(test_concurrent_processes)
{
	enum { N = 4 };
	int go[2], results[2];
	pid_t pids[N];
	/* Enough objects that the clone takes a moment. */
	for (int i = 0; i < 20; i++) {
		char content[64], msg[32];
		snprintf(content, sizeof(content), "version %d\n", i);
		snprintf(msg, sizeof(msg), "commit %d", i);
		commit_simple("main", content, msg, i);
	}
	git_oid want;
	ck_assert_int_eq(git_reference_name_to_id(&want, src_repo, "refs/heads/main"), 0);

	ck_assert_int_eq(pipe(go), 0);
	ck_assert_int_eq(pipe(results), 0);
	for (int i = 0; i < N; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			char c, line[GIT_OID_HEXSZ + 2];
			struct rp_error err;
			git_oid got;
			close(go[1]);
			/* Start together: the parent closing the pipe releases everyone at once. */
			while (read(go[0], &c, 1) > 0)
				;
			int rc = open_fetch_resolve(&got, &err);
			if (rc < 0)
				fprintf(stderr, "child %d: %s\n", i, err.msg);
			if (rc == 0) {
				git_oid_tostr(line, sizeof(line), &got);
				line[GIT_OID_HEXSZ] = '\n';
				if (write(results[1], line, GIT_OID_HEXSZ + 1) != GIT_OID_HEXSZ + 1)
					rc = -1;
			}
			_exit(rc == 0 ? 0 : 1);
		}
	}
	close(go[0]);
	close(go[1]);
	close(results[1]);
	for (int i = 0; i < N; i++) {
		int status;
		ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
		ck_assert_int_eq(WIFEXITED(status), 1);
		ck_assert_int_eq(WEXITSTATUS(status), 0);
	}
	char all[N * (GIT_OID_HEXSZ + 1) + 1], hex[GIT_OID_HEXSZ + 1];
	size_t used = 0;
	ssize_t n;
	while ((n = read(results[0], all + used, sizeof(all) - 1 - used)) > 0)
		used += (size_t)n;
	close(results[0]);
	ck_assert_uint_eq(used, N * (GIT_OID_HEXSZ + 1));
	git_oid_tostr(hex, sizeof(hex), &want);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(memcmp(all + i * (GIT_OID_HEXSZ + 1), hex, GIT_OID_HEXSZ), 0);
	ck_assert_int_eq(count_entries(cache, ".git", 0), 1);
	ck_assert_int_eq(count_entries(cache, ".tmp-", 1), 0);
}
END_TEST

struct thread_result {
	int rc;
	git_oid got;
	struct rp_error err;
};

static void *thread_main(void *arg)
{
	struct thread_result *r = arg;
	r->rc = open_fetch_resolve(&r->got, &r->err);
	return NULL;
}

START_TEST(test_concurrent_threads)
{
	enum { N = 4 };
	pthread_t threads[N];
	struct thread_result results[N];
	git_oid want = commit_simple("main", "threads\n", "for threads", 0);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(pthread_create(&threads[i], NULL, thread_main, &results[i]), 0);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(pthread_join(threads[i], NULL), 0);
		ck_assert_msg(results[i].rc == 0, "%s", results[i].err.msg);
		assert_oid_eq(&results[i].got, &want);
	}
	ck_assert_int_eq(count_entries(cache, ".git", 0), 1);
	ck_assert_int_eq(count_entries(cache, ".tmp-", 1), 0);
}
END_TEST

START_TEST(test_unreachable)
{
	struct mirror *m = (struct mirror *)&m; /* non-NULL: a failed open must clear it */
	struct rp_error err;
	char url[PATH_MAX + 32];
	const char *urls[3];
	snprintf(url, sizeof(url), "file://%s/no/such/repo", tmp);
	urls[0] = url;
	urls[1] = "http://127.0.0.1:1/x.git"; /* a closed loopback port: refused at once */
	urls[2] = "nosuchscheme://example.org/x.git";
	for (size_t i = 0; i < 3; i++) {
		ck_assert_int_eq(mirror_open(cache, urls[i], NULL, &m, &err), RP_EUNREACHABLE);
		ck_assert_ptr_null(m);
		ck_assert_msg(strncmp(err.msg, "cannot fetch ", 13) == 0, "%s", err.msg);
		ck_assert_msg(strstr(err.msg, urls[i]) != NULL, "%s", err.msg);
		ck_assert_ptr_null(strchr(err.msg, '\n'));
	}
	/* A relative path names what it was resolved to. */
	ck_assert_int_eq(mirror_open(cache, "does/not/exist", tmp, &m, &err), RP_EUNREACHABLE);
	ck_assert_ptr_nonnull(strstr(err.msg, "cannot fetch does/not/exist ("));
	/* A directory that is not a repository. */
	ck_assert_int_eq(mirror_open(cache, tmp, NULL, &m, &err), RP_EUNREACHABLE);
	/* Nothing was left behind. */
	ck_assert_int_eq(count_entries(cache, ".git", 0), 0);
	ck_assert_int_eq(count_entries(cache, ".tmp-", 1), 0);
}
END_TEST

START_TEST(test_password_not_in_messages)
{
	struct mirror *m;
	struct rp_error err;
	ck_assert_int_eq(mirror_open(cache, "http://user:s3cret@127.0.0.1:1/x.git", NULL, &m, &err),
			 RP_EUNREACHABLE);
	ck_assert_ptr_null(strstr(err.msg, "s3cret"));
	ck_assert_ptr_nonnull(strstr(err.msg, "http://user@127.0.0.1:1/x.git"));
}
END_TEST

/* workspace_remove: everything under it, read-only directories too, never through a link. */
START_TEST(test_workspace_remove)
{
	char ws[PATH_MAX + 16], p[PATH_MAX + 64], outside[PATH_MAX + 16];
	snprintf(ws, sizeof(ws), "%s/ws", tmp);
	snprintf(outside, sizeof(outside), "%s/outside", tmp);
	ck_assert_int_eq(mkdir(outside, 0755), 0);
	snprintf(p, sizeof(p), "%s/keep", outside);
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(mkdir(ws, 0755), 0);
	snprintf(p, sizeof(p), "%s/ro", ws);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/ro/file", ws);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/ro/empty", ws);
	ck_assert_int_eq(mkdir(p, 0500), 0);
	snprintf(p, sizeof(p), "%s/link", ws);
	ck_assert_int_eq(symlink(outside, p), 0);
	snprintf(p, sizeof(p), "%s/ro", ws);
	ck_assert_int_eq(chmod(p, 0500), 0);
	ck_assert_int_eq(workspace_remove(ws), 0);
	struct stat st;
	ck_assert_int_eq(lstat(ws, &st), -1);
	snprintf(p, sizeof(p), "%s/keep", outside);
	ck_assert_int_eq(lstat(p, &st), 0); /* the link was removed, not followed */
	ck_assert_int_eq(workspace_remove(ws), 0); /* gone already: nothing to do */
}
END_TEST

START_TEST(test_stale_clone_removed)
{
	struct mirror *m;
	struct rp_error err;
	char *key, stale[PATH_MAX + 128], name[80];
	unsigned char md[32];
	unsigned int len;
	commit_simple("main", "one\n", "first", 0);
	/* What a clone killed halfway leaves. */
	ck_assert_int_eq(mirror_normalize_url("src", tmp, &key, &err), 0);
	ck_assert_int_eq(EVP_Digest(key, strlen(key), md, &len, EVP_sha256(), NULL), 1);
	free(key);
	for (unsigned int i = 0; i < len; i++)
		snprintf(name + 2 * i, 3, "%02x", md[i]);
	ck_assert_int_eq(mkdir(cache, 0755), 0);
	snprintf(stale, sizeof(stale), "%s/%s.tmp-AbCdEf", cache, name);
	ck_assert_int_eq(mkdir(stale, 0755), 0);
	snprintf(stale + strlen(stale), sizeof(stale) - strlen(stale), "/objects");
	ck_assert_int_eq(mkdir(stale, 0755), 0);

	ck_assert_msg(mirror_open(cache, "src", tmp, &m, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(count_entries(cache, ".tmp-", 1), 0);
	ck_assert_int_eq(count_entries(cache, ".git", 0), 1);
	mirror_close(m);
}
END_TEST

static Suite *git_suite(void)
{
	Suite *s = suite_create("git");
	TCase *tc = tcase_create("mirror");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_normalize_network);
	tcase_add_test(tc, test_normalize_local);
	tcase_add_test(tc, test_path_and_file_url_share_mirror);
	tcase_add_test(tc, test_fetch_updates_and_prunes);
	tcase_add_test(tc, test_fetch_pull_request_refs);
	tcase_add_test(tc, test_resolve);
	tcase_add_test(tc, test_tree_ids_and_commit_info);
	tcase_add_test(tc, test_checkout_exact);
	tcase_add_test(tc, test_concurrent_processes);
	tcase_add_test(tc, test_concurrent_threads);
	tcase_add_test(tc, test_unreachable);
	tcase_add_test(tc, test_password_not_in_messages);
	tcase_add_test(tc, test_workspace_remove);
	tcase_add_test(tc, test_stale_clone_removed);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run_suite(git_suite());
}
