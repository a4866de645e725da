/*
 * api.c — abidiff's report as structured, classified changes; the semver
 * verdict; the links from breaking changes to downstream failures (api.h).
 *
 * abidiff's report is indented text: section headers at the left margin
 * ("1 Removed function:", "3 functions with some indirect sub-type change:"),
 * entries two spaces in ("[D] 'function int f()'    {f}"), and under a
 * changed entry its details, deeper. The parser reads it line by line with
 * pcre2 patterns; a changed function's details are walked with a stack of
 * contexts (which parameter, the return type, which pointed-to type), so a
 * size change is charged to the type it belongs to. A struct or enum that
 * changed is one change however many functions reach it.
 */
#define _GNU_SOURCE
#include "api.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/banned.h"

static const char *const kind_names[] = {
	"function removed", "function added",  "function changed", "variable removed",	      "variable added",
	"variable changed", "type changed",    "enum changed",	   "symbol version changed", "SONAME changed",
};

const char *api_change_kind_name(enum api_change_kind kind)
{
	return (unsigned)kind < sizeof(kind_names) / sizeof(kind_names[0]) ? kind_names[kind] : "unknown";
}

void api_diff_release(struct api_diff *d)
{
	for (size_t i = 0; d && i < d->n; i++) {
		free(d->changes[i].name);
		free(d->changes[i].before);
		free(d->changes[i].after);
		free(d->changes[i].detail);
		free(d->changes[i].where);
	}
	if (d) {
		free(d->changes);
		memset(d, 0, sizeof(*d));
	}
}

/* ---- building the list ------------------------------------------------------------------ */

struct builder {
	struct api_diff *d;
	size_t cap;
	int failed;
};

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static struct api_change *add(struct builder *b, enum api_change_kind kind, const char *name, const char *before,
			      const char *after, const char *where)
{
	if (b->failed)
		return NULL;
	if (b->d->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 16;
		struct api_change *more = realloc(b->d->changes, cap * sizeof(*more));
		if (!more) {
			b->failed = 1;
			return NULL;
		}
		b->d->changes = more;
		b->cap = cap;
	}
	struct api_change *c = &b->d->changes[b->d->n];
	memset(c, 0, sizeof(*c));
	c->kind = kind;
	c->name = dup_or_null(name);
	c->before = dup_or_null(before);
	c->after = dup_or_null(after);
	c->where = dup_or_null(where);
	if (!c->name || (before && !c->before) || (after && !c->after) || (where && !c->where)) {
		free(c->name);
		free(c->before);
		free(c->after);
		free(c->where);
		b->failed = 1;
		return NULL;
	}
	b->d->n++;
	return c;
}

/* Appends "; text" (or text) to the change's detail. */
static void note(struct builder *b, struct api_change *c, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void note(struct builder *b, struct api_change *c, const char *fmt, ...)
{
	char *more = NULL, *all = NULL;
	va_list ap;
	if (!c || b->failed)
		return;
	va_start(ap, fmt);
	int n = vasprintf(&more, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = 1;
		return;
	}
	if (c->detail && strstr(c->detail, more)) { /* said already (a type reached twice) */
		free(more);
		return;
	}
	if (c->detail ? asprintf(&all, "%s; %s", c->detail, more) < 0 : !(all = strdup(more))) {
		b->failed = 1;
		free(more);
		return;
	}
	free(more);
	free(c->detail);
	c->detail = all;
}

static struct api_change *find(struct builder *b, enum api_change_kind kind, const char *name)
{
	for (size_t i = 0; i < b->d->n; i++)
		if (b->d->changes[i].kind == kind && strcmp(b->d->changes[i].name, name) == 0)
			return &b->d->changes[i];
	return NULL;
}

/* ---- reading declarations ------------------------------------------------------------------ */

/* The name a declaration declares: the identifier before its first '(' (a function), else its last. */
static void decl_name(const char *decl, char *out, size_t size)
{
	const char *paren = strchr(decl, '(');
	const char *end = paren ? paren : decl + strlen(decl);
	while (end > decl && isspace((unsigned char)end[-1]))
		end--;
	const char *start = end;
	while (start > decl && (isalnum((unsigned char)start[-1]) || start[-1] == '_' || start[-1] == ':'))
		start--;
	size_t len = (size_t)(end - start);
	if (len >= size)
		len = size - 1;
	memcpy(out, start, len);
	out[len] = '\0';
}

/* The symbol without its version ("f@@V_1" -> "f"), and the version (or ""). */
static void split_version(const char *sym, char *name, size_t nsize, char *version, size_t vsize)
{
	const char *at = strchr(sym, '@');
	size_t len = at ? (size_t)(at - sym) : strlen(sym);
	if (len >= nsize)
		len = nsize - 1;
	memcpy(name, sym, len);
	name[len] = '\0';
	snprintf(version, vsize, "%s", at ? at + strspn(at, "@") : "");
}

/* ---- patterns -------------------------------------------------------------------------------- */

enum pat {
	P_SECTION, /* "3 functions with some indirect sub-type change:", "1 Removed variable:" */
	P_SONAME,
	P_ENTRY,	/* "  [C] 'function int f(int)' at x.c:3:1 has some ..." */
	P_VAR_CHANGED,	/* "  [C] 'int v' was changed to 'long int v' at x.h:3:1:" */
	P_SYMBOL_ENTRY, /* "  [D] f" (symbols not referenced by debug info) */
	P_PARAM,	/* "parameter 1 of type 'int' changed:" / "was added" / "was removed" / "has sub-type changes:" */
	P_IN_TYPE,	/* "in pointed to type 'struct p' at x.h:1:1:", "in referenced type", "underlying type" */
	P_NAME_CHANGE,	/* "type name changed from 'int' to 'long int'", "entity changed from 'A' to [compatible type] 'B'" */
	P_SIZE_CHANGE,	/* "type size changed from 64 to 96 (in bits)" */
	P_MEMBERS,	/* "1 data member insertion:" / "deletion" / "change" / "enumerator insertion" ... */
	P_QUOTED,	/* "'int z', at offset 64 (in bits) ..." or "'color::BLUE' from value '2' to '3'" */
	P__COUNT
};

/* clang-format off */
static const char *const pat_src[P__COUNT] = {
	[P_SECTION] = "^(\\d+) (Removed|Added|Changed)? ?(function|variable)s?( symbols?)?( with [^:]*)?(?: not referenced by debug info)?:$",
	[P_SONAME] = "^SONAME changed from '([^']*)' to '([^']*)'",
	[P_ENTRY] = "^  \\[([DAC])\\] '(function )?([^']*)'(?: at ([^ ]+?):?)?(?: has [^:]*:| *\\{([^}]*)\\})?\\s*$",
	[P_VAR_CHANGED] = "^  \\[C\\] '([^']*)' was changed to '([^']*)'(?: at ([^ ]+?))?:?\\s*$",
	[P_SYMBOL_ENTRY] = "^  \\[([DA])\\] ([^ '\\[]+)\\s*$",
	[P_PARAM] = "^\\s+(parameter (\\d+) of type '([^']*)'|return type) (changed|was added|was removed|has sub-type changes):?\\s*$",
	[P_IN_TYPE] = "^\\s+(?:in (?:pointed to|referenced|qualified underlying|underlying) type|type of variable changed in|in unqualified underlying type) '([^']*)'",
	[P_NAME_CHANGE] = "^\\s+(?:type name|entity) changed from '([^']*)' to (?:compatible type )?'([^']*)'",
	[P_SIZE_CHANGE] = "^\\s+type size changed from (\\d+) to (\\d+)",
	[P_MEMBERS] = "^\\s+(\\d+) (data member|enumerator) (insertion|deletion|change)s?:",
	[P_QUOTED] = "^\\s+'([^']*)'(?:, at offset (\\d+))?(?: from value '([^']*)' to '([^']*)')?( value '[^']*')?",
};
/* clang-format on */

struct patterns {
	pcre2_code *re[P__COUNT];
	pcre2_match_data *md;
};

static void patterns_free(struct patterns *p)
{
	for (int i = 0; i < P__COUNT; i++)
		pcre2_code_free(p->re[i]);
	pcre2_match_data_free(p->md);
}

static int patterns_compile(struct patterns *p, struct rp_error *err)
{
	int ec;
	PCRE2_SIZE eo;
	memset(p, 0, sizeof(*p));
	for (int i = 0; i < P__COUNT; i++) {
		if (!(p->re[i] = pcre2_compile((PCRE2_SPTR)pat_src[i], PCRE2_ZERO_TERMINATED, 0, &ec, &eo, NULL))) {
			char msg[120];
			pcre2_get_error_message(ec, (PCRE2_UCHAR *)msg, sizeof(msg));
			patterns_free(p);
			return rp_error_set(err, RP_EINVAL, "api pattern %d at %zu: %s", i, (size_t)eo, msg);
		}
	}
	if (!(p->md = pcre2_match_data_create(12, NULL))) {
		patterns_free(p);
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	}
	return 0;
}

static int match(struct patterns *p, enum pat which, const char *line)
{
	return pcre2_match(p->re[which], (PCRE2_SPTR)line, PCRE2_ZERO_TERMINATED, 0, 0, p->md, NULL) >= 0;
}

/* Capture group `g` of the last match into `out` ("" when it did not take part). */
static const char *group(struct patterns *p, int g, char *out, size_t size)
{
	PCRE2_SIZE len = size;
	if (pcre2_substring_copy_bynumber(p->md, (uint32_t)g, (PCRE2_UCHAR *)out, &len) < 0)
		out[0] = '\0';
	return out;
}

static int indent_of(const char *line)
{
	int n = 0;
	while (line[n] == ' ')
		n++;
	return n;
}

/* ---- the parser ------------------------------------------------------------------------------- */

enum section { S_NONE, S_FN_REMOVED, S_FN_ADDED, S_FN_CHANGED, S_VAR_REMOVED, S_VAR_ADDED, S_VAR_CHANGED,
	       S_FSYM_REMOVED, S_FSYM_ADDED, S_VSYM_REMOVED, S_VSYM_ADDED };

/* What a changed entry's detail lines are about, by indentation. */
struct context {
	int indent;
	enum { C_PARAM, C_RETURN, C_TYPE, C_VARIABLE } what;
	char type[256]; /* the type in question */
	int param;
	int named;	/* its change of type was said (abidiff says it again, deeper, for a typedef) */
};

struct parse {
	struct builder b;
	struct patterns pat;
	enum section section;
	struct api_change *entry; /* the changed function or variable whose details follow */
	char entry_name[256], entry_decl[512], entry_where[256];
	struct context stack[16];
	int depth;
	enum { M_NONE, M_MEMBER_INSERT, M_MEMBER_DELETE, M_MEMBER_CHANGE, M_ENUM_INSERT, M_ENUM_DELETE,
	       M_ENUM_CHANGE } members;
	int members_indent;
};

static int is_pointer(const char *type)
{
	return strchr(type, '*') != NULL;
}

/* The type change of `type` ("struct point"), made once. */
static struct api_change *type_change(struct parse *ps, const char *type, enum api_change_kind kind)
{
	struct api_change *c = find(&ps->b, kind, type);
	if (!c)
		c = add(&ps->b, kind, type, NULL, NULL, NULL);
	return c;
}

/* The changed function or variable itself (its own signature changed), made once. */
static struct api_change *entry_change(struct parse *ps)
{
	if (!ps->entry) {
		enum api_change_kind kind = ps->section == S_VAR_CHANGED ? API_VARIABLE_CHANGED : API_FUNCTION_CHANGED;
		ps->entry = add(&ps->b, kind, ps->entry_name, ps->entry_decl, NULL,
				ps->entry_where[0] ? ps->entry_where : NULL);
	}
	return ps->entry;
}

static void push(struct parse *ps, int indent, int what, const char *type, int param)
{
	if (ps->depth == (int)(sizeof(ps->stack) / sizeof(ps->stack[0])))
		return;
	struct context *c = &ps->stack[ps->depth++];
	c->indent = indent;
	c->what = what;
	c->param = param;
	c->named = 0;
	snprintf(c->type, sizeof(c->type), "%s", type ? type : "");
}

/* A changed entry's detail line. */
static void detail_line(struct parse *ps, const char *line)
{
	char a[512], b2[512], c3[512], d4[512];
	int ind = indent_of(line);
	while (ps->depth && ps->stack[ps->depth - 1].indent >= ind)
		ps->depth--;
	if (ps->members != M_NONE && ind <= ps->members_indent)
		ps->members = M_NONE;
	struct context *ctx = ps->depth ? &ps->stack[ps->depth - 1] : NULL;
	if (match(&ps->pat, P_PARAM, line)) {
		group(&ps->pat, 1, a, sizeof(a));
		group(&ps->pat, 3, b2, sizeof(b2));
		group(&ps->pat, 4, c3, sizeof(c3));
		int ret = strcmp(a, "return type") == 0;
		char pn[16];
		group(&ps->pat, 2, pn, sizeof(pn));
		if (strcmp(c3, "was added") == 0 || strcmp(c3, "was removed") == 0) {
			struct api_change *c = entry_change(ps);
			if (c) {
				c->api_breaking = c->abi_breaking = 1;
				note(&ps->b, c, "parameter %s of type '%s' %s", pn, b2, c3);
			}
			return;
		}
		push(ps, ind, ret ? C_RETURN : C_PARAM, b2, (int)strtol(pn, NULL, 10));
		return;
	}
	if (match(&ps->pat, P_IN_TYPE, line)) {
		group(&ps->pat, 1, a, sizeof(a));
		push(ps, ind, C_TYPE, a, 0);
		return;
	}
	if (match(&ps->pat, P_NAME_CHANGE, line) && ctx) {
		group(&ps->pat, 1, a, sizeof(a));
		group(&ps->pat, 2, b2, sizeof(b2));
		if ((ctx->what == C_PARAM || ctx->what == C_RETURN) && !ctx->named) {
			/* The type at the call boundary is another: another size or kind for the ABI; no
			 * implicit conversion between a pointer and something else for the source. */
			struct api_change *c = entry_change(ps);
			ctx->named = 1;
			if (c) {
				c->abi_breaking = 1;
				if (is_pointer(a) || is_pointer(b2))
					c->api_breaking = 1;
				if (ctx->what == C_RETURN)
					note(&ps->b, c, "return type changed from '%s' to '%s'", a, b2);
				else
					note(&ps->b, c, "parameter %d changed from '%s' to '%s'", ctx->param, a, b2);
			}
		} else if (ctx->what == C_TYPE) {
			struct api_change *c = type_change(ps, ctx->type, API_TYPE_CHANGED);
			if (c) {
				c->abi_breaking = 1;
				note(&ps->b, c, "now '%s' (was '%s')", b2, a);
			}
		} else if (ctx->what == C_VARIABLE && ps->entry) {
			ps->entry->abi_breaking = 1;
			note(&ps->b, ps->entry, "type changed from '%s' to '%s'", a, b2);
		}
		return;
	}
	if (match(&ps->pat, P_SIZE_CHANGE, line)) {
		group(&ps->pat, 1, a, sizeof(a));
		group(&ps->pat, 2, b2, sizeof(b2));
		if (ctx && ctx->what == C_TYPE) {
			struct api_change *c = type_change(ps, ctx->type, API_TYPE_CHANGED);
			if (c) {
				c->abi_breaking = 1;
				note(&ps->b, c, "size changed from %s to %s bits", a, b2);
			}
		} else if (ps->entry || ctx) {
			struct api_change *c = ctx && ctx->what != C_VARIABLE ? entry_change(ps) : ps->entry;
			if (c) {
				c->abi_breaking = 1;
				note(&ps->b, c, "size changed from %s to %s bits", a, b2);
			}
		}
		return;
	}
	if (match(&ps->pat, P_MEMBERS, line)) {
		group(&ps->pat, 2, a, sizeof(a));
		group(&ps->pat, 3, b2, sizeof(b2));
		int enumerator = strcmp(a, "enumerator") == 0;
		ps->members = strcmp(b2, "insertion") == 0 ? (enumerator ? M_ENUM_INSERT : M_MEMBER_INSERT)
			      : strcmp(b2, "deletion") == 0 ? (enumerator ? M_ENUM_DELETE : M_MEMBER_DELETE)
							    : (enumerator ? M_ENUM_CHANGE : M_MEMBER_CHANGE);
		ps->members_indent = ind;
		return;
	}
	if (ps->members != M_NONE && match(&ps->pat, P_QUOTED, line)) {
		group(&ps->pat, 1, a, sizeof(a));
		group(&ps->pat, 3, b2, sizeof(b2));
		group(&ps->pat, 4, c3, sizeof(c3));
		group(&ps->pat, 5, d4, sizeof(d4));
		int enumerator = ps->members >= M_ENUM_INSERT;
		char type[300];
		if (enumerator) {
			/* 'color::BLUE': the enum is named by the enumerator itself. */
			const char *sep = strstr(a, "::");
			snprintf(type, sizeof(type), "enum %.*s", sep ? (int)(sep - a) : (int)strlen(a), a);
		} else {
			snprintf(type, sizeof(type), "%s", ctx && ctx->what == C_TYPE ? ctx->type : "a type");
		}
		struct api_change *c = type_change(ps, type, enumerator ? API_ENUM_CHANGED : API_TYPE_CHANGED);
		if (!c)
			return;
		switch (ps->members) {
		case M_MEMBER_INSERT:
			c->abi_breaking = 1; /* offsets or size: abidiff reports insertions that move things */
			note(&ps->b, c, "member '%s' added", a);
			break;
		case M_MEMBER_DELETE:
			c->api_breaking = c->abi_breaking = 1;
			note(&ps->b, c, "member '%s' removed", a);
			break;
		case M_MEMBER_CHANGE:
			c->abi_breaking = 1;
			note(&ps->b, c, "member '%s' changed", a);
			break;
		case M_ENUM_INSERT:
			note(&ps->b, c, "enumerator %s added", a);
			break;
		case M_ENUM_DELETE:
			c->api_breaking = c->abi_breaking = 1;
			note(&ps->b, c, "enumerator %s removed", a);
			break;
		case M_ENUM_CHANGE:
			c->abi_breaking = 1;
			note(&ps->b, c, "enumerator %s changed value from %s to %s", a, b2, c3);
			break;
		case M_NONE:
			break;
		}
		return;
	}
	/* "name of 'point::y' changed to 'point::yy'": a member renamed breaks the source. */
	const char *renamed = strstr(line, "name of '");
	if (renamed && strstr(renamed, "' changed to '") && ctx && ctx->what == C_TYPE) {
		struct api_change *c = type_change(ps, ctx->type, API_TYPE_CHANGED);
		if (c) {
			c->api_breaking = c->abi_breaking = 1;
			note(&ps->b, c, "%s", renamed);
		}
	}
}

static void entry_line(struct parse *ps, const char *line)
{
	char tag[4], fn[16], decl[512], where[256], sym[256];
	ps->entry = NULL;
	ps->depth = 0;
	ps->members = M_NONE;
	if (ps->section == S_VAR_CHANGED && match(&ps->pat, P_VAR_CHANGED, line)) {
		group(&ps->pat, 1, decl, sizeof(decl));
		char after[512];
		group(&ps->pat, 2, after, sizeof(after));
		group(&ps->pat, 3, where, sizeof(where));
		decl_name(decl, ps->entry_name, sizeof(ps->entry_name));
		ps->entry = add(&ps->b, API_VARIABLE_CHANGED, ps->entry_name, decl, after, where[0] ? where : NULL);
		if (ps->entry && strcmp(decl, after) != 0) {
			ps->entry->abi_breaking = 1;
			note(&ps->b, ps->entry, "'%s' is now '%s'", decl, after);
		}
		snprintf(ps->entry_decl, sizeof(ps->entry_decl), "%s", decl);
		push(ps, 2, C_VARIABLE, decl, 0);
		return;
	}
	if (match(&ps->pat, P_ENTRY, line)) {
		group(&ps->pat, 1, tag, sizeof(tag));
		group(&ps->pat, 2, fn, sizeof(fn));
		group(&ps->pat, 3, decl, sizeof(decl));
		group(&ps->pat, 4, where, sizeof(where));
		group(&ps->pat, 5, sym, sizeof(sym));
		char name[256], version[128];
		if (sym[0])
			split_version(sym, name, sizeof(name), version, sizeof(version));
		else
			decl_name(decl, name, sizeof(name));
		snprintf(ps->entry_name, sizeof(ps->entry_name), "%s", name);
		snprintf(ps->entry_decl, sizeof(ps->entry_decl), "%s", decl);
		snprintf(ps->entry_where, sizeof(ps->entry_where), "%s", where);
		int function = fn[0] != '\0';
		if (tag[0] == 'C') {
			/* Made when a detail says the entry itself changed; a type's change is the type's. */
			if (ps->section == S_VAR_CHANGED)
				push(ps, 2, C_VARIABLE, decl, 0);
			return;
		}
		int removed = tag[0] == 'D';
		enum api_change_kind kind = function ? (removed ? API_FUNCTION_REMOVED : API_FUNCTION_ADDED)
						     : (removed ? API_VARIABLE_REMOVED : API_VARIABLE_ADDED);
		struct api_change *c = add(&ps->b, kind, name, removed ? decl : NULL, removed ? NULL : decl,
					   where[0] ? where : NULL);
		if (c && removed)
			c->api_breaking = c->abi_breaking = 1;
		return;
	}
	if ((ps->section >= S_FSYM_REMOVED) && match(&ps->pat, P_SYMBOL_ENTRY, line)) {
		group(&ps->pat, 1, tag, sizeof(tag));
		group(&ps->pat, 2, sym, sizeof(sym));
		char name[256], version[128];
		split_version(sym, name, sizeof(name), version, sizeof(version));
		int removed = tag[0] == 'D';
		int function = ps->section == S_FSYM_REMOVED || ps->section == S_FSYM_ADDED;
		enum api_change_kind kind = function ? (removed ? API_FUNCTION_REMOVED : API_FUNCTION_ADDED)
						     : (removed ? API_VARIABLE_REMOVED : API_VARIABLE_ADDED);
		struct api_change *c = add(&ps->b, kind, name, NULL, NULL, NULL);
		if (c && removed)
			c->api_breaking = c->abi_breaking = 1;
		if (c)
			note(&ps->b, c, "an ELF symbol no debug info describes");
	}
}

int api_parse_abidiff(const char *text, size_t len, int exit_status, struct api_diff *out, struct rp_error *err)
{
	struct parse ps;
	memset(&ps, 0, sizeof(ps));
	memset(out, 0, sizeof(*out));
	out->exit_status = exit_status;
	if (exit_status & 3) {
		/* abidiff's own error: its first line says what (a corrupt or missing dump). */
		size_t n = strcspn(text, "\n");
		return rp_error_set(err, RP_EINVAL, "abidiff failed (status %d): %.*s", exit_status,
				    (int)(n > 300 ? 300 : n), n ? text : "no message");
	}
	int rc = patterns_compile(&ps.pat, err);
	if (rc < 0)
		return rc;
	ps.b.d = out;
	char *copy = strndup(text, len);
	if (!copy) {
		patterns_free(&ps.pat);
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	}
	int seen_summary = 0;
	for (char *line = copy, *next; line && !ps.b.failed; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		size_t l = strlen(line);
		while (l && (line[l - 1] == '\r' || line[l - 1] == ' '))
			line[--l] = '\0';
		if (!l)
			continue;
		if (strncmp(line, "Functions changes summary:", 26) == 0 || strncmp(line, "Variables changes summary:", 26) == 0) {
			seen_summary = 1;
			continue;
		}
		char g[256], a[256];
		if (line[0] != ' ') {
			ps.entry = NULL;
			ps.depth = 0;
			if (match(&ps.pat, P_SONAME, line)) {
				group(&ps.pat, 1, g, sizeof(g));
				group(&ps.pat, 2, a, sizeof(a));
				struct api_change *c = add(&ps.b, API_SONAME_CHANGED, a, g, a, NULL);
				if (c) {
					c->abi_breaking = 1;
					note(&ps.b, c, "SONAME changed from '%s' to '%s'", g, a);
				}
			} else if (match(&ps.pat, P_SECTION, line)) {
				char what[32], thing[32], syms[16], with[64];
				group(&ps.pat, 2, what, sizeof(what));
				group(&ps.pat, 3, thing, sizeof(thing));
				group(&ps.pat, 4, syms, sizeof(syms));
				group(&ps.pat, 5, with, sizeof(with));
				int fn = strcmp(thing, "function") == 0;
				if (syms[0])
					ps.section = fn ? (strcmp(what, "Removed") == 0 ? S_FSYM_REMOVED : S_FSYM_ADDED)
							: (strcmp(what, "Removed") == 0 ? S_VSYM_REMOVED : S_VSYM_ADDED);
				else if (strcmp(what, "Removed") == 0)
					ps.section = fn ? S_FN_REMOVED : S_VAR_REMOVED;
				else if (strcmp(what, "Added") == 0)
					ps.section = fn ? S_FN_ADDED : S_VAR_ADDED;
				else
					ps.section = fn ? S_FN_CHANGED : S_VAR_CHANGED;
			} else {
				ps.section = S_NONE; /* "ELF SONAME changed", a summary line we do not need */
			}
			continue;
		}
		if (ps.section == S_NONE)
			continue;
		if (indent_of(line) == 2 && line[2] == '[')
			entry_line(&ps, line);
		else if (indent_of(line) > 2 && (ps.section == S_FN_CHANGED || ps.section == S_VAR_CHANGED))
			detail_line(&ps, line);
	}
	free(copy);
	patterns_free(&ps.pat);
	if (ps.b.failed) {
		api_diff_release(out);
		return rp_error_set(err, RP_ENOMEM, "out of memory reading abidiff's report");
	}
	if (!seen_summary && out->n == 0 && len > 0 && exit_status == 0 && strspn(text, " \t\r\n") != len) {
		api_diff_release(out);
		return rp_error_set(err, RP_EINVAL, "not an abidiff report: expected \"Functions changes summary\"");
	}
	return 0;
}

/* ---- the weaker method: symbols and header prototypes ------------------------------------------ */

/* The prototype of function `name` in `headers` (one line, spaces squeezed), or NULL. */
static char *prototype_of(const char *headers, const char *name)
{
	if (!headers)
		return NULL;
	size_t nlen = strlen(name);
	for (const char *p = strstr(headers, name); p; p = strstr(p + 1, name)) {
		int starts = p == headers || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
		const char *q = p + nlen;
		while (*q == ' ' || *q == '\t')
			q++;
		if (!starts || *q != '(')
			continue;
		/* From the start of its line to the ';' that ends it. */
		const char *start = p;
		while (start > headers && start[-1] != '\n' && start[-1] != ';' && start[-1] != '}')
			start--;
		const char *end = strchr(q, ';');
		if (!end)
			return NULL;
		char *out = malloc((size_t)(end - start) + 1);
		if (!out)
			return NULL;
		size_t n = 0;
		for (const char *c = start; c < end; c++) {
			char ch = (*c == '\n' || *c == '\t') ? ' ' : *c;
			if (ch == ' ' && (n == 0 || out[n - 1] == ' '))
				continue;
			out[n++] = ch;
		}
		while (n && out[n - 1] == ' ')
			n--;
		out[n] = '\0';
		return out;
	}
	return NULL;
}

static int in_list(const char *const *list, const char *name)
{
	for (size_t i = 0; list && list[i]; i++)
		if (strcmp(list[i], name) == 0)
			return 1;
	return 0;
}

int api_diff_symbols(const char *const *old_syms, const char *const *new_syms, const char *old_headers,
		     const char *new_headers, struct api_diff *out, struct rp_error *err)
{
	return api_diff_symbols_vars(old_syms, new_syms, NULL, NULL, old_headers, new_headers, out, err);
}

int api_diff_symbols_vars(const char *const *old_syms, const char *const *new_syms, const char *const *old_vars,
			  const char *const *new_vars, const char *old_headers, const char *new_headers,
			  struct api_diff *out, struct rp_error *err)
{
	struct builder b = { out, 0, 0 };
	memset(out, 0, sizeof(*out));
	out->weaker = 1;
	/* Variables: removed or added by name (a header says nothing this method can compare of them). */
	for (size_t i = 0; old_vars && old_vars[i] && !b.failed; i++) {
		if (in_list(new_vars, old_vars[i]))
			continue;
		struct api_change *c = add(&b, API_VARIABLE_REMOVED, old_vars[i], NULL, NULL, NULL);
		if (c)
			c->api_breaking = c->abi_breaking = 1;
	}
	for (size_t i = 0; new_vars && new_vars[i] && !b.failed; i++)
		if (!in_list(old_vars, new_vars[i]))
			add(&b, API_VARIABLE_ADDED, new_vars[i], NULL, NULL, NULL);
	for (size_t i = 0; old_syms && old_syms[i] && !b.failed; i++) {
		char *proto = prototype_of(old_headers, old_syms[i]);
		if (!in_list(new_syms, old_syms[i])) {
			struct api_change *c = add(&b, API_FUNCTION_REMOVED, old_syms[i], proto, NULL, NULL);
			if (c)
				c->api_breaking = c->abi_breaking = 1;
		} else {
			char *now = prototype_of(new_headers, old_syms[i]);
			if (proto && now && strcmp(proto, now) != 0) {
				struct api_change *c = add(&b, API_FUNCTION_CHANGED, old_syms[i], proto, now, NULL);
				if (c) {
					/* Without types nothing tells a harmless change from a breaking one. */
					c->api_breaking = c->abi_breaking = 1;
					note(&b, c, "its prototype in the public headers changed");
				}
			}
			free(now);
		}
		free(proto);
	}
	for (size_t i = 0; new_syms && new_syms[i] && !b.failed; i++) {
		if (in_list(old_syms, new_syms[i]))
			continue;
		char *proto = prototype_of(new_headers, new_syms[i]);
		add(&b, API_FUNCTION_ADDED, new_syms[i], NULL, proto, NULL);
		free(proto);
	}
	if (b.failed) {
		api_diff_release(out);
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	}
	return 0;
}

/* ---- semver --------------------------------------------------------------------------------- */

const char *api_bump_name(enum api_bump b)
{
	static const char *const names[] = { "none", "patch", "minor", "major" };
	return (unsigned)b < 4 ? names[b] : "unknown";
}

static int parse_version(const char *v, long out[3])
{
	out[0] = out[1] = out[2] = 0;
	if (!v)
		return 0;
	if (*v == 'v' || *v == 'V')
		v++;
	for (int i = 0; i < 3; i++) {
		if (!isdigit((unsigned char)*v))
			return i >= 2; /* MAJOR.MINOR is enough */
		char *end;
		out[i] = strtol(v, &end, 10);
		v = end;
		if (*v != '.')
			return i >= 1 && (*v == '\0' || *v == '-' || *v == '+' || *v == '~');
		v++;
	}
	return 1;
}

void api_semver_verdict(const struct api_diff *d, const char *old_version, const char *new_version,
			struct api_semver *out)
{
	long o[3], n[3];
	int breaking = 0, additions = 0;
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < d->n; i++) {
		breaking |= api_change_breaking(&d->changes[i]);
		additions |= !api_change_breaking(&d->changes[i]);
	}
	out->parsed = parse_version(old_version, o) && parse_version(new_version, n);
	/* Below 1.0 a minor bump is the major one (semver item 4, as Cargo reads it). */
	int zero = out->parsed && o[0] == 0;
	out->needed = breaking ? (zero ? API_BUMP_MINOR : API_BUMP_MAJOR) : additions ? API_BUMP_MINOR : API_BUMP_NONE;
	if (!out->parsed) {
		snprintf(out->why, sizeof(out->why), "the versions (%s, %s) are not MAJOR.MINOR[.PATCH]: the bump needed is %s",
			 old_version ? old_version : "unknown", new_version ? new_version : "unknown",
			 api_bump_name(out->needed));
		return;
	}
	if (n[0] != o[0])
		out->made = n[0] > o[0] ? API_BUMP_MAJOR : API_BUMP_NONE;
	else if (n[1] != o[1])
		out->made = n[1] > o[1] ? API_BUMP_MINOR : API_BUMP_NONE;
	else if (n[2] != o[2])
		out->made = n[2] > o[2] ? API_BUMP_PATCH : API_BUMP_NONE;
	else
		out->made = API_BUMP_NONE;
	/* Below 1.0, a major bump also counts as the minor one the break needs. */
	out->enough = out->made >= out->needed;
	char made[32];
	if (out->made == API_BUMP_NONE)
		snprintf(made, sizeof(made), "no bump");
	else
		snprintf(made, sizeof(made), "a %s bump", api_bump_name(out->made));
	snprintf(out->why, sizeof(out->why), "%s to %s is %s; %s %s%s", old_version, new_version, made,
		 breaking ? "a breaking change needs" : additions ? "an addition needs" : "no API change needs",
		 out->needed == API_BUMP_NONE ? "none" : api_bump_name(out->needed),
		 out->needed == API_BUMP_NONE ? "" : out->enough ? ": enough" : ": NOT enough");
}

/* ---- linking -------------------------------------------------------------------------------- */

/* gcc's and clang's shapes of an error about a name; the name is filled in for %s. */
static const struct {
	const char *shape, *pattern;
} shapes[] = {
	{ "undefined reference", "undefined (?:reference|symbol)[^\\n]*[`'\"]%s['\"]" },
	{ "implicit declaration", "implicit declaration of function [`'\"‘]%s['\"’]" },
	{ "too few arguments", "too few arguments to function(?: call)?[^\\n]*\\b%s\\b" },
	{ "too many arguments", "too many arguments to function(?: call)?[^\\n]*\\b%s\\b" },
	{ "too few arguments", "too few arguments to function call, expected" },
	{ "incompatible pointer type", "of [`'\"‘]%s['\"’] from incompatible pointer type|incompatible pointer type[^\\n]*\\b%s\\b" },
	{ "incompatible type", "incompatible type for argument \\d+ of [`'\"‘]%s['\"’]" },
	{ "no member named", "has no member named [`'\"‘]%s['\"’]|no member named '%s'" },
	{ "unknown type name", "unknown type name [`'\"‘]%s['\"’]" },
	{ "undeclared", "[`'\"‘]%s['\"’] undeclared|use of undeclared identifier '%s'" },
	{ "conflicting types", "conflicting types for [`'\"‘]%s['\"’]" },
	{ "storage size unknown", "storage size of [^\\n]* isn't known[^\\n]*\\b%s\\b|incomplete type[^\\n]*\\b%s\\b" },
};

/* `pattern` with every "%s" replaced by `name` (already quoted for pcre2); NULL when out of memory. */
static char *fill(const char *pattern, const char *name)
{
	size_t n = 0, nlen = strlen(name);
	for (const char *p = strstr(pattern, "%s"); p; p = strstr(p + 2, "%s"))
		n++;
	char *out = malloc(strlen(pattern) + n * nlen + 1), *o = out;
	if (!out)
		return NULL;
	for (const char *p = pattern; *p;) {
		if (p[0] == '%' && p[1] == 's') {
			memcpy(o, name, nlen);
			o += nlen;
			p += 2;
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	return out;
}

/* The bare identifier of a change's name: "struct point" -> "point", "color::BLUE" -> "BLUE". */
static void bare(const char *name, char *out, size_t size)
{
	const char *s = strrchr(name, ' ');
	s = s ? s + 1 : name;
	const char *c = strstr(s, "::");
	snprintf(out, size, "%s", c ? c + 2 : s);
}

/* The identifiers a change can be named by in a log: its own, and members or enumerators it removed. */
static size_t identifiers(const struct api_change *c, char ids[8][128])
{
	size_t n = 0;
	bare(c->name, ids[n++], sizeof(ids[0]));
	for (const char *p = c->detail; p && n < 8 && (p = strstr(p, "member '")); p += 8) {
		const char *q = p + 8, *e = strchr(q, '\'');
		if (!e)
			break;
		/* "member 'int y' removed": the last word of the declaration. */
		char decl[128];
		snprintf(decl, sizeof(decl), "%.*s", (int)(e - q < 127 ? e - q : 127), q);
		if (strstr(e, "' removed") == e || strncmp(e, "' changed", 9) == 0)
			bare(decl, ids[n++], sizeof(ids[0]));
	}
	for (const char *p = c->detail; p && n < 8 && (p = strstr(p, "enumerator ")); p += 11) {
		const char *q = p + 11;
		size_t l = strcspn(q, " ;");
		char en[128];
		snprintf(en, sizeof(en), "%.*s", (int)(l < 127 ? l : 127), q);
		if (strncmp(q + l, " removed", 8) == 0)
			bare(en, ids[n++], sizeof(ids[0]));
	}
	return n;
}

long api_link_failure(const struct api_diff *d, const char *log, size_t len, struct api_link *out, size_t cap,
		      struct rp_error *err)
{
	long found = 0;
	pcre2_match_data *md = pcre2_match_data_create(4, NULL);
	if (!md)
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	for (size_t i = 0; i < d->n && (size_t)found < cap; i++) {
		const struct api_change *c = &d->changes[i];
		if (!api_change_breaking(c))
			continue;
		char ids[8][128];
		size_t nids = identifiers(c, ids);
		/* The change's first line in the log, whichever identifier and shape name it there. */
		size_t best = len, best_shape = 0;
		for (size_t k = 0; k < nids; k++) {
			/* An identifier is quoted into the pattern literally. */
			char quoted[300];
			size_t q = 0;
			for (const char *s = ids[k]; *s && q < sizeof(quoted) - 3; s++) {
				if (!isalnum((unsigned char)*s) && *s != '_')
					quoted[q++] = '\\';
				quoted[q++] = *s;
			}
			quoted[q] = '\0';
			/* Most identifiers are in no log: no pattern is compiled for them. */
			if (!q || !memmem(log, len, ids[k], strlen(ids[k])))
				continue;
			for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
				if (!strstr(shapes[s].pattern, "%s"))
					continue;
				char *pat = fill(shapes[s].pattern, quoted);
				if (!pat) {
					pcre2_match_data_free(md);
					return rp_error_set(err, RP_ENOMEM, "out of memory");
				}
				int ec;
				PCRE2_SIZE eo;
				pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec, &eo, NULL);
				free(pat);
				if (!re)
					continue;
				if (pcre2_match(re, (PCRE2_SPTR)log, len, 0, 0, md, NULL) >= 0 &&
				    pcre2_get_ovector_pointer(md)[0] < best) {
					best = pcre2_get_ovector_pointer(md)[0];
					best_shape = s;
				}
				pcre2_code_free(re);
			}
		}
		if (best < len) {
			size_t from = best, to = best;
			while (from > 0 && log[from - 1] != '\n')
				from--;
			while (to < len && log[to] != '\n')
				to++;
			/* A step log's "[  1.234] " stamp is not the compiler's. */
			if (to - from > 10 && log[from] == '[') {
				const char *close = memchr(log + from, ']', to - from);
				if (close)
					from = (size_t)(close - log) + 1;
			}
			while (from < to && (log[from] == ' ' || log[from] == '\t'))
				from++;
			struct api_link *l = &out[found++];
			l->change = i;
			snprintf(l->line, sizeof(l->line), "%.*s", (int)(to - from), log + from);
			snprintf(l->shape, sizeof(l->shape), "%s", shapes[best_shape].shape);
		}
	}
	pcre2_match_data_free(md);
	return found;
}

/* ---- renderers ------------------------------------------------------------------------------- */

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

json_t *api_diff_json(const struct api_diff *d)
{
	json_t *list = json_array();
	for (size_t i = 0; list && i < d->n; i++) {
		const struct api_change *c = &d->changes[i];
		json_array_append_new(list, json_pack("{s:s, s:s, s:o, s:o, s:o, s:b, s:b, s:o}", "kind",
						      api_change_kind_name(c->kind), "name", c->name, "before",
						      str_or_null(c->before), "after", str_or_null(c->after), "detail",
						      str_or_null(c->detail), "api_breaking", c->api_breaking,
						      "abi_breaking", c->abi_breaking, "where", str_or_null(c->where)));
	}
	return json_pack("{s:b, s:o}", "weaker", d->weaker, "changes", list ? list : json_array());
}

/* A Markdown line's text: no line breaks, backticks turned to quotes. */
static void md_text(FILE *out, const char *s)
{
	for (; s && *s; s++)
		fputc(*s == '\n' || *s == '\r' ? ' ' : *s == '`' ? '\'' : *s, out);
}

static void md_change(FILE *out, const struct api_change *c)
{
	fputs("- **", out);
	md_text(out, api_change_kind_name(c->kind));
	fputs("** `", out);
	md_text(out, c->after ? c->after : c->before ? c->before : c->name);
	fputs("`", out);
	if (c->detail) {
		fputs(": ", out);
		md_text(out, c->detail);
	}
	if (api_change_breaking(c))
		fprintf(out, " (%s)", c->api_breaking && c->abi_breaking ? "breaks source and binary compatibility"
				      : c->api_breaking			 ? "breaks source compatibility"
									 : "breaks binary compatibility: rebuild dependents");
	fputs("\n", out);
}

int api_diff_markdown(FILE *out, const char *title, const struct api_diff *d, const struct api_semver *sv,
		      struct rp_error *err)
{
	size_t breaking = 0;
	for (size_t i = 0; i < d->n; i++)
		breaking += api_change_breaking(&d->changes[i]) != 0;
	fprintf(out, "## ");
	md_text(out, title);
	fprintf(out, "\n\n");
	if (d->weaker)
		fputs("_Compared by exported symbols and header prototypes only (no debug info): sizes, layouts and "
		      "types are not seen._\n\n",
		      out);
	if (sv) {
		fputs(sv->enough || sv->needed == API_BUMP_NONE ? "Semver: " : "**Semver: ", out);
		md_text(out, sv->why);
		fputs(sv->enough || sv->needed == API_BUMP_NONE ? "\n\n" : "**\n\n", out);
	}
	if (!d->n)
		fputs("No API or ABI change.\n", out);
	if (breaking) {
		fprintf(out, "### Breaking (%zu)\n\n", breaking);
		for (size_t i = 0; i < d->n; i++)
			if (api_change_breaking(&d->changes[i]))
				md_change(out, &d->changes[i]);
		fputs("\n", out);
	}
	if (d->n > breaking) {
		fprintf(out, "### Compatible (%zu)\n\n", d->n - breaking);
		for (size_t i = 0; i < d->n; i++)
			if (!api_change_breaking(&d->changes[i]))
				md_change(out, &d->changes[i]);
		fputs("\n", out);
	}
	if (ferror(out))
		return rp_error_set(err, RP_EIO, "cannot write the API report");
	return 0;
}
