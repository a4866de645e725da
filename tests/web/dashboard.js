// Drives the dashboard of a running `ripple serve` in Debian's headless Chromium.
//   node dashboard.js URL RUN API-TOKEN-FILE
// Started by test_dashboard.sh on its variant of the example universe: unikernel's test
// prints "tick 1" .. "tick 8" a second apart, dns's test fails with markup in its
// output, ethif's build prints "<img src=x onerror=alert(1)>". Prints "ok - ..." and
// "not ok - ..." lines (test_dashboard.sh numbers them) and "# ..." notes; exits 1 when
// a check failed or a wait ran out. Every wait is bounded.
"use strict";

const fs = require("fs");
const path = require("path");
const { chromium } = require(path.join(__dirname, "node_modules", "playwright-core"));

const { execFileSync } = require("child_process");
const [url, runArg, tokenFile, universeDir] = process.argv.slice(2);
if (!url || !runArg || !tokenFile) {
	console.error("usage: node dashboard.js URL RUN API-TOKEN-FILE");
	process.exit(2);
}
const run1 = Number(runArg);
const token = fs.readFileSync(tokenFile, "utf8").trim();
const WAIT_MS = 120000;
const MARKUP = "<img src=x onerror=alert(1)>";

let failed = 0;
function check(what, good, seen) {
	if (good) {
		console.log("ok - " + what);
	} else {
		failed++;
		console.log("not ok - " + what);
		if (seen !== undefined) console.log("# seen: " + JSON.stringify(seen).slice(0, 2000));
	}
	return good;
}

function sleep(ms) {
	return new Promise((r) => setTimeout(r, ms));
}

// Polls probe() until it returns a truthy value; throws after ms with the last value seen.
async function waitFor(what, probe, ms = WAIT_MS) {
	const end = Date.now() + Math.min(ms, WAIT_MS);
	let last;
	for (;;) {
		try {
			last = await probe();
		} catch (e) {
			last = "error: " + e.message;
			if (last.includes("Target page, context or browser has been closed")) throw e;
		}
		if (last && !(typeof last === "string" && last.startsWith("error: "))) return last;
		if (Date.now() > end) {
			const e = new Error("timed out waiting for " + what + "; last seen: " + JSON.stringify(last).slice(0, 2000));
			e.seen = last;
			throw e;
		}
		await sleep(200);
	}
}

async function api(method, p, body) {
	const r = await fetch(url + "/api/v1" + p, {
		method,
		headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" },
		body: body === undefined ? undefined : JSON.stringify(body),
	});
	const text = await r.text();
	if (!r.ok) throw new Error(method + " " + p + ": " + r.status + " " + text);
	return JSON.parse(text);
}

async function runDone(id) {
	const d = await api("GET", "/runs/" + id);
	return d.run.state === "done" || d.run.state === "cancelled" ? d : null;
}

// What the matrix shows: one entry per job cell.
function matrixCells(page) {
	return page.evaluate(() =>
		Array.from(document.querySelectorAll("table#matrix td[data-package]")).map((td) => ({
			package: td.dataset.package,
			target: td.dataset.target,
			variant: td.dataset.variant || "build",
			status: td.dataset.status,
			cached: td.dataset.cached,
			text: td.textContent,
			background: getComputedStyle(td).backgroundColor,
			href: td.querySelector("a") ? td.querySelector("a").getAttribute("href") : null,
		}))
	);
}

// A cell is a job's: its package, target and variant (a coverage job has a column of its own).
function key(p, t, v) {
	return p + " on " + t + (v && v !== "build" ? " (" + v + ")" : "");
}

async function main() {
	const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
	console.log("# chromium " + browser.version());
	const dialogs = [];
	const pageErrors = [];
	const open = async () => {
		const page = await browser.newPage();
		page.on("dialog", (d) => {
			dialogs.push(d.message());
			d.dismiss().catch(() => {});
		});
		page.on("pageerror", (e) => pageErrors.push(e.message));
		return page;
	};
	try {
		await scenario(open, dialogs, pageErrors);
	} finally {
		await browser.close();
	}
}

async function scenario(open, dialogs, pageErrors) {
	// 1. The run's matrix appears, one cell per job. This page stays on the run until it
	// is done, to see the matrix follow it.
	const page = await open();
	const first = await api("GET", "/runs/" + run1);
	await page.goto(url + "/#/runs/" + run1);
	const cells0 = await waitFor("the matrix of run " + run1, async () => {
		const c = await matrixCells(page);
		return c.length === first.jobs.length ? c : null;
	});
	check("the matrix shows run " + run1 + " with one cell per job (" + cells0.length + ")", true);
	check(
		"the page title names the run",
		(await page.textContent("h1")).includes("#" + run1),
		await page.textContent("h1")
	);

	// 2. Once the slow job runs, its log grows on its page (opened from the matrix's link).
	const slow = first.jobs.find((j) => j.package === "unikernel" && j.target === "unix");
	if (!slow) throw new Error("run " + run1 + " has no unikernel job on unix");
	const slowCell = 'table#matrix td[data-package="unikernel"][data-target="unix"]';
	await waitFor("the matrix to show unikernel running", async () => {
		const s = await page.getAttribute(slowCell, "data-status");
		return s === "leased" || s === "running";
	});
	const href = await page.getAttribute(slowCell + " a", "href");
	check("the slow job's cell links to its job page (" + href + ")", href === "#/jobs/" + slow.id, href);
	const jobPage = await open();
	await jobPage.goto(url + "/" + href);
	await waitFor("the job page of unikernel", () => jobPage.$("pre#log"));
	const log = () => jobPage.evaluate(() => document.querySelector("pre#log").textContent);
	const early = await waitFor('"tick 2" in the log', async () => {
		const t = await log();
		return t.includes("tick 2") ? t : null;
	});
	const stateAtEarly = (await api("GET", "/jobs/" + slow.id)).state;
	check(
		"the log shows the job's output while it runs (tick 2 seen, tick 5 not yet, job " + stateAtEarly + ")",
		!early.includes("tick 5") && (stateAtEarly === "leased" || stateAtEarly === "running"),
		early
	);
	const later = await waitFor('"tick 5" in the log', async () => {
		const t = await log();
		return t.includes("tick 5") ? t : null;
	});
	check(
		"the live log grew without a reload (" + early.length + " then " + later.length + " characters)",
		later.length > early.length && later.startsWith(early),
		{ early, later }
	);
	const finalStatus = await waitFor("the job status on the job page to end", async () => {
		const s = await jobPage.textContent("#job-status");
		return ["pass", "fail", "error", "timeout", "cancelled", "skipped"].includes(s) ? s : null;
	});
	const full = await log();
	check(
		"the job page ends with the job's status (" + finalStatus + ") and the whole log",
		finalStatus === "pass" && full.includes("tick 8"),
		{ finalStatus, tail: full.slice(-300) }
	);
	await jobPage.close();

	// 3. Once the run is done, the matrix shows every job's result, colored.
	const done1 = await waitFor("run " + run1 + " to finish", () => runDone(run1));
	const want = new Map(done1.jobs.map((j) => [key(j.package, j.target, j.variant), j]));
	const cells1 = await waitFor("the matrix of run " + run1 + " to show its results", async () => {
		const state = await page.evaluate(() => {
			const s = document.getElementById("run-state");
			return s ? s.textContent : null;
		});
		const c = await matrixCells(page);
		return state === "done" && c.length === want.size &&
			c.every((x) => want.has(key(x.package, x.target, x.variant)) && x.status === want.get(key(x.package, x.target, x.variant)).status)
			? c
			: null;
	}).catch((e) => {
		check("the matrix shows every job's result", false, e.seen);
		throw e;
	});
	const unfinished = cells0.filter((c) => !["pass", "fail", "skipped", "error", "timeout", "cancelled"].includes(c.status));
	check(
		"the matrix followed the run without a reload (" + unfinished.length + " cells unfinished at first)",
		unfinished.length > 0,
		cells0
	);
	check(
		"the matrix shows every job's result, as the API gives it (" + cells1.map((c) => c.package + "=" + c.status).join(" ") + ")",
		true
	);
	check(
		"each cell links to its job page",
		cells1.every((c) => c.href === "#/jobs/" + want.get(key(c.package, c.target, c.variant)).id),
		cells1
	);
	const coverageJobs = done1.jobs.filter((j) => j.variant === "coverage");
	const coverageCells = cells1.filter((c) => c.variant === "coverage");
	check(
		"each coverage job (" + coverageJobs.map((j) => j.package).join(", ") + ") has its cell in a column of its own, its build's cell kept",
		coverageCells.length === coverageJobs.length &&
			coverageJobs.every((j) =>
				cells1.some((c) => c.package === j.package && c.target === j.target && c.variant === "build" &&
					c.href === "#/jobs/" + want.get(key(j.package, j.target)).id)) &&
			(await page.evaluate(() => Array.from(document.querySelectorAll("table#matrix th")).some((th) => th.textContent === "unix · coverage"))) ===
				(coverageJobs.length > 0),
		coverageCells
	);
	check(
		"nothing in a first run on a fresh store is marked cached",
		cells1.every((c) => c.cached === "0" && !c.text.includes("cached")),
		cells1
	);
	const pass = cells1.filter((c) => c.status === "pass");
	const other = cells1.filter((c) => c.status !== "pass");
	check(
		"pass cells have the pass color (" + (pass[0] && pass[0].background) + ")",
		pass.length > 0 && pass.every((c) => c.background === "rgb(204, 255, 204)"),
		pass
	);
	check(
		"a failing cell's color differs from pass (" + other.map((c) => c.package + "=" + c.status + " " + c.background).join(", ") + ")",
		other.length > 0 && other.every((c) => c.background !== pass[0].background && c.background !== "rgba(0, 0, 0, 0)"),
		other
	);

	// 4. Markup from a job's output (dns's first error line) stays text on the run page.
	const dns = done1.jobs.find((j) => j.package === "dns");
	const failuresText = await page.evaluate(() => {
		const f = document.getElementById("failures");
		return f ? f.textContent : "";
	});
	const scripts = await page.evaluate(() => Array.from(document.scripts).map((s) => s.getAttribute("src")));
	check(
		"the run page lists dns's failure with its first error line as text (" + (dns && dns.first_error) + ")",
		dns && dns.status === "fail" && dns.first_error && failuresText.includes(dns.first_error) && scripts.length === 1,
		{ failuresText, scripts, dns }
	);

	// 5. A log line that looks like HTML is shown as text on the job page. Reached
	// while the run page's API answer is held back: that late answer must not replace
	// the job page.
	const ethif = done1.jobs.find((j) => j.package === "ethif");
	const held = "**/api/v1/runs/" + run1;
	let heldBack = 0;
	await page.route(held, async (route) => {
		heldBack++;
		await sleep(1500);
		await route.continue().catch(() => {});
	});
	await page.reload();
	await page.evaluate((id) => {
		location.hash = "#/jobs/" + id;
	}, ethif.id);
	const ethifLog = await waitFor("ethif's log with the markup line", async () => {
		const t = await page.evaluate(() => {
			const p = document.querySelector("pre#log");
			return p ? p.textContent : null;
		});
		return t && t.includes(MARKUP) ? t : null;
	});
	await sleep(2500); // the held answer arrives; an onerror would fire
	const late = await page.evaluate(() => ({
		matrix: !!document.querySelector("table#matrix"),
		log: !!document.querySelector("pre#log"),
	}));
	await page.unroute(held);
	check(
		"a page whose API answer comes late does not replace the page navigated to since",
		heldBack > 0 && late.log && !late.matrix,
		{ heldBack, late }
	);
	const imgs = await page.evaluate(() => document.querySelectorAll("img").length);
	check(
		"the log shows " + MARKUP + " as text: no img element, no dialog",
		ethifLog.includes(MARKUP) && imgs === 0 && dialogs.length === 0,
		{ imgs, dialogs }
	);

	// 6. The runs list shows the run with its title as text.
	await page.goto(url + "/#/");
	const row = await waitFor("run " + run1 + " in the runs list", async () => {
		return page.evaluate((id) => {
			const tr = document.querySelector('table#runs tr[data-run="' + id + '"]');
			return tr ? { text: tr.textContent, italics: tr.querySelectorAll("i").length } : null;
		}, run1);
	});
	check(
		"the runs list shows run " + run1 + ", done, its title as text",
		row.text.includes("<i>dashboard</i> run") && row.text.includes("done") && row.italics === 0,
		row
	);

	// 7. The same run again is answered from the cache, and the matrix says so.
	const sub = await api("POST", "/runs", { kind: "manual", targets: ["unix"] });
	const run2 = sub.run;
	await page.goto(url + "/#/runs/" + run2);
	const done2 = await waitFor("run " + run2 + " to finish", () => runDone(run2));
	const want2 = new Map(done2.jobs.map((j) => [key(j.package, j.target, j.variant), j]));
	const cells2 = await waitFor("the matrix of run " + run2 + " to show its results", async () => {
		const c = await matrixCells(page);
		return c.length === want2.size &&
			c.every((x) => want2.has(key(x.package, x.target, x.variant)) && x.status === want2.get(key(x.package, x.target, x.variant)).status)
			? c
			: null;
	});
	check(
		"the API answers every job of the identical run " + run2 + " from the cache",
		done2.jobs.every((j) => j.cached),
		done2.jobs.map((j) => [j.package, j.status, j.cached])
	);
	check(
		"the matrix of run " + run2 + " marks every cell cached, visibly",
		cells2.every((c) => c.cached === "1" && c.text.includes("(cached)")),
		cells2
	);
	check(
		"cached cells keep their result and color",
		cells2.every((c) => {
			const c1 = cells1.find((x) => x.package === c.package && x.target === c.target && x.variant === c.variant);
			return c1 && c.status === c1.status && c.background === c1.background;
		}),
		cells2
	);

	// 8. A package's history: a commit to checkseum, a nightly that builds it, its page plots
	// one chart per series with the point the nightly recorded.
	const repo = path.join(universeDir, "repos", "checkseum");
	fs.writeFileSync(path.join(repo, "NEWS"), "history\n");
	execFileSync("git", ["-C", repo, "add", "NEWS"]);
	execFileSync("git", ["-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "News"]);
	const nightly = await api("POST", "/nightly");
	await waitFor("nightly " + nightly.run + " to finish", () => runDone(nightly.run));
	const history = await waitFor("checkseum's history to be recorded", async () => {
		const h = await api("GET", "/history/checkseum");
		return h.series.some((s) => s.metric === "throughput") ? h : null;
	});
	await page.goto(url + "/#/packages/checkseum");
	const charts = await waitFor("checkseum's charts", async () => {
		const c = await page.evaluate(() =>
			Array.from(document.querySelectorAll("svg.chart")).map((n) => ({
				metric: n.getAttribute("data-metric"),
				target: n.getAttribute("data-target"),
				points: Number(n.getAttribute("data-points")),
				dots: n.querySelectorAll("circle.point").length,
				label: n.parentNode.querySelector(".latest").textContent,
			}))
		);
		return c.length ? c : null;
	});
	check(
		"the package page plots each series of GET /history (" + charts.map((c) => c.metric).join(", ") + ")",
		charts.length === history.series.length &&
			history.series.every((s) =>
				charts.some((c) => c.metric === s.metric && c.target === s.target && c.points === s.points.length && c.dots === s.points.length)),
		{ charts, series: history.series.map((s) => [s.metric, s.target, s.points.length]) }
	);
	check(
		"its throughput chart says 123.0 MB/s, and build and test times are there",
		charts.some((c) => c.metric === "throughput" && c.label === "123.0 MB/s") &&
			["build_time", "test_time"].every((m) => charts.some((c) => c.metric === m)),
		charts
	);
	await page.click("#resolutions a:text('month')");
	const monthly = await waitFor("the monthly view", async () =>
		// The hash changes before the monthly answer arrives; until then the daily page is
		// still shown, so only a page that names the month as chosen is the monthly view.
		page.evaluate(() => {
			const strong = document.querySelector("#resolutions strong");
			return location.hash.endsWith("/month") && strong && strong.textContent === "month"
				? { strong: strong.textContent, charts: document.querySelectorAll("svg.chart").length }
				: null;
		})
	);
	check("the month link shows the monthly archive", monthly.strong === "month" && monthly.charts === charts.length, monthly);
	await page.goto(url + "/#/runs/" + nightly.run);
	const pkgLink = await waitFor("the matrix's package links", () =>
		page.evaluate(() => {
			const a = document.querySelector("table#matrix th.package a");
			return a ? a.getAttribute("href") : null;
		})
	);
	check("the run's matrix links each package to its page", /^#\/packages\/[a-z]+$/.test(pkgLink), pkgLink);

	check("no script error on any page, no dialog", pageErrors.length === 0 && dialogs.length === 0, {
		pageErrors,
		dialogs,
	});
}

main().then(
	() => process.exit(failed ? 1 : 0),
	(e) => {
		console.log("not ok - " + e.message.split("\n")[0].slice(0, 2500));
		console.error(e.stack || String(e));
		process.exit(1);
	}
);
