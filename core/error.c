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

int rp_error_set(struct rp_error *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
		/* One line: a newline inside a message would split it in logs. */
		for (char *p = err->msg; *p; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';
	}
	return code;
}
