// One dataset in a dialog: its resources with their last check and reason,
// the latest checks, the 30-day history chart, its freshness and its history
// of changes (timeline.js).
import { api } from './api.js';
import { h } from './dom.js';
import { followButton, openFollow } from './follow.js';
import { t, fmtMs, fmtPercent, onLangChange } from './i18n.js';
import { makeModal } from './modal.js';
import { timeElement } from './reltime.js';
import { historyChart } from './chart.js';
import { statusPill, latencyOf, reasonOf, uptimeFraction } from './format.js';
import { timeline, freshnessText } from './timeline.js';

const DAYS = 30;
let modal;
let els;
let current = null; // {id, dataset, history, changes, error}
let ctrl = null;

function safeUrl(u) {
  try {
    const url = new URL(u);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

function resourceTable(resources) {
  if (!resources.length) return h('p', { class: 'muted', text: t('detail.noResources') });
  return h('div', { class: 'table-scroll' }, h('table', { class: 'mini-table' },
    h('thead', {}, h('tr', {},
      ['detail.resource', 'detail.format', 'detail.status', 'detail.checked', 'detail.http', 'detail.latency', 'detail.reason']
        .map((k) => h('th', { scope: 'col', text: t(k) })))),
    h('tbody', {}, resources.map((r) => {
      const lc = r.last_check || {};
      const href = safeUrl(r.url);
      const name = r.name || r.url || r.id;
      return h('tr', { dataset: { id: r.id || '' } },
        h('th', { scope: 'row' }, href ? h('a', { href, rel: 'noopener noreferrer', target: '_blank', text: name }) : name),
        h('td', { 'data-label': t('detail.format'), text: r.format || '—' }),
        h('td', { 'data-label': t('detail.status') }, statusPill(r.status)),
        h('td', { 'data-label': t('detail.checked') }, timeElement(lc.checked_at, t('table.never'))),
        h('td', { 'data-label': t('detail.http'), class: 'num', text: lc.http_status ? String(lc.http_status) : '—' }),
        h('td', { 'data-label': t('detail.latency'), class: 'num', text: fmtMs(latencyOf(lc)) }),
        h('td', { 'data-label': t('detail.reason'), class: 'reason', text: reasonOf(lc) || '—' }));
    }))));
}

function checksList(checks, resources) {
  const names = new Map(resources.map((r) => [r.id, r.name || r.url]));
  const sorted = [...checks].sort((a, b) => b.checked_at.localeCompare(a.checked_at)).slice(0, 20);
  if (!sorted.length) return h('p', { class: 'muted', text: t('detail.noChecks') });
  return h('ol', { class: 'checks' }, sorted.map((c) => h('li', {},
    timeElement(c.checked_at),
    statusPill(c.status),
    h('span', { class: 'check-res', text: names.get(c.resource_id) || c.resource_id }),
    h('span', { class: 'check-meta', text: [c.http_status ? `HTTP ${c.http_status}` : '', fmtMs(latencyOf(c))].filter(Boolean).join(' · ') }),
    reasonOf(c) ? h('span', { class: 'reason', text: reasonOf(c) }) : null)));
}

function render() {
  if (!current) return;
  const { dataset: d, history: hist, changes, error } = current;
  els.title.textContent = d?.title || d?.name || current.id;
  if (error) {
    els.body.replaceChildren(h('p', { class: 'error', role: 'alert', text: t('detail.error', { msg: error }) }));
    return;
  }
  if (!d) {
    els.body.replaceChildren(h('p', { class: 'muted', text: t('detail.loading') }));
    return;
  }
  const resources = Array.isArray(d.resources) ? d.resources : [];
  const href = safeUrl(d.url);
  const up = uptimeFraction(d.uptime_30d);
  const fresh = freshnessText(d.freshness);
  els.body.replaceChildren(
    h('div', { class: 'detail-summary' },
      statusPill(d.status),
      h('span', { text: t('detail.org', { org: d.organization_title || d.organization || '—' }) }),
      h('span', {}, `${t('table.lastChecked')}: `, timeElement(d.last_checked, t('table.never'))),
      up !== null ? h('span', { text: t('detail.uptime30', { pct: fmtPercent(up) }) }) : null,
      fresh ? h('span', { class: `freshness fresh-${d.freshness.state}`, text: fresh }) : null,
      href ? h('a', { href, rel: 'noopener noreferrer', target: '_blank', text: t('detail.open') }) : null,
      followButton(t('follow.button'), (e) => openFollow({
        type: 'dataset', portal: d.portal || current.portal || '', id: d.id || current.id, title: d.title || d.name,
      }, e.currentTarget), 'detail-follow')),
    h('section', { 'aria-labelledby': 'detail-h-history' },
      h('h3', { id: 'detail-h-history', text: t('detail.history') }),
      hist && hist.daily.length ? historyChart(hist.daily, DAYS, els.body.clientWidth - 40)
        : h('p', { class: 'muted', text: hist ? t('detail.noHistory') : t('detail.loading') })),
    h('section', { 'aria-labelledby': 'detail-h-changes' },
      h('h3', { id: 'detail-h-changes', text: t('detail.changes') }),
      changes ? timeline(changes) : h('p', { class: 'muted', text: t('detail.loading') })),
    h('section', { 'aria-labelledby': 'detail-h-res' },
      h('h3', { id: 'detail-h-res', text: t('detail.resources') }),
      resourceTable(resources)),
    h('section', { 'aria-labelledby': 'detail-h-checks' },
      h('h3', { id: 'detail-h-checks', text: t('detail.checks') }),
      hist ? checksList(hist.checks, resources)
        : h('p', { class: 'muted', text: t('detail.loading') })));
}

export async function openDetail(id, from, portal) {
  if (ctrl) ctrl.abort();
  ctrl = new AbortController();
  const signal = ctrl.signal;
  current = { id, portal, dataset: null, history: null, changes: null, error: '' };
  render();
  modal.open(from);
  try {
    const [d, hist, chg] = await Promise.all([
      api.dataset(id, signal, portal),
      api.history(id, DAYS, signal, portal).catch((e) => {
        if (e.name === 'AbortError') throw e;
        return { checks: [], daily: [] };
      }),
      // an older server has no history of changes: an empty timeline
      api.changes(id, DAYS, signal, portal).catch((e) => {
        if (e.name === 'AbortError') throw e;
        return { changes: [] };
      }),
    ]);
    if (current?.id !== id) return;
    current.dataset = d;
    current.history = hist;
    current.changes = Array.isArray(chg?.changes) ? chg.changes : [];
  } catch (e) {
    if (e.name === 'AbortError') return;
    if (current?.id === id) current.error = e.message;
  }
  render();
}

export function initDetail() {
  const dialog = document.getElementById('detail-dialog');
  els = { title: document.getElementById('detail-title'), body: document.getElementById('detail-body') };
  modal = makeModal(dialog, {
    onOpen: () => document.getElementById('detail-close').focus(),
    onClose: () => { if (ctrl) ctrl.abort(); current = null; },
  });
  document.getElementById('detail-close').addEventListener('click', () => modal.close());
  onLangChange(render);
}
