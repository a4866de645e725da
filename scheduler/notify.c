/*
 * notify.c — the delivery thread of notify.h. One loop: ask the farm what is
 * due, send it, record the outcome, sleep a little when nothing was due. One
 * forge client per forge kind, made on first use, so a forge's rate limit is
 * remembered across reports.
 */
#include "notify.h"

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/rand.h>

#include "core/http_client.h"
#include "scheduler/forge.h"
#include "core/banned.h"

#define NOTIFY_BATCH 8
#define NOTIFY_IDLE_MS 200
#define NOTIFY_BACKOFF_FIRST_MS 1000
#define NOTIFY_BACKOFF_CAP_MS (5 * 60 * 1000)
#define NOTIFY_GIVE_UP_MS (24LL * 3600 * 1000)

struct notify {
	struct notify_options o;
	char *base_url;
	pthread_t thread;
	volatile sig_atomic_t stop;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct forge_client *forges[4]; /* by enum forge_kind */
	int64_t down_until[4];		/* by enum forge_kind: unreachable until then, skip its reports */
};

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void say(struct notify *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct notify *n, const char *fmt, ...)
{
	char line[1200];
	va_list ap;
	if (!n->o.on_line)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	n->o.on_line(line, n->o.data);
}

/* The next try after `attempts` failures: doubling from 1 s to 5 minutes, with jitter so receivers are not hit in step. */
static int64_t next_try(int attempts)
{
	int64_t delay = NOTIFY_BACKOFF_FIRST_MS;
	for (int i = 0; i < attempts && delay < NOTIFY_BACKOFF_CAP_MS; i++)
		delay *= 2;
	if (delay > NOTIFY_BACKOFF_CAP_MS)
		delay = NOTIFY_BACKOFF_CAP_MS;
	unsigned char r = 0;
	RAND_bytes(&r, 1);
	return wall_ms() + delay / 2 + (delay / 2) * r / 255;
}

static struct forge_client *forge_for(struct notify *n, enum forge_kind kind, struct rp_error *err)
{
	static const enum config_forge_kind config_of[] = { [FORGE_GITHUB] = CONFIG_GITHUB,
							    [FORGE_GITLAB] = CONFIG_GITLAB,
							    [FORGE_GITEA] = CONFIG_GITEA };
	if (n->forges[kind])
		return n->forges[kind];
	const struct config_forge *cf = n->o.config ? &n->o.config->forges[config_of[kind]] : NULL;
	if (!cf || !cf->token) {
		rp_error_set(err, RP_EINVAL, "no token for %s in the scheduler's config", forge_kind_name(kind));
		return NULL;
	}
	struct forge_config fc = { .kind = kind,
				   .api_url = cf->api_url,
				   .token = cf->token,
				   .deadline_ms = n->o.call_deadline_ms ? n->o.call_deadline_ms : 10000,
				   .stop = &n->stop };
	if (forge_client_new(&fc, &n->forges[kind], err) < 0)
		return NULL;
	return n->forges[kind];
}

int notify_summary(const json_t *report, const char *changed, char *line, size_t cap)
{
	size_t i, regressed_deps = 0, fixed = 0, still = 0, errors = 0, unfinished = 0, flaky = 0, total = 0;
	int own_regressed = 0;
	const json_t *pair;
	json_array_foreach(json_object_get(report, "pairs"), i, pair)
	{
		const char *verdict = json_string_value(json_object_get(pair, "verdict"));
		const char *package = json_string_value(json_object_get(pair, "package"));
		int own = changed && package && strcmp(package, changed) == 0;
		total++;
		if (!verdict)
			continue;
		if (strcmp(verdict, "regressed") == 0 || strcmp(verdict, "newly broken") == 0) {
			if (own)
				own_regressed = 1;
			else
				regressed_deps++;
		} else if (strcmp(verdict, "fixed") == 0 || strcmp(verdict, "newly fixed") == 0)
			fixed++;
		else if (strcmp(verdict, "still failing") == 0 || strcmp(verdict, "still broken") == 0)
			still++;
		else if (strcmp(verdict, "error") == 0)
			errors++;
		else if (strcmp(verdict, "unfinished") == 0)
			unfinished++;
		else if (strcmp(verdict, "flaky") == 0)
			flaky++;
	}
	size_t len = 0;
	line[0] = 0;
#define PART(...)                                                                                            \
	do {                                                                                                 \
		if (len < cap)                                                                               \
			len += (size_t)snprintf(line + len, cap - len, "%s", len ? ", " : "");               \
		if (len < cap)                                                                               \
			len += (size_t)snprintf(line + len, cap - len, __VA_ARGS__);                         \
	} while (0)
	if (own_regressed)
		PART("%s itself regressed", changed);
	if (regressed_deps)
		PART("%zu reverse dependenc%s regressed", regressed_deps, regressed_deps == 1 ? "y" : "ies");
	if (fixed)
		PART("%zu fixed", fixed);
	if (flaky)
		PART("%zu flaky", flaky);
	if (still)
		PART("%zu still failing", still);
	if (errors)
		PART("%zu infrastructure error%s", errors, errors == 1 ? "" : "s");
	if (unfinished)
		PART("%zu unfinished", unfinished);
	if (!len)
		PART("no regression in %zu job%s", total, total == 1 ? "" : "s");
#undef PART
	return own_regressed || regressed_deps ? FORGE_STATE_FAILURE : FORGE_STATE_SUCCESS;
}

/* Sends what a pull request's run owes now; 0, or the forge's code. *sent names what went out. */
static int send_forge(struct notify *n, const struct store_report *r, const char **sent, struct rp_error *err)
{
	enum forge_kind kind = forge_kind_parse(r->forge);
	struct forge_client *fc = kind ? forge_for(n, kind, err) : NULL;
	char url[700], line[300];
	if (!fc)
		return kind ? RP_EINVAL : rp_error_set(err, RP_EINVAL, "unknown forge %s", r->forge);
	snprintf(url, sizeof(url), "%s/#/runs/%lld", n->base_url, (long long)r->run_id);
	struct forge_target t = { .repo = r->repo, .sha = r->head };
	if (r->run_state == STORE_RUN_QUEUED || r->run_state == STORE_RUN_RUNNING) {
		*sent = "pending";
		return forge_set_status(fc, &t, FORGE_STATE_PENDING, "testing the change and its reverse dependencies",
					url, err);
	}
	if (r->run_state == STORE_RUN_CANCELLED) {
		*sent = "cancelled";
		return forge_set_status(fc, &t, FORGE_STATE_CANCELLED, "cancelled (superseded or closed)", url, err);
	}
	*sent = "final";
	json_t *report = NULL;
	int rc = farm_run_report(n->o.farm, r->run_id, &report, err);
	if (rc < 0)
		return rc;
	const char *changed = json_string_value(json_array_get(json_object_get(report, "changed"), 0));
	enum forge_state state = (enum forge_state)notify_summary(report, changed, line, sizeof(line));
	if ((rc = forge_set_status(fc, &t, state, line, url, err)) < 0)
		goto out;
	int64_t comment = 0;
	if (r->change_ref && (rc = farm_pr_comment_get(n->o.farm, r->change_ref, &comment, err)) < 0)
		goto out;
	const char *markdown = json_string_value(json_object_get(report, "markdown"));
	if (!markdown)
		markdown = "";
	size_t mdlen = strlen(markdown);
	char *body = malloc(mdlen + 800);
	if (!body) {
		rc = rp_error_set(err, RP_ENOMEM, "out of memory");
		goto out;
	}
	snprintf(body, mdlen + 800, "%s\n**%s** · [the run on ripple](%s) · head %.12s\n", markdown, line, url,
		 r->head);
	struct forge_pr pr = { .repo = r->repo, .number = r->number };
	rc = forge_upsert_comment(fc, &pr, NULL, body, &comment, err);
	free(body);
	if (rc == 0 && r->change_ref) {
		struct rp_error e2;
		if (farm_pr_comment_put(n->o.farm, r->change_ref, comment, &e2) < 0) /* found by its marker next time */
			say(n, "report of run %lld: %s", (long long)r->run_id, e2.msg);
	}
out:
	json_decref(report);
	return rc;
}

static int deliver_report(struct notify *n, const struct store_report *r)
{
	struct rp_error err = { 0 };
	const char *sent = "final";
	int rc;
	if (!r->forge) { /* a nightly: its end makes its notifications */
		size_t made = 0;
		if (r->run_state == STORE_RUN_QUEUED || r->run_state == STORE_RUN_RUNNING)
			return farm_report_sent(n->o.farm, r->run_id, "pending", 0, &err);
		size_t drops = 0;
		/* History first: a metric that dropped is in the report the notifications carry. */
		int recorded = r->sent && strcmp(r->sent, "recorded") == 0;
		if (r->run_state == STORE_RUN_DONE && r->run_kind == STORE_RUN_NIGHTLY && !recorded) {
			/* A history that cannot be recorded is said, not retried: it must not hold the notifications back. */
			if (farm_record_history(n->o.farm, r->run_id, &drops, &err) < 0)
				say(n, "history of run %lld not recorded: %s", (long long)r->run_id, err.msg);
			if ((rc = farm_report_sent(n->o.farm, r->run_id, "recorded", 0, &err)) < 0) {
				say(n, "history of run %lld: %s", (long long)r->run_id, err.msg);
				return farm_report_retry(n->o.farm, r->run_id, next_try(r->attempts), err.msg, 0, &err);
			}
		}
		if (drops)
			say(n, "run %lld: %zu metric%s dropped", (long long)r->run_id, drops, drops == 1 ? "" : "s");
		if (r->run_state == STORE_RUN_DONE &&
		    (rc = farm_owe_notifications(n->o.farm, r->run_id, n->base_url, &made, &err)) < 0) {
			say(n, "notifications of run %lld: %s", (long long)r->run_id, err.msg);
			return farm_report_retry(n->o.farm, r->run_id, next_try(r->attempts), err.msg, 0, &err);
		}
		if (made)
			say(n, "run %lld: %zu package notification%s to send", (long long)r->run_id, made,
			    made == 1 ? "" : "s");
		return farm_report_sent(n->o.farm, r->run_id, r->run_state == STORE_RUN_DONE ? "final" : "cancelled", 1,
					&err);
	}
	enum forge_kind kind = forge_kind_parse(r->forge);
	if (kind && wall_ms() < n->down_until[kind]) /* its forge is down: wait with it, and let others' reports by */
		return farm_report_retry(n->o.farm, r->run_id, n->down_until[kind], "the forge is unreachable", 0,
					 &err);
	rc = send_forge(n, r, &sent, &err);
	if (rc == 0) {
		say(n, "run %lld: %s report sent to %s %s#%lld", (long long)r->run_id, sent, r->forge, r->repo,
		    (long long)r->number);
		return farm_report_sent(n->o.farm, r->run_id, sent, strcmp(sent, "pending") != 0, &err);
	}
	if (n->stop)
		return 0; /* aborted by the stop: owed as before */
	/* A forge that is down is waited for; one that refuses is given up on after a day. */
	int lasting = rc != RP_EUNREACHABLE && rc != RP_ENOMEM;
	int give_up = lasting && r->attempts >= 20;
	say(n, "run %lld: %s report to %s %s#%lld not sent%s: %s", (long long)r->run_id, sent, r->forge, r->repo,
	    (long long)r->number, give_up ? " (given up)" : ", will try again", err.msg);
	char why[RP_ERROR_MAX];
	int64_t next = next_try(r->attempts);
	snprintf(why, sizeof(why), "%s", err.msg);
	if (rc == RP_EUNREACHABLE && kind)
		n->down_until[kind] = next; /* one call spent its deadline: the forge's other reports wait too */
	return farm_report_retry(n->o.farm, r->run_id, next, why, give_up, &err);
}

/* Splits "scheme://host[:port]/path?query" into a base URL and the rest. */
static int split_url(const char *url, char *base, size_t bcap, char *path, size_t pcap, char *query, size_t qcap)
{
	const char *p = strstr(url, "://");
	if (!p)
		return -1;
	const char *slash = strchr(p + 3, '/');
	size_t blen = slash ? (size_t)(slash - url) : strlen(url);
	if (blen >= bcap)
		return -1;
	snprintf(base, bcap, "%.*s", (int)blen, url);
	const char *rest = slash ? slash : "/";
	const char *q = strchr(rest, '?');
	size_t plen = q ? (size_t)(q - rest) : strlen(rest);
	if (plen >= pcap)
		return -1;
	snprintf(path, pcap, "%.*s", (int)plen, rest);
	snprintf(query, qcap, "%s", q ? q + 1 : "");
	return 0;
}

static int deliver_notification(struct notify *n, const struct store_notification *nt)
{
	struct rp_error err = { 0 };
	char base[600], path[2048], query[2048], delivery[300];
	struct http_client *c = NULL;
	int status;
	if (split_url(nt->url, base, sizeof(base), path, sizeof(path), query, sizeof(query)) < 0) {
		say(n, "notification %lld: %s is not a URL; given up", (long long)nt->id, nt->url);
		return farm_notification_done(n->o.farm, nt->id, 0, "not a URL", &err);
	}
	snprintf(delivery, sizeof(delivery), "X-Ripple-Delivery: %s", nt->delivery);
	const char *headers[] = { "X-Ripple-Event: nightly.newly_broken", delivery, NULL };
	struct http_client_options co = { .base_url = base, .timeout_ms = 10000 };
	struct http_request req = { .method = "POST",
				    .path = path,
				    .query = query[0] ? query : NULL,
				    .headers = headers,
				    .body = nt->payload,
				    .body_len = strlen(nt->payload),
				    .abort = &n->stop };
	struct http_retry retry = { .deadline_ms = n->o.call_deadline_ms ? n->o.call_deadline_ms : 10000,
				    .stop = &n->stop };
	if ((status = http_client_new(&co, &c, &err)) == 0)
		status = http_request_retry(c, &req, &retry, NULL, &err);
	http_client_free(c);
	if (status >= 200 && status < 300) {
		say(n, "notification %lld (%s) delivered", (long long)nt->id, nt->package);
		return farm_notification_done(n->o.farm, nt->id, 1, NULL, &err);
	}
	if (n->stop)
		return 0;
	char why[RP_ERROR_MAX];
	snprintf(why, sizeof(why), "%s", status < 0 || status >= 300 ? err.msg : "no answer");
	if (wall_ms() - nt->created_ms > NOTIFY_GIVE_UP_MS) {
		say(n, "notification %lld (%s) given up after a day: %s", (long long)nt->id, nt->package, why);
		return farm_notification_done(n->o.farm, nt->id, 0, why, &err);
	}
	say(n, "notification %lld (%s) not delivered, will try again: %s", (long long)nt->id, nt->package, why);
	return farm_notification_retry(n->o.farm, nt->id, next_try(nt->attempts), why, &err);
}

static void *notify_main(void *arg)
{
	struct notify *n = arg;
	while (!n->stop) {
		struct store_report *reports = NULL;
		struct store_notification *notes = NULL;
		size_t nr = 0, nn = 0;
		struct rp_error err;
		int64_t now = wall_ms();
		if (farm_reports_due(n->o.farm, now, NOTIFY_BATCH, &reports, &nr, &err) < 0)
			say(n, "reports: %s", err.msg);
		for (size_t i = 0; i < nr && !n->stop; i++)
			deliver_report(n, &reports[i]);
		store_reports_free(reports, nr);
		if (!n->stop && farm_notifications_due(n->o.farm, now, NOTIFY_BATCH, &notes, &nn, &err) < 0)
			say(n, "notifications: %s", err.msg);
		for (size_t i = 0; i < nn && !n->stop; i++)
			deliver_notification(n, &notes[i]);
		store_notifications_free(notes, nn);
		if (nr || nn)
			continue;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += NOTIFY_IDLE_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&n->lock);
		if (!n->stop)
			pthread_cond_timedwait(&n->wake, &n->lock, &ts);
		pthread_mutex_unlock(&n->lock);
	}
	return NULL;
}

int notify_start(const struct notify_options *o, struct notify **out, struct rp_error *err)
{
	struct notify *n = calloc(1, sizeof(*n));
	*out = NULL;
	if (!n || !(n->base_url = strdup(o->base_url ? o->base_url : ""))) {
		free(n);
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	}
	n->o = *o;
	size_t len = strlen(n->base_url);
	while (len && n->base_url[len - 1] == '/')
		n->base_url[--len] = 0;
	pthread_mutex_init(&n->lock, NULL);
	pthread_cond_init(&n->wake, NULL);
	int rc = pthread_create(&n->thread, NULL, notify_main, n);
	if (rc != 0) {
		pthread_cond_destroy(&n->wake);
		pthread_mutex_destroy(&n->lock);
		free(n->base_url);
		free(n);
		return rp_error_set(err, RP_EIO, "cannot start the notification thread: %s", strerror(rc));
	}
	*out = n;
	return 0;
}

void notify_stop(struct notify *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	n->stop = 1;
	pthread_cond_signal(&n->wake);
	pthread_mutex_unlock(&n->lock);
	pthread_join(n->thread, NULL);
	for (size_t k = 0; k < sizeof(n->forges) / sizeof(n->forges[0]); k++)
		forge_client_free(n->forges[k]);
	pthread_cond_destroy(&n->wake);
	pthread_mutex_destroy(&n->lock);
	free(n->base_url);
	free(n);
}
