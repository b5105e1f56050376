// The evaluation views of the app (dist/app on port 4173): pixel flipping, the comparison of two rule assignments,
// the model-randomisation sanity check and the channel ranking, with tinyvgg (64x64) and fast settings.
import { expect, test, type Page } from 'playwright/test';

const pageErrors = new WeakMap<Page, string[]>();

test.beforeEach(async ({ page }) => {
  const errors: string[] = [];
  pageErrors.set(page, errors);
  page.on('pageerror', (err) => errors.push(err.message));
});

test.afterEach(async ({ page }) => {
  expect(pageErrors.get(page), 'uncaught errors in the page').toEqual([]);
});

async function open(page: Page, query: string): Promise<void> {
  await page.goto(`/${query}`);
  await page.waitForFunction(() => (window.__lrpLens?.explanations ?? 0) > 0, undefined, { timeout: 60_000 });
}

const analysis = (page: Page) => page.getByRole('region', { name: 'Evaluate and compare' });

async function fastSettings(page: Page): Promise<void> {
  const panel = analysis(page);
  await panel.getByLabel('Patch').selectOption('16');
  await panel.getByLabel('Steps').selectOption('4');
  await panel.getByLabel('Baseline').selectOption('mean');
}

/** Canvas pixels as drawn: how many distinct RGBA values. */
const distinctColours = (page: Page, testId: string) =>
  page.getByTestId(testId).evaluate((c: HTMLCanvasElement) => {
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    const seen = new Set<number>();
    for (let i = 0; i < d.length; i += 4) seen.add((d[i]! << 16) | (d[i + 1]! << 8) | d[i + 2]!);
    return { width: c.width, height: c.height, colours: seen.size };
  });

test('the evaluation chart shows the relevance-order and random-order curves with their AOPC', async ({ page }) => {
  await open(page, '?model=tinyvgg&image=coffee.png&backend=cpu');
  const panel = analysis(page);
  await panel.getByRole('tab', { name: 'Evaluate' }).click();
  await fastSettings(page);
  await panel.getByRole('button', { name: 'Evaluate', exact: true }).click();
  const chart = panel.getByTestId('line-chart');
  await expect(chart).toBeVisible({ timeout: 60_000 });
  const series = chart.locator('path.series');
  await expect(series).toHaveCount(2);
  await expect(chart.locator('path[data-series="relevance order"]')).toHaveAttribute('d', /^M[\d.]+,[\d.]+( L[\d.]+,[\d.]+){4}$/);
  await expect(chart.locator('path[data-series="random order"]')).toHaveAttribute('d', /^M[\d.]+,[\d.]+( L[\d.]+,[\d.]+){4}$/);
  const relevance = Number(await panel.getByTestId('aopc-relevance').textContent());
  const random = Number(await panel.getByTestId('aopc-random').textContent());
  expect(Number.isFinite(relevance)).toBe(true);
  expect(Number.isFinite(random)).toBe(true);
  await expect(panel.getByText('16 patches, 4 steps')).toBeVisible();
  // A change of rules (from the page's EpsilonPlusFlat) marks the result out of date.
  await page.getByRole('combobox', { name: 'Preset' }).selectOption('captum-default');
  await expect(panel.getByText(/Out of date/)).toBeVisible();
});

test('the compare view shows both heatmaps, their difference and both curves', async ({ page }) => {
  await open(page, '?model=tinyvgg&image=coffee.png&backend=cpu');
  // A is Captum's default preset, named (the page starts with EpsilonPlusFlat).
  await page.getByRole('combobox', { name: 'Preset' }).selectOption('captum-default');
  const panel = analysis(page);
  await panel.getByRole('tab', { name: 'Compare' }).click();
  await fastSettings(page);
  await panel.getByLabel('Compare with').selectOption('EpsilonGammaBox');
  await panel.getByRole('button', { name: 'Compare', exact: true }).click();
  await expect(page.getByTestId('compare-diff')).toBeVisible({ timeout: 60_000 });
  for (const id of ['compare-a', 'compare-b', 'compare-diff']) {
    const c = await distinctColours(page, id);
    expect([c.width, c.height]).toEqual([64, 64]);
    expect(c.colours, id).toBeGreaterThan(10);
  }
  const captions = panel.locator('.map-row figcaption');
  await expect(captions).toHaveText(['A: Captum default', 'B: EpsilonGammaBox', /^A − B \(red: A higher\), ±/]);
  const chart = panel.getByTestId('line-chart');
  await expect(chart.locator('path.series')).toHaveCount(3);
  await expect(panel.getByTestId('compare-aopc').locator('dd')).toHaveCount(3);

  // A snapshot of the current rules becomes B; A then changes.
  await panel.getByRole('button', { name: 'Snapshot current rules as B' }).click();
  await expect(panel.getByLabel('Compare with')).toHaveValue('snapshot');
  await page.getByRole('combobox', { name: 'Preset' }).selectOption('EpsilonPlusFlat');
  await panel.getByRole('button', { name: 'Compare', exact: true }).click();
  await expect(captions.nth(1)).toHaveText('B: snapshot: captum-default', { timeout: 60_000 });
  await expect(captions.nth(0)).toHaveText('A: EpsilonPlusFlat');
  await expect(panel.getByText(/Out of date/)).toHaveCount(0, { timeout: 60_000 });
  await expect(chart.locator('path.series')).toHaveCount(3);
});

test('the sanity check shows a heatmap and a rank correlation per randomised layer', async ({ page }) => {
  await open(page, '?model=tinyvgg&image=coffee.png&backend=cpu');
  const panel = analysis(page);
  await panel.getByRole('tab', { name: 'Sanity check' }).click();
  await panel.getByRole('button', { name: 'Run sanity check' }).click();
  const maps = page.getByTestId('randomization-maps').locator('figure');
  await expect(maps.first()).toBeVisible({ timeout: 90_000 });
  const n = await maps.count();
  expect(n).toBeGreaterThan(2);
  await expect(maps.first()).toContainText('ρ = 1.00');
  await expect(panel.getByTestId('line-chart').locator('path.series')).toHaveCount(2);
});

test('the channel view ranks a layer’s channels with their maps', async ({ page }) => {
  await open(page, '?model=tinyvgg&image=coffee.png&backend=cpu');
  const panel = analysis(page);
  await panel.getByRole('tab', { name: 'Channels' }).click();
  const maps = page.getByTestId('channel-maps').locator('figure');
  await expect(maps.first()).toContainText('#1 ch');
  const count = await maps.count();
  expect(count).toBeGreaterThan(1);
  expect(count).toBeLessThanOrEqual(16);
  const sums = (await maps.allTextContents()).map((t) => Number(t.split(': ')[1]));
  for (let i = 1; i < sums.length; i++) expect(sums[i]!).toBeLessThanOrEqual(sums[i - 1]! + 1e-12);
});
