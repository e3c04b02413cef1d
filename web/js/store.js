// The page's one copy of the notifications it knows, keyed by id so that an
// event seen twice (live, replayed after a reconnect, in a catch-up list)
// is kept once. The unread count comes from the server, which knows them all.
const byId = new Map();
const listeners = new Set();
let unread = 0;
let maxId = 0n;
// Bumped by every count that arrives on the live stream. A REST answer
// carries a count computed when it was asked for; if live events came in
// meanwhile it is stale and must not overwrite theirs.
let epoch = 0;

// Ids are decimal strings of an increasing integer: compare numerically.
export function idNum(id) {
  try { return BigInt(String(id)); } catch { return 0n; }
}

export function compareNewestFirst(a, b) {
  const x = idNum(a.id);
  const y = idNum(b.id);
  return x < y ? 1 : x > y ? -1 : 0;
}

function emit(kind, detail) {
  listeners.forEach((fn) => fn(kind, detail));
}

export const store = {
  on(fn) { listeners.add(fn); },
  get(id) { return byId.get(String(id)); },
  unreadCount() { return unread; },
  // Highest id ever seen: the "since" of a catch-up request.
  lastId() { return maxId > 0n ? maxId.toString() : null; },

  epoch() { return epoch; },

  // `asOf`: the epoch() read when the REST request was sent (omit for live counts).
  setUnread(n, asOf) {
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) return;
    if (asOf === undefined) epoch++;
    else if (asOf !== epoch) return;
    if (n !== unread) {
      const bumped = n > unread;
      unread = n;
      emit('count', { unread, bumped });
    }
  },

  // Merge a notification; returns true when it was new to this page.
  // `live` marks arrivals that should be announced (toast, sound...).
  add(n, { live = false } = {}) {
    if (!n || n.id === undefined || n.id === null) return false;
    const id = String(n.id);
    const known = byId.get(id);
    if (known) {
      if (n.read && !known.read) {
        known.read = true;
        known.read_at = n.read_at ?? known.read_at;
        emit('updated', known);
      }
      return false;
    }
    const copy = { ...n, id };
    byId.set(id, copy);
    const num = idNum(id);
    if (num > maxId) maxId = num;
    emit('added', { notification: copy, live });
    return true;
  },

  markRead(id, unreadCount, asOf) {
    const n = byId.get(String(id));
    if (n && !n.read) {
      n.read = true;
      n.read_at = new Date().toISOString();
      emit('updated', n);
    }
    if (unreadCount !== undefined) this.setUnread(unreadCount, asOf);
  },

  markAllRead(unreadCount, asOf) {
    byId.forEach((n) => {
      if (!n.read) {
        n.read = true;
        emit('updated', n);
      }
    });
    this.setUnread(unreadCount ?? 0, asOf);
  },

  // The list shown to users was cleared on the server: forget it here too,
  // but keep maxId so a later catch-up does not bring the old ones back.
  clear(unreadCount, asOf) {
    byId.clear();
    emit('cleared', {});
    this.setUnread(unreadCount ?? 0, asOf);
  },

  // Newest first, optionally of one type.
  list(type) {
    const all = [...byId.values()].filter((n) => !type || n.type === type);
    return all.sort(compareNewestFirst);
  },
};
