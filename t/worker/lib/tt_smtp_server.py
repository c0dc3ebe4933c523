#!/usr/bin/env python3
"""A local SMTP server for the notification tests and `make run`.

Python's standard library only (socketserver).  Every accepted mail is
written, whole, as a file into DIR (NNNNNN.eml, renamed into place once
complete).  Told to fail: DIR/.fail holding "CODE N" makes the next N
mails get that reply to DATA's end (4xx: try later, 5xx: refused) and
the line is counted down.  The chosen port is written to DIR/.port.

    tt_smtp_server.py DIR [PORT [HOST [USER:PASSWORD]]]

PORT 0 or absent: any free port; HOST: the address to listen on
(127.0.0.1); USER:PASSWORD: AUTH PLAIN is offered and required before
MAIL.  STARTTLS is never offered (a sender must refuse to send to a relay
off this host without it).
"""

import base64
import os
import socket
import socketserver
import sys

from tt_testserver import store, take_failure, write_port

class Session(socketserver.StreamRequestHandler):
    def reply(self, line):
        self.wfile.write((line + "\r\n").encode())
        self.wfile.flush()

    def handle(self):
        folder = self.server.folder
        self.reply("220 tt-smtp ready")
        sender, rcpts = None, []
        authed = self.server.auth is None
        while True:
            raw = self.rfile.readline(4096)
            if not raw:
                return
            line = raw.decode("latin-1").rstrip("\r\n")
            verb = line[:4].upper()
            if verb in ("EHLO", "HELO"):
                # one write for a multi-line reply: two small writes meet
                # the client's delayed ACK (40 ms a mail)
                auth = "\r\n250-AUTH PLAIN" if self.server.auth else ""
                self.reply("250-tt-smtp%s\r\n250 8BITMIME" % auth
                           if verb == "EHLO" else "250 tt-smtp")
            elif verb == "AUTH":
                parts = line.split()
                if len(parts) == 2 and parts[1].upper() == "PLAIN":
                    self.reply("334 ")
                    parts.append(self.rfile.readline(4096).decode().strip())
                try:
                    given = base64.b64decode(parts[2]).split(b"\0")
                    ok = b":".join(given[1:]).decode() == self.server.auth
                except (IndexError, ValueError):
                    ok = False
                if ok:
                    authed = True
                    self.reply("235 authenticated")
                else:
                    self.reply("535 authentication failed")
            elif verb == "MAIL":
                if not authed:
                    self.reply("530 authentication required")
                    continue
                sender, rcpts = line[10:].strip(), []
                self.reply("250 ok")
            elif verb == "RCPT":
                if sender is None:
                    self.reply("503 MAIL first")
                    continue
                rcpts.append(line[8:].strip())
                self.reply("250 ok")
            elif verb == "DATA":
                if not rcpts:
                    self.reply("503 RCPT first")
                    continue
                self.reply("354 end with .")
                body = []
                while True:
                    raw = self.rfile.readline(65536)
                    if not raw:
                        return
                    if raw in (b".\r\n", b".\n"):
                        break
                    if raw.startswith(b".."):
                        raw = raw[1:]
                    body.append(raw)
                code = take_failure(folder)
                if code:
                    self.reply("%s forced failure (test)" % code)
                else:
                    head = ("X-TT-Envelope-From: %s\r\n"
                            "X-TT-Envelope-To: %s\r\n"
                            % (sender, ",".join(rcpts)))
                    store(folder, "eml", head.encode() + b"".join(body))
                    self.reply("250 queued")
                sender, rcpts = None, []
            elif verb == "RSET":
                sender, rcpts = None, []
                self.reply("250 ok")
            elif verb == "NOOP":
                self.reply("250 ok")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def get_request(self):
        conn, addr = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, addr


def main():
    folder = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    host = sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1"
    os.makedirs(folder, exist_ok=True)
    server = Server((host, port), Session)
    server.folder = folder
    server.auth = sys.argv[4] if len(sys.argv) > 4 else None
    write_port(folder, server.server_address[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
