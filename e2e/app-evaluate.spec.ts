// The evaluation views of the app (dist/app on port 4173): pixel flipping, the comparison of two rule assignments,
// the model-randomisation sanity check and the channel ranking, with tinyvgg (64x64) and fast settings.
import { expect, test } from 'playwright/test';
import { analysis, distinctColours, fastSettings, guardPage, open } from './helpers';

guardPage();

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
