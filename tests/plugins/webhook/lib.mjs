// Shared by the webhook tests and the bench: the real vigia binary on a free
// loopback port (temp dir, INI, stderr checked at stop) and a loopback
// receiver that verifies every request with the standardwebhooks package
// (the spec's reference library), not with Vigía's own code.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, readFileSync, openSync, closeSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { Webhook } from "standardwebhooks";
import { freePort } from "../../support/net.mjs";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const ADMIN = "adm-token-for-tests";

export async function waitFor(fn, timeoutMs = 10000, stepMs = 25) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error("waitFor: timed out");
    await sleep(stepMs);
  }
}

export class Vigia {
  constructor({ plugins = "busbridge, webhook", webhook = "", extra = "", dir = null, admin = true, events = 100000 } = {}) {
    this.admin = admin;
    this.maxEvents = events;
    this.plugins = plugins;
    this.webhookIni = webhook;
    this.extra = extra;
    this.dir = dir || mkdtempSync(path.join(os.tmpdir(), "vgwh-"));
    this.since = 0;
  }
  async start() {
    this.port = await freePort();
    this.base = `http://127.0.0.1:${this.port}`;
    const ini = path.join(this.dir, "vigia.ini");
    writeFileSync(ini,
      `[server]\nlisten = 127.0.0.1:${this.port}\ndatabase = ${this.dir}/vigia.db\n` +
      `plugin_dir = ${process.env.VIGIA_PLUGIN_DIR}\nplugins = ${this.plugins}\n` +
      (this.admin ? `admin_token = ${ADMIN}\n` : "") + `log_level = debug\nlog_file = ${this.dir}/vigia.log\n\n` +
      `[busbridge]\nmax_events = ${this.maxEvents}\n\n[webhook]\n${this.webhookIni}\n${this.extra}\n`);
    const err = openSync(path.join(this.dir, "stderr.log"), "a");
    this.proc = spawn(process.env.VIGIA_BIN, ["--config", ini], { stdio: ["ignore", "ignore", err] });
    closeSync(err);
    this.exited = new Promise((r) => this.proc.on("exit", (code, sig) => r({ code, sig })));
    await waitFor(async () => {
      if (this.proc.exitCode !== null) throw new Error(`vigia exited: ${this.log().slice(-3000)}`);
      try { return (await fetch(`${this.base}/api/health`)).status === 200; } catch { return false; }
    }, 15000, 50);
    return this;
  }
  log() { try { return readFileSync(path.join(this.dir, "vigia.log"), "utf8"); } catch { return ""; } }
  stderr() { try { return readFileSync(path.join(this.dir, "stderr.log"), "utf8"); } catch { return ""; } }
  async stop(signal = "SIGTERM") {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode) return null;
    this.proc.kill(signal);
    const t = setTimeout(() => this.proc.kill("SIGKILL"), 15000);
    const r = await this.exited;
    clearTimeout(t);
    return r;
  }
  // SIGTERM, a clean exit (no sanitizer report), then the temp dir goes.
  async cleanup() {
    const r = await this.stop();
    const err = this.stderr();
    rmSync(this.dir, { recursive: true, force: true });
    if (r && (r.code !== 0 || /Sanitizer|runtime error/.test(err)))
      throw new Error(`vigia did not exit cleanly (${JSON.stringify(r)}):\n${err.slice(-4000)}`);
  }
  async api(method, p, body, { token = ADMIN, headers: more = {} } = {}) {
    const headers = { "Content-Type": "application/json", ...more };
    if (token) headers.Authorization = `Bearer ${token}`;
    const r = await fetch(this.base + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    let json = null;
    try { json = JSON.parse(text); } catch { json = text; }
    return { status: r.status, body: json };
  }
  async call(method, params = {}) {
    const r = await fetch(`${this.base}/test/call`, { method: "POST", body: JSON.stringify({ method, params }) });
    return r.json();
  }
  async publish(topic, payload) {
    const r = await fetch(`${this.base}/test/publish`, { method: "POST", body: JSON.stringify({ topic, payload }) });
    return r.json();
  }
  async events(topic) {
    const r = await (await fetch(`${this.base}/test/events?since=0`)).json();
    return r.events.filter((e) => !topic || e.topic === topic);
  }
  // delivery.result payloads for `key`, oldest first
  async results(key) {
    return (await this.events("delivery.result")).map((e) => e.payload).filter((p) => p.key === key);
  }
  async waitResults(key, n = 1, ms = 15000) {
    return waitFor(async () => { const r = await this.results(key); return r.length >= n ? r : null; }, ms);
  }
}

// A delivery.requested payload as the watch's outbox makes it.
export function request(key, to, { lang = "en", kind = "alert", items = 1 } = {}) {
  const it = [];
  for (let i = 0; i < items; i++)
    it.push({
      topic: "dataset.status_changed", kind: "down", portal: "demo", at: "2026-12-01T03:00:00Z",
      previous: "up", current: "down", reason: "HTTP 500 <&> from the resource",
      dataset: { id: `id-${i}`, name: `ds-${i}`, title: `Buses & trains ${i}`, organization: "mtt",
                 organization_title: "Ministry", url: `https://datos.example/dataset/ds-${i}`,
                 vigia_url: `https://vigia.example/datasets/id-${i}` },
    });
  return { v: 1, key, channel: "webhook", to, lang, tz: "America/Santiago", kind, items: it,
           count: items, links: { manage: "https://vigia.example/manage.html#token=x",
           unsubscribe: "https://vigia.example/api/subscriptions/unsubscribe?token=x" },
           list_id: "demo.vigia.example" };
}

// The loopback receiver. `behave(path, req, n)` (n: this path's request
// count, from 1) returns {status, headers?, delayMs?}; every request is
// recorded with the result of verifying its signature against the secret
// registered for its path (secrets[path]: one or several).
export class Receiver {
  constructor(behave = () => ({ status: 200 })) {
    this.behave = behave;
    this.secrets = {};
    this.got = [];
    this.counts = {};
    this.server = http.createServer((req, res) => {
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", async () => {
        const body = Buffer.concat(chunks).toString("utf8");
        const n = (this.counts[req.url] = (this.counts[req.url] || 0) + 1);
        const rec = { path: req.url, headers: req.headers, body, verified: {}, at: Date.now() };
        for (const [name, secret] of Object.entries(this.secrets[req.url] || {})) {
          try { new Webhook(secret).verify(body, req.headers); rec.verified[name] = true; }
          catch (e) { rec.verified[name] = String(e.message || e); }
        }
        try { rec.json = JSON.parse(body); } catch { rec.json = null; }
        this.got.push(rec);
        const b = this.behave(req.url, req, n) || { status: 200 };
        if (b.delayMs) await sleep(b.delayMs);
        if (!res.destroyed) {
          res.writeHead(b.status, b.headers || {});
          res.end(b.body || "");
        }
      });
    });
    this.server.keepAliveTimeout = 30000;
  }
  async start() {
    await new Promise((r) => this.server.listen(0, "127.0.0.1", r));
    this.port = this.server.address().port;
    this.url = (p) => `http://127.0.0.1:${this.port}${p}`;
    return this;
  }
  on(p) { return this.got.filter((g) => g.path === p); }
  async close() {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}
