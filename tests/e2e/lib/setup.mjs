// What a browser suite needs before it can run and after it, and the INI that points the
// monitor at the CKAN fixture with fast sweeps.
import fs from 'node:fs';
import path from 'node:path';
import { missingChromium } from './browser.mjs';
import { FIXTURE_BIN, SOURCE_DIR, missingBinary, missingPlugin } from './server.mjs';

// The portal cannot connect without it; a set-up step, so fail loudly rather than skip.
export function requireVendor() {
  const file = path.join(SOURCE_DIR, 'web', 'vendor', 'socket.io.esm.min.js');
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: run scripts/install-deps.sh test`);
}

// A reason to skip (naming what is missing), or null when all is there.
export function skipReason({ plugins, fixture = false }) {
  const bin = missingBinary();
  if (bin) return `missing ${bin}: build the 'vigia' target first`;
  const chromium = missingChromium();
  if (chromium) return `missing ${chromium}`;
  const plugin = missingPlugin(plugins);
  if (plugin) return `plugin '${plugin}' is not built yet (no ${plugin}.so in the plugin dir)`;
  if (fixture && !fs.existsSync(FIXTURE_BIN)) return `missing the CKAN fixture (${FIXTURE_BIN})`;
  return null;
}

export function monitorIni(fixtureBase, { interval = '1h' } = {}) {
  return [
    '[monitor]',
    'concurrency = 16',
    '',
    '[monitor:fixture]',
    `base_url = ${fixtureBase}`,
    `interval = ${interval}`,
    'api_delay = 0',
    'rows = 1000',
    'per_host = 8',
    'per_host_interval = 0ms', // the loopback fixture is ours: no polite pause
    'content_per_host = 8', // nor for the body pass (schema samples, hashes)
    'content_per_host_interval = 0ms',
    'fail_threshold = 1',
    'recover_threshold = 1',
    'connect_timeout = 2s',
    'timeout = 5s',
    '',
  ].join('\n');
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN;
}

// The after() of every suite: pages, browser, server (by pid), then the CKAN
// fixture; each only when it was started.
export async function teardown({ pages, browser, server, fixture }) {
  if (pages) await pages.closeAll();
  if (browser) await browser.close();
  if (server) await server.cleanup();
  if (fixture) await fixture.stop();
}
