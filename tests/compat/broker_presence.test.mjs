// examples/presence-plugin (built out of tree against the installed SDK by
// core_presence_build): who else is looking at a dataset page, on namespace
// /presence, through the broker's extension API only.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { Vigia, once } from "./server.mjs";

const srv = new Vigia({ plugins: "broker, presence", broker: "recent_limit = 0\n" });
const sockets = [];
function viewer(name, transport = "websocket") {
  const s = io(`${srv.base}/presence`, { reconnection: false, forceNew: true, transports: [transport], auth: name ? { name } : {} });
  sockets.push(s);
  return s;
}
// resolves when a "presence" for `dataset` lists `want` (earlier ones, e.g.
// for one's own arrival, may still be on their way)
function presence(s, dataset, want) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no presence ${want} for ${dataset}`)), 5000);
    const h = (p) => {
      if (p.dataset === dataset && JSON.stringify(p.viewers.sort()) === JSON.stringify(want)) {
        s.off("presence", h); clearTimeout(t); resolve(p.viewers);
      }
    };
    s.on("presence", h);
  });
}

before(async () => { await srv.start(); });
after(async () => {
  for (const s of sockets) s.disconnect();
  await srv.cleanup();
});

test("a CONNECT without a name is refused by the plugin's auth hook", async () => {
  const [err] = await once(viewer(null), "connect_error");
  assert.match(err.message, /name/);
  assert.equal(err.data.code, "INVALID_ARGUMENT");
});

test("viewers of a page see each other come, move and go", async () => {
  const ana = viewer("Ana"), bo = viewer("Bo", "polling");
  await Promise.all([once(ana, "connect"), once(bo, "connect")]);
  const first = await ana.timeout(3000).emitWithAck("watch", { dataset: "ds-1" });
  assert.deepEqual(first, { dataset: "ds-1", viewers: ["Ana"] });
  const anaSees = presence(ana, "ds-1", ["Ana", "Bo"]);
  const second = await bo.timeout(3000).emitWithAck("watch", { dataset: "ds-1" });
  assert.deepEqual(second.viewers.sort(), ["Ana", "Bo"]);
  assert.deepEqual(await anaSees, ["Ana", "Bo"]);
  // Bo moves to another page: Ana's page shrinks
  const shrink = presence(ana, "ds-1", ["Ana"]);
  const moved = await bo.timeout(3000).emitWithAck("watch", { dataset: "ds-2" });
  assert.deepEqual(moved.viewers, ["Bo"]);
  assert.deepEqual(await shrink, ["Ana"]);
  // back, then gone: the disconnect is heard
  await bo.timeout(3000).emitWithAck("watch", { dataset: "ds-1" });
  const left = presence(ana, "ds-1", ["Ana"]);
  bo.disconnect();
  assert.deepEqual(await left, ["Ana"]);
  const bad = await ana.timeout(3000).emitWithAck("watch", { dataset: "" });
  assert.equal(bad.error.code, "INVALID_ARGUMENT");
});
