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
import time

from tt_testserver import store, take_failure, write_port

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
        record = {"id": self.headers.get("webhook-id"),
                  "timestamp": self.headers.get("webhook-timestamp"),
                  "signatures": self.headers.get("webhook-signature"),
                  "verified": ok, "body": body.decode("utf-8", "replace")}
        store(folder, "json", json.dumps(record).encode())
        self.send_response(204 if ok else 401)
        self.end_headers()


def main():
    folder, secrets = sys.argv[1], sys.argv[2]
    port = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    os.makedirs(folder, exist_ok=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.folder, server.secrets = folder, secrets
    write_port(folder, server.server_address[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
