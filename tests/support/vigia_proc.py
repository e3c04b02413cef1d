"""Process plumbing shared by the Python integration tests: the check() ledger,
free loopback ports, JSON over HTTP, waiting, and a vigia server started from
an INI text and stopped by pid (SIGTERM; exit 0 also means ASan found no leak).

Import it with the folder on sys.path:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "..", "..", "support"))"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what, flush=True)
    return cond


def keep_or_remove(name, tmp, keep=False):
    """In a test's `finally`: keep its files when a check failed (or `keep`)."""
    if FAILS or keep:
        print("%s: %d check(s) failed; files kept in %s" % (name, len(FAILS), tmp))
    else:
        shutil.rmtree(tmp, ignore_errors=True)


def done(name):
    """After it: exit 1 when a check failed."""
    if FAILS:
        sys.exit(1)
    print("OK: %s" % name)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http(method, url, body=None, ctype="application/json"):
    """(status, parsed JSON or the raw bytes); HTTP errors are answers too."""
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


def wait_for(fn, timeout, what, step=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = fn()
        if r:
            return r
        time.sleep(step)
    check(False, "timed out (%ss) waiting for %s" % (timeout, what))
    return None


class VigiaProcess:
    """vigia on `port` with the INI text `ini`, its files in `directory`
    (vigia.ini, stderr; the INI's log_file should be self.log). Returns once
    /api/health answers 200; exits the test if the server does not start."""

    def __init__(self, directory, port, ini, start_timeout=20):
        self.dir = directory
        self.port = port
        self.base = "http://127.0.0.1:%d" % port
        self.log = os.path.join(directory, "vigia.log")
        path = os.path.join(directory, "vigia.ini")
        with open(path, "w") as f:
            f.write(ini)
        self.err = open(os.path.join(directory, "stderr"), "w")
        self.proc = subprocess.Popen([os.environ["VIGIA_BIN"], "--config", path],
                                     stdout=self.err, stderr=subprocess.STDOUT)

        def up():
            if self.proc.poll() is not None:
                return True
            try:
                return http("GET", self.base + "/api/health")[0] == 200
            except OSError:
                return False
        wait_for(up, start_timeout, "vigia", step=0.05)
        if self.proc.poll() is not None:
            self.dump()
            raise SystemExit("FAIL: vigia did not start")

    def dump(self):
        for p in (self.log, os.path.join(self.dir, "stderr")):
            if os.path.exists(p):
                sys.stderr.write("---- %s\n%s\n" % (p, open(p, errors="replace").read()[-8000:]))

    def stop(self):
        """SIGTERM, then SIGKILL after 30 s; the exit status must be 0."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.err.close()
        if not check(rc == 0, "vigia exited with %s" % rc):
            self.dump()
