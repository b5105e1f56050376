// The README's screenshots of the default view (darknet-tiny, the first sample photo, the default preset):
// docs/screenshot.png at 1366x768 (a laptop) and docs/screenshot-phone.png at 390x844 (a phone).
//
//   npm run build && node scripts/screenshots.mjs [--out docs] [--port 4179]
//
// It serves dist/app with `vite preview`, opens it in headless Chromium (/usr/bin/chromium, or $LRP_LENS_CHROMIUM;
// WebGPU on SwiftShader where there is no GPU), waits for the first explanation and takes the first screen. It also
// prints where the heatmap, the predictions and the rules' preset menu lie, and whether the page scrolls sideways.
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { arg, root, withPreview } from './preview-page.mjs';

const outDir = resolve(root, arg('--out', 'docs'));
const port = Number(arg('--port', '4179'));

const SHOTS = [
  { file: 'screenshot.png', width: 1366, height: 768 },
  { file: 'screenshot-phone.png', width: 390, height: 844 },
];

await withPreview(port, {}, async (browser, base) => {
  mkdirSync(outDir, { recursive: true });
  for (const shot of SHOTS) {
    const page = await browser.newPage({ viewport: { width: shot.width, height: shot.height } });
    await page.goto(base);
    await page.waitForFunction(() => (window.__lrpLens?.explanations ?? 0) > 0, undefined, { timeout: 180_000 });
    await page.getByRole('status', { name: 'Status' }).filter({ hasNotText: 'computing' }).waitFor({ timeout: 60_000 });
    // The sample thumbnails load lazily; let the page settle before the picture.
    await page.waitForLoadState('networkidle');
    await page.waitForTimeout(500);
    const box = async (locator) => {
      const b = await locator.boundingBox();
      return b ? `x ${Math.round(b.x)}..${Math.round(b.x + b.width)}, y ${Math.round(b.y)}..${Math.round(b.y + b.height)}` : 'not shown';
    };
    const scroll = await page.evaluate(() => ({ width: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
    console.log(`${shot.width}x${shot.height}: page ${scroll.width} px wide in a ${scroll.client} px window`);
    console.log(`  heatmap      ${await box(page.getByRole('img', { name: 'Relevance heatmap', exact: true }))}`);
    console.log(`  predictions  ${await box(page.getByRole('list', { name: 'Predictions' }))}`);
    console.log(`  rule preset  ${await box(page.getByRole('combobox', { name: 'Preset', exact: true }))}`);
    const file = resolve(outDir, shot.file);
    await page.screenshot({ path: file });
    console.log(`  wrote ${file}`);
    await page.close();
  }
});
