// "Seguir / Follow": a small dialog that subscribes an e-mail address to a
// dataset, an organisation or the current search (the watch plugin's
// POST /api/subscriptions). The answer never says whether the address was
// already known, so the page always says the same: check your inbox.
import { api } from './api.js';
import { h } from './dom.js';
import { getLang, LANGUAGES, t } from './i18n.js';
import { makeModal } from './modal.js';
import { pushToggle, subscribePush } from './push.js';
import { deliveryField, kindsField, markField, targetText } from './subform.js';

let modal;
let els;
let target = null; // the API's target plus a title for the text

function browserZone() {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch { return ''; }
}

function zones() {
  try { return Intl.supportedValuesOf('timeZone'); } catch { return []; }
}

function render() {
  const kinds = kindsField();
  const delivery = deliveryField();
  const email = h('input', { id: 'follow-email', name: 'email', type: 'email', required: true, autocomplete: 'email', maxlength: 254 });
  const lang = h('select', { id: 'follow-lang', name: 'lang' },
    LANGUAGES.map((l) => h('option', { value: l, text: t(`lang.name.${l}`), selected: l === getLang() })));
  const tz = h('input', { id: 'follow-tz', name: 'tz', list: 'follow-zones', value: browserZone(), autocomplete: 'off', required: true });
  const error = h('p', { id: 'follow-error', class: 'error', role: 'alert' });
  // Web Push: with the toggle on, the e-mail address becomes optional.
  const push = pushToggle();
  push.box.addEventListener('change', () => { email.required = !push.box.checked; });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', text: t('follow.submit') });
  const form = h('form', { class: 'follow-form' },
    h('p', { class: 'follow-target', text: targetText(target) }),
    h('div', { class: 'field' }, h('label', { for: 'follow-email', text: t('follow.email') }), email),
    push.el,
    kinds.el,
    delivery.el,
    h('div', { class: 'follow-row' },
      h('div', { class: 'field' }, h('label', { for: 'follow-lang', text: t('follow.lang') }), lang),
      h('div', { class: 'field field-grow' }, h('label', { for: 'follow-tz', text: t('follow.tz') }), tz)),
    h('datalist', { id: 'follow-zones' }, zones().map((z) => h('option', { value: z }))),
    error,
    h('div', { class: 'follow-actions' }, submit,
      h('button', { type: 'button', class: 'btn btn-quiet', text: t('follow.cancel'), onclick: () => modal.close() })));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const picked = kinds.value();
    if (!picked.length) {
      error.textContent = t('follow.noKinds');
      markField(form, 'kinds:');
      return;
    }
    const { title, ...apiTarget } = target;
    submit.disabled = true;
    error.textContent = '';
    try {
      const prefs = { target: apiTarget, kinds: picked, delivery: delivery.value(), lang: lang.value, tz: tz.value.trim() };
      const pushed = push.value() ? await subscribePush(prefs) : null;
      if (email.value.trim() || !pushed) await api.subscribe({ email: email.value.trim(), ...prefs });
      markField(form, '');
      els.body.replaceChildren(h('div', { class: 'follow-done', role: 'status' },
        pushed ? h('p', { class: 'follow-done-title follow-push-on', text: t('push.on') }) : null,
        pushed ? h('p', {}, h('a', { href: pushed.manage_url, text: t('push.manage') })) : null,
        email.value.trim() ? h('p', { class: 'follow-done-title', text: t('follow.sent') }) : null,
        email.value.trim() ? h('p', { class: 'muted', text: t('follow.sentHelp') }) : null,
        h('button', { type: 'button', class: 'btn', text: t('follow.close'), onclick: () => modal.close() })));
    } catch (err) {
      error.textContent = err.status === undefined ? err.message // the browser's push refusal
        : err.status === 429 ? t('follow.tooMany', { msg: err.message })
        : err.status ? t('follow.error', { msg: err.message }) : t('follow.network');
      const bad = markField(form, err.message);
      if (bad && bad.focus) bad.focus();
      error.scrollIntoView({ block: 'nearest' });
    } finally {
      submit.disabled = false;
    }
  });
  els.body.replaceChildren(form);
}

// target: {type:'dataset', portal, id, title} | {type:'organization', organization, title}
// | {type:'search', q, status} | {type:'all'}
export function openFollow(next, from) {
  target = next;
  els.title.textContent = t(`follow.title.${next.type}`);
  render();
  modal.open(from);
}

export function initFollow() {
  const dialog = document.getElementById('follow-dialog');
  els = { title: document.getElementById('follow-title'), body: document.getElementById('follow-body') };
  modal = makeModal(dialog, { onOpen: () => document.getElementById('follow-email')?.focus() });
  document.getElementById('follow-close').addEventListener('click', () => modal.close());
}

// The follow button's icon and text, shared by the detail view and the filters.
export function followButton(label, onClick, id) {
  return h('button', { type: 'button', class: 'btn btn-follow', id, onclick: onClick },
    h('span', { 'aria-hidden': 'true', text: '＋ ' }), label);
}
