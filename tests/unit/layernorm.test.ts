/**
 * LayerNorm (src/engine/ops/layernorm.ts, kernels/layernorm.ts) and Linear over any leading shape:
 * - the kernels' float64 CPU references against independent float64 computations written here from the rules'
 *   definitions (the epsilon rule as the explicit matrix W_ij = gamma_i (delta_ij - 1/F) / std; the gradient by
 *   central finite differences), and conservation where it holds (zero beta);
 * - the WebGPU kernels against the CPU references on small random cases;
 * - whole graphs (LayerNorm alone, ConvNeXt-style blocks over NHWC and NCHW) through both engines.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TensorRef } from '../../src/engine/program';
import type { LayerNormGeometry, LayerNormRelevanceStep, LayerNormStep, Step } from '../../src/engine/kernels/steps';
import type { Graph, GraphNode } from '../../src/engine/graph';
import type { RuleAssignment } from '../../src/rules/assignment';
import { selectConvVariant } from '../../src/engine/ops/conv-shaped';
import { cpuEngine, gpuEngine, randomArray, relL2, rng, sum } from './helpers/engines';
import { cpuRun, StepGpu, Tensors } from './helpers/step-runner';

// ---------------------------------------------------------------------------------------------------------------
// Independent float64 computations, per row, from the definitions.

interface Row {
  x: number[];
  gamma: number[];
  beta: number[];
}

const stab = (d: number, e: number) => d + (d >= 0 ? e : -e);

function naiveForward({ x, gamma, beta }: Row, eps: number): number[] {
  const f = x.length;
  const mean = x.reduce((a, v) => a + v, 0) / f;
  const variance = x.reduce((a, v) => a + (v - mean) ** 2, 0) / f;
  return x.map((v, i) => (gamma[i]! * (v - mean)) / Math.sqrt(variance + eps) + beta[i]!);
}

/** Epsilon with std held constant: the layer as the matrix W (std a constant), bias b; R_j = sum_i x_j W_ij R_i / stab(z_i). */
function naiveEpsilon(row: Row, r: number[], eps: number, stabilizer: number, bias: number[]): number[] {
  const { x, gamma } = row;
  const f = x.length;
  const mean = x.reduce((a, v) => a + v, 0) / f;
  const std = Math.sqrt(x.reduce((a, v) => a + (v - mean) ** 2, 0) / f + eps);
  const W = gamma.map((g, i) => x.map((_, j) => (g * ((i === j ? 1 : 0) - 1 / f)) / std));
  const z = W.map((wi, i) => wi.reduce((a, w, j) => a + w * x[j]!, 0) + bias[i]!);
  return x.map((xj, j) => W.reduce((a, wi, i) => a + (xj * wi[j]! * r[i]!) / stab(z[i]!, stabilizer), 0));
}

/** The vector-Jacobian product by central finite differences of the forward function. */
function naiveGradient(row: Row, r: number[], eps: number): number[] {
  const h = 1e-6;
  return row.x.map((_, j) => {
    const plus = naiveForward({ ...row, x: row.x.map((v, k) => (k === j ? v + h : v)) }, eps);
    const minus = naiveForward({ ...row, x: row.x.map((v, k) => (k === j ? v - h : v)) }, eps);
    return plus.reduce((a, p, i) => a + (r[i]! * (p - minus[i]!)) / (2 * h), 0);
  });
}

/** Rows of a [outer, features, inner] array and back. */
function rowsOf(g: LayerNormGeometry, data: ArrayLike<number>): number[][] {
  const out: number[][] = [];
  for (let o = 0; o < g.outer; o++) for (let i = 0; i < g.inner; i++) out.push(Array.from({ length: g.features }, (_, f) => data[(o * g.features + f) * g.inner + i]!));
  return out;
}
function fromRows(g: LayerNormGeometry, rows: number[][]): Float64Array {
  const out = new Float64Array(g.outer * g.features * g.inner);
  let k = 0;
  for (let o = 0; o < g.outer; o++) for (let i = 0; i < g.inner; i++, k++) rows[k]!.forEach((v, f) => (out[(o * g.features + f) * g.inner + i] = v));
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// One step on the CPU reference (float64) or the GPU.

let stepGpu: StepGpu;
beforeAll(async () => {
  stepGpu = await StepGpu.create();
});
afterAll(() => stepGpu?.destroy());
const gpuRun = (step: Step, tensors: Tensors, written: TensorRef): Promise<Float32Array> => stepGpu.run(step, tensors, written);

interface Case {
  geom: LayerNormGeometry;
  seed: number;
  /** Layer epsilon. */
  eps: number;
  /** Scale of beta (0: zero beta). */
  betaScale: number;
}

function setup(k: Case) {
  const random = rng(k.seed);
  const size = k.geom.outer * k.geom.features * k.geom.inner;
  const t = new Tensors();
  // An offset and a spread per row, as real activations have.
  const x = t.add(randomArray(size, random, 2).map((v, i) => v + (i % 3) - 1));
  const gamma = t.add(randomArray(k.geom.features, random, 1).map((v) => v + 0.5 * Math.sign(v)));
  const beta = t.add(randomArray(k.geom.features, random, k.betaScale));
  const r = t.add(randomArray(size, random, 1));
  const out = t.add(randomArray(size, random, 1));
  return { t, x, gamma, beta, r, out };
}

const CASES: Case[] = [
  { geom: { outer: 1, features: 7, inner: 1 }, seed: 1, eps: 1e-5, betaScale: 0.5 },
  { geom: { outer: 3, features: 5, inner: 4 }, seed: 2, eps: 1e-6, betaScale: 0.5 },
  { geom: { outer: 2, features: 16, inner: 3 }, seed: 3, eps: 1e-5, betaScale: 0 },
  { geom: { outer: 70, features: 9, inner: 1 }, seed: 4, eps: 1e-5, betaScale: 1 },
  { geom: { outer: 1, features: 3, inner: 33 }, seed: 5, eps: 0.1, betaScale: 0.2 },
];

describe('LayerNorm kernels: the float64 references equal independent computations from the definitions', () => {
  it('forward', () => {
    for (const k of CASES) {
      const { t, x, gamma, beta, out } = setup(k);
      const step: LayerNormStep = { kernel: 'layernorm', geom: k.geom, x, gamma, beta, epsilon: k.eps, out };
      const got = cpuRun(step, t, out);
      const rows = rowsOf(k.geom, t.data[x.id]!).map((xr) => naiveForward({ x: xr, gamma: [...t.data[gamma.id]!], beta: [...t.data[beta.id]!] }, k.eps));
      expect(relL2(got, fromRows(k.geom, rows)), JSON.stringify(k)).toBeLessThan(1e-12);
    }
  });

  for (const variant of ['beta', 'zero bias', 'large stabilizer', 'accumulate'] as const) {
    it(`epsilon (std held constant), ${variant}`, () => {
      for (const k of CASES) {
        const { t, x, gamma, beta, r, out } = setup(k);
        const stabilizer = variant === 'large stabilizer' ? 0.3 : 1e-6;
        const withBias = variant !== 'zero bias';
        const step: LayerNormRelevanceStep = {
          kernel: 'layernorm-relevance',
          geom: k.geom,
          mode: 'epsilon',
          x,
          gamma,
          bias: withBias ? beta : null,
          r,
          rin: out,
          epsilon: k.eps,
          stabilizer,
          accumulate: variant === 'accumulate',
        };
        const got = cpuRun(step, t, out);
        const bias = withBias ? [...t.data[beta.id]!] : new Array<number>(k.geom.features).fill(0);
        const rRows = rowsOf(k.geom, t.data[r.id]!);
        const want = fromRows(
          k.geom,
          rowsOf(k.geom, t.data[x.id]!).map((xr, i) => naiveEpsilon({ x: xr, gamma: [...t.data[gamma.id]!], beta: [] }, rRows[i]!, k.eps, stabilizer, bias)),
        );
        if (variant === 'accumulate') want.forEach((v, i) => (want[i] = v + t.data[out.id]![i]!));
        expect(relL2(got, want), JSON.stringify(k)).toBeLessThan(1e-10);
      }
    });
  }

  it('gradient: the vector-Jacobian product (finite differences)', () => {
    for (const k of CASES) {
      const { t, x, gamma, beta, r, out } = setup(k);
      const step: LayerNormRelevanceStep = { kernel: 'layernorm-relevance', geom: k.geom, mode: 'gradient', x, gamma, bias: null, r, rin: out, epsilon: k.eps, stabilizer: 0, accumulate: false };
      const got = cpuRun(step, t, out);
      const rRows = rowsOf(k.geom, t.data[r.id]!);
      const want = fromRows(
        k.geom,
        rowsOf(k.geom, t.data[x.id]!).map((xr, i) => naiveGradient({ x: xr, gamma: [...t.data[gamma.id]!], beta: [...t.data[beta.id]!] }, rRows[i]!, k.eps)),
      );
      expect(relL2(got, want), JSON.stringify(k)).toBeLessThan(1e-6);
    }
  });

  it('epsilon conserves relevance per row when beta is zero (and not when it is not)', () => {
    const geom = { outer: 4, features: 12, inner: 1 };
    for (const betaScale of [0, 1]) {
      const { t, x, gamma, beta, out } = setup({ geom, seed: 11, eps: 1e-5, betaScale });
      // Relevance at the output as LRP delivers it: of the sign of the output (y * positive weights).
      const y = t.add(new Float32Array(48));
      cpuRun({ kernel: 'layernorm', geom, x, gamma, beta, epsilon: 1e-5, out: y }, t, y).forEach((v, i) => (t.data[y.id]![i] = v));
      const step: LayerNormRelevanceStep = { kernel: 'layernorm-relevance', geom, mode: 'epsilon', x, gamma, bias: beta, r: y, rin: out, epsilon: 1e-5, stabilizer: 1e-9, accumulate: false };
      const got = cpuRun(step, t, out);
      const rows = rowsOf(geom, got);
      const rIn = rowsOf(geom, t.data[y.id]!);
      const gaps = rows.map((row, i) => Math.abs(sum(row) - sum(rIn[i]!)) / Math.abs(sum(rIn[i]!.map(Math.abs))));
      if (betaScale === 0) for (const gap of gaps) expect(gap).toBeLessThan(1e-7);
      else expect(Math.max(...gaps)).toBeGreaterThan(1e-3);
    }
  });
});

describe('LayerNorm kernels: WebGPU equals the float64 reference', () => {
  it('forward, epsilon (bias, no bias, accumulate) and gradient on small random cases', async () => {
    for (const k of CASES) {
      const { t, x, gamma, beta, r, out } = setup(k);
      const fwd: LayerNormStep = { kernel: 'layernorm', geom: k.geom, x, gamma, beta, epsilon: k.eps, out };
      expect(relL2(await gpuRun(fwd, t, out), cpuRun(fwd, t, out)), `forward ${JSON.stringify(k)}`).toBeLessThan(1e-5);
      for (const [mode, bias, accumulate] of [
        ['epsilon', beta, false],
        ['epsilon', null, true],
        ['gradient', null, false],
        ['gradient', null, true],
      ] as const) {
        const step: LayerNormRelevanceStep = { kernel: 'layernorm-relevance', geom: k.geom, mode, x, gamma, bias, r, rin: out, epsilon: k.eps, stabilizer: 0.01, accumulate };
        const a = cpuRun(step, t, out);
        const b = await gpuRun(step, t, out);
        expect(relL2(b, a), `${mode} ${bias ? 'bias' : ''} ${accumulate ? 'accumulate' : ''} ${JSON.stringify(k)}`).toBeLessThan(1e-4);
      }
    }
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------------------------
// Graphs.

const node = (name: string, op: GraphNode['op'], inputs: string[], output: string, attrs: GraphNode['attrs'] = {}, params: GraphNode['params'] = {}): GraphNode => ({
  name,
  op,
  inputs,
  output,
  attrs,
  params,
});
const t1 = (data: Float32Array, shape: number[] = [data.length]) => ({ shape, data });

/** x [1, ...shape] -> LayerNorm(axis) -> flatten -> Linear -> 4 logits. */
function lnGraph(shape: number[], axis: number, seed: number, betaScale: number): Graph {
  const random = rng(seed);
  const f = shape[axis - 1]!;
  const size = shape.reduce((a, d) => a * d, 1);
  return {
    name: 'ln',
    input: { name: 'x', shape: [1, ...shape] },
    output: 'logits',
    nodes: [
      node('ln', 'layernorm', ['x'], 'y', { axis, epsilon: 1e-5 }, { gamma: t1(randomArray(f, random, 1.5)), beta: t1(randomArray(f, random, betaScale)) }),
      node('flatten', 'reshape', ['y'], 'f', { shape: [1, size] }),
      node('fc', 'linear', ['f'], 'logits', {}, { weight: t1(randomArray(4 * size, random, 0.5), [4, size]), bias: t1(randomArray(4, random, 0.1)) }),
    ],
  };
}

describe('LayerNorm in a graph: the rules against the definitions, on both backends', () => {
  const cases = [
    { shape: [3, 6], axis: 2, label: '[1, T, F], last axis' },
    { shape: [4, 3, 3], axis: 1, label: '[1, C, H, W], channel axis (LayerNorm2d)' },
  ];
  const ruleCases: [string, RuleAssignment, 'epsilon' | 'zero' | 'captum' | 'pass' | 'gradient'][] = [
    ['epsilon 0.01', { preset: 'gradient', layers: [{ layer: 'ln', rule: 'epsilon', epsilon: 0.01 }] }, 'epsilon'],
    ['epsilon, zeroBias', { preset: 'gradient', layers: [{ layer: 'ln', rule: 'epsilon', epsilon: 0.01, zeroBias: true }] }, 'zero'],
    ['captum default (captum.epsilon 1e-9)', { preset: 'captum-default', layers: [{ layer: 'fc', rule: 'gradient' }] }, 'captum'],
    ['pass', { preset: 'gradient', layers: [{ layer: 'ln', rule: 'pass' }] }, 'pass'],
    ['gradient', { preset: 'gradient' }, 'gradient'],
  ];
  for (const c of cases) {
    it(`${c.label}: every rule`, async () => {
      const graph = lnGraph(c.shape, c.axis, 7, 0.5);
      const ln = graph.nodes[0]!;
      const fc = graph.nodes[2]!;
      const size = c.shape.reduce((a, d) => a * d, 1);
      const prod = (d: number[]) => d.reduce((a, v) => a * v, 1);
      const geom: LayerNormGeometry = { outer: prod(c.shape.slice(0, c.axis - 1)), features: c.shape[c.axis - 1]!, inner: prod(c.shape.slice(c.axis)) };
      const input = randomArray(size, rng(8), 2);
      const [cpu, gpu] = await Promise.all([cpuEngine(), gpuEngine()]);
      const [mc, mg] = await Promise.all([cpu.load(graph), gpu.load(graph)]);
      const gamma = [...ln.params.gamma!.data];
      const beta = [...ln.params.beta!.data];
      const xRows = rowsOf(geom, input);
      const y = fromRows(geom, xRows.map((x) => naiveForward({ x, gamma, beta }, 1e-5)));
      const W = fc.params.weight!.data;
      const logits = [0, 1, 2, 3].map((o) => fc.params.bias!.data[o]! + y.reduce((a, v, j) => a + W[o * size + j]! * v, 0));
      const target = 2;
      for (const [name, rules, kind] of ruleCases) {
        const a = await mc.explain(input, { rules, target });
        expect(relL2(a.logits, logits), 'logits').toBeLessThan(1e-6);
        // Relevance at the LayerNorm's output: the gradient through fc of the seeded logit (or its epsilon rule).
        const rOut = Array.from(y, (_, j) => W[target * size + j]! * logits[target]!);
        const rRows = rowsOf(geom, rOut);
        const want =
          kind === 'pass'
            ? Float64Array.from(rOut)
            : fromRows(
                geom,
                xRows.map((x, i) =>
                  kind === 'gradient'
                    ? naiveGradient({ x, gamma, beta }, rRows[i]!, 1e-5)
                    : naiveEpsilon({ x, gamma, beta }, rRows[i]!, 1e-5, kind === 'captum' ? 1e-9 : 0.01, kind === 'zero' ? beta.map(() => 0) : beta),
                ),
              );
        expect(relL2(a.relevance, want), `${name}: CPU vs the definition`).toBeLessThan(kind === 'gradient' ? 1e-5 : 1e-6);
        const b = await mg.explain(input, { rules, target });
        expect(relL2(b.logits, a.logits), `${name}: logits`).toBeLessThan(1e-5);
        expect(relL2(b.relevance, a.relevance), `${name}: WebGPU vs CPU`).toBeLessThan(1e-4);
      }
      mc.dispose();
      mg.dispose();
    }, 60_000);
  }
});

/** ConvNeXt's block: depthwise 7x7, LayerNorm over channels, pointwise MLP x4 (Linear on NHWC or 1x1 conv), residual. */
function convNextGraph(layout: 'nhwc' | 'nchw', seed: number): Graph {
  const random = rng(seed);
  const [c, h, w] = [8, 5, 4];
  const ln = (name: string, input: string, output: string, axis: number) =>
    node(name, 'layernorm', [input], output, { axis, epsilon: 1e-6 }, { gamma: t1(randomArray(c, random, 1).map((v) => v + Math.sign(v))), beta: t1(randomArray(c, random, 0.2)) });
  const pw = (name: string, input: string, output: string, i: number, o: number): GraphNode =>
    layout === 'nhwc'
      ? node(name, 'linear', [input], output, {}, { weight: t1(randomArray(o * i, random, Math.sqrt(2 / i)), [o, i]), bias: t1(randomArray(o, random, 0.1)) })
      : node(name, 'conv2d', [input], output, { stride: [1, 1], pads: [0, 0, 0, 0], dilation: [1, 1], groups: 1 }, { weight: t1(randomArray(o * i, random, Math.sqrt(2 / i)), [o, i, 1, 1]), bias: t1(randomArray(o, random, 0.1)) });
  const nodes: GraphNode[] = [];
  if (layout === 'nchw') {
    nodes.push(node('dwconv', 'conv2d', ['x'], 'd', { stride: [1, 1], pads: [3, 3, 3, 3], dilation: [1, 1], groups: c }, { weight: t1(randomArray(c * 49, random, 0.3), [c, 1, 7, 7]), bias: t1(randomArray(c, random, 0.1)) }));
  }
  nodes.push(
    ln('norm', layout === 'nchw' ? 'd' : 'x', 'n', layout === 'nchw' ? 1 : 3),
    pw('pwconv1', 'n', 'p1', c, 4 * c),
    node('act', 'relu', ['p1'], 'a'),
    pw('pwconv2', 'a', 'p2', 4 * c, c),
    node('residual', 'add', ['p2', 'x'], 'r'),
    ln('head_norm', 'r', 'hn', layout === 'nchw' ? 1 : 3),
    node('flatten', 'reshape', ['hn'], 'f', { shape: [1, c * h * w] }),
    node('head', 'linear', ['f'], 'logits', {}, { weight: t1(randomArray(5 * c * h * w, random, 0.1), [5, c * h * w]), bias: t1(randomArray(5, random, 0.1)) }),
  );
  return { name: `convnext-${layout}`, input: { name: 'x', shape: layout === 'nhwc' ? [1, h, w, c] : [1, c, h, w] }, output: 'logits', nodes };
}

describe('ConvNeXt-style blocks: WebGPU equals the CPU backend', () => {
  const assignments: Record<string, RuleAssignment> = {
    'captum default': { preset: 'captum-default' },
    EpsilonPlusFlat: { preset: 'EpsilonPlusFlat' },
    'gradient': { preset: 'gradient' },
    'LayerNorm pass': { preset: 'EpsilonPlus', layers: [{ layer: 'norm', rule: 'pass' }, { layer: 'head_norm', rule: 'pass' }] },
  };
  for (const layout of ['nhwc', 'nchw'] as const) {
    it(`${layout}: every preset, per-layer relevance included`, async () => {
      const graph = convNextGraph(layout, 21);
      const input = randomArray(8 * 5 * 4, rng(22), 1.5);
      const [cpu, gpu] = await Promise.all([cpuEngine(), gpuEngine()]);
      const [mc, mg] = await Promise.all([cpu.load(graph), gpu.load(graph)]);
      for (const [name, rules] of Object.entries(assignments)) {
        const a = await mc.explain(input, { rules, target: 1 });
        const b = await mg.explain(input, { rules, target: 1 });
        expect(a.nonFinite, name).toBeNull();
        expect(sum(a.relevance.map(Math.abs)), `${name}: some relevance arrives`).toBeGreaterThan(0);
        expect(relL2(b.logits, a.logits), `${name}: logits`).toBeLessThan(1e-5);
        expect(relL2(b.relevance, a.relevance), `${name}: input relevance`).toBeLessThan(1e-4);
        a.layers.forEach((l, i) => expect(relL2(b.layers[i]!.data, l.data), `${name}: ${l.layer}`).toBeLessThan(1e-4));
      }
      // A batched forward pass (perturbation curves) equals one input at a time.
      const three = new Float32Array([...input, ...input.map((v) => -v), ...input.map((v) => v * 0.5)]);
      const batched = await mc.forwardBatch(three, 3);
      for (let k = 0; k < 3; k++) {
        const one = await mc.forward(three.slice(k * 160, (k + 1) * 160));
        expect(relL2(batched.slice(k * 5, (k + 1) * 5), one)).toBeLessThan(1e-6);
      }
      mc.dispose();
      mg.dispose();
    }, 60_000);
  }
});

describe('Linear over any leading shape', () => {
  it('[1, 2, 3, F] equals the Linear of each row; epsilon relevance per row against its definition', async () => {
    const random = rng(31);
    const [f, o] = [5, 3];
    const weight = randomArray(o * f, random, 1);
    const bias = randomArray(o, random, 0.5);
    const graph: Graph = {
      name: 'rows',
      input: { name: 'x', shape: [1, 2, 3, f] },
      output: 'logits',
      nodes: [
        node('fc', 'linear', ['x'], 'y', {}, { weight: t1(weight, [o, f]), bias: t1(bias) }),
        node('flatten', 'reshape', ['y'], 'logits', { shape: [1, 18] }),
      ],
    };
    const input = randomArray(30, rng(32), 2);
    const cpu = await cpuEngine();
    const m = await cpu.load(graph);
    const target = 7; // row 2, output 1
    const e = await m.explain(input, { rules: { preset: 'gradient', layers: [{ layer: 'fc', rule: 'epsilon', epsilon: 0.1 }] }, target });
    const y: number[] = [];
    for (let r = 0; r < 6; r++) for (let k = 0; k < o; k++) y.push(bias[k]! + [...Array(f).keys()].reduce((a, j) => a + weight[k * f + j]! * input[r * f + j]!, 0));
    expect(relL2(e.logits, y)).toBeLessThan(1e-6);
    const [row, k] = [Math.floor(target / o), target % o];
    const want = new Float64Array(30);
    for (let j = 0; j < f; j++) want[row * f + j] = (input[row * f + j]! * weight[k * f + j]! * y[target]!) / stab(y[target]!, 0.1);
    expect(relL2(e.relevance, want)).toBeLessThan(1e-6);
    m.dispose();
  });

  it('kernel selection treats the leading axes as the batch (ConvNeXt-T stage 1: 56*56 rows)', () => {
    const dense = (n: number, c: number, o: number) => ({ n, c, h: 1, w: 1, o, oh: 1, ow: 1, kh: 1, kw: 1, strideH: 1, strideW: 1, padTop: 0, padLeft: 0, dilH: 1, dilW: 1, groups: 1 });
    expect(selectConvVariant(dense(56 * 56, 96, 384), 'forward')).toBe('gemm');
    expect(selectConvVariant(dense(56 * 56, 384, 96), 'relevance')).toBe('gemm');
    expect(selectConvVariant(dense(197, 768, 2304), 'forward')).toBe('gemm');
    expect(selectConvVariant(dense(1, 768, 1000), 'forward')).toBe('gemv');
    // More rows than 64 * 65535 GEMM tiles reach: the direct kernel.
    expect(selectConvVariant(dense(64 * 65535 + 1, 16, 16), 'forward')).toBeUndefined();
  });

  it('rows through GEMV (<= 8), GEMM and the direct kernel: WebGPU equals the CPU backend', async () => {
    const [cpu, gpu] = await Promise.all([cpuEngine(), gpuEngine()]);
    for (const [lead, f, o] of [
      [[2, 3], 20, 17],
      [[4, 5], 16, 24],
      [[2, 2, 3], 5, 3],
    ] as [number[], number, number][]) {
      const random = rng(40 + f);
      const rows = lead.reduce((a, d) => a * d, 1);
      const graph: Graph = {
        name: 'rows',
        input: { name: 'x', shape: [1, ...lead, f] },
        output: 'logits',
        nodes: [
          node('fc', 'linear', ['x'], 'y', {}, { weight: t1(randomArray(o * f, random, 1), [o, f]), bias: t1(randomArray(o, random, 0.5)) }),
          node('relu', 'relu', ['y'], 'a'),
          node('flatten', 'reshape', ['a'], 'v', { shape: [1, rows * o] }),
          node('head', 'linear', ['v'], 'logits', {}, { weight: t1(randomArray(3 * rows * o, random, 0.2), [3, rows * o]) }),
        ],
      };
      const input = randomArray(rows * f, rng(41), 2);
      const [mc, mg] = await Promise.all([cpu.load(graph), gpu.load(graph)]);
      for (const rules of [{ preset: 'EpsilonPlusFlat' }, { preset: 'EpsilonAlpha2Beta1' }, { preset: 'gradient' }] as RuleAssignment[]) {
        const a = await mc.explain(input, { rules, target: 0 });
        const b = await mg.explain(input, { rules, target: 0 });
        expect(relL2(b.relevance, a.relevance), `${JSON.stringify(lead)} ${rules.preset}`).toBeLessThan(1e-4);
      }
      mc.dispose();
      mg.dispose();
    }
  }, 60_000);
});
