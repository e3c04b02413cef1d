// A Web Push service on loopback for the tests, independent of Vigía's code:
// it checks each request's VAPID JWT (RFC 8292) against the public key the
// server serves, with Node's crypto (ES256, raw r||s signature; aud = this
// service's origin, exp within 24 h, sub as configured), and decrypts the
// body with the npm http_ece package (RFC 8291 aes128gcm) using a browser
// key pair and auth secret the test made. Each endpoint /p/<name> answers
// from a script of statuses (the last one repeats). With `tls` ({key, cert})
// it speaks HTTP/2 over TLS (and HTTP/1.1 to clients that do not offer h2),
// as the browsers' push services do.
import crypto from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import ece from 'http_ece';

export class Browser {
  // A browser's side of one subscription: its ECDH key pair and auth secret.
  constructor(service, name) {
    this.ecdh = crypto.createECDH('prime256v1');
    this.ecdh.generateKeys();
    this.auth = crypto.randomBytes(16);
    this.endpoint = `${service.base}/p/${name}`;
  }

  subscription() {
    return {
      endpoint: this.endpoint,
      expirationTime: null,
      keys: { p256dh: this.ecdh.getPublicKey().toString('base64url'), auth: this.auth.toString('base64url') },
    };
  }

  decrypt(body) {
    return ece.decrypt(body, { version: 'aes128gcm', privateKey: this.ecdh, authSecret: this.auth.toString('base64url') });
  }
}

export class PushService {
  constructor({ subject, tls = null }) {
    this.subject = subject;
    this.tls = tls;
    this.sessions = new Set();
    this.vapidKey = null;  // base64url public key, set by the test from the server
    this.scripts = new Map(); // name -> [status, ...]
    this.browsers = new Map(); // name -> Browser
    this.received = [];   // {name, status, headers, claims, payload}
    this.problems = [];   // what a real push service would refuse
    this.connections = 0;
  }

  get base() { return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`; }

  browser(name, script = [201]) {
    const b = new Browser(this, name);
    this.scripts.set(name, [...script]);
    this.browsers.set(name, b);
    return b;
  }

  start() {
    const handler = (req, res) => this.handle(req, res);
    if (this.tls) {
      this.server = http2.createSecureServer({ ...this.tls, allowHTTP1: true }, handler);
      this.server.on('secureConnection', () => { this.connections += 1; });
      this.server.on('session', (sess) => { this.sessions.add(sess); sess.on('close', () => this.sessions.delete(sess)); });
    } else {
      this.server = http.createServer(handler);
      this.server.keepAliveTimeout = 60000;
      this.server.on('connection', () => { this.connections += 1; });
    }
    return new Promise((resolve) => this.server.listen(0, '127.0.0.1', () => {
      this.port = this.server.address().port;
      resolve(this);
    }));
  }

  stop() {
    if (this.server.closeAllConnections) this.server.closeAllConnections();
    for (const sess of this.sessions) sess.destroy();
    return new Promise((r) => this.server.close(r));
  }

  problem(name, what) { this.problems.push(`${name}: ${what}`); }

  // Returns the claims, or null after recording why the JWT is refused.
  checkVapid(name, authorization) {
    const m = /^vapid t=([\w-]+)\.([\w-]+)\.([\w-]+), k=([\w-]+)$/.exec(authorization || '');
    if (!m) { this.problem(name, `Authorization is not "vapid t=<jwt>, k=<key>": ${authorization}`); return null; }
    const [, h, c, s, k] = m;
    if (k !== this.vapidKey) { this.problem(name, `k=${k} is not the served key ${this.vapidKey}`); return null; }
    const header = JSON.parse(Buffer.from(h, 'base64url'));
    if (header.alg !== 'ES256' || header.typ !== 'JWT') this.problem(name, `JWT header ${JSON.stringify(header)}`);
    const pub = Buffer.from(k, 'base64url');
    const key = crypto.createPublicKey({
      format: 'jwk',
      key: { kty: 'EC', crv: 'P-256', x: pub.subarray(1, 33).toString('base64url'), y: pub.subarray(33).toString('base64url') },
    });
    const sig = Buffer.from(s, 'base64url');
    if (sig.length !== 64) this.problem(name, `signature of ${sig.length} bytes, not raw r||s (64)`);
    if (!crypto.verify('sha256', Buffer.from(`${h}.${c}`), { key, dsaEncoding: 'ieee-p1363' }, sig)) {
      this.problem(name, 'the JWT signature does not verify with the served key');
      return null;
    }
    const claims = JSON.parse(Buffer.from(c, 'base64url'));
    const now = Date.now() / 1000;
    if (claims.aud !== this.base) this.problem(name, `aud ${claims.aud}, expected ${this.base}`);
    if (!(claims.exp > now && claims.exp <= now + 86400)) this.problem(name, `exp ${claims.exp} not within 24 h`);
    if (claims.sub !== this.subject) this.problem(name, `sub ${claims.sub}, expected ${this.subject}`);
    return claims;
  }

  handle(req, res) {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      const name = (req.url.match(/^\/p\/([\w-]+)$/) || [])[1];
      const browser = this.browsers.get(name);
      if (req.method !== 'POST' || !browser) { res.writeHead(404).end(); return; }
      const body = Buffer.concat(chunks);
      const hd = req.headers;
      const claims = this.checkVapid(name, hd.authorization);
      if (hd['content-encoding'] !== 'aes128gcm') this.problem(name, `Content-Encoding ${hd['content-encoding']}`);
      if (!/^\d+$/.test(hd.ttl || '')) this.problem(name, `TTL ${hd.ttl}`);
      if (!['very-low', 'low', 'normal', 'high'].includes(hd.urgency)) this.problem(name, `Urgency ${hd.urgency}`);
      if (hd.topic !== undefined && !/^[A-Za-z0-9_-]{1,32}$/.test(hd.topic)) this.problem(name, `Topic ${hd.topic}`);
      if (body.length > 4096) this.problem(name, `body of ${body.length} bytes (> 4096)`);
      if (body.readUInt32BE(16) !== 4096) this.problem(name, `record size ${body.readUInt32BE(16)}`);
      let payload = null;
      try {
        payload = JSON.parse(browser.decrypt(body).toString('utf8'));
      } catch (e) {
        this.problem(name, `cannot decrypt with http_ece: ${e.message}`);
      }
      const script = this.scripts.get(name);
      const status = script.length > 1 ? script.shift() : script[0];
      this.received.push({ name, status, headers: hd, claims, payload, httpVersion: req.httpVersion });
      if (status === 429) res.setHeader('Retry-After', '1');
      if (status === 201) res.setHeader('Location', `${this.base}/m/${this.received.length}`);
      res.writeHead(status, { 'Content-Type': 'text/plain' });
      res.end(status === 201 ? '' : `status ${status}`);
    });
  }
}
