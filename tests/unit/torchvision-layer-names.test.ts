/**
 * The torchvision goldens (../shared/goldens/torchvision) key their per-layer relevance by PyTorch module name; the
 * TorchScript exporter's node scopes must give every one of those layers its module name, so that a departure from
 * the reference is located at its layer (lrp-lens golden --verbose).
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { importOnnx } from '../../src/engine/onnx/import-onnx';
import { foldBatchNorm } from '../../src/engine/canonicalize';
import { parseNpz } from '../../src/engine/io/npz';
import { isWeightedLayer } from '../../src/engine/graph';

const dir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'goldens', 'torchvision');
const manifest = JSON.parse(readFileSync(join(dir, 'cases.json'), 'utf8')) as {
  models: Record<string, { onnx: { file: string } }>;
  cases: { model: string; layer_relevance?: string }[];
};

describe('torchvision golden layer names', () => {
  it.each(manifest.cases.filter((c) => c.layer_relevance))('$model: every reference layer is a Linear/Conv layer of the import', (c) => {
    const file = manifest.models[c.model]!.onnx.file;
    const graph = foldBatchNorm(importOnnx({ name: file, bytes: readFileSync(join(dir, file)) }));
    const weighted = new Set(graph.nodes.filter(isWeightedLayer).map((n) => n.name));
    const keys = [...parseNpz(readFileSync(join(dir, c.layer_relevance!))).keys()];
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.filter((k) => !weighted.has(k))).toEqual([]);
  });
});
