// Preferences remembered per browser (localStorage) and the admin token
// remembered for the session only (sessionStorage). Storage may be disabled
// (private modes, file://): then values live in memory for this page.
const PREFIX = 'vigia.';
const memory = new Map();

function store(kind) {
  try {
    const s = kind === 'session' ? window.sessionStorage : window.localStorage;
    const probe = `${PREFIX}probe`;
    s.setItem(probe, '1');
    s.removeItem(probe);
    return s;
  } catch {
    return null;
  }
}

function make(kind) {
  const s = store(kind);
  return {
    get(key) {
      const k = PREFIX + key;
      return s ? s.getItem(k) : (memory.get(`${kind}:${k}`) ?? null);
    },
    set(key, value) {
      const k = PREFIX + key;
      if (value === null || value === undefined) {
        if (s) s.removeItem(k); else memory.delete(`${kind}:${k}`);
      } else if (s) {
        s.setItem(k, String(value));
      } else {
        memory.set(`${kind}:${k}`, String(value));
      }
    },
    flag(key) { return this.get(key) === '1'; },
    setFlag(key, on) { this.set(key, on ? '1' : null); },
  };
}

export const prefs = make('local');
export const session = make('session');
