// The public report per organisation (report.html): the league table of
// organisations (GET /api/organizations), sortable, with a 30-day
// availability sparkline each and the CSV export; and one organisation
// (#org=<portal>/<name>, GET /api/organizations/{name}) with what it should
// fix first: datasets down longest, then most overdue against the frequency
// they declare.
import { api } from './api.js';
import { h, svg } from './dom.js';
import { applyStatic, fmtNumber, fmtPercent, getLang, onLangChange, setLang, t } from './i18n.js';
import { timeElement } from './reltime.js';

const els = {};
let rows = null; // the report's items
let sort = { key: 'broken_share', desc: true };
let org = null; // one organisation's report, when #org=
let error = '';

// column key, label, how to show the value, the API's sort key
const COLUMNS = [
  { key: 'organization', label: 'report.col.org' },
  { key: 'datasets', label: 'report.col.datasets', num: true },
  { key: 'availability_30d', label: 'report.col.av30', num: true, pct100: true },
  { key: 'availability_365d', label: 'report.col.av365', num: true, pct100: true },
  { key: 'broken_share', label: 'report.col.broken', num: true, share: true },
  { key: 'overdue_share', label: 'report.col.overdue', num: true, share: true },
  { key: 'delinquent_share', label: 'report.col.delinquent', num: true, share: true },
  { key: 'median_repair_hours', label: 'report.col.mttr', num: true, hours: true },
  { key: 'schema_changes', label: 'report.col.schema', num: true },
];

const orgName = (r) => r.organization_title || r.organization || t('report.noOrg');

function cell(c, r) {
  const v = r[c.key];
  if (c.key === 'organization') {
    const href = `#org=${encodeURIComponent(r.portal)}/${encodeURIComponent(r.organization ?? '-')}`;
    return h('a', { href, text: orgName(r) });
  }
  if (v === null || v === undefined) return '—';
  if (c.pct100) return fmtPercent(v / 100);
  if (c.share) return fmtPercent(v);
  if (c.hours) return t('report.hours', { n: fmtNumber(v, { maximumFractionDigits: 1 }) });
  return fmtNumber(v);
}

// 30 days of availability as bars (a missing day is a gap).
function sparkline(days) {
  const w = 90, hgt = 22, bw = w / 30;
  const known = days.filter((d) => d !== null);
  const label = known.length
    ? t('report.spark', { min: fmtPercent(Math.min(...known) / 100), last: fmtPercent(known[known.length - 1] / 100) })
    : t('report.sparkNone');
  return svg('svg', { viewBox: `0 0 ${w} ${hgt}`, width: w, height: hgt, role: 'img', 'aria-label': label, class: 'spark' },
    svg('title', { text: label }),
    svg('line', { x1: 0, y1: hgt - 0.5, x2: w, y2: hgt - 0.5, class: 'spark-base' }),
    days.map((d, i) => (d === null ? null : svg('rect', {
      x: (i * bw).toFixed(1), width: Math.max(bw - 0.6, 0.6).toFixed(1),
      y: (hgt - (hgt * d) / 100).toFixed(1), height: Math.max((hgt * d) / 100, 0.5).toFixed(1),
      class: d >= 99 ? 'spark-ok' : d >= 90 ? 'spark-warn' : 'spark-bad',
    }))));
}

function compare(a, b) {
  const k = sort.key;
  let c;
  if (k === 'organization') c = orgName(a).localeCompare(orgName(b), getLang());
  else {
    const x = a[k], y = b[k];
    if (x === null || y === null) return (x === null) - (y === null); // nulls last
    c = x - y;
  }
  return sort.desc ? -c : c;
}

function table() {
  const sorted = [...rows].sort(compare);
  return h('div', { class: 'table-scroll' }, h('table', { class: 'data-table report-table' },
    h('caption', { class: 'visually-hidden', text: t('report.caption') }),
    h('thead', {}, h('tr', {},
      COLUMNS.map((c) => [h('th', {
        scope: 'col', class: c.num ? 'num' : null,
        'aria-sort': sort.key === c.key ? (sort.desc ? 'descending' : 'ascending') : 'none',
      }, h('button', {
        type: 'button', class: 'sort-btn', dataset: { sort: c.key },
        onclick: () => {
          sort = { key: c.key, desc: sort.key === c.key ? !sort.desc : c.key !== 'organization' };
          render();
        },
      }, t(c.label))),
      // the sparkline beside the name: the first thing the eye compares
      c.key === 'organization' ? h('th', { scope: 'col', text: t('report.col.spark') }) : null]).flat())),
    h('tbody', {}, sorted.map((r) => h('tr', { dataset: { org: r.organization ?? '', portal: r.portal } },
      COLUMNS.map((c) => (c.key === 'organization'
        ? [h('th', { scope: 'row' }, cell(c, r)),
          h('td', { 'data-label': t('report.col.spark') }, sparkline(r.availability_daily || []))]
        : h('td', { class: c.num ? 'num' : null, 'data-label': t(c.label) }, cell(c, r)))).flat())))));
}

function orgPage() {
  const o = org;
  const fix = Array.isArray(o.to_fix) ? o.to_fix : [];
  const feed = `/feeds/organization/${encodeURIComponent(o.organization ?? '')}.atom`;
  const fig = (label, value) => h('div', { class: 'report-fig' }, h('dt', { text: t(label) }), h('dd', { text: value }));
  const col = (k) => COLUMNS.find((c) => c.key === k);
  return [
    h('p', {}, h('a', { href: '#', text: t('report.back') })),
    h('h2', { id: 'org-heading', text: orgName(o) }),
    h('dl', { class: 'report-figs' },
      fig('report.col.datasets', fmtNumber(o.datasets)),
      fig('report.col.av30', String(cell(col('availability_30d'), o))),
      fig('report.col.av365', String(cell(col('availability_365d'), o))),
      fig('report.col.broken', String(cell(col('broken_share'), o))),
      fig('report.col.overdue', String(cell(col('overdue_share'), o))),
      fig('report.col.delinquent', String(cell(col('delinquent_share'), o))),
      fig('report.col.mttr', String(cell(col('median_repair_hours'), o))),
      fig('report.col.schema', String(cell(col('schema_changes'), o)))),
    h('p', {}, sparkline(o.availability_daily || []), ' ',
      h('a', { href: feed, text: t('report.feed') })),
    h('h3', { id: 'fix-heading', text: t('report.toFix') }),
    fix.length ? h('ol', { class: 'checks to-fix' }, fix.map((d) => h('li', { dataset: { why: d.why || '' } },
      h('span', { class: `pill why-${d.why}`, text: t(`report.why.${d.why}`) }),
      h('a', { href: `/#q=${encodeURIComponent(d.name || d.id)}`, text: d.title || d.name || d.id }),
      d.since ? h('span', { class: 'muted' }, t(d.why === 'down' || d.why === 'degraded' ? 'report.since' : 'report.lastUpdate'), ' ', timeElement(d.since)) : null,
      d.frequency ? h('span', { class: 'muted', text: t('report.declares', { frequency: d.frequency }) }) : null)))
      : h('p', { class: 'muted', text: t('report.nothingToFix') }),
  ];
}

function render() {
  document.title = `${t('report.heading')} · ${t('app.title')}`;
  els.status.textContent = error;
  if (error) return els.body.replaceChildren();
  if (org) return els.body.replaceChildren(...orgPage());
  if (!rows) return els.body.replaceChildren(h('p', { class: 'muted', text: t('detail.loading') }));
  if (!rows.length) return els.body.replaceChildren(h('p', { class: 'muted', text: t('report.empty') }));
  return els.body.replaceChildren(
    h('p', { class: 'muted', text: t('report.intro') }),
    table(),
    h('p', {}, h('a', { href: '/api/organizations?format=csv', download: 'vigia-organizations.csv', text: t('report.csv') }),
      ' · ', h('a', { href: '/api/organizations', text: t('report.json') })));
}

async function load() {
  error = '';
  const m = /^#org=([^/]*)\/(.*)$/.exec(window.location.hash);
  try {
    if (m) {
      const portal = decodeURIComponent(m[1]);
      const name = decodeURIComponent(m[2]);
      org = null;
      render();
      org = await api.organization(name || '-', portal);
    } else {
      org = null;
      rows = (await api.organizations()).items || [];
    }
  } catch (e) {
    error = t('report.error', { msg: e.message });
  }
  render();
}

function initLang() {
  const btn = document.getElementById('lang-btn');
  const paint = () => {
    btn.textContent = t('lang.switch');
    btn.setAttribute('aria-label', t('lang.switchLabel'));
    btn.lang = getLang() === 'es' ? 'en' : 'es';
  };
  btn.addEventListener('click', () => setLang(getLang() === 'es' ? 'en' : 'es'));
  onLangChange(() => { applyStatic(document); paint(); render(); });
  paint();
}

Object.assign(els, { status: document.getElementById('report-status'), body: document.getElementById('report-body') });
applyStatic(document);
initLang();
window.addEventListener('hashchange', load);
load();
document.documentElement.dataset.app = 'ready';
