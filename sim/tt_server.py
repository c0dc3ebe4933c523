"""HTTP side of the simulator: the request handler (body reading,
request budget (429), gateway timeout (504), fault injection, routing of
/rest/ paths) and the server.  The API's behaviour lives beside it:
tt_state (SimState: config, budget, faults), tt_oauth (token endpoint),
tt_rest (REST reads), tt_billing, tt_subscriptions, tt_photos and
tt_admin (the /__sim admin API)."""

import json
import re
import socket
import struct
import sys
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

import tt_tenant
from tt_admin import AdminRoutes
from tt_errors import ApiError, OAuthError
from tt_http import php_json
from tt_photos import PhotoRoute
from tt_oauth import TokenRoute

MAX_BODY = 8 * 1024 * 1024


class Handler(TokenRoute, PhotoRoute, AdminRoutes, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tracktik-sim/1.0"

    def version_string(self):
        return self.server_version

    # -- plumbing ------------------------------------------------------

    def log_message(self, fmt, *args):
        if not self.server.quiet:
            sys.stderr.write("tracktik-sim: %s %s\n" % (
                self.address_string(), fmt % args))

    def log_request(self, code="-", size="-"):
        path = self.path.split("?", 1)[0]
        if path.startswith("/rest/"):
            route = re.sub(r"/\d+(?=/|$)", "/{id}", path)
            st = self.server.state
            with st.lock:
                st.responses["%s %s %s" % (self.command, route,
                                           getattr(code, "value", code))] += 1
        if not self.server.quiet:
            sys.stderr.write("tracktik-sim: %s %s %s\n" % (
                self.command, path, code))

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                if len(data) > MAX_BODY:
                    raise OverflowError(len(data))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise OverflowError(length)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status, body, ctype="application/json", headers=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _api(self, status, obj, headers=None):
        self._send(status, php_json(obj), headers=headers)

    def _drop(self):
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def do_GET(self):
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    # -- dispatch ------------------------------------------------------

    def _handle(self):
        try:
            self._dispatch()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:      # a simulator bug: say so, keep serving
            traceback.print_exc(file=sys.stderr)
            self.close_connection = True
            try:
                self._api(500, {"status": 500,
                                "error": "Internal Server Error"})
            except OSError:
                pass

    def _dispatch(self):
        st = self.server.state
        url = urlsplit(self.path)
        path = url.path
        try:
            body = self._read_body()
        except OverflowError:
            self.close_connection = True
            return self._api(413, {"status": 413,
                                   "error": "Request Entity Too Large"})
        except (ValueError, OSError):
            self.close_connection = True
            return self._api(400, {"status": 400,
                                   "error": "Malformed request body"})
        if path.startswith("/__sim/") or path == "/__sim":
            return self._admin_route(path, url.query, body)
        if path.startswith("/uploads/report-photos/"):
            return self._photo(path)
        if not path.startswith("/rest/"):
            return self._api(404, {"status": 404, "error": "Not Found"})
        method = self.command
        route = re.sub(r"/\d+(?=/|$)", "/{id}", path)
        with st.lock:
            st.requests["%s %s" % (method, route)] += 1
            st.counters["requests"] += 1
        wait = st.take_budget()
        if wait is not None:
            with st.lock:
                st.counters["http.429"] += 1
            return self._api(429, {"status": 429, "error": "Too Many "
                                   "Requests: the request budget of this "
                                   "window is spent"},
                             {"Retry-After": str(wait)})
        fault = st.match_fault(method, path, unquote(url.query))
        apply_after = None
        if fault:
            kind = fault["kind"]
            if kind == "drop":
                return self._drop()
            if kind == "body":
                return self._send(fault["status"], fault["body"].encode())
            if kind == "status":
                headers = {}
                if "retryAfter" in fault:
                    headers["Retry-After"] = str(fault["retryAfter"])
                if fault.get("apply"):
                    apply_after = ("status", fault, headers)
                else:
                    return self._api(fault["status"], {
                        "status": fault["status"],
                        "error": "Simulated failure"}, headers)
            if kind == "delay":
                gt = st.config["gateway_timeout"]
                if fault["seconds"] >= gt:
                    time.sleep(gt)
                    return self._gateway_timeout()
                time.sleep(fault["seconds"])
            if kind == "timeout":
                if fault.get("apply"):
                    apply_after = ("timeout", fault, None)
                else:
                    time.sleep(st.config["gateway_timeout"])
                    return self._gateway_timeout()
            if kind == "drop_after":
                apply_after = ("drop", fault, None)
        status, obj, headers = self._route(method, path, url.query, body)
        if apply_after:
            what, fault, hdrs = apply_after
            if what == "drop":
                return self._drop()
            if what == "timeout":
                time.sleep(st.config["gateway_timeout"])
                return self._gateway_timeout()
            return self._api(fault["status"], {"status": fault["status"],
                                               "error": "Simulated failure"},
                             hdrs)
        self._api(status, obj, headers)

    def _gateway_timeout(self):
        with self.server.state.lock:
            self.server.state.counters["http.504"] += 1
        self._api(504, {"status": 504, "error": "Gateway Timeout: the API "
                        "call took longer than the gateway allows"})

    def _route(self, method, path, query, body):
        """-> (status, json object, headers) for /rest/ paths."""
        st = self.server.state
        try:
            if path in ("/rest/oauth2/access_token",
                        "/rest/v1/oauth2/access_token"):
                if method != "POST":
                    raise ApiError(405, "Method Not Allowed",
                                   {"Allow": "POST"})
                return self._token(body)
            if not path.startswith("/rest/v1/"):
                raise ApiError(404, "Not Found")
            st.check_access(self.headers.get("Authorization"))
            parts = [p for p in path[len("/rest/v1/"):].split("/") if p]
            if not parts or parts[0] not in tt_tenant.SERVED or \
                    len(parts) > 4 or len(parts) == 3:
                raise ApiError(404, "Not Found")
            res = parts[0]
            params = parse_qsl(query, keep_blank_values=True)
            if len(parts) == 4:
                if res != "events-subscriptions" or parts[2] != "actions" \
                        or not parts[1].isdigit():
                    raise ApiError(404, "Not Found")
                if method != "POST":
                    raise ApiError(405, "Method Not Allowed",
                                   {"Allow": "POST"})
                body_obj = self._parse_body(body) if body.strip() else {}
                return 200, st.subscription_action(int(parts[1]), parts[3],
                                                   body_obj), None
            if len(parts) == 2:
                if method not in ("GET", "HEAD"):
                    raise ApiError(405, "Method Not Allowed", {"Allow": "GET"})
                if not parts[1].isdigit():
                    raise ApiError(404, "Not Found")
                return 200, st.get_item(res, int(parts[1]), params), None
            if method == "POST" and res == "billing-adhoc-items":
                return 200, st.create_adhoc_item(self._parse_body(body)), None
            if method == "POST" and res == "events-subscriptions":
                return 200, st.create_subscription(self._parse_body(body)), \
                    None
            if method not in ("GET", "HEAD"):
                allow = "GET, POST" if res in ("billing-adhoc-items",
                                               "events-subscriptions") \
                    else "GET"
                raise ApiError(405, "Method Not Allowed", {"Allow": allow})
            return 200, st.list_items(res, params), None
        except ApiError as e:
            return e.status, {"status": e.status, "error": e.message}, \
                e.headers
        except OAuthError as e:
            return e.status, e.body(), {"Cache-Control": "no-store"}

    def _parse_body(self, body):
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip()
        if ctype == "application/x-www-form-urlencoded":
            return dict(parse_qsl(body.decode("utf-8", "replace"),
                                  keep_blank_values=True))
        try:
            return json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise ApiError(400, "The request body is not valid JSON")


class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, state, quiet=False):
        ThreadingHTTPServer.__init__(self, addr, Handler)
        self.state = state
        self.quiet = quiet
