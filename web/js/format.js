// Shared pieces of the datasets views: status pills, uptime bars and the
// tolerant readers for fields whose exact name the server may vary.
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

// The monitor reports uptime as a percentage (99.5); the page works with fractions.
export function uptimeFraction(v) {
  if (v === null || v === undefined || v === '') return null;
  const n = Number(typeof v === 'object' ? v.uptime : v);
  if (!Number.isFinite(n)) return null;
  return Math.max(0, Math.min(1, n / 100));
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

// A dataset's latency: its own field when the list has one, else the mean
// of its resources' last checks (from the detail).
export function datasetLatency(d) {
  const own = latencyOf(d);
  if (own !== null) return own;
  const ls = (Array.isArray(d?.resources) ? d.resources : [])
    .map((r) => latencyOf(r.last_check)).filter((v) => v !== null && Number.isFinite(v));
  return ls.length ? ls.reduce((a, b) => a + b, 0) / ls.length : null;
}

export function latencyOf(x) {
  if (!x) return null;
  const v = x.latency_ms ?? x.last_latency_ms ?? x.mean_latency_ms ?? x.latency
    ?? (x.last_check && x.last_check.latency_ms);
  return v === undefined || v === null ? null : Number(v);
}

export function uptimeOf(x) {
  if (!x) return null;
  return x.uptime_30d ?? x.uptime ?? null;
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
