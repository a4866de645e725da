/*
 * search.c — the k-ary, flake-aware search: a state machine over candidate
 * indices (see bisect.h for the contract, docs/bisect.md for the method).
 *
 * Every hypothesis "h is the first bad commit" carries a weight. Without noise
 * the weights are 1 (consistent with every answer) or 0; with noise each answer
 * multiplies them by its likelihood. anc(c) is c and its ancestors through the
 * given parent links; m(c), the weight of the hypotheses in anc(c), is the
 * probability that c answers bad. A round proposes the commits whose m(c) is
 * nearest to 1/(k+1), ..., k/(k+1).
 *
 * When the hypotheses form one chain (a linear history, or any history with
 * --first-parent) anc(c) is a prefix of the chain and m(c) a prefix sum;
 * otherwise it is a walk over the parent links per commit (O(n) each).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bisect.h"
#include "core/banned.h"

enum phase { PH_SEARCH, PH_CONFIRM, PH_DONE };

#define MAX_CONFIRMATIONS 3
#define EXACT_EPS 1e-12
/* Runs added to a confirmation commit whose answers disagree, per retry. */
#define REPEAT_MULT 2
/*
 * Confirmation that is inconclusive — the rates point the right way but the
 * exact test is not yet below P_CULPRIT, only below P_MORE — adds that many
 * runs again (until the stage count reaches MORE_STAGES: twice after the
 * first disagreement) instead of giving up as flaky: a
 * sequential test, which a test that answers wrongly 20% of the time needs.
 */
#define P_CULPRIT 0.01
#define P_MORE 0.3
#define MORE_STAGES 3
/*
 * With noise, the search hands over to the confirmation once the top
 * hypothesis holds this much weight (or the configured confidence, if lower):
 * the runs of the culprit and its parent are the most telling probes there
 * are, and they must lift it to the full confidence before a culprit is
 * named, else the search resumes.
 */
#define CONFIRM_AT 0.9

struct bisect_search {
	size_t n;
	uint32_t *pstart, *parents;
	uint8_t *known_good, *skipped;
	struct bisect_search_config cfg;

	double *w;	/* weight of each hypothesis (0 for known good) */
	unsigned *runs; /* answers (skips excluded) per candidate */
	unsigned *bad;	/* of which bad */
	uint32_t *mark; /* walk stamps */
	uint32_t stamp;
	uint32_t *stack;

	int linear; /* hypotheses form one chain: chain[] in order, pos[] their position */
	uint32_t *chain;
	size_t n_chain;
	int64_t *pos;	/* position in chain, -1 for non-hypotheses */
	double *prefix; /* prefix sums of w along chain, n_chain + 1 */
	double *mcache; /* m(c) of the current round */
	double *targets; /* a round's k split points, as weight */

	enum phase phase;
	enum bisect_verdict verdict;
	unsigned rounds, probes, confirmations, stage;
	int disagreed;
	int64_t cand, par; /* confirmation target and its parent */
	uint32_t *pending; /* confirmation probes left to propose */
	size_t n_pending, cap_pending;
	uint8_t *sep; /* scratch: separated from the top hypothesis */
	uint32_t *suspects;
	size_t n_suspects;
	int64_t top;
	double conf;
};

const char *bisect_verdict_name(enum bisect_verdict v)
{
	switch (v) {
	case BISECT_RUNNING:
		return "running";
	case BISECT_CULPRIT:
		return "culprit";
	case BISECT_ONLY_SKIPPED:
		return "only-skipped";
	case BISECT_FLAKY:
		return "flaky";
	case BISECT_ABORTED:
		return "aborted";
	case BISECT_UNCONFIRMED:
		return "unconfirmed";
	}
	return "unknown";
}

static int is_hyp(const struct bisect_search *s, uint32_t i)
{
	return !s->known_good[i];
}

/* Marks anc(c) with a new stamp; returns the stamp. */
static uint32_t walk(struct bisect_search *s, uint32_t c)
{
	uint32_t st = ++s->stamp;
	size_t top = 0;
	s->stack[top++] = c;
	s->mark[c] = st;
	while (top) {
		uint32_t x = s->stack[--top];
		for (uint32_t j = s->pstart[x]; j < s->pstart[x + 1]; j++) {
			uint32_t p = s->parents[j];
			if (s->mark[p] != st && !s->known_good[p]) {
				s->mark[p] = st;
				s->stack[top++] = p;
			}
		}
	}
	return st;
}

static void refresh_prefix(struct bisect_search *s)
{
	if (!s->linear)
		return;
	s->prefix[0] = 0;
	for (size_t j = 0; j < s->n_chain; j++)
		s->prefix[j + 1] = s->prefix[j] + s->w[s->chain[j]];
}

/* m(c): the weight of the hypotheses c descends from (itself included). */
static double mass_after(struct bisect_search *s, uint32_t c)
{
	if (!is_hyp(s, c))
		return 0;
	if (s->linear)
		return s->prefix[s->pos[c] + 1];
	uint32_t st = walk(s, c);
	double m = 0;
	for (size_t h = 0; h < s->n; h++)
		if (s->mark[h] == st)
			m += s->w[h];
	return m;
}

/* Whether h is in anc(c). */
static int after(struct bisect_search *s, uint32_t c, uint32_t h, uint32_t st)
{
	if (s->linear)
		return s->pos[h] >= 0 && s->pos[c] >= 0 && s->pos[h] <= s->pos[c];
	return s->mark[h] == st;
}

static int normalize(struct bisect_search *s)
{
	double t = 0;
	for (size_t h = 0; h < s->n; h++)
		t += s->w[h];
	if (!(t > 0))
		return -1;
	for (size_t h = 0; h < s->n; h++)
		s->w[h] /= t;
	refresh_prefix(s);
	return 0;
}

void bisect_search_free(struct bisect_search *s)
{
	if (!s)
		return;
	free(s->pstart);
	free(s->parents);
	free(s->known_good);
	free(s->skipped);
	free(s->w);
	free(s->runs);
	free(s->bad);
	free(s->mark);
	free(s->stack);
	free(s->chain);
	free(s->pos);
	free(s->prefix);
	free(s->mcache);
	free(s->targets);
	free(s->pending);
	free(s->sep);
	free(s->suspects);
	free(s);
}

static double log2_of(size_t n)
{
	double l = 0;
	while (n > 1) {
		n = (n + 1) / 2;
		l++;
	}
	return l;
}

int bisect_search_new(size_t n, const uint32_t *parent_start, const uint32_t *parents,
		      const uint8_t *known_good, const struct bisect_search_config *cfg,
		      struct bisect_search **out, struct rp_error *err)
{
	*out = NULL;
	if (n == 0 || n > UINT32_MAX - 2 || !parent_start || !cfg || cfg->k == 0 || cfg->noise < 0 ||
	    cfg->noise >= 0.5 || (cfg->noise > 0 && !(cfg->confidence > 0.5 && cfg->confidence < 1)))
		return rp_error_set(err, RP_EINVAL, "bisect: bad search configuration");
	if (known_good && known_good[n - 1])
		return rp_error_set(err, RP_EINVAL, "bisect: the bad tip is marked good");
	size_t np = parent_start[n];
	for (size_t i = 0; i < n; i++) {
		if (parent_start[i] > parent_start[i + 1])
			return rp_error_set(err, RP_EINVAL, "bisect: malformed parent list");
		for (uint32_t j = parent_start[i]; j < parent_start[i + 1]; j++)
			if (parents[j] >= i)
				return rp_error_set(
				    err, RP_EINVAL,
				    "bisect: candidate %zu has a parent that does not come before it", i);
	}
	struct bisect_search *s = calloc(1, sizeof(*s));
	if (!s)
		return rp_error_set(err, RP_ENOMEM, "bisect: out of memory");
	s->n = n;
	s->cfg = *cfg;
	if (!s->cfg.max_probes)
		s->cfg.max_probes = 64 + (unsigned)(16 * log2_of(n));
	s->pstart = malloc((n + 1) * sizeof(*s->pstart));
	s->parents = malloc((np ? np : 1) * sizeof(*s->parents));
	s->known_good = calloc(n, 1);
	s->skipped = calloc(n, 1);
	s->w = calloc(n, sizeof(*s->w));
	s->runs = calloc(n, sizeof(*s->runs));
	s->bad = calloc(n, sizeof(*s->bad));
	s->mark = calloc(n, sizeof(*s->mark));
	s->stack = malloc(n * sizeof(*s->stack));
	s->chain = malloc(n * sizeof(*s->chain));
	s->pos = malloc(n * sizeof(*s->pos));
	s->prefix = malloc((n + 1) * sizeof(*s->prefix));
	s->mcache = malloc(n * sizeof(*s->mcache));
	s->targets = malloc(cfg->k * sizeof(*s->targets));
	s->sep = calloc(n, 1);
	s->suspects = malloc(n * sizeof(*s->suspects));
	if (!s->pstart || !s->parents || !s->known_good || !s->skipped || !s->w || !s->runs || !s->bad ||
	    !s->mark || !s->stack || !s->chain || !s->pos || !s->prefix || !s->mcache || !s->targets || !s->sep ||
	    !s->suspects) {
		bisect_search_free(s);
		return rp_error_set(err, RP_ENOMEM, "bisect: out of memory");
	}
	memcpy(s->pstart, parent_start, (n + 1) * sizeof(*s->pstart));
	if (np)
		memcpy(s->parents, parents, np * sizeof(*s->parents));
	if (known_good)
		memcpy(s->known_good, known_good, n);
	size_t nh = 0;
	for (size_t i = 0; i < n; i++) {
		s->pos[i] = -1;
		if (is_hyp(s, (uint32_t)i)) {
			s->w[i] = 1;
			s->pos[i] = (int64_t)nh;
			s->chain[nh++] = (uint32_t)i;
		}
	}
	s->n_chain = nh;
	/* One chain: each hypothesis's only hypothesis parent is the one before it. */
	s->linear = 1;
	for (size_t j = 0; j < nh && s->linear; j++) {
		uint32_t c = s->chain[j];
		unsigned hp = 0;
		for (uint32_t q = s->pstart[c]; q < s->pstart[c + 1]; q++) {
			uint32_t p = s->parents[q];
			if (is_hyp(s, p)) {
				hp++;
				if (j == 0 || p != s->chain[j - 1])
					s->linear = 0;
			}
		}
		if (j > 0 && hp != 1)
			s->linear = 0;
	}
	normalize(s);
	s->phase = PH_SEARCH;
	s->verdict = BISECT_RUNNING;
	s->cand = s->par = s->top = -1;
	*out = s;
	return 0;
}

static int64_t first_parent(const struct bisect_search *s, int64_t c)
{
	if (c < 0 || s->pstart[c] == s->pstart[c + 1])
		return -1;
	return s->parents[s->pstart[c]];
}

/*
 * The top hypothesis and the set S of hypotheses that no probe-able commit
 * can tell from it (only skipped commits lie between them); fills
 * s->suspects and returns the weight of S.
 */
static double top_set(struct bisect_search *s)
{
	int64_t top = -1;
	for (size_t h = 0; h < s->n; h++)
		if (is_hyp(s, (uint32_t)h) && (top < 0 || s->w[h] > s->w[top]))
			top = (int64_t)h;
	s->top = top;
	s->n_suspects = 0;
	if (top < 0)
		return 0;
	double m = 0;
	if (s->linear) {
		int64_t a = s->pos[top], b = s->pos[top];
		while (s->skipped[s->chain[b]] && (size_t)b + 1 < s->n_chain)
			b++;
		while (a > 0 && s->skipped[s->chain[a - 1]])
			a--;
		for (int64_t j = a; j <= b; j++) {
			s->suspects[s->n_suspects++] = s->chain[j];
			m += s->w[s->chain[j]];
		}
		return m;
	}
	memset(s->sep, 0, s->n);
	for (size_t c = 0; c < s->n; c++) {
		if (!is_hyp(s, (uint32_t)c) || s->skipped[c])
			continue;
		uint32_t st = walk(s, (uint32_t)c);
		int t_in = s->mark[top] == st;
		for (size_t h = 0; h < s->n; h++)
			if (is_hyp(s, (uint32_t)h) && (s->mark[h] == st) != t_in)
				s->sep[h] = 1;
	}
	for (size_t h = 0; h < s->n; h++)
		if (is_hyp(s, (uint32_t)h) && !s->sep[h]) {
			s->suspects[s->n_suspects++] = (uint32_t)h;
			m += s->w[h];
		}
	return m;
}

static int push_pending(struct bisect_search *s, uint32_t c, unsigned times)
{
	if (s->n_pending + times > s->cap_pending) {
		size_t cap = (s->n_pending + times) * 2;
		uint32_t *p = realloc(s->pending, cap * sizeof(*p));
		if (!p)
			return -1;
		s->pending = p;
		s->cap_pending = cap;
	}
	for (unsigned i = 0; i < times; i++)
		s->pending[s->n_pending++] = c;
	return 0;
}

static size_t take_pending(struct bisect_search *s, uint32_t *probes, size_t max)
{
	size_t k = s->n_pending < max ? s->n_pending : max;
	memcpy(probes, s->pending, k * sizeof(*probes));
	memmove(s->pending, s->pending + k, (s->n_pending - k) * sizeof(*probes));
	s->n_pending -= k;
	return k;
}

/* One-sided Fisher exact test: P(culprit's bad count >= a) when both rates are equal. */
static double fisher_greater(unsigned a, unsigned n1, unsigned b, unsigned n2)
{
	unsigned K = a + b, N = n1 + n2;
	double p = 0;
	double base =
	    lgamma(K + 1.0) + lgamma(N - K + 1.0) - lgamma(N + 1.0) + lgamma(n1 + 1.0) + lgamma(n2 + 1.0);
	for (unsigned x = a; x <= n1 && x <= K; x++) {
		if (K - x > n2)
			continue;
		double l = base - lgamma(x + 1.0) - lgamma(n1 - x + 1.0) - lgamma(K - x + 1.0) -
			   lgamma(n2 - (K - x) + 1.0);
		p += exp(l);
	}
	return p;
}

static enum bisect_verdict finish(struct bisect_search *s, enum bisect_verdict v)
{
	s->phase = PH_DONE;
	s->verdict = v;
	return v;
}

static int mixed(const struct bisect_search *s, int64_t c)
{
	return c >= 0 && s->bad[c] > 0 && s->bad[c] < s->runs[c];
}

/* Decides after the confirmation runs; may resume the search. */
static enum bisect_verdict judge(struct bisect_search *s)
{
	int64_t c = s->cand, p = s->par;
	unsigned rc = s->runs[c], bc = s->bad[c];
	unsigned rp = p >= 0 ? s->runs[p] : 0, bp = p >= 0 ? s->bad[p] : 0;
	if (s->stage == 0 && (mixed(s, c) || mixed(s, p) || (rc && bc < rc) || (rp && bp > 0))) {
		s->stage = 1;
		s->disagreed = 1;
		unsigned more = REPEAT_MULT * s->cfg.retries;
		if ((rc && bc < rc) && push_pending(s, (uint32_t)c, more) < 0)
			return finish(s, BISECT_FLAKY);
		if (p >= 0 && rp && bp > 0 && push_pending(s, (uint32_t)p, more) < 0)
			return finish(s, BISECT_FLAKY);
		return BISECT_RUNNING;
	}
	if (s->cfg.noise > 0) {
		double m = top_set(s);
		s->conf = m; /* what the verdict rests on: the posterior after the confirmation runs */
		if ((s->top != c || m < s->cfg.confidence) && s->confirmations < MAX_CONFIRMATIONS &&
		    s->probes < s->cfg.max_probes) {
			s->phase = PH_SEARCH; /* the runs moved the posterior: search again */
			return BISECT_RUNNING;
		}
	}
	double rate_c = rc ? (double)bc / rc : 0, rate_p = rp ? (double)bp / rp : 0;
	/* Out of confirmations with the weight still elsewhere or short of the confidence: no culprit. */
	if (s->cfg.noise > 0 && (s->top != c || s->conf < s->cfg.confidence))
		return finish(s, BISECT_FLAKY);
	if (bc == rc && bp == 0)
		return finish(s, BISECT_CULPRIT);
	double pv = fisher_greater(bc, rc, bp, rp);
	if (rate_c >= 0.5 && rate_p < 0.5 && pv < P_CULPRIT)
		return finish(s, BISECT_CULPRIT);
	if (rate_c >= 0.5 && rate_p < 0.5 && pv < P_MORE && s->stage < MORE_STAGES && s->probes < s->cfg.max_probes) {
		s->stage++;
		unsigned more = REPEAT_MULT * s->cfg.retries;
		if (push_pending(s, (uint32_t)c, more) < 0 || (p >= 0 && push_pending(s, (uint32_t)p, more) < 0))
			return finish(s, BISECT_FLAKY);
		return BISECT_RUNNING;
	}
	return finish(s, BISECT_FLAKY);
}

/*
 * Where a round's k probes should split the weight. With noise, at the
 * quantiles j/(k+1). Without, the N hypotheses left need r = ceil(log_{k+1} N)
 * rounds whatever the split, but how many of them are found in r - 1 depends on
 * it: an even split leaves parts just over (k+1)^(r-2), so nearly every
 * hypothesis needs all r rounds. The parts of the B-ary tree (B = k + 1) whose
 * leaves all lie at depth r - 1 or r, with as many at r - 1 as can be, find
 * B^(r-1) - ceil((N - B^(r-1)) / (B-1)) of them a round early: 525 of 1,024
 * for k = 4 (4.49 rounds on average instead of 5). The root's B children each
 * hold S = B^(r-2) slots of depth r - 1; m = ceil((N - B^(r-1)) / (B - 1)) of
 * those slots are split once more, the oldest first, and the last split slot
 * takes what N leaves over.
 */
static void exact_split_targets(const struct bisect_search *s, unsigned k, double *t)
{
	for (unsigned j = 1; j <= k; j++)
		t[j - 1] = (double)j / (k + 1);
	if (s->cfg.noise != 0)
		return;
	size_t n = 0;
	for (size_t h = 0; h < s->n; h++)
		n += s->w[h] > EXACT_EPS;
	size_t b = (size_t)k + 1;
	if (n <= b) {
		for (unsigned j = 1; j <= k; j++)
			t[j - 1] = n ? (double)j / (double)n : 1;
		return;
	}
	size_t slots = 1; /* B^(r-1): the largest power of B below n */
	while (slots <= (n - 1) / b)
		slots *= b;
	size_t per_child = slots / b; /* S */
	size_t splits = (n - slots + b - 2) / (b - 1);
	size_t cum = 0;
	for (unsigned j = 1; j <= k; j++) {
		size_t child = (size_t)(j - 1);
		size_t split_here = splits > child * per_child ? splits - child * per_child : 0;
		if (split_here > per_child)
			split_here = per_child;
		size_t size = per_child + split_here * (b - 1);
		/* The leaves the splits overshoot come off the last split slot. */
		if (split_here && splits <= (child + 1) * per_child)
			size -= splits * (b - 1) + slots - n;
		cum += size;
		t[j - 1] = cum < n ? (double)cum / (double)n : 1;
	}
}

enum bisect_verdict bisect_search_next(struct bisect_search *s, uint32_t *probes, size_t max, size_t *count)
{
	*count = 0;
	if (s->phase == PH_DONE)
		return s->verdict;
	if (max == 0)
		max = 1;
	if (s->phase == PH_CONFIRM) {
		if (!s->n_pending) {
			enum bisect_verdict v = judge(s);
			if (v != BISECT_RUNNING)
				return v;
		}
		if (s->phase == PH_CONFIRM) {
			*count = take_pending(s, probes, max);
			s->rounds++;
			return BISECT_RUNNING;
		}
	}
	/* PH_SEARCH */
	double m = top_set(s);
	double need = s->cfg.noise == 0		       ? 1 - 1e-9
		      : s->cfg.confidence < CONFIRM_AT ? s->cfg.confidence
						       : CONFIRM_AT;
	if (m >= need) {
		s->conf = m;
		if (s->n_suspects > 1)
			return finish(s, BISECT_ONLY_SKIPPED);
		if (s->cfg.retries == 0)
			return finish(s, BISECT_CULPRIT);
		s->phase = PH_CONFIRM;
		s->stage = 0;
		s->confirmations++;
		s->cand = s->top;
		s->par = first_parent(s, s->top);
		s->n_pending = 0;
		if (push_pending(s, (uint32_t)s->cand, s->cfg.retries) < 0 ||
		    (s->par >= 0 && push_pending(s, (uint32_t)s->par, s->cfg.retries) < 0))
			return finish(s, BISECT_FLAKY);
		*count = take_pending(s, probes, max);
		s->rounds++;
		return BISECT_RUNNING;
	}
	if (s->probes >= s->cfg.max_probes)
		return finish(s, BISECT_FLAKY);
	/* k probes at the quantiles of the weight, or of the exact tree's parts. */
	unsigned k = s->cfg.k;
	size_t got = 0;
	double *targets = s->targets;
	exact_split_targets(s, k, targets);
	/* m(c) once per round: on a merged history each is a walk. */
	for (size_t c = 0; c < s->n; c++)
		s->mcache[c] = is_hyp(s, (uint32_t)c) && !s->skipped[c] ? mass_after(s, (uint32_t)c) : 0;
	for (unsigned j = 1; j <= k && got < max; j++) {
		double t = targets[j - 1];
		int64_t best = -1;
		double bestd = 2;
		for (size_t c = 0; c < s->n; c++) {
			if (!is_hyp(s, (uint32_t)c) || s->skipped[c])
				continue;
			double mc = s->mcache[c];
			if (mc <= EXACT_EPS || mc >= 1 - EXACT_EPS)
				continue;
			if (s->cfg.noise == 0) {
				int dup = 0;
				for (size_t q = 0; q < got; q++)
					dup |= probes[q] == c;
				if (dup)
					continue;
			}
			double d = fabs(mc - t);
			if (d < bestd) {
				bestd = d;
				best = (int64_t)c;
			}
			if (s->linear && mc > t)
				break; /* m grows along the chain: nothing further is nearer */
		}
		if (best >= 0)
			probes[got++] = (uint32_t)best;
	}
	if (got == 0) {
		/* Nothing probe-able splits the weight: what is left cannot be told apart. */
		s->conf = m;
		if (s->n_suspects > 1)
			return finish(s, BISECT_ONLY_SKIPPED);
		return finish(s, s->cfg.noise > 0 ? BISECT_FLAKY : BISECT_CULPRIT);
	}
	*count = got;
	s->rounds++;
	return BISECT_RUNNING;
}

void bisect_search_answer(struct bisect_search *s, uint32_t c, enum bisect_answer answer)
{
	if (c >= s->n || s->phase == PH_DONE)
		return;
	if (answer == BISECT_SKIP) {
		s->skipped[c] = 1;
		return;
	}
	s->probes++;
	s->runs[c]++;
	int is_bad = answer == BISECT_BAD;
	if (is_bad)
		s->bad[c]++;
	if (s->bad[c] && s->bad[c] < s->runs[c])
		s->disagreed = 1;
	/* Without noise, the confirmation runs are counted but do not move the weights. */
	if (s->phase == PH_CONFIRM && s->cfg.noise == 0)
		return;
	if (!is_hyp(s, c))
		return; /* a known-good commit descends from no hypothesis: every one predicts good */
	double fb = s->cfg.noise, fg = s->cfg.noise; /* wrong bad, wrong good: the same rate */
	uint32_t st = s->linear ? 0 : walk(s, c);
	for (size_t h = 0; h < s->n; h++) {
		if (!is_hyp(s, (uint32_t)h))
			continue;
		int predicts_bad = after(s, c, (uint32_t)h, st);
		double l = predicts_bad ? (is_bad ? 1 - fg : fg) : (is_bad ? fb : 1 - fb);
		s->w[h] *= l;
	}
	if (normalize(s) < 0)
		finish(s, BISECT_FLAKY); /* contradictory answers without noise */
}

void bisect_search_result(const struct bisect_search *s, struct bisect_search_result *res)
{
	memset(res, 0, sizeof(*res));
	res->verdict = s->phase == PH_DONE ? s->verdict : BISECT_RUNNING;
	res->culprit = -1;
	res->suspect = s->phase == PH_CONFIRM || s->cand >= 0 ? s->cand : s->top;
	if (res->verdict == BISECT_ONLY_SKIPPED || (res->verdict != BISECT_RUNNING && s->cand < 0))
		res->suspect = s->top;
	if (res->verdict == BISECT_CULPRIT)
		res->culprit = res->suspect;
	res->parent = first_parent(s, res->suspect);
	if (res->verdict == BISECT_ONLY_SKIPPED) {
		res->suspects = s->suspects;
		res->n_suspects = s->n_suspects;
	}
	res->confidence = s->cfg.noise > 0 ? s->conf : 1;
	res->rounds = s->rounds;
	res->probes = s->probes;
	res->disagreed = s->disagreed;
}

void bisect_search_counts(const struct bisect_search *s, uint32_t index, unsigned *runs, unsigned *bad)
{
	*runs = index < s->n ? s->runs[index] : 0;
	*bad = index < s->n ? s->bad[index] : 0;
}
