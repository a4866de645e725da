#!/usr/bin/env node
// Opens a bisection's page in headless Chromium, as a person would, waits for it to be
// done and prints what it shows, then opens the bisected run's page and checks that it
// lists the bisection. One JSON line:
//   {"state", "summary", "culprit", "excerpt", "suspects": [[cell, ...], ...], "probes": N,
//    "run_page_lists": true|false, "errors": [...]}
//   bisect_page.js URL BISECT_ID TOKEN-FILE
// The token goes in the page's address (?token=...), as a user gives it. Bounded: 60 s
// for the bisection to be done, 20 s more for the run page. Exits 1 on script errors.
"use strict";
const fs = require("fs");
const path = require("path");
const { chromium } = require(path.join(__dirname, "node_modules", "playwright-core"));

const [url, bisect, tokenFile] = process.argv.slice(2);
if (!url || !bisect || !/^\d+$/.test(bisect) || !tokenFile) {
	console.error("usage: bisect_page.js URL BISECT_ID TOKEN-FILE");
	process.exit(2);
}
const token = fs.readFileSync(tokenFile, "utf8").trim();

async function main() {
	const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
	try {
		const page = await browser.newPage();
		const errors = [];
		page.on("pageerror", (e) => errors.push(e.message));
		await page.goto(url + "/?token=" + encodeURIComponent(token) + "#/bisects/" + bisect);
		await page.waitForFunction(
			() => {
				const s = document.getElementById("bisect-state");
				return s && s.textContent === "done";
			},
			null,
			{ timeout: 60000 }
		);
		const shown = await page.evaluate(() => {
			const text = (id) => {
				const n = document.getElementById(id);
				return n ? n.textContent : null;
			};
			const suspects = document.querySelector("table#suspects");
			return {
				state: text("bisect-state"),
				summary: text("bisect-summary"),
				culprit: text("culprit"),
				excerpt: text("excerpt"),
				suspects: suspects
					? Array.from(suspects.querySelectorAll("tr"))
							.filter((tr) => tr.querySelector("td"))
							.map((tr) => Array.from(tr.querySelectorAll("td")).map((td) => td.textContent))
					: [],
				probes: Array.from(document.querySelectorAll("table.probes tr")).filter((tr) => tr.querySelector("td"))
					.length,
			};
		});

		// The bisected run, from the API document, with the token the page was given.
		const doc = await page.evaluate(async ([id, t]) => {
			const r = await fetch("/api/v1/bisects/" + id, { headers: { Authorization: "Bearer " + t } });
			if (!r.ok) throw new Error("GET /api/v1/bisects/" + id + ": " + r.status);
			return r.json();
		}, [bisect, token]);
		const run = doc.run;
		await page.evaluate((h) => (location.hash = h), "#/runs/" + run);
		await page.waitForFunction(
			(r) => {
				const h = document.querySelector("h1");
				return document.getElementById("run-state") && h && h.textContent.startsWith("Run #" + r + " ");
			},
			run,
			{ timeout: 20000 }
		);
		const selector = 'ul#bisections a[href="#/bisects/' + bisect + '"]';
		let listed = true;
		try {
			// The list comes with the run's page; give a refresh or two the chance to bring it.
			await page.waitForSelector(selector, { timeout: 5000 });
		} catch (e) {
			listed = false;
		}
		shown.run_page_lists = listed;
		shown.errors = errors;
		console.log(JSON.stringify(shown));
		if (errors.length) {
			console.error("script errors on the page: " + errors.join("; "));
			process.exitCode = 1;
		}
	} finally {
		await browser.close();
	}
}

main().catch((e) => {
	console.error(e.message);
	process.exit(1);
});
