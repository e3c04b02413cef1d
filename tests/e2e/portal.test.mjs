// Browser tests of the portal against the real server (notifications,
// monitor, broker, rest) and the CKAN fixture: load and connection, live
// notifications, read state across browsers, clear with the admin token,
// the English switch, and a dataset going down in the table.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { badgeCount, connState, launch, openPage, screenshot, DESKTOP, PHONE } from './lib/browser.mjs';
import { ADMIN_TOKEN, CkanFixture, VigiaServer, waitFor } from './lib/server.mjs';
import { median, monitorIni, skipReason } from './lib/setup.mjs';

// The notification tests need these; the datasets tests also need the
// monitor and the CKAN fixture, and are skipped (saying why) without them.
const REQUIRED = ['notifications', 'broker', 'rest'];
const skip = skipReason({ plugins: REQUIRED });
const noMonitor = skip ? false : skipReason({ plugins: ['monitor'], fixture: true });
if (skip) console.log(`# SKIP portal suite: ${skip}`);
else if (noMonitor) console.log(`# partial skip (datasets tests): ${noMonitor}`);

describe('portal', { skip: skip || false }, () => {
  let fixture;
  let server;
  let browser;
  const pages = [];

  async function open(opts) {
    const p = await openPage(browser, `${server.base}/`, opts);
    pages.push(p);
    await waitFor(async () => (await connState(p.page)) === 'connected', { timeout: 15000, what: 'connected' });
    return p;
  }

  before(async () => {
    if (noMonitor) {
      server = await new VigiaServer({ plugins: REQUIRED }).start();
    } else {
      fixture = await new CkanFixture(['--datasets', '60', '--orgs', '5', '--resources-per-dataset', '2',
        '--scenario', 'plain', '--seed', '7']).start();
      server = await new VigiaServer({
        plugins: ['notifications', 'monitor', 'broker', 'rest'], extraIni: monitorIni(fixture.base),
      }).start();
      // The first sweep has classified every dataset.
      await waitFor(async () => {
        const s = await server.request('GET', '/api/stats');
        const d = s && s.datasets;
        return d && d.total >= 60 && (d.by_status?.unknown ?? 0) === 0;
      }, { timeout: 60000, interval: 250, what: 'the first sweep of the fixture' });
    }
    browser = await launch();
  });

  after(async () => {
    for (const p of pages) await p.context.close().catch(() => {});
    if (browser) await browser.close();
    if (server) await server.cleanup();
    if (fixture) await fixture.stop();
  });

  test('loads with no console errors and shows "connected"', { skip: noMonitor }, async (t) => {
    const loads = [];
    const allErrors = [];
    let last;
    for (let i = 0; i < 3; i++) {
      last = await open();
      const rows = await waitFor(() => last.page.evaluate(() => document.querySelectorAll('#datasets-body tr').length),
        { what: 'dataset rows' });
      assert.ok(rows > 0);
      const timing = await last.page.evaluate(() => {
        const nav = performance.getEntriesByType('navigation')[0];
        return { load: nav.loadEventEnd - nav.startTime, rows: window.__vigiaFirstRows };
      });
      loads.push(timing);
      allErrors.push(...last.errors);
    }
    const { page } = last;
    assert.equal(await page.textContent('#conn-text'), 'Conectado');
    assert.equal(await page.getAttribute('html', 'lang'), 'es');
    await page.waitForTimeout(300);
    assert.deepEqual(allErrors, [], `console errors: ${allErrors.join('\n')}`);
    const med = (k) => median(loads.map((l) => l[k])).toFixed(0);
    console.log(`# page load (load event) median of 3: ${med('load')} ms; first dataset rows rendered: ${med('rows')} ms`);
    await screenshot(page, t.name);
  });

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
    }
    console.log(`# REST create -> badge update: median ${median(latencies)} ms, max ${Math.max(...latencies)} ms (5 runs)`);
    assert.ok(Math.max(...latencies) < 1000, `create->badge latencies ${latencies.join(', ')} ms; want < 1000`);
    await screenshot(page, t.name);
  });

  test('opening the panel and clicking marks read, and the badge drops in a second browser too', async (t) => {
    const a = await open();
    const b = await open();
    const { notification } = await server.createNotification({ type: 'error', title: `Leer ${Date.now()}`, message: 'clic' });
    const expectUnread = async (p, n) => waitFor(async () => (await badgeCount(p)) === n,
      { timeout: 3000, what: `badge ${n}` });
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

  test('the English switch changes the texts and is remembered', async (t) => {
    const { page } = await open();
    assert.equal(await page.textContent('#datasets-heading'), 'Datasets monitoreados');
    await page.click('#lang-btn');
    assert.equal(await page.getAttribute('html', 'lang'), 'en');
    assert.equal(await page.textContent('#conn-text'), 'Connected');
    assert.equal(await page.textContent('#datasets-heading'), 'Monitored datasets');
    assert.equal(await page.textContent('#lang-btn'), 'Español');
    await page.reload();
    await waitFor(async () => (await page.textContent('#conn-text')) === 'Connected', { timeout: 15000, what: 'Connected after reload' });
    assert.equal(await page.textContent('th[data-sort="title"] span'), 'Title');
    if (!noMonitor) {
      await page.waitForSelector('#datasets-body tr');
      // Relative times in English too.
      const when = await page.textContent('#datasets-body tr .col-checked time');
      assert.match(when, /ago|now/);
    }
    await screenshot(page, t.name);
  });

  test('a dataset flipped down in the fixture shows as down after the next sweep', { skip: noMonitor }, async (t) => {
    const [target] = await fixture.packageSearch(1);
    const { page } = await open({ viewport: DESKTOP });
    await page.fill('#filter-q', target.name);
    const row = page.locator(`#datasets-body tr[data-id="${target.id}"]`);
    await row.waitFor({ timeout: 10000 });
    assert.equal(await row.getAttribute('data-status'), 'up');
    await fixture.control({ op: 'set_dataset', id: target.id, behaviour: '404' });
    await server.request('POST', '/api/monitor/run', {});
    await waitFor(async () => (await row.getAttribute('data-status').catch(() => null)) === 'down',
      { timeout: 30000, interval: 100, what: 'the row to show down' });
    assert.equal(await row.locator('.pill').textContent(), 'Caído');
    await screenshot(page, t.name);
    // Its detail shows the failing resources with a reason, and the history chart.
    await row.locator('.row-open').click();
    await page.waitForSelector('#detail-body .mini-table tbody tr');
    assert.match(await page.textContent('#detail-body .mini-table'), /404/);
    await screenshot(page, t.name, 'detail');
  });
});
