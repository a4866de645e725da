/*
 * Unit tests of the forge client (scheduler/forge.h) against a fake forge:
 * tests/fake_forge/fake_forge.py, a real HTTP server on 127.0.0.1 that speaks
 * GitHub's, GitLab's and Gitea's status and comment endpoints, records every
 * request it gets, and answers 500 or rate-limits when told to. One fake per
 * test, started by the checked fixture; the script's path comes from
 * RIPPLE_FAKE_FORGE (tests/CMakeLists.txt). Most tests run once per forge.
 */
#define _GNU_SOURCE /* prctl, pipe2 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/http_client.h"
#include "scheduler/forge.h"
#include "check_main.h"
#include "core/banned.h"

#define TOKEN "fake-forge-token-8f3a1c"
#define WRONG_TOKEN "wrong-secret-token-77d2e9"
#define SHA "0123456789abcdef0123456789abcdef01234567"
#define REPO "acme/widget"
#define PR 7
#define MARKER FORGE_MARKER_DEFAULT
#define RUN_URL "https://ripple.example/runs/41"

/* What each forge looks like on the wire. */
struct kind_case {
	enum forge_kind kind;
	const char *name;
	const char *api;	/* the API root's path on the fake */
	const char *repo_path;	/* REPO as its paths spell it */
	const char *auth_name;	/* the header carrying the token, lower case */
	const char *auth_value; /* its value */
	const char *context_key;
	const char *pending, *running, *failure, *cancelled;
	const char *edit_method;
	const char *root;      /* "/repos/" or "/projects/" */
	const char *list_tail; /* the PR's comments, after the repository */
	const char *edit_tail; /* one comment, after the repository; then its id */
	int paginated;
	size_t description_max;
	const char *rate_limit_control; /* makes the fake refuse everything for 1 s */
	int rate_limit_status;
};

static const struct kind_case cases[] = {
    {FORGE_GITHUB, "github", "", "acme/widget", "authorization", "Bearer " TOKEN, "context", "pending",
     "pending", "failure", "error", "PATCH", "/repos/", "/issues/7/comments", "/issues/comments/", 1, 140,
     "{\"rate_limit\": {\"seconds\": 1}}", 403},
    {FORGE_GITLAB, "gitlab", "/api/v4", "acme%2Fwidget", "private-token", TOKEN, "name", "pending", "running",
     "failed", "canceled", "PUT", "/projects/", "/merge_requests/7/notes", "/merge_requests/7/notes/", 1, 255,
     /* no Retry-After: RateLimit-Reset alone must be honored */
     "{\"rate_limit\": {\"seconds\": 1, \"retry_after\": false}}", 429},
    {FORGE_GITEA, "gitea", "/api/v1", "acme/widget", "authorization", "token " TOKEN, "context", "pending",
     "pending", "failure", "error", "PATCH", "/repos/", "/issues/7/comments", "/issues/comments/", 0, 255,
     "{\"rate_limit\": {\"seconds\": 1}}", 429},
};

static char root[PATH_MAX];
static char log_path[PATH_MAX + 64];
static char fake_url[64];
static pid_t fake_pid;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the fake forge's life ------------------------------------------------------------ */

static void fake_start(void)
{
	const char *script = getenv("RIPPLE_FAKE_FORGE");
	ck_assert_msg(script && *script, "RIPPLE_FAKE_FORGE is not set (tests/CMakeLists.txt sets it)");
	check_tmpdir_make(root, "forge");
	snprintf(log_path, sizeof(log_path), "%s/requests.jsonl", root);
	char port_file[PATH_MAX + 64], parent[32];
	snprintf(port_file, sizeof(port_file), "%s/port", root);
	snprintf(parent, sizeof(parent), "%ld", (long)getpid());
	int fds[2];
	ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* The fake dies with the test process, even when a failed assertion ends it early. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(fds[1], STDOUT_FILENO);
		execlp("python3", "python3", script, "--token", TOKEN, "--log", log_path, "--port-file",
		       port_file, "--parent-pid", parent, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	fake_pid = pid;
	/* Readiness: the fake prints its port once it listens. No sleep: a read with a bound. */
	char line[32] = "";
	size_t len = 0;
	uint64_t until = now_ms() + 20000;
	while (len < sizeof(line) - 1 && !memchr(line, '\n', len)) {
		struct pollfd p = {.fd = fds[0], .events = POLLIN};
		int left = (int)(until > now_ms() ? until - now_ms() : 0);
		ck_assert_msg(left > 0 && poll(&p, 1, left) == 1,
			      "the fake forge did not say its port in 20 s");
		ssize_t n = read(fds[0], line + len, sizeof(line) - 1 - len);
		ck_assert_msg(n > 0, "the fake forge exited before listening (python3 missing?)");
		len += (size_t)n;
		line[len] = '\0';
	}
	close(fds[0]);
	long port = strtol(line, NULL, 10);
	ck_assert_int_gt(port, 0);
	snprintf(fake_url, sizeof(fake_url), "http://127.0.0.1:%ld", port);
}

static void fake_stop(void)
{
	int status;
	ck_assert_int_eq(kill(fake_pid, SIGTERM), 0);
	ck_assert_int_eq(waitpid(fake_pid, &status, 0), fake_pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the fake forge ended badly (%d)",
		      status);
	check_tmpdir_remove(root);
}

/* Tells the fake something (POST /_control). */
static void control(const char *json)
{
	struct http_client_options o = {.base_url = fake_url};
	struct http_client *c;
	struct rp_error err;
	ck_assert_msg(http_client_new(&o, &c, &err) == 0, "%s", err.msg);
	struct http_request req = {
	    .method = "POST", .path = "/_control", .body = json, .body_len = strlen(json)};
	ck_assert_msg(http_request(c, &req, NULL, &err) == 200, "control %s: %s", json, err.msg);
	http_client_free(c);
}

/* The fake's state: {"statuses": [...], "comments": [...]}; a new reference. */
static json_t *fake_state(void)
{
	struct http_client_options o = {.base_url = fake_url};
	struct http_client *c;
	struct rp_error err;
	json_t *doc;
	ck_assert_int_eq(http_client_new(&o, &c, &err), 0);
	struct http_request req = {.method = "GET", .path = "/_control/state"};
	ck_assert_msg(http_request_json(c, &req, NULL, NULL, &doc, &err) == 200, "%s", err.msg);
	http_client_free(c);
	return doc;
}

/* Every request the fake recorded, in order; a new reference. */
static json_t *fake_log(void)
{
	json_t *all = json_array();
	FILE *f = fopen(log_path, "r");
	if (!f)
		return all; /* nothing received yet */
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0) {
		json_error_t jerr;
		json_t *e = json_loads(line, 0, &jerr);
		ck_assert_msg(e, "bad log line: %s", jerr.text);
		json_array_append_new(all, e);
	}
	free(line);
	fclose(f);
	return all;
}

static const char *str(json_t *doc, const char *key)
{
	return json_string_value(json_object_get(doc, key));
}

/* The recorded requests with this method and path (the fake's raw path); a new reference. */
static json_t *requests(const char *method, const char *path)
{
	json_t *all = fake_log(), *out = json_array();
	size_t i;
	json_t *e;
	json_array_foreach(all, i, e)
	{
		if (strcmp(str(e, "method"), method) == 0 && strcmp(str(e, "path"), path) == 0)
			json_array_append(out, e);
	}
	json_decref(all);
	return out;
}

static size_t log_size(void)
{
	json_t *all = fake_log();
	size_t n = json_array_size(all);
	json_decref(all);
	return n;
}

/* ---- clients and paths ---------------------------------------------------------------------- */

static struct forge_client *client_with(const struct kind_case *k, const char *url, const char *token,
					uint64_t deadline_ms, const volatile sig_atomic_t *stop)
{
	char api[128];
	snprintf(api, sizeof(api), "%s%s", url, k->api);
	struct forge_config cfg = {
	    .kind = k->kind,
	    .api_url = api,
	    .token = token,
	    .deadline_ms = deadline_ms,
	    .stop = stop,
	    .retry_base_ms = 50, /* quick tests; the default is 500 */
	    .retry_cap_ms = 400,
	};
	struct forge_client *f;
	struct rp_error err;
	ck_assert_msg(forge_client_new(&cfg, &f, &err) == 0, "%s", err.msg);
	return f;
}

static struct forge_client *client(const struct kind_case *k)
{
	return client_with(k, fake_url, TOKEN, 20000, NULL);
}

static const char *status_path(const struct kind_case *k)
{
	static char p[256];
	snprintf(p, sizeof(p), "%s%s%s/statuses/%s", k->api, k->root, k->repo_path, SHA);
	return p;
}

static const char *list_path(const struct kind_case *k)
{
	static char p[256];
	snprintf(p, sizeof(p), "%s%s%s%s", k->api, k->root, k->repo_path, k->list_tail);
	return p;
}

static const char *edit_path(const struct kind_case *k, int64_t id)
{
	static char p[256];
	snprintf(p, sizeof(p), "%s%s%s%s%" PRId64, k->api, k->root, k->repo_path, k->edit_tail, id);
	return p;
}

static void seed(const struct kind_case *k, const char *bodies_json)
{
	char doc[1024];
	snprintf(doc, sizeof(doc),
		 "{\"seed\": {\"forge\": \"%s\", \"repo\": \"%s\", \"number\": %d, \"bodies\": %s}}", k->name,
		 REPO, PR, bodies_json);
	control(doc);
}

/* The PR's comments that carry the marker, from the fake's state; a new reference. */
static json_t *marked_comments(const struct kind_case *k, size_t *total)
{
	json_t *st = fake_state(), *out = json_array();
	size_t i, n = 0;
	json_t *c;
	json_array_foreach(json_object_get(st, "comments"), i, c)
	{
		if (strcmp(str(c, "forge"), k->name) != 0 ||
		    json_integer_value(json_object_get(c, "number")) != PR)
			continue;
		n++;
		if (strncmp(str(c, "body"), MARKER, strlen(MARKER)) == 0)
			json_array_append(out, c);
	}
	if (total)
		*total = n;
	json_decref(st);
	return out;
}

static size_t utf8_chars(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

static const struct forge_target target = {.repo = REPO, .sha = SHA};
static const struct forge_pr pr = {.repo = REPO, .number = PR};

/* ---- statuses ------------------------------------------------------------------------------------ */

START_TEST(status_pending_then_failure)
{
	const struct kind_case *k = &cases[_i];
	struct forge_client *f = client(k);
	struct rp_error err;
	ck_assert_msg(forge_set_status(f, &target, FORGE_STATE_PENDING, "12 jobs queued", RUN_URL, &err) == 0,
		      "%s", err.msg);
	ck_assert_msg(forge_set_status(f, &target, FORGE_STATE_FAILURE,
				       "2 reverse dependencies regressed, 1 fixed", RUN_URL, &err) == 0,
		      "%s", err.msg);
	forge_client_free(f);

	json_t *got = requests("POST", status_path(k));
	ck_assert_uint_eq(json_array_size(got), 2);
	const char *want_state[2] = {k->pending, k->failure};
	const char *want_desc[2] = {"12 jobs queued", "2 reverse dependencies regressed, 1 fixed"};
	for (size_t i = 0; i < 2; i++) {
		json_t *e = json_array_get(got, i), *body = json_object_get(e, "body"),
		       *headers = json_object_get(e, "headers");
		ck_assert_int_eq(json_integer_value(json_object_get(e, "status")), 201);
		ck_assert_str_eq(str(body, "state"), want_state[i]);
		ck_assert_str_eq(str(body, k->context_key), "ripple");
		ck_assert_str_eq(str(body, "description"), want_desc[i]);
		ck_assert_str_eq(str(body, "target_url"), RUN_URL);
		ck_assert_uint_eq(json_object_size(body), 4); /* nothing else */
		ck_assert_str_eq(str(headers, k->auth_name), k->auth_value);
		ck_assert_str_eq(str(headers, "content-type"), "application/json");
		if (k->kind == FORGE_GITLAB)
			ck_assert_ptr_null(json_object_get(headers, "authorization"));
		if (k->kind == FORGE_GITHUB) {
			ck_assert_str_eq(str(headers, "accept"), "application/vnd.github+json");
			ck_assert_str_eq(str(headers, "x-github-api-version"), "2022-11-28");
		}
	}
	json_decref(got);

	json_t *st = fake_state(), *statuses = json_object_get(st, "statuses");
	ck_assert_uint_eq(json_array_size(statuses), 2);
	ck_assert_str_eq(str(json_array_get(statuses, 1), "state"), k->failure);
	ck_assert_str_eq(str(json_array_get(statuses, 1), "repo"), REPO);
	json_decref(st);
}
END_TEST

START_TEST(status_states_map_to_each_forge)
{
	const struct kind_case *k = &cases[_i];
	struct forge_client *f = client(k);
	struct rp_error err;
	ck_assert_msg(forge_set_status(f, &target, FORGE_STATE_RUNNING, NULL, NULL, &err) == 0, "%s",
		      err.msg);
	ck_assert_msg(forge_set_status(f, &target, FORGE_STATE_CANCELLED, NULL, NULL, &err) == 0, "%s",
		      err.msg);
	forge_client_free(f);
	json_t *got = requests("POST", status_path(k));
	ck_assert_uint_eq(json_array_size(got), 2);
	json_t *b0 = json_object_get(json_array_get(got, 0), "body"),
	       *b1 = json_object_get(json_array_get(got, 1), "body");
	ck_assert_str_eq(str(b0, "state"), k->running);
	ck_assert_str_eq(str(b1, "state"), k->cancelled);
	/* No description or URL given: none sent. */
	ck_assert_uint_eq(json_object_size(b0), 2);
	json_decref(got);
}
END_TEST

START_TEST(status_description_cut_on_utf8_boundary)
{
	const struct kind_case *k = &cases[_i];
	/* A line break, a byte that is no UTF-8, then 300 three-byte characters. */
	char long_desc[2048] = "line one\nline two \xff ";
	for (int i = 0; i < 300; i++)
		strncat(long_desc, "\xe2\x9c\x93", sizeof(long_desc) - strlen(long_desc) - 1); /* ✓ */
	/* One line, U+FFFD for the bad byte, cut to the limit with "…" as its last character. */
	char want[2048] = "line one line two \xef\xbf\xbd ";
	size_t head = 20; /* characters before the ✓s */
	for (size_t i = 0; i < k->description_max - head - 1; i++)
		strncat(want, "\xe2\x9c\x93", sizeof(want) - strlen(want) - 1);
	strncat(want, "\xe2\x80\xa6", sizeof(want) - strlen(want) - 1);

	struct forge_client *f = client(k);
	struct rp_error err;
	ck_assert_msg(forge_set_status(f, &target, FORGE_STATE_SUCCESS, long_desc, NULL, &err) == 0, "%s",
		      err.msg);
	forge_client_free(f);
	json_t *got = requests("POST", status_path(k));
	ck_assert_uint_eq(json_array_size(got), 1);
	const char *desc = str(json_object_get(json_array_get(got, 0), "body"), "description");
	ck_assert_uint_eq(utf8_chars(desc), k->description_max);
	ck_assert_str_eq(desc, want);
	json_decref(got);
}
END_TEST

START_TEST(status_outage_then_ok)
{
	const struct kind_case *k = &cases[_i];
	control("{\"fail_next\": 3, \"status\": 500}");
	struct forge_client *f = client(k);
	struct rp_error err;
	ck_assert_msg(forge_set_status(f, &target, FORGE_STATE_FAILURE, "1 regressed", RUN_URL, &err) == 0,
		      "%s", err.msg);
	forge_client_free(f);
	json_t *got = requests("POST", status_path(k));
	ck_assert_uint_eq(json_array_size(got), 4);
	for (size_t i = 0; i < 4; i++)
		ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(got, i), "status")),
				 i < 3 ? 500 : 201);
	json_decref(got);
	json_t *st = fake_state();
	ck_assert_uint_eq(json_array_size(json_object_get(st, "statuses")), 1);
	ck_assert_str_eq(str(json_array_get(json_object_get(st, "statuses"), 0), "state"), k->failure);
	json_decref(st);
}
END_TEST

/* GitLab refuses a status that is already in the asked state: after a lost answer, that is success. */
START_TEST(gitlab_status_answer_lost)
{
	const struct kind_case *k = &cases[1];
	control("{\"fail_next\": 1, \"status\": 502, \"after_processing\": true}");
	struct forge_client *f = client(k);
	struct rp_error err;
	ck_assert_msg(forge_set_status(f, &target, FORGE_STATE_PENDING, "queued", NULL, &err) == 0, "%s",
		      err.msg);
	forge_client_free(f);
	json_t *got = requests("POST", status_path(k));
	ck_assert_uint_eq(json_array_size(got), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(got, 0), "status")), 502);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(got, 1), "status")), 400);
	json_decref(got);
	json_t *st = fake_state();
	ck_assert_uint_eq(json_array_size(json_object_get(st, "statuses")), 1);
	json_decref(st);
}
END_TEST

START_TEST(rate_limit_waits_for_reset)
{
	const struct kind_case *k = &cases[_i];
	uint64_t t0 = now_ms();
	control(k->rate_limit_control);
	struct forge_client *f = client(k);
	struct rp_error err;
	ck_assert_msg(forge_set_status(f, &target, FORGE_STATE_PENDING, "queued", NULL, &err) == 0, "%s",
		      err.msg);
	uint64_t took = now_ms() - t0;
	forge_client_free(f);
	/* The limit lasts at least 1 s from the control call: no try may have come sooner. */
	ck_assert_msg(took >= 990 && took < 4000, "took %" PRIu64 " ms", took);
	json_t *got = requests("POST", status_path(k));
	ck_assert_uint_eq(json_array_size(got), 2); /* refused once, then waited for the reset */
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(got, 0), "status")),
			 k->rate_limit_status);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(got, 1), "status")), 201);
	json_decref(got);
}
END_TEST

START_TEST(rate_limit_past_deadline_fails_fast)
{
	const struct kind_case *k = &cases[_i];
	control("{\"rate_limit\": {\"seconds\": 30}}");
	struct forge_client *f = client_with(k, fake_url, TOKEN, 3000, NULL);
	struct rp_error err;
	uint64_t t0 = now_ms();
	ck_assert_int_eq(forge_set_status(f, &target, FORGE_STATE_PENDING, "queued", NULL, &err),
			 RP_EUNREACHABLE);
	ck_assert_msg(now_ms() - t0 < 1500, "waited %" PRIu64 " ms for a limit past the deadline",
		      now_ms() - t0);
	ck_assert_msg(strstr(err.msg, "past the deadline"), "%s", err.msg);
	ck_assert_uint_eq(log_size(), 1);
	/* The client remembers the limit: the next call sends nothing. */
	int64_t id = 0;
	t0 = now_ms();
	ck_assert_int_eq(forge_upsert_comment(f, &pr, NULL, "report", &id, &err), RP_EUNREACHABLE);
	ck_assert_uint_lt(now_ms() - t0, 500);
	ck_assert_msg(strstr(err.msg, "rate limited"), "%s", err.msg);
	ck_assert_int_eq(id, 0);
	ck_assert_uint_eq(log_size(), 1);
	forge_client_free(f);
}
END_TEST

START_TEST(wrong_token_is_refused_and_never_shown)
{
	const struct kind_case *k = &cases[_i];
	control("{\"echo_auth\": true}"); /* the fake quotes the header it got in its 401 */
	seed(k, "[]");
	struct forge_client *f = client_with(k, fake_url, WRONG_TOKEN, 5000, NULL);
	struct rp_error err;
	ck_assert_int_eq(forge_set_status(f, &target, FORGE_STATE_PENDING, "queued", NULL, &err), RP_EAUTH);
	ck_assert_msg(strstr(err.msg, "401") && strstr(err.msg, "refused the token"), "%s", err.msg);
	ck_assert_msg(!strstr(err.msg, WRONG_TOKEN), "the token leaked: %s", err.msg);
	ck_assert_msg(strstr(err.msg, "[token]"), "the echo was not blanked: %s", err.msg);
	int64_t id = 0;
	ck_assert_int_eq(forge_upsert_comment(f, &pr, NULL, "report", &id, &err), RP_EAUTH);
	ck_assert_msg(!strstr(err.msg, WRONG_TOKEN), "the token leaked: %s", err.msg);
	ck_assert_int_eq(id, 0);
	forge_client_free(f);
	/* Refused at once: a 401 is not retried. */
	ck_assert_uint_eq(log_size(), 2);
	json_t *all = fake_log();
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(all, 0), "status")), 401);
	json_decref(all);
}
END_TEST

/* ---- the one comment ---------------------------------------------------------------------------- */

START_TEST(comment_created_once_then_edited_in_place)
{
	const struct kind_case *k = &cases[_i];
	/* Four comments by others (one quotes the marker, not at its start): ours lands on page 3 of 2. */
	seed(k, "[\"First!\", \"> " MARKER "\\n> what does this mean?\", \"LGTM\", \"nit: typo in README\"]");
	struct forge_client *f = client(k);
	struct rp_error err;
	int64_t id = 0;
	ck_assert_msg(forge_upsert_comment(f, &pr, NULL, "report v1", &id, &err) == 0, "%s", err.msg);
	ck_assert_int_gt(id, 1000000000); /* 64-bit ids */
	int64_t first = id;
	ck_assert_msg(forge_upsert_comment(f, &pr, NULL, "report v2", &id, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(id, first);
	id = 0; /* forgotten: found again by its marker, across pages */
	ck_assert_msg(forge_upsert_comment(f, &pr, NULL, "report v3", &id, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(id, first);
	forge_client_free(f);

	json_t *posts = requests("POST", list_path(k)),
	       *edits = requests(k->edit_method, edit_path(k, first)), *lists = requests("GET", list_path(k));
	ck_assert_uint_eq(json_array_size(posts), 1);
	ck_assert_uint_eq(json_array_size(edits), 2);
	ck_assert_str_eq(str(json_object_get(json_array_get(posts, 0), "body"), "body"),
			 MARKER "\nreport v1");
	ck_assert_str_eq(str(json_object_get(json_array_get(edits, 1), "body"), "body"),
			 MARKER "\nreport v3");
	ck_assert_str_eq(str(json_object_get(json_array_get(edits, 0), "headers"), k->auth_name),
			 k->auth_value);
	if (k->paginated) {
		/* Call 1 read pages 1 and 2 and found nothing; call 3 read pages 1 to 3. */
		ck_assert_uint_eq(json_array_size(lists), 5);
		ck_assert_msg(strstr(str(json_array_get(lists, 4), "query"), "page=3"), "%s",
			      str(json_array_get(lists, 4), "query"));
		if (k->kind == FORGE_GITLAB)
			ck_assert_msg(strstr(str(json_array_get(lists, 0), "query"), "sort=asc"), "%s",
				      str(json_array_get(lists, 0), "query"));
	} else {
		ck_assert_uint_eq(json_array_size(lists), 2); /* Gitea lists an issue's comments whole */
	}
	json_decref(posts);
	json_decref(edits);
	json_decref(lists);

	size_t total;
	json_t *mine = marked_comments(k, &total);
	ck_assert_uint_eq(json_array_size(mine), 1);
	ck_assert_uint_eq(total, 5);
	ck_assert_str_eq(str(json_array_get(mine, 0), "body"), MARKER "\nreport v3");
	json_decref(mine);
}
END_TEST

START_TEST(comment_deleted_is_made_again)
{
	const struct kind_case *k = &cases[_i];
	seed(k, "[\"First!\"]");
	struct forge_client *f = client(k);
	struct rp_error err;
	int64_t id = 0;
	ck_assert_msg(forge_upsert_comment(f, &pr, NULL, "report v1", &id, &err) == 0, "%s", err.msg);
	int64_t first = id;
	char doc[64];
	snprintf(doc, sizeof(doc), "{\"delete_comment\": %" PRId64 "}", first);
	control(doc);
	ck_assert_msg(forge_upsert_comment(f, &pr, NULL, "report v2", &id, &err) == 0, "%s", err.msg);
	ck_assert_int_ne(id, first);
	forge_client_free(f);
	json_t *edits = requests(k->edit_method, edit_path(k, first));
	ck_assert_uint_eq(json_array_size(edits), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(edits, 0), "status")), 404);
	json_decref(edits);
	json_t *mine = marked_comments(k, NULL);
	ck_assert_uint_eq(json_array_size(mine), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(mine, 0), "id")), id);
	ck_assert_str_eq(str(json_array_get(mine, 0), "body"), MARKER "\nreport v2");
	json_decref(mine);
}
END_TEST

/* A create whose answer is lost must not be sent again blindly: the comment exists. */
START_TEST(comment_lost_answer_not_duplicated)
{
	const struct kind_case *k = &cases[_i];
	seed(k, "[\"First!\", \"Second\", \"Third\"]");
	/* The create takes effect, and its answer is a 502. */
	control("{\"fail_next\": 1, \"status\": 502, \"after_processing\": true, \"method\": \"POST\"}");
	struct forge_client *f = client(k);
	struct rp_error err;
	int64_t id = 0;
	ck_assert_msg(forge_upsert_comment(f, &pr, NULL, "report", &id, &err) == 0, "%s", err.msg);
	forge_client_free(f);
	json_t *posts = requests("POST", list_path(k)), *edits = requests(k->edit_method, edit_path(k, id));
	ck_assert_uint_eq(json_array_size(posts), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(posts, 0), "status")), 502);
	ck_assert_uint_eq(json_array_size(edits), 1); /* found by its marker on the second reading */
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(edits, 0), "status")), 200);
	json_decref(posts);
	json_decref(edits);
	size_t total;
	json_t *mine = marked_comments(k, &total);
	ck_assert_uint_eq(json_array_size(mine), 1);
	ck_assert_uint_eq(total, 4);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(mine, 0), "id")), id);
	json_decref(mine);
}
END_TEST

START_TEST(comment_on_unknown_pr)
{
	const struct kind_case *k = &cases[_i];
	struct forge_client *f = client(k);
	struct rp_error err;
	int64_t id = 0;
	struct forge_pr nope = {.repo = REPO, .number = 99};
	ck_assert_int_eq(forge_upsert_comment(f, &nope, NULL, "report", &id, &err), RP_ENOTFOUND);
	ck_assert_msg(strstr(err.msg, "404"), "%s", err.msg);
	ck_assert_int_eq(id, 0);
	forge_client_free(f);
}
END_TEST

START_TEST(comment_cut_to_the_forge_limit)
{
	const struct kind_case *k = &cases[0]; /* GitHub: 65536 characters */
	seed(k, "[]");
	size_t n = 70000;
	char *big = malloc(n + 1);
	memset(big, 'x', n);
	big[n] = '\0';
	struct forge_client *f = client(k);
	struct rp_error err;
	int64_t id = 0;
	ck_assert_msg(forge_upsert_comment(f, &pr, NULL, big, &id, &err) == 0, "%s", err.msg);
	forge_client_free(f);
	free(big);
	json_t *mine = marked_comments(k, NULL);
	ck_assert_uint_eq(json_array_size(mine), 1);
	const char *body = str(json_array_get(mine, 0), "body");
	ck_assert_uint_eq(utf8_chars(body), 65536);
	ck_assert_str_eq(body + strlen(body) - 4, "x\xe2\x80\xa6");
	json_decref(mine);
}
END_TEST

/* ---- bounds: outages, deadlines, the stop flag, bad input ------------------------------------------- */

/* A port on 127.0.0.1 that nothing listens on: bound, then closed. */
static unsigned closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(sa);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

START_TEST(unreachable_forge_within_deadline)
{
	const struct kind_case *k = &cases[_i];
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", closed_port());
	struct forge_client *f = client_with(k, url, TOKEN, 1500, NULL);
	struct rp_error err;
	uint64_t t0 = now_ms();
	ck_assert_int_eq(forge_set_status(f, &target, FORGE_STATE_PENDING, "queued", NULL, &err),
			 RP_EUNREACHABLE);
	uint64_t took = now_ms() - t0;
	ck_assert_msg(took >= 1000 && took <= 2000, "took %" PRIu64 " ms for a 1500 ms deadline", took);
	ck_assert_msg(strstr(err.msg, k->name) && strstr(err.msg, "tries"), "%s", err.msg);
	ck_assert_msg(!strstr(err.msg, TOKEN), "%s", err.msg);
	int64_t id = 0;
	ck_assert_int_eq(forge_upsert_comment(f, &pr, NULL, "report", &id, &err), RP_EUNREACHABLE);
	ck_assert_int_eq(id, 0);
	forge_client_free(f);
}
END_TEST

START_TEST(silent_forge_within_deadline)
{
	const struct kind_case *k = &cases[0];
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(sa);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 8), 0); /* connections complete, nothing ever answers */
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", ntohs(sa.sin_port));
	struct forge_client *f = client_with(k, url, TOKEN, 1500, NULL);
	struct rp_error err;
	uint64_t t0 = now_ms();
	ck_assert_int_eq(forge_set_status(f, &target, FORGE_STATE_PENDING, "queued", NULL, &err),
			 RP_EUNREACHABLE);
	uint64_t took = now_ms() - t0;
	ck_assert_msg(took >= 1000 && took <= 2500, "took %" PRIu64 " ms for a 1500 ms deadline", took);
	forge_client_free(f);
	close(fd);
}
END_TEST

static volatile sig_atomic_t stop_flag;

static void *set_stop_later(void *arg)
{
	(void)arg;
	struct timespec ts = {0, 300 * 1000000L};
	nanosleep(&ts, NULL);
	stop_flag = 1;
	return NULL;
}

START_TEST(stop_flag_ends_retries)
{
	const struct kind_case *k = &cases[0];
	control("{\"fail_next\": 100000, \"status\": 503}");
	stop_flag = 0;
	struct forge_client *f = client_with(k, fake_url, TOKEN, 30000, &stop_flag);
	struct rp_error err;
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, set_stop_later, NULL), 0);
	uint64_t t0 = now_ms();
	ck_assert_int_eq(forge_set_status(f, &target, FORGE_STATE_PENDING, "queued", NULL, &err),
			 RP_EUNREACHABLE);
	uint64_t took = now_ms() - t0;
	pthread_join(th, NULL);
	ck_assert_msg(took >= 250 && took < 1500, "took %" PRIu64 " ms", took);
	/* The stop lands between two tries (the last answer, 503, is named) or during one (aborted). */
	ck_assert_msg(strstr(err.msg, "stopping") && (strstr(err.msg, "503") || strstr(err.msg, "aborted")), "%s",
		      err.msg);
	/* Set before a call: nothing is sent. */
	size_t n = log_size();
	ck_assert_int_eq(forge_set_status(f, &target, FORGE_STATE_PENDING, "queued", NULL, &err),
			 RP_EUNREACHABLE);
	ck_assert_uint_eq(log_size(), n);
	forge_client_free(f);
}
END_TEST

START_TEST(bad_input_sends_nothing)
{
	const struct kind_case *k = &cases[_i];
	struct forge_client *f = client(k);
	struct rp_error err;
	const char *bad_repos[] = {"acme",    "",  "acme/../etc", "acme/wid get", "acme/widget?x=1",
				   "/widget", NULL};
	for (size_t i = 0; bad_repos[i]; i++) {
		if (k->kind == FORGE_GITLAB && strcmp(bad_repos[i], "acme") == 0)
			continue; /* a one-segment project path is fine on GitLab */
		struct forge_target t = {.repo = bad_repos[i], .sha = SHA};
		ck_assert_msg(forge_set_status(f, &t, FORGE_STATE_PENDING, NULL, NULL, &err) == RP_EINVAL,
			      "%s", bad_repos[i]);
	}
	struct forge_target short_sha = {.repo = REPO, .sha = "0123abc"};
	ck_assert_int_eq(forge_set_status(f, &short_sha, FORGE_STATE_PENDING, NULL, NULL, &err), RP_EINVAL);
	ck_assert_int_eq(forge_set_status(f, &target, FORGE_STATE_PENDING, NULL, "javascript:alert(1)", &err),
			 RP_EINVAL);
	ck_assert_int_eq(forge_set_status(f, &target, (enum forge_state)42, NULL, NULL, &err), RP_EINVAL);
	int64_t id = 0;
	ck_assert_int_eq(forge_upsert_comment(f, &pr, "two\nlines", "report", &id, &err), RP_EINVAL);
	struct forge_pr zero = {.repo = REPO, .number = 0};
	ck_assert_int_eq(forge_upsert_comment(f, &zero, NULL, "report", &id, &err), RP_EINVAL);
	forge_client_free(f);
	ck_assert_uint_eq(log_size(), 0);

	struct forge_config cfg = {.kind = k->kind, .api_url = fake_url, .token = "has space"};
	ck_assert_int_eq(forge_client_new(&cfg, &f, &err), RP_EINVAL);
	ck_assert_ptr_null(strstr(err.msg, "has space"));
	cfg.token = NULL;
	ck_assert_int_eq(forge_client_new(&cfg, &f, &err), RP_EINVAL);
}
END_TEST

START_TEST(kind_names)
{
	ck_assert_str_eq(forge_kind_name(FORGE_GITHUB), "github");
	ck_assert_str_eq(forge_kind_name(FORGE_GITLAB), "gitlab");
	ck_assert_str_eq(forge_kind_name(FORGE_GITEA), "gitea");
	ck_assert_ptr_null(forge_kind_name((enum forge_kind)0));
	ck_assert_int_eq(forge_kind_parse("gitea"), FORGE_GITEA);
	ck_assert_int_eq(forge_kind_parse("bitbucket"), 0);
	ck_assert_int_eq(forge_kind_parse(NULL), 0);
	/* Gitea has no public default: the URL is required. */
	struct forge_config cfg = {.kind = FORGE_GITEA, .token = TOKEN};
	struct forge_client *f;
	struct rp_error err;
	ck_assert_int_eq(forge_client_new(&cfg, &f, &err), RP_EINVAL);
	ck_assert_msg(strstr(err.msg, "API URL"), "%s", err.msg);
}
END_TEST

static Suite *forge_suite(void)
{
	Suite *s = suite_create("forge");
	int n = (int)(sizeof(cases) / sizeof(cases[0]));

	TCase *tc = tcase_create("status");
	tcase_add_checked_fixture(tc, fake_start, fake_stop);
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, status_pending_then_failure, 0, n);
	tcase_add_loop_test(tc, status_states_map_to_each_forge, 0, n);
	tcase_add_loop_test(tc, status_description_cut_on_utf8_boundary, 0, n);
	tcase_add_loop_test(tc, status_outage_then_ok, 0, n);
	tcase_add_test(tc, gitlab_status_answer_lost);
	suite_add_tcase(s, tc);

	tc = tcase_create("rate_limit");
	tcase_add_checked_fixture(tc, fake_start, fake_stop);
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, rate_limit_waits_for_reset, 0, n);
	tcase_add_loop_test(tc, rate_limit_past_deadline_fails_fast, 0, n);
	tcase_add_loop_test(tc, wrong_token_is_refused_and_never_shown, 0, n);
	suite_add_tcase(s, tc);

	tc = tcase_create("comment");
	tcase_add_checked_fixture(tc, fake_start, fake_stop);
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, comment_created_once_then_edited_in_place, 0, n);
	tcase_add_loop_test(tc, comment_deleted_is_made_again, 0, n);
	tcase_add_loop_test(tc, comment_lost_answer_not_duplicated, 0, n);
	tcase_add_loop_test(tc, comment_on_unknown_pr, 0, n);
	tcase_add_test(tc, comment_cut_to_the_forge_limit);
	suite_add_tcase(s, tc);

	tc = tcase_create("bounds");
	tcase_add_checked_fixture(tc, fake_start, fake_stop);
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, unreachable_forge_within_deadline, 0, n);
	tcase_add_test(tc, silent_forge_within_deadline);
	tcase_add_test(tc, stop_flag_ends_retries);
	tcase_add_loop_test(tc, bad_input_sends_nothing, 0, n);
	tcase_add_test(tc, kind_names);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run_suite(forge_suite());
}
