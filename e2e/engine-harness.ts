// Runs one golden case through the engine on the browser's WebGPU and compares it with the reference relevance.
// Loaded by e2e/engine-harness.html; the files come from ../shared/goldens, served under /goldens/.
import { createEngine } from '../src/engine/index';
import { importOnnx } from '../src/engine/onnx/import-onnx';
import { parseNpy, toFloat32, toFloat64 } from '../src/engine/io/npy';

export interface GoldenResult {
  /** ||R - R_ref||_2 / ||R_ref||_2, computed in float64. */
  readonly relL2: number;
  readonly adapter: string;
  readonly backend: string;
  readonly target: number;
  readonly elements: number;
}

async function fetchBytes(file: string): Promise<Uint8Array> {
  const response = await fetch(`/goldens/${file}`);
  if (!response.ok) throw new Error(`GET /goldens/${file}: ${response.status} ${response.statusText}`);
  return new Uint8Array(await response.arrayBuffer());
}

export function relativeL2(actual: ArrayLike<number>, reference: ArrayLike<number>): number {
  if (actual.length !== reference.length) {
    throw new Error(`relevance has ${actual.length} elements, the reference ${reference.length}`);
  }
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < reference.length; i++) {
    const r = reference[i]!;
    const d = actual[i]! - r;
    diff += d * d;
    norm += r * r;
  }
  return Math.sqrt(diff) / Math.sqrt(norm);
}

async function runGolden(
  modelFile: string,
  inputFile: string,
  referenceFile: string,
  rulesJson: string,
  target: number,
): Promise<GoldenResult> {
  if (!navigator.gpu) throw new Error('navigator.gpu is missing: this browser does not expose WebGPU');
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error('navigator.gpu.requestAdapter() returned null: no WebGPU adapter');
  const { vendor, architecture, description } = adapter.info;
  const adapterName = [vendor, architecture, description].filter(Boolean).join(' / ') || 'unknown adapter';

  const [modelBytes, inputBytes, referenceBytes] = await Promise.all([
    fetchBytes(modelFile),
    fetchBytes(inputFile),
    fetchBytes(referenceFile),
  ]);
  const graph = await importOnnx({ name: modelFile, bytes: modelBytes });
  const input = toFloat32(parseNpy(inputBytes));
  const reference = toFloat64(parseNpy(referenceBytes));

  const engine = await createEngine({ backend: 'webgpu', gpu: navigator.gpu });
  try {
    const model = await engine.load(graph);
    try {
      const explanation = await model.explain(input, { target, rules: JSON.parse(rulesJson) });
      return {
        relL2: relativeL2(explanation.relevance, reference),
        adapter: adapterName,
        backend: explanation.backend,
        target: explanation.target,
        elements: reference.length,
      };
    } finally {
      model.dispose();
    }
  } finally {
    engine.dispose();
  }
}

/**
 * Device loss in the browser: explain once, destroy the device while a second explanation is pending (as a driver
 * reset would), and return both relevances with the engine's notices. The engine must recreate the device and
 * rerun the pending explanation once.
 */
async function runDeviceLoss(modelFile: string, inputFile: string): Promise<{ relL2: number; notices: string[]; afterRelL2: number }> {
  const graph = importOnnx({ name: modelFile, bytes: await fetchBytes(modelFile) });
  const input = toFloat32(parseNpy(await fetchBytes(inputFile)));
  const notices: string[] = [];
  const engine = await createEngine({ backend: 'webgpu', gpu: navigator.gpu, onDeviceLost: (m) => notices.push(m) });
  const reference = await (await (await createEngine({ backend: 'cpu' })).load(graph)).explain(input, { rules: { preset: 'EpsilonPlusFlat' } });
  const model = await engine.load(graph);
  await model.explain(input);
  const pending = model.explain(input, { rules: { preset: 'EpsilonPlusFlat' } });
  engine.simulateDeviceLoss();
  const recovered = await pending;
  const after = await model.explain(input, { rules: { preset: 'EpsilonPlusFlat' } });
  await new Promise((r) => setTimeout(r, 0));
  engine.dispose();
  return { relL2: relativeL2(recovered.relevance, reference.relevance), afterRelL2: relativeL2(after.relevance, reference.relevance), notices };
}

declare global {
  interface Window {
    runGolden: typeof runGolden;
    runDeviceLoss: typeof runDeviceLoss;
  }
}

window.runGolden = runGolden;
window.runDeviceLoss = runDeviceLoss;
