// Two vigia nodes (b, c) behind Debian's nginx with the ip_hash configuration
// of docs/cluster.md, a third (a, the notifications store) beside them, all
// joined through a real redis-server; the official socket.io-client.
//   - ip_hash: clients come from different loopback addresses (127.N.0.1:
//     ip_hash keys on the first three octets, and all of 127/8 is loopback),
//     so they spread over the nodes; every long-polling request of one
//     client reaches one node (nginx's access log: address -> upstream).
//     Their stats_update counts the clients of all nodes.
//   - a dataset event from the monitor's node: a runs the monitor on a CKAN
//     fixture portal (tests/fixtures); a title changed there reaches every
//     client on b and c once, as dataset_update.
//   - past the replay log's cap: a client whose node dies while more events
//     than the log keeps are created gets a new session on the other node,
//     not a recovered one with a hole (the log here is small: replay_max =
//     16 and Redis's stream nodes of 8 entries, so "~" trims close to it).
//   - what is saved besides a client's own changes: a room a plugin put it
//     in (broker.join), and its state again while it stays connected, so a
//     client idle longer than session_ttl (3 s on node c) still resumes on
//     another node after a kill -9.
// redis-server and nginx are started on free ports with temp dirs and killed
// by pid. Skipped, saying so, when redis-server, nginx or plugins are missing.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import net from "node:net";
import { io } from "socket.io-client";
import { Vigia, once, sleep, waitFor } from "./server.mjs";
import { freePort } from "../support/net.mjs";

const pluginDir = process.env.VIGIA_PLUGIN_DIR || "";
const redisBin = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].find((p) => existsSync(p));
const nginxBin = ["/usr/sbin/nginx", "/usr/local/sbin/nginx"].find((p) => existsSync(p));
const fixtureBin = path.join(process.env.VIGIA_BUILD_DIR || "", "tests/fixtures/ckan-fixture/ckan-fixture");
const needed = ["cluster", "notifications", "rest", "broker", "busbridge", "monitor"].filter((p) => !existsSync(path.join(pluginDir, `${p}.so`)));
const skip = !redisBin ? "redis-server is not installed (Debian: redis-server; scripts/install-deps.sh test installs it)"
  : !nginxBin ? "nginx is not installed (Debian: nginx-light; scripts/install-deps.sh test installs it)"
  : needed.length ? `plugins not built: ${needed.join(", ")}`
  : !existsSync(fixtureBin) ? `the CKAN fixture is not built (${fixtureBin})` : false;

const PASSWORD = "vgt-s3cret";
const tmp = mkdtempSync(path.join(os.tmpdir(), "vgres-"));
let redis, nginx, redisPort, nginxPort, fixture, fixturePort;
const nodes = {};
const dead = [];
const clients = [];

function accepts(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.on("connect", () => { s.destroy(); resolve(true); });
    s.on("error", () => resolve(false));
  });
}

function startProc(bin, args) {
  const p = spawn(bin, args, { stdio: ["ignore", "ignore", "pipe"] });
  p.stderrText = "";
  p.stderr.on("data", (d) => { p.stderrText += d; });
  p.exited = new Promise((r) => p.on("exit", (code, sig) => r({ code, sig })));
  return p;
}

async function killProc(p) {
  if (!p || p.exitCode !== null || p.signalCode) return;
  p.kill("SIGKILL");
  await p.exited;
}

// docs/cluster.md's configuration; the log says which node each request reached.
function nginxConf(ports) {
  const d = path.join(tmp, "nginx");
  return `daemon off;
master_process off;
worker_processes 1;
error_log ${d}/error.log warn;
pid ${d}/nginx.pid;
events { worker_connections 256; }
http {
  log_format sticky '$remote_addr $upstream_addr "$request"';
  access_log ${d}/access.log sticky;
  client_body_temp_path ${d}/body;
  proxy_temp_path ${d}/proxy;
  fastcgi_temp_path ${d}/fastcgi;
  uwsgi_temp_path ${d}/uwsgi;
  scgi_temp_path ${d}/scgi;
  upstream vigia {
    ip_hash;
${ports.map((p) => `    server 127.0.0.1:${p};`).join("\n")}
  }
  map $http_upgrade $connection_upgrade {
    default upgrade;
    '' close;
  }
  server {
    listen 127.0.0.1:${nginxPort};
    location / {
      proxy_pass http://vigia;
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_read_timeout 75s;
      proxy_buffering off;
    }
  }
}
`;
}

before(async () => {
  if (skip) return;
  redisPort = await freePort();
  const rdir = path.join(tmp, "redis");
  mkdirSync(rdir, { recursive: true });
  redis = startProc(redisBin, ["--port", String(redisPort), "--bind", "127.0.0.1", "--dir", rdir, "--save", "",
    "--appendonly", "no", "--daemonize", "no", "--requirepass", PASSWORD, "--stream-node-max-entries", "8"]);
  await waitFor(() => accepts(redisPort), 10000, 20);
  const cluster = (id, more = "") => `\n[cluster]\nredis_url = redis://:${PASSWORD}@127.0.0.1:${redisPort}\nnode_id = ${id}\n` +
    `name = vgtr${redisPort}\nevents = notification. dataset.\nreplay_max = 16\n${more}`;
  fixturePort = await freePort();
  fixture = startProc(fixtureBin, ["--port", String(fixturePort), "--datasets", "3", "--orgs", "1", "--resources-per-dataset", "1"]);
  await waitFor(() => accepts(fixturePort), 10000, 20);
  // the monitor on a only: one sweep at start, the next when the test asks
  const monitor = `\n[monitor]\napi_delay = 0\ntimeout = 2s\nconnect_timeout = 1s\nper_host_interval = 0\n` +
    `contact_url = https://example.invalid/vigia-tests\n[monitor:fx]\nbase_url = http://127.0.0.1:${fixturePort}\n` +
    `interval = 1h\nrows = 5\n`;
  nodes.a = new Vigia({ plugins: "notifications, rest, broker, busbridge, cluster, monitor", server: cluster("a") + monitor });
  nodes.b = new Vigia({ plugins: "rest, broker, busbridge, cluster", server: cluster("b") });
  nodes.c = new Vigia({ plugins: "rest, broker, busbridge, cluster", server: cluster("c", "session_ttl = 3s\n") });
  await Promise.all(Object.values(nodes).map((n) => n.start()));
  for (const n of [nodes.b, nodes.c])
    await waitFor(async () => (await n.call("cluster.status")).result.remote_methods > 0, 10000, 100);
  nginxPort = await freePort();
  const ndir = path.join(tmp, "nginx");
  mkdirSync(ndir, { recursive: true });
  writeFileSync(path.join(ndir, "nginx.conf"), nginxConf([nodes.b.port, nodes.c.port]));
  nginx = startProc(nginxBin, ["-p", ndir, "-c", path.join(ndir, "nginx.conf")]);
  await waitFor(async () => {
    if (nginx.exitCode !== null) throw new Error(`nginx exited: ${nginx.stderrText}`);
    return accepts(nginxPort);
  }, 10000, 20);
});

after(async () => {
  for (const s of clients) s.disconnect();
  await killProc(nginx);
  const errors = [];
  for (const n of dead) rmSync(n.dir, { recursive: true, force: true });
  for (const n of Object.values(nodes)) {
    try { await n.cleanup(); } catch (e) { errors.push(e); }
  }
  await killProc(redis);
  await killProc(fixture);
  rmSync(tmp, { recursive: true, force: true });
  if (errors.length) throw errors[0];
});

// A client from its own loopback address, long-polling only.
function client(addr, opts = {}) {
  const agent = new http.Agent({ localAddress: addr, keepAlive: true });
  const s = io(`http://127.0.0.1:${nginxPort}`, { transports: ["polling"], agent, reconnectionDelay: 200, reconnectionDelayMax: 1000, ...opts });
  clients.push(s);
  return s;
}

async function onNode() {
  const out = {};
  for (const [id, n] of Object.entries(nodes)) out[id] = (await n.status()).clients.total;
  return out;
}

const addrs = [1, 2, 3, 4, 5, 6].map((k) => `127.${k}.0.1`);

test("ip_hash: one node per client address, clients spread over the nodes", { skip }, async () => {
  const ss = [];
  for (const a of addrs) {
    const s = client(a);
    await once(s, "recent_notifications", 10000);
    ss.push(s);
  }
  // A few more long-polling round trips each, and a notification to all.
  for (const s of ss) for (let i = 0; i < 3; i++) await s.timeout(5000).emitWithAck("join_room", { room: `r${i}` });
  // stats_update carries the cluster's client total, on every node.
  const last = new Map();
  for (const s of ss) {
    s.on("stats_update", (m) => last.set(s, m.stats));
    await s.timeout(5000).emitWithAck("join_room", { room: "stats" });
  }
  const got = ss.map((s) => once(s, "new_notification", 10000));
  const r = await fetch(`${nodes.a.base}/api/notifications/test`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  assert.equal(r.status, 201);
  await Promise.all(got);
  await waitFor(() => ss.every((s) => last.get(s)?.clients?.connected === addrs.length && last.get(s).clients.nodes === 3), 10000, 50);
  const counts = await onNode();
  assert.equal(counts.b + counts.c, addrs.length);
  assert.ok(counts.b > 0 && counts.c > 0, `ip_hash spread the addresses over both nodes: ${JSON.stringify(counts)}`);
  for (const s of ss) s.disconnect();
  await waitFor(async () => { const c = await onNode(); return c.b + c.c === 0; }, 5000, 50);
  await sleep(200);
  const lines = readFileSync(path.join(tmp, "nginx", "access.log"), "utf8").split("\n").filter((l) => l.includes("/socket.io/"));
  const upstreams = new Map();
  for (const l of lines) {
    const [from, to] = l.split(" ");
    if (!upstreams.has(from)) upstreams.set(from, new Set());
    upstreams.get(from).add(to);
  }
  for (const a of addrs) {
    assert.ok(upstreams.has(a), `nginx saw ${a}`);
    assert.equal(upstreams.get(a).size, 1, `every request of ${a} reached one node: ${[...upstreams.get(a)]}`);
  }
  assert.ok(lines.length >= addrs.length * 6, `long-polling went through nginx (${lines.length} requests)`);
});

test("a dataset event from the monitor's node reaches every client on the other nodes, once", { skip }, async () => {
  const ss = [];
  const seen = new Map();
  for (const a of addrs) {
    const s = client(a);
    await once(s, "recent_notifications", 10000);
    seen.set(s, []);
    s.on("dataset_update", (u) => seen.get(s).push(u));
    await s.timeout(5000).emitWithAck("join_room", { room: "datasets" });
    ss.push(s);
  }
  const counts = await onNode();
  assert.ok(counts.b > 0 && counts.c > 0 && counts.a === 0, `clients on b and c only: ${JSON.stringify(counts)}`);
  // a's first sweep is done (the portal's datasets are known), then a title changes
  const ds = await waitFor(async () => {
    const r = await nodes.a.call("datasets.list", { limit: 10 });
    return r.result?.items?.length === 3 ? r.result.items : null;
  }, 15000, 100);
  const id = ds[0].id;
  const r = await fetch(`http://127.0.0.1:${fixturePort}/_control`, { method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ op: "modify_dataset", id, title: "retitled across nodes" }) });
  assert.equal(r.status, 200, await r.text());
  const run = await nodes.a.call("monitor.run_now", { portal: "fx" });
  assert.deepEqual(run.result.started, ["fx"], JSON.stringify(run));
  const mine = (s) => seen.get(s).filter((u) => u.event === "dataset.modified" && u.dataset_info?.id === id);
  await waitFor(() => ss.every((s) => mine(s).length >= 1), 15000, 50);
  await sleep(300); // a duplicate would have come by now
  for (const s of ss) {
    assert.equal(mine(s).length, 1, "once");
    assert.equal(mine(s)[0].dataset_info.title, "retitled across nodes");
  }
  for (const s of ss) s.disconnect();
  await waitFor(async () => { const c = await onNode(); return c.b + c.c === 0; }, 5000, 50);
});

test("past the replay log's cap: a new session, not a recovered one", { skip }, async () => {
  // A client on b that waits 2.5 s before reconnecting, while 40 notifications
  // (more than replay_max = 16) are created.
  const counts0 = await onNode();
  let s, addr;
  for (const a of addrs) {
    const t = client(a, { reconnectionDelay: 2500, reconnectionDelayMax: 2500, randomizationFactor: 0 });
    await once(t, "recent_notifications", 10000);
    const c = await onNode();
    if (c.b > counts0.b) { s = t; addr = a; break; }
    t.disconnect();
  }
  assert.ok(s, "one of the addresses lands on b");
  const id0 = s.id;
  await s.timeout(5000).emitWithAck("join_room", { room: "x" });
  const back = once(s, "connect", 15000);
  const recent = once(s, "recent_notifications", 15000);
  dead.push(nodes.b);
  nodes.b.proc.kill("SIGKILL");
  await nodes.b.exited;
  delete nodes.b;
  for (let i = 0; i < 40; i++) {
    const r = await fetch(`${nodes.a.base}/api/notifications/test`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    assert.equal(r.status, 201);
  }
  await back;
  assert.equal(s.recovered, false, `${addr}: past the cap, not recovered`);
  assert.notEqual(s.id, id0, "a new socket id");
  await recent; // a new session loads the recent ones instead
  assert.match(nodes.c.log(), /session not resumed from the cluster: trimmed/);
  const st = await nodes.a.call("cluster.status");
  assert.ok(st.result.events_forwarded >= 41);
});

test("a client idle past session_ttl and a plugin's room resume on another node", { skip }, async () => {
  // Straight to c over WebSocket; when c dies the clients are sent to a, as
  // a load balancer would (the next connection goes to the manager's URI).
  const connect = async () => {
    const s = io(`http://127.0.0.1:${nodes.c.port}`, { transports: ["websocket"], reconnectionDelay: 200, reconnectionDelayMax: 500 });
    clients.push(s);
    await once(s, "recent_notifications", 10000);
    return s;
  };
  const idle = await connect();
  await sleep(4000); // past c's session_ttl (3 s): only the re-saves (every 1.5 s) keep idle's state in Redis
  const moved = await connect();
  // a plugin puts it in a room just before c dies: no re-save comes in between
  const j = await nodes.c.call("broker.join", { sid: moved.id, room: "vip" });
  assert.equal(j.result.joined, true, JSON.stringify(j));
  // the save goes out through the bus and the cluster's link; the next
  // re-save is due 1.5 s after it (never within this wait)
  await sleep(400);
  const ids = [idle.id, moved.id];
  const back = [idle, moved].map((s) => { s.io.uri = nodes.a.base; return once(s, "connect", 15000); });
  dead.push(nodes.c);
  nodes.c.proc.kill("SIGKILL");
  await nodes.c.exited;
  delete nodes.c;
  await Promise.all(back);
  assert.equal(idle.recovered, true, "the idle client is recovered on a");
  assert.equal(moved.recovered, true, "the moved client is recovered on a");
  assert.deepEqual([idle.id, moved.id], ids, "with their socket ids");
  const news = once(moved, "vip_news", 5000);
  const r = await nodes.a.call("broker.emit", { to: { room: "vip" }, event: "vip_news", args: [1] });
  assert.equal(r.result.sent, 1, `a has it in the plugin's room: ${JSON.stringify(r)}`);
  await news;
});
