// permessage-deflate's cost on the lws transport: the same server
// ([broker] transport = lws) with lws_deflate off and on, N WebSocket clients
// that offer the extension (the ws package's default offer, as browsers
// make), M broadcasts of a ~1 KiB notification to all of them; per run: the
// server's RSS per connection (after the broadcasts, when zlib's state
// exists), bytes each client received on the wire, and the server's CPU per
// delivery; then the on/off ratios.
//   node bench/fanout/deflate.mjs BUILD_DIR [CLIENTS] [MESSAGES]   (default 1000 20)
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import WebSocket from "ws";

const build = path.resolve(process.argv[2] || "build");
const N = Number(process.argv[3] || 1000);
const M = Number(process.argv[4] || 20);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const freePort = () => new Promise((r) => {
  const s = net.createServer().listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => r(p)); });
});
const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))[1]);
const cpuS = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, USER_HZ = 100
};

async function run(deflate) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "vgdeflate-"));
  const port = await freePort();
  let wport = await freePort();
  while (wport === port) wport = await freePort();
  const ini = path.join(dir, "vigia.ini");
  writeFileSync(ini, `[server]
listen = 127.0.0.1:${port}
database = ${dir}/vigia.db
plugin_dir = ${build}/plugins-out
plugins = reststub, busbridge, broker
log_level = warn
log_file = ${dir}/vigia.log
max_conns_per_ip = ${N + 600}
[reststub]
notifications = 0
datasets = 0
provide = notifications
[busbridge]
max_events = 0
[broker]
transport = lws
lws_listen = 127.0.0.1:${wport}
lws_max_per_ip = ${N + 100}
lws_deflate = ${deflate}
max_clients = ${N + 100}
max_unconnected = 512
max_unconnected_per_ip = 512
recent_limit = 0
`);
  const proc = spawn(`${build}/core/vigia`, ["--config", ini], { stdio: "ignore" });
  for (let i = 0; ; i++) {
    try { if ((await fetch(`http://127.0.0.1:${port}/api/health`)).ok) break; } catch {}
    if (i > 300) throw new Error("vigia did not start");
    await sleep(50);
  }
  const rss0 = rssKb(proc.pid);
  const clients = [];
  let got = 0, negotiated = 0;
  const url = `ws://127.0.0.1:${wport}/socket.io/?EIO=4&transport=websocket`;
  for (let i = 0; i < N; i += 100) { // 100 handshakes in flight at most
    await Promise.all(Array.from({ length: Math.min(100, N - i) }, () => new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: true });
      clients.push(ws);
      ws.on("message", (d) => {
        const s = d.toString();
        if (s === "2") ws.send("3");
        else if (s.startsWith("0{")) ws.send("40");
        else if (s.startsWith("40")) {
          if (ws.extensions.includes("permessage-deflate")) negotiated++;
          resolve();
        } else if (s.startsWith('42["new_notification"')) got++;
      });
      ws.on("error", reject);
    })));
  }
  const cpu0 = cpuS(proc.pid);
  const text = "Dataset 'calidad-del-aire-2024' of datos.gob.example: 3 resources unreachable " +
    "(HTTP 404), last success 2024-05-01. ".repeat(8);
  for (let k = 0; k < M; k++) {
    await fetch(`http://127.0.0.1:${port}/test/publish`, {
      method: "POST",
      body: JSON.stringify({ topic: "notification.created", payload: { v: 1, notification: { id: `n${k}`, title: "broken resources", message: text }, unread_count: k } }),
    });
  }
  for (let i = 0; got < N * M && i < 600; i++) await sleep(50);
  await sleep(500);
  const rss1 = rssKb(proc.pid);
  const cpu = cpuS(proc.pid) - cpu0;
  const wire = clients.reduce((a, ws) => a + ws._socket.bytesRead, 0) / N;
  for (const ws of clients) ws.terminate();
  proc.kill("SIGTERM");
  await new Promise((r) => proc.on("exit", r));
  rmSync(dir, { recursive: true, force: true });
  return {
    deflate, clients: N, negotiated, delivered: got, expected: N * M,
    rss_before_mb: rss0 / 1024, rss_after_mb: rss1 / 1024, rss_per_conn_kb: (rss1 - rss0) / N,
    wire_bytes_per_client: wire, cpu_us_per_delivery: (1e6 * cpu) / Math.max(1, got),
  };
}

const off = await run(false);
const on = await run(true);
console.log(`\n== permessage-deflate on lws: ${N} clients offering it, ${M} broadcasts of ~1 KiB ==`);
console.log(`${"".padEnd(30)}${"off".padStart(12)}${"on".padStart(12)}${"on/off".padStart(10)}`);
for (const [name, k] of [["negotiated", "negotiated"], ["delivered", "delivered"],
  ["server RSS after, MB", "rss_after_mb"], ["RSS per connection KiB", "rss_per_conn_kb"],
  ["wire bytes per client", "wire_bytes_per_client"], ["server CPU us/delivery", "cpu_us_per_delivery"]]) {
  const f = (v) => (Number.isInteger(v) ? String(v) : v.toFixed(2));
  const ratio = off[k] ? (on[k] / off[k]).toFixed(2) : "";
  console.log(`${name.padEnd(30)}${f(off[k]).padStart(12)}${f(on[k]).padStart(12)}${ratio.padStart(10)}`);
}
console.log(`\nreproduce: node bench/fanout/deflate.mjs ${process.argv[2] || "build"} ${N} ${M}`);
