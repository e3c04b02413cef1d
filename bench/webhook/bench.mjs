// Webhook deliveries per second to loopback receivers with 1, 10 and 100
// endpoints, next to a Node peer (standardwebhooks + node:http keep-alive)
// sending the same signed requests with as many requests in flight.
//
// Vigía's side: the real vigia with busbridge + webhook; N delivery.requested
// are published (as the watch's outbox would) while the receivers hold their
// answers, so the webhook queue is full; then the receivers answer and the
// time to the Nth request is measured: render + sign + POST, nothing else.
import { fork, execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

// CPU ms (user + system) a process has used so far.
function cpuMs(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) * 10; // clock ticks of 10 ms
}
import { Vigia } from "../../tests/plugins/webhook/lib.mjs";

const N = Number(process.env.N || 4000);
const THREADS = Number(process.env.THREADS || 4);
const ENDPOINTS = (process.env.ENDPOINTS || "1,10,100").split(",").map(Number);
const REPEAT = Number(process.env.REPEAT || 2);
const here = new URL(".", import.meta.url).pathname;

function receiver(n) {
  const c = fork(here + "receiver.mjs", [String(n)]);
  const next = (pred) => new Promise((r) => { const f = (m) => { if (pred(m)) { c.off("message", f); r(m); } }; c.on("message", f); });
  return { c, next };
}

function request(key, to) {
  return { v: 1, key, channel: "webhook", to, lang: "en", tz: "UTC", kind: "alert", count: 1,
    items: [{ topic: "dataset.status_changed", kind: "down", portal: "demo", at: "2026-12-01T03:00:00Z",
      previous: "up", current: "down", dataset: { id: `id-${key}`, title: `Dataset ${key}` } }],
    links: { manage: "https://vigia.example/m" } };
}

async function vigiaRun(vg, ids, rx) {
  rx.c.send({ hold: true });
  const done = rx.next((m) => m.done);
  rx.c.send({ expect: N });
  let next = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < N) { const i = next++; await vg.publish("delivery.requested", request(`b-${Date.now()}-${i}`, ids[i % ids.length])); }
  }));
  // the receivers saw the first THREADS requests while holding; time from the release
  const t0 = performance.now(), c0 = cpuMs(vg.proc.pid);
  rx.c.send({ open: true });
  const m = await done;
  vigiaConns = Math.max(vigiaConns, m.conns);
  vigiaCpu = cpuMs(vg.proc.pid) - c0;
  return performance.now() - t0;
}

const rows = [];
let vigiaConns = 0, vigiaCpu = 0, peerConns = 0;
for (const E of ENDPOINTS) {
  const rx = receiver(E);
  const { ports } = await rx.next((m) => m.ports);
  const urls = ports.map((p) => `http://127.0.0.1:${p}/hook`);
  const vg = await new Vigia({ webhook: `allow_private_webhooks = true\nthreads = ${THREADS}\nqueue = ${N + 100}\n`,
    extra: "", events: 0 }).start(); // the bridge records nothing: only the channel's work is timed
  const ids = [], secrets = [];
  for (const u of urls) {
    const r = await vg.api("POST", "/api/webhooks", { url: u, lang: "en" });
    if (r.status !== 201) throw new Error(JSON.stringify(r.body));
    ids.push(r.body.id);
    secrets.push(r.body.secret);
  }
  let best = Infinity, bestPeer = Infinity, cpuV = Infinity, cpuP = Infinity;
  vigiaConns = 0;
  peerConns = 0;
  for (let k = 0; k < REPEAT; k++) {
    best = Math.min(best, await vigiaRun(vg, ids, rx));
    cpuV = Math.min(cpuV, vigiaCpu);
    const done = rx.next((m) => m.done);
    rx.c.send({ expect: N });
    var out = JSON.parse(execFileSync(process.execPath, [here + "peer.mjs", JSON.stringify([urls, secrets, N, THREADS])]).toString());
    out.conns = Math.max(peerConns, (await done).conns);
    peerConns = out.conns;
    bestPeer = Math.min(bestPeer, out.ms);
    cpuP = Math.min(cpuP, out.cpu);
  }
  const st = await vg.call("webhook.status");
  await vg.cleanup();
  rx.c.send({ quit: true });
  const v = N / (best / 1000), p = N / (bestPeer / 1000);
  rows.push({ E, v, p, vc: vigiaConns, pc: out.conns, cv: cpuV / N * 1000, cp: cpuP / N * 1000, sent: st.result.deliveries.sent, failed: st.result.deliveries.failed + st.result.deliveries.retry });
}

console.log(`webhook deliveries/s, ${N} deliveries per run, ${THREADS} in flight, best of ${REPEAT}, loopback receivers (one port per endpoint)`);
console.log("endpoints  vigia/s  peer/s  ratio   CPU ms per 1000: vigia  peer  ratio   connections opened vigia/peer  vigia sent/not");
for (const r of rows)
  console.log(`${String(r.E).padStart(9)} ${r.v.toFixed(0).padStart(8)} ${r.p.toFixed(0).padStart(7)} ${(r.v / r.p).toFixed(2).padStart(6)}` +
    `   ${r.cv.toFixed(0).padStart(20)} ${r.cp.toFixed(0).padStart(5)} ${(r.cp / r.cv).toFixed(2).padStart(6)}` +
    `   ${String(r.vc).padStart(11)} / ${String(r.pc).padEnd(11)} ${r.sent} / ${r.failed}`);
console.log("ratio: vigia/peer for deliveries/s (higher is better for vigia), peer/vigia for CPU (higher: vigia uses less)");
console.log(`reproduce: bench/webhook/run.sh ${process.env.BUILD || "build"}   (N=${N} THREADS=${THREADS} ENDPOINTS=${ENDPOINTS.join(",")} REPEAT=${REPEAT})`);
