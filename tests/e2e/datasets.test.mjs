// Browser tests of the datasets view and the page as a whole against the
// real server (notifications, monitor, broker, rest) and the CKAN fixture:
// load without console errors and "connected", a dataset flipped down in
// the fixture shown down after the next sweep, the English switch, and the
// remembered preferences.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { launch, Pages, screenshot, DESKTOP, PHONE } from './lib/browser.mjs';
import { CkanFixture, VigiaServer, waitFor } from './lib/server.mjs';
import { median, monitorIni, requireVendor, skipReason, teardown } from './lib/setup.mjs';

const PLUGINS = ['notifications', 'monitor', 'broker', 'rest'];
const skip = skipReason({ plugins: PLUGINS, fixture: true });
if (skip) console.log(`# SKIP datasets suite: ${skip}`);

describe('datasets', { skip: skip || false }, () => {
  let fixture;
  let server;
  let browser;
  let pages;
  const open = (opts) => pages.open(opts);

  before(async () => {
    requireVendor();
    fixture = new CkanFixture(['--datasets', '60', '--orgs', '5', '--resources-per-dataset', '2',
      '--scenario', 'plain', '--seed', '7']);
    await fixture.start();
    server = new VigiaServer({ plugins: PLUGINS, extraIni: monitorIni(fixture.base) });
    await server.start();
    // The first sweep has classified every dataset.
    await waitFor(async () => {
      const s = await server.request('GET', '/api/stats');
      const d = s && s.datasets;
      return d && d.total >= 60 && (d.by_status?.unknown ?? 0) === 0;
    }, { timeout: 60000, interval: 250, what: 'the first sweep of the fixture' });
    browser = await launch();
    pages = new Pages(browser, server.base);
  });

  afterEach(() => pages.closeAll());

  after(() => teardown({ browser, server, fixture }));

  test('loads with no console errors and shows "connected"', async (t) => {
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
      // The preloaded first page must be the one the page asks for (else Chrome warns it went unused).
      await last.page.waitForTimeout(i === 2 ? 3500 : 0);
      allErrors.push(...last.warnings.filter((w) => /preload/i.test(w)));
    }
    const { page } = last;
    // The page reads one field per value (latency_ms, uptime_30d, datasets.total and
    // datasets.by_status): after the first sweep every row and card is filled, so a
    // field renamed on the server shows here as "—" or a missing count.
    const cells = await page.$$eval('#datasets-body tr', (trs) => trs.map((tr) =>
      [tr.querySelector('.col-latency').textContent, tr.querySelector('.col-uptime').textContent]));
    assert.ok(cells.length > 0 && cells.every(([lat, up]) => /\d/.test(lat) && /\d/.test(up)),
      `latency and uptime cells: ${JSON.stringify(cells.slice(0, 5))}`);
    const card = async (k) => Number((await page.textContent(`[data-card="${k}"] .card-count`)).replace(/\D/g, ''));
    await waitFor(async () => (await card('total')) === 60, { what: 'the total card to show 60' });
    assert.ok((await card('up')) > 0);
    assert.equal(await page.textContent('#conn-text'), 'Conectado');
    assert.equal(await page.getAttribute('html', 'lang'), 'es');
    await page.waitForTimeout(300);
    assert.deepEqual(allErrors, [], `console errors: ${allErrors.join('\n')}`);
    const med = (k) => median(loads.map((l) => l[k])).toFixed(0);
    console.log(`# page load (load event) median of 3: ${med('load')} ms; first dataset rows rendered: ${med('rows')} ms`);
    await screenshot(page, t.name);
  });

  test('a dataset flipped down in the fixture shows as down after the next sweep', async (t) => {
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
    // ... its history of changes, with the fall, and its freshness against the
    // frequency it declares (the fixture's datasets say "mensual", years ago).
    await page.waitForSelector('#detail-body .timeline li[data-topic="dataset.status_changed"]');
    assert.match(await page.textContent('#detail-body .timeline'), /Estado: Disponible → Caído/);
    assert.match(await page.textContent('#detail-body .freshness'),
      /^Actualización: muy atrasado \(declara «mensual»; última: \d{4}-\d\d-\d\d\)$/);
    await screenshot(page, t.name, 'detail');

    // Filters and page live in the address: a reload (or a shared link) keeps them.
    await page.keyboard.press('Escape');
    // The dialog's "close" event comes as a later task and gives focus back to
    // the row's button: a fill that lands before it types into nothing. So fill
    // until the box is empty and the search's debounce (250 ms) has written the
    // hash, then change the status filter.
    await page.waitForFunction(() => !document.querySelector('dialog[open]'));
    await waitFor(async () => {
      if ((await page.inputValue('#filter-q')) !== '') await page.fill('#filter-q', '');
      return !(await page.evaluate(() => location.hash)).includes('q=');
    }, { interval: 300, what: 'the search cleared' });
    await page.selectOption('#filter-status', 'down');
    await waitFor(async () => (await page.evaluate(() => location.hash)) === '#status=down', { what: 'hash' });
    const again = await open({ hash: 'status=down' });
    assert.equal(await again.page.inputValue('#filter-status'), 'down');
    await again.page.waitForSelector(`#datasets-body tr[data-id="${target.id}"]`);
    const statuses = await again.page.$$eval('#datasets-body tr', (trs) => trs.map((tr) => tr.dataset.status));
    assert.ok(statuses.length > 0 && statuses.every((x) => x === 'down'), `rows: ${statuses}`);
    assert.deepEqual(again.errors, []);
  });

  test('the report by organisation: league table, sorting, sparklines, an organisation to fix', async (t) => {
    const { page } = await open();
    await page.click('a[href="/report.html"]');
    await page.waitForSelector('.report-table tbody tr');
    assert.equal(await page.textContent('#report-heading'), 'Informe por organización');
    assert.equal(await page.locator('.report-table tbody tr').count(), 5);
    assert.equal(await page.locator('.report-table tbody svg.spark').count(), 5);
    // worst broken share first; a click on a column sorts by it, largest first
    assert.equal(await page.getAttribute('th:has(button[data-sort="broken_share"])', 'aria-sort'), 'descending');
    await page.click('button[data-sort="datasets"]');
    assert.equal(await page.getAttribute('th:has(button[data-sort="datasets"])', 'aria-sort'), 'descending');
    const counts = await page.$$eval('.report-table tbody tr td:nth-child(3)',
      (tds) => tds.map((td) => Number(td.textContent.replace(/\D/g, ''))));
    assert.deepEqual(counts, [...counts].sort((a, b) => b - a));
    assert.equal(counts.reduce((a, b) => a + b, 0), 60);
    await screenshot(page, t.name);
    // An organisation's page lists what to fix first: the fixture's datasets
    // declare "mensual" and were last updated years ago.
    await page.click('.report-table tbody tr:first-child th a');
    await page.waitForSelector('#org-heading');
    await page.waitForSelector('.to-fix li');
    assert.ok(await page.locator('.to-fix li[data-why="delinquent"]').count() > 0);
    assert.match(await page.textContent('.to-fix li[data-why="delinquent"]'), /Muy atrasado.*declara «mensual»/);
    await screenshot(page, t.name, 'organization');
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
    await page.waitForSelector('#datasets-body tr');
    // Relative times and status pills in English too.
    const when = await page.textContent('#datasets-body tr .col-checked time');
    assert.match(when, /ago|now/);
    assert.equal(await page.textContent('#datasets-body tr .pill'), 'Up');
    await screenshot(page, t.name);
  });

  test('browser notifications and sound are opt-in and remembered', async (t) => {
    const { page, context } = await open();
    await context.grantPermissions(['notifications'], { origin: server.base });
    await page.click('#settings-btn');
    assert.equal(await page.isChecked('#pref-browser'), false);
    assert.equal(await page.isChecked('#pref-sound'), false);
    await page.check('#pref-browser');
    await page.check('#pref-sound');
    await waitFor(() => page.isChecked('#pref-browser'), { what: 'browser notifications on' });
    await page.keyboard.press('Escape');
    await page.reload();
    await page.click('#settings-btn');
    assert.equal(await page.isChecked('#pref-browser'), true);
    assert.equal(await page.isChecked('#pref-sound'), true);
    await screenshot(page, t.name);
    await page.keyboard.press('Escape');
  });
});
