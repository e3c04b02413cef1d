// Webhook deliveries per second to loopback receivers with 1, 10 and 100
// endpoints, next to a Node peer (standardwebhooks + node:http keep-alive)
// sending the same signed requests with as many requests in flight.
//
// Vigía's side: the real vigia with busbridge + webhook; N delivery.requested
// are published (as the watch's outbox would) while the receivers hold their
// answers, so the webhook queue is full; then the receivers answer and the
// time to the Nth request is measured: render + sign + POST, nothing else.
import { fork, execFileSync } from "node:child_process";
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
  const t0 = performance.now();
  rx.c.send({ open: true });
  const m = await done;
  return performance.now() - t0 + 0 * m.ms;
}

const rows = [];
for (const E of ENDPOINTS) {
  const rx = receiver(E);
  const { ports } = await rx.next((m) => m.ports);
  const urls = ports.map((p) => `http://127.0.0.1:${p}/hook`);
  const vg = await new Vigia({ webhook: `allow_private_webhooks = true\nthreads = ${THREADS}\nqueue = ${N + 100}\n`,
    extra: "" }).start();
  const ids = [], secrets = [];
  for (const u of urls) {
    const r = await vg.api("POST", "/api/webhooks", { url: u, lang: "en" });
    if (r.status !== 201) throw new Error(JSON.stringify(r.body));
    ids.push(r.body.id);
    secrets.push(r.body.secret);
  }
  let best = Infinity, bestPeer = Infinity;
  for (let k = 0; k < REPEAT; k++) {
    best = Math.min(best, await vigiaRun(vg, ids, rx));
    const done = rx.next((m) => m.done);
    rx.c.send({ expect: N });
    const out = JSON.parse(execFileSync(process.execPath, [here + "peer.mjs", JSON.stringify([urls, secrets, N, THREADS])]).toString());
    await done;
    bestPeer = Math.min(bestPeer, out.ms);
  }
  const st = await vg.call("webhook.status");
  await vg.cleanup();
  rx.c.send({ quit: true });
  const v = N / (best / 1000), p = N / (bestPeer / 1000);
  rows.push({ E, v, p, sent: st.result.deliveries.sent, failed: st.result.deliveries.failed + st.result.deliveries.retry });
}

console.log(`webhook deliveries/s, ${N} deliveries per run, ${THREADS} in flight, best of ${REPEAT}, loopback receivers (one port per endpoint)`);
console.log("endpoints   vigia/s    peer/s   ratio (vigia/peer)   vigia sent / not sent");
for (const r of rows)
  console.log(`${String(r.E).padStart(9)} ${r.v.toFixed(0).padStart(9)} ${r.p.toFixed(0).padStart(9)} ${r.v / r.p >= 10 ? "" : " "}${(r.v / r.p).toFixed(2).padStart(7)}              ${r.sent} / ${r.failed}`);
console.log(`reproduce: bench/webhook/run.sh ${process.env.BUILD || "build"}   (N=${N} THREADS=${THREADS} ENDPOINTS=${ENDPOINTS.join(",")} REPEAT=${REPEAT})`);
