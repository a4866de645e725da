#!/usr/bin/env bash
# Browser test of the dashboard: a real `ripple serve --workers 2` on a variant of the
# example universe, driven by dashboard.js in Debian's headless Chromium (playwright-core,
# installed into tests/web/node_modules by scripts/setup). It checks the run's matrix, a
# job's live log while the job runs, the cached marking of a second run, and escaping.
#   test_dashboard.sh PATH-TO-examples/generate PATH-TO-ripple
set -uo pipefail
generate=$(realpath "${1:?usage: test_dashboard.sh GENERATE RIPPLE}")
ripple=$(realpath "${2:?usage: test_dashboard.sh GENERATE RIPPLE}")
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
serve_pid= node_pid=
cleanup() {
	[ -n "$node_pid" ] && kill -9 "$node_pid" 2>/dev/null
	[ -n "$serve_pid" ] && kill -9 "$serve_pid" 2>/dev/null
	# serve's local workers carry the cache path, which holds this test's tag.
	pkill -9 -f "ripple-dashboard-test-$$" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
n=0 failures=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failures=$((failures + 1)); echo "not ok $n - $1"; }
fatal() { not_ok "$1"; echo "1..$n"; exit 1; }

command -v node >/dev/null || fatal "node is missing: run scripts/setup"
[ -x /usr/bin/chromium ] || fatal "/usr/bin/chromium is missing: run scripts/setup"
[ -d "$here/node_modules/playwright-core" ] || fatal "tests/web/node_modules/playwright-core is missing: run scripts/setup"

U=$work/u
"$generate" "$U" >/dev/null || fatal "the example universe could not be generated"
cd "$U"
# checkseum's test is flaky on purpose: pin it. unikernel's test is slow and talks, so its
# log grows while it runs (unikernel is last in the DAG: the browser is up by then); ethif's
# build prints markup and dns's test fails with markup, both shown as text or not at all.
# checkseum's test prints a figure for the history page. The vm target has no worker here.
# cstruct and ipaddr keep their coverage jobs (a column of their own in the matrix); dns's
# would measure nothing of a test that only echoes, end in error and, errors being never
# cached, spoil the check that a second identical run is all cached: dns has none here.
jq '(.packages[] | select(.name == "checkseum") | .test) = "echo \"RIPPLE-METRIC throughput=123 MB/s\""
  | (.packages[] | select(.name == "dns")) |= del(.coverage)
  | del(.targets.vm) | (.packages[] | select(.targets) | .targets) |= map(select(. != "vm"))
  | (.packages[] | select(.name == "unikernel") | .test) =
      "for i in 1 2 3 4 5 6 7 8; do echo \"tick $i\"; sleep 1; done; cd _build && ctest"
  | (.packages[] | select(.name == "ethif") | .build) |= "echo '"'"'<img src=x onerror=alert(1)>'"'"'; " + .
  | (.packages[] | select(.name == "dns") | .test) =
      "echo '"'"'error: <script>alert(2)</script> expected 1, got 2'"'"'; exit 1"' \
	ripple.json >dashboard.json || fatal "jq could not write the variant manifest"

db=$work/dash.db
"$ripple" serve --db "$db" --listen 127.0.0.1:0 --universe dashboard.json --workers 2 \
	--url-file "$work/url" --public-read --cache "$work/cache-ripple-dashboard-test-$$" \
	>"$work/serve.out" 2>"$work/serve.err" &
serve_pid=$!
for _ in $(seq 1 300); do # at most 30 s
	[ -s "$work/url" ] && break
	kill -0 "$serve_pid" 2>/dev/null || break
	sleep 0.1
done
url=$(cat "$work/url" 2>/dev/null)
[ -n "$url" ] || fatal "ripple serve did not start: $(tail -3 "$work/serve.err")"
ok "ripple serve started at $url"

code=$(curl -s -o "$work/index.html" -w '%{http_code}' "$url/")
if [ "$code" = 200 ] && grep -q '<script src="/app.js">' "$work/index.html"; then
	ok "GET / serves the dashboard"
else
	not_ok "GET / serves the dashboard (status $code)"
fi

code=$(curl -s -o "$work/submit.json" -w '%{http_code}' -X POST \
	-H "Authorization: Bearer $(cat "$db.api-token")" -H 'Content-Type: application/json' \
	--data-binary '{"kind": "manual", "title": "<i>dashboard</i> run", "targets": ["unix"]}' "$url/api/v1/runs")
run=$(jq -r .run "$work/submit.json" 2>/dev/null)
if [ "$code" = 201 ] && [ "${run:-0}" -ge 1 ] 2>/dev/null; then
	ok "a run was submitted (run $run)"
else
	fatal "submit answered $code: $(cat "$work/submit.json")"
fi

# The browser script prints "ok - ..." / "not ok - ..." lines (numbered here) and "# ..." notes.
# Every wait inside is bounded (120 s at most); `timeout` bounds the whole.
timeout -k 10 600 node "$here/dashboard.js" "$url" "$run" "$db.api-token" "$U" >"$work/node.out" 2>"$work/node.err" &
node_pid=$!
wait "$node_pid"
node_status=$?
node_pid=
while IFS= read -r line; do
	case "$line" in
	"ok - "*) ok "${line#ok - }" ;;
	"not ok - "*) not_ok "${line#not ok - }" ;;
	*) echo "$line" ;;
	esac
done <"$work/node.out"
if [ "$node_status" -eq 0 ]; then
	ok "the browser script passed"
else
	not_ok "the browser script passed (exit status $node_status)"
	sed 's/^/# node: /' "$work/node.err" | tail -40
fi

kill -TERM "$serve_pid"
for _ in $(seq 1 300); do # at most 30 s; a zombie has exited
	case $(ps -o stat= -p "$serve_pid" 2>/dev/null) in "" | Z*) break ;; esac
	sleep 0.1
done
case $(ps -o stat= -p "$serve_pid" 2>/dev/null) in "" | Z*) ;; *) kill -9 "$serve_pid" ;; esac
wait "$serve_pid"
status=$?
serve_pid=
if [ "$status" -eq 0 ]; then
	ok "serve stops on SIGTERM with status 0"
else
	not_ok "serve stops on SIGTERM with status 0 (status $status)"
	sed 's/^/# serve: /' "$work/serve.err" | tail -20
fi

if ! pgrep -f "ripple-dashboard-test-$$" >/dev/null; then
	ok "serve's local workers stopped with it"
else
	not_ok "serve's local workers stopped with it"
fi
# The local workers write to serve's stderr: a sanitizer build reports there.
if ! grep -q "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$work/serve.err"; then
	ok "no sanitizer report from serve or its workers"
else
	not_ok "no sanitizer report from serve or its workers"
	grep -m 20 -A 5 "ERROR: \|runtime error:" "$work/serve.err" | sed 's/^/# serve: /'
fi

echo "1..$n"
[ "$failures" -eq 0 ]
