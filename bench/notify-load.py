#!/usr/bin/env python3
"""notify-bench's load and measurement (Python standard library).

    notify-load.py latency URL SECRET_FILE MAIL_DIR RATE SECONDS
        posts RATE signed deliveries a second (each a new HIGH incident of
        client 3) for SECONDS, notes when each got its 202, waits for
        every mail in MAIL_DIR, and prints p50/p99/max of the time from
        the 202 to the SMTP server accepting the mail (the file's mtime).
"""

import http.client
import json
import os
import re
import sys
import threading
import time
import urllib.parse

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "sim"))
from tt_delivery import signature  # noqa: E402  (the one Python signer)
from tt_http import read_secret  # noqa: E402

# the shared fixture (t/data/README.md): an approved HIGH report of a site
# of client 3, which the bench's one rule mails
with open(os.path.join(REPO, "t", "data", "reports",
                       "after-hours-dispatch.json")) as f:
    SAMPLE = json.load(f)


def report(rid):
    return dict(SAMPLE, id=rid)


def percentile(values, p):
    values = sorted(values)
    k = min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))
    return values[k]


def latency(url, secret_file, mail_dir, rate, seconds):
    secret = read_secret(secret_file)
    u = urllib.parse.urlsplit(url)
    accepted = {}
    errors = []
    lock = threading.Lock()
    base = 7000000 + (os.getpid() % 1000) * 1000
    total = rate * seconds

    def post(rid):
        body = json.dumps(report(rid)).encode()
        sig = signature(secret, body)
        try:
            c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
            c.request("POST", u.path, body,
                      {"Content-Type": "application/json",
                       "TrackTik-Subscription-Secret": sig})
            r = c.getresponse()
            r.read()
            t = time.time()
            c.close()
        except OSError as e:
            with lock:
                errors.append(str(e))
            return
        with lock:
            if r.status == 202:
                accepted[rid] = t
            else:
                errors.append("HTTP %d" % r.status)

    start = time.time()
    threads = []
    for i in range(total):
        due = start + i / float(rate)
        now = time.time()
        if due > now:
            time.sleep(due - now)
        th = threading.Thread(target=post, args=(base + i,))
        th.start()
        threads.append(th)
    for th in threads:
        th.join()
    sent_for = time.time() - start

    # every accepted incident's mail, by the incident id in its subject
    arrived, seen = {}, set()
    deadline = time.time() + 120
    pattern = re.compile(rb"^Subject: \[HIGH\] incident (\d+) ", re.M)
    while time.time() < deadline and len(arrived) < len(accepted):
        for name in os.listdir(mail_dir):
            if not name.endswith(".eml") or name in seen:
                continue
            seen.add(name)
            path = os.path.join(mail_dir, name)
            with open(path, "rb") as f:
                m = pattern.search(f.read(4096))
            if m and int(m.group(1)) in accepted:
                arrived[int(m.group(1))] = os.stat(path).st_mtime
        time.sleep(0.2)

    lat = [arrived[rid] - accepted[rid] for rid in accepted if rid in arrived]
    print("notify-bench: %d deliveries posted in %.1f s (%.0f/s), %d got "
          "202, %d errors" % (total, sent_for, total / sent_for,
                              len(accepted), len(errors)))
    if not lat:
        print("notify-bench: no mail arrived")
        return 1
    print("notify-bench: webhook 202 -> SMTP accepted, %d mails: p50 %.0f ms"
          "  p99 %.0f ms  max %.0f ms" % (len(lat), percentile(lat, 50) * 1000,
                                          percentile(lat, 99) * 1000,
                                          max(lat) * 1000))
    missing = len(accepted) - len(lat)
    if missing:
        print("notify-bench: %d accepted incidents got no mail in 120 s"
              % missing)
        return 1
    return 1 if errors else 0


if __name__ == "__main__":
    if len(sys.argv) != 7 or sys.argv[1] != "latency":
        sys.exit(__doc__)
    sys.exit(latency(sys.argv[2], sys.argv[3], sys.argv[4],
                     int(sys.argv[5]), int(sys.argv[6])))
