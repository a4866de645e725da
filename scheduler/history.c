/*
 * history.c — metric lines in job logs and the drop rule (history.h).
 */
#include "history.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

#define MARKER "RIPPLE-METRIC"
#define MARKER_LEN (sizeof(MARKER) - 1)
/* Longer than any sensible decimal number; a longer value token is malformed. */
#define VALUE_MAX 63
#define MS_PER_DAY INT64_C(86400000)

static const char *const history__builtins[] = {HISTORY_BUILD_TIME, HISTORY_TEST_TIME, HISTORY_ARTIFACT_SIZE,
						HISTORY_COVERAGE, HISTORY_BRANCH_COVERAGE, HISTORY_FUNCTION_COVERAGE};

#define NBUILTINS (sizeof(history__builtins) / sizeof(history__builtins[0]))

static int history__is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static int history__name_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
	       c == '.' || c == '-';
}

static int history__builtin(const char *name, size_t len)
{
	for (size_t i = 0; i < NBUILTINS; i++)
		if (strlen(history__builtins[i]) == len && memcmp(history__builtins[i], name, len) == 0)
			return 1;
	return 0;
}

/* The decimal number that is exactly [p, end) into *v; 0 when it is not one, or not finite. */
static int history__value(const char *p, const char *end, double *v)
{
	char buf[VALUE_MAX + 1];
	size_t len = (size_t)(end - p);
	char *stop;

	if (len == 0 || len > VALUE_MAX)
		return 0;
	/* strtod also takes hex, inf and nan, which are not ours. */
	for (size_t i = 0; i < len; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || p[i] == '.' || p[i] == '+' || p[i] == '-' ||
		      p[i] == 'e' || p[i] == 'E'))
			return 0;
	memcpy(buf, p, len);
	buf[len] = '\0';
	*v = strtod(buf, &stop);
	return stop == buf + len && isfinite(*v);
}

/*
 * Parses the marker line [p, end), the marker already skipped, into *mt;
 * 0 when it is malformed.
 */
static int history__marker_line(const char *p, const char *end, struct history_metric *mt)
{
	const char *tok[3], *tend[3], *eq;
	size_t ntok = 0, nlen, ulen;

	while (p < end && ntok < 3) {
		while (p < end && history__is_blank(*p))
			p++;
		if (p == end)
			break;
		tok[ntok] = p;
		while (p < end && !history__is_blank(*p))
			p++;
		tend[ntok++] = p;
	}
	if (ntok < 1 || ntok > 2)
		return 0;

	eq = memchr(tok[0], '=', (size_t)(tend[0] - tok[0]));
	if (!eq)
		return 0;
	nlen = (size_t)(eq - tok[0]);
	if (nlen < 1 || nlen > STORE_HISTORY_METRIC_MAX || history__builtin(tok[0], nlen))
		return 0;
	for (size_t i = 0; i < nlen; i++)
		if (!history__name_char(tok[0][i]))
			return 0;
	if (!history__value(eq + 1, tend[0], &mt->value))
		return 0;

	ulen = ntok == 2 ? (size_t)(tend[1] - tok[1]) : 0;
	if (ulen > STORE_HISTORY_UNIT_MAX)
		return 0;
	for (size_t i = 0; i < ulen; i++)
		if ((unsigned char)tok[1][i] <= ' ' || (unsigned char)tok[1][i] > '~')
			return 0;
	memcpy(mt->name, tok[0], nlen);
	mt->name[nlen] = '\0';
	if (ulen)
		memcpy(mt->unit, tok[1], ulen);
	mt->unit[ulen] = '\0';
	return 1;
}

/* Looks at line number `lineno`, [p, end) without its newline. */
static void history__line(const char *p, const char *end, size_t lineno, struct history_metrics *out)
{
	struct history_metric mt;
	size_t i;

	if (end > p && end[-1] == '\r')
		end--;
	/* The step runner stamps each line "[  12.345] " (runner/step.c): that stamp is no text of the test's. */
	if (p < end && *p == '[') {
		const char *q = p + 1;
		while (q < end && (*q == ' ' || (*q >= '0' && *q <= '9') || *q == '.'))
			q++;
		if (q < end && *q == ']' && q > p + 1)
			p = q + 1;
	}
	while (p < end && history__is_blank(*p))
		p++;
	if ((size_t)(end - p) < MARKER_LEN || memcmp(p, MARKER, MARKER_LEN) != 0)
		return;
	p += MARKER_LEN;
	if (p < end && !history__is_blank(*p))
		return; /* another word that starts like the marker: not ours */
	if (!history__marker_line(p, end, &mt)) {
		if (!out->malformed++)
			out->first_malformed_line = lineno;
		return;
	}
	mt.line = lineno;
	for (i = 0; i < out->n; i++)
		if (strcmp(out->items[i].name, mt.name) == 0)
			break;
	if (i == HISTORY_METRICS_MAX) {
		out->dropped++;
		return;
	}
	out->items[i] = mt;
	if (i == out->n)
		out->n++;
}

size_t history_parse_metrics(const char *log, size_t len, struct history_metrics *out)
{
	const char *p = log, *end = log + len;
	size_t lineno = 0;

	memset(out, 0, sizeof(*out));
	if (!log)
		return 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;

		history__line(p, eol, ++lineno, out);
		p = nl ? nl + 1 : end;
	}
	return out->n;
}

enum history_direction history_direction_of(const char *name)
{
	if (name && (strcmp(name, HISTORY_BUILD_TIME) == 0 || strcmp(name, HISTORY_TEST_TIME) == 0 ||
		     strcmp(name, HISTORY_ARTIFACT_SIZE) == 0))
		return HISTORY_LOWER_IS_BETTER;
	return HISTORY_HIGHER_IS_BETTER;
}

int history_drop_check(const struct store_history_point *days, size_t ndays, double value, int64_t value_ms,
		       double threshold, enum history_direction dir, struct history_drop *out,
		       struct rp_error *err)
{
	int64_t today = value_ms - value_ms % MS_PER_DAY;
	double sum = 0;

	memset(out, 0, sizeof(*out));
	if (!isfinite(value))
		return rp_error_set(err, RP_EINVAL, "drop check: the value is not a finite number");
	if (!isfinite(threshold) || threshold <= 0)
		return rp_error_set(err, RP_EINVAL, "drop check: threshold %g is not a fraction above 0",
				    threshold);
	if (dir != HISTORY_HIGHER_IS_BETTER && dir != HISTORY_LOWER_IS_BETTER)
		return rp_error_set(err, RP_EINVAL, "drop check: unknown direction %d", (int)dir);

	for (size_t i = ndays; i-- > 0 && out->days < HISTORY_DROP_DAYS;) {
		/* Today's point counts when all of it came before the value (several nightlies a day). */
		if (days[i].start_ms >= today && days[i].last_ms >= value_ms)
			continue;
		sum += days[i].avg;
		out->days++;
	}
	if (out->days == 0)
		return 0;
	out->baseline = sum / (double)out->days;
	if (out->baseline == 0)
		return 0;
	out->change = (value - out->baseline) / fabs(out->baseline);
	out->dropped = dir == HISTORY_HIGHER_IS_BETTER ? out->change < -threshold : out->change > threshold;
	return 0;
}
