#include "report.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

static const char *pkg_name(const struct rp_universe *u, const struct build_job_report *j)
{
	return u->packages[j->package].name;
}

static const char *target_name(const struct rp_universe *u, const struct build_job_report *j)
{
	return u->targets[j->target].name;
}

/* Markdown table cells must not break the table. */
static void cell(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '|')
			fputs("\\|", out);
		else if (*s == '\n')
			fputc(' ', out);
		else
			fputc(*s, out);
	}
}

static void failure_block(FILE *out, const struct rp_universe *u, const struct build_report *r, size_t i,
			  const char *reproduce)
{
	const struct build_job_report *j = &r->jobs[i];
	fprintf(out, "### %s on %s: %s", pkg_name(u, j), target_name(u, j), build_outcome_name(j->outcome));
	if (j->failed_step)
		fprintf(out, " (%s step", j->failed_step);
	if (j->category[0])
		fprintf(out, "%s%s", j->failed_step ? ", " : " (", j->category);
	if (j->failed_step || j->category[0])
		fputc(')', out);
	fputs(j->cached ? ", from the cache\n\n" : "\n\n", out);
	if (j->first_error[0])
		fprintf(out, "    %s\n\n", j->first_error);
	if (j->commit[0])
		fprintf(out, "- commit: `%s`\n", j->commit);
	if (j->log_path[0])
		fprintf(out, "- log: `%s`\n", j->log_path);
	if (reproduce && j->outcome != BUILD_ERROR)
		fprintf(out, "- reproduce: `%s --target %s --only %s --rebuild %s`\n", reproduce, target_name(u, j),
			pkg_name(u, j), pkg_name(u, j));
	size_t skipped = 0;
	for (size_t k = 0; k < r->n_jobs; k++)
		if (r->jobs[k].outcome == BUILD_SKIPPED && r->jobs[k].cause == (long)i)
			skipped++;
	if (skipped) {
		fprintf(out, "- skipped because of it (%zu):", skipped);
		for (size_t k = 0; k < r->n_jobs; k++)
			if (r->jobs[k].outcome == BUILD_SKIPPED && r->jobs[k].cause == (long)i)
				fprintf(out, " %s@%s", pkg_name(u, &r->jobs[k]), target_name(u, &r->jobs[k]));
		fputc('\n', out);
	}
	fputc('\n', out);
}

int report_build_markdown(FILE *out, const struct rp_universe *u, const struct build_report *r,
			  const char *reproduce)
{
	fprintf(out, "## ripple build of %s: %zu jobs in %.1f s\n\n", u->name, r->n_jobs, (double)r->elapsed_ms / 1000);
	fprintf(out, "%zu pass, %zu fail, %zu skipped, %zu error, %zu timeout, %zu cancelled; %zu from the cache, %zu built\n\n",
		r->counts[BUILD_PASS], r->counts[BUILD_FAIL], r->counts[BUILD_SKIPPED], r->counts[BUILD_ERROR],
		r->counts[BUILD_TIMEOUT], r->counts[BUILD_CANCELLED], r->cached, r->built);
	fputs("| package | target | result | commit | first error |\n| --- | --- | --- | --- | --- |\n", out);
	for (size_t i = 0; i < r->n_jobs; i++) {
		const struct build_job_report *j = &r->jobs[i];
		fprintf(out, "| %s | %s | %s%s | %.12s | ", pkg_name(u, j), target_name(u, j),
			build_outcome_name(j->outcome), j->cached ? " (cached)" : "", j->commit);
		if (j->outcome != BUILD_PASS)
			cell(out, j->first_error);
		fputs(" |\n", out);
	}
	fputc('\n', out);
	for (size_t i = 0; i < r->n_jobs; i++) {
		enum build_outcome o = r->jobs[i].outcome;
		if (o == BUILD_FAIL || o == BUILD_ERROR || o == BUILD_TIMEOUT)
			failure_block(out, u, r, i, reproduce);
	}
	return ferror(out) ? RP_EIO : 0;
}

static json_t *job_json(const struct rp_universe *u, const struct build_job_report *j)
{
	return json_pack("{s:s, s:s, s:s, s:b, s:b, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:I, s:s?, s:I}", "package",
			 pkg_name(u, j), "target", target_name(u, j), "result", build_outcome_name(j->outcome), "cached",
			 j->cached, "changed", j->changed, "commit", j->commit[0] ? j->commit : NULL, "build_key",
			 j->key[0] ? j->key : NULL, "failed_step", j->failed_step, "category",
			 j->category[0] ? j->category : NULL, "first_error", j->first_error[0] ? j->first_error : NULL,
			 "output_hash", j->output_hash[0] ? j->output_hash : NULL, "duration_ms",
			 (json_int_t)j->duration_ms, "log", j->log_path[0] ? j->log_path : NULL, "attempts",
			 (json_int_t)j->attempts);
}

static int dump(FILE *out, json_t *doc)
{
	if (!doc)
		return RP_ENOMEM;
	int rc = json_dumpf(doc, out, JSON_INDENT(2));
	json_decref(doc);
	fputc('\n', out);
	return rc < 0 || ferror(out) ? RP_EIO : 0;
}

int report_build_json(FILE *out, const struct rp_universe *u, const struct build_report *r, const char *reproduce)
{
	json_t *jobs = json_array();
	for (size_t i = 0; jobs && i < r->n_jobs; i++) {
		json_t *j = job_json(u, &r->jobs[i]);
		if (j && r->jobs[i].cause >= 0) {
			const struct build_job_report *c = &r->jobs[r->jobs[i].cause];
			json_object_set_new(j, "cause", json_pack("{s:s, s:s}", "package", pkg_name(u, c), "target",
								  target_name(u, c)));
		}
		if (!j || json_array_append_new(jobs, j) < 0)
			json_decref(jobs), jobs = NULL;
	}
	if (!jobs)
		return RP_ENOMEM;
	return dump(out, json_pack("{s:s, s:s?, s:I, s:I, s:I, s:o}", "universe", u->name, "reproduce", reproduce,
				   "elapsed_ms", (json_int_t)r->elapsed_ms, "cached", (json_int_t)r->cached, "built",
				   (json_int_t)r->built, "jobs", jobs));
}

const char *report_verdict_name(enum report_verdict v)
{
	static const char *const names[] = { "regressed", "fixed",  "still failing", "passing",
					     "skipped",   "error", "flaky" };
	return (size_t)v < sizeof(names) / sizeof(names[0]) ? names[v] : "unknown";
}

static int is_failure(enum build_outcome o)
{
	return o == BUILD_FAIL || o == BUILD_TIMEOUT;
}

enum report_verdict report_verdict_of(int has_base, enum build_outcome base, enum build_outcome head)
{
	if (head == BUILD_SKIPPED)
		return VERDICT_SKIPPED;
	if (head == BUILD_ERROR || head == BUILD_CANCELLED || !has_base || base == BUILD_ERROR ||
	    base == BUILD_CANCELLED || base == BUILD_SKIPPED)
		return VERDICT_ERROR; /* nothing to compare with; infrastructure is never blamed on the code */
	if (head == BUILD_PASS)
		return base == BUILD_PASS ? VERDICT_PASSING : VERDICT_FIXED;
	if (is_failure(head))
		return base == BUILD_PASS ? VERDICT_REGRESSED : VERDICT_STILL_FAILING;
	return VERDICT_ERROR;
}

int report_compare(const struct build_report *base, const struct build_report *head, struct report_comparison *out,
		   struct rp_error *err)
{
	memset(out, 0, sizeof(*out));
	out->pairs = calloc(head->n_jobs ? head->n_jobs : 1, sizeof(*out->pairs));
	if (!out->pairs)
		return rp_error_set(err, RP_ENOMEM, "out of memory comparing runs");
	for (size_t i = 0; i < head->n_jobs; i++) {
		const struct build_job_report *h = &head->jobs[i], *b = NULL;
		for (size_t k = 0; k < base->n_jobs && !b; k++)
			if (base->jobs[k].package == h->package && base->jobs[k].target == h->target)
				b = &base->jobs[k];
		enum report_verdict v = report_verdict_of(b != NULL, b ? b->outcome : BUILD_ERROR, h->outcome);
		out->pairs[out->n_pairs].base = b;
		out->pairs[out->n_pairs].head = h;
		out->pairs[out->n_pairs].verdict = v;
		out->pairs[out->n_pairs].runs = 1;
		out->pairs[out->n_pairs].head_failures = is_failure(h->outcome);
		out->pairs[out->n_pairs].base_failures = b && is_failure(b->outcome);
		out->n_pairs++;
		out->counts[v]++;
	}
	return 0;
}

void report_settle(struct report_comparison *c, size_t pair, unsigned runs, unsigned head_failures,
		   unsigned base_failures, int inconclusive)
{
	struct report_pair *p = &c->pairs[pair];
	c->counts[p->verdict]--;
	p->runs = runs;
	p->head_failures = head_failures;
	p->base_failures = base_failures;
	if (inconclusive)
		p->verdict = VERDICT_ERROR;
	else
		p->verdict = head_failures == runs && base_failures == 0 ? VERDICT_REGRESSED : VERDICT_FLAKY;
	c->counts[p->verdict]++;
}

/* "3/3 new failures vs 0/3 before" or "flaky: 1/3 vs 0/3"; empty for a verdict from one run. */
static void runs_note(char *buf, size_t size, const struct report_pair *p)
{
	buf[0] = '\0';
	if (p->runs > 1)
		snprintf(buf, size, "%s%u/%u failed with the change vs %u/%u before", p->verdict == VERDICT_FLAKY ? "flaky: " : "",
			 p->head_failures, p->runs, p->base_failures, p->runs);
}

void report_comparison_release(struct report_comparison *c)
{
	free(c->pairs);
	memset(c, 0, sizeof(*c));
}

int report_comparison_markdown(FILE *out, const struct rp_universe *u, const struct report_comparison *c,
			       const char *change, const char *reproduce)
{
	fprintf(out, "## ripple: %s\n\n", change);
	fprintf(out, "%zu regressed, %zu fixed, %zu still failing, %zu flaky, %zu passing, %zu skipped, %zu error\n\n",
		c->counts[VERDICT_REGRESSED], c->counts[VERDICT_FIXED], c->counts[VERDICT_STILL_FAILING],
		c->counts[VERDICT_FLAKY], c->counts[VERDICT_PASSING], c->counts[VERDICT_SKIPPED],
		c->counts[VERDICT_ERROR]);
	fputs("| package | target | verdict | base | change | first error |\n| --- | --- | --- | --- | --- | --- |\n",
	      out);
	static const enum report_verdict order[] = { VERDICT_REGRESSED, VERDICT_ERROR, VERDICT_STILL_FAILING,
						     VERDICT_FLAKY,     VERDICT_SKIPPED, VERDICT_FIXED,
						     VERDICT_PASSING };
	for (size_t o = 0; o < sizeof(order) / sizeof(order[0]); o++) {
		for (size_t i = 0; i < c->n_pairs; i++) {
			const struct report_pair *p = &c->pairs[i];
			if (p->verdict != order[o])
				continue;
			fprintf(out, "| %s | %s | %s | %s | %s | ", pkg_name(u, p->head), target_name(u, p->head),
				report_verdict_name(p->verdict), p->base ? build_outcome_name(p->base->outcome) : "-",
				build_outcome_name(p->head->outcome));
			char note[96];
			runs_note(note, sizeof(note), p);
			if (note[0])
				fprintf(out, "%s; ", note);
			if (p->head->outcome != BUILD_PASS)
				cell(out, p->head->first_error);
			fputs(" |\n", out);
		}
	}
	fputc('\n', out);
	for (size_t i = 0; i < c->n_pairs; i++) {
		const struct report_pair *p = &c->pairs[i];
		if (p->verdict != VERDICT_REGRESSED)
			continue;
		const struct build_job_report *h = p->head;
		char note[96];
		runs_note(note, sizeof(note), p);
		fprintf(out, "### regressed: %s on %s (%s%s%s)\n\n    %s\n\n", pkg_name(u, h), target_name(u, h),
			h->failed_step ? h->failed_step : "", h->category[0] ? ", " : "", h->category, h->first_error);
		if (note[0])
			fprintf(out, "- %s\n", note);
		if (h->log_path[0])
			fprintf(out, "- log: `%s`\n", h->log_path);
		if (reproduce)
			fprintf(out, "- reproduce: `%s --target %s --only %s --rebuild %s`\n", reproduce, target_name(u, h),
				pkg_name(u, h), pkg_name(u, h));
		fputc('\n', out);
	}
	return ferror(out) ? RP_EIO : 0;
}

int report_comparison_json(FILE *out, const struct rp_universe *u, const struct report_comparison *c,
			   const char *change)
{
	json_t *pairs = json_array();
	for (size_t i = 0; pairs && i < c->n_pairs; i++) {
		const struct report_pair *p = &c->pairs[i];
		json_t *e = json_pack("{s:s, s:s, s:s, s:o, s:o, s:{s:I, s:I, s:I}}", "package", pkg_name(u, p->head),
				      "target", target_name(u, p->head), "verdict", report_verdict_name(p->verdict),
				      "base", p->base ? job_json(u, p->base) : json_null(), "change",
				      job_json(u, p->head), "runs", "each_side", (json_int_t)p->runs, "change_failures",
				      (json_int_t)p->head_failures, "base_failures", (json_int_t)p->base_failures);
		if (!e || json_array_append_new(pairs, e) < 0)
			json_decref(pairs), pairs = NULL;
	}
	if (!pairs)
		return RP_ENOMEM;
	return dump(out, json_pack("{s:s, s:s, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}, s:o}", "universe", u->name,
				   "change", change, "counts", "flaky", (json_int_t)c->counts[VERDICT_FLAKY],
				   "regressed", (json_int_t)c->counts[VERDICT_REGRESSED], "fixed",
				   (json_int_t)c->counts[VERDICT_FIXED], "still_failing",
				   (json_int_t)c->counts[VERDICT_STILL_FAILING], "passing",
				   (json_int_t)c->counts[VERDICT_PASSING], "skipped", (json_int_t)c->counts[VERDICT_SKIPPED],
				   "error", (json_int_t)c->counts[VERDICT_ERROR], "pairs", pairs));
}
