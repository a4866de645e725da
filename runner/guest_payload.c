/*
 * guest_payload.c — what a guest needs of a job: the files a package's
 * "guest" block names, and the shared libraries every ELF among them needs,
 * found as the dynamic loader will find them in the guest and read with
 * libelf (DT_NEEDED, DT_RUNPATH/DT_RPATH, PT_INTERP).
 */
#define _GNU_SOURCE /* strchrnul */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <glob.h>
#include <libelf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "runner-internal.h"
#include "core/banned.h"

/* Where the loader looks after LD_LIBRARY_PATH on Debian's x86-64 (its multiarch system directories). */
static const char *const system_lib_dirs[] = {"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64",
					      "/usr/lib64", "/lib", "/usr/lib"};

struct payload {
	const struct backend__guest_map *maps;
	size_t n_maps;
	struct vm_file *files;
	size_t n, cap;
	json_t *index; /* guest path -> its position in files: a corpus brings tens of thousands */
	uint64_t bytes;
	char **dirs; /* guest directories of payload files, searched after LD_LIBRARY_PATH */
	size_t n_dirs;
	struct rp_error *err;
};

/* The position of `guest` in pl->files, or -1. */
static long payload_find(const struct payload *pl, const char *guest)
{
	json_t *at = json_object_get(pl->index, guest);
	return at ? (long)json_integer_value(at) : -1;
}

/* Adds host → guest (copies both); 1 when added, 0 when the guest path was there, < 0 on error. */
static int payload_add(struct payload *pl, const char *host, const char *guest)
{
	if (payload_find(pl, guest) >= 0)
		return 0;
	struct stat st;
	if (stat(host, &st) < 0)
		return rp_error_set(pl->err, RP_EIO, "guest payload: %s: %s", host, strerror(errno));
	if (pl->n == BACKEND_GUEST_FILES_MAX)
		return rp_error_set(pl->err, RP_EINVAL, "guest payload: more than %d files", BACKEND_GUEST_FILES_MAX);
	pl->bytes += (uint64_t)st.st_size;
	if (pl->bytes > BACKEND_GUEST_BYTES_MAX)
		return rp_error_set(pl->err, RP_EINVAL, "guest payload: more than %u MiB (at %s)",
				    (unsigned)(BACKEND_GUEST_BYTES_MAX >> 20), guest);
	if (pl->n == pl->cap) {
		size_t cap = pl->cap ? 2 * pl->cap : 32;
		struct vm_file *more = realloc(pl->files, cap * sizeof(*more));
		if (!more)
			return rp_error_set(pl->err, RP_ENOMEM, "out of memory");
		pl->files = more;
		pl->cap = cap;
	}
	char *h = strdup(host), *g = strdup(guest);
	if (!h || !g || json_object_set_new_nocheck(pl->index, guest, json_integer((json_int_t)pl->n)) < 0) {
		free(h);
		free(g);
		return rp_error_set(pl->err, RP_ENOMEM, "out of memory");
	}
	pl->files[pl->n].host = h;
	pl->files[pl->n].guest = g;
	pl->n++;
	return 1;
}

/* The host path of guest path `guest` (through the maps; other paths are the host's own). */
static int host_of(const struct payload *pl, const char *guest, char *out, size_t size)
{
	for (size_t i = 0; i < pl->n_maps; i++) {
		size_t gl = strlen(pl->maps[i].guest);
		if (pl->maps[i].host && strncmp(guest, pl->maps[i].guest, gl) == 0 &&
		    (guest[gl] == '\0' || guest[gl] == '/'))
			return (size_t)snprintf(out, size, "%s%s", pl->maps[i].host, guest + gl) < size;
	}
	return (size_t)snprintf(out, size, "%s", guest) < size;
}

static int add_dir(struct payload *pl, const char *guest_dir)
{
	for (size_t i = 0; i < pl->n_dirs; i++)
		if (strcmp(pl->dirs[i], guest_dir) == 0)
			return 0;
	char **more = realloc(pl->dirs, (pl->n_dirs + 1) * sizeof(*more));
	if (!more)
		return rp_error_set(pl->err, RP_ENOMEM, "out of memory");
	pl->dirs = more;
	if (!(pl->dirs[pl->n_dirs] = strdup(guest_dir)))
		return rp_error_set(pl->err, RP_ENOMEM, "out of memory");
	pl->n_dirs++;
	return 0;
}

/* A file or, recursively, a directory of the tree: host `host`, guest `guest`. */
static int add_tree(struct payload *pl, const char *host, const char *guest, int depth)
{
	struct stat st;
	if (stat(host, &st) < 0)
		return rp_error_set(pl->err, RP_EIO, "guest payload: %s: %s", host, strerror(errno));
	if (!S_ISDIR(st.st_mode)) {
		if (!S_ISREG(st.st_mode))
			return 0; /* sockets, fifos: nothing a test reads */
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s", guest);
		char *slash = strrchr(dir, '/');
		if (slash && slash != dir)
			*slash = '\0';
		int rc = payload_add(pl, host, guest);
		return rc < 0 ? rc : add_dir(pl, dir);
	}
	if (depth > 32)
		return rp_error_set(pl->err, RP_EINVAL, "guest payload: %s is nested too deep", guest);
	DIR *d = opendir(host);
	if (!d)
		return rp_error_set(pl->err, RP_EIO, "guest payload: %s: %s", host, strerror(errno));
	struct dirent *e;
	int rc = 0;
	while (rc >= 0 && (e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char h[PATH_MAX], g[PATH_MAX];
		if ((size_t)snprintf(h, sizeof(h), "%s/%s", host, e->d_name) >= sizeof(h) ||
		    (size_t)snprintf(g, sizeof(g), "%s/%s", guest, e->d_name) >= sizeof(g)) {
			rc = rp_error_set(pl->err, RP_EINVAL, "guest payload: a path under %s is too long", guest);
			break;
		}
		rc = add_tree(pl, h, g, depth + 1);
	}
	closedir(d);
	return rc;
}

struct elf_info {
	char interp[PATH_MAX];
	char **needed, **runpath; /* runpath: DT_RUNPATH, else DT_RPATH, split at ':' */
	size_t n_needed, n_runpath;
};

static void elf_info_release(struct elf_info *ei)
{
	for (size_t i = 0; i < ei->n_needed; i++)
		free(ei->needed[i]);
	for (size_t i = 0; i < ei->n_runpath; i++)
		free(ei->runpath[i]);
	free(ei->needed);
	free(ei->runpath);
	memset(ei, 0, sizeof(*ei));
}

static int push_str(char ***list, size_t *n, const char *s, size_t len)
{
	char **more = realloc(*list, (*n + 1) * sizeof(*more));
	if (!more)
		return -1;
	*list = more;
	if (!(more[*n] = strndup(s, len)))
		return -1;
	(*n)++;
	return 0;
}

/* 1 and *ei filled for a dynamic ELF file, 0 for any other file, < 0 on error. */
static int read_elf(const char *host, struct elf_info *ei, struct rp_error *err)
{
	memset(ei, 0, sizeof(*ei));
	int fd = open(host, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return rp_error_set(err, RP_EIO, "guest payload: %s: %s", host, strerror(errno));
	Elf *e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	int rc = 0, runpath_seen = 0;
	if (!e || elf_kind(e) != ELF_K_ELF)
		goto out;
	size_t raw_size = 0, phnum = 0;
	const char *raw = elf_rawfile(e, &raw_size);
	if (raw && elf_getphdrnum(e, &phnum) == 0) {
		for (size_t i = 0; i < phnum; i++) {
			GElf_Phdr ph;
			if (gelf_getphdr(e, (int)i, &ph) && ph.p_type == PT_INTERP && ph.p_offset < raw_size &&
			    ph.p_filesz < sizeof(ei->interp) && ph.p_filesz <= raw_size - ph.p_offset)
				snprintf(ei->interp, sizeof(ei->interp), "%.*s", (int)ph.p_filesz, raw + ph.p_offset);
		}
	}
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNAMIC)
			continue;
		Elf_Data *data = elf_getdata(scn, NULL);
		size_t count = sh.sh_entsize ? sh.sh_size / sh.sh_entsize : 0;
		for (size_t i = 0; data && i < count; i++) {
			GElf_Dyn dyn;
			if (!gelf_getdyn(data, (int)i, &dyn))
				break;
			if (dyn.d_tag != DT_NEEDED && dyn.d_tag != DT_RUNPATH && dyn.d_tag != DT_RPATH)
				continue;
			const char *str = elf_strptr(e, sh.sh_link, dyn.d_un.d_val);
			if (!str)
				continue;
			if (dyn.d_tag == DT_NEEDED) {
				if (push_str(&ei->needed, &ei->n_needed, str, strlen(str)) < 0)
					goto oom;
				continue;
			}
			/* DT_RUNPATH wins over DT_RPATH, as the loader has it. */
			if (dyn.d_tag == DT_RPATH && runpath_seen)
				continue;
			if (dyn.d_tag == DT_RUNPATH && !runpath_seen) {
				for (size_t k = 0; k < ei->n_runpath; k++)
					free(ei->runpath[k]);
				ei->n_runpath = 0;
				runpath_seen = 1;
			}
			for (const char *at = str; *at;) {
				const char *end = strchrnul(at, ':');
				if (end > at && push_str(&ei->runpath, &ei->n_runpath, at, (size_t)(end - at)) < 0)
					goto oom;
				at = *end ? end + 1 : end;
			}
		}
	}
	rc = 1;
	goto out;
oom:
	elf_info_release(ei);
	rc = rp_error_set(err, RP_ENOMEM, "out of memory");
out:
	if (e)
		elf_end(e);
	close(fd);
	return rc;
}

/* $ORIGIN (and ${ORIGIN}) of a runpath entry replaced by the object's guest directory. */
static int expand_origin(const char *entry, const char *origin, char *out, size_t size)
{
	size_t n = 0;
	for (const char *p = entry; *p;) {
		size_t skip = strncmp(p, "${ORIGIN}", 9) == 0 ? 9 : strncmp(p, "$ORIGIN", 7) == 0 ? 7 : 0;
		const char *put = skip ? origin : p;
		size_t len = skip ? strlen(origin) : 1;
		if (n + len >= size)
			return 0;
		memcpy(out + n, put, len);
		n += len;
		p += skip ? skip : 1;
	}
	out[n] = '\0';
	return 1;
}

/* Finds `name` in guest directory `dir`; 1 and added (or already there), 0 when not there. */
static int try_dir(struct payload *pl, const char *dir, const char *name, char *found_guest, size_t size)
{
	char guest[PATH_MAX], host[PATH_MAX];
	if (dir[0] != '/' || (size_t)snprintf(guest, sizeof(guest), "%s/%s", dir, name) >= sizeof(guest) ||
	    !host_of(pl, guest, host, sizeof(host)))
		return 0;
	struct stat st;
	if (stat(host, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	int rc = payload_add(pl, host, guest);
	if (rc < 0)
		return rc;
	snprintf(found_guest, size, "%s", guest);
	return 1 + rc; /* 2: newly added, its own needs still to be read */
}

static int resolve(struct payload *pl, size_t index, const char *const *ld_path, size_t n_ld, int depth);

/* Resolves one needed library of the object at guest path `obj`. */
static int resolve_needed(struct payload *pl, const char *obj, const struct elf_info *ei, const char *name,
			  const char *const *ld_path, size_t n_ld, int depth)
{
	char found[PATH_MAX], origin[PATH_MAX];
	int rc = 0;
	if (strchr(name, '/')) {
		/* A needed path is taken as it is written (relative to the guest's cwd: the tree's top). */
		char path[PATH_MAX];
		if (name[0] == '/')
			snprintf(path, sizeof(path), "%s", name);
		else
			snprintf(path, sizeof(path), "%s/%s", pl->maps[0].guest, name);
		char *base = strrchr(path, '/');
		*base = '\0';
		rc = try_dir(pl, path[0] ? path : "/", base + 1, found, sizeof(found));
		if (rc == 0)
			return rp_error_set(pl->err, RP_EINVAL, "guest payload: %s needs %s, which does not exist",
					    obj, name);
	}
	snprintf(origin, sizeof(origin), "%s", obj);
	char *slash = strrchr(origin, '/');
	if (slash)
		*slash = '\0';
	for (size_t i = 0; rc == 0 && i < ei->n_runpath; i++) {
		char dir[PATH_MAX];
		if (expand_origin(ei->runpath[i], origin, dir, sizeof(dir)))
			rc = try_dir(pl, dir, name, found, sizeof(found));
	}
	for (size_t i = 0; rc == 0 && i < n_ld; i++)
		rc = try_dir(pl, ld_path[i], name, found, sizeof(found));
	for (size_t i = 0; rc == 0 && i < pl->n_dirs; i++)
		rc = try_dir(pl, pl->dirs[i], name, found, sizeof(found));
	for (size_t i = 0; rc == 0 && i < sizeof(system_lib_dirs) / sizeof(system_lib_dirs[0]); i++)
		rc = try_dir(pl, system_lib_dirs[i], name, found, sizeof(found));
	if (rc < 0)
		return rc;
	if (rc == 0)
		return rp_error_set(pl->err, RP_EINVAL,
				    "guest payload: %s needs %s, found neither in its LD_LIBRARY_PATH, beside the "
				    "payload nor in the system's library directories",
				    obj, name);
	long at = rc == 2 ? payload_find(pl, found) : -1;
	if (at >= 0)
		return resolve(pl, (size_t)at, ld_path, n_ld, depth + 1);
	return 0;
}

/* Adds the interpreter and the libraries file `index` needs, and theirs. */
static int resolve(struct payload *pl, size_t index, const char *const *ld_path, size_t n_ld, int depth)
{
	if (depth > 64)
		return rp_error_set(pl->err, RP_EINVAL, "guest payload: libraries need each other too deep");
	struct elf_info ei;
	char obj[PATH_MAX];
	snprintf(obj, sizeof(obj), "%s", pl->files[index].guest);
	int rc = read_elf(pl->files[index].host, &ei, pl->err);
	if (rc <= 0)
		return rc;
	rc = 0;
	if (ei.interp[0] == '/') {
		char host[PATH_MAX];
		if (host_of(pl, ei.interp, host, sizeof(host)) && access(host, R_OK) == 0) {
			int added = payload_add(pl, host, ei.interp);
			if (added < 0)
				rc = added;
		} else {
			rc = rp_error_set(pl->err, RP_EINVAL, "guest payload: %s asks for the loader %s, which is missing",
					  obj, ei.interp);
		}
	}
	for (size_t i = 0; rc == 0 && i < ei.n_needed; i++)
		rc = resolve_needed(pl, obj, &ei, ei.needed[i], ld_path, n_ld, depth);
	elf_info_release(&ei);
	return rc;
}

void backend__guest_payload_free(struct vm_file *files, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)files[i].host);
		free((char *)files[i].guest);
	}
	free(files);
}

int backend__guest_payload(const struct backend__guest_map *maps, size_t n_maps, const char *const *patterns,
			   size_t n_patterns, const char *ld_library_path, struct vm_file **files, size_t *n_files,
			   struct rp_error *err)
{
	struct payload pl = {.maps = maps, .n_maps = n_maps, .err = err};
	char **ld = NULL;
	size_t n_ld = 0;
	int rc = 0;
	*files = NULL;
	*n_files = 0;
	if (n_maps == 0 || !maps[0].host)
		return rp_error_set(err, RP_EINVAL, "guest payload: no source tree");
	if (elf_version(EV_CURRENT) == EV_NONE)
		return rp_error_set(err, RP_EIO, "libelf: %s", elf_errmsg(-1));
	if (!(pl.index = json_object()))
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	const char *tree_host = maps[0].host, *tree_guest = maps[0].guest;
	size_t tree_len = strlen(tree_host);
	for (size_t i = 0; rc == 0 && i < n_patterns; i++) {
		const char *pat = patterns[i];
		char full[PATH_MAX];
		if (!pat || !*pat || pat[0] == '/' ||
		    (size_t)snprintf(full, sizeof(full), "%s/%s", tree_host, pat) >= sizeof(full)) {
			rc = rp_error_set(err, RP_EINVAL, "guest payload: bad pattern \"%s\"", pat ? pat : "");
			break;
		}
		glob_t g;
		int grc = glob(full, GLOB_NOSORT, NULL, &g);
		if (grc == GLOB_NOMATCH || (grc == 0 && g.gl_pathc == 0)) {
			rc = rp_error_set(err, RP_EINVAL,
					  "guest payload: \"%s\" matches no file in the source tree (does \"prepare\" "
					  "build it?)",
					  pat);
		} else if (grc != 0) {
			rc = rp_error_set(err, grc == GLOB_NOSPACE ? RP_ENOMEM : RP_EIO,
					  "guest payload: cannot expand \"%s\"", pat);
		} else {
			for (size_t k = 0; rc == 0 && k < g.gl_pathc; k++) {
				const char *host = g.gl_pathv[k];
				char guest[PATH_MAX];
				if (strncmp(host, tree_host, tree_len) != 0 || host[tree_len] != '/' ||
				    (size_t)snprintf(guest, sizeof(guest), "%s%s", tree_guest, host + tree_len) >=
					sizeof(guest))
					continue;
				rc = add_tree(&pl, host, guest, 0);
			}
		}
		if (grc == 0 || grc == GLOB_NOMATCH)
			globfree(&g);
	}
	if (rc == 0)
		rc = add_dir(&pl, tree_guest);
	/* The loader's LD_LIBRARY_PATH as the guest will have it. */
	for (const char *at = ld_library_path ? ld_library_path : ""; rc == 0 && *at;) {
		const char *end = strchrnul(at, ':');
		if (end > at && push_str(&ld, &n_ld, at, (size_t)(end - at)) < 0)
			rc = rp_error_set(err, RP_ENOMEM, "out of memory");
		at = *end ? end + 1 : end;
	}
	size_t named = pl.n;
	for (size_t i = 0; rc == 0 && i < named; i++)
		rc = resolve(&pl, i, (const char *const *)ld, n_ld, 0);
	for (size_t i = 0; i < n_ld; i++)
		free(ld[i]);
	free(ld);
	for (size_t i = 0; i < pl.n_dirs; i++)
		free(pl.dirs[i]);
	free(pl.dirs);
	json_decref(pl.index);
	if (rc < 0) {
		backend__guest_payload_free(pl.files, pl.n);
		return rc;
	}
	*files = pl.files;
	*n_files = pl.n;
	return 0;
}
