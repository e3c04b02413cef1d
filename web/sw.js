// Vigía's service worker: shows the Web Push notifications the server sends
// (the webpush plugin; payload {title, body, url, tag, lang}) and opens or
// focuses the dataset's page when one is clicked. Nothing is cached here.
const ICON = '/icon.svg';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('push', (event) => {
  let n = {};
  try {
    n = event.data ? event.data.json() : {};
  } catch {
    n = { body: event.data ? event.data.text() : '' };
  }
  // userVisibleOnly: every push must show something, even a malformed one.
  event.waitUntil(self.registration.showNotification(n.title || 'Vigía', {
    body: n.body || '',
    icon: ICON,
    lang: n.lang || '',
    // One notice per dataset on the device: a "recovered" replaces its "down".
    tag: n.tag || '',
    renotify: Boolean(n.tag),
    data: { url: n.url || '/' },
  }));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = new URL(event.notification.data?.url || '/', self.location.origin).href;
  event.waitUntil((async () => {
    const open = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    const same = open.find((c) => c.url === url && 'focus' in c);
    return same ? same.focus() : self.clients.openWindow(url);
  })());
});
