// The header's notification button: unread badge (live) and a short
// animation when something new arrives.
import { t, onLangChange } from './i18n.js';
import { store } from './store.js';

export function initBell(onClick) {
  const bell = document.getElementById('bell');
  const badge = document.getElementById('bell-badge');

  const paint = () => {
    const n = store.unreadCount();
    badge.textContent = n > 99 ? '99+' : String(n);
    badge.hidden = n === 0;
    bell.dataset.unread = String(n);
    bell.setAttribute('aria-label', n > 0 ? `${t('bell.label')}, ${t('bell.unread', { n })}` : t('bell.label'));
    // A page left open in a background tab shows the count in its title.
    document.title = n > 0 ? `(${n > 99 ? '99+' : n}) ${t('app.title')}` : t('app.title');
  };

  bell.addEventListener('click', onClick);
  bell.addEventListener('animationend', () => bell.classList.remove('ring'));
  badge.addEventListener('animationend', () => badge.classList.remove('bump'));

  store.on((kind, detail) => {
    if (kind === 'count') {
      paint();
      if (detail.bumped) {
        badge.classList.remove('bump');
        void badge.offsetWidth; // restart the animation
        badge.classList.add('bump');
      }
    } else if (kind === 'added' && detail.live) {
      bell.classList.remove('ring');
      void bell.offsetWidth;
      bell.classList.add('ring');
    }
  });
  onLangChange(paint);
  paint();
}
