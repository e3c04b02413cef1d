// Starts the real `vigia` binary (and the CKAN fixture) for the browser
// tests: a temp dir with an INI on a free loopback port, health polling,
// stop/restart by pid, and small REST helpers. Same contract as
// tests/support/vgt.h, in Node.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../support/net.mjs';

const env = (k, def) => process.env[k] || def;
export const SOURCE_DIR = env('VIGIA_SOURCE_DIR', path.resolve(import.meta.dirname, '../../..'));
export const BUILD_DIR = env('VIGIA_BUILD_DIR', path.join(SOURCE_DIR, 'build'));
export const PLUGIN_DIR = env('VIGIA_PLUGIN_DIR', path.join(BUILD_DIR, 'plugins-out'));
export const VIGIA_BIN = env('VIGIA_BIN', path.join(BUILD_DIR, 'core', 'vigia'));
export const FIXTURE_BIN = env('VIGIA_CKAN_FIXTURE',
  path.join(BUILD_DIR, 'tests', 'fixtures', 'ckan-fixture', 'ckan-fixture'));
export const ADMIN_TOKEN = 'e2e-admin-token';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Servers and fixtures this process started: killed by pid if the test
// process ends early (a failed assertion, or ctest's timeout sending SIGTERM).
const children = new Set();
function track(proc) {
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  return proc;
}
function killChildren() {
  for (const proc of children) {
    try { process.kill(proc.pid, 'SIGKILL'); } catch { /* already gone */ }
  }
}
process.once('exit', killChildren);
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.once(sig, () => {
    killChildren();
    process.exit(128 + (sig === 'SIGTERM' ? 15 : 2));
  });
}


// Names of the plugins that are built, or the first of `wanted` missing.
export function missingPlugin(wanted) {
  return wanted.find((p) => !fs.existsSync(path.join(PLUGIN_DIR, `${p}.so`))) || null;
}

export function missingBinary() {
  if (!fs.existsSync(VIGIA_BIN)) return `the vigia binary (${VIGIA_BIN})`;
  return null;
}

// Resolves when `fn` returns a truthy value; throws after `timeout` ms.
export async function waitFor(fn, { timeout = 10000, interval = 50, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      if (e.fatal) throw e;
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${last})`);
    await sleep(interval);
  }
}

export class VigiaServer {
  constructor({ plugins, extraIni = '', token = ADMIN_TOKEN }) {
    this.plugins = plugins;
    this.extraIni = extraIni;
    this.token = token;
    this.proc = null;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigia-e2e-'));
  }

  get base() { return `http://127.0.0.1:${this.port}`; }

  async start() {
    if (!this.port) this.port = await freePort();
    const ini = [
      '[server]',
      `listen = 127.0.0.1:${this.port}`,
      `database = ${path.join(this.dir, 'vigia.db')}`,
      `plugin_dir = ${PLUGIN_DIR}`,
      `web_root = ${path.join(SOURCE_DIR, 'web')}`,
      `plugins = ${this.plugins.join(', ')}`,
      this.token ? `admin_token = ${this.token}` : '',
      'log_level = info',
      `log_file = ${path.join(this.dir, 'vigia.log')}`,
      'threads = 64',
      '',
      this.extraIni,
      '',
    ].join('\n');
    fs.writeFileSync(path.join(this.dir, 'vigia.ini'), ini);
    const out = fs.openSync(path.join(this.dir, 'stderr.txt'), 'a');
    this.proc = track(spawn(VIGIA_BIN, ['--config', path.join(this.dir, 'vigia.ini')], {
      stdio: ['ignore', out, out],
    }));
    fs.closeSync(out);
    const proc = this.proc;
    let exited = null;
    proc.once('exit', (code, sig) => { exited = `exit ${code ?? sig}`; });
    try {
      await waitFor(async () => {
        if (exited) throw Object.assign(new Error(`vigia ${exited} during start-up`), { fatal: true });
        const r = await fetch(`${this.base}/api/health`).catch(() => null);
        return r && r.status === 200;
      }, { timeout: 15000, what: 'vigia /api/health' });
    } catch (e) {
      throw new Error(`${e.message}\n---- vigia output ----\n${this.output()}`);
    }
    return this;
  }

  output() {
    try { return fs.readFileSync(path.join(this.dir, 'stderr.txt'), 'utf8').slice(-4000); } catch { return ''; }
  }

  // SIGTERM and wait for the exit (SIGKILL after 15 s).
  async stop() {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) { this.proc = null; return; }
    const gone = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15000);
    await gone;
    clearTimeout(timer);
    this.proc = null;
  }

  async restart() {
    await this.stop();
    return this.start();
  }

  async cleanup() {
    await this.stop();
    if (!process.env.VGT_KEEP) fs.rmSync(this.dir, { recursive: true, force: true });
  }

  async request(method, p, body, { auth = true } = {}) {
    const headers = {};
    if (auth && this.token) headers.Authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const r = await fetch(this.base + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch { json = null; }
    if (!r.ok) throw new Error(`${method} ${p} -> ${r.status} ${text.slice(0, 300)}`);
    return json;
  }

  createNotification(n) { return this.request('POST', '/api/notifications/test', n); }
}

// The CKAN fixture portal from tests/fixtures, on its own free port.
export class CkanFixture {
  constructor(args = []) {
    this.args = args;
    this.proc = null;
  }

  get base() { return `http://127.0.0.1:${this.port}`; }

  async start() {
    this.port = await freePort();
    this.log = '';
    this.proc = track(spawn(FIXTURE_BIN, ['--port', String(this.port), ...this.args], { stdio: ['ignore', 'pipe', 'pipe'] }));
    this.proc.stdout.on('data', (d) => { this.log += d; });
    this.proc.stderr.on('data', (d) => { this.log += d; });
    await waitFor(async () => {
      if (this.proc.exitCode !== null) throw Object.assign(new Error(`ckan-fixture exited: ${this.log}`), { fatal: true });
      const r = await fetch(`${this.base}/api/3/action/status_show`).catch(() => null);
      return r && r.status === 200;
    }, { timeout: 10000, what: 'ckan-fixture status_show' });
    return this;
  }

  async control(ops) {
    const r = await fetch(`${this.base}/_control`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(ops),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`fixture /_control -> ${r.status} ${text}`);
    return JSON.parse(text);
  }

  async packageSearch(rows = 10) {
    const r = await fetch(`${this.base}/api/3/action/package_search?rows=${rows}&start=0&sort=id%20asc`);
    return (await r.json()).result.results;
  }

  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return;
    const gone = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(timer);
  }
}
