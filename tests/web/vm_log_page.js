#!/usr/bin/env node
// Opens a VM job's page in headless Chromium and checks that its log is the guest's
// console as the API serves it (GET /jobs/JOB/log): the page names the job's package and
// target, and its log shows the guest's framed boot and status lines and the tests' own
// output (NEEDLE), as text; no script error, no dialog.
//   node vm_log_page.js URL TOKEN-FILE JOB NEEDLE
// Prints "ok - ..." / "not ok - ..." lines and "# N checks, F failed"; exits 1 when a check
// failed or a wait ran out, 2 on bad arguments. Bounded: 20 s for the page.
"use strict";
const fs = require("fs");
const path = require("path");
const { chromium } = require(path.join(__dirname, "node_modules", "playwright-core"));

const [url, tokenFile, job, needle] = process.argv.slice(2);
if (!url || !tokenFile || !job || !/^\d+$/.test(job) || !needle || process.argv.length > 6) {
	console.error("usage: vm_log_page.js URL TOKEN-FILE JOB NEEDLE");
	process.exit(2);
}
let token;
try {
	token = fs.readFileSync(tokenFile, "utf8").trim();
} catch (e) {
	console.error("vm_log_page.js: " + e.message);
	process.exit(2);
}
const web = require(path.join(__dirname, "lib.js"));
const { check, waitFor } = web;
const api = web.api(url, token);

web.run(async () => {
	const info = await api("/jobs/" + job);
	const served = await fetch(url + "/api/v1/jobs/" + job + "/log", { headers: { Authorization: "Bearer " + token } });
	const console_ = await served.text();
	check("the API's log of job " + job + " is a guest's console", /RIPPLE-VM1 type=status exit=\d+ .* crc=[0-9a-f]{8}/.test(console_));
	const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
	const errors = [], dialogs = [];
	try {
		const page = await browser.newPage();
		page.on("pageerror", (e) => errors.push(e.message));
		page.on("dialog", (d) => {
			dialogs.push(d.message());
			d.dismiss();
		});
		await page.goto(url + "/?token=" + encodeURIComponent(token) + "#/jobs/" + job);
		const shown = await waitFor("the job's log on its page", () =>
			page.evaluate((n) => {
				const pre = document.querySelector("pre#log");
				return pre && pre.textContent.includes(n) && pre.textContent.includes("type=status") ? pre.textContent : null;
			}, needle)
		);
		const body = await page.evaluate(() => document.body.textContent);
		const j = info.job || info;
		check("the page names the package (" + j.package + ") and the vm target", body.includes(j.package) && body.includes(j.target));
		check("the log shows the tests' output: " + needle, shown.includes(needle));
		check("the log shows the guest's framed boot and status lines", /RIPPLE-VM1 type=boot /.test(shown) && /RIPPLE-VM1 type=status exit=0 /.test(shown));
		check("the log is text: no element inside it", await page.evaluate(() => document.querySelector("pre#log").children.length === 0));
		check("no script error (" + errors.join("; ") + ")", errors.length === 0);
		check("no dialog", dialogs.length === 0);
	} finally {
		await browser.close();
	}
});
