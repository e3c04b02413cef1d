// The pieces the follow form and the manage page share: the kinds of change
// as checkboxes, the delivery frequency (immediate, hourly, daily at HH:MM,
// weekly on DAY at HH:MM) as the API's string, and a target in words.
import { h } from './dom.js';
import { t } from './i18n.js';

export const KINDS = ['down', 'degraded', 'recovered', 'removed', 'added', 'modified', 'empty',
  'stale', 'refreshed', 'recreated', 'format_drift', 'content_changed', 'schema_changed'];
// The API's default when no kinds are sent: all but these.
const OPT_IN = ['modified', 'refreshed', 'content_changed', 'schema_changed'];
export const DEFAULT_KINDS = KINDS.filter((k) => !OPT_IN.includes(k));
const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const FREQS = ['immediate', 'hourly', 'daily', 'weekly'];

let seq = 0;
const uid = (p) => `${p}-${++seq}`;

// A fieldset of checkboxes; .value() is the checked kinds ("*" kept as all).
export function kindsField(selected = DEFAULT_KINDS) {
  const all = selected.includes('*');
  const boxes = KINDS.map((k) => h('input', { type: 'checkbox', name: 'kinds', value: k, checked: all || selected.includes(k) }));
  const el = h('fieldset', { class: 'sub-kinds', dataset: { field: 'kinds' } },
    h('legend', { text: t('follow.kinds') }),
    boxes.map((b) => h('label', { class: 'check' }, b, h('span', { text: t(`kind.${b.value}`) }))));
  return { el, value: () => boxes.filter((b) => b.checked).map((b) => b.value) };
}

// "daily@08:30" -> {freq: 'daily', time: '08:30', day: 'mon'}
export function parseDelivery(s) {
  const [freq, a, b] = String(s || 'immediate').split('@');
  if (freq === 'daily') return { freq, time: a || '08:00', day: 'mon' };
  if (freq === 'weekly') return { freq, day: a || 'mon', time: b || '08:00' };
  return { freq: FREQS.includes(freq) ? freq : 'immediate', time: '08:00', day: 'mon' };
}

export function deliveryText(s) {
  const d = parseDelivery(s);
  if (d.freq === 'daily') return t('freq.dailyAt', { time: d.time });
  if (d.freq === 'weekly') return t('freq.weeklyAt', { day: t(`day.${d.day}`), time: d.time });
  return t(`freq.${d.freq}`);
}

// Frequency select plus the time and day it needs; .value() is the API string.
export function deliveryField(current = 'immediate') {
  const d = parseDelivery(current);
  const ids = { freq: uid('freq'), time: uid('time'), day: uid('day') };
  const freq = h('select', { id: ids.freq, name: 'delivery' },
    FREQS.map((f) => h('option', { value: f, text: t(`freq.${f}`), selected: f === d.freq })));
  const time = h('input', { id: ids.time, type: 'time', name: 'time', value: d.time, step: 60, required: true });
  const day = h('select', { id: ids.day, name: 'day' },
    DAYS.map((x) => h('option', { value: x, text: t(`day.${x}`), selected: x === d.day })));
  const dayField = h('div', { class: 'field' }, h('label', { for: ids.day, text: t('follow.day') }), day);
  const timeField = h('div', { class: 'field' }, h('label', { for: ids.time, text: t('follow.time') }), time);
  const sync = () => {
    dayField.hidden = freq.value !== 'weekly';
    timeField.hidden = freq.value !== 'daily' && freq.value !== 'weekly';
    time.disabled = timeField.hidden;
  };
  freq.addEventListener('change', sync);
  sync();
  const el = h('div', { class: 'sub-delivery', dataset: { field: 'delivery' } },
    h('div', { class: 'field' }, h('label', { for: ids.freq, text: t('follow.frequency') }), freq),
    dayField, timeField);
  return {
    el,
    value() {
      const hm = (time.value || '08:00').slice(0, 5);
      if (freq.value === 'daily') return `daily@${hm}`;
      if (freq.value === 'weekly') return `weekly@${day.value}@${hm}`;
      return freq.value;
    },
  };
}

// What a subscription follows, in words (the API gives ids, not titles).
export function targetText(tg = {}) {
  switch (tg.type) {
    case 'dataset': return t('target.dataset', { name: tg.title || tg.id, portal: tg.portal || '' });
    case 'organization': return t('target.organization', { name: tg.title || tg.organization });
    case 'portal': return t('target.portal', { name: tg.portal });
    case 'search': {
      const parts = [tg.q ? `“${tg.q}”` : '', tg.status ? t(`status.${tg.status}`) : ''].filter(Boolean);
      return t('target.search', { what: parts.join(' · ') || '—' });
    }
    default: return t('target.all');
  }
}

// The API's 4xx message names the field first ("tz: unknown zone ..."):
// the matching control is marked invalid and the message shown by the form.
export function markField(form, message) {
  form.querySelectorAll('[aria-invalid]').forEach((el) => el.removeAttribute('aria-invalid'));
  const field = /^([a-z_.]+):/.exec(message || '')?.[1]?.split('.')[0];
  if (!field) return null;
  const el = form.querySelector(`[name="${field}"]`) || form.querySelector(`[data-field="${field}"]`);
  if (el) el.setAttribute('aria-invalid', 'true');
  return el;
}
