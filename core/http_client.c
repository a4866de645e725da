/*
 * http_client.c — outgoing HTTP over libcurl's easy interface (see http_client.h).
 *
 * One easy handle per client, reset before every request: curl_easy_reset()
 * clears the options but keeps the connection cache, so a worker's calls to
 * its scheduler reuse one TCP connection. Blocking calls are what the
 * callers want (each worker thread owns its client); an event-loop caller
 * would use the multi interface as curl's multi-uv.c shows.
 */
#define _GNU_SOURCE /* strcasecmp, strndup */
#include "http_client.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "banned.h"

#ifndef RIPPLE_VERSION
#define RIPPLE_VERSION "0"
#endif

#define HTTP_CONNECT_TIMEOUT_DEFAULT_MS 5000
#define HTTP_TIMEOUT_DEFAULT_MS 60000
#define HTTP_IDLE_TIMEOUT_DEFAULT_MS 60000
/* What is kept of an error answer's body while a download streams to a file. */
#define HTTP_ERROR_BODY_CAP (64u << 10)
/* The longest server line copied into an error message. */
#define HTTP_ERROR_LINE_MAX 400
#define HTTP_RETRY_BASE_DEFAULT_MS 250
#define HTTP_RETRY_CAP_DEFAULT_MS 30000
/* How often a backoff wait looks at the stop flag. */
#define HTTP_RETRY_POLL_MS 50

struct http_client {
	CURL *easy;
	char *base;	   /* without a trailing '/' */
	char *auth_header; /* "Authorization: Bearer TOKEN", or NULL */
	char *user_agent;
	uint64_t connect_timeout_ms, timeout_ms, idle_timeout_ms;
	char errbuf[CURL_ERROR_SIZE];
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- client ---------------------------------------------------------------- */

/* Whether `url` names its credentials ("scheme://user:pass@host"): they belong in the token. */
static int url_has_userinfo(const char *url)
{
	const char *host = strstr(url, "://");
	host = host ? host + 3 : url;
	size_t len = strcspn(host, "/?#");
	return memchr(host, '@', len) != NULL;
}

int http_client_new(const struct http_client_options *o, struct http_client **out, struct rp_error *err)
{
	*out = NULL;
	if (!o->base_url || !*o->base_url)
		return rp_error_set(err, RP_EINVAL, "no server URL given");
	if (strncmp(o->base_url, "http://", 7) != 0 && strncmp(o->base_url, "https://", 8) != 0)
		return rp_error_set(err, RP_EINVAL, "server URL '%.200s' must start with http:// or https://",
				    o->base_url);
	if (url_has_userinfo(o->base_url))
		return rp_error_set(err, RP_EINVAL,
				    "server URL must not carry a user or password; use a token file");
	if (o->token && strpbrk(o->token, "\r\n"))
		return rp_error_set(err, RP_EINVAL, "the token holds a line break");
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return rp_error_set(err, RP_EIO, "cannot initialize libcurl: %s",
				    curl_easy_strerror(global_rc));
	struct http_client *c = calloc(1, sizeof(*c));
	if (!c)
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	size_t len = strlen(o->base_url);
	while (len > 0 && o->base_url[len - 1] == '/')
		len--;
	c->base = strndup(o->base_url, len);
	c->user_agent = strdup(o->user_agent ? o->user_agent : "ripple/" RIPPLE_VERSION);
	if (o->token && asprintf(&c->auth_header, "Authorization: Bearer %s", o->token) < 0)
		c->auth_header = NULL;
	c->easy = curl_easy_init();
	if (!c->base || !c->user_agent || !c->easy || (o->token && !c->auth_header)) {
		http_client_free(c);
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	}
	c->connect_timeout_ms =
	    o->connect_timeout_ms ? o->connect_timeout_ms : HTTP_CONNECT_TIMEOUT_DEFAULT_MS;
	c->timeout_ms = o->timeout_ms ? o->timeout_ms : HTTP_TIMEOUT_DEFAULT_MS;
	c->idle_timeout_ms = o->idle_timeout_ms ? o->idle_timeout_ms : HTTP_IDLE_TIMEOUT_DEFAULT_MS;
	*out = c;
	return 0;
}

void http_client_free(struct http_client *c)
{
	if (!c)
		return;
	if (c->easy)
		curl_easy_cleanup(c->easy);
	if (c->auth_header) {
		/* The token leaves no copy behind in freed memory. */
		memset(c->auth_header, 0, strlen(c->auth_header));
		free(c->auth_header);
	}
	free(c->base);
	free(c->user_agent);
	free(c);
}

void http_response_release(struct http_response *resp)
{
	if (!resp)
		return;
	free(resp->body);
	for (size_t i = 0; i < HTTP_WANT_HEADERS_MAX; i++)
		free(resp->headers[i]);
	memset(resp, 0, sizeof(*resp));
	resp->retry_after_ms = -1;
}

/* ---- one transfer ------------------------------------------------------------ */

struct transfer {
	CURL *easy;
	const struct http_request *req;
	struct http_response *resp;
	/* request body */
	const char *mem;
	size_t mem_len, mem_pos;
	FILE *in;
	int read_failed; /* errno of a failed read of the body file */
	/* response body */
	FILE *out;
	int status_known, to_file;
	size_t cap;
	char *buf;
	size_t len, alloc;
	int overflow;	  /* the memory body passed its cap */
	int write_failed; /* errno of a failed write of the response file */
	size_t n_want;
};

static size_t read_body(char *dst, size_t size, size_t nmemb, void *data)
{
	struct transfer *t = data;
	size_t room = size * nmemb;
	if (t->in) {
		size_t n = fread(dst, 1, room, t->in);
		if (n < room && ferror(t->in)) {
			t->read_failed = errno ? errno : EIO;
			return CURL_READFUNC_ABORT;
		}
		return n;
	}
	size_t n = t->mem_len - t->mem_pos < room ? t->mem_len - t->mem_pos : room;
	memcpy(dst, t->mem + t->mem_pos, n);
	t->mem_pos += n;
	return n;
}

/* curl rewinds the body when it must send it again (a reused connection that was closed). */
static int seek_body(void *data, curl_off_t offset, int origin)
{
	struct transfer *t = data;
	if (origin != SEEK_SET || offset < 0)
		return CURL_SEEKFUNC_CANTSEEK;
	if (t->in)
		return fseeko(t->in, (off_t)offset, SEEK_SET) == 0 ? CURL_SEEKFUNC_OK : CURL_SEEKFUNC_FAIL;
	if ((size_t)offset > t->mem_len)
		return CURL_SEEKFUNC_FAIL;
	t->mem_pos = (size_t)offset;
	return CURL_SEEKFUNC_OK;
}

static int append(struct transfer *t, const char *src, size_t n)
{
	if (t->len + n + 1 > t->alloc) {
		size_t want = t->alloc ? t->alloc : 4096;
		while (want < t->len + n + 1)
			want *= 2;
		char *p = realloc(t->buf, want);
		if (!p)
			return -1;
		t->buf = p;
		t->alloc = want;
	}
	memcpy(t->buf + t->len, src, n);
	t->len += n;
	t->buf[t->len] = '\0';
	return 0;
}

static size_t write_body(char *src, size_t size, size_t nmemb, void *data)
{
	struct transfer *t = data;
	size_t n = size * nmemb;
	if (!t->status_known) {
		/* The final status is known once the body starts; only a 2xx body goes to the file. */
		long status = 0;
		curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
		t->status_known = 1;
		t->to_file = t->out && status >= 200 && status < 300;
		if (t->out && !t->to_file)
			t->cap = HTTP_ERROR_BODY_CAP;
	}
	t->resp->received += n;
	if (t->to_file) {
		if (fwrite(src, 1, n, t->out) != n) {
			t->write_failed = errno ? errno : EIO;
			return 0;
		}
		return n;
	}
	if (t->len + n > t->cap) {
		if (t->out) {
			/* An error answer during a download: keep its start for the message, drain the rest.
			 */
			size_t keep = t->cap - t->len;
			if (keep && append(t, src, keep) < 0)
				return 0;
			return n;
		}
		t->overflow = 1;
		return 0;
	}
	if (append(t, src, n) < 0) {
		t->overflow = -1; /* out of memory */
		return 0;
	}
	return n;
}

static int64_t parse_retry_after(const char *value)
{
	char *end;
	errno = 0;
	long long secs = strtoll(value, &end, 10);
	if (end != value && *end == '\0' && errno == 0)
		return secs < 0 ? 0 : secs > 86400 ? 86400000 : (int64_t)secs * 1000;
	time_t when = curl_getdate(value, NULL);
	if (when < 0)
		return -1;
	time_t now = time(NULL);
	return when <= now ? 0 : when - now > 86400 ? 86400000 : (int64_t)(when - now) * 1000;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *data)
{
	struct transfer *t = data;
	size_t n = size * nmemb, len = n;
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
		/* A new status line (after a 100 Continue): forget what the interim answer said. */
		for (size_t i = 0; i < HTTP_WANT_HEADERS_MAX; i++) {
			free(t->resp->headers[i]);
			t->resp->headers[i] = NULL;
		}
		t->resp->retry_after_ms = -1;
		return n;
	}
	const char *colon = memchr(line, ':', len);
	if (!colon)
		return n;
	size_t name_len = (size_t)(colon - line);
	const char *value = colon + 1;
	size_t value_len = len - name_len - 1;
	while (value_len && (*value == ' ' || *value == '\t'))
		value++, value_len--;
	while (value_len && (value[value_len - 1] == ' ' || value[value_len - 1] == '\t'))
		value_len--;
	if (value_len > HTTP_HEADER_VALUE_MAX)
		value_len = HTTP_HEADER_VALUE_MAX;
	for (size_t i = 0; i < t->n_want; i++) {
		const char *want = t->req->want_headers[i];
		if (strlen(want) == name_len && strncasecmp(want, line, name_len) == 0 &&
		    !t->resp->headers[i])
			t->resp->headers[i] = strndup(value, value_len); /* NULL on no memory: absent */
	}
	if (name_len == 11 && strncasecmp(line, "Retry-After", 11) == 0) {
		char v[64];
		size_t k = value_len < sizeof(v) - 1 ? value_len : sizeof(v) - 1;
		memcpy(v, value, k);
		v[k] = '\0';
		t->resp->retry_after_ms = parse_retry_after(v);
	}
	return n;
}

static int on_progress(void *data, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	const volatile sig_atomic_t *abort = data;
	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return *abort ? 1 : 0;
}

/* "METHOD /path" for messages: never the query (it may name a worker or a fence, never a secret, but short is
 * better). */
static void describe(const struct http_request *req, char *out, size_t size)
{
	size_t path_len = strcspn(req->path ? req->path : "", "?");
	snprintf(out, size, "%.16s %.*s", req->method ? req->method : "?",
		 (int)(path_len > 300 ? 300 : path_len), req->path ? req->path : "");
}

/* The one line an error answer says: its JSON "error" member, else the start of its body. */
static void error_line(const char *body, size_t len, char *out, size_t size)
{
	json_t *doc = len ? json_loadb(body, len, 0, NULL) : NULL;
	json_t *e = doc ? json_object_get(doc, "error") : NULL;
	if (e && json_is_string(e)) {
		snprintf(out, size, "%s", json_string_value(e));
	} else {
		size_t n = 0;
		while (n < len && n + 1 < size && body[n] != '\n' && body[n] != '\r' && body[n] != '\0')
			n++;
		if (n == 0)
			snprintf(out, size, "(no explanation in the answer)");
		else
			snprintf(out, size, "%.*s", (int)n, body);
	}
	json_decref(doc);
}

static int header_ok(const char *h)
{
	return h && strchr(h, ':') && !strpbrk(h, "\r\n");
}

int http_request(struct http_client *c, const struct http_request *req, struct http_response *resp,
		 struct rp_error *err)
{
	struct http_response local;
	struct transfer t = { 0 };
	struct curl_slist *headers = NULL;
	char *url = NULL, *content_type = NULL, what[400];
	int rc = 0;
	if (!resp)
		resp = &local;
	memset(resp, 0, sizeof(*resp));
	resp->retry_after_ms = -1;
	describe(req, what, sizeof(what));
	if (!req->method || !*req->method || strpbrk(req->method, " \r\n") || !req->path)
		return rp_error_set(err, RP_EINVAL, "%s: a request needs a method and a path", what);
	if (req->body && req->body_file)
		return rp_error_set(err, RP_EINVAL, "%s: a body from memory and from a file at once", what);
	t.easy = c->easy;
	t.req = req;
	t.resp = resp;
	t.cap = req->response_cap ? req->response_cap : HTTP_RESPONSE_CAP_DEFAULT;
	for (; req->want_headers && req->want_headers[t.n_want]; t.n_want++)
		if (t.n_want == HTTP_WANT_HEADERS_MAX)
			return rp_error_set(err, RP_EINVAL, "%s: more than %d response headers asked for",
					    what, HTTP_WANT_HEADERS_MAX);

	const char *sep = req->path[0] == '/' ? "" : "/";
	const char *qsep = !req->query || !*req->query ? "" : strchr(req->path, '?') ? "&" : "?";
	if (asprintf(&url, "%s%s%s%s%s", c->base, sep, req->path, qsep, *qsep ? req->query : "") < 0) {
		url = NULL;
		rc = rp_error_set(err, RP_ENOMEM, "out of memory");
		goto out;
	}

	/* The body. */
	int has_body = req->body != NULL || req->body_file != NULL;
	curl_off_t body_size = 0;
	if (req->body_file) {
		struct stat st;
		if (!(t.in = fopen(req->body_file, "rb")) || fstat(fileno(t.in), &st) < 0) {
			rc = rp_error_set(err, RP_EIO, "%s: cannot read %s: %s", what, req->body_file,
					  strerror(errno));
			goto out;
		}
		body_size = (curl_off_t)st.st_size;
	} else if (req->body) {
		t.mem = req->body;
		t.mem_len = req->body_len;
		body_size = (curl_off_t)req->body_len;
	}
	if (req->response_file && !(t.out = fopen(req->response_file, "wb"))) {
		rc = rp_error_set(err, RP_EIO, "%s: cannot write %s: %s", what, req->response_file,
				  strerror(errno));
		goto out;
	}

	/* The headers. */
	if (c->auth_header && !(headers = curl_slist_append(headers, c->auth_header)))
		goto nomem;
	int is_post = strcmp(req->method, "POST") == 0, is_put = strcmp(req->method, "PUT") == 0;
	if (has_body || is_post || is_put) {
		const char *type = req->content_type ? req->content_type
				   : req->body_file  ? "application/octet-stream"
						     : "application/json";
		if (strpbrk(type, "\r\n")) {
			rc = rp_error_set(err, RP_EINVAL, "%s: a content type with a line break", what);
			goto out;
		}
		if (asprintf(&content_type, "Content-Type: %s", type) < 0) {
			content_type = NULL;
			goto nomem;
		}
		struct curl_slist *h = curl_slist_append(headers, content_type);
		if (!h)
			goto nomem;
		headers = h;
		/*
		 * Small bodies go at once; a file keeps "Expect: 100-continue", so a
		 * server that refuses it (409, 413) answers before gigabytes are sent.
		 */
		if (!req->body_file && !(h = curl_slist_append(headers, "Expect:")))
			goto nomem;
		headers = h;
	}
	for (size_t i = 0; req->headers && req->headers[i]; i++) {
		if (!header_ok(req->headers[i])) {
			rc = rp_error_set(err, RP_EINVAL, "%s: malformed request header", what);
			goto out;
		}
		struct curl_slist *h = curl_slist_append(headers, req->headers[i]);
		if (!h)
			goto nomem;
		headers = h;
	}

	CURL *e = c->easy;
	curl_easy_reset(e);
	c->errbuf[0] = '\0';
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for DNS timeouts */
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms);
	uint64_t timeout = req->timeout_ms ? req->timeout_ms : c->timeout_ms;
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout == HTTP_TIMEOUT_NONE ? 0L : (long)timeout);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)(c->idle_timeout_ms + 999) / 1000);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, &t);
	if (req->abort) {
		curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(e, CURLOPT_XFERINFODATA, (void *)req->abort);
	}
	if (has_body) {
		curl_easy_setopt(e, CURLOPT_READFUNCTION, read_body);
		curl_easy_setopt(e, CURLOPT_READDATA, &t);
		curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, seek_body);
		curl_easy_setopt(e, CURLOPT_SEEKDATA, &t);
		if (is_put) {
			curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
			curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, body_size);
		} else {
			curl_easy_setopt(e, CURLOPT_POST, 1L);
			curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, body_size);
			if (!is_post)
				curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
		}
	} else if (is_post || is_put) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
		if (is_put)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
	} else if (strcmp(req->method, "HEAD") == 0) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else if (strcmp(req->method, "GET") != 0) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
	}

	CURLcode cc = curl_easy_perform(e);
	/* The easy handle keeps pointers to our header list and buffers: drop them before they go. */
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
	if (t.out) {
		FILE *out = t.out;
		t.out = NULL;
		if (fclose(out) != 0 && !t.write_failed && cc == CURLE_OK)
			t.write_failed = errno ? errno : EIO;
	}
	if (t.write_failed) {
		rc = rp_error_set(err, RP_EIO, "%s: cannot write %s: %s", what, req->response_file,
				  strerror(t.write_failed));
		goto out;
	}
	if (t.read_failed) {
		rc = rp_error_set(err, RP_EIO, "%s: cannot read %s: %s", what, req->body_file,
				  strerror(t.read_failed));
		goto out;
	}
	if (t.overflow > 0) {
		rc = rp_error_set(err, RP_ERANGE, "%s: the answer is over %zu bytes", what, t.cap);
		goto out;
	}
	if (t.overflow < 0 || cc == CURLE_OUT_OF_MEMORY)
		goto nomem;
	if (cc != CURLE_OK) {
		const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc);
		if (cc == CURLE_ABORTED_BY_CALLBACK)
			why = "aborted: stopping";
		rc = rp_error_set(err,
				  cc == CURLE_URL_MALFORMAT || cc == CURLE_UNSUPPORTED_PROTOCOL
				      ? RP_EINVAL
				      : RP_EUNREACHABLE,
				  "%s %s: %s", what, c->base, why);
		goto out;
	}
	long status = 0;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	resp->status = (int)status;
	rc = (int)status;
	if (status >= 400) {
		char line[HTTP_ERROR_LINE_MAX];
		error_line(t.buf ? t.buf : "", t.len, line, sizeof(line));
		rp_error_set(err, rc, "%s: HTTP %ld: %s", what, status, line);
	}
	goto out;
nomem:
	rc = rp_error_set(err, RP_ENOMEM, "%s: out of memory", what);
out:
	if (t.in)
		fclose(t.in);
	if (t.out)
		fclose(t.out);
	if (!t.buf && rc >= 0)
		t.buf = calloc(1, 1);
	resp->body = t.buf;
	resp->body_len = t.len;
	if (rc >= 0 && !resp->body) {
		http_response_release(resp);
		rc = rp_error_set(err, RP_ENOMEM, "%s: out of memory", what);
	}
	curl_slist_free_all(headers);
	free(content_type);
	free(url);
	if (resp == &local)
		http_response_release(&local);
	return rc;
}

/* ---- retries ----------------------------------------------------------------- */

int http_retryable(int rc)
{
	return rc == RP_EUNREACHABLE || rc == 429 || (rc >= 500 && rc <= 599);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A uniform random number below `bound` (> 0), from a per-thread xorshift seeded by the kernel. */
static uint64_t random_below(uint64_t bound)
{
	static _Thread_local uint64_t state;
	if (!state) {
		if (getrandom(&state, sizeof(state), 0) != (ssize_t)sizeof(state) || !state)
			state = now_ms() ^ (uint64_t)(uintptr_t)&state ^ 0x9e3779b97f4a7c15u;
		if (!state)
			state = 1;
	}
	state ^= state >> 12;
	state ^= state << 25;
	state ^= state >> 27;
	return (state * 0x2545f4914f6cdd1du) % bound;
}

/* Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))]. */
static uint64_t backoff_ms(uint64_t base, uint64_t cap, unsigned attempt)
{
	uint64_t ceiling = base;
	for (unsigned i = 1; i < attempt && ceiling < cap; i++)
		ceiling *= 2;
	if (ceiling > cap)
		ceiling = cap;
	return random_below(ceiling + 1);
}

int http_request_retry(struct http_client *c, const struct http_request *req, const struct http_retry *retry,
		       struct http_response *resp, struct rp_error *err)
{
	if (!retry)
		return http_request(c, req, resp, err);
	struct http_request r = *req;
	struct http_response local;
	if (!r.abort)
		r.abort = retry->stop;
	if (!resp)
		resp = &local;
	uint64_t base = retry->base_ms ? retry->base_ms : HTTP_RETRY_BASE_DEFAULT_MS;
	uint64_t cap = retry->cap_ms ? retry->cap_ms : HTTP_RETRY_CAP_DEFAULT_MS;
	uint64_t start = now_ms();
	int rc;
	for (unsigned attempt = 1;; attempt++) {
		rc = http_request(c, &r, resp, err);
		if (!http_retryable(rc) || (retry->stop && *retry->stop))
			break;
		uint64_t delay = backoff_ms(base, cap, attempt), now = now_ms();
		if (resp->retry_after_ms >= 0 && (uint64_t)resp->retry_after_ms > delay)
			delay = (uint64_t)resp->retry_after_ms;
		if (retry->deadline_ms) {
			uint64_t end = start + retry->deadline_ms;
			if (now >= end)
				break;
			/* The server said not before then, and then is too late. */
			if (resp->retry_after_ms >= 0 && now + (uint64_t)resp->retry_after_ms > end)
				break;
			if (now + delay > end)
				delay = end - now; /* one last try at the deadline */
		}
		if (retry->on_retry)
			retry->on_retry(attempt, rc, delay, err, retry->data);
		uint64_t until = now + delay;
		while ((now = now_ms()) < until && !(retry->stop && *retry->stop)) {
			uint64_t step = until - now < HTTP_RETRY_POLL_MS ? until - now : HTTP_RETRY_POLL_MS;
			struct timespec ts = { (time_t)(step / 1000), (long)(step % 1000) * 1000000 };
			nanosleep(&ts, NULL);
		}
		if (retry->stop && *retry->stop)
			break;
		http_response_release(resp);
	}
	if (resp == &local)
		http_response_release(&local);
	return rc;
}

int http_request_json(struct http_client *c, const struct http_request *req, const json_t *body,
		      const struct http_retry *retry, json_t **out, struct rp_error *err)
{
	struct http_request r = *req;
	struct http_response resp;
	char *text = NULL, what[400];
	if (out)
		*out = NULL;
	describe(req, what, sizeof(what));
	if (body) {
		if (!(text = json_dumps(body, JSON_COMPACT)))
			return rp_error_set(err, RP_ENOMEM,
					    "%s: cannot serialize the request (out of memory?)", what);
		r.body = text;
		r.body_len = strlen(text);
		r.body_file = NULL;
		r.content_type = "application/json";
	}
	int rc = http_request_retry(c, &r, retry, &resp, err);
	free(text);
	if (rc >= 0 && resp.body_len > 0) {
		json_error_t jerr;
		json_t *doc = json_loadb(resp.body, resp.body_len, 0, &jerr);
		if (!doc && rc >= 200 && rc < 300)
			rc = rp_error_set(err, RP_EINVAL, "%s: the answer is not JSON: %s", what, jerr.text);
		else if (out)
			*out = doc;
		else
			json_decref(doc);
	}
	http_response_release(&resp);
	return rc;
}
