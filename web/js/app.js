// Entry point: wires the modules together. Each module owns one part of the
// page; this file only says what happens when a notification arrives live.
import { alertArrival } from './alerts.js';
import { initBell } from './bell.js';
import { connect } from './connection.js';
import { initDatasets } from './datasets.js';
import { initDetail } from './detail.js';
import { initFollow } from './follow.js';
import { applyStatic, t } from './i18n.js';
import { initIndicator } from './indicator.js';
import { initPanel, openPanel } from './panel.js';
import { startClock } from './reltime.js';
import { initSettings } from './settings.js';
import { store } from './store.js';
import { announce, showToast } from './toasts.js';

// A burst (a catch-up after a long absence) gets three toasts and sounds at
// most, then one summary for screen readers.
const BURST_SHOWN = 3;
const BURST_WINDOW_MS = 1000;
let burst = 0;
let burstTimer = null;

function onLive(n) {
  const open = () => openPanel(document.getElementById('bell'));
  burst += 1;
  if (burst <= BURST_SHOWN) {
    showToast(n, open);
    announce(t('live.new', { title: n.title || '' }));
    alertArrival(n, open);
  }
  clearTimeout(burstTimer);
  burstTimer = setTimeout(() => {
    if (burst > BURST_SHOWN) announce(t('live.many', { n: burst }));
    burst = 0;
  }, BURST_WINDOW_MS);
}

applyStatic(document);
initIndicator();
initBell((e) => openPanel(e.currentTarget));
initPanel();
initDetail();
initFollow();
initSettings();
initDatasets();
startClock();

store.on((kind, detail) => {
  if (kind === 'added' && detail.live) onLive(detail.notification);
  if (kind === 'cleared') announce(t('live.cleared'));
});

connect();
document.documentElement.dataset.app = 'ready';
