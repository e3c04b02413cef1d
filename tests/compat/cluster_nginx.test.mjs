// Three real vigia nodes joined by the cluster plugin through a real
// redis-server, behind a real nginx (Debian's), with the official
// socket.io-client over WebSocket and over long-polling through nginx.
// A notification created on node A (the only one with the notifications
// store) reaches every client on every node exactly once; a client on C marks
// it read (C's broker calls notifications.mark_read, answered by A) and every
// client hears it once; kill -9 node B while notifications are created: its
// clients reconnect through nginx to A or C, resume their session there
// (recovered, same id) and get exactly the ones they missed, once, in order. redis-server and nginx are started on free ports with
// temp dirs and killed by pid. Skipped, saying so, when redis-server, nginx
// or the cluster plugin are missing.
//
// nginx here hashes on a query parameter instead of the client address
// (docs/cluster.md gives ip_hash): every test client comes from 127.0.0.1,
// and ip_hash would put them all on one node. The stickiness it tests is the
// same: every request of one client (polling GETs and POSTs, the upgrade)
// reaches one node.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import net from "node:net";
import { io } from "socket.io-client";
import { Vigia, once, sleep, waitFor } from "./server.mjs";
import { freePort } from "../support/net.mjs";

const pluginDir = process.env.VIGIA_PLUGIN_DIR || "";
const redisBin = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].find((p) => existsSync(p));
const nginxBin = ["/usr/sbin/nginx", "/usr/local/sbin/nginx"].find((p) => existsSync(p));
const needed = ["cluster", "notifications", "rest", "broker", "busbridge"].filter((p) => !existsSync(path.join(pluginDir, `${p}.so`)));
const skip = !redisBin ? "redis-server is not installed (Debian: redis-server; scripts/install-deps.sh test installs it)"
  : !nginxBin ? "nginx is not installed (Debian: nginx-light; scripts/install-deps.sh test installs it)"
  : needed.length ? `plugins not built: ${needed.join(", ")}` : false;

const PASSWORD = "vgt-s3cret";
const tmp = mkdtempSync(path.join(os.tmpdir(), "vgclu-"));
let redis, nginx, redisPort, nginxPort;
const nodes = {};
const dead = []; // killed nodes: only their dirs to remove
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

function nginxConf(ports) {
  const d = path.join(tmp, "nginx");
  return `daemon off;
master_process off;
worker_processes 1;
error_log ${d}/error.log warn;
pid ${d}/nginx.pid;
events { worker_connections 256; }
http {
  access_log ${d}/access.log;
  client_body_temp_path ${d}/body;
  proxy_temp_path ${d}/proxy;
  fastcgi_temp_path ${d}/fastcgi;
  uwsgi_temp_path ${d}/uwsgi;
  scgi_temp_path ${d}/scgi;
  upstream vigia {
    hash $arg_sticky consistent;
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
    "--appendonly", "no", "--daemonize", "no", "--requirepass", PASSWORD]);
  await waitFor(() => accepts(redisPort), 10000, 20);
  const cluster = (id) => `\n[cluster]\nredis_url = redis://:${PASSWORD}@127.0.0.1:${redisPort}\nnode_id = ${id}\n` +
    `name = vgtn${redisPort}\nevents = notification.\n`;
  nodes.a = new Vigia({ plugins: "notifications, rest, broker, busbridge, cluster", server: cluster("a") });
  nodes.b = new Vigia({ plugins: "rest, broker, busbridge, cluster", server: cluster("b") });
  nodes.c = new Vigia({ plugins: "rest, broker, busbridge, cluster", server: cluster("c") });
  for (const n of Object.values(nodes)) await n.start();
  // b and c see a's notifications.* methods
  for (const n of [nodes.b, nodes.c])
    await waitFor(async () => (await n.call("cluster.status")).result.remote_methods > 0, 10000, 100);
  nginxPort = await freePort();
  const ndir = path.join(tmp, "nginx");
  mkdirSync(ndir, { recursive: true });
  writeFileSync(path.join(ndir, "nginx.conf"), nginxConf(Object.values(nodes).map((n) => n.port)));
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
  rmSync(tmp, { recursive: true, force: true });
  if (errors.length) throw errors[0];
});

// The node a client landed on: the one whose broker counts it.
async function clientCounts() {
  const out = {};
  for (const [id, n] of Object.entries(nodes)) {
    const st = await n.status();
    out[id] = (st.clients.websocket || 0) + (st.clients.polling || 0);
  }
  return out;
}

test("notifications reach every client on every node through nginx, once", { skip }, async () => {
  const base = `http://127.0.0.1:${nginxPort}`;
  // Clients with sticky keys until every node has a WebSocket and a polling client.
  const placed = { a: {}, b: {}, c: {} };
  const all = [];
  for (let k = 0; k < 40 && Object.values(placed).some((p) => !p.websocket || !p.polling); k++) {
    for (const transport of ["websocket", "polling"]) {
      const before = await clientCounts();
      const s = io(base, { transports: [transport], query: { sticky: `k${k}` }, reconnectionDelay: 200, reconnectionDelayMax: 1000 });
      clients.push(s);
      await once(s, "recent_notifications", 10000); // on b and c: answered by a's notifications.list
      const now = await waitFor(async () => {
        const c = await clientCounts();
        const id = Object.keys(c).find((x) => c[x] > before[x]);
        return id ? c : null;
      }, 5000, 50);
      const id = Object.keys(now).find((x) => now[x] > before[x]);
      placed[id][transport] ||= s;
      all.push({ id, t: transport, s });
    }
  }
  for (const id of ["a", "b", "c"])
    for (const t of ["websocket", "polling"])
      assert.ok(placed[id][t], `no ${t} client landed on node ${id}`);

  const got = new Map(all.map((c) => [c, []]));
  const read = new Map(all.map((c) => [c, []]));
  for (const c of all) {
    c.s.on("new_notification", (n) => got.get(c).push(n));
    c.s.on("notification_marked_read", (n) => read.get(c).push(n));
  }
  // Created on a through its REST API (not through nginx: the admin route wants loopback).
  for (let i = 0; i < 3; i++) {
    const r = await fetch(`${nodes.a.base}/api/notifications/test`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    assert.equal(r.status, 201);
  }
  await waitFor(() => all.every((c) => got.get(c).length >= 3), 10000, 50);
  await sleep(300); // a duplicate would have come by now
  const ids = got.get(all[0]).map((n) => n.notification.id);
  for (const c of all) {
    assert.deepEqual(got.get(c).map((n) => n.notification.id), ids, `node ${c.id} ${c.t}: once, in order`);
  }
  // A client on c marks the last one read: c's broker -> a's notifications -> everyone.
  const onC = placed.c.websocket;
  const ack = await onC.timeout(5000).emitWithAck("mark_notification_read", { notification_id: ids[2] });
  assert.equal(ack.notification_id, ids[2]);
  await waitFor(() => all.every((c) => read.get(c).length >= 1), 10000, 50);
  await sleep(300);
  for (const c of all) {
    assert.equal(read.get(c).length, 1, `node ${c.id} ${c.t}: marked read once`);
    assert.equal(read.get(c)[0].notification_id, ids[2]);
  }
  // kill -9 node b while notifications are created: its clients reconnect
  // through nginx to a or c with their recovery offset and resume the same
  // session (recovered, same id) with exactly the ones they missed, once, in
  // order, from the cluster's replay log (docs/cluster.md).
  const onB = all.filter((c) => c.id === "b");
  const sids = new Map(onB.map((c) => [c, c.s.id]));
  const back = onB.map((c) => once(c.s, "connect", 15000));
  for (const c of all) got.get(c).length = 0;
  dead.push(nodes.b);
  nodes.b.proc.kill("SIGKILL");
  await nodes.b.exited;
  delete nodes.b; // clientCounts asks the live nodes only
  for (let i = 0; i < 3; i++) {
    const r = await fetch(`${nodes.a.base}/api/notifications/test`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    assert.equal(r.status, 201);
  }
  await Promise.all(back);
  for (const c of onB) {
    assert.equal(c.s.recovered, true, `${c.t} client of b: recovered on another node`);
    assert.equal(c.s.id, sids.get(c), `${c.t} client of b: same socket id`);
  }
  // The missed ones came from the replay log (resume.c logs how many).
  const resumed = [...(nodes.a.log() + nodes.c.log()).matchAll(/resumed from another node \((\d+) logged events/g)];
  assert.equal(resumed.length, onB.length, "each client of b resumed once");
  console.log(`replayed from the log: ${resumed.map((m) => m[1]).join(", ")}`);
  const counts = await clientCounts();
  assert.equal(counts.a + counts.c, all.length, "every client is on a or c now");
  const r4 = await fetch(`${nodes.a.base}/api/notifications/test`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  assert.equal(r4.status, 201);
  await waitFor(() => all.every((c) => got.get(c).length >= 4), 10000, 50);
  await sleep(300);
  const ids2 = got.get(all.find((c) => c.id !== "b")).map((n) => n.notification.id);
  assert.equal(ids2.length, 4);
  for (const c of all)
    assert.deepEqual(got.get(c).map((n) => n.notification.id), ids2, `${c.id} ${c.t} across the kill: each once, in order`);

  // nginx really was in between: its access log has the polling requests and
  // the WebSocket upgrades (logged when they close).
  for (const c of all) c.s.disconnect();
  await waitFor(async () => Object.values(await clientCounts()).every((n) => n === 0), 5000, 50);
  await sleep(200);
  const log = readFileSync(path.join(tmp, "nginx", "access.log"), "utf8");
  assert.match(log, /GET \/socket\.io\/\?[^ ]*transport=polling/);
  assert.match(log, /GET \/socket\.io\/\?[^ ]*transport=websocket[^"]* HTTP\/1\.1" 101/);
});
