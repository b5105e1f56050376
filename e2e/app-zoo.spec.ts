// torchvision's CNN families in the app: DenseNet-121, Inception-v3, EfficientNet-B0, MobileNetV3-Small,
// RegNetY-400MF, ConvNeXt and the VisionTransformer (opsets 13 and 17) (small configurations with seeded random
// weights, tests/fixtures/zoo) open from their ONNX file through "Open model" as a user opens them, explain their
// fixture input (given as the .npy tensor the PyTorch logits were computed on) with finite relevance, and the top
// prediction is PyTorch's top class; the ViTs also with the CP-LRP preset cp-epsilon. Each model runs on both
// backends, chosen with ?backend=: the float64 CPU backend and WebGPU, which here is SwiftShader ("auto" picks the fast CPU backend here).
// ConvNeXt's layer table then shows its new layer kinds (transpose, LayerNorm, Linear on NHWC, GELU, layer scale)
// with a rule each.
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
  readonly architecture: string;
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
const ruleFor = (page: Page, layer: string) => page.getByRole('combobox', { name: `Rule for ${layer}`, exact: true });
/** The layer table's row of a layer: the row with its rule menu. */
const rowOf = (page: Page, layer: string) => page.getByRole('row').filter({ has: ruleFor(page, layer) });

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

type Backend = 'cpu' | 'webgpu';

/** Opens the fixture's ONNX file with "Open model" and gives its input tensor with "Upload image"; the first explanation. */
async function openZooModel(page: Page, name: string, m: ZooModel, backend: Backend): Promise<number> {
  // A small built-in model and no image to start with.
  await page.goto(`/?model=tinyvgg&image=none&backend=${backend}`);
  await expect(page.getByRole('combobox', { name: 'Model', exact: true })).toHaveValue('tinyvgg');
  await expect(status(page)).toContainText(backend === 'cpu' ? 'CPU' : 'WebGPU');
  await page.getByLabel('Open model', { exact: true }).setInputFiles(resolve(ZOO, m.file));
  await expect(page.getByRole('combobox', { name: 'Model', exact: true }), `${name}: opened`).toHaveValue(`user:${m.file}`, { timeout: 60_000 });
  await expect(alerts(page), `${name}: no message after opening`).toHaveCount(0);
  await expect(page.getByText(`input [${m.input_shape.join(', ')}], 10 classes`)).toBeVisible();
  await page.getByLabel('Upload image', { exact: true }).setInputFiles(resolve(ZOO, m.input));
  await expect(page.getByText(`Tensor: ${m.input}`)).toBeVisible();
  return nextExplanation(page, 0);
}

/** The explanation shown: the top class is `top` and is the one explained, the heatmap is drawn, nothing is reported. */
async function expectExplained(page: Page, name: string, top: number): Promise<void> {
  await expect(predictions(page)).toHaveCount(5);
  await expect(predictions(page).first().locator('.class-name'), `${name}: PyTorch's top class`).toHaveText(`class ${top}`);
  await expect(predictions(page).first().getByRole('radio')).toBeChecked();
  await expect(page.getByText(/not finite/)).toHaveCount(0);
  await expect(alerts(page)).toHaveCount(0);
  // The heatmap: drawn, with more than a handful of colours.
  const heat = page.getByRole('img', { name: 'Relevance heatmap', exact: true });
  await expect(heat).toBeVisible();
  const colours = await heat.evaluate((c: HTMLCanvasElement) => {
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    const seen = new Set<number>();
    for (let i = 0; i < d.length; i += 4) seen.add((d[i]! << 24) | (d[i + 1]! << 16) | (d[i + 2]! << 8) | d[i + 3]!);
    return seen.size;
  });
  expect(colours, `${name}: heatmap colours`).toBeGreaterThan(10);
  await expect(page.getByRole('button', { name: 'Download relevance (.npy)' })).toBeEnabled();
  // What the page drew (window.__lrpLens, read-only for tests): every relevance value finite, the class explained.
  const drawn = await page.evaluate(() => {
    const h = window.__lrpLens!;
    return { heatmap: !!h.lastHeatmap, finite: Array.from(h.lastRelevance ?? [NaN]).every(Number.isFinite), target: h.lastTarget };
  });
  expect(drawn, `${name}: relevance drawn and finite`).toEqual({ heatmap: true, finite: true, target: top });
}

/** Opens every layer group (a model with more than 80 layers opens with its groups closed). */
async function expandLayerGroups(page: Page): Promise<void> {
  const expand = page.getByRole('button', { name: 'Expand all groups', exact: true });
  if (await expand.count()) await expand.click();
}

/** Every layer in the layer table has a rule its menu offers (a new layer class without rules would show none). */
async function expectEveryLayerHasARule(page: Page, name: string): Promise<void> {
  await expandLayerGroups(page);
  const layers = Number(await page.locator('dl.facts dt', { hasText: /^Layers$/ }).locator('xpath=following-sibling::dd[1]').textContent());
  expect(layers, `${name}: layer count`).toBeGreaterThan(10);
  const rules = page.getByRole('combobox', { name: /^Rule for (?!group )/ });
  await expect(rules, `${name}: a rule menu per layer`).toHaveCount(layers);
  const missing = await rules.evaluateAll((menus) =>
    (menus as HTMLSelectElement[]).filter((s) => s.value === '' || s.selectedIndex < 0 || s.options.length === 0).map((s) => s.getAttribute('aria-label')),
  );
  expect(missing, `${name}: layers without a rule`).toEqual([]);
}

// CPU and WebGPU (SwiftShader here): about 25 s and 60 s for the seven CNNs on a 2-core machine, plus the two ViTs.
for (const backend of ['cpu', 'webgpu'] as const) {
  for (const [name, m] of Object.entries(manifest.models)) {
    test(`torchvision ${name} opens from its file and explains PyTorch's top class with finite relevance (${backend})`, async ({ page }) => {
      test.setTimeout(90_000);
      const t0 = Date.now();
      await openZooModel(page, name, m, backend);
      console.log(`${name} (${backend}): opened and explained in ${Date.now() - t0} ms; ${await status(page).textContent()}`);
      await expectExplained(page, name, m.top);
      if (m.architecture.startsWith('torchvision.models.VisionTransformer')) {
        // A ViT: CP-LRP too (attention weights and LayerNorm's standard deviation held constant).
        const before = await explanations(page);
        await page.getByRole('combobox', { name: 'Preset', exact: true }).selectOption('cp-epsilon');
        await nextExplanation(page, before);
        await expectExplained(page, `${name} (cp-epsilon)`, m.top);
      }
      if (backend !== 'cpu') return;
      await expectEveryLayerHasARule(page, name);
      // A photo instead of the tensor: cropped, resized and normalised per the preprocessing shown, then explained.
      let n = await explanations(page);
      await page.getByRole('button', { name: 'Chelsea the cat' }).click();
      await expect(page.getByText('Image: chelsea.png')).toBeVisible();
      n = await nextExplanation(page, n);
      const photo = await page.evaluate(() => Array.from(window.__lrpLens!.lastRelevance!).every(Number.isFinite));
      expect(photo, `${name}: finite relevance for a photo`).toBe(true);
      await expect(alerts(page)).toHaveCount(0);
      if (name === 'densenet') {
        // DenseNet's BatchNorm after Concat: kept as layers of their own (Captum), re-opened and explained.
        const merge = page.getByRole('checkbox', { name: /Merge BatchNorm/ });
        await expect(merge).toBeChecked();
        await merge.uncheck();
        await expect(page.getByRole('list', { name: 'Notes on this model' })).toContainText('BatchNorm layers are kept as layers of their own');
        await nextExplanation(page, n);
        await expect(alerts(page)).toHaveCount(0);
        await expect(rowOf(page, 'features.norm5').getByRole('cell').first()).toHaveText('batchnorm');
      }
    });
  }
}


test('ConvNeXt’s layer table shows its new layer kinds with a rule each; LayerNorm set to Pass recomputes', async ({ page }) => {
  test.setTimeout(90_000);
  const m = manifest.models.convnext!;
  let n = await openZooModel(page, 'convnext', m, 'cpu');
  await expectExplained(page, 'convnext', m.top);
  // Captum's default preset, named (the page starts with EpsilonPlusFlat): the rules in the table below are its.
  await page.getByRole('combobox', { name: 'Preset', exact: true }).selectOption('captum-default');
  n = await nextExplanation(page, n);
  await expectExplained(page, 'convnext (Captum default)', m.top);
  await expandLayerGroups(page);
  // One ConvNeXt block (features.1.0): depthwise conv, permute to NHWC, LayerNorm, Linear, GELU, Linear, permute
  // back, layer scale, residual add. [layer, type, output shape, rule (Captum's default preset), rules offered]
  const block: [string, string, string, string, string[]][] = [
    ['features.1.0.block.0', 'conv2d', '[1, 16, 16, 16]', 'captum.epsilon', ['epsilon', 'zplus', 'gamma', 'flat', 'gradient']],
    ['features.1.0.block.1', 'transpose', '[1, 16, 16, 16]', 'gradient', ['gradient']],
    ['features.1.0.block.2', 'layernorm', '[1, 16, 16, 16]', 'captum.epsilon', ['epsilon', 'pass', 'captum.epsilon', 'gradient']],
    ['features.1.0.block.3', 'linear', '[1, 16, 16, 64]', 'captum.epsilon', ['epsilon', 'zplus', 'gamma', 'flat', 'gradient']],
    ['features.1.0.block.4', 'gelu', '[1, 16, 16, 64]', 'pass', ['pass', 'captum.identity', 'gradient']],
    ['features.1.0.block.5', 'linear', '[1, 16, 16, 16]', 'captum.epsilon', ['epsilon', 'zplus', 'gradient']],
    ['features.1.0.block.6', 'transpose', '[1, 16, 16, 16]', 'gradient', ['gradient']],
    ['features.1.0.mul', 'scale', '[1, 16, 16, 16]', 'pass', ['pass', 'gradient']],
    ['features.1.0.add', 'add', '[1, 16, 16, 16]', 'norm', ['norm', 'epsilon', 'gradient']],
    // A stage's NHWC layers: the shapes say so.
    ['features.3.0.block.2', 'layernorm', '[1, 8, 8, 32]', 'captum.epsilon', ['epsilon', 'pass']],
    ['features.3.0.block.3', 'linear', '[1, 8, 8, 128]', 'captum.epsilon', ['epsilon', 'zplus']],
    // The classifier's LayerNorm2d on a 1x1 map, then Flatten and Linear.
    ['classifier.0', 'layernorm', '[1, 1, 1, 64]', 'captum.epsilon', ['epsilon', 'pass']],
    ['classifier.2', 'linear', '[1, 10]', 'captum.epsilon', ['epsilon', 'zplus']],
  ];
  for (const [layer, type, shape, rule, offered] of block) {
    const row = rowOf(page, layer);
    await expect(row, layer).toHaveCount(1);
    await expect(row.getByRole('cell').nth(0), `${layer}: type`).toHaveText(type);
    await expect(row.getByRole('cell').nth(1), `${layer}: output shape`).toHaveText(shape);
    await expect(ruleFor(page, layer), `${layer}: rule`).toHaveValue(rule);
    const values = await ruleFor(page, layer).evaluate((s: HTMLSelectElement) => Array.from(s.options, (o) => o.value));
    expect(values, `${layer}: rules offered`).toEqual(expect.arrayContaining(offered));
  }
  await expect(ruleFor(page, 'features.1.0.block.2').getByRole('option', { name: 'Pass', exact: true })).toHaveCount(1);

  // A LayerNorm's rule changed to Pass: recomputed, a changed heatmap, still finite and the same class.
  const before = await page.evaluate(() => Array.from(window.__lrpLens!.lastRelevance!));
  await ruleFor(page, 'features.1.0.block.2').selectOption({ label: 'Pass' });
  await expect(ruleFor(page, 'features.1.0.block.2')).toHaveValue('pass');
  await expect(page.getByRole('button', { name: 'Reset features.1.0.block.2 to the preset' })).toBeVisible();
  n = await nextExplanation(page, n);
  await expectExplained(page, 'convnext (LayerNorm Pass)', m.top);
  const after = await page.evaluate(() => Array.from(window.__lrpLens!.lastRelevance!));
  expect(after, 'Pass on a LayerNorm changes the relevance').not.toEqual(before);

  // Inspecting a layer inside a block's permutes: its input is NHWC, and the map is summed over C (8x8 here), not H.
  for (const [layer, caption] of [
    ['features.3.0.block.3', '[1, 8, 8, 32] (NHWC)'],
    ['features.3.0.block.4', '[1, 8, 8, 128] (NHWC)'],
    ['features.3.0.block.0', '[1, 32, 8, 8],'],
  ] as const) {
    await page.getByRole('button', { name: `Inspect ${layer}`, exact: true }).click();
    const map = page.getByRole('img', { name: `Relevance arriving at layer ${layer}, summed over channels`, exact: true });
    await expect(map).toBeVisible();
    expect(await map.evaluate((c: HTMLCanvasElement) => [c.width, c.height]), `${layer}: map size`).toEqual([8, 8]);
    await expect(page.getByText(`Relevance at the input of ${layer} ${caption}`)).toBeVisible();
  }

  // Every LayerNorm to Pass, and the layer scales to Gradient: still finite.
  for (const layer of ['features.0.1', 'features.1.1.block.2', 'features.2.0', 'classifier.0']) await ruleFor(page, layer).selectOption('pass');
  await ruleFor(page, 'features.1.0.mul').selectOption('gradient');
  await nextExplanation(page, n);
  await expectExplained(page, 'convnext (LayerNorms Pass)', m.top);
  // A Zennit preset assigns every layer a rule (LayerNorm, GELU, layer scale included) and explains.
  n = await explanations(page);
  await page.getByRole('combobox', { name: 'Preset', exact: true }).selectOption('EpsilonPlusFlat');
  await expect(ruleFor(page, 'features.1.0.block.2')).not.toHaveValue('');
  await nextExplanation(page, n);
  await expectExplained(page, 'convnext (EpsilonPlusFlat)', m.top);
  await expectEveryLayerHasARule(page, 'convnext (EpsilonPlusFlat)');
});
