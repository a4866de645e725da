/* build_classify.c — the build engine's seam to reports/classify. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build-internal.h"
#include "reports/classify.h"
#include "core/banned.h"

/*
 * A log is capped at 16 MiB by the step runner, then a marker and the kept
 * tail of the output (STEP_TAIL_KEEP bytes, each line stamped: at most 12 times
 * as many bytes when every line is empty).
 */
#define BUILD_LOG_READ_MAX ((size_t)STEP_OUTPUT_CAP_DEFAULT + 13 * (size_t)STEP_TAIL_KEEP + 4096)

struct build__classifier {
	struct classifier *c;
};

int build__classifier_open(struct build__classifier **out, struct rp_error *err)
{
	struct build__classifier *b = calloc(1, sizeof(*b));
	if (!b)
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	int rc = classify_init(&b->c, err);
	if (rc < 0) {
		free(b);
		return rc;
	}
	*out = b;
	return 0;
}

void build__classifier_close(struct build__classifier *c)
{
	if (!c)
		return;
	classify_free(c->c);
	free(c);
}

static char *read_log(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf = NULL;
	*len = 0;
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) == 0) {
		size_t want = (size_t)st.st_size < BUILD_LOG_READ_MAX ? (size_t)st.st_size : BUILD_LOG_READ_MAX;
		buf = malloc(want ? want : 1);
		while (buf && *len < want) {
			ssize_t n = read(fd, buf + *len, want - *len);
			if (n <= 0)
				break;
			*len += (size_t)n;
		}
	}
	close(fd);
	return buf;
}

int build__classify(const struct build__classifier *c, const char *log_path, const char *step,
		    const struct step_result *res, char *category, size_t category_size, char *first_error,
		    size_t first_error_size, char *test, size_t test_size)
{
	struct classify_hints hints = {
		.step = strcmp(step, "test") == 0 ? CLASSIFY_STEP_TEST : CLASSIFY_STEP_BUILD,
		.timed_out = res->status == STEP_TIMED_OUT,
		.term_signal = res->term_signal,
	};
	struct classification cl;
	size_t len;
	char *log = read_log(log_path, &len);
	classify_log(c->c, log ? log : "", log ? len : 0, &hints, &cl);
	free(log);
	snprintf(category, category_size, "%s", classify_category_name(cl.category));
	/* The test the first error line is about, when a rule names it (TAP, ctest, Check, ...). */
	snprintf(test, test_size, "%s", cl.category == CLASSIFY_TEST_FAILURE ? cl.subject : "");
	if (cl.excerpt[0])
		snprintf(first_error, first_error_size, "%s", cl.excerpt);
	else if (res->term_signal)
		snprintf(first_error, first_error_size, "the %s step was killed by signal %d", step, res->term_signal);
	else
		snprintf(first_error, first_error_size, "the %s step exited with status %d", step, res->exit_status);
	return cl.infrastructure;
}
