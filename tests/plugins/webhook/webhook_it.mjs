// webhook plugin through the real vigia binary: endpoints over HTTP, every
// delivery checked by a loopback receiver with the standardwebhooks package;
// answers 500-then-200, timeout, 410, Retry-After; the chat formats against
// their documented shapes; rotation; the test button; disable_after; the
// address rules (SSRF) at registration and at connect time, and a kill -9.
// Deliveries are driven by publishing delivery.requested through busbridge,
// as the watch plugin's outbox does.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Webhook } from "standardwebhooks";
import { Vigia, Receiver, request, waitFor, sleep, ADMIN } from "./lib.mjs";

let vg, rx;
const ep = {}; // path -> endpoint (with its secret)

before(async () => {
  rx = await new Receiver((p, req, n) => {
    if (p === "/flaky") return { status: n === 1 ? 500 : 200, body: "busy, try later" };
    if (p === "/slow") return { status: 200, delayMs: n === 1 ? 2500 : 0 };
    if (p === "/gone") return { status: 410 };
    if (p === "/busy") return { status: 503, headers: { "Retry-After": "7" } };
    if (p === "/down") return { status: 500 };
    if (p === "/moved") return { status: 301, headers: { Location: "http://169.254.169.254/" } };
    return { status: 200 };
  }).start();
  vg = await new Vigia({
    webhook: "allow_private_webhooks = true\ntimeout = 1s\nconnect_timeout = 1s\n" +
             "disable_after = 2s\nthreads = 2\n",
  }).start();
  for (const [p, format, lang] of [["/ok", "standard", "en"], ["/flaky"], ["/slow"], ["/gone"],
    ["/busy"], ["/down"], ["/moved"], ["/slack", "slack", "es"], ["/discord", "discord", "en"],
    ["/teams", "teams", "es"], ["/rotate"]]) {
    const r = await vg.api("POST", "/api/webhooks", { url: rx.url(p), format, lang });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    ep[p] = r.body;
    rx.secrets[p] = { current: r.body.secret };
  }
});

after(async () => {
  await vg?.cleanup();
  await rx?.close();
});

async function deliver(p, key, opts) {
  const r = await vg.publish("delivery.requested", request(key, ep[p].id, opts));
  assert.equal(r.rc, 0);
  return (await vg.waitResults(key))[0];
}

test("registration: admin token, secret shown once, clear errors", async () => {
  const e = ep["/ok"];
  assert.match(e.id, /^wh_[0-9a-f]{20}$/);
  assert.match(e.secret, /^whsec_[A-Za-z0-9+/]{32}$/);
  assert.equal(e.format, "standard");
  const one = await vg.api("GET", `/api/webhooks/${e.id}`);
  assert.equal(one.status, 200);
  assert.equal(one.body.secret, undefined);
  assert.equal(one.body.url, rx.url("/ok"));
  const list = await vg.api("GET", "/api/webhooks");
  assert.equal(list.body.endpoints.length, Object.keys(ep).length);
  assert.ok(list.body.endpoints.every((x) => x.secret === undefined));
  assert.equal((await vg.api("GET", "/api/webhooks", undefined, { token: "wrong" })).status, 401);
  assert.equal((await vg.api("POST", "/api/webhooks", { url: rx.url("/x") }, { token: null })).status, 401);
  for (const [body, what] of [[{ url: "ftp://example.org/x" }, /scheme must be http or https/],
    [{ url: "not a url" }, /absolute http/], [{ url: rx.url("/x"), format: "irc" }, /format/],
    [{ url: rx.url("/x"), lang: "fr" }, /lang/], [{ url: rx.url("/x"), target: 3 }, /target/]]) {
    const r = await vg.api("POST", "/api/webhooks", body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.match(r.body.error.message, what);
  }
  // a target needs the watch plugin (not loaded here): refused, nothing kept
  const t = await vg.api("POST", "/api/webhooks", { url: rx.url("/x"), target: { type: "all" } });
  assert.equal(t.status, 503);
  assert.equal((await vg.api("GET", "/api/webhooks")).body.endpoints.length, Object.keys(ep).length);
});

test("standard format: signed, documented body, the key as webhook-id", async () => {
  const res = await deliver("/ok", "alert-1-42", { items: 2 });
  assert.equal(res.status, "sent", JSON.stringify(res));
  const [g] = rx.on("/ok");
  assert.equal(g.verified.current, true, JSON.stringify(g.verified));
  assert.equal(g.headers["webhook-id"], "alert-1-42");
  assert.ok(Math.abs(Number(g.headers["webhook-timestamp"]) - Date.now() / 1000) < 60);
  assert.match(g.headers["webhook-signature"], /^v1,[A-Za-z0-9+/]{43}=$/);
  assert.match(g.headers["content-type"], /^application\/json/);
  const b = g.json;
  assert.equal(b.v, 1);
  assert.equal(b.type, "vigia.alert");
  assert.match(b.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(b.data.key, "alert-1-42");
  assert.equal(b.data.kind, "alert");
  assert.equal(b.data.lang, "en");
  assert.equal(b.data.count, 2);
  assert.equal(b.data.items.length, 2);
  assert.equal(b.data.items[0].dataset.title, "Buses & trains 0");
  assert.equal(b.data.title, "Vigía: Buses & trains 0 went down");
  assert.match(b.data.text, /up → down/);
  assert.equal(b.data.links.manage, "https://vigia.example/manage.html#token=x");
  // a tampered body does not verify with the library: the check is real
  assert.throws(() => new Webhook(ep["/ok"].secret).verify(g.body + " ", g.headers));
});

test("500 then 200: retry, then sent, both signed", async () => {
  const r1 = await deliver("/flaky", "alert-2-1");
  assert.equal(r1.status, "retry");
  assert.match(r1.error, /HTTP 500: busy, try later/);
  let v = await vg.api("GET", `/api/webhooks/${ep["/flaky"].id}`);
  assert.equal(v.body.last_status, 500);
  assert.ok(v.body.failing_since_ms > 0);
  await vg.publish("delivery.requested", request("alert-2-1", ep["/flaky"].id));
  const r2 = await vg.waitResults("alert-2-1", 2);
  assert.equal(r2[1].status, "sent");
  const got = rx.on("/flaky");
  assert.equal(got.length, 2);
  assert.ok(got.every((g) => g.verified.current === true && g.headers["webhook-id"] === "alert-2-1"));
  v = await vg.api("GET", `/api/webhooks/${ep["/flaky"].id}`);
  assert.equal(v.body.failing_since_ms, null);
  assert.equal(v.body.sent, 1);
});

test("timeout: retry, the connection is cut at the configured timeout", async () => {
  const r = await deliver("/slow", "alert-3-1");
  assert.equal(r.status, "retry");
  assert.match(r.error, /[Tt]imeout/); // libcurl's "Timeout was reached": cut, not answered
});

test("410 Gone: result gone, endpoint disabled, later rows fail", async () => {
  const r = await deliver("/gone", "alert-4-1");
  assert.equal(r.status, "gone");
  const v = await vg.api("GET", `/api/webhooks/${ep["/gone"].id}`);
  assert.equal(v.body.disabled, true);
  assert.match(v.body.disabled_reason, /410/);
  const r2 = await deliver("/gone", "alert-4-2");
  assert.equal(r2.status, "failed");
  assert.match(r2.error, /disabled/);
  assert.equal(rx.on("/gone").length, 1);
});

test("503 with Retry-After: retry_after_ms; 3xx is not followed", async () => {
  const r = await deliver("/busy", "alert-5-1");
  assert.equal(r.status, "retry");
  assert.equal(r.retry_after_ms, 7000);
  const m = await deliver("/moved", "alert-5-2");
  assert.equal(m.status, "retry");
  assert.match(m.error, /redirects are not followed/);
  assert.equal(rx.on("/moved").length, 1);
});

test("an unknown endpoint id is gone; a non-webhook channel is ignored", async () => {
  const r = await vg.publish("delivery.requested", request("alert-6-1", "wh_00000000000000000000"));
  assert.equal(r.rc, 0);
  assert.equal((await vg.waitResults("alert-6-1"))[0].status, "gone");
  await vg.publish("delivery.requested", request("alert-6-3\r\nX-Injected: 1", ep["/ok"].id));
  const [bad] = await vg.waitResults("alert-6-3\r\nX-Injected: 1");
  assert.equal(bad.status, "failed");
  assert.match(bad.error, /control characters/);
  await vg.publish("delivery.requested", { ...request("alert-6-2", ep["/ok"].id), channel: "email" });
  await sleep(300);
  assert.equal((await vg.results("alert-6-2")).length, 0);
});

test("slack: text + attachments (also Mattermost and Rocket.Chat), escaped, in Spanish", async () => {
  assert.equal((await deliver("/slack", "alert-7-1", { lang: "es" })).status, "sent");
  const [g] = rx.on("/slack");
  assert.equal(g.verified.current, true);
  const b = g.json;
  assert.equal(typeof b.text, "string");
  assert.match(b.text, /Buses &amp; trains 0 dejó de responder/);
  assert.ok(Array.isArray(b.attachments) && b.attachments.length === 1);
  const a = b.attachments[0];
  for (const k of ["fallback", "color", "title", "text", "title_link"]) assert.equal(typeof a[k], "string", k);
  assert.match(a.color, /^#[0-9a-f]{6}$/);
  assert.match(a.text, /disponible → caído/);
  assert.match(a.text, /HTTP 500 &lt;&amp;&gt;/);
  assert.equal(a.title_link, "https://vigia.example/datasets/id-0");
});

test("discord: content + embeds within Discord's limits, no mentions", async () => {
  assert.equal((await deliver("/discord", "alert-8-1", { items: 40 })).status, "sent");
  const b = rx.on("/discord")[0].json;
  assert.equal(typeof b.content, "string");
  assert.ok(b.content.length <= 2000);
  assert.deepEqual(b.allowed_mentions, { parse: [] });
  assert.ok(Array.isArray(b.embeds) && b.embeds.length >= 1 && b.embeds.length <= 10);
  const e = b.embeds[0];
  assert.ok(e.title.length <= 256 && e.description.length <= 4096);
  assert.ok(Number.isInteger(e.color) && e.color >= 0 && e.color <= 0xffffff);
  assert.match(e.timestamp, /Z$/);
  assert.equal(e.url, "https://vigia.example/datasets/id-0");
  assert.match(e.description, /went down/);
});

test("teams: an Adaptive Card in the Workflows message envelope", async () => {
  assert.equal((await deliver("/teams", "digest-9-1", { kind: "digest", lang: "es", items: 3 })).status, "sent");
  const b = rx.on("/teams")[0].json;
  assert.equal(b.type, "message");
  assert.equal(b.attachments.length, 1);
  const at = b.attachments[0];
  assert.equal(at.contentType, "application/vnd.microsoft.card.adaptive");
  assert.ok("contentUrl" in at);
  const c = at.content;
  assert.equal(c.type, "AdaptiveCard");
  assert.equal(c.$schema, "http://adaptivecards.io/schemas/adaptive-card.json");
  assert.match(c.version, /^1\.[0-9]$/);
  assert.ok(c.body.every((x) => x.type === "TextBlock" && typeof x.text === "string"));
  assert.match(c.body[0].text, /Resumen de Vigía: 3 cambios/);
  assert.ok(c.actions.every((x) => x.type === "Action.OpenUrl" && /^https:/.test(x.url)));
});

test("rotate: new secret once, old one still signs during the grace period", async () => {
  const id = ep["/rotate"].id;
  const r = await vg.api("POST", `/api/webhooks/${id}/rotate`);
  assert.equal(r.status, 200);
  assert.notEqual(r.body.secret, ep["/rotate"].secret);
  rx.secrets["/rotate"] = { old: ep["/rotate"].secret, new: r.body.secret, bogus: "whsec_" + Buffer.alloc(24, 7).toString("base64") };
  assert.equal((await deliver("/rotate", "alert-10-1")).status, "sent");
  const [g] = rx.on("/rotate");
  assert.equal(g.verified.new, true);
  assert.equal(g.verified.old, true);
  assert.notEqual(g.verified.bogus, true); // the library really checks
  assert.equal(g.headers["webhook-signature"].split(" ").length, 2);
});

test("POST /test sends a sample (type vigia.test), signed", async () => {
  const r = await vg.api("POST", `/api/webhooks/${ep["/ok"].id}/test`);
  assert.equal(r.status, 202);
  const g = await waitFor(() => rx.on("/ok").find((x) => x.json?.type === "vigia.test"));
  assert.equal(g.verified.current, true);
  assert.match(g.headers["webhook-id"], /^test-wh_/);
  assert.match(g.json.data.title, /test delivery/);
});

test("disable_after: an endpoint failing that long is disabled and its owner told", async () => {
  const id = ep["/down"].id;
  assert.equal((await deliver("/down", "alert-11-1")).status, "retry");
  await sleep(2200);
  const r = await deliver("/down", "alert-11-2");
  assert.equal(r.status, "failed");
  const v = await vg.api("GET", `/api/webhooks/${id}`);
  assert.equal(v.body.disabled, true);
  assert.match(v.body.disabled_reason, /failing for \d+ s/);
  assert.match(vg.log(), new RegExp(`endpoint ${id} .* disabled`));
  const st = await vg.call("webhook.status");
  assert.equal(st.rc, 0);
  assert.ok(st.result.endpoints.disabled >= 2);
  // enable brings it back
  assert.equal((await vg.api("POST", `/api/webhooks/${id}/enable`)).body.disabled, false);
});

test("delete: the endpoint goes, its rows are gone", async () => {
  const r = await vg.api("POST", "/api/webhooks", { url: rx.url("/del") });
  assert.equal((await vg.api("DELETE", `/api/webhooks/${r.body.id}`)).status, 200);
  assert.equal((await vg.api("GET", `/api/webhooks/${r.body.id}`)).status, 404);
  await vg.publish("delivery.requested", request("alert-12-1", r.body.id));
  assert.equal((await vg.waitResults("alert-12-1"))[0].status, "gone");
});
