// Regenerates docs/screenshots/ from the real server and the CKAN fixture
// (lively scenario, so there are failures and notifications to show).
// Not a test; run by hand after a build:
//   VIGIA_BUILD_DIR=build node tests/e2e/make-screenshots.mjs
import fs from 'node:fs';
import path from 'node:path';
import { launch, openPage, DESKTOP, PHONE } from './lib/browser.mjs';
import { CkanFixture, SOURCE_DIR, VigiaServer, waitFor } from './lib/server.mjs';
import { monitorIni, skipReason } from './lib/setup.mjs';

const PLUGINS = ['notifications', 'monitor', 'broker', 'rest'];

const why = skipReason({ plugins: PLUGINS, fixture: true });
if (why) {
  console.error(`make-screenshots: ${why}`);
  process.exit(1);
}
const OUT = path.join(SOURCE_DIR, 'docs', 'screenshots');
fs.mkdirSync(OUT, { recursive: true });

const fixture = await new CkanFixture(['--datasets', '1200', '--orgs', '24', '--resources-per-dataset', '2',
  '--scenario', 'lively', '--flip-interval', '1500', '--seed', '11', '--slow-ms', '300', '--hang-ms', '1500']).start();
const server = await new VigiaServer({ plugins: PLUGINS, extraIni: monitorIni(fixture.base, { interval: '4s' }) }).start();
const browser = await launch();
try {
  await waitFor(async () => (await server.request('GET', '/api/stats'))?.datasets?.total >= 1200,
    { timeout: 60000, interval: 500, what: 'listing' });
  // A few sweeps so that some datasets change state and notifications exist.
  await waitFor(async () => (await server.request('GET', '/api/notifications?limit=1'))?.total >= 5,
    { timeout: 60000, interval: 1000, what: 'notifications from the monitor' }).catch(() => {});

  for (const [name, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
    const { page, context } = await openPage(browser, `${server.base}/`, { viewport });
    await page.emulateMedia({ reducedMotion: 'reduce' }); // no half-finished flashes in the pictures
    await waitFor(async () => (await page.getAttribute('#conn', 'data-state')) === 'connected', { timeout: 15000 });
    await page.waitForSelector('#datasets-body tr');
    await page.waitForTimeout(2500); // latency and uptime fill in
    await page.evaluate(() => document.getElementById('toasts').replaceChildren());
    await page.screenshot({ path: path.join(OUT, `${name}-datasets.png`) });
    await page.click('#bell');
    await page.waitForSelector('#notif-list li');
    await page.waitForTimeout(600);
    await page.evaluate(() => document.getElementById('toasts').replaceChildren());
    await page.screenshot({ path: path.join(OUT, `${name}-panel.png`) });
    await page.keyboard.press('Escape');
    await page.selectOption('#filter-status', 'degraded');
    await page.waitForSelector('#datasets-body tr[data-status="degraded"]');
    await page.waitForTimeout(800);
    await page.click('#datasets-body tr[data-status="degraded"] .row-open');
    await page.waitForSelector('#detail-body .mini-table, #detail-body .checks');
    await page.waitForTimeout(600);
    await page.evaluate(() => document.getElementById('toasts').replaceChildren());
    await page.screenshot({ path: path.join(OUT, `${name}-detail.png`) });
    await context.close();
  }
  console.log(`screenshots written to ${OUT}`);
} finally {
  await browser.close();
  await server.cleanup();
  await fixture.stop();
}
