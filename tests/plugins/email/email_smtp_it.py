#!/usr/bin/python3
"""email plugin against a real SMTP server (Debian's python3-aiosmtpd) through
the real vigia binary.

The test starts aiosmtpd on free loopback ports (recording every message and
connection to files in a temp dir), starts vigia with the probe plugin (which
publishes delivery.requested on POST /api/_probe/publish and records
delivery.result) and the email plugin, and checks with Python's email
package what arrived: MIME structure, headers, encodings, links. Faults: a
server that is down, slow, answers 4xx then 2xx, 5xx for good, and one that
requires AUTH. Every process is started and stopped here, by pid.

Env (set by ctest): VIGIA_BIN, VIGIA_PLUGIN_DIR, VIGIA_SOURCE_DIR; EMAIL_IT_KEEP=1
keeps the recorded messages (docs/email.md shows one)."""
import asyncio
import email
import email.policy
import email.utils
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime, timezone

try:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP, AuthResult
except ImportError:
    print("FAIL: python3-aiosmtpd is missing (apt-get install python3-aiosmtpd)")
    sys.exit(1)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from vigia_proc import VigiaProcess, check, done, free_port, keep_or_remove  # noqa: E402


# --------------------------------------------------------------- SMTP server
class Recorder:
    """Records each message as NNN.eml + NNN.json; behaves by recipient:
    nouser@ -> 550 at RCPT, reject@ -> 554 after DATA, tempfail@ -> 451
    after DATA the first time of each Message-ID then 250, slow@ -> answers
    DATA after `slow_s` seconds."""

    def __init__(self, directory, slow_s=4.0):
        self.dir = directory
        self.n = 0
        self.connections = 0
        self.seen_temp = set()
        self.slow_s = slow_s
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nouser@"):
            return "550 5.1.1 <%s>: no such user here" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        rcpt = envelope.rcpt_tos[0]
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        if rcpt.startswith("slow@"):
            await asyncio.sleep(self.slow_s)
        with self.lock:
            self.n += 1
            n = self.n
        with open(os.path.join(self.dir, "%03d.eml" % n), "wb") as f:
            f.write(envelope.content)
        meta = {"mail_from": envelope.mail_from, "rcpt": envelope.rcpt_tos,
                "helo": session.host_name, "conn": getattr(session, "conn_no", 0),
                "login": session.auth_data.decode() if session.authenticated else None,
                "tls": session.ssl is not None}
        if rcpt.startswith("reject@"):
            meta["answer"] = 554
        elif rcpt.startswith("tempfail@") and msg["Message-ID"] not in self.seen_temp:
            self.seen_temp.add(msg["Message-ID"])
            meta["answer"] = 451
        else:
            meta["answer"] = 250
        # the .json, renamed into place last, marks a message as recorded
        path = os.path.join(self.dir, "%03d.json" % n)
        with open(path + ".tmp", "w") as f:
            json.dump(meta, f)
        os.replace(path + ".tmp", path)
        if meta["answer"] == 554:
            return "554 5.7.1 message refused by policy"
        if meta["answer"] == 451:
            return "451 4.3.0 try again later"
        return "250 2.0.0 queued as %d" % n

    def messages(self):
        out = []
        # a message still being written (its .json not in place yet) is left
        # for the next call: tests poll this while the server sends
        for name in sorted(os.listdir(self.dir)):
            if name.endswith(".json"):
                meta = json.load(open(os.path.join(self.dir, name)))
                raw = open(os.path.join(self.dir, name[:-5] + ".eml"), "rb").read()
                out.append((raw, meta))
        return out


class CountingSMTP(SMTP):
    def connection_made(self, transport):
        rec = self.event_handler
        with rec.lock:
            rec.connections += 1
            no = rec.connections
        super().connection_made(transport)
        self.session.conn_no = no


class SmtpServer(Controller):
    def __init__(self, handler, port, **kw):
        self.kw = kw
        super().__init__(handler, hostname="127.0.0.1", port=port)

    def factory(self):
        return CountingSMTP(self.handler, **self.kw)


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"vigia" and auth_data.password == b"s3cret pass"
    return AuthResult(success=ok, handled=False, auth_data=auth_data.login)


# --------------------------------------------------------------- vigia
class Vigia(VigiaProcess):
    def __init__(self, tmp, name, email_ini, shutdown="10s"):
        d = os.path.join(tmp, name)
        os.makedirs(d)
        port = free_port()
        super().__init__(d, port,
                         "[server]\nlisten = 127.0.0.1:%d\ndatabase = %s/vigia.db\nplugin_dir = %s\n"
                         "web_root = %s/web\nplugins = probe, email\nlog_level = debug\n"
                         "log_file = %s/vigia.log\nshutdown_timeout = %s\n\n"
                         "[probe]\nenabled_for_tests = true\n\n[email]\n%s\n"
                         % (port, d, os.environ["VIGIA_PLUGIN_DIR"], os.environ["VIGIA_SOURCE_DIR"],
                            d, shutdown, email_ini))

    def request(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def get(self, path):
        return self.request("GET", path)

    def publish(self, payload):
        st, body = self.request("POST", "/api/_probe/publish",
                                {"topic": "delivery.requested", "payload": payload})
        check(st == 200 and body["rc"] == 0, "publish %s: %s %s" % (payload.get("key"), st, body))

    def results(self):
        st, body = self.get("/api/_probe/events?topic=delivery.result")
        return {e["payload"]["key"]: e["payload"] for e in body["events"]}

    def wait_results(self, keys, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            res = self.results()
            if all(k in res for k in keys):
                return res
            time.sleep(0.05)
        res = self.results()
        check(False, "no result for %s within %ss" % ([k for k in keys if k not in res], timeout))
        return res

    def clear(self):
        self.request("DELETE", "/api/_probe/events")


# --------------------------------------------------------------- payloads
def payload(key, to, kind="alert", lang="es", tz="America/Santiago", items=None, count=None,
            channel="email", confirm=None):
    base = "https://vigia.example.org"
    items = items if items is not None else [{
        "topic": "dataset.status_changed", "kind": "down", "portal": "datos",
        "at": "2026-12-01T00:13:10Z", "previous": "up", "current": "down",
        "reason": "HTTP 500",
        "dataset": {"id": "d-1", "name": "presupuesto", "title": "Presupuesto de Ñuble 2026",
                    "organization": "dipres", "organization_title": "Dirección de Presupuestos",
                    "url": "https://datos.gob.cl/dataset/presupuesto",
                    "vigia_url": base + "/#/datasets/d-1"}}]
    links = {"manage": base + "/#/manage/tok-" + key,
             "unsubscribe": base + "/api/unsubscribe/tok-" + key}
    if confirm:
        links["confirm"] = confirm
    return {"v": 1, "key": key, "channel": channel, "to": to, "lang": lang, "tz": tz,
            "kind": kind, "items": items, "count": count if count is not None else len(items),
            "links": links, "list_id": "datos.vigia.example.org"}


def msgid_of(key):
    out = ""
    for b in key.encode():
        c = chr(b)
        if c.isalnum() or c in "!#$%&'*+-/?^_`{|}~":
            out += c
        else:
            out += "=%02X" % b
    return "<%s@example.org>" % out


def check_message(raw, meta, p, subject):
    key = p["key"]
    what = "message %s: " % key
    lines = raw.split(b"\r\n")
    check(b"\n" not in raw.replace(b"\r\n", b""), what + "bare LF")
    check(max(len(line) for line in lines) <= 998, what + "a line over 998")
    m = email.message_from_bytes(raw, policy=email.policy.default)
    check(m.get_content_type() == "multipart/alternative", what + "not multipart/alternative")
    parts = list(m.iter_parts())
    check([x.get_content_type() for x in parts] == ["text/plain", "text/html"],
          what + "parts %s" % [x.get_content_type() for x in parts])
    for x in parts:
        check(x.get_content_charset() == "utf-8", what + "charset %s" % x.get_content_charset())
        check(x["Content-Transfer-Encoding"] == "quoted-printable", what + "CTE")
    check(str(m["Subject"]) == subject, what + "Subject %r != %r" % (str(m["Subject"]), subject))
    raw_subject = raw.split(b"\r\nSubject: ", 1)[1].split(b"\r\n")[0]
    if not subject.isascii():
        check(raw_subject.startswith(b"=?UTF-8?B?"), what + "Subject not RFC 2047: %r"
              % raw_subject)
    check(m["Message-ID"] == msgid_of(key), what + "Message-ID %s" % m["Message-ID"])
    check(m["To"] == "<%s>" % p["to"] or m["To"].addresses[0].addr_spec == p["to"], what + "To")
    check(m["From"].addresses[0].addr_spec == "vigia@example.org", what + "From")
    check(m["From"].addresses[0].display_name == "Vigía", what + "From name")
    d = email.utils.parsedate_to_datetime(str(m["Date"]))
    check(abs((datetime.now(timezone.utc) - d).total_seconds()) < 300, what + "Date %s" % m["Date"])
    check(m["List-Id"] == "<datos.vigia.example.org>", what + "List-Id")
    check(m["List-Unsubscribe"] == "<%s>" % p["links"]["unsubscribe"], what + "List-Unsubscribe")
    check(m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click", what + "-Post")
    check(m["Auto-Submitted"] == "auto-generated", what + "Auto-Submitted")
    check(meta["helo"] == "vigia.test", what + "EHLO name %s" % meta["helo"])
    check(meta["mail_from"] == "bounces@example.org", what + "envelope %s" % meta["mail_from"])
    text = parts[0].get_content()
    html = parts[1].get_content()
    if p["kind"] in ("alert", "digest"):
        check(p["links"]["manage"] in text, what + "manage link in text")
        check('href="%s"' % p["links"]["manage"] in html, what + "manage link in html")
    return m, text, html


# --------------------------------------------------------------- the tests
def test_batch_and_mime(v, rec):
    """Five kinds and languages, one connection; ignores other channels."""
    storm = [dict(payload("x", "x")["items"][0], kind=k, previous=a, current=b)
             for k, a, b in (("down", "up", "down"), ("recovered", "down", "up"),
                             ("degraded", "up", "degraded"))]
    storm[2]["dataset"] = dict(storm[2]["dataset"], title="Gasto <público> & más",
                               vigia_url="https://vigia.example.org/#/datasets/d-3")
    cases = [
        (payload("b1:alert-es", "ana@example.org"),
         "[Vigía] «Presupuesto de Ñuble 2026» dejó de responder"),
        (payload("b2:digest-en", "bob@example.org", kind="digest", lang="en", items=storm,
                 count=40, tz="Europe/Madrid"),
         "[Vigía] Digest: 40 changes in what you follow"),
        (payload("b3:confirm-en", "carla@example.org", kind="confirm", lang="en", items=[],
                 confirm="https://vigia.example.org/api/subscriptions/confirm/c0ffee"),
         "[Vigía] Confirm your subscription"),
        (payload("b4:maint-es", "maintainer@example.org", kind="maintainer"),
         "[Vigía] Su dataset «Presupuesto de Ñuble 2026» dejó de responder"),
        (payload("b5:plain", "dan@example.org", lang="en",
                 items=[dict(storm[0], dataset=dict(storm[0]["dataset"], title="Budget"))]),
         "[Vigía] \"Budget\" went down"),
    ]
    before = rec.connections
    v.publish(payload("b0:other", "ana@example.org", channel="webpush"))
    for p, _ in cases:
        v.publish(p)
    res = v.wait_results([p["key"] for p, _ in cases])
    for p, _ in cases:
        r = res.get(p["key"], {})
        check(r.get("status") == "sent" and r.get("channel") == "email" and r.get("v") == 1
              and "error" not in r, "result of %s: %s" % (p["key"], r))
    time.sleep(0.3)
    check("b0:other" not in v.results(), "a webpush delivery was answered by email")
    msgs = {m["Message-ID"]: (raw, meta) for raw, meta in rec.messages()
            for m in [email.message_from_bytes(raw, policy=email.policy.default)]}
    check(rec.connections - before == 1,
          "one connection for the batch, saw %d" % (rec.connections - before))
    conns = {msgs[msgid_of(p["key"])][1]["conn"] for p, _ in cases if msgid_of(p["key"]) in msgs}
    check(len(conns) == 1, "the batch used connections %s" % conns)
    bodies = {}
    for p, subject in cases:
        if check(msgid_of(p["key"]) in msgs, "no message for %s" % p["key"]):
            raw, meta = msgs[msgid_of(p["key"])]
            check(meta["rcpt"] == [p["to"]], "rcpt of %s" % p["key"])
            bodies[p["key"]] = check_message(raw, meta, p, subject)
    # What changed, in the subscriber's language and zone, with both links.
    _, text, html = bodies.get("b1:alert-es", (None, "", ""))
    for s in ("«Presupuesto de Ñuble 2026» (Dirección de Presupuestos, portal datos) "
              "dejó de responder.", "Cuándo: 2026-11-30 21:13 UTC-03:00",
              "Estado: disponible → caído", "Motivo: HTTP 500",
              "En el portal: https://datos.gob.cl/dataset/presupuesto",
              "En Vigía: https://vigia.example.org/#/datasets/d-1",
              "Horas en America/Santiago"):
        check(s in text, "alert es text lacks %r" % s)
    check('href="https://datos.gob.cl/dataset/presupuesto"' in html, "portal link in html")
    check('href="https://vigia.example.org/#/datasets/d-1"' in html, "vigia link in html")
    _, text, html = bodies.get("b2:digest-en", (None, "", ""))
    check("2026-12-01 01:13 UTC+01:00" in text, "digest time in Europe/Madrid")
    check("(up → degraded)" in text and "recovered" in text, "digest statuses")
    check("And 37 more changes" in text, "digest counts the changes it does not list")
    check("Gasto &lt;público&gt; &amp; más" in html and "Gasto <público> & más" in text,
          "HTML escaping in html only")
    _, text, html = bodies.get("b3:confirm-en", (None, "", ""))
    check("https://vigia.example.org/api/subscriptions/confirm/c0ffee" in text
          and 'href="https://vigia.example.org/api/subscriptions/confirm/c0ffee"' in html,
          "confirm link")
    check("Nothing else will be sent until you confirm" in text, "confirm promise")
    return bodies


def test_faults(v, rec):
    keys = {"f1:nouser": ("nouser@example.org", "failed", "550 5.1.1"),
            "f2:reject": ("reject@example.org", "failed", "554 5.7.1"),
            "f3:temp": ("tempfail@example.org", "retry", "451 4.3.0"),
            "f4:invalid": ("not an address", "failed", "invalid address"),
            "f5:slow": ("slow@example.org", "retry", "timeout")}
    for k, (to, _, _) in keys.items():
        v.publish(payload(k, to))
    res = v.wait_results(list(keys))
    for k, (_, status, err) in keys.items():
        r = res.get(k, {})
        check(r.get("status") == status and err in r.get("error", ""),
              "%s: expected %s with %r, got %s" % (k, status, err, r))
    # The outbox retries the 4xx: same key, now 2xx, same Message-ID.
    v.clear()
    v.publish(payload("f3:temp", "tempfail@example.org"))
    r = v.wait_results(["f3:temp"]).get("f3:temp", {})
    check(r.get("status") == "sent", "4xx then 2xx: %s" % r)
    temp = [(raw, meta) for raw, meta in rec.messages() if meta["rcpt"] == ["tempfail@example.org"]]
    ids = [email.message_from_bytes(raw)["Message-ID"] for raw, _ in temp]
    check([m["answer"] for _, m in temp] == [451, 250] and len(set(ids)) == 1
          and ids[0] == msgid_of("f3:temp"), "the retry carries the same Message-ID: %s" % ids)


def test_stop_drains(tmp, vigias, smtp_port, common):
    """SIGTERM with four messages queued for a slow server: the one in
    flight ends at its timeout or the stop deadline, the rest are answered
    retry ("stopping"), and vigia exits cleanly within shutdown_timeout."""
    sv = Vigia(tmp, "stop", "url = smtp://127.0.0.1:%d\ntimeout = 2s\n%s" % (smtp_port, common),
               shutdown="6s")
    vigias.append(sv)
    keys = ["s%d:stop" % i for i in range(4)]
    for k in keys:
        sv.publish(payload(k, "slow@example.org"))
    time.sleep(0.3)
    t0 = time.time()
    sv.stop()
    took = time.time() - t0
    check(took < 6.0, "stop took %.1fs with a 6s shutdown_timeout" % took)
    log = open(sv.log, errors="replace").read()
    for k in keys:
        check(("retry %s: " % k) in log, "no result logged for %s at stop" % k)
    check("retry s3:stop: not sent: the server is stopping" in log, "s3 was not cancelled")


def test_starttls(tmp, vigias, servers, common):
    """use_tls = required: the message goes over TLS (a self-signed
    certificate for 127.0.0.1 given as ca_file); a server without STARTTLS
    is a retry, never a clear-text send."""
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert], capture_output=True)
    if not check(r.returncode == 0, "openssl: %s" % r.stderr[-300:]):
        return
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    os.makedirs(os.path.join(tmp, "tlsmail"))
    trec = Recorder(os.path.join(tmp, "tlsmail"))
    tport = free_port()
    tsrv = SmtpServer(trec, tport, tls_context=ctx, require_starttls=True)
    tsrv.start()
    servers.append(tsrv)
    tls_common = common.replace("use_tls = none", "use_tls = required")
    tv = Vigia(tmp, "tls", "url = smtp://127.0.0.1:%d\nca_file = %s\n%s" % (tport, cert,
                                                                          tls_common))
    vigias.append(tv)
    tv.publish(payload("t1:tls", "ana@example.org"))
    res = tv.wait_results(["t1:tls"]).get("t1:tls", {})
    check(res.get("status") == "sent", "STARTTLS: %s" % res)
    got = trec.messages()
    check(len(got) == 1 and got[0][1]["tls"], "the message went over TLS: %s"
          % [m for _, m in got])
    tv.stop()
    # The same settings against a server that offers no STARTTLS.
    os.makedirs(os.path.join(tmp, "plainmail"))
    prec = Recorder(os.path.join(tmp, "plainmail"))
    pport = free_port()
    psrv = SmtpServer(prec, pport)
    psrv.start()
    servers.append(psrv)
    pv = Vigia(tmp, "notls", "url = smtp://127.0.0.1:%d\nca_file = %s\n%s" % (pport, cert,
                                                                            tls_common))
    vigias.append(pv)
    pv.publish(payload("t2:notls", "ana@example.org"))
    res = pv.wait_results(["t2:notls"]).get("t2:notls", {})
    check(res.get("status") == "retry" and not prec.messages(),
          "use_tls = required without STARTTLS: %s" % res)
    pv.stop()


def main():
    for k in ("VIGIA_BIN", "VIGIA_PLUGIN_DIR", "VIGIA_SOURCE_DIR"):
        if k not in os.environ:
            raise SystemExit("FAIL: %s is not set (run through ctest)" % k)
    tmp = tempfile.mkdtemp(prefix="email-it-")
    servers, vigias = [], []
    try:
        os.makedirs(os.path.join(tmp, "mail"))
        rec = Recorder(os.path.join(tmp, "mail"))
        smtp_port = free_port()
        srv = SmtpServer(rec, smtp_port)
        srv.start()
        servers.append(srv)
        common = ("use_tls = none\nfrom = vigia@example.org\nenvelope_from = bounces@example.org\n"
                  "helo = vigia.test\nconnect_timeout = 1s\n")
        v = Vigia(tmp, "main", "url = smtp://127.0.0.1:%d\ntimeout = 2s\n%s" % (smtp_port, common))
        vigias.append(v)
        print("== batch, MIME, headers, templates", flush=True)
        test_batch_and_mime(v, rec)
        print("== 5xx, 4xx then 2xx, invalid address, slow server", flush=True)
        test_faults(v, rec)

        print("== stop with messages queued: drained within the budget", flush=True)
        test_stop_drains(tmp, vigias, smtp_port, common)

        print("== server down: retry", flush=True)
        down = Vigia(tmp, "down", "url = smtp://127.0.0.1:%d\n%s" % (free_port(), common))
        vigias.append(down)
        down.publish(payload("d1:down", "ana@example.org"))
        r = down.wait_results(["d1:down"]).get("d1:down", {})
        check(r.get("status") == "retry" and "connection refused" in r.get("error", ""),
              "server down: %s" % r)
        down.stop()

        print("== AUTH required", flush=True)
        os.makedirs(os.path.join(tmp, "authmail"))
        arec = Recorder(os.path.join(tmp, "authmail"))
        aport = free_port()
        asrv = SmtpServer(arec, aport, auth_required=True, auth_require_tls=False,
                          authenticator=authenticator)
        asrv.start()
        servers.append(asrv)
        pw = os.path.join(tmp, "smtp.pass")
        with open(pw, "w") as f:
            f.write("s3cret pass\n")
        os.chmod(pw, 0o600)
        good = Vigia(tmp, "auth", "url = smtp://127.0.0.1:%d\nusername = vigia\n"
                     "password_file = %s\n%s" % (aport, pw, common))
        vigias.append(good)
        good.publish(payload("a1:auth", "ana@example.org"))
        r = good.wait_results(["a1:auth"]).get("a1:auth", {})
        check(r.get("status") == "sent", "with AUTH: %s" % r)
        got = arec.messages()
        check(len(got) == 1 and got[0][1]["login"] == "vigia", "AUTH login seen: %s"
              % [m for _, m in got])
        good.stop()
        bad = Vigia(tmp, "badauth", "url = smtp://127.0.0.1:%d\nusername = vigia\n"
                    "password = wrong\n%s" % (aport, common))
        vigias.append(bad)
        bad.publish(payload("a2:auth", "ana@example.org"))
        r = bad.wait_results(["a2:auth"]).get("a2:auth", {})
        check(r.get("status") == "retry" and "535" in r.get("error", "")
              and r.get("retry_after_ms", 0) > 0, "wrong password: %s" % r)
        noauth = Vigia(tmp, "noauth", "url = smtp://127.0.0.1:%d\n%s" % (aport, common))
        vigias.append(noauth)
        noauth.publish(payload("a3:auth", "ana@example.org"))
        r = noauth.wait_results(["a3:auth"]).get("a3:auth", {})
        check(r.get("status") == "retry" and "530" in r.get("error", ""),
              "AUTH required but not configured: %s" % r)
        bad.stop()
        noauth.stop()

        print("== STARTTLS required", flush=True)
        test_starttls(tmp, vigias, servers, common)
        v.stop()
    finally:
        for x in vigias:
            if x.proc.poll() is None:
                x.proc.kill()
                x.proc.wait()
        for s in servers:
            s.stop()
        keep_or_remove("email_smtp_it", tmp, keep=bool(os.environ.get("EMAIL_IT_KEEP")))
    done("email_smtp_it")


if __name__ == "__main__":
    main()
