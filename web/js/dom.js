// Small DOM helpers. Text from the server always goes in as textContent,
// never as HTML; the only markup inserted is our own icon SVG.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c) el.append(c);
  return el;
}

// Icons by notification type (24x24 stroke icons), always decorative: the
// type is also given as text for assistive technology.
const PATHS = {
  info: ['M12 8h.01', 'M11 12h1v5h1'],
  warning: ['M12 9v4', 'M12 17h.01'],
  error: ['M15 9l-6 6', 'M9 9l6 6'],
  success: ['M8 12.5l2.5 2.5L16 9.5'],
};

export function typeIcon(type) {
  const paths = PATHS[type] || PATHS.info;
  const shape = type === 'warning'
    ? svg('path', { d: 'M12 3l9.5 17h-19z' })
    : svg('circle', { cx: 12, cy: 12, r: 9.5 });
  return svg('svg', {
    class: `icon icon-${type}`, viewBox: '0 0 24 24', width: 20, height: 20, 'aria-hidden': 'true',
    focusable: 'false', fill: 'none', stroke: 'currentColor', 'stroke-width': 2,
    'stroke-linecap': 'round', 'stroke-linejoin': 'round',
  }, shape, paths.map((d) => svg('path', { d })));
}
