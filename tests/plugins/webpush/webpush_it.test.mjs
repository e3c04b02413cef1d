// The webpush channel through the real binary against a Node push service
// on loopback (pushservice.mjs: VAPID checked with Node's crypto, bodies
// decrypted with http_ece). The test bus bridge publishes delivery.requested
// as the watch's outbox would and records delivery.result. Answers: 201 sent,
// 410 gone, 429 with Retry-After retried, 5xx retried, 413 failed, a closed
// port retried; one kept connection per push service; the VAPID key survives
// a restart.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PLUGIN_DIR, VIGIA_BIN, VigiaServer, missingBinary, missingPlugin, waitFor } from '../../e2e/lib/server.mjs';
import { freePort } from '../../support/net.mjs';
import { PushService } from './pushservice.mjs';

const SUBJECT = 'mailto:ops@vigia.example.org';
const skip = missingBinary() || (missingPlugin(['busbridge', 'webpush']) && `plugin ${missingPlugin(['busbridge', 'webpush'])} not built`);
if (skip) console.log(`# SKIP ${skip}`);

// Stops a server and checks its stderr: under ASan/UBSan (build-asan) a report goes there.
async function stopClean(server) {
  await server.stop();
  assert.doesNotMatch(server.output(), /Sanitizer|runtime error/);
  await server.cleanup();
}

function request(key, to, { lang = 'es', kind = 'down', count = 1, items } = {}) {
  const item = (i) => ({
    topic: 'dataset.status_changed', kind, at: '2026-12-01T00:59:53Z', portal: 'datos',
    previous: kind === 'down' ? 'up' : 'down', current: kind === 'down' ? 'down' : 'up',
    dataset: {
      id: `ds-${i}`, name: `presupuesto-${i}`, title: `Presupuesto ${2026 + i}`, organization: 'dipres',
      organization_title: 'Dirección de Presupuestos', url: `https://datos.example.cl/dataset/presupuesto-${i}`,
      status: kind === 'down' ? 'down' : 'up', vigia_url: `https://vigia.example.org/api/datasets/ds-${i}`,
    },
  });
  return {
    v: 1, key, channel: 'webpush', to: JSON.stringify(to), lang, tz: 'America/Santiago', kind: count > 1 ? 'alert' : 'alert',
    count, items: items ?? Array.from({ length: Math.min(count, 20) }, (_, i) => item(i)),
    links: { manage: 'https://vigia.example.org/api/subscriptions/manage?token=T', unsubscribe: 'https://vigia.example.org/api/subscriptions/unsubscribe?token=T&id=1' },
    list_id: 'datos.vigia.vigia.example.org',
  };
}

describe('webpush channel', { skip: Boolean(skip) }, () => {
  let server;
  let push;
  let since = 0;

  const publish = async (payload) => {
    const r = await server.request('POST', '/test/publish', { topic: 'delivery.requested', payload });
    assert.equal(r.rc, 0);
  };
  // The delivery.result events of `keys`, waited for (in publish order per key).
  const results = async (keys, timeout = 20000) => waitFor(async () => {
    const ev = await server.request('GET', `/test/events?since=${since}`);
    const got = {};
    for (const e of ev.events) {
      if (e.topic === 'delivery.result' && keys.includes(e.payload.key)) (got[e.payload.key] ??= []).push(e.payload);
    }
    return keys.every((k) => got[k]) ? got : null;
  }, { timeout, what: `delivery.result of ${keys.join(', ')}` });
  const mark = async () => { since = (await server.request('GET', `/test/events?since=${1e15}`)).next; };

  before(async () => {
    push = await new PushService({ subject: SUBJECT }).start();
    server = new VigiaServer({
      plugins: ['busbridge', 'webpush'],
      extraIni: `[webpush]\nvapid_subject = ${SUBJECT}\nallow_insecure_push_endpoints = true\nttl = 1h\nthreads = 1\n`,
    });
    await server.start();
    push.vapidKey = (await server.request('GET', '/api/push/vapid-public-key')).public_key;
  });

  after(async () => {
    if (server) await stopClean(server);
    if (push) await push.stop();
  });

  test('the VAPID public key is an uncompressed P-256 point and survives a restart', async () => {
    const raw = Buffer.from(push.vapidKey, 'base64url');
    assert.equal(raw.length, 65);
    assert.equal(raw[0], 4);
    await server.restart();
    assert.equal((await server.request('GET', '/api/push/vapid-public-key')).public_key, push.vapidKey);
  });

  test('vapid_key_file: the operator\'s PEM key is served and signs; a non-P-256 key is refused', async () => {
    const dir = fs.mkdtempSync(path.join(server.dir, 'pem-'));
    const pem = path.join(dir, 'vapid.pem');
    const rsa = path.join(dir, 'rsa.pem');
    execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', pem], { stdio: 'ignore' });
    execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024', '-out', rsa], { stdio: 'ignore' });
    fs.chmodSync(pem, 0o600);
    const jwk = crypto.createPublicKey(fs.readFileSync(pem)).export({ format: 'jwk' });
    const expected = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]).toString('base64url');
    const filed = new VigiaServer({
      plugins: ['busbridge', 'webpush'],
      extraIni: `[webpush]\nvapid_subject = ${SUBJECT}\nvapid_key_file = ${pem}\nallow_insecure_push_endpoints = true\n`,
    });
    try {
      await filed.start();
      const served = (await filed.request('GET', '/api/push/vapid-public-key')).public_key;
      assert.equal(served, expected);
      const saved = push.vapidKey;
      push.vapidKey = served; // the push service now checks against the file's key
      const b = push.browser('pem');
      await filed.request('POST', '/test/publish', { topic: 'delivery.requested', payload: request('k-pem', b.subscription()) });
      await waitFor(() => push.received.some((x) => x.name === 'pem'), { what: 'a push signed with the file key' });
      push.vapidKey = saved;
      assert.deepEqual(push.problems, []);
    } finally {
      await stopClean(filed);
    }
    // --check-config reads the file too: a key of another type is an error naming the key.
    const ini = path.join(dir, 'bad.ini');
    fs.writeFileSync(ini, `[server]\nlisten = 127.0.0.1:1\nplugin_dir = ${PLUGIN_DIR}\nplugins = webpush\n`
      + `database = ${path.join(dir, 'x.db')}\n[webpush]\nvapid_subject = mailto:nobody\nvapid_key_file = ${rsa}\n`);
    const r = spawnSync(VIGIA_BIN, ['--check-config', ini], { encoding: 'utf8' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr + r.stdout, /\[webpush\] vapid_subject: mailto: needs an address/);
    fs.writeFileSync(ini, fs.readFileSync(ini, 'utf8').replace('mailto:nobody', 'mailto:ops@example.org'));
    const r2 = spawnSync(VIGIA_BIN, ['--check-config', ini], { encoding: 'utf8' });
    assert.notEqual(r2.status, 0);
    assert.match(r2.stderr + r2.stdout, /\[webpush\] vapid_key_file: VAPID needs an EC P-256 \(prime256v1\) key, found RSA/);
  });

  test('201: encrypted for the browser, signed, in its language, sent', async () => {
    await mark();
    const conns = push.connections;
    const es = push.browser('ok-es');
    const en = push.browser('ok-en');
    await publish(request('k-es', es.subscription()));
    await publish(request('k-en', en.subscription(), { lang: 'en', kind: 'recovered' }));
    await publish(request('k-storm', en.subscription(), { lang: 'en', count: 300 }));
    const r = await results(['k-es', 'k-en', 'k-storm']);
    for (const k of ['k-es', 'k-en', 'k-storm']) assert.equal(r[k][0].status, 'sent', JSON.stringify(r[k]));
    assert.deepEqual(push.problems, []);
    const got = (name) => push.received.filter((x) => x.name === name);
    const down = got('ok-es')[0];
    assert.deepEqual(down.payload, {
      v: 1, title: '«Presupuesto 2026» dejó de responder',
      body: 'datos · Dirección de Presupuestos · disponible → caído',
      url: 'https://datos.example.cl/dataset/presupuesto-0', tag: 'vigia:datos:ds-0', lang: 'es', kind: 'down', count: 1,
    });
    assert.equal(down.headers.urgency, 'high');
    assert.equal(down.headers.ttl, '3600');
    assert.match(down.headers.topic, /^[\w-]{32}$/);
    const [rec, storm] = got('ok-en');
    assert.equal(rec.payload.title, '“Presupuesto 2026” recovered');
    assert.equal(rec.headers.urgency, 'normal');
    assert.equal(rec.headers.topic, down.headers.topic, 'the recovery replaces the down (same Topic)');
    assert.equal(storm.payload.title, 'Vigía: 300 changes in what you follow');
    assert.equal(storm.payload.url, 'https://vigia.example.org/');
    assert.equal(storm.headers.topic, undefined);
    assert.equal(push.connections - conns, 1, 'one kept connection to the push service');
  });

  test('410 → gone, 429 with Retry-After → retry, 5xx → retry, 413 → failed, no service → retry', async () => {
    await mark();
    const gone = push.browser('gone', [410]);
    const busy = push.browser('busy', [429, 201]);
    const down = push.browser('down', [503]);
    const big = push.browser('big', [413]);
    const closed = { ...push.browser('x').subscription(), endpoint: `http://127.0.0.1:${await freePort()}/p/x` };
    await publish(request('k-gone', gone.subscription()));
    await publish(request('k-busy', busy.subscription()));
    await publish(request('k-down', down.subscription()));
    await publish(request('k-big', big.subscription()));
    await publish(request('k-closed', closed));
    let r = await results(['k-gone', 'k-busy', 'k-down', 'k-big', 'k-closed']);
    assert.equal(r['k-gone'][0].status, 'gone');
    assert.match(r['k-gone'][0].error, /410/);
    assert.equal(r['k-busy'][0].status, 'retry');
    assert.equal(r['k-busy'][0].retry_after_ms, 1000);
    assert.equal(r['k-down'][0].status, 'retry');
    assert.equal(r['k-down'][0].retry_after_ms, undefined);
    assert.equal(r['k-big'][0].status, 'failed');
    assert.match(r['k-big'][0].error, /413/);
    assert.equal(r['k-closed'][0].status, 'retry');
    // The outbox asks again after the delay: now the service takes it.
    await mark();
    await publish(request('k-busy', busy.subscription()));
    r = await results(['k-busy']);
    assert.equal(r['k-busy'][0].status, 'sent');
    assert.deepEqual(push.problems, []);
  });

  test('bad rows are failed with the reason, not sent', async () => {
    await mark();
    const ok = push.browser('bad').subscription();
    await publish({ ...request('k-nojson', ok), to: 'not json' });
    await publish(request('k-https', { ...ok, endpoint: 'http://push.example.net/p/x' }));
    await publish({ ...request('k-confirm', ok), kind: 'confirm' });
    await publish(request('k-empty', ok, { items: [], count: 0 }));
    await publish({ ...request('k-email', ok), channel: 'email' }); // not ours: no answer
    await publish(request('k-host', { ...ok, endpoint: 'https://metadata.example/p/x' }));
    const r = await results(['k-nojson', 'k-https', 'k-confirm', 'k-empty', 'k-host']);
    assert.match(r['k-host'][0].error, /not a known push service/);
    assert.equal(r['k-host'][0].status, 'failed');
    assert.match(r['k-nojson'][0].error, /to: not a push subscription/);
    assert.match(r['k-https'][0].error, /https/);
    assert.match(r['k-confirm'][0].error, /no confirmation/);
    assert.match(r['k-empty'][0].error, /items/);
    for (const k of ['k-nojson', 'k-https', 'k-confirm', 'k-empty']) assert.equal(r[k][0].status, 'failed');
    const ev = await server.request('GET', `/test/events?since=${since}`);
    assert.equal(ev.events.filter((e) => e.topic === 'delivery.result' && e.payload.key === 'k-email').length, 0);
    assert.equal(push.received.filter((x) => x.name === 'bad').length, 0);
  });

  test('HTTP/2 over TLS when the push service offers it, one connection for many pushes', async () => {
    // A self-signed certificate for 127.0.0.1, trusted through [webpush] ca_file.
    const dir = fs.mkdtempSync(path.join(server.dir, 'tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
    const tls = { key: fs.readFileSync(path.join(dir, 'key.pem')), cert: fs.readFileSync(path.join(dir, 'cert.pem')) };
    const h2 = await new PushService({ subject: SUBJECT, tls }).start();
    const vigia = new VigiaServer({
      plugins: ['busbridge', 'webpush'],
      extraIni: `[webpush]\nvapid_subject = ${SUBJECT}\nallow_insecure_push_endpoints = true\n`
        + `push_hosts = 127.0.0.1\nca_file = ${path.join(dir, 'cert.pem')}\nthreads = 1\n`,
    });
    try {
      await vigia.start();
      h2.vapidKey = (await vigia.request('GET', '/api/push/vapid-public-key')).public_key;
      const b = h2.browser('h2');
      for (let i = 0; i < 5; i++) {
        const r = await vigia.request('POST', '/test/publish', { topic: 'delivery.requested', payload: request(`k-h2-${i}`, b.subscription()) });
        assert.equal(r.rc, 0);
      }
      await waitFor(() => h2.received.length >= 5, { what: 'five pushes over TLS' });
      assert.deepEqual(h2.problems, []);
      assert.deepEqual([...new Set(h2.received.map((x) => x.httpVersion))], ['2.0']);
      assert.equal(h2.connections, 1, 'one TLS connection reused for every push');
      assert.equal(h2.received[0].payload.title, '«Presupuesto 2026» dejó de responder');
    } finally {
      await stopClean(vigia);
      await h2.stop();
    }
  });

  test('with push_hosts = *, the address is still checked when connecting', async () => {
    const open = new VigiaServer({
      plugins: ['busbridge', 'webpush'],
      extraIni: `[webpush]\nvapid_subject = ${SUBJECT}\npush_hosts = *\n`,
    });
    try {
      await open.start();
      const ok = push.browser('private').subscription();
      const rows = [['k-loop', `https://127.0.0.1:${push.port}/p/private`], ['k-meta', 'https://169.254.169.254/latest']];
      for (const [key, endpoint] of rows) {
        const r = await open.request('POST', '/test/publish', { topic: 'delivery.requested', payload: request(key, { ...ok, endpoint }) });
        assert.equal(r.rc, 0);
      }
      const got = await waitFor(async () => {
        const ev = (await open.request('GET', '/test/events?since=0')).events.filter((e) => e.topic === 'delivery.result');
        return ev.length >= 2 ? Object.fromEntries(ev.map((e) => [e.payload.key, e.payload])) : null;
      }, { what: 'the results of the private endpoints' });
      assert.equal(got['k-loop'].status, 'failed');
      assert.match(got['k-loop'].error, /refused to connect to 127\.0\.0\.1 \(not a public address\)/);
      assert.equal(got['k-meta'].status, 'failed');
      assert.match(got['k-meta'].error, /refused to connect to 169\.254\.169\.254/);
      assert.equal(push.received.filter((x) => x.name === 'private').length, 0);
    } finally {
      await stopClean(open);
    }
  });

  test('POST /api/push/subscriptions checks the subscription before anything is stored', async () => {
    const post = (body) => fetch(`${server.base}/api/push/subscriptions`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    }).then(async (r) => ({ status: r.status, body: await r.json() }));
    const sub = push.browser('api').subscription();
    let r = await post({ subscription: { ...sub, endpoint: 'ftp://x/y' }, target: { type: 'all' } });
    assert.equal(r.status, 400);
    assert.match(r.body.error.message, /^subscription\.endpoint: /);
    r = await post({ subscription: { ...sub, keys: { ...sub.keys, auth: 'AAAA' } }, target: { type: 'all' } });
    assert.equal(r.status, 400);
    assert.match(r.body.error.message, /^subscription\.keys\.auth: 16 bytes/);
    r = await post([1]);
    assert.equal(r.status, 400);
    // Only the browsers' push services: the server does not POST where a client says.
    r = await post({ subscription: { ...sub, endpoint: 'https://10.0.0.1/wpush' }, target: { type: 'all' } });
    assert.equal(r.status, 400);
    assert.match(r.body.error.message, /^subscription\.endpoint: 10\.0\.0\.1 is not a known push service/);
    // A valid request, but this server has no watch plugin to keep it.
    r = await post({ subscription: sub, target: { type: 'all' } });
    assert.equal(r.status, 503);
    assert.match(r.body.error.message, /need the watch plugin, which is not loaded/);
  });
});
