// Socket.IO compatibility of the broker plugin with the official
// socket.io-client 4.8: transports, upgrade, every client event with and
// without acks, rooms, bus-triggered pushes, namespaces, restart, recovery.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { Vigia, lws, once, sleep, waitFor } from "./server.mjs";

// Tests that run on both transports as they are.
const pollingOnly = {};

const srv = new Vigia({
  broker: "ping_interval = 1s\nping_timeout = 2s\nrecovery_window = 2m\nrate_limit = 1000\nrate_burst = 1000\n",
});
const sockets = [];

function connect(opts = {}) {
  const s = io(srv.sio, { reconnection: false, forceNew: true, transports: ["websocket"], ...opts });
  sockets.push(s);
  return s;
}
async function connected(opts) {
  const s = connect(opts);
  const recent = once(s, "recent_notifications");
  await once(s, "connect");
  await recent;
  return s;
}
// Events received, without the trailing recovery offset.
function collect(s, ev) {
  const got = [];
  s.on(ev, (...a) => got.push(a[0]));
  return got;
}
const ack = (s, ev, ...args) => s.timeout(3000).emitWithAck(ev, ...args);
// The next `ev` on `s` whose first argument satisfies `pred` (an earlier
// broadcast may still be on its way to this client: clients are written to
// by different threads, in no order between clients).
function onceWhere(s, ev, pred, ms = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { s.off(ev, h); reject(new Error(`no matching '${ev}' within ${ms} ms`)); }, ms);
    const h = (...a) => { if (pred(a[0])) { clearTimeout(t); s.off(ev, h); resolve(a); } };
    s.on(ev, h);
  });
}

before(async () => { await srv.start(); });
after(async () => {
  for (const s of sockets) s.disconnect();
  await srv.cleanup();
});

describe("transports", () => {
  test("websocket-only connect", async () => {
    const s = connect();
    const [recent] = await Promise.all([once(s, "recent_notifications"), once(s, "connect")]);
    assert.equal(s.io.engine.transport.name, "websocket");
    assert.ok(s.id && s.id !== s.io.engine.id, "Socket.IO id differs from the Engine.IO sid");
    assert.ok(Array.isArray(recent[0].notifications));
    assert.equal(typeof recent[1], "string", "events carry a recovery offset");
  });

  test("default connect: polling first, then upgrade to websocket", pollingOnly, async () => {
    const s = connect({ transports: undefined });
    let first = null;
    s.io.once("open", () => {
      first = s.io.engine.transport.name;
    });
    const upgraded = new Promise((resolve) => s.io.once("open", () => s.io.engine.once("upgrade", resolve)));
    await once(s, "connect");
    assert.equal(first, "polling");
    const t = s.io.engine.transport.name === "websocket" ? s.io.engine.transport : await upgraded;
    assert.equal(t.name, "websocket");
    assert.equal(s.io.engine.transport.name, "websocket");
    const r = await ack(s, "ping");
    assert.equal(typeof r.timestamp, "number");
    const got = collect(s, "new_notification");
    await srv.notify("after upgrade");
    await waitFor(() => got.length === 1);
  });

  test("polling-only: acks and pushes", pollingOnly, async () => {
    const s = await connected({ transports: ["polling"] });
    assert.equal(s.io.engine.transport.name, "polling");
    const r = await ack(s, "ping");
    assert.equal(typeof r.timestamp, "number");
    const got = collect(s, "new_notification");
    await srv.notify("poll push");
    await waitFor(() => got.length === 1);
    assert.equal(got[0].notification.title, "poll push");
    // heartbeats keep a polling session alive past ping_interval + ping_timeout
    await sleep(3500);
    assert.ok(s.connected);
    assert.equal(typeof (await ack(s, "ping")).timestamp, "number");
  });

  test("raw Engine.IO errors answer like the reference server", pollingOnly, async () => {
    const q = async (qs, init) => {
      const r = await fetch(`${srv.sio}/socket.io/?${qs}`, init);
      return [r.status, await r.text()];
    };
    assert.deepEqual(await q("EIO=4&transport=carrier-pigeon"), [400, '{"code":0,"message":"Transport unknown"}']);
    assert.deepEqual(await q("EIO=4&transport=polling&sid=nope"), [400, '{"code":1,"message":"Session ID unknown"}']);
    assert.deepEqual(await q("EIO=4&transport=polling", { method: "POST", body: "40" }), [400, '{"code":2,"message":"Bad handshake method"}']);
    assert.deepEqual(await q("EIO=4&transport=websocket"), [400, '{"code":3,"message":"Bad request"}']);
    assert.deepEqual(await q("EIO=3&transport=polling"), [400, '{"code":5,"message":"Unsupported protocol version"}']);
    const [st, open] = await q("EIO=4&transport=polling");
    assert.equal(st, 200);
    const o = JSON.parse(open.slice(1));
    assert.deepEqual(Object.keys(o).sort(), ["maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"]);
    assert.deepEqual(o.upgrades, ["websocket"]);
    const sid = o.sid;
    // POST with \x1e batching, then a GET returns the CONNECT reply and an event
    assert.deepEqual(await q(`EIO=4&transport=polling&sid=${sid}`, { method: "POST", body: '40\x1e421["ping"]' }), [200, "ok"]);
    const [, body] = await q(`EIO=4&transport=polling&sid=${sid}`);
    const parts = body.split("\x1e");
    assert.match(parts[0], /^40\{"sid":"[\w-]{20}","pid":"[\w-]{20}"\}$/);
    assert.ok(parts.some((p) => /^431\[\{"timestamp":\d+\}\]$/.test(p)), body);
    // oversize POST -> 413
    const big = "4" + "x".repeat(1000001);
    assert.equal((await q(`EIO=4&transport=polling&sid=${sid}`, { method: "POST", body: big }))[0], 413);
    // overlapping GETs: the second is refused, the first gets "1", the session is gone
    const first = q(`EIO=4&transport=polling&sid=${sid}`);
    await sleep(200);
    const second = await q(`EIO=4&transport=polling&sid=${sid}`);
    assert.equal(second[0], 400);
    assert.deepEqual(await first, [200, "1"]);
    assert.equal((await q(`EIO=4&transport=polling&sid=${sid}`))[0], 400);
    // CORS preflight from a foreign origin is refused (allowed_origins empty)
    const cors = await fetch(`${srv.sio}/socket.io/?EIO=4&transport=polling`, { headers: { Origin: "http://evil.example" } });
    assert.equal(cors.status, 403);
    // a "1" (close) POST: the pending GET answers "6", the session is gone
    const [, open3] = await q("EIO=4&transport=polling");
    const sid3 = JSON.parse(open3.slice(1)).sid;
    const pending = q(`EIO=4&transport=polling&sid=${sid3}`);
    await sleep(200);
    assert.deepEqual(await q(`EIO=4&transport=polling&sid=${sid3}`, { method: "POST", body: "1" }), [200, "ok"]);
    assert.deepEqual(await pending, [200, "6"]);
    assert.equal((await q(`EIO=4&transport=polling&sid=${sid3}`))[0], 400);
    // same-origin CORS preflight
    const pre = await fetch(`${srv.sio}/socket.io/?EIO=4&transport=polling`, {
      method: "OPTIONS",
      headers: { Origin: srv.sio, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type" },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get("access-control-allow-origin"), srv.sio);
    assert.match(pre.headers.get("access-control-allow-methods"), /POST/);
    // a malformed POST closes that session only
    const [, open2] = await q("EIO=4&transport=polling");
    const sid2 = JSON.parse(open2.slice(1)).sid;
    assert.equal((await q(`EIO=4&transport=polling&sid=${sid2}`, { method: "POST", body: "abc" }))[0], 400);
    assert.equal((await q(`EIO=4&transport=polling&sid=${sid2}`))[0], 400);
  });
});

describe("client events", () => {
  test("ping with and without ack", async () => {
    const s = await connected();
    const r = await ack(s, "ping");
    assert.ok(Math.abs(r.timestamp - Date.now()) < 60000);
    const p = once(s, "pong");
    s.emit("ping");
    assert.equal(typeof (await p)[0].timestamp, "number");
  });

  test("join_room / leave_room with and without ack, validation", async () => {
    const s = await connected();
    assert.deepEqual(await ack(s, "join_room", { room: "datasets" }), { room: "datasets", joined: true });
    assert.deepEqual(await ack(s, "leave_room", { room: "datasets" }), { room: "datasets", left: true });
    assert.deepEqual(await ack(s, "leave_room", { room: "datasets" }), { room: "datasets", left: false });
    const j = once(s, "joined_room");
    s.emit("join_room", { room: "portal:datos" });
    assert.deepEqual((await j)[0], { room: "portal:datos", joined: true });
    const l = once(s, "left_room");
    s.emit("leave_room", "portal:datos");
    assert.deepEqual((await l)[0], { room: "portal:datos", left: true });
    for (const bad of ["", "x".repeat(200), "has space", "nope", "dataset:", "a<b>", 42]) {
      const r = await ack(s, "join_room", { room: bad });
      assert.equal(r.error.code, "INVALID_ARGUMENT", JSON.stringify(bad));
      assert.match(r.error.message, /^room: /);
    }
    const e = once(s, "error");
    s.emit("join_room", { room: "bad room" });
    const [err] = await e;
    assert.equal(err.error.code, "INVALID_ARGUMENT");
    assert.equal(err.event, "join_room");
    // at most 64 rooms (notifications counts)
    let last;
    for (let i = 0; i < 64; i++) last = await ack(s, "join_room", { room: `dataset:d${i}` });
    assert.equal(last.error.code, "TOO_MANY_ROOMS");
  });

  test("mark_notification_read with and without ack, broadcast to all", async () => {
    const a = await connected();
    const b = await connected();
    await ack(b, "leave_room", { room: "notifications" }); // notification_marked_read goes to all
    const { notification } = await srv.notify("to read");
    const seenB = once(b, "notification_marked_read");
    const r = await ack(a, "mark_notification_read", { notification_id: notification.id });
    assert.equal(r.notification_id, notification.id);
    assert.equal(typeof r.unread_count, "number");
    assert.equal((await seenB)[0].notification_id, notification.id);
    const n2 = (await srv.notify("to read 2")).notification;
    const seenA = onceWhere(a, "notification_marked_read", (e) => e.notification_id === n2.id);
    b.emit("mark_notification_read", { notification_id: n2.id });
    assert.equal((await seenA)[0].notification_id, n2.id);
    assert.equal((await ack(a, "mark_notification_read", { notification_id: "999999" })).error.code, "NOT_FOUND");
    assert.equal((await ack(a, "mark_notification_read", {})).error.code, "INVALID_ARGUMENT");
    const e = once(a, "error");
    a.emit("mark_notification_read", { notification_id: "999999" });
    assert.equal((await e)[0].error.code, "NOT_FOUND");
  });

  test("get_notifications {limit, since} with and without ack", async () => {
    const s = await connected();
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await srv.notify(`g${i}`)).notification.id);
    const r = await ack(s, "get_notifications", { limit: 2 });
    assert.equal(r.notifications.length, 2);
    assert.equal(typeof r.unread_count, "number");
    const since = await ack(s, "get_notifications", { limit: 50, since: ids[0] });
    assert.deepEqual(since.notifications.map((n) => n.id).sort(), [ids[1], ids[2]].sort());
    const p = once(s, "recent_notifications");
    s.emit("get_notifications", { limit: 1 });
    assert.equal((await p)[0].notifications.length, 1);
    assert.equal((await ack(s, "get_notifications", { limit: 0 })).error.code, "INVALID_ARGUMENT");
    assert.equal((await ack(s, "get_notifications", { limit: "x" })).error.code, "INVALID_ARGUMENT");
  });

  test("clear_notifications with and without ack, broadcast to all", async () => {
    const a = await connected();
    const b = await connected();
    await srv.notify("to clear");
    const seen = once(b, "notifications_cleared");
    const r = await ack(a, "clear_notifications");
    assert.equal(r.unread_count, 0);
    assert.equal((await seen)[0].unread_count, 0);
    const seen2 = once(a, "notifications_cleared");
    b.emit("clear_notifications");
    await seen2;
  });

  test("the server asks a client and gets its ack (broker.ask)", async () => {
    const s = await connected();
    s.on("confirm", (data, cb) => cb({ ok: true, got: data }));
    const ask = (params) => srv.call("broker.ask", { data: { q: "?" }, ...params });
    const r1 = await ask({ sid: s.id, event: "confirm" });
    assert.equal(r1.rc, 0);
    assert.deepEqual(r1.result, { ack: [{ ok: true, got: { q: "?" } }] });
    const r2 = await ask({ sid: s.id, event: "nobody_answers", timeout_ms: 300 });
    assert.notEqual(r2.rc, 0);
    assert.equal(r2.result.error.code, "TIMEOUT");
    const r3 = await ask({ sid: "nope", event: "confirm" });
    assert.equal(r3.result.error.code, "NOT_FOUND");
    assert.ok(s.connected);
  });

  test("unknown events and binary packets are answered with errors", async () => {
    const s = await connected();
    assert.equal((await ack(s, "no_such_event", 1)).error.code, "UNKNOWN_EVENT");
    assert.equal((await ack(s, "ping", Buffer.from([1, 2, 3]))).error.code, "UNSUPPORTED");
    assert.ok(s.connected);
    assert.equal(typeof (await ack(s, "ping")).timestamp, "number");
  });
});

describe("rooms and bus events", () => {
  const ds = (id, org, portal = "datos") => ({
    portal, sweep_id: 1, previous: "up", current: "down", failing: [], checked_at: "2026-11-28T09:00:00Z",
    dataset: { id, portal, name: id, title: id, organization: org, organization_title: org, url: "http://x", status: "down", last_checked: null },
  });

  test("room isolation for dataset_update", async () => {
    const a = await connected(); // dataset:one
    const b = await connected(); // dataset:two
    const c = await connected(); // datasets
    const d = await connected(); // organization:org1 and dataset:one: gets it once
    const e = await connected(); // nothing
    await ack(a, "join_room", { room: "dataset:one" });
    await ack(b, "join_room", { room: "dataset:two" });
    await ack(c, "join_room", { room: "datasets" });
    await ack(d, "join_room", { room: "organization:org1" });
    await ack(d, "join_room", { room: "dataset:one" });
    const got = [a, b, c, d, e].map((s) => collect(s, "dataset_update"));
    await srv.publish("dataset.status_changed", ds("one", "org1"));
    await waitFor(() => got[0].length && got[2].length && got[3].length);
    await sleep(300);
    assert.equal(got[0].length, 1);
    assert.equal(got[1].length, 0);
    assert.equal(got[2].length, 1);
    assert.equal(got[3].length, 1, "a member of two target rooms gets the event once");
    assert.equal(got[4].length, 0);
    assert.equal(got[0][0].dataset_info.id, "one");
    assert.equal(got[0][0].event, "dataset.status_changed");
    assert.equal(got[0][0].current, "down");
    const p = collect(a, "dataset_update");
    await ack(a, "join_room", { room: "portal:other" });
    await srv.publish("dataset.added", ds("three", null, "other"));
    await waitFor(() => p.length === 1);
    assert.equal(p[0].dataset_info.id, "three");
  });

  test("new_notification goes to room notifications only", async () => {
    const a = await connected();
    const b = await connected();
    await ack(b, "leave_room", { room: "notifications" });
    const ga = collect(a, "new_notification");
    const gb = collect(b, "new_notification");
    await srv.notify("n1");
    await waitFor(() => ga.length === 1);
    await sleep(200);
    assert.equal(gb.length, 0);
    assert.equal(ga[0].notification.title, "n1");
    assert.equal(typeof ga[0].unread_count, "number");
  });

  test("stats_update at most once a second, newest wins", async () => {
    const s = await connected();
    await ack(s, "join_room", { room: "stats" });
    const got = collect(s, "stats_update");
    const t0 = Date.now();
    for (let i = 1; i <= 5; i++) await srv.publish("stats.updated", { n: i });
    await waitFor(() => got.length >= 1 && got[got.length - 1].stats.n === 5, 4000);
    assert.ok(got.length <= 2, `got ${got.length} updates`);
    if (got.length === 2) assert.ok(Date.now() - t0 >= 900);
  });

  test("broker.status reports clients, rooms and counters", async () => {
    const st = await srv.status();
    assert.ok(st.clients.total >= 1);
    assert.equal(st.clients.total, st.clients.websocket + st.clients.polling);
    assert.ok(st.rooms.some((r) => r.name === "notifications" && r.members >= 1));
    assert.ok(st.messages_in > 0 && st.messages_out > 0);
    for (const k of ["backlog", "rate_limit", "protocol"]) assert.equal(typeof st.dropped[k], "number");
  });
});

describe("namespaces, auth", () => {
  test("unknown namespace -> connect_error 'Invalid namespace'", async () => {
    const s = io(`${srv.sio}/admin`, { reconnection: false, forceNew: true, transports: ["websocket"] });
    sockets.push(s);
    const [err] = await once(s, "connect_error");
    assert.equal(err.message, "Invalid namespace");
  });
});

describe("reconnection and recovery", () => {
  test("connection state recovery after a dropped transport", async () => {
    const s = connect({ reconnection: true, reconnectionDelay: 1500, reconnectionDelayMax: 1500 });
    const got = collect(s, "new_notification");
    await once(s, "connect");
    assert.equal(s.recovered, false);
    await srv.notify("before");
    await waitFor(() => got.length === 1);
    const id = s.id;
    s.io.engine.close(); // drop the transport; the client reconnects after 1.5 s
    await waitFor(async () => (await srv.status()).recoverable_sessions >= 1, 3000);
    await srv.notify("missed 1");
    await srv.notify("missed 2");
    await srv.notify("missed 3");
    await once(s, "connect", 8000);
    assert.equal(s.recovered, true);
    assert.equal(s.id, id);
    await waitFor(() => got.length === 4);
    assert.deepEqual(got.map((n) => n.notification.title), ["before", "missed 1", "missed 2", "missed 3"]);
    // rooms restored: still in notifications
    await srv.notify("after");
    await waitFor(() => got.length === 5);
  });

  test("connection state recovery over long-polling", pollingOnly, async () => {
    const s = connect({ transports: ["polling"], reconnection: true, reconnectionDelay: 1500, reconnectionDelayMax: 1500 });
    const got = collect(s, "new_notification");
    await once(s, "connect");
    await srv.notify("p-before");
    await waitFor(() => got.length === 1);
    const id = s.id;
    s.io.engine.close(); // POSTs "1"; the server keeps the socket's state
    await waitFor(async () => (await srv.status()).recoverable_sessions >= 1, 3000);
    await srv.notify("p-missed 1");
    await srv.notify("p-missed 2");
    await once(s, "connect", 8000);
    assert.equal(s.recovered, true);
    assert.equal(s.id, id);
    await waitFor(() => got.length === 3);
    assert.deepEqual(got.map((n) => n.notification.title), ["p-before", "p-missed 1", "p-missed 2"]);
  });

  test("reconnection after the server restarts", async () => {
    const s = connect({ reconnection: true, reconnectionDelay: 200, reconnectionDelayMax: 500 });
    await once(s, "connect");
    const again = once(s, "connect", 20000);
    await srv.stop();
    await srv.start();
    await again;
    assert.ok(s.connected);
    assert.equal(s.recovered, false);
    assert.equal(typeof (await ack(s, "ping")).timestamp, "number");
  });
});
