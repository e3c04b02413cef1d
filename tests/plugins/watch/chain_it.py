#!/usr/bin/python3
"""The whole chain with real components: the CKAN fixture portal flips a
dataset -> monitor -> (notifications loaded too) -> watch -> email -> a
message received by a real SMTP server (Debian's python3-aiosmtpd, the
recorder of tests/plugins/email/email_smtp_it.py) on a loopback port.

Proves: only the right subscriber hears, in their language and time zone;
nothing but the confirmation is sent before its link is followed (HTTP GET
against the running server); the List-Unsubscribe one-click POST from the
received mail works; SMTP down then up -> the outbox retries and the mail
arrives once with one Message-ID; a 5xx for good -> a dead letter in the
outbox. Every process is started and stopped here, by pid.

Env (set by ctest): VIGIA_BIN, VIGIA_PLUGIN_DIR, VIGIA_SOURCE_DIR, VIGIA_BUILD_DIR."""
import calendar
import email
import email.policy
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "email"))
import email_smtp_it as smtp  # noqa: E402  (the recorder, the server, check())

check = smtp.check


def http(method, url, body=None, ctype="application/json"):
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw[:1] in (b"{", b"[") else raw
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, json.loads(raw) if raw[:1] in (b"{", b"[") else raw


def wait_for(fn, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = fn()
        if r:
            return r
        time.sleep(0.1)
    check(False, "timed out (%ss) waiting for %s" % (timeout, what))
    return None


class Fixture:
    def __init__(self):
        self.port = smtp.free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        binary = os.path.join(os.environ["VIGIA_BUILD_DIR"], "tests/fixtures/ckan-fixture/ckan-fixture")
        self.proc = subprocess.Popen([binary, "--port", str(self.port), "--datasets", "4", "--orgs",
                                      "2", "--resources-per-dataset", "1"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def up():
            try:
                return http("GET", self.base + "/_stats")[0] == 200
            except OSError:
                return False
        if not wait_for(up, 10, "the CKAN fixture"):
            raise SystemExit("FAIL: ckan-fixture did not start")

    def datasets(self):
        st, body = http("GET", self.base + "/api/3/action/package_search?rows=100&sort=id%20asc")
        return body["result"]["results"]

    def set(self, ident, behaviour):
        st, body = http("POST", self.base + "/_control",
                        {"op": "set_dataset", "id": ident, "behaviour": behaviour})
        check(st == 200, "fixture control %s %s: %s %s" % (ident, behaviour, st, body))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=10)


class Vigia:
    def __init__(self, tmp, fixture, smtp_port):
        self.dir = os.path.join(tmp, "vigia")
        os.makedirs(self.dir)
        self.port = smtp.free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.db = os.path.join(self.dir, "vigia.db")
        self.log = os.path.join(self.dir, "vigia.log")
        ini = os.path.join(self.dir, "vigia.ini")
        with open(ini, "w") as f:
            f.write(
                "[server]\nlisten = 127.0.0.1:%d\ndatabase = %s\nplugin_dir = %s\nweb_root = %s/web\n"
                "plugins = monitor, notifications, watch, email, busbridge, rest\nlog_level = debug\n"
                "log_file = %s\nshutdown_timeout = 10s\n\n"
                "[monitor]\napi_delay = 0\ntimeout = 2s\nconnect_timeout = 1s\nper_host = 8\n"
                "per_host_interval = 0\ncontact_url = https://example.invalid/vigia-tests\n\n"
                "[monitor:fx]\nbase_url = %s\ninterval = 1h\nrows = 5\nfail_threshold = 1\n"
                "recover_threshold = 1\n\n"
                "[watch]\npublic_url = %s\ngroup_window = 300ms\ntick = 100ms\nlease = 5s\n"
                "backoff_min = 300ms\nbackoff_max = 1s\nmax_attempts = 20\n"
                "confirm_per_ip = 100\nrequests_per_ip = 100000\n\n"
                "[email]\nurl = smtp://127.0.0.1:%d\nuse_tls = none\nfrom = vigia@example.org\n"
                "helo = vigia.test\ntimeout = 3s\nconnect_timeout = 1s\n"
                % (self.port, self.db, os.environ["VIGIA_PLUGIN_DIR"], os.environ["VIGIA_SOURCE_DIR"],
                   self.log, fixture.base, self.base, smtp_port))
        self.err = open(os.path.join(self.dir, "stderr"), "w")
        self.proc = subprocess.Popen([os.environ["VIGIA_BIN"], "--config", ini],
                                     stdout=self.err, stderr=subprocess.STDOUT)

        def up():
            if self.proc.poll() is not None:
                return True
            try:
                return http("GET", self.base + "/api/health")[0] == 200
            except OSError:
                return False
        wait_for(up, 20, "vigia")
        if self.proc.poll() is not None:
            self.dump()
            raise SystemExit("FAIL: vigia did not start")

    def events(self, topic, since=0):
        st, body = http("GET", self.base + "/test/events?since=%d" % since)
        return [e for e in body["events"] if e["topic"] == topic]

    def last_seq(self):
        return http("GET", self.base + "/test/events?since=0")[1]["next"]

    def sweep(self):
        since = self.last_seq()
        st, body = http("POST", self.base + "/test/call", {"method": "monitor.run_now", "params": {}})
        check(st == 200 and body.get("rc") == 0, "monitor.run_now: %s %s" % (st, body))
        wait_for(lambda: self.events("monitor.sweep_finished", since), 60, "a sweep")

    def subscribe(self, addr, target, lang, tz):
        st, body = http("POST", self.base + "/api/subscriptions",
                        {"email": addr, "target": target, "lang": lang, "tz": tz,
                         "kinds": ["down", "recovered"]})
        check(st == 202, "subscribe %s: %s %s" % (addr, st, body))

    def outbox(self):
        con = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True, timeout=5)
        try:
            return con.execute("SELECT o.key, o.kind, o.state, o.attempts, s.address FROM watch_outbox o"
                               " JOIN watch_subscriber s ON s.id = o.subscriber").fetchall()
        finally:
            con.close()

    def dump(self):
        for p in (self.log, os.path.join(self.dir, "stderr")):
            if os.path.exists(p):
                sys.stderr.write("---- %s\n%s\n" % (p, open(p, errors="replace").read()[-8000:]))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.err.close()
        if not check(rc == 0, "vigia exited with %s" % rc):
            self.dump()


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.default)


def mails(rec, to=None):
    out = []
    for raw, meta in rec.messages():
        if meta["answer"] != 250:
            continue
        if to is None or meta["rcpt"] == [to]:
            out.append(parse(raw))
    return out


def text_of(m):
    return next(m.iter_parts()).get_content()


def link(text, what):
    found = re.search(r"(http://127\.0\.0\.1:\d+/api/subscriptions/%s\?\S+)" % what, text)
    return found.group(1) if found else None


def main():
    for k in ("VIGIA_BIN", "VIGIA_PLUGIN_DIR", "VIGIA_SOURCE_DIR", "VIGIA_BUILD_DIR"):
        if k not in os.environ:
            raise SystemExit("FAIL: %s is not set (run through ctest)" % k)
    tmp = tempfile.mkdtemp(prefix="chain-it-")
    fixture = vigia = srv = None
    try:
        os.makedirs(os.path.join(tmp, "mail"))
        rec = smtp.Recorder(os.path.join(tmp, "mail"))
        smtp_port = smtp.free_port()
        srv = smtp.SmtpServer(rec, smtp_port)
        srv.start()
        fixture = Fixture()
        ds = fixture.datasets()
        check(len(ds) == 4, "fixture datasets: %d" % len(ds))
        vigia = Vigia(tmp, fixture, smtp_port)
        wait_for(lambda: vigia.events("monitor.sweep_finished"), 60, "the baseline sweep")

        print("== two subscribers, double opt-in through the received mail", flush=True)
        a, b = ds[0]["id"], ds[1]["id"]
        vigia.subscribe("alice@example.org", {"type": "dataset", "portal": "fx", "id": a}, "en",
                        "Europe/Madrid")
        vigia.subscribe("bob@example.org", {"type": "dataset", "portal": "fx", "id": b}, "es",
                        "America/Santiago")
        for who in ("alice@example.org", "bob@example.org"):
            got = wait_for(lambda: mails(rec, who), 20, "the confirmation to " + who) or []
            check(len(got) == 1, "%s: %d mails before confirming" % (who, len(got)))
        # Before any link is followed, the dataset goes down: nothing is sent.
        fixture.set(a, "404")
        vigia.sweep()
        time.sleep(1.5)
        check(len(mails(rec)) == 2, "mail sent to an unconfirmed address: %d"
              % len(mails(rec)))
        fixture.set(a, "up")
        vigia.sweep()
        time.sleep(1.0)
        for who in ("alice@example.org", "bob@example.org"):
            m = mails(rec, who)[0]
            url = link(text_of(m), "confirm")
            if check(url is not None, "no confirm link for %s in %r" % (who, text_of(m)[:400])):
                st, body = http("GET", url)
                check(st == 200 and body.get("confirmed") is True, "confirm %s: %s %s"
                      % (who, st, body))

        print("== a flip reaches only the right subscriber, in language and zone", flush=True)
        t0 = time.time()
        fixture.set(a, "404")
        vigia.sweep()
        got = wait_for(lambda: len(mails(rec, "alice@example.org")) >= 2 or None, 20,
                       "alice's alert")
        alert = mails(rec, "alice@example.org")[-1] if got else None
        if alert is not None:
            subject = str(alert["Subject"])
            check("went down" in subject or "down" in subject.lower(),
                  "alice's alert in English: %r" % subject)
            text = text_of(alert)
            check(ds[0]["title"] in subject or ds[0]["title"] in text, "the dataset's title")
            check("UTC+01:00" in text, "time in Europe/Madrid (UTC+01:00 in winter): %r"
                  % text[:600])
            # The change happened at t0 (give or take the sweep): its local time is UTC+1.
            when = re.search(r"When: (\d{4}-\d\d-\d\d \d\d:\d\d) UTC\+01:00", text)
            if check(when is not None, "no local time in the alert"):
                shown = calendar.timegm(time.strptime(when.group(1), "%Y-%m-%d %H:%M"))
                check(abs(shown - 3600 - t0) < 120, "alert shows %s for a change at %s UTC"
                      % (when.group(1), time.strftime("%H:%M", time.gmtime(t0))))
        time.sleep(1.0)
        check(len(mails(rec, "bob@example.org")) == 1, "bob heard of alice's dataset")

        print("== List-Unsubscribe one-click from the received mail", flush=True)
        if alert is not None:
            check(alert["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click", "-Post header")
            url = str(alert["List-Unsubscribe"]).strip("<>")
            check(url.startswith(vigia.base + "/api/subscriptions/unsubscribe?"),
                  "List-Unsubscribe points at the server: %s" % url)
            st, body = http("POST", url, b"List-Unsubscribe=One-Click",
                            "application/x-www-form-urlencoded")
            check(st == 200, "one-click unsubscribe: %s %s" % (st, body))
            fixture.set(a, "up")
            vigia.sweep()
            time.sleep(1.5)
            check(len(mails(rec, "alice@example.org")) == 2,
                  "alice heard of the recovery after unsubscribing")

        print("== SMTP down, then up: one message, one Message-ID", flush=True)
        srv.stop()
        since = vigia.last_seq()
        fixture.set(b, "404")
        vigia.sweep()
        wait_for(lambda: [e for e in vigia.events("delivery.result", since)
                          if e["payload"]["status"] == "retry"], 20, "a retry while SMTP is down")

        # While it is down the row waits: /metrics shows its age growing.
        def oldest():
            st, body = http("GET", vigia.base + "/metrics")
            for line in (body.decode() if isinstance(body, bytes) else "").splitlines():
                if line.startswith("vigia_watch_outbox_oldest_pending_seconds "):
                    return float(line.split()[1]) >= 2
            return False
        wait_for(oldest, 8, "oldest_pending_seconds >= 2 while SMTP is down")
        srv = smtp.SmtpServer(rec, smtp_port)
        srv.start()
        wait_for(lambda: len(mails(rec, "bob@example.org")) >= 2 or None, 30, "bob's alert")
        time.sleep(1.5)
        bob = mails(rec, "bob@example.org")[1:]
        check(len(bob) == 1, "bob's alert arrived %d times" % len(bob))
        if bob:
            check("dejó de responder" in str(bob[0]["Subject"]), "bob's alert in Spanish: %r"
                  % str(bob[0]["Subject"]))
            check("UTC-03:00" in text_of(bob[0]), "time in America/Santiago (UTC-03:00)")
        rows = [r for r in vigia.outbox() if r[4] == "bob@example.org" and r[1] != "confirm"]
        check(len(rows) == 1 and rows[0][2] == "sent" and rows[0][3] >= 2,
              "bob's outbox row after the retry: %s" % rows)
        if rows and bob:
            check(rows[0][0] in bob[0]["Message-ID"] or
                  bob[0]["Message-ID"].startswith("<" + rows[0][0].replace(":", "=3A")),
                  "Message-ID %s carries the key %s" % (bob[0]["Message-ID"], rows[0][0]))

        print("== 5xx for good: a dead letter in the outbox", flush=True)
        vigia.subscribe("reject@example.org", {"type": "all"}, "en", "UTC")

        def dead():
            return [r for r in vigia.outbox() if r[4] == "reject@example.org" and r[2] == "dead"]
        rows = wait_for(dead, 20, "the dead letter")
        check(bool(rows) and rows[0][3] == 1, "one attempt, then dead: %s" % rows)

        print("== /metrics: outbox depth, deliveries by channel and result, oldest pending",
              flush=True)
        st, body = http("GET", vigia.base + "/metrics")
        text = body.decode() if isinstance(body, bytes) else str(body)
        values = {}
        for line in text.splitlines():
            if line.startswith("vigia_watch_"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        print("\n".join("  %s %g" % kv for kv in sorted(values.items())), flush=True)
        want = {
            'vigia_watch_outbox{state="dead"}': lambda v: v == 1,
            'vigia_watch_outbox{state="pending"}': lambda v: v >= 0,
            'vigia_watch_outbox{state="leased"}': lambda v: v >= 0,
            "vigia_watch_outbox_oldest_pending_seconds": lambda v: 0 <= v < 3600,
            # 2 confirms + 2 alerts, at least one retry while SMTP was down, 1 dead letter
            'vigia_watch_deliveries_total{channel="email",result="sent"}': lambda v: v == 4,
            'vigia_watch_deliveries_total{channel="email",result="retry"}': lambda v: v >= 1,
            'vigia_watch_deliveries_total{channel="email",result="failed"}': lambda v: v == 1,
        }
        check(st == 200, "/metrics: %s" % st)
        for name, ok in want.items():
            check(name in values and ok(values[name]), "metric %s = %s" % (name, values.get(name)))
        check("# TYPE vigia_watch_deliveries_total counter" in text, "deliveries TYPE line")
        vigia.stop()
    finally:
        if vigia is not None and vigia.proc.poll() is None:
            vigia.proc.kill()
            vigia.proc.wait()
        if fixture is not None and fixture.proc.poll() is None:
            fixture.stop()
        if srv is not None:
            try:
                srv.stop()
            except Exception:
                pass
        if smtp.FAILS:
            if vigia is not None:
                vigia.dump()
            print("chain_it: %d check(s) failed; files kept in %s" % (len(smtp.FAILS), tmp))
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if smtp.FAILS:
        sys.exit(1)
    print("OK: chain_it")


if __name__ == "__main__":
    main()
