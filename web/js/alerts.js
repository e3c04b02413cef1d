// Opt-in extras for live arrivals, each remembered per browser: a system
// notification (Notification API, only while the page is open) and a short
// sound (synthesised with Web Audio, so no audio file to ship).
import { prefs } from './prefs.js';
import { t } from './i18n.js';

let audioCtx = null;

export function browserSupported() { return 'Notification' in window; }
export function browserEnabled() {
  return browserSupported() && prefs.flag('browser_notifications') && Notification.permission === 'granted';
}
export function soundEnabled() { return prefs.flag('sound'); }

// Returns '' on success or a message explaining why it stays off.
export async function setBrowserEnabled(on) {
  if (!on) {
    prefs.setFlag('browser_notifications', false);
    return '';
  }
  if (!browserSupported()) return t('settings.unsupported');
  let perm = Notification.permission;
  if (perm === 'default') {
    try { perm = await Notification.requestPermission(); } catch { perm = 'denied'; }
  }
  if (perm !== 'granted') {
    prefs.setFlag('browser_notifications', false);
    return t('settings.denied');
  }
  prefs.setFlag('browser_notifications', true);
  return '';
}

export function setSoundEnabled(on) {
  prefs.setFlag('sound', on);
  // Created inside the click that enabled it, as autoplay rules require.
  if (on) ensureAudio();
}

function ensureAudio() {
  if (audioCtx) return audioCtx;
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return null;
  try { audioCtx = new Ctx(); } catch { audioCtx = null; }
  return audioCtx;
}

function beep(type) {
  const ctx = ensureAudio();
  if (!ctx || ctx.state === 'suspended') {
    if (ctx) ctx.resume().catch(() => {});
    return;
  }
  const freq = type === 'error' ? 440 : type === 'warning' ? 660 : 880;
  const osc = ctx.createOscillator();
  const gain = ctx.createGain();
  osc.frequency.value = freq;
  gain.gain.setValueAtTime(0.0001, ctx.currentTime);
  gain.gain.exponentialRampToValueAtTime(0.15, ctx.currentTime + 0.02);
  gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + 0.3);
  osc.connect(gain).connect(ctx.destination);
  osc.start();
  osc.stop(ctx.currentTime + 0.32);
}

export function alertArrival(n, onOpen) {
  if (soundEnabled()) beep(n.type);
  if (browserEnabled() && document.visibilityState !== 'visible') {
    try {
      const sys = new Notification(n.title || t('app.title'), { body: n.message || '', tag: `vigia-${n.id}` });
      sys.onclick = () => { window.focus(); onOpen(n); sys.close(); };
    } catch (e) {
      console.info('vigia: system notification not shown', e.message);
    }
  }
}
