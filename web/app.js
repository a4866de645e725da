// The ripple dashboard: runs, a run's job matrix, a job's live log.
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

function when(ms) {
	return ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 19) : "";
}

function seconds(ms) {
	return ms ? (ms / 1000).toFixed(1) + " s" : "";
}

function show(...nodes) {
	app.replaceChildren(...nodes);
}

function failure(e) {
	show(el("p", { class: "error" }, "cannot load: " + e.message));
}

// ---- runs ------------------------------------------------------------------

async function runsPage() {
	const data = await getJSON("/runs?limit=100");
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

async function runPage(id) {
	const data = await getJSON("/runs/" + id);
	const run = data.run;
	const targets = data.targets.filter((t) => data.jobs.some((j) => j.target === t));
	const packages = [];
	for (const j of data.jobs) if (!packages.includes(j.package)) packages.push(j.package);
	const byCell = new Map(data.jobs.map((j) => [j.package + "\u0000" + j.target, j]));
	const head = el("tr", {}, el("th", {}, "package"), ...targets.map((t) => el("th", {}, t)));
	const rows = packages.map((p) =>
		el(
			"tr",
			{},
			el("th", { class: "package" }, p),
			...targets.map((t) => {
				const j = byCell.get(p + "\u0000" + t);
				if (!j) return el("td", { class: "cell none" }, "");
				const label = (j.status || j.state) + (j.cached ? " (cached)" : "");
				return el(
					"td",
					{ class: cellClass(j), "data-package": p, "data-target": t, "data-status": j.status || j.state,
					  "data-cached": j.cached ? "1" : "0", title: j.first_error || "" },
					link("#/jobs/" + j.id, label)
				);
			})
		)
	);
	const failures = data.jobs
		.filter((j) => j.status && j.status !== "pass")
		.map((j) =>
			el(
				"li",
				{},
				link("#/jobs/" + j.id, j.package + " on " + j.target),
				": " + j.status + (j.category ? " (" + j.category + ")" : "") + (j.first_error ? " — " + j.first_error : "")
			)
		);
	show(
		el("p", {}, link("#/", "← runs")),
		el("h1", {}, "Run #" + run.id + " ", el("span", { class: "state " + run.state, id: "run-state" }, run.state)),
		el("p", {}, run.kind + (run.title ? " — " + run.title : "") + (run.change_ref ? " — " + run.change_ref : "")),
		el("table", { id: "matrix" }, head, ...rows),
		failures.length ? el("h2", {}, "Not passing") : null,
		failures.length ? el("ul", { id: "failures" }, ...failures) : null
	);
	return run.state === "done" || run.state === "cancelled" ? 0 : 1000;
}

// ---- one job: its live log -------------------------------------------------------

async function jobPage(id) {
	const job = await getJSON("/jobs/" + id);
	const log = el("pre", { id: "log" });
	const status = el("span", { id: "job-status", class: "state " + (job.status || job.state) }, job.status || job.state);
	show(
		el("p", {}, link("#/runs/" + job.run, "← run #" + job.run)),
		el("h1", {}, job.package + " on " + job.target + " ", status),
		el(
			"table",
			{ class: "facts" },
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
		),
		el("h2", {}, "Log"),
		log
	);
	const controller = new AbortController();
	stopCurrent = () => controller.abort();
	streamLog(id, log, status, controller.signal).catch(() => {});
	return 0;
}

// Server-Sent Events read with fetch, so the token can go in a header.
async function streamLog(id, log, status, signal) {
	const r = await fetch(api + "/jobs/" + id + "/log/stream", { headers: headers(), signal });
	if (!r.ok || !r.body) return;
	const reader = r.body.getReader();
	const decoder = new TextDecoder();
	let buffer = "";
	for (;;) {
		const { value, done } = await reader.read();
		if (done) break;
		buffer += decoder.decode(value, { stream: true });
		let end;
		while ((end = buffer.indexOf("\n\n")) >= 0) {
			const event = buffer.slice(0, end);
			buffer = buffer.slice(end + 2);
			let type = "message";
			const data = [];
			for (const line of event.split("\n")) {
				if (line.startsWith("event: ")) type = line.slice(7);
				else if (line.startsWith("data: ")) data.push(line.slice(6));
				else if (line === "data:") data.push("");
			}
			if (type === "end") {
				const job = await getJSON("/jobs/" + id);
				status.textContent = job.status || job.state;
				status.className = "state " + (job.status || job.state);
				return;
			}
			if (data.length) log.appendChild(document.createTextNode(data.join("\n")));
		}
	}
}

// ---- routing ------------------------------------------------------------------------

let timer = null;

async function render() {
	clearTimeout(timer);
	stopCurrent();
	stopCurrent = () => {};
	const hash = location.hash || "#/";
	let m;
	let again = 0;
	try {
		if ((m = hash.match(/^#\/runs\/(\d+)$/))) again = await runPage(m[1]);
		else if ((m = hash.match(/^#\/jobs\/(\d+)$/))) again = await jobPage(m[1]);
		else again = await runsPage();
	} catch (e) {
		failure(e);
		again = 5000;
	}
	if (again) timer = setTimeout(render, again);
}

window.addEventListener("hashchange", render);
render();
