/*
 * xen.c — the xl configuration of a PVH guest and its reader, xl create and
 * destroy through step_run_sync(), and the libvirt driver. See xen.h.
 *
 * Why a hand-written reader: xl's own parser (libxlutil) is part of the Xen
 * tools, which a farm host without Xen does not have; the reader knows only
 * the tiny KEY = VALUE grammar this file writes, bounded by XEN_XL_CONFIG_MAX.
 */
#define _GNU_SOURCE /* asprintf, open_memstream */
#include "runner/xen.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "runner/step.h"

#include "core/banned.h"

#define XEN__XL_ENV_PATH "PATH=/usr/sbin:/usr/bin:/sbin:/bin"

/* ---- the domain ---- */

static int xen__text_ok(const char *field, const char *s, struct rp_error *err)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return rp_error_set(err, RP_EINVAL,
					    "xen domain: %s holds a control character (0x%02x) at byte %zu; "
					    "xl and libvirt cannot carry it",
					    field, *p, (size_t)(p - (const unsigned char *)s));
	return 0;
}

static int xen__name_ok(const char *name, struct rp_error *err)
{
	size_t len = name ? strlen(name) : 0;
	int digits = 1;

	if (len == 0 || len > XEN_NAME_MAX)
		return rp_error_set(err, RP_EINVAL, "xen domain: name must be 1 to %d bytes long",
				    XEN_NAME_MAX);
	if (name[0] == '-' || name[0] == '.')
		return rp_error_set(err, RP_EINVAL, "xen domain: name \"%s\" starts with '%c'", name,
				    name[0]);
	for (const char *p = name; *p; p++) {
		int c = (unsigned char)*p;
		if (c >= '0' && c <= '9')
			continue;
		digits = 0;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '.' || c == '-')
			continue;
		return rp_error_set(err, RP_EINVAL,
				    "xen domain: name \"%s\" holds '%c'; only A-Z a-z 0-9 _ . - are allowed",
				    name, c < 0x20 || c >= 0x7f ? '?' : c);
	}
	if (digits)
		return rp_error_set(err, RP_EINVAL,
				    "xen domain: name \"%s\" is all digits; xl would read it as a domain id",
				    name);
	return 0;
}

int xen_domain_check(const struct xen_domain *d, struct rp_error *err)
{
	int rc;

	if (!d)
		return rp_error_set(err, RP_EINVAL, "xen domain: no domain");
	if ((rc = xen__name_ok(d->name, err)) < 0)
		return rc;
	if (!d->kernel || !d->kernel[0])
		return rp_error_set(err, RP_EINVAL, "xen domain: kernel is missing");
	if ((rc = xen__text_ok("kernel", d->kernel, err)) < 0)
		return rc;
	if (d->ramdisk && (rc = xen__text_ok("ramdisk", d->ramdisk, err)) < 0)
		return rc;
	if (d->cmdline && (rc = xen__text_ok("cmdline", d->cmdline, err)) < 0)
		return rc;
	if (d->console_log && (rc = xen__text_ok("console_log", d->console_log, err)) < 0)
		return rc;
	if (d->memory_mb == 0 || d->memory_mb > XEN_MEMORY_MAX_MB)
		return rp_error_set(err, RP_EINVAL, "xen domain: memory_mb %u is not in 1..%u", d->memory_mb,
				    XEN_MEMORY_MAX_MB);
	if (d->vcpus == 0 || d->vcpus > XEN_VCPUS_MAX)
		return rp_error_set(err, RP_EINVAL, "xen domain: vcpus %u is not in 1..%u", d->vcpus,
				    XEN_VCPUS_MAX);
	return 0;
}

void xen_domain_release(struct xen_domain *d)
{
	if (!d)
		return;
	free((char *)d->name);
	free((char *)d->kernel);
	free((char *)d->ramdisk);
	free((char *)d->cmdline);
	free((char *)d->console_log);
	memset(d, 0, sizeof(*d));
}

/* Closes a memstream and hands over its buffer, or frees it on a write error. */
static int xen__memstream_finish(FILE *f, char **buf, char **out, struct rp_error *err)
{
	int bad = ferror(f);

	if (fclose(f) != 0 || bad) {
		free(*buf);
		*buf = NULL;
		return rp_error_set(err, RP_ENOMEM, "xen: out of memory");
	}
	*out = *buf;
	*buf = NULL;
	return 0;
}

/* ---- xl.cfg ---- */

static void xl__put_string(FILE *f, const char *key, const char *value)
{
	fprintf(f, "%s = \"", key);
	for (const char *p = value; *p; p++) {
		if (*p == '"' || *p == '\\')
			fputc('\\', f);
		fputc(*p, f);
	}
	fputs("\"\n", f);
}

int xen_xl_config(const struct xen_domain *d, char **text, struct rp_error *err)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int rc;

	*text = NULL;
	if ((rc = xen_domain_check(d, err)) < 0)
		return rc;
	if (!(f = open_memstream(&buf, &len)))
		return rp_error_set(err, RP_ENOMEM, "xen: out of memory");
	fputs("# xl.cfg(5) domain configuration written by ripple: a throwaway PVH guest.\n", f);
	if (d->console_log) {
		/* Not an xl key (see xen.h): where ripple keeps the console xenconsoled logs. */
		fputs("#", f);
		xl__put_string(f, " ripple: console_log", d->console_log);
	}
	xl__put_string(f, "type", "pvh");
	xl__put_string(f, "name", d->name);
	xl__put_string(f, "kernel", d->kernel);
	if (d->ramdisk)
		xl__put_string(f, "ramdisk", d->ramdisk);
	if (d->cmdline)
		xl__put_string(f, "extra", d->cmdline);
	fprintf(f, "memory = %u\n", d->memory_mb);
	fprintf(f, "vcpus = %u\n", d->vcpus);
	xl__put_string(f, "on_poweroff", "destroy");
	xl__put_string(f, "on_reboot", "destroy");
	xl__put_string(f, "on_crash", "destroy");
	return xen__memstream_finish(f, &buf, text, err);
}

/* The reader. */

enum xl__kind { XL_STRING, XL_NUMBER, XL_LIST };

struct xl__value {
	enum xl__kind kind;
	char *s;	      /* XL_STRING: owned */
	unsigned long long n; /* XL_NUMBER */
};

struct xl__parser {
	const char *p;
	int line;
	struct rp_error *err;
};

static int xl__fail(struct xl__parser *ps, const char *what)
{
	return rp_error_set(ps->err, RP_EINVAL, "xl config: line %d: %s", ps->line, what);
}

/* Skips blanks; with `newlines`, also newlines and comments (inside a list). */
static void xl__skip(struct xl__parser *ps, int newlines)
{
	for (;;) {
		char c = *ps->p;
		if (c == ' ' || c == '\t' || c == '\r') {
			ps->p++;
		} else if (newlines && c == '\n') {
			ps->p++;
			ps->line++;
		} else if (newlines && c == '#') {
			while (*ps->p && *ps->p != '\n')
				ps->p++;
		} else {
			return;
		}
	}
}

static int xl__hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int xl__string(struct xl__parser *ps, char **out)
{
	char quote = *ps->p++;
	const char *start = ps->p;
	size_t n = 0;
	char *s, *q;

	*out = NULL;
	/* First pass: find the end, so the result can be sized (dequoted <= raw). */
	for (const char *p = start;; p++, n++) {
		if (*p == '\0' || *p == '\n')
			return xl__fail(ps, "unterminated string");
		if (*p == quote)
			break;
		if (*p == '\\' && p[1] && p[1] != '\n') {
			p++;
			n++;
		}
	}
	if (!(s = malloc(n + 1)))
		return rp_error_set(ps->err, RP_ENOMEM, "xl config: out of memory");
	q = s;
	while (*ps->p != quote) {
		char c = *ps->p++;
		if (c != '\\') {
			*q++ = c;
			continue;
		}
		c = *ps->p++;
		switch (c) {
		case '"':
		case '\'':
		case '\\':
			*q++ = c;
			break;
		case 'a':
			*q++ = '\a';
			break;
		case 'b':
			*q++ = '\b';
			break;
		case 'f':
			*q++ = '\f';
			break;
		case 'n':
			*q++ = '\n';
			break;
		case 'r':
			*q++ = '\r';
			break;
		case 't':
			*q++ = '\t';
			break;
		case 'v':
			*q++ = '\v';
			break;
		case 'x': {
			int hi = xl__hex(ps->p[0]), lo = hi < 0 ? -1 : xl__hex(ps->p[1]);
			if (lo < 0 || (hi == 0 && lo == 0)) {
				free(s);
				return xl__fail(ps, "bad \\x escape (two hex digits, not 00)");
			}
			*q++ = (char)(hi * 16 + lo);
			ps->p += 2;
			break;
		}
		default:
			free(s);
			return xl__fail(ps, "unknown escape in a string");
		}
	}
	ps->p++;
	*q = '\0';
	*out = s;
	return 0;
}

static int xl__value(struct xl__parser *ps, struct xl__value *v, int depth)
{
	char c = *ps->p;
	int rc;

	memset(v, 0, sizeof(*v));
	if (c == '"' || c == '\'') {
		v->kind = XL_STRING;
		return xl__string(ps, &v->s);
	}
	if (c >= '0' && c <= '9') {
		char *end;
		errno = 0;
		v->kind = XL_NUMBER;
		v->n = strtoull(ps->p, &end, 0);
		if (errno || v->n > UINT_MAX)
			return xl__fail(ps, "number out of range");
		ps->p = end;
		return 0;
	}
	if (c == '[') {
		if (depth >= 8)
			return xl__fail(ps, "lists nested too deep");
		v->kind = XL_LIST;
		ps->p++;
		xl__skip(ps, 1);
		while (*ps->p != ']') {
			struct xl__value item;
			if ((rc = xl__value(ps, &item, depth + 1)) < 0)
				return rc;
			free(item.s); /* no field of a xen_domain is a list: only the syntax is checked */
			xl__skip(ps, 1);
			if (*ps->p == ',') {
				ps->p++;
				xl__skip(ps, 1);
			} else if (*ps->p != ']') {
				return xl__fail(ps, "expected ',' or ']' in a list");
			}
		}
		ps->p++;
		return 0;
	}
	return xl__fail(ps, "expected a string, a number or a list");
}

/* Moves a string value into *field (a later key wins, as in xl). */
static int xl__take_string(struct xl__parser *ps, const char *key, struct xl__value *v, const char **field)
{
	char msg[96];

	if (v->kind != XL_STRING) {
		snprintf(msg, sizeof(msg), "%s must be a string", key);
		return xl__fail(ps, msg);
	}
	free((char *)*field);
	*field = v->s;
	v->s = NULL;
	return 0;
}

static int xl__expect_string(struct xl__parser *ps, const char *key, const struct xl__value *v,
			     const char *want)
{
	char msg[160];

	if (v->kind == XL_STRING && strcmp(v->s, want) == 0)
		return 0;
	snprintf(msg, sizeof(msg), "%s must be \"%s\" (ripple's guests are PVH and never restarted)", key,
		 want);
	return xl__fail(ps, msg);
}

static int xl__setting(struct xl__parser *ps, const char *key, struct xl__value *v, struct xen_domain *d,
		       int *seen_type, int *seen_cmdline)
{
	if (strcmp(key, "name") == 0)
		return xl__take_string(ps, key, v, &d->name);
	if (strcmp(key, "kernel") == 0)
		return xl__take_string(ps, key, v, &d->kernel);
	if (strcmp(key, "ramdisk") == 0)
		return xl__take_string(ps, key, v, &d->ramdisk);
	if (strcmp(key, "cmdline") == 0) {
		/* xl.cfg: when cmdline is set, extra is ignored. */
		*seen_cmdline = 1;
		return xl__take_string(ps, key, v, &d->cmdline);
	}
	if (strcmp(key, "extra") == 0)
		return *seen_cmdline ? 0 : xl__take_string(ps, key, v, &d->cmdline);
	if (strcmp(key, "memory") == 0 || strcmp(key, "vcpus") == 0) {
		if (v->kind != XL_NUMBER)
			return xl__fail(ps,
					key[0] == 'm' ? "memory must be a number" : "vcpus must be a number");
		*(key[0] == 'm' ? &d->memory_mb : &d->vcpus) = (unsigned)v->n;
		return 0;
	}
	if (strcmp(key, "type") == 0) {
		*seen_type = 1;
		return xl__expect_string(ps, key, v, "pvh");
	}
	if (strcmp(key, "on_poweroff") == 0 || strcmp(key, "on_reboot") == 0 || strcmp(key, "on_crash") == 0)
		return xl__expect_string(ps, key, v, "destroy");
	return 0;
}

int xen_xl_parse(const char *text, struct xen_domain *out, struct rp_error *err)
{
	static const char console_tag[] = "# ripple: console_log = ";
	struct xl__parser ps = {.p = text, .line = 1, .err = err};
	struct xl__value v = {0};
	int seen_type = 0, seen_cmdline = 0, rc = 0;
	char key[64];

	memset(out, 0, sizeof(*out));
	if (strlen(text) > XEN_XL_CONFIG_MAX)
		return rp_error_set(err, RP_EINVAL, "xl config: longer than %u bytes", XEN_XL_CONFIG_MAX);
	for (;;) {
		size_t klen = 0;

		xl__skip(&ps, 0);
		if (*ps.p == '\0')
			break;
		if (*ps.p == '\n' || *ps.p == ';') {
			ps.line += *ps.p == '\n';
			ps.p++;
			continue;
		}
		if (*ps.p == '#') {
			if (strncmp(ps.p, console_tag, sizeof(console_tag) - 1) == 0) {
				ps.p += sizeof(console_tag) - 1;
				if (*ps.p != '"' && *ps.p != '\'') {
					rc = xl__fail(&ps, "the console_log comment needs a string");
					goto out;
				}
				if ((rc = xl__value(&ps, &v, 0)) < 0 ||
				    (rc = xl__take_string(&ps, "console_log", &v, &out->console_log)) < 0)
					goto out;
			}
			while (*ps.p && *ps.p != '\n')
				ps.p++;
			continue;
		}
		while ((*ps.p >= 'a' && *ps.p <= 'z') || (*ps.p >= 'A' && *ps.p <= 'Z') || *ps.p == '_' ||
		       (klen > 0 && *ps.p >= '0' && *ps.p <= '9')) {
			if (klen + 1 >= sizeof(key)) {
				rc = xl__fail(&ps, "key too long");
				goto out;
			}
			key[klen++] = *ps.p++;
		}
		key[klen] = '\0';
		if (klen == 0) {
			rc = xl__fail(&ps, "expected a key");
			goto out;
		}
		xl__skip(&ps, 0);
		if (*ps.p != '=') {
			rc = xl__fail(&ps, "expected '=' after the key");
			goto out;
		}
		ps.p++;
		xl__skip(&ps, 0);
		if ((rc = xl__value(&ps, &v, 0)) < 0)
			goto out;
		if ((rc = xl__setting(&ps, key, &v, out, &seen_type, &seen_cmdline)) < 0)
			goto out;
		free(v.s);
		v.s = NULL;
		xl__skip(&ps, 0);
		if (*ps.p == '#')
			while (*ps.p && *ps.p != '\n')
				ps.p++;
		if (*ps.p != '\0' && *ps.p != '\n' && *ps.p != ';') {
			rc = xl__fail(&ps, "expected a newline or ';' after the value");
			goto out;
		}
	}
	if (!seen_type) {
		rc = rp_error_set(err, RP_EINVAL, "xl config: no type (ripple's guests are type = \"pvh\")");
		goto out;
	}
	rc = xen_domain_check(out, err);
out:
	free(v.s);
	if (rc < 0)
		xen_domain_release(out);
	return rc;
}

int xen_xl_console_path(const char *log_dir, const char *name, char **path, struct rp_error *err)
{
	int rc, n;

	*path = NULL;
	if ((rc = xen__name_ok(name, err)) < 0)
		return rc;
	if (!log_dir)
		log_dir = XEN_CONSOLED_LOG_DIR;
	n = asprintf(path, "%s/guest-%s.log", log_dir, name);
	if (n < 0) {
		*path = NULL;
		return rp_error_set(err, RP_ENOMEM, "xen: out of memory");
	}
	return 0;
}

/* ---- xl create / destroy ---- */

/* Writes `text` to `path` through a temporary name in the same directory. */
static int xen__write_file(const char *path, const char *text, struct rp_error *err)
{
	char *tmp = NULL;
	size_t len = strlen(text), off = 0;
	int fd = -1, rc = 0;

	if (asprintf(&tmp, "%s.XXXXXX", path) < 0) {
		tmp = NULL;
		return rp_error_set(err, RP_ENOMEM, "xen: out of memory");
	}
	if ((fd = mkstemp(tmp)) < 0) {
		rc = rp_error_set(err, RP_EIO, "%s: cannot create: %s", tmp, strerror(errno));
		goto out;
	}
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc = rp_error_set(err, RP_EIO, "%s: cannot write: %s", tmp, strerror(errno));
			goto out;
		}
		off += (size_t)w;
	}
	if (fchmod(fd, 0644) != 0 || close(fd) != 0) {
		fd = -1;
		rc = rp_error_set(err, RP_EIO, "%s: cannot write: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		rc = rp_error_set(err, RP_EIO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		unlink(tmp);
	free(tmp);
	return rc;
}

static int xen__find_xl(char *xl, size_t size, const char *what, struct rp_error *err)
{
	if (step_find_program("xl", xl, size))
		return 0;
	return rp_error_set(err, RP_ENOTFOUND, "%s: no `xl` in $PATH: this host has no Xen toolstack", what);
}

static int xen__run_xl(const char *const *argv, const char *log_path, uint64_t timeout_ms, const char *what,
		       struct rp_error *err)
{
	static const char *const env[] = {XEN__XL_ENV_PATH, NULL};
	struct step_spec spec = {.argv = argv, .env = env, .timeout_ms = timeout_ms, .log_path = log_path};
	struct step_result res;
	int rc;

	if ((rc = step_run_sync(&spec, NULL, &res, err)) < 0)
		return rc;
	if (res.status == STEP_PASSED)
		return 0;
	if (res.status == STEP_TIMED_OUT)
		return rp_error_set(err, RP_EIO, "%s: timed out after %llu ms%s%s", what,
				    (unsigned long long)timeout_ms, log_path ? ", see " : "",
				    log_path ? log_path : "");
	return rp_error_set(err, RP_EIO, "%s: exited with %d%s%s", what, res.exit_status,
			    log_path ? ", see " : "", log_path ? log_path : "");
}

int xen_xl_create(const struct xen_domain *d, const char *work_dir, struct rp_error *err)
{
	char *text = NULL, *cfg = NULL, *log = NULL;
	char xl[PATH_MAX];
	int rc;

	if ((rc = xen_xl_config(d, &text, err)) < 0)
		return rc;
	if (asprintf(&cfg, "%s/%s.cfg", work_dir, d->name) < 0 ||
	    asprintf(&log, "%s/%s.xl-create.log", work_dir, d->name) < 0) {
		rc = rp_error_set(err, RP_ENOMEM, "xen: out of memory");
		goto out;
	}
	if ((rc = xen__write_file(cfg, text, err)) < 0)
		goto out;
	if ((rc = xen__find_xl(xl, sizeof(xl), "xl create", err)) < 0)
		goto out;
	{
		const char *argv[] = {xl, "create", cfg, NULL};
		rc = xen__run_xl(argv, log, 120000, "xl create", err);
	}
out:
	free(text);
	free(cfg);
	free(log);
	return rc;
}

int xen_xl_destroy(const char *name, struct rp_error *err)
{
	char xl[PATH_MAX];
	int rc;

	if ((rc = xen__name_ok(name, err)) < 0)
		return rc;
	if ((rc = xen__find_xl(xl, sizeof(xl), "xl destroy", err)) < 0)
		return rc;
	const char *argv[] = {xl, "destroy", name, NULL};
	return xen__run_xl(argv, NULL, 60000, "xl destroy", err);
}

int xen_xl_running(const char *name, int *running, struct rp_error *err)
{
	static const char *const env[] = {XEN__XL_ENV_PATH, NULL};
	char xl[PATH_MAX];
	struct step_result res;
	int rc;

	*running = 0;
	if ((rc = xen__name_ok(name, err)) < 0)
		return rc;
	if ((rc = xen__find_xl(xl, sizeof(xl), "xl list", err)) < 0)
		return rc;
	const char *argv[] = {xl, "list", name, NULL};
	struct step_spec spec = {.argv = argv, .env = env, .timeout_ms = 10000};
	if ((rc = step_run_sync(&spec, NULL, &res, err)) < 0)
		return rc;
	if (res.status == STEP_TIMED_OUT || res.exit_status < 0)
		return rp_error_set(err, RP_EIO, "xl list %s: %s", name,
				    res.status == STEP_TIMED_OUT ? "timed out after 10 s" : "killed by a signal");
	/* xl exits 1 both for "no such domain" and its other failures: the caller cannot tell them apart. */
	*running = res.exit_status == 0;
	return 0;
}

/* ---- libvirt ---- */

static void xml__put(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&apos;", f);
			break;
		default:
			fputc(*s, f);
		}
	}
}

/* <tag>escaped text</tag> on a line of its own. */
static void xml__elem(FILE *f, const char *indent, const char *tag, const char *text)
{
	fprintf(f, "%s<%s>", indent, tag);
	xml__put(f, text);
	fprintf(f, "</%s>\n", tag);
}

int xen_virt_xml(const struct xen_domain *d, const char *kind, char **xml, struct rp_error *err)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int rc, xen;

	*xml = NULL;
	if ((rc = xen_domain_check(d, err)) < 0)
		return rc;
	if (!kind || (strcmp(kind, "xen") != 0 && strcmp(kind, "kvm") != 0 && strcmp(kind, "qemu") != 0 &&
		      strcmp(kind, "test") != 0))
		return rp_error_set(err, RP_EINVAL, "libvirt: kind \"%s\" is none of xen, kvm, qemu, test",
				    kind ? kind : "(null)");
	xen = strcmp(kind, "xen") == 0;
	if (!(f = open_memstream(&buf, &len)))
		return rp_error_set(err, RP_ENOMEM, "xen: out of memory");
	fprintf(f, "<domain type='%s'>\n", kind);
	xml__elem(f, "  ", "name", d->name);
	fprintf(f, "  <memory unit='MiB'>%u</memory>\n", d->memory_mb);
	fprintf(f, "  <vcpu>%u</vcpu>\n", d->vcpus);
	fputs("  <os>\n", f);
	if (xen)
		fputs("    <type arch='x86_64' machine='xenpvh'>xenpvh</type>\n", f);
	else
		fputs("    <type arch='x86_64'>hvm</type>\n", f);
	xml__elem(f, "    ", "kernel", d->kernel);
	if (d->ramdisk)
		xml__elem(f, "    ", "initrd", d->ramdisk);
	if (d->cmdline)
		xml__elem(f, "    ", "cmdline", d->cmdline);
	fputs("  </os>\n", f);
	/* Without ACPI (libvirt passes -no-acpi) a Linux guest's power-off only halts it: the domain stays. */
	if (!xen)
		fputs("  <features>\n    <acpi/>\n  </features>\n", f);
	fputs("  <on_poweroff>destroy</on_poweroff>\n", f);
	fputs("  <on_reboot>destroy</on_reboot>\n", f);
	fputs("  <on_crash>destroy</on_crash>\n", f);
	fputs("  <devices>\n", f);
	if (d->console_log) {
		/* A PVH guest has no emulated serial port: its console is the PV console. */
		const char *dev = xen ? "console" : "serial";
		fprintf(f, "    <%s type='file'>\n      <source path='", dev);
		xml__put(f, d->console_log);
		fputs("'/>\n", f);
		fputs(xen ? "      <target type='xen' port='0'/>\n" : "      <target port='0'/>\n", f);
		fprintf(f, "    </%s>\n", dev);
	}
	fputs("  </devices>\n", f);
	fputs("</domain>\n", f);
	return xen__memstream_finish(f, &buf, xml, err);
}

struct xen_virt {
	virConnectPtr conn;
	virDomainPtr dom;
	int state, reason; /* the last state xen_virt_wait() saw; -1 before */
};

/*
 * libvirt's embedded QEMU driver (qemu:///embed) runs inside this process and
 * refuses to open without an event loop: the default one, run by one thread
 * for the rest of the process (libvirt has no way to unregister it).
 */
static pthread_once_t xen__loop_once = PTHREAD_ONCE_INIT;
static int xen__loop_ok;

static void *xen__loop_run(void *arg)
{
	(void)arg;
	for (;;)
		if (virEventRunDefaultImpl() < 0)
			nanosleep(&(struct timespec){.tv_nsec = 10 * 1000000}, NULL);
	return NULL;
}

static void xen__loop_start(void)
{
	pthread_t t;
	pthread_attr_t attr;
	if (virEventRegisterDefaultImpl() < 0 || pthread_attr_init(&attr) != 0)
		return;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	xen__loop_ok = pthread_create(&t, &attr, xen__loop_run, NULL) == 0;
	pthread_attr_destroy(&attr);
}

static void xen__virt_quiet(void *data, virErrorPtr error)
{
	(void)data;
	(void)error;
}

static const char *xen__virt_msg(void)
{
	const char *m = virGetLastErrorMessage();
	return m ? m : "unknown libvirt error";
}

int xen_virt_start(const char *uri, const struct xen_domain *d, const char *kind, struct xen_virt **out,
		   struct rp_error *err)
{
	struct xen_virt *v = NULL;
	char *xml = NULL;
	int rc;

	*out = NULL;
	if ((rc = xen_virt_xml(d, kind, &xml, err)) < 0)
		return rc;
	if (virInitialize() < 0) {
		rc = rp_error_set(err, RP_EIO, "libvirt: cannot initialize: %s", xen__virt_msg());
		goto out;
	}
	virSetErrorFunc(NULL, xen__virt_quiet);
	pthread_once(&xen__loop_once, xen__loop_start);
	if (!xen__loop_ok) {
		rc = rp_error_set(err, RP_EIO, "libvirt: cannot start an event loop: %s", xen__virt_msg());
		goto out;
	}
	if (!(v = calloc(1, sizeof(*v)))) {
		rc = rp_error_set(err, RP_ENOMEM, "xen: out of memory");
		goto out;
	}
	if (!(v->conn = virConnectOpen(uri))) {
		rc = rp_error_set(err, RP_EUNREACHABLE, "libvirt %s: cannot connect: %s",
				  uri ? uri : "(default)", xen__virt_msg());
		goto out;
	}
	if (!(v->dom = virDomainCreateXML(v->conn, xml, VIR_DOMAIN_NONE))) {
		rc = rp_error_set(err, RP_EIO, "libvirt %s: cannot create domain %s: %s",
				  uri ? uri : "(default)", d->name, xen__virt_msg());
		goto out;
	}
	v->state = v->reason = -1;
	*out = v;
	v = NULL;
out:
	xen_virt_stop(v);
	free(xml);
	return rc;
}

int xen_virt_check(const char *uri, struct rp_error *err)
{
	virConnectPtr conn;

	if (virInitialize() < 0)
		return rp_error_set(err, RP_EIO, "libvirt: cannot initialize: %s", xen__virt_msg());
	virSetErrorFunc(NULL, xen__virt_quiet);
	pthread_once(&xen__loop_once, xen__loop_start);
	if (!xen__loop_ok)
		return rp_error_set(err, RP_EIO, "libvirt: cannot start an event loop: %s", xen__virt_msg());
	if (!(conn = virConnectOpen(uri)))
		return rp_error_set(err, RP_EUNREACHABLE, "libvirt %s: cannot connect: %s", uri ? uri : "(default)",
				    xen__virt_msg());
	virConnectClose(conn);
	return 0;
}

int xen_virt_xml_desc(struct xen_virt *v, char **xml, struct rp_error *err)
{
	if (!(*xml = virDomainGetXMLDesc(v->dom, 0)))
		return rp_error_set(err, RP_EIO, "libvirt: cannot read the domain's XML: %s",
				    xen__virt_msg());
	return 0;
}

static uint64_t xen__now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int xen_virt_wait(struct xen_virt *v, uint64_t timeout_ms, int *ended, struct rp_error *err)
{
	uint64_t deadline = xen__now_ms() + timeout_ms;

	*ended = 0;
	for (;;) {
		int state = 0, reason = 0;
		if (virDomainGetState(v->dom, &state, &reason, 0) < 0) {
			virErrorPtr e = virGetLastError();
			if (e &&
			    e->code == VIR_ERR_NO_DOMAIN) { /* a transient domain is gone once it stopped */
				*ended = 1;
				return 0;
			}
			return rp_error_set(err, RP_EIO, "libvirt: cannot read the domain's state: %s",
					    xen__virt_msg());
		}
		v->state = state;
		v->reason = reason;
		if (state == VIR_DOMAIN_SHUTOFF || state == VIR_DOMAIN_CRASHED) {
			*ended = 1;
			return 0;
		}
		if (xen__now_ms() >= deadline)
			return 0;
		nanosleep(&(struct timespec){.tv_nsec = 10 * 1000000}, NULL);
	}
}

const char *xen_virt_end_reason(const struct xen_virt *v)
{
	if (v->state == VIR_DOMAIN_CRASHED)
		return "crashed";
	if (v->state != VIR_DOMAIN_SHUTOFF)
		return "gone before its end was seen";
	switch (v->reason) {
	case VIR_DOMAIN_SHUTOFF_SHUTDOWN:
		return "shut down";
	case VIR_DOMAIN_SHUTOFF_DESTROYED:
		return "destroyed";
	case VIR_DOMAIN_SHUTOFF_CRASHED:
		return "crashed";
	case VIR_DOMAIN_SHUTOFF_FAILED:
		return "failed to start";
	default:
		return "shut off";
	}
}

void xen_virt_stop(struct xen_virt *v)
{
	if (!v)
		return;
	if (v->dom) {
		if (virDomainIsActive(v->dom) == 1)
			virDomainDestroy(v->dom);
		virDomainFree(v->dom);
	}
	if (v->conn)
		virConnectClose(v->conn);
	free(v);
}

int xen_virt_run(const char *uri, const struct xen_domain *d, const char *kind, uint64_t timeout_ms,
		 int *timed_out, struct rp_error *err)
{
	struct xen_virt *v;
	int ended = 0, rc;

	*timed_out = 0;
	if ((rc = xen_virt_start(uri, d, kind, &v, err)) < 0)
		return rc;
	rc = xen_virt_wait(v, timeout_ms, &ended, err);
	if (rc == 0)
		*timed_out = !ended;
	xen_virt_stop(v);
	return rc;
}
