// Browser tests of the live notifications against the real server
// (notifications, broker, rest): arrival within a second with the badge,
// read state across two browsers, type filter and infinite scroll, clear
// with the admin token.
import assert from 'node:assert/strict';
import os from 'node:os';
import { after, afterEach, before, describe, test } from 'node:test';
import { badgeCount, launch, Pages, screenshot, PHONE } from './lib/browser.mjs';
import { ADMIN_TOKEN, VigiaServer, waitFor } from './lib/server.mjs';
import { median, requireVendor, skipReason, teardown } from './lib/setup.mjs';

const PLUGINS = ['notifications', 'broker', 'rest'];
const skip = skipReason({ plugins: PLUGINS });
if (skip) console.log(`# SKIP notifications suite: ${skip}`);

describe('notifications', { skip: skip || false }, () => {
  let server;
  let browser;
  let pages;
  const open = (opts) => pages.open(opts);

  before(async () => {
    requireVendor();
    // Without the monitor the datasets view answers 503; only notifications matter here.
    server = new VigiaServer({ plugins: PLUGINS });
    await server.start();
    browser = await launch();
    pages = new Pages(browser, server.base);
  });

  afterEach(() => pages.closeAll());

  after(() => teardown({ browser, server }));

  test('a notification created over REST appears within 1 s with the badge incremented', async (t) => {
    const { page } = await open();
    const latencies = [];
    for (let i = 0; i < 5; i++) {
      const before0 = await badgeCount(page);
      // Record, in the page, the wall-clock moment the badge changes.
      await page.evaluate((n) => {
        window.__badgeAt = null;
        const bell = document.getElementById('bell');
        const obs = new MutationObserver(() => {
          if (Number(bell.dataset.unread) === n) { window.__badgeAt = Date.now(); obs.disconnect(); }
        });
        obs.observe(bell, { attributes: true, attributeFilter: ['data-unread'] });
      }, before0 + 1);
      const title = `E2E live ${i} ${Date.now()}`;
      const t0 = Date.now();
      const created = await server.createNotification({ type: 'warning', title, message: 'llegó en vivo' });
      const at = await waitFor(() => page.evaluate(() => window.__badgeAt), { timeout: 3000, interval: 10, what: 'badge' });
      latencies.push(at - t0);
      assert.equal(await badgeCount(page), before0 + 1);
      assert.equal(await page.textContent('#bell-badge'), String(before0 + 1));
      await page.waitForSelector(`.toast[data-id="${created.notification.id}"]`, { timeout: 2000 });
      // The ARIA live region announces it (written a moment later so repeats are read again).
      await waitFor(async () => (await page.textContent('#live-region')).includes(title), { what: 'live region text' });
      await page.waitForTimeout(1100); // one arrival at a time: bursts are summarised
    }
    console.log(`# REST create -> badge update: median ${median(latencies)} ms, max ${Math.max(...latencies)} ms `
      + `(5 runs: ${latencies.join(', ')}; load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} CPUs)`);
    // Within 1 s; one outlier of 5 is tolerated (and printed) because this
    // suite shares two cores with builds and other browsers.
    const late = latencies.filter((ms) => ms >= 1000);
    assert.ok(late.length <= 1 && median(latencies) < 1000, `create->badge latencies ${latencies.join(', ')} ms; want < 1000`);
    await screenshot(page, t.name);
  });

  test('opening the panel and clicking marks read, and the badge drops in a second browser too', async (t) => {
    const a = await open();
    const b = await open();
    const { notification } = await server.createNotification({ type: 'error', title: `Leer ${Date.now()}`, message: 'clic' });
    let seen;
    const expectUnread = async (p, n) => waitFor(async () => (seen = await badgeCount(p)) === n,
      { timeout: 5000, what: `badge ${n}` }).catch((e) => { throw new Error(`${e.message}; badge shows ${seen}`); });
    const unread = (await server.request('GET', '/api/notifications?limit=1')).unread_count;
    await expectUnread(a.page, unread);
    await expectUnread(b.page, unread);

    await a.page.click('#bell');
    const item = a.page.locator(`#notif-list li[data-id="${notification.id}"]`);
    await item.waitFor();
    assert.ok((await item.getAttribute('class')).includes('unread'));
    // Newest first.
    assert.equal(await a.page.getAttribute('#notif-list li:first-child', 'data-id'), notification.id);
    await item.locator('button').click();
    await expectUnread(a.page, unread - 1);
    await expectUnread(b.page, unread - 1);
    await waitFor(async () => !(await item.getAttribute('class')).includes('unread'), { what: 'read marker gone' });
    // The panel is a modal dialog that traps focus and closes on Escape.
    for (let i = 0; i < 12; i++) await a.page.keyboard.press('Tab');
    assert.ok(await a.page.evaluate(() => document.getElementById('notif-panel').contains(document.activeElement)));
    await screenshot(a.page, t.name);
    await a.page.keyboard.press('Escape');
    assert.equal(await a.page.evaluate(() => document.getElementById('notif-panel').open), false);
    // Focus goes back to the bell, and the keyboard alone opens the panel again.
    assert.equal(await a.page.evaluate(() => document.activeElement.id), 'bell');
    await a.page.keyboard.press('Enter');
    assert.equal(await a.page.evaluate(() => document.getElementById('notif-panel').open), true);
    assert.equal(await a.page.evaluate(() => document.activeElement.id), 'panel-close');
  });

  test('a burst shows three toasts and one summary for screen readers', async (t) => {
    const { page } = await open();
    await Promise.all(Array.from({ length: 8 }, (_, i) =>
      server.createNotification({ type: 'info', title: `Ráfaga ${i}`, message: 'muchas a la vez' })));
    // Normally "8 notificaciones nuevas"; on a loaded machine the burst may split.
    await waitFor(async () => /^[4-8] notificaciones nuevas$/.test(await page.textContent('#live-region')),
      { timeout: 5000, what: 'burst summary in the live region' });
    assert.ok((await page.locator('.toast').count()) <= 3);
    await screenshot(page, t.name);
  });

  test('the type filter and infinite scroll into older history', async (t) => {
    for (let i = 0; i < 45; i++) {
      await server.createNotification({ type: i % 3 === 0 ? 'success' : 'info', title: `Historia ${i}`, message: 'relleno' });
    }
    const { page } = await open({ viewport: PHONE });
    await page.click('#bell');
    await page.waitForSelector('#notif-list li');
    const total = (await server.request('GET', '/api/notifications?limit=1')).total;
    // Scroll to the end until the whole history is loaded.
    await waitFor(async () => {
      await page.evaluate(() => { const s = document.getElementById('notif-scroll'); s.scrollTop = s.scrollHeight; });
      return (await page.locator('#notif-list li').count()) >= total;
    }, { timeout: 15000, interval: 200, what: `all ${total} notifications in the panel` });
    const ids = await page.$$eval('#notif-list li', (lis) => lis.map((li) => Number(li.dataset.id)));
    assert.deepEqual(ids, [...ids].sort((x, y) => y - x), 'newest first');
    assert.equal(new Set(ids).size, ids.length, 'no duplicates');
    await page.selectOption('#panel-filter', 'success');
    await waitFor(async () => {
      const types = await page.$$eval('#notif-list li', (lis) => lis.map((li) => li.dataset.type));
      return types.length > 0 && types.every((x) => x === 'success');
    }, { what: 'only success notifications' });
    await screenshot(page, t.name);
  });

  test('mark all read asks for the token once and clears the badge everywhere', async (t) => {
    await server.createNotification({ type: 'success', title: 'Para marcar', message: 'todas' });
    const a = await open();
    const b = await open();
    assert.ok((await badgeCount(a.page)) > 0);
    await a.page.click('#bell');
    await a.page.waitForSelector('#notif-list li.unread');
    await a.page.click('#mark-all');
    await a.page.waitForSelector('#token-form:not([hidden])');
    await a.page.fill('#token-input', ADMIN_TOKEN);
    await a.page.keyboard.press('Enter');
    await waitFor(async () => (await a.page.locator('#notif-list li.unread').count()) === 0, { what: 'no unread items' });
    await waitFor(async () => (await badgeCount(a.page)) === 0, { what: 'badge 0' });
    await waitFor(async () => (await badgeCount(b.page)) === 0, { what: 'badge 0 in the other browser' });
    await screenshot(a.page, t.name);
    await a.page.evaluate(() => sessionStorage.clear()); // the clear test asks again
  });

  test('clear asks for the admin token and works with it', async (t) => {
    const a = await open();
    const b = await open();
    await a.page.click('#bell');
    await a.page.waitForSelector('#notif-list li');
    await a.page.click('#clear-all');
    await a.page.waitForSelector('#token-form:not([hidden])');
    await a.page.fill('#token-input', 'wrong-token');
    await a.page.click('#token-form button[type=submit]');
    await waitFor(async () => (await a.page.textContent('#token-error')) === 'Token incorrecto.', { what: 'wrong token message' });
    await a.page.fill('#token-input', ADMIN_TOKEN);
    await a.page.click('#token-form button[type=submit]');
    await waitFor(async () => (await a.page.locator('#notif-list li').count()) === 0, { what: 'empty list' });
    await waitFor(async () => (await badgeCount(a.page)) === 0, { what: 'badge 0' });
    await waitFor(async () => (await badgeCount(b.page)) === 0, { what: 'badge 0 in the other browser' });
    assert.equal(await a.page.isVisible('#bell-badge'), false);
    assert.equal(await a.page.evaluate(() => sessionStorage.getItem('vigia.admin_token')), ADMIN_TOKEN);
    await screenshot(a.page, t.name);
  });
});
