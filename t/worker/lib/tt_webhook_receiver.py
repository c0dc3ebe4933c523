#!/usr/bin/env python3
"""A webhook receiver for the notification tests: checks the Standard
Webhooks signature of every POST against the secrets in SECRETS (one
"whsec_..." a line) and writes each delivery as DIR/NNNNNN.json:
{"id", "timestamp", "verified", "body"}.  A bad signature gets 401.

Told to misbehave: DIR/.fail holding "MODE N" applies MODE to the next N
requests: an HTTP status (e.g. 500), "timeout" (answers after 30 s) or
"drop" (closes the connection without an answer).  The chosen port is
written to DIR/.port.

    tt_webhook_receiver.py DIR SECRETS [PORT]
"""

import base64
import hashlib
import hmac
import http.server
import json
import os
import sys
import threading
import time

lock = threading.Lock()
counter = [0]


def take_failure(folder):
    path = os.path.join(folder, ".fail")
    with lock:
        try:
            with open(path) as f:
                mode, n = f.read().split()
        except (OSError, ValueError):
            return None
        n = int(n)
        if n <= 0:
            return None
        with open(path + ".tmp", "w") as f:
            f.write("%s %d\n" % (mode, n - 1))
        os.replace(path + ".tmp", path)
        return mode


def verified(secrets, msg_id, stamp, body, header):
    signed = msg_id.encode() + b"." + stamp.encode() + b"." + body
    given = [s.split(",", 1)[1] for s in header.split() if s.startswith("v1,")]
    for secret in secrets:
        key = base64.b64decode(secret[len("whsec_"):])
        want = base64.b64encode(
            hmac.new(key, signed, hashlib.sha256).digest()).decode()
        if any(hmac.compare_digest(want, g) for g in given):
            return True
    return False


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        folder = self.server.folder
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        mode = take_failure(folder)
        if mode == "drop":
            self.close_connection = True
            self.connection.close()
            return
        if mode == "timeout":
            time.sleep(30)
            return
        if mode:
            self.send_response(int(mode))
            self.end_headers()
            return
        with open(self.server.secrets) as f:
            secrets = [l.strip() for l in f if l.strip()]
        ok = verified(secrets, self.headers.get("webhook-id", ""),
                      self.headers.get("webhook-timestamp", ""), body,
                      self.headers.get("webhook-signature", ""))
        with lock:
            counter[0] += 1
            name = "%06d.json" % counter[0]
        record = {"id": self.headers.get("webhook-id"),
                  "timestamp": self.headers.get("webhook-timestamp"),
                  "signatures": self.headers.get("webhook-signature"),
                  "verified": ok, "body": body.decode("utf-8", "replace")}
        tmp = os.path.join(folder, "." + name + ".tmp")
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.replace(tmp, os.path.join(folder, name))
        self.send_response(204 if ok else 401)
        self.end_headers()


def main():
    folder, secrets = sys.argv[1], sys.argv[2]
    port = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    os.makedirs(folder, exist_ok=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.folder, server.secrets = folder, secrets
    with open(os.path.join(folder, ".port.tmp"), "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.replace(os.path.join(folder, ".port.tmp"),
               os.path.join(folder, ".port"))
    server.serve_forever()


if __name__ == "__main__":
    main()
