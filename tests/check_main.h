/*
 * check_main.h — the one way a Check test program runs its suite: fork per
 * test, the verbosity CK_VERBOSITY asks for, and an exit status ctest reads.
 */
#ifndef RIPPLE_TESTS_CHECK_MAIN_H
#define RIPPLE_TESTS_CHECK_MAIN_H

#include <check.h>
#include <stdlib.h>

static inline int check_run_suite(Suite *suite)
{
	SRunner *runner = srunner_create(suite);
	srunner_run_all(runner, CK_ENV);
	int failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
