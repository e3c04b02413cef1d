// Browser tests of watchlists (the watch plugin) against the real server:
// follow a dataset from its detail view, the confirmation request the server
// hands to the mail channel (read from the bus through the busbridge test
// plugin, standing in for the e-mail plugin), its confirm link opened in the
// browser and confirmed by the page's button (opening it alone confirms
// nothing), the mails' "on Vigía" link opening the dataset's detail, the manage link listing the dataset, a frequency change the API
// then reports, and the unfollow; then the organisation and search buttons,
// the mail's unsubscribe link opened in a browser, and "erase everything".
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { launch, Pages, PHONE, screenshot } from './lib/browser.mjs';
import { CkanFixture, VigiaServer, waitFor } from './lib/server.mjs';
import { monitorIni, requireVendor, skipReason, teardown } from './lib/setup.mjs';

const PLUGINS = ['notifications', 'monitor', 'broker', 'rest', 'watch', 'busbridge'];
const skip = skipReason({ plugins: PLUGINS, fixture: true });
if (skip) console.log(`# SKIP follow suite: ${skip}`);

describe('follow', { skip: skip || false }, () => {
  let fixture;
  let server;
  let browser;
  let pages;

  // The latest `confirm` delivery request for `email` after bus event `since`.
  async function confirmRequest(email, since) {
    return waitFor(async () => {
      const r = await server.request('GET', `/test/events?since=${since}`);
      const hits = r.events.filter((e) => e.topic === 'delivery.requested'
        && e.payload.kind === 'confirm' && e.payload.to === email);
      return hits.length ? hits[hits.length - 1].payload : null;
    }, { timeout: 10000, what: `a confirm delivery.requested for ${email}` });
  }
  const busNext = async () => (await server.request('GET', '/test/events?since=0')).next;
  // The channel's answer, so the outbox does not offer the message again.
  const sent = (key) => server.request('POST', '/test/publish',
    { topic: 'delivery.result', payload: { v: 1, key, channel: 'email', status: 'sent' } });
  // What the manage API says, as an API client (JSON, not the page).
  async function manageApi(link) {
    const r = await fetch(link, { headers: { Accept: 'application/json' } });
    return { status: r.status, body: await r.json() };
  }
  const text = (page, sel) => page.locator(sel).first().textContent();
  // Submits the follow form and waits for "check your inbox" (fails at once
  // with the form's error when there is one).
  async function submitFollow(page) {
    await page.click('#follow-dialog button[type=submit]');
    await waitFor(async () => {
      const [done, err] = await page.evaluate(() => [!!document.querySelector('.follow-done'),
        document.getElementById('follow-error')?.textContent || '']);
      if (err) throw Object.assign(new Error(`the form says: ${err}`), { fatal: true });
      return done;
    }, { what: 'the answer to the follow form' });
  }

  before(async () => {
    requireVendor();
    fixture = new CkanFixture(['--datasets', '8', '--orgs', '2', '--resources-per-dataset', '1',
      '--scenario', 'plain', '--seed', '11']);
    await fixture.start();
    server = new VigiaServer({ plugins: PLUGINS, extraIni: monitorIni(fixture.base) });
    await server.start();
    await waitFor(async () => {
      const d = (await server.request('GET', '/api/stats'))?.datasets;
      return d && d.total >= 8 && (d.by_status?.unknown ?? 0) === 0;
    }, { timeout: 60000, interval: 250, what: 'the first sweep of the fixture' });
    browser = await launch();
    pages = new Pages(browser, server.base);
  });

  afterEach(() => pages.closeAll());

  after(() => teardown({ browser, server, fixture }));

  test('follow a dataset, confirm by the mailed link, change its frequency, unfollow', async (t) => {
    const { page, errors } = await pages.open();
    const row = page.locator('#datasets-body tr').first();
    await row.waitFor();
    const id = await row.getAttribute('data-id');
    const portal = await row.getAttribute('data-portal');
    await row.locator('.row-open').click();
    await page.locator('#detail-follow').click();
    await page.locator('#follow-dialog[open] #follow-email').waitFor();
    assert.equal(await text(page, '#follow-title'), 'Seguir este dataset');
    // The zone defaults to the browser's, the language to the page's.
    const zone = await page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone);
    assert.equal(await page.inputValue('#follow-tz'), zone);
    assert.equal(await page.inputValue('#follow-lang'), 'es');

    // A 4xx from the API is shown by the form, on the field it names.
    const email = 'ana@example.org';
    await page.fill('#follow-email', email);
    await page.fill('#follow-tz', 'Mars/Olympus_Mons');
    await page.click('#follow-dialog button[type=submit]');
    await waitFor(async () => /tz: expected an IANA time zone/.test(await text(page, '#follow-error')),
      { what: 'the API error next to the form' });
    assert.equal(await page.getAttribute('#follow-tz', 'aria-invalid'), 'true');
    await screenshot(page, t.name, 'error');

    const since = await busNext();
    await page.fill('#follow-tz', 'America/Santiago');
    await page.check('#follow-dialog input[value=modified]');
    await page.uncheck('#follow-dialog input[value=added]');
    await page.selectOption('#follow-dialog select[name=delivery]', 'daily');
    await page.fill('#follow-dialog input[name=time]', '07:30');
    await submitFollow(page);
    assert.equal(await text(page, '.follow-done-title'), 'Revise su bandeja de entrada para confirmar.');
    await screenshot(page, t.name, 'sent');

    const req = await confirmRequest(email, since);
    assert.deepEqual(req.subscription, { type: 'dataset', portal, id });
    assert.equal(req.lang, 'es');
    assert.equal(req.tz, 'America/Santiago');
    assert.ok(req.links.confirm.startsWith(`${server.base}/api/subscriptions/confirm?token=`), req.links.confirm);
    await sent(req.key);

    // The confirm link, opened by a browser, lands on the portal's page,
    // which confirms only when its button is pressed: opening the link (a
    // mail scanner running the page's script) confirms nothing.
    await page.goto(req.links.confirm);
    await page.locator('#manage-confirm').waitFor();
    assert.equal(await text(page, '#manage-confirm'), 'Confirmar suscripción');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await manageApi(req.links.manage)).body.subscriptions[0].confirmed, false,
      'confirmed without the button');
    await screenshot(page, t.name, 'confirm-button');
    await page.click('#manage-confirm');
    await waitFor(async () => (await text(page, '#manage-status')) === 'Suscripción confirmada.',
      { what: 'the confirmation on the page' });
    assert.equal(new URL(page.url()).pathname, '/manage.html');
    assert.equal(new URL(page.url()).hash, '', 'the spent token is dropped from the address');
    await screenshot(page, t.name, 'confirmed');

    // The mails' "on Vigía" link (#dataset=<id>&portal=<name>) opens the
    // dataset's detail in the portal.
    await page.goto(`${server.base}/#dataset=${encodeURIComponent(id)}&portal=${encodeURIComponent(portal)}`);
    await page.locator('#detail-dialog[open]').waitFor();
    const shown = (await server.request('GET', `/api/datasets/${id}?portal=${portal}`)).title;
    await waitFor(async () => (await text(page, '#detail-title')) === shown,
      { what: 'the linked dataset in the detail view' });

    // The manage link lists the dataset, confirmed, with what was chosen.
    await page.goto(req.links.manage);
    const item = page.locator('#manage-list li');
    await item.waitFor();
    assert.equal(await item.count(), 1);
    assert.equal(await item.getAttribute('data-type'), 'dataset');
    const title = (await server.request('GET', `/api/datasets/${id}?portal=${portal}`)).title;
    await waitFor(async () => (await text(page, '#manage-list .sub-target')) === `Dataset ${title} (${portal})`,
      { what: 'the dataset named by its title on the manage page' });
    assert.equal(await page.locator('#manage-list .sub-pending').count(), 0);
    assert.match(await text(page, '#manage-list .sub-summary'), /07:30/);
    assert.equal(await page.isChecked('#manage-list input[value=modified]'), true);
    assert.equal(await page.isChecked('#manage-list input[value=added]'), false);
    await screenshot(page, t.name, 'manage');

    await page.selectOption('#manage-list select[name=delivery]', 'weekly');
    await page.selectOption('#manage-list select[name=day]', 'fri');
    await page.fill('#manage-list input[name=time]', '18:45');
    await page.uncheck('#manage-list input[value=degraded]');
    await page.click('#manage-list button[type=submit]');
    await waitFor(async () => /^Cambios guardados/.test(await text(page, '#manage-status')), { what: 'saved' });
    const after1 = await manageApi(req.links.manage);
    assert.equal(after1.status, 200);
    assert.equal(after1.body.subscriptions.length, 1);
    assert.equal(after1.body.subscriptions[0].delivery, 'weekly@fri@18:45');
    assert.equal(after1.body.subscriptions[0].confirmed, true);
    assert.deepEqual([...after1.body.subscriptions[0].kinds].sort(),
      ['down', 'empty', 'format_drift', 'modified', 'recovered', 'recreated', 'removed', 'stale']);

    // Unfollow asks first; "cancel" keeps it.
    await page.click('#manage-list .sub-unsubscribe');
    await page.locator('#ask-dialog[open]').waitFor();
    await page.click('#ask-no');
    assert.equal(await page.locator('#manage-list li').count(), 1);
    await page.click('#manage-list .sub-unsubscribe');
    await page.locator('#ask-dialog[open]').waitFor();
    await screenshot(page, t.name, 'ask');
    await page.click('#ask-yes');
    await page.locator('#manage-empty').waitFor();
    assert.equal(await text(page, '#manage-empty'), 'No sigue nada.');
    assert.deepEqual((await manageApi(req.links.manage)).body.subscriptions, []);
    await page.reload();
    await page.locator('#manage-empty').waitFor();
    await screenshot(page, t.name, 'empty');
    // Chrome logs the one 400 the test provoked (the unknown zone); nothing else.
    const unexpected = errors.filter((e) => !/status of 400 \(Bad Request\)/.test(e));
    assert.equal(errors.length - unexpected.length, 1);
    assert.deepEqual(unexpected, [], `console errors: ${unexpected.join('\n')}`);
  });

  test('the follow dialog fits a phone, focuses the address, gives focus back on Escape', async (t) => {
    const { page, errors } = await pages.open({ viewport: PHONE });
    await page.click('#follow-search');
    await page.locator('#follow-dialog[open] #follow-email').waitFor();
    assert.equal(await page.evaluate(() => document.activeElement.id), 'follow-email');
    assert.equal(await text(page, '#follow-title'), 'Seguir todos los datasets');
    // Measured once the opening animation (a short rise) has ended.
    await page.waitForFunction(() => document.getAnimations().every((a) => a.playState !== 'running'));
    const box = await page.locator('#follow-dialog').boundingBox();
    assert.ok(box.x >= 0 && box.x + box.width <= PHONE.width
      && box.y >= 0 && box.y + box.height <= PHONE.height + 0.5,
      `dialog box ${JSON.stringify(box)}`);
    const submit = page.locator('#follow-dialog button[type=submit]');
    await submit.scrollIntoViewIfNeeded();
    assert.ok(await submit.isVisible());
    await screenshot(page, t.name);
    await page.keyboard.press('Escape');
    await page.locator('#follow-dialog[open]').waitFor({ state: 'detached' }).catch(() => {});
    assert.equal(await page.evaluate(() => document.getElementById('follow-dialog').open), false);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'follow-search');
    assert.deepEqual(errors, [], `console errors: ${errors.join('\n')}`);
  });

  test('follow an organisation and a search in English, then erase everything', async (t) => {
    const { datasets } = { datasets: (await server.request('GET', '/api/datasets?limit=1')).items };
    const org = datasets[0].organization;
    const { page, errors } = await pages.open({ hash: `org=${encodeURIComponent(org)}` });
    await page.click('#lang-btn');
    const email = 'bob@example.org';
    const since = await busNext();

    await page.locator('#follow-org').click();
    await page.locator('#follow-dialog[open] #follow-email').waitFor();
    assert.equal(await text(page, '#follow-title'), 'Follow this organisation');
    assert.equal(await page.inputValue('#follow-lang'), 'en');
    await page.fill('#follow-email', email);
    await submitFollow(page);
    assert.equal(await text(page, '.follow-done-title'), 'Check your inbox to confirm.');
    await page.click('.follow-done button');

    await page.fill('#filter-q', 'presupuesto');
    await waitFor(async () => (await text(page, '#follow-search')) === 'Follow this search', { what: 'search button' });
    await page.click('#follow-search');
    await page.fill('#follow-email', email);
    await submitFollow(page);

    const req = await confirmRequest(email, since);
    const all = (await server.request('GET', `/test/events?since=${since}`)).events
      .filter((e) => e.topic === 'delivery.requested' && e.payload.to === email).map((e) => e.payload);
    const targets = all.map((p) => p.subscription);
    assert.ok(targets.some((x) => x.type === 'organization' && x.organization === org), JSON.stringify(targets));
    assert.ok(targets.some((x) => x.type === 'search' && x.q === 'presupuesto'), JSON.stringify(targets));
    for (const p of all) await sent(p.key);

    // The mail's unsubscribe link (the RFC 8058 POST target) opened by a browser:
    // the page asks first, and the GET alone changed nothing.
    const search = all.find((p) => p.subscription.type === 'search');
    assert.match(search.links.unsubscribe, /\/api\/subscriptions\/unsubscribe\?token=[^&]+&id=\d+$/);
    await page.goto(search.links.unsubscribe);
    await page.locator('#ask-dialog[open]').waitFor();
    assert.equal(await text(page, '#ask-text'), 'Stop hearing about Search “presupuesto”?');
    assert.equal((await manageApi(req.links.manage)).body.subscriptions.length, 2);
    assert.equal(await page.locator('#manage-list .sub-pending').count(), 2, 'neither is confirmed yet');
    assert.equal(await text(page, '#manage-heading'), 'My subscriptions');
    await screenshot(page, t.name, 'unsubscribe-link');
    await page.click('#ask-yes');
    await waitFor(async () => (await page.locator('#manage-list li').count()) === 1, { what: 'one left' });
    assert.equal(await page.getAttribute('#manage-list li', 'data-type'), 'organization');
    const left = (await manageApi(req.links.manage)).body.subscriptions;
    assert.deepEqual(left.map((x) => x.target.type), ['organization']);
    await screenshot(page, t.name, 'manage');
    await page.click('#manage-erase');
    await page.locator('#ask-dialog[open]').waitFor();
    await page.click('#ask-yes');
    await waitFor(async () => (await text(page, '#manage-status')) === 'Your address and subscriptions were erased.',
      { what: 'erased' });
    assert.equal((await manageApi(req.links.manage)).status, 404);
    await screenshot(page, t.name, 'erased');
    assert.deepEqual(errors, [], `console errors: ${errors.join('\n')}`);
  });
});
