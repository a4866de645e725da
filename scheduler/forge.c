/*
 * forge.c — commit statuses and the one PR comment on GitHub, GitLab and
 * Gitea (see forge.h; the endpoints and the retry rules are in
 * docs/internals/forge.md).
 *
 * The retry loop is ours rather than http_request_retry()'s: that one honors
 * Retry-After on 429 and 5xx, but a forge also says when to come back in its
 * rate-limit headers (GitHub's X-RateLimit-Reset, on a 403 as often as on a
 * 429; GitLab's RateLimit-Reset), and creating a comment must not be
 * repeated blindly. The backoff is the same: full jitter, capped, bounded by
 * one deadline per call and the stop flag.
 */
#define _GNU_SOURCE /* strptime, timegm, strcasestr */
#include "forge.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <jansson.h>

#include "core/http_client.h"
#include "core/banned.h"

#define FORGE_DEADLINE_DEFAULT_MS 60000
#define FORGE_RETRY_BASE_DEFAULT_MS 500
#define FORGE_RETRY_CAP_DEFAULT_MS 30000
#define FORGE_REQUEST_TIMEOUT_DEFAULT_MS 30000
/* GitHub: "If you exceed a secondary rate limit ... wait for at least one minute." */
#define FORGE_SECONDARY_LIMIT_WAIT_MS 60000
/* The longest wait a forge can ask for that we believe (a bad clock, a bad header). */
#define FORGE_WAIT_MAX_MS (24 * 3600 * 1000ull)
#define FORGE_POLL_MS 50
/* The least time left for a last try before the deadline. */
#define FORGE_LAST_TRY_MS 200
/* Comment listing: items per page, pages at most, bytes per page at most. */
#define FORGE_PER_PAGE 50
#define FORGE_PAGES_MAX 200
#define FORGE_PAGE_CAP (32u << 20)
/* Find-then-create rounds of one upsert (each one re-reads the comments). */
#define FORGE_UPSERT_ROUNDS 8
/* request(): the answer was retryable, the wait is done, the caller decides what to send again. */
#define FORGE__AGAIN 1

/* ---- the three forges -------------------------------------------------------- */

struct forge_kind_info {
	const char *name;
	const char *default_url;
	size_t description_max; /* characters (code points) */
	size_t body_max;	/* characters of a comment's body */
	const char *edit_method;
	const char *states[6]; /* by enum forge_state */
};

static const struct forge_kind_info kinds[] = {
    [FORGE_GITHUB] =
	{
	    .name = "github",
	    .default_url = "https://api.github.com",
	    .description_max = 140,
	    .body_max = 65536,
	    .edit_method = "PATCH",
	    .states = {"pending", "pending", "success", "failure", "error", "error"},
	},
    [FORGE_GITLAB] =
	{
	    .name = "gitlab",
	    .default_url = "https://gitlab.com/api/v4",
	    .description_max = 255,
	    .body_max = 1000000,
	    .edit_method = "PUT",
	    .states = {"pending", "running", "success", "failed", "failed", "canceled"},
	},
    [FORGE_GITEA] =
	{
	    .name = "gitea",
	    .default_url = NULL, /* no public default */
	    .description_max = 255,
	    .body_max = 65536,
	    .edit_method = "PATCH",
	    .states = {"pending", "pending", "success", "failure", "error", "error"},
	},
};

static int kind_ok(enum forge_kind kind)
{
	return kind == FORGE_GITHUB || kind == FORGE_GITLAB || kind == FORGE_GITEA;
}

const char *forge_kind_name(enum forge_kind kind)
{
	return kind_ok(kind) ? kinds[kind].name : NULL;
}

enum forge_kind forge_kind_parse(const char *name)
{
	for (int k = FORGE_GITHUB; k <= FORGE_GITEA; k++)
		if (name && strcmp(name, kinds[k].name) == 0)
			return (enum forge_kind)k;
	return 0;
}

/* Response headers every request captures, by index. */
enum { H_XRL_REMAINING, H_XRL_RESET, H_RL_REMAINING, H_RL_RESET, H_DATE, H_LINK, H_NEXT_PAGE, H_COUNT };
static const char *const want_headers[] = {
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "Date",
    "Link",
    "X-Next-Page",
    NULL,
};

struct forge_client {
	enum forge_kind kind;
	const struct forge_kind_info *info;
	struct http_client *http;
	char *base; /* api_url, without a trailing '/' */
	char *token;
	char *auth_line; /* GitLab, Gitea: the header carrying the token; GitHub: http_client's Bearer */
	const char *headers[4]; /* NULL-terminated, for every request */
	char *context;
	uint64_t deadline_ms, base_ms, cap_ms, request_timeout_ms;
	const volatile sig_atomic_t *stop;
	/* Monotonic ms before which the forge asked not to be called (a rate limit); 0: none. */
	uint64_t blocked_until;
};

static void free_secret(char *s)
{
	if (!s)
		return;
	/* No copy of the token is left in freed memory. */
	memset(s, 0, strlen(s));
	free(s);
}

void forge_client_free(struct forge_client *f)
{
	if (!f)
		return;
	http_client_free(f->http);
	free_secret(f->token);
	free_secret(f->auth_line);
	free(f->base);
	free(f->context);
	free(f);
}

static int secret_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x21 || *s == 0x7f)
			return 0;
	return 1;
}

int forge_client_new(const struct forge_config *cfg, struct forge_client **out, struct rp_error *err)
{
	*out = NULL;
	if (!kind_ok(cfg->kind))
		return rp_error_set(err, RP_EINVAL,
				    "forge: unknown kind %d; expected github, gitlab or gitea",
				    (int)cfg->kind);
	const struct forge_kind_info *info = &kinds[cfg->kind];
	const char *url = cfg->api_url && *cfg->api_url ? cfg->api_url : info->default_url;
	if (!url)
		return rp_error_set(err, RP_EINVAL,
				    "%s: no API URL given (e.g. https://gitea.example/api/v1)", info->name);
	if (!cfg->token || !*cfg->token)
		return rp_error_set(err, RP_EINVAL, "%s: no token given", info->name);
	if (!secret_ok(cfg->token))
		return rp_error_set(err, RP_EINVAL, "%s: the token holds a space or a control character",
				    info->name);
	const char *context = cfg->context && *cfg->context ? cfg->context : "ripple";
	if (strlen(context) > 255)
		return rp_error_set(err, RP_EINVAL, "%s: the status context is over 255 bytes", info->name);

	struct forge_client *f = calloc(1, sizeof(*f));
	if (!f)
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	f->kind = cfg->kind;
	f->info = info;
	size_t len = strlen(url);
	while (len > 0 && url[len - 1] == '/')
		len--;
	f->base = strndup(url, len);
	f->token = strdup(cfg->token);
	f->context = strdup(context);
	if (!f->base || !f->token || !f->context)
		goto nomem;
	int n = 0;
	switch (f->kind) {
	case FORGE_GITHUB:
		f->headers[n++] = "Accept: application/vnd.github+json";
		f->headers[n++] = "X-GitHub-Api-Version: 2022-11-28";
		break;
	case FORGE_GITLAB:
		if (asprintf(&f->auth_line, "PRIVATE-TOKEN: %s", f->token) < 0)
			goto nomem_line;
		f->headers[n++] = f->auth_line;
		f->headers[n++] = "Accept: application/json";
		break;
	case FORGE_GITEA:
		if (asprintf(&f->auth_line, "Authorization: token %s", f->token) < 0)
			goto nomem_line;
		f->headers[n++] = f->auth_line;
		f->headers[n++] = "Accept: application/json";
		break;
	}
	f->headers[n] = NULL;
	f->deadline_ms = cfg->deadline_ms ? cfg->deadline_ms : FORGE_DEADLINE_DEFAULT_MS;
	f->base_ms = cfg->retry_base_ms ? cfg->retry_base_ms : FORGE_RETRY_BASE_DEFAULT_MS;
	f->cap_ms = cfg->retry_cap_ms ? cfg->retry_cap_ms : FORGE_RETRY_CAP_DEFAULT_MS;
	f->request_timeout_ms =
	    cfg->request_timeout_ms ? cfg->request_timeout_ms : FORGE_REQUEST_TIMEOUT_DEFAULT_MS;
	f->stop = cfg->stop;

	struct http_client_options o = {
	    .base_url = f->base,
	    .token = f->kind == FORGE_GITHUB ? f->token : NULL,
	    .timeout_ms = f->request_timeout_ms,
	    .idle_timeout_ms = f->request_timeout_ms,
	    .connect_timeout_ms = f->request_timeout_ms < 5000 ? f->request_timeout_ms : 5000,
	};
	int rc = http_client_new(&o, &f->http, err);
	if (rc < 0) {
		forge_client_free(f);
		return rc;
	}
	*out = f;
	return 0;
nomem_line:
	f->auth_line = NULL;
nomem:
	forge_client_free(f);
	return rp_error_set(err, RP_ENOMEM, "out of memory");
}

/* ---- texts ---------------------------------------------------------------------- */

/* The code point at p (its length in *len), or -1 for a byte that starts no well-formed sequence. */
static long utf8_decode(const unsigned char *p, size_t *len)
{
	unsigned long cp, min;
	size_t n;
	if (p[0] < 0x80) {
		*len = 1;
		return p[0];
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, min = 0x80, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, min = 0x800, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, min = 0x10000, cp = p[0] & 0x07;
	else
		goto bad;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			goto bad;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		goto bad;
	*len = n;
	return (long)cp;
bad:
	*len = 1;
	return -1;
}

/*
 * `s` made fit for a forge, malloc'd (NULL: no memory): well-formed UTF-8
 * (a bad byte becomes U+FFFD), at most `max_chars` code points, the last one
 * "…" when it was cut. `one_line`: control characters and line separators
 * become spaces, runs of spaces are kept, trailing ones dropped before "…".
 */
static char *fit_text(const char *s, size_t max_chars, int one_line)
{
	if (max_chars < 2)
		max_chars = 2;
	size_t in_len = strlen(s);
	/* Each input byte becomes at most 3 output bytes (U+FFFD). */
	char *out = malloc(in_len * 3 + 4);
	if (!out)
		return NULL;
	size_t o = 0, chars = 0, cut_at = 0; /* cut_at: bytes of the first max_chars - 1 characters */
	int cut = 0;
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		size_t n;
		long cp = utf8_decode(p, &n);
		if (chars == max_chars - 1)
			cut_at = o;
		if (chars == max_chars) {
			cut = 1;
			break;
		}
		if (cp < 0) {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
		} else if (one_line && (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) ||
					cp == 0x2028 || cp == 0x2029)) {
			out[o++] = ' ';
		} else {
			memcpy(out + o, p, n);
			o += n;
		}
		chars++;
		p += n;
	}
	if (cut) {
		o = cut_at;
		while (one_line && o > 0 && out[o - 1] == ' ')
			o--;
		memcpy(out + o, "\xe2\x80\xa6", 3); /* … */
		o += 3;
	}
	out[o] = '\0';
	return out;
}

/* Replaces every copy of the token in err's message: a forge may echo what it was sent. */
static void scrub(const struct forge_client *f, struct rp_error *err)
{
	if (!err || !f->token || !*f->token)
		return;
	size_t tlen = strlen(f->token), mlen = strlen(err->msg);
	/* A message cut at RP_ERROR_MAX may end with the token's start. */
	for (size_t k = tlen - 1 < mlen ? tlen - 1 : mlen; k >= 4; k--) {
		if (memcmp(err->msg + mlen - k, f->token, k) == 0) {
			snprintf(err->msg + mlen - k, sizeof(err->msg) - (mlen - k), "%s",
				 mlen - k + 8 <= sizeof(err->msg) ? "[token]" : "");
			break;
		}
	}
	char *hit = strstr(err->msg, f->token);
	if (!hit)
		return;
	char clean[RP_ERROR_MAX];
	size_t o = 0;
	const char *p = err->msg;
	while (hit && o + 1 < sizeof(clean)) {
		size_t k = (size_t)(hit - p);
		o += (size_t)snprintf(clean + o, sizeof(clean) - o, "%.*s[token]", (int)k, p);
		if (o >= sizeof(clean))
			o = sizeof(clean) - 1;
		p = hit + tlen;
		hit = strstr(p, f->token);
	}
	if (o + 1 < sizeof(clean))
		snprintf(clean + o, sizeof(clean) - o, "%s", p);
	snprintf(err->msg, sizeof(err->msg), "%s", clean);
}

/* The forge's own word on a failed request: "message" (and the first of "errors"), or "error". */
static void answer_line(const struct http_response *resp, char *out, size_t size)
{
	json_t *doc = resp->body_len ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
	const char *msg = NULL, *detail = NULL;
	if (json_is_object(doc)) {
		json_t *m = json_object_get(doc, "message");
		if (!json_is_string(m))
			m = json_object_get(doc, "error");
		msg = json_string_value(m);
		json_t *first = json_array_get(json_object_get(doc, "errors"), 0);
		detail = json_string_value(json_object_get(first, "message"));
		if (!detail)
			detail = json_string_value(first);
	}
	if (msg && detail)
		snprintf(out, size, "%.200s: %.200s", msg, detail);
	else if (msg)
		snprintf(out, size, "%.400s", msg);
	else if (resp->body_len) {
		size_t n = strcspn(resp->body, "\r\n");
		snprintf(out, size, "%.*s", (int)(n > 200 ? 200 : n), resp->body);
	} else
		snprintf(out, size, "(no explanation in the answer)");
	json_decref(doc);
}

/* ---- one call: requests, retries, the deadline ---------------------------------------------- */

struct call {
	struct forge_client *f;
	uint64_t start, end; /* monotonic ms */
	unsigned tries;	     /* requests sent */
	unsigned failures;   /* retryable answers so far (the backoff's exponent) */
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int stopped(const struct forge_client *f)
{
	return f->stop && *f->stop;
}

/* Full jitter: uniform in [0, min(cap, base * 2^(n-1))]. */
static uint64_t jitter(const struct forge_client *f, unsigned n)
{
	uint64_t ceiling = f->base_ms;
	for (unsigned i = 1; i < n && ceiling < f->cap_ms; i++)
		ceiling *= 2;
	if (ceiling > f->cap_ms)
		ceiling = f->cap_ms;
	uint64_t r;
	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = now_ms() * 0x9e3779b97f4a7c15u;
	return r % (ceiling + 1);
}

/* Sleeps until `until` (monotonic ms) unless stopped; returns whether it slept all the way. */
static int sleep_until(const struct forge_client *f, uint64_t until)
{
	uint64_t now;
	while ((now = now_ms()) < until) {
		if (stopped(f))
			return 0;
		uint64_t step = until - now < FORGE_POLL_MS ? until - now : FORGE_POLL_MS;
		struct timespec ts = {(time_t)(step / 1000), (long)(step % 1000) * 1000000};
		nanosleep(&ts, NULL);
	}
	return !stopped(f);
}

/* Ends a call as an outage: RP_EUNREACHABLE, with what the last try said in `err`. */
static int give_up(struct call *c, const char *why, struct rp_error *err)
{
	char last[RP_ERROR_MAX];
	snprintf(last, sizeof(last), "%s", err && err->msg[0] ? err->msg : "no answer");
	uint64_t took = now_ms() - c->start;
	rp_error_set(err, RP_EUNREACHABLE, "%s: %s (%s; %u %s in %" PRIu64 ".%01" PRIu64 " s)",
		     c->f->info->name, last, why, c->tries, c->tries == 1 ? "try" : "tries", took / 1000,
		     took % 1000 / 100);
	scrub(c->f, err);
	return RP_EUNREACHABLE;
}

static int call_begin(struct call *c, struct forge_client *f, struct rp_error *err)
{
	c->f = f;
	c->start = now_ms();
	c->end = c->start + f->deadline_ms;
	c->tries = c->failures = 0;
	if (err)
		err->msg[0] = '\0', err->line = err->column = 0;
	if (stopped(f))
		return give_up(c, "stopping", err);
	if (f->blocked_until > c->start) {
		uint64_t left = f->blocked_until - c->start;
		if (f->blocked_until + FORGE_LAST_TRY_MS > c->end) {
			rp_error_set(err, RP_EUNREACHABLE, "rate limited for %" PRIu64 " s more",
				     (left + 999) / 1000);
			return give_up(c, "past the deadline: not sent", err);
		}
		if (!sleep_until(f, f->blocked_until))
			return give_up(c, "stopping", err);
	}
	f->blocked_until = 0;
	return 0;
}

/* An HTTP date ("Sun, 06 Nov 1994 08:49:37 GMT") as epoch seconds, or -1. */
static int64_t parse_http_date(const char *s)
{
	struct tm tm = {0};
	const char *end = s ? strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm) : NULL;
	if (!end || *end)
		return -1;
	time_t t = timegm(&tm);
	return t < 0 ? -1 : (int64_t)t;
}

static int parse_int64(const char *s, int64_t *out)
{
	if (!s || !*s)
		return 0;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (*end || errno || v < 0)
		return 0;
	*out = v;
	return 1;
}

/*
 * The wait a rate-limit reset header asks for, in ms, or -1. Epoch seconds
 * (GitHub's X-RateLimit-Reset, GitLab's RateLimit-Reset) are read against the
 * answer's own Date, so our clock's error does not count; a small number is
 * seconds from now (the IETF draft's RateLimit-Reset).
 */
static int64_t reset_wait_ms(const struct http_response *resp)
{
	const char *v = resp->headers[H_XRL_RESET] ? resp->headers[H_XRL_RESET] : resp->headers[H_RL_RESET];
	int64_t reset;
	if (!parse_int64(v, &reset))
		return -1;
	if (reset < 1000000000)
		return reset * 1000;
	int64_t now = parse_http_date(resp->headers[H_DATE]);
	if (now < 0)
		now = (int64_t)time(NULL);
	return reset > now ? (reset - now) * 1000 : 0;
}

/*
 * Whether an answer is worth trying again, and after how long at least:
 * -1 for no, else the forge's wait in ms (0: none asked, the backoff decides).
 */
static int64_t retry_hint(int rc, const struct http_response *resp, int *rate_limited)
{
	*rate_limited = 0;
	if (rc == RP_EUNREACHABLE)
		return 0;
	if (rc < 0)
		return -1;
	if (rc >= 500 && rc <= 599)
		return resp->retry_after_ms > 0 ? resp->retry_after_ms : 0;
	if (rc != 429 && rc != 403)
		return -1;
	const char *remaining =
	    resp->headers[H_XRL_REMAINING] ? resp->headers[H_XRL_REMAINING] : resp->headers[H_RL_REMAINING];
	int exhausted = remaining && strcmp(remaining, "0") == 0;
	int64_t wait = resp->retry_after_ms, reset = reset_wait_ms(resp);
	if (rc == 403 && !exhausted && wait < 0) {
		/* A 403 is a refusal unless it is GitHub's secondary rate limit, which says so. */
		if (!resp->body || !strcasestr(resp->body, "rate limit"))
			return -1;
		wait = FORGE_SECONDARY_LIMIT_WAIT_MS;
	}
	if ((exhausted || rc == 429) && reset > wait)
		wait = reset;
	if (exhausted && wait < 0)
		wait = FORGE_SECONDARY_LIMIT_WAIT_MS; /* spent, and no word on when it comes back */
	*rate_limited = 1;
	return wait < 0 ? 0 : wait > (int64_t)FORGE_WAIT_MAX_MS ? (int64_t)FORGE_WAIT_MAX_MS : wait;
}

/*
 * After a retryable answer: waits the backoff (never less than `hint`) and
 * returns 0, or gives up with RP_EUNREACHABLE when the wait would pass the
 * deadline or the caller stops us.
 */
static int backoff(struct call *c, int64_t hint, int rate_limited, struct rp_error *err)
{
	struct forge_client *f = c->f;
	uint64_t now = now_ms();
	uint64_t delay = jitter(f, ++c->failures);
	if (hint > 0 && (uint64_t)hint > delay)
		delay = (uint64_t)hint;
	if (stopped(f))
		return give_up(c, "stopping", err);
	if (hint > 0 && now + (uint64_t)hint + FORGE_LAST_TRY_MS > c->end) {
		/* The forge said not before then, and then is too late: say so, and remember it. */
		if (rate_limited)
			f->blocked_until = now + (uint64_t)hint;
		char why[96];
		snprintf(why, sizeof(why), "the forge asks to wait %" PRIu64 " s, past the deadline",
			 ((uint64_t)hint + 999) / 1000);
		return give_up(c, why, err);
	}
	uint64_t room = c->end > now ? c->end - now : 0;
	if (room <= FORGE_LAST_TRY_MS)
		return give_up(c, "deadline reached", err);
	if (delay > room - FORGE_LAST_TRY_MS)
		delay = room - FORGE_LAST_TRY_MS; /* one last try before the deadline */
	if (!sleep_until(f, now + delay))
		return give_up(c, "stopping", err);
	return 0;
}

/*
 * Sends one API request (body: a JSON text or NULL) and, when `retry`, sends
 * it again while the answer is retryable. Returns the final HTTP status (any
 * 1xx..4xx the caller reads; `resp` holds the answer, `err` the line when
 * >= 400), a negative code, or, when !retry and the answer was retryable,
 * FORGE__AGAIN once the backoff has been waited.
 */
static int request(struct call *c, const char *method, const char *path, const char *query, const char *body,
		   int retry, struct http_response *resp, struct rp_error *err)
{
	struct forge_client *f = c->f;
	for (;;) {
		uint64_t now = now_ms();
		if (stopped(f))
			return give_up(c, "stopping", err);
		if (now >= c->end)
			return give_up(c, "deadline reached", err);
		uint64_t left = c->end - now;
		struct http_request req = {
		    .method = method,
		    .path = path,
		    .query = query,
		    .headers = f->headers,
		    .body = body,
		    .body_len = body ? strlen(body) : 0,
		    .content_type = body ? "application/json" : NULL,
		    .want_headers = want_headers,
		    .response_cap = FORGE_PAGE_CAP,
		    .timeout_ms = left < f->request_timeout_ms ? left : f->request_timeout_ms,
		    .abort = f->stop,
		};
		c->tries++;
		int rc = http_request(f->http, &req, resp, err);
		if (rc >= 400) {
			char line[512];
			answer_line(resp, line, sizeof(line));
			rp_error_set(err, rc, "%s %s: HTTP %d: %s", method, path, rc, line);
		}
		scrub(f, err);
		int rate_limited;
		int64_t hint = retry_hint(rc, resp, &rate_limited);
		if (hint < 0)
			return rc;
		http_response_release(resp);
		int brc = backoff(c, hint, rate_limited, err);
		if (brc < 0)
			return brc;
		if (!retry)
			return FORGE__AGAIN;
	}
}

/* A final answer as a code of the contract (err already holds its line). */
static int status_code(struct call *c, int rc, struct rp_error *err)
{
	const char *name = c->f->info->name;
	char line[RP_ERROR_MAX];
	if (rc < 0 || (rc >= 200 && rc < 300))
		return rc < 0 ? rc : 0;
	snprintf(line, sizeof(line), "%s", err && err->msg[0] ? err->msg : "");
	int code;
	switch (rc) {
	case 401:
		code = rp_error_set(err, RP_EAUTH,
				    "%s: %s: the forge refused the token; check it in the scheduler's config",
				    name, line);
		break;
	case 403:
		code = rp_error_set(err, RP_EAUTH,
				    "%s: %s: the token may not do this (its scope or the account's rights)",
				    name, line);
		break;
	case 404:
		code = rp_error_set(err, RP_ENOTFOUND, "%s: %s", name, line);
		break;
	default:
		if (rc < 400)
			code = rp_error_set(
			    err, RP_EINVAL,
			    "%s: unexpected HTTP %d (moved? check the repository and the API URL)", name, rc);
		else
			code = rp_error_set(err, RP_EINVAL, "%s: %s", name, line);
	}
	scrub(c->f, err);
	return code;
}

/* ---- names in paths ---------------------------------------------------------------- */

static int name_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '-' || ch == '_' || ch == '.';
}

/*
 * The repository as it goes into a path, malloc'd into *out: "owner/name" for
 * GitHub and Gitea, the URL-encoded project path ("group%2Fname") or the
 * numeric id for GitLab.
 */
static int repo_path(const struct forge_client *f, const char *repo, char **out, struct rp_error *err)
{
	*out = NULL;
	const char *name = f->info->name;
	if (!repo || !*repo)
		return rp_error_set(err, RP_EINVAL, "%s: no repository given", name);
	size_t len = strlen(repo), slashes = 0, seg = 0;
	if (len > 512)
		return rp_error_set(err, RP_EINVAL, "%s: repository name over 512 bytes", name);
	for (size_t i = 0; i <= len; i++) {
		if (repo[i] == '/' || repo[i] == '\0') {
			/* No empty, "." or ".." segment: a path must not climb out of /repos/. */
			if (seg == 0 || (seg == 1 && repo[i - 1] == '.') ||
			    (seg == 2 && repo[i - 1] == '.' && repo[i - 2] == '.'))
				goto bad;
			slashes += repo[i] == '/';
			seg = 0;
		} else if (!name_char(repo[i])) {
			goto bad;
		} else {
			seg++;
		}
	}
	if (f->kind == FORGE_GITLAB) {
		char *p = malloc(len * 3 + 1);
		if (!p)
			return rp_error_set(err, RP_ENOMEM, "out of memory");
		size_t o = 0;
		for (size_t i = 0; i < len; i++) {
			if (repo[i] == '/') {
				memcpy(p + o, "%2F", 3);
				o += 3;
			} else {
				p[o++] = repo[i];
			}
		}
		p[o] = '\0';
		*out = p;
		return 0;
	}
	if (slashes != 1)
		goto bad;
	if (!(*out = strdup(repo)))
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	return 0;
bad:
	return rp_error_set(err, RP_EINVAL, "%s: repository '%.200s' is not %s", name, repo,
			    f->kind == FORGE_GITLAB ? "a project path (group/name) or id" : "owner/name");
}

static int sha_ok(const char *sha)
{
	size_t n = 0;
	for (; sha && sha[n]; n++)
		if (!((sha[n] >= '0' && sha[n] <= '9') || (sha[n] >= 'a' && sha[n] <= 'f')))
			return 0;
	return n == 40 || n == 64;
}

static int url_ok(const char *url)
{
	if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
		return 0;
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return 0;
	return strlen(url) <= 2048;
}

/* ---- statuses ---------------------------------------------------------------------------- */

int forge_set_status(struct forge_client *f, const struct forge_target *t, enum forge_state state,
		     const char *description, const char *target_url, struct rp_error *err)
{
	const char *name = f->info->name;
	char *repo = NULL, *path = NULL, *desc = NULL, *text = NULL;
	json_t *doc = NULL;
	struct http_response resp = {0};
	struct call c;
	int rc;
	if ((unsigned)state > FORGE_STATE_CANCELLED)
		return rp_error_set(err, RP_EINVAL, "%s: unknown status state %d", name, (int)state);
	if (!sha_ok(t->sha))
		return rp_error_set(err, RP_EINVAL,
				    "%s: '%.80s' is not a full commit id (40 or 64 lowercase hex digits)",
				    name, t->sha ? t->sha : "(null)");
	if (target_url && !url_ok(target_url))
		return rp_error_set(err, RP_EINVAL,
				    "%s: the target URL must be an http(s) URL without spaces", name);
	if ((rc = repo_path(f, t->repo, &repo, err)) < 0)
		return rc;
	const char *word = f->info->states[state];
	if (f->kind == FORGE_GITLAB)
		rc = asprintf(&path, "/projects/%s/statuses/%s", repo, t->sha);
	else
		rc = asprintf(&path, "/repos/%s/statuses/%s", repo, t->sha);
	if (rc < 0) {
		path = NULL;
		goto nomem;
	}
	doc =
	    json_pack("{s:s, s:s}", "state", word, f->kind == FORGE_GITLAB ? "name" : "context", f->context);
	if (!doc)
		goto nomem;
	if (description) {
		if (!(desc = fit_text(description, f->info->description_max, 1)) ||
		    json_object_set_new(doc, "description", json_string(desc)) < 0)
			goto nomem;
	}
	if (target_url && json_object_set_new(doc, "target_url", json_string(target_url)) < 0)
		goto nomem;
	if (!(text = json_dumps(doc, JSON_COMPACT)))
		goto nomem;

	if ((rc = call_begin(&c, f, err)) < 0)
		goto out;
	rc = request(&c, "POST", path, NULL, text, 1, &resp, err);
	if (rc == 400 && f->kind == FORGE_GITLAB) {
		/*
		 * GitLab refuses to move a status to the state it is in ("Cannot
		 * transition status via :enqueue from :pending"): an earlier try got
		 * through though its answer was lost. The status is what we asked.
		 */
		char from[32];
		snprintf(from, sizeof(from), "from :%s", word);
		if (resp.body && strstr(resp.body, "Cannot transition status") && strstr(resp.body, from)) {
			if (err)
				err->msg[0] = '\0';
			rc = 0;
			goto out;
		}
	}
	rc = status_code(&c, rc, err);
	goto out;
nomem:
	rc = rp_error_set(err, RP_ENOMEM, "out of memory");
out:
	http_response_release(&resp);
	json_decref(doc);
	free(text);
	free(desc);
	free(path);
	free(repo);
	return rc;
}

/* ---- the one comment ----------------------------------------------------------------------- */

struct pr_paths {
	char *list;	/* GET (list) and POST (create) */
	char *edit_fmt; /* edit path prefix; the id is appended */
};

static void pr_paths_release(struct pr_paths *p)
{
	free(p->list);
	free(p->edit_fmt);
}

static int pr_paths_init(const struct forge_client *f, const struct forge_pr *pr, struct pr_paths *p,
			 struct rp_error *err)
{
	char *repo;
	int rc = repo_path(f, pr->repo, &repo, err);
	memset(p, 0, sizeof(*p));
	if (rc < 0)
		return rc;
	int a, b;
	if (f->kind == FORGE_GITLAB) {
		a = asprintf(&p->list, "/projects/%s/merge_requests/%" PRId64 "/notes", repo, pr->number);
		b = asprintf(&p->edit_fmt, "/projects/%s/merge_requests/%" PRId64 "/notes/", repo,
			     pr->number);
	} else {
		a = asprintf(&p->list, "/repos/%s/issues/%" PRId64 "/comments", repo, pr->number);
		b = asprintf(&p->edit_fmt, "/repos/%s/issues/comments/", repo);
	}
	free(repo);
	if (a < 0)
		p->list = NULL;
	if (b < 0)
		p->edit_fmt = NULL;
	if (a < 0 || b < 0) {
		pr_paths_release(p);
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	}
	return 0;
}

/* Whether `body` is ripple's comment: it starts with the marker (blank lines before it allowed). */
static int has_marker(const char *body, const char *marker)
{
	body += strspn(body, " \t\r\n");
	return strncmp(body, marker, strlen(marker)) == 0;
}

/*
 * The next page's path and query from a Link header (rel="next"), each
 * malloc'd; *path stays NULL when there is none. A link to another server
 * is refused: the token goes to api_url's server only.
 */
static int link_next(const struct forge_client *f, const char *link, char **path, char **query,
		     struct rp_error *err)
{
	*path = *query = NULL;
	const char *p = link;
	while (p && (p = strchr(p, '<'))) {
		const char *close = strchr(p, '>');
		if (!close)
			break;
		const char *params = close + 1, *next_entry = strchr(params, '<');
		size_t plen = next_entry ? (size_t)(next_entry - params) : strlen(params);
		int is_next = 0;
		for (const char *r = params;
		     r < params + plen && (r = strstr(r, "rel=")) && r < params + plen; r += 4) {
			const char *v = r + 4;
			v += *v == '"';
			/* rel may list several relations: rel="next last" */
			for (;;) {
				if (strncmp(v, "next", 4) == 0 &&
				    (v[4] == '"' || v[4] == ' ' || v[4] == ';' || v[4] == ',' ||
				     v[4] == '\0')) {
					is_next = 1;
					break;
				}
				const char *sp = v + strcspn(v, " \";,");
				if (*sp != ' ')
					break;
				v = sp + 1;
			}
		}
		if (is_next) {
			size_t blen = strlen(f->base), ulen = (size_t)(close - p - 1);
			const char *url = p + 1;
			if (ulen <= blen || strncmp(url, f->base, blen) != 0 || url[blen] != '/')
				return rp_error_set(
				    err, RP_EINVAL,
				    "%s: the next page is on another server than %s: not followed",
				    f->info->name, f->base);
			const char *rest = url + blen;
			size_t rlen = ulen - blen, qpos = strcspn(rest, "?>");
			if (qpos > rlen)
				qpos = rlen;
			*path = strndup(rest, qpos);
			*query = qpos < rlen ? strndup(rest + qpos + 1, rlen - qpos - 1) : strdup("");
			if (!*path || !*query) {
				free(*path), free(*query);
				*path = *query = NULL;
				return rp_error_set(err, RP_ENOMEM, "out of memory");
			}
			return 0;
		}
		p = close + 1;
	}
	if (link && strlen(link) >= HTTP_HEADER_VALUE_MAX)
		return rp_error_set(err, RP_EINVAL, "%s: a Link header too long to read the next page from",
				    f->info->name);
	return 0;
}

/* Reads every page of the PR's comments; *found: the id of the first with the marker, or 0. */
static int find_comment(struct call *c, const struct pr_paths *pp, const char *marker, int64_t *found,
			struct rp_error *err)
{
	struct forge_client *f = c->f;
	char *path = strdup(pp->list), *query = NULL;
	struct http_response resp = {0};
	json_t *page = NULL;
	int rc = 0;
	*found = 0;
	if (!path)
		goto nomem;
	switch (f->kind) {
	case FORGE_GITHUB:
		rc = asprintf(&query, "per_page=%d", FORGE_PER_PAGE);
		break;
	case FORGE_GITLAB:
		rc = asprintf(&query, "sort=asc&order_by=created_at&per_page=%d&page=1", FORGE_PER_PAGE);
		break;
	case FORGE_GITEA:
		/* Gitea lists an issue's comments whole (no page parameters); a Link, if any, is followed. */
		query = strdup("");
		rc = query ? 0 : -1;
		break;
	}
	if (rc < 0) {
		query = NULL;
		goto nomem;
	}
	for (unsigned n = 0; n < FORGE_PAGES_MAX; n++) {
		rc = request(c, "GET", path, *query ? query : NULL, NULL, 1, &resp, err);
		if (rc != 200) {
			rc = status_code(c, rc, err);
			if (rc == 0)
				rc = rp_error_set(err, RP_EINVAL, "%s: GET %s: unexpected answer",
						  f->info->name, path);
			goto out;
		}
		json_error_t jerr;
		page = json_loadb(resp.body, resp.body_len, 0, &jerr);
		if (!json_is_array(page)) {
			rc = rp_error_set(err, RP_EINVAL,
					  "%s: GET %s: the answer is not a JSON array of comments",
					  f->info->name, path);
			goto out;
		}
		size_t i;
		json_t *item;
		json_array_foreach(page, i, item)
		{
			json_t *id = json_object_get(item, "id");
			const char *body = json_string_value(json_object_get(item, "body"));
			if (!json_is_integer(id) || !body || json_is_true(json_object_get(item, "system")))
				continue;
			if (has_marker(body, marker)) {
				*found = json_integer_value(id);
				rc = 0;
				goto out;
			}
		}
		size_t items = json_array_size(page);
		json_decref(page);
		page = NULL;
		char *next_path = NULL, *next_query = NULL;
		if (f->kind == FORGE_GITLAB) {
			int64_t next;
			if (items > 0 && parse_int64(resp.headers[H_NEXT_PAGE], &next) && next > 0) {
				next_path = strdup(pp->list);
				if (asprintf(&next_query,
					     "sort=asc&order_by=created_at&per_page=%d&page=%" PRId64,
					     FORGE_PER_PAGE, next) < 0)
					next_query = NULL;
				if (!next_path || !next_query) {
					free(next_path), free(next_query);
					goto nomem;
				}
			}
		} else if ((rc = link_next(f, resp.headers[H_LINK], &next_path, &next_query, err)) < 0) {
			goto out;
		}
		http_response_release(&resp);
		if (!next_path) {
			rc = 0;
			goto out;
		}
		free(path);
		free(query);
		path = next_path;
		query = next_query;
	}
	rc = rp_error_set(err, RP_EINVAL, "%s: the PR has over %d pages of comments", f->info->name,
			  FORGE_PAGES_MAX);
	goto out;
nomem:
	rc = rp_error_set(err, RP_ENOMEM, "out of memory");
out:
	json_decref(page);
	http_response_release(&resp);
	free(path);
	free(query);
	return rc;
}

/* Edits comment `id`: 0, RP_ENOTFOUND when it is gone, or another code. */
static int edit_comment(struct call *c, const struct pr_paths *pp, int64_t id, const char *text,
			struct rp_error *err)
{
	char *path;
	if (asprintf(&path, "%s%" PRId64, pp->edit_fmt, id) < 0)
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	struct http_response resp = {0};
	int rc = request(c, c->f->info->edit_method, path, NULL, text, 1, &resp, err);
	rc = status_code(c, rc, err);
	http_response_release(&resp);
	free(path);
	return rc;
}

/* Creates the comment, one try: 0 (*id set), FORGE__AGAIN (retryable, waited), or a code. */
static int create_comment(struct call *c, const struct pr_paths *pp, const char *text, int64_t *id,
			  struct rp_error *err)
{
	struct http_response resp = {0};
	int rc = request(c, "POST", pp->list, NULL, text, 0, &resp, err);
	if (rc == FORGE__AGAIN || rc < 0)
		goto out;
	if ((rc = status_code(c, rc, err)) < 0)
		goto out;
	json_t *doc = json_loadb(resp.body, resp.body_len, 0, NULL);
	json_t *jid = json_object_get(doc, "id");
	if (json_is_integer(jid) && json_integer_value(jid) > 0) {
		*id = json_integer_value(jid);
	} else {
		rc = rp_error_set(err, RP_EINVAL, "%s: POST %s: the answer has no comment id",
				  c->f->info->name, pp->list);
	}
	json_decref(doc);
out:
	http_response_release(&resp);
	return rc;
}

int forge_upsert_comment(struct forge_client *f, const struct forge_pr *pr, const char *marker,
			 const char *markdown, int64_t *comment_id, struct rp_error *err)
{
	const char *name = f->info->name;
	struct pr_paths pp = {0};
	char *joined = NULL, *body = NULL, *text = NULL;
	json_t *doc = NULL;
	struct call c;
	int64_t id = *comment_id;
	int rc;
	if (!marker)
		marker = FORGE_MARKER_DEFAULT;
	if (!*marker || strpbrk(marker, "\r\n") || strlen(marker) > 200)
		return rp_error_set(err, RP_EINVAL,
				    "%s: the comment marker must be one line of 1 to 200 bytes", name);
	if (!markdown)
		return rp_error_set(err, RP_EINVAL, "%s: no comment text", name);
	if (pr->number <= 0)
		return rp_error_set(err, RP_EINVAL, "%s: PR number %" PRId64 " is not positive", name,
				    pr->number);
	if (*comment_id < 0)
		return rp_error_set(err, RP_EINVAL, "%s: comment id %" PRId64 " is negative", name,
				    *comment_id);
	if ((rc = pr_paths_init(f, pr, &pp, err)) < 0)
		return rc;
	if (asprintf(&joined, "%s\n%s", marker, markdown) < 0) {
		joined = NULL;
		goto nomem;
	}
	if (!(body = fit_text(joined, f->info->body_max, 0)) || !(doc = json_pack("{s:s}", "body", body)) ||
	    !(text = json_dumps(doc, JSON_COMPACT)))
		goto nomem;

	if ((rc = call_begin(&c, f, err)) < 0)
		goto out;
	if (id > 0) {
		rc = edit_comment(&c, &pp, id, text, err);
		if (rc != RP_ENOTFOUND)
			goto out; /* edited in place, or an error to report */
				  /* Deleted by someone: find another of ours, or make a new one. */
	}
	for (unsigned round = 0; round < FORGE_UPSERT_ROUNDS; round++) {
		int64_t found;
		if ((rc = find_comment(&c, &pp, marker, &found, err)) < 0)
			goto out;
		if (found) {
			rc = edit_comment(&c, &pp, found, text, err);
			if (rc == RP_ENOTFOUND)
				continue; /* deleted between the listing and the edit */
			id = found;
			goto out;
		}
		rc = create_comment(&c, &pp, text, &id, err);
		if (rc != FORGE__AGAIN)
			goto out;
		/* The create's answer was lost or refused for now: it may exist; read the comments again. */
	}
	rc = give_up(&c, "the comment kept changing under us", err);
	goto out;
nomem:
	rc = rp_error_set(err, RP_ENOMEM, "out of memory");
out:
	if (rc == 0)
		*comment_id = id;
	json_decref(doc);
	free(text);
	free(body);
	free(joined);
	pr_paths_release(&pp);
	return rc;
}
