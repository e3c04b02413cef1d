// The header's connection indicator: colour, icon shape and text, so the
// state never depends on colour alone.
import { onState } from './connection.js';
import { t, onLangChange } from './i18n.js';

export function initIndicator() {
  const el = document.getElementById('conn');
  const text = document.getElementById('conn-text');
  let current = 'connecting';
  const paint = () => {
    el.dataset.state = current;
    text.textContent = t(`conn.${current}`);
  };
  onState((s) => { current = s; paint(); });
  onLangChange(paint);
}
