#include <stdio.h>
#include <stdlib.h>

#include "build_common.h"
#include "cli.h"
#include "common.h"
#include "reports/report.h"
#include "core/banned.h"

int cmd_build(int argc, char **argv)
{
	struct cli_build_args args;
	struct rp_universe *u = NULL;
	struct graph g = { 0 };
	struct build_session *s = NULL;
	struct build_report report = { 0 };
	struct plan_change *changes = NULL, *pins = NULL;
	struct rp_error err;
	char *reproduce = NULL;
	int status = cli_build_parse("build", argc, argv, &args);
	if (status != RP_EXIT_OK)
		goto out;
	if (!args.n_changes && !args.all) {
		status = cli_usage_error("build", "nothing to build: give --change PACKAGE=REVISION or --all");
		goto out;
	}
	if (args.n_changes && args.all) {
		status = cli_usage_error("build", "--all and --change exclude each other");
		goto out;
	}
	if ((status = cli_load_universe(args.manifest, &u, &g)) != RP_EXIT_OK)
		goto out;
	args.u = u;
	if ((status = cli_build_resolve(u, &args, &changes, &pins)) != RP_EXIT_OK)
		goto out;
	if (build_session_open(u, &args.opts, &s, &err) < 0 || build_run(s, &g, changes, args.n_changes, pins, args.n_pins, &report, &err) < 0) {
		cli_error("%s", err.msg);
		status = RP_EXIT_FAILED;
		goto out;
	}
	reproduce = cli_build_reproduce(&args);
	int rc = args.json ? report_build_json(stdout, u, &report, reproduce)
			   : report_build_markdown(stdout, u, &report, reproduce);
	if (rc < 0)
		cli_error("cannot write the report");
	status = report.counts[BUILD_PASS] == report.n_jobs && rc == 0 ? RP_EXIT_OK : RP_EXIT_FAILED;
out:
	free(reproduce);
	build_report_release(&report);
	build_session_close(s);
	free(changes);
	free(pins);
	free(args.changes);
	free(args.pins);
	graph_release(&g);
	manifest_free(u);
	return status;
}
