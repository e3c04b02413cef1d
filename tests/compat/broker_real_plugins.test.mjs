// The broker with the real notifications and rest plugins (the flow of
// DESIGN.md): REST creates -> notification.created -> new_notification; the
// client's mark/get/clear go through notifications.* over the bus. Skipped
// when those plugins are not built.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";
import { io } from "socket.io-client";
import { Vigia } from "./server.mjs";

const dir = process.env.VIGIA_PLUGIN_DIR || "";
const present = ["notifications", "rest", "broker"].every((p) => existsSync(path.join(dir, `${p}.so`)));
const srv = new Vigia({ plugins: "notifications, rest, broker" });
let s;
const once = (ev, ms = 5000) => new Promise((resolve, reject) => {
  const t = setTimeout(() => reject(new Error(`no '${ev}'`)), ms);
  s.once(ev, (a) => { clearTimeout(t); resolve(a); });
});

before(async () => { if (present) await srv.start(); });
after(async () => { s?.disconnect(); if (present) await srv.cleanup(); });

test("notifications flow through the bus to Socket.IO clients", { skip: !present && "notifications/rest not built" }, async () => {
  s = io(srv.sio, { transports: ["websocket"], reconnection: false });
  const recent = await once("recent_notifications");
  assert.ok(Array.isArray(recent.notifications));
  const created = once("new_notification");
  const r = await fetch(`${srv.base}/api/notifications/test`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  assert.equal(r.status, 201);
  const n = await created;
  assert.equal(typeof n.notification.id, "string");
  assert.equal(typeof n.unread_count, "number");
  const marked = once("notification_marked_read");
  const ack = await s.timeout(3000).emitWithAck("mark_notification_read", { notification_id: n.notification.id });
  assert.equal(ack.notification_id, n.notification.id);
  assert.equal((await marked).notification_id, n.notification.id);
  const list = await s.timeout(3000).emitWithAck("get_notifications", { limit: 5, since: "0" });
  assert.ok(list.notifications.some((x) => x.id === n.notification.id));
  const cleared = once("notifications_cleared");
  const c = await s.timeout(3000).emitWithAck("clear_notifications");
  assert.equal(c.unread_count, 0);
  assert.equal((await cleared).unread_count, 0);
  const st = await (await fetch(`${srv.base}/api/websockets/status`)).json();
  assert.equal(st.clients.websocket, 1);
});
