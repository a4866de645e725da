/* Unit tests of the planner: which jobs a change causes, their order and edges. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/plan.h"
#include "check_main.h"
#include "core/banned.h"

/* base <- net <- app, base <- dns <- app; app only on unix; tool alone. Packages on vm have a guest block. */
static const char text[] =
	"{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}, \"vm\": {\"runner\": \"vm\"}},"
	" \"packages\": ["
	"{\"name\": \"app\", \"repo\": \"r\", \"build\": \"b\", \"depends\": [\"net\", \"dns\"], \"targets\": [\"unix\"]},"
	"{\"name\": \"net\", \"repo\": \"r\", \"build\": \"b\", \"depends\": [\"base\"], \"guest\": {\"test\": \"t\", \"payload\": [\"t\"]}},"
	"{\"name\": \"tool\", \"repo\": \"r\", \"build\": \"b\", \"targets\": [\"vm\"], \"guest\": {\"test\": \"t\", \"payload\": [\"t\"]}},"
	"{\"name\": \"dns\", \"repo\": \"r\", \"build\": \"b\", \"depends\": [\"base\"], \"targets\": [\"vm\", \"unix\"], \"guest\": {\"test\": \"t\", \"payload\": [\"t\"]}},"
	"{\"name\": \"base\", \"repo\": \"r\", \"build\": \"b\", \"guest\": {\"test\": \"t\", \"payload\": [\"t\"]}}]}";

static struct rp_universe *u;
static struct graph g;

static void setup(void)
{
	struct rp_error err;
	ck_assert_int_eq(manifest_load_buffer(text, strlen(text), "m.json", &u, &err), 0);
	ck_assert_int_eq(graph_init_universe(&g, u, &err), 0);
}

static void teardown(void)
{
	graph_release(&g);
	manifest_free(u);
}

/* "pkg@target<-1,2" for each job, joined by spaces. */
static void describe(const struct plan *p, char *out, size_t size)
{
	size_t used = 0;
	out[0] = '\0';
	for (size_t j = 0; j < p->n_jobs; j++) {
		const struct plan_job *job = &p->jobs[j];
		used += (size_t)snprintf(out + used, size - used, "%s%s@%s%s", j ? " " : "",
					 u->packages[job->package].name, u->targets[job->target].name,
					 job->rev ? "*" : "");
		for (size_t k = 0; k < job->n_after; k++)
			used += (size_t)snprintf(out + used, size - used, "%c%zu", k ? ',' : '<', job->after[k] + 1);
	}
}

START_TEST(test_whole_universe)
{
	struct plan p;
	struct rp_error err;
	char got[512];
	ck_assert_int_eq(plan_build(u, &g, NULL, 0, &p, &err), 0);
	describe(&p, got, sizeof(got));
	ck_assert_str_eq(got, "base@unix base@vm dns@vm<2 dns@unix<1 net@unix<1 net@vm<2 app@unix<4,5 tool@vm");
	ck_assert_uint_eq(p.n_packages, 5);
	ck_assert_uint_eq(p.n_changed, 0);
	ck_assert_uint_eq(p.n_edges, 6);
	plan_release(&p);
}
END_TEST

START_TEST(test_change_low_library)
{
	struct plan p;
	struct rp_error err;
	struct plan_change change;
	char got[512];
	ck_assert_int_eq(plan_parse_change(u, "net=abc123", &change, &err), 0);
	ck_assert_str_eq(change.rev, "abc123");
	ck_assert_int_eq(plan_build(u, &g, &change, 1, &p, &err), 0);
	describe(&p, got, sizeof(got));
	/* app's dependency dns is outside the plan: it comes from the baseline. */
	ck_assert_str_eq(got, "net@unix* net@vm* app@unix<1");
	ck_assert_uint_eq(p.n_changed, 1);
	plan_release(&p);
}
END_TEST

START_TEST(test_two_changes)
{
	struct plan p;
	struct rp_error err;
	struct plan_change changes[2];
	char got[512];
	ck_assert_int_eq(plan_parse_change(u, "dns=v2", &changes[0], &err), 0);
	ck_assert_int_eq(plan_parse_change(u, "tool=x", &changes[1], &err), 0);
	ck_assert_int_eq(plan_build(u, &g, changes, 2, &p, &err), 0);
	describe(&p, got, sizeof(got));
	ck_assert_str_eq(got, "dns@vm* dns@unix* app@unix<2 tool@vm*");
	ck_assert_uint_eq(p.n_changed, 2);
	plan_release(&p);
}
END_TEST

START_TEST(test_change_errors)
{
	struct plan p;
	struct rp_error err;
	struct plan_change changes[2];
	ck_assert_int_eq(plan_parse_change(u, "nett=1", &changes[0], &err), RP_EINVAL);
	ck_assert_str_eq(err.msg, "--change \"nett=1\": no package \"nett\" in universe \"u\"; did you mean \"net\"?");
	ck_assert_int_eq(plan_parse_change(u, "net", &changes[0], &err), RP_EINVAL);
	ck_assert_str_eq(err.msg, "--change \"net\": expected PACKAGE=REVISION");
	ck_assert_int_eq(plan_parse_change(u, "net=", &changes[0], &err), RP_EINVAL);
	ck_assert_int_eq(plan_parse_change(u, "=x", &changes[0], &err), RP_EINVAL);
	ck_assert_int_eq(plan_parse_change(u, "net=a b", &changes[0], &err), RP_EINVAL);
	ck_assert_str_eq(err.msg, "--change net=...: the revision must be at most 255 printable ASCII characters "
				  "without spaces, such as a branch, a tag or a commit id");
	ck_assert_int_eq(plan_parse_change(u, "net=\xff", &changes[0], &err), RP_EINVAL);
	char long_rev[300] = "net=";
	memset(long_rev + 4, 'a', 256);
	long_rev[260] = '\0';
	ck_assert_int_eq(plan_parse_change(u, long_rev, &changes[0], &err), RP_EINVAL);
	long_rev[259] = '\0';
	ck_assert_int_eq(plan_parse_change(u, long_rev, &changes[0], &err), 0);
	ck_assert_int_eq(plan_parse_change(u, "net=a", &changes[0], &err), 0);
	ck_assert_int_eq(plan_parse_change(u, "net=b", &changes[1], &err), 0);
	ck_assert_int_eq(plan_build(u, &g, changes, 2, &p, &err), RP_EINVAL);
	ck_assert_str_eq(err.msg, "package \"net\" is changed twice, to \"a\" and to \"b\"");
	ck_assert_ptr_null(p.jobs);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("plan");
	TCase *tc = tcase_create("plan");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_whole_universe);
	tcase_add_test(tc, test_change_low_library);
	tcase_add_test(tc, test_two_changes);
	tcase_add_test(tc, test_change_errors);
	suite_add_tcase(s, tc);
	return check_run_suite(s);
}
