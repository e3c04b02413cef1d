// The broker's extension API, driven by the conformance plugin
// (tests/conformance: the official protocol suite's reference server) and by
// busbridge (bus calls and the events it records): plugin namespaces with
// auth, events with acks, emits to a socket / a room / a namespace, rooms,
// socket.connected / socket.disconnected, and binary attachments both ways
// over WebSocket and long-polling, with their size limit.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import WebSocket from "ws";
import { Vigia, once, waitFor } from "./server.mjs";

const MAX = 100000;
const srv = new Vigia({
  plugins: "busbridge, broker, conformance",
  bridge: "max_events = 1000\n",
  broker: `recovery_window = 0\nrecent_limit = 0\nauto_join = false\nmax_payload = ${MAX}\n`,
});
const sockets = [];
function client(nsp = "", opts = {}) {
  const s = io(srv.sio + nsp, { reconnection: false, forceNew: true, transports: ["websocket"], ...opts });
  sockets.push(s);
  return s;
}
async function events(topic) {
  const r = await (await fetch(`${srv.base}/test/events?since=0`)).json();
  return r.events.filter((e) => e.topic === topic).map((e) => e.payload);
}

before(async () => { await srv.start(); });
after(async () => {
  for (const s of sockets) s.disconnect();
  await srv.cleanup();
});

describe("namespaces and events of a plugin", () => {
  test("'/' with auth: the plugin echoes auth, message and message-with-ack", async () => {
    const s = client("", { auth: { token: "123" } });
    const [auth] = await once(s, "auth");
    assert.deepEqual(auth, { token: "123" });
    s.emit("message", 1, "2", { 3: [true] });
    assert.deepEqual(await once(s, "message-back"), [1, "2", { 3: [true] }]);
    const acked = await new Promise((r) => s.emit("message-with-ack", 1, "2", (...a) => r(a)));
    assert.deepEqual(acked, [1, "2"]);
    // the broker's own events still work next to the plugin's
    const joined = await s.timeout(3000).emitWithAck("join_room", "datasets");
    assert.equal(joined.joined, true);
  });

  test("a plugin namespace connects with its own socket id; an unknown one is refused", async () => {
    const main = client();
    await once(main, "connect");
    const c = client("/custom", { auth: { token: "abc" } });
    const [auth] = await once(c, "auth");
    assert.deepEqual(auth, { token: "abc" });
    assert.ok(c.id && c.id !== main.id);
    const bad = client("/random");
    const [err] = await once(bad, "connect_error");
    assert.equal(err.message, "Invalid namespace");
  });

  test("socket.connected / socket.disconnected on the bus", async () => {
    const c = client("/custom", { auth: { x: 1 } });
    await once(c, "auth");
    const id = c.id;
    const conn = await waitFor(async () => (await events("socket.connected")).find((e) => e.sid === id));
    assert.equal(conn.v, 1);
    assert.equal(conn.namespace, "/custom");
    assert.equal(conn.transport, "websocket");
    assert.deepEqual(conn.auth, { x: 1 });
    c.disconnect();
    const gone = await waitFor(async () => (await events("socket.disconnected")).find((e) => e.sid === id));
    assert.equal(gone.namespace, "/custom");
  });

  test("registering one of the broker's own events is refused", async () => {
    const r = await srv.call("broker.register", { namespace: "/", handler: "x.y", events: ["join_room"] });
    assert.equal(r.result.error.code, "CONFLICT");
    const r2 = await srv.call("broker.register", { namespace: "/custom", handler: "x.y" });
    assert.equal(r2.result.error.code, "CONFLICT");
  });
});

describe("emit, rooms and acks from a plugin", () => {
  test("to a room, to the namespace, to one socket with an ack", async () => {
    const a = client("/custom"), b = client("/custom");
    await Promise.all([once(a, "auth"), once(b, "auth")]);
    const j = await srv.call("broker.join", { sid: a.id, room: "r1" });
    assert.equal(j.result.joined, true);
    let bGot = false;
    b.on("news", () => { bGot = true; });
    const got = once(a, "news");
    const e = await srv.call("broker.emit", { namespace: "/custom", to: { room: "r1" }, event: "news", args: ["room"] });
    assert.equal(e.rc, 0);
    assert.equal(e.result.sent, 1);
    assert.deepEqual(await got, ["room"]);
    const all = Promise.all([once(a, "news"), once(b, "news")]);
    await srv.call("broker.emit", { namespace: "/custom", event: "news", args: ["all", 2] });
    assert.deepEqual(await all, [["all", 2], ["all", 2]]);
    assert.equal(bGot, true);
    // the room is per namespace: the same name on "/" is another room
    const left = await srv.call("broker.leave", { sid: a.id, room: "r1" });
    assert.equal(left.result.left, true);
    b.on("question", (x, cb) => cb(x * 2));
    const asked = await srv.call("broker.emit", { to: { sid: b.id }, event: "question", args: [21], ack: true, timeout_ms: 3000 });
    assert.deepEqual(asked.result, { acks: [{ sid: b.id, args: [42] }], missing: [] });
    // nobody answers: missing after the timeout
    const quiet = await srv.call("broker.emit", { to: { sid: a.id }, event: "ignored", ack: true, timeout_ms: 200 });
    assert.deepEqual(quiet.result.missing, [a.id]);
  });

  test("broker.disconnect ends one namespace's socket only", async () => {
    const main = client();
    await once(main, "connect");
    const c = main.io.socket("/custom"); // multiplexed on main's connection (autoConnect)
    sockets.push(c);
    await once(c, "auth");
    const gone = once(c, "disconnect");
    await srv.call("broker.disconnect", { sid: c.id });
    assert.equal((await gone)[0], "io server disconnect");
    const joined = await main.timeout(3000).emitWithAck("join_room", "datasets");
    assert.equal(joined.joined, true);
  });
});

describe("admin view", () => {
  test("sockets, namespaces, rooms, rates, drops and the slowest backlogs", async () => {
    const a = client("/custom");
    await once(a, "auth");
    await srv.call("broker.join", { sid: a.id, room: "admin-room" });
    const r = await fetch(`${srv.base}/api/broker/admin`);
    assert.equal(r.status, 200);
    const v = await r.json();
    assert.ok(v.sockets.total >= 1 && v.sockets.websocket >= 1);
    const custom = v.namespaces.find((n) => n.name === "/custom");
    assert.ok(custom.sockets >= 1);
    assert.equal(custom.owner, "conformance.handle");
    assert.deepEqual(v.rooms.find((x) => x.name === "admin-room"), { namespace: "/custom", name: "admin-room", members: 1 });
    assert.equal(typeof v.messages.in_per_s, "number");
    assert.ok(v.messages.in > 0);
    assert.deepEqual(Object.keys(v.dropped).sort(), ["backlog", "protocol", "rate_limit", "write"]);
    assert.ok(Array.isArray(v.slowest));
    const bus = await srv.call("broker.admin");
    assert.equal(bus.rc, 0);
    assert.ok(bus.result.namespaces.length >= 2);
  });
});

describe("binary attachments", () => {
  for (const transport of ["websocket", "polling"]) {
    test(`both ways over ${transport}`, async () => {
      const s = client("", { transports: [transport] });
      await once(s, "auth");
      s.emit("message", Uint8Array.of(1, 2, 3), { nested: Uint8Array.of(4, 5, 6) });
      const [x, y] = await once(s, "message-back");
      assert.deepEqual([...x], [1, 2, 3]);
      assert.deepEqual([...y.nested], [4, 5, 6]);
      const acked = await new Promise((r) => s.emit("message-with-ack", Uint8Array.of(9), (...a) => r(a)));
      assert.deepEqual([...acked[0]], [9]);
      // sent by a plugin: {"_binary": base64}
      const got = once(s, "blob");
      const e = await srv.call("broker.emit", { to: { sid: s.id }, event: "blob", args: [{ _binary: "AQID" }, "t"] });
      assert.equal(e.rc, 0);
      const [blob, t] = await got;
      assert.deepEqual([...blob], [1, 2, 3]);
      assert.equal(t, "t");
    });
  }

  test("attachments bigger than max_payload together close the connection", async () => {
    const ws = new WebSocket(`${srv.sio.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket`);
    sockets.push({ disconnect: () => ws.terminate() });
    await new Promise((r) => ws.once("message", r));
    ws.send("40");
    await new Promise((r) => ws.once("message", r)); // 40 reply
    await new Promise((r) => ws.once("message", r)); // auth
    const closed = new Promise((r) => ws.once("close", r));
    ws.send('452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    ws.send(Buffer.alloc(MAX * 0.6));
    ws.send(Buffer.alloc(MAX * 0.6));
    await closed;
    const st = await srv.status();
    assert.ok(st.dropped.protocol >= 1);
  });

  test("a bad _binary from a plugin is an INVALID_ARGUMENT", async () => {
    const s = client();
    await once(s, "auth");
    const e = await srv.call("broker.emit", { to: { sid: s.id }, event: "blob", args: [{ _binary: "!!" }] });
    assert.equal(e.result.error.code, "INVALID_ARGUMENT");
  });
});
