// The datasets view: live status-count cards and a server-paged table
// (search, status and organisation filters, sorting). Only one page of rows
// is ever in the DOM, so 10,000 datasets cost the same as 50.
import { api } from './api.js';
import { on as onSocket } from './connection.js';
import { h } from './dom.js';
import { t, fmtNumber, fmtMs, onLangChange } from './i18n.js';
import { timeElement } from './reltime.js';
import { STATUSES, statusPill, uptimeBar, latencyOf } from './format.js';
import { openDetail } from './detail.js';
import { openFollow } from './follow.js';

const state = { q: '', status: '', organization: '', sort: 'title', dir: 'asc', limit: 50, offset: 0 };
let els;
let items = [];
let total = 0;
let loadError = '';
let loaded = false;
let inflight = null;
let refreshTimer = null;
let lastCounts = null;
const orgs = new Map(); // organization name -> title, from what we have seen

// ---- status cards --------------------------------------------------------

// The stats object of the rest plugin (GET /api/stats, and the broker's
// stats_update {stats}): the counts are stats.datasets.{total, by_status}.
export function datasetCounts(stats) {
  const d = stats?.datasets;
  // datasets: null means the monitor is not loaded: leave the cards as they are.
  if (!d) return null;
  const counts = { total: d.total };
  for (const s of STATUSES) counts[s] = d.by_status[s];
  return counts;
}

function paintCards(counts) {
  if (!counts) return;
  for (const key of ['total', ...STATUSES]) {
    const card = els.cards.querySelector(`[data-card="${key}"]`);
    if (!card) continue;
    const num = card.querySelector('.card-count');
    const text = fmtNumber(counts[key] ?? 0);
    if (num.textContent !== text) {
      num.textContent = text;
      card.classList.remove('changed');
      void card.offsetWidth;
      card.classList.add('changed');
    }
    card.setAttribute('aria-pressed', String(key === 'total' ? state.status === '' : state.status === key));
  }
}

function applyStats(stats) {
  const counts = datasetCounts(stats);
  if (!counts) return;
  const changed = lastCounts && STATUSES.some((s) => lastCounts[s] !== counts[s]);
  lastCounts = counts;
  paintCards(counts);
  if (changed) scheduleRefresh();
}

async function loadStats() {
  try {
    applyStats(await api.stats());
  } catch (e) {
    console.info('vigia: stats unavailable', e.message);
  }
}

// ---- table ---------------------------------------------------------------

function sortParam() { return state.dir === 'desc' ? `-${state.sort}` : state.sort; }

// The view's state lives in the URL's hash, so a reload or a shared link
// shows the same filters and page.
const SORTS = ['title', 'organization', 'status', 'last_checked'];
const SIZES = [25, 50, 100];

function readHash() {
  const p = new URLSearchParams(window.location.hash.slice(1));
  const sort = p.get('sort') || 'title';
  const key = sort.replace(/^-/, '');
  state.q = p.get('q') || '';
  state.status = [...STATUSES, 'empty'].includes(p.get('status')) ? p.get('status') : '';
  state.organization = p.get('org') || '';
  state.sort = SORTS.includes(key) ? key : 'title';
  state.dir = sort.startsWith('-') && SORTS.includes(key) ? 'desc' : 'asc';
  state.limit = SIZES.includes(Number(p.get('size'))) ? Number(p.get('size')) : 50;
  const page = Math.max(1, Math.floor(Number(p.get('page'))) || 1);
  state.offset = (page - 1) * state.limit;
  els.search.value = state.q;
  els.statusSel.value = state.status;
  els.org.value = state.organization;
  els.pageSize.value = String(state.limit);
}

function writeHash() {
  const p = new URLSearchParams();
  if (state.q) p.set('q', state.q);
  if (state.status) p.set('status', state.status);
  if (state.organization) p.set('org', state.organization);
  if (sortParam() !== 'title') p.set('sort', sortParam());
  if (state.limit !== 50) p.set('size', String(state.limit));
  if (state.offset > 0) p.set('page', String(Math.floor(state.offset / state.limit) + 1));
  const hash = p.toString();
  if (hash !== window.location.hash.slice(1)) {
    history.replaceState(null, '', hash ? `#${hash}` : window.location.pathname + window.location.search);
  }
}

async function load({ quiet = false } = {}) {
  if (inflight) inflight.abort();
  const ctrl = new AbortController();
  inflight = ctrl;
  writeHash();
  paintFollow();
  if (!quiet) els.table.setAttribute('aria-busy', 'true');
  try {
    const res = await api.datasets({
      q: state.q || undefined,
      status: state.status || undefined,
      organization: state.organization || undefined,
      sort: sortParam(),
      limit: state.limit,
      offset: state.offset,
    }, ctrl.signal);
    items = Array.isArray(res?.items) ? res.items : [];
    total = Number(res?.total ?? items.length) || 0;
    loadError = '';
    // A filter change can leave the offset past the end: go to the last page.
    if (items.length === 0 && total > 0 && state.offset >= total) {
      state.offset = Math.max(0, Math.floor((total - 1) / state.limit) * state.limit);
      inflight = null;
      load({ quiet });
      return;
    }
  } catch (e) {
    if (e.name === 'AbortError') return;
    loadError = e.message || t('error.network');
  } finally {
    if (inflight === ctrl) inflight = null;
  }
  loaded = true;
  els.table.removeAttribute('aria-busy');
  for (const it of items) {
    if (it.organization) orgs.set(it.organization, it.organization_title || it.organization);
  }
  render();
  if (!window.__vigiaFirstRows) {
    window.__vigiaFirstRows = performance.now();
    performance.mark('vigia:datasets-rendered');
  }
}

function scheduleRefresh(delay = 1000) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => load({ quiet: true }), delay);
}

function row(d) {
  const title = h('button', { type: 'button', class: 'link-button row-open', text: d.title || d.name || d.id });
  title.addEventListener('click', () => openDetail(d.id, title, d.portal));
  return h('tr', { dataset: { id: d.id, portal: d.portal || '', status: d.status || 'unknown' } },
    h('th', { scope: 'row', class: 'col-title' }, title,
      d.name && d.name !== d.title ? h('span', { class: 'sub', text: d.name }) : null),
    h('td', { class: 'col-org', 'data-label': t('table.org'), text: d.organization_title || d.organization || '—' }),
    h('td', { class: 'col-status', 'data-label': t('table.status') }, h('span', {}, statusPill(d.status),
      d.stale ? h('span', { class: 'stale', title: t('status.staleHint'), text: t('status.stale') }) : null)),
    h('td', { class: 'col-checked', 'data-label': t('table.lastChecked') }, timeElement(d.last_checked, t('table.never'))),
    h('td', { class: 'col-latency num', 'data-label': t('table.latency'), text: fmtMs(latencyOf(d)) }),
    h('td', { class: 'col-uptime', 'data-label': t('table.uptime') }, uptimeBar(d.uptime_30d)));
}

function render() {
  // Keep keyboard focus on the same dataset across live refreshes.
  const active = document.activeElement;
  const focusedId = active && els.tbody.contains(active) ? active.closest('tr')?.dataset.id : null;

  els.tbody.replaceChildren(...items.map(row));
  els.msg.hidden = items.length > 0 && !loadError;
  els.msg.textContent = loadError ? t('table.error', { msg: loadError })
    : !loaded ? t('table.loading') : items.length === 0 ? t('table.empty') : '';
  els.msg.classList.toggle('error', Boolean(loadError));

  const from = total === 0 ? 0 : state.offset + 1;
  const to = Math.min(state.offset + items.length, total);
  els.range.textContent = t('pager.range', { from: fmtNumber(from), to: fmtNumber(to), total: fmtNumber(total) });
  els.prev.disabled = state.offset === 0;
  els.next.disabled = state.offset + state.limit >= total;
  const pages = Math.max(1, Math.ceil(total / state.limit));
  els.page.max = String(pages);
  if (document.activeElement !== els.page) els.page.value = String(Math.floor(state.offset / state.limit) + 1);
  els.pages.textContent = t('pager.of', { n: fmtNumber(pages) });

  els.table.querySelectorAll('th[data-sort]').forEach((th) => {
    const key = th.dataset.sort;
    th.setAttribute('aria-sort', key === state.sort ? (state.dir === 'asc' ? 'ascending' : 'descending') : 'none');
    const btn = th.querySelector('button');
    btn.setAttribute('aria-label', t('table.sortBy', { col: t(th.dataset.label) }));
  });

  // Suggestions for the organisation filter.
  const opts = [...orgs.entries()].sort((a, b) => a[1].localeCompare(b[1]))
    .map(([name, title]) => h('option', { value: name, label: title }));
  els.orgList.replaceChildren(...opts);

  if (focusedId) {
    const again = els.tbody.querySelector(`tr[data-id="${CSS.escape(focusedId)}"] button`);
    if (again) again.focus();
  }
  paintCards(lastCounts);
}

// A live dataset_update: patch the visible row at once, then refresh the
// page quietly so sorting and filters stay right.
function applyDatasetUpdate(p) {
  // The broker sends {dataset_info, event, ...the bus payload}; dataset_info is
  // the monitor's dataset as it is now (status, last_checked included).
  const d = p.dataset_info;
  const idx = items.findIndex((x) => x.id === d.id);
  if (idx >= 0 && p.event !== 'dataset.removed') {
    items[idx] = { ...items[idx], ...d };
    const old = els.tbody.querySelector(`tr[data-id="${CSS.escape(d.id)}"]`);
    if (old) {
      const fresh = row(items[idx]);
      fresh.classList.add('changed');
      old.replaceWith(fresh);
    }
  }
  scheduleRefresh(1500);
}

// The follow buttons name what the view shows: the organisation filter, and
// the search (words and status) or, with no filter, everything.
function paintFollow() {
  els.followOrg.hidden = !state.organization;
  els.followSearch.textContent = t(state.q || state.status ? 'follow.search' : 'follow.everything');
}

function initFilters() {
  els.followOrg.addEventListener('click', (e) => openFollow({
    type: 'organization', organization: state.organization, title: orgs.get(state.organization),
  }, e.currentTarget));
  els.followSearch.addEventListener('click', (e) => openFollow(state.q || state.status
    ? { type: 'search', q: state.q || undefined, status: state.status || undefined }
    : { type: 'all' }, e.currentTarget));
  let debounce = null;
  document.getElementById('filters').addEventListener('submit', (e) => e.preventDefault());
  els.search.addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      state.q = els.search.value.trim();
      state.offset = 0;
      load();
    }, 250);
  });
  els.statusSel.addEventListener('change', () => {
    state.status = els.statusSel.value;
    state.offset = 0;
    load();
  });
  els.org.addEventListener('change', () => {
    let v = els.org.value.trim();
    // Accept a typed title as well as the organisation's name.
    for (const [name, title] of orgs) if (title === v) v = name;
    state.organization = v;
    state.offset = 0;
    load();
  });
  els.pageSize.addEventListener('change', () => {
    state.limit = Number(els.pageSize.value) || 50;
    state.offset = 0;
    load();
  });
  document.getElementById('filters-reset').addEventListener('click', () => {
    els.search.value = '';
    els.statusSel.value = '';
    els.org.value = '';
    Object.assign(state, { q: '', status: '', organization: '', offset: 0 });
    load();
  });
  els.prev.addEventListener('click', () => {
    state.offset = Math.max(0, state.offset - state.limit);
    load();
  });
  els.page.addEventListener('change', () => {
    const pages = Math.max(1, Math.ceil(total / state.limit));
    const n = Math.min(pages, Math.max(1, Math.round(Number(els.page.value)) || 1));
    state.offset = (n - 1) * state.limit;
    load();
  });
  els.next.addEventListener('click', () => {
    if (state.offset + state.limit < total) state.offset += state.limit;
    load();
  });
  els.table.querySelectorAll('th[data-sort] button').forEach((btn) => {
    btn.addEventListener('click', () => {
      const key = btn.closest('th').dataset.sort;
      if (state.sort === key) state.dir = state.dir === 'asc' ? 'desc' : 'asc';
      else { state.sort = key; state.dir = key === 'last_checked' ? 'desc' : 'asc'; }
      state.offset = 0;
      load();
    });
  });
  els.cards.querySelectorAll('[data-card]').forEach((card) => {
    card.addEventListener('click', () => {
      const key = card.dataset.card;
      state.status = key === 'total' || state.status === key ? '' : key;
      els.statusSel.value = state.status;
      state.offset = 0;
      load();
    });
  });
}

// The "on Vigía" link of a mail (#dataset=<id>&portal=<name>) opens the detail
// of that dataset over the list; the state of the list then takes the hash back.
function openLinked() {
  const p = new URLSearchParams(window.location.hash.slice(1));
  const id = p.get('dataset');
  if (id) openDetail(id, null, p.get('portal') || undefined);
}

export function initDatasets() {
  const $ = (id) => document.getElementById(id);
  els = {
    cards: $('status-cards'), table: $('datasets-table'), tbody: $('datasets-body'), msg: $('table-message'),
    range: $('pager-range'), prev: $('pager-prev'), next: $('pager-next'), pageSize: $('page-size'),
    page: $('pager-page'), pages: $('pager-pages'),
    search: $('filter-q'), statusSel: $('filter-status'), org: $('filter-org'), orgList: $('org-options'),
    followOrg: $('follow-org'), followSearch: $('follow-search'),
  };
  initFilters();
  readHash();
  openLinked();
  window.addEventListener('hashchange', () => { readHash(); openLinked(); load(); });
  onSocket('stats_update', (p) => applyStats(p.stats));
  onSocket('dataset_update', applyDatasetUpdate);
  // After a reconnect anything may have changed while we were away.
  onSocket('reconnected', () => { loadStats(); load({ quiet: true }); });
  onLangChange(() => { render(); paintFollow(); });
  load();
  loadStats();
}
