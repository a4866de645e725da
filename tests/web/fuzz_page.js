#!/usr/bin/env node
// Opens the dashboard's fuzzing page in headless Chromium, reached through the header's
// link as a person would, and checks what it shows against the API's own answer (GET /fuzz,
// fetched here with the same token):
//   - the fuzz targets' table has a row per fuzz target of PACKAGE, each with its executions
//     per second as a number (the API's) and a link to its last run;
//   - the crashes' table has a row per crash, the open ones first, among them an open crash
//     whose signature contains SIGNATURE (PACKAGE's when it has one), shown as text: the
//     API's signature exactly, no element inside;
//   - that crash's download link saves crash-<first 12 hex of its SHA-256> with exactly the
//     bytes GET /fuzz/reproducers/SHA serves, of the size and SHA-256 the API gives;
//   - no script error, no dialog.
//   node fuzz_page.js URL TOKEN-FILE PACKAGE SIGNATURE
// Prints "ok - ..." / "not ok - ..." lines and "# N checks, F failed"; exits 1 when a check
// failed or a wait ran out, 2 on bad arguments. The token goes in the page's address
// (?token=...). Bounded: 60 s for PACKAGE's fuzz target and the crash to be in the API,
// 20 s for the page and for the download.
"use strict";
const crypto = require("crypto");
const fs = require("fs");
const path = require("path");
const { chromium } = require(path.join(__dirname, "node_modules", "playwright-core"));

const [url, tokenFile, pkg, signature] = process.argv.slice(2);
if (!url || !tokenFile || !pkg || !signature || process.argv.length > 6) {
	console.error("usage: fuzz_page.js URL TOKEN-FILE PACKAGE SIGNATURE");
	process.exit(2);
}
let token;
try {
	token = fs.readFileSync(tokenFile, "utf8").trim();
} catch (e) {
	console.error("fuzz_page.js: " + e.message);
	process.exit(2);
}
const web = require(path.join(__dirname, "lib.js"));
const { check, waitFor } = web;
const api = web.api(url, token);

// The crash the page is checked on: open, its signature holding SIGNATURE, PACKAGE's first.
function pick(doc) {
	const open = (doc.crashes || []).filter((c) => c.status === "open" && String(c.signature).includes(signature));
	return open.find((c) => c.package === pkg) || open[0] || null;
}

// The two tables as shown.
function shown(page) {
	return page.evaluate(() => {
		const fuzzers = document.querySelector("table#fuzzers");
		const crashes = document.querySelector("table#crashes");
		if (!fuzzers || !crashes) return null;
		return {
			hash: location.hash,
			heading: (document.querySelector("h1") || {}).textContent,
			fuzzers: Array.from(fuzzers.querySelectorAll("tbody tr")).map((tr) => ({
				package: tr.getAttribute("data-package"),
				target: tr.getAttribute("data-target"),
				fuzzer: tr.getAttribute("data-fuzzer"),
				perSec: tr.querySelector('td[data-kind="exec-per-sec"]').textContent,
				runs: Array.from(tr.querySelectorAll('a[href^="#/runs/"]')).map((a) => a.getAttribute("href")),
			})),
			crashes: Array.from(crashes.querySelectorAll("tbody tr")).map((tr) => {
				const sig = tr.querySelector("code.signature");
				return {
					id: tr.getAttribute("data-crash"),
					status: tr.getAttribute("data-status"),
					statusText: (tr.querySelector(".crash-status") || {}).textContent,
					signature: sig ? sig.textContent : null,
					elementsInSignature: sig ? sig.children.length : -1,
					download: !!tr.querySelector("a.reproducer"),
				};
			}),
		};
	});
}

// "2 057" (narrow no-break spaces between thousands) -> 2057; anything else -> NaN.
function number(text) {
	const digits = text.replace(/[\s\u202f]/g, "");
	return /^\d+$/.test(digits) ? Number(digits) : NaN;
}

web.run(async () => {
	const doc = await waitFor(pkg + "'s fuzz target and an open crash with \"" + signature + "\" in GET /fuzz", async () => {
		const d = await api("/fuzz");
		return (d.fuzzers || []).some((f) => f.package === pkg && typeof f.exec_per_sec === "number") && pick(d) ? d : null;
	}, 60000);
	const crash = pick(doc);
	const mine = doc.fuzzers.filter((f) => f.package === pkg);
	console.log("# " + doc.fuzzers.length + " fuzz targets, " + doc.crashes.length + " crashes; crash " + crash.id + " of " +
		crash.package + ": " + crash.signature);

	const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
	const errors = [], dialogs = [];
	try {
		const page = await browser.newPage();
		page.on("pageerror", (e) => errors.push(e.message));
		page.on("dialog", (d) => {
			dialogs.push(d.message());
			d.dismiss().catch(() => {});
		});
		await page.goto(url + "/?token=" + encodeURIComponent(token) + "#/");
		await waitFor("the header's link to the fuzzing page", () =>
			page.evaluate(() => !!document.querySelector('header a[href="#/fuzz"]')));
		await page.click('header a[href="#/fuzz"]');
		const view = await waitFor("the fuzzing page with crash " + crash.id, async () => {
			const v = await shown(page);
			return v && v.crashes.some((c) => c.id === String(crash.id)) ? v : null;
		});
		check("the header's link opens the fuzzing page (" + view.hash + ")", view.hash === "#/fuzz" && view.heading === "Fuzzing", view);

		// The fuzz targets.
		const rows = view.fuzzers.filter((r) => r.package === pkg);
		const key = (f) => f.target + "/" + f.fuzzer;
		check(
			"the fuzz targets' table has " + pkg + "'s " + mine.length + " (" + rows.map(key).join(", ") + ")",
			rows.length === mine.length && mine.every((f) => rows.some((r) => key(r) === key(f))),
			{ rows, api: mine }
		);
		const speeds = rows.map((r) => {
			const f = mine.find((x) => key(x) === key(r));
			return { row: key(r), shown: r.perSec, api: f ? f.exec_per_sec : undefined };
		});
		check(
			pkg + "'s executions per second are numbers, the API's (" + speeds.map((s) => s.shown).join(", ") + ")",
			speeds.length > 0 && speeds.some((s) => !Number.isNaN(number(s.shown))) &&
				speeds.every((s) => (s.api === null ? s.shown === "—" : number(s.shown) === Math.round(s.api))),
			speeds
		);
		check(
			"each of " + pkg + "'s fuzz targets links to its last run",
			rows.every((r) => {
				const f = mine.find((x) => key(x) === key(r));
				return f && r.runs.includes("#/runs/" + f.run);
			}),
			rows
		);

		// The crashes.
		const row = view.crashes.find((c) => c.id === String(crash.id));
		check(
			"crash " + crash.id + " is shown open, its signature as text: " + row.signature,
			row.status === "open" && row.statusText === "open" && row.signature === crash.signature &&
				row.signature.includes(signature) && row.elementsInSignature === 0,
			row
		);
		const firstFixed = view.crashes.findIndex((c) => c.status === "fixed");
		check(
			"the crashes' table has a row per crash (" + view.crashes.length + "), the open ones first",
			view.crashes.length === doc.crashes.length &&
				(firstFixed < 0 || view.crashes.slice(firstFixed).every((c) => c.status === "fixed")),
			view.crashes.map((c) => [c.id, c.status])
		);

		// Its reproducer, as the page downloads it and as the API serves it.
		const r = crash.reproducer;
		const served = await fetch(url + r.url, { headers: { Authorization: "Bearer " + token } });
		const bytes = Buffer.from(await served.arrayBuffer());
		check(
			"GET " + r.url + " serves " + bytes.length + " bytes, the size and SHA-256 the API gives",
			served.ok && bytes.length === r.size && crypto.createHash("sha256").update(bytes).digest("hex") === r.sha256,
			{ status: served.status, size: bytes.length, api: r }
		);
		const link = 'table#crashes tr[data-crash="' + crash.id + '"] a.reproducer';
		const [download] = await Promise.all([page.waitForEvent("download", { timeout: 20000 }), page.click(link)]);
		const file = await download.path();
		const saved = file ? fs.readFileSync(file) : Buffer.alloc(0);
		const name = "crash-" + r.sha256.slice(0, 12);
		check(
			"the page's download is " + name + " with exactly the served bytes (" + saved.length + ")",
			download.suggestedFilename() === name && saved.equals(bytes),
			{ name: download.suggestedFilename(), size: saved.length, head: saved.subarray(0, 64).toString("hex") }
		);
		const failed = await page.evaluate(() => Array.from(document.querySelectorAll("#crashes span.error")).map((s) => s.textContent));
		check("the download reported no error", failed.length === 0, failed);

		check("no script error (" + errors.join("; ") + ")", errors.length === 0);
		check("no dialog", dialogs.length === 0, dialogs);
	} finally {
		await browser.close();
	}
});
