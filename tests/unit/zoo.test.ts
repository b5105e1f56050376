/**
 * torchvision's CNN families and its VisionTransformer as users export them (tests/fixtures/zoo, made by
 * scripts/fixtures/export-zoo.py with random weights and BatchNorm statistics; README there): each opens in the
 * CLI, predicts PyTorch's top class with PyTorch's logits, and explains with finite relevance, on the float64 CPU
 * backend and on WebGPU; the ViTs (opsets 13 and 17) also with the CP-LRP presets.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseArgs, type ExplainCommand } from '../../src/cli/args';
import { runExplain } from '../../src/cli/explain';
import { parseNpy, toFloat64 } from '../../src/engine/io/npy';

const zoo = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'zoo');
const manifest = JSON.parse(readFileSync(join(zoo, 'manifest.json'), 'utf8')) as {
  models: Record<string, { file: string; input: string; logits: string; top: number; architecture: string }>;
};
const tmp = mkdtempSync(join(tmpdir(), 'lrp-zoo-'));

function command(backend: 'cpu' | 'webgpu', name: string, composite = 'EpsilonPlusFlat'): ExplainCommand {
  const m = manifest.models[name]!;
  const cmd = parseArgs([
    'explain',
    '--backend',
    backend,
    '--model',
    join(zoo, m.file),
    '--input',
    join(zoo, m.input),
    '--composite',
    composite,
    '--relevance-out',
    join(tmp, `${name}.${backend}.${composite}.npy`),
  ]);
  if (cmd.kind !== 'explain') throw new Error('not explain');
  return cmd;
}

const names = Object.keys(manifest.models);
/** The VisionTransformer fixtures (opset 13 and 17), explained with the CP-LRP presets too. */
const vits = names.filter((n) => manifest.models[n]!.architecture.startsWith('torchvision.models.VisionTransformer'));

describe.each(['cpu', 'webgpu'] as const)('torchvision zoo on %s', (backend) => {
  // cp-gamma on the CPU only: on SwiftShader it takes about 30 s per model (the golden covers it on WebGPU).
  const cp = backend === 'cpu' ? ['cp-epsilon', 'cp-gamma'] : ['cp-epsilon'];
  const cases: [string, string][] = [...names.map((n): [string, string] => [n, 'EpsilonPlusFlat']), ...vits.flatMap((n) => cp.map((c): [string, string] => [n, c]))];
  it.each(cases)('%s opens, predicts PyTorch\'s class and explains with finite relevance (%s)', async (name, composite) => {
    const m = manifest.models[name]!;
    const report = await runExplain(command(backend, name, composite));
    const logits = toFloat64(parseNpy(readFileSync(join(zoo, m.logits))));
    expect(report.top[0]!.class).toBe(m.top);
    expect(report.explained.class).toBe(m.top);
    // The explained logit is PyTorch's (float32 both sides; the models' logits are of order 1 to 100).
    const scale = Math.max(...[...logits].map(Math.abs));
    expect(Math.abs(report.explained.logit - logits[m.top]!)).toBeLessThan(1e-4 * scale);
    const relevance = toFloat64(parseNpy(readFileSync(join(tmp, `${name}.${backend}.${composite}.npy`))));
    expect(relevance.length).toBeGreaterThan(0);
    expect(relevance.every(Number.isFinite)).toBe(true);
    expect(relevance.some((v) => v !== 0)).toBe(true);
  }, 120_000);

  if (backend === 'cpu') {
    it('has the ViT fixtures at opsets 13 and 17', () => {
      expect(vits).toEqual(['vit', 'vit_opset17']);
      expect(manifest.models.vit_opset17!.file).toBe('vit_opset17.onnx');
    });
  }
});
