// REST client: JSON in and out, the server's {"error":{code,message}} turned
// into ApiError, and the admin token (when known) sent as a Bearer header.
import { session } from './prefs.js';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

export function adminToken() { return session.get('admin_token'); }
export function setAdminToken(token) { session.set('admin_token', token || null); }

async function request(method, path, { params, body, signal } = {}) {
  const url = new URL(path, window.location.origin);
  if (params) {
    for (const [k, v] of Object.entries(params)) {
      if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, v);
    }
  }
  const headers = { Accept: 'application/json' };
  const token = adminToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(url, {
      method,
      headers,
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal,
      cache: 'no-store',
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'NETWORK', e.message);
  }
  let data = null;
  const text = await res.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!res.ok) {
    const err = data && data.error ? data.error : {};
    throw new ApiError(res.status, err.code, err.message);
  }
  return data;
}

export const api = {
  notifications: (params, signal) => request('GET', '/api/notifications', { params, signal }),
  markRead: (id) => request('POST', `/api/notifications/${encodeURIComponent(id)}/read`),
  markAllRead: () => request('POST', '/api/notifications/read-all'),
  clear: () => request('POST', '/api/notifications/clear'),
  datasets: (params, signal) => request('GET', '/api/datasets', { params, signal }),
  // A dataset is (portal, id): the same id may exist in two portals.
  dataset: (id, signal, portal) => request('GET', `/api/datasets/${encodeURIComponent(id)}`,
    { params: portal ? { portal } : {}, signal }),
  history: (id, days, signal, portal) =>
    request('GET', `/api/datasets/${encodeURIComponent(id)}/history`,
      { params: portal ? { days, portal } : { days }, signal }),
  // The history of changes: status, freshness, format drift, re-created resources, metadata.
  changes: (id, days, signal, portal) =>
    request('GET', `/api/datasets/${encodeURIComponent(id)}/changes`,
      { params: portal ? { days, portal } : { days }, signal }),
  stats: (signal) => request('GET', '/api/stats', { signal }),
  // The public report per organisation.
  organizations: (signal) => request('GET', '/api/organizations', { signal }),
  organization: (name, portal, signal) => request('GET', `/api/organizations/${encodeURIComponent(name)}`,
    { params: portal ? { portal } : {}, signal }),
  // Watchlists (the watch plugin): subscribe, then everything else with the
  // token of a mailed link.
  subscribe: (body) => request('POST', '/api/subscriptions', { body }),
  // A POST: a GET of the mailed link never confirms (link scanners follow it).
  confirmSubscription: (token) => request('POST', '/api/subscriptions/confirm', { params: { token } }),
  manage: (token) => request('GET', '/api/subscriptions/manage', { params: { token } }),
  editSubscription: (token, id, body) =>
    request('PATCH', `/api/subscriptions/${encodeURIComponent(id)}`, { params: { token }, body }),
  unsubscribe: (token, id) =>
    request('DELETE', `/api/subscriptions/${encodeURIComponent(id)}`, { params: { token } }),
  unsubscribeAll: (token) => request('POST', '/api/subscriptions/unsubscribe', { params: { token } }),
  eraseSubscriber: (token) => request('DELETE', '/api/subscriptions/subscriber', { params: { token } }),
};
