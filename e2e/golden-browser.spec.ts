// One golden case through the engine on the browser's WebGPU, checked against Captum's float64 relevance with
// the pass criterion of ../shared/goldens/README.md.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'playwright/test';

const goldensDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', process.env.LRP_LENS_GOLDENS ?? '../shared/goldens');

interface GoldenCase {
  readonly id: string;
  readonly model: string;
  readonly target: number;
  readonly relevance: string;
  readonly f32_rel_err?: number;
}
interface GoldenManifest {
  readonly models: Record<string, { readonly input: string; readonly onnx_legacy?: { readonly file: string } }>;
  readonly cases: readonly GoldenCase[];
}

const manifest = JSON.parse(readFileSync(resolve(goldensDir, 'cases.json'), 'utf8')) as GoldenManifest;

const REFERENCE = 'cnn.captum.epsilon-0.25.top.npy';
const RULES = {
  preset: 'captum-default',
  layers: ['#0', '#1', '#2', '#3'].map((layer) => ({ layer, rule: 'captum.epsilon', epsilon: 0.25 })),
};

test.beforeEach(async ({ page }) => {
  await page.goto('/e2e/engine-harness.html');
  const hasAdapter = await page.evaluate(async () => !!navigator.gpu && !!(await navigator.gpu.requestAdapter()));
  expect(hasAdapter, 'navigator.gpu.requestAdapter() gave no adapter: check the Chromium flags in playwright.config.ts').toBe(true);
  await page.waitForFunction(() => typeof window.runGolden === 'function');
});

test(`golden ${REFERENCE} matches Captum on WebGPU`, async ({ page }) => {
  const found = manifest.cases.find((c) => c.relevance === REFERENCE);
  if (!found) throw new Error(`${REFERENCE} is not a case in cases.json`);
  const goldenCase = found;
  const model = manifest.models[goldenCase.model];
  const modelFile = model?.onnx_legacy?.file;
  if (!model || !modelFile) throw new Error(`cases.json has no legacy ONNX file for model ${goldenCase.model}`);
  const tolerance = goldenCase.f32_rel_err === undefined ? 1e-3 : Math.max(1e-4, 4 * goldenCase.f32_rel_err);

  const result = await page.evaluate(
    ([m, i, r, rules, target]) => window.runGolden(m, i, r, rules, target),
    [modelFile, model.input, goldenCase.relevance, JSON.stringify(RULES), goldenCase.target] as const,
  );
  console.log(`${goldenCase.id}: relL2 ${result.relL2.toExponential(3)} (tolerance ${tolerance.toExponential(3)}) on ${result.adapter}`);
  expect(result.backend).toBe('webgpu');
  expect(result.target).toBe(goldenCase.target);
  expect(result.relL2).toBeLessThanOrEqual(tolerance);
});

test('device loss mid-run: the engine recreates the device and reruns the pending explanation', async ({ page }) => {
  const result = await page.evaluate(() => window.runDeviceLoss('cnn.legacy.onnx', 'cnn.input.npy'));
  expect(result.relL2).toBeLessThan(1e-5);
  expect(result.afterRelL2).toBeLessThan(1e-5);
  expect(result.notices.join(' ')).toMatch(/device was lost/);
});
