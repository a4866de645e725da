#include "error.h"

#include <stdarg.h>
#include <stdio.h>

#include "banned.h"

const char *rp_strerror(int code)
{
	switch (code) {
	case RP_OK:
		return "success";
#define RP__ERR_TEXT(name, text) \
	case RP_E##name:         \
		return text;
		RP_ERRNO_MAP(RP__ERR_TEXT)
#undef RP__ERR_TEXT
	default:
		return "unknown error";
	}
}

/*
 * Length of the well-formed UTF-8 sequence at `p` (1..4), or 0: messages go
 * into JSON documents, and a name cut by "%.64s" may end inside a character.
 */
static size_t rp__utf8_len(const unsigned char *p)
{
	size_t n;
	unsigned min;
	unsigned cp;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, min = 0x80, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, min = 0x800, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, min = 0x10000, cp = p[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80) /* also stops at the NUL */
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/*
 * In place: C0 controls, DEL, U+0085 (C2 85), U+2028/2029 (E2 80 A8/A9) and
 * every byte that is not part of well-formed UTF-8 become '?'.
 */
static void rp__error_sanitize(char *msg)
{
	unsigned char *in = (unsigned char *)msg, *out = in;
	while (*in) {
		size_t len = rp__utf8_len(in);
		if (len == 0) {
			*out++ = '?';
			in++;
		} else if (len > 1 && !(in[0] == 0xc2 && in[1] == 0x85) &&
			   !(in[0] == 0xe2 && in[1] == 0x80 && (in[2] == 0xa8 || in[2] == 0xa9))) {
			for (size_t i = 0; i < len; i++)
				*out++ = *in++;
		} else if (*in < 0x20 || *in == 0x7f) {
			*out++ = '?';
			in++;
		} else if (in[0] == 0xc2 && in[1] == 0x85) {
			*out++ = '?';
			in += 2;
		} else if (in[0] == 0xe2 && in[1] == 0x80 && (in[2] == 0xa8 || in[2] == 0xa9)) {
			*out++ = '?';
			in += 3;
		} else {
			*out++ = *in++;
		}
	}
	*out = '\0';
}

int rp_error_set(struct rp_error *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
		err->line = err->column = 0;
		rp__error_sanitize(err->msg);
	}
	return code;
}
