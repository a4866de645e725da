#!/usr/bin/env node
// Opens a run's page in headless Chromium, as a person would, and prints its matrix:
// one JSON line [{"package", "target", "text"}] of the cells the page shows.
//   run_cells.js URL RUN TOKEN-FILE
// The token goes in the page's address (?token=...), as a user gives it. Bounded: 60 s.
"use strict";
const fs = require("fs");
const path = require("path");
const { chromium } = require(path.join(__dirname, "node_modules", "playwright-core"));

const [url, run, tokenFile] = process.argv.slice(2);
if (!url || !run || !tokenFile) {
	console.error("usage: run_cells.js URL RUN TOKEN-FILE");
	process.exit(2);
}
const token = fs.readFileSync(tokenFile, "utf8").trim();

async function main() {
	const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
	try {
		const page = await browser.newPage();
		const errors = [];
		page.on("pageerror", (e) => errors.push(e.message));
		await page.goto(url + "/?token=" + encodeURIComponent(token) + "#/runs/" + run);
		await page.waitForSelector("table#matrix td.cell", { timeout: 60000 });
		const cells = await page.evaluate(() =>
			Array.from(document.querySelectorAll("table#matrix td.cell[data-package]")).map((td) => ({
				package: td.getAttribute("data-package"),
				target: td.getAttribute("data-target"),
				text: td.textContent,
			}))
		);
		if (errors.length) throw new Error("script errors on the page: " + errors.join("; "));
		console.log(JSON.stringify(cells));
	} finally {
		await browser.close();
	}
}

main().catch((e) => {
	console.error(e.message);
	process.exit(1);
});
