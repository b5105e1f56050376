// Concept maps (CRP) in the Channels tab (dist/app on port 4173), with TinyVGG (64x64) on the CPU backend: the
// top channels' concept-conditional heatmaps appear, choosing one (by keyboard) enlarges it and puts it in the share
// link, and the link reopens the Channels tab with that concept chosen and the same map; a link's concept that does
// not fit the model is named and left out while the rest of the link applies.
import { expect, test, type Locator, type Page } from 'playwright/test';
import { decodeShareState, encodeShareState } from '../src/share/share-codec';
import { analysis, freshPage, guardConsole } from './helpers';

guardConsole();

async function firstExplanation(page: Page): Promise<void> {
  await page.waitForFunction(() => (window.__lrpLens?.explanations ?? 0) > 0, undefined, { timeout: 60_000 });
}

/** The concept map buttons of a layer, once all of them are computed. */
async function conceptButtons(page: Page, layer: string, count: number): Promise<Locator> {
  const panel = analysis(page);
  const buttons = panel.getByRole('list', { name: `Concept maps of ${layer}` }).getByRole('button', { name: new RegExp(`^Channel \\d+: .* ${layer}`) });
  await expect(buttons).toHaveCount(count, { timeout: 90_000 });
  await expect(panel.getByRole('progressbar', { name: 'Concept maps computed' })).toHaveCount(0, { timeout: 90_000 });
  return buttons;
}

/** A canvas's pixels as drawn. */
const pixels = (canvas: Locator) =>
  canvas.evaluate((c: HTMLCanvasElement) => ({ width: c.width, height: c.height, data: Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data) }));

const colours = (p: { data: number[] }) => {
  const seen = new Set<number>();
  for (let i = 0; i < p.data.length; i += 4) seen.add((p.data[i]! << 16) | (p.data[i + 1]! << 8) | p.data[i + 2]!);
  return seen.size;
};

async function copyLink(page: Page): Promise<string> {
  await page.getByRole('button', { name: 'Copy share link', exact: true }).click();
  await expect(page.getByRole('status').filter({ hasText: /Link copied|selected in the field/ })).toContainText(/\d[\d,]* characters/);
  return page.url();
}

test('the Channels tab shows the top channels’ concept maps; the chosen one is enlarged, carried by the link and restored', async ({ page, browser, baseURL }) => {
  test.setTimeout(300_000);
  await page.goto('/?model=tinyvgg&image=coffee.png&backend=cpu');
  await firstExplanation(page);
  const panel = analysis(page);
  await panel.getByRole('tab', { name: 'Channels' }).click();
  // conv_2_2 reads relu_2_1's output: the concepts are relu_2_1's 10 channels.
  await panel.getByLabel('Layer', { exact: true }).selectOption('conv_2_2');
  const buttons = await conceptButtons(page, 'relu_2_1', 6);
  await expect(panel.getByText(/top 6 of 10 channels by relevance, for class \d+/)).toBeVisible();

  // Each button names its channel and its share of the relevance, most relevant first, and holds a drawn 64x64 map.
  const names = await buttons.evaluateAll((bs) => bs.map((b) => b.getAttribute('aria-label') ?? ''));
  const parsed = names.map((n) => /^Channel (\d+): (-?[\d.]+)% of relu_2_1's relevance$/.exec(n));
  expect(parsed.every((m) => m !== null), names.join(' | ')).toBe(true);
  const channels = parsed.map((m) => Number(m![1]));
  const shares = parsed.map((m) => Number(m![2]));
  expect(new Set(channels).size).toBe(6);
  for (let i = 1; i < shares.length; i++) expect(shares[i]!).toBeLessThanOrEqual(shares[i - 1]!);
  const maps = await Promise.all(channels.map((_, i) => pixels(buttons.nth(i).locator('canvas'))));
  for (const m of maps) {
    expect([m.width, m.height]).toEqual([64, 64]);
    expect(colours(m)).toBeGreaterThan(10);
  }
  expect(maps[0]!.data).not.toEqual(maps[1]!.data);
  for (let i = 0; i < 6; i++) await expect(buttons.nth(i)).toHaveAttribute('aria-pressed', 'false');

  // Chosen by keyboard: the third map is pressed and enlarged.
  const chosen = channels[2]!;
  await buttons.nth(2).focus();
  await page.keyboard.press('Enter');
  await expect(buttons.nth(2)).toHaveAttribute('aria-pressed', 'true');
  const view = panel.getByRole('img', { name: `Concept view: input relevance conditioned on channel ${chosen} of relu_2_1`, exact: true });
  await expect(view).toBeVisible();
  const enlarged = await pixels(view);
  expect([enlarged.width, enlarged.height]).toEqual([64, 64]);
  expect((await view.boundingBox())!.width).toBeGreaterThan(200);

  // The link carries the concept.
  const link = await copyLink(page);
  expect(link).toMatch(/#s3\.[A-Za-z0-9_-]+$/);
  expect(decodeShareState(link).concept).toEqual({ layer: 'relu_2_1', channel: chosen });

  // Opened in a fresh browser: the Channels tab, the same layer, the concept chosen and the same map.
  const receiver = await freshPage(browser, baseURL!);
  try {
    await receiver.page.goto(link);
    await firstExplanation(receiver.page);
    const rpanel = analysis(receiver.page);
    await expect(rpanel.getByRole('tab', { name: 'Channels' })).toHaveAttribute('aria-selected', 'true');
    await expect(rpanel.getByLabel('Layer', { exact: true })).toHaveValue('conv_2_2');
    const rbuttons = await conceptButtons(receiver.page, 'relu_2_1', 6);
    expect(await rbuttons.evaluateAll((bs) => bs.map((b) => b.getAttribute('aria-label')))).toEqual(names);
    await expect(rpanel.getByRole('button', { name: names[2], exact: true })).toHaveAttribute('aria-pressed', 'true');
    const rview = rpanel.getByRole('img', { name: `Concept view: input relevance conditioned on channel ${chosen} of relu_2_1`, exact: true });
    await expect(rview).toBeVisible();
    expect(await pixels(rview)).toEqual(enlarged);
    await expect(receiver.page.getByRole('alert')).toHaveCount(0);
  } finally {
    await receiver.close();
  }

  // Pressed again: no concept, and the link drops it (back to version 1).
  await buttons.nth(2).click();
  await expect(buttons.nth(2)).toHaveAttribute('aria-pressed', 'false');
  await expect(view).toHaveCount(0);
  await expect.poll(() => decodeShareState(page.url()).concept, { timeout: 10_000 }).toBeUndefined();
});

test('a link’s concept that does not fit the model is named and left out; the rest of the link applies', async ({ page }) => {
  test.setTimeout(240_000);
  await page.goto('/?model=tinyvgg&image=coffee.png&backend=cpu');
  await firstExplanation(page);
  const panel = analysis(page);
  await panel.getByRole('tab', { name: 'Channels' }).click();
  // By default the first layer whose input is a layer's output: relu_1_1, which reads conv_1_1's channels.
  await conceptButtons(page, 'conv_1_1', 6);
  const base = decodeShareState(await copyLink(page));
  expect(base.concept).toBeUndefined();
  await panel.getByRole('tab', { name: 'Evaluate' }).click();

  // A channel the layer does not have: the Channels tab opens on the layer that reads it, with no concept chosen,
  // and the link's other settings (here its preset) apply.
  await page.evaluate((h) => (window.location.hash = h), encodeShareState({ ...base, preset: 'EpsilonGammaBox', concept: { layer: 'relu_2_1', channel: 42 } }));
  await expect(page.getByRole('alert').filter({ hasText: "The link's concept, channel 42 of “relu_2_1”, is not a channel of that layer (0 to 9); it was left out." })).toBeVisible();
  await expect(panel.getByRole('tab', { name: 'Channels' })).toHaveAttribute('aria-selected', 'true');
  await expect(panel.getByLabel('Layer', { exact: true })).toHaveValue('conv_2_2');
  await expect(page.getByRole('combobox', { name: 'Preset', exact: true })).toHaveValue('EpsilonGammaBox');
  const buttons = await conceptButtons(page, 'relu_2_1', 6);
  for (let i = 0; i < 6; i++) await expect(buttons.nth(i)).toHaveAttribute('aria-pressed', 'false');

  // A layer the model does not have.
  await page.evaluate((h) => (window.location.hash = h), encodeShareState({ ...base, concept: { layer: '<b>conv_9</b>', channel: 0 } }));
  await expect(page.getByRole('alert').filter({ hasText: "The link's concept is a channel of layer “<b>conv_9</b>”, which this model does not have; it was left out." })).toBeVisible();
  await expect(page.getByRole('combobox', { name: 'Preset', exact: true })).toHaveValue(base.preset);
  await expect(panel.getByRole('tab', { name: 'Channels' })).toHaveAttribute('aria-selected', 'true');
});
