// The preferences dialog: language, opt-in browser notifications and sound,
// each remembered per browser.
import { browserEnabled, setBrowserEnabled, setSoundEnabled, soundEnabled } from './alerts.js';
import { getLang, setLang, onLangChange, t } from './i18n.js';
import { makeModal } from './modal.js';

export function initSettings() {
  const dialog = document.getElementById('settings-dialog');
  const browser = document.getElementById('pref-browser');
  const sound = document.getElementById('pref-sound');
  const note = document.getElementById('pref-note');
  const modal = makeModal(dialog, {
    onOpen: () => {
      browser.checked = browserEnabled();
      sound.checked = soundEnabled();
      note.textContent = '';
      browser.focus();
    },
  });
  document.getElementById('settings-btn').addEventListener('click', (e) => modal.open(e.currentTarget));
  document.getElementById('settings-close').addEventListener('click', () => modal.close());

  browser.addEventListener('change', async () => {
    const why = await setBrowserEnabled(browser.checked);
    browser.checked = browserEnabled();
    note.textContent = why;
  });
  sound.addEventListener('change', () => setSoundEnabled(sound.checked));

  // The language button names the other language, in that language.
  const langBtn = document.getElementById('lang-btn');
  const paintLang = () => {
    langBtn.textContent = t('lang.switch');
    langBtn.setAttribute('aria-label', t('lang.switchLabel'));
    langBtn.lang = getLang() === 'es' ? 'en' : 'es';
  };
  langBtn.addEventListener('click', () => setLang(getLang() === 'es' ? 'en' : 'es'));
  onLangChange(paintLang);
  paintLang();
}
