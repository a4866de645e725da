/*
 * git.c — mirrors and workspaces over libgit2. See git.h for the contract and
 * docs/internals/git.md for the design (keys, locking, why no index is written).
 */
#include "git.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/banned.h"

struct mirror {
	git_repository *repo;
	char *shown;	 /* the URL as the caller gave it, password removed: for messages */
	char *key;	 /* the normalized URL; its SHA-256 names the mirror */
	char *fetch_url; /* what libgit2 fetches from: an absolute path or the URL as given */
	char *path;	 /* <cache>/<sha256>.git */
	char *lock_path; /* <cache>/<sha256>.lock */
	char *resolved;	 /* for a relative local path, its absolute form, else NULL: for messages */
};

/*
 * Branches and tags, mirrored as they are on the remote; then the heads of
 * pull requests (GitHub, Gitea: refs/pull/N/head) and merge requests (GitLab:
 * refs/merge-requests/N/head), kept under refs/ripple/ where no branch or tag
 * can be confused with them and pruning never looks (prune_locked()). A
 * remote without such refs fetches exactly as with the first two alone.
 */
static char *fetch_specs[] = {
    "+refs/heads/*:refs/heads/*",
    "+refs/tags/*:refs/tags/*",
    "+refs/pull/*/head:refs/ripple/pull/*",
    "+refs/merge-requests/*/head:refs/ripple/merge-requests/*",
};
#define N_FETCH_SPECS (sizeof(fetch_specs) / sizeof(fetch_specs[0]))

/* The namespaces that mirror the remote one to one: what the remote deleted is deleted here too. */
static const char *const pruned_prefixes[] = {"refs/heads/", "refs/tags/"};

/* ---- small helpers ---- */

static char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A newly allocated formatted string owned by the caller, or NULL when out of memory. */
static char *str_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	char *s = malloc((size_t)n + 1);
	if (!s)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

/* errno's text in `buf` (XSI strerror_r: thread-safe, unlike strerror). */
static const char *errno_text(int e, char *buf, size_t size)
{
	if (strerror_r(e, buf, size) != 0)
		snprintf(buf, size, "error %d", e);
	return buf;
}

/* libgit2's last message on this thread (its errors are thread-local). */
static const char *git_msg(void)
{
	const git_error *e = git_error_last();
	return e && e->message && e->message[0] ? e->message : "unknown libgit2 error";
}

/* RP_ENOMEM when libgit2 ran out of memory, else `fallback`. */
static int git_code(int fallback)
{
	const git_error *e = git_error_last();
	return e && e->klass == GIT_ERROR_NOMEMORY ? RP_ENOMEM : fallback;
}

static int nomem(struct rp_error *err)
{
	return rp_error_set(err, RP_ENOMEM, "out of memory");
}

/* Creates `path` and its missing parents with `mode`; an existing directory is fine. */
static int mkdir_p(const char *path, mode_t mode, struct rp_error *err)
{
	char ebuf[128];
	int rc = 0;
	char *copy = strdup(path);
	if (!copy)
		return nomem(err);
	for (char *p = copy + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(copy, mode) < 0 && errno != EEXIST) {
			rc = rp_error_set(err, RP_EIO, "cannot create directory %s: %s", copy,
					  errno_text(errno, ebuf, sizeof(ebuf)));
			goto out;
		}
		*p = saved;
		if (saved == '\0')
			break;
	}
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		rc = rp_error_set(err, RP_EIO, "cannot create directory %s: not a directory", path);
out:
	free(copy);
	return rc;
}

/*
 * Removes the entry `name` of the directory `dfd`; a directory a build made
 * read-only is made writable once its removal is refused (only then is the
 * call worth making).
 */
static int rm_entry_at(int dfd, const char *name, int flags)
{
	if (unlinkat(dfd, name, flags) == 0 || errno == ENOENT)
		return 0;
	if (errno != EACCES && errno != EPERM)
		return -1;
	fchmod(dfd, 0700);
	return unlinkat(dfd, name, flags) < 0 && errno != ENOENT ? -1 : 0;
}

/* Removes everything inside the directory open as `dfd` (which it closes), never following links. */
static int rm_contents(int dfd)
{
	int rc = 0;
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -1;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		struct stat st;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = -1;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			if (!(st.st_mode & S_IWUSR) || !(st.st_mode & S_IXUSR))
				fchmodat(dirfd(d), e->d_name, 0700, 0);
			int sub =
			    openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0 || rm_contents(sub) < 0 || rm_entry_at(dirfd(d), e->d_name, AT_REMOVEDIR) < 0)
				rc = -1;
		} else if (rm_entry_at(dirfd(d), e->d_name, 0) < 0) {
			rc = -1;
		}
	}
	closedir(d);
	return rc;
}

int workspace_remove(const char *path)
{
	int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
	int rc = rm_contents(dfd);
	return rmdir(path) < 0 && errno != ENOENT ? -1 : rc;
}

/* Lower-case hex SHA-256 of `s` into `hex` (65 bytes). */
static int sha256_hex(const char *s, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	if (EVP_Digest(s, strlen(s), md, &len, EVP_sha256(), NULL) != 1 || len != 32)
		return -1;
	for (unsigned int i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

/* ---- libgit2 setup ---- */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_failed;
static char init_error[256];

static void init_libgit2(void)
{
	if (git_libgit2_init() < 0) {
		init_failed = 1;
		snprintf(init_error, sizeof(init_error), "%s", git_msg());
	}
}

int mirror_global_init(struct rp_error *err)
{
	/* The process keeps libgit2: shutting it down while another thread uses it would be fatal. */
	pthread_once(&init_once, init_libgit2);
	if (init_failed)
		return rp_error_set(err, RP_EIO, "cannot initialize libgit2: %s", init_error);
	return 0;
}

/* ---- URL normalization ---- */

static void lower(char *s, size_t n)
{
	for (size_t i = 0; i < n && s[i]; i++)
		s[i] = (char)tolower((unsigned char)s[i]);
}

/* Length of the scheme of `url` when it is "scheme://...", else 0. */
static size_t scheme_length(const char *url)
{
	if (!isalpha((unsigned char)url[0]))
		return 0;
	size_t i = 1;
	while (isalnum((unsigned char)url[i]) || url[i] == '+' || url[i] == '-' || url[i] == '.')
		i++;
	return strncmp(url + i, "://", 3) == 0 ? i : 0;
}

/* Whether `url` is git's scp-like "[user@]host:path": a colon before any slash. */
static int is_scp_like(const char *url)
{
	const char *colon = strchr(url, ':');
	const char *slash = strchr(url, '/');
	return colon && colon != url && (!slash || colon < slash);
}

/* Drops trailing slashes, then one ".git", then the slashes before it, from s[0..*len). */
static void trim_repo_path(const char *s, size_t *len)
{
	while (*len > 0 && s[*len - 1] == '/')
		(*len)--;
	if (*len > 4 && memcmp(s + *len - 4, ".git", 4) == 0)
		*len -= 4;
	while (*len > 0 && s[*len - 1] == '/')
		(*len)--;
}

/* Resolves "." and ".." and repeated slashes of an absolute path, in place. */
static void clean_path(char *path)
{
	char *out = path; /* write position; path[0] is '/' */
	const char *in = path;
	while (*in) {
		while (*in == '/')
			in++;
		if (!*in)
			break;
		size_t n = strcspn(in, "/");
		if (n == 1 && in[0] == '.') {
			/* nothing */
		} else if (n == 2 && in[0] == '.' && in[1] == '.') {
			while (out > path && *(out - 1) != '/')
				out--;
			if (out > path)
				out--; /* the slash before the dropped component */
		} else {
			*out++ = '/';
			memmove(out, in, n);
			out += n;
		}
		in += n;
	}
	if (out == path)
		*out++ = '/';
	*out = '\0';
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes %XX escapes in place. */
static void percent_decode(char *s)
{
	char *out = s;
	for (const char *in = s; *in; in++) {
		int hi, lo;
		if (in[0] == '%' && (hi = hexval((unsigned char)in[1])) >= 0 &&
		    (lo = hexval((unsigned char)in[2])) >= 0) {
			*out++ = (char)(hi * 16 + lo);
			in += 2;
		} else {
			*out++ = *in;
		}
	}
	*out = '\0';
}

/*
 * A local path: *key is "file://" + its canonical absolute form, *fetch that
 * absolute form, *resolved the absolute form when `path` was relative. All
 * three are the caller's.
 */
static int local_key(const char *path, const char *base_dir, char **key, char **fetch, char **resolved,
		     struct rp_error *err)
{
	int rc = 0;
	char *cwd = NULL, *abs = NULL, *real = NULL;
	if (path[0] == '/') {
		abs = strdup(path);
	} else {
		const char *base = base_dir && base_dir[0] ? base_dir : ".";
		if (base[0] != '/') {
			cwd = getcwd(NULL, 0);
			if (!cwd) {
				char ebuf[128];
				rc = rp_error_set(err, RP_EIO, "cannot resolve %s: current directory: %s",
						  path, errno_text(errno, ebuf, sizeof(ebuf)));
				goto out;
			}
			abs = str_printf("%s/%s/%s", cwd, base, path);
		} else {
			abs = str_printf("%s/%s", base, path);
		}
	}
	if (!abs) {
		rc = nomem(err);
		goto out;
	}
	real = realpath(abs, NULL);
	if (!real) {
		/* A missing repository still gets a stable key, and fails when fetched. */
		if (errno == ENOMEM) {
			rc = nomem(err);
			goto out;
		}
		clean_path(abs);
		real = abs;
		abs = NULL;
	}
	size_t len = strlen(real);
	if (len >= 5 && strcmp(real + len - 5, "/.git") == 0) {
		real[len - 5] = '\0';
		if (!real[0]) {
			real[0] = '/';
			real[1] = '\0';
		}
	}
	*key = str_printf("file://%s", real);
	*fetch = strdup(real);
	*resolved = path[0] == '/' ? NULL : strdup(real);
	if (!*key || !*fetch || (path[0] != '/' && !*resolved)) {
		free(*key);
		free(*fetch);
		free(*resolved);
		*key = *fetch = *resolved = NULL;
		rc = nomem(err);
	}
out:
	free(cwd);
	free(abs);
	free(real);
	return rc;
}

/* "scheme://[userinfo@]host[:port]/path" -> "scheme://host[:port]/path", see git.h. */
static int network_key(const char *url, size_t scheme_len, char **key, struct rp_error *err)
{
	static const struct {
		const char *scheme;
		const char *port;
	} defaults[] = {{"http", "80"}, {"https", "443"}, {"ssh", "22"}, {"git", "9418"}};
	const char *auth = url + scheme_len + 3;
	const char *auth_end = auth + strcspn(auth, "/?#");
	const char *host = auth;
	for (const char *p = auth; p < auth_end; p++)
		if (*p == '@')
			host = p + 1;
	const char *port = NULL;
	if (host < auth_end && *host == '[') {
		const char *close = memchr(host, ']', (size_t)(auth_end - host));
		if (close && close + 1 < auth_end && close[1] == ':')
			port = close + 2;
	} else {
		const char *colon = memchr(host, ':', (size_t)(auth_end - host));
		if (colon)
			port = colon + 1;
	}
	size_t host_len = (size_t)((port ? port - 1 : auth_end) - host);
	size_t port_len = port ? (size_t)(auth_end - port) : 0;
	if (host_len == 0)
		return rp_error_set(err, RP_EINVAL, "%s: no host in repository URL", url);

	char scheme[32];
	if (scheme_len >= sizeof(scheme))
		return rp_error_set(err, RP_EINVAL, "%s: unknown URL scheme", url);
	memcpy(scheme, url, scheme_len);
	scheme[scheme_len] = '\0';
	lower(scheme, scheme_len);
	for (size_t i = 0; port && i < sizeof(defaults) / sizeof(defaults[0]); i++)
		if (strcmp(scheme, defaults[i].scheme) == 0 && port_len == strlen(defaults[i].port) &&
		    memcmp(port, defaults[i].port, port_len) == 0)
			port_len = 0;

	const char *path = auth_end;
	size_t path_len = strcspn(path, "?#");
	const char *rest = path + path_len; /* query and fragment, kept as they are */
	trim_repo_path(path, &path_len);
	*key = str_printf("%s://%.*s%s%.*s%.*s%s", scheme, (int)host_len, host, port_len ? ":" : "",
			  (int)port_len, port, (int)path_len, path, rest);
	if (!*key)
		return nomem(err);
	lower(*key + scheme_len + 3, host_len);
	return 0;
}

/* "[user@]host:path" -> "ssh://host/path". */
static int scp_key(const char *url, char **key, struct rp_error *err)
{
	const char *colon = strchr(url, ':');
	const char *host = url;
	for (const char *p = url; p < colon; p++)
		if (*p == '@')
			host = p + 1;
	size_t host_len = (size_t)(colon - host);
	if (host_len == 0)
		return rp_error_set(err, RP_EINVAL, "%s: no host in repository address", url);
	const char *path = colon + 1;
	while (*path == '/')
		path++;
	size_t path_len = strlen(path);
	trim_repo_path(path, &path_len);
	*key = str_printf("ssh://%.*s/%.*s", (int)host_len, host, (int)path_len, path);
	if (!*key)
		return nomem(err);
	lower(*key + 6, host_len);
	return 0;
}

/*
 * The key, the URL to fetch and (for a relative local path) the resolved path
 * of `url`; all the caller's on success, all NULL on failure.
 */
static int normalize(const char *url, const char *base_dir, char **key, char **fetch, char **resolved,
		     struct rp_error *err)
{
	int rc = 0;
	*key = *fetch = *resolved = NULL;
	if (!url || !url[0])
		return rp_error_set(err, RP_EINVAL, "empty repository URL");
	size_t scheme_len = scheme_length(url);
	if (scheme_len == 4 && strncasecmp(url, "file", 4) == 0) {
		const char *p = url + 7;
		if (*p != '/') {
			size_t host_len = strcspn(p, "/");
			if (host_len != 9 || strncasecmp(p, "localhost", 9) != 0 || p[9] != '/')
				return rp_error_set(err, RP_EINVAL,
						    "%s: a file:// URL must name a local absolute path", url);
			p += host_len;
		}
		char *path = strdup(p);
		if (!path)
			return nomem(err);
		percent_decode(path);
		rc = local_key(path, NULL, key, fetch, resolved, err);
		free(path);
		return rc;
	}
	if (scheme_len)
		rc = network_key(url, scheme_len, key, err);
	else if (is_scp_like(url))
		rc = scp_key(url, key, err);
	else
		return local_key(url, base_dir, key, fetch, resolved, err);
	if (rc < 0)
		return rc;
	*fetch = strdup(url);
	if (!*fetch) {
		free(*key);
		*key = NULL;
		return nomem(err);
	}
	return 0;
}

int mirror_normalize_url(const char *url, const char *base_dir, char **out, struct rp_error *err)
{
	char *fetch = NULL, *resolved = NULL;
	int rc = normalize(url, base_dir, out, &fetch, &resolved, err);
	free(fetch);
	free(resolved);
	return rc;
}

/* `url` for messages: a password in its user info is left out ("https://u:secret@h" -> "https://u@h"). */
static char *display_url(const char *url)
{
	size_t scheme_len = scheme_length(url);
	if (!scheme_len)
		return strdup(url);
	const char *auth = url + scheme_len + 3;
	const char *auth_end = auth + strcspn(auth, "/?#");
	const char *at = NULL;
	for (const char *p = auth; p < auth_end; p++)
		if (*p == '@')
			at = p;
	const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
	if (!colon)
		return strdup(url);
	return str_printf("%.*s%s", (int)(colon - url), url, at);
}

/* ---- locking and fetching ---- */

/* Takes the exclusive lock of `m`'s mirror, waiting for it; *fd is released by lock_release(). */
static int lock_take(const struct mirror *m, int *fd, struct rp_error *err)
{
	char ebuf[128];
	*fd = open(m->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (*fd < 0)
		return rp_error_set(err, RP_EIO, "cannot open lock file %s: %s", m->lock_path,
				    errno_text(errno, ebuf, sizeof(ebuf)));
	/* flock() locks the open file description, so two threads exclude each other too. */
	while (flock(*fd, LOCK_EX) < 0) {
		if (errno == EINTR)
			continue;
		int e = errno;
		close(*fd);
		*fd = -1;
		return rp_error_set(err, RP_EIO, "cannot lock %s: %s", m->lock_path,
				    errno_text(e, ebuf, sizeof(ebuf)));
	}
	return 0;
}

static void lock_release(int fd)
{
	if (fd >= 0) {
		flock(fd, LOCK_UN);
		close(fd);
	}
}

static int fetch_failed(const struct mirror *m, struct rp_error *err)
{
	if (m->resolved)
		return rp_error_set(err, git_code(RP_EUNREACHABLE), "cannot fetch %s (%s): %s", m->shown,
				    m->resolved, git_msg());
	return rp_error_set(err, git_code(RP_EUNREACHABLE), "cannot fetch %s: %s", m->shown, git_msg());
}

static int by_string(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Deletes the branches and tags of `repo` that the connected `remote` no
 * longer advertises; refs outside pruned_prefixes (the pull-request heads
 * under refs/ripple/) are never touched. Objects stay. Unlike
 * git_remote_prune(), which prunes whatever any fetch refspec wrote, this
 * keeps a pull request's head after the forge dropped its ref. A libgit2 code
 * on failure. The caller holds the mirror's lock.
 */
static int prune_locked(git_remote *remote, git_repository *repo)
{
	const git_remote_head **heads;
	size_t n_heads;
	const char **advertised = NULL;
	git_strarray local = {NULL, 0};
	int rc = git_remote_ls(&heads, &n_heads, remote);
	if (rc < 0)
		return rc;
	advertised = malloc((n_heads ? n_heads : 1) * sizeof(*advertised));
	if (!advertised) {
		git_error_set_oom();
		return GIT_ERROR;
	}
	for (size_t i = 0; i < n_heads; i++)
		advertised[i] = heads[i]->name;
	qsort(advertised, n_heads, sizeof(*advertised), by_string);
	if ((rc = git_reference_list(&local, repo)) < 0)
		goto out;
	for (size_t i = 0; i < local.count; i++) {
		const char *name = local.strings[i];
		size_t k;
		for (k = 0; k < sizeof(pruned_prefixes) / sizeof(pruned_prefixes[0]); k++)
			if (strncmp(name, pruned_prefixes[k], strlen(pruned_prefixes[k])) == 0)
				break;
		if (k == sizeof(pruned_prefixes) / sizeof(pruned_prefixes[0]) ||
		    bsearch(&name, advertised, n_heads, sizeof(*advertised), by_string))
			continue;
		rc = git_reference_remove(repo, name);
		if (rc == GIT_ENOTFOUND) { /* gone already */
			git_error_clear();
			rc = 0;
		}
		if (rc < 0)
			goto out;
	}
	rc = 0;
out:
	git_strarray_dispose(&local);
	free(advertised);
	return rc;
}

/*
 * Fetches all branches, tags and pull-request heads of m->fetch_url into
 * `repo`, prunes the branches and tags the remote deleted and points HEAD at
 * the remote's default branch. The caller holds the mirror's lock.
 */
static int fetch_into(const struct mirror *m, git_repository *repo, struct rp_error *err)
{
	int rc = 0;
	git_remote *remote = NULL;
	git_reference *head = NULL;
	git_buf default_branch = {0};
	git_fetch_options opts;
	git_strarray specs = {fetch_specs, N_FETCH_SPECS};
	struct stat st;

	/* libgit2 calls a missing local path an "unsupported URL protocol": say what is wrong. */
	if (m->fetch_url[0] == '/' && stat(m->fetch_url, &st) < 0) {
		char ebuf[128];
		errno_text(errno, ebuf, sizeof(ebuf));
		if (m->resolved)
			return rp_error_set(err, RP_EUNREACHABLE, "cannot fetch %s (%s): %s", m->shown,
					    m->resolved, ebuf);
		return rp_error_set(err, RP_EUNREACHABLE, "cannot fetch %s: %s: %s", m->shown, m->fetch_url,
				    ebuf);
	}

	git_fetch_options_init(&opts, GIT_FETCH_OPTIONS_VERSION);
	opts.proxy_opts.type = GIT_PROXY_AUTO;
	opts.prune = GIT_FETCH_NO_PRUNE; /* pruned below, while still connected */
	opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_ALL;
	opts.update_fetchhead = 0;

	/*
	 * An anonymous remote: the mirror's config never holds a URL (nor its
	 * credentials). url.*.insteadOf is not applied, so what is fetched is
	 * what the key names (and libgit2 1.5 leaks a PCRE2 match block per
	 * config regex that does not match, which that lookup hits).
	 */
	git_remote_create_options create;
	git_remote_create_options_init(&create, GIT_REMOTE_CREATE_OPTIONS_VERSION);
	create.repository = repo;
	create.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
	if (git_remote_create_with_opts(&remote, m->fetch_url, &create) < 0 ||
	    git_remote_download(remote, &specs, &opts) < 0) {
		rc = fetch_failed(m, err);
		goto out;
	}
	if (git_remote_update_tips(remote, NULL, 0, GIT_REMOTE_DOWNLOAD_TAGS_ALL, "ripple: fetch") < 0 ||
	    prune_locked(remote, repo) < 0) {
		rc = rp_error_set(err, git_code(RP_EIO), "cannot update mirror %s of %s: %s", m->path,
				  m->shown, git_msg());
		goto out;
	}
	if (git_remote_default_branch(&default_branch, remote) == 0) {
		if (git_reference_symbolic_create(&head, repo, "HEAD", default_branch.ptr, 1,
						  "ripple: fetch") < 0) {
			rc = rp_error_set(err, git_code(RP_EIO), "cannot set HEAD of mirror %s of %s: %s",
					  m->path, m->shown, git_msg());
			goto out;
		}
	} else {
		git_error_clear(); /* an empty remote has no default branch */
	}
out:
	if (remote)
		git_remote_disconnect(remote);
	git_reference_free(head);
	git_buf_dispose(&default_branch);
	git_remote_free(remote);
	return rc;
}

/* Removes what crashed clones of this mirror left: "<sha256>.tmp-*". The caller holds the lock. */
static void remove_stale_clones(const char *cache_dir, const char *hex)
{
	DIR *d = opendir(cache_dir);
	if (!d)
		return;
	char prefix[80];
	snprintf(prefix, sizeof(prefix), "%s.tmp-", hex);
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
			continue;
		char *path = str_printf("%s/%s", cache_dir, e->d_name);
		if (path)
			workspace_remove(path);
		free(path);
	}
	closedir(d);
}

/* Sets the config that makes checkouts independent of the host's git config; a libgit2 code on failure. */
static int configure_mirror(git_repository *repo, const struct mirror *m)
{
	git_config *cfg = NULL;
	int rc = git_repository_config(&cfg, repo);
	if (rc < 0)
		return rc;
	if ((rc = git_config_set_bool(cfg, "core.symlinks", 1)) == 0 &&
	    (rc = git_config_set_bool(cfg, "core.filemode", 1)) == 0 &&
	    (rc = git_config_set_bool(cfg, "core.logallrefupdates", 0)) == 0)
		rc = git_config_set_string(cfg, "ripple.url", m->key);
	git_config_free(cfg);
	return rc;
}

/*
 * Clones into "<cache>/<sha256>.tmp-XXXXXX" and renames it to m->path, so the
 * mirror appears complete or not at all. The caller holds the lock and has
 * seen that m->path does not exist.
 */
static int clone_locked(const struct mirror *m, const char *cache_dir, const char *hex, struct rp_error *err)
{
	char ebuf[128];
	int rc = 0;
	git_repository *repo = NULL;
	remove_stale_clones(cache_dir, hex);
	char *tmp = str_printf("%s/%s.tmp-XXXXXX", cache_dir, hex);
	if (!tmp)
		return nomem(err);
	if (!mkdtemp(tmp)) {
		rc = rp_error_set(err, RP_EIO, "cannot create %s: %s", tmp,
				  errno_text(errno, ebuf, sizeof(ebuf)));
		free(tmp);
		return rc;
	}
	if (git_repository_init(&repo, tmp, 1) < 0 || configure_mirror(repo, m) < 0) {
		rc = rp_error_set(err, git_code(RP_EIO), "cannot create mirror %s of %s: %s", tmp, m->shown,
				  git_msg());
		goto out;
	}
	if ((rc = fetch_into(m, repo, err)) < 0)
		goto out;
	git_repository_free(repo);
	repo = NULL;
	if (rename(tmp, m->path) < 0) {
		rc = rp_error_set(err, RP_EIO, "cannot rename %s to %s: %s", tmp, m->path,
				  errno_text(errno, ebuf, sizeof(ebuf)));
		goto out;
	}
	/* Make the rename durable before anyone relies on the mirror being there. */
	int dfd = open(cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
out:
	git_repository_free(repo);
	if (rc < 0)
		workspace_remove(tmp);
	free(tmp);
	return rc;
}

/* 1 when m->path exists, 0 when it does not, or an error. */
static int mirror_exists(const struct mirror *m, struct rp_error *err)
{
	char ebuf[128];
	struct stat st;
	if (stat(m->path, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return rp_error_set(err, RP_EIO, "mirror %s of %s is not a directory", m->path,
					    m->shown);
		return 1;
	}
	if (errno == ENOENT)
		return 0;
	return rp_error_set(err, RP_EIO, "cannot stat mirror %s: %s", m->path,
			    errno_text(errno, ebuf, sizeof(ebuf)));
}

void mirror_close(struct mirror *m)
{
	if (!m)
		return;
	git_repository_free(m->repo);
	free(m->shown);
	free(m->key);
	free(m->fetch_url);
	free(m->path);
	free(m->lock_path);
	free(m->resolved);
	free(m);
}

int mirror_open(const char *cache_dir, const char *url, const char *base_dir, struct mirror **out,
		struct rp_error *err)
{
	int rc, lock_fd = -1;
	char hex[65];
	char *cache = NULL;
	struct mirror *m = NULL;

	if (out)
		*out = NULL;
	if (!cache_dir || !cache_dir[0] || !url || !out)
		return rp_error_set(err, RP_EINVAL, "mirror_open: missing cache directory, URL or result");
	if ((rc = mirror_global_init(err)) < 0)
		return rc;
	m = calloc(1, sizeof(*m));
	cache = strdup(cache_dir);
	if (!m || !cache) {
		rc = nomem(err);
		goto out;
	}
	for (size_t n = strlen(cache); n > 1 && cache[n - 1] == '/'; n--)
		cache[n - 1] = '\0';
	if ((rc = normalize(url, base_dir, &m->key, &m->fetch_url, &m->resolved, err)) < 0)
		goto out;
	m->shown = display_url(url);
	if (!m->shown || sha256_hex(m->key, hex) < 0) {
		rc = nomem(err);
		goto out;
	}
	m->path = str_printf("%s/%s.git", cache, hex);
	m->lock_path = str_printf("%s/%s.lock", cache, hex);
	if (!m->path || !m->lock_path) {
		rc = nomem(err);
		goto out;
	}
	if ((rc = mkdir_p(cache, 0755, err)) < 0)
		goto out;

	/* Fast path: an existing mirror is complete (it appeared by rename); no lock needed. */
	if ((rc = mirror_exists(m, err)) < 0)
		goto out;
	if (rc == 0) {
		if ((rc = lock_take(m, &lock_fd, err)) < 0)
			goto out;
		/* Someone may have cloned it while we waited for the lock. */
		if ((rc = mirror_exists(m, err)) < 0)
			goto out;
		if (rc == 0 && (rc = clone_locked(m, cache, hex, err)) < 0)
			goto out;
	}
	if (git_repository_open_bare(&m->repo, m->path) < 0) {
		rc = rp_error_set(err, git_code(RP_EIO), "cannot open mirror %s of %s: %s", m->path, m->shown,
				  git_msg());
		goto out;
	}
	rc = 0;
out:
	lock_release(lock_fd);
	free(cache);
	if (rc < 0)
		mirror_close(m);
	else
		*out = m;
	return rc;
}

int mirror_fetch(struct mirror *m, struct rp_error *err)
{
	int fd = -1;
	int rc = lock_take(m, &fd, err);
	if (rc < 0)
		return rc;
	rc = fetch_into(m, m->repo, err);
	lock_release(fd);
	return rc;
}

/* ---- reading ---- */

/*
 * Looks up reference PREFIX+REV. 0 with *obj set (the caller's), 1 when there
 * is no such reference, or a libgit2 error.
 */
static int lookup_ref(git_repository *repo, const char *prefix, const char *rev, git_object **obj)
{
	git_oid id;
	char *name = str_printf("%s%s", prefix, rev);
	if (!name)
		return GIT_ERROR;
	int r = git_reference_name_to_id(&id, repo, name);
	free(name);
	if (r == GIT_ENOTFOUND || r == GIT_EINVALIDSPEC) {
		git_error_clear();
		return 1;
	}
	if (r < 0)
		return r;
	return git_object_lookup(obj, repo, &id, GIT_OBJECT_ANY);
}

/*
 * Looks up `rev`, a ref name as the remote has it, under the name the fetch
 * refspecs store it as ("refs/pull/7/head" is "refs/ripple/pull/7" here).
 * Returns as lookup_ref() does.
 */
static int lookup_remote_ref(git_repository *repo, const char *rev, git_object **obj)
{
	for (size_t i = 0; i < N_FETCH_SPECS; i++) {
		git_refspec *spec = NULL;
		git_buf local = {0};
		int r = git_refspec_parse(&spec, fetch_specs[i], 1);
		if (r < 0)
			return r;
		r = 1;
		if (git_refspec_src_matches(spec, rev) &&
		    strcmp(git_refspec_src(spec), git_refspec_dst(spec)) != 0) {
			r = git_refspec_transform(&local, spec, rev);
			if (r == 0)
				r = lookup_ref(repo, "", local.ptr, obj);
		}
		git_buf_dispose(&local);
		git_refspec_free(spec);
		if (r != 1)
			return r;
	}
	return 1;
}

static int is_hex(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

int mirror_resolve(struct mirror *m, const char *rev, git_oid *commit, struct rp_error *err)
{
	int rc = 0, r = 1;
	git_object *obj = NULL, *peeled = NULL;

	if (!rev || !rev[0])
		return rp_error_set(err, RP_EINVAL, "empty revision for %s", m->shown);
	r = lookup_ref(m->repo, "refs/heads/", rev, &obj);
	if (r == 1)
		r = lookup_ref(m->repo, "refs/tags/", rev, &obj);
	if (r == 1 && strncmp(rev, "refs/", 5) == 0)
		r = lookup_ref(m->repo, "", rev, &obj);
	if (r == 1 && strncmp(rev, "refs/", 5) == 0)
		r = lookup_remote_ref(m->repo, rev, &obj);
	size_t len = strlen(rev);
	if (r == 1 && len >= 4 && len <= GIT_OID_HEXSZ && is_hex(rev, len)) {
		git_oid prefix;
		if (git_oid_fromstrn(&prefix, rev, len) == 0) {
			r = git_object_lookup_prefix(&obj, m->repo, &prefix, len, GIT_OBJECT_ANY);
			if (r == GIT_ENOTFOUND) {
				git_error_clear();
				r = 1;
			}
		}
	}
	if (r == 1) {
		r = git_revparse_single(&obj, m->repo, rev);
		if (r == GIT_ENOTFOUND || r == GIT_EINVALIDSPEC) {
			rc = rp_error_set(err, RP_ENOTFOUND, "unknown revision '%s' in %s", rev, m->shown);
			goto out;
		}
	}
	if (r == GIT_EAMBIGUOUS) {
		rc = rp_error_set(err, RP_EINVAL, "revision '%s' is ambiguous in %s", rev, m->shown);
		goto out;
	}
	if (r < 0) {
		rc = rp_error_set(err, git_code(RP_EIO), "cannot resolve '%s' in %s: %s", rev, m->shown,
				  git_msg());
		goto out;
	}
	if (git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT) < 0) {
		rc = rp_error_set(err, git_code(RP_EINVAL), "revision '%s' in %s is a %s, not a commit", rev,
				  m->shown, git_object_type2string(git_object_type(obj)));
		goto out;
	}
	git_oid_cpy(commit, git_object_id(peeled));
out:
	git_object_free(peeled);
	git_object_free(obj);
	return rc;
}

/* Looks up `id` as a commit; *c is the caller's. */
static int commit_lookup(struct mirror *m, const git_oid *id, git_commit **c, struct rp_error *err)
{
	char hex[GIT_OID_HEXSZ + 1];
	int r = git_commit_lookup(c, m->repo, id);
	if (r == 0)
		return 0;
	git_oid_tostr(hex, sizeof(hex), id);
	/* libgit2 answers GIT_ENOTFOUND with an "invalid" error when the object exists with another type. */
	const git_error *e = git_error_last();
	if (r == GIT_ENOTFOUND && e && e->klass == GIT_ERROR_INVALID)
		return rp_error_set(err, RP_EINVAL, "%s in %s is not a commit", hex, m->shown);
	if (r == GIT_ENOTFOUND)
		return rp_error_set(err, RP_ENOTFOUND, "commit %s not found in %s", hex, m->shown);
	return rp_error_set(err, git_code(RP_EIO), "cannot read commit %s of %s: %s", hex, m->shown,
			    git_msg());
}

int mirror_tree_of(struct mirror *m, const git_oid *commit, git_oid *tree, struct rp_error *err)
{
	git_commit *c = NULL;
	int rc = commit_lookup(m, commit, &c, err);
	if (rc < 0)
		return rc;
	git_oid_cpy(tree, git_commit_tree_id(c));
	git_commit_free(c);
	return 0;
}

int mirror_file_at(struct mirror *m, const git_oid *commit, const char *path, size_t max, char **data, size_t *len,
		   struct rp_error *err)
{
	git_commit *c = NULL;
	git_tree *tree = NULL;
	git_tree_entry *entry = NULL;
	git_blob *blob = NULL;
	*data = NULL;
	*len = 0;
	int rc = commit_lookup(m, commit, &c, err);
	if (rc < 0)
		return rc;
	if (git_commit_tree(&tree, c) < 0)
		rc = rp_error_set(err, RP_EIO, "%s: cannot read the tree of a commit", m->shown);
	else if (git_tree_entry_bypath(&entry, tree, path) < 0 || git_tree_entry_type(entry) != GIT_OBJECT_BLOB)
		rc = rp_error_set(err, RP_ENOTFOUND, "%s: no file %s in that commit", m->shown, path);
	else if (git_blob_lookup(&blob, m->repo, git_tree_entry_id(entry)) < 0)
		rc = rp_error_set(err, RP_EIO, "%s: cannot read %s", m->shown, path);
	else if ((size_t)git_blob_rawsize(blob) > max)
		rc = rp_error_set(err, RP_ERANGE, "%s: %s is larger than %zu bytes", m->shown, path, max);
	else {
		*len = (size_t)git_blob_rawsize(blob);
		if (!(*data = malloc(*len + 1)))
			rc = rp_error_set(err, RP_ENOMEM, "out of memory");
		else {
			memcpy(*data, git_blob_rawcontent(blob), *len);
			(*data)[*len] = '\0';
		}
	}
	git_blob_free(blob);
	git_tree_entry_free(entry);
	git_tree_free(tree);
	git_commit_free(c);
	return rc;
}

void mirror_commit_info_release(struct mirror_commit_info *info)
{
	if (!info)
		return;
	free(info->author_name);
	free(info->author_email);
	free(info->subject);
	memset(info, 0, sizeof(*info));
}

int mirror_commit_info(struct mirror *m, const git_oid *commit, struct mirror_commit_info *info,
		       struct rp_error *err)
{
	git_commit *c = NULL;
	memset(info, 0, sizeof(*info));
	int rc = commit_lookup(m, commit, &c, err);
	if (rc < 0)
		return rc;
	const git_signature *author = git_commit_author(c);
	const char *summary = git_commit_summary(c);
	if (!summary) {
		rc = rp_error_set(err, git_code(RP_EIO), "cannot read commit message: %s", git_msg());
		goto out;
	}
	git_oid_cpy(&info->id, git_commit_id(c));
	git_oid_cpy(&info->tree, git_commit_tree_id(c));
	info->author_name = strdup(author->name ? author->name : "");
	info->author_email = strdup(author->email ? author->email : "");
	info->author_time = (int64_t)author->when.time;
	info->author_offset = author->when.offset;
	info->commit_time = (int64_t)git_commit_time(c);
	info->subject = strdup(summary);
	info->n_parents = git_commit_parentcount(c);
	if (!info->author_name || !info->author_email || !info->subject)
		rc = nomem(err);
out:
	if (rc < 0)
		mirror_commit_info_release(info);
	git_commit_free(c);
	return rc;
}

/* Creates `dir` when missing; RP_EEXISTS unless it is then an empty directory. */
static int workspace_prepare(const char *dir, struct rp_error *err)
{
	char ebuf[128];
	struct stat st;
	if (stat(dir, &st) < 0) {
		if (errno != ENOENT)
			return rp_error_set(err, RP_EIO, "cannot stat workspace %s: %s", dir,
					    errno_text(errno, ebuf, sizeof(ebuf)));
		return mkdir_p(dir, 0755, err);
	}
	if (!S_ISDIR(st.st_mode))
		return rp_error_set(err, RP_EEXISTS, "workspace %s exists and is not a directory", dir);
	DIR *d = opendir(dir);
	if (!d)
		return rp_error_set(err, RP_EIO, "cannot read workspace %s: %s", dir,
				    errno_text(errno, ebuf, sizeof(ebuf)));
	int empty = 1;
	struct dirent *e;
	while (empty && (e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			empty = 0;
	closedir(d);
	if (!empty)
		return rp_error_set(err, RP_EEXISTS, "workspace %s is not empty", dir);
	return 0;
}

int workspace_checkout(struct mirror *m, const git_oid *commit, const char *dir, struct rp_error *err)
{
	int rc;
	git_commit *c = NULL;
	git_tree *tree = NULL;
	git_checkout_options opts;

	if (!dir || !dir[0])
		return rp_error_set(err, RP_EINVAL, "workspace_checkout: no directory");
	if ((rc = commit_lookup(m, commit, &c, err)) < 0)
		return rc;
	if ((rc = workspace_prepare(dir, err)) < 0)
		goto out;
	if (git_commit_tree(&tree, c) < 0) {
		rc = rp_error_set(err, git_code(RP_EIO), "cannot read the tree of a commit of %s: %s",
				  m->shown, git_msg());
		goto out;
	}
	/*
	 * The mirror is bare and has no index file, so the baseline is empty and
	 * every file is written. DONT_UPDATE_INDEX keeps libgit2 from creating
	 * one (shared by every job of this mirror); filters are off so that the
	 * same tree always gives the same bytes, whatever the host's config.
	 */
	git_checkout_options_init(&opts, GIT_CHECKOUT_OPTIONS_VERSION);
	opts.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_DONT_UPDATE_INDEX;
	opts.target_directory = dir;
	opts.disable_filters = 1;
	if (git_checkout_tree(m->repo, (const git_object *)tree, &opts) < 0) {
		char hex[GIT_OID_HEXSZ + 1];
		git_oid_tostr(hex, sizeof(hex), commit);
		rc = rp_error_set(err, git_code(RP_EIO), "cannot check out %s of %s into %s: %s", hex,
				  m->shown, dir, git_msg());
		goto out;
	}
	rc = 0;
out:
	git_tree_free(tree);
	git_commit_free(c);
	return rc;
}

const char *mirror_path(const struct mirror *m)
{
	return m->path;
}

const char *mirror_url(const struct mirror *m)
{
	return m->key;
}

git_repository *mirror_repository(struct mirror *m)
{
	return m->repo;
}
