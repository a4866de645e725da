#include "artifact.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/strmap.h"
#include "core/banned.h"

#define COPY_CHUNK (256 * 1024)

struct path_list {
	char **items;
	size_t len, cap;
};

static void path_list_release(struct path_list *l)
{
	for (size_t i = 0; i < l->len; i++)
		free(l->items[i]);
	free(l->items);
	memset(l, 0, sizeof(*l));
}

static int path_list_add(struct path_list *l, const char *path)
{
	if (l->len == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		char **items = realloc(l->items, cap * sizeof(*items));
		if (!items)
			return RP_ENOMEM;
		l->items = items;
		l->cap = cap;
	}
	if (!(l->items[l->len] = strdup(path)))
		return RP_ENOMEM;
	l->len++;
	return 0;
}

static int by_bytes(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collects every path below root/rel (relative to root), depth first. */
static int collect(const char *root, const char *rel, struct path_list *out, struct rp_error *err)
{
	char full[PATH_MAX];
	snprintf(full, sizeof(full), "%s%s%s", root, *rel ? "/" : "", rel);
	DIR *d = opendir(full);
	if (!d)
		return rp_error_set(err, RP_EIO, "cannot read directory %s: %s", full, strerror(errno));
	int rc = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char child[PATH_MAX];
		if ((size_t)snprintf(child, sizeof(child), "%s%s%s", rel, *rel ? "/" : "", e->d_name) >= sizeof(child)) {
			rc = rp_error_set(err, RP_EINVAL, "path too long under %s: %s", root, e->d_name);
			goto out;
		}
		if ((rc = path_list_add(out, child)) < 0) {
			rp_error_set(err, rc, "out of memory listing %s", root);
			goto out;
		}
		struct stat st;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = rp_error_set(err, RP_EIO, "cannot stat %s/%s: %s", full, e->d_name, strerror(errno));
			goto out;
		}
		if (S_ISDIR(st.st_mode) && (rc = collect(root, child, out, err)) < 0)
			goto out;
	}
out:
	closedir(d);
	return rc;
}

static void to_hex(const unsigned char *digest, unsigned int len, char *hex)
{
	for (unsigned int i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
}

static int finish_hex(EVP_MD_CTX *md, char hex[ARTIFACT_HEX_LEN + 1])
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	if (!EVP_DigestFinal_ex(md, digest, &len) || len * 2 != ARTIFACT_HEX_LEN)
		return 0;
	to_hex(digest, len, hex);
	return 1;
}

/* A symlink must stay inside the tree: relative, and never climbing above its root. */
static int link_stays_inside(const char *path, const char *target)
{
	if (target[0] == '/')
		return 0;
	int depth = 0;
	for (const char *p = path; *p; p++)
		depth += *p == '/';
	const char *t = target;
	while (*t) {
		const char *slash = strchr(t, '/');
		size_t len = slash ? (size_t)(slash - t) : strlen(t);
		if (len == 2 && t[0] == '.' && t[1] == '.')
			depth--;
		else if (len > 0 && !(len == 1 && t[0] == '.'))
			depth++;
		if (depth < 0)
			return 0;
		t += len + (slash ? 1 : 0);
	}
	return 1;
}

/* A prefix's entries as artifact_pack() sees them: path -> normalized record. */
struct artifact_layer {
	struct arena arena;
	struct strmap records; /* path -> index into record */
	const char **record;
	size_t len, cap;
};

static int layer_add(struct artifact_layer *l, const char *path, const char *record)
{
	if (l->len == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 256;
		const char **grown = realloc(l->record, cap * sizeof(*grown));
		if (!grown)
			return RP_ENOMEM;
		l->record = grown;
		l->cap = cap;
	}
	char *p = arena_strdup(&l->arena, path), *r = arena_strdup(&l->arena, record);
	if (!p || !r)
		return RP_ENOMEM;
	l->record[l->len] = r;
	if (strmap_put(&l->records, p, l->len, NULL) < 0)
		return RP_ENOMEM;
	l->len++;
	return 0;
}

int artifact_layer_has(const struct artifact_layer *l, const char *path)
{
	return l && strmap_get(&l->records, path, NULL);
}

void artifact_layer_free(struct artifact_layer *l)
{
	if (!l)
		return;
	strmap_release(&l->records);
	arena_release(&l->arena);
	free(l->record);
	free(l);
}

/* What walk() does with each entry besides hashing it. */
struct walk_io {
	struct archive *archive;		/* write it here; NULL: hash only */
	const struct artifact_layer *exclude;	/* leave out what is identical to this layer */
	struct artifact_layer *record_into;	/* remember every entry here */
};

/* The SHA-256 of a regular file's bytes, as hex; optionally feeding an archive as it reads. */
static int hash_entry_data(const char *full, int64_t size, EVP_MD_CTX *md, unsigned char *buf, struct archive *a,
			   char hex[ARTIFACT_HEX_LEN + 1], struct rp_error *err)
{
	int fd = open(full, O_RDONLY | O_CLOEXEC), rc = 0;
	if (fd < 0)
		return rp_error_set(err, RP_EIO, "cannot open %s: %s", full, strerror(errno));
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	for (int64_t left = size; left > 0;) {
		ssize_t n = read(fd, buf, left < COPY_CHUNK ? (size_t)left : COPY_CHUNK);
		if (n <= 0) {
			rc = rp_error_set(err, RP_EIO, "cannot read %s: %s", full,
					  n < 0 ? strerror(errno) : "it shrank while being archived");
			goto out;
		}
		EVP_DigestUpdate(md, buf, (size_t)n);
		if (a && archive_write_data(a, buf, (size_t)n) != n) {
			rc = rp_error_set(err, RP_EIO, "cannot archive %s: %s", full, archive_error_string(a));
			goto out;
		}
		left -= n;
	}
	finish_hex(md, hex);
out:
	close(fd);
	return rc;
}

/*
 * Walks `dir` in normalized order; feeds the content hash and what `io` asks
 * for. The one routine behind pack, hash and layer scans, so they cannot
 * disagree about what a prefix's content is.
 */
static int walk(const char *dir, const struct walk_io *io, char hash[ARTIFACT_HEX_LEN + 1], int64_t *files,
		struct rp_error *err)
{
	struct path_list paths = { 0 };
	EVP_MD_CTX *content = EVP_MD_CTX_new(), *file_md = EVP_MD_CTX_new();
	struct archive_entry *entry = archive_entry_new();
	unsigned char *buf = malloc(COPY_CHUNK);
	struct archive *a = io ? io->archive : NULL;
	unsigned char *kept_below = NULL;
	int64_t kept = 0;
	size_t layer_seen = 0;
	int rc = 0;
	if (!content || !file_md || !entry || !buf || !EVP_DigestInit_ex(content, EVP_sha256(), NULL)) {
		rc = rp_error_set(err, RP_ENOMEM, "out of memory archiving %s", dir);
		goto out;
	}
	if ((rc = collect(dir, "", &paths, err)) < 0)
		goto out;
	if (paths.len)
		qsort(paths.items, paths.len, sizeof(*paths.items), by_bytes);
	/*
	 * A directory of the layer is kept when something kept lies below it, so
	 * that unpacking the artifact alone gives exactly what its hash describes.
	 */
	if (io && io->exclude && !(kept_below = calloc(paths.len ? paths.len : 1, 1))) {
		rc = rp_error_set(err, RP_ENOMEM, "out of memory archiving %s", dir);
		goto out;
	}
	for (size_t i = 0; kept_below && i < paths.len; i++) {
		if (strmap_get(&io->exclude->records, paths.items[i], NULL))
			continue;
		/* Ancestors sort before their descendants: walk back to each. */
		const char *rel = paths.items[i];
		for (size_t j = i; j-- > 0;) {
			size_t len = strlen(paths.items[j]);
			if (strncmp(paths.items[j], rel, len) == 0 && rel[len] == '/') {
				if (kept_below[j])
					break;
				kept_below[j] = 1;
				rel = paths.items[j];
			}
		}
	}
	for (size_t i = 0; i < paths.len; i++) {
		const char *rel = paths.items[i];
		char full[PATH_MAX + 1], link[PATH_MAX], record[PATH_MAX + 128];
		struct stat st;
		if ((size_t)snprintf(full, sizeof(full), "%s/%s", dir, rel) >= sizeof(full)) {
			rc = rp_error_set(err, RP_EINVAL, "path too long: %s/%s", dir, rel);
			goto out;
		}
		if (lstat(full, &st) < 0) {
			rc = rp_error_set(err, RP_EIO, "cannot stat %s: %s", full, strerror(errno));
			goto out;
		}
		archive_entry_clear(entry);
		archive_entry_set_pathname(entry, rel);
		archive_entry_set_mtime(entry, 0, 0);
		archive_entry_set_uid(entry, 0);
		archive_entry_set_gid(entry, 0);
		char kind;
		int mode;
		int64_t size = 0;
		link[0] = '\0';
		if (S_ISDIR(st.st_mode)) {
			kind = 'd';
			mode = 0755;
			archive_entry_set_filetype(entry, AE_IFDIR);
		} else if (S_ISREG(st.st_mode)) {
			kind = 'f';
			mode = (st.st_mode & 0111) ? 0755 : 0644;
			size = st.st_size;
			archive_entry_set_filetype(entry, AE_IFREG);
			archive_entry_set_size(entry, size);
		} else if (S_ISLNK(st.st_mode)) {
			kind = 'l';
			mode = 0777;
			ssize_t n = readlink(full, link, sizeof(link) - 1);
			if (n < 0) {
				rc = rp_error_set(err, RP_EIO, "cannot read symlink %s: %s", full, strerror(errno));
				goto out;
			}
			link[n] = '\0';
			if (!link_stays_inside(rel, link)) {
				rc = rp_error_set(err, RP_EINVAL,
						  "%s: symlink %s -> %s points outside the install prefix; expected a "
						  "relative link inside it",
						  dir, rel, link);
				goto out;
			}
			archive_entry_set_filetype(entry, AE_IFLNK);
			archive_entry_set_symlink(entry, link);
		} else {
			rc = rp_error_set(err, RP_EINVAL,
					  "%s: %s is neither a file, a directory nor a symlink; an install prefix "
					  "may hold only those",
					  dir, rel);
			goto out;
		}
		archive_entry_set_perm(entry, (mode_t)mode);

		/* An entry a dependency put there: left out when untouched, an error when changed. */
		size_t at;
		const char *layer_record = NULL;
		if (io && io->exclude && strmap_get(&io->exclude->records, rel, NULL))
			layer_seen++;
		if (io && io->exclude && !kept_below[i] && strmap_get(&io->exclude->records, rel, &at))
			layer_record = io->exclude->record[at];
		struct archive *sink = layer_record ? NULL : a;
		if (sink && archive_write_header(sink, entry) != ARCHIVE_OK) {
			rc = rp_error_set(err, RP_EIO, "cannot archive %s: %s", full, archive_error_string(sink));
			goto out;
		}
		char file_hex[ARTIFACT_HEX_LEN + 1] = "-";
		if (kind == 'f' && (rc = hash_entry_data(full, size, file_md, buf, sink, file_hex, err)) < 0)
			goto out;
		int len = snprintf(record, sizeof(record), "%c %o %lld %s", kind, (unsigned)mode, (long long)size,
				   kind == 'f' ? file_hex : link);
		if (layer_record) {
			if (strcmp(layer_record, record) != 0) {
				rc = rp_error_set(err, RP_EINVAL,
						  "%s: %s was installed by a dependency and the build changed it; a "
						  "package may add files to the prefix, not replace its dependencies'",
						  dir, rel);
				goto out;
			}
			continue;
		}
		if (io && io->record_into && (rc = layer_add(io->record_into, rel, record)) < 0) {
			rp_error_set(err, rc, "out of memory scanning %s", dir);
			goto out;
		}
		kept++;
		/* Path and record each end in NUL: no path can pass for another. */
		EVP_DigestUpdate(content, rel, strlen(rel) + 1);
		EVP_DigestUpdate(content, record, (size_t)len + 1);
	}
	/* Every entry of the layer must still be there: a build may not remove its dependencies' files. */
	if (io && io->exclude && layer_seen < io->exclude->len) {
		const struct strmap *m = &io->exclude->records;
		for (size_t i = 0; i < m->capacity; i++) {
			char full[PATH_MAX + 1];
			struct stat st;
			if (!m->keys[i])
				continue;
			snprintf(full, sizeof(full), "%s/%s", dir, m->keys[i]);
			if (lstat(full, &st) < 0) {
				rc = rp_error_set(err, RP_EINVAL,
						  "%s: %s was installed by a dependency and the build removed it; a "
						  "package may add files to the prefix, not remove its dependencies'",
						  dir, m->keys[i]);
				goto out;
			}
		}
	}
	if (!finish_hex(content, hash)) {
		rc = rp_error_set(err, RP_ENOMEM, "SHA-256 failed for %s", dir);
		goto out;
	}
	if (files)
		*files = kept;
out:
	free(kept_below);
	free(buf);
	archive_entry_free(entry);
	EVP_MD_CTX_free(content);
	EVP_MD_CTX_free(file_md);
	path_list_release(&paths);
	return rc;
}

int artifact_hash_dir(const char *dir, char hash[ARTIFACT_HEX_LEN + 1], struct rp_error *err)
{
	return walk(dir, NULL, hash, NULL, err);
}

int artifact_hash_dir_except(const char *dir, const struct artifact_layer *exclude, char hash[ARTIFACT_HEX_LEN + 1],
			     struct rp_error *err)
{
	struct walk_io io = { .exclude = exclude };
	return walk(dir, &io, hash, NULL, err);
}

int artifact_adds_entries(const char *dir, const struct artifact_layer *layer, struct rp_error *err)
{
	struct path_list paths = { 0 };
	int rc = collect(dir, "", &paths, err);
	for (size_t i = 0; rc == 0 && i < paths.len; i++)
		if (!layer || !strmap_get(&layer->records, paths.items[i], NULL))
			rc = 1;
	path_list_release(&paths);
	return rc;
}

int artifact_layer_scan(const char *dir, struct artifact_layer **out, struct rp_error *err)
{
	char hash[ARTIFACT_HEX_LEN + 1];
	struct artifact_layer *l = calloc(1, sizeof(*l));
	*out = NULL;
	if (!l)
		return rp_error_set(err, RP_ENOMEM, "out of memory scanning %s", dir);
	arena_init(&l->arena);
	strmap_init(&l->records);
	struct walk_io io = { .record_into = l };
	int rc = walk(dir, &io, hash, NULL, err);
	if (rc < 0) {
		artifact_layer_free(l);
		return rc;
	}
	*out = l;
	return 0;
}

/* SHA-256 and size of a whole file. */
static int hash_file(const char *path, char hex[ARTIFACT_HEX_LEN + 1], int64_t *size, struct rp_error *err)
{
	int rc = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *buf = malloc(COPY_CHUNK);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	*size = 0;
	if (fd < 0) {
		rc = rp_error_set(err, errno == ENOENT ? RP_ENOTFOUND : RP_EIO, "cannot open %s: %s", path,
				  strerror(errno));
		goto out;
	}
	if (!md || !buf || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		rc = rp_error_set(err, RP_ENOMEM, "out of memory hashing %s", path);
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf, COPY_CHUNK);
		if (n < 0) {
			rc = rp_error_set(err, RP_EIO, "cannot read %s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		EVP_DigestUpdate(md, buf, (size_t)n);
		*size += n;
	}
	if (!finish_hex(md, hex))
		rc = rp_error_set(err, RP_ENOMEM, "SHA-256 failed for %s", path);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	EVP_MD_CTX_free(md);
	return rc;
}

int artifact_pack(const char *dir, const struct artifact_layer *exclude, const char *archive_path,
		  struct artifact_info *info, struct rp_error *err)
{
	char tmp[PATH_MAX];
	int rc;
	struct archive *a = archive_write_new();
	memset(info, 0, sizeof(*info));
	/* Unique per call: several build sessions of one process (a worker's slots) may pack the same key. */
	static _Atomic unsigned long serial;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld.%lu", archive_path, (long)getpid(), ++serial) >=
	    sizeof(tmp)) {
		archive_write_free(a);
		return rp_error_set(err, RP_EINVAL, "archive path too long: %s", archive_path);
	}
	/*
	 * Level 1: prefixes are small and written once per build; zstd's default
	 * level costs several MiB of context per archive for little gain here.
	 */
	if (!a || archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_add_filter_zstd(a) != ARCHIVE_OK ||
	    archive_write_set_filter_option(a, "zstd", "compression-level", "1") != ARCHIVE_OK) {
		rc = rp_error_set(err, RP_EIO, "cannot set up a zstd tar archive: %s",
				  a ? archive_error_string(a) : "out of memory");
		goto out;
	}
	/* The default pads the last block to 10 KiB; the content is all that matters. */
	archive_write_set_bytes_in_last_block(a, 1);
	if (archive_write_open_filename(a, tmp) != ARCHIVE_OK) {
		rc = rp_error_set(err, RP_EIO, "cannot create %s: %s", tmp, archive_error_string(a));
		goto out;
	}
	struct walk_io io = { .archive = a, .exclude = exclude };
	if ((rc = walk(dir, &io, info->content_hash, &info->files, err)) < 0)
		goto out;
	if (archive_write_close(a) != ARCHIVE_OK) {
		rc = rp_error_set(err, RP_EIO, "cannot finish %s: %s", tmp, archive_error_string(a));
		goto out;
	}
	if ((rc = hash_file(tmp, info->sha256, &info->size, err)) < 0)
		goto out;
	if (rename(tmp, archive_path) < 0)
		rc = rp_error_set(err, RP_EIO, "cannot rename %s to %s: %s", tmp, archive_path, strerror(errno));
out:
	archive_write_free(a);
	if (rc < 0)
		unlink(tmp);
	return rc;
}

/* Relative, and no component is "..". */
static int entry_name_is_safe(const char *name)
{
	if (!name || !*name || name[0] == '/')
		return 0;
	for (const char *p = name; *p;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		if (len == 2 && p[0] == '.' && p[1] == '.')
			return 0;
		p += len + (slash ? 1 : 0);
	}
	return 1;
}

int artifact_unpack(const char *archive_path, const char *sha256, int64_t size, const char *dest_dir,
		    unsigned flags, struct rp_error *err)
{
	char actual[ARTIFACT_HEX_LEN + 1];
	int64_t actual_size;
	int rc = hash_file(archive_path, actual, &actual_size, err);
	if (rc < 0)
		return rc;
	if (actual_size != size)
		return rp_error_set(err, RP_EINTEGRITY, "%s: %lld bytes, expected %lld; the artifact is damaged",
				    archive_path, (long long)actual_size, (long long)size);
	if (strcmp(actual, sha256) != 0)
		return rp_error_set(err, RP_EINTEGRITY, "%s: SHA-256 %s, expected %s; the artifact is damaged",
				    archive_path, actual, sha256);
	if (mkdir(dest_dir, 0755) < 0 && errno != EEXIST)
		return rp_error_set(err, RP_EIO, "cannot create %s: %s", dest_dir, strerror(errno));
	DIR *d = opendir(dest_dir);
	if (!d)
		return rp_error_set(err, RP_EIO, "cannot open %s: %s", dest_dir, strerror(errno));
	struct dirent *e;
	int empty = 1;
	while (empty && (e = readdir(d)))
		empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
	closedir(d);
	if (!empty && !(flags & ARTIFACT_UNPACK_MERGE))
		return rp_error_set(err, RP_EEXISTS, "%s is not empty; expected a fresh directory to unpack into",
				    dest_dir);

	struct archive *in = archive_read_new(), *out = archive_write_disk_new();
	struct archive_entry *entry;
	if (!in || !out) {
		rc = rp_error_set(err, RP_ENOMEM, "out of memory unpacking %s", archive_path);
		goto out;
	}
	archive_read_support_format_tar(in);
	archive_read_support_filter_zstd(in);
	/*
	 * Entries are checked for absolute paths and .. below, before dest_dir is
	 * put in front of them (libarchive's own absolute-path guard would refuse
	 * dest_dir itself); it still refuses to write through a symlink.
	 */
	archive_write_disk_set_options(out, ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
						    ARCHIVE_EXTRACT_SECURE_NODOTDOT |
						    ((flags & ARTIFACT_UNPACK_MERGE) ? ARCHIVE_EXTRACT_NO_OVERWRITE : 0));
	if (archive_read_open_filename(in, archive_path, COPY_CHUNK) != ARCHIVE_OK) {
		rc = rp_error_set(err, RP_EIO, "cannot open %s: %s", archive_path, archive_error_string(in));
		goto out;
	}
	for (;;) {
		int r = archive_read_next_header(in, &entry);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK) {
			rc = rp_error_set(err, RP_EINTEGRITY, "%s: %s", archive_path, archive_error_string(in));
			goto out;
		}
		char target[PATH_MAX];
		const char *name = archive_entry_pathname(entry);
		if ((size_t)snprintf(target, sizeof(target), "%s/%s", dest_dir, name) >= sizeof(target)) {
			rc = rp_error_set(err, RP_EINVAL, "%s: path too long: %s", archive_path, name);
			goto out;
		}
		if (!entry_name_is_safe(name) || archive_entry_hardlink(entry)) {
			rc = rp_error_set(err, RP_EINTEGRITY, "%s: entry %s is absolute, climbs out of the prefix or is a "
							      "hard link; expected only what artifact_pack writes",
					  archive_path, name);
			goto out;
		}
		/* Two layers shipping one file: the merge must not pick a winner silently. */
		struct stat existing;
		if ((flags & ARTIFACT_UNPACK_MERGE) && archive_entry_filetype(entry) != AE_IFDIR &&
		    lstat(target, &existing) == 0) {
			rc = rp_error_set(err, RP_EEXISTS, "cannot extract %s: another layer already installed it", target);
			goto out;
		}
		archive_entry_set_pathname(entry, target);
		if (archive_write_header(out, entry) != ARCHIVE_OK) {
			rc = rp_error_set(err, RP_EIO, "cannot extract %s: %s", target, archive_error_string(out));
			goto out;
		}
		const void *block;
		size_t len;
		la_int64_t offset;
		while ((r = archive_read_data_block(in, &block, &len, &offset)) == ARCHIVE_OK) {
			if (archive_write_data_block(out, block, len, offset) != ARCHIVE_OK) {
				rc = rp_error_set(err, RP_EIO, "cannot write %s: %s", target, archive_error_string(out));
				goto out;
			}
		}
		if (r != ARCHIVE_EOF) {
			rc = rp_error_set(err, RP_EINTEGRITY, "%s: %s", archive_path, archive_error_string(in));
			goto out;
		}
		if (archive_write_finish_entry(out) != ARCHIVE_OK) {
			rc = rp_error_set(err, RP_EIO, "cannot finish %s: %s", target, archive_error_string(out));
			goto out;
		}
	}
out:
	archive_read_free(in);
	archive_write_free(out);
	return rc;
}

int artifact_sha256_file(const char *path, char hex[ARTIFACT_HEX_LEN + 1], int64_t *size, struct rp_error *err)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return rp_error_set(err, RP_EIO, "cannot read %s: %s", path, strerror(errno));
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *buf = malloc(1u << 20), md[32];
	int rc = 0;
	*size = 0;
	if (!ctx || !buf || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		rc = rp_error_set(err, RP_ENOMEM, "out of memory");
		goto out;
	}
	size_t n;
	while ((n = fread(buf, 1, 1u << 20, f)) > 0) {
		EVP_DigestUpdate(ctx, buf, n);
		*size += (int64_t)n;
	}
	if (ferror(f)) {
		rc = rp_error_set(err, RP_EIO, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	EVP_DigestFinal_ex(ctx, md, NULL);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
out:
	EVP_MD_CTX_free(ctx);
	free(buf);
	fclose(f);
	return rc;
}
