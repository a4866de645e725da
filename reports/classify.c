/*
 * classify.c — the failure classifier: a table of PCRE2 rules (patterns.txt,
 * embedded at build time) run over a step's log.
 *
 * The scan (design notes: docs/internals/classify.md): lines are normalized
 * into a bounded chunk of about 64 KiB, one line after another separated by
 * '\n', and each rule runs ONCE over the whole chunk in multi-line mode, so
 * PCRE2's JIT does the searching instead of one call per rule per line; a rule
 * with a literal prefilter (see "literal prefilters") has the literal searched
 * instead. A match is then checked against its line alone, which keeps the
 * one-line semantics the table promises even when a pattern could run past a
 * '\n'. Rules are sorted by priority, highest first; a chunk only runs the
 * rules that can still beat what earlier chunks found, and a rule of equal
 * priority only the lines before the chunk's own find.
 */
#include "reports/classify.h"

#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/banned.h"

/* Made from patterns.txt at build time (see reports/CMakeLists.txt). */
extern const char classify__patterns_txt[];
extern const size_t classify__patterns_txt_len;

enum { G_FILE, G_LINE, G_COL, G_MSG, G_SUBJECT, G__N };
static const char *const classify__group_names[G__N] = {"file", "line", "col", "msg", "subject"};
/* How often one group name may repeat in a regex (in alternatives). */
#define CLASSIFY__MAX_DUPS 4

#define CLASSIFY__F_INFRA 1u
#define CLASSIFY__F_CONT 2u

#define CLASSIFY__PRIORITY_MAX 1000
/* Chunk of normalized lines: bytes and lines. A line always fits in an empty chunk. */
#define CLASSIFY__CHUNK (64u << 10)
#define CLASSIFY__CHUNK_LINES 4096u
/* Continuation lines a `cont` rule may take. */
#define CLASSIFY__CONT_LINES 32
/* The runner's own marker at the end of a capped log (runner/step.c). */
#define CLASSIFY__TRUNCATED "ripple: output truncated "

struct classify__rule {
	pcre2_code *code;
	pcre2_code *prefilter; /* literals one of which every match contains, or NULL */
	enum classify_category category;
	int priority;
	unsigned flags;
	unsigned table_line;
	char id[CLASSIFY_RULE_MAX];
	uint16_t groups[G__N][CLASSIFY__MAX_DUPS]; /* capture group numbers; 0 ends the list */
};

struct classifier {
	struct classify__rule *rules; /* highest priority first; table order within a priority */
	size_t n_rules;
	uint32_t ovector_pairs; /* enough for the rule with the most groups */
	pcre2_match_context *mctx;
};

/* ---- categories ---- */

/* clang-format off */
static const char *const classify__category_names[] = {
#define CLASSIFY__CAT_NAME(name, text) text,
	CLASSIFY_CATEGORY_MAP(CLASSIFY__CAT_NAME)
#undef CLASSIFY__CAT_NAME
};
/* clang-format on */

const char *classify_category_name(enum classify_category category)
{
	if ((unsigned)category >= CLASSIFY__N_CATEGORIES)
		return "unknown";
	return classify__category_names[category];
}

int classify_category_from_name(const char *name)
{
	for (int i = 0; i < CLASSIFY__N_CATEGORIES; i++)
		if (!strcmp(name, classify__category_names[i]))
			return i;
	return -1;
}

/* ---- the table ---- */

void classify_free(struct classifier *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_rules; i++) {
		pcre2_code_free(c->rules[i].code);
		pcre2_code_free(c->rules[i].prefilter);
	}
	free(c->rules);
	pcre2_match_context_free(c->mctx);
	free(c);
}

size_t classify__n_rules(const struct classifier *c)
{
	return c->n_rules;
}

static int classify__is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* The next blank-separated field of [*p, end) into buf (NUL-terminated); 0 when none or too long. */
static size_t classify__field(const char **p, const char *end, char *buf, size_t size)
{
	const char *s = *p, *e;
	size_t n;
	while (s < end && classify__is_blank(*s))
		s++;
	e = s;
	while (e < end && !classify__is_blank(*e))
		e++;
	n = (size_t)(e - s);
	*p = e;
	if (n == 0 || n >= size)
		return 0;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return n;
}

static int classify__parse_flags(const char *text, unsigned *flags)
{
	const char *p = text;
	*flags = 0;
	if (!strcmp(text, "-"))
		return 0;
	while (*p) {
		size_t n = strcspn(p, ",");
		if (n == 5 && !strncmp(p, "infra", 5))
			*flags |= CLASSIFY__F_INFRA;
		else if (n == 4 && !strncmp(p, "cont", 4))
			*flags |= CLASSIFY__F_CONT;
		else
			return -1;
		p += n;
		if (*p == ',' && *++p == '\0')
			return -1;
	}
	return 0;
}

static int classify__valid_id(const char *id)
{
	for (const char *p = id; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
			return 0;
	return 1;
}

/*
 * Rules are searched many lines at a time, so a negated class that does not
 * exclude '\n' could run across lines (slowly: each line start rescans the
 * lines after it). Returns the offset of the first such class, or -1.
 */
static long classify__lint_classes(const char *re, size_t n)
{
	size_t i = 0;
	while (i < n) {
		if (re[i] == '\\') {
			if (i + 1 < n && re[i + 1] == 'Q') {
				const char *e = NULL;
				for (size_t k = i + 2; k + 1 < n; k++)
					if (re[k] == '\\' && re[k + 1] == 'E') {
						e = re + k;
						break;
					}
				i = e ? (size_t)(e - re) + 2 : n;
			} else {
				i += 2;
			}
			continue;
		}
		if (re[i] != '[') {
			i++;
			continue;
		}
		size_t start = i, j = i + 1;
		int negated = 0, newline = 0;
		if (j < n && re[j] == '^') {
			negated = 1;
			j++;
		}
		if (j < n && re[j] == ']')
			j++;
		while (j < n && re[j] != ']') {
			if (re[j] == '\\' && j + 1 < n) {
				char e = re[j + 1];
				if (e == 'n' || e == 's' || e == 'v' || e == 'R')
					newline = 1;
				j += 2;
			} else if (re[j] == '[' && j + 1 < n && re[j + 1] == ':') {
				const char *close = NULL;
				for (size_t k = j + 2; k + 1 < n; k++)
					if (re[k] == ':' && re[k + 1] == ']') {
						close = re + k;
						break;
					}
				j = close ? (size_t)(close - re) + 2 : j + 1;
			} else {
				j++;
			}
		}
		if (negated && !newline)
			return (long)start;
		i = j + 1;
	}
	return -1;
}

/* ---- literal prefilters ----
 *
 * A rule whose every match must contain one of a few literals ("error: ",
 * "undefined reference to ") is searched for those literals first: PCRE2's JIT
 * finds a literal at several GB/s, while a pattern that starts with a class
 * (`^(?<file>[^\h:\n][^:\n]*):`) is tried at every line start. The full regex
 * then runs on the lines where a literal was found. The literals are derived
 * from the regex text by a small parser of the PCRE2 syntax the table uses; on
 * anything it does not know it gives up, and the rule is searched with its own
 * regex. Whatever it derives is a necessary condition, never a guess:
 * - a sequence needs all its mandatory items, so any one item's set will do;
 *   the best is kept (long literals, and one literal rather than several);
 * - an alternation needs one of its branches: the union of their sets;
 * - optional items (?, *, {0,}) and assertions need nothing;
 * - option settings ((?i), (?x) ...), verbs, conditionals, \Q and unknown
 *   escapes end the derivation.
 */

#define CLASSIFY__LIT_MAX 8  /* literals in a set */
#define CLASSIFY__LIT_LEN 48 /* bytes kept of each: a part of a required literal is required too */
#define CLASSIFY__LIT_MIN 3  /* a shorter literal does not pay for the second pass */

struct classify__lits {
	int n; /* 0: no literal is required */
	unsigned char len[CLASSIFY__LIT_MAX];
	char s[CLASSIFY__LIT_MAX][CLASSIFY__LIT_LEN];
};

struct classify__rx {
	const char *p, *end;
	int fail;
};

static unsigned classify__lits_min(const struct classify__lits *l)
{
	unsigned m = UINT_MAX;
	if (l->n == 0)
		return 0;
	for (int i = 0; i < l->n; i++)
		if (l->len[i] < m)
			m = l->len[i];
	return m;
}

/*
 * How good a set is as a prefilter: its shortest literal, doubled for a single
 * literal, which PCRE2's JIT searches with SIMD, while an alternation makes it
 * try every position.
 */
static unsigned classify__lits_score(const struct classify__lits *l)
{
	return l->n == 1 ? 2 * classify__lits_min(l) : classify__lits_min(l);
}

static void classify__lits_consider(struct classify__lits *best, const struct classify__lits *x)
{
	unsigned sx = classify__lits_score(x), sb = classify__lits_score(best);
	if (classify__lits_min(x) < CLASSIFY__LIT_MIN)
		return;
	if (sx > sb || (sx == sb && sx > 0 && x->n < best->n))
		*best = *x;
}

static void classify__lits_union(struct classify__lits *a, const struct classify__lits *b)
{
	if (a->n == 0 || b->n == 0 || a->n + b->n > CLASSIFY__LIT_MAX) {
		a->n = 0;
		return;
	}
	for (int i = 0; i < b->n; i++) {
		memcpy(a->s[a->n], b->s[i], b->len[i]);
		a->len[a->n++] = b->len[i];
	}
}

/* Skips a quantifier at rx->p: 0 none, 1 optional (?, *, {0...}), 2 at least once (+, {n...}). */
static int classify__rx_quantifier(struct classify__rx *rx)
{
	const char *p = rx->p;
	int kind;
	if (p >= rx->end)
		return 0;
	if (*p == '?' || *p == '*') {
		kind = 1;
		p++;
	} else if (*p == '+') {
		kind = 2;
		p++;
	} else if (*p == '{') {
		unsigned long min = 0;
		int digits = 0;
		p++;
		while (p < rx->end && *p >= '0' && *p <= '9')
			min = min * 10 + (unsigned long)(*p++ - '0'), digits++;
		if (p < rx->end && *p == ',') {
			p++;
			while (p < rx->end && *p >= '0' && *p <= '9')
				p++;
		}
		if (!digits || p >= rx->end || *p != '}') {
			rx->fail = 1; /* a literal '{': rare enough not to be worth the care */
			return 0;
		}
		p++;
		kind = min ? 2 : 1;
	} else {
		return 0;
	}
	if (p < rx->end && (*p == '?' || *p == '+'))
		p++;
	rx->p = p;
	return kind;
}

/* rx->p is at '[': moves past the class. */
static void classify__rx_class(struct classify__rx *rx)
{
	const char *p = rx->p + 1;
	if (p < rx->end && *p == '^')
		p++;
	if (p < rx->end && *p == ']')
		p++;
	while (p < rx->end && *p != ']') {
		if (*p == '\\' && p + 1 < rx->end) {
			p += 2;
		} else if (*p == '[' && p + 1 < rx->end && p[1] == ':') {
			const char *q = p + 2;
			while (q + 1 < rx->end && !(q[0] == ':' && q[1] == ']'))
				q++;
			p = q + 1 < rx->end ? q + 2 : rx->end;
		} else {
			p++;
		}
	}
	if (p >= rx->end)
		rx->fail = 1;
	rx->p = p + 1;
}

static void classify__rx_alt(struct classify__rx *rx, struct classify__lits *out);

/* The best literal set of one branch, up to '|', ')' or the end. */
static void classify__rx_seq(struct classify__rx *rx, struct classify__lits *best)
{
	struct classify__lits run = {0}, item;
	best->n = 0;
	run.n = 1;
	run.len[0] = 0;
#define CLASSIFY__FLUSH()                                                                                    \
	do {                                                                                                 \
		if (run.len[0])                                                                              \
			classify__lits_consider(best, &run);                                                 \
		run.len[0] = 0;                                                                              \
	} while (0)
	while (!rx->fail && rx->p < rx->end && *rx->p != '|' && *rx->p != ')') {
		char c = *rx->p;
		if (c == '\\') {
			char e = rx->p + 1 < rx->end ? rx->p[1] : '\0';
			if (e &&
			    !((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9'))) {
				rx->p += 2;
				goto literal;
			}
			if (!e || !strchr("dwshvNRSDWHVbBAzZGKntrfea", e)) {
				rx->fail = 1;
				break;
			}
			rx->p += 2;
			CLASSIFY__FLUSH();
			classify__rx_quantifier(rx);
			continue;
		}
		if (c == '[') {
			classify__rx_class(rx);
			CLASSIFY__FLUSH();
			classify__rx_quantifier(rx);
			continue;
		}
		if (c == '.' || c == '^' || c == '$') {
			rx->p++;
			CLASSIFY__FLUSH();
			classify__rx_quantifier(rx);
			continue;
		}
		if (c == '*' || c == '+' || c == '?' || c == '{') {
			rx->fail = 1;
			break;
		}
		if (c == '(') {
			const char *q = rx->p + 1;
			int assertion = 0;
			CLASSIFY__FLUSH();
			if (q < rx->end && *q == '?') {
				char k = q + 1 < rx->end ? q[1] : '\0';
				if (k == ':' || k == '>' || k == '|') {
					q += 2;
				} else if (k == '=' || k == '!') {
					q += 2;
					assertion = 1;
				} else if (k == '<' && q + 2 < rx->end && (q[2] == '=' || q[2] == '!')) {
					q += 3;
					assertion = 1;
				} else if (k == '<' || k == '\'' ||
					   (k == 'P' && q + 2 < rx->end && q[2] == '<')) {
					char close = k == '\'' ? '\'' : '>';
					q += k == 'P' ? 3 : 2;
					while (q < rx->end && *q != close)
						q++;
					q++;
				} else {
					rx->fail = 1; /* options, comments, conditionals, recursion */
					break;
				}
			} else if (q < rx->end && *q == '*') {
				rx->fail = 1;
				break;
			}
			rx->p = q;
			classify__rx_alt(rx, &item);
			if (rx->fail || rx->p >= rx->end || *rx->p != ')') {
				rx->fail = 1;
				break;
			}
			rx->p++;
			if (classify__rx_quantifier(rx) != 1 && !assertion)
				classify__lits_consider(best, &item);
			continue;
		}
		rx->p++;
	literal:
		c = rx->p[-1];
		switch (classify__rx_quantifier(rx)) {
		case 0:
			if (run.len[0] == CLASSIFY__LIT_LEN)
				CLASSIFY__FLUSH();
			run.s[0][run.len[0]++] = c;
			break;
		case 1:
			CLASSIFY__FLUSH();
			break;
		default:
			if (run.len[0] == CLASSIFY__LIT_LEN)
				CLASSIFY__FLUSH();
			run.s[0][run.len[0]++] = c;
			CLASSIFY__FLUSH();
			break;
		}
	}
	CLASSIFY__FLUSH();
#undef CLASSIFY__FLUSH
}

static void classify__rx_alt(struct classify__rx *rx, struct classify__lits *out)
{
	struct classify__lits branch;
	classify__rx_seq(rx, out);
	while (!rx->fail && rx->p < rx->end && *rx->p == '|') {
		rx->p++;
		classify__rx_seq(rx, &branch);
		classify__lits_union(out, &branch);
	}
}

/* The literals one of which every match of `re` contains, as a PCRE2 alternation in out; 0 when none. */
static size_t classify__prefilter_text(const char *re, size_t n, char *out, size_t size)
{
	struct classify__rx rx = {re, re + n, 0};
	struct classify__lits lits;
	size_t o = 0;
	classify__rx_alt(&rx, &lits);
	if (rx.fail || rx.p != rx.end || classify__lits_min(&lits) < CLASSIFY__LIT_MIN)
		return 0;
	for (int i = 0; i < lits.n; i++) {
		if (i) {
			if (o + 1 >= size)
				return 0;
			out[o++] = '|';
		}
		for (unsigned k = 0; k < lits.len[i]; k++) {
			unsigned char b = (unsigned char)lits.s[i][k];
			int alnum =
			    (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9');
			int w = alnum ? 1 : 4;
			if (o + (size_t)w >= size)
				return 0;
			if (alnum)
				out[o++] = (char)b;
			else
				o += (size_t)snprintf(out + o, size - o, "\\x%02x", b);
		}
	}
	out[o] = '\0';
	return o;
}

size_t classify__prefilter(const char *re, size_t n, char *out, size_t size)
{
	size_t k = classify__prefilter_text(re, n, out, size);
	if (!k && size)
		out[0] = '\0';
	return k;
}

/* Fills rule->groups from the regex's name table; an unknown name is an error. */
static int classify__map_groups(struct classify__rule *rule, char *bad, size_t bad_size)
{
	uint32_t count = 0, entry_size = 0;
	PCRE2_SPTR table = NULL;
	pcre2_pattern_info(rule->code, PCRE2_INFO_NAMECOUNT, &count);
	pcre2_pattern_info(rule->code, PCRE2_INFO_NAMEENTRYSIZE, &entry_size);
	pcre2_pattern_info(rule->code, PCRE2_INFO_NAMETABLE, &table);
	for (uint32_t i = 0; i < count; i++) {
		const unsigned char *entry = table + (size_t)i * entry_size;
		uint16_t number = (uint16_t)(entry[0] << 8 | entry[1]);
		const char *gname = (const char *)entry + 2;
		int g;
		for (g = 0; g < G__N; g++)
			if (!strcmp(gname, classify__group_names[g]))
				break;
		if (g == G__N) {
			snprintf(bad, bad_size,
				 "unknown group name \"%s\" (expected file, line, col, msg or subject)",
				 gname);
			return -1;
		}
		int k;
		for (k = 0; k < CLASSIFY__MAX_DUPS && rule->groups[g][k]; k++)
			;
		if (k == CLASSIFY__MAX_DUPS) {
			snprintf(bad, bad_size, "group \"%s\" is named more than %d times", gname,
				 CLASSIFY__MAX_DUPS);
			return -1;
		}
		rule->groups[g][k] = number;
	}
	return 0;
}

static int classify__rule_cmp(const void *a, const void *b)
{
	const struct classify__rule *x = a, *y = b;
	if (x->priority != y->priority)
		return x->priority > y->priority ? -1 : 1;
	return x->table_line < y->table_line ? -1 : x->table_line > y->table_line;
}

/* Parses and compiles one rule line [p, end) into `rule`. */
static int classify__compile_rule(struct classifier *c, const char *line, const char *end, const char *name,
				  unsigned lineno, struct classify__rule *rule, struct rp_error *err)
{
	char cat[40], prio[16], flags[40], bad[200];
	const char *p = line;
	char *endp;
	long v;
	int category, ret, errcode;
	PCRE2_SIZE erroff;
	uint32_t captures = 0;

	memset(rule, 0, sizeof(*rule));
	rule->table_line = lineno;
	if (!classify__field(&p, end, cat, sizeof(cat)) || !classify__field(&p, end, prio, sizeof(prio)) ||
	    !classify__field(&p, end, flags, sizeof(flags))) {
		ret = rp_error_set(err, RP_EINVAL, "%s:%u: expected CATEGORY PRIORITY FLAGS ID REGEX", name,
				   lineno);
		goto out;
	}
	if (!classify__field(&p, end, rule->id, sizeof(rule->id)) || !classify__valid_id(rule->id)) {
		ret = rp_error_set(err, RP_EINVAL,
				   "%s:%u: expected a rule id of 1 to %d characters a-z, 0-9 and -", name,
				   lineno, CLASSIFY_RULE_MAX - 1);
		goto out;
	}
	category = classify_category_from_name(cat);
	if (category < 0) {
		ret = rp_error_set(err, RP_EINVAL, "%s:%u: rule \"%s\": unknown category \"%s\"", name,
				   lineno, rule->id, cat);
		goto out;
	}
	rule->category = (enum classify_category)category;
	v = strtol(prio, &endp, 10);
	if (*endp || v < 1 || v > CLASSIFY__PRIORITY_MAX) {
		ret = rp_error_set(err, RP_EINVAL,
				   "%s:%u: rule \"%s\": priority \"%s\" is not a number from 1 to %d", name,
				   lineno, rule->id, prio, CLASSIFY__PRIORITY_MAX);
		goto out;
	}
	rule->priority = (int)v;
	if (classify__parse_flags(flags, &rule->flags) < 0) {
		ret = rp_error_set(err, RP_EINVAL,
				   "%s:%u: rule \"%s\": flags \"%s\": expected - or a list of infra, cont",
				   name, lineno, rule->id, flags);
		goto out;
	}
	while (p < end && classify__is_blank(*p))
		p++;
	if (p == end) {
		ret = rp_error_set(err, RP_EINVAL, "%s:%u: rule \"%s\": the regex is missing", name, lineno,
				   rule->id);
		goto out;
	}
	for (size_t i = 0; i < c->n_rules; i++)
		if (!strcmp(c->rules[i].id, rule->id)) {
			ret = rp_error_set(err, RP_EINVAL,
					   "%s:%u: rule \"%s\" is defined twice (first on line %u)", name,
					   lineno, rule->id, c->rules[i].table_line);
			goto out;
		}
	long lint = classify__lint_classes(p, (size_t)(end - p));
	if (lint >= 0) {
		ret = rp_error_set(
		    err, RP_EINVAL,
		    "%s:%u:%ld: rule \"%s\": the negated class at offset %ld does not exclude \\n "
		    "(write [^...\\n]: a match must stay on one line)",
		    name, lineno, (long)(p - line) + lint + 1, rule->id, lint);
		if (err)
			err->line = (int)lineno, err->column = (int)((p - line) + lint + 1);
		goto out;
	}
	rule->code = pcre2_compile((PCRE2_SPTR)p, (PCRE2_SIZE)(end - p),
				   PCRE2_MULTILINE | PCRE2_DUPNAMES | PCRE2_NEVER_UTF | PCRE2_NEVER_UCP,
				   &errcode, &erroff, NULL);
	if (!rule->code) {
		PCRE2_UCHAR msg[160];
		if (errcode == PCRE2_ERROR_NOMEMORY ||
		    pcre2_get_error_message(errcode, msg, sizeof(msg)) < 0) {
			ret =
			    rp_error_set(err, errcode == PCRE2_ERROR_NOMEMORY ? RP_ENOMEM : RP_EINVAL,
					 "%s:%u: rule \"%s\": the regex cannot be compiled (PCRE2 error %d)",
					 name, lineno, rule->id, errcode);
		} else {
			ret = rp_error_set(err, RP_EINVAL,
					   "%s:%u:%ld: rule \"%s\": regex error at offset %lu: %s", name,
					   lineno, (long)(p - line) + (long)erroff + 1, rule->id,
					   (unsigned long)erroff, (const char *)msg);
		}
		if (err)
			err->line = (int)lineno, err->column = (int)((p - line) + (long)erroff + 1);
		goto out;
	}
	if (classify__map_groups(rule, bad, sizeof(bad)) < 0) {
		ret = rp_error_set(err, RP_EINVAL, "%s:%u: rule \"%s\": %s", name, lineno, rule->id, bad);
		goto out;
	}
	/* Without JIT support (some architectures) the interpreter runs the same code. */
	(void)pcre2_jit_compile(rule->code, PCRE2_JIT_COMPLETE);
	char pf[CLASSIFY__LIT_MAX * (CLASSIFY__LIT_LEN * 4 + 1) + 1];
	size_t pfn = classify__prefilter_text(p, (size_t)(end - p), pf, sizeof(pf));
	if (pfn) {
		rule->prefilter = pcre2_compile((PCRE2_SPTR)pf, pfn, PCRE2_NEVER_UTF | PCRE2_NEVER_UCP,
						&errcode, &erroff, NULL);
		if (!rule->prefilter) {
			ret =
			    rp_error_set(err, RP_ENOMEM,
					 "%s:%u: rule \"%s\": cannot compile its prefilter (PCRE2 error %d)",
					 name, lineno, rule->id, errcode);
			goto out;
		}
		(void)pcre2_jit_compile(rule->prefilter, PCRE2_JIT_COMPLETE);
	}
	pcre2_pattern_info(rule->code, PCRE2_INFO_CAPTURECOUNT, &captures);
	if (captures + 1 > c->ovector_pairs)
		c->ovector_pairs = captures + 1;
	return 0;
out:
	if (err && !err->line)
		err->line = (int)lineno;
	pcre2_code_free(rule->code);
	pcre2_code_free(rule->prefilter);
	rule->code = rule->prefilter = NULL;
	return ret;
}

int classify__compile_table(const char *text, size_t len, const char *name, struct classifier **out,
			    struct rp_error *err)
{
	struct classifier *c = calloc(1, sizeof(*c));
	const char *p = text, *end = text + len;
	size_t cap = 0;
	unsigned lineno = 0;
	int ret;

	*out = NULL;
	if (!c || !(c->mctx = pcre2_match_context_create(NULL))) {
		ret = rp_error_set(err, RP_ENOMEM, "out of memory compiling the classification rules");
		goto out;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end, *s = p, *first = p;
		lineno++;
		p = nl ? nl + 1 : end;
		while (e > s && (classify__is_blank(e[-1]) || e[-1] == '\r'))
			e--;
		while (first < e && classify__is_blank(*first))
			first++;
		if (first == e || *first == '#')
			continue;
		if (c->n_rules == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct classify__rule *n = realloc(c->rules, ncap * sizeof(*n));
			if (!n) {
				ret = rp_error_set(err, RP_ENOMEM,
						   "out of memory compiling the classification rules");
				goto out;
			}
			c->rules = n;
			cap = ncap;
		}
		if ((ret = classify__compile_rule(c, s, e, name, lineno, &c->rules[c->n_rules], err)) < 0)
			goto out;
		c->n_rules++;
	}
	if (c->n_rules == 0) {
		ret = rp_error_set(err, RP_EINVAL, "%s: the table has no rules", name);
		goto out;
	}
	qsort(c->rules, c->n_rules, sizeof(*c->rules), classify__rule_cmp);
	*out = c;
	return 0;
out:
	classify_free(c);
	return ret;
}

int classify_init(struct classifier **out, struct rp_error *err)
{
	return classify__compile_table(classify__patterns_txt, classify__patterns_txt_len, "patterns.txt",
				       out, err);
}

/* ---- lines ---- */

/* Length of the step's stamp "[   1.234] " at the start of [p, p+n), or 0. */
static size_t classify__stamp_len(const char *p, size_t n)
{
	size_t i = 1, digits = 0;
	if (n < 6 || p[0] != '[')
		return 0;
	while (i < n && p[i] == ' ')
		i++;
	while (i < n && p[i] >= '0' && p[i] <= '9')
		i++, digits++;
	if (!digits || i >= n || p[i] != '.')
		return 0;
	i++;
	digits = 0;
	while (i < n && p[i] >= '0' && p[i] <= '9')
		i++, digits++;
	if (!digits || i >= n || p[i] != ']')
		return 0;
	i++;
	if (i < n && p[i] == ' ')
		i++;
	return i;
}

/* Length of the terminal escape sequence at p[0] == ESC (at least 1). */
static size_t classify__escape_len(const char *p, size_t n)
{
	size_t i;
	if (n < 2)
		return n;
	if (p[1] == '[') { /* CSI: parameters, intermediates, a final byte */
		for (i = 2; i < n; i++)
			if ((unsigned char)p[i] >= 0x40 && (unsigned char)p[i] <= 0x7e)
				return i + 1;
		return n;
	}
	if (p[1] == ']') { /* OSC (hyperlinks): up to BEL or ESC '\' */
		for (i = 2; i < n; i++) {
			if (p[i] == '\a')
				return i + 1;
			if (p[i] == 0x1b && i + 1 < n && p[i + 1] == '\\')
				return i + 2;
		}
		return n;
	}
	return 2;
}

/*
 * The text rules see of the raw line [p, p+n) (without its '\n'), written to
 * out (CLASSIFY_LINE_MAX bytes): no stamp, nothing a CR overwrote, no escape
 * sequences, no trailing blanks. Returns its length.
 */
static size_t classify__normalize(const char *p, size_t n, char *out)
{
	size_t k = classify__stamp_len(p, n), o = 0;
	p += k;
	n -= k;
	while (n && (p[n - 1] == '\r' || classify__is_blank(p[n - 1])))
		n--;
	for (const char *cr; (cr = memchr(p, '\r', n));) {
		n -= (size_t)(cr + 1 - p);
		p = cr + 1;
	}
	while (n && o < CLASSIFY_LINE_MAX) {
		const char *esc = memchr(p, 0x1b, n);
		size_t span = esc ? (size_t)(esc - p) : n;
		if (span > CLASSIFY_LINE_MAX - o)
			span = CLASSIFY_LINE_MAX - o;
		memcpy(out + o, p, span);
		o += span;
		p += span;
		n -= span;
		if (n && *p == 0x1b) {
			size_t e = classify__escape_len(p, n);
			p += e;
			n -= e;
		}
	}
	while (o && classify__is_blank(out[o - 1]))
		o--;
	return o;
}

/* ---- output text ---- */

/* Length of the valid UTF-8 sequence at p (1..4), or 0. */
static size_t classify__utf8_len(const unsigned char *p, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t v, min;
	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, v = p[0] & 0x1f, min = 0x80;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, v = p[0] & 0x0f, min = 0x800;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, v = p[0] & 0x07, min = 0x10000;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (p[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return len;
}

enum { CLASSIFY__CUT, CLASSIFY__WHOLE };

/*
 * Writes [src, src+n) into dst (size `size`): trimmed, one printable line of
 * valid UTF-8 (tabs become spaces; controls, line separators and bad bytes
 * '?'). Too long: CLASSIFY__CUT cuts it at a character and ends it with
 * "...", CLASSIFY__WHOLE writes "" instead.
 */
static void classify__put(char *dst, size_t size, const char *src, size_t n, int mode)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t o = 0, keep = 0; /* keep: length that leaves room for "..." */
	while (n && (classify__is_blank((char)s[0]) || s[0] == '\n'))
		s++, n--;
	while (n && (classify__is_blank((char)s[n - 1]) || s[n - 1] == '\n'))
		n--;
	for (size_t i = 0; i < n;) {
		uint32_t cp = 0;
		size_t len = classify__utf8_len(s + i, n - i, &cp);
		const unsigned char *from = s + i;
		unsigned char q = '?', sp = ' ';
		if (len == 0) {
			from = &q;
			len = 1;
			i++;
		} else {
			i += len;
			if (cp == '\t' || cp == '\n')
				from = &sp, len = 1;
			else if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 ||
				 cp == 0x2029)
				from = &q, len = 1;
		}
		if (o + len > size - 1) {
			if (mode == CLASSIFY__WHOLE) {
				dst[0] = '\0';
				return;
			}
			memcpy(dst + keep, "...", 3);
			dst[keep + 3] = '\0';
			return;
		}
		memcpy(dst + o, from, len);
		o += len;
		if (o + 3 <= size - 1)
			keep = o;
	}
	dst[o] = '\0';
}

/* ---- the scan ---- */

struct classify__scan {
	const struct classifier *c;
	pcre2_match_data *md;
	const char *log;
	size_t log_len;
	/* the chunk: line i is chunk[start[i] .. start[i+1]-1), then '\n' */
	size_t n_lines, len;
	uint32_t start[CLASSIFY__CHUNK_LINES + 1];
	size_t orig[CLASSIFY__CHUNK_LINES];   /* offset of the raw line in the log */
	size_t lineno[CLASSIFY__CHUNK_LINES]; /* its 1-based number */
	/* the best line so far */
	long best; /* rule index, or -1 */
	size_t best_len, best_orig, best_lineno;
	char best_text[CLASSIFY_LINE_MAX];
	char scratch[CLASSIFY_LINE_MAX];
	char joined[CLASSIFY_LINE_MAX];
	char chunk[CLASSIFY__CHUNK];
};

static int classify__match(const struct classify__scan *s, const struct classify__rule *rule,
			   const char *text, size_t n)
{
	return pcre2_match(rule->code, (PCRE2_SPTR)text, n, 0, 0, s->md, s->c->mctx);
}

static int classify__line_matches(const struct classify__scan *s, const struct classify__rule *rule,
				  size_t li)
{
	return classify__match(s, rule, s->chunk + s->start[li], s->start[li + 1] - 1 - s->start[li]) >= 0;
}

/* The index of the line of [lo, end) holding chunk offset `at` (start[lo] <= at < start[end]). */
static size_t classify__line_at(const struct classify__scan *s, size_t lo, size_t end, size_t at)
{
	size_t hi = end;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->start[mid] <= at)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/*
 * The first line of the chunk's lines [0, end) that `rule` matches, or `end`:
 * its prefilter (or its regex) searches the chunk, its regex checks the line.
 */
static size_t classify__first_match(struct classify__scan *s, const struct classify__rule *rule, size_t end)
{
	const pcre2_code *search = rule->prefilter ? rule->prefilter : rule->code;
	size_t li = 0, limit = s->start[end];
	while (li < end) {
		int rc = pcre2_match(search, (PCRE2_SPTR)s->chunk, limit, s->start[li], 0, s->md, s->c->mctx);
		if (rc == PCRE2_ERROR_NOMATCH)
			return end;
		if (rc < 0) {
			/* A match limit on the whole chunk: try the lines one by one. */
			for (; li < end; li++)
				if (classify__line_matches(s, rule, li))
					return li;
			return end;
		}
		size_t at = pcre2_get_ovector_pointer(s->md)[0];
		if (at >= limit)
			return end;
		size_t m = classify__line_at(s, li, end, at);
		if (classify__line_matches(s, rule, m))
			return m;
		li = m + 1;
	}
	return end;
}

static void classify__scan_chunk(struct classify__scan *s)
{
	const struct classifier *c = s->c;
	long found = -1;
	size_t found_line = s->n_lines;
	for (size_t r = 0; r < c->n_rules; r++) {
		const struct classify__rule *rule = &c->rules[r];
		if (s->best >= 0 && rule->priority <= c->rules[s->best].priority)
			break;
		if (found >= 0 && rule->priority < c->rules[found].priority)
			break;
		size_t li = classify__first_match(s, rule, found_line);
		if (li < found_line) {
			found = (long)r;
			found_line = li;
		}
	}
	if (found >= 0) {
		s->best = found;
		s->best_len = s->start[found_line + 1] - 1 - s->start[found_line];
		memcpy(s->best_text, s->chunk + s->start[found_line], s->best_len);
		s->best_orig = s->orig[found_line];
		s->best_lineno = s->lineno[found_line];
	}
	s->n_lines = s->len = 0;
	s->start[0] = 0;
}

/* Scans the log; returns the number of lines it has (only when no rule of the top priority matched). */
static size_t classify__scan_log(struct classify__scan *s)
{
	const char *log = s->log;
	size_t off = 0, lineno = 0, len = s->log_len;
	int top = s->c->rules[0].priority;
	while (off < len) {
		const char *nl = memchr(log + off, '\n', len - off);
		size_t end = nl ? (size_t)(nl - log) : len, k;
		lineno++;
		if (s->len + CLASSIFY_LINE_MAX + 1 > CLASSIFY__CHUNK || s->n_lines == CLASSIFY__CHUNK_LINES) {
			classify__scan_chunk(s);
			if (s->best >= 0 && s->c->rules[s->best].priority == top)
				return lineno;
		}
		k = classify__normalize(log + off, end - off, s->chunk + s->len);
		if (k) {
			s->orig[s->n_lines] = off;
			s->lineno[s->n_lines] = lineno;
			s->len += k;
			s->chunk[s->len++] = '\n';
			s->start[++s->n_lines] = (uint32_t)s->len;
		}
		off = end + 1;
	}
	if (s->n_lines)
		classify__scan_chunk(s);
	return lineno;
}

/* The last non-empty line other than the truncation marker: its text in scratch, offset and number. */
static size_t classify__last_line(struct classify__scan *s, size_t n_lines, size_t *orig, size_t *lineno)
{
	const char *log = s->log;
	size_t e = s->log_len, idx = n_lines;
	if (e && log[e - 1] == '\n')
		e--;
	while (idx > 0) {
		size_t b = e, k;
		while (b > 0 && log[b - 1] != '\n')
			b--;
		k = classify__normalize(log + b, e - b, s->scratch);
		if (k && !(k >= sizeof(CLASSIFY__TRUNCATED) - 1 &&
			   !memcmp(s->scratch, CLASSIFY__TRUNCATED, sizeof(CLASSIFY__TRUNCATED) - 1))) {
			*orig = b;
			*lineno = idx;
			return k;
		}
		if (b == 0)
			break;
		e = b - 1;
		idx--;
	}
	return 0;
}

/* best_text plus the indented lines after it, joined by one space, into joined. */
static size_t classify__join_continuation(struct classify__scan *s)
{
	const char *log = s->log;
	size_t o = s->best_len, off;
	const char *nl = memchr(log + s->best_orig, '\n', s->log_len - s->best_orig);
	memcpy(s->joined, s->best_text, o);
	off = nl ? (size_t)(nl - log) + 1 : s->log_len;
	for (int taken = 0; off < s->log_len && taken < CLASSIFY__CONT_LINES; taken++) {
		nl = memchr(log + off, '\n', s->log_len - off);
		size_t end = nl ? (size_t)(nl - log) : s->log_len;
		size_t k = classify__normalize(log + off, end - off, s->scratch), b = 0;
		if (k == 0 || !classify__is_blank(s->scratch[0]))
			break;
		while (b < k && classify__is_blank(s->scratch[b]))
			b++;
		if (o + 1 + (k - b) > sizeof(s->joined))
			break;
		s->joined[o++] = ' ';
		memcpy(s->joined + o, s->scratch + b, k - b);
		o += k - b;
		off = end + 1;
	}
	return o;
}

/* The text of the first set group among the names' duplicates, or NULL. */
static const char *classify__group(const struct classify__scan *s, const struct classify__rule *rule, int g,
				   const char *text, size_t *n)
{
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
	for (int k = 0; k < CLASSIFY__MAX_DUPS && rule->groups[g][k]; k++) {
		uint16_t num = rule->groups[g][k];
		if (ov[2 * num] != PCRE2_UNSET) {
			*n = ov[2 * num + 1] - ov[2 * num];
			return text + ov[2 * num];
		}
	}
	return NULL;
}

static unsigned classify__number(const char *p, size_t n)
{
	unsigned v = 0;
	if (!p || n == 0 || n > 9)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	return v;
}

/* Fills out's excerpt, location, msg and subject from the best rule's match. */
static void classify__fill_match(struct classify__scan *s, struct classification *out)
{
	const struct classify__rule *rule = &s->c->rules[s->best];
	const char *text = s->best_text, *g;
	size_t n = s->best_len, gn = 0;
	if (rule->flags & CLASSIFY__F_CONT) {
		size_t jn = classify__join_continuation(s);
		if (jn > n && classify__match(s, rule, s->joined, jn) >= 0) {
			text = s->joined;
			n = jn;
		}
	}
	if (text == s->best_text && classify__match(s, rule, text, n) < 0) {
		classify__put(out->excerpt, sizeof(out->excerpt), text, n, CLASSIFY__CUT);
		memcpy(out->msg, out->excerpt, sizeof(out->msg));
		return;
	}
	classify__put(out->excerpt, sizeof(out->excerpt), text, n, CLASSIFY__CUT);
	if ((g = classify__group(s, rule, G_FILE, text, &gn)))
		classify__put(out->file, sizeof(out->file), g, gn, CLASSIFY__WHOLE);
	if ((g = classify__group(s, rule, G_LINE, text, &gn)))
		out->line = classify__number(g, gn);
	if ((g = classify__group(s, rule, G_COL, text, &gn)))
		out->column = classify__number(g, gn);
	if ((g = classify__group(s, rule, G_SUBJECT, text, &gn)))
		classify__put(out->subject, sizeof(out->subject), g, gn, CLASSIFY__CUT);
	if ((g = classify__group(s, rule, G_MSG, text, &gn)) && gn)
		classify__put(out->msg, sizeof(out->msg), g, gn, CLASSIFY__CUT);
	else
		memcpy(out->msg, out->excerpt, sizeof(out->msg));
}

static enum classify_category classify__by_hints(const struct classify_hints *h)
{
	if (!h)
		return CLASSIFY_UNKNOWN;
	if (h->timed_out || h->term_signal == SIGXCPU)
		return CLASSIFY_TIMEOUT;
	if (h->term_signal == SIGKILL)
		return CLASSIFY_OUT_OF_MEMORY;
	if (h->step == CLASSIFY_STEP_BUILD)
		return CLASSIFY_COMPILE_ERROR;
	if (h->step == CLASSIFY_STEP_TEST)
		return CLASSIFY_TEST_FAILURE;
	return CLASSIFY_UNKNOWN;
}

int classify_log(const struct classifier *c, const char *log, size_t len, const struct classify_hints *hints,
		 struct classification *out)
{
	struct classify__scan *s = NULL;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	out->category = classify__by_hints(hints);
	s = malloc(sizeof(*s));
	if (!s || !(s->md = pcre2_match_data_create(c->ovector_pairs, NULL))) {
		ret = RP_ENOMEM;
		goto out;
	}
	s->c = c;
	s->log = log ? log : "";
	s->log_len = log ? len : 0;
	s->n_lines = s->len = 0;
	s->start[0] = 0;
	s->best = -1;

	size_t n_lines = classify__scan_log(s);
	if (s->best >= 0) {
		const struct classify__rule *rule = &c->rules[s->best];
		out->matched = 1;
		memcpy(out->rule, rule->id, sizeof(out->rule));
		out->log_line = s->best_lineno;
		out->log_offset = s->best_orig;
		classify__fill_match(s, out);
		if (rule->category != CLASSIFY_UNKNOWN) {
			out->category = rule->category;
			out->infrastructure =
			    rule->category == CLASSIFY_INFRASTRUCTURE || (rule->flags & CLASSIFY__F_INFRA);
		}
	} else {
		size_t orig = 0, lineno = 0, k = classify__last_line(s, n_lines, &orig, &lineno);
		if (k) {
			classify__put(out->excerpt, sizeof(out->excerpt), s->scratch, k, CLASSIFY__CUT);
			memcpy(out->msg, out->excerpt, sizeof(out->msg));
			out->log_line = lineno;
			out->log_offset = orig;
		}
	}
	/* A hang is a timeout whatever the log says, unless the worker's trouble explains it. */
	if (hints && hints->timed_out && out->category != CLASSIFY_INFRASTRUCTURE) {
		out->category = CLASSIFY_TIMEOUT;
		out->infrastructure = 0;
	}
out:
	if (s)
		pcre2_match_data_free(s->md);
	free(s);
	return ret;
}

/* ---- the table's own examples ---- */

/* The id field of the rule line [p, end), into id. */
static int classify__rule_id(const char *p, const char *end, char *id, size_t size)
{
	char skip[64];
	for (int i = 0; i < 3; i++)
		if (!classify__field(&p, end, skip, sizeof(skip)))
			return -1;
	return classify__field(&p, end, id, size) ? 0 : -1;
}

int classify__self_test(const struct classifier *c, const char *text, size_t len, const char *name,
			struct rp_error *err)
{
	const char *p, *end, *examples[16];
	size_t example_len[16];
	unsigned example_line[16], lineno = 0;
	int n_examples = 0;
	if (!text) {
		text = classify__patterns_txt;
		len = classify__patterns_txt_len;
	}
	p = text;
	end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *e = nl ? nl : end, *s = p;
		char id[CLASSIFY_RULE_MAX];
		lineno++;
		p = nl ? nl + 1 : end;
		if (e - s >= 3 && !memcmp(s, "#> ", 3)) {
			if (n_examples == 16)
				return rp_error_set(err, RP_EINVAL,
						    "%s:%u: more than 16 examples for one rule", name,
						    lineno);
			examples[n_examples] = s + 3;
			example_len[n_examples] = (size_t)(e - s - 3);
			example_line[n_examples++] = lineno;
			continue;
		}
		while (s < e && classify__is_blank(*s))
			s++;
		if (s == e || *s == '#')
			continue;
		if (classify__rule_id(s, e, id, sizeof(id)) < 0)
			return rp_error_set(err, RP_EINVAL,
					    "%s:%u: expected CATEGORY PRIORITY FLAGS ID REGEX", name, lineno);
		if (n_examples == 0)
			return rp_error_set(err, RP_EINVAL,
					    "%s:%u: rule \"%s\" has no example (a \"#> \" line above it)",
					    name, lineno, id);
		for (int i = 0; i < n_examples; i++) {
			struct classification cl;
			int ret = classify_log(c, examples[i], example_len[i], NULL, &cl);
			if (ret < 0)
				return rp_error_set(err, ret, "%s:%u: %s", name, example_line[i],
						    rp_strerror(ret));
			if (strcmp(cl.rule, id))
				return rp_error_set(
				    err, RP_EINVAL,
				    "%s:%u: the example of rule \"%s\" is matched by %s%s%s instead", name,
				    example_line[i], id, cl.rule[0] ? "rule \"" : "no rule", cl.rule,
				    cl.rule[0] ? "\"" : "");
		}
		n_examples = 0;
	}
	return 0;
}
