/*
 * cmd_coverage.c — `ripple coverage ingest DIR` and `ripple coverage export`:
 * coverage of any gcc build tree, without a server (coverage/coverage.h).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common.h"
#include "coverage/coverage.h"
#include "core/banned.h"

const char cmd_coverage_usage[] =
    "usage: ripple coverage ingest DIR [--root DIR] [-j N] [--exclude GLOB]... [--gcov PROGRAM]\n"
    "                              [--json | --format json|lcov|cobertura] [-o FILE]\n"
    "       ripple coverage export --format json|lcov|cobertura [-o FILE] REPORT.json\n"
    "       ripple coverage patch --base REV --head REV [--repo PATH] [--base-report BASE.json]\n"
    "                             [--json] REPORT.json\n"
    "\n"
    "ingest runs gcc's gcov (--json-format) over every .gcda file under DIR (and every .gcno\n"
    "without one: compiled, never run), N processes at once, and adds up line, branch and\n"
    "function coverage per source file under the root (system headers and dependencies'\n"
    "files are left out). The figures are gcovr's on the same data: no-code lines and\n"
    "GCOVR_EXCL_* / LCOV_EXCL_* regions are left out. It prints a summary (every file and\n"
    "the totals), the same as JSON with --json, or with --format json ripple's coverage\n"
    "JSON with every line, which export turns into an lcov tracefile or Cobertura XML.\n"
    "\n"
    "patch shows patch coverage as a pull request gets it: of the lines the change from\n"
    "--base to --head adds or changes (against their merge base), how many the report of\n"
    "the head (REPORT.json, from ingest --format json) counts and how many of those ran;\n"
    "with --base-report also the change of the whole project's line coverage.\n"
    "\n"
    "  --root DIR            the sources' root; paths are relative to it (default: DIR)\n"
    "  -j, --jobs N          gcov processes at once (default: the number of CPUs)\n"
    "  --exclude GLOB        leave out files whose relative path matches (repeatable)\n"
    "  --gcov PROGRAM        the gcov to run (default gcov from PATH; gcc's own version)\n"
    "  --json                print the summary as JSON: totals and every file's (docs/coverage.md)\n"
    "  --format F            json (ripple's coverage JSON, with every line), lcov (a tracefile)\n"
    "                        or cobertura (XML)\n"
    "  -o, --output FILE     write there instead of stdout\n"
    "\n"
    "Exit status: 0 done, 2 bad usage or bad input (no .gcda files, a .gcda of another gcc\n"
    "version, a truncated or foreign JSON document).\n";

/* F_JSON_SUMMARY: the figures per file and in total, as gcovr --json-summary; F_JSON: with every line. */
enum format { F_SUMMARY, F_JSON_SUMMARY, F_JSON, F_LCOV, F_COBERTURA };

static int parse_format(const char *s, enum format *f)
{
	if (strcmp(s, "json") == 0)
		*f = F_JSON;
	else if (strcmp(s, "lcov") == 0)
		*f = F_LCOV;
	else if (strcmp(s, "cobertura") == 0)
		*f = F_COBERTURA;
	else
		return -1;
	return 0;
}

static void summary(const struct cov_report *r, FILE *out)
{
	fprintf(out, "%-50s %18s %18s %18s\n", "file", "lines", "branches", "functions");
	for (size_t i = 0; i <= r->n_files; i++) {
		const struct cov_totals *t = i < r->n_files ? &r->files[i].totals : &r->totals;
		const char *name = i < r->n_files ? r->files[i].path : "TOTAL";
		char l[40], b[40], f[40];
		snprintf(l, sizeof(l), "%llu/%llu %5.1f%%", (unsigned long long)t->lines.covered,
			 (unsigned long long)t->lines.total, coverage_percent(t->lines));
		snprintf(b, sizeof(b), "%llu/%llu %5.1f%%", (unsigned long long)t->branches.covered,
			 (unsigned long long)t->branches.total, coverage_percent(t->branches));
		snprintf(f, sizeof(f), "%llu/%llu %5.1f%%", (unsigned long long)t->functions.covered,
			 (unsigned long long)t->functions.total, coverage_percent(t->functions));
		fprintf(out, "%-50s %18s %18s %18s\n", name, l, b, f);
	}
}

/* Writes `r` in `format` to `path` (NULL: stdout); the exit status. */
static int write_report(const struct cov_report *r, enum format format, const char *path)
{
	FILE *out = path ? fopen(path, "w") : stdout;
	struct rp_error err = { .msg = "" };
	int rc = 0;
	if (!out) {
		cli_error("%s: %s", path, strerror(errno));
		return RP_EXIT_USAGE;
	}
	if (format == F_SUMMARY) {
		summary(r, out);
	} else if (format == F_JSON || format == F_JSON_SUMMARY) {
		json_t *doc = coverage_to_json(r, format == F_JSON);
		if (!doc || json_dumpf(doc, out, JSON_COMPACT) < 0 || fputc('\n', out) == EOF)
			rc = rp_error_set(&err, RP_EIO, "cannot write the JSON");
		json_decref(doc);
	} else if (format == F_LCOV) {
		rc = coverage_write_lcov(r, out, &err);
	} else {
		rc = coverage_write_cobertura(r, out, &err);
	}
	if ((path ? fclose(out) : fflush(out)) != 0 && rc == 0)
		rc = rp_error_set(&err, RP_EIO, "%s: %s", path ? path : "stdout", strerror(errno));
	if (rc < 0) {
		cli_error("%s", err.msg);
		return RP_EXIT_FAILED;
	}
	return RP_EXIT_OK;
}

static int ingest(int argc, char **argv)
{
	static const struct option options[] = { { "root", required_argument, NULL, 'r' },
						 { "jobs", required_argument, NULL, 'j' },
						 { "exclude", required_argument, NULL, 'x' },
						 { "gcov", required_argument, NULL, 'g' },
						 { "json", no_argument, NULL, 'J' },
						 { "format", required_argument, NULL, 'f' },
						 { "output", required_argument, NULL, 'o' },
						 { NULL, 0, NULL, 0 } };
	struct cov_ingest_options o = { 0 };
	const char **exclude = calloc((size_t)argc + 1, sizeof(*exclude));
	size_t n_exclude = 0;
	enum format format = F_SUMMARY;
	const char *output = NULL;
	int opt, status;
	if (!exclude) {
		cli_error("out of memory");
		return RP_EXIT_FAILED;
	}
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "j:o:", options, NULL)) != -1) {
		char *end;
		switch (opt) {
		case 'r':
			o.root = optarg;
			break;
		case 'j': {
			errno = 0;
			long n = strtol(optarg, &end, 10);
			if (errno || *end || n < 1 || n > 256) {
				free(exclude);
				return cli_usage_error("coverage", "-j: expected a number of processes from 1 to 256, not '%s'",
						       optarg);
			}
			o.jobs = (unsigned)n;
			break;
		}
		case 'x':
			exclude[n_exclude++] = optarg;
			break;
		case 'g':
			o.gcov = optarg;
			break;
		case 'J':
			format = F_JSON_SUMMARY;
			break;
		case 'f':
			if (parse_format(optarg, &format) < 0) {
				free(exclude);
				return cli_usage_error("coverage", "--format: expected json, lcov or cobertura, not '%s'", optarg);
			}
			break;
		case 'o':
			output = optarg;
			break;
		default:
			free(exclude);
			if (optopt)
				return cli_usage_error("coverage", "option '%s' needs a value", argv[optind - 1]);
			return cli_usage_error("coverage", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind + 1 != argc) {
		free(exclude);
		return cli_usage_error("coverage", "ingest: expected one build directory");
	}
	o.dir = argv[optind];
	o.exclude = exclude;
	struct cov_report r;
	struct rp_error err = { .msg = "" };
	int rc = coverage_ingest(&o, &r, &err);
	free(exclude);
	if (rc < 0) {
		cli_error("%s", err.msg);
		return rc == RP_ENOMEM || rc == RP_EIO ? RP_EXIT_FAILED : RP_EXIT_USAGE;
	}
	status = write_report(&r, format, output);
	coverage_report_release(&r);
	return status;
}

static int export(int argc, char **argv)
{
	static const struct option options[] = { { "format", required_argument, NULL, 'f' },
						 { "output", required_argument, NULL, 'o' },
						 { NULL, 0, NULL, 0 } };
	enum format format = F_SUMMARY;
	const char *output = NULL;
	int opt, have_format = 0;
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "o:", options, NULL)) != -1) {
		if (opt == 'f') {
			if (parse_format(optarg, &format) < 0)
				return cli_usage_error("coverage", "--format: expected json, lcov or cobertura, not '%s'", optarg);
			have_format = 1;
		} else if (opt == 'o') {
			output = optarg;
		} else if (optopt) {
			return cli_usage_error("coverage", "option '%s' needs a value", argv[optind - 1]);
		} else {
			return cli_usage_error("coverage", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (!have_format)
		return cli_usage_error("coverage", "export: --format json, lcov or cobertura is needed");
	if (optind + 1 != argc)
		return cli_usage_error("coverage", "export: expected one report (ripple coverage ingest --json)");
	json_error_t jerr;
	json_t *doc = json_load_file(argv[optind], 0, &jerr);
	if (!doc) {
		cli_error("%s:%d:%d: %s", argv[optind], jerr.line, jerr.column, jerr.text);
		return RP_EXIT_USAGE;
	}
	struct cov_report r;
	struct rp_error err = { .msg = "" };
	int rc = coverage_from_json(doc, &r, &err);
	json_decref(doc);
	if (rc < 0) {
		cli_error("%s: %s", argv[optind], err.msg);
		return RP_EXIT_USAGE;
	}
	int status = write_report(&r, format, output);
	coverage_report_release(&r);
	return status;
}

static int load_report(const char *path, struct cov_report *r)
{
	json_error_t jerr;
	json_t *doc = json_load_file(path, 0, &jerr);
	if (!doc) {
		cli_error("%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
		return RP_EXIT_USAGE;
	}
	struct rp_error err = { .msg = "" };
	int rc = coverage_from_json(doc, r, &err);
	json_decref(doc);
	if (rc < 0) {
		cli_error("%s: %s", path, err.msg);
		return RP_EXIT_USAGE;
	}
	return RP_EXIT_OK;
}

static int patch(int argc, char **argv)
{
	static const struct option options[] = { { "repo", required_argument, NULL, 'r' },
						 { "base", required_argument, NULL, 'b' },
						 { "head", required_argument, NULL, 'h' },
						 { "base-report", required_argument, NULL, 'B' },
						 { "json", no_argument, NULL, 'J' },
						 { NULL, 0, NULL, 0 } };
	const char *repo = ".", *base = NULL, *head = NULL, *base_report = NULL;
	int json = 0, opt;
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (opt == 'r')
			repo = optarg;
		else if (opt == 'b')
			base = optarg;
		else if (opt == 'h')
			head = optarg;
		else if (opt == 'B')
			base_report = optarg;
		else if (opt == 'J')
			json = 1;
		else if (optopt)
			return cli_usage_error("coverage", "option '%s' needs a value", argv[optind - 1]);
		else
			return cli_usage_error("coverage", "unknown option '%s'", argv[optind - 1]);
	}
	if (!base || !head)
		return cli_usage_error("coverage", "patch: --base REV and --head REV are needed");
	if (optind + 1 != argc)
		return cli_usage_error("coverage", "patch: expected the head's report (ripple coverage ingest --format json)");
	struct cov_report r = { 0 }, b = { 0 };
	struct cov_patch p;
	struct rp_error err = { .msg = "" };
	int status = load_report(argv[optind], &r);
	if (status == RP_EXIT_OK && base_report)
		status = load_report(base_report, &b);
	if (status != RP_EXIT_OK) {
		coverage_report_release(&r);
		return status;
	}
	int rc = coverage_patch_lines(repo, base, head, &p, &err);
	if (rc < 0) {
		cli_error("%s", err.msg);
		coverage_report_release(&r);
		coverage_report_release(&b);
		return rc == RP_EIO || rc == RP_ENOMEM ? RP_EXIT_FAILED : RP_EXIT_USAGE;
	}
	struct cov_count total, *per = calloc(p.n_files + 1, sizeof(*per));
	if (!per) {
		cli_error("out of memory");
		status = RP_EXIT_FAILED;
		goto out;
	}
	coverage_patch_figures(&r, &p, &total, per);
	if (json) {
		json_t *files = json_array();
		for (size_t i = 0; i < p.n_files; i++) {
			json_t *missed = json_array();
			/* The patch's lines the report counts and that did not run. */
			const struct cov_file *f = NULL;
			for (size_t k = 0; k < r.n_files && !f; k++)
				if (strcmp(r.files[k].path, p.files[i].path) == 0)
					f = &r.files[k];
			for (size_t a = 0, c = 0; f && a < p.files[i].n_lines && c < f->n_lines;) {
				if (p.files[i].lines[a] < f->lines[c].line)
					a++;
				else if (p.files[i].lines[a] > f->lines[c].line)
					c++;
				else {
					if (!f->lines[c].hits)
						json_array_append_new(missed, json_integer(f->lines[c].line));
					a++;
					c++;
				}
			}
			json_array_append_new(files, json_pack("{s:s, s:I, s:I, s:I, s:o}", "path", p.files[i].path, "lines",
							       (json_int_t)p.files[i].n_lines, "covered",
							       (json_int_t)per[i].covered, "coverable",
							       (json_int_t)per[i].total, "missed", missed));
		}
		json_t *doc = json_pack("{s:s, s:s, s:{s:I, s:I, s:f}, s:o}", "base", p.base, "head", p.head, "patch",
					"covered", (json_int_t)total.covered, "total", (json_int_t)total.total, "percent",
					coverage_percent(total), "files", files);
		if (base_report)
			json_object_set_new(doc, "project",
					    json_pack("{s:f, s:f, s:f}", "base", coverage_percent(b.totals.lines), "head",
						      coverage_percent(r.totals.lines), "change",
						      coverage_percent(r.totals.lines) - coverage_percent(b.totals.lines)));
		status = cli_print_json(doc);
	} else {
		printf("patch coverage of %.12s..%.12s: %llu of %llu lines (%.1f%%)\n", p.base, p.head,
		       (unsigned long long)total.covered, (unsigned long long)total.total, coverage_percent(total));
		for (size_t i = 0; i < p.n_files; i++)
			printf("  %-50s %llu of %llu\n", p.files[i].path, (unsigned long long)per[i].covered,
			       (unsigned long long)per[i].total);
		if (base_report)
			printf("project line coverage: %.2f%% -> %.2f%% (%+.2f)\n", coverage_percent(b.totals.lines),
			       coverage_percent(r.totals.lines),
			       coverage_percent(r.totals.lines) - coverage_percent(b.totals.lines));
	}
out:
	free(per);
	coverage_patch_release(&p);
	coverage_report_release(&r);
	coverage_report_release(&b);
	return status;
}

int cmd_coverage(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_error("coverage", "expected 'ingest', 'export' or 'patch'");
	if (strcmp(argv[1], "ingest") == 0)
		return ingest(argc - 1, argv + 1);
	if (strcmp(argv[1], "export") == 0)
		return export(argc - 1, argv + 1);
	if (strcmp(argv[1], "patch") == 0)
		return patch(argc - 1, argv + 1);
	return cli_usage_error("coverage", "unknown action '%s': expected 'ingest', 'export' or 'patch'", argv[1]);
}
