/*
 * check_main.h — the one way a Check test program runs its suite: fork per
 * test, the verbosity CK_VERBOSITY asks for, and an exit status ctest reads.
 */
#ifndef RIPPLE_TESTS_CHECK_MAIN_H
#define RIPPLE_TESTS_CHECK_MAIN_H

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

static inline int check_run_suite(Suite *suite)
{
	SRunner *runner = srunner_create(suite);
	srunner_run_all(runner, CK_ENV);
	int failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/*
 * A fresh directory "$TMPDIR/ripple-NAME-XXXXXX" for one test, in `root`
 * (PATH_MAX bytes), and its removal; removal uses rm so that it also clears
 * what a test made read-only.
 */
static inline void check_tmpdir_make(char *root, const char *name)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(root, PATH_MAX, "%s/ripple-%s-XXXXXX", tmp ? tmp : "/tmp", name);
	ck_assert_ptr_nonnull(mkdtemp(root));
}

static inline void check_tmpdir_remove(const char *root)
{
	char cmd[2 * PATH_MAX + 16]; /* a root made in a caller's larger buffer fits too */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	ck_assert_int_eq(system(cmd), 0);
}

/* root/rel in one of eight rotating buffers, so a few can be used in one call. */
static inline const char *check_path(const char *root, const char *rel)
{
	static char paths[8][PATH_MAX + 64];
	static int next;
	char *p = paths[next++ % 8];
	snprintf(p, PATH_MAX + 64, "%s/%s", root, rel);
	return p;
}

#endif
