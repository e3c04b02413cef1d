#!/usr/bin/env python3
"""Regenerates docs/api.md from tests/plugins/rest/api.md.in with real answers.

    python3 tests/plugins/rest/gen_api_doc.py BUILD_DIR

Starts BUILD_DIR/core/vigia with reststub + rest in the configuration the doc
describes (admin_token = s3cret, allowed_origins = https://dash.example.org),
replaces every line '@@ METHOD PATH [| Header: value ...] [>> body]' of the
template with the request and the server's answer (JSON pretty-printed, arrays
cut to two items; '| metrics=a,b' keeps only those /metrics families), and
writes docs/api.md. rest_docs_it then keeps the file true.
"""
import os, socket, subprocess, sys, tempfile, time
import json, urllib.request, urllib.error
BASE = None

def trim(v, depth=0):
    if isinstance(v, list):
        return [trim(x, depth+1) for x in v[:2]]
    if isinstance(v, dict):
        return {k: trim(x, depth+1) for k, x in v.items()}
    return v

def run(method, path, headers=(), body=None):
    data = body.encode() if body is not None else (b"" if method == "POST" else None)
    req = urllib.request.Request(BASE + path, data=data, method=method)
    for h in headers:
        k, v = h.split(": ", 1)
        req.add_header(k, v)
    try:
        resp = urllib.request.urlopen(req)
        status, reason, hdrs, text = resp.status, resp.reason, resp.headers, resp.read().decode()
    except urllib.error.HTTPError as e:
        status, reason, hdrs, text = e.code, e.reason, e.headers, e.read().decode()
    return status, reason, hdrs, text

def block(method, path, headers=(), body=None, metrics_lines=None):
    out = ["```http", f"{method} {path} HTTP/1.1"]
    out += list(headers)
    if body is not None:
        out += ["", body]
    out += ["```", ""]
    status, reason, hdrs, text = run(method, path, headers, body)
    out += ["```http", f"HTTP/1.1 {status} {reason}"]
    ct = hdrs.get("Content-Type")
    if ct and status not in (204, 304):
        out.append(f"Content-Type: {ct}")
    for h in ("ETag", "Allow", "Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "WWW-Authenticate", "Retry-After"):
        if hdrs.get(h):
            out.append(f"{h}: {hdrs.get(h)}")
    if text:
        out.append("")
        if ct and ct.startswith("application/json"):
            out.append(json.dumps(trim(json.loads(text)), indent=2, ensure_ascii=False))
        else:
            lines = text.splitlines()
            if metrics_lines:
                keep = []
                for l in lines:
                    if any(l.startswith(p) or l.startswith("# TYPE " + p) or l.startswith("# HELP " + p) for p in metrics_lines):
                        keep.append(l)
                lines = keep
            out.append("\n".join(lines))
    out += ["```", ""]
    return "\n".join(out)

def render(template):
    res = []
    for line in template.splitlines():
        if line.startswith("@@ "):
            spec = line[3:]
            body = None
            if " >> " in spec:
                spec, body = spec.split(" >> ", 1)
            parts = [p.strip() for p in spec.split(" | ")]
            method, path = parts[0].split(" ", 1)
            ml = None
            hdrs = []
            for p in parts[1:]:
                if p.startswith("metrics="):
                    ml = p[8:].split(",")
                else:
                    hdrs.append(p)
            res.append(block(method, path, hdrs, body, ml))
        else:
            res.append(line)
    return "\n".join(res) + "\n"


def main():
    global BASE
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    BASE = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as d:
        ini = os.path.join(d, "vigia.ini")
        with open(ini, "w") as f:
            f.write(f"""[server]
listen = 127.0.0.1:{port}
database = {d}/vigia.db
plugin_dir = {build}/plugins-out
web_root = {root}/web
plugins = reststub, rest
log_level = warn
admin_token = s3cret

[rest]
allowed_origins = https://dash.example.org
""")
        proc = subprocess.Popen([f"{build}/core/vigia", "--config", ini])
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(BASE + "/api/health")
                    break
                except Exception:
                    time.sleep(0.1)
            # The If-None-Match example needs the tag of the first list answer.
            tag = run("GET", "/api/notifications?limit=2")[2].get("ETag")
            with open(os.path.join(root, "tests/plugins/rest/api.md.in")) as f:
                template = f.read().replace("@ETAG@", tag)
        finally:
            proc.terminate()
            proc.wait()
        # Fresh state: the doc's requests run in order from the fixture's start.
        for name in os.listdir(d):
            if name.startswith("vigia.db"):
                os.remove(os.path.join(d, name))
        proc = subprocess.Popen([f"{build}/core/vigia", "--config", ini])
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(BASE + "/api/health")
                    break
                except Exception:
                    time.sleep(0.1)
            out = render(template)
        finally:
            proc.terminate()
            proc.wait()
    with open(os.path.join(root, "docs/api.md"), "w") as f:
        f.write(out)
    print("wrote docs/api.md")


if __name__ == "__main__":
    main()
