// The ripple dashboard: runs, a run's job matrix, a job's live log, a bisection,
// a package's history, its coverage (trend, files, a file's lines) and fuzzing
// (the fuzz targets, the crashes they found and their reproducers).
// Everything shown comes from the JSON API and is put into the page with
// textContent or attributes, never as HTML, so a log line, a commit message or
// a package name can never become markup.
"use strict";

const app = document.getElementById("app");
const api = "/api/v1";
let stopCurrent = () => {};

function token() {
	const fromUrl = new URLSearchParams(location.search).get("token");
	if (fromUrl) localStorage.setItem("ripple-token", fromUrl);
	return localStorage.getItem("ripple-token");
}

function headers() {
	const t = token();
	return t ? { Authorization: "Bearer " + t } : {};
}

async function getJSON(path) {
	const r = await fetch(api + path, { headers: headers() });
	if (!r.ok) {
		let msg = r.status + " " + r.statusText;
		try {
			msg = (await r.json()).error || msg;
		} catch (e) {}
		throw new Error(msg);
	}
	return r.json();
}

// el("td", {class: "x", title: "t"}, child, "text", ...): a node with text children only.
function el(tag, attrs, ...children) {
	const n = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v !== null && v !== undefined) n.setAttribute(k, String(v));
	}
	for (const c of children) {
		if (c === null || c === undefined) continue;
		n.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
	}
	return n;
}

function link(href, text) {
	return el("a", { href }, text);
}

// A link that downloads GET /api/v1/PATH as `filename` with the token in a header (a plain
// link could not carry it), through a Blob URL; the address itself still works where reads
// are public. `cls` is the link's class.
function downloadLink(path, text, filename, cls) {
	const a = el("a", { href: api + path, class: cls, download: filename }, text);
	a.addEventListener("click", async (e) => {
		e.preventDefault();
		try {
			const r = await fetch(api + path, { headers: headers() });
			if (!r.ok) throw new Error(r.status + " " + r.statusText);
			const href = URL.createObjectURL(await r.blob());
			const tmp = el("a", { href, download: filename });
			document.body.appendChild(tmp);
			tmp.click();
			tmp.remove();
			setTimeout(() => URL.revokeObjectURL(href), 10000);
		} catch (err) {
			a.after(el("span", { class: "error" }, " cannot download: " + err.message));
		}
	});
	return a;
}

function when(ms) {
	return ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 19) : "";
}

function seconds(ms) {
	return ms ? (ms / 1000).toFixed(1) + " s" : "";
}

// Absent parts (null, undefined) are left out: replaceChildren would show them as "null".
function show(...nodes) {
	app.replaceChildren(...nodes.filter((n) => n !== null && n !== undefined));
}

function failure(e) {
	show(el("p", { class: "error" }, "cannot load: " + e.message));
}

// ---- runs ------------------------------------------------------------------

async function runsPage(current) {
	const data = await getJSON("/runs?limit=100");
	if (!current()) return 0;
	const rows = data.runs.map((r) => {
		const counts = Object.entries(r.counts)
			.filter(([, n]) => n > 0)
			.map(([s, n]) => el("span", { class: "count " + s }, s + " " + n));
		return el(
			"tr",
			{ "data-run": r.id },
			el("td", {}, link("#/runs/" + r.id, "#" + r.id)),
			el("td", {}, r.kind),
			el("td", { class: "state " + r.state }, r.state),
			el("td", {}, r.title || r.change_ref || ""),
			el("td", {}, r.jobs + (r.cached ? " (" + r.cached + " cached)" : "")),
			el("td", {}, ...counts),
			el("td", {}, when(r.created_ms))
		);
	});
	show(
		el("h1", {}, "Runs"),
		rows.length
			? el(
					"table",
					{ id: "runs" },
					el("tr", {}, ...["run", "kind", "state", "title", "jobs", "results", "created"].map((h) => el("th", {}, h))),
					...rows
			  )
			: el("p", {}, "No run yet. Submit one with `ripple submit`.")
	);
	return 5000;
}

// ---- one run: the matrix ------------------------------------------------------

function cellClass(job) {
	return "cell " + (job.status || job.state) + (job.cached ? " cached" : "");
}

// A job's variant: "build" (the plain build and test) or "coverage" (the same, instrumented).
function variant(job) {
	return job.variant || "build";
}

// The matrix has a column per target for the builds, and beside it one for the coverage
// jobs on that target when the run has any: a coverage job never takes its build's cell.
function matrixColumns(targets, jobs) {
	const columns = [];
	for (const t of targets) {
		columns.push({ target: t, variant: "build" });
		if (jobs.some((j) => j.target === t && variant(j) === "coverage")) columns.push({ target: t, variant: "coverage" });
	}
	return columns;
}

async function runPage(id, current) {
	// The run's bisections are extra: a server without them (or a failure) shows none.
	const bisecting = getJSON("/bisects?run=" + id).then((d) => d.bisects || [], () => []);
	const data = await getJSON("/runs/" + id);
	const run = data.run;
	const finished = run.state === "done" || run.state === "cancelled";
	// So is the report's coverage (PR runs): asked once the run is over, absent means none.
	const report = finished ? await getJSON("/runs/" + id + "/report").catch(() => null) : null;
	const bisects = await bisecting;
	if (!current()) return 0;
	// Flake checks (reruns of a pair's job or of its base) are counted in their pair's cell, not given one.
	const jobs = data.jobs.filter((j) => !j.rerun_of);
	const checks = new Map();
	for (const j of data.jobs) if (j.rerun_of) checks.set(j.rerun_of, (checks.get(j.rerun_of) || []).concat([j]));
	const targets = data.targets.filter((t) => jobs.some((j) => j.target === t));
	const columns = matrixColumns(targets, jobs);
	const packages = [];
	for (const j of jobs) if (!packages.includes(j.package)) packages.push(j.package);
	const covered = new Set(jobs.filter((j) => variant(j) === "coverage").map((j) => j.package));
	const causes = pairCauses(report);
	const byCell = new Map(jobs.map((j) => [j.package + "\u0000" + j.target + "\u0000" + variant(j), j]));
	const head = el("tr", {}, el("th", {}, "package"),
			...columns.map((c) => el("th", c.variant === "build" ? {} : { "data-variant": c.variant },
						 c.variant === "build" ? c.target : c.target + " · " + c.variant)));
	const rows = packages.map((p) =>
		el(
			"tr",
			{},
			el("th", { class: "package" }, link("#/packages/" + encodeURIComponent(p), p),
			   covered.has(p) ? el("a", { href: coverageHref(p), class: "coverage-link", title: "coverage of " + p }, "coverage") : null),
			...columns.map((c) => {
				const j = byCell.get(p + "\u0000" + c.target + "\u0000" + c.variant);
				if (!j) return el("td", { class: "cell none" }, "");
				const again = checks.get(j.id) || [];
				const failed = again.filter((c) => c.status === "fail").length;
				const label = (j.status || j.state) + (j.cached ? " (cached)" : "") +
					(again.length ? " · run again " + again.length + "×, " + failed + " failed" : "");
				const attrs = { class: cellClass(j), "data-package": p, "data-target": c.target,
						"data-status": j.status || j.state, "data-cached": j.cached ? "1" : "0", title: j.first_error || "" };
				if (c.variant !== "build") {
					attrs.class += " " + c.variant;
					attrs["data-variant"] = c.variant;
				}
				if (causes.has(j.id)) attrs["data-cause"] = causes.get(j.id);
				return el("td", attrs, link("#/jobs/" + j.id, label), causes.has(j.id) ? causeTag(causes.get(j.id)) : null);
			})
		)
	);
	const failures = jobs
		.filter((j) => j.status && j.status !== "pass")
		.map((j) =>
			el(
				"li",
				{},
				link("#/jobs/" + j.id, j.package + " on " + j.target + (variant(j) === "build" ? "" : " (" + variant(j) + ")")),
				": " + j.status + (j.category ? " (" + j.category + ")" : ""),
				causes.has(j.id) ? " " : null,
				causes.has(j.id) ? causeTag(causes.get(j.id)) : null,
				j.first_error ? " — " + j.first_error : null
			)
		);
	const coverage = report && Array.isArray(report.coverage) && report.coverage.length ? report.coverage : null;
	show(
		el("p", {}, link("#/", "← runs")),
		el("h1", {}, "Run #" + run.id + " ", el("span", { class: "state " + run.state, id: "run-state" }, run.state)),
		el("p", {}, run.kind + (run.title ? " — " + run.title : "") + (run.change_ref ? " — " + run.change_ref : "")),
		el("table", { id: "matrix" }, head, ...rows),
		failures.length ? el("h2", {}, "Not passing") : null,
		failures.length ? el("ul", { id: "failures" }, ...failures) : null,
		coverage ? runCoverage(coverage) : null,
		hasApi(report) ? apiSection(report.api, run.id, false) : null,
		bisects.length ? el("h2", {}, "Bisections") : null,
		bisects.length ? el("ul", { id: "bisections" }, ...bisects.map(bisectItem)) : null
	);
	if (!finished) return 1000;
	return bisects.some((b) => b.state !== "done") ? 2000 : 0;
}

function bisectItem(b) {
	return el(
		"li",
		{ "data-bisect": b.id },
		link("#/bisects/" + b.id, "bisect #" + b.id),
		": " + b.package + " on " + b.target + " ",
		el("span", { class: "state " + b.state }, b.state),
		b.state === "done" ? " — " + (b.summary || b.verdict || "") : null
	);
}

// ---- a run's API changes: the ABI/API diff of each changed library ------------------------
//
// Route: #/runs/N/api, the section alone, to share. The report's "api" member:
// {"libraries": [{package, old, new, versions, semver, weaker, changes | problem}],
//  "behaviour_changes": [{package, target, job, first_error}]}; its regressed pairs may
// carry "cause": "api change" | "behaviour change".

// Job id -> the cause of its regressed pair, from a run's report (null: none).
function pairCauses(report) {
	const causes = new Map();
	for (const p of (report && Array.isArray(report.pairs) ? report.pairs : []))
		if (p.cause && p.job) causes.set(p.job, p.cause);
	return causes;
}

function causeTag(cause) {
	const api = cause === "api change";
	return el("span", { class: "cause " + (api ? "cause-api" : "cause-behaviour"), "data-cause": cause,
			    title: api ? "broken by an API change of a library it uses" : "no API change explains it: a behaviour change" },
		  api ? "API change" : cause === "behaviour change" ? "behaviour change" : cause);
}

function hasApi(report) {
	const a = report && report.api;
	return !!(a && ((Array.isArray(a.libraries) && a.libraries.length) ||
			(Array.isArray(a.behaviour_changes) && a.behaviour_changes.length)));
}

function breaking(c) {
	return !!(c.api_breaking || c.abi_breaking);
}

// Which compatibility a change breaks, in words.
function breaks(c) {
	if (c.api_breaking && c.abi_breaking) return "breaks source and binary compatibility";
	if (c.api_breaking) return "breaks source compatibility";
	if (c.abi_breaking) return "breaks binary compatibility";
	return "compatible";
}

function brokeItem(b) {
	return el(
		"li",
		{ class: "api-broke", "data-package": b.package, "data-target": b.target, "data-job": b.job },
		(b.summary || "this change") + " broke ",
		link("#/jobs/" + b.job, b.package),
		b.target ? " on " + b.target : null,
		": ",
		el("code", { class: "error-line" }, b.line || "")
	);
}

function apiChange(c) {
	const bad = breaking(c);
	const decl = c.after || c.before || c.name || "";
	const broke = Array.isArray(c.broke) ? c.broke : [];
	return el(
		"li",
		{ class: "api-change " + (bad ? "breaking" : "compatible"), "data-kind": c.kind, "data-name": c.name,
		  "data-api-breaking": c.api_breaking ? "1" : "0", "data-abi-breaking": c.abi_breaking ? "1" : "0" },
		el("span", { class: "api-kind" }, c.kind || ""),
		" ",
		el("code", { class: "api-decl" }, decl),
		c.where ? el("span", { class: "api-where" }, " at " + c.where) : null,
		c.detail ? el("span", { class: "api-detail" }, " — " + c.detail) : null,
		" ",
		el("span", { class: "api-breaks" + (bad ? " bad" : "") }, breaks(c)),
		broke.length ? el("ul", { class: "api-broke-list" }, ...broke.map(brokeItem)) : null
	);
}

function semverLine(sv) {
	if (!sv) return null;
	const cls = sv.enough ? "enough" : sv.parsed === false ? "unjudged" : "not-enough";
	return el("p", { class: "semver " + cls, "data-needed": sv.needed, "data-made": sv.made },
		  sv.why || (sv.enough ? "the version change is enough" : "the version change is not enough"));
}

function apiLibrary(lib) {
	const changes = Array.isArray(lib.changes) ? lib.changes : [];
	const bad = changes.filter(breaking), good = changes.filter((c) => !breaking(c));
	const v = lib.versions || {};
	const head = el(
		"h3",
		{},
		el("span", { class: "api-package" }, lib.package || ""),
		lib.target ? " on " + lib.target : null,
		" ",
		commit(lib.old && lib.old.commit),
		" → ",
		commit(lib.new && lib.new.commit),
		v.old || v.new ? el("span", { class: "api-versions" }, " version " + (v.old || "?") + " → " + (v.new || "?")) : null
	);
	if (lib.problem)
		return el("section", { class: "api-library", "data-package": lib.package },
			  head, el("p", { class: "api-problem error" }, "not compared: ", el("span", { class: "problem-text" }, lib.problem)));
	return el(
		"section",
		{ class: "api-library", "data-package": lib.package, "data-breaking": bad.length, "data-compatible": good.length },
		head,
		semverLine(lib.semver),
		lib.weaker ? el("p", { class: "api-weaker" },
				"Weaker method: compared by exported symbols and header prototypes (no debug info), so sizes and layouts were not seen.")
			   : null,
		changes.length ? null : el("p", { class: "api-none" }, "No API or ABI change."),
		bad.length ? el("h4", {}, "Breaking (" + bad.length + ")") : null,
		bad.length ? el("ul", { class: "api-changes api-breaking" }, ...bad.map(apiChange)) : null,
		good.length ? el("h4", {}, "Compatible (" + good.length + ")") : null,
		good.length ? el("ul", { class: "api-changes api-compatible" }, ...good.map(apiChange)) : null
	);
}

// The section: the libraries, then the regressions no API change explains.
// `alone` is the shared page (#/runs/N/api): no link to itself there.
function apiSection(a, run, alone) {
	const libs = Array.isArray(a.libraries) ? a.libraries : [];
	const behaviour = Array.isArray(a.behaviour_changes) ? a.behaviour_changes : [];
	return el(
		"section",
		{ id: "api-changes", class: alone ? "api-alone" : null },
		alone ? null : el("h2", {}, "API changes ", el("a", { href: "#/runs/" + run + "/api", class: "api-page-link" }, "own page")),
		libs.length ? el("div", { id: "api-libraries" }, ...libs.map(apiLibrary))
			    : el("p", { class: "api-none" }, "No library's API was compared."),
		behaviour.length ? el("h3", { id: "behaviour-heading" }, "Behaviour changes") : null,
		behaviour.length ? el("p", { class: "api-note" }, "Regressions no API change explains: look at the tests, not the headers.") : null,
		behaviour.length
			? el("ul", { id: "behaviour-changes" },
			     ...behaviour.map((b) =>
				     el("li", { "data-package": b.package, "data-target": b.target, "data-job": b.job },
					link("#/jobs/" + b.job, b.package), b.target ? " on " + b.target : null,
					b.first_error ? ": " : null,
					b.first_error ? el("code", { class: "error-line" }, b.first_error) : null)))
			: null
	);
}

async function runApiPage(id, current) {
	const data = await getJSON("/runs/" + id);
	const run = data.run;
	const finished = run.state === "done" || run.state === "cancelled";
	const report = finished ? await getJSON("/runs/" + id + "/report") : null;
	if (!current()) return 0;
	show(
		el("p", {}, link("#/runs/" + run.id, "← run #" + run.id)),
		el("h1", {}, "API changes in run #" + run.id + " ", el("span", { class: "state " + run.state, id: "run-state" }, run.state)),
		el("p", {}, run.kind + (run.title ? " — " + run.title : "") + (run.change_ref ? " — " + run.change_ref : "")),
		!finished ? el("p", { id: "api-waiting" }, "The run is not over: its API changes are compared once it is.")
			  : hasApi(report) ? apiSection(report.api, run.id, true)
			  : el("p", { id: "api-empty" }, "No API change compared in this run.")
	);
	return finished ? 0 : 2000;
}

// ---- one package: its history ------------------------------------------------------

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs) {
	const n = document.createElementNS(SVG, tag);
	for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
	return n;
}

// A line of the averages over a band from min to max, oldest point on the left.
function chart(series) {
	const W = 480, H = 120, P = 6;
	const pts = series.points;
	const lo = Math.min(...pts.map((p) => p.min)), hi = Math.max(...pts.map((p) => p.max));
	const x = (i) => (pts.length === 1 ? W / 2 : P + (i * (W - 2 * P)) / (pts.length - 1));
	const y = (v) => (hi === lo ? H / 2 : H - P - ((v - lo) * (H - 2 * P)) / (hi - lo));
	const root = svg("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, class: "chart",
				  "data-metric": series.metric, "data-target": series.target, "data-points": pts.length });
	const band = pts.map((p, i) => x(i) + "," + y(p.max)).concat(pts.map((p, i) => x(i) + "," + y(p.min)).reverse());
	root.appendChild(svg("polygon", { points: band.join(" "), class: "band" }));
	root.appendChild(svg("polyline", { points: pts.map((p, i) => x(i) + "," + y(p.avg)).join(" "), class: "avg" }));
	for (let i = 0; i < pts.length; i++) {
		const dot = svg("circle", { cx: x(i), cy: y(pts[i].avg), r: 2.5, class: "point" });
		const title = svg("title", {});
		title.textContent = when(pts[i].t).slice(0, 10) + ": " + pts[i].avg.toPrecision(4) + " " + series.unit +
			" (" + pts[i].n + " sample" + (pts[i].n === 1 ? "" : "s") + ", " + pts[i].min + "–" + pts[i].max + ")";
		dot.appendChild(title);
		root.appendChild(dot);
	}
	return root;
}

async function packagePage(name, resolution, current) {
	// Its coverage is extra: a package without (or a server without coverage) shows no link.
	const covering = getJSON("/coverage/" + encodeURIComponent(name) + "?limit=1").catch(() => null);
	const data = await getJSON("/history/" + encodeURIComponent(name) + "?resolution=" + resolution);
	const cov = await covering;
	if (!current()) return 0;
	const newest = cov && cov.latest && cov.commits && cov.commits.length ? cov.commits[cov.commits.length - 1] : null;
	const last = (s) => s.points[s.points.length - 1];
	const blocks = data.series.map((s) =>
		el(
			"section",
			{ class: "series" },
			el("h3", {}, s.metric + " on " + s.target + " ",
			   el("span", { class: "latest" }, last(s).avg.toPrecision(4) + " " + s.unit)),
			chart(s)
		)
	);
	const pick = (r) => (r === resolution ? el("strong", {}, r) : link("#/packages/" + encodeURIComponent(name) + "/" + r, r));
	show(
		el("p", {}, link("#/", "← runs")),
		el("h1", {}, name),
		newest ? el("p", { id: "package-coverage" }, link(coverageHref(name), "coverage"), ": lines " + percent(newest.totals.lines) +
			    ", branches " + percent(newest.totals.branches) + ", functions " + percent(newest.totals.functions) +
			    " at " + short(newest.commit)) : null,
		el("p", { id: "resolutions" }, "history by ", pick("day"), " · ", pick("week"), " · ", pick("month")),
		blocks.length ? el("div", { id: "history" }, ...blocks)
			      : el("p", { id: "history-empty" }, "No history yet: it is recorded from nightly runs.")
	);
	return 60000;
}

// ---- one bisection: a regression traced to a commit -----------------------------------

function short(hex) {
	return hex ? hex.slice(0, 12) : "";
}

function commit(hex) {
	return hex ? el("code", { class: "commit", title: hex }, short(hex)) : el("span", {}, "—");
}

function answer(tag, a, child) {
	const name = a || "pending";
	return el(tag, { class: "answer " + name }, child || name);
}

function culpritBlock(b) {
	const c = b.culprit;
	const rows = [
		["commit", commit(c.commit)],
		["subject", c.subject || ""],
		["author", c.author || ""],
		["date", c.time ? when(c.time * 1000) : ""],
		["repository", b.repository || ""],
		["parent", commit(c.parent)],
	];
	if (b.culprit_job) rows.push(["job", link("#/jobs/" + b.culprit_job, "job #" + b.culprit_job)]);
	return el(
		"section",
		{ id: "culprit" },
		el("h2", {}, "Culprit"),
		el("table", { class: "facts" }, ...rows.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v))))
	);
}

function suspectsTable(repos, running) {
	const head = ["repository", "packages", "good..bad", "commits", "alone", "verdict"];
	const rows = repos.map((r) =>
		el(
			"tr",
			{ "data-package": r.package },
			el("td", {}, r.package),
			el("td", {}, (r.packages || []).join(", ")),
			el("td", {}, commit(r.good), "..", commit(r.bad)),
			el("td", {}, r.range === undefined || r.range === null ? "" : String(r.range)),
			answer("td", r.alone, r.alone_run ? link("#/runs/" + r.alone_run, r.alone || "pending") : null),
			el("td", {}, (r.verdict || (running ? "…" : "")) + (r.culprit ? " " + short(r.culprit) : ""))
		)
	);
	return el(
		"table",
		{ id: "suspects" },
		el("thead", {}, el("tr", {}, ...head.map((h) => el("th", {}, h)))),
		el("tbody", {}, ...rows)
	);
}

function probesTable(r) {
	const rows = r.probes.map((p) =>
		el(
			"tr",
			{},
			el("td", {}, String(p.round)),
			el("td", {}, commit(p.commit)),
			answer("td", p.answer),
			el("td", {}, p.run ? link("#/runs/" + p.run, "run #" + p.run) : ""),
			el("td", {}, p.job ? link("#/jobs/" + p.job, "job #" + p.job) : "")
		)
	);
	return el(
		"section",
		{ class: "probes-of" },
		el("h3", {}, "Probes in " + r.package),
		el(
			"table",
			{ class: "probes", "data-package": r.package },
			el("thead", {}, el("tr", {}, ...["round", "commit", "answer", "run", "job"].map((h) => el("th", {}, h)))),
			el("tbody", {}, ...rows)
		)
	);
}

async function bisectPage(id, current) {
	const b = await getJSON("/bisects/" + id);
	if (!current()) return 0;
	const d = b.detail || {};
	const repos = d.repositories || [];
	const running = b.state !== "done";
	const summary = running
		? el("p", { id: "bisect-summary" }, "bisecting…")
		: el(
				"p",
				{ id: "bisect-summary" },
				el("span", { class: "verdict verdict-" + (b.verdict || "none") }, b.verdict || "no verdict"),
				b.summary ? ": " + b.summary : null
		  );
	const base = d.base
		? el("p", { id: "bisect-base" }, "all at the good commits again: ",
		     d.base.run ? link("#/runs/" + d.base.run, "run #" + d.base.run) : "no run", " ", answer("span", d.base.answer))
		: null;
	show(
		el("p", {}, link("#/runs/" + b.run, "← run #" + b.run)),
		el("h1", {}, "Bisect #" + b.id + " ", el("span", { class: "state " + b.state, id: "bisect-state" }, b.state)),
		el("p", { id: "bisect-what" }, b.package + " on " + b.target),
		el(
			"p",
			{ id: "bisect-runs" },
			"broken in ",
			link("#/runs/" + b.run, "run #" + b.run),
			", good in ",
			b.good_run ? link("#/runs/" + b.good_run, "nightly #" + b.good_run) : "no nightly"
		),
		summary,
		el("p", { id: "bisect-counts" },
		   b.probes + " probe" + (b.probes === 1 ? "" : "s") + " in " + b.rounds + " round" + (b.rounds === 1 ? "" : "s") +
		   " · started " + when(b.created_ms) + (b.finished_ms ? " · finished " + when(b.finished_ms) : "")),
		b.culprit ? culpritBlock(b) : null,
		b.excerpt ? el("h2", {}, "Log excerpt") : null,
		b.excerpt ? el("pre", { id: "excerpt" }, b.excerpt) : null,
		base,
		repos.length ? el("h2", {}, "Suspects") : null,
		repos.length ? suspectsTable(repos, running) : null,
		...repos.filter((r) => r.probes && r.probes.length).map(probesTable)
	);
	return running ? 2000 : 0;
}

// ---- coverage: per package, per commit, per file ---------------------------------------
//
// Routes:
//   #/coverage                              packages with coverage, each at its newest commit
//   #/coverage/PKG                          trend over commits and the newest commit's files
//   #/coverage/PKG/COMMIT                   the same, with the files of COMMIT (40 hex)
//   #/coverage/PKG/COMMIT/file/PATH         one file's source, line by line; COMMIT is 40 hex
//                                           or "latest", PATH is encodeURIComponent(path)
//                                           (its slashes as %2F; raw slashes are accepted too)

function coverageHref(pkg, commit) {
	return "#/coverage/" + encodeURIComponent(pkg) + (commit ? "/" + commit : "");
}

function coverageFileHref(pkg, commit, path) {
	return coverageHref(pkg, commit) + "/file/" + encodeURIComponent(path);
}

// A percentage that never rounds up to 100 while something is missing; "—" for nothing to count.
function percent(t) {
	if (!t || !t.total) return "—";
	const p = (t.covered * 100) / t.total;
	return (t.covered < t.total ? Math.floor(p * 10) / 10 : p).toFixed(1) + "%";
}

function ratio(t) {
	return t ? t.covered + "/" + t.total : "";
}

// Percentage points, signed: "+0.25 pp", "−1.50 pp", "±0.00 pp".
function points(v) {
	if (v === null || v === undefined) return el("span", { class: "change" }, "—");
	const text = (v > 0 ? "+" : v < 0 ? "−" : "±") + Math.abs(v).toFixed(2) + " pp";
	return el("span", { class: "change " + (v > 0.005 ? "up" : v < -0.005 ? "down" : "same") }, text);
}

// The figure of one kind (lines, branches, functions) with its ratio in a title.
function figure(totals, kind) {
	const t = totals && totals[kind];
	return el("td", { class: "num", "data-kind": kind, title: t ? ratio(t) + " " + kind : "" }, percent(t));
}

// "3, 7–9, 12" from sorted line numbers.
function lineRanges(lines) {
	const out = [];
	for (let i = 0; i < lines.length; ) {
		let j = i;
		while (j + 1 < lines.length && lines[j + 1] === lines[j] + 1) j++;
		out.push(j === i ? String(lines[i]) : lines[i] + "–" + lines[j]);
		i = j + 1;
	}
	return out.join(", ");
}

// The report's coverage of a PR run: each package's project coverage against the base's,
// and the patch's (the lines the change added or touched that are counted).
function runCoverage(list) {
	const rows = list.map((c) => {
		const patch = c.patch;
		return el(
			"tr",
			{ "data-package": c.package },
			el("th", {}, link(coverageHref(c.package), c.package)),
			el("td", {}, commit(c.commit), c.job ? el("span", { class: "job" }, " ", link("#/jobs/" + c.job, "job #" + c.job)) : null),
			figure(c.totals, "lines"),
			el("td", { class: "num" }, c.change ? points(c.change.lines) : "—"),
			figure(c.totals, "branches"),
			el("td", { class: "num" }, c.change ? points(c.change.branches) : "—"),
			figure(c.totals, "functions"),
			el("td", { class: "num" }, c.change ? points(c.change.functions) : "—"),
			el("td", {}, c.base ? commit(c.base.commit) : "no base"),
			el("td", { class: "num patch" }, patch ? percent(patch) + " (" + ratio(patch) + " lines)" : "—")
		);
	});
	const files = [];
	for (const c of list) {
		for (const f of c.patch_files || []) {
			const missed = f.lines || [];
			files.push(
				el(
					"li",
					{ "data-package": c.package, "data-path": f.path },
					c.package + ": ",
					link(coverageFileHref(c.package, c.commit, f.path), f.path),
					" — " + f.covered + " of " + f.total + " changed lines covered",
					missed.length ? "; not covered: " + lineRanges(missed) : ""
				)
			);
		}
	}
	return el(
		"section",
		{ id: "coverage" },
		el("h2", {}, "Coverage"),
		el(
			"table",
			{ id: "coverage-change" },
			el("tr", {}, ...["package", "commit", "lines", "change", "branches", "change", "functions", "change", "base", "patch"]
				.map((h) => el("th", {}, h))),
			...rows
		),
		files.length ? el("h3", {}, "Changed lines") : null,
		files.length ? el("ul", { id: "patch-files" }, ...files) : null
	);
}

async function coverageListPage(current) {
	const data = await getJSON("/coverage");
	if (!current()) return 0;
	const rows = data.packages.map((p) =>
		el(
			"tr",
			{ "data-package": p.package },
			el("td", {}, link(coverageHref(p.package), p.package)),
			el("td", {}, commit(p.commit)),
			figure(p.totals, "lines"),
			figure(p.totals, "branches"),
			figure(p.totals, "functions"),
			el("td", {}, when(p.updated || p.time))
		)
	);
	show(
		el("p", {}, link("#/", "← runs")),
		el("h1", {}, "Coverage"),
		rows.length
			? el("table", { id: "coverage-packages" },
			     el("tr", {}, ...["package", "commit", "lines", "branches", "functions", "updated"].map((h) => el("th", {}, h))),
			     ...rows)
			: el("p", { id: "coverage-empty" }, "No coverage yet: packages with \"coverage\": true get it from their runs.")
	);
	return 60000;
}

// Line coverage per commit, oldest on the left; each point links to its commit's files.
function coverageChart(pkg, commits, shown) {
	const W = 480, H = 140, L = 40, P = 8;
	const vals = commits.map((c) => (c.totals.lines.total ? (c.totals.lines.covered * 100) / c.totals.lines.total : 0));
	let lo = Math.floor(Math.min(...vals)), hi = Math.ceil(Math.max(...vals));
	if (hi - lo < 2) {
		lo = Math.max(0, lo - 1);
		hi = Math.min(100, lo + 2);
		lo = Math.min(lo, hi - 2);
	}
	const x = (i) => (commits.length === 1 ? (L + W) / 2 : L + P + (i * (W - L - 2 * P)) / (commits.length - 1));
	const y = (v) => H - P - ((v - lo) * (H - 2 * P)) / (hi - lo);
	const root = svg("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, class: "chart coverage-trend",
				  "data-metric": "lines", "data-points": commits.length });
	for (const v of [lo, hi]) {
		root.appendChild(svg("line", { x1: L, x2: W, y1: y(v), y2: y(v), class: "grid" }));
		const label = svg("text", { x: L - 4, y: y(v) + 4, class: "axis" });
		label.textContent = v + "%";
		root.appendChild(label);
	}
	root.appendChild(svg("polyline", { points: vals.map((v, i) => x(i) + "," + y(v)).join(" "), class: "avg" }));
	for (let i = 0; i < commits.length; i++) {
		const c = commits[i];
		const a = svg("a", { href: coverageHref(pkg, c.commit) });
		const dot = svg("circle", { cx: x(i), cy: y(vals[i]), r: c.commit === shown ? 4.5 : 3,
					    class: "point" + (c.commit === shown ? " shown" : ""), "data-commit": c.commit });
		const title = svg("title", {});
		title.textContent = short(c.commit) + " · " + when(c.time).slice(0, 16) + ": lines " + percent(c.totals.lines) +
			" (" + ratio(c.totals.lines) + "), branches " + percent(c.totals.branches) +
			", functions " + percent(c.totals.functions);
		dot.appendChild(title);
		a.appendChild(dot);
		root.appendChild(a);
	}
	return root;
}

// The file table's columns: heading, sort key (a number or a string), cell.
const FILE_COLUMNS = [
	{ key: "path", head: "file", value: (f) => f.path, asc: true },
	{ key: "lines", head: "lines", value: (f) => f.totals.lines.total, asc: false },
	{ key: "line-percent", head: "line %", value: (f) => share(f.totals.lines), asc: true },
	{ key: "uncovered", head: "uncovered lines", value: (f) => f.totals.lines.total - f.totals.lines.covered, asc: false },
	{ key: "branches", head: "branches", value: (f) => share(f.totals.branches), asc: true },
	{ key: "functions", head: "functions", value: (f) => share(f.totals.functions), asc: true },
];

function share(t) {
	return t && t.total ? t.covered / t.total : null;
}

// Sorted by `key`, then by path; nothing to count (null) last either way.
function sortFiles(files, key, asc) {
	const col = FILE_COLUMNS.find((c) => c.key === key) || FILE_COLUMNS[3];
	const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
	return files.slice().sort((f, g) => {
		const a = col.value(f), b = col.value(g);
		if (a === null || b === null) {
			if (a !== b) return a === null ? 1 : -1;
		} else if (a !== b) {
			return asc ? cmp(a, b) : cmp(b, a);
		}
		return cmp(f.path, g.path);
	});
}

// The sort chosen on a package's page, kept across its refreshes.
const fileSort = { pkg: null, key: "uncovered", asc: false };

function filesTable(pkg, detail) {
	if (fileSort.pkg !== pkg) Object.assign(fileSort, { pkg, key: "uncovered", asc: false });
	const table = el("table", { id: "coverage-files", class: "sortable" });
	const draw = () => {
		const head = el(
			"tr",
			{},
			...FILE_COLUMNS.map((c) => {
				const on = c.key === fileSort.key;
				const th = el("th", { "data-sort": c.key, class: on ? "sorted" : null, title: "sort by " + c.head,
						      "aria-sort": on ? (fileSort.asc ? "ascending" : "descending") : "none" },
					      c.head + (on ? (fileSort.asc ? " ▲" : " ▼") : ""));
				th.addEventListener("click", () => {
					if (fileSort.key === c.key) fileSort.asc = !fileSort.asc;
					else Object.assign(fileSort, { key: c.key, asc: c.asc });
					draw();
				});
				return th;
			})
		);
		const rows = sortFiles(detail.files, fileSort.key, fileSort.asc).map((f) => {
			const t = f.totals;
			const missed = t.lines.total - t.lines.covered;
			return el(
				"tr",
				{ "data-path": f.path, class: missed ? "has-uncovered" : null },
				el("td", {}, link(coverageFileHref(pkg, detail.commit, f.path), f.path)),
				el("td", { class: "num", "data-kind": "lines" }, ratio(t.lines)),
				el("td", { class: "num" }, percent(t.lines)),
				el("td", { class: "num", "data-kind": "uncovered" }, String(missed)),
				el("td", { class: "num", "data-kind": "branches" }, t.branches.total ? ratio(t.branches) + " (" + percent(t.branches) + ")" : "—"),
				el("td", { class: "num", "data-kind": "functions" }, t.functions.total ? ratio(t.functions) + " (" + percent(t.functions) + ")" : "—")
			);
		});
		table.replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
	};
	draw();
	return table;
}

async function coveragePackagePage(pkg, which, current) {
	const name = encodeURIComponent(pkg);
	const trend = await getJSON("/coverage/" + name);
	const detail = trend.latest ? await getJSON("/coverage/" + name + "/" + which) : null;
	if (!current()) return 0;
	const back = el("p", {}, link("#/coverage", "← coverage"), " · ", link("#/packages/" + name, pkg));
	if (!detail) {
		show(back, el("h1", {}, "Coverage of " + pkg),
		     el("p", { id: "coverage-empty" }, "No coverage recorded for " + pkg + " yet."));
		return 60000;
	}
	const t = detail.totals;
	const base = "/coverage/" + name + "/" + detail.commit;
	show(
		back,
		el("h1", {}, "Coverage of " + pkg),
		el(
			"p",
			{ id: "coverage-totals" },
			"lines ", el("strong", { "data-kind": "lines" }, percent(t.lines)), " (" + ratio(t.lines) + ") · branches ",
			el("strong", { "data-kind": "branches" }, percent(t.branches)), " (" + ratio(t.branches) + ") · functions ",
			el("strong", { "data-kind": "functions" }, percent(t.functions)), " (" + ratio(t.functions) + ")"
		),
		el("h2", {}, "Line coverage by commit"),
		coverageChart(pkg, trend.commits, detail.commit),
		el("h2", {}, "Files at ", commit(detail.commit)),
		el("p", { id: "coverage-facts" },
		   (detail.commit === trend.latest ? "the newest commit" : link(coverageHref(pkg), "newest: " + short(trend.latest))),
		   " · " + detail.reports + " report" + (detail.reports === 1 ? "" : "s") + " merged, last " + when(detail.updated || detail.time) +
		   (detail.gcc_version ? " · gcc " + detail.gcc_version : "") + " · export as ",
		   downloadLink(base + "?format=lcov", "lcov", pkg + "-" + short(detail.commit) + ".info", "export"), " · ",
		   downloadLink(base + "?format=cobertura", "Cobertura XML", pkg + "-" + short(detail.commit) + ".xml", "export")),
		filesTable(pkg, detail)
	);
	return 60000;
}

// One line's class: never run, run with a branch never taken, or run.
function lineClass(hits, branches) {
	if (hits === 0) return "uncovered";
	return branches.some((b) => b === 0) ? "partial" : "covered";
}

function branchTitle(branches) {
	if (!branches.length) return null;
	const taken = branches.filter((b) => b > 0).length;
	return taken + " of " + branches.length + " branch" + (branches.length === 1 ? "" : "es") + " taken";
}

async function coverageFilePage(pkg, which, path, current) {
	const name = encodeURIComponent(pkg);
	const f = await getJSON("/coverage/" + name + "/" + which + "/file?path=" + encodeURIComponent(path));
	if (!current()) return 0;
	const counted = new Map(f.lines.map(([n, hits, branches]) => [n, { hits, branches: branches || [] }]));
	const source = typeof f.source === "string" ? f.source.split("\n") : null;
	if (source && source.length && source[source.length - 1] === "") source.pop();
	const last = f.lines.reduce((m, l) => Math.max(m, l[0]), source ? source.length : 0);
	// Without the source, the counted lines alone; with it, every line.
	const numbers = source ? Array.from({ length: last }, (_, i) => i + 1) : f.lines.map((l) => l[0]);
	const rows = numbers.map((n) => {
		const c = counted.get(n);
		const text = source && n <= source.length ? source[n - 1] : "";
		if (!c) return el("tr", { "data-line": n }, el("td", { class: "lineno" }, String(n)), el("td", { class: "hits" }), el("td", { class: "code" }, text));
		return el(
			"tr",
			{ "data-line": n, class: lineClass(c.hits, c.branches), title: branchTitle(c.branches),
			  "data-branches": c.branches.length ? c.branches.join(",") : null },
			el("td", { class: "lineno" }, String(n)),
			el("td", { class: "hits" }, String(c.hits)),
			el("td", { class: "code" }, text)
		);
	});
	const functions = f.functions.map(([fn, line, calls]) =>
		el("tr", { class: calls ? "covered" : "uncovered" }, el("td", {}, fn), el("td", { class: "num" }, String(line)),
		   el("td", { class: "num" }, String(calls)))
	);
	const t = f.totals;
	show(
		el("p", {}, link(coverageHref(pkg, f.commit), "← " + pkg + " at " + short(f.commit))),
		el("h1", { id: "file-path" }, f.path),
		el(
			"p",
			{ id: "file-totals" },
			"lines " + percent(t.lines) + " (" + ratio(t.lines) + ") · branches " + percent(t.branches) + " (" + ratio(t.branches) +
				") · functions " + percent(t.functions) + " (" + ratio(t.functions) + ") · ",
			commit(f.commit)
		),
		source ? null : el("p", { id: "source-missing", class: "error" },
				    "The source of this file could not be read: only its counted lines are shown."),
		functions.length
			? el("details", { id: "file-functions" }, el("summary", {}, functions.length + " function" + (functions.length === 1 ? "" : "s")),
			     el("table", {}, el("tr", {}, el("th", {}, "function"), el("th", {}, "line"), el("th", {}, "calls")), ...functions))
			: null,
		el("table", { id: "source", class: "source", "data-path": f.path, "data-commit": f.commit }, el("tbody", {}, ...rows))
	);
	return 0;
}

// ---- fuzzing: the fuzz targets and the crashes they found ------------------------------
//
// Route: #/fuzz. GET /fuzz: {"fuzzers": [{package, target, fuzzer, run, job, commit, seconds,
// executions, exec_per_sec, new_units, corpus_files, corpus_bytes, updated_ms}],
//  "crashes": [{id, package, target, fuzzer, signature, kind, frames, status: "open"|"fixed",
//  found_*, last_seen_*, fixed_* (null while open), reproducer: {sha256, size, url},
//  bisect: null | {id, done, verdict, repository, culprit, summary}}]}.

// 1234567 -> "1 234 567" (narrow no-break spaces); absent -> "—".
function count(n) {
	if (n === null || n === undefined) return "—";
	return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, "\u202f");
}

// 5120 -> "5.0 KiB"; absent -> "—".
function size(n) {
	if (n === null || n === undefined) return "—";
	if (n < 1024) return n + " B";
	const units = ["KiB", "MiB", "GiB", "TiB"];
	let v = n / 1024, i = 0;
	for (; v >= 1024 && i < units.length - 1; i++) v /= 1024;
	return v.toFixed(1) + " " + units[i];
}

function packageLink(pkg) {
	return link("#/packages/" + encodeURIComponent(pkg), pkg);
}

function fuzzersTable(fuzzers) {
	const rows = fuzzers.map((f) =>
		el(
			"tr",
			{ "data-package": f.package, "data-target": f.target, "data-fuzzer": f.fuzzer },
			el("td", {}, packageLink(f.package)),
			el("td", {}, f.target),
			el("td", {}, f.fuzzer),
			el("td", { class: "num", "data-kind": "exec-per-sec", "data-value": f.exec_per_sec }, count(f.exec_per_sec)),
			el("td", { class: "num", "data-kind": "executions", "data-value": f.executions,
				   title: f.seconds ? "in " + f.seconds + " s" : null }, count(f.executions)),
			el("td", { class: "num", "data-kind": "corpus" },
			   count(f.corpus_files) + " file" + (f.corpus_files === 1 ? "" : "s") + ", " + size(f.corpus_bytes) +
			   (f.new_units ? " (+" + count(f.new_units) + " new)" : "")),
			el("td", {}, link("#/runs/" + f.run, "run #" + f.run), f.job ? " · " : null, f.job ? link("#/jobs/" + f.job, "log") : null),
			el("td", {}, commit(f.commit)),
			el("td", {}, when(f.updated_ms))
		)
	);
	return el(
		"table",
		{ id: "fuzzers" },
		el("thead", {}, el("tr", {}, ...["package", "target", "fuzzer", "exec/s", "executions", "corpus", "last run", "commit", "when"]
			.map((h) => el("th", {}, h)))),
		el("tbody", {}, ...rows)
	);
}

// Where a crash was found, last seen or fixed: "run #N at COMMIT", the time below.
function crashSeen(run, job, hex, ms) {
	if (!run && !hex) return el("td", {}, "—");
	return el(
		"td",
		{},
		run ? link("#/runs/" + run, "run #" + run) : null,
		job ? " · " : null,
		job ? link("#/jobs/" + job, "log") : null,
		hex ? " at " : null,
		hex ? commit(hex) : null,
		ms ? el("br") : null,
		ms ? el("span", { class: "when" }, when(ms)) : null
	);
}

// The bisection of a crash: the first bad commit, or its verdict, or that it runs.
function crashBisect(b) {
	if (!b) return el("td", { class: "crash-bisect", title: "not bisected" }, "—");
	const page = b.id ? link("#/bisects/" + b.id, "bisect #" + b.id) : null;
	const attrs = { class: "crash-bisect", "data-bisect": b.id, "data-done": b.done ? "1" : "0" };
	if (!b.done) return el("td", attrs, "bisecting… ", page);
	return el(
		"td",
		attrs,
		b.culprit ? commit(b.culprit) : el("span", { class: "verdict verdict-" + (b.verdict || "none") }, b.verdict || "no verdict"),
		b.culprit && b.repository ? " in " + b.repository : null,
		b.summary ? el("span", { class: "bisect-summary" }, " — " + b.summary) : null,
		page ? " (" : null,
		page,
		page ? ")" : null
	);
}

// The reproducer's address under the API: the one the answer gives, or made from its
// hash; null without a hash (nothing to download).
function reproducerPath(r) {
	if (!r || !/^[0-9a-f]{64}$/.test(r.sha256)) return null;
	if (typeof r.url === "string" && r.url.startsWith(api + "/")) return r.url.slice(api.length);
	return "/fuzz/reproducers/" + r.sha256;
}

function crashRow(c) {
	const fixed = c.status === "fixed";
	const r = c.reproducer;
	const path = reproducerPath(r);
	const name = path ? "crash-" + short(r.sha256) : null;
	return el(
		"tr",
		{ class: "crash " + (fixed ? "crash-fixed" : "crash-open"), "data-crash": c.id, "data-status": c.status,
		  "data-package": c.package, "data-kind": c.kind },
		el("td", {}, el("code", { class: "signature" }, c.signature || "")),
		el("td", {}, packageLink(c.package), " on " + c.target + " · " + c.fuzzer),
		el("td", {}, el("span", { class: "crash-status " + (fixed ? "fixed" : "open") }, c.status)),
		crashSeen(c.found_run, c.found_job, c.found_commit, c.found_ms),
		crashSeen(c.last_seen_run, null, c.last_seen_commit, c.last_seen_ms),
		crashBisect(c.bisect),
		fixed ? crashSeen(c.fixed_run, null, c.fixed_commit, c.fixed_ms) : el("td", {}, "—"),
		el("td", { class: "reproducer" }, path ? downloadLink(path, "download", name, "reproducer") : "—",
		   path ? " " + size(r.size) : null)
	);
}

function crashesTable(crashes) {
	return el(
		"table",
		{ id: "crashes" },
		el("thead", {}, el("tr", {}, ...["signature", "where", "status", "found", "last seen", "first bad commit", "fixed", "reproducer"]
			.map((h) => el("th", {}, h)))),
		el("tbody", {}, ...crashes.map(crashRow))
	);
}

async function fuzzPage(current) {
	const data = await getJSON("/fuzz");
	if (!current()) return 0;
	const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
	const fuzzers = (data.fuzzers || []).slice()
		.sort((f, g) => cmp(f.package, g.package) || cmp(f.target, g.target) || cmp(f.fuzzer, g.fuzzer));
	const crashes = data.crashes || [];
	const open = crashes.filter((c) => c.status !== "fixed"), fixed = crashes.filter((c) => c.status === "fixed");
	show(
		el("p", {}, link("#/", "← runs")),
		el("h1", {}, "Fuzzing"),
		el("h2", {}, "Fuzz targets"),
		fuzzers.length ? fuzzersTable(fuzzers) : el("p", { id: "fuzzers-empty" }, "No fuzz target has run yet."),
		el("h2", {}, "Crashes" + (crashes.length ? " (" + open.length + " open, " + fixed.length + " fixed)" : "")),
		crashes.length ? crashesTable(open.concat(fixed)) : el("p", { id: "crashes-empty" }, "No crash.")
	);
	return crashes.some((c) => c.bisect && !c.bisect.done) ? 5000 : 60000;
}

// ---- one job: its live log -------------------------------------------------------

function facts(job) {
	return el(
		"table",
		{ class: "facts", id: "facts" },
		...[
			["commit", job.commit],
			["build key", job.build_key || ""],
			["attempt", String(job.attempt)],
			["worker", job.worker || ""],
			["cached", job.cached ? "yes" : "no"],
			["category", job.category || ""],
			["first error", job.first_error || ""],
			["duration", seconds(job.duration_ms)],
		].map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v)))
	);
}

function setStatus(node, job) {
	node.textContent = job.status || job.state;
	node.className = "state " + (job.status || job.state);
}

async function jobPage(id, current) {
	const job = await getJSON("/jobs/" + id);
	if (!current()) return 0;
	const log = el("pre", { id: "log" });
	const status = el("span", { id: "job-status" });
	setStatus(status, job);
	show(
		el("p", {}, link("#/runs/" + job.run, "← run #" + job.run)),
		el("h1", {}, job.package + " on " + job.target + " ", status),
		facts(job),
		el("h2", {}, "Log"),
		log
	);
	const controller = new AbortController();
	stopCurrent = () => controller.abort();
	followLog(id, log, controller.signal)
		.then(() => getJSON("/jobs/" + id))
		.then((done) => {
			if (controller.signal.aborted) return;
			setStatus(status, done);
			document.getElementById("facts").replaceWith(facts(done));
		})
		.catch((e) => {
			if (!controller.signal.aborted) log.after(el("p", { class: "error" }, "cannot follow the log: " + e.message));
		});
	return 0;
}

// The log's Server-Sent Events, read with fetch so the token can go in a header.
// Parsed as bytes and decoded by one streaming decoder, so a UTF-8 character cut
// between two events stays whole. Reconnects (from the last event id) until the
// end event; resolves then.
async function followLog(id, log, signal) {
	const decoder = new TextDecoder();
	let offset = null;
	for (;;) {
		try {
			const h = headers();
			if (offset !== null) h["Last-Event-ID"] = offset;
			const r = await fetch(api + "/jobs/" + id + "/log/stream", { headers: h, signal });
			if (r.status >= 400 && r.status < 500) throw Object.assign(new Error("log: " + r.status), { final: true });
			if (!r.ok || !r.body) throw new Error(r.status + " " + r.statusText);
			const reader = r.body.getReader();
			let buffer = new Uint8Array(0);
			for (;;) {
				const { value, done } = await reader.read();
				if (done) break;
				buffer = concat(buffer, value);
				let end;
				while ((end = eventEnd(buffer)) >= 0) {
					const event = parseEvent(buffer.subarray(0, end));
					buffer = buffer.slice(end + 2);
					if (event.type === "end") {
						log.appendChild(document.createTextNode(decoder.decode()));
						return;
					}
					if (event.data) log.appendChild(document.createTextNode(decoder.decode(event.data, { stream: true })));
					if (event.id !== null) offset = event.id;
				}
			}
		} catch (e) {
			if (signal.aborted || e.final) throw e;
		}
		await new Promise((resolve) => setTimeout(resolve, 2000)); // the server went away: retry
		if (signal.aborted) throw new Error("aborted");
	}
}

function concat(a, b) {
	const c = new Uint8Array(a.length + b.length);
	c.set(a);
	c.set(b, a.length);
	return c;
}

function eventEnd(bytes) {
	for (let i = 0; i + 1 < bytes.length; i++) if (bytes[i] === 10 && bytes[i + 1] === 10) return i;
	return -1;
}

// One event's lines: "event: T", "id: N", "data: BYTES" (several data lines are joined by "\n").
function parseEvent(bytes) {
	const event = { type: "message", id: null, data: null };
	const parts = [];
	let start = 0;
	for (let i = 0; i <= bytes.length; i++) {
		if (i < bytes.length && bytes[i] !== 10) continue;
		const line = bytes.subarray(start, i);
		start = i + 1;
		const colon = line.indexOf(58);
		if (colon <= 0) continue; // a comment (": waiting") or a malformed line
		const field = String.fromCharCode(...line.subarray(0, colon));
		let value = line.subarray(colon + 1);
		if (value[0] === 32) value = value.subarray(1);
		if (field === "data") parts.push(value);
		else if (field === "event") event.type = String.fromCharCode(...value);
		else if (field === "id") event.id = String.fromCharCode(...value);
	}
	if (parts.length) {
		event.data = new Uint8Array(parts.reduce((n, p) => n + p.length + 1, -1));
		let at = 0;
		for (const [k, p] of parts.entries()) {
			if (k) event.data[at++] = 10;
			event.data.set(p, at);
			at += p.length;
		}
	}
	return event;
}

// ---- routing ------------------------------------------------------------------------

// Each render has a generation: one still waiting for the API when the hash changed
// (or a newer render started) shows nothing and schedules nothing.
let timer = null;
let generation = 0;

async function render() {
	const mine = ++generation;
	const current = () => mine === generation;
	clearTimeout(timer);
	stopCurrent();
	stopCurrent = () => {};
	const hash = location.hash || "#/";
	let m;
	let again = 0;
	try {
		if ((m = hash.match(/^#\/runs\/(\d+)$/))) again = await runPage(m[1], current);
		else if ((m = hash.match(/^#\/runs\/(\d+)\/api$/))) again = await runApiPage(m[1], current);
		else if ((m = hash.match(/^#\/jobs\/(\d+)$/))) again = await jobPage(m[1], current);
		else if ((m = hash.match(/^#\/bisects\/(\d+)$/))) again = await bisectPage(m[1], current);
		else if (hash === "#/coverage") again = await coverageListPage(current);
		else if (hash === "#/fuzz") again = await fuzzPage(current);
		else if ((m = hash.match(/^#\/coverage\/([^/]+)\/([0-9a-f]{40}|latest)\/file\/(.+)$/)))
			again = await coverageFilePage(decodeURIComponent(m[1]), m[2], decodeURIComponent(m[3]), current);
		else if ((m = hash.match(/^#\/coverage\/([^/]+)(?:\/([0-9a-f]{40}|latest))?$/)))
			again = await coveragePackagePage(decodeURIComponent(m[1]), m[2] || "latest", current);
		else if ((m = hash.match(/^#\/packages\/([^/]+)(?:\/(day|week|month))?$/)))
			again = await packagePage(decodeURIComponent(m[1]), m[2] || "day", current);
		else again = await runsPage(current);
	} catch (e) {
		if (current()) failure(e);
		again = 5000;
	}
	if (again && current()) timer = setTimeout(render, again);
}

window.addEventListener("hashchange", render);
render();
