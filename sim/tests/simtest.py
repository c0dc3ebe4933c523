"""Test helpers: start the simulator as a real process on a free port and
talk HTTP to it."""

import http.client
import json
import os
import subprocess
import sys
import tempfile
import unittest
from urllib.parse import urlencode

HERE = os.path.dirname(os.path.abspath(__file__))
SIM_DIR = os.path.dirname(HERE)
SIM = os.path.join(SIM_DIR, "tracktik_sim.py")

CLIENT = {"client_id": "demo", "client_secret": "demo-secret"}
USER = {"username": "api", "password": "api-password"}

RESOURCES = ["reports", "clients", "accounts", "positions",
             "report-templates", "report-flags", "contracts", "bill-items",
             "billing-adhoc-items"]


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower())

    @property
    def json(self):
        return json.loads(self.body.decode("utf-8"))


class Sim:
    """One simulator process.  Started with --port 0; the port is read
    from the first line it prints."""

    def __init__(self, *args, env=None):
        self.errfile = tempfile.TemporaryFile()
        full_env = dict(os.environ)
        for key in list(full_env):
            if key.startswith("SIM_") or key == "TRACKTIK_SIM_SECRET":
                del full_env[key]
        full_env.update(env or {})
        self.args = list(args)
        self.proc = subprocess.Popen(
            [sys.executable, SIM, "--port", "0"] + self.args,
            stdout=subprocess.PIPE, stderr=self.errfile, env=full_env)
        line = self.proc.stdout.readline().decode()
        if "listening on http://" not in line:
            self.proc.wait(timeout=30)
            err = self.stderr()
            self.proc.stdout.close()
            self.errfile.close()
            raise RuntimeError("simulator did not start: %s %s" % (line, err))
        self.base = line.split("listening on ")[1].split()[0]
        host, port = self.base[len("http://"):].split(":")
        self.host, self.port = host, int(port)

    def stderr(self):
        self.errfile.seek(0)
        return self.errfile.read().decode("utf-8", "replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        out = self.stderr()
        self.errfile.close()
        return out

    # -- HTTP --------------------------------------------------------------

    def request(self, method, path, body=None, headers=None, form=None,
                json_body=None, token=None, timeout=30):
        headers = dict(headers or {})
        if form is not None:
            body = urlencode(form).encode()
            headers.setdefault("Content-Type",
                               "application/x-www-form-urlencoded")
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers.setdefault("Content-Type", "application/json")
        if token:
            headers["Authorization"] = "Bearer " + token
        conn = http.client.HTTPConnection(self.host, self.port,
                                          timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            return Response(resp.status, {k.lower(): v for k, v in
                                          resp.getheaders()}, data)
        finally:
            conn.close()

    def token_response(self, **params):
        return self.request("POST", "/rest/oauth2/access_token", form=params)

    def password_grant(self):
        params = dict(CLIENT, grant_type="password", **USER)
        resp = self.token_response(**params)
        if resp.status != 200:
            raise AssertionError("password grant failed: %d %s" % (
                resp.status, resp.body[:300]))
        return resp.json

    def token(self):
        return self.password_grant()["access_token"]

    def admin(self, method, path, obj=None):
        resp = self.request(method, "/__sim/" + path, json_body=obj)
        if resp.status != 200:
            raise AssertionError("admin %s %s: %d %s" % (
                method, path, resp.status, resp.body[:300]))
        return resp.json

    def get(self, path, token, **params):
        if params:
            path += "?" + urlencode(params)
        return self.request("GET", path, token=token)


class SimTestCase(unittest.TestCase):
    """A simulator shared by the tests of one class; runtime state (tokens,
    counters, faults, config overrides, billing items) reset before each
    test."""

    sim_args = ("--quiet",)
    sim_env = None

    @classmethod
    def setUpClass(cls):
        cls.sim = Sim(*cls.sim_args, env=cls.sim_env)
        cls.initial_config = cls.sim.admin("GET", "config")

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def setUp(self):
        self.sim.admin("POST", "reset")
        self.sim.admin("POST", "config", self.initial_config)
