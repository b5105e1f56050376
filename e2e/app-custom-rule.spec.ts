// The custom rule editor (dist/app on port 4173): Epsilon defined as a custom rule through the form, assigned to a
// layer through its Rule menu, gives the heatmap of the built-in Epsilon exactly; the definition travels in the share
// link (version 4) and a fresh browser reopens it with the same relevance; bad definitions are named inline.
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Browser, type Page } from 'playwright/test';
import { decodeShareState } from '../src/share/share-codec';

const problems = new Map<Page, string[]>();

function watch(page: Page): void {
  const list: string[] = [];
  problems.set(page, list);
  page.on('pageerror', (e) => list.push(`uncaught: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') list.push(`console: ${m.text()}`);
  });
}

test.beforeEach(({ page }) => watch(page));
test.afterEach(({ page }) => expect(problems.get(page), 'uncaught errors or console errors').toEqual([]));

const explanations = (page: Page) => page.evaluate(() => window.__lrpLens?.explanations ?? 0);

async function nextExplanation(page: Page, after: number): Promise<number> {
  await page.waitForFunction((n) => (window.__lrpLens?.explanations ?? 0) > n, after, { timeout: 60_000 });
  await expect(page.getByRole('status', { name: 'Status' })).not.toContainText('computing', { timeout: 60_000 });
  return explanations(page);
}

function relevance(page: Page): Promise<number[]> {
  return page.evaluate(() => Array.from(window.__lrpLens!.lastRelevance!));
}

function heatmapPixels(page: Page): Promise<number[]> {
  return page.getByRole('img', { name: 'Relevance heatmap', exact: true }).evaluate((c: HTMLCanvasElement) => Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data));
}

const ruleFor = (page: Page, layer: string) => page.getByRole('combobox', { name: `Rule for ${layer}`, exact: true });

async function freshPage(browser: Browser, baseURL: string): Promise<{ page: Page; close: () => Promise<void> }> {
  const context = await browser.newContext({ baseURL });
  const page = await context.newPage();
  watch(page);
  return {
    page,
    close: async () => {
      expect(problems.get(page), 'uncaught errors or console errors in the receiver').toEqual([]);
      await context.close();
    },
  };
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
