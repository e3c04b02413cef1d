// Static checks of the portal's string tables (no browser): Spanish and
// English have the same keys, and every key the markup or the modules use
// exists, so no text shows up as a raw key in either language.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

const WEB = path.resolve(import.meta.dirname, '../../web');
const i18n = fs.readFileSync(path.join(WEB, 'js', 'i18n.js'), 'utf8');

function keysOf(block) {
  return new Set([...block.matchAll(/^\s+'([A-Za-z0-9_.]+)':/gm)].map((m) => m[1]));
}
const es = keysOf(i18n.slice(i18n.indexOf('  es: {'), i18n.indexOf('  en: {')));
const en = keysOf(i18n.slice(i18n.indexOf('  en: {'), i18n.indexOf('export const LANGUAGES')));

test('Spanish and English tables have the same keys', () => {
  assert.ok(es.size > 50, `only ${es.size} Spanish strings found`);
  assert.deepEqual([...es].filter((k) => !en.has(k)), [], 'missing in English');
  assert.deepEqual([...en].filter((k) => !es.has(k)), [], 'missing in Spanish');
});

test('every key used by index.html and the modules exists', () => {
  const used = new Set();
  const html = ['index.html', 'manage.html', 'report.html', 'broker.html'].map((f) => fs.readFileSync(path.join(WEB, f), 'utf8')).join('\n');
  for (const m of html.matchAll(/data-(?:i18n|i18n-aria|i18n-placeholder|i18n-title|label)="([^"]+)"/g)) used.add(m[1]);
  for (const f of fs.readdirSync(path.join(WEB, 'js'))) {
    const src = fs.readFileSync(path.join(WEB, 'js', f), 'utf8');
    for (const m of src.matchAll(/\bt\('([A-Za-z0-9_.]+)'/g)) used.add(m[1]);
  }
  // Keys built at run time from a prefix (status.<s>, type.<t>, conn.<state>) must exist for each value.
  for (const s of ['up', 'down', 'degraded', 'unknown']) used.add(`status.${s}`);
  for (const s of ['info', 'warning', 'error', 'success']) used.add(`type.${s}`);
  for (const s of ['connected', 'reconnecting', 'offline', 'connecting']) used.add(`conn.${s}`);
  // The watchlist forms (subform.js, follow.js, manage.js).
  for (const k of ['down', 'degraded', 'recovered', 'removed', 'added', 'modified', 'empty',
    'stale', 'refreshed', 'recreated', 'format_drift', 'content_changed', 'schema_changed']) used.add(`kind.${k}`);
  for (const s of ['fresh', 'due', 'overdue', 'delinquent', 'unknown']) used.add(`fresh.${s}`);
  for (const s of ['down', 'degraded', 'delinquent', 'overdue']) used.add(`report.why.${s}`);
  for (const f of ['immediate', 'hourly', 'daily', 'weekly']) used.add(`freq.${f}`);
  for (const d of ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']) used.add(`day.${d}`);
  for (const g of ['dataset', 'organization', 'search', 'portal', 'all']) used.add(`follow.title.${g}`);
  for (const l of ['es', 'en']) used.add(`lang.name.${l}`);
  const missing = [...used].filter((k) => !es.has(k));
  assert.deepEqual(missing, [], 'keys used but not defined');
  assert.ok(used.size > 40, `only ${used.size} keys found in use`);
});

test('no user-visible Spanish text is hard-coded in the modules', () => {
  for (const f of fs.readdirSync(path.join(WEB, 'js')).filter((x) => x !== 'i18n.js')) {
    const src = fs.readFileSync(path.join(WEB, 'js', f), 'utf8');
    const hits = [...src.matchAll(/['`][^'`\n]*[áéíóúñ¿¡][^'`\n]*['`]/g)].map((m) => m[0]);
    assert.deepEqual(hits, [], `${f} has literal text`);
  }
});
