// Hostile clients against the broker: admin token, origins, rate limit,
// 10,000 random/malformed WebSocket frames, oversize messages, fragments,
// and a client that stops reading while a healthy one must keep receiving.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { io } from "socket.io-client";
import WebSocket from "ws";
import { Vigia, lws, once, sleep, waitFor, sanitized } from "./server.mjs";

const TOKEN = "s3cret-token";
const srv = new Vigia({
  server: `admin_token = ${TOKEN}\n`,
  broker: "allowed_origins = http://good.example\nrate_limit = 10\nrate_burst = 10\nrate_strikes = 5\n" +
    "max_payload = 100000\nmax_clients = 400\n",
});
const sockets = [];

function client(opts = {}) {
  const s = io(srv.sio, { reconnection: false, forceNew: true, transports: ["websocket"], ...opts });
  sockets.push(s);
  return s;
}
const wsUrl = () => `${srv.sio.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket`;

// A raw WebSocket that has done the Engine.IO + Socket.IO handshakes.
function rawClient(headers = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(), { headers, perMessageDeflate: false });
    const t = setTimeout(() => { ws.terminate(); reject(new Error("raw client: no handshake")); }, 5000);
    let step = 0;
    ws.on("message", (data) => {
      const s = data.toString();
      if (step === 0 && s.startsWith("0{")) { step = 1; ws.send("40"); }
      else if (step === 1 && s.startsWith("40{")) { step = 2; clearTimeout(t); resolve(ws); }
      else if (s === "2") ws.send("3");
    });
    ws.on("error", (e) => { clearTimeout(t); reject(e); });
    ws.on("close", () => { clearTimeout(t); if (step < 2) reject(new Error("closed during handshake")); });
  });
}

before(async () => { await srv.start(); });
after(async () => {
  for (const s of sockets) s.disconnect();
  await srv.cleanup();
});

describe("security", () => {
  test("the admin view needs the admin token", async () => {
    assert.equal((await fetch(`${srv.base}/api/broker/admin`)).status, 401);
    const ok = await fetch(`${srv.base}/api/broker/admin`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.equal(ok.status, 200);
    assert.ok("sockets" in (await ok.json()));
  });

  test("clear_notifications needs the admin token from the CONNECT auth", async () => {
    const anon = client();
    await once(anon, "connect");
    const r = await anon.timeout(3000).emitWithAck("clear_notifications");
    assert.equal(r.error.code, "UNAUTHORIZED");
    const admin = client({ auth: { token: TOKEN } });
    await once(admin, "connect");
    const ok = await admin.timeout(3000).emitWithAck("clear_notifications");
    assert.equal(ok.unread_count, 0);
    const wrong = client({ auth: { token: "nope" } });
    const [err] = await once(wrong, "connect_error");
    assert.equal(err.message, "Not authorized");
  });

  test("allowed_origins on upgrade and on polling", async () => {
    const bad = new WebSocket(wsUrl(), { headers: { Origin: "http://evil.example" } });
    const res = await new Promise((resolve) => {
      bad.on("unexpected-response", (_req, r) => resolve(r.statusCode));
      bad.on("open", () => resolve(101));
      bad.on("error", () => resolve(-1));
    });
    assert.equal(res, 403);
    const good = await rawClient({ Origin: "http://good.example" });
    good.close();
    const p = await fetch(`${srv.sio}/socket.io/?EIO=4&transport=polling`, { headers: { Origin: "http://good.example" } });
    assert.equal(p.status, 200);
    assert.equal(p.headers.get("access-control-allow-origin"), "http://good.example");
    assert.equal(p.headers.get("access-control-allow-credentials"), "true");
    const e = await fetch(`${srv.sio}/socket.io/?EIO=4&transport=polling`, { headers: { Origin: "http://evil.example" } });
    assert.equal(e.status, 403);
    assert.deepEqual(await e.json(), { code: 4, message: "Forbidden" });
  });

  test("rate limit: an error first, then a disconnect", async () => {
    const before = (await srv.status()).dropped.rate_limit;
    const s = client();
    await once(s, "connect");
    const errors = [];
    s.on("error", (e) => errors.push(e));
    const gone = once(s, "disconnect", 5000);
    for (let i = 0; i < 100; i++) s.emit("ping");
    const [reason] = await gone;
    assert.equal(reason, "io server disconnect");
    assert.ok(errors.length >= 1 && errors[0].error.code === "RATE_LIMITED", JSON.stringify(errors[0]));
    assert.equal((await srv.status()).dropped.rate_limit, before + 1);
  });
});

describe("abuse", () => {
  test("fragmented messages are reassembled; oversize ones close that connection", async () => {
    const ws = await rawClient();
    const pong = new Promise((resolve) => ws.on("message", (d) => { if (d.toString().startsWith("431[")) resolve(d.toString()); }));
    ws.send('421["pi', { fin: false });
    ws.send('ng"]', { fin: true });
    assert.match(await pong, /^431\[\{"timestamp":\d+\}\]$/);
    const closed = new Promise((resolve) => ws.on("close", (code) => resolve(code)));
    ws.send("4" + "x".repeat(200000));
    assert.equal(await closed, 1009);
  });

  test("10,000 random and malformed frames: the server survives, a healthy client keeps receiving", async () => {
    const healthy = client();
    const got = [];
    healthy.on("new_notification", (n) => got.push(n.notification.title));
    await once(healthy, "connect");
    const clientsBefore = (await srv.status()).clients.total;
    const junk = [
      () => randomBytes(1 + Math.floor(Math.random() * 64)),                   // binary garbage
      () => randomBytes(1 + Math.floor(Math.random() * 64)).toString("latin1"), // text garbage
      () => "4abc", () => "42{}", () => '42abc["x"]', () => '42["connect"]', () => "42[]",
      () => "2", () => "5", () => "9", () => "0{}", () => "4", () => "40/admin,", () => "41/other,",
      () => "451-[\"x\",{\"_placeholder\":true,\"num\":0}]", () => "44{}", () => "43[]",
      () => '42["join_room",{"room":"' + "x".repeat(300) + '"}]',
      () => '42["' + randomBytes(8).toString("hex") + '",' + JSON.stringify({ a: [1, { b: null }] }) + "]",
      () => '42["get_notifications",{"limit":-5,"since":{}}]', () => '42["mark_notification_read",null]',
      () => "4" + "[".repeat(5000), () => '42["ping"' + ",1".repeat(2000) + "]",
    ];
    let sent = 0;
    const TOTAL = 10000;
    const worker = async () => {
      while (sent < TOTAL) {
        let ws;
        try { ws = await rawClient(); } catch { continue; }
        let open = true;
        ws.on("close", () => { open = false; });
        ws.on("error", () => { open = false; });
        for (let i = 0; i < 200 && open && sent < TOTAL; i++) {
          const f = junk[Math.floor(Math.random() * junk.length)]();
          ws.send(f, { binary: typeof f !== "string" }, () => {});
          sent++;
          if (i % 20 === 0) await sleep(0);
        }
        ws.terminate();
      }
    };
    const notifier = (async () => {
      for (let i = 0; sent < TOTAL; i++) { await srv.notify(`h${i}`); await sleep(100); }
    })();
    await Promise.all(Array.from({ length: 8 }, worker));
    await notifier;
    const n = (await srv.notify("final")).notification;
    await waitFor(() => got.includes("final"), 5000);
    assert.ok(healthy.connected, "the healthy client is still connected");
    assert.ok(got.length >= 2, `healthy client got ${got.length} notifications`);
    assert.equal(n.title, "final");
    assert.equal((await fetch(`${srv.base}/api/health`)).status, 200);
    const st = await srv.status();
    assert.ok(st.dropped.protocol > 0);
    assert.ok(sent >= TOTAL);
    // connections of the abusers are gone again (no leak of sessions)
    try {
      await waitFor(async () => (await srv.status()).clients.total <= clientsBefore, 10000);
    } catch (e) {
      console.log(JSON.stringify(await srv.status()));
      throw e;
    }
  });
});

describe("slow reader", () => {
  const slowSrv = new Vigia({ broker: `max_backlog = 256\nmax_backlog_bytes = 1048576\n${process.env.BROKER_SLOW_EXTRA || ""}` });
  before(async () => { await slowSrv.start(); });
  after(async () => { await slowSrv.cleanup(); });

  test("a client that stops reading does not delay a healthy client by more than 100 ms", async () => {
    const healthy = io(slowSrv.sio, { reconnection: false, forceNew: true, transports: ["websocket"] });
    sockets.push(healthy);
    const lat = [];
    let fill = 0;
    healthy.on("new_notification", (n) => {
      if (n.notification.sent) lat.push(Date.now() - n.notification.sent);
      else fill++;
    });
    await once(healthy, "connect");
    const measure = async (tag) => {
      lat.length = 0;
      for (let i = 0; i < 50; i++) {
        await slowSrv.publish("notification.created", { notification: { id: `${tag}${i}`, title: "measure", sent: Date.now() }, unread_count: 0 });
        await sleep(20);
      }
      await waitFor(() => lat.length === 50, 5000);
      const v = [...lat].sort((a, b) => a - b);
      return { p50: v[25], p95: v[47], max: v[49] };
    };
    const base = await measure("b"); // the same load without a stalled peer
    // the slow client: handshake, then never read again
    const slow = await new Promise((resolve, reject) => {
      const ws = new WebSocket(`${slowSrv.sio.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket`);
      ws.on("message", (d) => {
        const s = d.toString();
        if (s.startsWith("0{")) ws.send("40");
        else if (s.startsWith("40{")) { ws._socket.pause(); resolve(ws); }
      });
      ws.on("error", reject);
    });
    const big = "x".repeat(32 * 1024);
    const FILL = 400; // 12.8 MB: more than the kernel buffers plus max_backlog_bytes
    for (let i = 0; i < FILL; i++)
      await slowSrv.publish("notification.created", { notification: { id: String(i), title: "fill", data: big }, unread_count: i });
    await waitFor(() => fill === FILL, 20000);
    const stalled = await measure("m");
    console.log(`healthy client latency (ms): alone ${JSON.stringify(base)}, beside a stalled peer ${JSON.stringify(stalled)}`);
    // A head-of-line block costs at least civetweb's 2 s write timeout. The
    // 100 ms budget is checked on p95 (and on max for an idle machine): on a
    // loaded 2-core box single deliveries spike past 100 ms with or without
    // a stalled peer (see the "alone" figures).
    const bound = sanitized ? 400 : 100;
    assert.ok(stalled.p95 < bound, `p95 ${stalled.p95} ms (bound ${bound} ms)`);
    assert.ok(stalled.max < Math.max(1000, base.max + bound), `max ${stalled.max} ms`);
    const st = await slowSrv.status();
    assert.ok(st.dropped.backlog + st.dropped.write >= 1, JSON.stringify(st.dropped));
    slow.terminate();
  });
});

describe("admission control", () => {
  // 40 civetweb workers, 37 kept for short requests: 3 for WebSockets/long-polls.
  const small = new Vigia({ server: "threads = 40\n", broker: "max_clients = 5\nthread_reserve = 37\n" });
  before(async () => { await small.start(); });
  after(async () => { await small.cleanup(); });

  test("connections beyond the thread share or max_clients are refused cleanly", async () => {
    const url = `${small.sio.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket`;
    const open = [];
    // lws pins no civetweb worker: only max_clients (5) bounds its WebSockets
    for (let i = 0; i < (lws ? 5 : 3); i++) {
      const ws = new WebSocket(url);
      await new Promise((resolve, reject) => { ws.on("message", resolve); ws.on("error", reject); });
      open.push(ws);
    }
    const refused = new WebSocket(url);
    const status = await new Promise((resolve) => {
      refused.on("unexpected-response", (_req, r) => resolve(r.statusCode));
      refused.on("open", () => resolve(101));
      refused.on("error", () => resolve(-1));
    });
    assert.equal(status, 503);
    // short requests still get a worker at once
    const t0 = Date.now();
    assert.equal((await fetch(`${small.base}/api/health`)).status, 200);
    assert.ok(Date.now() - t0 < 1000);
    if (lws) {
      for (const ws of open) ws.close();
      await waitFor(async () => (await small.status()).clients.total === 0, 5000);
      return;
    }
    // polling: handshakes up to max_clients (5 sessions: 3 WebSockets + 2), then 503
    const hs = async () => (await fetch(`${small.sio}/socket.io/?EIO=4&transport=polling`)).status;
    assert.equal(await hs(), 200);
    const r = await fetch(`${small.sio}/socket.io/?EIO=4&transport=polling`);
    const body = await r.text();
    assert.equal(r.status, 200);
    assert.equal(await hs(), 503);
    // a long-poll that would need a fourth worker is answered 503 at once, not parked
    const sid = JSON.parse(body.slice(1)).sid;
    const t1 = Date.now();
    const poll = await fetch(`${small.sio}/socket.io/?EIO=4&transport=polling&sid=${sid}`);
    assert.equal(poll.status, 503);
    assert.ok(Date.now() - t1 < 1000);
    for (const ws of open) ws.close();
    await waitFor(async () => (await small.status()).capacity.threads_held === 0, 5000);
  });
});
