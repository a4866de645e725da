#!/usr/bin/env node
// Opens a package's coverage page in headless Chromium, as a person would, and checks
// what it shows against the API's own answers (fetched here with the same token):
//   - #/coverage/PKG plots one trend point per commit of GET /coverage/PKG;
//   - its file table has one row per file of GET /coverage/PKG/latest, with their figures,
//     sorted by uncovered lines (most first) by default; clicking a header re-sorts;
//   - each file's view (the first one reached through the table's link) marks as many rows
//     "uncovered" as the API has lines with 0 hits, marks "partial" exactly the lines run
//     with a branch never taken (titled "K of N branches taken"), shows each counted line's
//     hits, and shows the source as text: the rows' text is the source, no element inside;
//     a file whose source is null (the API's answer rewritten in the browser for one file)
//     is said to be unreadable and still has its counted rows, marked the same;
//   - #/coverage lists PKG, the package page links to its coverage;
//   - no script error on any page, no dialog.
//   node coverage_page.js URL TOKEN-FILE PKG
// Prints "ok - ..." / "not ok - ..." lines (unnumbered: the caller numbers them, as
// test_dashboard.sh does) and "# ..." notes; exits 1 when a check failed or a wait ran out. The token goes in the page's address (?token=...).
// Bounded: 60 s for the package's coverage to be in the API, 20 s for each page.
"use strict";
const fs = require("fs");
const path = require("path");
const { chromium } = require(path.join(__dirname, "node_modules", "playwright-core"));

const [url, tokenFile, pkg] = process.argv.slice(2);
if (!url || !tokenFile || !pkg) {
	console.error("usage: coverage_page.js URL TOKEN-FILE PKG");
	process.exit(2);
}
const token = fs.readFileSync(tokenFile, "utf8").trim();
const MAX_FILES = 25; // file views opened at most

const web = require(path.join(__dirname, "lib.js"));
const { check, waitFor } = web;
const api = web.api(url, token);

const uncovered = (f) => f.totals.lines.total - f.totals.lines.covered;
const byPath = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

// The file table as shown: paths in order, with the figures of each row.
function fileRows(page) {
	return page.evaluate(() =>
		Array.from(document.querySelectorAll("table#coverage-files tbody tr")).map((tr) => ({
			path: tr.getAttribute("data-path"),
			lines: tr.querySelector('td[data-kind="lines"]').textContent,
			uncovered: Number(tr.querySelector('td[data-kind="uncovered"]').textContent),
			href: tr.querySelector("a") ? tr.querySelector("a").getAttribute("href") : null,
		}))
	);
}

async function sortBy(page, key, want, what) {
	await page.click('table#coverage-files th[data-sort="' + key + '"]');
	const rows = await waitFor(what, async () => {
		const r = await fileRows(page);
		return JSON.stringify(r.map((x) => x.path)) === JSON.stringify(want) ? r : null;
	}, 5000).catch(() => null);
	check(what, rows !== null, rows === null ? { want, shown: (await fileRows(page)).map((x) => x.path) } : undefined);
}

// The file view as shown.
function fileView(page) {
	return page.evaluate(() => {
		const table = document.querySelector("table#source");
		if (!table) return null;
		const rows = Array.from(table.querySelectorAll("tr[data-line]"));
		return {
			path: table.getAttribute("data-path"),
			rows: rows.map((tr) => ({
				line: Number(tr.getAttribute("data-line")),
				cls: tr.className,
				title: tr.getAttribute("title"),
				hits: tr.querySelector("td.hits").textContent,
				code: tr.querySelector("td.code").textContent,
			})),
			elementsInCode: table.querySelectorAll("td.code *").length,
			missing: !!document.getElementById("source-missing"),
			heading: (document.getElementById("file-path") || {}).textContent,
		};
	});
}

async function checkFile(page, detail, file, viaLink, unread) {
	const f = await api("/coverage/" + encodeURIComponent(pkg) + "/" + detail.commit + "/file?path=" + encodeURIComponent(file.path));
	if (unread) f.source = null;
	const view = await waitFor("the file view of " + file.path, async () => {
		const v = await fileView(page);
		return v && v.path === file.path ? v : null;
	});
	const name = file.path + (viaLink ? " (opened from the table)" : unread ? " (its source unreadable)" : "");
	const zero = f.lines.filter(([, hits]) => hits === 0).map(([l]) => l);
	const partial = f.lines.filter(([, hits, br]) => hits > 0 && (br || []).some((b) => b === 0)).map(([l]) => l);
	const shownUncovered = view.rows.filter((r) => r.cls.split(" ").includes("uncovered")).map((r) => r.line);
	const shownPartial = view.rows.filter((r) => r.cls.split(" ").includes("partial"));
	check(
		name + ": " + shownUncovered.length + " rows marked uncovered, as many as lines with 0 hits",
		JSON.stringify(shownUncovered) === JSON.stringify(zero),
		{ shownUncovered, zero }
	);
	const titled = shownPartial.every((r) => {
		const br = f.lines.find(([l]) => l === r.line)[2];
		return r.title === br.filter((b) => b > 0).length + " of " + br.length + " branches taken";
	});
	check(
		name + ": " + shownPartial.length + " rows marked partial, the lines run with a branch never taken, titled K of N",
		JSON.stringify(shownPartial.map((r) => r.line)) === JSON.stringify(partial) && titled,
		{ shown: shownPartial, partial }
	);
	const hitsOk = f.lines.every(([l, hits]) => {
		const r = view.rows.find((x) => x.line === l);
		return r && r.hits === String(hits);
	}) && view.rows.every((r) => r.hits === "" || f.lines.some(([l]) => l === r.line));
	check(name + ": each counted line shows its hits, the others none", hitsOk);
	if (f.source === null) {
		check(
			name + ": its source could not be read, the page says so and still shows the " + f.lines.length + " counted lines",
			view.missing && view.rows.length === f.lines.length,
			{ missing: view.missing, rows: view.rows.length }
		);
	} else {
		const text = f.source.endsWith("\n") ? f.source.slice(0, -1) : f.source;
		const shown = view.rows.map((r) => r.code).join("\n");
		check(
			name + ": the source is shown as text, one row a line (" + view.rows.length + " rows" +
				(/[<>&]/.test(text) ? ", with < > & in it" : "") + "), no element inside",
			shown.startsWith(text) && /^\n*$/.test(shown.slice(text.length)) && view.elementsInCode === 0 && !view.missing,
			{ elementsInCode: view.elementsInCode, missing: view.missing, head: shown.slice(0, 300) }
		);
	}
	return f.source !== null && /[<>&]/.test(f.source);
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
		const name = encodeURIComponent(pkg);
		const trend = await waitFor(pkg + "'s coverage in the API", async () => {
			const t = await api("/coverage/" + name);
			return t.latest ? t : null;
		}, 60000);
		const detail = await api("/coverage/" + name + "/latest");
		console.log("# " + pkg + ": " + trend.commits.length + " commits, " + detail.files.length + " files at " + detail.commit.slice(0, 12));

		// 1. The package's page: the trend and the files, by uncovered lines.
		await page.goto(url + "/?token=" + encodeURIComponent(token) + "#/coverage/" + name);
		const chart = await waitFor("the trend of " + pkg, () =>
			page.evaluate(() => {
				const s = document.querySelector("svg.coverage-trend");
				return s && document.querySelector("table#coverage-files")
					? { points: Number(s.getAttribute("data-points")), dots: s.querySelectorAll("circle.point").length,
					    commits: Array.from(s.querySelectorAll("circle.point")).map((c) => c.getAttribute("data-commit")) }
					: null;
			})
		);
		check(
			"the trend has one point per commit (" + chart.dots + ", API " + trend.commits.length + "), oldest first",
			chart.points === trend.commits.length && chart.dots === trend.commits.length &&
				JSON.stringify(chart.commits) === JSON.stringify(trend.commits.map((c) => c.commit)),
			{ chart, commits: trend.commits.map((c) => c.commit) }
		);
		const rows = await fileRows(page);
		const apiFiles = detail.files.map((f) => f.path).sort(byPath);
		check(
			"the file table has a row per file of the API (" + rows.length + "), with its lines covered/total and uncovered",
			JSON.stringify(rows.map((r) => r.path).sort(byPath)) === JSON.stringify(apiFiles) &&
				rows.every((r) => {
					const f = detail.files.find((x) => x.path === r.path);
					return f && r.lines === f.totals.lines.covered + "/" + f.totals.lines.total && r.uncovered === uncovered(f);
				}),
			{ rows, files: detail.files }
		);
		const byUncovered = detail.files.slice().sort((a, b) => uncovered(b) - uncovered(a) || byPath(a.path, b.path)).map((f) => f.path);
		check(
			"by default the files are sorted by uncovered lines, most first (" + rows.map((r) => r.uncovered).join(" ") + ")",
			JSON.stringify(rows.map((r) => r.path)) === JSON.stringify(byUncovered),
			{ shown: rows.map((r) => [r.path, r.uncovered]), want: byUncovered }
		);
		const paths = detail.files.map((f) => f.path).sort(byPath);
		await sortBy(page, "path", paths, "clicking the file header sorts by path");
		await sortBy(page, "path", paths.slice().reverse(), "clicking it again reverses the order");
		await sortBy(page, "uncovered", byUncovered, "clicking the uncovered header sorts by uncovered lines again");
		const links = await page.evaluate(() =>
			Array.from(document.querySelectorAll("#coverage-facts a.export")).map((a) => a.getAttribute("href")));
		check(
			"the page links to the lcov and Cobertura exports",
			links.some((h) => h.endsWith("?format=lcov")) && links.some((h) => h.endsWith("?format=cobertura")),
			links
		);

		// 2. The files: the first through the table's link, the others by address.
		const first = rows[0];
		await page.click('table#coverage-files tbody tr:first-child a');
		let markup = await checkFile(page, detail, detail.files.find((f) => f.path === first.path), true);
		for (const r of rows.slice(1, MAX_FILES)) {
			await page.evaluate((h) => (location.hash = h), r.href);
			markup = (await checkFile(page, detail, detail.files.find((f) => f.path === r.path), false)) || markup;
		}
		if (!markup) console.log("# no source of " + pkg + " has < > or &: escaping was not put to the test");

		// A source the server could not read (its answer rewritten in the browser to say so).
		const unread = "**/api/v1/coverage/*/*/file?path=*";
		await page.route(unread, async (route) => {
			const r = await route.fetch();
			const doc = await r.json();
			doc.source = null;
			await route.fulfill({ response: r, json: doc });
		});
		await page.evaluate(() => (location.hash = "#/"));
		await page.evaluate((h) => (location.hash = h), first.href);
		await checkFile(page, detail, Object.assign({}, detail.files.find((f) => f.path === first.path)), false, true);
		await page.unroute(unread);

		// 3. The way there: the coverage list and the package's page link to it.
		await page.evaluate(() => (location.hash = "#/coverage"));
		const listed = await waitFor("the coverage list", () =>
			page.evaluate((p) => {
				const t = document.querySelector("table#coverage-packages");
				if (!t) return null;
				const a = t.querySelector('a[href="#/coverage/' + p + '"]');
				return { listed: !!a, text: a ? a.closest("tr").textContent : t.textContent };
			}, name)
		).catch((e) => ({ listed: false, text: e.message }));
		check("#/coverage lists " + pkg + " with a link to its page", listed.listed, listed);
		await page.evaluate((p) => (location.hash = "#/packages/" + p), name);
		const fromPackage = await waitFor("the package page's coverage link", () =>
			page.evaluate((p) => {
				const a = document.querySelector('#package-coverage a[href="#/coverage/' + p + '"]');
				return a ? a.parentNode.textContent : null;
			}, name)
		).catch(() => null);
		check("the package page links to its coverage (" + fromPackage + ")", fromPackage !== null);

		check("no script error on any page, no dialog", errors.length === 0 && dialogs.length === 0, { errors, dialogs });
	} finally {
		await browser.close();
	}
}

web.run(main);
