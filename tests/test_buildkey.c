/* Unit tests of build keys: every input matters, nothing else does. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buildkey.h"
#include "check_main.h"
#include "core/banned.h"

static const char manifest[] =
	"{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\", \"memory\": 2},"
	" \"unix2\": {\"runner\": \"sandbox\", \"memory\": 2}},"
	" \"packages\": ["
	"{\"name\": \"lib\", \"repo\": \"r\", \"build\": \"make install\", \"test\": \"make check\","
	" \"env\": {\"B\": \"2\", \"A\": \"1\"}, \"timeout\": 60},"
	"{\"name\": \"twin\", \"repo\": \"r\", \"build\": \"make install\", \"test\": \"make check\","
	" \"env\": {\"A\": \"1\", \"B\": \"2\"}, \"timeout\": 60}]}";

static const char tree[] = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
static const char out_a[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char out_b[] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
static const char out_c[] = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

static struct rp_universe *u;

static void setup(void)
{
	struct rp_error err;
	ck_assert_int_eq(manifest_load_buffer(manifest, strlen(manifest), "m.json", &u, &err), 0);
}

static void teardown(void)
{
	manifest_free(u);
}

static void key_of(const struct buildkey_input *in, char key[BUILDKEY_HEX_LEN + 1])
{
	struct rp_error err;
	ck_assert_msg(buildkey_compute(in, key, &err) == 0, "%s", err.msg);
	ck_assert(buildkey_is_hex(key));
}

static struct buildkey_input base_input(const struct buildkey_dep *deps, size_t n)
{
	struct buildkey_input in = { &u->packages[0], &u->targets[0], tree, "build", deps, n };
	return in;
}

START_TEST(test_same_inputs_same_key)
{
	struct buildkey_dep deps[] = { { "x", out_a }, { "y", out_b } };
	struct buildkey_dep swapped[] = { { "y", out_b }, { "x", out_a } };
	char k1[65], k2[65], k3[65];
	struct buildkey_input in = base_input(deps, 2);
	key_of(&in, k1);
	key_of(&in, k2);
	ck_assert_str_eq(k1, k2);
	in.deps = swapped; /* dependency order does not matter */
	key_of(&in, k3);
	ck_assert_str_eq(k1, k3);
}
END_TEST

/* Each mutation changes exactly one input; every one must give a new key, all distinct. */
START_TEST(test_every_input_changes_the_key)
{
	struct buildkey_dep deps[] = { { "x", out_a }, { "y", out_b } };
	struct buildkey_dep dep_output[] = { { "x", out_a }, { "y", out_c } };
	struct buildkey_dep dep_name[] = { { "x", out_a }, { "z", out_b } };
	struct buildkey_dep one_dep[] = { { "x", out_a } };
	enum { N = 15 };
	char keys[N][65];
	struct buildkey_input in = base_input(deps, 2);
	struct rp_package *p = &u->packages[0];
	int k = 0;
	key_of(&in, keys[k++]);

	in.tree_id = "4b825dc642cb6eb9a060e54bf8d69288fbee4905";
	key_of(&in, keys[k++]);
	in.tree_id = tree;

	in.variant = "coverage";
	key_of(&in, keys[k++]);
	in.variant = "build";

	in.deps = dep_output;
	key_of(&in, keys[k++]);
	in.deps = dep_name;
	key_of(&in, keys[k++]);
	in.deps = one_dep;
	in.n_deps = 1;
	key_of(&in, keys[k++]);
	in.deps = deps;
	in.n_deps = 2;

	in.target = &u->targets[1]; /* same configuration, other name */
	key_of(&in, keys[k++]);
	in.target = &u->targets[0];

	json_object_set_new(u->targets[0].options, "memory", json_integer(4));
	key_of(&in, keys[k++]);
	json_object_set_new(u->targets[0].options, "memory", json_integer(2));

	char *saved = p->build;
	p->build = "make install V=1";
	key_of(&in, keys[k++]);
	p->build = saved;

	saved = p->test;
	p->test = NULL; /* no test step differs from an empty one */
	key_of(&in, keys[k++]);
	p->test = saved;

	p->timeout = 61;
	key_of(&in, keys[k++]);
	p->timeout = 60;

	p->output_timeout = 7;
	key_of(&in, keys[k++]);
	p->output_timeout = MANIFEST_OUTPUT_TIMEOUT_DEFAULT;

	saved = p->env[1].value;
	p->env[1].value = "3";
	key_of(&in, keys[k++]);
	p->env[1].value = saved;

	saved = p->env[0].name;
	p->env[0].name = "C";
	key_of(&in, keys[k++]);
	p->env[0].name = saved;

	in.package = &u->packages[1]; /* same recipe, other name */
	key_of(&in, keys[k++]);
	in.package = p;

	ck_assert_int_eq(k, N);
	for (int i = 0; i < N; i++)
		for (int j = i + 1; j < N; j++)
			ck_assert_msg(strcmp(keys[i], keys[j]) != 0, "mutations %d and %d give the same key", i, j);
	char again[65];
	key_of(&in, again); /* everything restored */
	ck_assert_str_eq(again, keys[0]);
}
END_TEST

START_TEST(test_env_order_does_not_matter)
{
	/* "lib" and "twin" list their env in opposite orders; only the name differs. */
	char k1[65], k2[65];
	struct buildkey_input in = base_input(NULL, 0);
	key_of(&in, k1);
	char *name = u->packages[1].name;
	u->packages[1].name = u->packages[0].name;
	in.package = &u->packages[1];
	key_of(&in, k2);
	u->packages[1].name = name;
	ck_assert_str_eq(k1, k2);
}
END_TEST

/* Who is told about breakage is no input of a build: a notify block never changes a key. */
START_TEST(test_notify_does_not_change_the_key)
{
	static const char notified[] =
		"{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\", \"memory\": 2},"
		" \"unix2\": {\"runner\": \"sandbox\", \"memory\": 2}},"
		" \"packages\": ["
		"{\"name\": \"lib\", \"repo\": \"r\", \"build\": \"make install\", \"test\": \"make check\","
		" \"env\": {\"B\": \"2\", \"A\": \"1\"}, \"timeout\": 60,"
		" \"notify\": {\"webhook\": \"https://hooks.example.org/lib\"}},"
		"{\"name\": \"twin\", \"repo\": \"r\", \"build\": \"make install\", \"test\": \"make check\","
		" \"env\": {\"A\": \"1\", \"B\": \"2\"}, \"timeout\": 60}]}";
	struct buildkey_dep deps[] = { { "x", out_a } };
	struct rp_universe *v;
	struct rp_error err;
	char plain[65], with[65], other[65];
	ck_assert_int_eq(manifest_load_buffer(notified, strlen(notified), "n.json", &v, &err), 0);
	ck_assert_ptr_null(u->packages[0].notify_webhook);
	ck_assert_str_eq(v->packages[0].notify_webhook, "https://hooks.example.org/lib");
	struct buildkey_input in = base_input(deps, 1);
	key_of(&in, plain);
	in.package = &v->packages[0];
	in.target = &v->targets[0];
	key_of(&in, with);
	ck_assert_str_eq(plain, with);
	v->packages[0].notify_webhook = "http://elsewhere.example/";
	key_of(&in, other);
	ck_assert_str_eq(plain, other);
	manifest_free(v);
}
END_TEST

/* The fuzz engine makes other fuzz binaries; it is no input of the package's other builds. */
START_TEST(test_fuzz_engine_changes_only_the_fuzz_key)
{
	struct buildkey_dep deps[] = { { "x", out_a } };
	struct rp_package *p = &u->packages[0];
	char build_lf[65], build_afl[65], fuzz_lf[65], fuzz_afl[65];
	struct buildkey_input in = base_input(deps, 1);
	ck_assert_int_eq(p->fuzz_engine, RP_FUZZ_LIBFUZZER);
	key_of(&in, build_lf);
	in.variant = "fuzz";
	key_of(&in, fuzz_lf);
	p->fuzz_engine = RP_FUZZ_AFL;
	key_of(&in, fuzz_afl);
	in.variant = "build";
	key_of(&in, build_afl);
	p->fuzz_engine = RP_FUZZ_LIBFUZZER;
	ck_assert_str_ne(fuzz_lf, fuzz_afl);
	ck_assert_str_eq(build_lf, build_afl);
	ck_assert_str_ne(build_lf, fuzz_lf);
}
END_TEST

/*
 * On a target that boots a guest, every field of the guest block is an input;
 * on a unix target none is, since its jobs never run it.
 */
START_TEST(test_guest_changes_the_key)
{
	static const char guested[] =
		"{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}, \"vm\": {\"runner\": \"vm\"}},"
		" \"packages\": ["
		"{\"name\": \"lib\", \"repo\": \"r\", \"build\": \"make install\", \"test\": \"make check\","
		" \"guest\": {\"prepare\": \"make tests\", \"test\": \"./run-tests\","
		" \"payload\": [\"tests/test_*\", \"tests/data/*.bin\"]}}]}";
	enum { N = 8 };
	char keys[N][65], unix_key[65], again[65];
	char *payload_ab[] = { "ab" }, *payload_a_b[] = { "a", "b" };
	struct rp_universe *v;
	struct rp_error err;
	ck_assert_msg(manifest_load_buffer(guested, strlen(guested), "g.json", &v, &err) == 0, "%s", err.msg);
	struct rp_package *p = &v->packages[0];
	struct buildkey_input in = { p, &v->targets[1], tree, "build", NULL, 0 };
	int k = 0;
	key_of(&in, keys[k++]);

	char *saved = p->guest_test;
	p->guest_test = "./run-tests -v";
	key_of(&in, keys[k++]);
	p->guest_test = saved;

	saved = p->guest_prepare;
	p->guest_prepare = NULL; /* no prepare step differs from an empty one */
	key_of(&in, keys[k++]);
	p->guest_prepare = "make tests V=1";
	key_of(&in, keys[k++]);
	p->guest_prepare = saved;

	saved = p->guest_payload[1];
	p->guest_payload[1] = "tests/data/*";
	key_of(&in, keys[k++]);
	p->guest_payload[1] = saved;

	p->n_guest_payload = 1;
	key_of(&in, keys[k++]);
	p->n_guest_payload = 2;

	/* Patterns are counted and length-prefixed: ["ab"] and ["a", "b"] differ. */
	char **patterns = p->guest_payload;
	p->guest_payload = payload_ab;
	p->n_guest_payload = 1;
	key_of(&in, keys[k++]);
	p->guest_payload = payload_a_b;
	p->n_guest_payload = 2;
	key_of(&in, keys[k++]);
	p->guest_payload = patterns;

	ck_assert_int_eq(k, N);
	for (int i = 0; i < N; i++)
		for (int j = i + 1; j < N; j++)
			ck_assert_msg(strcmp(keys[i], keys[j]) != 0, "mutations %d and %d give the same key", i, j);
	key_of(&in, again); /* everything restored */
	ck_assert_str_eq(again, keys[0]);

	in.target = &v->targets[0];
	key_of(&in, unix_key);
	p->guest_test = "./run-tests -v";
	p->guest_prepare = NULL;
	p->n_guest_payload = 1;
	key_of(&in, again);
	ck_assert_str_eq(again, unix_key);
	manifest_free(v);
}
END_TEST

START_TEST(test_bad_inputs)
{
	struct buildkey_dep bad[] = { { "x", "not-a-hash" } };
	struct buildkey_dep twice[] = { { "x", out_a }, { "x", out_b } };
	struct rp_error err;
	char key[65];
	struct buildkey_input in = base_input(bad, 1);
	ck_assert_int_eq(buildkey_compute(&in, key, &err), RP_EINVAL);
	ck_assert_str_eq(err.msg, "build key of lib: dependency 1 has no valid output hash");
	in.deps = twice;
	in.n_deps = 2;
	ck_assert_int_eq(buildkey_compute(&in, key, &err), RP_EINVAL);
	ck_assert_str_eq(err.msg, "build key of lib: dependency x given twice");
	in = base_input(NULL, 0);
	in.tree_id = NULL;
	ck_assert_int_eq(buildkey_compute(&in, key, &err), RP_EINVAL);
	ck_assert(!buildkey_is_hex("ABCDEF"));
	ck_assert(!buildkey_is_hex(""));
	ck_assert(buildkey_is_hex(out_a));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("buildkey");
	TCase *tc = tcase_create("buildkey");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_same_inputs_same_key);
	tcase_add_test(tc, test_every_input_changes_the_key);
	tcase_add_test(tc, test_env_order_does_not_matter);
	tcase_add_test(tc, test_notify_does_not_change_the_key);
	tcase_add_test(tc, test_guest_changes_the_key);
	tcase_add_test(tc, test_fuzz_engine_changes_only_the_fuzz_key);
	tcase_add_test(tc, test_bad_inputs);
	suite_add_tcase(s, tc);
	return check_run_suite(s);
}
