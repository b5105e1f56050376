/**
 * torchvision's CNN families as users export them (tests/fixtures/zoo, made by scripts/fixtures/export-zoo.py with
 * random weights and BatchNorm statistics; README there): each opens in the CLI, predicts PyTorch's top class
 * with PyTorch's logits, and explains with finite relevance, on the float64 CPU backend and on WebGPU.
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

function command(backend: 'cpu' | 'webgpu', name: string): ExplainCommand {
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
    'EpsilonPlusFlat',
    '--relevance-out',
    join(tmp, `${name}.${backend}.npy`),
  ]);
  if (cmd.kind !== 'explain') throw new Error('not explain');
  return cmd;
}

const names = Object.keys(manifest.models);

describe.each(['cpu', 'webgpu'] as const)('torchvision zoo on %s', (backend) => {
  it.each(names)('%s opens, predicts PyTorch\'s class and explains with finite relevance', async (name) => {
    const m = manifest.models[name]!;
    const report = await runExplain(command(backend, name));
    const logits = toFloat64(parseNpy(readFileSync(join(zoo, m.logits))));
    expect(report.top[0]!.class).toBe(m.top);
    expect(report.explained.class).toBe(m.top);
    // The explained logit is PyTorch's (float32 both sides; the models' logits are of order 1 to 100).
    const scale = Math.max(...[...logits].map(Math.abs));
    expect(Math.abs(report.explained.logit - logits[m.top]!)).toBeLessThan(1e-4 * scale);
    const relevance = toFloat64(parseNpy(readFileSync(join(tmp, `${name}.${backend}.npy`))));
    expect(relevance.length).toBeGreaterThan(0);
    expect(relevance.every(Number.isFinite)).toBe(true);
    expect(relevance.some((v) => v !== 0)).toBe(true);
  }, 120_000);
});
