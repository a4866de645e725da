/*
 * Unit tests of the HTTP client against a real server: libmicrohttpd on
 * 127.0.0.1 and an ephemeral port, started per test. Methods and bodies, the
 * bearer header, error lines, streamed uploads and downloads of a multi-MiB
 * body, refused connections, retries with backoff and Retry-After, deadlines,
 * stop flags, the response cap, timeouts and connection reuse.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "core/http_client.h"
#include "check_main.h"
#include "core/banned.h"

#define TOKEN "s3cret-token-value"
#define PAYLOAD_SIZE ((5u << 20) + 12345u) /* over a few buffers of every layer */
#define PAYLOAD_SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static char root[PATH_MAX];
static struct MHD_Daemon *daemon_;
static char base_url[64];

/* What the server saw; its handlers run on MHD's thread. */
static struct {
	pthread_mutex_t lock;
	int hits;	 /* requests to the retry routes */
	int fail_first;	 /* /flaky answers 503 this many times */
	int connections; /* TCP connections accepted */
	uint64_t hit_ms[16];
} srv = { .lock = PTHREAD_MUTEX_INITIALIZER };

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* One request's body as it arrives. */
struct req_ctx {
	char *body;
	size_t len;
	FILE *file; /* /upload streams into root/uploaded */
	size_t file_len;
	int overflow;
};

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *type,
			       const void *data, size_t len, const char *extra_name, const char *extra_value)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
	if (type)
		MHD_add_response_header(r, "Content-Type", type);
	if (extra_name)
		MHD_add_response_header(r, extra_name, extra_value);
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result respond_json(struct MHD_Connection *conn, unsigned status, json_t *doc)
{
	char *text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	enum MHD_Result ret = respond(conn, status, "application/json", text, strlen(text), NULL, NULL);
	free(text);
	return ret;
}

static int hit(void)
{
	pthread_mutex_lock(&srv.lock);
	int n = srv.hits++;
	if (n < 16)
		srv.hit_ms[n] = now_ms();
	pthread_mutex_unlock(&srv.lock);
	return n;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
			       const char *version, const char *upload_data, size_t *upload_data_size,
			       void **req_cls)
{
	struct req_ctx *ctx = *req_cls;
	(void)cls;
	(void)version;
	if (!ctx) {
		ctx = calloc(1, sizeof(*ctx));
		*req_cls = ctx;
		if (strcmp(url, "/upload") == 0)
			ctx->file = fopen(check_path(root, "uploaded"), "wb");
		return MHD_YES; /* MHD sends 100 Continue now, when the client asked */
	}
	if (*upload_data_size) {
		if (ctx->file) {
			ctx->file_len += fwrite(upload_data, 1, *upload_data_size, ctx->file);
		} else if (ctx->len + *upload_data_size <= (8u << 20)) {
			ctx->body = realloc(ctx->body, ctx->len + *upload_data_size + 1);
			memcpy(ctx->body + ctx->len, upload_data, *upload_data_size);
			ctx->len += *upload_data_size;
			ctx->body[ctx->len] = '\0';
		} else {
			ctx->overflow = 1;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/echo") == 0) {
		const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
		const char *type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
		const char *a = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "a");
		json_t *doc = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s%}", "method", method, "auth",
					auth ? auth : "", "type", type ? type : "", "a", a ? a : "", "length",
					(json_int_t)ctx->len, "body", ctx->body ? ctx->body : "", ctx->len);
		return respond_json(conn, MHD_HTTP_OK, doc);
	}
	if (strcmp(url, "/nothing") == 0)
		return respond(conn, MHD_HTTP_NO_CONTENT, NULL, "", 0, NULL, NULL);
	if (strcmp(url, "/error400") == 0)
		return respond_json(
		    conn, MHD_HTTP_BAD_REQUEST,
		    json_pack("{s:s}", "error", "bad request: expected a widget, got a gadget"));
	if (strcmp(url, "/error404-text") == 0)
		return respond(conn, MHD_HTTP_NOT_FOUND, "text/plain", "not here\nsecond line", 20, NULL,
			       NULL);
	if (strcmp(url, "/conflict") == 0)
		return respond_json(conn, MHD_HTTP_CONFLICT,
				    json_pack("{s:s, s:i}", "error", "gap", "size", 42));
	if (strcmp(url, "/flaky") == 0) {
		int n = hit();
		if (n < srv.fail_first)
			return respond_json(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
					    json_pack("{s:s}", "error", "store busy"));
		return respond_json(conn, MHD_HTTP_OK, json_pack("{s:b, s:i}", "ok", 1, "tries", n + 1));
	}
	if (strcmp(url, "/always503") == 0) {
		hit();
		return respond_json(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
				    json_pack("{s:s}", "error", "down for good"));
	}
	if (strcmp(url, "/busy429") == 0) {
		if (hit() == 0)
			return respond(conn, MHD_HTTP_TOO_MANY_REQUESTS, "application/json",
				       "{\"error\":\"slow down\"}", 21, "Retry-After", "1");
		return respond_json(conn, MHD_HTTP_OK, json_pack("{s:b}", "ok", 1));
	}
	if (strcmp(url, "/upload") == 0) {
		int ok = ctx->file && fflush(ctx->file) == 0;
		return respond_json(conn, ok ? MHD_HTTP_OK : MHD_HTTP_INTERNAL_SERVER_ERROR,
				    json_pack("{s:I}", "size", (json_int_t)ctx->file_len));
	}
	if (strcmp(url, "/download") == 0) {
		FILE *f = fopen(check_path(root, "payload"), "rb");
		if (!f)
			return respond_json(conn, MHD_HTTP_NOT_FOUND,
					    json_pack("{s:s}", "error", "no payload"));
		int fd = dup(fileno(f));
		fclose(f);
		struct MHD_Response *r = MHD_create_response_from_fd(PAYLOAD_SIZE, fd);
		MHD_add_response_header(r, "X-Ripple-Sha256", PAYLOAD_SHA);
		enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
		MHD_destroy_response(r);
		return ret;
	}
	if (strcmp(url, "/big") == 0) {
		size_t n = 2u << 20;
		char *big = malloc(n);
		memset(big, 'x', n);
		enum MHD_Result ret = respond(conn, MHD_HTTP_OK, "text/plain", big, n, NULL, NULL);
		free(big);
		return ret;
	}
	return respond_json(conn, MHD_HTTP_NOT_FOUND, json_pack("{s:s}", "error", "no such route"));
}

static void completed(void *cls, struct MHD_Connection *conn, void **req_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct req_ctx *ctx = *req_cls;
	(void)cls, (void)conn, (void)toe;
	if (!ctx)
		return;
	if (ctx->file)
		fclose(ctx->file);
	free(ctx->body);
	free(ctx);
	*req_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
			  enum MHD_ConnectionNotificationCode toe)
{
	(void)cls, (void)conn, (void)socket_ctx;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		pthread_mutex_lock(&srv.lock);
		srv.connections++;
		pthread_mutex_unlock(&srv.lock);
	}
}

static void setup(void)
{
	check_tmpdir_make(root, "http");
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = 0 };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handler, NULL,
				   MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
				   MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL, MHD_OPTION_END);
	ck_assert_ptr_nonnull(daemon_);
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
	ck_assert_ptr_nonnull(info);
	ck_assert_uint_ne(info->port, 0);
	snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%u", (unsigned)info->port);
}

static void teardown(void)
{
	MHD_stop_daemon(daemon_);
	check_tmpdir_remove(root);
}

static struct http_client *client(const char *url, const char *token)
{
	struct http_client_options o = { .base_url = url, .token = token };
	struct http_client *c;
	struct rp_error err;
	ck_assert_msg(http_client_new(&o, &c, &err) == 0, "%s", err.msg);
	return c;
}

/* A port on 127.0.0.1 that nothing listens on: bound, then closed. */
static unsigned closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = 0 };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(sa);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

/* A socket that listens and never answers: connections complete, requests hang. Returns the fd. */
static int silent_listener(unsigned *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = 0 };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(sa);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 8), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

START_TEST(get_post_put_with_bodies)
{
	struct http_client *c = client(base_url, TOKEN);
	struct rp_error err;
	json_t *doc;

	struct http_request get = { .method = "GET", .path = "/echo", .query = "a=1&b=two" };
	ck_assert_int_eq(http_request_json(c, &get, NULL, NULL, &doc, &err), 200);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "method")), "GET");
	ck_assert_str_eq(json_string_value(json_object_get(doc, "auth")), "Bearer " TOKEN);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "a")), "1");
	ck_assert_int_eq(json_integer_value(json_object_get(doc, "length")), 0);
	json_decref(doc);

	json_t *body = json_pack("{s:s, s:i}", "worker", "w1", "slots", 4);
	struct http_request post = { .method = "POST",
				     .path = "echo" }; /* a path without '/' is joined with one */
	ck_assert_int_eq(http_request_json(c, &post, body, NULL, &doc, &err), 200);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "method")), "POST");
	ck_assert_str_eq(json_string_value(json_object_get(doc, "type")), "application/json");
	ck_assert_str_eq(json_string_value(json_object_get(doc, "body")), "{\"worker\":\"w1\",\"slots\":4}");
	json_decref(doc);
	json_decref(body);

	static const char raw[] = "line one\nline\0two\n"; /* binary-safe: a NUL inside */
	struct http_request put = { .method = "PUT",
				    .path = "/echo",
				    .query = "a=%2F",
				    .body = raw,
				    .body_len = sizeof(raw) - 1,
				    .content_type = "application/octet-stream" };
	struct http_response resp;
	ck_assert_int_eq(http_request(c, &put, &resp, &err), 200);
	ck_assert_int_eq(resp.status, 200);
	doc = json_loadb(resp.body, resp.body_len, JSON_ALLOW_NUL, NULL);
	ck_assert_ptr_nonnull(doc);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "method")), "PUT");
	ck_assert_str_eq(json_string_value(json_object_get(doc, "type")), "application/octet-stream");
	ck_assert_str_eq(json_string_value(json_object_get(doc, "a")), "/");
	ck_assert_int_eq(json_integer_value(json_object_get(doc, "length")), sizeof(raw) - 1);
	ck_assert_int_eq(json_string_length(json_object_get(doc, "body")), sizeof(raw) - 1);
	ck_assert_mem_eq(json_string_value(json_object_get(doc, "body")), raw, sizeof(raw) - 1);
	json_decref(doc);
	http_response_release(&resp);

	struct http_request del = { .method = "DELETE", .path = "/echo" };
	ck_assert_int_eq(http_request_json(c, &del, NULL, NULL, &doc, &err), 200);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "method")), "DELETE");
	json_decref(doc);

	struct http_request none = { .method = "POST", .path = "/nothing" };
	doc = json_true();
	ck_assert_int_eq(http_request_json(c, &none, NULL, NULL, &doc, &err), 204);
	ck_assert_ptr_null(doc);
	http_client_free(c);
}
END_TEST

START_TEST(no_token_no_header)
{
	struct http_client *c = client(base_url, NULL);
	struct rp_error err;
	json_t *doc;
	struct http_request get = { .method = "GET", .path = "/echo" };
	ck_assert_int_eq(http_request_json(c, &get, NULL, NULL, &doc, &err), 200);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "auth")), "");
	json_decref(doc);
	http_client_free(c);
}
END_TEST

START_TEST(error_line_surfaced)
{
	struct http_client *c = client(base_url, TOKEN);
	struct rp_error err;
	json_t *doc;
	struct http_request req = { .method = "GET", .path = "/error400", .query = "secret=no" };
	ck_assert_int_eq(http_request_json(c, &req, NULL, NULL, &doc, &err), 400);
	ck_assert_str_eq(err.msg, "GET /error400: HTTP 400: bad request: expected a widget, got a gadget");
	ck_assert_ptr_nonnull(doc); /* the error document is handed over too */
	json_decref(doc);

	req.path = "/error404-text";
	ck_assert_int_eq(http_request(c, &req, NULL, &err), 404);
	ck_assert_str_eq(err.msg, "GET /error404-text: HTTP 404: not here");

	/* A 409 with a size: the caller reads it from the answer. */
	req.method = "PUT";
	req.path = "/conflict";
	ck_assert_int_eq(http_request_json(c, &req, NULL, NULL, &doc, &err), 409);
	ck_assert_int_eq(json_integer_value(json_object_get(doc, "size")), 42);
	ck_assert_ptr_null(strstr(err.msg, TOKEN));
	json_decref(doc);
	http_client_free(c);
}
END_TEST

/* Writes PAYLOAD_SIZE pseudo-random bytes to `path`; returns them (caller frees). */
static unsigned char *make_payload(const char *path)
{
	unsigned char *data = malloc(PAYLOAD_SIZE);
	uint32_t x = 2463534242u;
	for (size_t i = 0; i < PAYLOAD_SIZE; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		data[i] = (unsigned char)x;
	}
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, PAYLOAD_SIZE, f), PAYLOAD_SIZE);
	ck_assert_int_eq(fclose(f), 0);
	return data;
}

static void assert_file_is(const char *path, const unsigned char *data, size_t len)
{
	FILE *f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	unsigned char *got = malloc(len + 1);
	size_t n = fread(got, 1, len + 1, f);
	fclose(f);
	ck_assert_uint_eq(n, len);
	ck_assert_int_eq(memcmp(got, data, len), 0);
	free(got);
}

START_TEST(file_upload_and_download_byte_exact)
{
	char payload[PATH_MAX + 16], got[PATH_MAX + 16];
	snprintf(payload, sizeof(payload), "%s/payload", root);
	snprintf(got, sizeof(got), "%s/got", root);
	unsigned char *data = make_payload(payload);
	struct http_client *c = client(base_url, TOKEN);
	struct rp_error err;
	json_t *doc;

	struct http_request up = {
		.method = "PUT", .path = "/upload", .query = "sha256=" PAYLOAD_SHA, .body_file = payload
	};
	ck_assert_msg(http_request_json(c, &up, NULL, NULL, &doc, &err) == 200, "%s", err.msg);
	ck_assert_int_eq(json_integer_value(json_object_get(doc, "size")), PAYLOAD_SIZE);
	json_decref(doc);
	assert_file_is(check_path(root, "uploaded"), data, PAYLOAD_SIZE);

	static const char *const want[] = { "x-ripple-sha256", "X-Not-There", NULL };
	struct http_request down = { .method = "GET",
				     .path = "/download",
				     .response_file = got,
				     .want_headers = want,
				     .response_cap = 16 /* the cap is for memory only */ };
	struct http_response resp;
	ck_assert_msg(http_request(c, &down, &resp, &err) == 200, "%s", err.msg);
	ck_assert_uint_eq(resp.received, PAYLOAD_SIZE);
	ck_assert_uint_eq(resp.body_len, 0);
	ck_assert_str_eq(resp.body, "");
	ck_assert_str_eq(resp.headers[0], PAYLOAD_SHA);
	ck_assert_ptr_null(resp.headers[1]);
	http_response_release(&resp);
	assert_file_is(got, data, PAYLOAD_SIZE);

	/* An error answer never lands in the file: it is left empty, and the line is in err. */
	unlink(payload);
	ck_assert_int_eq(http_request(c, &down, &resp, &err), 404);
	ck_assert_str_eq(err.msg, "GET /download: HTTP 404: no payload");
	http_response_release(&resp);
	assert_file_is(got, data, 0);

	/* A body file that cannot be read is the caller's error, not the network's. */
	ck_assert_int_eq(http_request(c, &up, NULL, &err), RP_EIO);
	http_client_free(c);
	free(data);
}
END_TEST

START_TEST(connection_refused_is_unreachable_fast)
{
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", closed_port());
	struct http_client *c = client(url, TOKEN);
	struct rp_error err;
	struct http_request req = { .method = "GET", .path = "/api/v1/universe" };
	uint64_t t0 = now_ms();
	struct http_response resp;
	ck_assert_int_eq(http_request(c, &req, &resp, &err), RP_EUNREACHABLE);
	ck_assert_int_eq(resp.status, 0);
	http_response_release(&resp);
	ck_assert_uint_lt(now_ms() - t0, 1000);
	ck_assert_ptr_nonnull(strstr(err.msg, "GET /api/v1/universe"));
	ck_assert_ptr_null(strstr(err.msg, TOKEN));
	http_client_free(c);

	struct http_client_options bad = { .base_url = "ftp://127.0.0.1/" };
	ck_assert_int_eq(http_client_new(&bad, &c, &err), RP_EINVAL);
	bad.base_url = "http://user:pw@127.0.0.1:1/";
	ck_assert_int_eq(http_client_new(&bad, &c, &err), RP_EINVAL);
	ck_assert_ptr_null(strstr(err.msg, "pw"));
}
END_TEST

static unsigned retries_seen;

static void count_retry(unsigned attempt, int rc, uint64_t delay_ms, const struct rp_error *err, void *data)
{
	(void)rc, (void)delay_ms, (void)err, (void)data;
	retries_seen = attempt;
}

START_TEST(retry_503_then_success)
{
	struct http_client *c = client(base_url, TOKEN);
	struct rp_error err;
	json_t *doc;
	srv.fail_first = 2;
	retries_seen = 0;
	struct http_retry retry = {
		.base_ms = 10, .cap_ms = 40, .deadline_ms = 10000, .on_retry = count_retry
	};
	struct http_request req = { .method = "POST", .path = "/flaky" };
	ck_assert_int_eq(http_request_json(c, &req, NULL, &retry, &doc, &err), 200);
	ck_assert_int_eq(json_integer_value(json_object_get(doc, "tries")), 3);
	ck_assert_uint_eq(retries_seen, 2);
	json_decref(doc);
	http_client_free(c);
}
END_TEST

START_TEST(retry_honours_deadline)
{
	struct http_client *c = client(base_url, TOKEN);
	struct rp_error err;
	struct http_retry retry = { .base_ms = 20, .cap_ms = 100, .deadline_ms = 600 };
	struct http_request req = { .method = "GET", .path = "/always503" };
	uint64_t t0 = now_ms();
	ck_assert_int_eq(http_request_retry(c, &req, &retry, NULL, &err), 503);
	uint64_t took = now_ms() - t0;
	ck_assert_uint_ge(took, 600);
	ck_assert_uint_lt(took, 1500);
	ck_assert_int_ge(srv.hits, 3);
	ck_assert_str_eq(err.msg, "GET /always503: HTTP 503: down for good");

	/* 4xx is final: one try. */
	srv.hits = 0;
	req.path = "/error400";
	ck_assert_int_eq(http_request_retry(c, &req, &retry, NULL, &err), 400);
	http_client_free(c);
}
END_TEST

START_TEST(retry_after_429_honoured)
{
	struct http_client *c = client(base_url, TOKEN);
	struct rp_error err;
	struct http_retry retry = { .base_ms = 1, .cap_ms = 5, .deadline_ms = 10000 };
	struct http_request req = { .method = "GET", .path = "/busy429" };
	ck_assert_int_eq(http_request_retry(c, &req, &retry, NULL, &err), 200);
	ck_assert_int_eq(srv.hits, 2);
	ck_assert_uint_ge(srv.hit_ms[1] - srv.hit_ms[0], 950);

	/* A Retry-After past the deadline ends the retries at once. */
	srv.hits = 0;
	retry.deadline_ms = 300;
	uint64_t t0 = now_ms();
	ck_assert_int_eq(http_request_retry(c, &req, &retry, NULL, &err), 429);
	ck_assert_uint_lt(now_ms() - t0, 300);
	http_client_free(c);
}
END_TEST

static volatile sig_atomic_t stop_flag;

static void *set_stop_later(void *arg)
{
	(void)arg;
	struct timespec ts = { 0, 200 * 1000000L };
	nanosleep(&ts, NULL);
	stop_flag = 1;
	return NULL;
}

START_TEST(retry_stops_on_flag)
{
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", closed_port());
	struct http_client *c = client(url, TOKEN);
	struct rp_error err;
	stop_flag = 0;
	/* Unreachable and no deadline: only the flag ends it. */
	struct http_retry retry = { .base_ms = 50, .cap_ms = 200, .stop = &stop_flag };
	struct http_request req = { .method = "POST", .path = "/api/v1/lease" };
	pthread_t t;
	pthread_create(&t, NULL, set_stop_later, NULL);
	uint64_t t0 = now_ms();
	ck_assert_int_eq(http_request_retry(c, &req, &retry, NULL, &err), RP_EUNREACHABLE);
	ck_assert_uint_lt(now_ms() - t0, 1000);
	pthread_join(t, NULL);
	http_client_free(c);
}
END_TEST

START_TEST(abort_and_timeout_end_a_hanging_request)
{
	unsigned port;
	int fd = silent_listener(&port);
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", port);
	struct http_client *c = client(url, TOKEN);
	struct rp_error err;

	struct http_request req = { .method = "GET", .path = "/hang", .timeout_ms = 300 };
	uint64_t t0 = now_ms();
	ck_assert_int_eq(http_request(c, &req, NULL, &err), RP_EUNREACHABLE);
	ck_assert_uint_ge(now_ms() - t0, 290);
	ck_assert_uint_lt(now_ms() - t0, 1500);

	stop_flag = 0;
	req.timeout_ms = HTTP_TIMEOUT_NONE;
	req.abort = &stop_flag;
	pthread_t t;
	pthread_create(&t, NULL, set_stop_later, NULL);
	t0 = now_ms();
	ck_assert_int_eq(http_request(c, &req, NULL, &err), RP_EUNREACHABLE);
	ck_assert_uint_lt(now_ms() - t0, 2500);
	ck_assert_ptr_nonnull(strstr(err.msg, "aborted"));
	pthread_join(t, NULL);
	http_client_free(c);
	close(fd);
}
END_TEST

START_TEST(response_cap_enforced)
{
	struct http_client *c = client(base_url, TOKEN);
	struct rp_error err;
	struct http_request req = { .method = "GET", .path = "/big" };
	struct http_response resp;
	ck_assert_int_eq(http_request(c, &req, &resp, &err), RP_ERANGE);
	ck_assert_str_eq(err.msg, "GET /big: the answer is over 1048576 bytes");
	http_response_release(&resp);
	req.response_cap = 4u << 20;
	ck_assert_int_eq(http_request(c, &req, &resp, &err), 200);
	ck_assert_uint_eq(resp.body_len, 2u << 20);
	ck_assert_int_eq(resp.body[0], 'x');
	ck_assert_int_eq(resp.body[resp.body_len], '\0');
	http_response_release(&resp);
	/* Not JSON with a 2xx: the JSON helper says so. */
	ck_assert_int_eq(http_request_json(c, &req, NULL, NULL, NULL, &err), RP_EINVAL);
	http_client_free(c);
}
END_TEST

START_TEST(connection_kept_alive)
{
	struct http_client *c = client(base_url, TOKEN);
	struct rp_error err;
	struct http_request req = { .method = "GET", .path = "/echo" };
	json_t *body = json_pack("{s:s}", "k", "v");
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(http_request(c, &req, NULL, &err), 200);
		struct http_request post = { .method = "POST", .path = "/echo" };
		ck_assert_int_eq(http_request_json(c, &post, body, NULL, NULL, &err), 200);
	}
	json_decref(body);
	ck_assert_int_eq(srv.connections, 1);
	http_client_free(c);
}
END_TEST

static Suite *http_client_suite(void)
{
	Suite *s = suite_create("http_client");
	TCase *tc = tcase_create("http_client");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, get_post_put_with_bodies);
	tcase_add_test(tc, no_token_no_header);
	tcase_add_test(tc, error_line_surfaced);
	tcase_add_test(tc, file_upload_and_download_byte_exact);
	tcase_add_test(tc, connection_refused_is_unreachable_fast);
	tcase_add_test(tc, retry_503_then_success);
	tcase_add_test(tc, retry_honours_deadline);
	tcase_add_test(tc, retry_after_429_honoured);
	tcase_add_test(tc, retry_stops_on_flag);
	tcase_add_test(tc, abort_and_timeout_end_a_hanging_request);
	tcase_add_test(tc, response_cap_enforced);
	tcase_add_test(tc, connection_kept_alive);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run_suite(http_client_suite());
}
