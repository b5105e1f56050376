// The app (dist/app, served by `vite preview` on port 4173) in headless Chromium. Most tests use the small built-in
// models (tinyvgg, resnet20) so that the suite stays within a few minutes on a 2-core machine whose WebGPU is
// SwiftShader; darknet-tiny, the default, is tested once. The page exposes its latest explanation on
// window.__lrpLens (read-only, for these tests).
import { readFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test, type Page } from 'playwright/test';
import { renderHeatmap, sumChannels, symmetricMax, type ColormapId } from '../src/models/colormap';
import { encodeNpy, parseNpy, toFloat32, toFloat64 } from '../src/engine/io/npy';
import { CHROMIUM, CHROMIUM_ARGS } from '../playwright.config';
import { adam7, animatedPng, flatJpeg, pngjsPng, rawPng, rgbJpeg, scanlines } from '../tests/fixtures/image-files';
import { BOTH, relL2 } from './helpers';

const here = dirname(fileURLToPath(import.meta.url));
const shared = resolve(here, '..', '../shared');
const goldens = resolve(here, '..', process.env.LRP_LENS_GOLDENS ?? '../shared/goldens');
const COFFEE = resolve(here, '..', '../shared/samples/coffee.png');

// ---------------------------------------------------------------------------------------------------------------
// Every test: no request leaves the page's origin, and the page throws nothing and breaks no CSP rule.

const foreign = new WeakMap<Page, string[]>();
const pageErrors = new WeakMap<Page, string[]>();

test.beforeEach(async ({ page, baseURL }) => {
  const origin = new URL(baseURL!).origin;
  const outside: string[] = [];
  const errors: string[] = [];
  foreign.set(page, outside);
  pageErrors.set(page, errors);
  page.on('pageerror', (err) => errors.push(err.message));
  // The built page's Content Security Policy must never have to block anything the app does.
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content.Security.Policy/i.test(m.text())) errors.push(m.text());
  });
  // Requests from the page and from its workers; anything not same-origin (or a blob:/data: URL) is recorded.
  page.context().on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(`${origin}/`) && !/^(blob|data):/.test(url)) outside.push(url);
  });
  await page.context().route(/.*/, (route) => {
    const url = route.request().url();
    if (url.startsWith(`${origin}/`)) return route.continue();
    outside.push(url);
    return route.abort('blockedbyclient');
  });
});

test.afterEach(async ({ page }) => {
  expect(foreign.get(page), 'requests to another origin').toEqual([]);
  expect(pageErrors.get(page), 'uncaught errors or CSP violations in the page').toEqual([]);
});

// ---------------------------------------------------------------------------------------------------------------
// Helpers

const explanations = (page: Page) => page.evaluate(() => window.__lrpLens?.explanations ?? 0);

/** Waits for an explanation newer than `after`, and for the page to have drawn it. */
async function nextExplanation(page: Page, after: number, timeout = 60_000): Promise<number> {
  await page.waitForFunction((n) => (window.__lrpLens?.explanations ?? 0) > n, after, { timeout });
  await expect(page.getByRole('status', { name: 'Status' })).not.toContainText('computing', { timeout });
  return explanations(page);
}

async function open(page: Page, query: string, timeout = 60_000): Promise<number> {
  await page.goto(`/${query}`);
  return nextExplanation(page, 0, timeout);
}

/** The heatmap canvas's pixels (RGBA), as drawn. */
function heatmapPixels(page: Page): Promise<{ width: number; height: number; data: number[] }> {
  return page.getByRole('img', { name: 'Relevance heatmap', exact: true }).evaluate((c: HTMLCanvasElement) => {
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    return { width: c.width, height: c.height, data: Array.from(d) };
  });
}

async function lastRelevance(page: Page): Promise<{ data: Float32Array; shape: number[]; target: number }> {
  const r = await page.evaluate(() => {
    const h = window.__lrpLens!;
    return { data: Array.from(h.lastRelevance!), shape: [...h.lastInputShape!], target: h.lastTarget! };
  });
  return { ...r, data: Float32Array.from(r.data) };
}

const predictions = (page: Page) => page.getByRole('list', { name: 'Predictions', exact: true }).getByRole('listitem');
const ruleFor = (page: Page, layer: string) => page.getByRole('combobox', { name: `Rule for ${layer}`, exact: true });

// ---------------------------------------------------------------------------------------------------------------

test('the default model, darknet-tiny, explains the default sample photo', async ({ page }) => {
  test.setTimeout(150_000);
  const t0 = Date.now();
  await open(page, '', 120_000);
  console.log(`darknet-tiny: first heatmap ${Date.now() - t0} ms after load; ${await page.getByRole('status', { name: 'Status' }).textContent()}`);
  await expect(page).toHaveTitle('LRP Lens');
  await expect(page.getByRole('combobox', { name: 'Model', exact: true })).toHaveValue('darknet-tiny');
  await expect(predictions(page)).toHaveCount(5);
  await expect(predictions(page).first()).toContainText('Egyptian cat');
  const r = await lastRelevance(page);
  expect(r.shape).toEqual([1, 3, 224, 224]);
  const px = await heatmapPixels(page);
  expect([px.width, px.height]).toEqual([224, 224]);
  expect(new Set(px.data).size).toBeGreaterThan(10);
  await expect(page.getByRole('status', { name: 'Status' })).toContainText(/(WebGPU|CPU).*last explanation/);
});

test('a sample photo gives predictions and a heatmap', async ({ page }) => {
  await open(page, '?model=resnet20-cifar10&image=chelsea.png');
  await expect(predictions(page)).toHaveCount(5);
  await expect(predictions(page).first()).toContainText('cat');
  const px = await heatmapPixels(page);
  expect([px.width, px.height]).toEqual([32, 32]);
  expect(new Set(px.data).size).toBeGreaterThan(10);
  // Another sample replaces the image and the explanation.
  const n = await explanations(page);
  await page.getByRole('button', { name: 'A cup of coffee' }).click();
  await nextExplanation(page, n);
  await expect(page.getByText('Image: coffee.png')).toBeVisible();
});

test('an uploaded coffee.png is an espresso to tinyvgg', async ({ page }) => {
  await page.goto('/?model=tinyvgg&image=none');
  await expect(page.getByRole('combobox', { name: 'Model', exact: true })).toHaveValue('tinyvgg');
  await page.getByLabel('Upload image', { exact: true }).setInputFiles(COFFEE);
  await nextExplanation(page, 0);
  await expect(predictions(page).first()).toContainText('espresso');
  await expect(page.getByRole('list', { name: 'Notes on this model' })).toContainText('explanations start from the logits');
});

test('changing one layer’s rule changes the heatmap and nothing else', async ({ page }) => {
  let n = await open(page, '?model=tinyvgg&image=coffee.png');
  // Captum's default preset (Epsilon on every layer), named: the page starts with EpsilonPlusFlat.
  await page.getByRole('combobox', { name: 'Preset', exact: true }).selectOption('captum-default');
  n = await nextExplanation(page, n);
  const before = await heatmapPixels(page);
  await expect(ruleFor(page, 'conv_1_1')).toHaveValue('captum.epsilon');
  await ruleFor(page, 'conv_1_1').selectOption('flat');
  n = await nextExplanation(page, n);
  const after = await heatmapPixels(page);
  expect(after.data).not.toEqual(before.data);
  await expect(ruleFor(page, 'conv_1_2')).toHaveValue('captum.epsilon');
  await expect(ruleFor(page, 'output')).toHaveValue('captum.epsilon');
  // A parameter slider: the heatmap follows it for a small model, without waiting for a release.
  await ruleFor(page, 'conv_1_2').selectOption('gamma');
  n = await nextExplanation(page, n);
  const gamma = page.getByRole('slider', { name: 'gamma for conv_1_2', exact: true });
  const g1 = await heatmapPixels(page);
  await gamma.fill('2');
  await nextExplanation(page, n);
  await expect(page.getByRole('textbox', { name: 'gamma for conv_1_2 (value)' })).toHaveValue('2');
  expect((await heatmapPixels(page)).data).not.toEqual(g1.data);
});

test('a burst of changes shows the result of the last one only', async ({ page }) => {
  let n = await open(page, '?model=resnet20-cifar10&image=chelsea.png');
  const layer = 'blocks.0.conv1';
  await ruleFor(page, layer).selectOption('gamma');
  n = await nextExplanation(page, n);
  const slider = page.getByRole('slider', { name: `gamma for ${layer}`, exact: true });
  for (const v of ['0.5', '1', '1.5', '2', '2.5', '3']) await slider.fill(v);
  await nextExplanation(page, n);
  await expect(page.getByRole('status', { name: 'Status' })).not.toContainText('computing');
  await page.waitForTimeout(300); // nothing late may follow
  const burst = await lastRelevance(page);
  const count = await explanations(page);
  // The same rule reached directly gives the same relevance.
  await slider.fill('1');
  n = await nextExplanation(page, count);
  await slider.fill('3');
  await nextExplanation(page, n);
  expect(Array.from((await lastRelevance(page)).data)).toEqual(Array.from(burst.data));
});

test('choosing a preset changes several layers', async ({ page }) => {
  const n = await open(page, '?model=tinyvgg&image=coffee.png');
  // The page starts with EpsilonPlusFlat: the first layer Flat, the other convolutions ZPlus, the Dense Epsilon.
  const preset = page.getByRole('combobox', { name: 'Preset', exact: true });
  await expect(preset).toHaveValue('EpsilonPlusFlat');
  await expect(ruleFor(page, 'conv_1_1')).toHaveValue('flat');
  await expect(ruleFor(page, 'conv_1_2')).toHaveValue('zplus');
  await expect(ruleFor(page, 'conv_2_1')).toHaveValue('zplus');
  await expect(ruleFor(page, 'output')).toHaveValue('epsilon');
  await expect(ruleFor(page, 'relu_1_1')).toHaveValue('pass');
  const before = await heatmapPixels(page);
  await preset.selectOption('captum-default');
  await expect(ruleFor(page, 'conv_1_1')).toHaveValue('captum.epsilon');
  await expect(ruleFor(page, 'conv_1_2')).toHaveValue('captum.epsilon');
  await expect(ruleFor(page, 'output')).toHaveValue('captum.epsilon');
  await expect(ruleFor(page, 'relu_1_1')).toHaveValue('pass');
  await nextExplanation(page, n);
  expect((await heatmapPixels(page)).data).not.toEqual(before.data);
});

test('a broken model file shows the importer’s message and the previous model keeps working', async ({ page }) => {
  const n = await open(page, '?model=tinyvgg&image=coffee.png');
  await page.getByLabel('Open model', { exact: true }).setInputFiles({
    name: 'broken.onnx',
    mimeType: 'application/octet-stream',
    buffer: Buffer.from('this is not a protobuf, just some text that claims to be a model'),
  });
  const alert = page.getByRole('alert').filter({ hasText: 'broken.onnx' });
  await expect(alert).toBeVisible();
  await expect(alert).toContainText('TinyVGG');
  await expect(page.getByRole('combobox', { name: 'Model', exact: true })).toHaveValue('tinyvgg');
  // A TF.js model.json whose shard is missing: the importer names it.
  const modelJson = readFileSync(resolve(shared, 'models/tinyvgg/model.json'));
  await page.getByLabel('Open model', { exact: true }).setInputFiles({ name: 'model.json', mimeType: 'application/json', buffer: modelJson });
  await expect(page.getByRole('alert').filter({ hasText: 'model.json' })).toBeVisible();
  // The previous model still explains.
  await page.getByRole('list', { name: 'Predictions', exact: true }).getByRole('radio').nth(1).check();
  await nextExplanation(page, n);
  await expect(predictions(page).first()).toContainText('espresso');
  expect((await lastRelevance(page)).target).not.toBe(6);
});

test('a model opened from files (ONNX with its .onnx.data) replaces the built-in one', async ({ page }) => {
  let n = await open(page, '?model=tinyvgg&image=chelsea.png');
  const dir = resolve(shared, 'models/resnet20-cifar10');
  await page.getByLabel('Open model', { exact: true }).setInputFiles([resolve(dir, 'resnet20_cifar10.onnx'), resolve(dir, 'resnet20_cifar10.onnx.data')]);
  n = await nextExplanation(page, n);
  expect((await lastRelevance(page)).shape).toEqual([1, 3, 32, 32]);
  await expect(page.getByRole('combobox', { name: 'Model', exact: true })).toHaveValue(/^user:/);
  // A user's model shows its preprocessing, editable.
  const mean = page.getByRole('textbox', { name: 'Mean', exact: true });
  await expect(mean).toBeVisible();
  await mean.fill('0.485, 0.456, 0.406');
  await page.getByRole('textbox', { name: 'Std', exact: true }).fill('0.229, 0.224, 0.225');
  await page.getByRole('button', { name: 'Apply preprocessing' }).click();
  n = await nextExplanation(page, n);
  expect((await lastRelevance(page)).shape).toEqual([1, 3, 32, 32]);
  // A TF.js model.json with its shard.
  const tiny = resolve(shared, 'models/tinyvgg');
  await page.getByLabel('Open model', { exact: true }).setInputFiles([resolve(tiny, 'model.json'), resolve(tiny, 'group1-shard1of1.bin')]);
  await nextExplanation(page, n);
  expect((await lastRelevance(page)).shape).toEqual([1, 3, 64, 64]);
  await expect(page.getByRole('list', { name: 'Notes on this model' })).toContainText('softmax');
});

test('an image can be dropped on the page or pasted', async ({ page }) => {
  let n = await open(page, '?model=tinyvgg&image=chelsea.png');
  const send = (kind: 'drop' | 'paste', file: string) =>
    page.evaluate(
      async ([kind, file]) => {
        const blob = await (await fetch(`/samples/${file}`)).blob();
        const data = new DataTransfer();
        data.items.add(new File([blob], file, { type: blob.type }));
        if (kind === 'drop') {
          const target = document.querySelector('.app')!;
          target.dispatchEvent(new DragEvent('dragover', { dataTransfer: data, bubbles: true, cancelable: true }));
          target.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
        } else {
          document.body.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
        }
      },
      [kind, file] as const,
    );
  await send('drop', 'coffee.png');
  n = await nextExplanation(page, n);
  await expect(page.getByText('Image: coffee.png')).toBeVisible();
  await expect(predictions(page).first()).toContainText('espresso');
  await send('paste', 'rocket.jpg');
  await nextExplanation(page, n);
  await expect(page.getByText('Image: rocket.jpg')).toBeVisible();
});

const STATUS_OF = { cpu: 'CPU: chosen in the backend menu', 'cpu-fast': 'CPU (fast, WASM SIMD): chosen in the backend menu', webgpu: 'WebGPU' } as const;

for (const backend of ['cpu', 'cpu-fast', 'webgpu'] as const) {
  test(`the heatmap shown for a golden case is the reference relevance (${backend})`, async ({ page }) => {
    // tinyvgg on the golden input (a preprocessed tensor, given as .npy), Zennit's composites, target espresso.
    const manifest = JSON.parse(readFileSync(resolve(goldens, 'tfjs/cases.json'), 'utf8')) as {
      cases: { id: string; input: string; target: number; relevance: string; composite?: string }[];
    };
    await page.goto(`/?model=tinyvgg&image=none&backend=${backend}`);
    await expect(page.getByRole('status', { name: 'Status' })).toContainText(STATUS_OF[backend]);
    // The scale from the largest |relevance|, named: the page starts clipped at a percentile.
    await page.getByRole('checkbox', { name: 'Clip at percentile' }).uncheck();
    let n = 0;
    for (const id of ['tinyvgg/zennit/EpsilonPlusFlat', 'tinyvgg/zennit/EpsilonGammaBox']) {
      const c = manifest.cases.find((x) => x.id === id)!;
      if (n === 0) {
        await page.getByLabel('Upload image', { exact: true }).setInputFiles(resolve(goldens, 'tfjs', c.input));
        await expect(page.getByText(`Tensor: ${c.input}`)).toBeVisible();
      }
      await page.getByRole('combobox', { name: 'Preset', exact: true }).selectOption(c.composite!);
      n = await nextExplanation(page, n);
      const reference = toFloat64(parseNpy(readFileSync(resolve(goldens, 'tfjs', c.relevance))));
      const shown = await lastRelevance(page);
      expect(shown.target).toBe(c.target);
      expect(await page.evaluate(() => window.__lrpLens!.lastBackend)).toBe(backend);
      const err = relL2(shown.data, reference);
      console.log(`${id} in the page (${backend}): relL2 ${err.toExponential(3)}`);
      expect(err).toBeLessThanOrEqual(1e-3);

      // The canvas holds exactly the colours of that relevance, summed over channels, on the page's scale...
      const { colormap, vmax } = await page.evaluate(() => window.__lrpLens!.lastHeatmap!);
      const map = sumChannels(shown.data, shown.shape);
      expect(vmax).toBe(symmetricMax(map.data, null));
      const px = await heatmapPixels(page);
      expect(px.data).toEqual(Array.from(renderHeatmap(map, colormap as ColormapId, vmax)));
      // ...and those of the reference relevance, up to float32 rounding.
      const refMap = sumChannels(Float32Array.from(reference), shown.shape);
      const expected = renderHeatmap(refMap, 'bwr', symmetricMax(refMap.data, null));
      let off = 0;
      for (let i = 0; i < expected.length; i++) off = Math.max(off, Math.abs(expected[i]! - px.data[i]!));
      expect(off).toBeLessThanOrEqual(4);
    }
  });
}

test('non-finite relevance is reported with its layer and not drawn', async ({ page }) => {
  await page.goto('/?model=tinyvgg&image=none&backend=cpu');
  // A tensor with one NaN: every value downstream of it, relevance included, is NaN.
  const input = new Float32Array(3 * 64 * 64).fill(0.5);
  input[100] = NaN;
  const npy = encodeNpy(input, [1, 3, 64, 64]);
  await page.getByLabel('Upload image', { exact: true }).setInputFiles({ name: 'nan.npy', mimeType: 'application/octet-stream', buffer: Buffer.from(npy) });
  await nextExplanation(page, 0);
  const alert = page.getByRole('alert').filter({ hasText: 'not finite' });
  await expect(alert).toBeVisible();
  await expect(alert).toContainText(/at layer “\w+”/);
  expect(await page.evaluate(() => window.__lrpLens!.lastHeatmap)).toBeNull();
  await expect(page.getByRole('button', { name: 'Download relevance (.npy)' })).toBeDisabled();
});

test('hostile and unusual images are refused with a message or decoded, and the photo before stays', async ({ page }) => {
  test.setTimeout(240_000);
  const dialogs: string[] = [];
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  await open(page, '?model=tinyvgg&image=coffee.png&backend=cpu');
  const upload = page.getByLabel('Upload image', { exact: true });
  const png = pngjsPng(40, 30, 6, 8, (x, y) => [x * 6, y * 8, 90, 255]);
  const gifHeader = Uint8Array.from([...'GIF89a'].map((c) => c.charCodeAt(0)).concat([0x20, 0x4e, 0x20, 0x4e, 0, 0, 0]));
  const refused: [name: string, bytes: Uint8Array, message: RegExp][] = [
    ['huge.png', rawPng({ width: 20000, height: 20000, raw: new Uint8Array(100) }), /huge\.png could not be used: the PNG declares 20000x20000 pixels, more than the 64 megapixels/],
    ['huge.jpg', flatJpeg({ width: 60000, height: 60000, components: 3, entropy: [0] }), /the JPEG declares 60000x60000 pixels/],
    ['huge.gif', gifHeader, /the GIF declares 20000x20000 pixels/],
    ['empty.png', new Uint8Array(0), /empty\.png could not be used: the file is empty/],
    ['cut.png', png.subarray(0, 20), /the PNG header is cut short or damaged/],
    ['truncated.png', png.subarray(0, png.length - 40), /its PNG header is whole, but this browser cannot decode the image/],
    ['noise.jpg', Uint8Array.from([0xff, 0xd8, 0xff, ...Array.from({ length: 400 }, (_, i) => (i * 97) & 0xff)]), /could not be used: the JPEG/],
    ['<img src=x onerror=alert(1)>.png', new TextEncoder().encode('<script>alert(1)</script>'), /not a PNG, JPEG, GIF, WebP or BMP image/],
    ['script.svg', new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'), /not a PNG, JPEG, GIF, WebP or BMP image/],
  ];
  for (const [name, bytes, message] of refused) {
    await upload.setInputFiles({ name, mimeType: 'image/png', buffer: Buffer.from(bytes) });
    const alert = page.getByRole('alert').filter({ hasText: 'could not be used' });
    await expect(alert, name).toContainText(message);
    // Rendered as text: the file name's markup is in the message, not in the page.
    expect(await alert.textContent()).toContain(name);
    await expect(page.getByText('Image: coffee.png')).toBeVisible();
  }
  expect(await page.locator('img[src="x"], svg[onload]').count()).toBe(0);
  // The photo before is still the one explained: a rule change re-explains it.
  await expect(predictions(page).first()).toContainText('espresso');

  // Unusual but valid: each is decoded, shown and explained.
  const decoded: [name: string, bytes: Uint8Array][] = [
    ['one-pixel.png', pngjsPng(1, 1, 6, 8, () => [200, 30, 30, 255])],
    ['grey-16bit.png', pngjsPng(24, 18, 0, 16, (x, y) => [x * 10, x * 10, x * 10, 255 - y])],
    ['alpha.png', pngjsPng(20, 20, 6, 8, (x, y) => [255, 0, 0, (x * y) & 0xff])],
    ['interlaced.png', rawPng({ width: 11, height: 9, interlace: 1, raw: adam7(11, 9, (x, y) => (x * 16 + y * 3) & 0xff) })],
    ['animated.png', animatedPng(16, 16, 200, 0)],
    ['tall.png', rawPng({ width: 1, height: 4096, raw: scanlines(1, 4096, 1, (_, y) => y) })],
    ['grey.jpg', flatJpeg({ width: 13, height: 9, components: 1 })],
    ['cmyk.jpg', flatJpeg({ width: 16, height: 16, components: 4, adobe: 0 })],
    ['photo.jpg', rgbJpeg(37, 23)],
    // 64x64 pixels whose compressed data inflates to 50 MB: the decoder reads what the image needs and stops.
    ['bomb.png', rawPng({ width: 64, height: 64, interlace: 1, idat: deflateSync(new Uint8Array(50 * 2 ** 20)) })],
  ];
  for (const [name, bytes] of decoded) {
    const n = await explanations(page);
    await upload.setInputFiles({ name, mimeType: name.endsWith('.jpg') ? 'image/jpeg' : 'image/png', buffer: Buffer.from(bytes) });
    await nextExplanation(page, n);
    await expect(page.getByText(`Image: ${name}`), name).toBeVisible();
    await expect(page.getByRole('alert').filter({ hasText: 'could not be used' })).toHaveCount(0);
    const { data } = await lastRelevance(page);
    expect(data.every(Number.isFinite), name).toBe(true);
  }
  expect(dialogs).toEqual([]);
});

test('the controls work from the keyboard, with a visible focus', BOTH, async ({ page }) => {
  let n = await open(page, '?model=tinyvgg&image=coffee.png');
  // A sample photo: Tab to it, Enter.
  const chelsea = page.getByRole('button', { name: 'Chelsea the cat' });
  await page.getByRole('button', { name: 'A cup of coffee' }).focus();
  await page.keyboard.press('Shift+Tab');
  await expect(chelsea).toBeFocused();
  expect(await chelsea.evaluate((e) => getComputedStyle(e).outlineStyle)).toBe('solid');
  await page.keyboard.press('Enter');
  n = await nextExplanation(page, n);
  await expect(page.getByText('Image: chelsea.png')).toBeVisible();
  // A layer's rule, from the keyboard.
  // conv_1_1 starts with EpsilonPlusFlat's Flat (the page's preset); ArrowDown picks the rule after it.
  const rule = ruleFor(page, 'conv_1_1');
  await expect(rule).toHaveValue('flat');
  await rule.focus();
  await page.keyboard.press('ArrowDown');
  await expect(rule).not.toHaveValue('flat');
  await expect(rule).not.toHaveValue('gamma');
  n = await nextExplanation(page, n);
  // A parameter slider: arrow keys move it, and the heatmap follows.
  await rule.selectOption('gamma');
  n = await nextExplanation(page, n);
  const gamma = page.getByRole('slider', { name: 'gamma for conv_1_1', exact: true });
  await gamma.focus();
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowRight');
  await expect(page.getByRole('textbox', { name: 'gamma for conv_1_1 (value)' })).toHaveValue('0.35');
  n = await nextExplanation(page, n);
  // The heatmap: focus it and read a pixel with the arrow keys.
  await page.getByRole('img', { name: 'Relevance heatmap', exact: true }).focus();
  await page.keyboard.press('ArrowLeft');
  await expect(page.getByText('Pixel (31, 32): relevance')).toBeVisible();
  // A prediction: arrow keys move between the radio buttons and explain that class.
  await page.getByRole('list', { name: 'Predictions', exact: true }).getByRole('radio').first().focus();
  await page.keyboard.press('ArrowDown');
  await nextExplanation(page, n);
  expect((await lastRelevance(page)).target).not.toBe(6);
});

test('in a browser without WebGPU, the fast CPU backend explains and the status says why', async ({ playwright, baseURL }) => {
  const browser = await playwright.chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS.filter((a) => a !== '--enable-unsafe-webgpu') });
  try {
    const page = await browser.newPage({ baseURL: baseURL! });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    expect(await page.evaluate(async () => !!(await navigator.gpu?.requestAdapter()))).toBe(false);
    await open(page, '?model=tinyvgg&image=coffee.png');
    await expect(page.getByRole('status', { name: 'Status' })).toContainText('CPU (fast, WASM SIMD): no WebGPU adapter is available');
    expect(await page.evaluate(() => window.__lrpLens!.lastBackend)).toBe('cpu-fast');
    await expect(predictions(page).first()).toContainText('espresso');
    expect(errors).toEqual([]);
  } finally {
    await browser.close();
  }
});

test('contrast, colormaps, hover and downloads', async ({ page }) => {
  let n = await open(page, '?model=tinyvgg&image=coffee.png');
  // Contrast espresso against orange.
  await page.getByRole('combobox', { name: 'Against', exact: true }).selectOption({ label: '8: orange' });
  n = await nextExplanation(page, n);
  await expect(page.getByText('relevance of “espresso” minus relevance of “orange”')).toBeVisible();
  // Colormap and clip change the drawing, not the relevance.
  const bwr = await heatmapPixels(page);
  await page.getByRole('combobox', { name: 'Colormap', exact: true }).selectOption('magnitude');
  await expect.poll(async () => (await heatmapPixels(page)).data).not.toEqual(bwr.data);
  expect(await explanations(page)).toBe(n);
  // Hover reads one pixel.
  const canvas = page.getByRole('img', { name: 'Relevance heatmap', exact: true });
  await canvas.hover({ position: { x: 10, y: 10 } });
  await expect(page.getByText(/^Pixel \(\d+, \d+\): relevance/)).toBeVisible();
  // Downloads.
  const [png] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download heatmap (PNG)' }).click()]);
  expect(png.suggestedFilename()).toMatch(/\.png$/);
  const [npy] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download relevance (.npy)' }).click()]);
  const saved = parseNpy(readFileSync(await npy.path()));
  expect(saved.shape).toEqual([1, 3, 64, 64]);
  const shown = await lastRelevance(page);
  expect(Array.from(toFloat32(saved))).toEqual(Array.from(shown.data));
});
