// Keyboard use and accessibility of the app (dist/app on port 4173, issue 17), each test at the laptop's and at the
// phone's size (the 'app' and 'app-phone' projects): axe-core finds no serious or critical violation with each
// evaluation tab selected, with the layer panel and with the custom-rule editor open; the evaluation tabs follow the
// WAI-ARIA tabs pattern; the skip links move the focus; the probed pixel of the heatmap is marked; the focus ring
// contrasts with the page.
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Locator, type Page } from 'playwright/test';
import { analysis, BOTH, guardPage, heatmap, open as openApp, status } from './helpers';

guardPage();

/** Opens the app and waits for the first heatmap to be drawn. */
async function open(page: Page, query: string): Promise<void> {
  await openApp(page, query, 90_000);
  await expect.poll(() => page.evaluate(() => window.__lrpLens?.lastHeatmap?.width ?? 0)).toBeGreaterThan(0);
}

interface Finding {
  readonly state: string;
  readonly id: string;
  readonly impact: string;
  readonly help: string;
  readonly nodes: readonly string[];
}

/** axe-core on the whole page; the violations of impact serious or critical, one line per rule and its elements. */
async function seriousViolations(page: Page, state: string): Promise<Finding[]> {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']).analyze();
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({
      state,
      id: v.id,
      impact: v.impact!,
      help: v.help,
      nodes: v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary?.replace(/\s+/g, ' ') ?? ''}`),
    }));
}

function report(findings: readonly Finding[]): string {
  return findings
    .map((f) => `[${f.state}] ${f.id} (${f.impact}): ${f.help}\n${f.nodes.map((n) => `    ${n}`).join('\n')}`)
    .join('\n');
}

/** WCAG relative luminance of an sRGB colour (0..255 channels). */
function luminance([r, g, b]: readonly number[]): number {
  const lin = (c: number) => {
    const s = c / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(r!) + 0.7152 * lin(g!) + 0.0722 * lin(b!);
}

function contrast(a: readonly number[], b: readonly number[]): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi! + 0.05) / (lo! + 0.05);
}

/** A computed CSS colour `rgb(r, g, b)` or `rgba(r, g, b, a)` as [r, g, b, a]. */
function parseColour(css: string): number[] {
  const m = /^rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)(?:\s*[,/]\s*([\d.]+))?\s*\)$/.exec(css.trim());
  if (!m) throw new Error(`not an rgb() colour: ${css}`);
  return [Number(m[1]), Number(m[2]), Number(m[3]), m[4] === undefined ? 1 : Number(m[4])];
}

/** The focus ring the focused element shows (the element's, or for the heatmap canvas its stage's). */
async function focusRing(page: Page): Promise<{ element: string; focusVisible: boolean; style: string; width: number; colour: string }> {
  return page.evaluate(() => {
    const focused = document.activeElement as HTMLElement;
    const ringOn = focused.matches('.stage > .layer-heat') ? focused.parentElement! : focused;
    const s = getComputedStyle(ringOn);
    return {
      element: `${focused.tagName.toLowerCase()}${focused.id ? `#${focused.id}` : ''}`,
      focusVisible: focused.matches(':focus-visible'),
      style: s.outlineStyle,
      width: parseFloat(s.outlineWidth),
      colour: s.outlineColor,
    };
  });
}

/** The probe marker's centre relative to the heatmap canvas, in the canvas's pixels. */
async function markerPixel(page: Page): Promise<{ x: number; y: number }> {
  const marker = page.getByTestId('probe-marker');
  const [m, c, size] = await Promise.all([
    marker.boundingBox(),
    heatmap(page).boundingBox(),
    heatmap(page).evaluate((el: HTMLCanvasElement) => ({ width: el.width, height: el.height })),
  ]);
  return {
    x: Math.floor((((m!.x + m!.width / 2 - c!.x) / c!.width) * size.width)),
    y: Math.floor((((m!.y + m!.height / 2 - c!.y) / c!.height) * size.height)),
  };
}

async function probeText(page: Page): Promise<{ x: number; y: number }> {
  const text = (await page.locator('.probe').textContent()) ?? '';
  const m = /Pixel \((\d+), (\d+)\)/.exec(text);
  if (!m) throw new Error(`no probed pixel in "${text}"`);
  return { x: Number(m[1]), y: Number(m[2]) };
}

async function pressUntilFocused(page: Page, target: Locator, max: number): Promise<number> {
  for (let i = 1; i <= max; i++) {
    await page.keyboard.press('Tab');
    if (await target.evaluate((el) => el === document.activeElement)) return i;
  }
  throw new Error(`not focused after ${max} presses of Tab`);
}

// ---------------------------------------------------------------------------------------------------------------

test('axe-core finds no serious or critical violation with each tab selected, with the layer panel and the custom-rule editor open', BOTH, async ({ page }) => {
  test.setTimeout(300_000);
  await open(page, '?model=tinyvgg&image=coffee.png&backend=cpu');
  const findings: Finding[] = [];
  findings.push(...(await seriousViolations(page, 'first heatmap')));

  const panel = analysis(page);
  const tabs: readonly [string, string][] = [
    ['Evaluate', 'evaluate'],
    ['Compare', 'compare'],
    ['Sanity check', 'sanity'],
    ['Channels', 'channels'],
  ];
  for (const [name, id] of tabs) {
    const tab = panel.getByRole('tab', { name, exact: true });
    await tab.click();
    await expect(tab).toHaveAttribute('aria-selected', 'true');
    await expect(panel.getByRole('tabpanel')).toHaveAttribute('aria-labelledby', `analysis-tab-${id}`);
    if (id === 'evaluate') {
      // With a result: the chart and its numbers.
      await panel.getByLabel('Patch').selectOption('16');
      await panel.getByLabel('Steps').selectOption('4');
      await panel.getByRole('button', { name: 'Evaluate', exact: true }).click();
      await expect(panel.getByTestId('line-chart')).toBeVisible({ timeout: 60_000 });
    }
    await expect(status(page)).not.toContainText('computing', { timeout: 60_000 });
    findings.push(...(await seriousViolations(page, `${name} tab`)));
  }

  // The layer panel open: its preset, filter and per-layer rules shown, every group expanded.
  const preset = page.getByRole('combobox', { name: 'Preset', exact: true });
  await preset.scrollIntoViewIfNeeded();
  await expect(preset).toBeVisible();
  for (const toggle of await page.locator('button.group-toggle[aria-expanded="false"]').all()) await toggle.click();
  await expect(page.getByRole('combobox', { name: /^Rule for / }).first()).toBeVisible();
  findings.push(...(await seriousViolations(page, 'layer panel open')));

  // The custom-rule editor open.
  const editor = page.getByText('Custom rules', { exact: true }).first();
  await editor.scrollIntoViewIfNeeded();
  await editor.click();
  findings.push(...(await seriousViolations(page, 'custom-rule editor open')));

  expect(findings, `axe-core violations (serious or critical):\n${report(findings)}`).toEqual([]);
});

test('the evaluation tabs follow the WAI-ARIA tabs pattern: arrow keys, Home and End, one tab stop', BOTH, async ({ page }) => {
  await open(page, '?model=tinyvgg&image=coffee.png&backend=cpu');
  const panel = analysis(page);
  const tab = (name: string) => panel.getByRole('tab', { name, exact: true });
  const names = ['Evaluate', 'Compare', 'Sanity check', 'Channels'];
  const expectSelected = async (name: string) => {
    await expect(tab(name)).toBeFocused();
    await expect(tab(name)).toHaveAttribute('aria-selected', 'true');
    for (const other of names.filter((n) => n !== name)) {
      await expect(tab(other)).toHaveAttribute('aria-selected', 'false');
      await expect(tab(other)).toHaveAttribute('tabindex', '-1');
    }
    await expect(tab(name)).toHaveAttribute('tabindex', '0');
    const tabpanel = panel.getByRole('tabpanel');
    await expect(tabpanel).toHaveAttribute('aria-labelledby', (await tab(name).getAttribute('id'))!);
  };

  await tab('Evaluate').click();
  await expectSelected('Evaluate');
  await page.keyboard.press('ArrowRight');
  await expectSelected('Compare');
  await page.keyboard.press('ArrowRight');
  await expectSelected('Sanity check');
  await page.keyboard.press('ArrowRight');
  await expectSelected('Channels');
  await page.keyboard.press('ArrowRight'); // wraps
  await expectSelected('Evaluate');
  await page.keyboard.press('ArrowLeft'); // wraps back
  await expectSelected('Channels');
  await page.keyboard.press('ArrowLeft');
  await expectSelected('Sanity check');
  await page.keyboard.press('Home');
  await expectSelected('Evaluate');
  await page.keyboard.press('End');
  await expectSelected('Channels');

  // One tab stop: Tab leaves the tab list for the tab panel, Shift+Tab comes back to the selected tab.
  await page.keyboard.press('Tab');
  await expect(panel.getByRole('tabpanel')).toBeFocused();
  await page.keyboard.press('Shift+Tab');
  await expectSelected('Channels');
});

test('the skip links come first and move the focus to the heatmap and to the rules', BOTH, async ({ page }) => {
  await open(page, '?model=tinyvgg&image=coffee.png&backend=cpu');
  const hashBefore = await page.evaluate(() => window.location.hash);
  const toHeatmap = page.getByRole('link', { name: 'Skip to heatmap' });
  const toRules = page.getByRole('link', { name: 'Skip to rules' });

  // Hidden until focused; the first Tab stop of the page.
  const inView = (l: Locator) =>
    l.evaluate((el) => {
      const r = el.getBoundingClientRect();
      return r.bottom > 0 && r.right > 0 && r.top < window.innerHeight && r.left < window.innerWidth;
    });
  expect(await inView(toHeatmap)).toBe(false);
  expect(await pressUntilFocused(page, toHeatmap, 1)).toBe(1);
  expect(await inView(toHeatmap)).toBe(true);
  await page.keyboard.press('Enter');
  await expect(heatmap(page)).toBeFocused();
  expect(await page.evaluate(() => window.location.hash)).toBe(hashBefore);

  // The second: to the layers and rules; the next Tab stop is the Preset.
  await toHeatmap.focus();
  expect(await pressUntilFocused(page, toRules, 1)).toBe(1);
  expect(await inView(toRules)).toBe(true);
  await page.keyboard.press('Enter');
  const target = page.locator('#layers-and-rules');
  await expect(target).toBeFocused();
  await expect(target.getByRole('heading', { name: 'Layers and rules' })).toBeVisible();
  await page.keyboard.press('Tab');
  await expect(page.getByRole('combobox', { name: 'Preset', exact: true })).toBeFocused();
  expect(await page.evaluate(() => window.location.hash)).toBe(hashBefore);
});

test('the probed pixel is marked on the heatmap, from the arrow keys and from the mouse', BOTH, async ({ page }) => {
  await open(page, '?model=tinyvgg&image=coffee.png&backend=cpu');
  const canvas = heatmap(page);
  const marker = page.getByTestId('probe-marker');
  const size = await canvas.evaluate((el: HTMLCanvasElement) => ({ width: el.width, height: el.height }));
  expect(size.width).toBeGreaterThan(8);
  await expect(marker).toHaveCount(0);

  // Arrow keys: the first press starts at the centre.
  await canvas.focus();
  await page.keyboard.press('ArrowRight');
  await expect(marker).toBeVisible();
  const first = await probeText(page);
  expect(first).toEqual({ x: (size.width >> 1) + 1, y: size.height >> 1 });
  expect(await markerPixel(page)).toEqual(first);
  await page.keyboard.press('Shift+ArrowDown');
  await page.keyboard.press('ArrowLeft');
  await page.keyboard.press('ArrowLeft');
  await expect(page.locator('.probe')).toContainText(`Pixel (${first.x - 2}, ${first.y + 8})`);
  expect(await markerPixel(page)).toEqual({ x: first.x - 2, y: first.y + 8 });
  // Leaving the heatmap hides the marker.
  await page.keyboard.press('Tab');
  await expect(marker).toHaveCount(0);

  // The mouse: hovering marks the pixel under the pointer; a click keeps it when the pointer leaves.
  await canvas.evaluate((el) => el.scrollIntoView({ block: 'center' }));
  const box = (await canvas.boundingBox())!;
  const viewport = page.viewportSize()!;
  expect(box.y >= 0 && box.y + box.height <= viewport.height, 'the heatmap fits in the viewport').toBe(true);
  const at = (px: number, py: number) => ({ x: box.x + ((px + 0.5) / size.width) * box.width, y: box.y + ((py + 0.5) / size.height) * box.height });
  const hover = at(3, size.height - 4);
  await page.mouse.move(hover.x, hover.y);
  await expect(marker).toBeVisible();
  expect(await probeText(page)).toEqual({ x: 3, y: size.height - 4 });
  expect(await markerPixel(page)).toEqual({ x: 3, y: size.height - 4 });
  const clicked = at(size.width - 5, 6);
  await page.mouse.click(clicked.x, clicked.y);
  await page.mouse.move(box.x + box.width + 40, box.y + box.height + 40);
  await expect(marker).toBeVisible();
  expect(await probeText(page)).toEqual({ x: size.width - 5, y: 6 });
  expect(await markerPixel(page)).toEqual({ x: size.width - 5, y: 6 });
});

test('the focus ring contrasts 3:1 or more with white and with the page background, and the heatmap shows it unclipped', BOTH, async ({ page }) => {
  await open(page, '?model=tinyvgg&image=coffee.png&backend=cpu');
  const background = parseColour(await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor));
  expect(background[3]).toBe(1);
  const white = [255, 255, 255];
  const check = async (what: string) => {
    const ring = await focusRing(page);
    expect(ring.focusVisible, `${what}: ${ring.element} matches :focus-visible`).toBe(true);
    expect(ring.style, `${what}: outline style`).not.toBe('none');
    expect(ring.width, `${what}: outline width`).toBeGreaterThanOrEqual(2);
    const colour = parseColour(ring.colour);
    expect(colour[3], `${what}: outline opacity`).toBe(1);
    expect(contrast(colour, white), `${what}: ${ring.colour} against white`).toBeGreaterThanOrEqual(3);
    expect(contrast(colour, background), `${what}: ${ring.colour} against the page background`).toBeGreaterThanOrEqual(3);
  };

  // The skip link (the first Tab stop), then the heatmap it leads to.
  await page.keyboard.press('Tab');
  await expect(page.getByRole('link', { name: 'Skip to heatmap' })).toBeFocused();
  await check('skip link');
  await page.keyboard.press('Enter');
  await expect(heatmap(page)).toBeFocused();
  await check('heatmap');
  // The heatmap's ring is drawn by its stage, outside the clipped box: nothing above it clips it.
  const clippedBy = await heatmap(page).evaluate((canvas) => {
    for (let el = canvas.parentElement?.parentElement ?? null; el; el = el.parentElement) {
      const s = getComputedStyle(el);
      if (s.overflowX !== 'visible' || s.overflowY !== 'visible') return `${el.tagName.toLowerCase()}.${el.className}`;
    }
    return null;
  });
  expect(clippedBy).toBeNull();
  // A tab of the evaluation views.
  await analysis(page).getByRole('tab', { name: 'Evaluate', exact: true }).focus();
  await page.keyboard.press('ArrowRight');
  await expect(analysis(page).getByRole('tab', { name: 'Compare', exact: true })).toBeFocused();
  await check('tab');
});
