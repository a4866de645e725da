/* Unit tests of artifacts: reproducible archives of install prefixes, verified unpacking. */
#include <archive.h>
#include <archive_entry.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "runner/artifact.h"
#include "check_main.h"
#include "core/banned.h"

static char root[PATH_MAX];

static void setup(void)
{
	check_tmpdir_make(root, "artifact");
}

static void teardown(void)
{
	check_tmpdir_remove(root);
}

static const char *at(const char *rel)
{
	return check_path(root, rel);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	ck_assert_int_eq(chmod(path, mode), 0);
}

static char *read_file(const char *path)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* A small install prefix, created with the given file mode and timestamps. */
static void make_prefix(const char *dir, mode_t header_mode, time_t when)
{
	char p[PATH_MAX + 64];
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	snprintf(p, sizeof(p), "%s/include", dir);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/lib", dir);
	ck_assert_int_eq(mkdir(p, 0775), 0);
	snprintf(p, sizeof(p), "%s/share", dir); /* an empty directory is content too */
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/include/lib.h", dir);
	write_file(p, "int lib(void);\n", header_mode);
	snprintf(p, sizeof(p), "%s/lib/liblib.so.1", dir);
	write_file(p, "\177ELF pretend\n", 0755);
	snprintf(p, sizeof(p), "%s/lib/liblib.so", dir);
	ck_assert_int_eq(symlink("liblib.so.1", p), 0);
	struct timeval times[2] = { { when, 0 }, { when, 0 } };
	snprintf(p, sizeof(p), "%s/include/lib.h", dir);
	ck_assert_int_eq(utimes(p, times), 0);
}

START_TEST(test_round_trip)
{
	struct artifact_info info;
	struct rp_error err;
	make_prefix(at("prefix"), 0644, 1000);
	ck_assert_msg(artifact_pack(at("prefix"), NULL, at("a.tar.zst"), &info, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(info.files, 6);
	struct stat st;
	ck_assert_int_eq(stat(at("a.tar.zst"), &st), 0);
	ck_assert_int_eq(st.st_size, info.size);
	ck_assert_msg(artifact_unpack(at("a.tar.zst"), info.sha256, info.size, at("out"), 0, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(read_file(at("out/include/lib.h")), "int lib(void);\n");
	ck_assert_int_eq(stat(at("out/lib/liblib.so.1"), &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0755);
	char target[64];
	ssize_t n = readlink(at("out/lib/liblib.so"), target, sizeof(target) - 1);
	ck_assert_int_gt(n, 0);
	target[n] = '\0';
	ck_assert_str_eq(target, "liblib.so.1");
	ck_assert_int_eq(stat(at("out/share"), &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	char again[ARTIFACT_HEX_LEN + 1];
	ck_assert_int_eq(artifact_hash_dir(at("out"), again, &err), 0);
	ck_assert_str_eq(again, info.content_hash);
}
END_TEST

/* Same files, other timestamps, umask-ish modes and creation order: the same bytes. */
START_TEST(test_reproducible)
{
	struct artifact_info a, b;
	struct rp_error err;
	make_prefix(at("one"), 0644, 1000);
	make_prefix(at("two"), 0600, 2000000000);
	ck_assert_int_eq(artifact_pack(at("one"), NULL, at("one.tar.zst"), &a, &err), 0);
	ck_assert_int_eq(artifact_pack(at("two"), NULL, at("two.tar.zst"), &b, &err), 0);
	ck_assert_str_eq(a.content_hash, b.content_hash);
	ck_assert_str_eq(a.sha256, b.sha256);
	ck_assert_int_eq(a.size, b.size);

	/* One byte of content, an exec bit or a link target makes another output. */
	write_file(at("two/include/lib.h"), "int lib(void );\n", 0644);
	ck_assert_int_eq(artifact_pack(at("two"), NULL, at("three.tar.zst"), &b, &err), 0);
	ck_assert_str_ne(a.content_hash, b.content_hash);
	write_file(at("two/include/lib.h"), "int lib(void);\n", 0755);
	char h[ARTIFACT_HEX_LEN + 1];
	ck_assert_int_eq(artifact_hash_dir(at("two"), h, &err), 0);
	ck_assert_str_ne(a.content_hash, h);
	write_file(at("two/include/lib.h"), "int lib(void);\n", 0644);
	ck_assert_int_eq(artifact_hash_dir(at("two"), h, &err), 0);
	ck_assert_str_eq(a.content_hash, h);
	ck_assert_int_eq(unlink(at("two/lib/liblib.so")), 0);
	ck_assert_int_eq(symlink("./liblib.so.1", at("two/lib/liblib.so")), 0);
	ck_assert_int_eq(artifact_hash_dir(at("two"), h, &err), 0);
	ck_assert_str_ne(a.content_hash, h);
}
END_TEST

START_TEST(test_refuses_what_a_prefix_cannot_hold)
{
	struct artifact_info info;
	struct rp_error err;
	make_prefix(at("p"), 0644, 1);
	ck_assert_int_eq(symlink("/etc/passwd", at("p/lib/escape")), 0);
	ck_assert_int_eq(artifact_pack(at("p"), NULL, at("x.tar.zst"), &info, &err), RP_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "symlink lib/escape -> /etc/passwd points outside the install prefix"));
	ck_assert_int_eq(unlink(at("p/lib/escape")), 0);
	ck_assert_int_eq(symlink("../../up", at("p/lib/escape")), 0);
	ck_assert_int_eq(artifact_pack(at("p"), NULL, at("x.tar.zst"), &info, &err), RP_EINVAL);
	ck_assert_int_eq(unlink(at("p/lib/escape")), 0);
	ck_assert_int_eq(symlink("../include/lib.h", at("p/lib/fine")), 0);
	ck_assert_int_eq(artifact_pack(at("p"), NULL, at("x.tar.zst"), &info, &err), 0);
	ck_assert_int_eq(mkfifo(at("p/fifo"), 0644), 0);
	ck_assert_int_eq(artifact_pack(at("p"), NULL, at("y.tar.zst"), &info, &err), RP_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "fifo is neither a file, a directory nor a symlink"));
	ck_assert_int_eq(access(at("y.tar.zst"), F_OK), -1); /* nothing half-written remains */
}
END_TEST

START_TEST(test_damaged_archive_is_refused)
{
	struct artifact_info info;
	struct rp_error err;
	make_prefix(at("p"), 0644, 1);
	ck_assert_int_eq(artifact_pack(at("p"), NULL, at("a.tar.zst"), &info, &err), 0);
	ck_assert_int_eq(artifact_unpack(at("a.tar.zst"), info.sha256, info.size + 1, at("o1"), 0, &err), RP_EINTEGRITY);
	ck_assert_ptr_nonnull(strstr(err.msg, "the artifact is damaged"));
	int fd = open(at("a.tar.zst"), O_RDWR);
	ck_assert_int_ge(fd, 0);
	unsigned char byte;
	ck_assert_int_eq(pread(fd, &byte, 1, info.size / 2), 1);
	byte ^= 0x20;
	ck_assert_int_eq(pwrite(fd, &byte, 1, info.size / 2), 1);
	close(fd);
	ck_assert_int_eq(artifact_unpack(at("a.tar.zst"), info.sha256, info.size, at("o2"), 0, &err), RP_EINTEGRITY);
	ck_assert_ptr_nonnull(strstr(err.msg, "SHA-256"));
	ck_assert_int_eq(access(at("o2"), F_OK), -1);
	ck_assert_int_eq(artifact_unpack(at("missing.tar.zst"), info.sha256, info.size, at("o3"), 0, &err), RP_ENOTFOUND);
}
END_TEST

START_TEST(test_unpack_guards)
{
	struct artifact_info info;
	struct rp_error err;
	make_prefix(at("p"), 0644, 1);
	ck_assert_int_eq(artifact_pack(at("p"), NULL, at("a.tar.zst"), &info, &err), 0);
	ck_assert_int_eq(mkdir(at("busy"), 0755), 0);
	write_file(at("busy/x"), "x", 0644);
	ck_assert_int_eq(artifact_unpack(at("a.tar.zst"), info.sha256, info.size, at("busy"), 0, &err), RP_EEXISTS);

	/* A hostile archive (correct checksum, since anyone can compute one) with a ../ entry. */
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	archive_write_add_filter_zstd(a);
	ck_assert_int_eq(archive_write_open_filename(a, at("evil.tar.zst")), ARCHIVE_OK);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, "../escaped");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, 4);
	ck_assert_int_eq(archive_write_header(a, e), ARCHIVE_OK);
	ck_assert_int_eq(archive_write_data(a, "evil", 4), 4);
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
	char sha[ARTIFACT_HEX_LEN + 1];
	struct stat st;
	ck_assert_int_eq(stat(at("evil.tar.zst"), &st), 0);
	/* Its real checksum, read off the refusal of a wrong one. */
	ck_assert_int_eq(artifact_unpack(at("evil.tar.zst"), "0000000000000000000000000000000000000000000000000000000000000000",
					 st.st_size, at("o"), 0, &err),
			 RP_EINTEGRITY);
	const char *got = strstr(err.msg, "SHA-256 ");
	ck_assert_ptr_nonnull(got);
	memcpy(sha, got + 8, ARTIFACT_HEX_LEN);
	sha[ARTIFACT_HEX_LEN] = '\0';
	ck_assert_int_eq(artifact_unpack(at("evil.tar.zst"), sha, st.st_size, at("o"), 0, &err), RP_EINTEGRITY);
	ck_assert_ptr_nonnull(strstr(err.msg, "entry ../escaped is absolute, climbs out of the prefix"));
	ck_assert_int_eq(access(at("escaped"), F_OK), -1);
}
END_TEST

/* Layers: dependencies unpacked into one prefix, a build adds files, only those are packed. */
START_TEST(test_layers)
{
	struct artifact_info dep, out;
	struct artifact_layer *layer;
	struct rp_error err;
	make_prefix(at("dep"), 0644, 1);
	ck_assert_int_eq(artifact_pack(at("dep"), NULL, at("dep.tar.zst"), &dep, &err), 0);
	ck_assert_int_eq(mkdir(at("other"), 0755), 0);
	ck_assert_int_eq(mkdir(at("other/include"), 0755), 0);
	write_file(at("other/include/other.h"), "int other(void);\n", 0644);
	struct artifact_info other;
	ck_assert_int_eq(artifact_pack(at("other"), NULL, at("other.tar.zst"), &other, &err), 0);
	/* Both layers share include/: directories merge, files do not clash. */
	ck_assert_int_eq(artifact_unpack(at("dep.tar.zst"), dep.sha256, dep.size, at("job"), 0, &err), 0);
	ck_assert_msg(artifact_unpack(at("other.tar.zst"), other.sha256, other.size, at("job"), ARTIFACT_UNPACK_MERGE,
				      &err) == 0, "%s", err.msg);
	ck_assert_int_eq(artifact_unpack(at("other.tar.zst"), other.sha256, other.size, at("job"),
					 ARTIFACT_UNPACK_MERGE, &err), RP_EEXISTS);
	ck_assert_ptr_nonnull(strstr(err.msg, "another layer already installed it"));
	ck_assert_int_eq(artifact_layer_scan(at("job"), &layer, &err), 0);
	/* The build installs its own files next to its dependencies'. */
	write_file(at("job/include/mine.h"), "int mine(void);\n", 0644);
	ck_assert_int_eq(artifact_pack(at("job"), layer, at("mine.tar.zst"), &out, &err), 0);
	ck_assert_int_eq(out.files, 2); /* include/ (it holds a new file) and include/mine.h */
	ck_assert_int_eq(artifact_unpack(at("mine.tar.zst"), out.sha256, out.size, at("mine"), 0, &err), 0);
	ck_assert_str_eq(read_file(at("mine/include/mine.h")), "int mine(void);\n");
	ck_assert_int_eq(access(at("mine/include/lib.h"), F_OK), -1);
	/* The same files added to an identical layer give the same output hash. */
	char again[ARTIFACT_HEX_LEN + 1];
	ck_assert_int_eq(artifact_hash_dir(at("mine"), again, &err), 0);
	ck_assert_str_eq(again, out.content_hash);
	/* An empty prefix has the well-known empty hash. */
	ck_assert_int_eq(mkdir(at("empty"), 0755), 0);
	ck_assert_int_eq(artifact_hash_dir(at("empty"), again, &err), 0);
	ck_assert_str_eq(again, ARTIFACT_EMPTY_HASH);
	/* What a build adds: nothing beyond the layer, or something. */
	ck_assert_int_eq(artifact_adds_entries(at("job"), layer, &err), 1);
	ck_assert_int_eq(unlink(at("job/include/mine.h")), 0);
	ck_assert_int_eq(artifact_adds_entries(at("job"), layer, &err), 0);
	ck_assert_int_eq(artifact_hash_dir_except(at("job"), layer, again, &err), 0);
	ck_assert_str_eq(again, ARTIFACT_EMPTY_HASH);
	/* Removing a dependency's file is refused. */
	ck_assert_int_eq(rename(at("job/include/lib.h"), at("lib.h.saved")), 0);
	ck_assert_int_eq(artifact_hash_dir_except(at("job"), layer, again, &err), RP_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "include/lib.h was installed by a dependency and the build removed it"));
	ck_assert_int_eq(rename(at("lib.h.saved"), at("job/include/lib.h")), 0);
	/* Replacing a dependency's file is refused. */
	write_file(at("job/include/lib.h"), "int lib(int);\n", 0644);
	ck_assert_int_eq(artifact_pack(at("job"), layer, at("bad.tar.zst"), &out, &err), RP_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "include/lib.h was installed by a dependency and the build changed it"));
	artifact_layer_free(layer);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("artifact");
	TCase *tc = tcase_create("artifact");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_reproducible);
	tcase_add_test(tc, test_refuses_what_a_prefix_cannot_hold);
	tcase_add_test(tc, test_damaged_archive_is_refused);
	tcase_add_test(tc, test_unpack_guards);
	tcase_add_test(tc, test_layers);
	suite_add_tcase(s, tc);
	return check_run_suite(s);
}
