// The peer on the same load: Node with the standardwebhooks package signing
// and node:http with a keep-alive agent, `threads` requests in flight like
// Vigía's sending threads, the same standard body built per message.
import http from "node:http";
import { Webhook } from "standardwebhooks";

const [urls, secrets, n, threads] = JSON.parse(process.argv[2]);
const agent = new http.Agent({ keepAlive: true, maxSockets: threads });
const signers = secrets.map((s) => new Webhook(s));

function body(i) {
  return JSON.stringify({ v: 1, type: "vigia.alert", timestamp: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    data: { key: `alert-${i}`, kind: "alert", lang: "en", tz: "UTC", count: 1,
      title: `Vigía: Dataset ${i} went down`, text: `• Dataset ${i} (Org, demo) went down\n`,
      items: [{ topic: "dataset.status_changed", kind: "down", portal: "demo", at: "2026-12-01T03:00:00Z",
        previous: "up", current: "down", dataset: { id: `id-${i}`, title: `Dataset ${i}` } }],
      links: { manage: "https://vigia.example/m" } } });
}

function send(i) {
  return new Promise((resolve, reject) => {
    const e = i % urls.length, b = body(i), id = `alert-${i}`, now = new Date();
    const sig = signers[e].sign(id, now, b);
    const req = http.request(urls[e], { method: "POST", agent, headers: {
      "Content-Type": "application/json", "Content-Length": Buffer.byteLength(b),
      "webhook-id": id, "webhook-timestamp": String(Math.floor(now / 1000)), "webhook-signature": sig } },
    (res) => { res.resume(); res.on("end", resolve); });
    req.on("error", reject);
    req.end(b);
  });
}

const t0 = performance.now(), c0 = process.cpuUsage();
let next = 0;
await Promise.all(Array.from({ length: threads }, async () => { while (next < n) await send(next++); }));
const c = process.cpuUsage(c0);
process.stdout.write(JSON.stringify({ ms: performance.now() - t0, cpu: (c.user + c.system) / 1000 }));
agent.destroy();
