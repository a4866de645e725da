/*
 * http_client.h — every outgoing HTTP call of ripple (workers to the
 * scheduler, forge APIs, the CLI's submit and status), over libcurl.
 *
 * Contract:
 * - A `struct http_client` holds a base URL, an optional bearer token and
 *   timeouts, and one curl easy handle reused by every request, so calls to
 *   one server keep their connection alive. A client is used by one thread at
 *   a time; threads that talk at once each make their own.
 * - http_request() joins the request's path (and query) to the base URL,
 *   sends the body from memory or streams it from a file, and keeps the
 *   answer's body in memory (capped) or streams it into a file. It returns
 *   the HTTP status (100..599) whenever the server answered, whatever the
 *   status, and a negative RP_E* code only when no answer came:
 *     RP_EUNREACHABLE  DNS, refused or reset connections, TLS, timeouts: the
 *                      server may be back later (curl's message in `err`);
 *     RP_ERANGE        the answer's body is over the request's cap;
 *     RP_EIO           the body file cannot be read or the response file written;
 *     RP_EINVAL        a malformed request (no method or path, a bad header);
 *     RP_ENOMEM.
 *   A 4xx or 5xx answer also fills `err` with "METHOD PATH: HTTP N: LINE",
 *   LINE being the server's {"error": ...} member (docs/api.md), else the
 *   start of its body. Messages never contain the token nor the query string.
 * - A streamed download is written only when the status is 2xx (an error
 *   answer goes to memory, for the message); the file is created or
 *   truncated by every call, so callers download to a temporary name and
 *   rename it once they have checked it.
 * - http_request_retry() repeats a request while the server is unreachable or
 *   answers 5xx or 429: exponential backoff with full jitter (the n-th wait
 *   is uniform in [0, min(cap, base * 2^(n-1))]), never less than a
 *   Retry-After the server sent, until a deadline or a stop flag. 2xx, 3xx
 *   and other 4xx answers end it at once.
 * - curl_global_init() runs once per process (pthread_once) on the first
 *   http_client_new(); the process keeps it initialized.
 *
 * Calling sequence:
 *	struct http_client *c;
 *	struct http_client_options o = { .base_url = "http://127.0.0.1:8080", .token = tok };
 *	if (http_client_new(&o, &c, &err) < 0) ...
 *	struct http_request req = { .method = "GET", .path = "/api/v1/universe" };
 *	json_t *doc;
 *	int status = http_request_json(c, &req, NULL, &retry, &doc, &err);
 *	if (status < 0 || status >= 300) ... err.msg ...
 *	json_decref(doc);
 *	http_client_free(c);
 */
#ifndef RIPPLE_CORE_HTTP_CLIENT_H
#define RIPPLE_CORE_HTTP_CLIENT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct json_t json_t;

/* A response body kept in memory is at most this long unless the request says otherwise. */
#define HTTP_RESPONSE_CAP_DEFAULT (1u << 20)
/* Response headers a request may ask for by name. */
#define HTTP_WANT_HEADERS_MAX 8
/* A captured header value longer than this is cut. */
#define HTTP_HEADER_VALUE_MAX 512
/* A request's timeout_ms meaning "no limit on the whole transfer" (the idle limit still applies). */
#define HTTP_TIMEOUT_NONE UINT64_MAX

struct http_client_options {
	const char *base_url;	     /* "http://host:port[/prefix]"; no user:password@ (give a token) */
	const char *token;	     /* sent as "Authorization: Bearer TOKEN"; NULL: none. Copied */
	uint64_t connect_timeout_ms; /* 0: 5 s */
	uint64_t timeout_ms;	     /* a whole request, unless it says otherwise; 0: 60 s */
	uint64_t idle_timeout_ms;    /* no byte moved for this long ends a transfer; 0: 60 s */
	const char *user_agent;	     /* NULL: "ripple" */
};

struct http_client;

/* Makes a client; the caller owns *out and frees it with http_client_free(). RP_EINVAL, RP_ENOMEM. */
int http_client_new(const struct http_client_options *o, struct http_client **out, struct rp_error *err);
void http_client_free(struct http_client *c);

struct http_request {
	const char *method;	    /* "GET", "POST", "PUT", "DELETE", ... */
	const char *path;	    /* joined to the base URL: "/api/v1/lease"; already URL-encoded */
	const char *query;	    /* "a=1&b=2" (encoded, no '?'), or NULL */
	const char *const *headers; /* NULL-terminated "Name: value" lines to add, or NULL */
	/* The body: from memory, or streamed from a file; neither for none. */
	const void *body;
	size_t body_len;
	const char *body_file;
	const char
	    *content_type; /* NULL: application/json for a memory body, application/octet-stream for a file */
	/* The answer's body: streamed into response_file (2xx only), else kept in memory up to the cap. */
	const char *response_file;
	size_t response_cap; /* 0: HTTP_RESPONSE_CAP_DEFAULT */
	/* Response headers to capture, by name (case-insensitive); NULL-terminated, at most
	 * HTTP_WANT_HEADERS_MAX. */
	const char *const *want_headers;
	uint64_t timeout_ms; /* 0: the client's; HTTP_TIMEOUT_NONE: no limit */
	/* Non-zero: end the transfer within about a second; the call returns RP_EUNREACHABLE ("aborted"). */
	const volatile sig_atomic_t *abort;
};

struct http_response {
	int status;	   /* the HTTP status; 0 when no answer came */
	char *body;	   /* NUL-terminated; malloc'd, owned by the response; "" when streamed or empty */
	size_t body_len;   /* bytes in `body` */
	uint64_t received; /* body bytes received, to memory or to the file */
	char *headers[HTTP_WANT_HEADERS_MAX]; /* values of want_headers[i]; NULL when absent */
	int64_t retry_after_ms;		      /* from Retry-After (seconds or an HTTP date); -1 when absent */
};

/*
 * Sends `req` and fills *resp (the caller releases it with
 * http_response_release(), also after an error; it may be NULL when the
 * caller needs only the status). Returns the status or a negative code (see
 * the contract).
 */
int http_request(struct http_client *c, const struct http_request *req, struct http_response *resp,
		 struct rp_error *err);
void http_response_release(struct http_response *resp);

struct http_retry {
	uint64_t base_ms;     /* the first backoff's upper bound; 0: 250 ms */
	uint64_t cap_ms;      /* the largest backoff; 0: 30 s */
	uint64_t deadline_ms; /* give up this long after the first try (monotonic); 0: never */
	const volatile sig_atomic_t
	    *stop; /* non-zero: give up, also aborting a transfer in progress; may be NULL */
	/* Called before each wait (optional): the attempt that failed (1, 2, ...), its result, the wait. */
	void (*on_retry)(unsigned attempt, int rc, uint64_t delay_ms, const struct rp_error *err, void *data);
	void *data;
};

/*
 * http_request() until it gets an answer that is not 5xx nor 429, the
 * deadline passes or *stop is set (`retry` NULL: one try). Returns what the
 * last try returned, and *resp holds its answer. The request is sent again
 * whole each time (a body file is read again from its start).
 */
int http_request_retry(struct http_client *c, const struct http_request *req, const struct http_retry *retry,
		       struct http_response *resp, struct rp_error *err);

/*
 * JSON in and out: sends `body` (not consumed; NULL: req's own body, if any)
 * as application/json, with retries as http_request_retry() (`retry` may be
 * NULL), and parses the answer. Returns the status or a negative code. *out
 * (when `out` is non-NULL) receives the parsed answer, a new reference, for
 * any status whose body is JSON ({"error": ..., "size": N} of a 409 too), and
 * NULL for an empty body (204). A 2xx answer that is not JSON is RP_EINVAL.
 */
int http_request_json(struct http_client *c, const struct http_request *req, const json_t *body,
		      const struct http_retry *retry, json_t **out, struct rp_error *err);

/* Whether a result of http_request() is worth retrying: unreachable, 5xx or 429. */
int http_retryable(int rc);

#endif
