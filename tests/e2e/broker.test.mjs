// The broker's admin page (web/broker.html): it asks for the admin token on
// a 401, then shows live connections by transport and namespace.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { io } from 'socket.io-client';
import { launch, openPage, screenshot } from './lib/browser.mjs';
import { ADMIN_TOKEN, VigiaServer, waitFor } from './lib/server.mjs';
import { skipReason, teardown } from './lib/setup.mjs';

const REQUIRED = ['broker'];
const skip = skipReason({ plugins: REQUIRED });
if (skip) console.log(`# SKIP broker admin suite: ${skip}`);

describe('broker admin page', { skip: skip || false }, () => {
  let server;
  let browser;
  const sockets = [];

  before(async () => {
    server = new VigiaServer({ plugins: REQUIRED, extraIni: '[broker]\nrecent_limit = 0\n' });
    await server.start();
    browser = await launch();
  });

  after(async () => {
    for (const s of sockets) s.disconnect();
    await teardown({ browser, server });
  });

  test('token, then connections by transport and namespace', async (t) => {
    for (const transports of [['websocket'], ['websocket'], ['polling']]) {
      const s = io(server.base, { transports, forceNew: true, reconnection: false });
      sockets.push(s);
      await new Promise((r) => s.once('connect', r));
    }
    const { page, errors } = await openPage(browser, `${server.base}/broker.html`);
    await page.waitForSelector('#token-input', { state: 'visible' });
    await page.fill('#token-input', ADMIN_TOKEN);
    await page.click('#token-form button[type=submit]');
    await page.waitForSelector('#admin-body table');
    const cells = async () => page.$$eval('#admin-body table:first-child tbody td', (tds) => tds.map((td) => td.textContent));
    await waitFor(async () => (await cells())[0] === '3', { what: '3 connections shown' });
    assert.deepEqual(await cells(), ['3', '2', '1']);
    const text = await page.textContent('#admin-body');
    assert.match(text, /Espacios de nombres/);
    assert.equal(await page.isVisible('#token-input'), false);
    assert.deepEqual(errors.filter((e) => e.startsWith('pageerror')), []);
    await screenshot(page, t.name);
  });
});
