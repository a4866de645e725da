#!/usr/bin/env python3
"""A receiver of ripple's outgoing package webhooks (docs/manifest.md,
"notify"), for the tests: it accepts POSTs on any path of 127.0.0.1 and
appends each one to the --log file as one JSON line (path, query, headers
with lower-case names, body parsed as JSON, status answered). The first
--fail-first requests are answered 500, so a sender's retries show.

Usage: receiver.py --log FILE --port-file FILE [--fail-first N] [--parent-pid PID]
SIGTERM ends it with status 0; so does the death of --parent-pid.
"""

import argparse
import http.server
import json
import os
import signal
import sys
import threading
import time
import urllib.parse

LOCK = threading.Lock()
STATE = {"failures_left": 0, "log": None}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the JSON log is the record
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        url = urllib.parse.urlsplit(self.path)
        with LOCK:
            status = 204
            if STATE["failures_left"] > 0:
                STATE["failures_left"] -= 1
                status = 500
            entry = {"time": time.time(), "path": url.path, "query": url.query,
                     "headers": {k.lower(): v for k, v in self.headers.items()},
                     "body": body, "status": status}
            with open(STATE["log"], "a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--parent-pid", type=int)
    a = ap.parse_args()
    STATE["log"] = a.log
    STATE["failures_left"] = a.fail_first
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(tmp, a.port_file)

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if a.parent_pid:
        def watch():
            while True:
                try:
                    os.kill(a.parent_pid, 0)
                except OSError:
                    stop()
                    return
                time.sleep(0.5)
        threading.Thread(target=watch, daemon=True).start()
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
