// The live connection: the official socket.io-client with automatic
// reconnection, the connection indicator's state, and the catch-up after a
// reconnect (the server replays missed events when it recovers the session;
// otherwise we ask for everything after the newest id we have). The store
// de-duplicates by id, so a notification seen twice is shown once.
import { adminToken, api } from './api.js';
import { store } from './store.js';

const stateListeners = new Set();
const eventListeners = new Map();
let socket = null;
let state = 'connecting';
let everConnected = false;

function setState(next) {
  if (next === state) return;
  state = next;
  stateListeners.forEach((fn) => fn(state));
}

export function connectionState() { return state; }
export function onState(fn) { stateListeners.add(fn); fn(state); }
export function on(event, fn) {
  if (!eventListeners.has(event)) eventListeners.set(event, new Set());
  eventListeners.get(event).add(fn);
}
function dispatch(event, payload) {
  (eventListeners.get(event) || []).forEach((fn) => fn(payload));
}

// Merge a list of notifications (catch-up or initial) and the server's count.
// `asOf` is given for REST answers (see store.setUnread).
function mergeList(list, unread, live, asOf) {
  if (Array.isArray(list)) {
    [...list].reverse().forEach((n) => store.add(n, { live }));
  }
  if (typeof unread === 'number') store.setUnread(unread, asOf);
}

const CATCH_UP_PAGE = 100;
const CATCH_UP_PAGES = 5;

async function catchUp() {
  const since = store.lastId();
  const asOf = store.epoch();
  try {
    let res = await api.notifications({ since: since || undefined, limit: CATCH_UP_PAGE });
    // Only what arrived after our newest id is news to the user.
    mergeList(res && res.notifications, res && res.unread_count, Boolean(since), asOf);
    // A long absence: page back (newest first) until we meet what we had, so
    // the panel's history has no hole. The very first load needs one page only.
    for (let i = 1; since && i < CATCH_UP_PAGES && res?.notifications?.length === CATCH_UP_PAGE; i++) {
      const oldest = res.notifications[res.notifications.length - 1].id;
      res = await api.notifications({ since, before: oldest, limit: CATCH_UP_PAGE });
      mergeList(res && res.notifications, undefined, true);
    }
  } catch (e) {
    console.info('vigia: catch-up over REST failed, waiting for the socket', e.message);
  }
}

// The client library is loaded on its own so that, if it is missing (web/vendor/
// is filled by scripts/install-deps.sh), the rest of the page still works.
export async function connect() {
  let io;
  try {
    ({ io } = await import('/vendor/socket.io.esm.min.js'));
  } catch (e) {
    console.error('vigia: socket.io-client is missing from /vendor/ (run scripts/install-deps.sh)', e.message);
    setState('offline');
    return null;
  }
  const token = adminToken();
  socket = io({
    path: '/socket.io/',
    transports: ['websocket', 'polling'],
    tryAllTransports: true,
    reconnection: true,
    reconnectionDelay: 500,
    reconnectionDelayMax: 3000,
    timeout: 5000,
    auth: token ? { token } : {},
  });

  // A handle for debugging from the console (and for the browser tests).
  window.vigiaSocket = socket;

  socket.on('connect', () => {
    setState('connected');
    const recovered = socket.recovered;
    if (!recovered) {
      // Fresh session: rooms are gone, and events may have been missed.
      socket.emit('join_room', { room: 'datasets' });
      socket.emit('join_room', { room: 'stats' });
      catchUp();
    }
    dispatch(everConnected ? 'reconnected' : 'first_connect', { recovered });
    everConnected = true;
  });

  socket.on('disconnect', (reason) => {
    // "io client disconnect" is ours (never happens here); anything else means
    // the client library is already retrying.
    setState(reason === 'io client disconnect' ? 'offline' : 'reconnecting');
  });

  socket.on('connect_error', () => {
    // First attempt failed, or a retry failed: the server is unreachable.
    setState('offline');
  });
  socket.io.on('reconnect_attempt', () => {
    if (state !== 'offline') setState('reconnecting');
  });

  socket.on('recent_notifications', (p) => {
    mergeList(p && p.notifications, p && p.unread_count, false);
  });
  socket.on('new_notification', (p) => {
    if (!p) return;
    if (p.notification) store.add(p.notification, { live: true });
    if (typeof p.unread_count === 'number') store.setUnread(p.unread_count);
  });
  socket.on('notification_marked_read', (p) => {
    if (p) store.markRead(p.notification_id, p.unread_count);
  });
  socket.on('notifications_cleared', (p) => {
    store.clear(p && typeof p.unread_count === 'number' ? p.unread_count : 0);
    dispatch('notifications_cleared', p);
  });
  socket.on('dataset_update', (p) => dispatch('dataset_update', p));
  socket.on('stats_update', (p) => dispatch('stats_update', p));

  window.addEventListener('offline', () => setState('offline'));
  return socket;
}

// Mark read over the socket when connected (no token needed there); the
// caller falls back to REST otherwise. Resolves with the ack or null.
export function emitMarkRead(id) {
  return new Promise((resolve) => {
    if (!socket || !socket.connected) {
      resolve(null);
      return;
    }
    socket.timeout(3000).emit('mark_notification_read', { notification_id: String(id) }, (err, ack) => {
      resolve(err ? null : (ack ?? {}));
    });
  });
}
