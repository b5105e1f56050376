// The page's layout, run against dist/app like app.spec.ts at the size of the project (playwright.config.ts: 'app' a
// laptop, 1366x768; 'app-phone' a phone, 390x844): the page never scrolls sideways; the heatmap is on the first
// screen, with the predictions and the rules' preset menu beside it on the laptop, across the width on the phone; a
// layer's rule is not hidden in a sideways scroll; a rule change is answered inside the rules panel; "Inspect" brings
// the inspector's map into view; the compare view offers a scale per map and prints each map's scale.
import { expect, test, type Locator, type Page } from 'playwright/test';
import { analysis, BOTH, guardPage, heatmap, nextExplanation, onPhone, open, ruleFor, rulesPanel } from './helpers';

guardPage();

/** The page's width beyond the window's (0: no sideways scroll). */
const sidewaysScroll = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);

/** Asserts that the element lies wholly inside the window as the page is scrolled now. */
async function expectWithinWindow(page: Page, locator: Locator, what: string): Promise<void> {
  const box = await locator.boundingBox();
  const size = page.viewportSize()!;
  expect(box, `${what}: shown`).not.toBeNull();
  expect(box!.x, `${what}: left edge`).toBeGreaterThanOrEqual(0);
  expect(box!.y, `${what}: top edge`).toBeGreaterThanOrEqual(0);
  expect(box!.x + box!.width, `${what}: right edge`).toBeLessThanOrEqual(size.width);
  expect(box!.y + box!.height, `${what}: bottom edge`).toBeLessThanOrEqual(size.height);
}

/** The texts an element shows from now until `until` resolves (each change recorded by a MutationObserver). */
async function textsWhile(locator: Locator, until: () => Promise<unknown>): Promise<string[]> {
  await locator.evaluate((el) => {
    const seen = [el.textContent ?? ''];
    const observer = new MutationObserver(() => {
      const text = el.textContent ?? '';
      if (seen.at(-1) !== text) seen.push(text);
    });
    observer.observe(el, { subtree: true, childList: true, characterData: true });
    (el as unknown as { __texts: { seen: string[]; observer: MutationObserver } }).__texts = { seen, observer };
  });
  await until();
  return locator.evaluate((el) => {
    const t = (el as unknown as { __texts: { seen: string[]; observer: MutationObserver } }).__texts;
    t.observer.disconnect();
    return t.seen;
  });
}

// ---------------------------------------------------------------------------------------------------------------

test('nothing scrolls sideways, the heatmap comes first, a rule change is answered in the rules panel, "Inspect" shows the layer’s map', BOTH, async ({ page }) => {
  // resnet20 (70 layers): a long inspector table pushed the rules screens down. (darknet-tiny, the default, takes
  // too long on a busy CPU; the model changes only the inputs column.)
  const size = page.viewportSize()!;
  const phone = onPhone(page);
  let n = await open(page, '?model=resnet20-cifar10&image=chelsea.png&backend=cpu', 90_000);
  expect(await page.evaluate(() => scrollY)).toBe(0);
  expect(await sidewaysScroll(page), 'sideways scroll').toBeLessThanOrEqual(0);
  // The heatmap on the first screen, drawn square (the image is) at the width it has, not cut.
  await expectWithinWindow(page, heatmap(page), 'heatmap');
  const box = (await heatmap(page).boundingBox())!;
  expect(Math.abs(box.width - box.height), 'heatmap square').toBeLessThanOrEqual(1);
  if (phone) {
    // One column: the heatmap fills most of the width; the rest follows below it.
    expect(box.width).toBeGreaterThan(size.width / 2);
  } else {
    // Three columns: the predictions and the rules' preset menu beside it, on the same first screen.
    await expectWithinWindow(page, page.getByRole('list', { name: 'Predictions' }), 'predictions');
    await expectWithinWindow(page, rulesPanel(page).getByRole('combobox', { name: 'Preset', exact: true }), 'rules preset menu');
  }

  // The inspector's totals table is folded: its rows, one a layer, do not push anything away.
  const totalsHeader = page.getByRole('columnheader', { name: 'Layer (output to input)' });
  await expect(totalsHeader).toBeHidden();

  // A rule changed far down the table: the panel says what became of it where the change was made.
  const feedback = rulesPanel(page).getByTestId('rules-feedback');
  await expect(feedback).toContainText('Heatmap updated');
  const rules = rulesPanel(page).getByRole('combobox', { name: /^Rule for (?!group )/ });
  // The last layer that has a choice of rules (the very last may be a reshape: Pass only).
  const choices = await rules.evaluateAll((menus) => menus.map((s) => (s as HTMLSelectElement).options.length));
  const index = choices.findLastIndex((c) => c > 1);
  expect(index, 'a layer with a choice of rules').toBeGreaterThanOrEqual(0);
  const last = rules.nth(index);
  const layer = (await last.getAttribute('aria-label'))!.replace(/^Rule for /, '');
  const before = await last.inputValue();
  const other = await last.evaluate((s: HTMLSelectElement, v) => [...s.options].map((o) => o.value).find((x) => x !== v) ?? null, before);
  expect(other, `another rule for ${layer}`).not.toBeNull();
  // Where a user changes it: scrolled to (the table scrolls within its box, the page as far as needed).
  await last.scrollIntoViewIfNeeded();
  // The layer's rule, parameters and buttons lie within the window: none hidden in a sideways scroll of the table.
  const row = rulesPanel(page).getByRole('row').filter({ has: ruleFor(page, layer) });
  const controls = row.locator('select, input, button');
  expect(await controls.count()).toBeGreaterThanOrEqual(2);
  for (const control of await controls.all()) await expectWithinWindow(page, control, `${layer}: ${await control.getAttribute('aria-label')}`);
  const table = rulesPanel(page).getByRole('table');
  expect(await table.evaluate((t) => t.parentElement!.scrollWidth - t.parentElement!.clientWidth), 'rules table sideways scroll').toBeLessThanOrEqual(0);
  const texts = await textsWhile(feedback, async () => {
    await last.selectOption(other!);
    n = await nextExplanation(page, n, 90_000);
  });
  expect(texts.some((t) => t.includes('Computing')), `feedback while computing: ${JSON.stringify(texts)}`).toBe(true);
  await expect(feedback).toContainText('Heatmap updated');
  await expect(last).toBeInViewport();
  await expect(feedback).toBeInViewport();
  await expect(ruleFor(page, layer)).toHaveValue(other!);

  // "Inspect" in the rules brings the inspector's map of that layer into view.
  await page.evaluate(() => window.scrollTo(0, 0));
  await expect(page.getByRole('img', { name: /^Relevance arriving at layer / })).not.toBeInViewport();
  const inspectButtons = rulesPanel(page).getByRole('button', { name: /^Inspect / });
  const inspect = inspectButtons.nth(Math.floor((await inspectButtons.count()) / 2));
  const inspected = (await inspect.getAttribute('aria-label'))!.replace(/^Inspect /, '');
  await inspect.click();
  const map = page.getByRole('img', { name: `Relevance arriving at layer ${inspected}, summed over channels`, exact: true });
  await expect(map).toBeInViewport({ ratio: 0.9 });

  // The totals unfold on request; a layer picked there shows its map in view too.
  await page.getByText(/^Relevance totals at each layer/).click();
  await expect(totalsHeader).toBeVisible();
  const totals = page.getByRole('table').filter({ has: totalsHeader });
  const pick = totals.getByRole('rowheader').getByRole('button').last();
  const picked = (await pick.textContent())!;
  expect(picked).not.toBe(inspected);
  await pick.click();
  await expect(page.getByRole('img', { name: `Relevance arriving at layer ${picked}, summed over channels`, exact: true })).toBeInViewport({
    ratio: 0.9,
  });
  expect(await sidewaysScroll(page), 'sideways scroll').toBeLessThanOrEqual(0);

  // The evaluation views fit too.
  await analysis(page).getByRole('tab', { name: 'Compare' }).click();
  await expect(analysis(page).getByLabel('Compare with')).toBeVisible();
  expect(await sidewaysScroll(page), 'sideways scroll with the compare view').toBeLessThanOrEqual(0);
});

test('the compare view prints the scale of A, B and A − B, shared or per map', BOTH, async ({ page }) => {
  const n = await open(page, '?model=tinyvgg&image=coffee.png&backend=cpu', 90_000);
  // A: Captum default, B: EpsilonPlusFlat (relevance of very different sizes on real models).
  const preset = rulesPanel(page).getByRole('combobox', { name: 'Preset', exact: true });
  if ((await preset.inputValue()) !== 'captum-default') {
    await preset.selectOption('captum-default');
    await nextExplanation(page, n, 90_000);
  }
  const panel = analysis(page);
  await panel.getByRole('tab', { name: 'Compare' }).click();
  await panel.getByLabel('Patch').selectOption('16');
  await panel.getByLabel('Steps').selectOption('4');
  await panel.getByLabel('Compare with').selectOption('EpsilonPlusFlat');
  await panel.getByRole('button', { name: 'Compare', exact: true }).click();
  await expect(page.getByTestId('compare-diff')).toBeVisible({ timeout: 90_000 });

  const scaleChoice = panel.getByRole('group', { name: 'Scale of A and B' });
  const shared = scaleChoice.getByRole('radio', { name: 'Shared' });
  const perMap = scaleChoice.getByRole('radio', { name: 'Per map' });
  await expect(shared).toBeChecked();
  const scaleOf = (caption: RegExp) => panel.getByRole('figure', { name: caption }).getByText(/^Scale ±/);
  const value = async (caption: RegExp) => {
    const m = /^Scale ±(\S+)/.exec((await scaleOf(caption).textContent())!.trim());
    expect(m, `a scale under ${caption}`).not.toBeNull();
    return Number(m![1]);
  };
  const A = /^A: Captum default$/;
  const B = /^B: EpsilonPlusFlat$/;
  const D = /^A − B/;
  const pixels = (id: string) => page.getByTestId(id).evaluate((c: HTMLCanvasElement) => Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data));

  // Shared: one scale for A and B, the larger of their largest |relevance|.
  await expect(scaleOf(A)).toContainText('(shared)');
  const sharedA = await value(A);
  const sharedB = await value(B);
  expect(sharedB).toBe(sharedA);
  const diff = await value(D);
  expect(diff).toBeGreaterThan(0);
  const drawn = { a: await pixels('compare-a'), b: await pixels('compare-b') };

  // Per map: each its own; the map with the larger values keeps the shared scale, the other gets a smaller one and
  // is drawn stronger. A − B keeps its own scale.
  await perMap.check();
  await expect(perMap).toBeChecked();
  await expect(scaleOf(A)).not.toContainText('(shared)');
  const ownA = await value(A);
  const ownB = await value(B);
  expect(ownA).not.toBe(ownB);
  expect(Math.max(ownA, ownB)).toBe(sharedA);
  expect(Math.min(ownA, ownB)).toBeLessThan(sharedA);
  expect(await value(D)).toBe(diff);
  const weaker = ownA < ownB ? 'compare-a' : 'compare-b';
  const stronger = ownA < ownB ? 'compare-b' : 'compare-a';
  expect(await pixels(weaker), `${weaker} redrawn on its own scale`).not.toEqual(weaker === 'compare-a' ? drawn.a : drawn.b);
  expect(await pixels(stronger), `${stronger} unchanged`).toEqual(stronger === 'compare-a' ? drawn.a : drawn.b);

  // And back.
  await shared.check();
  await expect(scaleOf(B)).toContainText('(shared)');
  expect(await value(A)).toBe(sharedA);
  expect(await value(B)).toBe(sharedA);
});
