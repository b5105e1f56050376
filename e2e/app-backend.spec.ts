// The app's backend choice (dist/app on port 4173), in headless Chromium whose WebGPU is SwiftShader: "auto" picks the
// fast CPU backend (cpu-fast: float32, WebAssembly SIMD GEMM), the status line says why, and its relevance is the
// float64 CPU backend's (chosen in the Backend menu) within float32 rounding; choosing "CPU (fast)" explicitly gives
// auto's relevance bit for bit. window.__lrpLens reports the backend of each explanation.
import { expect, test, type Page } from 'playwright/test';
import { relL2 } from './helpers';

const errors = new WeakMap<Page, string[]>();

test.beforeEach(({ page }) => {
  const list: string[] = [];
  errors.set(page, list);
  page.on('pageerror', (e) => list.push(`uncaught: ${e.message}`));
  // The Content Security Policy must let the WebAssembly compile ('wasm-unsafe-eval') and block nothing the app does.
  page.on('console', (m) => {
    if (m.type() === 'error') list.push(`console: ${m.text()}`);
  });
});

test.afterEach(({ page }) => {
  expect(errors.get(page), 'uncaught errors or console errors').toEqual([]);
});

const status = (page: Page) => page.getByRole('status', { name: 'Status' });
const explanations = (page: Page) => page.evaluate(() => window.__lrpLens?.explanations ?? 0);

async function nextExplanation(page: Page, after: number): Promise<number> {
  await page.waitForFunction((n) => (window.__lrpLens?.explanations ?? 0) > n, after, { timeout: 60_000 });
  await expect(status(page)).not.toContainText('computing', { timeout: 60_000 });
  return explanations(page);
}

async function latest(page: Page): Promise<{ relevance: number[]; target: number; backend: string | null }> {
  return page.evaluate(() => {
    const h = window.__lrpLens!;
    return { relevance: Array.from(h.lastRelevance!), target: h.lastTarget!, backend: h.lastBackend };
  });
}

/** The adapter WebGPU gives this page, as the engine worker sees it (null: none). */
function adapterInfo(page: Page): Promise<string | null> {
  return page.evaluate(async () => {
    const adapter = await navigator.gpu?.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) return null;
    const i = adapter.info;
    return [i.vendor, i.architecture, i.device, i.description].join(' ');
  });
}

test('on SwiftShader, auto runs the fast CPU backend, says why, and matches the float64 backend', async ({ page }) => {
  test.setTimeout(180_000);
  await page.goto('/?model=tinyvgg&image=coffee.png');
  const adapter = await adapterInfo(page);
  // This suite's Chromium has SwiftShader's WebGPU (playwright.config.ts); a hardware adapter would rightly get WebGPU.
  test.skip(adapter !== null && !/swiftshader|llvmpipe|lavapipe/i.test(adapter), `a hardware WebGPU adapter here: ${adapter}`);
  let n = await nextExplanation(page, 0);
  await expect(status(page)).toContainText(/^CPU \(fast, WASM SIMD\): the WebGPU adapter is .*SwiftShader.*, a software renderer/i);
  console.log(`auto: ${await status(page).textContent()}`);
  const backendMenu = page.getByRole('combobox', { name: 'Backend', exact: true });
  await expect(backendMenu).toHaveValue('auto');
  const auto = await latest(page);
  expect(auto.backend).toBe('cpu-fast');
  expect(auto.relevance.every(Number.isFinite)).toBe(true);

  // The float64 reference, chosen in the menu: the same explanation (image, rules, target) within float32 rounding.
  await backendMenu.selectOption({ label: 'CPU (float64)' });
  n = await nextExplanation(page, n);
  await expect(status(page)).toContainText('CPU: chosen in the backend menu');
  const float64 = await latest(page);
  expect(float64.backend).toBe('cpu');
  expect(float64.target).toBe(auto.target);
  const err = relL2(auto.relevance, float64.relevance);
  console.log(`tinyvgg, EpsilonPlusFlat: cpu-fast (auto) vs cpu (float64): relL2 ${err.toExponential(3)}`);
  expect(err).toBeLessThan(1e-4);
  expect(err).toBeGreaterThan(0); // really two backends: float32 rounding differs from float64's

  // Another preset, on the float64 backend, then "CPU (fast)" chosen explicitly: the same comparison.
  await page.getByRole('combobox', { name: 'Preset', exact: true }).selectOption('EpsilonGammaBox');
  n = await nextExplanation(page, n);
  const gamma64 = await latest(page);
  expect(gamma64.backend).toBe('cpu');
  await backendMenu.selectOption({ label: 'CPU (fast)' });
  n = await nextExplanation(page, n);
  await expect(status(page)).toContainText('CPU (fast, WASM SIMD): chosen in the backend menu');
  const gammaFast = await latest(page);
  expect(gammaFast.backend).toBe('cpu-fast');
  expect(gammaFast.target).toBe(gamma64.target);
  const gammaErr = relL2(gammaFast.relevance, gamma64.relevance);
  console.log(`tinyvgg, EpsilonGammaBox: cpu-fast (chosen) vs cpu (float64): relL2 ${gammaErr.toExponential(3)}`);
  expect(gammaErr).toBeLessThan(1e-4);

  // Back to the first preset on the explicitly chosen fast backend: auto's relevance, bit for bit (same backend).
  await page.getByRole('combobox', { name: 'Preset', exact: true }).selectOption('EpsilonPlusFlat');
  await nextExplanation(page, n);
  const again = await latest(page);
  expect(again.backend).toBe('cpu-fast');
  expect(again.relevance).toEqual(auto.relevance);
});

test('?backend=cpu-fast and ?backend=cpu choose the backend from the address', async ({ page }) => {
  await page.goto('/?model=tinyvgg&image=coffee.png&backend=cpu-fast');
  await nextExplanation(page, 0);
  await expect(status(page)).toContainText('CPU (fast, WASM SIMD): chosen in the backend menu');
  await expect(page.getByRole('combobox', { name: 'Backend', exact: true })).toHaveValue('cpu-fast');
  const fast = await latest(page);
  expect(fast.backend).toBe('cpu-fast');

  await page.goto('/?model=tinyvgg&image=coffee.png&backend=cpu');
  await nextExplanation(page, 0);
  await expect(status(page)).toContainText('CPU: chosen in the backend menu');
  const float64 = await latest(page);
  expect(float64.backend).toBe('cpu');
  expect(float64.target).toBe(fast.target);
  expect(relL2(fast.relevance, float64.relevance)).toBeLessThan(1e-4);
});
