#!/usr/bin/python3
"""Maintainers' alerts through the real chain: the CKAN fixture lists
maintainer / author addresses -> monitor (datasets.get carries them) ->
watch (the state per dataset, an injected clock) -> email -> Debian's
aiosmtpd on a loopback port.

Two monitor portals read the same fixture: "fx" has the alerts on in
[watch:fx], "fy" has no section, so it keeps the default (off) and must
never mail anybody. Proves: nothing before maintainer_after, one message at
it to maintainer_email (author_email when there is none, nobody when there is
neither), one per period, the opt-out page (GET changes nothing) and one-click
POST, a reminder a period later, the portal's escalation address after
escalate_after, no more reminders than maintainer_max_reminders, a recovery
notice to whoever was told, and the "on Vigía" link opening the dataset's
page of the portal.

Env (set by ctest): VIGIA_BIN, VIGIA_PLUGIN_DIR, VIGIA_SOURCE_DIR, VIGIA_BUILD_DIR."""
import os
import shutil
import sqlite3
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chain_it as chain  # noqa: E402  (Fixture, Vigia, the SMTP recorder)

smtp = chain.smtp
check = chain.check
http = chain.http
HOUR = 3600 * 1000


def maint_mails(rec, to=None):
    return [m for m in chain.mails(rec, to) if "maintainers." in str(m["List-Id"] or "")]


def settle(rec, secs=1.5):
    """Lets the ticker run a few times, then counts the mails."""
    time.sleep(secs)
    return len(maint_mails(rec))


def sweep_both(vigia):
    """monitor.run_now sweeps every portal: waits for both to finish."""
    since = vigia.last_seq()
    st, body = http("POST", vigia.base + "/test/call", {"method": "monitor.run_now", "params": {}})
    check(st == 200 and body.get("rc") == 0, "monitor.run_now: %s %s" % (st, body))
    chain.wait_for(lambda: len(vigia.events("monitor.sweep_finished", since)) >= 2 or None, 60,
                   "a sweep of both portals")


def main():
    for k in ("VIGIA_BIN", "VIGIA_PLUGIN_DIR", "VIGIA_SOURCE_DIR", "VIGIA_BUILD_DIR"):
        if k not in os.environ:
            raise SystemExit("FAIL: %s is not set (run through ctest)" % k)
    tmp = tempfile.mkdtemp(prefix="maint-it-")
    fixture = vigia = srv = None
    try:
        os.makedirs(os.path.join(tmp, "mail"))
        rec = smtp.Recorder(os.path.join(tmp, "mail"))
        smtp_port = smtp.free_port()
        srv = smtp.SmtpServer(rec, smtp_port)
        srv.start()
        fixture = chain.Fixture()
        ds = fixture.datasets()
        check(len(ds) == 4, "fixture datasets: %d" % len(ds))
        a, b, c = ds[0], ds[1], ds[2]
        # a lists a maintainer, b only an author's address, c no address
        st, body = http("POST", fixture.base + "/_control", [
            {"op": "modify_dataset", "id": a["id"],
             "set": {"maintainer": "Ana Pérez", "maintainer_email": "ana@example.org",
                     "author_email": "autora@example.org"}},
            {"op": "modify_dataset", "id": b["id"],
             "set": {"author": "Equipo Uno", "author_email": "Equipo <uno@example.org>"}}])
        check(st == 200, "fixture contacts: %s %s" % (st, body))
        vigia = chain.Vigia(
            tmp, fixture, smtp_port,
            watch_extra="test_clock = true\nmaintainer_after = 1h\nmaintainer_reminder = 6h\n"
                        "maintainer_max_reminders = 1\nescalate_after = 12h\n\n"
                        "[watch:fx]\nmaintainer_alerts = true\nescalate_to = jefa@example.org\n",
            extra="\n[monitor:fy]\nbase_url = " + fixture.base + "\ninterval = 1h\nrows = 5\n"
                  "fail_threshold = 1\nrecover_threshold = 1\n")
        chain.wait_for(lambda: len(vigia.events("monitor.sweep_finished")) >= 2, 60,
                       "the baseline sweeps of both portals")

        def clock(ms):
            st, body = http("POST", vigia.base + "/api/_watch/clock", {"now_ms": ms})
            check(st == 200, "clock: %s %s" % (st, body))

        print("== datasets.get carries the CKAN contacts", flush=True)
        st, body = http("POST", vigia.base + "/test/call",
                        {"method": "datasets.get", "params": {"id": a["id"], "portal": "fx"}})
        contact = (body.get("result") or {}).get("contact") or {}
        check(contact.get("maintainer_email") == "ana@example.org" and
              contact.get("maintainer") == "Ana Pérez" and
              contact.get("author_email") == "autora@example.org",
              "datasets.get contact: %s" % body)
        st, body = http("POST", vigia.base + "/test/call",
                        {"method": "datasets.get", "params": {"id": c["id"], "portal": "fy"}})
        contact = (body.get("result") or {}).get("contact") or {}
        check(contact.get("maintainer_email", "absent") is None and
              contact.get("author_email", "absent") is None and
              contact.get("author") == "Unidad de Datos",
              "only the fixture's author name: %s" % contact)

        t0 = int(time.time() * 1000)
        clock(t0)
        for d in (a, b, c):
            fixture.set(d["id"], "404")
        sweep_both(vigia)

        print("== nothing before maintainer_after", flush=True)
        clock(t0 + 59 * 60000)
        check(settle(rec) == 0, "a maintainer mail before maintainer_after")

        print("== at maintainer_after: the maintainer, else the author", flush=True)
        clock(t0 + 61 * 60000)
        chain.wait_for(lambda: len(maint_mails(rec)) >= 2 or None, 20, "the first alerts")
        time.sleep(1.0)
        got = maint_mails(rec)
        rcpts = sorted(str(m["To"]) for m in got)
        check(rcpts == ["ana@example.org", "uno@example.org"],
              "first alerts went to %s (c lists no address; fy is off)" % rcpts)
        ana = maint_mails(rec, "ana@example.org")
        if ana:
            text = chain.text_of(ana[0])
            check("Estimada/o Ana Pérez" in text, "greets the maintainer by name: %r" % text[:300])
            check(a["title"] in str(ana[0]["Subject"]), "subject names the dataset: %r"
                  % str(ana[0]["Subject"]))
            check("dejó de responder" in text and "not_found" in text,
                  "says it is down and why: %r" % text[:800])
            check(str(ana[0]["List-Id"]).find("maintainers.fx.") >= 0, "List-Id %s"
                  % ana[0]["List-Id"])
            want = "%s/#dataset=%s&portal=fx" % (vigia.base, urllib.parse.quote(a["id"], safe=""))
            check("En Vigía: " + want in text, "the on-Vigía link is the portal page %s: %r"
                  % (want, text[-700:]))
            st, page = http("GET", want.split("#")[0])
            check(st == 200 and b"<html" in page.lower(), "the portal serves / : %s" % st)
        for m in got:
            check("fy" not in str(m["List-Id"]), "a mail about portal fy (off): %s" % m["List-Id"])

        print("== one message per dataset per period", flush=True)
        clock(t0 + 62 * 60000)
        check(settle(rec) == 2, "a second alert within the period: %d" % len(maint_mails(rec)))

        print("== opt-out: the page asks, the one-click POST records it", flush=True)
        uno = maint_mails(rec, "uno@example.org")
        url = str(uno[0]["List-Unsubscribe"]).strip("<>") if uno else ""
        check(url.startswith(vigia.base + "/api/maintainers/optout?token="), "opt-out link %s" % url)
        if url:
            req = urllib.request.Request(url, headers={"Accept": "text/html"})
            with urllib.request.urlopen(req, timeout=10) as r:
                page = r.read().decode()
            check('method="post"' in page, "the GET page has a button: %r" % page[:300])
            con = sqlite3.connect("file:%s?mode=ro" % vigia.db, uri=True, timeout=5)
            n = con.execute("SELECT count(*) FROM watch_maint_optout").fetchone()[0]
            con.close()
            check(n == 0, "a GET opted the address out")
            st, body = http("POST", url, b"List-Unsubscribe=One-Click",
                            "application/x-www-form-urlencoded")
            check(st == 200 and body.get("opted_out") is True, "one-click: %s %s" % (st, body))

        print("== a reminder a period later, not to the address that opted out", flush=True)
        clock(t0 + 61 * 60000 + 6 * HOUR + 60000)
        chain.wait_for(lambda: len(maint_mails(rec, "ana@example.org")) >= 2 or None, 20,
                       "ana's reminder")
        time.sleep(1.0)
        ana = maint_mails(rec, "ana@example.org")
        check(len(ana) == 2 and "Recordatorio" in str(ana[-1]["Subject"]),
              "ana's reminder: %s" % [str(m["Subject"]) for m in ana])
        check(len(maint_mails(rec, "uno@example.org")) == 1, "uno heard again after opting out")

        print("== escalation to the portal's address after escalate_after", flush=True)
        clock(t0 + 12 * HOUR + 60000)
        chain.wait_for(lambda: len(maint_mails(rec, "jefa@example.org")) >= 3 or None, 20,
                       "three escalations")
        time.sleep(1.0)
        esc = maint_mails(rec, "jefa@example.org")
        check(len(esc) == 3, "escalations: %d (one per long-down dataset of fx)" % len(esc))
        about_a = [m for m in esc if a["title"] in str(m["Subject"])]
        if check(len(about_a) == 1, "one escalation about %s" % a["title"]):
            text = chain.text_of(about_a[0])
            check("Escalamiento" in str(about_a[0]["Subject"]) and "ana@example.org" in text,
                  "the escalation names who was told: %r" % text[:500])
        check(len(maint_mails(rec, "ana@example.org")) == 2,
              "more reminders than maintainer_max_reminders = 1")

        print("== recovery: whoever was told hears it is back", flush=True)
        clock(t0 + 13 * HOUR)
        fixture.set(a["id"], "up")
        sweep_both(vigia)
        chain.wait_for(lambda: len(maint_mails(rec, "ana@example.org")) >= 3 or None, 20,
                       "ana's recovery notice")
        chain.wait_for(lambda: len(maint_mails(rec, "jefa@example.org")) >= 4 or None, 20,
                       "the escalation address's recovery notice")
        ana = maint_mails(rec, "ana@example.org")
        check(len(ana) == 3 and "vuelve a responder" in str(ana[-1]["Subject"]),
              "recovery: %s" % [str(m["Subject"]) for m in ana])
        time.sleep(1.0)
        check(len(maint_mails(rec, "uno@example.org")) == 1, "uno heard after opting out")
        check(len(maint_mails(rec)) == 2 + 1 + 3 + 2,
              "maintainer mails in all: %d" % len(maint_mails(rec)))
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
        if chain.FAILS:
            if vigia is not None:
                vigia.dump()
            print("maint_it: %d check(s) failed; files kept in %s" % (len(chain.FAILS), tmp))
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if chain.FAILS:
        sys.exit(1)
    print("OK: maint_it")


if __name__ == "__main__":
    main()
