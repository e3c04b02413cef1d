// webhook with the real watch plugin: an endpoint registered with a target
// becomes a watch subscription (channel "webhook", address = endpoint id); a
// dataset change published on the bus goes watch -> outbox ->
// delivery.requested -> webhook -> the loopback receiver, which verifies
// every signature with the standardwebhooks package. The outbox retries a
// 500, a 410 erases the subscriber, public registration works with a manage
// link, and a kill -9 with deliveries pending loses none of them.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { Vigia, Receiver, waitFor, sleep } from "./lib.mjs";

const WATCH = "[watch]\npublic_url = http://vigia.test\ngroup_window = 200ms\ntick = 100ms\n" +
  "lease = 5s\nbackoff_min = 300ms\nbackoff_max = 1s\nmax_attempts = 50\n";
let vg, rx, mode = "ok";
after(async () => {
  await vg?.cleanup();
  await rx?.close();
});

function change(dataset, current = "down", previous = "up") {
  return {
    v: 1, portal: "demo", sweep_id: 1, previous, current, failing: [],
    checked_at: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    dataset: { id: dataset, portal: "demo", name: dataset, title: `Title of ${dataset}`,
               organization: "org", organization_title: "Org", url: `https://datos.example/dataset/${dataset}`,
               status: current, last_checked: null },
  };
}

async function endpoint(path, dataset, extra = {}, opts) {
  const r = await vg.api("POST", "/api/webhooks",
    { url: rx.url(path), lang: "en", target: { type: "dataset", portal: "demo", id: dataset }, ...extra }, opts);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  rx.secrets[path] = { current: r.body.secret };
  return r.body;
}

test("an endpoint with a target is a watch subscription; a change reaches it signed", async () => {
  rx = await new Receiver((p, req, n) => {
    if (mode === "down") return { status: 503 };
    if (p === "/flaky") return { status: n === 1 ? 500 : 200 };
    if (p === "/gone") return { status: 410 };
    return { status: 200 };
  }).start();
  vg = await new Vigia({ plugins: "busbridge, watch, webhook",
    webhook: "allow_private_webhooks = true\npublic_webhooks = true\ntimeout = 2s\n", extra: WATCH }).start();
  const e = await endpoint("/a", "ds-a");
  assert.ok(e.subscription.subscriber > 0 && e.subscription.manage_token);
  assert.equal((await vg.publish("dataset.status_changed", change("ds-a"))).rc, 0);
  const g = await waitFor(() => rx.on("/a")[0], 15000);
  assert.equal(g.verified.current, true, JSON.stringify(g.verified));
  assert.equal(g.json.type, "vigia.alert");
  assert.equal(g.json.data.items[0].dataset.id, "ds-a");
  assert.equal(g.headers["webhook-id"], g.json.data.key);
  const res = await vg.waitResults(g.json.data.key);
  assert.equal(res[0].status, "sent");
});

test("the outbox retries a 500 until the receiver takes it", async () => {
  await endpoint("/flaky", "ds-f");
  await vg.publish("dataset.status_changed", change("ds-f"));
  await waitFor(() => rx.on("/flaky").length >= 2, 15000);
  const [a, b] = rx.on("/flaky");
  assert.equal(a.headers["webhook-id"], b.headers["webhook-id"], "the same delivery key");
  assert.ok(a.verified.current === true && b.verified.current === true);
});

test("410: the watch erases the subscriber, the endpoint shows disabled", async () => {
  const e = await endpoint("/gone", "ds-g");
  await vg.publish("dataset.status_changed", change("ds-g"));
  await waitFor(() => rx.on("/gone").length >= 1, 15000);
  await waitFor(async () => (await vg.api("GET", `/api/webhooks/${e.id}`)).body.disabled === true, 5000);
  // the watch forgot the subscriber: its manage token is unknown now
  await waitFor(async () => (await vg.call("watch.subscriber", { v: 1, token: e.subscription.manage_token })).rc !== 0, 5000);
  const w = await vg.call("watch.subscriber", { v: 1, token: e.subscription.manage_token });
  assert.equal(w.result.error.code, "NOT_FOUND");
  assert.equal(rx.on("/gone").length, 1);
});

test("public_webhooks: a manage link registers and sees only its own endpoints", async () => {
  const mine = await endpoint("/owner", "ds-o");
  const token = mine.subscription.manage_token;
  const r = await vg.api("POST", `/api/webhooks?token=${encodeURIComponent(token)}`,
    { url: rx.url("/public"), target: { type: "dataset", portal: "demo", id: "ds-p" } }, { token: null });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.equal(r.body.public, true);
  const list = await vg.api("GET", `/api/webhooks?token=${encodeURIComponent(token)}`, undefined, { token: null });
  assert.deepEqual(list.body.endpoints.map((x) => x.id), [r.body.id]);
  assert.equal((await vg.api("GET", `/api/webhooks/${mine.id}?token=${encodeURIComponent(token)}`, undefined, { token: null })).status, 404);
  assert.equal((await vg.api("GET", "/api/webhooks?token=nope", undefined, { token: null })).status, 404);
  assert.equal((await vg.api("DELETE", `/api/webhooks/${r.body.id}?token=${encodeURIComponent(token)}`, undefined, { token: null })).status, 200);
});

test("kill -9 with deliveries pending: all of them arrive after the restart", async () => {
  mode = "down";
  const paths = [];
  for (let i = 0; i < 5; i++) {
    await endpoint(`/k${i}`, `ds-k${i}`);
    paths.push(`/k${i}`);
  }
  for (let i = 0; i < 5; i++) await vg.publish("dataset.status_changed", change(`ds-k${i}`));
  await waitFor(() => paths.every((p) => rx.on(p).length >= 1), 15000); // tried, refused (503)
  await vg.stop("SIGKILL");
  mode = "ok";
  const before = Object.fromEntries(paths.map((p) => [p, rx.on(p).length]));
  vg = await new Vigia({ plugins: vg.plugins, webhook: vg.webhookIni, extra: WATCH, dir: vg.dir }).start();
  await waitFor(() => paths.every((p) => rx.on(p).length > before[p]), 20000);
  for (const p of paths) {
    const got = rx.on(p);
    const last = got[got.length - 1];
    assert.equal(last.verified.current, true);
    assert.equal(last.headers["webhook-id"], got[0].headers["webhook-id"], "the same row, re-sent");
  }
});
