// The bench's loopback receiver, a child process: one HTTP server per
// endpoint (its own port, as separate receivers would be), answering 204.
// IPC: {hold} keeps new requests waiting, {open} answers them and the rest,
// {expect: n} reports {done, ms} when n requests have arrived since it.
import http from "node:http";

const n = Number(process.argv[2]);
let held = false, waiting = [], count = 0, target = 0, t0 = 0, conns = 0;
const answer = (res) => { res.writeHead(204); res.end(); };
const ports = [];
let up = 0;
for (let i = 0; i < n; i++) {
  const s = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      count++;
      if (target && count === target) process.send({ done: count, ms: performance.now() - t0, conns });
      if (held) waiting.push(res); else answer(res);
    });
  });
  s.keepAliveTimeout = 60000;
  s.on("connection", () => conns++);
  s.listen(0, "127.0.0.1", () => {
    ports[i] = s.address().port;
    if (++up === n) process.send({ ports });
  });
}
process.on("message", (m) => {
  if (m.hold) held = true;
  if (m.open) { held = false; const w = waiting; waiting = []; w.forEach(answer); }
  if (m.expect) { count = 0; conns = 0; target = m.expect; t0 = performance.now(); }
  if (m.quit) process.exit(0);
});
