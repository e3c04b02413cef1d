// The peer of bench/webpush: the npm web-push package (the de-facto Node
// sender), generateRequestDetails on the same subscription, VAPID key pair
// and payloads: RFC 8291 encryption and a VAPID JWT per message, no network.
//   node peer.mjs gen FILE        writes the shared input
//   node peer.mjs run FILE SECS   prints messages per CPU second
import crypto from 'node:crypto';
import fs from 'node:fs';
import webpush from 'web-push';

const [mode, file, secs = '3'] = process.argv.slice(2);

if (mode === 'gen') {
  const ua = crypto.createECDH('prime256v1');
  ua.generateKeys();
  const vapid = webpush.generateVAPIDKeys();
  const kinds = ['dejó de responder', 'vuelve a responder', 'tiene recursos con fallas'];
  const payloads = Array.from({ length: 16 }, (_, i) => JSON.stringify({
    v: 1, title: `«Presupuesto ${2000 + i}» ${kinds[i % 3]}`,
    body: 'datos · Dirección de Presupuestos · disponible → caído',
    url: `https://datos.gob.cl/dataset/presupuesto-${2000 + i}-${'x'.repeat(i * 8)}`,
    tag: `vigia:datos:${crypto.randomUUID()}`, lang: 'es', kind: 'down', count: 1,
  }));
  fs.writeFileSync(file, JSON.stringify({
    subscription: {
      endpoint: 'https://fcm.googleapis.com/fcm/send/bench-0123456789',
      keys: { p256dh: ua.getPublicKey().toString('base64url'), auth: crypto.randomBytes(16).toString('base64url') },
    },
    vapid, subject: 'mailto:ops@vigia.example.org', payloads,
  }));
} else {
  const input = JSON.parse(fs.readFileSync(file, 'utf8'));
  const opts = {
    vapidDetails: { subject: input.subject, publicKey: input.vapid.publicKey, privateKey: input.vapid.privateKey },
    TTL: 86400, contentEncoding: 'aes128gcm', urgency: 'high',
  };
  const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
  for (let i = 0; i < 200; i++) webpush.generateRequestDetails(input.subscription, input.payloads[i % 16], opts); // warm up
  const t0 = cpu();
  let n = 0;
  let t = t0;
  while (t - t0 < Number(secs)) {
    for (let k = 0; k < 50; k++, n++) {
      const d = webpush.generateRequestDetails(input.subscription, input.payloads[n % 16], opts);
      if (!d.body || !d.headers.Authorization) throw new Error('web-push built no request');
    }
    t = cpu();
  }
  const rate = n / (t - t0);
  console.log(`web-push encrypt+JWT per message: ${rate.toFixed(0).padStart(8)} msg/s per core (${n} messages)`);
  console.log(`RESULT web-push ${rate.toFixed(1)}`);
}
