// What several app specs share (dist/app on port 4173): a guard that fails a test on an uncaught error, a CSP
// violation or a request to another origin; opening the app and waiting for an explanation; the page's landmarks
// by their accessible names. (Not a spec: playwright.config.ts runs only *.spec.ts.)
import { expect, test, type Browser, type Page } from 'playwright/test';
import { BOTH_SIZES, PHONE } from '../playwright.config';

/** The tag of the tests that run at the laptop's and at the phone's size (issue 17): `test(title, BOTH, body)`. */
export const BOTH = { tag: BOTH_SIZES };

/** Whether the page is at the phone's width (the 'app-phone' project), read from its viewport. */
export const onPhone = (page: Page): boolean => page.viewportSize()!.width <= PHONE.width;

const problems = new WeakMap<Page, string[]>();

/**
 * Registers, for the spec file that calls it: before each test, a record of uncaught errors, CSP violations reported
 * on the console, and requests to another origin (aborted); after each, a check that it stayed empty.
 */
export function guardPage(): void {
  test.beforeEach(async ({ page, baseURL }) => {
    const origin = new URL(baseURL!).origin;
    const errors: string[] = [];
    problems.set(page, errors);
    page.on('pageerror', (err) => errors.push(err.message));
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content.Security.Policy/i.test(m.text())) errors.push(m.text());
    });
    await page.context().route(/.*/, (route) => {
      const url = route.request().url();
      if (url.startsWith(`${origin}/`)) return route.continue();
      errors.push(`request to another origin: ${url}`);
      return route.abort('blockedbyclient');
    });
  });
  test.afterEach(async ({ page }) => {
    expect(problems.get(page), 'uncaught errors, CSP violations or foreign requests').toEqual([]);
  });
}

export const status = (page: Page) => page.getByRole('status', { name: 'Status' });
export const analysis = (page: Page) => page.getByRole('region', { name: 'Evaluate and compare' });
export const rulesPanel = (page: Page) => page.getByRole('region', { name: 'Layers and rules' });
export const heatmap = (page: Page) => page.getByRole('img', { name: 'Relevance heatmap', exact: true });
export const modelMenu = (page: Page) => page.getByRole('combobox', { name: 'Model', exact: true });
export const ruleFor = (page: Page, layer: string) => page.getByRole('combobox', { name: `Rule for ${layer}`, exact: true });

/** How many explanations the page has shown. */
export const explanations = (page: Page): Promise<number> => page.evaluate(() => window.__lrpLens?.explanations ?? 0);
/** How many explanations the page has asked its worker for. */
export const requests = (page: Page): Promise<number> => page.evaluate(() => window.__lrpLens?.requests ?? 0);

/** Waits for an explanation after the `after`th and for the status to stop computing; the new count. */
export async function nextExplanation(page: Page, after: number, timeout = 60_000): Promise<number> {
  await page.waitForFunction((n) => (window.__lrpLens?.explanations ?? 0) > n, after, { timeout });
  await expect(status(page)).not.toContainText('computing', { timeout });
  return explanations(page);
}

/** Opens the app at `/${query}` and waits for its first explanation; the count. */
export async function open(page: Page, query: string, timeout = 60_000): Promise<number> {
  await page.goto(`/${query}`);
  return nextExplanation(page, 0, timeout);
}

/** The evaluation views' fastest settings: 16x16 patches, 4 steps, the mean as the baseline. */
export async function fastSettings(page: Page): Promise<void> {
  const panel = analysis(page);
  await panel.getByLabel('Patch').selectOption('16');
  await panel.getByLabel('Steps', { exact: true }).selectOption('4');
  await panel.getByLabel('Baseline').selectOption('mean');
}

/** A canvas's pixels as drawn (by test id): its size and how many distinct RGB values. */
export const distinctColours = (page: Page, testId: string) =>
  page.getByTestId(testId).evaluate((c: HTMLCanvasElement) => {
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    const seen = new Set<number>();
    for (let i = 0; i < d.length; i += 4) seen.add((d[i]! << 16) | (d[i + 1]! << 8) | d[i + 2]!);
    return { width: c.width, height: c.height, colours: seen.size };
  });

/** The relative L2 distance of `actual` from `reference` (the goldens' measure); the lengths must agree. */
export function relL2(actual: ArrayLike<number>, reference: ArrayLike<number>): number {
  expect(actual.length).toBe(reference.length);
  let d = 0;
  let n = 0;
  for (let i = 0; i < reference.length; i++) {
    d += (actual[i]! - reference[i]!) ** 2;
    n += reference[i]! ** 2;
  }
  return Math.sqrt(d / n);
}

const consoleProblems = new WeakMap<Page, string[]>();

/** Records a page's uncaught errors and every console error (the stricter guard of the share-link specs). */
function watchConsole(page: Page): void {
  const list: string[] = [];
  consoleProblems.set(page, list);
  page.on('pageerror', (e) => list.push(`uncaught: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') list.push(`console: ${m.text()}`);
  });
}

/** Registers, for the spec file that calls it: each test's page fails it on an uncaught error or any console error. */
export function guardConsole(): void {
  test.beforeEach(({ page }) => watchConsole(page));
  test.afterEach(({ page }) => expect(consoleProblems.get(page), 'uncaught errors or console errors').toEqual([]));
}

/** A page in a new browser context (a link's receiver: nothing shared with the sender), guarded as guardConsole's. */
export async function freshPage(browser: Browser, baseURL: string): Promise<{ page: Page; close: () => Promise<void> }> {
  const context = await browser.newContext({ baseURL });
  const page = await context.newPage();
  watchConsole(page);
  return {
    page,
    close: async () => {
      expect(consoleProblems.get(page), 'uncaught errors or console errors in the receiver').toEqual([]);
      await context.close();
    },
  };
}
