// Share links in the app (dist/app on port 4173): a link reopens the model, image, target, rules and view in a fresh
// browser context with the same heatmap pixels and controls; a user's model is asked for and its SHA-256 checked;
// hostile links end in a clear message and a working page; the CLI reproduces a browser link's relevance. Small
// models only (tinyvgg 64x64, resnet20 32x32), on the app's automatic backend (here, SwiftShader's machine, the fast
// CPU backend, cpu-fast), and the CLI's reproduction also on the float64 CPU backend chosen with ?backend=cpu.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'fflate';
import { PNG } from 'pngjs';
import { expect, test, type Browser, type BrowserContext, type Page } from 'playwright/test';
import { parseNpy, toFloat32 } from '../src/engine/io/npy';
import { decodeShareState, encodeShareState } from '../src/share/share-codec';
import type { ShareState } from '../src/share/share-state';
import { relL2 } from './helpers';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const COFFEE = resolve(root, '../shared/samples/coffee.png');
const RESNET = resolve(root, 'public/models/resnet20-cifar10');
const RESNET_FILES = [resolve(RESNET, 'resnet20_cifar10.onnx'), resolve(RESNET, 'resnet20_cifar10.onnx.data')];

// ---------------------------------------------------------------------------------------------------------------
// Every page, in every context: no request leaves the origin, no uncaught error, no console error, no dialog.

interface Guard {
  readonly outside: string[];
  readonly errors: string[];
  readonly dialogs: string[];
}

const guards: Guard[] = [];

async function guard(context: BrowserContext, page: Page, origin: string): Promise<void> {
  const g: Guard = { outside: [], errors: [], dialogs: [] };
  guards.push(g);
  page.on('pageerror', (e) => g.errors.push(`uncaught: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') g.errors.push(`console: ${m.text()}`);
  });
  page.on('dialog', (d) => {
    g.dialogs.push(`${d.type()}: ${d.message()}`);
    void d.dismiss();
  });
  context.on('request', (r) => {
    const url = r.url();
    if (!url.startsWith(`${origin}/`) && !/^(blob|data):/.test(url)) g.outside.push(url);
  });
  await context.route(/.*/, (route) => {
    const url = route.request().url();
    if (url.startsWith(`${origin}/`)) return route.continue();
    g.outside.push(url);
    return route.abort('blockedbyclient');
  });
}

test.beforeEach(async ({ page, baseURL }) => {
  guards.length = 0;
  await guard(page.context(), page, new URL(baseURL!).origin);
});

test.afterEach(() => {
  for (const g of guards) {
    expect(g.outside, 'requests to another origin').toEqual([]);
    expect(g.errors, 'uncaught errors or console errors').toEqual([]);
    expect(g.dialogs, 'dialogs').toEqual([]);
  }
});

/** A page in a fresh browser context (nothing shared with the sender's), guarded like the others. */
async function freshPage(browser: Browser, baseURL: string): Promise<{ page: Page; close: () => Promise<void> }> {
  const context = await browser.newContext({ baseURL });
  const page = await context.newPage();
  await guard(context, page, new URL(baseURL).origin);
  return { page, close: () => context.close() };
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers

const explanations = (page: Page) => page.evaluate(() => window.__lrpLens?.explanations ?? 0);

async function nextExplanation(page: Page, after: number, timeout = 60_000): Promise<number> {
  await page.waitForFunction((n) => (window.__lrpLens?.explanations ?? 0) > n, after, { timeout });
  await expect(page.getByRole('status', { name: 'Status' })).not.toContainText('computing', { timeout });
  return explanations(page);
}

/** Waits until no explanation has arrived for a moment (a slider or a burst of changes has settled). */
async function settled(page: Page): Promise<number> {
  await expect(page.getByRole('status', { name: 'Status' })).not.toContainText('computing', { timeout: 60_000 });
  let n = await explanations(page);
  for (;;) {
    await page.waitForTimeout(400);
    await expect(page.getByRole('status', { name: 'Status' })).not.toContainText('computing', { timeout: 60_000 });
    const m = await explanations(page);
    if (m === n) return n;
    n = m;
  }
}

function heatmapPixels(page: Page): Promise<{ width: number; height: number; data: number[] }> {
  return page.getByRole('img', { name: 'Relevance heatmap', exact: true }).evaluate((c: HTMLCanvasElement) => {
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    return { width: c.width, height: c.height, data: Array.from(d) };
  });
}

async function lastRelevance(page: Page): Promise<{ data: number[]; shape: number[]; target: number }> {
  return page.evaluate(() => {
    const h = window.__lrpLens!;
    return { data: Array.from(h.lastRelevance!), shape: [...h.lastInputShape!], target: h.lastTarget! };
  });
}

/** Every control on the page (selects, inputs but files), by its label, with its value; and the heatmap's opacity. */
function controls(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const label = (e: HTMLInputElement | HTMLSelectElement) => (e.getAttribute('aria-label') ?? e.labels?.[0]?.textContent ?? '').trim();
    const values = [...document.querySelectorAll<HTMLInputElement | HTMLSelectElement>('main select, main input')]
      .filter((e) => !(e instanceof HTMLInputElement && e.type === 'file'))
      .map((e) => {
        const v = e instanceof HTMLInputElement && (e.type === 'checkbox' || e.type === 'radio') ? String(e.checked) : e.value;
        return `${label(e)} = ${v}${e.disabled ? ' (disabled)' : ''}`;
      });
    const heat = document.querySelector<HTMLCanvasElement>('canvas[aria-label="Relevance heatmap"]');
    return [...values, `heatmap opacity = ${heat?.style.opacity}`];
  });
}

interface Shown {
  readonly pixels: Awaited<ReturnType<typeof heatmapPixels>>;
  readonly relevance: Awaited<ReturnType<typeof lastRelevance>>;
  readonly controls: string[];
}

async function shown(page: Page): Promise<Shown> {
  return { pixels: await heatmapPixels(page), relevance: await lastRelevance(page), controls: await controls(page) };
}

function expectSame(got: Shown, sent: Shown): void {
  expect(got.controls).toEqual(sent.controls);
  expect(got.relevance.shape).toEqual(sent.relevance.shape);
  expect(got.relevance.target).toBe(sent.relevance.target);
  expect(got.relevance.data).toEqual(sent.relevance.data);
  expect([got.pixels.width, got.pixels.height]).toEqual([sent.pixels.width, sent.pixels.height]);
  expect(got.pixels.data).toEqual(sent.pixels.data); // pixel-identical
}

/** Clicks "Copy share link" and returns the link (the address, which the button writes) once it is confirmed. */
async function copyLink(page: Page, confirmation: RegExp = /Link copied|selected in the field/): Promise<string> {
  await page.getByRole('button', { name: 'Copy share link', exact: true }).click();
  await expect(page.getByRole('status').filter({ hasText: confirmation })).toContainText(/\d[\d,]* characters \(\d+\.\d kB\)/);
  const link = page.url();
  expect(link).toMatch(/#s[12]\.[A-Za-z0-9_-]+$/);
  return link;
}

const ruleFor = (page: Page, layer: string) => page.getByRole('combobox', { name: `Rule for ${layer}`, exact: true });

/** Runs the real command line. */
function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'lrp-lens.mjs'), ...args], { cwd: root, encoding: 'utf8', timeout: 170_000 });
  const stderr = r.stderr
    .split('\n')
    .filter((l) => l && !/building the CLI/.test(l))
    .join('\n');
  return { status: r.status, stdout: r.stdout, stderr };
}

// ---------------------------------------------------------------------------------------------------------------

test('a link reopens model, uploaded photo, target, three rules and view exactly; the CLI reproduces it', async ({ page, browser, baseURL }) => {
  test.setTimeout(240_000);
  await page.goto('/?model=tinyvgg&image=none');
  await expect(page.getByRole('combobox', { name: 'Model', exact: true })).toHaveValue('tinyvgg');
  await page.getByLabel('Upload image', { exact: true }).setInputFiles(COFFEE);
  let n = await nextExplanation(page, 0);
  // Captum's default preset, named (the page starts with EpsilonPlusFlat): the CLI must read it from the link.
  await page.getByRole('combobox', { name: 'Preset', exact: true }).selectOption('captum-default');
  n = await nextExplanation(page, n);
  const historyLength = await page.evaluate(() => history.length);

  await page.getByRole('combobox', { name: 'Explain', exact: true }).selectOption('8'); // orange, not the top class
  n = await nextExplanation(page, n);
  await ruleFor(page, 'conv_1_1').selectOption('flat');
  n = await nextExplanation(page, n);
  await ruleFor(page, 'conv_1_2').selectOption('gamma');
  n = await nextExplanation(page, n);
  await page.getByRole('textbox', { name: 'gamma for conv_1_2 (value)', exact: true }).fill('0.75');
  await page.getByRole('textbox', { name: 'gamma for conv_1_2 (value)', exact: true }).press('Enter');
  n = await nextExplanation(page, n);
  await ruleFor(page, 'conv_2_1').selectOption('zplus');
  await nextExplanation(page, n);
  await page.getByRole('combobox', { name: 'Colormap', exact: true }).selectOption('seismic');
  await page.getByRole('slider', { name: 'Opacity', exact: true }).fill('0.45');
  await page.getByRole('checkbox', { name: 'Clip at percentile' }).check();
  await page.getByRole('textbox', { name: 'Clip percentile' }).fill('98');
  await page.getByRole('button', { name: 'Inspect conv_2_1', exact: true }).click();
  await settled(page);

  // The address bar follows the state, replacing its entry: no history entry per change.
  await expect.poll(() => page.evaluate(() => location.hash)).toMatch(/^#s1\./);
  expect(await page.evaluate(() => history.length)).toBe(historyLength);

  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(baseURL!).origin });
  const link = await copyLink(page, /Link copied/);
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(link);
  const state = decodeShareState(link);
  expect(state.model).toEqual({ kind: 'builtin', id: 'tinyvgg' });
  expect(state.image).toMatchObject({ kind: 'pixels', width: 64, height: 64 });
  expect(Object.keys(state.overrides).sort()).toEqual(['conv_1_1', 'conv_1_2', 'conv_2_1']);
  console.log(`share link for an uploaded photo (coffee.png, as tinyvgg sees it: 64x64): ${link.length} characters`);
  const sent = await shown(page);

  // A fresh browser context: nothing in common with the sender's but the link.
  const fresh = await freshPage(browser, baseURL!);
  try {
    await fresh.page.goto(link);
    await nextExplanation(fresh.page, 0);
    await settled(fresh.page);
    expectSame(await shown(fresh.page), sent);
    await expect(fresh.page.getByRole('alert')).toHaveCount(0);
  } finally {
    await fresh.close();
  }

  // The command line reproduces the browser's relevance bit for bit on the same backend, and draws the same heatmap:
  // the sender's (the automatic choice, here cpu-fast), then the float64 CPU backend, chosen in a page of its own.
  const senderBackend = await page.evaluate(() => window.__lrpLens!.lastBackend);
  expect(['cpu-fast', 'cpu']).toContain(senderBackend); // this machine's WebGPU is SwiftShader (e2e/app-backend.spec.ts)
  const dir = mkdtempSync(join(tmpdir(), 'lrp-share-'));
  const reproduce = (backend: string, got: Shown) => {
    const r = cli(['explain', '--link', link, '--relevance-out', join(dir, `r-${backend}.npy`), '--out', join(dir, `h-${backend}.png`), '--backend', backend, '--json']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ explained: { class: 8 }, composite: 'captum-default', backend });
    const relevance = toFloat32(parseNpy(readFileSync(join(dir, `r-${backend}.npy`))));
    const err = relL2(relevance, got.relevance.data);
    console.log(`CLI vs browser (${backend}): relL2 ${err.toExponential(3)}`);
    expect(Array.from(relevance)).toEqual(got.relevance.data); // bit-identical
    const png = PNG.sync.read(readFileSync(join(dir, `h-${backend}.png`)));
    expect([png.width, png.height]).toEqual([got.pixels.width, got.pixels.height]);
    expect(Array.from(png.data)).toEqual(got.pixels.data);
    return relevance;
  };
  const fastOrSender = reproduce(senderBackend!, sent);

  const float64 = await freshPage(browser, baseURL!);
  try {
    const url = new URL(link);
    url.searchParams.set('backend', 'cpu');
    await float64.page.goto(url.href);
    await nextExplanation(float64.page, 0);
    await settled(float64.page);
    expect(await float64.page.evaluate(() => window.__lrpLens!.lastBackend)).toBe('cpu');
    const got = await shown(float64.page);
    expect(got.relevance.target).toBe(sent.relevance.target);
    const relevance = reproduce('cpu', got);
    // The two backends agree within float32 rounding.
    expect(relL2(fastOrSender, Array.from(relevance))).toBeLessThan(1e-4);
  } finally {
    await float64.close();
  }
});

test('a contrast target and a preset travel too; refused clipboard access shows the link to copy', async ({ page, browser, baseURL }) => {
  test.setTimeout(180_000);
  await page.addInitScript(() => {
    Object.defineProperty(navigator, 'clipboard', { value: { writeText: () => Promise.reject(new DOMException('Write permission denied.', 'NotAllowedError')) } });
  });
  let n = await (async () => {
    await page.goto('/?model=resnet20-cifar10&image=chelsea.png');
    return nextExplanation(page, 0);
  })();
  await page.getByRole('combobox', { name: 'Preset', exact: true }).selectOption('EpsilonGammaBox');
  n = await nextExplanation(page, n);
  await page.getByRole('combobox', { name: 'Against', exact: true }).selectOption('5'); // dog
  await nextExplanation(page, n);
  await expect(page.getByText('relevance of “cat” minus relevance of “dog”')).toBeVisible();
  await page.getByRole('combobox', { name: 'Colormap', exact: true }).selectOption('coldnhot');
  await settled(page);

  const link = await copyLink(page, /selected in the field/);
  const field = page.getByRole('textbox', { name: 'Share link', exact: true });
  await expect(field).toHaveValue(link);
  await expect(field).toBeFocused();
  expect(await field.evaluate((e: HTMLInputElement) => [e.selectionStart, e.selectionEnd])).toEqual([0, link.length]);
  const state = decodeShareState(link);
  expect(state).toMatchObject({ image: { kind: 'sample', id: 'chelsea.png' }, contrast: 5, preset: 'EpsilonGammaBox' });
  console.log(`share link for a sample photo (resnet20, contrast): ${link.length} characters`);
  const sent = await shown(page);

  const fresh = await freshPage(browser, baseURL!);
  try {
    await fresh.page.goto(link);
    await nextExplanation(fresh.page, 0);
    await settled(fresh.page);
    await expect(fresh.page.getByText('relevance of “cat” minus relevance of “dog”')).toBeVisible();
    expectSame(await shown(fresh.page), sent);
  } finally {
    await fresh.close();
  }
});

test('a link made with a user’s ONNX model asks for its files: the same files are accepted, others warned about', async ({ page, browser, baseURL }) => {
  test.setTimeout(240_000);
  let n = await (async () => {
    await page.goto('/?model=tinyvgg&image=chelsea.png');
    return nextExplanation(page, 0);
  })();
  await page.getByLabel('Open model', { exact: true }).setInputFiles(RESNET_FILES);
  n = await nextExplanation(page, n);
  await expect(page.getByRole('combobox', { name: 'Model', exact: true })).toHaveValue(/^user:/);
  await ruleFor(page, 'blocks.0.conv1').selectOption('gamma');
  n = await nextExplanation(page, n);
  await page.getByRole('combobox', { name: 'Explain', exact: true }).selectOption('5');
  await nextExplanation(page, n);
  await settled(page);
  const link = await copyLink(page);
  // The hash: the main file's bytes, then its side files' in name order.
  const hash = createHash('sha256');
  for (const f of RESNET_FILES) hash.update(readFileSync(f));
  expect(decodeShareState(link).model).toEqual({ kind: 'user', name: 'resnet20_cifar10.onnx', sha256: hash.digest('hex') });
  const sent = await shown(page);

  // The same files: accepted, and the same heatmap.
  const same = await freshPage(browser, baseURL!);
  try {
    await same.page.goto(link);
    const prompt = same.page.getByRole('group', { name: /made with a model of its sender/ });
    await expect(prompt).toContainText('resnet20_cifar10.onnx');
    await same.page.getByLabel(/Open the link's model/).setInputFiles(RESNET_FILES);
    await nextExplanation(same.page, 0);
    await settled(same.page);
    await expect(same.page.getByRole('status').filter({ hasText: 'The model files match the link' })).toBeVisible();
    await expect(same.page.getByText('this is not the file the link was made with')).toHaveCount(0);
    await expect(prompt).toHaveCount(0);
    expectSame(await shown(same.page), sent);
  } finally {
    await same.close();
  }

  // Other weights (one bit changed): the model opens, with a visible warning.
  const other = await freshPage(browser, baseURL!);
  try {
    await other.page.goto(link);
    const data = Buffer.from(readFileSync(RESNET_FILES[1]!));
    data[1000]! ^= 1;
    await other.page.getByLabel(/Open the link's model/).setInputFiles([
      { name: 'resnet20_cifar10.onnx', mimeType: 'application/octet-stream', buffer: readFileSync(RESNET_FILES[0]!) },
      { name: 'resnet20_cifar10.onnx.data', mimeType: 'application/octet-stream', buffer: data },
    ]);
    await nextExplanation(other.page, 0);
    await expect(other.page.getByRole('alert').filter({ hasText: 'this is not the file the link was made with' })).toBeVisible();
    await expect(other.page.getByRole('combobox', { name: 'Rule for blocks.0.conv1', exact: true })).toHaveValue('gamma');
  } finally {
    await other.close();
  }
});

test('BatchNorm kept as layers of their own travels with a user’s model (one ONNX file)', async ({ page, browser, baseURL }) => {
  test.setTimeout(180_000);
  const BNCNN = resolve(root, '../shared/goldens/bncnn.bn.onnx');
  let n = await (async () => {
    await page.goto('/?model=tinyvgg&image=coffee.png');
    return nextExplanation(page, 0);
  })();
  await page.getByLabel('Open model', { exact: true }).setInputFiles(BNCNN);
  n = await nextExplanation(page, n);
  await page.getByRole('checkbox', { name: /Merge BatchNorm/ }).uncheck();
  n = await nextExplanation(page, n);
  // Another preset than the page's EpsilonPlusFlat: Captum's, which keeps BatchNorm layers as this link does.
  await page.getByRole('combobox', { name: 'Preset', exact: true }).selectOption('captum-default');
  await nextExplanation(page, n);
  await settled(page);
  const link = await copyLink(page);
  expect(decodeShareState(link)).toMatchObject({ model: { kind: 'user', name: 'bncnn.bn.onnx' }, image: { kind: 'sample', id: 'coffee.png' }, mergeBatchNorm: false });
  const sent = await shown(page);

  const fresh = await freshPage(browser, baseURL!);
  try {
    await fresh.page.goto(link);
    await fresh.page.getByLabel(/Open the link's model/).setInputFiles(BNCNN);
    await nextExplanation(fresh.page, 0);
    await settled(fresh.page);
    await expect(fresh.page.getByRole('status').filter({ hasText: 'The model files match the link' })).toBeVisible();
    await expect(fresh.page.getByRole('checkbox', { name: /Merge BatchNorm/ })).not.toBeChecked();
    expectSame(await shown(fresh.page), sent);
  } finally {
    await fresh.close();
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Hostile links

const base: ShareState = {
  version: 1,
  model: { kind: 'builtin', id: 'tinyvgg' },
  image: { kind: 'sample', id: 'coffee.png' },
  target: null,
  contrast: null,
  preset: 'captum-default',
  presetParams: {},
  overrides: {},
  mergeBatchNorm: true,
  view: { colormap: 'bwr', opacity: 0.7, clip: false, clipPercentile: 99.5, inspect: null },
};

const base64url = (b: Uint8Array) => Buffer.from(b).toString('base64url');

/** A link whose settings are this JSON text (any text: the encoder would refuse it), plus pixel bytes. */
function craft(json: string, pixels = new Uint8Array(0)): string {
  const text = new TextEncoder().encode(json);
  const payload = new Uint8Array(4 + text.length + pixels.length);
  new DataView(payload.buffer).setUint32(0, text.length, true);
  payload.set(text, 4);
  payload.set(pixels, 4 + text.length);
  return `s1.${base64url(deflateSync(payload))}`;
}

const with_ = (patch: Record<string, unknown>) => craft(JSON.stringify({ ...base, ...patch }));

/** What the compare view shows: its controls, captions, AOPC values, chart and the three maps' pixels. */
async function compareView(page: Page) {
  const panel = page.getByRole('region', { name: 'Evaluate and compare' });
  const canvas = (id: string) => page.getByTestId(id).evaluate((c: HTMLCanvasElement) => Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data));
  return {
    tab: await panel.getByRole('tab', { selected: true }).textContent(),
    settings: await Promise.all(['Compare with', 'Patch', 'Baseline', 'Steps'].map((l) => panel.getByLabel(l).inputValue())),
    captions: await panel.locator('.map-row figcaption').allTextContents(),
    aopc: await panel.getByTestId('compare-aopc').locator('dt, dd').allTextContents(),
    chart: await panel.getByTestId('line-chart').locator('path.series').evaluateAll((ps) => ps.map((p) => p.getAttribute('d'))),
    maps: await Promise.all(['compare-a', 'compare-b', 'compare-diff'].map(canvas)),
  };
}

test('a link carries the compare view: B (a preset or a snapshot), the settings, and it reruns to the same maps and curves', async ({ page, browser, baseURL }) => {
  test.setTimeout(300_000);
  await page.goto('/?model=tinyvgg&image=coffee.png');
  const n = await nextExplanation(page, 0);
  // A: Captum's default preset, named (the page starts with EpsilonPlusFlat); the snapshot below keeps it.
  await page.getByRole('combobox', { name: 'Preset', exact: true }).selectOption('captum-default');
  await nextExplanation(page, n);
  const panel = page.getByRole('region', { name: 'Evaluate and compare' });
  await panel.getByRole('tab', { name: 'Compare' }).click();
  await panel.getByLabel('Patch').selectOption('16');
  await panel.getByLabel('Steps').selectOption('4');
  await panel.getByLabel('Baseline').selectOption('mean');
  await panel.getByLabel('Compare with').selectOption('EpsilonGammaBox');
  await panel.getByRole('button', { name: 'Compare', exact: true }).click();
  await expect(page.getByTestId('compare-diff')).toBeVisible({ timeout: 60_000 });
  const sent = await compareView(page);
  expect(sent.settings).toEqual(['EpsilonGammaBox', '16', 'mean', '4']);
  const link = await copyLink(page);
  expect(decodeShareState(link).compare).toEqual({ preset: 'EpsilonGammaBox', overrides: {}, label: null, settings: { patch: 16, baseline: 'mean', steps: 4 } });

  /** Opens a link in a fresh context: the receiver's Compare tab opens and the comparison runs by itself. */
  const received = async (url: string) => {
    const receiver = await freshPage(browser, baseURL!);
    await receiver.page.goto(url);
    await expect(receiver.page.getByTestId('compare-diff')).toBeVisible({ timeout: 90_000 });
    const view = await compareView(receiver.page);
    await receiver.close();
    return view;
  };
  expect(await received(link)).toEqual(sent);

  // A snapshot as B, then another preset for A: the link names both, and the receiver's menu offers the snapshot.
  await panel.getByRole('button', { name: 'Snapshot current rules as B' }).click();
  await page.getByRole('combobox', { name: 'Preset' }).selectOption('EpsilonPlusFlat');
  await ruleFor(page, 'conv_1_1').selectOption('flat');
  await panel.getByRole('button', { name: 'Compare', exact: true }).click();
  await expect(panel.locator('.map-row figcaption').nth(0)).toHaveText('A: EpsilonPlusFlat + 1 layer rule', { timeout: 60_000 });
  await expect(panel.getByText(/Out of date/)).toHaveCount(0, { timeout: 60_000 });
  const sent2 = await compareView(page);
  expect(sent2.captions.slice(0, 2)).toEqual(['A: EpsilonPlusFlat + 1 layer rule', 'B: snapshot: captum-default']);
  const link2 = await copyLink(page);
  expect(decodeShareState(link2).compare).toMatchObject({ preset: 'captum-default', label: 'snapshot: captum-default' });
  expect(await received(link2)).toEqual(sent2);

  // Settings the menus do not list (any a link may hold) are shown as they are, and used.
  const odd = encodeShareState({ ...decodeShareState(link), compare: { preset: 'EpsilonGammaBox', overrides: {}, label: null, settings: { patch: 12, baseline: 'noise', steps: 5 } } });
  expect((await received(`${baseURL!}/#${odd}`)).settings).toEqual(['EpsilonGammaBox', '12', 'noise', '5']);

  // Another tab: the link no longer carries the comparison.
  await panel.getByRole('tab', { name: 'Evaluate' }).click();
  await expect.poll(() => decodeShareState(page.url()).compare, { timeout: 10_000 }).toBeUndefined();
});

test('hostile links give a clear message and a page that keeps working', async ({ page }) => {
  test.setTimeout(180_000);
  const valid = encodeShareState(base);
  // Opened on load: the message, and the app with its defaults (here ?model=tinyvgg&image=coffee.png).
  const onLoad: [string, string, RegExp][] = [
    ['truncated', valid.slice(0, Math.floor(valid.length / 2)), /cannot be opened: The link is (truncated|damaged)/],
    ['from a future version', `s5.${valid.slice(3)}`, /newer LRP Lens \(link version 5/],
    ['a script as the model id', with_({ model: { kind: 'builtin', id: '<img src=x onerror=alert(1)>' } }), /model “<img src=x onerror=alert\(1\)>” is not one of/],
  ];
  for (const [what, fragment, expected] of onLoad) {
    await page.goto('about:blank');
    await page.goto(`/?model=tinyvgg&image=coffee.png#${fragment}`);
    await expect(page.getByRole('alert').filter({ hasText: expected }), what).toBeVisible();
    await nextExplanation(page, 0);
    await expect(page.getByRole('combobox', { name: 'Model', exact: true })).toHaveValue('tinyvgg');
  }

  // Pasted into the address bar of a working page (hashchange): the message, and the state as it was.
  const pasted: [string, string, RegExp][] = [
    ['corrupted', `${valid.slice(0, 20)}*%$${valid.slice(23)}`, /damaged: it has characters a share link never contains/],
    ['not a share link at all', 's1', /not an LRP Lens share link/],
    ['a future version inside', with_({ version: 7 }), /made by a newer LRP Lens \(link version 7/],
    ['huge image sizes', with_({ image: { kind: 'pixels', width: 100_000, height: 100_000 } }), /image width must be a whole number from 1 to 1024/],
    ['a decompression bomb', `s1.${base64url(deflateSync(new Uint8Array(20_000_000)))}`, /expands beyond 4000000 bytes/],
    ['a wrong type', with_({ target: '3' }), /target must be a whole number/],
    ['not an object', craft('[1, 2, 3]'), /state is not an object/],
    ['unreadable settings', craft('{"version": 1, "model": '), /settings are not readable/],
    ['javascript: as the colormap', with_({ view: { ...base.view, colormap: 'javascript:alert(1)' } }), /colormap must be one of bwr, seismic, coldnhot, magnitude/],
    ['a script as a rule', with_({ overrides: { conv_1_1: { rule: '<script>alert(1)</script>', params: {} } } }), /"<script>alert\(1\)<\/script>" is not a known rule/],
    ['an overlong preset', with_({ preset: 'x'.repeat(5000) }), /preset must have 1 to 256 characters/],
    ['an infinite opacity', craft(JSON.stringify({ ...base, view: { ...base.view, opacity: 1 } }).replace('"opacity":1', '"opacity":1e999')), /opacity must be a number from 0 to 1/],
  ];
  let n = await explanations(page);
  const before = await lastRelevance(page);
  for (const [what, fragment, expected] of pasted) {
    await page.evaluate((h) => (window.location.hash = h), fragment);
    await expect(page.getByRole('alert').filter({ hasText: expected }), what).toBeVisible();
  }
  await page.waitForTimeout(500);
  expect(await explanations(page)).toBe(n);
  expect((await lastRelevance(page)).data).toEqual(before.data);

  // Valid links with hostile contents: applied, and what does not fit is named, as text.
  const layer = '<img src=x onerror=alert(1)>';
  await page.evaluate((h) => (window.location.hash = h), encodeShareState({ ...base, overrides: { [layer]: { rule: 'flat', params: {} }, conv_1_1: { rule: 'flat', params: {} } } }));
  await expect(page.getByRole('alert').filter({ hasText: `this model does not have, which were left out: “${layer}”` })).toBeVisible();
  await nextExplanation(page, n);
  await expect(ruleFor(page, 'conv_1_1')).toHaveValue('flat');
  await page.evaluate((h) => (window.location.hash = h), craft(JSON.stringify(base).replace('"overrides":{}', '"overrides":{"__proto__":{"rule":"flat","params":{"polluted":1}}}')));
  await expect(page.getByRole('alert').filter({ hasText: 'left out: “__proto__”' })).toBeVisible();
  await page.evaluate((h) => (window.location.hash = h), encodeShareState({ ...base, image: { kind: 'sample', id: '../../../etc/passwd' } }));
  await expect(page.getByRole('alert').filter({ hasText: 'sample photo “../../../etc/passwd” is not one this LRP Lens has' })).toBeVisible();
  expect(await page.locator('img[src="x"], script:not([src])').count()).toBe(0);
  expect(await page.evaluate(() => [({} as Record<string, unknown>).polluted, ({} as Record<string, unknown>).rule])).toEqual([undefined, undefined]);

  // Still working: a rule changed gives a new explanation.
  n = await settled(page);
  await ruleFor(page, 'conv_1_2').selectOption('zplus');
  await nextExplanation(page, n);
  await expect(page.getByRole('heading', { name: 'LRP Lens' })).toBeVisible();
});

test('a link pasted just as the address bar follows a change is still opened', async ({ page }) => {
  await page.goto('/?model=tinyvgg&image=coffee.png');
  const n = await settled(page);
  await expect.poll(() => page.url(), { timeout: 10_000 }).toMatch(/#s1\./);
  // The paste, then the app's own address write (history.replaceState) before the hashchange event is handled: the
  // event's address is the pasted link, window.location already the state before it.
  const overrides = { conv_1_2: { rule: 'gamma', params: { gamma: 0.75 } } };
  const link = encodeShareState({ ...base, overrides }); // Captum's default preset: not the page's EpsilonPlusFlat
  await page.evaluate((h) => {
    const before = window.location.href;
    window.location.hash = h;
    window.history.replaceState(window.history.state, '', before);
  }, link);
  await expect(page.getByRole('combobox', { name: 'Preset', exact: true })).toHaveValue('captum-default');
  await expect(ruleFor(page, 'conv_1_2')).toHaveValue('gamma');
  await nextExplanation(page, n);
  await expect.poll(() => decodeShareState(page.url()).overrides, { timeout: 10_000 }).toEqual(overrides);
});
