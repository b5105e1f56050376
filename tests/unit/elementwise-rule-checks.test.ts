/**
 * The elementwise ops against the independent float64 rule checks (tests/fixtures/rule-checks, computed by
 * scripts/fixtures/rule-checks.py from the rules' definitions, not from this engine): squeeze-excitation gates,
 * SiLU / HardSwish / GELU patterns of opset-13 exports, broadcast arithmetic with constants, and a BatchNorm after a
 * Concat. EpsilonPlusFlat, BatchNorm merged where it can be, on both backends; input and per-layer relevance.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { importOnnx } from '../../src/engine/onnx/import-onnx';
import { foldBatchNorm } from '../../src/engine/canonicalize';
import { parseNpy, toFloat32, toFloat64 } from '../../src/engine/io/npy';
import { parseNpz } from '../../src/engine/io/npz';
import { cpuEngine, gpuEngine, relL2 } from './helpers/engines';

const dir = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'rule-checks');
const read = (f: string) => new Uint8Array(readFileSync(resolve(dir, f)));

interface Case {
  id: string;
  model: string;
  target: number;
  relevance: string;
  layer_relevance: string;
  f32_rel_err: number;
}
const manifest = JSON.parse(new TextDecoder().decode(read('cases.json'))) as {
  models: Record<string, { onnx: { file: string }; input: string; logits: string }>;
  cases: Case[];
};

const MINE = ['squeeze-excite', 'silu-hardswish-gelu', 'broadcast-arith', 'densenet-bn'];

describe('float64 rule checks (EpsilonPlusFlat)', () => {
  for (const name of MINE) {
    const c = manifest.cases.find((k) => k.model === name)!;
    for (const backend of ['cpu', 'webgpu'] as const) {
      it(`${name} on ${backend}`, async () => {
        const m = manifest.models[name]!;
        const graph = foldBatchNorm(importOnnx({ name: m.onnx.file, bytes: read(m.onnx.file) }, new Map()));
        const engine = backend === 'cpu' ? await cpuEngine() : await gpuEngine();
        const model = await engine.load(graph);
        const input = toFloat32(parseNpy(read(m.input)));
        const e = await model.explain(input, { rules: { preset: 'EpsilonPlusFlat' }, target: c.target });
        const tol = Math.max(1e-4, 4 * c.f32_rel_err);
        expect(relL2(e.logits, toFloat64(parseNpy(read(m.logits))))).toBeLessThan(1e-5);
        expect(relL2(e.relevance, toFloat64(parseNpy(read(c.relevance)))), 'input relevance').toBeLessThan(tol);
        const layers = parseNpz(read(c.layer_relevance));
        // The engine reports the whole relevance of a layer's input value; the fixture what the layer alone hands
        // back. They agree where the value feeds that layer only (broadcast-arith's conv1 input also feeds a Sub).
        const readers = (v: string) => graph.nodes.filter((n) => n.inputs.includes(v)).length;
        let compared = 0;
        for (const [layer, want] of layers) {
          const node = graph.nodes.find((n) => n.name === layer);
          expect(node, layer).toBeDefined();
          if (readers(node!.inputs[0]!) > 1) continue;
          compared++;
          const got = e.layers.find((l) => l.layer === layer);
          expect(got, `relevance at ${layer}`).toBeDefined();
          expect(relL2(got!.data, toFloat64(want)), layer).toBeLessThan(tol);
        }
        expect(compared).toBeGreaterThan(0);
        model.dispose();
      }, 60_000);
    }
  }
});
