#!/usr/bin/env bash
# Webhooks of GitHub, GitLab and Gitea into a real `ripple serve`: payloads
# shaped as each forge documents them (tests/fixtures/hooks), signed with
# openssl as each forge signs them, and mis-signed.
#   test_webhooks.sh PATH-TO-examples/generate PATH-TO-ripple FIXTURES-DIR
set -uo pipefail
generate=$(realpath "${1:?usage: test_webhooks.sh GENERATE RIPPLE FIXTURES}")
ripple=$(realpath "${2:?usage: test_webhooks.sh GENERATE RIPPLE FIXTURES}")
fixtures=$(realpath "${3:?usage: test_webhooks.sh GENERATE RIPPLE FIXTURES}")
work=$(mktemp -d)
serve_pid=
cleanup() {
	{
		[ -n "$serve_pid" ] && kill -9 "$serve_pid"
		wait
	} 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

U=$work/u
"$generate" "$U" >/dev/null || fatal "the example universe could not be generated"
cd "$U"
jq '(.packages[] | select(.name == "checkseum") | .test) = "true"' ripple.json >stable.json
printf 'github-secret\n' >"$work/github.secret"
printf 'gitlab-token\n' >"$work/gitlab.token"
printf 'gitea-secret\n' >"$work/gitea.secret"
printf 'forge-token\n' >"$work/forge.token"
cat >"$work/config.json" <<EOF
{
  "public_url": "http://ci.example.org/",
  "forges": {
    "github": { "api_url": "http://127.0.0.1:9/api", "token_file": "forge.token",
                "webhook_secret_file": "github.secret" },
    "gitlab": { "api_url": "http://127.0.0.1:9/api/v4", "webhook_token_file": "gitlab.token" },
    "gitea":  { "api_url": "http://127.0.0.1:9/api/v1", "webhook_secret_file": "gitea.secret" }
  }
}
EOF
# A misspelt key is refused like a manifest error: FILE:LINE:COLUMN, did you mean.
jq '.forges.github.webhook_secret_fil = "x"' "$work/config.json" >"$work/bad-config.json"
"$ripple" serve --config "$work/bad-config.json" --universe stable.json --db "$work/x.db" 2>"$work/bad.err"
status=$?
check "a misspelt config key is exit 2 with its position and a suggestion" \
	'[ $status -eq 2 ] && grep -q "bad-config.json:[0-9]*:[0-9]*: unknown key \"webhook_secret_fil\" (did you mean \"webhook_secret_file\"?)" "$work/bad.err"'

db=$work/hooks.db
"$ripple" serve --config "$work/config.json" --db "$db" --listen 127.0.0.1:0 --universe stable.json \
	--url-file "$work/url" --cache "$work/cache" >"$work/serve.out" 2>"$work/serve.err" &
serve_pid=$!
for _ in $(seq 1 300); do [ -s "$work/url" ] && break; sleep 0.1; done
url=$(cat "$work/url")
[ -n "$url" ] || fatal "ripple serve did not start: $(tail -3 "$work/serve.err")"
api() { curl -s -H "Authorization: Bearer $(cat "$db.api-token")" "$url$1"; }
runs() { api /api/v1/runs | jq '.runs | length'; }

repo=$(realpath repos/cstruct)
brk=$(jq -r .scenarios.api_break.commit scenarios.json)
base=$(git -C repos/cstruct rev-parse main)
payload() { # payload FIXTURE HEAD: the fixture with this universe's repository and commits
	sed -e "s|REPO_URL|file://$2|g" -e "s|HEAD_SHA|$3|g" -e "s|BASE_SHA|$base|g" "$fixtures/hooks/$1"
}
hmac() { openssl dgst -sha256 -hmac "$2" <"$1" | sed 's/^.*= //'; }
deliver() { # deliver FORGE BODY-FILE HEADER... : the status code; the answer in $work/answer
	local forge=$1 body=$2
	shift 2
	curl -s -o "$work/answer" -w '%{http_code}' -X POST -H 'Content-Type: application/json' "$@" \
		--data-binary "@$body" "$url/hooks/$forge"
}

# GitHub: signed, redelivered, mis-signed, unsigned.
payload github_pull_request.json "$repo" "$brk" >"$work/gh.json"
sig=$(hmac "$work/gh.json" github-secret)
before=$(runs)
code=$(deliver github "$work/gh.json" -H "X-GitHub-Event: pull_request" -H "X-GitHub-Delivery: d-1" \
	-H "X-Hub-Signature-256: sha256=$sig")
run=$(jq -r .run "$work/answer")
check "a signed GitHub pull request creates one run (HTTP $code)" \
	'[ "$code" = 200 ] && [ "$(runs)" -eq $((before + 1)) ] && [ "$run" -ge 1 ]'
api "/api/v1/runs/$run" >"$work/run.json"
check "the run tests cstruct at the PR head as a pr run of github:mirage/cstruct#7" \
	'[ "$(jq -r .run.kind "$work/run.json")" = pr ] && [ "$(jq -r .run.change_ref "$work/run.json")" = "github:mirage/cstruct#7" ] &&
	 [ "$(jq -r ".run.change[] | select(.package == \"cstruct\") | .commit" "$work/run.json")" = "$brk" ]'
check "its plan is cstruct, everything downstream and what they build on (all 7 here)" \
	'[ "$(jq "[.jobs[].package] | unique | length" "$work/run.json")" -eq 7 ]'
code=$(deliver github "$work/gh.json" -H "X-GitHub-Event: pull_request" -H "X-GitHub-Delivery: d-1" \
	-H "X-Hub-Signature-256: sha256=$sig")
check "the same delivery again is the same run, not a second one" \
	'[ "$code" = 200 ] && [ "$(jq -r .run "$work/answer")" = "$run" ] && [ "$(jq -r .created "$work/answer")" = false ] &&
	 [ "$(runs)" -eq $((before + 1)) ]'
code=$(deliver github "$work/gh.json" -H "X-GitHub-Event: pull_request" -H "X-GitHub-Delivery: d-2" \
	-H "X-Hub-Signature-256: sha256=$(hmac "$work/gh.json" wrong-secret)")
check "a mis-signed delivery is 401 and creates nothing" \
	'[ "$code" = 401 ] && jq -e .error "$work/answer" >/dev/null && [ "$(runs)" -eq $((before + 1)) ]'
code=$(deliver github "$work/gh.json" -H "X-GitHub-Event: pull_request" -H "X-GitHub-Delivery: d-3")
check "an unsigned delivery is 401 and creates nothing" '[ "$code" = 401 ] && [ "$(runs)" -eq $((before + 1)) ]'
sed 's/"opened"/"opened" /' "$work/gh.json" >"$work/gh-tampered.json"
code=$(deliver github "$work/gh-tampered.json" -H "X-GitHub-Event: pull_request" -H "X-GitHub-Delivery: d-4" \
	-H "X-Hub-Signature-256: sha256=$sig")
check "a body changed after signing is 401" '[ "$code" = 401 ] && [ "$(runs)" -eq $((before + 1)) ]'

# synchronize: a new push to the PR supersedes its older run.
jq --arg sha "$base" '.action = "synchronize" | .pull_request.head.sha = $sha' "$work/gh.json" >"$work/gh-sync.json"
code=$(deliver github "$work/gh-sync.json" -H "X-GitHub-Event: pull_request" -H "X-GitHub-Delivery: d-5" \
	-H "X-Hub-Signature-256: sha256=$(hmac "$work/gh-sync.json" github-secret)")
run2=$(jq -r .run "$work/answer")
check "synchronize creates a new run and cancels the older" \
	'[ "$code" = 200 ] && [ "$run2" != "$run" ] && [ "$(api "/api/v1/runs/$run" | jq -r .run.state)" = cancelled ]'
jq '.action = "closed"' "$work/gh.json" >"$work/gh-closed.json"
code=$(deliver github "$work/gh-closed.json" -H "X-GitHub-Event: pull_request" -H "X-GitHub-Delivery: d-6" \
	-H "X-Hub-Signature-256: sha256=$(hmac "$work/gh-closed.json" github-secret)")
check "closing the pull request cancels its run" \
	'[ "$code" = 200 ] && [ "$(jq -r .cancelled "$work/answer")" = 1 ] && [ "$(api "/api/v1/runs/$run2" | jq -r .run.state)" = cancelled ]'

# A fork's pull request never runs on the process backend.
jq '.pull_request.head.repo.full_name = "someone/cstruct" | .number = 8 | .pull_request.number = 8' \
	"$work/gh.json" >"$work/gh-fork.json"
code=$(deliver github "$work/gh-fork.json" -H "X-GitHub-Event: pull_request" -H "X-GitHub-Delivery: d-7" \
	-H "X-Hub-Signature-256: sha256=$(hmac "$work/gh-fork.json" github-secret)")
fork_run=$(jq -r .run "$work/answer")
check "a fork's pull request runs only on isolating targets" \
	'[ "$code" = 200 ] && [ "$(api "/api/v1/runs/$fork_run" | jq -r "[.jobs[].target] | unique | join(\",\")")" = "$(jq -r "[.targets | to_entries[] | select(.value.runner != \"process\") | .key] | sort | join(\",\")" stable.json)" ]'

# Gitea and GitLab, each signed its own way.
payload gitea_pull_request.json "$repo" "$brk" >"$work/gitea.json"
code=$(deliver gitea "$work/gitea.json" -H "X-Gitea-Event: pull_request" -H "X-Gitea-Delivery: g-1" \
	-H "X-Gitea-Signature: $(hmac "$work/gitea.json" gitea-secret)")
check "a signed Gitea pull request creates a run of gitea:mirage/cstruct#3" \
	'[ "$code" = 200 ] && [ "$(api "/api/v1/runs/$(jq -r .run "$work/answer")" | jq -r .run.change_ref)" = "gitea:mirage/cstruct#3" ]'
code=$(deliver gitea "$work/gitea.json" -H "X-Gitea-Event: pull_request" -H "X-Gitea-Delivery: g-2" \
	-H "X-Gitea-Signature: $(hmac "$work/gitea.json" github-secret)")
check "a Gitea delivery signed with another secret is 401" '[ "$code" = 401 ]'
payload gitlab_merge_request.json "$repo" "$brk" >"$work/gitlab.json"
code=$(deliver gitlab "$work/gitlab.json" -H "X-Gitlab-Event: Merge Request Hook" -H "X-Gitlab-Event-UUID: l-1" \
	-H "X-Gitlab-Token: gitlab-token")
check "a GitLab merge request with its token creates a run of gitlab:mirage/cstruct#4" \
	'[ "$code" = 200 ] && [ "$(api "/api/v1/runs/$(jq -r .run "$work/answer")" | jq -r .run.change_ref)" = "gitlab:mirage/cstruct#4" ]'
code=$(deliver gitlab "$work/gitlab.json" -H "X-Gitlab-Event: Merge Request Hook" -H "X-Gitlab-Token: gitlab-tokeN")
check "a GitLab delivery with a wrong token is 401" '[ "$code" = 401 ]'
jq '.object_attributes.action = "update"' "$work/gitlab.json" >"$work/gitlab-title.json"
code=$(deliver gitlab "$work/gitlab-title.json" -H "X-Gitlab-Event: Merge Request Hook" -H "X-Gitlab-Token: gitlab-token")
check "a GitLab update without new commits is acknowledged and ignored" \
	'[ "$code" = 200 ] && jq -e .ignored "$work/answer" >/dev/null'

# Pushes, and deliveries about other things.
ipaddr=$(realpath repos/ipaddr)
payload github_push.json "$ipaddr" "$(git -C repos/ipaddr rev-parse main)" >"$work/push.json"
before=$(runs)
code=$(deliver github "$work/push.json" -H "X-GitHub-Event: push" -H "X-GitHub-Delivery: p-1" \
	-H "X-Hub-Signature-256: sha256=$(hmac "$work/push.json" github-secret)")
check "a push to a package's branch runs it and its reverse dependencies" \
	'[ "$code" = 200 ] && [ "$(runs)" -eq $((before + 1)) ] && [ "$(api "/api/v1/runs/$(jq -r .run "$work/answer")" | jq -r .run.title)" = "push to github:mirage/ipaddr@main" ]'
jq '.ref = "refs/heads/topic"' "$work/push.json" >"$work/push-topic.json"
code=$(deliver github "$work/push-topic.json" -H "X-GitHub-Event: push" -H "X-GitHub-Delivery: p-2" \
	-H "X-Hub-Signature-256: sha256=$(hmac "$work/push-topic.json" github-secret)")
check "a push to another branch is ignored" '[ "$code" = 200 ] && jq -e .ignored "$work/answer" >/dev/null'
printf '{"zen": "Keep it logically awesome."}' >"$work/ping.json"
code=$(deliver github "$work/ping.json" -H "X-GitHub-Event: ping" -H "X-GitHub-Delivery: z-1" \
	-H "X-Hub-Signature-256: sha256=$(hmac "$work/ping.json" github-secret)")
check "a ping is acknowledged and ignored" '[ "$code" = 200 ] && jq -e .ignored "$work/answer" >/dev/null'
jq '.repository.clone_url = "https://example.org/other.git" | .pull_request.number = 9' "$work/gh.json" >"$work/other.json"
code=$(deliver github "$work/other.json" -H "X-GitHub-Event: pull_request" -H "X-GitHub-Delivery: o-1" \
	-H "X-Hub-Signature-256: sha256=$(hmac "$work/other.json" github-secret)")
check "a repository that is no package is ignored" '[ "$code" = 200 ] && jq -e .ignored "$work/answer" >/dev/null'
printf '{"action": "opened", ' >"$work/trunc.json"
code=$(deliver github "$work/trunc.json" -H "X-GitHub-Event: pull_request" \
	-H "X-Hub-Signature-256: sha256=$(hmac "$work/trunc.json" github-secret)")
check "a signed but truncated payload is 400 with a JSON error" '[ "$code" = 400 ] && jq -e .error "$work/answer" >/dev/null'
code=$(deliver bitbucket "$work/gh.json")
check "an unknown forge is 404" '[ "$code" = 404 ]'
check "no secret or token appears in the server's output" \
	'! grep -q "github-secret\|gitlab-token\|gitea-secret\|forge-token" "$work/serve.out" "$work/serve.err"'

stop_serve
echo "1..$n"
[ "$failures" -eq 0 ]
