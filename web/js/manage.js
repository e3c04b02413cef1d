// The manage page (manage.html): where the mailed links land. #confirm=T
// confirms a subscription; #token=T lists everything the address follows,
// edits kinds and frequency per subscription, the language and zone of the
// messages, and unsubscribes from one or erases everything, each after a
// confirmation. The token is never stored: it lives in the fragment only.
import { api } from './api.js';
import { h } from './dom.js';
import { applyStatic, getLang, LANGUAGES, onLangChange, setLang, t } from './i18n.js';
import { makeModal } from './modal.js';
import { managePushSection, subscriberName } from './push.js';
import { deliveryField, deliveryText, kindsField, markField, targetText } from './subform.js';

const els = {};
let token = '';
let data = null; // the manage API's answer
let erased = false;
let askModal;
let askAnswer = null;
let confirmShown = false; // the confirm button waits for its press

function fromHash() {
  const p = new URLSearchParams(window.location.hash.slice(1));
  if (p.get('confirm')) return { mode: 'confirm', token: p.get('confirm') };
  if (p.get('token')) return { mode: 'manage', token: p.get('token'), unsubscribe: p.get('unsubscribe') };
  return { mode: 'none', token: '' };
}

function status(text, kind = 'info') {
  els.status.textContent = text;
  els.status.dataset.kind = kind;
}

// A modal yes/no question; resolves true only on the explicit "yes".
function ask(title, text, yes, from) {
  els.askTitle.textContent = title;
  els.askText.textContent = text;
  els.askYes.textContent = yes;
  return new Promise((resolve) => {
    askAnswer = resolve;
    els.ask.returnValue = '';
    askModal.open(from);
  });
}

function apiMessage(e) {
  if (e.status === 404) return t('manage.badLink');
  return e.status ? t('follow.error', { msg: e.message }) : t('follow.network');
}

async function unfollow(sub, from) {
  if (!await ask(t('manage.unsubscribeTitle'), t('manage.unsubscribeAsk', { what: targetText(sub.target) }),
    t('manage.unsubscribe'), from)) return;
  await api.unsubscribe(token, sub.id);
  data.subscriptions = data.subscriptions.filter((s) => s.id !== sub.id);
  render();
  status(t('manage.unsubscribed', { what: targetText(sub.target) }));
}

// The mail's "unsubscribe" link (#token=T&unsubscribe=<id>|all): the page
// asks first, so a link scanner that opens it changes nothing.
async function unsubscribeFromLink(which) {
  const subs = data?.subscriptions || [];
  try {
    if (which === 'all') {
      if (!subs.length || !await ask(t('manage.unsubscribeTitle'), t('manage.unsubscribeAllAsk'),
        t('manage.unsubscribeAll'))) return;
      await api.unsubscribeAll(token);
      data.subscriptions = [];
      render();
      status(t('manage.unsubscribedAll'));
      return;
    }
    const sub = subs.find((s) => String(s.id) === which);
    if (sub) await unfollow(sub);
  } catch (err) { status(apiMessage(err), 'error'); }
}

function subscriptionItem(sub) {
  const kinds = kindsField(sub.kinds || []);
  const delivery = deliveryField(sub.delivery);
  const error = h('p', { class: 'error', role: 'alert' });
  const save = h('button', { type: 'submit', class: 'btn btn-primary', text: t('manage.save') });
  const form = h('form', { class: 'sub-form' }, kinds.el, delivery.el, error,
    h('div', { class: 'follow-actions' }, save,
      h('button', {
        type: 'button', class: 'btn btn-danger sub-unsubscribe', text: t('manage.unsubscribe'),
        onclick: (e) => unfollow(sub, e.currentTarget).catch((err) => { error.textContent = apiMessage(err); }),
      })));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const picked = kinds.value();
    error.textContent = '';
    if (!picked.length) {
      error.textContent = t('follow.noKinds');
      markField(form, 'kinds:');
      return;
    }
    save.disabled = true;
    try {
      await api.editSubscription(token, sub.id, { kinds: picked, delivery: delivery.value() });
      Object.assign(sub, { kinds: picked, delivery: delivery.value() });
      markField(form, '');
      summary.textContent = summaryText(sub);
      status(t('manage.saved', { what: targetText(sub.target) }));
    } catch (err) {
      error.textContent = apiMessage(err);
      markField(form, err.message);
    } finally {
      save.disabled = false;
    }
  });
  const summary = h('p', { class: 'muted sub-summary', text: summaryText(sub) });
  return h('li', { class: 'sub-item', dataset: { id: String(sub.id), type: sub.target?.type || '' } },
    h('h2', { class: 'sub-target', text: targetText(sub.target) }),
    sub.confirmed ? null : h('p', { class: 'sub-pending', text: t('manage.pending') }),
    summary, form);
}

function summaryText(sub) {
  const kinds = (sub.kinds || []).includes('*') ? t('manage.allKinds')
    : (sub.kinds || []).map((k) => t(`kind.${k}`)).join(', ');
  return `${deliveryText(sub.delivery)} · ${kinds}`;
}

function prefsForm() {
  const lang = h('select', { id: 'manage-lang', name: 'lang' },
    LANGUAGES.map((l) => h('option', { value: l, text: t(`lang.name.${l}`), selected: l === data.lang })));
  const tz = h('input', { id: 'manage-tz', name: 'tz', value: data.tz || '', autocomplete: 'off', required: true });
  const error = h('p', { class: 'error', role: 'alert' });
  const form = h('form', { class: 'manage-prefs' },
    h('h2', { text: t('manage.prefs') }),
    h('div', { class: 'follow-row' },
      h('div', { class: 'field' }, h('label', { for: 'manage-lang', text: t('follow.lang') }), lang),
      h('div', { class: 'field field-grow' }, h('label', { for: 'manage-tz', text: t('follow.tz') }), tz),
      h('button', { type: 'submit', class: 'btn', text: t('manage.save') })),
    error);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    // Language and zone belong to the subscriber; the API takes them
    // through any of its subscriptions.
    try {
      await api.editSubscription(token, data.subscriptions[0].id, { lang: lang.value, tz: tz.value.trim() });
      Object.assign(data, { lang: lang.value, tz: tz.value.trim() });
      markField(form, '');
      status(t('manage.prefsSaved'));
    } catch (err) {
      error.textContent = apiMessage(err);
      markField(form, err.message);
    }
  });
  return form;
}

function render() {
  if (confirmShown) { confirmLink(); return; }
  if (erased) {
    els.body.replaceChildren(h('p', { class: 'manage-empty', text: t('manage.erased') }));
    return;
  }
  if (!data) return;
  const subs = data.subscriptions || [];
  els.body.replaceChildren(
    h('p', { class: 'manage-who', text: t('manage.who', { email: subscriberName(data) }) }),
    subs.length ? h('ul', { id: 'manage-list', class: 'sub-list' }, subs.map(subscriptionItem))
      : h('p', { id: 'manage-empty', class: 'manage-empty', text: t('manage.empty') }),
    subs.length ? prefsForm() : null,
    subs.length ? managePushSection(data) : null,
    h('section', { class: 'manage-erase' },
      h('h2', { text: t('manage.eraseTitle') }),
      h('p', { class: 'muted', text: t('manage.eraseHelp') }),
      h('button', {
        id: 'manage-erase', type: 'button', class: 'btn btn-danger', text: t('manage.erase'),
        onclick: async (e) => {
          if (!await ask(t('manage.eraseTitle'), t('manage.eraseAsk', { email: data.email || '' }),
            t('manage.erase'), e.currentTarget)) return;
          try {
            await api.eraseSubscriber(token);
            erased = true;
            history.replaceState(null, '', window.location.pathname);
            render();
            status(t('manage.erased'));
          } catch (err) { status(apiMessage(err), 'error'); }
        },
      })));
}

async function loadManage() {
  status(t('manage.loading'));
  try {
    data = await api.manage(token);
    status('');
  } catch (e) {
    status(apiMessage(e), 'error');
    return;
  }
  render();
  // The API names a dataset by id: show its title when the server knows it.
  const named = await Promise.all((data.subscriptions || []).filter((s) => s.target?.type === 'dataset')
    .map((s) => api.dataset(s.target.id, undefined, s.target.portal)
      .then((d) => { s.target.title = d.title || d.name; return true; }, () => false)));
  if (named.some(Boolean)) render();
}

// The mailed confirm link lands here; confirming takes a press of the
// button (a POST), so a mail scanner that opens the link and even runs this
// page subscribes nobody.
function confirmLink() {
  confirmShown = true;
  status(t('manage.confirmAsk'));
  const btn = h('button', { id: 'manage-confirm', type: 'button', class: 'btn btn-primary',
    text: t('manage.confirm') });
  btn.addEventListener('click', async () => {
    btn.disabled = true;
    status(t('manage.confirming'));
    try {
      await api.confirmSubscription(token);
      confirmShown = false;
      // The token is spent: a reload must not offer it again.
      history.replaceState(null, '', window.location.pathname);
      status(t('manage.confirmed'), 'ok');
      els.body.replaceChildren(h('p', { class: 'muted', text: t('manage.confirmedHelp') }),
        h('p', {}, h('a', { href: '/', text: t('manage.back') })));
    } catch (e) {
      btn.disabled = false;
      status(e.status === 404 ? t('manage.confirmExpired') : apiMessage(e), 'error');
    }
  });
  els.body.replaceChildren(h('p', {}, btn));
}

function initLang() {
  const btn = document.getElementById('lang-btn');
  const paint = () => {
    btn.textContent = t('lang.switch');
    btn.setAttribute('aria-label', t('lang.switchLabel'));
    btn.lang = getLang() === 'es' ? 'en' : 'es';
    document.title = `${t('manage.heading')} · ${t('app.title')}`;
  };
  btn.addEventListener('click', () => setLang(getLang() === 'es' ? 'en' : 'es'));
  onLangChange(() => { paint(); render(); });
  paint();
}

function init() {
  Object.assign(els, {
    status: document.getElementById('manage-status'), body: document.getElementById('manage-body'),
    askTitle: document.getElementById('ask-title'), askText: document.getElementById('ask-text'),
    askYes: document.getElementById('ask-yes'), ask: document.getElementById('ask-dialog'),
  });
  const dialog = els.ask;
  askModal = makeModal(dialog, {
    onOpen: () => document.getElementById('ask-no').focus(),
    onClose: () => { if (askAnswer) askAnswer(dialog.returnValue === 'yes'); askAnswer = null; },
  });
  els.askYes.addEventListener('click', () => askModal.close('yes'));
  document.getElementById('ask-no').addEventListener('click', () => askModal.close());
  applyStatic(document);
  initLang();
  const where = fromHash();
  token = where.token;
  if (where.mode === 'confirm') confirmLink();
  else if (where.mode === 'manage') {
    loadManage().then(() => {
      if (!where.unsubscribe) return;
      history.replaceState(null, '', `#token=${encodeURIComponent(token)}`);
      unsubscribeFromLink(where.unsubscribe);
    });
  }
  else status(t('manage.noToken'), 'error');
  document.documentElement.dataset.app = 'ready';
}

init();
