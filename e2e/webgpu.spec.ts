// The plumbing under every engine test: headless Chromium gets a WebGPU adapter and device and runs a compute
// shader. When this fails, look at the browser flags (playwright.config.ts), not at the engine.
import { expect, test } from 'playwright/test';

test('headless Chromium runs a WebGPU compute shader', async ({ page }) => {
  await page.goto('/e2e/webgpu-smoke.html');
  await page.waitForFunction(() => typeof window.webgpuSmoke === 'function');
  const result = await page.evaluate(() => window.webgpuSmoke());
  console.log(`WebGPU adapter: ${result.adapter}`);
  expect(result.output).toEqual([2, 4, 6, 8]);
});
