#!/usr/bin/env node
// Opens a run's API changes in headless Chromium, as a person would, and checks what they
// show against the run's report (GET /runs/RUN/report, fetched here with the same token):
//   - #/runs/RUN/api shows one block per library of report.api.libraries, in order;
//   - in each: the semver line is the report's "why" (marked "not-enough" exactly when the
//     versions were judged and the bump is not enough), a "weaker method" note exactly when
//     "weaker", the breaking changes all listed before the compatible ones and as many of
//     each as the report has, each with its kind, declaration (after, else before, else
//     name), detail and which compatibility it breaks; a library with a "problem" shows
//     that text and no change;
//   - every "broke" entry of a change is listed under it with its package, linking to
//     #/jobs/JOB, and its error line as the exact textContent of a <code> with no element
//     inside;
//   - each behaviour change is listed with its package, linking to its job, and its first
//     error as text;
//   - the run page has the same section, links to #/runs/RUN/api, and tags each regressed
//     pair that has a "cause" ("API change" / "behaviour change") in the matrix and in the
//     failure list, and no other job;
//   - then the same checks on the report rewritten in the browser: markup (<img onerror>,
//     <script>, quotes, &) put into every line, declaration, detail and first error, and a
//     library added with a "problem" and one with a broken change: it all stays text, no
//     element is injected, no script of it runs;
//   - no script error on any page, no dialog.
//   node api_page.js URL TOKEN-FILE RUN [REPORT.json]
// With REPORT.json (a saved `ripple report --json RUN`), the page is given that report
// instead of the server's (through a route), e.g. to check a report the server can no
// longer make. Prints "ok - ..." / "not ok - ..." lines (unnumbered: the caller numbers
// them) and "# ..." notes, then "# N checks, F failed"; exits 1 when a check failed or a
// wait ran out, 2 on bad arguments. The token goes in the page's address (?token=...).
// Bounded: 60 s for the run to be done, 20 s for each page.
"use strict";
const fs = require("fs");
const path = require("path");
const { chromium } = require(path.join(__dirname, "node_modules", "playwright-core"));

const [url, tokenFile, run, reportFile] = process.argv.slice(2);
if (!url || !tokenFile || !run || !/^\d+$/.test(run) || process.argv.length > 6) {
	console.error("usage: api_page.js URL TOKEN-FILE RUN [REPORT.json]");
	process.exit(2);
}
let token, saved = null;
try {
	token = fs.readFileSync(tokenFile, "utf8").trim();
	if (reportFile) saved = JSON.parse(fs.readFileSync(reportFile, "utf8"));
} catch (e) {
	console.error("api_page.js: " + e.message);
	process.exit(2);
}

const web = require(path.join(__dirname, "lib.js"));
const { check, waitFor } = web;
const api = web.api(url, token);

const breaking = (c) => !!(c.api_breaking || c.abi_breaking);
const declaration = (c) => c.after || c.before || c.name || "";
function breaksWords(c) {
	if (c.api_breaking && c.abi_breaking) return "source and binary";
	if (c.api_breaking) return "source";
	if (c.abi_breaking) return "binary";
	return null;
}

// The API section as the page shows it (null while it is not there).
function readSection(page) {
	return page.evaluate(() => {
		const s = document.getElementById("api-changes");
		if (!s) return document.getElementById("api-empty") ? { empty: true } : null;
		const text = (n, sel) => {
			const x = n.querySelector(sel);
			return x ? x.textContent : null;
		};
		const libs = Array.from(s.querySelectorAll("section.api-library")).map((sec) => {
			const semver = sec.querySelector("p.semver");
			return {
				package: sec.getAttribute("data-package"),
				head: text(sec, "h3"),
				problem: text(sec, ".api-problem .problem-text"),
				problemElements: sec.querySelector(".problem-text") ? sec.querySelector(".problem-text").children.length : 0,
				semver: semver ? semver.textContent : null,
				semverClass: semver ? semver.className : null,
				semverElements: semver ? semver.children.length : 0,
				weaker: !!sec.querySelector(".api-weaker"),
				changes: Array.from(sec.querySelectorAll("li.api-change")).map((li) => ({
					breaking: li.classList.contains("breaking"),
					inBreakingList: !!li.closest("ul.api-breaking"),
					kind: text(li, ".api-kind"),
					decl: text(li, "code.api-decl"),
					declElements: li.querySelector("code.api-decl") ? li.querySelector("code.api-decl").children.length : -1,
					detail: text(li, ".api-detail"),
					breaks: text(li, ".api-breaks"),
					broke: Array.from(li.querySelectorAll("li.api-broke")).map((b) => {
						const a = b.querySelector("a");
						const code = b.querySelector("code");
						return {
							package: b.getAttribute("data-package"),
							href: a ? a.getAttribute("href") : null,
							link: a ? a.textContent : null,
							line: code ? code.textContent : null,
							codeElements: code ? code.children.length : -1,
							text: b.textContent,
						};
					}),
				})),
			};
		});
		const behaviour = Array.from(s.querySelectorAll("ul#behaviour-changes > li")).map((li) => {
			const a = li.querySelector("a");
			const code = li.querySelector("code");
			return {
				package: li.getAttribute("data-package"),
				href: a ? a.getAttribute("href") : null,
				link: a ? a.textContent : null,
				error: code ? code.textContent : null,
				codeElements: code ? code.children.length : 0,
			};
		});
		const allowed = ["section", "div", "h2", "h3", "h4", "p", "ul", "li", "a", "code", "span"];
		const strange = Array.from(s.querySelectorAll("*"))
			.map((e) => e.tagName.toLowerCase())
			.filter((t) => !allowed.includes(t));
		const own = s.querySelector("a.api-page-link");
		return { libs, behaviour, strange, ownPage: own ? own.getAttribute("href") : null, pwned: window.__pwned || 0 };
	});
}

// Waits for the section to show `want`'s libraries; returns what it shows.
async function section(page, what, want) {
	const libs = (want.api && want.api.libraries) || [];
	return waitFor(what, async () => {
		const s = await readSection(page);
		return s && (s.empty || s.libs.length === libs.length) ? s : null;
	});
}

// Everything the section must show of `report`; `where` names the page.
function checkSection(where, shown, report) {
	const a = report.api || {};
	const libs = a.libraries || [];
	const behaviour = a.behaviour_changes || [];
	if (!libs.length && !behaviour.length) {
		check(where + ": no API change in the report, and the page says none", !!shown.empty || shown.libs.length === 0, shown);
		return;
	}
	check(
		where + ": one block per library, in order (" + libs.map((l) => l.package).join(", ") + ")",
		JSON.stringify(shown.libs.map((l) => l.package)) === JSON.stringify(libs.map((l) => l.package)),
		shown.libs.map((l) => l.package)
	);
	libs.forEach((lib, i) => {
		const s = shown.libs[i];
		if (!s) return;
		const name = where + ": " + lib.package;
		const commits = [lib.old && lib.old.commit, lib.new && lib.new.commit].filter(Boolean).map((c) => c.slice(0, 12));
		check(name + ": the heading names it and its old and new commits (" + commits.join(" → ") + ")",
		      s.head.includes(lib.package) && commits.every((c) => s.head.includes(c)), s.head);
		if (lib.problem) {
			check(name + ": its problem is shown as text, and no change (" + lib.problem.slice(0, 80) + ")",
			      s.problem === lib.problem && s.problemElements === 0 && s.changes.length === 0 && s.semver === null,
			      { problem: s.problem, changes: s.changes.length });
			return;
		}
		const sv = lib.semver || {};
		const notEnough = sv.parsed !== false && !sv.enough;
		check(name + ": the semver line is the report's why (" + sv.why + ")" + (notEnough ? ", marked not enough" : ""),
		      s.semver === sv.why && s.semverElements === 0 && s.semverClass.split(" ").includes("not-enough") === notEnough,
		      { semver: s.semver, cls: s.semverClass });
		check(name + ": a weaker-method note exactly when the report says weaker (" + !!lib.weaker + ")", s.weaker === !!lib.weaker, s.weaker);
		const changes = lib.changes || [];
		const bad = changes.filter(breaking), good = changes.filter((c) => !breaking(c));
		const firstGood = s.changes.findIndex((c) => !c.breaking);
		check(
			name + ": " + bad.length + " breaking changes listed before " + good.length + " compatible ones",
			s.changes.length === changes.length && s.changes.filter((c) => c.breaking).length === bad.length &&
				(firstGood < 0 || s.changes.slice(firstGood).every((c) => !c.breaking)) &&
				s.changes.every((c) => c.breaking === c.inBreakingList),
			s.changes.map((c) => [c.breaking, c.kind, c.decl])
		);
		const order = bad.concat(good);
		const each = order.map((c, k) => {
			const x = s.changes[k];
			const words = breaksWords(c);
			return !!x && x.kind === c.kind && x.decl === declaration(c) && x.declElements === 0 &&
				(c.detail ? x.detail !== null && x.detail.includes(c.detail) : x.detail === null) &&
				(words ? x.breaks.includes("breaks " + words + " compatibility") : x.breaks === "compatible");
		});
		check(name + ": each change shows its kind, declaration, detail and which compatibility it breaks",
		      each.every(Boolean), { wrong: order.filter((c, k) => !each[k]), shown: s.changes.filter((c, k) => !each[k]) });
		const want = order.map((c) => c.broke || []);
		const broke = want.reduce((m, b) => m + b.length, 0);
		const linked = want.every((list, k) => {
			const x = s.changes[k];
			return x && x.broke.length === list.length && list.every((b, m) => {
				const y = x.broke[m];
				return y.package === b.package && y.link === b.package && y.href === "#/jobs/" + b.job &&
					y.line === b.line && y.codeElements === 0 && y.text.startsWith((b.summary || "this change") + " broke " + b.package);
			});
		});
		check(name + ": each of the " + broke + " broken builds is listed under its change: summary, package linking to its job, the exact error line",
		      linked, s.changes.map((c) => c.broke));
	});
	check(
		where + ": " + behaviour.length + " behaviour change" + (behaviour.length === 1 ? "" : "s") + " listed (" +
			behaviour.map((b) => b.package).join(", ") + "), each linking to its job with its first error",
		shown.behaviour.length === behaviour.length &&
			behaviour.every((b, k) => {
				const x = shown.behaviour[k];
				return x.package === b.package && x.link === b.package && x.href === "#/jobs/" + b.job &&
					(b.first_error ? x.error === b.first_error : x.error === null) && x.codeElements === 0;
			}),
		shown.behaviour
	);
	check(where + ": nothing but the section's own elements in it, no script of the report ran",
	      shown.strange.length === 0 && !shown.pwned, { strange: shown.strange, pwned: shown.pwned });
}

// The report with markup in every text a log or abidiff gave it, and a library with a
// problem and one with a broken change added.
function hostile(report, jobs) {
	const r = JSON.parse(JSON.stringify(report));
	const bad = ' <img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> & "q" \'s <b>&amp;</b>';
	r.api = r.api || { libraries: [], behaviour_changes: [] };
	r.api.libraries = r.api.libraries || [];
	r.api.behaviour_changes = r.api.behaviour_changes || [];
	for (const lib of r.api.libraries) {
		if (lib.semver && lib.semver.why) lib.semver.why += bad;
		if (lib.problem) lib.problem += bad;
		for (const c of lib.changes || []) {
			for (const k of ["before", "after", "detail"]) if (c[k]) c[k] += bad;
			for (const b of c.broke || []) b.line += bad;
		}
	}
	for (const b of r.api.behaviour_changes) b.first_error = (b.first_error || "") + bad;
	const job = jobs.length ? jobs[0].id : 1;
	const commit = (c) => c.repeat(40);
	r.api.libraries.push(
		{ package: "damaged<i>lib</i>", target: "unix", old: { commit: commit("a") }, new: { commit: commit("b") },
		  problem: "the ABI dump of build <b>x</b> & \"y\" is damaged" + bad },
		{ package: "planted", target: "unix", old: { commit: commit("c") }, new: { commit: commit("d") },
		  versions: { old: "1.0.0", new: "1.0.1" }, weaker: true,
		  semver: { needed: "major", made: "patch", enough: false, parsed: true, why: "1.0.0 to 1.0.1 is a patch bump; a breaking change needs major: not enough" + bad },
		  changes: [
			  { kind: "function added", name: "p_new", before: null, after: "int p_new(const char *<s>)" + bad, detail: null,
			    api_breaking: false, abi_breaking: false, where: null },
			  { kind: "function removed", name: "p_old", before: "void p_old(struct a<b>)" + bad, after: null,
			    detail: "removed" + bad, api_breaking: true, abi_breaking: true, where: "p.h:3:1",
			    broke: [{ package: "user<u>", target: "unix", job, line: "src/u.c:1:2: error: implicit declaration of ‘p_old’" + bad,
				      shape: "implicit declaration", summary: "removing p_old()" }] },
			  { kind: "type changed", name: "struct a", before: "struct a", after: null, detail: "size changed" + bad,
			    api_breaking: false, abi_breaking: true, where: null },
		  ] }
	);
	r.api.behaviour_changes.push({ package: "tests<em>x</em>", target: "unix", job, first_error: "t.c:9: assertion failed: s == \"<a>\"" + bad });
	return r;
}

async function main() {
	const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
	const errors = [], dialogs = [];
	try {
		const page = await browser.newPage();
		page.on("pageerror", (e) => errors.push(e.message));
		page.on("dialog", (d) => {
			dialogs.push(d.message());
			d.dismiss().catch(() => {});
		});
		const done = await waitFor("run " + run + " to be done", async () => {
			const d = await api("/runs/" + run);
			return d.run.state === "done" || d.run.state === "cancelled" ? d : null;
		}, 60000);
		let report = saved || (await api("/runs/" + run + "/report"));
		const reportRoute = "**/api/v1/runs/" + run + "/report";
		if (saved) await page.route(reportRoute, (route) => route.fulfill({ json: saved }));
		const libs = (report.api && report.api.libraries) || [];
		console.log("# run " + run + (saved ? " (report from " + reportFile + ")" : "") + ": " + libs.length + " librar" +
			    (libs.length === 1 ? "y" : "ies") + " compared (" + libs.map((l) => l.package + (l.problem ? ": problem" : ": " +
			    (l.changes || []).length + " changes")).join(", ") + "), " + ((report.api && report.api.behaviour_changes) || []).length +
			    " behaviour changes");
		const lines = libs.flatMap((l) => (l.changes || []).flatMap((c) => (c.broke || []).map((b) => b.line)))
			.concat(((report.api && report.api.behaviour_changes) || []).map((b) => b.first_error || ""));
		if (!lines.some((l) => /[<>&]/.test(l)))
			console.log("# no error line of the report has < > or &: escaping is put to the test by the rewritten report");

		const runPageChecks = async (rep, label) => {
			await page.evaluate(() => (location.hash = "#/"));
			await page.evaluate((h) => (location.hash = h), "#/runs/" + run);
			await waitFor("the run page of " + run, () =>
				page.evaluate((r) => {
					const h = document.querySelector("h1");
					return !!(document.getElementById("matrix") && h && h.textContent.startsWith("Run #" + r + " "));
				}, run));
			const hasApi = ((rep.api && rep.api.libraries) || []).length || ((rep.api && rep.api.behaviour_changes) || []).length;
			if (hasApi) {
				const shown = await section(page, "the run page's API section", rep);
				checkSection("run page" + label, shown, rep);
				check("run page" + label + ": the section links to its own page #/runs/" + run + "/api",
				      shown.ownPage === "#/runs/" + run + "/api", shown.ownPage);
			} else {
				const there = await page.evaluate(() => !!document.getElementById("api-changes"));
				check("run page" + label + ": no API section when the report compared nothing", !there);
			}
			const causes = new Map((rep.pairs || []).filter((p) => p.cause).map((p) => [p.job, p.cause]));
			const tags = await page.evaluate(() => {
				const of = (sel) => Array.from(document.querySelectorAll(sel)).map((t) => {
					const a = t.closest("td, li").querySelector('a[href^="#/jobs/"]');
					return { job: a ? Number(a.getAttribute("href").slice(7)) : null, text: t.textContent };
				});
				return { matrix: of("table#matrix .cause"), failures: of("ul#failures .cause") };
			});
			const want = (c) => (c === "api change" ? "API change" : c === "behaviour change" ? "behaviour change" : c);
			const same = (list) => list.length === causes.size && list.every((t) => causes.has(t.job) && t.text === want(causes.get(t.job)));
			check("run page" + label + ": the " + causes.size + " regressed pairs with a cause are tagged with it in the matrix (" +
			      Array.from(causes.values()).join(", ") + "), no other cell", same(tags.matrix), { tags: tags.matrix, causes: [...causes] });
			const failing = done.jobs.filter((j) => !j.rerun_of && j.status && j.status !== "pass").map((j) => j.id);
			const inList = tags.failures.filter((t) => failing.includes(t.job));
			check("run page" + label + ": and in the failure list", tags.failures.length === inList.length &&
			      inList.length === [...causes.keys()].filter((j) => failing.includes(j)).length &&
			      inList.every((t) => t.text === want(causes.get(t.job))), { tags: tags.failures });
		};

		// 1. The shared page, then the run page, with the report as it is.
		await page.goto(url + "/?token=" + encodeURIComponent(token) + "#/runs/" + run + "/api");
		const shown = await section(page, "#/runs/" + run + "/api", report);
		checkSection("#/runs/" + run + "/api", shown, report);
		const back = await page.evaluate((r) => !!document.querySelector('a[href="#/runs/' + r + '"]'), run);
		check("#/runs/" + run + "/api links back to the run", back);
		await runPageChecks(report, "");

		// 2. The same with markup in every text, and a problem and a broken change added.
		const evil = hostile(report, done.jobs);
		if (saved) await page.unroute(reportRoute);
		await page.route(reportRoute, (route) => route.fulfill({ json: evil }));
		await page.evaluate(() => (location.hash = "#/"));
		await page.evaluate((h) => (location.hash = h), "#/runs/" + run + "/api");
		const shownEvil = await section(page, "#/runs/" + run + "/api with markup in the report", evil);
		checkSection("#/runs/" + run + "/api with markup", shownEvil, evil);
		await runPageChecks(evil, " with markup");
		await page.unroute(reportRoute);
		const pwned = await page.evaluate(() => window.__pwned || 0);
		check("no script from the report ran", !pwned, pwned);

		check("no script error on any page, no dialog", errors.length === 0 && dialogs.length === 0, { errors, dialogs });
	} finally {
		await browser.close();
	}
}

web.run(main);
