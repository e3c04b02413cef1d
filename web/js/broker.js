// The broker's admin view: GET /api/broker/admin every 2 s, drawn as small
// tables (text only via textContent). A 401 asks for the admin token, kept in
// sessionStorage as the notification panel does.
import { adminToken, setAdminToken } from './api.js';
import { t, applyStatic, getLang, setLang, fmtNumber } from './i18n.js';
import { h } from './dom.js';

const REFRESH_MS = 2000;
const body = document.getElementById('admin-body');
const status = document.getElementById('admin-status');
const form = document.getElementById('token-form');
let last = null;

function table(caption, head, rows) {
  const el = h('table', { class: 'data-table' },
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, ...head.map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', {}, ...(rows.length ? rows : [[t('admin.none')]]).map((r) => h('tr', {}, ...r.map((c) => h('td', {}, String(c)))))));
  el.style.marginBottom = '1.5rem'; // CSSOM, allowed by the portal's CSP
  return el;
}

// The token form shows only after a 401 (a class's display rule would beat [hidden]).
function showForm(on) { form.style.display = on ? '' : 'none'; }

function draw(v) {
  const n = (x) => fmtNumber(x);
  const rate = (x) => fmtNumber(x, { maximumFractionDigits: 1 });
  body.replaceChildren(
    table(t('admin.sockets'), [t('admin.total'), t('admin.websocket'), t('admin.polling')],
      [[n(v.sockets.total), n(v.sockets.websocket), n(v.sockets.polling)]]),
    table(t('admin.rates'), [t('admin.in'), t('admin.out')],
      [[rate(v.messages.in_per_s), rate(v.messages.out_per_s)]]),
    table(t('admin.namespaces'), [t('admin.name'), t('admin.sockets'), t('admin.owner')],
      v.namespaces.map((x) => [x.name, n(x.sockets), x.owner])),
    table(t('admin.rooms'), [t('admin.namespace'), t('admin.name'), t('admin.members')],
      v.rooms.map((x) => [x.namespace, x.name, n(x.members)])),
    table(t('admin.dropped'), [t('admin.dropBacklog'), t('admin.dropRate'), t('admin.dropProtocol'), t('admin.dropWrite')],
      [[n(v.dropped.backlog), n(v.dropped.rate_limit), n(v.dropped.protocol), n(v.dropped.write)]]),
    table(t('admin.slowest'), ['sid', t('admin.transport'), t('admin.backlog'), t('admin.bytes')],
      v.slowest.map((x) => [x.sid || x.session, x.transport, n(x.backlog), n(x.backlog_bytes)])),
  );
}

async function refresh() {
  const headers = { Accept: 'application/json' };
  const token = adminToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  try {
    const res = await fetch('/api/broker/admin', { headers, cache: 'no-store' });
    if (res.status === 401) {
      showForm(true);
      status.textContent = t('admin.needToken');
      return;
    }
    const data = await res.json();
    if (!res.ok) throw new Error((data.error && data.error.message) || `HTTP ${res.status}`);
    showForm(false);
    status.textContent = '';
    last = data;
    draw(data);
  } catch (e) {
    status.textContent = t('admin.error', { msg: e.message });
  }
}

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  setAdminToken(document.getElementById('token-input').value.trim());
  refresh();
});
const langBtn = document.getElementById('lang-btn');
function labelLang() { langBtn.textContent = t('lang.switch'); }
langBtn.addEventListener('click', () => {
  setLang(getLang() === 'es' ? 'en' : 'es');
  labelLang();
  if (last) draw(last);
});
applyStatic(document);
showForm(false);
form.hidden = false;
labelLang();
refresh();
setInterval(refresh, REFRESH_MS);
