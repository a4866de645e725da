/*
 * test_bisect.c — the bisect search as a pure state machine: exact answers on
 * linear and merged histories, k-ary rounds, skipped commits, contradictions,
 * and a flaky test simulated with a seeded generator.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bisect/bisect.h"
#include "check_main.h"
#include "core/banned.h"

/* A history: n candidates, parent lists, known-good flags. */
struct hist {
	size_t n;
	uint32_t pstart[64 + 2048];
	uint32_t parents[4096];
	uint8_t good[2048];
	size_t np;
};

static void hist_add(struct hist *h, int known_good, int p1, int p2)
{
	size_t i = h->n++;
	h->pstart[i] = (uint32_t)h->np;
	if (p1 >= 0)
		h->parents[h->np++] = (uint32_t)p1;
	if (p2 >= 0)
		h->parents[h->np++] = (uint32_t)p2;
	h->pstart[i + 1] = (uint32_t)h->np;
	h->good[i] = (uint8_t)known_good;
}

/* Boundary 0, then a chain 1..len. */
static void linear(struct hist *h, size_t len)
{
	memset(h, 0, sizeof(*h));
	hist_add(h, 1, -1, -1);
	for (size_t i = 1; i <= len; i++)
		hist_add(h, 0, (int)i - 1, -1);
}

/* Whether `a` is `c` or one of its ancestors. */
static int is_ancestor(const struct hist *h, uint32_t a, uint32_t c)
{
	if (a == c)
		return 1;
	for (uint32_t j = h->pstart[c]; j < h->pstart[c + 1]; j++)
		if (is_ancestor(h, a, h->parents[j]))
			return 1;
	return 0;
}

static uint64_t rng_state;
static double rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (double)(rng_state >> 11) * (1.0 / 9007199254740992.0);
}

struct outcome {
	enum bisect_verdict verdict;
	struct bisect_search_result res;
	unsigned probes, rounds;
};

/*
 * Runs a search against an oracle: commit c is bad when `culprit` is an
 * ancestor of it (culprit < 0: nothing is bad but the tip), answers flipped
 * with probability `flip` (or, `false_fail`, a good commit fails with that
 * probability), commits in skip[] answer skip.
 */
static struct outcome simulate(const struct hist *h, const struct bisect_search_config *cfg, int culprit,
			       double flip, double false_fail, const uint8_t *skip,
			       struct bisect_search **keep)
{
	struct bisect_search *s;
	struct rp_error err;
	ck_assert_int_eq(bisect_search_new(h->n, h->pstart, h->parents, h->good, cfg, &s, &err), 0);
	uint32_t probes[64];
	size_t count;
	struct outcome o;
	memset(&o, 0, sizeof(o));
	while ((o.verdict = bisect_search_next(s, probes, cfg->k, &count)) == BISECT_RUNNING) {
		ck_assert_uint_gt(count, 0);
		ck_assert_uint_le(count, cfg->k);
		ck_assert_uint_lt(o.rounds, 10000);
		o.rounds++;
		for (size_t i = 0; i < count; i++) {
			uint32_t c = probes[i];
			if (skip && skip[c]) {
				bisect_search_answer(s, c, BISECT_SKIP);
				continue;
			}
			int bad = culprit >= 0 ? is_ancestor(h, (uint32_t)culprit, c) : c == h->n - 1;
			if (flip > 0 && rnd() < flip)
				bad = !bad;
			if (false_fail > 0 && !bad && rnd() < false_fail)
				bad = 1;
			bisect_search_answer(s, c, bad ? BISECT_BAD : BISECT_GOOD);
			o.probes++;
		}
	}
	bisect_search_result(s, &o.res);
	if (keep)
		*keep = s;
	else
		bisect_search_free(s);
	return o;
}

static unsigned ceil_log(size_t n, unsigned base)
{
	unsigned r = 0;
	size_t x = 1;
	while (x < n) {
		x *= base;
		r++;
	}
	return r;
}

START_TEST(exact_linear_every_position)
{
	static const size_t lens[] = {1, 2, 3, 17, 1000};
	static const unsigned ks[] = {1, 2, 4, 7};
	struct hist *h = malloc(sizeof(*h));
	for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
		size_t len = lens[li];
		linear(h, len);
		for (size_t ki = 0; ki < sizeof(ks) / sizeof(ks[0]); ki++) {
			struct bisect_search_config cfg = {.k = ks[ki]};
			for (size_t c = 1; c <= len; c += len > 40 ? 37 : 1) {
				struct outcome o = simulate(h, &cfg, (int)c, 0, 0, NULL, NULL);
				ck_assert_int_eq(o.verdict, BISECT_CULPRIT);
				ck_assert_int_eq(o.res.culprit, (int64_t)c);
				ck_assert_int_eq(o.res.parent, (int64_t)c - 1);
				/* k probes per round split the range in k+1: ceil(log_{k+1}(len)) rounds. */
				ck_assert_uint_le(o.rounds, ceil_log(len, ks[ki] + 1));
				if (ks[ki] == 1)
					ck_assert_uint_le(o.probes, ceil_log(len, 2));
			}
			struct outcome o = simulate(h, &cfg, (int)len, 0, 0, NULL, NULL);
			ck_assert_int_eq(o.res.culprit, (int64_t)len);
		}
	}
	free(h);
}
END_TEST

/*
 * Without noise, n hypotheses need r = ceil(log_{k+1} n) rounds, and the best
 * tree finds (k+1)^(r-1) - ceil((n - (k+1)^(r-1)) / k) of them in r - 1: the
 * search must reach that count exactly, never take more than r.
 */
START_TEST(exact_rounds_as_the_best_tree)
{
	static const size_t lens[] = {2, 5, 17, 100, 125, 1024};
	static const unsigned ks[] = {1, 2, 4, 7};
	struct hist *h = malloc(sizeof(*h));
	for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
		size_t len = lens[li];
		linear(h, len);
		for (size_t ki = 0; ki < sizeof(ks) / sizeof(ks[0]); ki++) {
			unsigned b = ks[ki] + 1, r = ceil_log(len, b);
			size_t below = 1;
			for (unsigned i = 1; i < r; i++)
				below *= b;
			size_t expect_early = below - (len - below + b - 2) / (b - 1);
			struct bisect_search_config cfg = {.k = ks[ki]};
			size_t early = 0;
			for (size_t c = 1; c <= len; c++) {
				struct outcome o = simulate(h, &cfg, (int)c, 0, 0, NULL, NULL);
				ck_assert_int_eq(o.res.culprit, (int64_t)c);
				ck_assert_uint_le(o.rounds, r);
				early += o.rounds < r;
			}
			ck_assert_msg(early == expect_early, "%zu commits, k = %u: %zu found in %u rounds, not %zu",
				      len, ks[ki], early, r - 1, expect_early);
		}
	}
	free(h);
}
END_TEST

/*
 *   0 (good) - 1 - 2 ------ 6 (merge 2 + 5) - 7 (bad)
 *               \          /
 *                3 - 4 - 5
 */
static void merged(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	hist_add(h, 1, -1, -1); /* 0 */
	hist_add(h, 0, 0, -1);	/* 1 */
	hist_add(h, 0, 1, -1);	/* 2 */
	hist_add(h, 0, 1, -1);	/* 3 side */
	hist_add(h, 0, 3, -1);	/* 4 */
	hist_add(h, 0, 4, -1);	/* 5 */
	hist_add(h, 0, 2, 5);	/* 6 merge */
	hist_add(h, 0, 6, -1);	/* 7 */
}

START_TEST(exact_merges)
{
	struct hist *h = malloc(sizeof(*h));
	merged(h);
	for (unsigned k = 1; k <= 4; k++) {
		struct bisect_search_config cfg = {.k = k};
		for (int c = 1; c <= 7; c++) {
			struct outcome o = simulate(h, &cfg, c, 0, 0, NULL, NULL);
			ck_assert_int_eq(o.verdict, BISECT_CULPRIT);
			ck_assert_int_eq(o.res.culprit, c);
		}
	}
	/* First parents only: the side branch is invisible and the merge is blamed. */
	struct hist *fp = malloc(sizeof(*fp));
	memset(fp, 0, sizeof(*fp));
	hist_add(fp, 1, -1, -1); /* 0 */
	hist_add(fp, 0, 0, -1);	 /* 1 */
	hist_add(fp, 0, 1, -1);	 /* 2 */
	hist_add(fp, 0, 2, -1);	 /* merge, first parent 2 */
	hist_add(fp, 0, 3, -1);	 /* tip */
	struct bisect_search_config cfg = {.k = 2};
	struct outcome o = simulate(fp, &cfg, 3, 0, 0, NULL, NULL);
	ck_assert_int_eq(o.res.culprit, 3);
	free(fp);
	free(h);
}
END_TEST

START_TEST(skipped_neighbours)
{
	struct hist *h = malloc(sizeof(*h));
	uint8_t skip[64];
	linear(h, 30);
	struct bisect_search_config cfg = {.k = 1};
	/* Skipped commits next to a testable culprit are worked around. */
	memset(skip, 0, sizeof(skip));
	skip[12] = skip[13] = skip[16] = skip[17] = 1;
	struct outcome o = simulate(h, &cfg, 15, 0, 0, skip, NULL);
	ck_assert_int_eq(o.verdict, BISECT_CULPRIT);
	ck_assert_int_eq(o.res.culprit, 15);
	/* Only skipped commits between the last good (11) and the first bad (17). */
	memset(skip, 0, sizeof(skip));
	for (int i = 12; i <= 16; i++)
		skip[i] = 1;
	for (unsigned k = 1; k <= 4; k += 3) {
		cfg.k = k;
		struct bisect_search *s;
		o = simulate(h, &cfg, 15, 0, 0, skip, &s);
		ck_assert_int_eq(o.verdict, BISECT_ONLY_SKIPPED);
		ck_assert_int_eq(o.res.culprit, -1);
		ck_assert_uint_eq(o.res.n_suspects, 6);
		for (size_t i = 0; i < 6; i++)
			ck_assert_uint_eq(o.res.suspects[i], 12 + i);
		bisect_search_free(s);
	}
	free(h);
}
END_TEST

START_TEST(contradictions_without_noise_are_flaky)
{
	struct hist *h = malloc(sizeof(*h));
	linear(h, 8);
	struct bisect_search_config cfg = {.k = 3};
	struct bisect_search *s;
	struct rp_error err;
	ck_assert_int_eq(bisect_search_new(h->n, h->pstart, h->parents, h->good, &cfg, &s, &err), 0);
	uint32_t p[3];
	size_t count;
	ck_assert_int_eq(bisect_search_next(s, p, 3, &count), BISECT_RUNNING);
	ck_assert_uint_eq(count, 3);
	ck_assert_uint_lt(p[0], p[2]);
	/* An earlier commit bad and a later one good: no first bad commit explains both. */
	bisect_search_answer(s, p[0], BISECT_BAD);
	bisect_search_answer(s, p[1], BISECT_BAD);
	bisect_search_answer(s, p[2], BISECT_GOOD);
	ck_assert_int_eq(bisect_search_next(s, p, 3, &count), BISECT_FLAKY);
	ck_assert_uint_eq(count, 0);
	bisect_search_free(s);
	free(h);
}
END_TEST

START_TEST(retries_confirm_without_noise)
{
	struct hist *h = malloc(sizeof(*h));
	linear(h, 100);
	struct bisect_search_config cfg = {.k = 2, .noise = 0.1, .confidence = 0.995, .retries = 3};
	struct bisect_search *s;
	struct outcome o = simulate(h, &cfg, 42, 0, 0, NULL, &s);
	ck_assert_int_eq(o.verdict, BISECT_CULPRIT);
	ck_assert_int_eq(o.res.culprit, 42);
	unsigned runs, bad;
	bisect_search_counts(s, 42, &runs, &bad);
	ck_assert_uint_ge(runs, 3);
	ck_assert_uint_eq(bad, runs);
	bisect_search_counts(s, 41, &runs, &bad);
	ck_assert_uint_ge(runs, 3);
	ck_assert_uint_eq(bad, 0);
	ck_assert(!o.res.disagreed);
	bisect_search_free(s);
	free(h);
}
END_TEST

/* 1,024 commits, answers wrong 5% of the time: git's trust-everything search against ripple's. */
START_TEST(noisy_search_is_right)
{
	struct hist *h = malloc(sizeof(*h));
	linear(h, 1024);
	rng_state = 0x9e3779b97f4a7c15ull;
	unsigned trials = 200, right = 0, wrong = 0, exact_right = 0;
	unsigned long probes = 0;
	for (unsigned t = 0; t < trials; t++) {
		int c = 1 + (int)(rnd() * 1024);
		struct bisect_search_config plain = {.k = 1};
		struct outcome g = simulate(h, &plain, c, 0.05, 0, NULL, NULL);
		exact_right += g.verdict == BISECT_CULPRIT && g.res.culprit == c;
		struct bisect_search_config cfg = {.k = 1, .noise = 0.1, .confidence = 0.995, .retries = 3};
		struct outcome o = simulate(h, &cfg, c, 0.05, 0, NULL, NULL);
		if (o.verdict == BISECT_CULPRIT && o.res.culprit == c)
			right++;
		else if (o.verdict == BISECT_CULPRIT)
			wrong++;
		probes += o.probes;
	}
	ck_assert_uint_eq(wrong, 0);
	ck_assert_uint_ge(right, trials * 99 / 100);
	ck_assert_uint_lt(exact_right, trials * 80 / 100);
	ck_assert_uint_le(probes / trials, 26); /* 2.5 x the 10 of plain bisection, and a little noise */
	free(h);
}
END_TEST

/*
 * Answers flipped 20% of the time, twice the noise the search assumes: the
 * confirmation is inconclusive at first and must run more (a sequential
 * test) rather than give up, and still never name a wrong commit.
 */
START_TEST(very_noisy_search_runs_more)
{
	struct hist *h = malloc(sizeof(*h));
	linear(h, 1024);
	rng_state = 0x2545f4914f6cdd1dull;
	unsigned trials = 200, right = 0, wrong = 0;
	for (unsigned t = 0; t < trials; t++) {
		int c = 1 + (int)(rnd() * 1024);
		struct bisect_search_config cfg = {.k = 1, .noise = 0.1, .confidence = 0.995, .retries = 3};
		struct outcome o = simulate(h, &cfg, c, 0.2, 0, NULL, NULL);
		if (o.verdict == BISECT_CULPRIT && o.res.culprit == c)
			right++;
		else if (o.verdict == BISECT_CULPRIT)
			wrong++;
	}
	ck_assert_uint_eq(wrong, 0);
	ck_assert_uint_ge(right, trials * 95 / 100);
	free(h);
}
END_TEST

/* A test that fails 20% of the time everywhere: no commit may be named. */
START_TEST(flaky_everywhere_names_nobody)
{
	struct hist *h = malloc(sizeof(*h));
	linear(h, 64);
	rng_state = 12345;
	unsigned named = 0, trials = 100;
	for (unsigned t = 0; t < trials; t++) {
		struct bisect_search_config cfg = {.k = 2, .noise = 0.1, .confidence = 0.995, .retries = 3};
		struct outcome o = simulate(h, &cfg, -1, 0, 0.2, NULL, NULL);
		named += o.verdict == BISECT_CULPRIT && o.res.culprit != 64;
	}
	ck_assert_uint_le(named, 2);
	free(h);
}
END_TEST

START_TEST(bad_configurations)
{
	struct hist *h = malloc(sizeof(*h));
	linear(h, 4);
	struct bisect_search *s = NULL;
	struct rp_error err;
	struct bisect_search_config cfg = {.k = 0};
	ck_assert_int_eq(bisect_search_new(h->n, h->pstart, h->parents, h->good, &cfg, &s, &err), RP_EINVAL);
	cfg.k = 1;
	cfg.noise = 0.6;
	ck_assert_int_eq(bisect_search_new(h->n, h->pstart, h->parents, h->good, &cfg, &s, &err), RP_EINVAL);
	cfg.noise = 0;
	h->parents[0] = 3; /* candidate 1's parent after it */
	ck_assert_int_eq(bisect_search_new(h->n, h->pstart, h->parents, h->good, &cfg, &s, &err), RP_EINVAL);
	ck_assert_ptr_null(s);
	ck_assert_ptr_nonnull(strstr(err.msg, "does not come before it"));
	free(h);
}
END_TEST

START_TEST(exit_statuses_as_git)
{
	ck_assert_int_eq(bisect_exit_meaning(0), BISECT_EXIT_GOOD);
	for (int st = 1; st <= 124; st++)
		ck_assert_int_eq(bisect_exit_meaning(st), BISECT_EXIT_BAD);
	ck_assert_int_eq(bisect_exit_meaning(125), BISECT_EXIT_SKIP);
	ck_assert_int_eq(bisect_exit_meaning(126), BISECT_EXIT_BAD);
	ck_assert_int_eq(bisect_exit_meaning(127), BISECT_EXIT_BAD);
	ck_assert_int_eq(bisect_exit_meaning(128), BISECT_EXIT_ABORT);
	ck_assert_int_eq(bisect_exit_meaning(255), BISECT_EXIT_ABORT);
	ck_assert_int_eq(bisect_exit_meaning(-1), BISECT_EXIT_ABORT);
	ck_assert_str_eq(bisect_verdict_name(BISECT_ONLY_SKIPPED), "only-skipped");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bisect");
	TCase *tc = tcase_create("search");
	tcase_add_test(tc, exact_linear_every_position);
	tcase_add_test(tc, exact_rounds_as_the_best_tree);
	tcase_add_test(tc, exact_merges);
	tcase_add_test(tc, skipped_neighbours);
	tcase_add_test(tc, contradictions_without_noise_are_flaky);
	tcase_add_test(tc, retries_confirm_without_noise);
	tcase_add_test(tc, noisy_search_is_right);
	tcase_add_test(tc, very_noisy_search_runs_more);
	tcase_add_test(tc, flaky_everywhere_names_nobody);
	tcase_add_test(tc, bad_configurations);
	tcase_add_test(tc, exit_statuses_as_git);
	suite_add_tcase(s, tc);
	return check_run_suite(s);
}
