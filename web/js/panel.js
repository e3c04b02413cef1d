// The notification panel: a modal dialog listing notifications newest
// first, with a type filter, infinite scroll into older history
// (before=<oldest id shown>), click-to-mark-read, mark all read and clear.
// Actions the server protects ask for the admin token on a 401.
import { api, ApiError, setAdminToken } from './api.js';
import { emitMarkRead } from './connection.js';
import { h, typeIcon } from './dom.js';
import { t, onLangChange } from './i18n.js';
import { makeModal } from './modal.js';
import { timeElement } from './reltime.js';
import { store, idNum } from './store.js';

const PAGE = 30;
const TYPES = ['info', 'warning', 'error', 'success'];

let els;
let modal;
let filter = '';
const exhausted = new Map(); // filter -> true once the server has no older ones
let loading = false;
let tokenWaiter = null;

function itemFor(n) {
  const li = h('li', { class: `notif type-${n.type}${n.read ? '' : ' unread'}`, dataset: { id: n.id, type: n.type } });
  const btn = h('button', { type: 'button', class: 'notif-main' },
    h('span', { class: 'notif-icon' }, typeIcon(n.type)),
    h('span', { class: 'notif-body' },
      h('span', { class: 'visually-hidden type-label', text: `${t(`type.${n.type}`) || n.type}: ` }),
      h('span', { class: 'notif-title', text: n.title || '' }),
      h('span', { class: 'notif-message', text: n.message || '' }),
      h('span', { class: 'notif-meta' },
        timeElement(n.created_at),
        h('span', { class: 'unread-mark', text: t('panel.unread') }))));
  // A click marks it read and shows the whole message (long ones are clamped).
  btn.addEventListener('click', () => {
    li.classList.toggle('expanded');
    markRead(n.id);
  });
  li.append(btn);
  return li;
}

function matches(n) { return !filter || n.type === filter; }

// Insert keeping newest-first order without touching the other nodes (so
// focus and scroll position survive live arrivals).
function insert(n) {
  if (!matches(n) || els.list.querySelector(`li[data-id="${CSS.escape(n.id)}"]`)) return;
  const li = itemFor(n);
  const num = idNum(n.id);
  const next = [...els.list.children].find((c) => idNum(c.dataset.id) < num);
  els.list.insertBefore(li, next || null);
  paintEmpty();
}

function update(n) {
  const li = els.list.querySelector(`li[data-id="${CSS.escape(n.id)}"]`);
  if (li) li.classList.toggle('unread', !n.read);
}

function renderAll() {
  els.list.replaceChildren(...store.list(filter).map(itemFor));
  paintEmpty();
}

function paintEmpty() {
  const empty = els.list.children.length === 0;
  const done = exhausted.get(filter);
  els.empty.hidden = !(empty && done);
  els.more.hidden = Boolean(done);
  els.end.hidden = !(done && !empty);
}

function status(text) { els.status.textContent = text || ''; }

async function loadOlder() {
  if (loading || exhausted.get(filter)) return;
  loading = true;
  els.more.disabled = true;
  els.more.textContent = t('panel.loading');
  try {
    const shown = store.list(filter);
    const oldest = shown.length ? shown[shown.length - 1].id : undefined;
    const asOf = store.epoch();
    const res = await api.notifications({ before: oldest, limit: PAGE, type: filter || undefined });
    const list = (res && res.notifications) || [];
    list.forEach((n) => store.add(n));
    if (typeof res?.unread_count === 'number') store.setUnread(res.unread_count, asOf);
    if (list.length < PAGE) exhausted.set(filter, true);
    status('');
  } catch (e) {
    status(t('panel.loadError'));
    console.info('vigia: loading older notifications failed', e.message);
  } finally {
    loading = false;
    els.more.disabled = false;
    els.more.textContent = t('panel.loadMore');
    paintEmpty();
    // Keep filling while the list is too short to scroll.
    if (modal.isOpen() && !exhausted.get(filter) && els.scroll.scrollHeight <= els.scroll.clientHeight + 40) {
      setTimeout(loadOlder, 0);
    }
  }
}

// Ask for the admin token inside the panel; resolves with it, or null.
function askToken(wrong) {
  els.tokenForm.hidden = false;
  els.tokenError.textContent = wrong ? t('token.wrong') : '';
  els.tokenInput.value = '';
  els.tokenInput.focus();
  return new Promise((resolve) => { tokenWaiter = resolve; });
}

function finishToken(value) {
  els.tokenForm.hidden = true;
  const w = tokenWaiter;
  tokenWaiter = null;
  if (w) w(value);
}

// Run an action the server may protect; on 401 ask for the token and retry.
async function withAdmin(action) {
  let wrong = false;
  for (let attempt = 0; attempt < 4; attempt++) {
    try {
      return await action();
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 401) throw e;
      if (attempt > 0) wrong = true;
      setAdminToken(null);
      const token = await askToken(wrong);
      if (!token) return null;
      setAdminToken(token);
    }
  }
  return null;
}

async function markRead(id) {
  const n = store.get(id);
  if (!n || n.read) return;
  try {
    const ack = await emitMarkRead(id);
    if (ack && !ack.error) {
      store.markRead(id, typeof ack.unread_count === 'number' ? ack.unread_count : undefined);
      return;
    }
    let asOf;
    const res = await withAdmin(() => { asOf = store.epoch(); return api.markRead(id); });
    if (res) store.markRead(id, res.unread_count, asOf);
  } catch (e) {
    status(e.message);
  }
}

async function markAll() {
  try {
    let asOf;
    const res = await withAdmin(() => { asOf = store.epoch(); return api.markAllRead(); });
    if (res) store.markAllRead(res.unread_count ?? 0, asOf);
  } catch (e) {
    status(e.message);
  }
}

async function clearAll() {
  try {
    let asOf;
    const res = await withAdmin(() => { asOf = store.epoch(); return api.clear(); });
    if (res) store.clear(res.unread_count ?? 0, asOf);
  } catch (e) {
    status(e.message);
  }
}

export function openPanel(from) {
  modal.open(from);
}

export function initPanel() {
  const $ = (id) => document.getElementById(id);
  els = {
    dialog: $('notif-panel'),
    list: $('notif-list'),
    scroll: $('notif-scroll'),
    more: $('load-more'),
    end: $('list-end'),
    empty: $('list-empty'),
    status: $('panel-status'),
    filter: $('panel-filter'),
    tokenForm: $('token-form'),
    tokenInput: $('token-input'),
    tokenError: $('token-error'),
  };
  modal = makeModal(els.dialog, {
    onOpen: () => {
      renderAll();
      els.scroll.scrollTop = 0;
      $('panel-close').focus();
      if (els.scroll.scrollHeight <= els.scroll.clientHeight + 40) loadOlder();
    },
    onClose: () => { if (tokenWaiter) finishToken(null); },
  });

  $('panel-close').addEventListener('click', () => modal.close());
  $('mark-all').addEventListener('click', markAll);
  $('clear-all').addEventListener('click', clearAll);
  els.more.addEventListener('click', loadOlder);
  els.filter.addEventListener('change', () => {
    filter = TYPES.includes(els.filter.value) ? els.filter.value : '';
    renderAll();
    els.scroll.scrollTop = 0;
    if (els.scroll.scrollHeight <= els.scroll.clientHeight + 40) loadOlder();
  });
  els.tokenForm.addEventListener('submit', (e) => {
    e.preventDefault();
    finishToken(els.tokenInput.value.trim() || null);
  });
  $('token-cancel').addEventListener('click', () => finishToken(null));

  // Reaching the end of the list loads older history.
  new IntersectionObserver((entries) => {
    if (entries.some((en) => en.isIntersecting) && modal.isOpen()) loadOlder();
  }, { root: els.scroll, rootMargin: '120px' }).observe(els.more);

  store.on((kind, detail) => {
    if (kind === 'cleared') {
      // Whatever the server still keeps as history is not the user's list any more.
      ['', ...TYPES].forEach((f) => exhausted.set(f, true));
    }
    if (!modal.isOpen()) return;
    if (kind === 'added') insert(detail.notification);
    else if (kind === 'updated') update(detail);
    else if (kind === 'cleared') renderAll();
  });
  onLangChange(() => { if (modal.isOpen()) renderAll(); });
}
