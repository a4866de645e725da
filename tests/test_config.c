/*
 * test_config.c — the scheduler's configuration file: defaults, every kind
 * of setting, secrets read from files, and errors that name the line and
 * column of what is wrong.
 */
#include "scheduler/config.h"

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "core/banned.h"

static char dir[PATH_MAX];

static void setup(void)
{
	check_tmpdir_make(dir, "config");
}

static void teardown(void)
{
	check_tmpdir_remove(dir);
}

static void write_file(const char *name, const char *text)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fputs(text, fp);
	fclose(fp);
}

/* Loads `text` as dir/ripple-serve.json; returns the code, fills *c on success and err. */
static int load(const char *text, struct serve_config **c, struct rp_error *err)
{
	char path[PATH_MAX + 64];
	write_file("ripple-serve.json", text);
	snprintf(path, sizeof(path), "%s/ripple-serve.json", dir);
	return config_load_file(path, c, err);
}

/* The error's text after "FILE:", so tests need not know the temporary directory. */
static const char *after_file(const struct rp_error *err)
{
	const char *p = strstr(err->msg, "ripple-serve.json:");
	return p ? p + strlen("ripple-serve.json:") : err->msg;
}

START_TEST(test_defaults)
{
	struct serve_config *c;
	struct rp_error err;
	ck_assert_int_eq(load("{}", &c, &err), 0);
	ck_assert_int_eq(c->lease_seconds, 30);
	ck_assert_int_eq(c->flaky_retries, 3);
	ck_assert_int_eq(c->nightly_enabled, 0);
	ck_assert_int_eq(c->history_daily, 60);
	ck_assert_int_eq(c->history_weekly, 52);
	ck_assert_int_eq(c->history_monthly, 36);
	ck_assert_int_eq(c->bisect_auto, 1);
	ck_assert_int_eq(c->bisect_probes, 4);
	ck_assert_ptr_null(c->public_url);
	for (int k = 0; k < CONFIG_N_FORGES; k++)
		ck_assert_int_eq(c->forges[k].enabled, 0);
	config_free(c);
}
END_TEST

START_TEST(test_full_file)
{
	struct serve_config *c;
	struct rp_error err = { .msg = "" };
	write_file("gh-token", "tok-123\n");
	write_file("gh-secret", "s3cret\r\nignored second line\n");
	int rc = load("{\"public_url\": \"https://ci.example.org/\", \"lease_seconds\": 12, \"flaky_retries\": 5,\n"
		      " \"auth\": {\"public_read\": true, \"api_token_file\": \"api\"},\n"
		      " \"nightly\": {\"at\": \"03:45\", \"every_hours\": 12},\n"
		      " \"history\": {\"daily\": 7}, \"bisect\": {\"auto\": false, \"probes\": 8},\n"
		      " \"forges\": {\"github\": {\"api_url\": \"https://api.github.com\", \"token_file\": \"gh-token\",\n"
		      "   \"webhook_secret_file\": \"gh-secret\"}}}",
		      &c, &err);
	ck_assert_msg(rc == 0, "%s", err.msg);
	ck_assert_str_eq(c->public_url, "https://ci.example.org");
	ck_assert_int_eq(c->lease_seconds, 12);
	ck_assert_int_eq(c->flaky_retries, 5);
	ck_assert_int_eq(c->public_read, 1);
	ck_assert_ptr_nonnull(strstr(c->api_token_file, "/api"));
	ck_assert_int_eq(c->api_token_file[0], '/'); /* relative to the file's directory */
	ck_assert_int_eq(c->nightly_enabled, 1);
	ck_assert_int_eq(c->nightly_hour, 3);
	ck_assert_int_eq(c->nightly_minute, 45);
	ck_assert_int_eq(c->nightly_every_hours, 12);
	ck_assert_int_eq(c->history_daily, 7);
	ck_assert_int_eq(c->bisect_auto, 0);
	ck_assert_int_eq(c->bisect_probes, 8);
	ck_assert_int_eq(c->forges[CONFIG_GITHUB].enabled, 1);
	ck_assert_str_eq(c->forges[CONFIG_GITHUB].api_url, "https://api.github.com");
	ck_assert_str_eq(c->forges[CONFIG_GITHUB].token, "tok-123");
	ck_assert_str_eq(c->forges[CONFIG_GITHUB].secret, "s3cret");
	ck_assert_int_eq(c->forges[CONFIG_GITLAB].enabled, 0);
	config_free(c);
}
END_TEST

/* Each case: a file, and the exact position and words of its error. */
START_TEST(test_errors)
{
	static const struct {
		const char *text, *error;
	} cases[] = {
		{ "{\"lease_secs\": 3}",
		  "1:2: unknown key \"lease_secs\" (did you mean \"lease_seconds\"?); expected one of public_url, "
		  "lease_seconds, flaky_retries, auth, nightly, history, retention, bisect, forges" },
		{ "{\"retention\": {\"logs_days\": -1}}", "1:29: retention.logs_days: expected days from 0 (keep) to 36500" },
		{ "{\n  \"flaky_retries\": 0}", "2:20: flaky_retries: expected runs from 1 to 20" },
		{ "{\"bisect\": {\"probes\": 0}}", "1:23: bisect.probes: expected commits from 1 to 32" },
		{ "{\"auth\": {\"public_read\": \"yes\"}}", "1:26: auth.public_read: expected true or false" },
		{ "{\"nightly\": {\"at\": \"25:00\"}}", "1:20: nightly.at: expected a time of day \"HH:MM\"" },
		{ "{\"nightly\": {\"at\": \"2:00\"}}", "1:20: nightly.at: expected a time of day \"HH:MM\"" },
		{ "{\"nightly\": 3}", "1:13: nightly: expected an object" },
		{ "{\"public_url\": \"ftp://x\"}",
		  "1:16: public_url: \"ftp://x\" is not an http(s) URL; expected the URL users reach the dashboard at" },
		{ "{\"forges\": {\"gitbub\": {}}}",
		  "1:13: unknown key \"gitbub\" (did you mean \"github\"?); expected one of github, gitlab, gitea" },
		{ "{\"forges\": {\"gitea\": {\"token_file\": \"x\"}}}", NULL /* checked below: unreadable file */ },
		{ "{\"forges\": {\"gitlab\": {}}}", "1:23: forges.gitlab: missing api_url; expected the forge's API URL" },
		{ "{\"a\": 1, \"a\": 2}", NULL /* duplicate keys: jansson's message */ },
		{ "[1]", "1:1: the configuration: expected an object" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct serve_config *c = (struct serve_config *)1;
		struct rp_error err = { .msg = "" };
		int rc = load(cases[i].text, &c, &err);
		ck_assert_msg(rc == RP_EINVAL, "case %zu: %d", i, rc);
		ck_assert_ptr_null(c);
		ck_assert_msg(strchr(err.msg, '\n') == NULL, "case %zu: not one line", i);
		if (cases[i].error)
			ck_assert_msg(strcmp(after_file(&err), cases[i].error) == 0, "case %zu: %s", i, err.msg);
		else
			ck_assert_msg(strstr(err.msg, "ripple-serve.json:1:") != NULL, "case %zu: %s", i, err.msg);
	}
}
END_TEST

START_TEST(test_secret_files)
{
	struct serve_config *c;
	struct rp_error err = { .msg = "" };
	write_file("empty", "");
	ck_assert_int_eq(load("{\"forges\": {\"gitea\": {\"api_url\": \"http://g/api/v1\", \"webhook_secret_file\": "
			      "\"empty\"}}}",
			      &c, &err),
			 RP_EINVAL);
	ck_assert_msg(strstr(err.msg, "is empty; expected the secret on its first line") != NULL, "%s", err.msg);
	ck_assert_int_eq(load("{\"forges\": {\"gitea\": {\"api_url\": \"http://g/api/v1\", \"token_file\": "
			      "\"missing\"}}}",
			      &c, &err),
			 RP_EINVAL);
	ck_assert_msg(strstr(err.msg, "cannot read") != NULL && strstr(err.msg, "expected a readable file"), "%s",
		      err.msg);
	/* A secret never shows in an error, even when the file around it is wrong. */
	write_file("sec", "do-not-print-me\n");
	ck_assert_int_eq(load("{\"forges\": {\"gitea\": {\"webhook_secret_file\": \"sec\", \"api_url\": 7}}}", &c,
			      &err),
			 RP_EINVAL);
	ck_assert_ptr_null(strstr(err.msg, "do-not-print-me"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_full_file);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_secret_files);
	suite_add_tcase(s, tc);
	return check_run_suite(s);
}
