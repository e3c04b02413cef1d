// Engine.IO / Socket.IO protocol details at the reference heartbeat
// (ping_interval 300 ms, ping_timeout 200 ms): exact heartbeat timers over
// both transports, ping timeout, forced close over polling, upgrade
// exclusivity and the CONNECT reply with recovery off. Raw HTTP and raw
// WebSockets (ws), so every packet is seen.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { Vigia, sleep, sanitized } from "./server.mjs";

const PI = 300, PT = 200;
// recovery off, nothing sent on connect: the reference server's behaviour
const srv = new Vigia({
  plugins: "broker",
  broker: `ping_interval = ${PI}ms\nping_timeout = ${PT}ms\nconnect_timeout = 5s\n` +
    "recovery_window = 0\nrecent_limit = 0\nauto_join = false\n",
});
const open = [];

const url = (q = "") => `${srv.base}/socket.io/?EIO=4&transport=polling${q}`;
const wsUrl = (q = "") => `${srv.base.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket${q}`;

async function pollingSession() {
  const r = await fetch(url());
  const t = await r.text();
  assert.equal(t[0], "0");
  return JSON.parse(t.slice(1)).sid;
}

// Resolves with the next message (a string, or a Buffer for binary frames).
function nextMessage(ws, ms = 3000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no message within ${ms} ms`)), ms);
    ws.once("message", (data, isBinary) => { clearTimeout(t); resolve(isBinary ? data : data.toString()); });
  });
}
function closed(ws, ms = 3000) {
  return new Promise((resolve, reject) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve();
    const t = setTimeout(() => reject(new Error(`not closed within ${ms} ms`)), ms);
    ws.once("close", () => { clearTimeout(t); resolve(); });
  });
}
function wsOpen(q = "") {
  const ws = new WebSocket(wsUrl(q), { perMessageDeflate: false });
  ws.on("error", () => {});
  open.push(ws);
  return ws;
}

before(async () => { await srv.start(); });
after(async () => {
  for (const ws of open) ws.terminate();
  await srv.cleanup();
});

describe("heartbeat at 300/200 ms", () => {
  test("polling: three pings, each ping_interval after the previous pong", async () => {
    const sid = await pollingSession();
    let last = Date.now();
    const gaps = [];
    for (let i = 0; i < 3; i++) {
      const r = await fetch(url(`&sid=${sid}`));
      assert.equal(r.status, 200);
      assert.equal(await r.text(), "2");
      gaps.push(Date.now() - last);
      last = Date.now(); // before the pong leaves: the server's interval starts later
      const p = await fetch(url(`&sid=${sid}`), { method: "POST", body: "3" });
      assert.equal(p.status, 200);
    }
    console.log(`polling ping gaps (ms): ${gaps.join(", ")}`);
    // never early; late only by scheduling noise (a 100 ms tick would show up here)
    for (const g of gaps.slice(1)) {
      assert.ok(g >= PI - 15, `ping after ${g} ms, before ping_interval`);
      if (!sanitized) assert.ok(g < PI + 250, `ping after ${g} ms`);
    }
  });

  test("polling: no pong within interval + timeout -> the session is gone (400)", async () => {
    const sid = await pollingSession();
    await sleep(PI + PT + 20);
    const r = await fetch(url(`&sid=${sid}`));
    assert.equal(r.status, 400);
  });

  test("websocket: three pings, answered, on time", async () => {
    const ws = wsOpen();
    assert.match(await nextMessage(ws), /^0\{/);
    const gaps = [];
    let last = Date.now();
    for (let i = 0; i < 3; i++) {
      assert.equal(await nextMessage(ws), "2");
      gaps.push(Date.now() - last);
      ws.send("3");
      last = Date.now();
    }
    console.log(`websocket ping gaps (ms): ${gaps.join(", ")}`);
    for (const g of gaps.slice(1)) {
      assert.ok(g >= PI - 15, `ping after ${g} ms`);
      if (!sanitized) assert.ok(g < PI + 250, `ping after ${g} ms`);
    }
    ws.close();
  });

  test("websocket: no pong -> closed after interval + timeout", async () => {
    const ws = wsOpen();
    const t0 = Date.now();
    assert.match(await nextMessage(ws), /^0\{/);
    assert.equal(await nextMessage(ws), "2");
    await closed(ws, 3000);
    const dt = Date.now() - t0;
    assert.ok(dt >= PI + PT - 20, `closed after ${dt} ms`);
  });
});

describe("close and upgrade", () => {
  test("polling: POST 1 while a GET waits -> the GET gets 6, the next GET 400", async () => {
    const sid = await pollingSession();
    const get = fetch(url(`&sid=${sid}`));
    await sleep(50); // the GET is waiting (no ping before 300 ms)
    const post = await fetch(url(`&sid=${sid}`), { method: "POST", body: "1" });
    assert.equal(post.status, 200);
    const g = await get;
    assert.equal(g.status, 200);
    assert.equal(await g.text(), "6");
    const again = await fetch(url(`&sid=${sid}`));
    assert.equal(again.status, 400);
  });

  test("after an upgrade: polling GET with the sid -> 400, a second WebSocket is closed", async () => {
    const sid = await pollingSession();
    const ws = wsOpen(`&sid=${sid}`);
    await new Promise((r) => ws.once("open", r));
    ws.send("2probe");
    assert.equal(await nextMessage(ws), "3probe");
    ws.send("5");
    // from now on answer the pings: the session must live through all this
    const pings = [];
    ws.on("message", (d) => { if (d.toString() === "2") { pings.push(Date.now()); ws.send("3"); } });
    await sleep(50);
    const r = await fetch(url(`&sid=${sid}`));
    assert.equal(r.status, 400);
    // accepted (no HTTP error for the client to throw) and closed at once
    const ws2 = new WebSocket(wsUrl(`&sid=${sid}`), { perMessageDeflate: false });
    open.push(ws2);
    let error = null;
    ws2.on("error", (e) => { error = e; });
    await closed(ws2);
    assert.equal(error, null);
    // the first one still works: pings keep coming on it
    const n = pings.length;
    for (let i = 0; i < 40 && pings.length <= n; i++) await sleep(50);
    assert.ok(pings.length > n, "no ping on the upgraded WebSocket");
    assert.equal(ws.readyState, WebSocket.OPEN);
  });
});

describe("Socket.IO CONNECT with recovery off", () => {
  test("the reply carries sid only, and events carry no offset", async () => {
    const ws = wsOpen();
    await nextMessage(ws);
    ws.send("40");
    const reply = await nextMessage(ws);
    assert.match(reply, /^40\{/);
    assert.deepEqual(Object.keys(JSON.parse(reply.slice(2))), ["sid"]);
    ws.send('42["join_room","datasets"]');
    let m;
    do m = await nextMessage(ws); while (m === "2" && (ws.send("3"), true));
    assert.equal(m, '42["joined_room",{"room":"datasets","joined":true}]');
    ws.close();
  });
});
