#!/usr/bin/python3
"""Local sinks for the delivery tests: a real SMTP server (aiosmtpd,
Debian's python3-aiosmtpd, with STARTTLS and AUTH as a mail relay does)
and an HTTP server that takes webhook POSTs.  Each message or request is
saved in --out as NNN.json (envelope / method, path, headers, body) and,
for mail, NNN.eml (the message as received).

    sinks.py smtp --port 0 --port-file F --out DIR [--cert C --key K]
             [--user U --password P] [--refuse-rcpt ADDR]...
    sinks.py http --port 0 --port-file F --out DIR [--fail-first N]
             [--fail-status 503] [--retry-after S] [--kill-first PIDFILE]

The HTTP sink keeps one document per Idempotency-Key, as a receiver that
de-duplicates does (Stripe's and the IETF draft's "Idempotency-Key" HTTP
header): the first request with a key is kept in DIR/kept/KEY.json, a
repeat is answered 200 as well and only recorded ("repeat": true).
--kill-first PIDFILE: on the first request, SIGKILL the process whose pid
PIDFILE holds, then answer (the sender died after its request went out
and before it could see the answer).

Runs with /usr/bin/python3: aiosmtpd is a Debian package."""

import argparse
import json
import os
import signal
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _save(out, rec, raw=None):
    n = len([f for f in os.listdir(out) if f.endswith(".json")])
    base = os.path.join(out, "%03d" % n)
    if raw is not None:
        with open(base + ".eml", "wb") as f:
            f.write(raw)
    with open(base + ".json.tmp", "w") as f:
        json.dump(rec, f)
    os.rename(base + ".json.tmp", base + ".json")


def run_smtp(a):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    class Handler:
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            if address in a.refuse_rcpt:
                return "550 5.1.1 <%s>: recipient refused by the test sink" % address
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):
            _save(a.out, {"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
                          "login": session.auth_data.decode() if isinstance(session.auth_data, bytes)
                          else None,
                          "tls": session.ssl is not None}, envelope.original_content)
            return "250 Message accepted for delivery"

    def auth(server, session, envelope, mechanism, data):
        ok = isinstance(data, LoginPassword) and data.login.decode() == a.user and \
            data.password.decode() == a.password
        return AuthResult(success=ok, auth_data=data.login if ok else None)

    kw = {}
    if a.cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.cert, a.key)
        kw.update(tls_context=ctx, require_starttls=True)
    if a.user:
        kw.update(authenticator=auth, auth_required=True, auth_require_tls=bool(a.cert))
    ctl = Controller(Handler(), hostname="127.0.0.1", port=a.port or _free_port(), **kw)
    ctl.start()
    with open(a.port_file, "w") as f:
        f.write(str(ctl.port))
    _wait_for_term()
    ctl.stop()


def _free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def run_http(a):
    state = {"n": 0}
    lock = threading.Lock()

    class H(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                state["n"] += 1
                n = state["n"]
                key = self.headers.get("Idempotency-Key")
                kept = os.path.join(a.out, "kept")
                repeat = bool(key) and os.path.exists(os.path.join(kept, key + ".json"))
                rec = {"method": "POST", "path": self.path, "headers": dict(self.headers.items()),
                       "body": body.decode("utf-8", "replace"), "n": n, "repeat": repeat}
                _save(a.out, rec)
                if key and not repeat and n > a.fail_first and "/" not in key:
                    os.makedirs(kept, exist_ok=True)
                    with open(os.path.join(kept, key + ".json"), "w") as f:
                        json.dump(rec, f)
            if n == 1 and a.kill_first:
                os.kill(int(open(a.kill_first).read()), signal.SIGKILL)
                time.sleep(0.5)
            if n <= a.fail_first:
                self.send_response(a.fail_status)
                if a.retry_after:
                    self.send_header("Retry-After", str(a.retry_after))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            out = b'{"ok":true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    srv = ThreadingHTTPServer(("127.0.0.1", a.port), H)
    with open(a.port_file, "w") as f:
        f.write(str(srv.server_address[1]))
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    _wait_for_term()
    srv.shutdown()


def _wait_for_term():
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    while not done.is_set():
        time.sleep(0.1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=["smtp", "http"])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--refuse-rcpt", action="append", default=[])
    p.add_argument("--fail-first", type=int, default=0)
    p.add_argument("--fail-status", type=int, default=503)
    p.add_argument("--retry-after", type=int, default=0)
    p.add_argument("--kill-first")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    (run_smtp if a.kind == "smtp" else run_http)(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
