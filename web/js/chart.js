// The history chart: one bar per day of uptime, as inline SVG (no library).
// Each bar has a <title> for pointer users and the whole chart a text summary.
import { svg } from './dom.js';
import { t, fmtDay, fmtPercent, fmtNumber } from './i18n.js';
import { uptimeFraction, uptimeLevel } from './format.js';

const H = 160;
const PAD = { top: 10, right: 8, bottom: 24, left: 40 };

// `width` is the space the chart gets, in CSS pixels, so its text keeps
// its size on a phone instead of being scaled down with the drawing.
export function historyChart(daily, days = 30, width = 600) {
  const W = Math.max(280, Math.min(1000, Math.round(width)));
  const rows = (Array.isArray(daily) ? daily : [])
    .filter((d) => d && d.day)
    .sort((a, b) => String(a.day).localeCompare(String(b.day)))
    .slice(-days);
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const slot = innerW / days;
  const offset = days - rows.length; // right-align: the newest day at the right edge

  const fractions = rows.map((d) => uptimeFraction(d.uptime));
  const known = fractions.filter((f) => f !== null);
  const mean = known.length ? known.reduce((a, b) => a + b, 0) / known.length : null;
  const summary = rows.length
    ? `${fmtDay(rows[0].day)} – ${fmtDay(rows[rows.length - 1].day)}, ${mean === null ? '—' : fmtPercent(mean)}`
    : '—';

  const grid = [0, 0.5, 1].map((g) => {
    const y = PAD.top + innerH * (1 - g);
    return [
      svg('line', { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y, class: 'chart-grid' }),
      svg('text', { x: PAD.left - 6, y: y + 4, class: 'chart-axis', 'text-anchor': 'end', text: fmtPercent(g) }),
    ];
  });

  const bars = rows.map((d, i) => {
    const f = fractions[i];
    const hgt = f === null ? 2 : Math.max(2, innerH * f);
    const x = PAD.left + (offset + i) * slot + slot * 0.15;
    return svg('rect', {
      x: x.toFixed(1), y: (PAD.top + innerH - hgt).toFixed(1), width: (slot * 0.7).toFixed(1), height: hgt.toFixed(1),
      rx: 1.5, class: `chart-bar level-${uptimeLevel(f)}`,
    }, svg('title', {
      text: t('detail.chartDay', {
        day: fmtDay(d.day), pct: f === null ? '—' : fmtPercent(f), checks: fmtNumber(Number(d.checks) || 0),
      }),
    }));
  });

  // Day labels under the first and last bars (one label when they coincide).
  const labels = [];
  if (rows.length) {
    labels.push(svg('text', { x: W - PAD.right, y: H - 6, class: 'chart-axis', 'text-anchor': 'end', text: fmtDay(rows[rows.length - 1].day) }));
    if (rows.length > 4) labels.push(svg('text', { x: PAD.left + offset * slot, y: H - 6, class: 'chart-axis', text: fmtDay(rows[0].day) }));
  }

  return svg('svg', {
    class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img',
    'aria-label': t('detail.chartLabel', { summary }),
  }, grid.flat(), bars, labels);
}
