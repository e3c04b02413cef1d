// Starts the real vigia binary for the Node compat tests: a temp dir, an INI
// on a free loopback port, plugins "reststub, busbridge, broker": reststub
// stands in for notifications (empty at start), busbridge calls bus methods
// and publishes bus events on HTTP requests (tests/busbridge).
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, readFileSync, openSync, closeSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort } from "../support/net.mjs";

// An ASan/UBSan build is several times slower: timing bounds are relaxed for it.
export const sanitized = (() => {
  try {
    return /libasan|libubsan/.test(execFileSync("ldd", [process.env.VIGIA_BIN || "/bin/true"]).toString());
  } catch {
    return false;
  }
})();

// VIGIA_BROKER_TRANSPORT=lws (the *_lws ctest entries): the broker serves
// /socket.io/ on libwebsockets on a second port (srv.sio); REST stays on srv.base.
export const lws = process.env.VIGIA_BROKER_TRANSPORT === "lws";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The next `ev` on socket `s` (its arguments as an array), or a rejection
// naming the event after `ms`.
export function once(s, ev, ms = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no '${ev}' within ${ms} ms`)), ms);
    s.once(ev, (...a) => { clearTimeout(t); resolve(a); });
  });
}

export async function waitFor(fn, timeoutMs = 10000, stepMs = 20) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error("waitFor: timed out");
    await sleep(stepMs);
  }
}

export class Vigia {
  constructor({ broker = "", server = "", plugins = "reststub, busbridge, broker", bridge = "max_events = 0\n" } = {}) {
    this.bridgeIni = bridge;
    this.brokerIni = broker;
    this.serverIni = server;
    this.plugins = plugins;
    this.dir = mkdtempSync(path.join(os.tmpdir(), "vgbrk-"));
    this.proc = null;
  }
  async start() {
    if (!this.port) this.port = await freePort();
    this.base = `http://127.0.0.1:${this.port}`;
    if (lws && !this.lwsPort) this.lwsPort = await freePort();
    this.sio = lws ? `http://127.0.0.1:${this.lwsPort}` : this.base;
    const transportIni = lws ? `transport = lws\nlws_listen = 127.0.0.1:${this.lwsPort}\n` : "";
    const bin = process.env.VIGIA_BIN;
    const pluginDir = process.env.VIGIA_PLUGIN_DIR;
    if (!bin || !pluginDir) throw new Error("VIGIA_BIN and VIGIA_PLUGIN_DIR must be set (ctest sets them)");
    const ini = path.join(this.dir, "vigia.ini");
    writeFileSync(ini,
      `[server]\nlisten = 127.0.0.1:${this.port}\ndatabase = ${this.dir}/vigia.db\n` +
      `plugin_dir = ${pluginDir}\nplugins = ${this.plugins}\nlog_level = debug\n` +
      `log_file = ${this.dir}/vigia.log\n${this.serverIni}\n[broker]\n${transportIni}${this.brokerIni}\n` +
      // stand-in notifications.* only, none at start; the bridge keeps no events
      // (the load tests publish large payloads in bulk)
      (this.plugins.includes("reststub") ? `[reststub]\nnotifications = 0\ndatasets = 0\nprovide = notifications\n` : "") +
      (this.plugins.includes("busbridge") ? `[busbridge]\n${this.bridgeIni}` : ""));
    // stderr goes to a file: sanitizer reports land there and are checked at stop
    this.stderrPath = path.join(this.dir, "stderr.log");
    const err = process.env.VIGIA_TEST_VERBOSE ? "inherit" : openSync(this.stderrPath, "a");
    this.proc = spawn(bin, ["--config", ini], { stdio: ["ignore", "ignore", err] });
    if (typeof err === "number") closeSync(err);
    this.exited = new Promise((r) => this.proc.on("exit", (code, sig) => r({ code, sig })));
    await waitFor(async () => {
      if (this.proc.exitCode !== null) throw new Error(`vigia exited: ${this.log()}`);
      try { return (await fetch(`${this.base}/api/health`)).status === 200; } catch { return false; }
    }, 15000, 50);
    return this;
  }
  log() { try { return readFileSync(path.join(this.dir, "vigia.log"), "utf8"); } catch { return ""; } }
  async stop(signal = "SIGTERM") {
    if (!this.proc || this.proc.exitCode !== null) return;
    this.proc.kill(signal);
    const t = setTimeout(() => this.proc.kill("SIGKILL"), 15000);
    const r = await this.exited;
    clearTimeout(t);
    return r;
  }
  stderr() { try { return readFileSync(this.stderrPath, "utf8"); } catch { return ""; } }
  // Stop with SIGTERM and require a clean exit (no sanitizer report, no leak),
  // then remove the temp dir.
  async cleanup() {
    const r = await this.stop("SIGTERM");
    const err = this.stderr();
    rmSync(this.dir, { recursive: true, force: true });
    if (r && (r.code !== 0 || /Sanitizer|runtime error/.test(err)))
      throw new Error(`vigia did not exit cleanly (${JSON.stringify(r)}):\n${err.slice(-4000)}`);
  }
  // A bus method through busbridge: {rc, result}.
  async call(method, params = {}) {
    const r = await fetch(`${this.base}/test/call`, { method: "POST", body: JSON.stringify({ method, params }) });
    return r.json();
  }
  // notifications.create on the stand-in: its result {notification, unread_count};
  // the stand-in publishes notification.created as the real plugin does.
  async notify(title = "t") {
    const { rc, result } = await this.call("notifications.create", { type: "info", title, message: "from the compat tests" });
    if (rc !== 0) throw new Error(`notifications.create: ${JSON.stringify(result)}`);
    return result;
  }
  async publish(topic, payload) {
    const r = await fetch(`${this.base}/test/publish`, { method: "POST", body: JSON.stringify({ topic, payload }) });
    return r.json();
  }
  async status() {
    const { rc, result } = await this.call("broker.status");
    if (rc !== 0) throw new Error(`broker.status: ${JSON.stringify(result)}`);
    return result;
  }
}
