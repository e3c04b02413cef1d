// Relative times ("hace 3 minutos" / "3 minutes ago") that stay current:
// every <time data-reltime> in the page is refreshed on a timer and when the
// language changes.
import { fmtDateTime, formatter, onLangChange } from './i18n.js';

const UNITS = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['week', 7 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60],
  ['second', 1],
];

export function relative(iso, now = Date.now()) {
  const then = new Date(iso).getTime();
  if (Number.isNaN(then)) return '';
  const diff = Math.round((then - now) / 1000);
  const abs = Math.abs(diff);
  const rtf = formatter(Intl.RelativeTimeFormat, { numeric: 'auto' });
  if (abs < 10) return rtf.format(0, 'second');
  for (const [unit, secs] of UNITS) {
    if (abs >= secs || unit === 'second') return rtf.format(Math.round(diff / secs), unit);
  }
  return '';
}

// A <time> element that keeps itself current; the absolute date is its title.
export function timeElement(iso, fallback = '') {
  const el = document.createElement('time');
  if (!iso) {
    el.textContent = fallback;
    return el;
  }
  el.dateTime = iso;
  el.dataset.reltime = '1';
  paint(el);
  return el;
}

function paint(el) {
  el.textContent = relative(el.dateTime);
  el.title = fmtDateTime(el.dateTime);
}

export function refreshAll(root = document) {
  root.querySelectorAll('time[data-reltime]').forEach(paint);
}

export function startClock() {
  setInterval(() => refreshAll(), 15000);
  onLangChange(() => refreshAll());
}
