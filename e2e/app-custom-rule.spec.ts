// The custom rule editor (dist/app on port 4173): Epsilon defined as a custom rule through the form, assigned to a
// layer through its Rule menu, gives the heatmap of the built-in Epsilon exactly; the definition travels in the share
// link (version 4) and a fresh browser reopens it with the same relevance; bad definitions are named inline.
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from 'playwright/test';
import { decodeShareState, encodeShareState } from '../src/share/share-codec';
import { freshPage, guardConsole, nextExplanation, ruleFor } from './helpers';

guardConsole();

function relevance(page: Page): Promise<number[]> {
  return page.evaluate(() => Array.from(window.__lrpLens!.lastRelevance!));
}

function heatmapPixels(page: Page): Promise<number[]> {
  return page.getByRole('img', { name: 'Relevance heatmap', exact: true }).evaluate((c: HTMLCanvasElement) => Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data));
}

test('Epsilon defined as a custom rule gives the built-in Epsilon heatmap; it travels in the link', async ({ page, browser, baseURL }) => {
  test.setTimeout(300_000);
  await page.goto('/?model=tinyvgg&image=coffee.png&backend=cpu');
  let n = await nextExplanation(page, 0);

  // The built-in Epsilon on conv_1_2 (EpsilonPlusFlat gives it ZPlus).
  await ruleFor(page, 'conv_1_2').selectOption('epsilon');
  n = await nextExplanation(page, n);
  const builtin = { relevance: await relevance(page), pixels: await heatmapPixels(page) };

  // The editor, by its accessible names: a bad definition first (a built-in id, a negative epsilon), then Epsilon.
  const editor = page.locator('details.rule-editor');
  await editor.getByText('Custom rules', { exact: true }).click();
  const form = page.getByRole('form', { name: 'Define a custom rule' });
  await form.getByLabel('Start from').selectOption('epsilon');
  await form.getByLabel('Rule id').fill('epsilon');
  await form.getByLabel('Rule name').fill('My epsilon');
  await form.getByRole('button', { name: 'Define rule' }).click();
  await expect(form.getByRole('alert')).toContainText('"epsilon" is the name of a built-in rule');
  await form.getByLabel('Rule id').fill('my.eps');
  await form.getByLabel('Epsilon', { exact: true }).fill('-1');
  await expect(form.getByLabel('Epsilon', { exact: true })).toHaveAttribute('aria-invalid', 'true');
  await form.getByRole('button', { name: 'Define rule' }).click();
  await expect(form.getByRole('alert')).toContainText('Epsilon must not be negative');
  // The open editor, with its messages shown, has no serious or critical accessibility violation.
  const axe = await new AxeBuilder({ page }).include('details.rule-editor').withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']).analyze();
  expect(axe.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);
  await form.getByLabel('Epsilon', { exact: true }).fill('1e-6');
  await expect(form.getByRole('combobox', { name: 'Group 1 term 1 weight modifier' })).toHaveValue('identity');
  await form.getByRole('button', { name: 'Define rule' }).click();
  await expect(form.getByRole('status', { name: 'Custom rule result' })).toContainText('Defined “My epsilon” (my.eps)');
  await expect(form.getByRole('alert')).toHaveCount(0);

  // It is offered in the Rule menu of a Conv layer (and not of an activation), and gives the same heatmap.
  await expect(ruleFor(page, 'conv_1_2').getByRole('option', { name: 'My epsilon' })).toHaveCount(1);
  await expect(ruleFor(page, 'relu_1_1').getByRole('option', { name: 'My epsilon' })).toHaveCount(0);
  await ruleFor(page, 'conv_1_2').selectOption('my.eps');
  await nextExplanation(page, n);
  expect(await relevance(page)).toEqual(builtin.relevance);
  expect(await heatmapPixels(page)).toEqual(builtin.pixels);

  // The link (the address follows the state) carries the definition: version 4.
  await expect.poll(() => page.url(), { timeout: 10_000 }).toMatch(/#s4\.[A-Za-z0-9_-]+$/);
  const link = page.url();
  const state = decodeShareState(link);
  expect(state.overrides.conv_1_2).toEqual({ rule: 'my.eps', params: {} });
  expect(state.ruleDefs?.map((d) => d.id)).toEqual(['my.eps']);

  const receiver = await freshPage(browser, baseURL!);
  try {
    await receiver.page.goto(link);
    await nextExplanation(receiver.page, 0);
    await expect(ruleFor(receiver.page, 'conv_1_2')).toHaveValue('my.eps');
    await expect(receiver.page.getByText('Custom rules (1)', { exact: true })).toBeVisible();
    expect(await relevance(receiver.page)).toEqual(builtin.relevance);
    expect(await heatmapPixels(receiver.page)).toEqual(builtin.pixels);
    await expect(receiver.page.getByRole('alert')).toHaveCount(0);
  } finally {
    await receiver.close();
  }

  // Removed: the layer goes back to the preset's rule and the link to version 1.
  await page.getByRole('button', { name: 'Remove custom rule My epsilon' }).click();
  await expect(ruleFor(page, 'conv_1_2')).toHaveValue('zplus');
  await expect.poll(() => page.url(), { timeout: 10_000 }).toMatch(/#s1\./);
});

test('Gamma defined through the affine modifiers (γ = 0.25) gives the built-in Gamma relevance; Edit shows it back', async ({ page, browser, baseURL }) => {
  test.setTimeout(300_000);
  await page.goto('/?model=tinyvgg&image=coffee.png&backend=cpu');
  let n = await nextExplanation(page, 0);

  // The built-in Gamma (γ = 0.25, its default) on conv_1_2.
  await ruleFor(page, 'conv_1_2').selectOption('gamma');
  n = await nextExplanation(page, n);
  const builtin = { relevance: await relevance(page), pixels: await heatmapPixels(page) };

  // Gamma's groups, every modifier through the affine choice: up = w + γ·w⁺, down = w + γ·w⁻.
  await page.locator('details.rule-editor').getByText('Custom rules', { exact: true }).click();
  const form = page.getByRole('form', { name: 'Define a custom rule' });
  await form.getByLabel('Start from').selectOption('gamma');
  await form.getByLabel('Rule id').fill('my.affine-gamma');
  await form.getByLabel('Rule name').fill('My affine gamma');
  await form.getByLabel('Gamma', { exact: true }).fill('0.25');
  const up = { plain: '1', pos: '$gamma', neg: '0' };
  const down = { plain: '1', pos: '0', neg: '$gamma' };
  const modifiers: readonly [string, typeof up][] = [
    ['Group 1 bias', up],
    ['Group 1 term 1 weight', up],
    ['Group 1 term 2 weight', down],
    ['Group 2 bias', down],
    ['Group 2 term 1 weight', down],
    ['Group 2 term 2 weight', up],
  ];
  for (const [name, values] of modifiers) {
    await form.getByRole('combobox', { name: `${name} modifier`, exact: true }).selectOption('affine');
    for (const part of ['plain', 'pos', 'neg'] as const) await form.getByRole('textbox', { name: `${name}: ${part} coefficient`, exact: true }).fill(values[part]);
  }
  // The new controls are reached by Tab, each with its visible label: modifier menu, then plain, pos and neg.
  const menu = form.getByRole('combobox', { name: 'Group 1 bias modifier', exact: true });
  await menu.focus();
  for (const part of ['plain', 'pos', 'neg']) {
    await page.keyboard.press('Tab');
    const focused = page.getByRole('textbox', { name: `Group 1 bias: ${part} coefficient`, exact: true });
    await expect(focused).toBeFocused();
    const label = form.locator('label', { has: focused });
    await expect(label).toBeVisible();
    await expect(label).toContainText(part);
  }
  await page.keyboard.press('Tab');
  await expect(form.getByRole('button', { name: 'Remove group 1' })).toBeFocused();
  const stabiliser = page.getByRole('combobox', { name: 'Group 1 stabiliser', exact: true });
  await expect(stabiliser).toHaveValue('epsilon');
  await expect(form.getByRole('combobox', { name: 'Group 2 stabiliser', exact: true })).toHaveValue('epsilon');
  await expect(form.locator('label', { has: stabiliser })).toContainText('Stabiliser');

  // The open editor, with the affine fields shown, has no serious or critical accessibility violation.
  const axe = await new AxeBuilder({ page }).include('details.rule-editor').withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']).analyze();
  expect(axe.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);

  await form.getByRole('button', { name: 'Define rule' }).click();
  await expect(form.getByRole('status', { name: 'Custom rule result' })).toContainText('Defined “My affine gamma” (my.affine-gamma)');
  await expect(form.getByRole('alert')).toHaveCount(0);
  await expect(page.getByText('"pos": "$gamma"').first()).toBeAttached();

  // Assigned to conv_1_2: the built-in Gamma's relevance and heatmap, bit for bit.
  await ruleFor(page, 'conv_1_2').selectOption('my.affine-gamma');
  await nextExplanation(page, n);
  expect(await relevance(page)).toEqual(builtin.relevance);
  expect(await heatmapPixels(page)).toEqual(builtin.pixels);

  // Edit shows the definition back as it was defined (affine, not the gamma shortcut), with nothing the form lacks.
  await form.getByLabel('Start from').selectOption('epsilon');
  await page.getByRole('button', { name: 'Edit custom rule My affine gamma' }).click();
  await expect(form.getByRole('status', { name: 'Custom rule result' })).toContainText('Editing “My affine gamma”');
  for (const [name, values] of modifiers) {
    await expect(form.getByRole('combobox', { name: `${name} modifier`, exact: true })).toHaveValue('affine');
    for (const part of ['plain', 'pos', 'neg'] as const) await expect(form.getByRole('textbox', { name: `${name}: ${part} coefficient`, exact: true })).toHaveValue(values[part]);
  }
  await expect(form.getByText('which the form cannot show')).toHaveCount(0);

  // A link whose definition uses what the form cannot show (a parameter "alpha"): Edit says so, and the rule stays.
  await expect.poll(() => page.url(), { timeout: 10_000 }).toMatch(/#s4\.[A-Za-z0-9_-]+$/);
  const state = decodeShareState(page.url());
  const spec = JSON.parse(JSON.stringify(state.ruleDefs![0])) as { params: { name: string; default: number }[]; program: { groups: { coefficient: unknown }[] } };
  spec.params.push({ name: 'alpha', default: 1 });
  spec.program.groups[0]!.coefficient = '$alpha';
  const receiver = await freshPage(browser, baseURL!);
  try {
    await receiver.page.goto(page.url().replace(/#.*$/, `#${encodeShareState({ ...state, ruleDefs: [spec] as unknown as typeof state.ruleDefs })}`));
    await nextExplanation(receiver.page, 0);
    await expect(ruleFor(receiver.page, 'conv_1_2')).toHaveValue('my.affine-gamma');
    await receiver.page.getByText('Custom rules (1)', { exact: true }).click();
    await receiver.page.getByRole('button', { name: 'Edit custom rule My affine gamma' }).click();
    const theirs = receiver.page.getByRole('form', { name: 'Define a custom rule' });
    await expect(theirs.getByText('This rule uses parameter "alpha", which the form cannot show; edit its JSON instead')).toBeVisible();
    await expect(theirs).toHaveAccessibleDescription(/which the form cannot show/);
    await expect(receiver.page.getByText('"coefficient": "$alpha"')).toBeAttached();
    await expect(ruleFor(receiver.page, 'conv_1_2')).toHaveValue('my.affine-gamma');
  } finally {
    await receiver.close();
  }
});
