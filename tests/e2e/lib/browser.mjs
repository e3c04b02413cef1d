// Debian's chromium driven by playwright-core: headless, no sandbox (tests
// may run as root in containers), no background traffic. Playwright gives
// every launch a fresh user-data dir of its own.
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.VIGIA_CHROMIUM || '/usr/bin/chromium';
export const OUTPUT_DIR = process.env.E2E_OUTPUT_DIR
  || path.join(process.env.VIGIA_BUILD_DIR || path.resolve(import.meta.dirname, '../../../build'), 'tests', 'e2e', 'output');

export const DESKTOP = { width: 1280, height: 860 };
export const PHONE = { width: 390, height: 844 };

export function missingChromium() {
  return fs.existsSync(CHROMIUM) ? null : `chromium (${CHROMIUM}; apt-get install chromium)`;
}

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-dev-shm-usage'],
  });
}

// A page that records console errors and uncaught exceptions.
export async function openPage(browser, url, { viewport = DESKTOP, locale = 'es-CL' } = {}) {
  const context = await browser.newContext({ viewport, locale, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const errors = [];
  const warnings = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
    if (m.type() === 'warning') warnings.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  const started = Date.now();
  await page.goto(url, { waitUntil: 'load' });
  return { context, page, errors, warnings, loadMs: Date.now() - started };
}

export async function screenshot(page, testName, suffix = '') {
  fs.mkdirSync(OUTPUT_DIR, { recursive: true });
  const safe = testName.replace(/[^A-Za-z0-9_-]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 80);
  const file = path.join(OUTPUT_DIR, `${safe}${suffix ? `-${suffix}` : ''}.png`);
  await page.screenshot({ path: file });
  return file;
}

export const badgeCount = (page) => page.evaluate(() => Number(document.getElementById('bell').dataset.unread));
export const connState = (page) => page.evaluate(() => document.getElementById('conn').dataset.state);

// Pages opened during one test, all closed after it so renderers do not
// pile up on a small machine. open() waits for the live connection.
export class Pages {
  constructor(browser, base) {
    this.browser = browser;
    this.base = base;
    this.open_ = [];
  }

  async open(opts = {}) {
    const p = await openPage(this.browser, `${this.base}/${opts.hash ? `#${opts.hash}` : ''}`, opts);
    this.open_.push(p);
    const end = Date.now() + 15000;
    while ((await connState(p.page)) !== 'connected') {
      if (Date.now() > end) throw new Error(`page did not connect within 15 s; console: ${p.errors.join(' | ')}`);
      await p.page.waitForTimeout(50);
    }
    return p;
  }

  async closeAll() {
    for (const p of this.open_.splice(0)) await p.context.close().catch(() => {});
  }
}
