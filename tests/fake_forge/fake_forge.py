#!/usr/bin/env python3
"""A fake forge for ripple's tests: GitHub's, GitLab's and Gitea's REST
endpoints for commit statuses and PR comments, on 127.0.0.1.

One server speaks all three, by path prefix, as each documents its API:

  GitHub  /repos/O/R/statuses/SHA                     POST  (pending|success|failure|error)
          /repos/O/R/issues/N/comments                GET (per_page, page; Link) / POST
          /repos/O/R/issues/comments/ID               PATCH
          auth  "Authorization: Bearer T" or "Authorization: token T"
  GitLab  /api/v4/projects/ID/statuses/SHA            POST  (pending|running|success|failed|canceled)
          /api/v4/projects/ID/merge_requests/N/notes  GET (per_page, page, sort, order_by;
                                                      X-Next-Page) / POST
          /api/v4/projects/ID/merge_requests/N/notes/NOTE  PUT
          ID is the numeric id or the URL-encoded path ("acme%2Fwidget"); auth "PRIVATE-TOKEN: T"
  Gitea   /api/v1/repos/O/R/statuses/SHA              POST  (pending|success|error|failure|warning)
          /api/v1/repos/O/R/issues/N/comments         GET (whole list, X-Total-Count) / POST
          /api/v1/repos/O/R/issues/comments/ID        PATCH
          auth  "Authorization: token T"

Listings hand out at most 2 items per page, so pagination is always exercised.
A wrong or missing token gets 401 in the forge's own words. A PR exists once
it is seeded (POST /_control {"seed": ...}); statuses take any repository.

Every API request is appended to the --log file as one JSON line: time,
forge, method, path (raw, without the query), query, headers (lower-case
names), body (parsed JSON, else the text), and the status answered. The line
is written before the answer is sent.

Control (never logged, never refused):
  POST /_control with any of
    {"fail_next": N, "status": 500, "after_processing": false, "method": null}
        the next N API requests (of that method only, when given) get
        `status`; with after_processing the request takes effect first (an
        answer lost on the way back)
    {"rate_limit": {"seconds": S, "status": 403|429, "retry_after": true|false}}
        every API request is refused until S seconds from now (rounded up to
        a whole epoch second), as each forge does: GitHub 403 with
        x-ratelimit-remaining: 0 and x-ratelimit-reset (epoch s); GitLab 429
        with RateLimit-Remaining: 0, RateLimit-Reset (epoch s) and
        Retry-After; Gitea 429 with Retry-After
    {"seed": {"forge": "github", "repo": "acme/widget", "number": 7, "bodies": ["..."]}}
    {"delete_comment": ID}
    {"echo_auth": true}    401 answers quote the Authorization header they got
    {"reset": true}
  GET /_control/state  -> {"statuses": [...], "comments": [...]}

Usage: fake_forge.py --token T --log FILE [--port-file FILE] [--parent-pid PID]
The port is printed on stdout (one line) once the server listens, and
written to --port-file (atomically) when given. SIGTERM or SIGINT end it with
status 0; so does the death of --parent-pid. Python 3 standard library only.
"""

import argparse
import json
import math
import os
import re
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote

PAGE_MAX = 2

GITHUB_STATES = {"pending", "success", "failure", "error"}
GITLAB_STATES = {"pending", "running", "success", "failed", "canceled"}
GITEA_STATES = {"pending", "success", "error", "failure", "warning"}
GITLAB_EVENTS = {"pending": "enqueue", "running": "run", "success": "succeed",
                 "failed": "drop", "canceled": "cancel"}
DESCRIPTION_MAX = {"github": 140, "gitlab": 255, "gitea": 255}
BODY_MAX = {"github": 65536, "gitlab": 1000000, "gitea": 65536}
SHA_RE = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.next_id = 1000000001  # over 2^31: ids are 64-bit
        self.statuses = []
        self.comments = {}  # (forge, repo, number) -> [comment]
        self.fail_next = 0
        self.fail_status = 500
        self.fail_after = False
        self.fail_method = None
        self.rate_until = 0
        self.rate_status = None
        self.rate_retry_after = None
        self.echo_auth = False

    def new_id(self):
        i = self.next_id
        self.next_id += 1
        return i


STATE = State()
ARGS = None
LOG_LOCK = threading.Lock()


def log_request(entry):
    with LOG_LOCK:
        with open(ARGS.log, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
            f.flush()


class Answer:
    def __init__(self, status, doc=None, headers=None, text=None):
        self.status = status
        self.doc = doc
        self.headers = headers or []
        self.text = text


def not_found(forge):
    if forge == "github":
        return Answer(404, {"message": "Not Found",
                            "documentation_url": "https://docs.github.com/rest"})
    if forge == "gitlab":
        return Answer(404, {"message": "404 Not found"})
    return Answer(404, {"message": "The target couldn't be found.", "url": "http://fake/api/swagger"})


def unprocessable(forge, message):
    if forge == "github":
        return Answer(422, {"message": "Validation Failed",
                            "errors": [{"resource": "Status", "code": "custom", "message": message}],
                            "documentation_url": "https://docs.github.com/rest"})
    if forge == "gitlab":
        return Answer(400, {"message": message})
    return Answer(422, {"message": message, "url": "http://fake/api/swagger"})


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-forge/1"

    def log_message(self, fmt, *args):  # quiet: the JSON log is the record
        pass

    # ---- plumbing ----------------------------------------------------------

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def send(self, answer):
        if answer.text is not None:
            payload = answer.text.encode()
            ctype = "text/plain; charset=utf-8"
        else:
            payload = json.dumps(answer.doc if answer.doc is not None else {}).encode()
            ctype = "application/json; charset=utf-8"
        self.send_response(answer.status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in answer.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_PATCH(self):
        self.handle_any("PATCH")

    def do_DELETE(self):
        self.handle_any("DELETE")

    def handle_any(self, method):
        raw = self.read_body()
        path, _, query = self.path.partition("?")
        if path.startswith("/_control"):
            self.send(self.control(method, path, raw))
            return
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        if path.startswith("/api/v4/"):
            forge, rest = "gitlab", path[len("/api/v4"):]
        elif path.startswith("/api/v1/"):
            forge, rest = "gitea", path[len("/api/v1"):]
        else:
            forge, rest = "github", path
        params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        answer = self.answer(forge, method, rest, path, params, body)
        log_request({"time": time.time(), "forge": forge, "method": method, "path": path,
                     "query": query, "headers": {k.lower(): v for k, v in self.headers.items()},
                     "body": body, "status": answer.status})
        self.send(answer)

    # ---- control -----------------------------------------------------------

    def control(self, method, path, raw):
        s = STATE
        if method == "GET" and path == "/_control/state":
            with s.lock:
                comments = [dict(c, forge=k[0], repo=k[1], number=k[2])
                            for k, lst in s.comments.items() for c in lst]
                return Answer(200, {"statuses": list(s.statuses), "comments": comments})
        if method != "POST" or path != "/_control":
            return Answer(404, {"message": "no such control"})
        try:
            doc = json.loads(raw or b"{}")
        except ValueError:
            return Answer(400, {"message": "control: not JSON"})
        with s.lock:
            if doc.get("reset"):
                s.reset()
            if "fail_next" in doc:
                s.fail_next = int(doc["fail_next"])
                s.fail_status = int(doc.get("status", 500))
                s.fail_after = bool(doc.get("after_processing", False))
                s.fail_method = doc.get("method")
            if "rate_limit" in doc:
                rl = doc["rate_limit"]
                s.rate_until = math.ceil(time.time() + float(rl.get("seconds", 1)))
                s.rate_status = rl.get("status")
                s.rate_retry_after = rl.get("retry_after")
            if "seed" in doc:
                sd = doc["seed"]
                key = (sd["forge"], sd["repo"], int(sd["number"]))
                lst = s.comments.setdefault(key, [])
                for b in sd.get("bodies", []):
                    lst.append({"id": s.new_id(), "body": b, "user": "someone", "system": False})
                for b in sd.get("system_notes", []):
                    lst.append({"id": s.new_id(), "body": b, "user": "gitlab", "system": True})
            if "delete_comment" in doc:
                cid = int(doc["delete_comment"])
                for lst in s.comments.values():
                    lst[:] = [c for c in lst if c["id"] != cid]
            if "echo_auth" in doc:
                s.echo_auth = bool(doc["echo_auth"])
        return Answer(200, {"ok": True})

    # ---- the API -----------------------------------------------------------

    def answer(self, forge, method, rest, path, params, body):
        s = STATE
        with s.lock:
            fails = s.fail_next > 0 and s.fail_method in (None, method)
            if fails and not s.fail_after:
                s.fail_next -= 1
                return Answer(s.fail_status, {"message": "fake outage"})
            now = time.time()
            if s.rate_until > now:
                return self.rate_limited(forge, now)
            denied = self.check_auth(forge)
            if denied:
                return denied
            answer = self.route(forge, method, rest, path, params, body)
            if fails and s.fail_after:
                s.fail_next -= 1
                return Answer(s.fail_status, {"message": "fake outage after the fact"})
            return answer

    def rate_limited(self, forge, now):
        s = STATE
        reset = int(s.rate_until)
        wait = max(1, math.ceil(s.rate_until - now))
        if forge == "github":
            headers = [("x-ratelimit-limit", "5000"), ("x-ratelimit-remaining", "0"),
                       ("x-ratelimit-used", "5000"), ("x-ratelimit-reset", str(reset)),
                       ("x-ratelimit-resource", "core")]
            if s.rate_retry_after:
                headers.append(("retry-after", str(wait)))
            return Answer(s.rate_status or 403,
                          {"message": "API rate limit exceeded for user ID 1.",
                           "documentation_url": "https://docs.github.com/rest/rate-limit"}, headers)
        if forge == "gitlab":
            headers = [("RateLimit-Name", "throttle_authenticated_api"), ("RateLimit-Limit", "60"),
                       ("RateLimit-Observed", "67"), ("RateLimit-Remaining", "0"),
                       ("RateLimit-Reset", str(reset)),
                       ("RateLimit-ResetTime", time.strftime("%a, %d %b %Y %H:%M:%S GMT",
                                                             time.gmtime(reset)))]
            if s.rate_retry_after is not False:
                headers.append(("Retry-After", str(wait)))
            return Answer(s.rate_status or 429, None, headers, text="Retry later\n")
        headers = [("Retry-After", str(wait))] if s.rate_retry_after is not False else []
        return Answer(s.rate_status or 429, {"message": "too many requests"}, headers)

    def check_auth(self, forge):
        token = ARGS.token
        if forge == "gitlab":
            ok = self.headers.get("PRIVATE-TOKEN") == token
            got = self.headers.get("PRIVATE-TOKEN") or ""
        else:
            got = self.headers.get("Authorization") or ""
            allowed = {"token " + token} if forge == "gitea" else {"Bearer " + token, "token " + token}
            ok = got in allowed
        if ok:
            return None
        echo = (" (got '%s')" % got) if STATE.echo_auth else ""
        if forge == "github":
            return Answer(401, {"message": "Bad credentials" + echo,
                                "documentation_url": "https://docs.github.com/rest"})
        if forge == "gitlab":
            return Answer(401, {"message": "401 Unauthorized" + echo})
        return Answer(401, {"message": "token is required" + echo, "url": "http://fake/api/swagger"})

    def route(self, forge, method, rest, path, params, body):
        if forge == "gitlab":
            m = re.match(r"^/projects/([^/]+)/(.*)$", rest)
            if not m:
                return not_found(forge)
            project, tail = m.group(1), m.group(2)
            repo = unquote(project)
            if not project.isdigit() and "%2F" not in project.upper():
                return not_found(forge)
            if (m := re.match(r"^statuses/([^/]+)$", tail)) and method == "POST":
                return self.create_status(forge, repo, m.group(1), body)
            if (m := re.match(r"^merge_requests/(\d+)/notes$", tail)):
                if method == "GET":
                    return self.list_comments(forge, repo, int(m.group(1)), path, params)
                if method == "POST":
                    return self.create_comment(forge, repo, int(m.group(1)), body)
            if (m := re.match(r"^merge_requests/(\d+)/notes/(\d+)$", tail)) and method == "PUT":
                return self.edit_comment(forge, repo, int(m.group(1)), int(m.group(2)), body)
            return not_found(forge)
        m = re.match(r"^/repos/([^/]+)/([^/]+)/(.*)$", rest)
        if not m:
            return not_found(forge)
        repo, tail = m.group(1) + "/" + m.group(2), m.group(3)
        if (m := re.match(r"^statuses/([^/]+)$", tail)) and method == "POST":
            return self.create_status(forge, repo, m.group(1), body)
        if (m := re.match(r"^issues/(\d+)/comments$", tail)):
            if method == "GET":
                return self.list_comments(forge, repo, int(m.group(1)), path, params)
            if method == "POST":
                return self.create_comment(forge, repo, int(m.group(1)), body)
        if (m := re.match(r"^issues/comments/(\d+)$", tail)) and method == "PATCH":
            return self.edit_comment(forge, repo, None, int(m.group(1)), body)
        return not_found(forge)

    # ---- statuses ----------------------------------------------------------

    def create_status(self, forge, repo, sha, body):
        s = STATE
        if not isinstance(body, dict):
            return unprocessable(forge, "the body is not a JSON object")
        if not SHA_RE.match(sha):
            return unprocessable(forge, "No commit found for SHA: " + sha)
        state = body.get("state")
        allowed = {"github": GITHUB_STATES, "gitlab": GITLAB_STATES, "gitea": GITEA_STATES}[forge]
        if state not in allowed:
            if forge == "gitlab":
                return Answer(400, {"error": "state does not have a valid value"})
            return unprocessable(forge, "state is not one of " + ", ".join(sorted(allowed)))
        desc = body.get("description")
        if desc is not None and len(desc) > DESCRIPTION_MAX[forge]:
            return unprocessable(forge, "description is too long (maximum is %d characters)"
                                 % DESCRIPTION_MAX[forge])
        name = body.get("name") or body.get("context") if forge == "gitlab" else body.get("context")
        name = name or "default"
        if forge == "gitlab":
            last = [st for st in s.statuses
                    if st["forge"] == forge and st["repo"] == repo and st["sha"] == sha
                    and st["context"] == name]
            if last and last[-1]["state"] == state:
                event = GITLAB_EVENTS[state]
                return Answer(400, {"message": "Cannot transition status via :%s from :%s "
                                               "(Reason(s): Status cannot transition via \"%s\")"
                                               % (event, state, event)})
        st = {"id": s.new_id(), "forge": forge, "repo": repo, "sha": sha, "state": state,
              "context": name, "description": desc, "target_url": body.get("target_url")}
        s.statuses.append(st)
        if forge == "github":
            doc = {"id": st["id"], "state": state, "description": desc,
                   "target_url": st["target_url"], "context": name,
                   "creator": {"login": "ripple-bot"}}
        elif forge == "gitlab":
            doc = {"id": st["id"], "sha": sha, "status": state, "name": name,
                   "target_url": st["target_url"], "description": desc,
                   "author": {"username": "ripple-bot"}, "allow_failure": False}
        else:
            doc = {"id": st["id"], "status": state, "context": name, "description": desc,
                   "target_url": st["target_url"], "creator": {"login": "ripple-bot"}}
        return Answer(201, doc)

    # ---- comments ----------------------------------------------------------

    def comment_doc(self, forge, repo, number, c):
        if forge == "gitlab":
            return {"id": c["id"], "body": c["body"], "system": c["system"],
                    "author": {"username": c["user"]}, "noteable_type": "MergeRequest",
                    "noteable_iid": number}
        return {"id": c["id"], "body": c["body"], "user": {"login": c["user"]},
                "html_url": "http://fake/%s/pull/%d#issuecomment-%d" % (repo, number, c["id"])}

    def list_comments(self, forge, repo, number, path, params):
        lst = STATE.comments.get((forge, repo, number))
        if lst is None:
            return not_found(forge)
        items = sorted(lst, key=lambda c: c["id"])
        if forge == "gitea":
            # Gitea's issue comment listing has no page parameters: the whole list.
            return Answer(200, [self.comment_doc(forge, repo, number, c) for c in items],
                          [("X-Total-Count", str(len(items)))])
        if forge == "gitlab" and params.get("sort", "desc") == "desc":
            items.reverse()
        try:
            per_page = max(1, min(int(params.get("per_page", 30 if forge == "github" else 20)), 100))
            page = max(1, int(params.get("page", 1)))
        except ValueError:
            return Answer(400, {"message": "bad page parameters"})
        per_page = min(per_page, PAGE_MAX)
        pages = max(1, math.ceil(len(items) / per_page))
        chunk = items[(page - 1) * per_page: page * per_page]
        docs = [self.comment_doc(forge, repo, number, c) for c in chunk]
        base = "http://%s%s" % (self.headers.get("Host", "127.0.0.1"), path)
        keep = {k: v for k, v in params.items() if k not in ("page", "per_page")}
        extra = "".join("&%s=%s" % (k, v) for k, v in sorted(keep.items()))

        def link(p):
            return "<%s?per_page=%d&page=%d%s>" % (base, per_page, p, extra)

        rels = []
        if page > 1:
            rels.append('%s; rel="prev"' % link(page - 1))
        if page < pages:
            rels.append('%s; rel="next"' % link(page + 1))
        rels.append('%s; rel="last"' % link(pages))
        rels.append('%s; rel="first"' % link(1))
        headers = [("Link", ", ".join(rels))]
        if forge == "gitlab":
            headers += [("X-Page", str(page)), ("X-Per-Page", str(per_page)),
                        ("X-Next-Page", str(page + 1) if page < pages else ""),
                        ("X-Prev-Page", str(page - 1) if page > 1 else ""),
                        ("X-Total", str(len(items))), ("X-Total-Pages", str(pages))]
        return Answer(200, docs, headers)

    def create_comment(self, forge, repo, number, body):
        s = STATE
        lst = s.comments.get((forge, repo, number))
        if lst is None:
            return not_found(forge)
        text = body.get("body") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text:
            return unprocessable(forge, "body is missing")
        if len(text) > BODY_MAX[forge]:
            return unprocessable(forge, "Body is too long (maximum is %d characters)" % BODY_MAX[forge])
        c = {"id": s.new_id(), "body": text, "user": "ripple-bot", "system": False}
        lst.append(c)
        return Answer(201, self.comment_doc(forge, repo, number, c))

    def edit_comment(self, forge, repo, number, cid, body):
        s = STATE
        text = body.get("body") if isinstance(body, dict) else None
        for (f, r, n), lst in s.comments.items():
            if f != forge or r != repo or (number is not None and n != number):
                continue
            for c in lst:
                if c["id"] == cid:
                    if not isinstance(text, str) or not text:
                        return unprocessable(forge, "body is missing")
                    if len(text) > BODY_MAX[forge]:
                        return unprocessable(forge, "Body is too long (maximum is %d characters)"
                                             % BODY_MAX[forge])
                    c["body"] = text
                    return Answer(200, self.comment_doc(forge, r, n, c))
        return not_found(forge)


def main():
    global ARGS
    p = argparse.ArgumentParser(description="A fake GitHub/GitLab/Gitea API for ripple's tests.")
    p.add_argument("--token", required=True, help="the one token every forge accepts")
    p.add_argument("--log", required=True, help="JSON-lines file of every API request")
    p.add_argument("--port-file", help="where to write the port once listening")
    p.add_argument("--parent-pid", type=int, help="exit when this process is gone")
    ARGS = p.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    if ARGS.port_file:
        tmp = ARGS.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, ARGS.port_file)

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if ARGS.parent_pid:
        def watch():
            while True:
                try:
                    os.kill(ARGS.parent_pid, 0)
                except ProcessLookupError:
                    stop()
                    return
                except PermissionError:
                    pass
                time.sleep(0.5)
        threading.Thread(target=watch, daemon=True).start()

    sys.stdout.write("%d\n" % port)
    sys.stdout.flush()
    server.serve_forever(poll_interval=0.1)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
