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

/* In place: C0 controls, DEL, U+0085 (C2 85) and U+2028/2029 (E2 80 A8/A9) become '?'. */
static void rp__error_sanitize(char *msg)
{
	unsigned char *in = (unsigned char *)msg, *out = in;
	while (*in) {
		if (*in < 0x20 || *in == 0x7f) {
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
