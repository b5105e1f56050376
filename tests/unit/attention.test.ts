/**
 * Attention (docs/engine.md, "Transformers: CP-LRP"): the matmul and softmax kernels on the GPU against their
 * float64 references; the matmul/softmax ops' rules against a float64 computation written here from the
 * definitions (CP-LRP's epsilon rule with the attention weights held constant, the gradient against central
 * differences), conservation, WebGPU against CPU; a Concat with a constant part (a class token); the CP-LRP presets
 * (which Linear layers count as attention projections).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Graph, GraphNode } from '../../src/engine/graph';
import type { MatMulStep, SoftmaxStep } from '../../src/engine/kernels/steps';
import type { RuleAssignment } from '../../src/rules/assignment';
import { attentionProjections, findComposite } from '../../src/rules/composites';
import { layerClassOf } from '../../src/engine/ops/registry';
import { cpuRun, StepGpu, Tensors } from './helpers/step-runner';
import { cpuEngine, gpuEngine, randomArray, relL2, rng, sum } from './helpers/engines';

const node = (name: string, op: GraphNode['op'], inputs: string[], output: string, attrs: GraphNode['attrs'] = {}, params: GraphNode['params'] = {}): GraphNode => ({
  name,
  op,
  inputs,
  output,
  attrs,
  params,
});
const stab = (z: number, eps: number) => z + (z >= 0 ? eps : -eps);

// ---------------------------------------------------------------------------------------------------------------

describe('matmul and softmax kernels: WebGPU matches the float64 reference', () => {
  let gpu: StepGpu;
  beforeAll(async () => {
    gpu = await StepGpu.create();
  });
  afterAll(() => gpu.destroy());

  it('matmul: batches, sizes across the 64x64 tile and the 16-deep K chunk, every transposition, accumulate', async () => {
    const random = rng(1);
    const cases: [number, number, number, number][] = [
      [1, 1, 1, 1],
      [2, 17, 16, 17],
      [3, 5, 33, 70],
      [1, 65, 7, 129],
      [2, 130, 70, 3],
    ];
    let k = 0;
    for (const [batch, m, kk, n] of cases) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          const accumulate = k++ % 2 === 1;
          const t = new Tensors();
          const a = t.add(randomArray(batch * m * kk, random), transA ? [batch, kk, m] : [batch, m, kk]);
          const b = t.add(randomArray(batch * kk * n, random), transB ? [batch, n, kk] : [batch, kk, n]);
          const out = t.add(randomArray(batch * m * n, random), [batch, m, n]);
          const step: MatMulStep = { kernel: 'matmul', a, b, out, batch, m, k: kk, n, transA, transB, accumulate };
          const ref = cpuRun(step, t, out);
          // The reference against the definition, element by element.
          const av = t.data[a.id]!;
          const bv = t.data[b.id]!;
          const init = t.data[out.id]!;
          const naive = new Float64Array(batch * m * n);
          for (let bt = 0; bt < batch; bt++) {
            for (let i = 0; i < m; i++) {
              for (let j = 0; j < n; j++) {
                let s = accumulate ? init[(bt * m + i) * n + j]! : 0;
                for (let l = 0; l < kk; l++) {
                  const x = transA ? av[(bt * kk + l) * m + i]! : av[(bt * m + i) * kk + l]!;
                  const y = transB ? bv[(bt * n + j) * kk + l]! : bv[(bt * kk + l) * n + j]!;
                  s += x * y;
                }
                naive[(bt * m + i) * n + j] = s;
              }
            }
          }
          expect(relL2(ref, naive)).toBeLessThan(1e-14);
          const got = await gpu.run(step, t, out);
          expect(relL2(got, ref), `[${batch}, ${m}, ${kk}, ${n}] transA ${transA} transB ${transB}`).toBeLessThan(1e-5);
        }
      }
    }
  }, 120_000);

  it('softmax over the last axis: rows sum to 1, large logits stay finite (max subtracted)', async () => {
    const random = rng(2);
    for (const [rows, cols] of [
      [1, 1],
      [3, 17],
      [130, 5],
      [2, 300],
    ] as const) {
      const t = new Tensors();
      const xs = randomArray(rows * cols, random, 4);
      xs[0] = 500; // exp(500) overflows float32 and float64 without the max subtraction
      const x = t.add(xs);
      const out = t.add(new Float32Array(rows * cols));
      const step: SoftmaxStep = { kernel: 'softmax', x, out, rows, cols };
      const ref = cpuRun(step, t, out);
      for (let r = 0; r < rows; r++) {
        let mx = -Infinity;
        for (let j = 0; j < cols; j++) mx = Math.max(mx, xs[r * cols + j]!);
        let s = 0;
        for (let j = 0; j < cols; j++) s += Math.exp(xs[r * cols + j]! - mx);
        for (let j = 0; j < cols; j++) expect(ref[r * cols + j]).toBeCloseTo(Math.exp(xs[r * cols + j]! - mx) / s, 14);
      }
      const got = await gpu.run(step, t, out);
      expect(got.every(Number.isFinite)).toBe(true);
      expect(relL2(got, ref)).toBeLessThan(1e-5);
    }
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------------------------

/**
 * A one-head attention block on tokens x [1, T, F]: q, k, v = Linear(x); A = softmax(q k^T); Z = A v; then
 * flatten and a Linear head to C classes.
 */
const T = 5;
const F = 4;
const C = 3;
const TARGET = 1;

interface Weights {
  readonly wq: Float32Array;
  readonly wk: Float32Array;
  readonly wv: Float32Array;
  readonly bv: Float32Array;
  readonly wh: Float32Array;
  readonly bh: Float32Array;
}

function attentionGraph(w: Weights): Graph {
  const lin = (name: string, x: string, out: string, weight: Float32Array, o: number, bias?: Float32Array) =>
    node(name, 'linear', [x], out, {}, { weight: { shape: [o, weight.length / o], data: weight }, ...(bias ? { bias: { shape: [o], data: bias } } : {}) });
  return {
    name: 'attention',
    input: { name: 'x', shape: [1, T, F] },
    output: 'logits',
    nodes: [
      lin('q', 'x', 'q', w.wq, F),
      lin('k', 'x', 'k', w.wk, F),
      lin('v', 'x', 'v', w.wv, F, w.bv),
      node('kt', 'transpose', ['k'], 'kt', { perm: [0, 2, 1] }),
      node('scores', 'matmul', ['q', 'kt'], 's', { gate: -1 }),
      node('softmax', 'softmax', ['s'], 'a'),
      node('av', 'matmul', ['a', 'v'], 'z', { gate: 0 }),
      node('flatten', 'reshape', ['z'], 'f', { shape: [1, T * F] }),
      lin('head', 'f', 'logits', w.wh, C, w.bh),
    ],
  };
}

function weights(seed: number, zeroBias = false): Weights {
  const r = rng(seed);
  return {
    wq: randomArray(F * F, r),
    wk: randomArray(F * F, r),
    wv: randomArray(F * F, r),
    bv: zeroBias ? new Float32Array(F) : randomArray(F, r, 0.3),
    wh: randomArray(C * T * F, r),
    bh: zeroBias ? new Float32Array(C) : randomArray(C, r, 0.3),
  };
}

/** y[t, o] = sum_i W[o, i] x[t, i] + b[o] in float64. */
function linear(x: Float64Array, rows: number, w: Float32Array, o: number, b?: Float32Array): Float64Array {
  const f = w.length / o;
  const y = new Float64Array(rows * o);
  for (let t = 0; t < rows; t++) {
    for (let j = 0; j < o; j++) {
      let s = b ? b[j]! : 0;
      for (let i = 0; i < f; i++) s += w[j * f + i]! * x[t * f + i]!;
      y[t * o + j] = s;
    }
  }
  return y;
}

/** The block's forward pass in float64, every intermediate kept. */
function forward(w: Weights, x: Float64Array) {
  const q = linear(x, T, w.wq, F);
  const k = linear(x, T, w.wk, F);
  const v = linear(x, T, w.wv, F, w.bv);
  const a = new Float64Array(T * T);
  for (let m = 0; m < T; m++) {
    const row: number[] = [];
    for (let j = 0; j < T; j++) {
      let s = 0;
      for (let i = 0; i < F; i++) s += q[m * F + i]! * k[j * F + i]!;
      row.push(s);
    }
    const mx = Math.max(...row);
    const e = row.map((s) => Math.exp(s - mx));
    const total = e.reduce((p, c) => p + c, 0);
    e.forEach((v2, j) => (a[m * T + j] = v2 / total));
  }
  const z = new Float64Array(T * F);
  for (let m = 0; m < T; m++) {
    for (let n = 0; n < F; n++) {
      let s = 0;
      for (let j = 0; j < T; j++) s += a[m * T + j]! * v[j * F + n]!;
      z[m * F + n] = s;
    }
  }
  const logits = linear(z, 1, w.wh, C, w.bh);
  return { v, a, z, logits };
}

/**
 * CP-LRP from the definitions, epsilon `eps` on every layer: the head's epsilon rule; A V with A held constant,
 * R_V[k, n] = V[k, n] sum_m A[m, k] R_Z[m, n] / stab(Z[m, n]); the value projection's epsilon rule. Q and K get none.
 */
function naiveCpLrp(w: Weights, x: Float64Array, eps: number): { logits: Float64Array; rz: Float64Array; rv: Float64Array; rx: Float64Array } {
  const { v, a, z, logits } = forward(w, x);
  const y = logits[TARGET]!;
  const rz = new Float64Array(T * F);
  for (let j = 0; j < T * F; j++) rz[j] = (z[j]! * w.wh[TARGET * T * F + j]! * y) / stab(y, eps);
  const rv = new Float64Array(T * F);
  for (let kk = 0; kk < T; kk++) {
    for (let n = 0; n < F; n++) {
      let s = 0;
      for (let m = 0; m < T; m++) s += (a[m * T + kk]! * rz[m * F + n]!) / stab(z[m * F + n]!, eps);
      rv[kk * F + n] = v[kk * F + n]! * s;
    }
  }
  const rx = new Float64Array(T * F);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < F; i++) {
      let s = 0;
      for (let o = 0; o < F; o++) s += (w.wv[o * F + i]! * rv[t * F + o]!) / stab(v[t * F + o]!, eps);
      rx[t * F + i] = x[t * F + i]! * s;
    }
  }
  return { logits, rz, rv, rx };
}

const epsilonEverywhere = (eps: number): RuleAssignment => ({
  preset: 'gradient',
  layers: ['head', 'av', 'v', 'q', 'k', 'scores'].map((layer) => ({ layer, rule: 'epsilon', epsilon: eps })),
});

describe('matmul (CP-LRP) and softmax: rules against float64 definitions, conservation, WebGPU', () => {
  it('epsilon with the attention weights held constant: the values take all relevance, queries and keys none', async () => {
    const w = weights(10);
    const input = randomArray(T * F, rng(11), 1.5);
    const x = Float64Array.from(input);
    const [cpu, gpu] = await Promise.all([cpuEngine(), gpuEngine()]);
    const graph = attentionGraph(w);
    const [mc, mg] = await Promise.all([cpu.load(graph), gpu.load(graph)]);
    for (const eps of [0.05, 1e-6]) {
      const rules = epsilonEverywhere(eps);
      const naive = naiveCpLrp(w, x, eps);
      const c = await mc.explain(input, { rules, target: TARGET });
      expect(relL2(c.logits, naive.logits), 'logits').toBeLessThan(1e-6);
      expect(relL2(c.layers.find((l) => l.layer === 'head')!.data, naive.rz), 'relevance at A V').toBeLessThan(1e-6);
      expect(relL2(c.relevance, naive.rx), 'input relevance').toBeLessThan(1e-6);
      // No relevance reaches the softmax or Q K^T: they report none.
      expect(c.layers.some((l) => l.layer === 'softmax' || l.layer === 'scores')).toBe(false);
      const g = await mg.explain(input, { rules, target: TARGET });
      expect(relL2(g.logits, c.logits), 'webgpu logits').toBeLessThan(1e-5);
      expect(relL2(g.relevance, c.relevance), 'webgpu relevance').toBeLessThan(1e-5);
    }
    mc.dispose();
    mg.dispose();
  }, 60_000);

  it('conserves: with zero biases and epsilon 0 the input relevance sums to the target logit', async () => {
    const w = weights(20, true);
    const input = randomArray(T * F, rng(21), 1.5);
    const m = await (await cpuEngine()).load(attentionGraph(w));
    const e = await m.explain(input, { rules: epsilonEverywhere(0), target: TARGET });
    expect(sum(e.relevance)).toBeCloseTo(e.logits[TARGET]!, 5);
    const naive = naiveCpLrp(w, Float64Array.from(input), 0);
    expect(sum(naive.rv)).toBeCloseTo(naive.logits[TARGET]!, 10);
    m.dispose();
  });

  it('gradient: matmul by the product rule (both operands) and softmax by its Jacobian, against central differences', async () => {
    const w = weights(30);
    const input = randomArray(T * F, rng(31), 1.5);
    const x = Float64Array.from(input);
    const [cpu, gpu] = await Promise.all([cpuEngine(), gpuEngine()]);
    const graph = attentionGraph(w);
    const rules: RuleAssignment = { preset: 'gradient' };
    const c = await (await cpu.load(graph)).explain(input, { rules, target: TARGET });
    // The gradient rule seeds the target logit y and returns y * dy/dx.
    const y = forward(w, x).logits[TARGET]!;
    const h = 1e-6;
    const fd = new Float64Array(T * F);
    for (let i = 0; i < T * F; i++) {
      const up = Float64Array.from(x);
      const dn = Float64Array.from(x);
      up[i] = x[i]! + h;
      dn[i] = x[i]! - h;
      fd[i] = (y * (forward(w, up).logits[TARGET]! - forward(w, dn).logits[TARGET]!)) / (2 * h);
    }
    expect(relL2(c.relevance, fd)).toBeLessThan(1e-5);
    const g = await (await gpu.load(graph)).explain(input, { rules, target: TARGET });
    expect(relL2(g.relevance, c.relevance)).toBeLessThan(1e-4);
  }, 60_000);

  it('refuses the epsilon rule on a product where neither operand is a softmax, naming the layer', async () => {
    const w = weights(40);
    const g = attentionGraph(w);
    // Make Z = A V come from the scores instead of the softmax: no gate.
    const graph: Graph = { ...g, nodes: g.nodes.map((n) => (n.name === 'av' ? { ...n, inputs: ['s', 'v'], attrs: { gate: -1 } } : n)) };
    const m = await (await cpuEngine()).load(graph);
    await expect(m.explain(randomArray(T * F, rng(41)), { rules: epsilonEverywhere(1e-6), target: TARGET })).rejects.toThrow(/layer "av".*neither is/);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('concat with a constant part (a class token)', () => {
  it('copies the constant into place; its slice of relevance is absorbed, the computed part gets its own', async () => {
    const cls = randomArray(F, rng(50));
    const wh = randomArray(C * (T + 1) * F, rng(51));
    const bh = randomArray(C, rng(52), 0.3);
    const graph: Graph = {
      name: 'cls',
      input: { name: 'x', shape: [1, T, F] },
      output: 'logits',
      nodes: [
        node('cat', 'concat', ['x'], 'c', { axis: 1, layout: [-1, 0] }, { constant0: { shape: [1, 1, F], data: cls } }),
        node('flatten', 'reshape', ['c'], 'f', { shape: [1, (T + 1) * F] }),
        node('head', 'linear', ['f'], 'logits', {}, { weight: { shape: [C, (T + 1) * F], data: wh }, bias: { shape: [C], data: bh } }),
      ],
    };
    const input = randomArray(T * F, rng(53));
    const full = Float64Array.from([...cls, ...input]);
    const logits = [0, 1, 2].map((c) => full.reduce((s, v, j) => s + v * wh[c * full.length + j]!, bh[c]!));
    const eps = 1e-3;
    const rFull = full.map((v, j) => (v * wh[TARGET * full.length + j]! * logits[TARGET]!) / stab(logits[TARGET]!, eps));
    const rules: RuleAssignment = { preset: 'gradient', layers: [{ layer: 'head', rule: 'epsilon', epsilon: eps }] };
    const [cpu, gpu] = await Promise.all([cpuEngine(), gpuEngine()]);
    const c = await (await cpu.load(graph)).explain(input, { rules, target: TARGET });
    expect(relL2(c.logits, logits)).toBeLessThan(1e-6);
    expect(relL2(c.relevance, rFull.subarray(F))).toBeLessThan(1e-6);
    const g = await (await gpu.load(graph)).explain(input, { rules, target: TARGET });
    expect(relL2(g.relevance, c.relevance)).toBeLessThan(1e-5);
  }, 60_000);
});

describe('CP-LRP presets', () => {
  it('attention projections are the Linears feeding or fed by a matmul through routing only; they get LRP-0', () => {
    const g = attentionGraph(weights(60));
    expect([...attentionProjections(g, layerClassOf)].sort()).toEqual(['head', 'k', 'q', 'v']);
    const withMlp: Graph = {
      ...g,
      nodes: [
        ...g.nodes.slice(0, -1),
        node('mlp', 'linear', ['f'], 'h', {}, { weight: { shape: [4, T * F], data: randomArray(4 * T * F, rng(61)) } }),
        node('act', 'gelu', ['h'], 'g'),
        node('head', 'linear', ['g'], 'logits', {}, { weight: { shape: [C, 4], data: randomArray(C * 4, rng(62)) } }),
      ],
    };
    const gamma = findComposite('cp-gamma')!.assign(withMlp, {}, layerClassOf);
    expect(gamma.get('v')).toEqual({ rule: 'epsilon', params: { epsilon: 0 } });
    expect(gamma.get('mlp')).toEqual({ rule: 'epsilon', params: { epsilon: 0 } }); // fed by A V through a reshape: an out-projection
    expect(gamma.get('head')).toEqual({ rule: 'gamma', params: { gamma: 0.05 } });
    expect(gamma.get('av')).toEqual({ rule: 'epsilon', params: { epsilon: 0 } });
    expect(gamma.get('act')).toEqual({ rule: 'pass', params: {} });
    const epsilon = findComposite('cp-epsilon')!.assign(withMlp, {}, layerClassOf);
    expect(epsilon.get('head')).toEqual({ rule: 'epsilon', params: { epsilon: 1e-6 } });
  });
});
