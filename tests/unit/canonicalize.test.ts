import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { foldBatchNorm } from '../../src/engine/canonicalize';
import type { Graph, GraphNode, Tensor } from '../../src/engine/graph';
import { parseNpy, toFloat64 } from '../../src/engine/io/npy';
import { importOnnx } from '../../src/engine/onnx/import-onnx';

// shared/ sits beside the repository (CI clones the repo elsewhere with shared next to it).
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const goldens = resolve(repoRoot, '..', 'shared', 'goldens');
const read = (file: string): Uint8Array => new Uint8Array(readFileSync(resolve(goldens, file)));
const load = (file: string): Graph => importOnnx({ name: file, bytes: read(file) });

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

/** float64 forward for the layers these tests use: conv2d (no groups/dilation), linear, relu, batchnorm, gap, reshape. */
function forward(graph: Graph, input: Float64Array): Float64Array {
  const values = new Map<string, { shape: number[]; data: Float64Array }>([
    [graph.input.name, { shape: [...graph.input.shape], data: input }],
  ]);
  for (const n of graph.nodes) {
    const x = values.get(n.inputs[0]!)!;
    const [, C, H = 1, W = 1] = x.shape as [number, number, number?, number?];
    let out: { shape: number[]; data: Float64Array };
    switch (n.op) {
      case 'relu':
        out = { shape: x.shape, data: x.data.map((v) => Math.max(v, 0)) };
        break;
      case 'reshape':
        out = { shape: n.attrs.shape as number[], data: x.data };
        break;
      case 'globalavgpool': {
        const d = new Float64Array(C);
        for (let c = 0; c < C; c++) for (let i = 0; i < H * W; i++) d[c]! += x.data[c * H * W + i]! / (H * W);
        out = { shape: [1, C, 1, 1], data: d };
        break;
      }
      case 'batchnorm': {
        const d = new Float64Array(x.data.length);
        for (let c = 0; c < C; c++)
          for (let i = 0; i < H * W; i++) d[c * H * W + i] = x.data[c * H * W + i]! * n.params.scale!.data[c]! + n.params.shift!.data[c]!;
        out = { shape: x.shape, data: d };
        break;
      }
      case 'linear': {
        const [O, I] = n.params.weight!.shape as [number, number];
        const d = new Float64Array(O);
        for (let o = 0; o < O; o++) {
          d[o] = n.params.bias?.data[o] ?? 0;
          for (let i = 0; i < I; i++) d[o]! += n.params.weight!.data[o * I + i]! * x.data[i]!;
        }
        out = { shape: [1, O], data: d };
        break;
      }
      case 'conv2d': {
        const w = n.params.weight!;
        const [O, , kh, kw] = w.shape as [number, number, number, number];
        const [sh, sw] = n.attrs.stride as number[] as [number, number];
        const [pt, pl, pb, pr] = n.attrs.pads as number[] as [number, number, number, number];
        const OH = Math.floor((H + pt + pb - kh) / sh) + 1;
        const OW = Math.floor((W + pl + pr - kw) / sw) + 1;
        const d = new Float64Array(O * OH * OW);
        for (let o = 0; o < O; o++)
          for (let y = 0; y < OH; y++)
            for (let xx = 0; xx < OW; xx++) {
              let s = n.params.bias?.data[o] ?? 0;
              for (let c = 0; c < C; c++)
                for (let ky = 0; ky < kh; ky++)
                  for (let kx = 0; kx < kw; kx++) {
                    const iy = y * sh - pt + ky;
                    const ix = xx * sw - pl + kx;
                    if (iy >= 0 && iy < H && ix >= 0 && ix < W) s += x.data[(c * H + iy) * W + ix]! * w.data[((o * C + c) * kh + ky) * kw + kx]!;
                  }
              d[(o * OH + y) * OW + xx] = s;
            }
        out = { shape: [1, O, OH, OW], data: d };
        break;
      }
      default:
        throw new Error(`no reference for ${n.op}`);
    }
    values.set(n.output, out);
  }
  return values.get(graph.output)!.data;
}

const t = (shape: number[], values: number[]): Tensor => ({ shape, data: Float32Array.from(values) });

function bnNode(name: string, input: string, output: string, scale: number[], shift: number[]): GraphNode {
  return { name, op: 'batchnorm', inputs: [input], output, attrs: { epsilon: 1e-5 }, params: { scale: t([scale.length], scale), shift: t([shift.length], shift) } };
}

describe('foldBatchNorm on bncnn', () => {
  const bn = load('bncnn.bn.onnx');
  const legacy = load('bncnn.legacy.onnx'); // the TorchScript exporter folded BatchNorm the same way
  const folded = foldBatchNorm(bn);

  it('gives the graph the exporter produces: same layers, names, attrs and weights', () => {
    expect(folded.nodes.map((n) => `${n.name}:${n.op}`)).toEqual(legacy.nodes.map((n) => `${n.name}:${n.op}`));
    expect(folded.nodes.map((n) => n.name)).toEqual(['conv1', 'relu1', 'conv2', 'relu2', 'gap', 'reshape_0', 'fc']);
    folded.nodes.forEach((n, i) => {
      const m = legacy.nodes[i]!;
      expect(n.attrs).toEqual(m.attrs);
      expect(Object.keys(n.params).sort()).toEqual(Object.keys(m.params).sort());
      for (const k of Object.keys(n.params)) {
        expect(n.params[k]!.shape).toEqual(m.params[k]!.shape);
        expect(relErr(n.params[k]!.data, m.params[k]!.data), `${n.name}.${k}`).toBeLessThan(1e-6);
      }
    });
    // Wiring: the relu after each folded conv reads the conv's output directly.
    expect(folded.nodes[1]!.inputs).toEqual([folded.nodes[0]!.output]);
    expect(folded.nodes[3]!.inputs).toEqual([folded.nodes[2]!.output]);
    expect(folded.output).toBe('logits');
  });

  it('computes the same function (and the golden logits)', () => {
    const x = toFloat64(parseNpy(read('bncnn.input.npy')));
    const logits = toFloat64(parseNpy(read('bncnn.logits.npy')));
    const yBn = forward(bn, x);
    const yFolded = forward(folded, x);
    expect(relErr(yBn, logits)).toBeLessThan(1e-6); // scale/shift are float32 (measured ~6e-8)
    expect(relErr(yFolded, yBn)).toBeLessThan(1e-6);
    expect(relErr(forward(legacy, x), yFolded)).toBeLessThan(1e-6);
  });

  it('does not modify its input', () => {
    expect(bn.nodes.map((n) => n.op)).toContain('batchnorm');
    const conv1 = bn.nodes.find((n) => n.name === 'conv1')!;
    const w0 = Array.from(conv1.params.weight!.data);
    foldBatchNorm(bn);
    expect(Array.from(conv1.params.weight!.data)).toEqual(w0);
    expect(bn.nodes).toHaveLength(9);
  });

  it('leaves graphs without foldable BatchNorm as they are', () => {
    const g = foldBatchNorm(legacy);
    expect(g).not.toBe(legacy);
    expect(g.nodes).toEqual(legacy.nodes);
  });
});

describe('foldBatchNorm rules', () => {
  const linear: GraphNode = {
    name: 'fc',
    op: 'linear',
    inputs: ['x'],
    output: 'z',
    attrs: {},
    params: { weight: t([2, 3], [1, 2, 3, 4, 5, 6]) },
  };

  it('folds into a linear layer without bias, and updates the graph output when the BatchNorm was last', () => {
    const g: Graph = { name: 'g', input: { name: 'x', shape: [1, 3] }, output: 'b', nodes: [linear, bnNode('bn', 'z', 'b', [2, -1], [0.5, 3])] };
    const f = foldBatchNorm(g);
    expect(f.nodes).toHaveLength(1);
    expect(f.output).toBe('z');
    expect(Array.from(f.nodes[0]!.params.weight!.data)).toEqual([2, 4, 6, -4, -5, -6]);
    expect(Array.from(f.nodes[0]!.params.bias!.data)).toEqual([0.5, 3]);
    expect(f.nodes[0]!.name).toBe('fc');
  });

  it('computes scale/shift from gamma/beta/mean/var when only those are given', () => {
    const bn: GraphNode = {
      name: 'bn',
      op: 'batchnorm',
      inputs: ['z'],
      output: 'b',
      attrs: { epsilon: 0 },
      params: { gamma: t([2], [2, 1]), beta: t([2], [1, 0]), mean: t([2], [1, 2]), var: t([2], [4, 1]) },
    };
    const withBias = { ...linear, params: { ...linear.params, bias: t([2], [3, 4]) } };
    const f = foldBatchNorm({ name: 'g', input: { name: 'x', shape: [1, 3] }, output: 'b', nodes: [withBias, bn] });
    // scale = [1, 1], shift = [1 - 1, 0 - 2]; b' = b * scale + shift
    expect(Array.from(f.nodes[0]!.params.weight!.data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(f.nodes[0]!.params.bias!.data)).toEqual([3, 2]);
  });

  it('keeps BatchNorm after a non-weighted layer, after a layer with other consumers, or on the input', () => {
    const relu: GraphNode = { name: 'relu', op: 'relu', inputs: ['z'], output: 'r', attrs: {}, params: {} };
    const afterRelu: Graph = {
      name: 'g',
      input: { name: 'x', shape: [1, 3] },
      output: 'b',
      nodes: [linear, relu, bnNode('bn', 'r', 'b', [1, 1], [0, 0])],
    };
    expect(foldBatchNorm(afterRelu).nodes.map((n) => n.op)).toEqual(['linear', 'relu', 'batchnorm']);

    const add: GraphNode = { name: 'add', op: 'add', inputs: ['b', 'z'], output: 'y', attrs: {}, params: {} };
    const shared: Graph = { name: 'g', input: { name: 'x', shape: [1, 3] }, output: 'y', nodes: [linear, bnNode('bn', 'z', 'b', [1, 1], [0, 0]), add] };
    expect(foldBatchNorm(shared).nodes.map((n) => n.op)).toEqual(['linear', 'batchnorm', 'add']);

    const onInput: Graph = { name: 'g', input: { name: 'x', shape: [1, 2] }, output: 'b', nodes: [bnNode('bn', 'x', 'b', [1, 1], [0, 0])] };
    expect(foldBatchNorm(onInput).nodes.map((n) => n.op)).toEqual(['batchnorm']);
  });
});
