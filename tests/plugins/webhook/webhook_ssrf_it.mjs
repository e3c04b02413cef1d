// webhook address rules (SSRF) through the real binary, with
// allow_private_webhooks off (the default): registration refuses loopback,
// private, link-local and names resolving to them; and an endpoint stored
// while private addresses were allowed is refused at connect time once they
// are not, so what is checked is the address actually connected to (no DNS
// rebinding way around it). Also: kill -9 with deliveries queued loses no
// endpoint (the outbox re-sends its rows after a restart).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { Vigia, Receiver, request, sleep } from "./lib.mjs";

let vg, rx;
after(async () => {
  await vg?.cleanup();
  await rx?.close();
});

test("registration refuses loopback, private, link-local and names resolving to them", async () => {
  rx = await new Receiver().start();
  vg = await new Vigia({ webhook: "timeout = 2s\n" }).start();
  const port = rx.port;
  for (const [url, why] of [
    [`http://127.0.0.1:${port}/x`, /127\.0\.0\.1 is a loopback address/],
    [`http://[::1]:${port}/x`, /::1 is a loopback address/],
    [`http://[::ffff:127.0.0.1]:${port}/x`, /loopback/],
    ["http://10.1.2.3/x", /10\.1\.2\.3 is a private address/],
    ["http://192.168.0.10/x", /private/],
    ["http://100.64.0.1/x", /CGNAT/],
    ["http://169.254.169.254/latest/meta-data/", /169\.254\.169\.254 is a link-local address/],
    ["http://0.0.0.0/x", /unspecified/],
    [`http://localhost:${port}/x`, /localhost resolves to .* loopback/],
    ["http://2130706433/x", /loopback/], // 127.0.0.1 as one number
  ]) {
    const r = await vg.api("POST", "/api/webhooks", { url });
    assert.equal(r.status, 400, url);
    assert.match(r.body.error.message, why, url);
    assert.match(r.body.error.message, /allow_private_webhooks = false/, url);
  }
  assert.equal((await vg.api("GET", "/api/webhooks")).body.endpoints.length, 0);
  // a public address is accepted (nothing is sent at registration)
  const ok = await vg.api("POST", "/api/webhooks", { url: "https://192.0.2.10/hook" });
  assert.equal(ok.status, 201);
  await vg.cleanup();
  vg = null;
});

test("connect time: a stored loopback endpoint is refused once private is off", async () => {
  rx = rx || (await new Receiver().start());
  const a = await new Vigia({ webhook: "allow_private_webhooks = true\n" }).start();
  const made = await a.api("POST", "/api/webhooks", { url: `http://localhost:${rx.port}/hook` });
  assert.equal(made.status, 201);
  const id = made.body.id;
  await a.publish("delivery.requested", request("alert-1-1", id));
  assert.equal((await a.waitResults("alert-1-1"))[0].status, "sent");
  assert.equal(rx.on("/hook").length, 1);
  await a.stop("SIGKILL");
  // the same database, private addresses no longer allowed
  vg = await new Vigia({ webhook: "timeout = 2s\n", dir: a.dir }).start();
  assert.equal((await vg.api("GET", `/api/webhooks/${id}`)).status, 200, "survived kill -9");
  await vg.publish("delivery.requested", request("alert-1-2", id));
  const [r] = await vg.waitResults("alert-1-2");
  assert.equal(r.status, "failed");
  assert.match(r.error, /refused to connect to (127\.0\.0\.1|::1): a loopback address/);
  await sleep(200);
  assert.equal(rx.on("/hook").length, 1, "nothing reached the receiver");
});

test("without an admin token: this machine only, and no page of another origin (CSRF)", async () => {
  const v = await new Vigia({ admin: false, webhook: "allow_private_webhooks = true\n" }).start();
  try {
    const url = "http://127.0.0.1:9/x";
    for (const headers of [{ Origin: "http://evil.example" }, { "Sec-Fetch-Site": "cross-site" }]) {
      const r = await v.api("POST", "/api/webhooks", { url }, { token: null, headers });
      assert.equal(r.status, 403, JSON.stringify(headers));
      assert.equal(r.body.error.code, "CROSS_ORIGIN");
    }
    const same = await v.api("POST", "/api/webhooks", { url }, { token: null, headers: { Origin: v.base } });
    assert.equal(same.status, 201, JSON.stringify(same.body));
    assert.equal((await v.api("POST", "/api/webhooks", { url }, { token: null })).status, 201); // curl, a script
    // public_webhooks is off: a manage token is no way in
    assert.equal((await vg.api("GET", "/api/webhooks?token=whatever", undefined, { token: null })).status, 401);
  } finally {
    await v.cleanup();
  }
});
