// The whole Web Push chain through the real binary: the portal's request
// (POST /api/push/subscriptions) stores the browser's subscription in the
// watch plugin; a dataset event (published on the bus by the test bridge, as
// the monitor would) is matched, queued in the durable outbox and sent by
// the webpush plugin to a Node push service on loopback (VAPID checked with
// node:crypto, body decrypted with http_ece). A 429 is retried by the
// outbox, a 410 erases the subscriber, DELETE forgets it, and a kill -9
// with a push pending loses nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { VigiaServer, missingBinary, missingPlugin, waitFor } from '../../e2e/lib/server.mjs';
import { PushService } from './pushservice.mjs';

const SUBJECT = 'https://vigia.example.org/contact';
const PLUGINS = ['busbridge', 'watch', 'webpush'];
const skip = missingBinary() || (missingPlugin(PLUGINS) && `plugin ${missingPlugin(PLUGINS)} not built`);
if (skip) console.log(`# SKIP ${skip}`);

let seq = 0;
function statusChanged(id, previous, current) {
  seq += 1;
  return {
    v: 1, portal: 'datos', sweep_id: seq, previous, current, failing: [], checked_at: new Date().toISOString(),
    dataset: {
      id, portal: 'datos', name: `n-${id}`, title: `Dataset ${id}`, organization: 'dipres',
      organization_title: 'Dirección de Presupuestos', url: `https://datos.example.cl/dataset/${id}`,
      status: current, last_checked: null,
    },
  };
}

describe('webpush through the watch outbox', { skip: Boolean(skip) }, () => {
  let server;
  let push;

  const event = async (id, previous, current) => {
    const r = await server.request('POST', '/test/publish', { topic: 'dataset.status_changed', payload: statusChanged(id, previous, current) });
    assert.equal(r.rc, 0);
  };
  const subscribe = async (browser, target, extra = {}) => {
    const r = await fetch(`${server.base}/api/push/subscriptions`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ subscription: browser.subscription(), target, kinds: ['down', 'recovered'], lang: 'en', ...extra }),
    });
    const body = await r.json();
    assert.equal(r.status, 201, JSON.stringify(body));
    return body;
  };
  const arrived = (name, n, timeout = 15000) => waitFor(() => {
    const got = push.received.filter((x) => x.name === name);
    return got.length >= n ? got : null;
  }, { timeout, what: `${n} push(es) to ${name}` });
  const subscriber = async (token) => server.request('POST', '/test/call', { method: 'watch.subscriber', params: { v: 1, token } });

  before(async () => {
    push = await new PushService({ subject: SUBJECT }).start();
    server = new VigiaServer({ plugins: PLUGINS, extraIni: '' });
    server.extraIni = [
      '[watch]', 'group_window = 0', 'tick = 100ms', 'backoff_min = 200ms', 'backoff_max = 2s', 'lease = 3s',
      '[webpush]', `vapid_subject = ${SUBJECT}`, 'allow_insecure_push_endpoints = true',
    ].join('\n');
    await server.start();
    push.vapidKey = (await server.request('GET', '/api/push/vapid-public-key')).public_key;
  });

  after(async () => {
    if (server) {
      await server.stop();
      // Under ASan/UBSan (build-asan) a report goes to the server's stderr.
      assert.doesNotMatch(server.output(), /Sanitizer|runtime error/);
      await server.cleanup();
    }
    if (push) await push.stop();
  });

  test('subscribe, hear the down and the recovery, 429 retried, 410 erases the subscriber', async () => {
    const b = push.browser('chain', [201, 201, 429, 201, 410]);
    const sub = await subscribe(b, { type: 'dataset', portal: 'datos', id: 'ds-1' });
    assert.ok(sub.manage_url.includes(`token=${sub.manage_token}`), sub.manage_url);
    // The manage link shows a browser subscriber, with its subscription confirmed.
    const m = await server.request('GET', `/api/subscriptions/manage?token=${sub.manage_token}`);
    assert.equal(m.channel, 'webpush');
    assert.deepEqual(JSON.parse(m.address), {
      endpoint: b.endpoint, keys: { auth: b.subscription().keys.auth, p256dh: b.subscription().keys.p256dh },
    });
    assert.equal(m.subscriptions[0].confirmed, true);

    await event('ds-2', 'up', 'down'); // not followed
    await event('ds-1', 'up', 'down');
    let got = await arrived('chain', 1);
    assert.equal(got[0].payload.title, '“Dataset ds-1” went down');
    assert.equal(got[0].payload.url, 'https://datos.example.cl/dataset/ds-1');
    assert.equal(got[0].headers.urgency, 'high');
    await event('ds-1', 'down', 'up');
    got = await arrived('chain', 2);
    assert.equal(got[1].payload.title, '“Dataset ds-1” recovered');
    assert.equal(got[1].headers.topic, got[0].headers.topic);

    await event('ds-1', 'up', 'down'); // 429 (Retry-After: 1), then 201
    got = await arrived('chain', 4);
    assert.deepEqual(got.slice(2).map((x) => x.status), [429, 201]);
    assert.deepEqual(got[3].payload, got[2].payload, 'the retry sends the same notification');

    await event('ds-1', 'down', 'up'); // 410: the browser dropped the subscription
    await arrived('chain', 5);
    await waitFor(async () => (await subscriber(sub.manage_token)).rc < 0, { what: 'the subscriber erased after 410' });
    assert.equal(push.received.filter((x) => x.name === 'ds-2').length, 0);
    assert.deepEqual(push.problems, []);
  });

  test('DELETE /api/push/subscriptions forgets the browser', async () => {
    const b = push.browser('forget');
    const sub = await subscribe(b, { type: 'all' });
    assert.equal((await subscriber(sub.manage_token)).rc, 0);
    const r = await fetch(`${server.base}/api/push/subscriptions`, {
      method: 'DELETE', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ subscription: b.subscription() }),
    });
    assert.equal(r.status, 200);
    assert.equal((await r.json()).removed, 1);
    assert.ok((await subscriber(sub.manage_token)).rc < 0);
  });

  test('kill -9 with a push pending: delivered after the restart', async () => {
    const b = push.browser('crash', [503]); // the push service is failing: the outbox keeps it
    await subscribe(b, { type: 'dataset', portal: 'datos', id: 'ds-9' });
    await event('ds-9', 'up', 'down');
    const before = (await arrived('crash', 1)).length;
    const proc = server.proc;
    const gone = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await gone;
    server.proc = null;
    push.scripts.set('crash', [201]); // the service is back
    await server.start();
    const got = await waitFor(() => {
      const all = push.received.filter((x) => x.name === 'crash').slice(before);
      return all.some((x) => x.status === 201) ? all : null;
    }, { timeout: 20000, what: 'the pending push delivered after the restart' });
    assert.equal(got.at(-1).status, 201);
    assert.equal(got.at(-1).payload.title, '“Dataset ds-9” went down');
    assert.deepEqual(push.problems, []);
  });
});
