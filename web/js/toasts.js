// Short toasts for live arrivals. They are decorative for screen readers:
// the ARIA live region (announce) says the same thing once.
import { h, typeIcon } from './dom.js';
import { t } from './i18n.js';

const MAX_VISIBLE = 3;
const LIFETIME_MS = 6000;

export function announce(text) {
  const region = document.getElementById('live-region');
  if (!region) return;
  // Clearing first makes repeated identical texts be announced again.
  region.textContent = '';
  setTimeout(() => { region.textContent = text; }, 50);
}

export function showToast(n, onOpen) {
  const box = document.getElementById('toasts');
  if (!box) return;
  while (box.children.length >= MAX_VISIBLE) box.firstElementChild.remove();
  const close = h('button', {
    type: 'button', class: 'toast-close', 'aria-label': t('toast.close'), text: '×',
  });
  const body = h('button', { type: 'button', class: 'toast-body' },
    typeIcon(n.type),
    h('span', { class: 'toast-text' },
      h('strong', { text: n.title || '' }),
      h('span', { text: n.message || '' })));
  const toast = h('div', { class: `toast type-${n.type}`, dataset: { id: n.id } }, body, close);
  const remove = () => {
    toast.classList.add('leaving');
    setTimeout(() => toast.remove(), 200);
  };
  close.addEventListener('click', remove);
  body.addEventListener('click', () => { remove(); onOpen(n); });
  box.append(toast);
  setTimeout(remove, LIFETIME_MS);
}
