// torchvision's CNN families in the app: DenseNet-121, Inception-v3, EfficientNet-B0, MobileNetV3-Small,
// RegNetY-400MF and ConvNeXt (small configurations, tests/fixtures/zoo) open from their files through "Open model"
// and explain their fixture input (given as .npy) with finite relevance, and the top prediction is PyTorch's.
// The CPU backend (?backend=cpu) runs these: WebGPU on SwiftShader compiles a pipeline set per model and would take
// most of the 3-minute budget on a 2-core machine; the engine's backends agree on these graphs (tests/unit).
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test, type Page } from 'playwright/test';

const here = dirname(fileURLToPath(import.meta.url));
const ZOO = resolve(here, '..', 'tests/fixtures/zoo');

interface ZooModel {
  readonly file: string;
  readonly input: string;
  readonly top: number;
  readonly input_shape: readonly number[];
}
const manifest = JSON.parse(readFileSync(resolve(ZOO, 'manifest.json'), 'utf8')) as { models: Record<string, ZooModel> };

const pageErrors = new WeakMap<Page, string[]>();

test.beforeEach(({ page }) => {
  const errors: string[] = [];
  pageErrors.set(page, errors);
  page.on('pageerror', (err) => errors.push(err.message));
});

test.afterEach(({ page }) => {
  expect(pageErrors.get(page), 'uncaught errors in the page').toEqual([]);
});

const explanations = (page: Page) => page.evaluate(() => window.__lrpLens?.explanations ?? 0);
const status = (page: Page) => page.getByRole('status', { name: 'Status' });
const predictions = (page: Page) => page.getByRole('list', { name: 'Predictions', exact: true }).getByRole('listitem');
const alerts = (page: Page) => page.getByRole('alert');

/**
 * Waits for an explanation newer than `after` to be drawn, or for an alert (a failed explanation counts none), and
 * says which came.
 */
async function nextExplanation(page: Page, after: number, timeout = 60_000): Promise<number> {
  await expect
    .poll(async () => ((await explanations(page)) > after ? 'explained' : (await alerts(page).count()) > 0 ? (await alerts(page).allTextContents()).join(' | ') : 'waiting'), {
      timeout,
      intervals: [100, 250, 500],
    })
    .toBe('explained');
  await expect(status(page)).not.toContainText('computing', { timeout });
  return explanations(page);
}

/** Opens the fixture's ONNX file with "Open model" and gives its input tensor with "Upload image"; the first explanation. */
async function openZooModel(page: Page, name: string, m: ZooModel): Promise<number> {
  // A small built-in model and no image to start with, on the CPU backend.
  await page.goto(`/?model=tinyvgg&image=none&backend=${process.env.ZOO_BACKEND ?? 'cpu'}`);
  await expect(page.getByRole('combobox', { name: 'Model', exact: true })).toHaveValue('tinyvgg');
  // backend check
  await page.getByLabel('Open model', { exact: true }).setInputFiles(resolve(ZOO, m.file));
  await expect(page.getByRole('combobox', { name: 'Model', exact: true })).toHaveValue(`user:${m.file}`, { timeout: 60_000 });
  await expect(alerts(page), `${name}: no message after opening`).toHaveCount(0);
  await expect(page.getByText(`input [${m.input_shape.join(', ')}], 10 classes`)).toBeVisible();
  await page.getByLabel('Upload image', { exact: true }).setInputFiles(resolve(ZOO, m.input));
  await expect(page.getByText(`Tensor: ${m.input}`)).toBeVisible();
  return nextExplanation(page, 0);
}

/** The explanation shown: the top class is `top`, the heatmap is drawn, nothing is reported. */
async function expectExplained(page: Page, name: string, top: number): Promise<void> {
  await expect(predictions(page)).toHaveCount(5);
  await expect(predictions(page).first().locator('.class-name'), `${name}: PyTorch's top class`).toHaveText(`class ${top}`);
  await expect(predictions(page).first().getByRole('radio')).toBeChecked();
  await expect(page.getByText(/not finite/)).toHaveCount(0);
  await expect(alerts(page)).toHaveCount(0);
  // The heatmap: drawn (a colour bar beside it), with more than a handful of colours.
  const heat = page.getByRole('img', { name: 'Relevance heatmap', exact: true });
  await expect(heat).toBeVisible();
  const colours = await heat.evaluate((c: HTMLCanvasElement) => {
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    const seen = new Set<number>();
    for (let i = 0; i < d.length; i += 4) seen.add((d[i]! << 24) | (d[i + 1]! << 16) | (d[i + 2]! << 8) | d[i + 3]!);
    return seen.size;
  });
  expect(colours, `${name}: heatmap colours`).toBeGreaterThan(10);
  const drawn = await page.evaluate(() => {
    const h = window.__lrpLens!;
    return { heatmap: !!h.lastHeatmap, finite: Array.from(h.lastRelevance ?? []).every(Number.isFinite), target: h.lastTarget };
  });
  expect(drawn, `${name}: relevance drawn and finite`).toEqual({ heatmap: true, finite: true, target: top });
}

for (const [name, m] of Object.entries(manifest.models)) {
  test(`torchvision ${name} opens and explains its top class with finite relevance (CPU backend)`, async ({ page }) => {
    test.setTimeout(90_000);
    const t0 = Date.now();
    await openZooModel(page, name, m);
    console.log(`${name}: opened and explained in ${Date.now() - t0} ms; ${await status(page).textContent()}`);
    await expectExplained(page, name, m.top);
  });
}
