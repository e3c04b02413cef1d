// Stopping the server shows "offline"; after a restart the page shows
// "connected" again and the notifications created while it was away appear
// exactly once (catch-up by id, de-duplicated).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { badgeCount, connState, launch, openPage, screenshot } from './lib/browser.mjs';
import { CkanFixture, VigiaServer, missingPlugin, waitFor } from './lib/server.mjs';
import { monitorIni, requireVendor, skipReason, teardown } from './lib/setup.mjs';

const REQUIRED = ['notifications', 'broker', 'rest'];
const skip = skipReason({ plugins: REQUIRED });
if (skip) console.log(`# SKIP reconnect suite: ${skip}`);

describe('reconnect', { skip: skip || false }, () => {
  let server;
  let browser;
  let fixture;

  before(async () => {
    requireVendor();
    // The monitor is optional here; with it the datasets view has data too.
    let plugins = REQUIRED;
    let extraIni = '';
    if (!missingPlugin(['monitor']) && !skipReason({ plugins: ['monitor'], fixture: true })) {
      fixture = new CkanFixture(['--datasets', '20', '--orgs', '3', '--scenario', 'plain']);
      await fixture.start();
      plugins = ['notifications', 'monitor', 'broker', 'rest'];
      extraIni = monitorIni(fixture.base);
    }
    server = new VigiaServer({ plugins, extraIni });
    await server.start();
    browser = await launch();
  });

  after(() => teardown({ browser, server, fixture }));

  test('stop shows offline; restart shows connected and missed notifications appear once', async (t) => {
    const { page, context } = await openPage(browser, `${server.base}/`);
    await waitFor(async () => (await connState(page)) === 'connected', { timeout: 15000, what: 'connected' });
    const first = await server.createNotification({ type: 'info', title: 'Antes del corte', message: 'visto en vivo' });
    await waitFor(async () => (await badgeCount(page)) === first.unread_count, { what: 'badge before the stop' });

    await server.stop();
    await waitFor(async () => (await connState(page)) === 'offline', { timeout: 15000, what: 'offline' });
    assert.equal(await page.textContent('#conn-text'), 'Sin conexión');
    await screenshot(page, t.name, 'offline');

    // Keep the browser away while the server is back and notifications are
    // created, so they can only arrive through the catch-up.
    await context.setOffline(true);
    await server.start();
    const titles = [];
    let last;
    for (let i = 0; i < 3; i++) {
      titles.push(`Durante el corte ${i}`);
      last = await server.createNotification({ type: 'error', title: titles[i], message: 'creada sin conexión' });
    }
    await context.setOffline(false);
    await waitFor(async () => (await connState(page)) === 'connected', { timeout: 20000, what: 'connected again' });
    assert.equal(await page.textContent('#conn-text'), 'Conectado');
    await waitFor(async () => (await badgeCount(page)) === last.unread_count,
      { timeout: 5000, what: `badge ${last.unread_count} after the catch-up` });

    await page.click('#bell');
    await page.waitForSelector('#notif-list li');
    await page.waitForTimeout(1500); // give any duplicate time to show up
    for (const title of [...titles, 'Antes del corte']) {
      const n = await page.locator('#notif-list li .notif-title', { hasText: title }).count();
      assert.equal(n, 1, `"${title}" shown ${n} times`);
    }
    const ids = await page.$$eval('#notif-list li', (lis) => lis.map((li) => li.dataset.id));
    assert.equal(new Set(ids).size, ids.length, 'no duplicate ids in the panel');
    await screenshot(page, t.name, 'restored');
    await context.close();
  });

  test('a dropped transport is recovered and the events missed meanwhile appear once', async (t) => {
    const { page, context } = await openPage(browser, `${server.base}/`);
    await waitFor(async () => (await connState(page)) === 'connected', { timeout: 15000, what: 'connected' });
    // The server must have sent at least one event for a session to be recoverable.
    const first = await server.createNotification({ type: 'info', title: 'Antes de la caída', message: 'en vivo' });
    await waitFor(async () => (await badgeCount(page)) === first.unread_count, { what: 'first badge' });

    await context.setOffline(true);
    await page.evaluate(() => window.vigiaSocket.io.engine.close()); // "transport close": recoverable
    await waitFor(async () => (await connState(page)) !== 'connected', { what: 'disconnected' });
    const titles = ['Perdida 1', 'Perdida 2'];
    let last;
    for (const title of titles) last = await server.createNotification({ type: 'warning', title, message: 'sin transporte' });
    await context.setOffline(false);
    await waitFor(async () => (await connState(page)) === 'connected', { timeout: 20000, what: 'connected again' });
    const recovered = await page.evaluate(() => window.vigiaSocket.recovered);
    console.log(`# connection state recovery after a dropped transport: socket.recovered = ${recovered}`);
    await waitFor(async () => (await badgeCount(page)) === last.unread_count, { timeout: 5000, what: 'badge after recovery' });
    await page.click('#bell');
    await page.waitForSelector('#notif-list li');
    await page.waitForTimeout(1000);
    for (const title of [...titles, 'Antes de la caída']) {
      const n = await page.locator('#notif-list li .notif-title', { hasText: title }).count();
      assert.equal(n, 1, `"${title}" shown ${n} times`);
    }
    assert.equal(recovered, true, 'the broker recovered the session (same sid, missed events replayed)');
    await screenshot(page, t.name);
    await context.close();
  });
});
