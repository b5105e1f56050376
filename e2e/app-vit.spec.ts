// A Vision Transformer in the app: torchvision's ViT (../shared/goldens/vit/vit-tiny.onnx: 32x32 input, 8x8 patches,
// 4x4 patches + a class token = 17 tokens, 2 encoder blocks) opens from its ONNX file through "Open model" and
// explains its golden input (the .npy tensor) with the golden's top class. The layer table shows PyTorch's module
// tree: the encoder, each block (its LayerNorms and residual Adds) holding its attention and MLP groups; the
// inspector shows the token relevance of an attention layer on the 4x4 patch grid; a rule set on a group travels in
// a share link, which asks for the model's file again. The app's automatic backend (the fast CPU backend, cpu-fast, here).
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test, type Page } from 'playwright/test';
import { decodeShareState } from '../src/share/share-codec';

const here = dirname(fileURLToPath(import.meta.url));
const VIT = resolve(here, '..', '../shared/goldens/vit');
const MODEL = resolve(VIT, 'vit-tiny.onnx');
const INPUT = resolve(VIT, 'vit-tiny.input.npy');
/** The golden's target (cases.json): the top class of PyTorch's logits. */
const TOP = 3;

const pageErrors = new WeakMap<Page, string[]>();
const watch = (page: Page): void => {
  const errors: string[] = [];
  pageErrors.set(page, errors);
  page.on('pageerror', (err) => errors.push(`uncaught: ${err.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
};

test.beforeEach(({ page }) => watch(page));
test.afterEach(({ page }) => {
  expect(pageErrors.get(page), 'uncaught errors in the page').toEqual([]);
});

const explanations = (page: Page) => page.evaluate(() => window.__lrpLens?.explanations ?? 0);
const status = (page: Page) => page.getByRole('status', { name: 'Status' });
const alerts = (page: Page) => page.getByRole('alert');
const predictions = (page: Page) => page.getByRole('list', { name: 'Predictions', exact: true }).getByRole('listitem');
const ruleFor = (page: Page, layer: string) => page.getByRole('combobox', { name: `Rule for ${layer}`, exact: true });
const groupToggle = (page: Page, path: string) => page.getByRole('button', { name: new RegExp(`^\\W*${path.replaceAll('.', '\\.')} \\(\\d+ layers\\)$`) });

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

/** Waits until no explanation has arrived for a moment. */
async function settled(page: Page): Promise<number> {
  await expect(status(page)).not.toContainText('computing', { timeout: 60_000 });
  let n = await explanations(page);
  for (;;) {
    await page.waitForTimeout(400);
    await expect(status(page)).not.toContainText('computing', { timeout: 60_000 });
    const m = await explanations(page);
    if (m === n) return n;
    n = m;
  }
}

async function expectTopClass(page: Page, what: string): Promise<void> {
  await expect(predictions(page).first().locator('.class-name'), `${what}: the golden's top class`).toHaveText(`class ${TOP}`);
  await expect(predictions(page).first().getByRole('radio')).toBeChecked();
  await expect(page.getByText(/not finite/)).toHaveCount(0);
  await expect(alerts(page)).toHaveCount(0);
  const drawn = await page.evaluate(() => {
    const h = window.__lrpLens!;
    return { length: h.lastRelevance?.length ?? 0, finite: Array.from(h.lastRelevance ?? [NaN]).every(Number.isFinite), target: h.lastTarget };
  });
  // The heatmap is at pixel resolution: relevance for every input value, through the patch embedding.
  expect(drawn, `${what}: relevance for the 1x3x32x32 input, finite, for the top class`).toEqual({ length: 3 * 32 * 32, finite: true, target: TOP });
}

test('a torchvision ViT: grouped by block, explained with CP-LRP, token relevance on the patch grid, group rules in a share link', async ({ page, browser, baseURL }) => {
  test.setTimeout(180_000);
  await page.goto('/?model=tinyvgg&image=none');
  await expect(page.getByRole('combobox', { name: 'Model', exact: true })).toHaveValue('tinyvgg');
  await page.getByLabel('Open model', { exact: true }).setInputFiles(MODEL);
  await expect(page.getByRole('combobox', { name: 'Model', exact: true })).toHaveValue('user:vit-tiny.onnx', { timeout: 60_000 });
  await expect(alerts(page)).toHaveCount(0);
  await expect(page.getByText('input [1, 3, 32, 32], 10 classes')).toBeVisible();
  await page.getByLabel('Upload image', { exact: true }).setInputFiles(INPUT);
  await expect(page.getByText('Tensor: vit-tiny.input.npy')).toBeVisible();
  let n = await nextExplanation(page, 0);
  await expectTopClass(page, 'default preset');

  // The groups: the encoder, each block holding its attention and MLP; the patch embedding and the head flat.
  for (const path of ['encoder', 'encoder.layers.encoder_layer_0', 'encoder.layers.encoder_layer_1', 'encoder.layers.encoder_layer_1.self_attention', 'encoder.layers.encoder_layer_1.mlp'])
    await expect(groupToggle(page, path), `group ${path}`).toBeVisible();
  await expect(ruleFor(page, 'conv_proj')).toBeVisible();
  await expect(ruleFor(page, 'heads.head')).toBeVisible();
  for (const ln of ['encoder.layers.encoder_layer_1.ln_1', 'encoder.layers.encoder_layer_1.ln_2', 'encoder.ln']) await expect(ruleFor(page, ln)).toBeVisible();
  // Closing a block hides its attention and MLP groups; opening it shows them again.
  await groupToggle(page, 'encoder.layers.encoder_layer_0').click();
  await expect(groupToggle(page, 'encoder.layers.encoder_layer_0.mlp')).toHaveCount(0);
  await expect(ruleFor(page, 'encoder.layers.encoder_layer_0.ln_1')).toBeHidden();
  await groupToggle(page, 'encoder.layers.encoder_layer_0').click();
  await expect(groupToggle(page, 'encoder.layers.encoder_layer_0.mlp')).toBeVisible();

  // CP-LRP (Epsilon), when the preset menu offers it.
  const preset = page.getByRole('combobox', { name: 'Preset', exact: true });
  if ((await preset.locator('option[value="cp-epsilon"]').count()) > 0) {
    await preset.selectOption('cp-epsilon');
    n = await nextExplanation(page, n);
    await expectTopClass(page, 'cp-epsilon');
  }

  // An attention layer of block 1, the value projection: its input [17, 1, 32] (sequence-first tokens) shown on the
  // 4x4 patch grid. (After the attention, the last block's layers act per token and the head reads the class token
  // only: their patch tokens hold no relevance.)
  const attention = 'encoder.layers.encoder_layer_1.self_attention.matmul_2';
  await page.getByRole('button', { name: `Inspect ${attention}`, exact: true }).click();
  const grid = page.getByRole('img', { name: `Token relevance arriving at layer ${attention}, on the 4x4 patch grid`, exact: true });
  await expect(grid).toBeVisible();
  expect(await grid.evaluate((c: HTMLCanvasElement) => [c.width, c.height])).toEqual([4, 4]);
  const colours = await grid.evaluate((c: HTMLCanvasElement) => {
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    return new Set(Array.from({ length: d.length / 4 }, (_, i) => `${d[4 * i]},${d[4 * i + 1]},${d[4 * i + 2]}`)).size;
  });
  expect(colours, 'patch tokens with different relevance').toBeGreaterThan(4);
  await expect(page.getByText(`Token relevance at the input of ${attention} [17, 1, 32]: 17 tokens (axis 0) = the class token + 4×4 patches of 8×8 pixels`)).toBeVisible();
  await expect(page.getByLabel('Class token relevance')).toContainText(/Class token: -?[\d.]/);
  // Per head (the A V product, [heads, tokens, features]): the token axis is found wherever it is.
  const heads = 'encoder.layers.encoder_layer_0.self_attention.transpose_6';
  await page.getByRole('button', { name: `Inspect ${heads}`, exact: true }).click();
  await expect(page.getByRole('img', { name: `Token relevance arriving at layer ${heads}, on the 4x4 patch grid`, exact: true })).toBeVisible();
  await expect(page.getByText(`Token relevance at the input of ${heads} [2, 17, 16]: 17 tokens (axis 1)`)).toBeVisible();

  // A photo instead of the tensor (a link carries photos, not tensors); then a rule for a group.
  await page.getByRole('button', { name: 'Chelsea the cat' }).click();
  await expect(page.getByText('Image: chelsea.png')).toBeVisible();
  n = await nextExplanation(page, n);
  const mlp = 'encoder.layers.encoder_layer_1.mlp';
  await page.getByRole('combobox', { name: `Rule for group ${mlp}`, exact: true }).selectOption('gamma');
  await expect(page.getByRole('status', { name: 'Group rule result' })).toContainText(`Gamma set on 2 layers of ${mlp}; skipped 1`);
  await expect(ruleFor(page, `${mlp}.0`)).toHaveValue('gamma');
  await expect(ruleFor(page, `${mlp}.3`)).toHaveValue('gamma');
  n = await nextExplanation(page, n);
  // A rule for a block reaches its attention and MLP layers.
  const block0 = 'encoder.layers.encoder_layer_0';
  await page.getByRole('combobox', { name: `Rule for group ${block0}`, exact: true }).selectOption('gamma');
  // Its six Linear layers: the attention's in- and out-projections and the MLP's two.
  await expect(page.getByRole('status', { name: 'Group rule result' })).toContainText(`Gamma set on 6 layers of ${block0}; skipped`);
  await expect(ruleFor(page, `${block0}.self_attention.out_proj`)).toHaveValue('gamma');
  await expect(ruleFor(page, `${block0}.mlp.0`)).toHaveValue('gamma');
  await nextExplanation(page, n);
  await settled(page);
  const rulesSent = await page.getByRole('combobox', { name: /^Rule for (?!group )/ }).evaluateAll((menus) =>
    (menus as HTMLSelectElement[]).map((s) => `${s.getAttribute('aria-label')}=${s.value}`),
  );

  await page.getByRole('button', { name: 'Copy share link', exact: true }).click();
  await expect(page.getByRole('status').filter({ hasText: /Link copied|selected in the field/ })).toBeVisible();
  const link = page.url();
  const state = decodeShareState(link);
  expect(state.model).toMatchObject({ kind: 'user', name: 'vit-tiny.onnx' });
  if ((await preset.inputValue()) === 'cp-epsilon') expect(state.preset).toBe('cp-epsilon');
  expect(Object.keys(state.overrides)).toEqual(expect.arrayContaining([`${mlp}.0`, `${mlp}.3`, `${block0}.self_attention.out_proj`]));

  // A new page (a fresh context): the link asks for the model's file; given it, the same rules come back.
  const context = await browser.newContext({ baseURL: baseURL! });
  const fresh = await context.newPage();
  watch(fresh);
  try {
    await fresh.goto(link);
    const prompt = fresh.getByRole('group', { name: /made with a model of its sender/ });
    await expect(prompt).toContainText('vit-tiny.onnx');
    await fresh.getByLabel(/Open the link's model/).setInputFiles(MODEL);
    await nextExplanation(fresh, 0);
    await settled(fresh);
    await expect(fresh.getByRole('status').filter({ hasText: 'The model files match the link' })).toBeVisible();
    await expect(fresh.getByRole('combobox', { name: 'Preset', exact: true })).toHaveValue(await preset.inputValue());
    await expect(ruleFor(fresh, `${mlp}.0`)).toHaveValue('gamma');
    await expect(ruleFor(fresh, `${block0}.self_attention.out_proj`)).toHaveValue('gamma');
    const rulesGot = await fresh.getByRole('combobox', { name: /^Rule for (?!group )/ }).evaluateAll((menus) =>
      (menus as HTMLSelectElement[]).map((s) => `${s.getAttribute('aria-label')}=${s.value}`),
    );
    expect(rulesGot).toEqual(rulesSent);
    await expect(alerts(fresh)).toHaveCount(0);
    expect(pageErrors.get(fresh), 'uncaught errors in the new page').toEqual([]);
  } finally {
    await context.close();
  }
});
