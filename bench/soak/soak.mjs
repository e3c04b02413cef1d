// Soak load for one running Vigía (started by bench/soak/run.sh): Socket.IO clients that join
// and leave rooms and reconnect, REST readers and writers, abusive clients, a /api/health
// prober, and a sampler of the server's RSS, fds and threads. Prints the figures; exits 1 when
// a resource is not flat after warm-up or the health p99 reaches the limit.
// Environment: BASE, SERVER_PID, DURATION_S, WARMUP_S, CLIENTS, ADMIN_TOKEN, SAMPLE_S, P99_MS,
// DATASET_IDS (comma-separated ids for dataset rooms and routes), ABUSE (0: no abusive clients),
// RSS_CHECK (0: print the RSS slope without judging it, for the ASan build).
import { io } from "socket.io-client";
import http from "node:http";
import net from "node:net";
import fs from "node:fs";
import crypto from "node:crypto";

const env = (k, d) => process.env[k] ?? d;
const BASE = env("BASE", "http://127.0.0.1:8080");
const URLB = new URL(BASE);
const PID = Number(env("SERVER_PID", 0));
const DURATION = Number(env("DURATION_S", 3600)) * 1000;
const WARMUP = Number(env("WARMUP_S", 60)) * 1000;
const CLIENTS = Number(env("CLIENTS", 500));
const TOKEN = env("ADMIN_TOKEN", "");
const SAMPLE = Number(env("SAMPLE_S", 5)) * 1000;
const P99_LIMIT = Number(env("P99_MS", 50));
const IDS = env("DATASET_IDS", "").split(",").filter(Boolean);
const ABUSE = env("ABUSE", "1") !== "0"; // ABUSE=0: no abusive clients (a baseline to compare)

const t0 = Date.now();
const now = () => Date.now() - t0;
let stopping = false;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rnd = (a, b) => a + Math.random() * (b - a);
const pick = (a) => a[Math.floor(Math.random() * a.length)];
const count = {};
const inc = (k, n = 1) => (count[k] = (count[k] || 0) + n);

// ---- HTTP helper: one request, resolves {status, ms}; never rejects. ----
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
function request(method, path, body, headers = {}, ag = agent) {
  return new Promise((resolve) => {
    const start = process.hrtime.bigint();
    const data = body === undefined ? undefined : JSON.stringify(body);
    const h = { ...headers };
    if (data !== undefined) {
      h["Content-Type"] = "application/json";
      h["Content-Length"] = Buffer.byteLength(data);
    }
    if (TOKEN && method !== "GET") h.Authorization = `Bearer ${TOKEN}`;
    const req = http.request({ host: URLB.hostname, port: URLB.port, method, path, headers: h,
                               agent: ag, timeout: 10000 }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, ms: Number(process.hrtime.bigint() - start) / 1e6,
                                    body: Buffer.concat(chunks).toString() }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (e) => resolve({ status: 0, error: e.message,
                                      ms: Number(process.hrtime.bigint() - start) / 1e6 }));
    if (data !== undefined) req.write(data);
    req.end();
  });
}

// ---- sampler: RSS, fds, threads of the server ----
const samples = [];
function sample() {
  try {
    const st = fs.readFileSync(`/proc/${PID}/status`, "utf8");
    const rss = Number(/VmRSS:\s+(\d+)/.exec(st)[1]);
    const threads = Number(/Threads:\s+(\d+)/.exec(st)[1]);
    const fds = fs.readdirSync(`/proc/${PID}/fd`).length;
    samples.push({ t: now(), rss, fds, threads });
  } catch (e) {
    inc("sampler_errors");
  }
}

// ---- heap sampler: malloc's in-use and kept-free bytes from /metrics (process.stats), to tell
// memory the server still uses from memory glibc keeps for reuse when RSS moves. ----
const heap = []; // {t, inUse, free} in KiB
async function sampleHeap() {
  const h = TOKEN ? { Authorization: `Bearer ${TOKEN}` } : {};
  const r = await request("GET", "/metrics", undefined, h);
  const m = (name) => Number((new RegExp(`^${name} (\\d+)`, "m").exec(r.body || "") || [])[1]);
  const inUse = m("vigia_malloc_in_use_bytes"), free = m("vigia_malloc_free_bytes");
  if (r.status === 200 && inUse >= 0 && free >= 0)
    heap.push({ t: now(), inUse: Math.round(inUse / 1024), free: Math.round(free / 1024) });
  else inc("heap_sampler_errors");
}

// ---- health prober: GET /api/health every 200 ms on its own connection ----
const health = []; // {t, ms, status}
async function prober() {
  const ag = new http.Agent({ keepAlive: true, maxSockets: 1 });
  while (!stopping) {
    const r = await request("GET", "/api/health", undefined, {}, ag);
    health.push({ t: now(), ms: r.ms, status: r.status });
    await sleep(200);
  }
}

// ---- Socket.IO clients ----
const rooms = () => {
  const r = ["datasets", "stats", "notifications", "portal:soak", `organization:org-${Math.floor(rnd(0, 12))}`];
  if (IDS.length) r.push(`dataset:${pick(IDS)}`);
  return r;
};
function sioClient(i) {
  const transports = i % 10 === 0 ? ["polling", "websocket"] : ["websocket"];
  const s = io(BASE, { forceNew: true, transports, reconnectionDelay: 500, reconnectionDelayMax: 5000,
                       timeout: 20000 });
  s.on("connect", () => inc("sio_connect"));
  s.on("connect_error", () => inc("sio_connect_error"));
  s.on("disconnect", () => inc("sio_disconnect"));
  s.onAny(() => inc("sio_events_received"));
  const joined = new Set();
  (async () => {
    await sleep(rnd(0, 20000)); // ramp up over 20 s
    while (!stopping) {
      await sleep(rnd(2000, 8000));
      if (stopping) break;
      if (!s.connected) continue;
      const x = Math.random();
      if (x < 0.06) { // leave and come back
        s.disconnect();
        inc("sio_reconnects");
        await sleep(rnd(500, 3000));
        joined.clear();
        s.connect();
      } else if (x < 0.45 || joined.size === 0) {
        const room = pick(rooms());
        s.timeout(10000).emit("join_room", { room }, (err, res) => {
          if (err || (res && res.error)) inc("sio_join_failed"); else { inc("sio_join_ok"); joined.add(room); }
        });
      } else if (x < 0.8) {
        const room = pick([...joined]);
        s.timeout(10000).emit("leave_room", { room }, (err) => { inc(err ? "sio_leave_failed" : "sio_leave_ok"); joined.delete(room); });
      } else {
        s.timeout(10000).emit("get_notifications", { limit: 5 }, (err) => inc(err ? "sio_ack_timeout" : "sio_ack_ok"));
      }
    }
    s.disconnect();
  })();
  return s;
}

// ---- REST readers and writers ----
async function reader() {
  const paths = ["/api/datasets?limit=50", "/api/notifications?limit=20", "/api/stats", "/api/portals",
                 "/api/websockets/status", "/metrics"];
  while (!stopping) {
    let p = pick(paths);
    if (IDS.length && Math.random() < 0.3) p = `/api/datasets/${pick(IDS)}${Math.random() < 0.5 ? "/history" : ""}`;
    const r = await request("GET", p);
    inc(`rest_read_${r.status}`);
    await sleep(rnd(50, 250));
  }
}
async function writer() {
  while (!stopping) {
    if (Math.random() < 0.5) {
      const r = await request("POST", "/api/notifications/test", { type: pick(["info", "warning", "error", "success"]), title: "soak", message: `soak ${now()}` });
      inc(`rest_write_${r.status}`);
    } else {
      const list = await request("GET", "/api/notifications?limit=5&unread=true");
      let id = null;
      try { id = JSON.parse(list.body).notifications?.[0]?.id; } catch { /* not JSON */ }
      if (id) {
        const r = await request("POST", `/api/notifications/${id}/read`, {});
        inc(`rest_write_${r.status}`);
      }
    }
    await sleep(rnd(300, 700));
  }
}

// ---- abusive clients ----
// A WebSocket client that connects, joins every busy room, then never reads again.
function nonReader() {
  return new Promise((resolve) => {
    const key = crypto.randomBytes(16).toString("base64");
    const sock = net.connect(Number(URLB.port), URLB.hostname, () => {
      sock.write(`GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: ${URLB.host}\r\n` +
                 `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\n` +
                 `Sec-WebSocket-Version: 13\r\n\r\n`);
    });
    const frame = (text) => { // masked client text frame
      const p = Buffer.from(text), m = crypto.randomBytes(4);
      const hdr = p.length < 126 ? Buffer.from([0x81, 0x80 | p.length]) : Buffer.from([0x81, 0x80 | 126, p.length >> 8, p.length & 255]);
      return Buffer.concat([hdr, m, Buffer.from(p.map((b, i) => b ^ m[i % 4]))]);
    };
    let opened = false;
    sock.on("data", () => {
      if (opened) return;
      opened = true;
      sock.write(frame("40"));
      for (const r of ["datasets", "stats", "notifications"]) sock.write(frame(`42["join_room",{"room":"${r}"}]`));
      setTimeout(() => sock.pause(), 500); // stop reading: the server's sends pile up
      inc("abuse_nonreader_open");
    });
    sock.on("error", () => {});
    sock.on("close", () => { inc("abuse_nonreader_closed"); resolve(); });
    setTimeout(() => sock.destroy(), 120000); // give up after 2 minutes and come back
  });
}
async function nonReaders(n) {
  await Promise.all(Array.from({ length: n }, async () => { while (!stopping) { await nonReader(); await sleep(1000); } }));
}
// A POST whose body trickles in one byte per second; a GET whose headers do the same.
function slowRequest(kind) {
  return new Promise((resolve) => {
    const sock = net.connect(Number(URLB.port), URLB.hostname);
    let timer;
    const body = '{"title":"slow","message":"' + "x".repeat(200) + '"}';
    const head = kind === "body"
      ? `POST /api/notifications/test HTTP/1.1\r\nHost: ${URLB.host}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${body.length}\r\n${TOKEN ? `Authorization: Bearer ${TOKEN}\r\n` : ""}\r\n`
      : `GET /api/stats HTTP/1.1\r\nHost: ${URLB.host}\r\n`;
    const rest = kind === "body" ? body : "X-Slow: " + "y".repeat(200) + "\r\n\r\n";
    let i = 0;
    sock.on("connect", () => {
      sock.write(head.slice(0, kind === "body" ? head.length : 20));
      const drip = kind === "body" ? rest : head.slice(20) + rest;
      timer = setInterval(() => { if (stopping || i >= drip.length) return sock.end(); sock.write(drip[i++]); }, 1000);
      inc(`abuse_slow_${kind}_open`);
    });
    sock.on("data", () => inc(`abuse_slow_${kind}_answered`));
    sock.on("error", () => {});
    sock.on("close", () => { clearInterval(timer); resolve(); });
  });
}
async function slowClients(n) {
  await Promise.all(Array.from({ length: n }, async (_, i) => {
    while (!stopping) { await slowRequest(i % 2 ? "body" : "headers"); await sleep(500); }
  }));
}
// Floods: a Socket.IO client emitting as fast as acks come back, and unpaced REST GETs.
async function sioFlood() {
  const s = io(BASE, { forceNew: true, transports: ["websocket"] });
  s.on("connect", () => inc("abuse_flood_connect"));
  // The broker disconnects a client that keeps exceeding its rate limit: come straight back.
  s.on("disconnect", (reason) => {
    inc(`abuse_flood_disconnect_${reason.replace(/ /g, "_")}`);
    if (reason === "io server disconnect" && !stopping) setTimeout(() => s.connect(), 1000);
  });
  while (!stopping) {
    if (s.connected) {
      for (let k = 0; k < 50; k++) s.emit("ping", {});
      inc("abuse_flood_emits", 50);
    }
    await sleep(50);
  }
  s.disconnect();
}
async function restFlood() {
  const ag = new http.Agent({ keepAlive: true, maxSockets: 4 });
  while (!stopping) {
    const r = await request("GET", pick(["/api/stats", "/api/datasets?limit=500", "/api/nope"]), undefined, {}, ag);
    inc(`abuse_rest_flood_${r.status}`);
  }
}

// ---- figures ----
// Least-squares slope per minute and its standard error (the samples are noisy: clients
// come and go, so a short run needs the error to tell growth from churn).
function slopePerMin(pts, key) {
  const xs = pts.map((p) => p.t / 60000), ys = pts.map((p) => p[key]);
  const n = xs.length;
  if (n < 3) return { slope: NaN, se: NaN };
  const mx = xs.reduce((a, b) => a + b) / n, my = ys.reduce((a, b) => a + b) / n;
  let num = 0, den = 0;
  for (let i = 0; i < n; i++) { num += (xs[i] - mx) * (ys[i] - my); den += (xs[i] - mx) ** 2; }
  const slope = num / den;
  let sse = 0;
  for (let i = 0; i < n; i++) sse += (ys[i] - my - slope * (xs[i] - mx)) ** 2;
  return { slope, se: Math.sqrt(sse / (n - 2) / den) };
}
function pct(arr, p) {
  if (!arr.length) return NaN;
  const s = [...arr].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

async function main() {
  console.log(`soak: ${CLIENTS} Socket.IO clients, 8 REST readers, 2 writers, ` +
              `${ABUSE ? "6 non-readers, 6 slow requests, 2 floods" : "no abusive clients (ABUSE=0)"}, ${DURATION / 1000} s (warm-up ${WARMUP / 1000} s) against ${BASE} (pid ${PID})`);
  sample();
  const sampler = setInterval(sample, SAMPLE);
  const heapSampler = setInterval(sampleHeap, 30000);
  const tasks = [prober()];
  const clients = [];
  for (let i = 0; i < CLIENTS; i++) clients.push(sioClient(i));
  for (let i = 0; i < 8; i++) tasks.push(reader());
  for (let i = 0; i < 2; i++) tasks.push(writer());
  if (ABUSE) tasks.push(nonReaders(6), slowClients(6), sioFlood(), restFlood());
  const progress = setInterval(() => {
    const s = samples[samples.length - 1] || {};
    const recent = health.filter((h) => h.t > now() - 60000).map((h) => h.ms);
    console.log(`soak: t=${Math.round(now() / 1000)}s rss=${s.rss} KiB fds=${s.fds} threads=${s.threads} ` +
                `health p99(1 min)=${pct(recent, 99)?.toFixed(1)} ms connected=${clients.filter((c) => c.connected).length}`);
  }, 30000);
  await sleep(DURATION);
  stopping = true;
  clearInterval(progress);
  clearInterval(sampler);
  clearInterval(heapSampler);
  sample();
  for (const c of clients) c.disconnect();
  await Promise.race([Promise.all(tasks), sleep(15000)]);

  const after = samples.filter((s) => s.t >= WARMUP);
  const ms = health.map((h) => h.ms);
  const windows = [];
  for (let w = 0; w * 60000 < DURATION; w++) {
    const v = health.filter((h) => h.t >= w * 60000 && h.t < (w + 1) * 60000).map((h) => h.ms);
    if (v.length) windows.push(pct(v, 99));
  }
  const bad = health.filter((h) => h.status !== 200).length;
  const slopes = { rss: slopePerMin(after, "rss"), fds: slopePerMin(after, "fds"), threads: slopePerMin(after, "threads") };
  // Flat: RSS grows less than 1 MiB a minute, fds and threads less than one a minute, give or
  // take two standard errors of the slope (a decrease is fine).
  const limits = { rss: 1024, fds: 1, threads: 1 };
  const first = after[0] || {}, last = after[after.length - 1] || {};
  console.log("soak: counters " + JSON.stringify(Object.fromEntries(Object.entries(count).sort())));
  let ok = true;
  for (const k of ["rss", "fds", "threads"]) {
    const { slope, se } = slopes[k];
    const judged = k !== "rss" || env("RSS_CHECK", "1") !== "0";
    const flat = slope <= limits[k] + 2 * se;
    ok &&= flat || !judged;
    console.log(`soak: ${k.padEnd(7)} after warm-up ${first[k]} -> ${last[k]}` +
                ` (min ${Math.min(...after.map((s) => s[k]))}, max ${Math.max(...after.map((s) => s[k]))}),` +
                ` slope ${slope.toFixed(2)} ± ${se.toFixed(2)}${k === "rss" ? " KiB" : ""}/min` +
                ` (flat: at most ${limits[k]} + 2 s.e.) ` +
                (judged ? (flat ? "ok" : "NOT FLAT") : "not judged: ASan quarantine and shadow memory"));
  }
  // Not judged: where an RSS slope comes from (the live heap, or freed memory malloc keeps).
  const heapAfter = heap.filter((s) => s.t >= WARMUP);
  if (heapAfter.length >= 3) {
    for (const [k, label] of [["inUse", "malloc in use"], ["free", "malloc kept free"]]) {
      const { slope, se } = slopePerMin(heapAfter, k);
      console.log(`soak: ${label} after warm-up ${heapAfter[0][k]} -> ${heapAfter[heapAfter.length - 1][k]} KiB` +
                  ` (min ${Math.min(...heapAfter.map((s) => s[k]))}, max ${Math.max(...heapAfter.map((s) => s[k]))}),` +
                  ` slope ${slope.toFixed(2)} ± ${se.toFixed(2)} KiB/min (printed, not judged)`);
    }
  }
  const p99 = pct(ms, 99), worstWin = Math.max(...windows);
  const healthOk = p99 < P99_LIMIT && worstWin < P99_LIMIT && bad === 0;
  ok &&= healthOk;
  console.log(`soak: /api/health ${ms.length} probes, ${bad} not 200, p50 ${pct(ms, 50).toFixed(1)} ms,` +
              ` p99 ${p99.toFixed(1)} ms, max ${Math.max(...ms).toFixed(1)} ms,` +
              ` worst per-minute p99 ${worstWin.toFixed(1)} ms (limit ${P99_LIMIT} ms) ${healthOk ? "ok" : "FAILED"}`);
  console.log(`soak: per-minute p99 (ms): ${windows.map((w) => w.toFixed(1)).join(" ")}`);
  fs.writeFileSync(env("SAMPLES_OUT", "/dev/null"), JSON.stringify({ samples, heap, health, count }, null, 0));
  process.exit(ok ? 0 : 1);
}
main();
