/*
 * artifact.h — install prefixes as reproducible archives, and back.
 *
 * Contract: artifact_pack() archives a directory (a job's install prefix) as a
 * zstd-compressed POSIX tar whose bytes depend only on the files: entries in
 * byte order of their paths, every timestamp 0, owner and group 0 with no
 * names, modes reduced to 0755 (directories and executables) or 0644, no
 * extended attributes. It also returns the *content hash*: a SHA-256 over the
 * same normalized listing and the files' bytes, independent of compression.
 * The content hash is a build's output hash (what dependents' build keys are
 * made of); the archive's own SHA-256 and size verify the file when it is read.
 * The archive is written to a temporary name and renamed, so a reader never
 * sees half of it. Only regular files, directories and symlinks are archived;
 * anything else is an error, as is a symlink that points outside the prefix
 * (absolute, or climbing out with ..).
 *
 * artifact_unpack() verifies size and SHA-256 before extracting anything, and
 * extracts with libarchive's guards against absolute paths, .. and symlinked
 * parents, into a directory that must not exist yet or be empty.
 */
#ifndef RIPPLE_RUNNER_ARTIFACT_H
#define RIPPLE_RUNNER_ARTIFACT_H

#include <stdint.h>

#include "core/error.h"

#define ARTIFACT_HEX_LEN 64

/* The content hash of an empty prefix (SHA-256 of nothing): such an artifact need not be unpacked. */
#define ARTIFACT_EMPTY_HASH "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct artifact_info {
	char content_hash[ARTIFACT_HEX_LEN + 1]; /* the output hash of the build */
	char sha256[ARTIFACT_HEX_LEN + 1];       /* of the archive file */
	int64_t size;                            /* of the archive file, in bytes */
	int64_t files;                           /* entries archived */
};

/*
 * The entries of a prefix before a build ran in it: its dependencies' files.
 * Made by artifact_layer_scan(), freed by artifact_layer_free().
 */
struct artifact_layer;

int artifact_layer_scan(const char *dir, struct artifact_layer **out, struct rp_error *err);
void artifact_layer_free(struct artifact_layer *layer);

/* Whether the layer (NULL: none) has an entry at `path`, relative to its directory ("include/x.h"). */
int artifact_layer_has(const struct artifact_layer *layer, const char *path);

/*
 * Archives `dir` to `archive_path`. With `exclude` (may be NULL), entries
 * identical to the layer's are left out, so the artifact holds what the build
 * added; an entry of the layer that the build changed is an error (RP_EINVAL).
 */
int artifact_pack(const char *dir, const struct artifact_layer *exclude, const char *archive_path,
		  struct artifact_info *info, struct rp_error *err);

/*
 * The content hash of `dir` as artifact_pack() would compute it, without
 * writing an archive.
 */
int artifact_hash_dir(const char *dir, char hash[ARTIFACT_HEX_LEN + 1], struct rp_error *err);

/* Unpack into a directory that already holds other layers; a file in two layers is RP_EEXISTS. */
#define ARTIFACT_UNPACK_MERGE 1u

/* The content hash artifact_pack() would give `dir` with `exclude`, without writing an archive. */
int artifact_hash_dir_except(const char *dir, const struct artifact_layer *exclude, char hash[ARTIFACT_HEX_LEN + 1],
			     struct rp_error *err);

/* 1 when `dir` holds an entry that `layer` (may be NULL) does not, 0 when not; < 0 on error. */
int artifact_adds_entries(const char *dir, const struct artifact_layer *layer, struct rp_error *err);

/* The SHA-256 (hex) and size of the file at `path`; RP_EIO when it cannot be read, RP_ENOMEM. */
int artifact_sha256_file(const char *path, char hex[ARTIFACT_HEX_LEN + 1], int64_t *size, struct rp_error *err);

/*
 * Checks that `archive_path` has `size` bytes and SHA-256 `sha256` (RP_EINTEGRITY
 * otherwise, and nothing is extracted), then extracts it into `dest_dir`
 * (created when missing; it must be empty unless ARTIFACT_UNPACK_MERGE).
 */
int artifact_unpack(const char *archive_path, const char *sha256, int64_t size, const char *dest_dir,
		    unsigned flags, struct rp_error *err);

#endif
