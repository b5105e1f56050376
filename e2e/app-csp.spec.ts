// The built app served with its security headers (security-headers.mjs, which `vite preview` sends): the Content
// Security Policy as an HTTP header, which unlike the meta tag also binds the engine worker (no eval, no Function()
// there either), and cross-origin isolation (COOP + COEP). With them, ONNX and TF.js models open and are explained,
// and nothing violates the policy, in the page or in the worker. Run against dist/app like app.spec.ts.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test, type Page, type Worker } from 'playwright/test';
import { CONTENT_SECURITY_POLICY_HEADER, SECURITY_HEADERS } from '../security-headers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const shared = resolve(here, '..', '../shared');

declare global {
  interface Window {
    __cspViolations?: string[];
  }
}

interface Watch {
  /** Uncaught errors, console errors and CSP violations, in the page and in its workers. */
  problems: string[];
  workers: Worker[];
}

/** Records every uncaught error, console error and securitypolicyviolation event of the page and its workers. */
async function watch(page: Page): Promise<Watch> {
  const w: Watch = { problems: [], workers: [] };
  page.on('pageerror', (err) => w.problems.push(`page error: ${err.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') w.problems.push(`console error${m.worker() ? ' (worker)' : ''}: ${m.text()}`);
  });
  page.on('worker', (worker) => {
    w.workers.push(worker);
    worker.on('console', (m) => {
      if (m.type() === 'error') w.problems.push(`worker console error: ${m.text()}`);
    });
    // The worker's own violations are events on its global scope (the page never hears of them).
    void worker
      .evaluate(() => {
        const scope = self as unknown as { __cspViolations?: string[]; addEventListener: typeof addEventListener };
        scope.__cspViolations ??= [];
        scope.addEventListener('securitypolicyviolation', (e: SecurityPolicyViolationEvent) =>
          scope.__cspViolations!.push(`${e.violatedDirective}: ${e.blockedURI} ${e.sample}`),
        );
      })
      .catch(() => undefined);
  });
  await page.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__cspViolations!.push(`${e.violatedDirective}: ${e.blockedURI} ${e.sample}`));
  });
  return w;
}

async function violations(page: Page, w: Watch): Promise<string[]> {
  const inPage = await page.evaluate(() => window.__cspViolations ?? ['the listener was not installed']);
  const inWorkers = await Promise.all(
    w.workers.map((worker) =>
      worker.evaluate(() => (self as unknown as { __cspViolations?: string[] }).__cspViolations ?? ['the listener was not installed']).catch(() => [] as string[]),
    ),
  );
  return [...inPage, ...inWorkers.flat()];
}

const explanations = (page: Page) => page.evaluate(() => window.__lrpLens?.explanations ?? 0);

async function nextExplanation(page: Page, after: number, timeout = 90_000): Promise<number> {
  await page.waitForFunction((n) => (window.__lrpLens?.explanations ?? 0) > n, after, { timeout });
  await expect(page.getByRole('status', { name: 'Status' })).not.toContainText('computing', { timeout });
  return explanations(page);
}

/** The heatmap is drawn, with more than a handful of colours, and the relevance behind it is finite. */
async function expectHeatmap(page: Page, shape: number[]): Promise<void> {
  const colours = await page.getByRole('img', { name: 'Relevance heatmap', exact: true }).evaluate((c: HTMLCanvasElement) => {
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    const seen = new Set<number>();
    for (let i = 0; i < d.length; i += 4) seen.add((d[i]! << 16) | (d[i + 1]! << 8) | d[i + 2]!);
    return seen.size;
  });
  expect(colours).toBeGreaterThan(10);
  const r = await page.evaluate(() => ({
    shape: [...(window.__lrpLens?.lastInputShape ?? [])],
    finite: Array.from(window.__lrpLens?.lastRelevance ?? [NaN]).every(Number.isFinite),
  }));
  expect(r).toEqual({ shape, finite: true });
}

test('with the CSP and isolation headers, ONNX and TF.js models open and are explained, with no violation', async ({ page }) => {
  test.setTimeout(240_000);
  const w = await watch(page);

  // The headers, on the page and on the engine worker's script (a worker's policy is its script's header).
  const workerScripts: { url: string; headers: Record<string, string> }[] = [];
  page.on('response', (r) => {
    if (/\/assets\/engine-worker[^/]*\.js$/.test(new URL(r.url()).pathname)) workerScripts.push({ url: r.url(), headers: r.headers() });
  });
  const response = await page.goto('/?model=tinyvgg&image=chelsea.png');
  const headers = response!.headers();
  expect(headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY_HEADER);
  // 'wasm-unsafe-eval' (WebAssembly compilation, the fast CPU backend) is allowed; 'unsafe-eval' is not.
  expect(headers['content-security-policy']).not.toMatch(/'unsafe-eval'|unsafe-inline/);
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(headers[name.toLowerCase()], name).toBe(value);

  let n = await nextExplanation(page, 0);
  expect(workerScripts.length).toBeGreaterThan(0);
  for (const s of workerScripts) {
    expect(s.headers['content-security-policy'], s.url).toBe(CONTENT_SECURITY_POLICY_HEADER);
    expect(s.headers['cross-origin-embedder-policy'], s.url).toBe('require-corp');
  }

  // Cross-origin isolated, in the page and in the worker: SharedArrayBuffer is there.
  expect(await page.evaluate(() => ({ isolated: crossOriginIsolated, sab: typeof SharedArrayBuffer }))).toEqual({ isolated: true, sab: 'function' });
  expect(w.workers.length).toBeGreaterThan(0);
  expect(await w.workers[0]!.evaluate(() => crossOriginIsolated)).toBe(true);

  // The built-in TF.js model (tinyvgg) explained the photo.
  await expectHeatmap(page, [1, 3, 64, 64]);

  // An ONNX model opened from files: decoded in the worker, under the policy.
  const resnet = resolve(shared, 'models/resnet20-cifar10');
  await page.getByLabel('Open model', { exact: true }).setInputFiles([resolve(resnet, 'resnet20_cifar10.onnx'), resolve(resnet, 'resnet20_cifar10.onnx.data')]);
  n = await nextExplanation(page, n);
  await expect(page.getByRole('combobox', { name: 'Model', exact: true })).toHaveValue(/^user:/);
  await expect(page.getByRole('alert')).toHaveCount(0);
  await expectHeatmap(page, [1, 3, 32, 32]);

  // An ONNX model that keeps its weights inside (no .onnx.data).
  await page.getByLabel('Open model', { exact: true }).setInputFiles(resolve(resnet, 'resnet20_cifar10.legacy.onnx'));
  n = await nextExplanation(page, n);
  await expect(page.getByRole('alert')).toHaveCount(0);
  await expectHeatmap(page, [1, 3, 32, 32]);

  // A TF.js model opened from files.
  const tiny = resolve(shared, 'models/tinyvgg');
  await page.getByLabel('Open model', { exact: true }).setInputFiles([resolve(tiny, 'model.json'), resolve(tiny, 'group1-shard1of1.bin')]);
  await nextExplanation(page, n);
  await expect(page.getByRole('alert')).toHaveCount(0);
  await expectHeatmap(page, [1, 3, 64, 64]);

  // Nothing was blocked, thrown or logged as an error, in the page or in the worker.
  expect(await violations(page, w), 'securitypolicyviolation events').toEqual([]);
  expect(w.problems, 'uncaught errors and console errors').toEqual([]);

  // And the policy does bind the page and the worker: code from strings is refused there (what protobufjs's
  // reflection needed). Tried from a timer: the evaluation Playwright sends itself may make code from strings.
  const tryFunction = () =>
    new Promise<string>((done) =>
      setTimeout(() => {
        try {
          done(String(new Function('return "allowed"')()));
        } catch (e) {
          done((e as Error).name);
        }
      }, 0),
    );
  expect(await page.evaluate(tryFunction)).toBe('EvalError');
  expect(await w.workers[0]!.evaluate(tryFunction)).toBe('EvalError');
  // WebAssembly compiles there ('wasm-unsafe-eval': the fast CPU backend's GEMM); only that, as checked above.
  const tryWasm = () =>
    new Promise<string>((done) =>
      setTimeout(() => {
        try {
          // The smallest module: the magic number and version 1.
          new WebAssembly.Module(new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]));
          done('compiled');
        } catch (e) {
          done((e as Error).name);
        }
      }, 0),
    );
  expect(await page.evaluate(tryWasm)).toBe('compiled');
  expect(await w.workers[0]!.evaluate(tryWasm)).toBe('compiled');
});

test('model weights are served as binary and uncompressed, as static hosts serve them; JSON may be compressed', async ({ request }) => {
  // `vite preview` would gzip a file it has no type for on the fly (TF.js shards have no extension), at a cost of
  // CPU on the cores the page needs (docs/performance.md, "The fast CPU backend in the app").
  for (const path of ['/models/darknet-tiny/group1-shard1of1', '/models/resnet20-cifar10/resnet20_cifar10.onnx.data']) {
    const r = await request.get(path, { headers: { 'Accept-Encoding': 'gzip, br' } });
    expect(r.status(), path).toBe(200);
    expect(r.headers()['content-type'], path).toBe('application/octet-stream');
    expect(r.headers()['content-encoding'], path).toBeUndefined();
  }
  const json = await request.get('/models/darknet-tiny/model.json', { headers: { 'Accept-Encoding': 'gzip' } });
  expect(json.headers()['content-type']).toMatch(/^application\/json/);
});
