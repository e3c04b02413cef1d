// Web Push in the portal: the "Notificaciones en este navegador" toggle of
// the follow form and the manage page. Turning it on registers the service
// worker (/sw.js), asks the browser's permission (the consent: no
// confirmation mail), subscribes with the server's VAPID key and posts the
// subscription with the same target and preferences an e-mail subscription
// takes. Turning it off erases this browser's subscriber on the server and
// unsubscribes the browser.
import { h } from './dom.js';
import { t } from './i18n.js';

let seq = 0;

export function pushSupported() {
  return window.isSecureContext && 'serviceWorker' in navigator && 'PushManager' in window
    && 'Notification' in window;
}

async function call(method, path, body) {
  const res = await fetch(path, {
    method, cache: 'no-store',
    headers: body ? { 'Content-Type': 'application/json', Accept: 'application/json' } : { Accept: 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const err = new Error(data?.error?.message || `HTTP ${res.status}`);
    err.status = res.status;
    throw err;
  }
  return data;
}

// The server's key, asked once per page. /api/health lists the loaded
// plugins: without webpush the toggles hide themselves, and no request
// that would 404 is made.
let keyAsked = null;
const serverKey = () => {
  keyAsked ??= fetch('/api/health', { cache: 'no-store' }).then((r) => r.json()).then((hl) => {
    if (!(hl.plugins || []).some((p) => p.name === 'webpush')) throw new Error(t('push.unavailable'));
    return call('GET', '/api/push/vapid-public-key');
  }).then((r) => r.public_key);
  keyAsked.catch(() => {}); // handled by each caller
  return keyAsked;
};

const bytes = (b64) => Uint8Array.from(atob(b64.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
const b64url = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

export const registerWorker = () => navigator.serviceWorker.register('/sw.js');

// This browser's push subscription (toJSON form), made when there is none or
// when it was made with another key (the server's key was rotated).
export async function browserSubscription() {
  let key;
  try {
    key = await serverKey();
  } catch (e) {
    throw Object.assign(new Error(t('push.unavailable')), { status: e.status });
  }
  const reg = await registerWorker();
  await navigator.serviceWorker.ready;
  let sub = await reg.pushManager.getSubscription();
  if (sub && sub.options?.applicationServerKey && b64url(sub.options.applicationServerKey) !== key) {
    await sub.unsubscribe();
    sub = null;
  }
  if (!sub) {
    if (await Notification.requestPermission() !== 'granted') throw new Error(t('push.denied'));
    sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: bytes(key) });
  }
  return sub.toJSON();
}

// Follow `target` in this browser: {subscription, target, kinds, delivery, lang, tz, ...}
// -> {manage_url, ...}.
export async function subscribePush(prefs) {
  const subscription = await browserSubscription();
  return call('POST', '/api/push/subscriptions', { subscription, ...prefs });
}

// Stop every notification to this browser.
export async function forgetPush() {
  const reg = await navigator.serviceWorker.getRegistration('/');
  const sub = reg && await reg.pushManager.getSubscription();
  if (!sub) return;
  await call('DELETE', '/api/push/subscriptions', { subscription: sub.toJSON() });
  await sub.unsubscribe();
}

export async function pushIsOn() {
  if (!pushSupported() || Notification.permission !== 'granted') return false;
  const reg = await navigator.serviceWorker.getRegistration('/');
  return Boolean(reg && await reg.pushManager.getSubscription());
}

// The toggle: a checkbox with its help text; disabled, with the reason, when
// the browser cannot do Web Push. onChange(checked) may throw: the box goes
// back and the message is shown.
export function pushToggle({ checked = false, onChange } = {}) {
  const id = `push-toggle-${++seq}`;
  const ok = pushSupported();
  const box = h('input', { id, type: 'checkbox', name: 'push', checked: ok && checked, disabled: !ok });
  const note = h('p', { class: 'muted push-note', text: ok ? t('push.help') : t('push.unsupported') });
  const error = h('p', { class: 'error push-error', role: 'alert' });
  if (onChange) {
    box.addEventListener('change', async () => {
      const want = box.checked;
      box.disabled = true;
      error.textContent = '';
      try {
        note.textContent = await onChange(want) || note.textContent;
      } catch (e) {
        box.checked = !want;
        error.textContent = e.message;
      } finally {
        box.disabled = false;
      }
    });
  }
  const el = h('div', { class: 'push-field', dataset: { field: 'push' } },
    h('label', { class: 'check', for: id }, box, h('span', { text: t('push.toggle') })), note, error);
  serverKey().catch(() => { el.hidden = true; box.checked = false; });
  return { el, box, error, value: () => box.checked && !box.disabled };
}

// The manage page's section: for an e-mail subscriber, turning it on follows
// the same things with the same preferences in this browser; turning it off
// (there, or on a push subscriber's own page) stops every notification to
// this browser.
export function managePushSection(data) {
  const own = data.channel === 'webpush';
  const toggle = pushToggle({
    checked: own,
    async onChange(on) {
      if (!on) {
        await forgetPush();
        return t('push.off');
      }
      for (const s of data.subscriptions || []) {
        const { title, ...target } = s.target || {};
        await subscribePush({
          target, kinds: s.kinds, delivery: s.delivery, quiet_hours: s.quiet_hours || undefined,
          min_severity: s.min_severity, lang: data.lang, tz: data.tz,
        });
      }
      return t('push.on');
    },
  });
  if (!own) pushIsOn().then((on) => { toggle.box.checked = on; }, () => {});
  return h('section', { id: 'manage-push', class: 'manage-push' }, toggle.el);
}

// How the manage page names a subscriber that has no e-mail address.
export const subscriberName = (data) => (data.channel === 'webpush' ? t('push.browser') : data.email || data.address || '');
