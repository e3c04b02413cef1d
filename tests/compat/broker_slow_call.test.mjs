// A client event whose handler is a slow bus method (busbridge's test.sleep,
// registered for "slow" through broker.register) holds up only its own
// client: on lws it runs on a call worker, never on the event loop, so
// another client's pings, acks and broadcasts keep flowing meanwhile; the
// slow client's own later events still come after it, in order; the same
// when the slow client is on long-polling (its POST is handled on a worker
// and answered on the loop). Run on both transports (broker_slow_call,
// broker_slow_call_lws).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { Vigia, once, sleep } from "./server.mjs";

const SLOW_MS = 2000;
const srv = new Vigia({
  broker: "recovery_window = 0\nrecent_limit = 0\nping_interval = 200ms\nping_timeout = 5s\n",
});
const sockets = [];
function client(transports = ["websocket"]) {
  const s = io(srv.sio, { reconnection: false, forceNew: true, transports, upgrade: false });
  sockets.push(s);
  return s;
}

before(async () => {
  await srv.start();
  const r = await srv.call("broker.register", { namespace: "/", handler: "test.sleep", events: ["slow"] });
  assert.equal(r.rc, 0, JSON.stringify(r));
});
after(async () => {
  for (const s of sockets) s.disconnect();
  await srv.cleanup();
});

for (const tr of ["websocket", "polling"]) test(`a slow method called from one client's event (${tr}) delays no other client`, async () => {
  const a = client([tr]);
  const b = client();
  await Promise.all([once(a, "connect"), once(b, "connect")]);
  const order = [];
  // a: the slow event, then a quick one that must wait for it (same client)
  const slow = a.timeout(SLOW_MS * 5).emitWithAck("slow", SLOW_MS).then((r) => { order.push("a:slow"); return r; });
  const after = a.timeout(SLOW_MS * 5).emitWithAck("join_room", "datasets").then((r) => { order.push("a:join"); return r; });
  await sleep(100); // a's call is in flight now
  let pings = 0;
  b.io.engine.on("ping", () => { pings++; });
  // b: an ack, a broadcast and pings, all while a's call runs
  const joined = await b.timeout(SLOW_MS).emitWithAck("join_room", "datasets");
  assert.equal(joined.joined, true);
  order.push("b:join");
  const cleared = once(b, "notifications_cleared", SLOW_MS);
  assert.equal((await srv.publish("notification.cleared", { v: 1, unread_count: 0 })).rc, 0);
  await cleared;
  order.push("b:broadcast");
  while (pings < 2 && !order.includes("a:slow")) await sleep(20);
  order.push(`b:pings>=2:${pings >= 2}`);
  assert.deepEqual(await slow, { slept: SLOW_MS });
  assert.equal((await after).joined, true);
  // b's traffic (and two pings) came before a's slow answer; a's own later
  // event came after it
  assert.deepEqual(order, ["b:join", "b:broadcast", "b:pings>=2:true", "a:slow", "a:join"]);
  assert.ok(b.connected && a.connected);
});
