/**
 * Attention (docs/engine.md, "Transformers: CP-LRP"): the matmul and softmax kernels on the GPU against their
 * float64 references; the matmul/softmax ops' rules against a float64 computation written here from the
 * definitions (CP-LRP's epsilon rule with the attention weights held constant, the gradient against central
 * differences), conservation, WebGPU against CPU; a Concat with a constant part (a class token); the CP-LRP presets
 * (which Linear layers count as attention projections).
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importOnnx } from '../../src/engine/onnx/import-onnx';
import { parseNpy, toFloat32, toFloat64 } from '../../src/engine/io/npy';
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
 
    // The CNN presets hold the attention weights constant too (epsilon on the products, as CP-LRP): with the
    // gradient there, each block multiplied relevance by its other operand and ViT-B/16 overflowed float32.
    for (const id of ['EpsilonPlusFlat', 'EpsilonGammaBox', 'EpsilonAlpha2Beta1']) {
      const zennit = findComposite(id)!.assign(withMlp, {}, layerClassOf);
      for (const product of ['scores', 'av']) expect(zennit.get(product)?.rule, `${id} ${product}`).toBe('epsilon');
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------

/**
 * AttnLRP (Achtibat et al. 2024; docs/engine.md, "Transformers: AttnLRP") on the one-head block, from the paper's
 * definitions in float64: the head and the projections Epsilon (eps_lin); Z = A V and S = Q K^T the uniform rule,
 * each operand half of LRP-0: R_A = A (s V^T), R_V = V (A^T s), s = R / (2 Z); the softmax rule
 * R_S = S (R_A - A sum_row R_A). Every layer's absorbed part is itemised: biases and stabilisers of the Linears, the
 * bias of the softmax's linearisation, sum_j R_j (1 - S_j + sum_i A_i S_i) per row.
 */
function naiveAttnLrp(w: Weights, x: Float64Array, epsLin: number) {
  const q = linear(x, T, w.wq, F);
  const k = linear(x, T, w.wk, F);
  const { v, a, z, logits } = forward(w, x);
  const sc = new Float64Array(T * T);
  for (let m = 0; m < T; m++) for (let j = 0; j < T; j++) for (let i = 0; i < F; i++) sc[m * T + j] = sc[m * T + j]! + q[m * F + i]! * k[j * F + i]!;
  const y = logits[TARGET]!;
  const absorbed: Record<string, number> = {};
  // head: z_j w_j y / stab(y); absorbs y - (y - b) y / stab(y)
  const rz = new Float64Array(T * F);
  for (let j = 0; j < T * F; j++) rz[j] = (z[j]! * w.wh[TARGET * T * F + j]! * y) / stab(y, epsLin);
  absorbed.head = y - ((y - w.bh[TARGET]!) * y) / stab(y, epsLin);
  // A V, uniform
  const s1 = rz.map((r, j) => r / (2 * z[j]!));
  const ra = new Float64Array(T * T);
  const rv = new Float64Array(T * F);
  for (let m = 0; m < T; m++) for (let j = 0; j < T; j++) for (let n = 0; n < F; n++) ra[m * T + j] = ra[m * T + j]! + a[m * T + j]! * s1[m * F + n]! * v[j * F + n]!;
  for (let j = 0; j < T; j++) for (let n = 0; n < F; n++) for (let m = 0; m < T; m++) rv[j * F + n] = rv[j * F + n]! + v[j * F + n]! * a[m * T + j]! * s1[m * F + n]!;
  absorbed.av = sum(rz) - sum(ra) - sum(rv);
  // softmax rule
  const rs = new Float64Array(T * T);
  let softmaxAbsorbed = 0;
  for (let m = 0; m < T; m++) {
    let rowR = 0;
    let as = 0;
    for (let j = 0; j < T; j++) {
      rowR += ra[m * T + j]!;
      as += a[m * T + j]! * sc[m * T + j]!;
    }
    for (let j = 0; j < T; j++) {
      rs[m * T + j] = sc[m * T + j]! * (ra[m * T + j]! - a[m * T + j]! * rowR);
      softmaxAbsorbed += ra[m * T + j]! * (1 - sc[m * T + j]! + as);
    }
  }
  absorbed.softmax = softmaxAbsorbed;
  // Q K^T, uniform
  const s2 = rs.map((r, j) => r / (2 * sc[j]!));
  const rq = new Float64Array(T * F);
  const rk = new Float64Array(T * F);
  for (let m = 0; m < T; m++) {
    for (let j = 0; j < T; j++) {
      for (let i = 0; i < F; i++) {
        rq[m * F + i] = rq[m * F + i]! + q[m * F + i]! * s2[m * T + j]! * k[j * F + i]!;
        rk[j * F + i] = rk[j * F + i]! + k[j * F + i]! * q[m * F + i]! * s2[m * T + j]!;
      }
    }
  }
  absorbed.scores = sum(rs) - sum(rq) - sum(rk);
  // q, k, v: epsilon; each absorbs sum_o (b_o + eps sign(o)) R_o / stab(o)
  const rx = new Float64Array(T * F);
  const back = (name: string, out: Float64Array, r: Float64Array, wt: Float32Array, b?: Float32Array) => {
    let absorbedHere = 0;
    for (let t = 0; t < T; t++) {
      for (let o = 0; o < F; o++) {
        const d = stab(out[t * F + o]!, epsLin);
        absorbedHere += ((d - out[t * F + o]! + (b ? b[o]! : 0)) * r[t * F + o]!) / d;
        for (let i = 0; i < F; i++) rx[t * F + i] = rx[t * F + i]! + (x[t * F + i]! * wt[o * F + i]! * r[t * F + o]!) / d;
      }
    }
    absorbed[name] = absorbedHere;
  };
  back('q', q, rq, w.wq);
  back('k', k, rk, w.wk);
  back('v', v, rv, w.wv, w.bv);
  return { logits, y, rz, ra, rs, rq, rk, rv, rx, absorbed };
}

describe('AttnLRP: uniform rule on the products, softmax rule, against float64 definitions; conservation itemised', () => {
  it('the attnlrp preset matches the definitions on CPU, WebGPU matches CPU', async () => {
    const w = weights(70);
    const input = randomArray(T * F, rng(71), 1.5);
    const x = Float64Array.from(input);
    const naive = naiveAttnLrp(w, x, 1e-6);
    const graph = attentionGraph(w);
    const rules: RuleAssignment = { preset: 'attnlrp' };
    const [cpu, gpu] = await Promise.all([cpuEngine(), gpuEngine()]);
    const [mc, mg] = await Promise.all([cpu.load(graph), gpu.load(graph)]);
    const c = await mc.explain(input, { rules, target: TARGET });
    const layer = (name: string) => c.layers.find((l) => l.layer === name)!.data;
    expect(relL2(c.logits, naive.logits), 'logits').toBeLessThan(1e-6);
    expect(relL2(layer('av'), naive.ra), 'relevance of the attention weights').toBeLessThan(1e-6);
    expect(relL2(layer('softmax'), naive.rs), 'relevance of the scores').toBeLessThan(1e-6);
    expect(relL2(layer('scores'), naive.rq), 'relevance of the queries').toBeLessThan(1e-6);
    expect(relL2(layer('kt'), naive.rk), 'relevance of the keys').toBeLessThan(1e-6);
    expect(relL2(c.relevance, naive.rx), 'input relevance').toBeLessThan(1e-6);
    // Queries and keys get relevance now (CP-LRP gives them none).
    expect(sum(naive.rq.map(Math.abs))).toBeGreaterThan(1e-3);
    const g = await mg.explain(input, { rules, target: TARGET });
    expect(relL2(g.logits, c.logits), 'webgpu logits').toBeLessThan(1e-5);
    expect(relL2(g.relevance, c.relevance), 'webgpu relevance').toBeLessThan(1e-4);
    expect(relL2(g.layers.find((l) => l.layer === 'softmax')!.data, layer('softmax')), 'webgpu softmax relevance').toBeLessThan(1e-4);
    mc.dispose();
    mg.dispose();
  }, 60_000);

  it('conserves: the input relevance sums to the target logit minus what each layer absorbs (itemised)', async () => {
    const w = weights(80);
    const input = randomArray(T * F, rng(81), 1.5);
    const naive = naiveAttnLrp(w, Float64Array.from(input), 1e-6);
    const absorbed = Object.values(naive.absorbed).reduce((p, v) => p + v, 0);
    // The reference is conservative by construction: logit = input relevance + the itemised absorbed parts.
    expect(Math.abs(sum(naive.rx) + absorbed - naive.y)).toBeLessThan(1e-10 * Math.max(1, Math.abs(naive.y)));
    // The products conserve exactly (uniform rule at epsilon 0); the softmax does not (its linearisation's bias).
    expect(Math.abs(naive.absorbed.av!)).toBeLessThan(1e-12);
    expect(Math.abs(naive.absorbed.scores!)).toBeLessThan(1e-12);
    const m = await (await cpuEngine()).load(attentionGraph(w));
    const e = await m.explain(input, { rules: { preset: 'attnlrp' }, target: TARGET });
    const y = e.logits[TARGET]!;
    const total = sum(e.relevance) + absorbed;
    expect(Math.abs(total - y)).toBeLessThan(1e-5 * Math.max(1, Math.abs(y)));
    // Layer by layer: each layer's input relevance is its output relevance minus what it absorbs.
    const layerSum = (name: string) => sum(e.layers.find((l) => l.layer === name)!.data);
    expect(layerSum('av') + sum(naive.rv)).toBeCloseTo(y - naive.absorbed.head!, 5);
    expect(layerSum('softmax')).toBeCloseTo(layerSum('av') - naive.absorbed.softmax!, 5);
    m.dispose();
  });

  it('the preset: uniform on both products, epsilon 0 on the softmax, epsilon 1e-6 on every Linear (projections too)', () => {
    const g = attentionGraph(weights(90));
    const rules = findComposite('attnlrp')!.assign(g, {}, layerClassOf);
    expect(rules.get('scores')).toEqual({ rule: 'uniform', params: { epsilon: 0 } });
    expect(rules.get('av')).toEqual({ rule: 'uniform', params: { epsilon: 0 } });
    expect(rules.get('softmax')).toEqual({ rule: 'epsilon', params: { epsilon: 0 } });
    expect(rules.get('q')).toEqual({ rule: 'epsilon', params: { epsilon: 1e-6 } });
    expect(rules.get('head')).toEqual({ rule: 'epsilon', params: { epsilon: 1e-6 } });
    // CP-LRP keeps the softmax on Pass (no relevance reaches it there).
    expect(findComposite('cp-gamma')!.assign(g, {}, layerClassOf).get('softmax')).toEqual({ rule: 'pass', params: {} });
  });
});

/**
 * tests/fixtures/attnlrp: a small torchvision ViT (2 blocks, 2 heads) exported by torch.onnx, and AttnLRP computed in
 * float64 by scripts/fixtures/attnlrp-check.py from the paper's rules (not from this engine), with what every layer
 * absorbs. The input relevance on both backends; conservation itemised: the input relevance sum plus the absorbed
 * parts is the logit, and the engine's own per-layer differences (softmax, out-projection, head) are the reference's.
 */
describe('AttnLRP on a torchvision ViT: the independent float64 reference (tests/fixtures/attnlrp)', () => {
  const dir = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'attnlrp');
  const read = (f: string) => new Uint8Array(readFileSync(resolve(dir, f)));
  const manifest = JSON.parse(new TextDecoder().decode(read('cases.json'))) as {
    models: Record<string, { onnx: { file: string }; input: string; logits: string }>;
    cases: { model: string; target: number; relevance: string; logit: number; f32_rel_err: number; absorbed: Record<string, number> }[];
  };
  const c = manifest.cases[0]!;
  const m = manifest.models[c.model]!;
  for (const backend of ['cpu', 'webgpu'] as const) {
    it(`${backend}: input relevance, itemised conservation, per-layer absorbed parts`, async () => {
      const graph = importOnnx({ name: m.onnx.file, bytes: read(m.onnx.file) }, new Map());
      const engine = backend === 'cpu' ? await cpuEngine() : await gpuEngine();
      const model = await engine.load(graph);
      const e = await model.explain(toFloat32(parseNpy(read(m.input))), { rules: { preset: 'attnlrp' }, target: c.target });
      const tol = Math.max(1e-4, 4 * c.f32_rel_err);
      expect(relL2(e.logits, toFloat64(parseNpy(read(m.logits))))).toBeLessThan(1e-5);
      expect(relL2(e.relevance, toFloat64(parseNpy(read(c.relevance)))), 'input relevance').toBeLessThan(tol);
      const absorbed = Object.values(c.absorbed).reduce((p, v) => p + v, 0);
      expect(Math.abs(sum(e.relevance) + absorbed - c.logit), 'relevance sum + absorbed = logit').toBeLessThan(1e-4 * Math.abs(c.logit));
      const at = (layer: string) => sum(e.layers.find((l) => l.layer === layer)!.data);
      const close = (got: number, want: number, what: string) => expect(Math.abs(got - want), what).toBeLessThan(1e-4 * Math.max(1, Math.abs(want)));
      close(c.logit - at('heads.head'), c.absorbed['heads.head']!, 'head');
      for (const i of [0, 1]) {
        const pre = `encoder.layers.encoder_layer_${i}.self_attention`;
        // softmax: R at the attention weights (the A V product's first input) minus R at the scores
        close(at(`${pre}.matmul_2`) - at(`${pre}.softmax`), c.absorbed[`encoder.layers.${i}.softmax`]!, `block ${i} softmax`);
        // out-projection: R at its output (transpose_5's input, through a reshape) minus R at its input
        close(at(`${pre}.transpose_5`) - at(`${pre}.out_proj`), c.absorbed[`encoder.layers.${i}.out_proj`]!, `block ${i} out_proj`);
      }
      model.dispose();
    }, 60_000);
  }
});
