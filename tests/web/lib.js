// What the browser checks of single dashboard pages share (api_page.js, coverage_page.js):
// "ok - ..." / "not ok - ..." lines, bounded waits, the API as the token's owner, and the
// end of the run: "# N checks, F failed" and exit status 0, or 1 after a failed check or
// a wait that ran out.
"use strict";

let n = 0, failed = 0;

function check(what, good, seen) {
	n++;
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

// GET /api/v1/PATH of the server at `url` as the owner of `token`, parsed; throws on a non-2xx.
function api(url, token) {
	return async (p) => {
		const r = await fetch(url + "/api/v1" + p, { headers: { Authorization: "Bearer " + token } });
		const text = await r.text();
		if (!r.ok) throw new Error("GET " + p + ": " + r.status + " " + text);
		return JSON.parse(text);
	};
}

// Polls probe() (in node) until it returns a truthy value; throws after ms with the last value.
async function waitFor(what, probe, ms = 20000) {
	const end = Date.now() + ms;
	let last;
	for (;;) {
		try {
			last = await probe();
		} catch (e) {
			last = "error: " + e.message;
			if (last.includes("has been closed")) throw e;
		}
		if (last && !(typeof last === "string" && last.startsWith("error: "))) return last;
		if (Date.now() > end) throw new Error("timed out waiting for " + what + "; last seen: " + JSON.stringify(last).slice(0, 1000));
		await sleep(200);
	}
}

// Runs main() to its end, then prints the tally and exits with its status.
function run(main) {
	main().then(
		() => {
			console.log("# " + n + " checks, " + failed + " failed");
			process.exit(failed ? 1 : 0);
		},
		(e) => {
			console.log("not ok - " + e.message.split("\n")[0].slice(0, 2000));
			console.error(e.stack || String(e));
			console.log("# " + n + " checks, " + (failed + 1) + " failed");
			process.exit(1);
		}
	);
}

module.exports = { check, sleep, api, waitFor, run };
