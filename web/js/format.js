// Shared pieces of the datasets views: status pills, uptime bars and the
// tolerant readers for fields whose exact name the server may vary.
import { h } from './dom.js';
import { t, fmtPercent } from './i18n.js';

export const STATUSES = ['up', 'degraded', 'down', 'unknown'];

export function statusPill(status) {
  const s = status || 'unknown';
  const known = t(`status.${s}`) !== `status.${s}`;
  return h('span', { class: `pill status-${s}`, dataset: { status: s } },
    h('span', { class: 'pill-dot', 'aria-hidden': 'true' }),
    known ? t(`status.${s}`) : s);
}

// Uptime may come as a fraction (0.995) or a percentage (99.5).
export function uptimeFraction(v) {
  if (v === null || v === undefined || v === '') return null;
  let n = Number(typeof v === 'object' ? (v.uptime ?? v.ratio ?? v.value) : v);
  if (!Number.isFinite(n)) return null;
  if (n > 1) n /= 100;
  return Math.max(0, Math.min(1, n));
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

export function reasonOf(check) {
  if (!check) return '';
  return check.reason ?? check.error ?? check.curl_error ?? check.message ?? '';
}
