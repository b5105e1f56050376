// The app with larger, real models and the controls around them: a failed explanation is not retried in a loop,
// the layer panel groups, filters and sets rules per group, a large model loads with progress while the page stays
// responsive, and the number boxes are edited as text and validated. Run against dist/app like app.spec.ts.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test, type Page } from 'playwright/test';
import { analysis, BOTH, explanations, guardPage, modelMenu, nextExplanation, open, requests, ruleFor, status } from './helpers';

const here = dirname(fileURLToPath(import.meta.url));
const goldens = resolve(here, '..', process.env.LRP_LENS_GOLDENS ?? '../shared/goldens');
const RESNET18 = resolve(goldens, 'torchvision/resnet18.onnx');

guardPage();

// ---------------------------------------------------------------------------------------------------------------

test('a failed explanation is shown once and not retried until the next change', BOTH, async ({ page }) => {
  await page.goto('/?model=tinyvgg&image=none');
  await expect(modelMenu(page)).toHaveValue('tinyvgg');
  await page.getByLabel('Open model', { exact: true }).setInputFiles([resolve(goldens, 'cnn.onnx'), resolve(goldens, 'cnn.onnx.data')]);
  await expect(modelMenu(page)).toHaveValue(/^user:/);
  await page.getByLabel('Upload image', { exact: true }).setInputFiles(resolve(goldens, 'cnn.input.npy'));
  const n = await nextExplanation(page, 0);
  // TinyVGG takes 64x64 inputs: the 16x16 tensor cannot be explained.
  await modelMenu(page).selectOption('tinyvgg');
  const alert = page.getByRole('alert').filter({ hasText: 'The explanation failed' });
  await expect(alert).toContainText('[1, 3, 16, 16]');
  await expect(status(page)).not.toContainText('computing');
  const sent = await requests(page);
  // Count what the page does for two seconds: no request, and a status line that stays still.
  const changes = await page.evaluate(async () => {
    const line = document.querySelector('[role="status"][aria-label="Status"]')!;
    let count = 0;
    const observer = new MutationObserver((records) => (count += records.length));
    observer.observe(line, { subtree: true, childList: true, characterData: true });
    await new Promise((r) => setTimeout(r, 2000));
    observer.disconnect();
    return count;
  });
  expect(changes).toBe(0);
  expect(await requests(page)).toBe(sent);
  await expect(alert).toBeVisible();
  // The next change tries again (and fails again, once). (conv_1_1 has EpsilonPlusFlat's Flat: ZPlus is a change.)
  await ruleFor(page, 'conv_1_1').selectOption('zplus');
  await expect.poll(() => requests(page)).toBe(sent + 1);
  await expect(status(page)).not.toContainText('computing');
  await page.waitForTimeout(1000);
  expect(await requests(page)).toBe(sent + 1);
  await expect(alert).toBeVisible();
  // Try again: once more, by hand.
  await alert.getByRole('button', { name: 'Try again' }).click();
  await expect.poll(() => requests(page)).toBe(sent + 2);
  await expect(status(page)).not.toContainText('computing');
  await page.waitForTimeout(1000);
  expect(await requests(page)).toBe(sent + 2);
  await expect(alert).toContainText('[1, 3, 16, 16]');
  // A fitting image explains.
  await page.getByRole('button', { name: 'A cup of coffee' }).click();
  await nextExplanation(page, n);
  await expect(page.getByRole('alert').filter({ hasText: 'The explanation failed' })).toHaveCount(0);
});

test('the layer panel groups a real model by module, filters it and sets a rule on a whole group', async ({ page }) => {
  await page.goto('/?model=tinyvgg&image=none');
  await expect(modelMenu(page)).toHaveValue('tinyvgg');
  await page.getByLabel('Open model', { exact: true }).setInputFiles(RESNET18);
  await expect(modelMenu(page)).toHaveValue(/^user:/, { timeout: 90_000 });
  // Captum's default preset, named (the page starts with EpsilonPlusFlat, whose Flat on conv1 the filter for "flat"
  // below would find too).
  await page.getByRole('combobox', { name: 'Preset', exact: true }).selectOption('captum-default');

  // Groups by module path: each stage of the ResNet is a group, its downsampling convolution included.
  // (Layer counts are matched loosely: they follow the importer, e.g. whether a block's two ReLUs are one.)
  const block = page.getByRole('button', { name: /^layer2 \(\d+ layers\)$/ });
  await expect(block).toHaveAttribute('aria-expanded', 'true');
  await expect(page.getByRole('button', { name: /^layer\d \(\d+ layers\)$/ })).toHaveCount(4);
  // (The importer names it layer2.0.downsample.0 or layer2.0.downsample.downsample.0, after the ONNX scope.)
  const downsample = (block: string) => page.getByRole('combobox', { name: new RegExp(`^Rule for ${block.replace('.', '\\.')}\\.downsample\\.`) });
  await expect(downsample('layer2.0')).toBeVisible();
  // Layers outside any module stay flat.
  await expect(ruleFor(page, 'conv1')).toBeVisible();
  await expect(ruleFor(page, 'fc')).toBeVisible();
  // A toggle collapses its group, from the mouse or the keyboard.
  await block.click();
  await expect(block).toHaveAttribute('aria-expanded', 'false');
  await expect(ruleFor(page, 'layer2.0.conv1')).toHaveCount(0);
  await expect(ruleFor(page, 'layer3.1.conv1')).toBeVisible();
  await block.focus();
  await page.keyboard.press('Enter');
  await expect(block).toHaveAttribute('aria-expanded', 'true');
  await expect(ruleFor(page, 'layer2.0.conv1')).toBeVisible();
  await page.getByRole('button', { name: 'Collapse all groups' }).click();
  await expect(page.getByRole('button', { expanded: true, name: /layers\)$/ })).toHaveCount(0);
  await expect(ruleFor(page, 'layer1.0.conv1')).toHaveCount(0);
  await expect(ruleFor(page, 'conv1')).toBeVisible();

  // The filter: by name (it opens the groups holding a match), by type, by rule.
  const filter = page.getByRole('searchbox', { name: 'Filter layers' });
  await filter.fill('downsample');
  await expect(page.getByRole('combobox', { name: /^Rule for layer/ })).toHaveCount(3);
  await expect(downsample('layer3.0')).toBeVisible();
  await expect(page.getByText(/^3 of \d+ layers match/)).toBeVisible();
  await filter.fill('add');
  await expect(page.getByRole('combobox', { name: /^Rule for layer\d\.\d\.add$/ })).toHaveCount(8);
  await expect(page.getByRole('combobox', { name: /^Rule for (?!group)/ })).toHaveCount(8);
  await filter.fill('');
  await page.getByRole('button', { name: 'Expand all groups' }).click();
  await ruleFor(page, 'layer4.1.conv2').selectOption('flat');
  await filter.fill('flat');
  await expect(page.getByRole('combobox', { name: /^Rule for (?!group)/ })).toHaveCount(1);
  await expect(ruleFor(page, 'layer4.1.conv2')).toHaveValue('flat');
  await filter.fill('nothing like this');
  await expect(page.getByText('No layer matches “nothing like this”.')).toBeVisible();
  await filter.fill('');

  // A rule for a whole group: set where it applies, the rest named as skipped.
  // (With a photo, so that there is a share link: it carries the group's rules like any other change.)
  await page.getByRole('button', { name: 'A cup of coffee' }).click();
  await expect.poll(() => page.evaluate(() => location.hash), { timeout: 60_000 }).toMatch(/^#s1\./);
  const hashBefore = await page.evaluate(() => location.hash);
  const groupRule = page.getByRole('combobox', { name: 'Rule for group layer2', exact: true });
  await expect(groupRule).toHaveValue('');
  await groupRule.selectOption({ label: 'Gamma' });
  await expect(page.getByRole('status', { name: 'Group rule result' })).toHaveText(
    /^Gamma set on 5 layers of layer2; skipped \d+ it does not apply to: .*layer2\.0\.add \(add\).*layer2\.1\.add \(add\)/,
  );
  for (const b of ['layer2.0', 'layer2.1']) for (const c of ['conv1', 'conv2']) await expect(ruleFor(page, `${b}.${c}`)).toHaveValue('gamma');
  await expect(downsample('layer2.0')).toHaveValue('gamma');
  await expect(ruleFor(page, 'layer2.0.relu')).not.toHaveValue('gamma');
  await expect(ruleFor(page, 'layer3.0.conv1')).not.toHaveValue('gamma');
  // (layer4.1.conv2's Flat from before, and the five.)
  await expect(page.getByRole('button', { name: 'Reset 6 changed layers' })).toBeVisible();
  await expect(groupRule).toHaveValue('gamma');
  // Each layer of the group can still be changed on its own, and the share link follows.
  await expect(page.getByRole('slider', { name: 'gamma for layer2.0.conv1', exact: true })).toBeVisible();
  await expect.poll(() => page.evaluate(() => location.hash)).not.toBe(hashBefore);
  // One layer changed on its own: the group's menu no longer claims a rule for all of it.
  await ruleFor(page, 'layer2.1.conv2').selectOption('epsilon');
  await expect(groupRule).toHaveValue('');
  await page.getByRole('button', { name: 'Reset 6 changed layers' }).click();
  await expect(ruleFor(page, 'layer2.0.conv1')).not.toHaveValue('gamma');
});

test('a large model (45 MB) loads with its progress shown, and the page keeps responding', async ({ page }) => {
  await page.goto('/?model=tinyvgg&image=coffee.png');
  await nextExplanation(page, 0);
  // Watch the page while the model loads: every progress text shown, and the longest pause of its main thread.
  await page.evaluate(() => {
    const w = window as unknown as { __watch: { texts: string[]; maxGap: number; stop: () => void } };
    const texts: string[] = [];
    const observer = new MutationObserver(() => {
      const t = document.querySelector('progress[aria-label="Loading progress"]')?.parentElement?.textContent;
      if (t && texts.at(-1) !== t) texts.push(t);
    });
    observer.observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
    let last = performance.now();
    let maxGap = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
    }, 10);
    w.__watch = {
      texts,
      get maxGap() {
        return maxGap;
      },
      stop: () => {
        observer.disconnect();
        clearInterval(timer);
      },
    };
  });
  await page.getByLabel('Open model', { exact: true }).setInputFiles(RESNET18);
  const loading = page.getByRole('progressbar', { name: 'Loading progress' });
  await expect(loading).toBeVisible();
  // While it loads, the page responds: a button takes the focus, a menu opens, the heatmap view reacts.
  const button = page.getByRole('button', { name: 'Chelsea the cat' });
  await button.focus();
  await expect(button).toBeFocused();
  await page.getByRole('combobox', { name: 'Colormap', exact: true }).selectOption('magnitude');
  await expect(page.getByRole('combobox', { name: 'Colormap', exact: true })).toHaveValue('magnitude');
  await expect(modelMenu(page)).toHaveValue(/^user:/, { timeout: 90_000 });
  await expect(loading).toHaveCount(0);
  const watch = await page.evaluate(() => {
    const w = (window as unknown as { __watch: { texts: string[]; maxGap: number; stop: () => void } }).__watch;
    w.stop();
    return { texts: w.texts, maxGap: w.maxGap };
  });
  console.log(`resnet18.onnx: longest main-thread pause ${Math.round(watch.maxGap)} ms while loading; progress shown: ${watch.texts.join(' | ')}`);
  expect(watch.texts.some((t) => /^Reading resnet18\.onnx… [\d.]+ MB of 46\.7 MB/.test(t))).toBe(true);
  expect(watch.texts.some((t) => t.startsWith('Importing resnet18.onnx'))).toBe(true);
  expect(watch.texts.some((t) => t.startsWith('Compiling resnet18.onnx'))).toBe(true);
  // The page's own work on the main thread is small (a profile shows ~150 ms of it in all); the bound is loose because
  // two shared cores and Playwright's own snapshots stretch the pauses.
  expect(watch.maxGap).toBeLessThan(1000);
});

test('number boxes are edited as text and checked when committed, with an inline message', BOTH, async ({ page }) => {
  let n = await open(page, '?model=tinyvgg&image=coffee.png');
  const clip = page.getByRole('checkbox', { name: 'Clip at percentile' });
  const box = page.getByRole('textbox', { name: 'Clip percentile', exact: true });
  const scale = page.getByText(/percentile of \|relevance\| saturate/);
  // The page starts clipped at the 99.5th percentile; off: the box is disabled, and looks it.
  await expect(clip).toBeChecked();
  await expect(box).toHaveValue('99.5');
  await clip.uncheck();
  await expect(box).toBeDisabled();
  expect(await box.evaluate((e) => getComputedStyle(e).cursor)).toBe('not-allowed');
  await clip.check();
  await expect(box).toBeEnabled();
  await expect(box).toHaveValue('99.5');
  await expect(scale).toContainText('the 99.5th percentile');
  // Backspace edits the text; nothing is applied until Enter.
  await box.click();
  await box.press('End');
  await box.press('Backspace');
  await expect(box).toHaveValue('99.');
  await expect(scale).toContainText('the 99.5th percentile');
  await box.press('9');
  await expect(box).toHaveValue('99.9');
  await box.press('Enter');
  await expect(scale).toContainText('the 99.9th percentile');
  // Cleared and typed again.
  await box.fill('');
  await box.pressSequentially('97.5');
  await expect(box).toHaveValue('97.5');
  await box.press('Enter');
  await expect(scale).toContainText('the 97.5th percentile');
  await expect(box).toHaveAttribute('aria-invalid', 'false');
  // Not a number: an inline message, the last good value stays in effect.
  await box.fill('abc');
  await box.press('Enter');
  await expect(box).toHaveAttribute('aria-invalid', 'true');
  await expect(box).toHaveAccessibleDescription('“abc” is not a number: enter one from 50 to 99.99.');
  await expect(page.getByText('“abc” is not a number')).toBeVisible();
  await expect(scale).toContainText('the 97.5th percentile');
  // Out of range, committed by leaving the box.
  await box.fill('9');
  await box.press('Tab');
  await expect(box).toHaveAccessibleDescription('9 is out of range: enter a number from 50 to 99.99.');
  await expect(box).toHaveValue('9');
  await expect(scale).toContainText('the 97.5th percentile');
  // Escape returns to the value in effect.
  await box.focus();
  await box.press('Escape');
  await expect(box).toHaveValue('97.5');
  await expect(box).toHaveAttribute('aria-invalid', 'false');
  expect(await explanations(page)).toBe(n);

  // A rule parameter's box: the same checks, then a good value moves the slider and re-explains.
  await ruleFor(page, 'conv_1_1').selectOption('gamma');
  n = await nextExplanation(page, n);
  const gamma = page.getByRole('textbox', { name: 'gamma for conv_1_1 (value)', exact: true });
  await gamma.fill('-1');
  await gamma.press('Enter');
  await expect(gamma).toHaveAttribute('aria-invalid', 'true');
  await expect(gamma).toHaveAccessibleDescription('-1 is out of range: enter a number from 0 to 1000000.');
  await gamma.fill('0x10');
  await gamma.press('Enter');
  await expect(gamma).toHaveAccessibleDescription(/not a number/);
  await page.waitForTimeout(300);
  expect(await explanations(page)).toBe(n);
  await gamma.fill('0.5');
  await gamma.press('Enter');
  await expect(gamma).toHaveAttribute('aria-invalid', 'false');
  await expect(page.getByRole('slider', { name: 'gamma for conv_1_1', exact: true })).toHaveValue('0.5');
  n = await nextExplanation(page, n);
  // A value set elsewhere (the slider) replaces a bad text and its message.
  await gamma.fill('abc');
  await gamma.press('Enter');
  await expect(gamma).toHaveAttribute('aria-invalid', 'true');
  await page.getByRole('slider', { name: 'gamma for conv_1_1', exact: true }).fill('1');
  await expect(gamma).toHaveValue('1');
  await expect(gamma).toHaveAttribute('aria-invalid', 'false');
  n = await nextExplanation(page, n);

  // ZBox's bounds: one number, or one per channel (3).
  await ruleFor(page, 'conv_1_1').selectOption('zbox');
  n = await nextExplanation(page, n);
  const low = page.getByRole('textbox', { name: 'low for conv_1_1', exact: true });
  await low.fill('-1, x');
  await low.press('Enter');
  await expect(low).toHaveAccessibleDescription('“x” is not a number: enter one number, or 3 (one per channel), separated by commas.');
  await low.fill('-1, -2');
  await low.press('Enter');
  await expect(low).toHaveAccessibleDescription('2 numbers: enter one number, or 3 (one per channel).');
  await page.waitForTimeout(300);
  expect(await explanations(page)).toBe(n);
  await low.fill('-2.1, -2, -1.8');
  await low.press('Enter');
  await expect(low).toHaveAttribute('aria-invalid', 'false');
  await nextExplanation(page, n);
  await expect(low).toHaveValue('-2.1, -2, -1.8');
});

/**
 * Starts a run with `start` and samples its progress row every 50 ms while it is there: its texts, each with the time
 * it appeared, then "(done)" when the row went. Empty if no row appeared within 30 s.
 */
async function progressOf(page: Page, start: () => Promise<void>): Promise<{ t: number; text: string }[]> {
  const watching = page.evaluate(async () => {
    const changes: { t: number; text: string }[] = [];
    const row = () => document.querySelector('progress[aria-label="Progress"]')?.parentElement ?? null;
    const t0 = performance.now();
    while (!row()) {
      if (performance.now() - t0 > 30_000) return changes;
      await new Promise((r) => setTimeout(r, 20));
    }
    for (let el = row(); el; el = row()) {
      const text = el.textContent ?? '';
      if (changes.at(-1)?.text !== text) changes.push({ t: performance.now(), text });
      await new Promise((r) => setTimeout(r, 50));
    }
    changes.push({ t: performance.now(), text: '(done)' });
    return changes;
  });
  await start();
  return watching;
}

test('Evaluate, Compare and the sanity check show progress that moves every second, and how long they took', BOTH, async ({ page }) => {
  // resnet20 on the CPU backend: each run lasts a few seconds (the sanity check: ~20 randomisation steps of an
  // explanation each; Evaluate and Compare with their fastest settings, still a few seconds).
  await open(page, '?model=resnet20-cifar10&image=chelsea.png&backend=cpu');
  const panel = analysis(page);
  await panel.getByRole('tab', { name: 'Evaluate', exact: true }).click();
  await panel.getByLabel('Patch').selectOption('16');
  await panel.getByLabel('Steps').selectOption('4');
  const runs: [tab: string, button: string][] = [
    ['Evaluate', 'Evaluate'],
    ['Compare', 'Compare'],
    ['Sanity check', 'Run sanity check'],
  ];
  for (const [tab, button] of runs) {
    await panel.getByRole('tab', { name: tab, exact: true }).click();
    const changes = await progressOf(page, () => panel.getByRole('button', { name: button, exact: true }).click());
    console.log(`${tab} progress: ${changes.map((c) => `${Math.round(c.t - changes[0]!.t)} ms ${c.text}`).join(' | ')}`);
    expect(changes.length, `${tab}: a progress row, then its end`).toBeGreaterThan(1);
    expect(changes[0]!.text).toMatch(/\d+%.*elapsed/);
    for (let i = 1; i < changes.length; i++) expect(changes[i]!.t - changes[i - 1]!.t, `${tab}: ${changes[i]!.text}`).toBeLessThan(1000);
    await expect(panel.getByRole('status').filter({ hasText: /^Finished after \d+\.\d s\.$/ })).toBeVisible();
  }
  await expect(page.getByTestId('randomization-maps').locator('figure').first()).toBeVisible();
});

test('a model with many layers (MobileNetV2, 100) opens with its groups collapsed; the filter finds any layer', async ({ page }) => {
  await page.goto('/?model=tinyvgg&image=none');
  await expect(modelMenu(page)).toHaveValue('tinyvgg');
  await page.getByLabel('Open model', { exact: true }).setInputFiles(resolve(goldens, 'torchvision/mobilenet_v2.onnx'));
  await expect(modelMenu(page)).toHaveValue(/^user:/, { timeout: 90_000 });
  const groups = page.getByRole('button', { name: /^features\.\d+ \(\d+ layers\)$/ });
  await expect(groups).toHaveCount(19);
  await expect(page.getByRole('button', { name: /layers\)$/, expanded: true })).toHaveCount(0);
  // No layer of a group is listed; each group's rule menu is.
  await expect(page.getByRole('combobox', { name: /^Rule for features\./ })).toHaveCount(0);
  await expect(page.getByRole('combobox', { name: /^Rule for group / })).toHaveCount(19);
  // Tab reaches a group's toggle; Space opens it.
  const block = page.getByRole('button', { name: /^features\.2 \(/ });
  await page.getByRole('combobox', { name: /^Rule for group features\.1$/ }).focus();
  await page.keyboard.press('Tab');
  await expect(block).toBeFocused();
  await page.keyboard.press('Space');
  await expect(block).toHaveAttribute('aria-expanded', 'true');
  await expect(page.getByRole('combobox', { name: /^Rule for features\.2\./ }).first()).toBeVisible();
  // The filter opens the groups that hold a match.
  await page.getByRole('searchbox', { name: 'Filter layers' }).fill('features.17.');
  await expect(page.getByRole('combobox', { name: /^Rule for features\.17\./ }).first()).toBeVisible();
  await expect(page.getByRole('button', { name: /layers\)$/ })).toHaveCount(1);
});
