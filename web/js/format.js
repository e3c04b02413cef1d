// Shared pieces of the datasets views: status pills, uptime bars, and the
// readers of the monitor's fields. Each value has one field name (docs/api.md):
// a renamed field shows as "—", and the e2e tests check the columns are filled.
import { h } from './dom.js';
import { t, fmtPercent, hasKey } from './i18n.js';

export const STATUSES = ['up', 'degraded', 'down', 'unknown'];

export function statusPill(status) {
  const s = status || 'unknown';
  const known = hasKey(`status.${s}`);
  return h('span', { class: `pill status-${s}`, dataset: { status: s } },
    h('span', { class: 'pill-dot', 'aria-hidden': 'true' }),
    known ? t(`status.${s}`) : s);
}

// The monitor reports uptime as a percentage (99.5), null before any check;
// the page works with fractions.
export function uptimeFraction(v) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return null;
  return Math.max(0, Math.min(1, v / 100));
}

export function uptimeLevel(f) {
  if (f === null) return 'none';
  if (f >= 0.99) return 'good';
  if (f >= 0.9) return 'fair';
  return 'poor';
}

export function uptimeBar(value) {
  const f = uptimeFraction(value);
  if (f === null) return h('span', { class: 'muted', text: '—' });
  const fill = h('span', { class: `uptime-fill level-${uptimeLevel(f)}` });
  fill.style.width = `${(f * 100).toFixed(1)}%`;
  return h('span', { class: 'uptime' },
    h('span', { class: 'uptime-track', 'aria-hidden': 'true' }, fill),
    h('span', { class: 'uptime-text', text: fmtPercent(f) }));
}

// Latency in ms of a dataset row (mean of its resources' last checks), a
// resource's last_check or a history check: `latency_ms`, null when unmeasured.
export function latencyOf(x) {
  const v = x?.latency_ms;
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

// The monitor's reason code in words (known codes), plus the transport
// error text when there is one.
export function reasonOf(check) {
  if (!check) return '';
  const code = check.reason ?? '';
  const words = code && hasKey(`reason.${code}`) ? t(`reason.${code}`) : code;
  const detail = check.error ?? '';
  return [words, detail].filter(Boolean).join(' — ');
}
