// Page load to first heatmap of the built app's default view (darknet-tiny, the first sample photo, the default
// preset) on the fast CPU backend, with its GEMMs on every core (the page cross-origin isolated, as `vite preview`
// serves it) and on one thread (the same page served without COOP / COEP: no SharedArrayBuffer). docs/performance.md.
//
//   npm run build && node scripts/first-heatmap-threads.mjs [--rounds 3] [--port 4183]
//
// Headless Chromium (/usr/bin/chromium, or $LRP_LENS_CHROMIUM) without WebGPU, so `auto` picks cpu-fast. "page" is
// from page.goto to the heatmap drawn (window.__lrpLens.lastHeatmap set); "engine" the explanation's time in the
// engine as the status line reports it. The two modes alternate; the load average is printed with each run.
import { loadavg } from 'node:os';
import { arg, withPreview } from './preview-page.mjs';

const port = Number(arg('--port', '4183'));
const rounds = Number(arg('--rounds', '3'));

async function once(browser, base, isolated) {
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
  const page = await context.newPage();
  if (!isolated) {
    await page.route((url) => url.pathname === '/', async (route) => {
      const response = await route.fetch();
      const headers = { ...response.headers() };
      delete headers['cross-origin-embedder-policy'];
      delete headers['cross-origin-opener-policy'];
      await route.fulfill({ response, headers });
    });
  }
  const load = loadavg()[0];
  const t0 = Date.now();
  await page.goto(base);
  await page.waitForFunction(() => (window.__lrpLens?.explanations ?? 0) > 0 && window.__lrpLens?.lastHeatmap != null, undefined, { timeout: 180_000, polling: 20 });
  const ms = Date.now() - t0;
  const status = await page.getByRole('status', { name: 'Status' }).textContent();
  const top = await page.getByRole('list', { name: 'Predictions', exact: true }).getByRole('listitem').first().textContent();
  await context.close();
  const engine = /last explanation ([\d.]+ m?s)/.exec(status ?? '')?.[1] ?? '?';
  console.log(`${isolated ? 'all threads' : 'one thread '}  page ${ms} ms  engine ${engine}  load ${load.toFixed(2)}  | ${status} | top: ${top}`);
  const [, v, unit] = /([\d.]+) (m?s)/.exec(engine) ?? [];
  return { ms, engine: v ? Number(v) * (unit === 's' ? 1000 : 1) : NaN };
}

await withPreview(port, { webgpu: false }, async (browser, base) => {
  console.log(`${new Date().toISOString()}: ${rounds} rounds`);
  const times = { true: [], false: [] };
  const engines = { true: [], false: [] };
  await once(browser, base, true); // warm-up (the OS's file cache, the server)
  for (let r = 0; r < rounds; r++) {
    for (const isolated of [true, false]) {
      const r = await once(browser, base, isolated);
      times[isolated].push(r.ms);
      engines[isolated].push(r.engine);
    }
  }
  const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  console.log(`median page-to-heatmap: all threads ${median(times.true)} ms, one thread ${median(times.false)} ms`);
  console.log(`median engine: all threads ${median(engines.true)} ms, one thread ${median(engines.false)} ms`);
});
