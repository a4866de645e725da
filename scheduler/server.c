/*
 * server.c — the HTTP layer of `ripple serve` (serve.h): routes, auth, body
 * caps and status codes; everything else is the farm's.
 *
 * Why a thread per connection: a lease is a long-poll and a live log is an
 * endless response; with libmicrohttpd's thread-per-connection mode each may
 * simply block on the farm's condition variable, and a slow client stalls
 * only its own thread. Workers hold one keep-alive connection each, so the
 * thread count is the number of workers plus a few browsers.
 */
#define _GNU_SOURCE /* POLLRDHUP */
#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <microhttpd.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "autobisect.h"
#include "farm.h"
#include "forge.h"
#include "notify.h"
#include "web.h"
#include "webhook.h"
#include "core/banned.h"

extern char **environ;

#define JSON_BODY_MAX (1u << 20)
#define LOG_CHUNK_MAX (1u << 20)
#define LOG_READ_MAX (16u << 20)
#define ARTIFACT_BODY_MAX (2ULL << 30)
#define HOOK_BODY_MAX (25u << 20) /* GitHub caps its payloads at 25 MB */
#define SSE_WAIT_MS 15000

enum auth { AUTH_NONE, AUTH_WORKER, AUTH_API };
enum need { NEED_NONE, NEED_READ, NEED_WORKER, NEED_API };

struct server {
	struct farm *farm;
	struct MHD_Daemon *daemon;
	unsigned char worker_hash[32], api_hash[32];
	int public_read;
	const struct serve_config *config; /* forges and webhook secrets; NULL: none */
	_Atomic uint64_t http_counts[600]; /* by status code */
	struct notify *notify;		   /* delivers statuses, PR comments, package webhooks */
};

enum route {
	R_NONE,
	R_HEALTH,
	R_METRICS,
	R_UNIVERSE,
	R_REGISTER,
	R_LEASE,
	R_HEARTBEAT,
	R_LOG_PUT,
	R_RESULT,
	R_ARTIFACT,
	R_RUNS,
	R_RUN,
	R_CANCEL,
	R_JOB,
	R_LOG,
	R_LOG_STREAM,
	R_WORKERS,
	R_WEB,
	R_HOOK,
	R_NIGHTLY,
	R_REPORT,
	R_HISTORY,
	R_FLAKINESS,
	R_BISECTS,
	R_BISECT,
	R_COVERAGES,
	R_COVERAGE_PACKAGE,
	R_COVERAGE_COMMIT,
	R_COVERAGE_FILE,
	R_FUZZ,
	R_FUZZ_CORPUS, /* key: the package, name: the target, until the access handler makes it an R_ARTIFACT */
};

struct match {
	enum route route;
	int64_t id;
	char key[80], name[80];
	int method_ok;
	enum need need;
	int body; /* 0 none, 1 JSON, 2 log bytes, 3 artifact, 4 a webhook's raw body */
	int forge; /* R_HOOK: enum config_forge_kind */
};

/* What one request accumulates between the access handler's calls. */
struct request {
	struct match m; /* the route, found on the request's first call */
	int routed;
	enum { BODY_NONE, BODY_BUFFER, BODY_UPLOAD } body_kind;
	char *body;
	size_t len, cap, limit;
	int too_big;
	struct farm_upload *upload;
	struct rp_error upload_err;
	int upload_rc;
};

/* ---- responses ------------------------------------------------------------------------ */

static enum MHD_Result respond(struct server *s, struct MHD_Connection *c, unsigned status, const char *type,
			       char *body, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	enum MHD_Result ok = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	if (status < 600)
		atomic_fetch_add(&s->http_counts[status], 1);
	return ok;
}

static enum MHD_Result respond_json(struct server *s, struct MHD_Connection *c, unsigned status, json_t *doc)
{
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (!text)
		return MHD_NO;
	size_t len = strlen(text);
	return respond(s, c, status, "application/json", text, len);
}

static enum MHD_Result respond_error(struct server *s, struct MHD_Connection *c, unsigned status, const char *msg)
{
	return respond_json(s, c, status, json_pack("{s:s}", "error", msg));
}

static enum MHD_Result respond_empty(struct server *s, struct MHD_Connection *c, unsigned status)
{
	char *none = malloc(1);
	if (!none)
		return MHD_NO;
	return respond(s, c, status, "text/plain", none, 0);
}

static unsigned status_of(int rc)
{
	switch (rc) {
	case RP_EINVAL:
		return 400;
	case RP_ENOTFOUND:
		return 404;
	case RP_ECONFLICT:
	case RP_EEXISTS:
		return 409;
	case RP_EAUTH:
		return 401;
	case RP_ERANGE:
		return 413;
	default:
		return 503;
	}
}

static enum MHD_Result respond_rc(struct server *s, struct MHD_Connection *c, int rc, const struct rp_error *err)
{
	return respond_error(s, c, status_of(rc), err->msg);
}

/* ---- auth ------------------------------------------------------------------------------ */

static void sha256(const void *data, size_t len, unsigned char out[32])
{
	unsigned int n = 32;
	EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

/* 401 when the header is missing or malformed, 403 when the token is wrong; 0 and *who otherwise. */
static unsigned authenticate(const struct server *s, struct MHD_Connection *c, enum auth *who)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	*who = AUTH_NONE;
	if (!h)
		return 401;
	if (strncmp(h, "Bearer ", 7) != 0 || strlen(h + 7) == 0 || strlen(h + 7) > 512)
		return 401;
	unsigned char digest[32];
	sha256(h + 7, strlen(h + 7), digest);
	/* Both compared, always, so timing says nothing about which kind nearly matched. */
	int worker = CRYPTO_memcmp(digest, s->worker_hash, 32) == 0;
	int api = CRYPTO_memcmp(digest, s->api_hash, 32) == 0;
	*who = api ? AUTH_API : worker ? AUTH_WORKER : AUTH_NONE;
	return *who == AUTH_NONE ? 403 : 0;
}

static int allowed(const struct server *s, struct MHD_Connection *c, enum need need, unsigned *status,
		   const char **why)
{
	enum auth who;
	*status = 0;
	if (need == NEED_NONE || (need == NEED_READ && s->public_read))
		return 1;
	unsigned st = authenticate(s, c, &who);
	if (st) {
		*status = st;
		*why = st == 401 ? "missing or malformed Authorization header; expected \"Bearer TOKEN\""
				 : "the token is not valid here";
		return 0;
	}
	if ((need == NEED_WORKER && who != AUTH_WORKER) || (need == NEED_API && who != AUTH_API)) {
		*status = 403;
		*why = need == NEED_WORKER ? "this endpoint needs the worker token" : "this endpoint needs the API token";
		return 0;
	}
	return 1;
}

/* ---- routing ---------------------------------------------------------------------------- */



/* A positive decimal id of at most 18 digits; -1 otherwise. */
static int64_t parse_id(const char *s, size_t len)
{
	if (len == 0 || len > 18)
		return -1;
	int64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v > 0 ? v : -1;
}

/* Splits `url` into at most 8 segments; 0 for anything unusual (empty segments, dot segments, long). */
static size_t split(const char *url, const char *seg[8], size_t len[8])
{
	size_t n = 0;
	if (url[0] != '/' || strlen(url) > 512)
		return 0;
	const char *p = url + 1;
	while (*p) {
		const char *e = strchr(p, '/');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		if (n == 8 || l == 0 || (l == 1 && p[0] == '.') || (l == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		seg[n] = p;
		len[n++] = l;
		p += l;
		if (*p == '/')
			p++;
		if (*p == '\0' && e)
			return 0; /* trailing slash */
	}
	return n;
}

static int is(const char *seg, size_t len, const char *word)
{
	return strlen(word) == len && memcmp(seg, word, len) == 0;
}

static void route(const char *url, const char *method, struct match *m)
{
	const char *seg[8];
	size_t len[8];
	int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0, post = strcmp(method, "POST") == 0,
	    put = strcmp(method, "PUT") == 0;
	memset(m, 0, sizeof(*m));
	if (web_find(url)) {
		m->route = R_WEB;
		m->method_ok = get;
		m->need = NEED_NONE; /* the page itself; what it shows comes from the API */
		return;
	}
	size_t n = split(url, seg, len);
	if (n == 1 && is(seg[0], len[0], "healthz")) {
		*m = (struct match){ .route = R_HEALTH, .method_ok = get, .need = NEED_NONE };
		return;
	}
	if (n == 1 && is(seg[0], len[0], "metrics")) {
		*m = (struct match){ .route = R_METRICS, .method_ok = get, .need = NEED_READ };
		return;
	}
	if (n == 2 && is(seg[0], len[0], "hooks")) {
		int forge = webhook_forge_of(seg[1], len[1]);
		if (forge >= 0) /* the delivery's signature is its authentication */
			*m = (struct match){ .route = R_HOOK, .method_ok = post, .need = NEED_NONE, .body = 4,
					     .forge = forge };
		return;
	}
	if (n < 3 || !is(seg[0], len[0], "api") || !is(seg[1], len[1], "v1"))
		return;
	const char *a = seg[2];
	size_t al = len[2];
	if (n == 3 && is(a, al, "universe"))
		*m = (struct match){ .route = R_UNIVERSE, .method_ok = get, .need = NEED_WORKER };
	else if (n == 4 && is(a, al, "workers") && is(seg[3], len[3], "register"))
		*m = (struct match){ .route = R_REGISTER, .method_ok = post, .need = NEED_WORKER, .body = 1 };
	else if (n == 3 && is(a, al, "workers"))
		*m = (struct match){ .route = R_WORKERS, .method_ok = get, .need = NEED_READ };
	else if (n == 3 && is(a, al, "lease"))
		*m = (struct match){ .route = R_LEASE, .method_ok = post, .need = NEED_WORKER, .body = 1 };
	else if (n == 3 && is(a, al, "runs"))
		*m = (struct match){ .route = R_RUNS, .method_ok = get || post, .need = post ? NEED_API : NEED_READ,
				     .body = post };
	else if (n == 4 && is(a, al, "runs"))
		*m = (struct match){ .route = R_RUN, .method_ok = get, .need = NEED_READ };
	else if (n == 4 && is(a, al, "history") && len[3] < sizeof(m->key)) {
		*m = (struct match){ .route = R_HISTORY, .method_ok = get, .need = NEED_READ };
		memcpy(m->key, seg[3], len[3]);
	} else if (n == 3 && is(a, al, "flakiness"))
		*m = (struct match){ .route = R_FLAKINESS, .method_ok = get, .need = NEED_READ };
	else if (n == 3 && is(a, al, "bisects"))
		*m = (struct match){ .route = R_BISECTS, .method_ok = get, .need = NEED_READ };
	else if (n == 4 && is(a, al, "bisects"))
		*m = (struct match){ .route = R_BISECT, .method_ok = get, .need = NEED_READ };
	else if (n == 3 && is(a, al, "nightly"))
		*m = (struct match){ .route = R_NIGHTLY, .method_ok = post, .need = NEED_API };
	else if (n == 5 && is(a, al, "runs") && is(seg[4], len[4], "report"))
		*m = (struct match){ .route = R_REPORT, .method_ok = get, .need = NEED_READ };
	else if (n == 5 && is(a, al, "runs") && is(seg[4], len[4], "cancel"))
		*m = (struct match){ .route = R_CANCEL, .method_ok = post, .need = NEED_API };
	else if (n == 4 && is(a, al, "jobs"))
		*m = (struct match){ .route = R_JOB, .method_ok = get, .need = NEED_READ };
	else if (n == 5 && is(a, al, "jobs") && is(seg[4], len[4], "heartbeat"))
		*m = (struct match){ .route = R_HEARTBEAT, .method_ok = post, .need = NEED_WORKER, .body = 1 };
	else if (n == 5 && is(a, al, "jobs") && is(seg[4], len[4], "result"))
		*m = (struct match){ .route = R_RESULT, .method_ok = post, .need = NEED_WORKER, .body = 1 };
	else if (n == 5 && is(a, al, "jobs") && is(seg[4], len[4], "log"))
		*m = (struct match){ .route = put ? R_LOG_PUT : R_LOG, .method_ok = get || put,
				     .need = put ? NEED_WORKER : NEED_READ, .body = put ? 2 : 0 };
	else if (n == 6 && is(a, al, "jobs") && is(seg[4], len[4], "log") && is(seg[5], len[5], "stream"))
		*m = (struct match){ .route = R_LOG_STREAM, .method_ok = get, .need = NEED_READ };
	else if (n == 3 && is(a, al, "coverage"))
		*m = (struct match){ .route = R_COVERAGES, .method_ok = get, .need = NEED_READ };
	else if (n >= 4 && n <= 6 && is(a, al, "coverage") && len[3] < sizeof(m->key) &&
		 (n == 4 || len[4] < sizeof(m->name)) && (n < 6 || is(seg[5], len[5], "file"))) {
		*m = (struct match){ .route = n == 4 ? R_COVERAGE_PACKAGE : n == 5 ? R_COVERAGE_COMMIT : R_COVERAGE_FILE,
				     .method_ok = get, .need = NEED_READ };
		memcpy(m->key, seg[3], len[3]);
		if (n > 4)
			memcpy(m->name, seg[4], len[4]);
		return;
	} else if (n == 3 && is(a, al, "fuzz")) {
		*m = (struct match){ .route = R_FUZZ, .method_ok = get, .need = NEED_READ };
	} else if (n == 5 && is(a, al, "fuzz") && is(seg[3], len[3], "reproducers") && len[4] < sizeof(m->key)) {
		/* A reproducer is an artifact under its own SHA-256; anyone who reads the farm may fetch it. */
		*m = (struct match){ .route = R_ARTIFACT, .method_ok = get || put, .need = put ? NEED_WORKER : NEED_READ,
				     .body = put ? 3 : 0 };
		memcpy(m->key, seg[4], len[4]);
		snprintf(m->name, sizeof(m->name), "reproducer");
		return;
	} else if (n == 6 && is(a, al, "fuzz") && is(seg[3], len[3], "corpus") && len[4] < sizeof(m->key) &&
		   len[5] < sizeof(m->name)) {
		/* Workers keep it; whoever reads the farm may fetch it (to fuzz or reproduce at home). */
		*m = (struct match){ .route = R_FUZZ_CORPUS, .method_ok = get || put, .need = put ? NEED_WORKER : NEED_READ,
				     .body = put ? 3 : 0 };
		memcpy(m->key, seg[4], len[4]);
		memcpy(m->name, seg[5], len[5]);
		return;
	} else if (n == 5 && is(a, al, "artifacts") && len[3] < sizeof(m->key) && len[4] < sizeof(m->name)) {
		*m = (struct match){ .route = R_ARTIFACT, .method_ok = get || put, .need = NEED_WORKER,
				     .body = put ? 3 : 0 };
		memcpy(m->key, seg[3], len[3]);
		memcpy(m->name, seg[4], len[4]);
		return;
	}
	if (m->route == R_RUN || m->route == R_BISECT || m->route == R_CANCEL || m->route == R_REPORT || m->route == R_JOB || m->route == R_HEARTBEAT ||
	    m->route == R_RESULT || m->route == R_LOG_PUT || m->route == R_LOG || m->route == R_LOG_STREAM) {
		m->id = parse_id(seg[3], len[3]);
		if (m->id < 0)
			m->route = R_NONE;
	}
}

/* ---- query parameters ------------------------------------------------------------------- */

/* An integer query parameter in [min, max]; `def` when absent. -1 return: malformed. */
static int query_int(struct MHD_Connection *c, const char *name, int64_t min, int64_t max, int64_t def,
		     int64_t *out)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
	*out = def;
	if (!v)
		return 0;
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (errno || end == v || *end || x < min || x > max)
		return -1;
	*out = x;
	return 0;
}

/* ---- handlers ----------------------------------------------------------------------------- */

static json_t *parse_body(const struct request *rq, struct rp_error *err)
{
	json_error_t jerr;
	json_t *doc = json_loadb(rq->body ? rq->body : "", rq->len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc)
		rp_error_set(err, RP_EINVAL, "malformed JSON body at line %d column %d: %s", jerr.line, jerr.column,
			     jerr.text);
	return doc;
}

struct sse {
	struct server *s;
	int64_t job;
	int attempt; /* fixed when the stream starts, so offsets never mix two attempts' logs */
	int64_t offset;
	int ended_sent;
};

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct sse *e = cls;
	(void)pos;
	if (e->ended_sent)
		return MHD_CONTENT_READER_END_OF_STREAM;
	size_t room = max > 128 ? (max - 128) / 8 : 0;
	if (room == 0)
		return 0;
	char chunk[4096];
	size_t want = room < sizeof(chunk) ? room : sizeof(chunk), n = 0;
	int64_t size = 0;
	int ended = 0;
	struct rp_error err;
	int rc = farm_log_read(e->s->farm, e->job, &e->attempt, e->offset, chunk, want, &n, &size, &ended, SSE_WAIT_MS,
			       &err);
	if (rc < 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (n == 0) {
		if (ended) {
			e->ended_sent = 1;
			return snprintf(buf, max, "event: end\ndata: %lld\n\n", (long long)size);
		}
		return snprintf(buf, max, ": waiting\n\n"); /* also finds out when the client left */
	}
	e->offset += (int64_t)n;
	size_t w = (size_t)snprintf(buf, max, "id: %lld\ndata: ", (long long)e->offset);
	for (size_t i = 0; i < n; i++) {
		if (chunk[i] == '\r' && i + 1 < n && chunk[i + 1] == '\n')
			continue; /* CR LF is one line break */
		if (chunk[i] == '\n' || chunk[i] == '\r') {
			memcpy(buf + w, "\ndata: ", 7);
			w += 7;
		} else {
			buf[w++] = chunk[i];
		}
	}
	memcpy(buf + w, "\n\n", 2);
	return (ssize_t)(w + 2);
}

static enum MHD_Result handle_log_stream(struct server *s, struct MHD_Connection *c, int64_t job)
{
	struct sse *e = calloc(1, sizeof(*e));
	int64_t from = 0;
	if (!e)
		return MHD_NO;
	e->s = s;
	e->job = job;
	const char *last = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
	if (last) {
		char *end;
		long long v = strtoll(last, &end, 10);
		if (end != last && !*end && v >= 0)
			from = v;
	}
	if (query_int(c, "offset", 0, INT64_MAX, from, &from) < 0) {
		free(e);
		return respond_error(s, c, 400, "query \"offset\": expected a byte offset");
	}
	e->offset = from;
	json_t *probe;
	struct rp_error err;
	int64_t attempt;
	int rc = farm_job_json(s->farm, job, &probe, &err);
	if (rc < 0) {
		free(e);
		return respond_rc(s, c, rc, &err);
	}
	json_int_t latest = json_integer_value(json_object_get(probe, "attempt"));
	if (query_int(c, "attempt", 0, 1000, latest, &attempt) < 0) {
		json_decref(probe);
		free(e);
		return respond_error(s, c, 400, "query \"attempt\": expected an attempt number");
	}
	if (attempt > latest) {
		json_decref(probe);
		free(e);
		return respond_error(s, c, 404, "the job has no such attempt yet");
	}
	json_decref(probe);
	e->attempt = (int)attempt;
	struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, sse_read, e, free);
	if (!r) {
		free(e);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "text/event-stream");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	enum MHD_Result ok = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	atomic_fetch_add(&s->http_counts[200], 1);
	return ok;
}

static enum MHD_Result handle_log_get(struct server *s, struct MHD_Connection *c, int64_t job)
{
	int64_t attempt, offset, length;
	if (query_int(c, "attempt", 0, 1000, -1, &attempt) < 0 || query_int(c, "offset", 0, INT64_MAX, 0, &offset) < 0 ||
	    query_int(c, "length", 0, LOG_READ_MAX, LOG_READ_MAX, &length) < 0)
		return respond_error(s, c, 400, "query: attempt, offset and length must be integers in range (length <= 16 MiB)");
	size_t n = 0;
	int64_t size = 0;
	int ended = 0, a = (int)attempt;
	struct rp_error err;
	/* The size first, so a short log gets a short buffer, whatever `length` asks for. */
	int rc = farm_log_read(s->farm, job, &a, offset, NULL, 0, &n, &size, &ended, 0, &err);
	if (rc < 0)
		return respond_rc(s, c, rc, &err);
	if (size - offset < length)
		length = size > offset ? size - offset : 0;
	char *buf = malloc(length ? (size_t)length : 1);
	if (!buf)
		return MHD_NO;
	rc = farm_log_read(s->farm, job, &a, offset, buf, (size_t)length, &n, &size, &ended, 0, &err);
	if (rc < 0) {
		free(buf);
		return respond_rc(s, c, rc, &err);
	}
	struct MHD_Response *r = MHD_create_response_from_buffer(n, buf, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(buf);
		return MHD_NO;
	}
	char sz[32];
	snprintf(sz, sizeof(sz), "%lld", (long long)size);
	MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Ripple-Log-Size", sz);
	MHD_add_response_header(r, "X-Ripple-Log-Done", ended ? "1" : "0");
	char at[16];
	snprintf(at, sizeof(at), "%d", a);
	MHD_add_response_header(r, "X-Ripple-Log-Attempt", at);
	enum MHD_Result ok = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	atomic_fetch_add(&s->http_counts[200], 1);
	return ok;
}

static enum MHD_Result handle_artifact_get(struct server *s, struct MHD_Connection *c, const struct match *m)
{
	FILE *fp;
	int64_t size;
	char sha[65];
	struct rp_error err;
	int rc = farm_artifact_open(s->farm, m->key, m->name, &fp, &size, sha, &err);
	if (rc < 0)
		return respond_rc(s, c, rc, &err);
	int fd = dup(fileno(fp));
	fclose(fp);
	if (fd < 0)
		return respond_error(s, c, 503, "cannot open the artifact");
	struct MHD_Response *r = MHD_create_response_from_fd64((uint64_t)size, fd);
	if (!r) {
		close(fd);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/octet-stream");
	MHD_add_response_header(r, "X-Ripple-Sha256", sha);
	enum MHD_Result ok = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	atomic_fetch_add(&s->http_counts[200], 1);
	return ok;
}

static int64_t now_ms_wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *header_of(void *ctx, const char *name)
{
	return MHD_lookup_connection_value((struct MHD_Connection *)ctx, MHD_HEADER_KIND, name);
}

/* Whether the client of a long-poll is still connected: it sends nothing more, so any readable end is a close. */
static int client_alive(void *ctx)
{
	struct MHD_Connection *c = ctx;
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!info)
		return 1;
	struct pollfd p = { .fd = info->connect_fd, .events = POLLIN | POLLRDHUP };
	if (poll(&p, 1, 0) <= 0)
		return 1;
	if (p.revents & (POLLRDHUP | POLLHUP | POLLERR))
		return 0;
	char byte;
	return recv(info->connect_fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) != 0;
}

/* The request is complete: answer it. */
static enum MHD_Result dispatch(struct server *s, struct MHD_Connection *c, const struct match *m,
				struct request *rq, const char *url)
{
	struct rp_error err = { 0 };
	json_t *out = NULL, *req = NULL;
	int rc = 0;
	unsigned ok_status = 200;
	if (rq->too_big)
		return m->body ? respond_error(s, c, 413, "request body too large")
			       : respond_error(s, c, 400, "this endpoint takes no body");
	if (m->body == 1) {
		if (!(req = parse_body(rq, &err)))
			return respond_error(s, c, 400, err.msg);
	}
	switch (m->route) {
	case R_WEB: {
		const struct web_file *wf = web_find(url);
		char *copy = malloc(wf->size ? wf->size : 1);
		if (!copy)
			return MHD_NO;
		memcpy(copy, wf->data, wf->size);
		return respond(s, c, 200, wf->type, copy, wf->size);
	}
	case R_HEALTH: {
		char *t = strdup("ok\n");
		return t ? respond(s, c, 200, "text/plain", t, 3) : MHD_NO;
	}
	case R_METRICS: {
		uint64_t counts[600];
		char *text;
		for (int i = 0; i < 600; i++)
			counts[i] = atomic_load(&s->http_counts[i]);
		if ((rc = farm_metrics(s->farm, counts, &text, &err)) < 0)
			break;
		return respond(s, c, 200, "text/plain; version=0.0.4", text, strlen(text));
	}
	case R_UNIVERSE:
		out = farm_universe_json(s->farm);
		break;
	case R_REGISTER:
		rc = farm_register(s->farm, req, &out, &err);
		break;
	case R_LEASE:
		rc = farm_lease(s->farm, req, client_alive, c, &out, &err);
		if (rc == 0 && !out) {
			json_decref(req);
			return respond_empty(s, c, 204);
		}
		break;
	case R_HEARTBEAT:
		rc = farm_heartbeat(s->farm, m->id, req, &out, &err);
		break;
	case R_RESULT:
		rc = farm_result(s->farm, m->id, req, &out, &err);
		break;
	case R_LOG_PUT: {
		int64_t fence, offset, size = 0;
		const char *worker = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "worker");
		if (!worker || query_int(c, "fence", 1, INT64_MAX, -1, &fence) < 0 || fence < 0 ||
		    query_int(c, "offset", 0, INT64_MAX, -1, &offset) < 0 || offset < 0)
			return respond_error(s, c, 400, "query: expected worker=NAME&fence=F&offset=N");
		rc = farm_log_put(s->farm, m->id, worker, fence, offset, rq->body, rq->len, &size, &err);
		if (rc == RP_ECONFLICT && size >= 0)
			return respond_json(s, c, 409, json_pack("{s:s, s:I}", "error", err.msg, "size", (json_int_t)size));
		if (rc == 0)
			out = json_pack("{s:I}", "size", (json_int_t)size);
		break;
	}
	case R_ARTIFACT:
		if (m->body == 3) {
			if (rq->upload_rc < 0) {
				rc = rq->upload_rc;
				err = rq->upload_err;
				break;
			}
			rc = farm_artifact_commit(rq->upload, &err);
			rq->upload = NULL;
			if (rc == 0)
				out = json_pack("{s:s, s:s}", "build_key", m->key, "name", m->name);
			break;
		}
		return handle_artifact_get(s, c, m);
	case R_RUNS:
		if (m->body) {
			int64_t run = 0;
			size_t njobs = 0;
			int created = 0;
			rc = farm_submit(s->farm, req, &run, &njobs, &created, &err);
			if (rc == 0) {
				out = json_pack("{s:I, s:I, s:b}", "run", (json_int_t)run, "jobs", (json_int_t)njobs,
						"created", created);
				ok_status = created ? 201 : 200;
			}
		} else {
			int64_t limit, before;
			if (query_int(c, "limit", 1, 1000, 50, &limit) < 0 || query_int(c, "before", 1, INT64_MAX, 0, &before) < 0)
				return respond_error(s, c, 400, "query: limit is 1..1000, before a run id");
			rc = farm_runs_json(s->farm, before, (size_t)limit, &out, &err);
		}
		break;
	case R_RUN: {
		char *text = NULL;
		size_t len = 0;
		if ((rc = farm_run_page(s->farm, m->id, &text, &len, &err)) < 0)
			break;
		json_decref(req);
		return respond(s, c, ok_status, "application/json", text, len);
	}
	case R_CANCEL: {
		size_t q = 0, r = 0;
		rc = farm_cancel(s->farm, m->id, &q, &r, &err);
		if (rc == 0)
			out = json_pack("{s:I, s:I, s:I}", "run", (json_int_t)m->id, "cancelled_queued", (json_int_t)q,
					"signalled_running", (json_int_t)r);
		break;
	}
	case R_JOB:
		rc = farm_job_json(s->farm, m->id, &out, &err);
		break;
	case R_LOG:
		return handle_log_get(s, c, m->id);
	case R_LOG_STREAM:
		return handle_log_stream(s, c, m->id);
	case R_WORKERS:
		rc = farm_workers_json(s->farm, &out, &err);
		break;
	case R_NIGHTLY: {
		int64_t run = 0;
		size_t njobs = 0;
		int created = 0;
		/* ?fuzz=true|false: whether this nightly fuzzes; the config says when absent. */
		const char *fz = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "fuzz");
		if (fz && strcmp(fz, "true") != 0 && strcmp(fz, "false") != 0)
			return respond_error(s, c, 400, "query parameter \"fuzz\": expected true or false");
		rc = farm_nightly(s->farm, now_ms_wall(), fz ? strcmp(fz, "true") == 0 : -1, &run, &njobs, &created, &err);
		if (rc == 0) {
			out = json_pack("{s:I, s:I, s:b}", "run", (json_int_t)run, "jobs", (json_int_t)njobs, "created",
					created);
			ok_status = created ? 201 : 200;
		}
		break;
	}
	case R_REPORT:
		rc = farm_run_report(s->farm, m->id, &out, &err);
		break;
	case R_FLAKINESS:
		rc = farm_flakiness_json(s->farm, &out, &err);
		break;
	case R_BISECTS: {
		int64_t run = 0;
		if (query_int(c, "run", 1, INT64_MAX, 0, &run) < 0)
			rc = rp_error_set(&err, RP_EINVAL, "query parameter \"run\": expected a run id");
		else
			rc = autobisect_list_json(s->farm, run, &out, &err);
		break;
	}
	case R_BISECT:
		rc = autobisect_json(s->farm, m->id, &out, &err);
		break;
	case R_HISTORY: {
		const char *res = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "resolution");
		rc = farm_history_json(s->farm, m->key, MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "target"),
				       MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "metric"), res ? res : "day",
				       &out, &err);
		break;
	}
	case R_FUZZ:
		rc = farm_fuzz_json(s->farm, MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "package"), &out, &err);
		break;
	case R_COVERAGES:
		rc = farm_coverage_packages_json(s->farm, &out, &err);
		break;
	case R_COVERAGE_PACKAGE: {
		int64_t limit = 0;
		if (query_int(c, "limit", 1, 1000, 200, &limit) < 0)
			rc = rp_error_set(&err, RP_EINVAL, "query parameter \"limit\": expected 1 to 1000");
		else
			rc = farm_coverage_package_json(s->farm, m->key, (size_t)limit, &out, &err);
		break;
	}
	case R_COVERAGE_COMMIT: {
		const char *format = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "format");
		if (!format || strcmp(format, "json") == 0) {
			rc = farm_coverage_commit_json(s->farm, m->key, m->name, &out, &err);
			break;
		}
		char *text = NULL;
		size_t len = 0;
		if ((rc = farm_coverage_export(s->farm, m->key, m->name, format, &text, &len, &err)) < 0)
			break;
		json_decref(req);
		return respond(s, c, ok_status, strcmp(format, "lcov") == 0 ? "text/plain; charset=utf-8" : "application/xml",
			       text, len);
	}
	case R_COVERAGE_FILE: {
		const char *path = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "path");
		if (!path || !*path)
			rc = rp_error_set(&err, RP_EINVAL, "query parameter \"path\": expected a file's path in the report");
		else
			rc = farm_coverage_file_json(s->farm, m->key, m->name, path, &out, &err);
		break;
	}
	case R_HOOK:
		rc = webhook_handle(s->farm, s->config, (enum config_forge_kind)m->forge, header_of, c, rq->body ? rq->body : "",
				    rq->len, &out, &err);
		break;
	case R_NONE:
	case R_FUZZ_CORPUS: /* made an R_ARTIFACT when the request arrived */
		break;
	}
	json_decref(req);
	if (rc < 0) {
		json_decref(out);
		return respond_rc(s, c, rc, &err);
	}
	if (!out)
		return respond_error(s, c, 503, "out of memory");
	return respond_json(s, c, ok_status, out);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
	struct server *s = cls;
	struct request *rq = *con_cls;
	(void)version;
	if (!rq) {
		if (!(rq = calloc(1, sizeof(*rq))))
			return MHD_NO;
		*con_cls = rq;
		route(url, method, &rq->m);
		if (rq->m.route == R_FUZZ_CORPUS) { /* a corpus is the artifact "corpus" under its (package, target)'s key */
			char key[65];
			struct rp_error kerr;
			if (farm_fuzz_corpus_key(s->farm, rq->m.key, rq->m.name, key, &kerr) < 0)
				return respond_error(s, c, 404, kerr.msg);
			snprintf(rq->m.key, sizeof(rq->m.key), "%s", key);
			snprintf(rq->m.name, sizeof(rq->m.name), "corpus");
			rq->m.route = R_ARTIFACT;
		}
		const struct match m = rq->m;
		if (m.route == R_NONE)
			return respond_error(s, c, 404, "no such endpoint; see docs/api.md");
		if (!m.method_ok)
			return respond_error(s, c, 405, "method not allowed on this endpoint");
		unsigned status;
		const char *why;
		if (!allowed(s, c, m.need, &status, &why))
			return respond_error(s, c, status, why);
		/* Refused before the body is read, so an `Expect: 100-continue` client sends none of it. */
		const char *length = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		unsigned long long max = m.body == 3 ? ARTIFACT_BODY_MAX : m.body == 4 ? HOOK_BODY_MAX
					 : m.body == 2 ? LOG_CHUNK_MAX : JSON_BODY_MAX;
		if (length && strtoull(length, NULL, 10) > max)
			return respond_error(s, c, 413, m.body ? "request body too large" : "this endpoint takes no body");
		rq->routed = 1;
		if (m.body == 3) {
			const char *sha = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "sha256");
			if (strcmp(m.name, "reproducer") == 0 && (!sha || strcmp(sha, m.key) != 0))
				return respond_error(s, c, 400, "a reproducer is PUT under its own SHA-256: expected"
							       " ?sha256= to repeat the path's");
			rq->body_kind = BODY_UPLOAD;
			rq->upload_rc = farm_artifact_begin(s->farm, m.key, m.name, sha, &rq->upload, &rq->upload_err);
			if (rq->upload_rc < 0) {
				rq->routed = 0;
				return respond_rc(s, c, rq->upload_rc, &rq->upload_err);
			}
		} else if (m.body) {
			rq->body_kind = BODY_BUFFER;
			rq->limit = m.body == 2 ? LOG_CHUNK_MAX : m.body == 4 ? HOOK_BODY_MAX : JSON_BODY_MAX;
		} else {
			rq->limit = 0;
		}
		return MHD_YES;
	}
	if (!rq->routed)
		return MHD_YES; /* answered already; drain what the client still sends */
	if (*upload_size) {
		size_t n = *upload_size;
		*upload_size = 0;
		if (rq->body_kind == BODY_UPLOAD) {
			int wrc;
			if (rq->upload_rc == 0 && (wrc = farm_artifact_write(rq->upload, upload_data, n, &rq->upload_err)) < 0) {
				rq->upload_rc = wrc; /* too large (413) or the disk (503) */
				farm_artifact_abort(rq->upload);
				rq->upload = NULL;
			}
			return MHD_YES;
		}
		if (rq->too_big || rq->len + n > rq->limit) {
			rq->too_big = 1;
			return MHD_YES;
		}
		if (rq->len + n > rq->cap) {
			size_t cap = rq->cap ? rq->cap : 4096;
			while (cap < rq->len + n)
				cap *= 2;
			char *b = realloc(rq->body, cap);
			if (!b)
				return MHD_NO;
			rq->body = b;
			rq->cap = cap;
		}
		memcpy(rq->body + rq->len, upload_data, n);
		rq->len += n;
		return MHD_YES;
	}
	rq->routed = 0; /* one answer per request */
	return dispatch(s, c, &rq->m, rq, url);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode code)
{
	struct request *rq = *con_cls;
	(void)cls;
	(void)c;
	(void)code;
	if (!rq)
		return;
	farm_artifact_abort(rq->upload);
	free(rq->body);
	free(rq);
	*con_cls = NULL;
}

/*
 * Decodes %HH in the path and in query values. A NUL or a malformed escape
 * turns the whole string into "\x7f", which no route or parameter accepts:
 * libmicrohttpd's own decoder would let "/jobs/1%00x" reach us as "/jobs/1".
 */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
	size_t r = 0, w = 0;
	(void)cls;
	(void)c;
	while (s[r]) {
		if (s[r] != '%') {
			s[w++] = s[r++];
			continue;
		}
		int hi = s[r + 1] ? (s[r + 1] >= '0' && s[r + 1] <= '9' ? s[r + 1] - '0'
				    : (s[r + 1] | 32) >= 'a' && (s[r + 1] | 32) <= 'f' ? (s[r + 1] | 32) - 'a' + 10 : -1) : -1;
		int lo = hi >= 0 && s[r + 2] ? (s[r + 2] >= '0' && s[r + 2] <= '9' ? s[r + 2] - '0'
				    : (s[r + 2] | 32) >= 'a' && (s[r + 2] | 32) <= 'f' ? (s[r + 2] | 32) - 'a' + 10 : -1) : -1;
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
			s[0] = 0x7f;
			s[1] = '\0';
			return 1;
		}
		s[w++] = (char)(hi * 16 + lo);
		r += 3;
	}
	s[w] = '\0';
	return w;
}

/* ---- tokens ------------------------------------------------------------------------------ */

static int read_token(const char *path, unsigned char hash[32], char hex[65], struct rp_error *err)
{
	FILE *fp = fopen(path, "r");
	char line[600];
	if (!fp)
		return rp_error_set(err, RP_EIO, "token file %s: %s", path, strerror(errno));
	int ok = fgets(line, sizeof(line), fp) != NULL;
	fclose(fp);
	line[ok ? strcspn(line, "\r\n") : 0] = '\0';
	if (!ok || !line[0] || strlen(line) > 512)
		return rp_error_set(err, RP_EINVAL, "token file %s: expected the token (1 to 512 bytes) on its first line",
				    path);
	sha256(line, strlen(line), hash);
	if (hex)
		for (int i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", hash[i]);
	explicit_bzero(line, sizeof(line));
	return 0;
}

/* Makes `path` with a fresh random token unless it exists. */
static int make_token(const char *path, struct rp_error *err)
{
	unsigned char raw[32];
	char hex[66];
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		return errno == EEXIST ? 0 : rp_error_set(err, RP_EIO, "cannot create %s: %s", path, strerror(errno));
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		close(fd);
		unlink(path);
		return rp_error_set(err, RP_EIO, "no random bytes for a token");
	}
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	hex[64] = '\n';
	int ok = write(fd, hex, 65) == 65;
	ok &= close(fd) == 0;
	explicit_bzero(hex, sizeof(hex));
	if (!ok) {
		unlink(path);
		return rp_error_set(err, RP_EIO, "cannot write %s", path);
	}
	return 0;
}

/* ---- listening ------------------------------------------------------------------------------ */

static int parse_listen(const char *listen, struct sockaddr_storage *ss, struct rp_error *err)
{
	char host[128];
	const char *colon = strrchr(listen, ':');
	if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof(host))
		return rp_error_set(err, RP_EINVAL, "--listen %s: expected ADDR:PORT or [V6ADDR]:PORT", listen);
	size_t hl = (size_t)(colon - listen);
	memcpy(host, listen, hl);
	host[hl] = '\0';
	if (host[0] == '[' && hl >= 2 && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (end == colon + 1 || *end || port < 0 || port > 65535)
		return rp_error_set(err, RP_EINVAL, "--listen %s: expected a port from 0 to 65535", listen);
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST, .ai_socktype = SOCK_STREAM }, *ai;
	if (getaddrinfo(host, NULL, &hints, &ai) != 0)
		return rp_error_set(err, RP_EINVAL, "--listen %s: expected a numeric IPv4 or IPv6 address", listen);
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
	return 0;
}

/* ---- the serve loop ------------------------------------------------------------------------ */

static void say(const struct serve_options *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const struct serve_options *o, const char *fmt, ...)
{
	char line[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (o->on_line)
		o->on_line(line, o->data);
}

/*
 * The start of the next nightly slot after `now`: slots begin at nightly.at
 * (local time) each day and every `every_hours` after it.
 */
static int64_t next_slot(const struct serve_config *c, int64_t now)
{
	time_t t = (time_t)(now / 1000);
	struct tm tm;
	localtime_r(&t, &tm);
	tm.tm_hour = c->nightly_hour;
	tm.tm_min = c->nightly_minute;
	tm.tm_sec = 0;
	tm.tm_isdst = -1;
	int64_t slot = (int64_t)mktime(&tm) * 1000, step = (int64_t)c->nightly_every_hours * 3600 * 1000;
	while (slot - step > now)
		slot -= step;
	while (slot <= now)
		slot += step;
	return slot;
}

static int spawn_worker(const struct serve_options *o, const char *url, const char *token_file,
			const char *cache_root, unsigned k, pid_t *pid, struct rp_error *err)
{
	char name[64], cache[PATH_MAX + 32], slots[16];
	snprintf(name, sizeof(name), "local-%u", k + 1);
	snprintf(cache, sizeof(cache), "%s/worker-%u", cache_root, k + 1);
	snprintf(slots, sizeof(slots), "%u", o->worker_slots ? o->worker_slots : 1);
	char *argv[] = { (char *)o->self_exe, "worker", "--server", (char *)url, "--token-file", (char *)token_file,
			 "--name", name, "--cache", cache, "--slots", slots, "--all-targets", NULL };
	int rc = posix_spawn(pid, o->self_exe, NULL, NULL, argv, environ);
	if (rc != 0)
		return rp_error_set(err, RP_EIO, "cannot start worker %s: %s", name, strerror(rc));
	return 0;
}

static void stop_workers(pid_t *pids, unsigned n)
{
	for (unsigned k = 0; k < n; k++)
		if (pids[k] > 0)
			kill(pids[k], SIGTERM);
	/* They give their jobs back and post that: a grace longer than theirs (30 s), then kill. */
	for (int waited = 0; waited < 350; waited++) {
		unsigned left = 0;
		for (unsigned k = 0; k < n; k++) {
			if (pids[k] <= 0)
				continue;
			if (waitpid(pids[k], NULL, WNOHANG) == pids[k])
				pids[k] = 0;
			else
				left++;
		}
		if (!left)
			return;
		struct timespec ts = { 0, 100 * 1000000 };
		nanosleep(&ts, NULL);
	}
	for (unsigned k = 0; k < n; k++) {
		if (pids[k] > 0) {
			kill(pids[k], SIGKILL);
			waitpid(pids[k], NULL, 0);
			pids[k] = 0;
		}
	}
}

int serve_run(const struct serve_options *o, volatile sig_atomic_t *stop, struct rp_error *err)
{
	struct server s = { .public_read = o->public_read, .config = o->config };
	struct sockaddr_storage addr;
	char worker_token[PATH_MAX], api_token[PATH_MAX], cache[PATH_MAX], url[200], worker_hex[65];
	pid_t *pids = NULL;
	struct autobisect *bisector = NULL;
	unsigned n_pids = 0;
	int rc;
	if ((rc = parse_listen(o->listen, &addr, err)) < 0)
		return rc;
	snprintf(worker_token, sizeof(worker_token), "%s", o->worker_token_file ? o->worker_token_file : "");
	snprintf(api_token, sizeof(api_token), "%s", o->api_token_file ? o->api_token_file : "");
	if (!o->worker_token_file) {
		snprintf(worker_token, sizeof(worker_token), "%s.worker-token", o->db_path);
		if ((rc = make_token(worker_token, err)) < 0)
			return rc;
	}
	if (!o->api_token_file) {
		snprintf(api_token, sizeof(api_token), "%s.api-token", o->db_path);
		if ((rc = make_token(api_token, err)) < 0)
			return rc;
	}
	if ((rc = read_token(worker_token, s.worker_hash, worker_hex, err)) < 0 ||
	    (rc = read_token(api_token, s.api_hash, NULL, err)) < 0)
		return rc;
	if (CRYPTO_memcmp(s.worker_hash, s.api_hash, 32) == 0)
		return rp_error_set(err, RP_EINVAL, "the worker token and the API token must differ");
	snprintf(cache, sizeof(cache), "%s", o->cache_dir ? o->cache_dir : "");
	if (!o->cache_dir)
		snprintf(cache, sizeof(cache), "%s.cache", o->db_path);
	struct farm_options fo = { .db_path = o->db_path, .universe_path = o->universe_path, .cache_dir = cache,
				   .lease_ms = o->lease_ms };
	/* Pull-request runs owe reports to the forges the config gives a token for. */
	for (int k = 0; o->config && k < CONFIG_N_FORGES; k++)
		if (o->config->forges[k].enabled && o->config->forges[k].token)
			fo.report_to[forge_kind_parse(config_forge_name((enum config_forge_kind)k))] = 1;
	if (o->config) {
		fo.history = (struct store_history_limits){ o->config->history_daily, o->config->history_weekly,
							    o->config->history_monthly };
		fo.drop_threshold = o->config->history_drop_percent / 100.0;
		fo.flaky_runs = o->config->flaky_retries;
		fo.nightly_fuzz = o->config->nightly_fuzz;
		fo.logs_days = o->config->retention_logs_days;
		fo.runs_days = o->config->retention_runs_days;
	}
	if ((rc = farm_open(&fo, &s.farm, err)) < 0)
		return rc;
	farm_set_worker_token_hash(s.farm, worker_hex);
	/* poll(), not select(): no limit at FD_SETSIZE descriptors, and cheaper per wait. */
	s.daemon = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
					    (addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
				    0, NULL, NULL, on_request, &s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
				    MHD_OPTION_NOTIFY_COMPLETED, on_completed, &s, MHD_OPTION_CONNECTION_TIMEOUT,
				    (unsigned)120, MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000,
				    MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1, MHD_OPTION_UNESCAPE_CALLBACK, unescape,
				    NULL, MHD_OPTION_END);
	if (!s.daemon) {
		rc = rp_error_set(err, RP_EIO, "cannot listen on %s (in use, or not an address of this machine)",
				  o->listen);
		goto out;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(s.daemon, MHD_DAEMON_INFO_BIND_PORT);
	char host[INET6_ADDRSTRLEN];
	if (addr.ss_family == AF_INET) {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&addr)->sin_addr, host, sizeof(host));
		snprintf(url, sizeof(url), "http://%s:%u", host, info ? info->port : 0);
	} else {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&addr)->sin6_addr, host, sizeof(host));
		snprintf(url, sizeof(url), "http://[%s]:%u", host, info ? info->port : 0);
	}
	if (o->local_workers) {
		if (!(pids = calloc(o->local_workers, sizeof(*pids)))) {
			rc = rp_error_set(err, RP_ENOMEM, "out of memory");
			goto out;
		}
		for (; n_pids < o->local_workers; n_pids++)
			if ((rc = spawn_worker(o, url, worker_token, cache, n_pids, &pids[n_pids], err)) < 0)
				goto out;
		say(o, "started %u local worker%s", n_pids, n_pids == 1 ? "" : "s");
	}
	farm_set_base_url(s.farm, o->config && o->config->public_url ? o->config->public_url : url);
	struct notify_options no = { .farm = s.farm,
				     .config = o->config,
				     .base_url = o->config && o->config->public_url ? o->config->public_url : url,
				     .on_line = o->on_line,
				     .data = o->data };
	if ((rc = notify_start(&no, &s.notify, err)) < 0)
		goto out;
	struct autobisect_options bo = { .farm = s.farm,
					 .flaky_runs = o->config ? (unsigned)o->config->flaky_retries : 0,
					 .probes_per_round = o->config ? (unsigned)o->config->bisect_probes : 0,
					 .on_line = o->on_line,
					 .data = o->data };
	if ((!o->config || o->config->bisect_auto) && (rc = autobisect_start(&bo, &bisector, err)) < 0)
		goto out;
	if (o->on_ready)
		o->on_ready(url, o->data);
	int64_t next_nightly = o->config && o->config->nightly_enabled ? next_slot(o->config, now_ms_wall()) : 0;
	while (!*stop) {
		struct rp_error terr;
		if (farm_tick(s.farm, &terr) < 0)
			say(o, "tick: %s", terr.msg);
		size_t merged;
		if (farm_coverage_merge(s.farm, 4, &merged, &terr) < 0)
			say(o, "coverage: %s", terr.msg);
		if (next_nightly && now_ms_wall() >= next_nightly) {
			int64_t run;
			size_t njobs;
			int created;
			if (farm_nightly(s.farm, next_nightly, -1, &run, &njobs, &created, &terr) < 0)
				say(o, "nightly: %s", terr.msg);
			else if (created)
				say(o, "nightly: run %lld, %zu jobs", (long long)run, njobs);
			next_nightly = next_slot(o->config, now_ms_wall());
		}
		struct timespec ts = { 0, 250 * 1000000 };
		nanosleep(&ts, NULL);
		for (unsigned k = 0; k < n_pids; k++) {
			int status;
			if (pids[k] > 0 && waitpid(pids[k], &status, WNOHANG) == pids[k]) {
				pids[k] = 0;
				say(o, "local worker %u exited (%s %d)", k + 1, WIFEXITED(status) ? "status" : "signal",
				    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
			}
		}
	}
	rc = 0;
out:
	stop_workers(pids, n_pids);
	free(pids);
	autobisect_stop(bisector);
	notify_stop(s.notify);
	farm_shutdown(s.farm);
	if (s.daemon)
		MHD_stop_daemon(s.daemon);
	farm_close(s.farm);
	return rc;
}
