import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { foldBatchNorm } from '../../src/engine/canonicalize';
import type { Graph, GraphNode } from '../../src/engine/graph';
import { parseNpy, toFloat32, toFloat64 } from '../../src/engine/io/npy';
import { ModelImportError } from '../../src/engine/onnx/import-onnx';
import { importTfjs, samePadding, SUPPORTED_TFJS_LAYERS } from '../../src/engine/tfjs/import-tfjs';
import { KERAS_TABLE } from '../../src/engine/tfjs/keras-table';
import {
  buildTfjs,
  functional,
  kerasActivations as act,
  kerasConcat,
  kerasConv,
  kerasDense,
  kerasGlobalPool,
  kerasLayerNorm,
  kerasMerge,
  kerasPool,
  map,
  reshape,
  sequential,
  tfSame,
  toNchw,
  values,
  type FunctionalLayer,
  type Nhwc,
  type WeightInit,
} from '../fixtures/tfjs-builder';
import { cpuEngine, relL2 } from './helpers/engines';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const modelsDir = join(repoRoot, 'public', 'models');
const goldens = resolve(repoRoot, '..', 'shared', 'goldens', 'tfjs');

function loadBuiltin(id: string): Graph {
  const dir = join(modelsDir, id);
  const shards = new Map<string, Uint8Array>();
  for (const f of readdirSync(dir)) if (f.startsWith('group')) shards.set(f, new Uint8Array(readFileSync(join(dir, f))));
  return importTfjs({ name: 'model.json', text: readFileSync(join(dir, 'model.json'), 'utf8') }, shards);
}

function importError(f: () => unknown): ModelImportError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ModelImportError);
    expect((e as Error).message).not.toMatch(/\n\s+at /);
    return e as ModelImportError;
  }
  throw new Error('expected a ModelImportError');
}

const node = (g: Graph, name: string): GraphNode => {
  const n = g.nodes.find((x) => x.name === name);
  if (!n) throw new Error(`no node ${name} in ${g.nodes.map((x) => x.name).join(', ')}`);
  return n;
};

async function forward(g: Graph, x: Float32Array): Promise<Float32Array> {
  const engine = await cpuEngine();
  const model = await engine.load(g);
  try {
    return await model.forward(x);
  } finally {
    model.dispose();
  }
}

const input = (shape: number[]) => ({ class_name: 'InputLayer', config: { batch_input_shape: [null, ...shape], dtype: 'float32', name: 'input' } });

describe('tinyvgg (built-in, Keras Sequential)', () => {
  const g = loadBuiltin('tinyvgg');

  it('maps every layer, NCHW input, Keras layer names, final softmax removed with a note', () => {
    expect(g.input).toEqual({ name: 'input', shape: [1, 3, 64, 64] });
    expect(g.nodes.map((n) => `${n.name}:${n.op}`)).toEqual([
      'conv_1_1:conv2d',
      'relu_1_1:relu',
      'conv_1_2:conv2d',
      'relu_1_2:relu',
      'max_pool_1:maxpool2d',
      'conv_2_1:conv2d',
      'relu_2_1:relu',
      'conv_2_2:conv2d',
      'relu_2_2:relu',
      'max_pool_2:maxpool2d',
      'flatten:reshape',
      'output:linear',
    ]);
    expect(g.notes).toEqual(['The final softmax (layer "output") was removed: explanations start from the logits before the softmax.']);
    expect(node(g, 'conv_1_1').attrs).toEqual({ kernel: [3, 3], stride: [1, 1], pads: [0, 0, 0, 0], dilation: [1, 1], groups: 1 });
    expect(node(g, 'max_pool_1').attrs).toMatchObject({ kernel: [2, 2], stride: [2, 2], pads: [0, 0, 0, 0] });
    expect(node(g, 'flatten').attrs.shape).toEqual([1, 1690]);
    expect(node(g, 'output').params.weight!.shape).toEqual([10, 1690]);
  });

  it('transposes the HWIO kernel to OIHW: the conv matches a hand-computed NHWC conv at several positions', () => {
    // The raw Keras kernel: the manifest's first weight (conv_1_1/kernel, [3, 3, 3, 10]) at the start of the shard.
    const shard = new Uint8Array(readFileSync(join(modelsDir, 'tinyvgg', 'group1-shard1of1.bin')));
    const raw = new Float32Array(shard.slice(0, 3 * 3 * 3 * 10 * 4).buffer);
    const bias = new Float32Array(shard.slice(270 * 4, 280 * 4).buffer);
    const conv = node(g, 'conv_1_1');
    const w = conv.params.weight!;
    expect(w.shape).toEqual([10, 3, 3, 3]);
    const img = values(64 * 64 * 3, 7); // NHWC
    for (const [oy, ox, o] of [
      [0, 0, 0],
      [5, 17, 3],
      [61, 2, 9],
      [30, 61, 6],
    ] as const) {
      let keras = bias[o]!;
      let engine = conv.params.bias!.data[o]!;
      for (let ky = 0; ky < 3; ky++)
        for (let kx = 0; kx < 3; kx++)
          for (let c = 0; c < 3; c++) {
            const px = img[((oy + ky) * 64 + ox + kx) * 3 + c]!;
            keras += px * raw[((ky * 3 + kx) * 3 + c) * 10 + o]!;
            engine += px * w.data[((o * 3 + c) * 3 + ky) * 3 + kx]!;
          }
      expect(engine).toBeCloseTo(keras, 12);
    }
  });

  it('computes the goldens\' logits for the sample photos (Dense after Flatten reordered for NCHW)', async () => {
    for (const photo of ['coffee', 'chelsea']) {
      const x = toFloat32(parseNpy(new Uint8Array(readFileSync(join(goldens, `tinyvgg.sample.${photo}.npy`)))));
      const ref = toFloat64(parseNpy(new Uint8Array(readFileSync(join(goldens, `tinyvgg.sample.${photo}.logits.npy`)))));
      const logits = await forward(g, x);
      expect(relL2(logits, ref)).toBeLessThan(1e-5);
      expect(logits.indexOf(Math.max(...logits))).toBe(6); // espresso
    }
  });
});

describe('darknet-tiny (built-in, Keras functional Model)', () => {
  const g = loadBuiltin('darknet-tiny');

  it('maps 16 convolutions, 15 BatchNorms, LeakyReLU 0.1, 4 max pools and the global average pool', () => {
    const count = (op: string) => g.nodes.filter((n) => n.op === op).length;
    expect(g.input).toEqual({ name: 'input_1', shape: [1, 3, 224, 224] });
    expect([count('conv2d'), count('batchnorm'), count('leakyrelu'), count('maxpool2d'), count('globalavgpool'), count('reshape')]).toEqual([16, 15, 15, 4, 1, 1]);
    expect(g.notes).toBeUndefined();
    expect(node(g, 'leaky_re_lu_1').attrs.alpha).toBeCloseTo(0.1, 7);
    expect(g.nodes.at(-1)).toMatchObject({ op: 'reshape', attrs: { shape: [1, 1000] } });
    expect(node(g, 'global_average_pooling2d_1').op).toBe('globalavgpool');
    // 'same' 3x3 convolutions: a zero Pad layer before a 'valid' convolution; 1x1 ones need none.
    expect(node(g, 'conv2d_1_pad')).toMatchObject({ op: 'pad', attrs: { pads: [0, 0, 1, 1, 0, 0, 1, 1] } });
    expect(node(g, 'conv2d_1').attrs.pads).toEqual([0, 0, 0, 0]);
    expect(node(g, 'conv2d_1').inputs).toEqual(['conv2d_1_pad']);
    expect(g.nodes.some((n) => n.name === 'conv2d_3_pad')).toBe(false);
    expect(node(g, 'conv2d_1').params.bias).toBeUndefined();
    expect(node(g, 'conv2d_16').params.bias!.shape).toEqual([1000]);
    expect(node(g, 'max_pooling2d_1').attrs).toMatchObject({ kernel: [2, 2], stride: [2, 2], pads: [0, 0, 0, 0] });
  });

  it('keeps gamma/beta/mean/var beside scale/shift (computed in float64), so foldBatchNorm folds all 15', () => {
    const bn = node(g, 'batch_normalization_1');
    const { gamma, beta, mean, var: v, scale, shift } = bn.params;
    expect(bn.attrs.epsilon).toBeCloseTo(1e-3, 9);
    for (let c = 0; c < 16; c++) {
      const k = gamma!.data[c]! / Math.sqrt(v!.data[c]! + 1e-3);
      expect(scale!.data[c]).toBe(Math.fround(k));
      expect(shift!.data[c]).toBe(Math.fround(beta!.data[c]! - mean!.data[c]! * k));
    }
    const folded = foldBatchNorm(g);
    expect(folded.nodes.filter((n) => n.op === 'batchnorm')).toHaveLength(0);
    expect(folded.nodes).toHaveLength(g.nodes.length - 15);
    expect(node(folded, 'conv2d_1').params.bias!.shape).toEqual([16]);
  });
});

describe('synthetic TF.js models', () => {
  it('maps the Dense after a Keras Flatten (H, W, C order) onto the engine\'s C, H, W flatten', async () => {
    const [H, W, C, U] = [2, 3, 4, 5];
    const kernel = values(H * W * C * U, 3);
    const bias = values(U, 4);
    const m = buildTfjs(
      sequential([
        input([H, W, C]),
        { class_name: 'Flatten', config: { name: 'flatten' } },
        { class_name: 'Dense', config: { name: 'dense', units: U, activation: 'linear', use_bias: true } },
      ]),
      [
        { name: 'dense/kernel', shape: [H * W * C, U], data: kernel },
        { name: 'dense/bias', shape: [U], data: bias },
      ],
    );
    const g = importTfjs({ name: 'model.json', text: m.text }, m.shards);
    const x: Nhwc = { shape: [H, W, C], data: Float64Array.from(values(H * W * C, 5)) };
    const expected = kerasDense(x, kernel, U, bias);
    const got = await forward(g, toNchw(x));
    expect(relL2(got, expected.data)).toBeLessThan(1e-6);
    // Column e (engine order c, h, w) is Keras row (h * W + w) * C + c.
    const w = node(g, 'dense').params.weight!;
    const [c, h, ww] = [2, 1, 0];
    expect(w.data[1 * (H * W * C) + c * H * W + h * W + ww]).toBe(kernel[((h * W + ww) * C + c) * U + 1]);
  });

  it("puts the odd pixel of 'same' padding at the bottom/right (convolutions, strides, dilation, pools)", async () => {
    expect(samePadding(3, 2, 1)).toEqual([0, 1]);
    expect(samePadding(4, 3, 2)).toEqual([0, 1]);
    expect(samePadding(5, 3, 2)).toEqual([1, 1]);
    expect(samePadding(5, 2, 2)).toEqual([0, 1]);
    expect(samePadding(7, 3, 1, 2)).toEqual([2, 2]);
    const cases: { hw: [number, number]; k: number; s: number; d: number; pads: number[] }[] = [
      { hw: [3, 3], k: 2, s: 1, d: 1, pads: [0, 0, 1, 1] },
      { hw: [4, 5], k: 3, s: 2, d: 1, pads: [0, 1, 1, 1] },
      { hw: [6, 6], k: 3, s: 1, d: 2, pads: [2, 2, 2, 2] },
      { hw: [5, 4], k: 4, s: 3, d: 1, pads: [1, 1, 1, 2] },
    ];
    for (const { hw, k, s, d, pads } of cases) {
      const [H, W] = hw;
      const C = 2;
      const O = 3;
      const kernel = values(k * k * C * O, k + s);
      const x: Nhwc = { shape: [H, W, C], data: Float64Array.from(values(H * W * C, 11)) };
      const ref = kerasPool(kerasConv(x, kernel, [k, k, C, O], { stride: s, dilation: d, padding: 'same' }), 2, 2, 'same', 'max');
      // Flatten + an identity Dense: the output is the pool's output in Keras (H, W, C) order.
      const n = ref.data.length;
      const identity = new Float32Array(n * n);
      for (let i = 0; i < n; i++) identity[i * n + i] = 1;
      const m = buildTfjs(
        sequential([
          input([H, W, C]),
          { class_name: 'Conv2D', config: { name: 'conv', filters: O, kernel_size: [k, k], strides: [s, s], dilation_rate: [d, d], padding: 'same', use_bias: false, activation: 'linear' } },
          { class_name: 'MaxPooling2D', config: { name: 'pool', pool_size: [2, 2], strides: [2, 2], padding: 'same' } },
          { class_name: 'Flatten', config: { name: 'flatten' } },
          { class_name: 'Dense', config: { name: 'id', units: n, use_bias: false } },
        ]),
        [
          { name: 'conv/kernel', shape: [k, k, C, O], data: kernel },
          { name: 'id/kernel', shape: [n, n], data: identity },
        ],
      );
      const g = importTfjs({ name: 'model.json', text: m.text }, m.shards);
      const [pt, pb] = tfSame(H, k, s, d);
      const [pl, pr] = tfSame(W, k, s, d);
      expect([pt, pl, pb, pr]).toEqual(pads);
      expect(node(g, 'conv_pad').attrs.pads).toEqual([0, 0, pads[0], pads[1], 0, 0, pads[2], pads[3]]);
      const conv = kerasConv(x, kernel, [k, k, C, O], { stride: s, dilation: d, padding: 'same' });
      const [OH, OW] = conv.shape as [number, number];
      const [qt, qb] = tfSame(OH, 2, 2);
      const [ql, qr] = tfSame(OW, 2, 2);
      expect(node(g, 'pool').attrs.pads).toEqual([qt, ql, qb, qr]);
      expect(relL2(await forward(g, toNchw(x)), ref.data)).toBeLessThan(1e-6);
    }
  });

  it('matches Keras on a functional model with every supported layer kind', async () => {
    const H = 9;
    const W = 8;
    const C = 3;
    const wts: WeightInit[] = [];
    const w = (name: string, shape: number[], seed: number, scale = 0.5): Float32Array => {
      let n = 1;
      for (const d of shape) n *= d;
      const data = values(n, seed, scale);
      wts.push({ name, shape, data });
      return data;
    };
    const c1k = w('c1/kernel', [3, 3, 3, 4], 1);
    const c1b = w('c1/bias', [4], 2);
    const bn = {
      gamma: w('bn/gamma', [4], 3, 1).map((v) => 1 + 0.5 * v),
      beta: w('bn/beta', [4], 4),
      mean: w('bn/moving_mean', [4], 5),
      var: w('bn/moving_variance', [4], 6).map((v) => 0.5 + Math.abs(v)),
    };
    // gamma near 1 and a positive moving_variance: rewrite the stored values.
    wts.splice(wts.findIndex((x) => x.name === 'bn/gamma'), 1, { name: 'bn/gamma', shape: [4], data: bn.gamma });
    wts.splice(wts.findIndex((x) => x.name === 'bn/moving_variance'), 1, { name: 'bn/moving_variance', shape: [4], data: bn.var });
    const dwk = w('dw/depthwise_kernel', [3, 3, 4, 2], 7);
    const dwb = w('dw/bias', [8], 8);
    const sdk = w('sep/depthwise_kernel', [2, 2, 8, 1], 9);
    const spk = w('sep/pointwise_kernel', [1, 1, 8, 6], 10);
    const spb = w('sep/bias', [6], 11);
    const brk = w('branch/kernel', [1, 1, 8, 6], 12);
    const dk = w('dense/kernel', [6, 5], 13);
    const db = w('dense/bias', [5], 14);
    const layers: FunctionalLayer[] = [
      { class_name: 'InputLayer', name: 'img', config: { batch_input_shape: [null, H, W, C], dtype: 'float32' }, inputs: [] },
      { class_name: 'ZeroPadding2D', name: 'zp', config: { padding: [[1, 0], [0, 2]] }, inputs: ['img'] },
      { class_name: 'Conv2D', name: 'c1', config: { filters: 4, kernel_size: [3, 3], strides: [2, 2], padding: 'same', activation: 'relu', use_bias: true }, inputs: ['zp'] },
      { class_name: 'BatchNormalization', name: 'bn', config: { axis: -1, epsilon: 0.01, center: true, scale: true }, inputs: ['c1'] },
      { class_name: 'DepthwiseConv2D', name: 'dw', config: { kernel_size: [3, 3], padding: 'same', depth_multiplier: 2, activation: 'linear', use_bias: true }, inputs: ['bn'] },
      { class_name: 'Activation', name: 'r6', config: { activation: 'relu6' }, inputs: ['dw'] },
      { class_name: 'SeparableConv2D', name: 'sep', config: { filters: 6, kernel_size: [2, 2], padding: 'same', activation: 'tanh', use_bias: true, depth_multiplier: 1 }, inputs: ['r6'] },
      { class_name: 'Conv2D', name: 'branch', config: { filters: 6, kernel_size: [1, 1], padding: 'valid', activation: 'sigmoid', use_bias: false }, inputs: ['r6'] },
      { class_name: 'Add', name: 'add', config: {}, inputs: ['sep', 'branch'] },
      { class_name: 'LeakyReLU', name: 'leaky', config: { alpha: 0.2 }, inputs: ['add'] },
      { class_name: 'ReLU', name: 'relu_cap', config: { max_value: 0.9 }, inputs: ['leaky'] },
      { class_name: 'AveragePooling2D', name: 'avg', config: { pool_size: [2, 2], strides: [1, 1], padding: 'valid' }, inputs: ['relu_cap'] },
      { class_name: 'Dropout', name: 'drop', config: { rate: 0.5 }, inputs: ['avg'] },
      { class_name: 'GlobalAveragePooling2D', name: 'gap', config: {}, inputs: ['drop'] },
      { class_name: 'Dense', name: 'dense', config: { units: 5, activation: 'softmax', use_bias: true }, inputs: ['gap'] },
    ];
    const m = buildTfjs(functional(layers, 'img', 'dense'), wts, { perShard: 4 });
    expect(m.shards.size).toBeGreaterThan(1);
    const g = importTfjs({ name: 'model.json', text: m.text }, m.shards);
    expect(g.notes?.[0]).toMatch(/final softmax \(layer "dense"\) was removed/);
    expect(g.nodes.map((n) => `${n.name}:${n.op}`)).toEqual([
      'zp:pad',
      'c1_pad:pad',
      'c1:conv2d',
      'c1_relu:relu',
      'bn:batchnorm',
      'dw_pad:pad',
      'dw:conv2d',
      'r6:clip',
      'sep_depthwise_pad:pad',
      'sep_depthwise:conv2d',
      'sep:conv2d',
      'sep_tanh:tanh',
      'branch:conv2d',
      'branch_sigmoid:sigmoid',
      'add:add',
      'leaky:leakyrelu',
      'relu_cap:clip',
      'avg:avgpool2d',
      'gap:globalavgpool',
      'gap_reshape:reshape',
      'dense:linear',
    ]);
    expect(node(g, 'dw').attrs.groups).toBe(4);
    expect(node(g, 'dw').params.weight!.shape).toEqual([8, 1, 3, 3]);
    expect(node(g, 'r6').attrs).toEqual({ min: 0, max: 6 });

    // Keras, NHWC, float64.
    let x: Nhwc = { shape: [H, W, C], data: Float64Array.from(values(H * W * C, 99)) };
    const inputNchw = toNchw(x);
    {
      // ZeroPadding2D ((1, 0), (0, 2))
      const [h, ww] = [H + 1, W + 2];
      const out = new Float64Array(h * ww * C);
      for (let y = 0; y < H; y++) for (let xx = 0; xx < W; xx++) for (let c = 0; c < C; c++) out[((y + 1) * ww + xx) * C + c] = x.data[(y * W + xx) * C + c]!;
      x = { shape: [h, ww, C], data: out };
    }
    x = map(kerasConv(x, c1k, [3, 3, 3, 4], { stride: 2, padding: 'same', bias: c1b }), (v) => Math.max(v, 0));
    x = map(x, (v, c) => ((v - bn.mean[c]!) / Math.sqrt(bn.var[c]! + 0.01)) * bn.gamma[c]! + bn.beta[c]!);
    const r6 = map(kerasConv(x, dwk, [3, 3, 4, 2], { padding: 'same', bias: dwb, depthwise: true }), (v) => Math.min(Math.max(v, 0), 6));
    const sepD = kerasConv(r6, sdk, [2, 2, 8, 1], { padding: 'same', depthwise: true });
    const sep = map(kerasConv(sepD, spk, [1, 1, 8, 6], { padding: 'valid', bias: spb }), Math.tanh);
    const branch = map(kerasConv(r6, brk, [1, 1, 8, 6], { padding: 'valid' }), (v) => 1 / (1 + Math.exp(-v)));
    x = { shape: sep.shape, data: sep.data.map((v, i) => v + branch.data[i]!) };
    x = map(x, (v) => (v > 0 ? v : 0.2 * v));
    x = map(x, (v) => Math.min(Math.max(v, 0), 0.9));
    x = kerasPool(x, 2, 1, 'valid', 'avg');
    const [h, ww, cc] = x.shape as [number, number, number];
    const gap = new Float64Array(cc);
    for (let i = 0; i < h * ww; i++) for (let c = 0; c < cc; c++) gap[c] = gap[c]! + x.data[i * cc + c]! / (h * ww);
    const logits = kerasDense({ shape: [cc], data: gap }, dk, 5, db);

    const got = await forward(g, inputNchw);
    expect(relL2(got, logits.data)).toBeLessThan(1e-6);
  });

  it('dequantizes uint8, uint16 and float16 weights (and finds scoped weight names)', async () => {
    const kernel = values(4 * 3, 21);
    const bias = values(3, 22);
    const k2 = values(3 * 2, 23);
    for (const quant of ['uint8', 'uint16', 'float16'] as const) {
      const m = buildTfjs(
        sequential([
          input([4]),
          { class_name: 'Dense', config: { name: 'd1', units: 3, activation: 'relu' } },
          { class_name: 'Dense', config: { name: 'd2', units: 2, activation: 'linear' } },
        ]),
        [
          { name: 'sequential/d1/kernel', shape: [4, 3], data: kernel, quant },
          { name: 'sequential/d1/bias', shape: [3], data: bias, quant: quant === 'float16' ? undefined : quant },
          { name: 'd2/kernel:0', shape: [3, 2], data: k2 },
          { name: 'd2/bias', shape: [2], data: [0.5, -0.25] },
        ],
      );
      const g = importTfjs({ name: 'model.json', text: m.text }, m.shards);
      const q = m.values.get('sequential/d1/kernel')!;
      // Stored quantized: the importer reads back exactly the dequantized values, transposed to [out, in].
      const w = node(g, 'd1').params.weight!;
      expect(w.shape).toEqual([3, 4]);
      for (let i = 0; i < 4; i++) for (let o = 0; o < 3; o++) expect(w.data[o * 4 + i]).toBe(q[i * 3 + o]);
      expect(Array.from(node(g, 'd1').params.bias!.data)).toEqual(Array.from(m.values.get('sequential/d1/bias')!));
      // Close to the original float values.
      const tol = quant === 'uint8' ? 1e-2 : 1e-3;
      for (let i = 0; i < q.length; i++) expect(Math.abs(q[i]! - kernel[i]!)).toBeLessThan(tol);
      const x = Float32Array.from([0.3, -0.2, 0.9, 0.1]);
      const hidden = kerasDense({ shape: [4], data: Float64Array.from(x) }, q, 3, m.values.get('sequential/d1/bias')!);
      const expected = kerasDense(map(hidden, (v) => Math.max(v, 0)), k2, 2, [0.5, -0.25]);
      expect(relL2(await forward(g, x), expected.data)).toBeLessThan(1e-6);
    }
  });

  it('reads a weight group spread over several shards', () => {
    const kernel = values(40 * 3, 31);
    const m = buildTfjs(sequential([input([40]), { class_name: 'Dense', config: { name: 'd', units: 3, use_bias: false } }]), [
      { name: 'd/kernel', shape: [40, 3], data: kernel },
    ]);
    const bytes = m.shards.get('group1-shard1of1.bin')!;
    const json = JSON.parse(m.text) as { weightsManifest: { paths: string[] }[] };
    json.weightsManifest[0]!.paths = ['group1-shard1of2', 'group1-shard2of2'];
    const shards = new Map([
      ['group1-shard1of2', bytes.slice(0, 200)],
      ['group1-shard2of2', bytes.slice(200)],
    ]);
    const g = importTfjs({ name: 'model.json', text: JSON.stringify(json) }, shards);
    expect(node(g, 'd').params.weight!.data[1 * 40 + 39]).toBe(kernel[39 * 3 + 1]);
  });

  it('maps ReLU options, the Keras 3 inbound format and Sequential configs without an InputLayer', () => {
    const relus = buildTfjs(
      sequential([
        { class_name: 'ReLU', config: { name: 'plain', batch_input_shape: [null, 4] } },
        { class_name: 'ReLU', config: { name: 'capped', max_value: 6 } },
        { class_name: 'ReLU', config: { name: 'leaky', negative_slope: 0.05 } },
        { class_name: 'Activation', config: { name: 'lin', activation: 'linear' } },
        { class_name: 'Dense', config: { name: 'd', units: 2, use_bias: false } },
      ]),
      [{ name: 'd/kernel', shape: [4, 2], data: values(8, 1) }],
    );
    const g = importTfjs({ name: 'relus.json', text: relus.text }, relus.shards);
    expect(g.name).toBe('relus');
    expect(g.input).toEqual({ name: 'input', shape: [1, 4] });
    expect(g.nodes.map((n) => [n.name, n.op, n.attrs])).toEqual([
      ['plain', 'relu', {}],
      ['capped', 'clip', { min: 0, max: 6 }],
      ['leaky', 'leakyrelu', { alpha: 0.05 }],
      ['d', 'linear', {}],
    ]);
    const keras3 = {
      class_name: 'Functional',
      config: {
        name: 'f',
        layers: [
          { class_name: 'InputLayer', name: 'x', config: { name: 'x', batch_shape: [null, 3] }, inbound_nodes: [] },
          {
            class_name: 'Dense',
            name: 'd',
            config: { name: 'd', units: 2, activation: 'linear', use_bias: false },
            inbound_nodes: [{ args: [{ class_name: '__keras_tensor__', config: { shape: [null, 3], keras_history: ['x', 0, 0] } }], kwargs: {} }],
          },
        ],
        input_layers: ['x', 0, 0],
        output_layers: ['d', 0, 0],
      },
    };
    const k3 = buildTfjs(keras3, [{ name: 'd/kernel', shape: [3, 2], data: values(6, 2) }]);
    expect(importTfjs({ name: 'model.json', text: k3.text }, k3.shards).nodes.map((n) => n.name)).toEqual(['d']);
  });
});

describe('Keras layers from the table: merges, Reshape, LayerNormalization, newer activations', () => {
  /** Weights registered as they are drawn. */
  function weights() {
    const list: WeightInit[] = [];
    const w = (name: string, shape: number[], seed: number, scale = 0.5): Float32Array => {
      const data = values(shape.reduce((a, d) => a * d, 1), seed, scale);
      list.push({ name, shape, data });
      return data;
    };
    return { list, w };
  }

  async function explainOk(g: Graph, x: Float32Array): Promise<void> {
    const engine = await cpuEngine();
    const model = await engine.load(g);
    try {
      for (const preset of ['EpsilonPlusFlat', 'captum-default', 'gradient'] as const) {
        const e = await model.explain(x, { rules: { preset } });
        expect(e.nonFinite, preset).toBeNull();
        expect(e.relevance.length).toBe(x.length);
      }
    } finally {
      model.dispose();
    }
  }

  it('the table lists every class the importer maps, each once, with the engine layers it becomes', () => {
    expect([...KERAS_TABLE.keys()].sort()).toEqual([...SUPPORTED_TFJS_LAYERS].sort());
    for (const cls of ['Concatenate', 'Multiply', 'Add', 'Subtract', 'Reshape', 'LayerNormalization', 'GlobalMaxPooling2D']) expect(KERAS_TABLE.has(cls), cls).toBe(true);
    expect(KERAS_TABLE.get('Multiply')!.layers).toEqual(['mul']);
    expect(KERAS_TABLE.get('Concatenate')!.layers).toEqual(['concat']);
    expect(KERAS_TABLE.get('LayerNormalization')!.layers).toEqual(['layernorm']);
    expect(KERAS_TABLE.get('Dropout')!.layers).toEqual([]);
  });

  it('squeeze-excitation: Reshape to [1, 1, C], Dense on it (a 1x1 convolution), Multiply by the gate; a [C] gate; GlobalMaxPooling2D', async () => {
    const [H, W, C] = [5, 4, 3];
    const { list, w } = weights();
    const ck = w('c/kernel', [3, 3, C, 6], 1);
    const cb = w('c/bias', [6], 2);
    const s1k = w('s1/kernel', [6, 3], 3);
    const s1b = w('s1/bias', [3], 4);
    const s2k = w('s2/kernel', [3, 6], 5, 2);
    const s2b = w('s2/bias', [6], 6);
    const g2k = w('gate2/kernel', [6, 6], 7, 2);
    const ok = w('out/kernel', [6, 4], 8);
    const ob = w('out/bias', [4], 9);
    const layers: FunctionalLayer[] = [
      { class_name: 'InputLayer', name: 'img', config: { batch_input_shape: [null, H, W, C] }, inputs: [] },
      { class_name: 'Conv2D', name: 'c', config: { filters: 6, kernel_size: 3, padding: 'same', activation: 'swish' }, inputs: ['img'] },
      { class_name: 'GlobalAveragePooling2D', name: 'gap', config: {}, inputs: ['c'] },
      { class_name: 'Reshape', name: 'r', config: { target_shape: [1, 1, 6] }, inputs: ['gap'] },
      { class_name: 'Dense', name: 's1', config: { units: 3, activation: 'relu' }, inputs: ['r'] },
      { class_name: 'Dense', name: 's2', config: { units: 6, activation: 'hard_sigmoid' }, inputs: ['s1'] },
      { class_name: 'Multiply', name: 'se', config: {}, inputs: ['c', 's2'] },
      { class_name: 'Dense', name: 'gate2', config: { units: 6, activation: 'sigmoid', use_bias: false }, inputs: ['gap'] },
      { class_name: 'Multiply', name: 'se2', config: {}, inputs: ['gate2', 'se'] },
      { class_name: 'GlobalMaxPooling2D', name: 'gmp', config: {}, inputs: ['se2'] },
      { class_name: 'Dense', name: 'out', config: { units: 4 }, inputs: ['gmp'] },
    ];
    const m = buildTfjs(functional(layers, 'img', 'out'), list);
    const g = importTfjs({ name: 'model.json', text: m.text }, m.shards);
    expect(g.nodes.map((n) => `${n.name}:${n.op}`)).toEqual([
      'c_pad:pad',
      'c:conv2d',
      'c_swish:silu',
      'gap:globalavgpool',
      'gap_reshape:reshape',
      'gate2:linear',
      'gate2_sigmoid:sigmoid',
      'r:reshape',
      's1:conv2d',
      's1_relu:relu',
      's2:conv2d',
      's2_hard_sigmoid:hardsigmoid',
      'se:mul',
      'se2_reshape:reshape',
      'se2:mul',
      'gmp:maxpool2d',
      'gmp_reshape:reshape',
      'out:linear',
    ]);
    expect(node(g, 'r').attrs.shape).toEqual([1, 6, 1, 1]);
    expect(node(g, 's2_hard_sigmoid').attrs).toEqual({ alpha: 0.2, beta: 0.5 });
    // The gate is the operand a sigmoid computes (through the reshape of a [C] gate), whichever side it is on.
    expect(node(g, 'se')).toMatchObject({ inputs: ['c_swish', 's2_hard_sigmoid'], attrs: { gate: 1 } });
    expect(node(g, 'se2')).toMatchObject({ inputs: ['se2_reshape', 'se'], attrs: { gate: 0 } });
    expect(node(g, 'se2_reshape').attrs.shape).toEqual([1, 6, 1, 1]);

    const x: Nhwc = { shape: [H, W, C], data: Float64Array.from(values(H * W * C, 10)) };
    const feat = map(kerasConv(x, ck, [3, 3, C, 6], { padding: 'same', bias: cb }), act.swish);
    const gap = kerasGlobalPool(feat, 'avg');
    const s1 = map(kerasDense(gap, s1k, 3, s1b), (v) => Math.max(v, 0));
    const s2 = reshape(map(kerasDense(s1, s2k, 6, s2b), act.hardSigmoid), [1, 1, 6]);
    const se = kerasMerge(feat, s2, (a, b) => a * b);
    const gate2 = map(kerasDense(gap, g2k, 6), act.sigmoid);
    const se2 = kerasMerge(gate2, se, (a, b) => a * b);
    const logits = kerasDense(kerasGlobalPool(se2, 'max'), ok, 4, ob);
    expect(s2.data.some((v) => v > 0 && v < 1)).toBe(true);
    const xin = toNchw(x);
    expect(relL2(await forward(g, xin), logits.data)).toBeLessThan(1e-6);
    await explainOk(g, xin);
  });

  it('Concatenate (channels and width), Add and Subtract with broadcasting, LayerNormalization on images and on a flattened vector, GELU', async () => {
    const [H, W, C] = [4, 3, 2];
    const { list, w } = weights();
    const ak = w('a/kernel', [3, 3, C, 3], 11);
    const ab = w('a/bias', [3], 12);
    const bk = w('b/kernel', [1, 1, C, 2], 13);
    const lnG = w('ln/gamma', [5], 14, 1).map((v) => 1 + 0.5 * v);
    const lnB = w('ln/beta', [5], 15);
    const ln2G = w('ln2/gamma', [H * 6 * 5], 16, 1).map((v) => 1 + 0.5 * v);
    const ln2B = w('ln2/beta', [H * 6 * 5], 17);
    const dk = w('d/kernel', [H * 6 * 5, 3], 18);
    // Store the shifted gammas.
    for (const [name, data] of [['ln/gamma', lnG], ['ln2/gamma', ln2G]] as const) list.splice(list.findIndex((x) => x.name === name), 1, { name, shape: [data.length], data });
    const layers: FunctionalLayer[] = [
      { class_name: 'InputLayer', name: 'img', config: { batch_input_shape: [null, H, W, C] }, inputs: [] },
      { class_name: 'Conv2D', name: 'a', config: { filters: 3, kernel_size: 3, padding: 'same', activation: 'gelu' }, inputs: ['img'] },
      { class_name: 'Conv2D', name: 'b', config: { filters: 2, kernel_size: 1, activation: 'hard_swish', use_bias: false }, inputs: ['img'] },
      { class_name: 'Concatenate', name: 'cat', config: { axis: -1 }, inputs: ['a', 'b'] },
      { class_name: 'LayerNormalization', name: 'ln', config: { axis: [3], epsilon: 0.01 }, inputs: ['cat'] },
      { class_name: 'Concatenate', name: 'catw', config: { axis: 2 }, inputs: ['ln', 'cat'] },
      { class_name: 'GlobalAveragePooling2D', name: 'gapk', config: { keepdims: true }, inputs: ['catw'] },
      { class_name: 'Add', name: 'add', config: {}, inputs: ['catw', 'gapk'] },
      { class_name: 'GlobalMaxPooling2D', name: 'gmp', config: {}, inputs: ['catw'] },
      { class_name: 'Subtract', name: 'sub', config: {}, inputs: ['add', 'gmp'] },
      { class_name: 'Activation', name: 'act', config: { activation: 'gelu_new' }, inputs: ['sub'] },
      { class_name: 'Flatten', name: 'f', config: {}, inputs: ['act'] },
      { class_name: 'LayerNormalization', name: 'ln2', config: { axis: -1 }, inputs: ['f'] },
      { class_name: 'Dense', name: 'd', config: { units: 3, use_bias: false }, inputs: ['ln2'] },
    ];
    const m = buildTfjs(functional(layers, 'img', 'd'), list);
    const g = importTfjs({ name: 'model.json', text: m.text }, m.shards);
    expect(node(g, 'cat')).toMatchObject({ op: 'concat', inputs: ['a_gelu', 'b_hard_swish'], attrs: { axis: 1 } });
    expect(node(g, 'catw').attrs.axis).toBe(3);
    expect(node(g, 'ln').attrs).toEqual({ axis: 1, epsilon: 0.01 });
    expect(node(g, 'b_hard_swish').attrs).toEqual({ alpha: 1 / 6, beta: 0.5 });
    expect(node(g, 'act')).toMatchObject({ op: 'gelu', attrs: { approximate: 'tanh' } });
    expect(node(g, 'a_gelu').attrs).toEqual({});
    expect(node(g, 'sub')).toMatchObject({ op: 'add', inputs: ['add', 'sub_reshape'], attrs: { mode: 'sub' } });
    expect(node(g, 'ln2').attrs).toEqual({ axis: 1, epsilon: 1e-3 });

    const x: Nhwc = { shape: [H, W, C], data: Float64Array.from(values(H * W * C, 19)) };
    const a = map(kerasConv(x, ak, [3, 3, C, 3], { padding: 'same', bias: ab }), act.gelu);
    const b = map(kerasConv(x, bk, [1, 1, C, 2], { padding: 'valid' }), act.hardSwish);
    const cat = kerasConcat([a, b], -1);
    const catw = kerasConcat([kerasLayerNorm(cat, lnG, lnB, 0.01), cat], 1);
    const add = kerasMerge(catw, reshape(kerasGlobalPool(catw, 'avg'), [1, 1, 5]), (p, q) => p + q);
    const sub = map(kerasMerge(add, kerasGlobalPool(catw, 'max'), (p, q) => p - q), act.geluTanh);
    const flat = kerasLayerNorm(reshape(sub, [H * 6 * 5]), ln2G, ln2B, 1e-3);
    const logits = kerasDense(flat, dk, 3);
    const xin = toNchw(x);
    expect(relL2(await forward(g, xin), logits.data)).toBeLessThan(1e-6);
    await explainOk(g, xin);
  });

  it("Keras 3's hard_sigmoid (relu6(x + 3) / 6), silu, and a Multiply of vectors", async () => {
    const { list, w } = weights();
    const k1 = w('d1/kernel', [5, 4], 21, 2);
    const k2 = w('d2/kernel', [5, 4], 22);
    const k3 = w('d3/kernel', [4, 2], 23);
    const layers: FunctionalLayer[] = [
      { class_name: 'InputLayer', name: 'v', config: { batch_shape: [null, 5] }, inputs: [] },
      { class_name: 'Dense', name: 'd1', config: { units: 4, activation: 'hard_sigmoid', use_bias: false }, inputs: ['v'] },
      { class_name: 'Dense', name: 'd2', config: { units: 4, activation: 'silu', use_bias: false }, inputs: ['v'] },
      { class_name: 'Multiply', name: 'm', config: {}, inputs: ['d2', 'd1'] },
      { class_name: 'Dense', name: 'd3', config: { units: 2, use_bias: false }, inputs: ['m'] },
    ];
    const topology = functional(layers, 'v', 'd3') as Record<string, unknown>;
    const m = buildTfjs({ ...topology, keras_version: '3.3.3' }, list);
    const g = importTfjs({ name: 'model.json', text: m.text }, m.shards);
    expect(node(g, 'd1_hard_sigmoid').attrs).toEqual({ alpha: 1 / 6, beta: 0.5 });
    expect(node(g, 'm').attrs.gate).toBe(1);
    const v: Nhwc = { shape: [5], data: Float64Array.from(values(5, 24, 2)) };
    const prod = kerasMerge(map(kerasDense(v, k2, 4), act.swish), map(kerasDense(v, k1, 4), act.hardSigmoid3), (p, q) => p * q);
    expect(relL2(await forward(g, Float32Array.from(v.data)), kerasDense(prod, k3, 2).data)).toBeLessThan(1e-6);
  });

  it('refuses merges and concatenations the engine would compute in another order, naming the layer', () => {
    const img = { class_name: 'InputLayer', name: 'img', config: { batch_input_shape: [null, 2, 2, 3] }, inputs: [] };
    const cases: [FunctionalLayer[], RegExp][] = [
      [
        [img, { class_name: 'Flatten', name: 'f', config: {}, inputs: ['img'] }, { class_name: 'Flatten', name: 'g', config: {}, inputs: ['img'] }, { class_name: 'Concatenate', name: 'cat', config: {}, inputs: ['f', 'g'] }],
        /layer "cat" \(Concatenate\): concatenating vectors flattened from images is not supported/,
      ],
      [
        [img, { class_name: 'Concatenate', name: 'cat', config: { axis: 0 }, inputs: ['img', 'img'] }, { class_name: 'Flatten', name: 'f', config: {}, inputs: ['cat'] }],
        /layer "cat" \(Concatenate\): axis 0 is not an axis of \[2, 2, 3\]/,
      ],
      [
        [img, { class_name: 'ZeroPadding2D', name: 'z', config: { padding: 1 }, inputs: ['img'] }, { class_name: 'Add', name: 'add', config: {}, inputs: ['img', 'z'] }, { class_name: 'Flatten', name: 'f', config: {}, inputs: ['add'] }],
        /layer "add" \(Add\): cannot add \[2, 2, 3\] and \[4, 4, 3\]: the shapes do not broadcast/,
      ],
      [
        [img, { class_name: 'LayerNormalization', name: 'ln', config: { axis: [1, 2, 3] }, inputs: ['img'] }, { class_name: 'Flatten', name: 'f', config: {}, inputs: ['ln'] }],
        /layer "ln" \(LayerNormalization\): normalising over axis \[1,2,3\]/,
      ],
      [[img, { class_name: 'ReLU', name: 'r', config: {}, inputs: ['img', 'img'] }, { class_name: 'Flatten', name: 'f', config: {}, inputs: ['r'] }], /layer "r" \(ReLU\): takes one input, got 2/],
    ];
    for (const [layers, message] of cases) {
      const m = buildTfjs(functional(layers, 'img', layers.at(-1)!.name), []);
      expect(importError(() => importTfjs({ name: 'model.json', text: m.text }, m.shards)).message).toMatch(message);
    }
  });
});

describe('errors', () => {
  const dense = (name: string) => ({ class_name: 'Dense', config: { name, units: 2 } });

  it('lists every unsupported layer class, activation and misplaced softmax at once, before reading weights', () => {
    const layers: FunctionalLayer[] = [
      { class_name: 'InputLayer', name: 'in', config: { batch_input_shape: [null, 8, 8, 3] }, inputs: [] },
      { class_name: 'UpSampling2D', name: 'up1', config: {}, inputs: ['in'] },
      { class_name: 'Conv2D', name: 'c1', config: { filters: 2, kernel_size: 3, activation: 'elu' }, inputs: ['up1'] },
      { class_name: 'Conv2D', name: 'c2', config: { filters: 2, kernel_size: 3, activation: 'softmax' }, inputs: ['up1'] },
      { class_name: 'Maximum', name: 'max1', config: {}, inputs: ['c1', 'c2'] },
      { class_name: 'Maximum', name: 'max2', config: {}, inputs: ['max1', 'c1'] },
      { class_name: 'Conv2D', name: 'c3', config: { filters: 2, kernel_size: 3, data_format: 'channels_first' }, inputs: ['max2'] },
      { class_name: 'GlobalAveragePooling2D', name: 'gap', config: {}, inputs: ['c3'] },
    ];
    // No weights at all: the layers are checked first.
    const m = buildTfjs(functional(layers, 'in', 'gap'), [], { extra: { weightsManifest: [{ paths: ['missing.bin'], weights: [] }] } });
    const e = importError(() => importTfjs({ name: 'model.json', text: m.text }, new Map()));
    expect(e.message).toBe(
      'model.json: unsupported Keras layers: UpSampling2D (layer "up1"), activation "elu" (layer "c1"), softmax (not at the end) (layer "c2"), Maximum (layers "max1", "max2"), Conv2D (channels_first) (layer "c3")',
    );
  });

  it('names a missing shard, and a shard too short for the weights listed for it', () => {
    const m = buildTfjs(sequential([input([4]), dense('d')]), [
      { name: 'd/kernel', shape: [4, 2], data: values(8, 1) },
      { name: 'd/bias', shape: [2], data: [0, 0] },
    ]);
    expect(importError(() => importTfjs({ name: 'model.json', text: m.text }, new Map())).message).toBe(
      'model.json: needs the weight file group1-shard1of1.bin, which is missing: open model.json together with its weight files',
    );
    const short = new Map([['group1-shard1of1.bin', m.shards.get('group1-shard1of1.bin')!.slice(0, 20)]]);
    expect(importError(() => importTfjs({ name: 'model.json', text: m.text }, short)).message).toBe(
      'model.json: group1-shard1of1.bin holds 20 bytes, but the weights listed for it need 40: truncated, or not the right file',
    );
  });

  it('rejects absurd shapes before allocating, and weights that do not fit the layer', () => {
    const m = buildTfjs(sequential([input([4]), dense('d')]), [{ name: 'd/kernel', shape: [4, 2], data: values(8, 1) }]);
    const json = JSON.parse(m.text) as { weightsManifest: { weights: { shape: number[] }[] }[] };
    json.weightsManifest[0]!.weights[0]!.shape = [1_000_000, 1_000_000];
    expect(importError(() => importTfjs({ name: 'model.json', text: JSON.stringify(json) }, m.shards)).message).toMatch(
      /^model\.json: weight "d\/kernel" declares shape \[1000000, 1000000\] \(1\.00e\+12 values\), far more than any model can hold$/,
    );
    json.weightsManifest[0]!.weights[0]!.shape = [2, 4];
    expect(importError(() => importTfjs({ name: 'model.json', text: JSON.stringify(json) }, m.shards)).message).toBe(
      'model.json: layer "d" (Dense): its weight "d/kernel" has shape [2, 4], [4, 2] expected',
    );
    json.weightsManifest[0]!.weights[0]!.shape = [-1, 8];
    expect(importError(() => importTfjs({ name: 'model.json', text: JSON.stringify(json) }, m.shards)).message).toMatch(/invalid shape \[-1,8\]/);
    const noBias = buildTfjs(sequential([input([4]), dense('d')]), [{ name: 'd/kernel', shape: [4, 2], data: values(8, 1) }]);
    expect(importError(() => importTfjs({ name: 'model.json', text: noBias.text }, noBias.shards)).message).toBe(
      'model.json: layer "d" (Dense): its weight "d/bias" is not in the weightsManifest',
    );
  });

  it('rejects files that are not TF.js layers models', () => {
    expect(importError(() => importTfjs({ name: 'model.json', text: '{"modelTopology": {' }, new Map())).message).toMatch(/^model\.json: not a TF\.js model: the file is not valid JSON/);
    expect(importError(() => importTfjs({ name: 'x.json', text: '[1, 2]' }, new Map())).message).toBe('x.json: not a TF.js model: expected a JSON object');
    expect(importError(() => importTfjs({ name: 'x.json', text: '{"format": "layers-model"}' }, new Map())).message).toBe('x.json: not a TF.js layers model: it has no "modelTopology"');
    expect(importError(() => importTfjs({ name: 'x.json', text: '{"format": "graph-model", "modelTopology": {"node": {}}}' }, new Map())).message).toMatch(
      /is a TF\.js graph model/,
    );
    const onnxBytes = String.fromCharCode(8, 7, 18, 4, 0x70, 0x79, 0x74, 0x63);
    expect(importError(() => importTfjs({ name: 'model.json', text: onnxBytes }, new Map())).message).toMatch(/not valid JSON/);
  });

  it("explains layers it cannot import exactly: 'same' average pooling with padding, unknown input size, reshapes that reorder values", () => {
    const avg = buildTfjs(
      sequential([input([5, 5, 1]), { class_name: 'AveragePooling2D', config: { name: 'avg', pool_size: [2, 2], padding: 'same' } }, { class_name: 'Flatten', config: { name: 'f' } }]),
      [],
    );
    expect(importError(() => importTfjs({ name: 'model.json', text: avg.text }, avg.shards)).message).toMatch(
      /^model\.json: layer "avg" \(AveragePooling2D\): padding "same" pads this 5x5 input by \[0, 0, 1, 1\].*averages over the pixels inside the image only/,
    );
    const free = buildTfjs(sequential([{ class_name: 'InputLayer', config: { name: 'in', batch_input_shape: [null, null, null, 3] } }, dense('d')]), []);
    expect(importError(() => importTfjs({ name: 'model.json', text: free.text }, free.shards)).message).toMatch(/unknown size \(\[null, null, null, 3\]\); a fixed input size is needed/);
    const moved = buildTfjs(sequential([input([2, 2, 3]), { class_name: 'Reshape', config: { name: 'r', target_shape: [4, 3, 1] } }, { class_name: 'Flatten', config: { name: 'f' } }]), []);
    expect(importError(() => importTfjs({ name: 'model.json', text: moved.text }, moved.shards)).message).toMatch(
      /^model\.json: layer "r" \(Reshape\): reshaping \[2, 2, 3\] to \[4, 3, 1\] would reorder values/,
    );
  });
});

