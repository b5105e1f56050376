// Gradient baselines in the Compare tab (dist/app on port 4173), with tinyvgg (64x64) and few steps: B as
// Integrated Gradients, its map with its scale, the progress while it runs, and a share link that carries the choice
// (and a link whose method is out of range: a note, and the rest of the link applies).
import AxeBuilder from '@axe-core/playwright';
import { expect, test } from 'playwright/test';
import { decodeShareState, encodeShareState } from '../src/share/share-codec';
import type { ShareState } from '../src/share/share-state';
import { analysis, distinctColours, fastSettings, guardPage, open } from './helpers';

guardPage();

test('B as Integrated Gradients: its map and scale, and a link that carries the choice', async ({ page, browser, baseURL }) => {
  await open(page, '?model=tinyvgg&image=coffee.png&backend=cpu');
  const panel = analysis(page);
  await panel.getByRole('tab', { name: 'Compare' }).click();
  await fastSettings(page);
  await panel.getByRole('combobox', { name: 'Method of B' }).selectOption('integrated-gradients');
  // B's rules are not asked for while B is a baseline; its steps are.
  await expect(panel.getByLabel('Compare with')).toHaveCount(0);
  const steps = panel.getByRole('textbox', { name: 'Integrated Gradients steps of B' });
  await steps.fill('0');
  await steps.press('Enter');
  await expect(steps).toHaveAttribute('aria-invalid', 'true');
  await expect(panel.getByText('0 is out of range: enter a number from 1 to 256.')).toBeVisible();
  await steps.fill('6');
  await steps.press('Enter');
  await expect(steps).toHaveValue('6');

  await panel.getByRole('button', { name: 'Compare', exact: true }).click();
  await expect(page.getByTestId('compare-b')).toBeVisible({ timeout: 90_000 });
  const captions = panel.locator('.map-row figcaption');
  await expect(captions).toHaveText(['A: EpsilonPlusFlat', 'B: Integrated Gradients (6 steps, zeros baseline)', /^A − B \(red: A higher\), ±/]);
  const c = await distinctColours(page, 'compare-b');
  expect([c.width, c.height]).toEqual([64, 64]);
  expect(c.colours).toBeGreaterThan(10);
  await expect(page.getByRole('img', { name: 'Heatmap B: Integrated Gradients (6 steps, zeros baseline)' })).toBeVisible();
  // On the shared scale (what a receiver starts with), for the receiver's map below.
  const sentB = await page.getByTestId('compare-b').evaluate((el: HTMLCanvasElement) => el.toDataURL());
  // Each map on its own scale: B's is shown with it.
  await panel.getByRole('radio', { name: 'Per map' }).check();
  await expect(panel.locator('.map-scale').nth(1)).toHaveText(/^Scale ±\d/);
  await expect(panel.getByTestId('compare-aopc').locator('dt')).toHaveText([
    'AOPC A: EpsilonPlusFlat',
    'AOPC B: Integrated Gradients (6 steps, zeros baseline)',
    'AOPC random order',
  ]);

  // The link carries B's method (version 3); a receiver's Compare tab opens with it and computes the same map.
  await page.getByRole('button', { name: 'Copy share link', exact: true }).click();
  await expect(page.getByRole('status').filter({ hasText: /Link copied|selected in the field/ })).toBeVisible();
  const link = page.url();
  expect(link).toMatch(/#s3\.[A-Za-z0-9_-]+$/);
  const state = decodeShareState(link);
  expect(state.compareMethods).toEqual({ b: { method: 'integrated-gradients', steps: 6 } });

  const context = await browser.newContext({ baseURL: baseURL! });
  const receiver = await context.newPage();
  const receiverErrors: string[] = [];
  receiver.on('pageerror', (err) => receiverErrors.push(err.message));
  await receiver.goto(link);
  const rpanel = analysis(receiver);
  await expect(receiver.getByTestId('compare-b')).toBeVisible({ timeout: 90_000 });
  await expect(rpanel.getByRole('combobox', { name: 'Method of B' })).toHaveValue('integrated-gradients');
  await expect(rpanel.getByRole('combobox', { name: 'Method of A' })).toHaveValue('lrp');
  await expect(rpanel.getByRole('textbox', { name: 'Integrated Gradients steps of B' })).toHaveValue('6');
  await expect(rpanel.locator('.map-row figcaption').nth(1)).toHaveText('B: Integrated Gradients (6 steps, zeros baseline)');
  expect(await receiver.getByTestId('compare-b').evaluate((el: HTMLCanvasElement) => el.toDataURL())).toBe(sentB);

  // A method out of range: named once, that side uses its LRP rules, the rest of the link applies.
  const bad = { ...state, compareMethods: { a: { method: 'smoothgrad', samples: 2, noiseLevel: 0.1 }, b: { method: 'integrated-gradients', steps: 100000 } } } as unknown as ShareState;
  await receiver.goto('about:blank');
  await receiver.goto(`/?backend=cpu#${encodeShareState(bad)}`);
  const note = receiver.getByRole('region', { name: 'Share link' }).getByRole('alert');
  await expect(note).toContainText("The link's method of B (Integrated Gradients) has steps 100000, not a whole number from 1 to 256", { timeout: 60_000 });
  await expect(rpanel.getByRole('combobox', { name: 'Method of B' })).toHaveValue('lrp');
  await expect(rpanel.getByRole('combobox', { name: 'Method of A' })).toHaveValue('smoothgrad');
  await expect(receiver.getByTestId('compare-b')).toBeVisible({ timeout: 90_000 });
  await expect(rpanel.locator('.map-row figcaption')).toHaveText(['A: SmoothGrad (2 samples, noise 0.1)', 'B: EpsilonPlusFlat', /^A − B/]);
  expect(receiverErrors).toEqual([]);
  await context.close();
});

test('SmoothGrad progress moves while it runs, and Cancel stops it', async ({ page }) => {
  await open(page, '?model=tinyvgg&image=coffee.png&backend=cpu');
  const panel = analysis(page);
  await panel.getByRole('tab', { name: 'Compare' }).click();
  await fastSettings(page);
  await panel.getByRole('combobox', { name: 'Method of A' }).selectOption('smoothgrad');
  const samples = panel.getByRole('textbox', { name: 'SmoothGrad samples of A' });
  await samples.fill('256');
  await samples.press('Enter');
  await panel.getByRole('combobox', { name: 'Method of B' }).selectOption('smoothgrad');
  await panel.getByRole('textbox', { name: 'SmoothGrad samples of B' }).fill('256');
  await panel.getByRole('textbox', { name: 'SmoothGrad samples of B' }).press('Enter');
  await panel.getByRole('button', { name: 'Compare', exact: true }).click();
  const progress = panel.getByRole('progressbar', { name: 'Progress' });
  await expect(progress).toBeVisible();
  // The share done grows between two looks a second and a half apart.
  await expect.poll(() => progress.evaluate((p: HTMLProgressElement) => p.value), { timeout: 30_000 }).toBeGreaterThan(0);
  const first = await progress.evaluate((p: HTMLProgressElement) => p.value);
  await page.waitForTimeout(1500);
  expect(await progress.evaluate((p: HTMLProgressElement) => p.value)).toBeGreaterThan(first);
  await panel.getByRole('button', { name: 'Cancel' }).click();
  await expect(progress).toHaveCount(0);
  await expect(panel.getByTestId('compare-b')).toHaveCount(0);
  await expect(panel.locator('.error')).toHaveCount(0);
});

test('the method choosers work from the keyboard and axe-core finds no serious violation in them', async ({ page }) => {
  await open(page, '?model=tinyvgg&image=coffee.png&backend=cpu');
  const panel = analysis(page);
  await panel.getByRole('tab', { name: 'Compare' }).click();
  const methodA = panel.getByRole('combobox', { name: 'Method of A' });
  await methodA.focus();
  // Down from "LRP" three times: Gradient, Gradient x Input, SmoothGrad.
  for (let i = 0; i < 3; i++) await page.keyboard.press('ArrowDown');
  await expect(methodA).toHaveValue('smoothgrad');
  await page.keyboard.press('Tab');
  await expect(panel.getByRole('textbox', { name: 'SmoothGrad samples of A' })).toBeFocused();
  await page.keyboard.press('Tab');
  const noise = panel.getByRole('textbox', { name: 'SmoothGrad noise level of A' });
  await expect(noise).toBeFocused();
  await page.keyboard.type('5');
  await page.keyboard.press('Enter');
  await expect(noise).toHaveAttribute('aria-invalid', 'true');
  await panel.getByRole('combobox', { name: 'Method of B' }).selectOption('integrated-gradients');
  const results = await new AxeBuilder({ page }).include('.compare-panel').withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']).analyze();
  const serious = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.help}`);
  expect(serious).toEqual([]);
});
