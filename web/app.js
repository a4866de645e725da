// The ripple dashboard: runs, a run's job matrix, a job's live log, a bisection.
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

async function runPage(id, current) {
	// The run's bisections are extra: a server without them (or a failure) shows none.
	const bisecting = getJSON("/bisects?run=" + id).then((d) => d.bisects || [], () => []);
	const data = await getJSON("/runs/" + id);
	const bisects = await bisecting;
	if (!current()) return 0;
	const run = data.run;
	// Flake checks (reruns of a pair's job or of its base) are counted in their pair's cell, not given one.
	const jobs = data.jobs.filter((j) => !j.rerun_of);
	const checks = new Map();
	for (const j of data.jobs) if (j.rerun_of) checks.set(j.rerun_of, (checks.get(j.rerun_of) || []).concat([j]));
	const targets = data.targets.filter((t) => jobs.some((j) => j.target === t));
	const packages = [];
	for (const j of jobs) if (!packages.includes(j.package)) packages.push(j.package);
	const byCell = new Map(jobs.map((j) => [j.package + "\u0000" + j.target, j]));
	const head = el("tr", {}, el("th", {}, "package"), ...targets.map((t) => el("th", {}, t)));
	const rows = packages.map((p) =>
		el(
			"tr",
			{},
			el("th", { class: "package" }, link("#/packages/" + encodeURIComponent(p), p)),
			...targets.map((t) => {
				const j = byCell.get(p + "\u0000" + t);
				if (!j) return el("td", { class: "cell none" }, "");
				const again = checks.get(j.id) || [];
				const failed = again.filter((c) => c.status === "fail").length;
				const label = (j.status || j.state) + (j.cached ? " (cached)" : "") +
					(again.length ? " · run again " + again.length + "×, " + failed + " failed" : "");
				return el(
					"td",
					{ class: cellClass(j), "data-package": p, "data-target": t, "data-status": j.status || j.state,
					  "data-cached": j.cached ? "1" : "0", title: j.first_error || "" },
					link("#/jobs/" + j.id, label)
				);
			})
		)
	);
	const failures = jobs
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
		failures.length ? el("ul", { id: "failures" }, ...failures) : null,
		bisects.length ? el("h2", {}, "Bisections") : null,
		bisects.length ? el("ul", { id: "bisections" }, ...bisects.map(bisectItem)) : null
	);
	if (run.state !== "done" && run.state !== "cancelled") return 1000;
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
	const data = await getJSON("/history/" + encodeURIComponent(name) + "?resolution=" + resolution);
	if (!current()) return 0;
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
		else if ((m = hash.match(/^#\/jobs\/(\d+)$/))) again = await jobPage(m[1], current);
		else if ((m = hash.match(/^#\/bisects\/(\d+)$/))) again = await bisectPage(m[1], current);
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
