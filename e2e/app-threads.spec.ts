// The fast CPU backend on every core in the browser (dist/app on port 4173, served with COOP + COEP by
// `vite preview`): the engine worker starts navigator.hardwareConcurrency - 1 GEMM helpers (module Web Workers
// from the app's own origin, src/engine/wasm/gemm-worker.ts) on a shared WebAssembly.Memory, the status line says
// how many threads run, and the heatmap is the golden reference relevance within its tolerance and the one-thread
// result's within float32 rounding. One thread is had by serving the page without COOP / COEP (not cross-origin
// isolated: no SharedArrayBuffer), which the status line then says.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test, type Page } from 'playwright/test';
import { parseNpy, toFloat64 } from '../src/engine/io/npy';
import { relL2 } from './helpers';

const here = dirname(fileURLToPath(import.meta.url));
const goldens = resolve(here, '..', process.env.LRP_LENS_GOLDENS ?? '../shared/goldens');
const CASE = 'tinyvgg/zennit/EpsilonPlusFlat';

const problems = new WeakMap<Page, string[]>();

test.beforeEach(async ({ page, baseURL }) => {
  const origin = new URL(baseURL!).origin;
  const list: string[] = [];
  problems.set(page, list);
  page.on('pageerror', (e) => list.push(`uncaught: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') list.push(`console: ${m.text()}`);
  });
  page.on('worker', (w) => w.on('console', (m) => {
    if (m.type() === 'error') list.push(`worker console: ${m.text()}`);
  }));
  // Nothing leaves the page's origin (the helpers' script included).
  page.context().on('request', (r) => {
    if (!r.url().startsWith(`${origin}/`) && !/^(blob|data):/.test(r.url())) list.push(`request to another origin: ${r.url()}`);
  });
});

test.afterEach(({ page }) => {
  expect(problems.get(page), 'uncaught errors, console errors or foreign requests').toEqual([]);
});

const status = (page: Page) => page.getByRole('status', { name: 'Status' });

/** Serves the page itself without its cross-origin isolation headers (COOP, COEP): one thread. */
async function withoutIsolation(page: Page): Promise<void> {
  await page.route((url) => url.pathname === '/' || url.pathname === '/index.html', async (route) => {
    const response = await route.fetch();
    const headers = { ...response.headers() };
    delete headers['cross-origin-embedder-policy'];
    delete headers['cross-origin-opener-policy'];
    await route.fulfill({ response, headers });
  });
}

/** Opens tinyvgg on cpu-fast, explains the golden case's input tensor, returns the relevance and the status line. */
async function explainGolden(page: Page): Promise<{ relevance: Float32Array; target: number; status: string; isolated: boolean; cores: number }> {
  const manifest = JSON.parse(readFileSync(resolve(goldens, 'tfjs/cases.json'), 'utf8')) as { cases: { id: string; input: string }[] };
  const c = manifest.cases.find((x) => x.id === CASE)!;
  await page.goto('/?model=tinyvgg&image=none&backend=cpu-fast');
  await expect(status(page)).toContainText('CPU (fast, WASM SIMD): chosen in the backend menu; ');
  await page.getByRole('combobox', { name: 'Preset', exact: true }).selectOption('EpsilonPlusFlat');
  await page.getByLabel('Upload image', { exact: true }).setInputFiles(resolve(goldens, 'tfjs', c.input));
  await expect(page.getByText(`Tensor: ${c.input}`)).toBeVisible();
  await page.waitForFunction(() => (window.__lrpLens?.explanations ?? 0) > 0 && window.__lrpLens?.lastInputShape?.join() === '1,3,64,64', undefined, { timeout: 60_000 });
  await expect(status(page)).not.toContainText('computing', { timeout: 60_000 });
  const r = await page.evaluate(() => ({
    relevance: Array.from(window.__lrpLens!.lastRelevance!),
    target: window.__lrpLens!.lastTarget!,
    backend: window.__lrpLens!.lastBackend,
    isolated: crossOriginIsolated,
    cores: navigator.hardwareConcurrency,
  }));
  expect(r.backend).toBe('cpu-fast');
  return { relevance: Float32Array.from(r.relevance), target: r.target, status: (await status(page).textContent()) ?? '', isolated: r.isolated, cores: r.cores };
}

test('cpu-fast runs its GEMMs on every core, says so, and gives the golden and the one-thread heatmap', async ({ page, browser }) => {
  test.setTimeout(180_000);
  const manifest = JSON.parse(readFileSync(resolve(goldens, 'tfjs/cases.json'), 'utf8')) as { cases: { id: string; target: number; relevance: string }[] };
  const c = manifest.cases.find((x) => x.id === CASE)!;
  const reference = toFloat64(parseNpy(readFileSync(resolve(goldens, 'tfjs', c.relevance))));

  const gemmScripts: string[] = [];
  page.context().on('request', (r) => {
    if (/gemm-worker/.test(r.url())) gemmScripts.push(r.url());
  });
  const threaded = await explainGolden(page);
  console.log(`isolated: ${threaded.status} (hardwareConcurrency ${threaded.cores}; GEMM worker script requests: ${gemmScripts.length})`);
  expect(threaded.isolated).toBe(true);
  if (threaded.cores > 1) await expect(status(page)).toContainText(`; ${threaded.cores} threads`);
  else await expect(status(page)).toContainText('; 1 thread (one core)');
  expect(threaded.target).toBe(c.target);
  const errThreaded = relL2(threaded.relevance, reference);
  console.log(`${CASE}, cpu-fast on ${threaded.cores} threads vs the float64 golden: relL2 ${errThreaded.toExponential(3)}`);
  expect(errThreaded).toBeLessThanOrEqual(1e-3);

  // The same page without cross-origin isolation: one thread, said so, and the same heatmap.
  const context = await browser.newContext();
  const single = await context.newPage();
  const singleProblems: string[] = [];
  single.on('pageerror', (e) => singleProblems.push(`uncaught: ${e.message}`));
  single.on('console', (m) => {
    if (m.type() === 'error') singleProblems.push(`console: ${m.text()}`);
  });
  await withoutIsolation(single);
  const one = await explainGolden(single);
  console.log(`not isolated: ${one.status}`);
  expect(one.isolated).toBe(false);
  await expect(status(single)).toContainText('; 1 thread (the page is not cross-origin isolated)');
  await context.close();
  expect(singleProblems).toEqual([]);
  expect(one.target).toBe(c.target);
  expect(relL2(one.relevance, reference)).toBeLessThanOrEqual(1e-3);
  const errThreads = relL2(threaded.relevance, one.relevance);
  const identical = threaded.relevance.every((v, i) => v === one.relevance[i]);
  console.log(`${CASE}: ${threaded.cores} threads vs 1 thread: relL2 ${errThreads.toExponential(3)}${identical ? ' (bit for bit)' : ''}`);
  expect(errThreads).toBeLessThanOrEqual(1e-5);
});
