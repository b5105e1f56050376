/**
 * Rules on the elementwise ops (add with broadcasting, addconst, scale, mul as a gate, div, the activations) and on a
 * BatchNorm that cannot be merged, against float64 computations written here from each rule's definition
 * (docs/engine.md), the gradient against central differences of a float64 forward pass written here, conservation
 * where the rule conserves, and a squeeze-excitation graph on both backends.
 */
import { layerClassOf } from '../../src/engine/ops/registry';
import { describe, expect, it } from 'vitest';
import type { Graph, GraphNode, Tensor } from '../../src/engine/graph';
import type { RuleAssignment } from '../../src/rules/assignment';
import { foldBatchNorm } from '../../src/engine/canonicalize';
import { findComposite } from '../../src/rules/composites';
import { erf64 } from '../../src/engine/kernels/activation';
import { cpuEngine, gpuEngine, randomArray, relL2, rng, sum } from './helpers/engines';
import { node } from './helpers/small-nets';

// ---------------------------------------------------------------------------------------------------------------
// A float64 forward pass over the few ops these graphs use, written without the engine's kernels.

interface Arr {
  shape: number[];
  data: Float64Array;
}
const size = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);
const arr = (shape: number[], data: ArrayLike<number>): Arr => ({ shape, data: Float64Array.from(data) });
const fromTensor = (t: Tensor): Arr => arr([...t.shape], t.data);

function coords(shape: readonly number[]): number[][] {
  let out: number[][] = [[]];
  for (const d of shape) out = out.flatMap((c) => Array.from({ length: d }, (_, i) => [...c, i]));
  return out;
}
function indexAt(shape: readonly number[], c: readonly number[]): number {
  let idx = 0;
  for (let k = 0; k < shape.length; k++) idx = idx * shape[k]! + (shape[k] === 1 ? 0 : c[c.length - shape.length + k]!);
  return idx;
}
function bshape(a: readonly number[], b: readonly number[]): number[] {
  const r = Math.max(a.length, b.length);
  return Array.from({ length: r }, (_, k) => Math.max(a[a.length - r + k] ?? 1, b[b.length - r + k] ?? 1));
}
/** numpy broadcasting by coordinates. */
function bmap(a: Arr, b: Arr, f: (x: number, y: number) => number): Arr {
  const shape = bshape(a.shape, b.shape);
  return arr(shape, coords(shape).map((c) => f(a.data[indexAt(a.shape, c)]!, b.data[indexAt(b.shape, c)]!)));
}
/** The sum of `x` over the positions that broadcast from each element of `shape`. */
function sumTo(x: Arr, shape: number[]): Arr {
  const out = new Float64Array(size(shape));
  coords(x.shape).forEach((c, i) => (out[indexAt(shape, c)]! += x.data[i]!));
  return { shape, data: out };
}
const map = (a: Arr, f: (x: number, i: number) => number): Arr => arr(a.shape, Array.from(a.data, f));
const stab = (d: number, eps: number) => d + (d >= 0 ? eps : -eps);
const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
const hardSigmoid = (v: number, alpha: number, beta: number) => Math.min(1, Math.max(0, alpha * v + beta));

function naiveForward(graph: Graph, input: ArrayLike<number>): Map<string, Arr> {
  const values = new Map<string, Arr>([[graph.input.name, arr([...graph.input.shape], input)]]);
  for (const node of graph.nodes) {
    const [x, y] = node.inputs.map((v) => values.get(v)!) as [Arr, Arr | undefined];
    const a = node.attrs;
    const num = (k: string, d: number) => (typeof a[k] === 'number' ? (a[k] as number) : d);
    let out: Arr;
    switch (node.op) {
      case 'linear': {
        const w = node.params.weight!;
        const [O, I] = w.shape as [number, number];
        const rows = size(x.shape) / I;
        const data = new Float64Array(rows * O);
        for (let r = 0; r < rows; r++)
          for (let o = 0; o < O; o++) {
            let s = node.params.bias ? node.params.bias.data[o]! : 0;
            for (let i = 0; i < I; i++) s += w.data[o * I + i]! * x.data[r * I + i]!;
            data[r * O + o] = s;
          }
        out = { shape: [...x.shape.slice(0, -1), O], data };
        break;
      }
      case 'conv2d': {
        // Stride 1, dilation 1, one group, symmetric padding: all these graphs use.
        const w = node.params.weight!;
        const [O, C, K] = w.shape as [number, number, number];
        const [, , H, W] = x.shape as [number, number, number, number];
        const p = (a.pads as number[])[0]!;
        const data = new Float64Array(O * H * W);
        for (let o = 0; o < O; o++)
          for (let h = 0; h < H; h++)
            for (let q = 0; q < W; q++) {
              let s = node.params.bias ? node.params.bias.data[o]! : 0;
              for (let c = 0; c < C; c++)
                for (let i = 0; i < K; i++)
                  for (let j = 0; j < K; j++) {
                    const [hh, ww] = [h + i - p, q + j - p];
                    if (hh >= 0 && hh < H && ww >= 0 && ww < W) s += w.data[((o * C + c) * K + i) * K + j]! * x.data[(c * H + hh) * W + ww]!;
                  }
              data[(o * H + h) * W + q] = s;
            }
        out = { shape: [1, O, H, W], data };
        break;
      }
      case 'reshape':
        out = { shape: [...(a.shape as number[])], data: x.data };
        break;
      case 'relu':
        out = map(x, (v) => Math.max(v, 0));
        break;
      case 'sigmoid':
        out = map(x, sigmoid);
        break;
      case 'hardsigmoid':
        out = map(x, (v) => hardSigmoid(v, num('alpha', 0.2), num('beta', 0.5)));
        break;
      case 'hardswish':
        out = map(x, (v) => v * hardSigmoid(v, num('alpha', 1 / 6), num('beta', 0.5)));
        break;
      case 'silu':
        out = map(x, (v) => v * sigmoid(v));
        break;
      case 'gelu':
        out = map(x, (v) => (a.approximate === 'tanh' ? 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))) : 0.5 * v * (1 + erf64(v / Math.SQRT2))));
        break;
      case 'erf':
        out = map(x, erf64);
        break;
      case 'globalavgpool': {
        const [n, c] = x.shape as [number, number];
        const hw = size(x.shape.slice(2));
        out = arr([n, c, 1, 1], Array.from({ length: n * c }, (_, i) => x.data.slice(i * hw, (i + 1) * hw).reduce((p, v) => p + v, 0) / hw));
        break;
      }
      case 'add':
        out = bmap(x, y!, a.mode === 'sub' ? (p, q) => p - q : (p, q) => p + q);
        break;
      case 'addconst':
        out = bmap(x, fromTensor(node.params.constant!), (p, q) => num('sign', 1) * p + q);
        break;
      case 'scale':
        out = bmap(x, fromTensor(node.params.constant!), a.mode === 'div' ? (p, q) => p / q : (p, q) => p * q);
        break;
      case 'mul':
        out = bmap(x, y!, (p, q) => p * q);
        break;
      case 'div':
        out = bmap(x, y!, (p, q) => p / q);
        break;
      case 'batchnorm': {
        const hw = size(x.shape.slice(2));
        out = map(x, (v, i) => {
          const c = Math.floor(i / hw) % x.shape[1]!;
          return node.params.scale!.data[c]! * v + node.params.shift!.data[c]!;
        });
        break;
      }
      default:
        throw new Error(`naive forward: ${node.op}`);
    }
    values.set(node.output, out);
  }
  return values;
}

/** d logit_t / d input by central differences of the float64 forward pass. */
function numericGradient(graph: Graph, input: Float32Array, t: number, h = 1e-6): Float64Array {
  const x = Float64Array.from(input);
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    x[i] = v + h;
    const up = naiveForward(graph, x).get(graph.output)!.data[t]!;
    x[i] = v - h;
    const down = naiveForward(graph, x).get(graph.output)!.data[t]!;
    x[i] = v;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

// ---------------------------------------------------------------------------------------------------------------
// Graph building.

const t = (shape: number[], data: Float32Array): Tensor => ({ shape, data });

/** ... -> reshape to [1, F] -> fc (5 classes). */
function head(random: () => number, from: string, features: number): GraphNode[] {
  return [
    node('flatten', 'reshape', [from], { shape: [1, features] }),
    node('fc', 'linear', ['flatten'], {}, { weight: t([5, features], randomArray(5 * features, random)), bias: t([5], randomArray(5, random, 0.1)) }),
  ];
}
const graphOf = (name: string, inputShape: number[], nodes: GraphNode[]): Graph => ({ name, input: { name: 'x', shape: inputShape }, output: 'fc', nodes });

const TARGET = 2;
/** Relevance at the fc's input under the gradient: the seed (logit at the target) times the target's weights. */
function fcGradient(graph: Graph, values: Map<string, Arr>): Float64Array {
  const fc = graph.nodes.find((n) => n.name === 'fc')!;
  const logit = values.get('fc')!.data[TARGET]!;
  const F = fc.params.weight!.shape[1]!;
  return Float64Array.from({ length: F }, (_, j) => logit * fc.params.weight!.data[TARGET * F + j]!);
}

async function explainCpu(graph: Graph, input: Float32Array, rules: RuleAssignment) {
  const m = await (await cpuEngine()).load(graph);
  const e = await m.explain(input, { rules, target: TARGET });
  m.dispose();
  return e;
}

const gradientWith = (...layers: RuleAssignment['layers'] & object): RuleAssignment => ({ preset: 'gradient', layers });

// ---------------------------------------------------------------------------------------------------------------

describe('add of two computed values, with broadcasting', () => {
  // z = x (+/-) GAP(x): the pooled operand is broadcast over H and W.
  function graph(mode: 'add' | 'sub', pooledFirst: boolean, seed: number): Graph {
    const random = rng(seed);
    const inputs = pooledFirst ? ['gap', 'x'] : ['x', 'gap'];
    return graphOf('add', [1, 3, 4, 4], [node('gap', 'globalavgpool', ['x']), node('add', 'add', inputs, mode === 'sub' ? { mode } : {}), ...head(random, 'add', 48)]);
  }

  for (const mode of ['add', 'sub'] as const) {
    for (const pooledFirst of [false, true]) {
      it(`Norm (${mode}${pooledFirst ? ', broadcast operand first' : ''}): R_a = a R / stab(z), R_b = +-b R / stab(z) summed where broadcast`, async () => {
        const g = graph(mode, pooledFirst, 11);
        const input = randomArray(48, rng(12), 2);
        const eps = 0.05;
        const e = await explainCpu(g, input, gradientWith({ layer: 'add', rule: 'norm', epsilon: eps }));
        const v = naiveForward(g, input);
        const x = v.get('x')!;
        const gap = v.get('gap')!;
        const z = v.get('add')!;
        const R = fcGradient(g, v);
        const s = Float64Array.from(z.data, (zv, i) => R[i]! / stab(zv, eps));
        const sign = mode === 'sub' ? -1 : 1;
        // The pooled operand's relevance (sign * g * s summed over H, W), then the pool's gradient (an even split).
        const signG = pooledFirst ? 1 : sign;
        const signX = pooledFirst ? sign : 1;
        const rg = sumTo(bmap(gap, arr(z.shape, s), (p, q) => signG * p * q), [1, 3, 1, 1]);
        const want = Float64Array.from(x.data, (xv, i) => signX * xv * s[i]! + rg.data[Math.floor(i / 16)]! / 16);
        expect(relL2(e.relevance, want)).toBeLessThan(1e-6);
      });
    }
  }

  it('Norm on the add and the pool conserves relevance: the input receives what reached the flatten', async () => {
    for (const mode of ['add', 'sub'] as const) {
      const g = graph(mode, false, 21);
      const input = randomArray(48, rng(22), 2);
      const e = await explainCpu(g, input, gradientWith({ layer: 'add', rule: 'norm', epsilon: 1e-9 }, { layer: 'gap', rule: 'norm', epsilon: 1e-9 }));
      const atFlatten = sum(e.layers.find((l) => l.layer === 'fc')!.data);
      expect(Math.abs(sum(e.relevance) - atFlatten) / Math.abs(atFlatten)).toBeLessThan(1e-5);
    }
  });

  it('gradient: each operand gets R summed to its shape (Sub: -R for b), equal to central differences', async () => {
    for (const mode of ['add', 'sub'] as const) {
      const g = graph(mode, true, 31);
      const input = randomArray(48, rng(32), 2);
      const e = await explainCpu(g, input, { preset: 'gradient' });
      const v = naiveForward(g, input);
      const logit = v.get('fc')!.data[TARGET]!;
      const fd = numericGradient(g, input, TARGET).map((d) => d * logit);
      expect(relL2(e.relevance, fd)).toBeLessThan(1e-6);
    }
  });
});

describe('addconst: a constant that is no bias', () => {
  // x [1, 1, 2, 3] is broadcast over 3 channels by c [1, 3, 1, 1].
  function graph(sign: 1 | -1): Graph {
    const random = rng(41);
    const c = t([1, 3, 1, 1], Float32Array.from([0.7, -1.3, 0.2]));
    return graphOf('addconst', [1, 1, 2, 3], [node('addc', 'addconst', ['x'], sign === -1 ? { sign } : {}, { constant: c }), ...head(random, 'addc', 18)]);
  }
  const input = randomArray(6, rng(42), 2);

  for (const sign of [1, -1] as const) {
    it(`Norm and Epsilon (with zeroBias), sign ${sign}: R_x = sign x R / stab(z), summed over the broadcast channels`, async () => {
      const g = graph(sign);
      const v = naiveForward(g, input);
      const x = v.get('x')!;
      const z = v.get('addc')!;
      const R = fcGradient(g, v);
      for (const [rule, zeroBias, eps] of [
        ['norm', false, 0.1],
        ['epsilon', true, 0.1],
      ] as const) {
        const e = await explainCpu(g, input, gradientWith({ layer: 'addc', rule, epsilon: eps, ...(zeroBias ? { zeroBias } : {}) }));
        const xb = bmap(x, z, (p) => p);
        const terms = arr(z.shape, Array.from(z.data, (zv, i) => (sign * xb.data[i]! * R[i]!) / stab(zeroBias ? sign * xb.data[i]! : zv, eps)));
        expect(relL2(e.relevance, sumTo(terms, [1, 1, 2, 3]).data), `${rule}`).toBeLessThan(1e-6);
      }
    });
  }

  it('Norm keeps what the constant does not absorb: sum R_x + sum c R / stab(z) = sum R', async () => {
    const g = graph(1);
    const v = naiveForward(g, input);
    const z = v.get('addc')!;
    const R = fcGradient(g, v);
    const e = await explainCpu(g, input, gradientWith({ layer: 'addc', rule: 'norm', epsilon: 1e-9 }));
    const c = fromTensor(g.nodes[0]!.params.constant!);
    const absorbed = sum(bmap(c, arr(z.shape, Float64Array.from(z.data, (zv, i) => R[i]! / stab(zv, 1e-9))), (p, q) => p * q).data);
    expect(Math.abs(sum(e.relevance) + absorbed - sum(R)) / Math.abs(sum(R))).toBeLessThan(1e-6);
  });

  it('gradient: R_x = sign * R summed over the broadcast channels', async () => {
    for (const sign of [1, -1] as const) {
      const g = graph(sign);
      const e = await explainCpu(g, input, { preset: 'gradient' });
      const R = fcGradient(g, naiveForward(g, input));
      expect(relL2(e.relevance, sumTo(arr([1, 3, 2, 3], R.map((r) => sign * r)), [1, 1, 2, 3]).data)).toBeLessThan(1e-6);
    }
  });
});

describe('scale: multiplication and division by a constant', () => {
  function graph(mode: 'mul' | 'div', inputShape: number[]): Graph {
    const random = rng(51);
    const c = t([1, 2, 1, 1], Float32Array.from([1.5, -0.4]));
    return graphOf('scale', inputShape, [node('scale', 'scale', ['x'], mode === 'div' ? { mode } : {}, { constant: c }), ...head(random, 'scale', 18)]);
  }

  for (const mode of ['mul', 'div'] as const) {
    for (const inputShape of [
      [1, 2, 3, 3],
      [1, 1, 3, 3],
    ]) {
      it(`${mode} on [${inputShape}]: Pass gives R (conserved), the gradient R * c (R / c), summed where broadcast`, async () => {
        const g = graph(mode, inputShape);
        const input = randomArray(size(inputShape), rng(52), 2);
        const R = arr([1, 2, 3, 3], fcGradient(g, naiveForward(g, input)));
        const pass = await explainCpu(g, input, gradientWith({ layer: 'scale', rule: 'pass' }));
        expect(relL2(pass.relevance, sumTo(R, inputShape).data)).toBeLessThan(1e-6);
        expect(Math.abs(sum(pass.relevance) - sum(R.data)) / Math.abs(sum(R.data))).toBeLessThan(1e-6);
        const grad = await explainCpu(g, input, { preset: 'gradient' });
        const c = arr([1, 2, 1, 1], [1.5, -0.4]);
        expect(relL2(grad.relevance, sumTo(bmap(R, c, mode === 'mul' ? (p, q) => p * q : (p, q) => p / q), inputShape).data)).toBeLessThan(1e-6);
      });
    }
  }
});

describe('mul: squeeze-excitation gates', () => {
  /** x -> GAP -> Linear -> ReLU -> Linear -> Sigmoid/HardSigmoid -> reshape -> Mul with x -> fc. */
  function seGraph(gateOp: 'sigmoid' | 'hardsigmoid', gateFirst: boolean, seed: number): Graph {
    const random = rng(seed);
    const C = 4;
    return graphOf('se', [1, C, 3, 3], [
      node('gap', 'globalavgpool', ['x']),
      node('squeeze', 'reshape', ['gap'], { shape: [1, C] }),
      node('fc1', 'linear', ['squeeze'], {}, { weight: t([2, C], randomArray(2 * C, random)), bias: t([2], randomArray(2, random, 0.2)) }),
      node('relu', 'relu', ['fc1']),
      node('fc2', 'linear', ['relu'], {}, { weight: t([C, 2], randomArray(2 * C, random, 2)), bias: t([C], randomArray(C, random, 0.2)) }),
      node('act', gateOp, ['fc2'], gateOp === 'hardsigmoid' ? { alpha: 1 / 6, beta: 0.5 } : {}),
      node('unsqueeze', 'reshape', ['act'], { shape: [1, C, 1, 1] }),
      node('mul', 'mul', gateFirst ? ['unsqueeze', 'x'] : ['x', 'unsqueeze'], { gate: gateFirst ? 0 : 1 }),
      ...head(random, 'mul', C * 9),
    ]);
  }

  for (const gateOp of ['sigmoid', 'hardsigmoid'] as const) {
    for (const gateFirst of [false, true]) {
      it(`${gateOp}${gateFirst ? ', gate first' : ''}: Pass gives the signal all relevance and the gate none; the gradient equals central differences`, async () => {
        const g = seGraph(gateOp, gateFirst, 61);
        const input = randomArray(36, rng(62), 2);
        const v = naiveForward(g, input);
        const R = fcGradient(g, v);
        const pass = await explainCpu(g, input, gradientWith({ layer: 'mul', rule: 'pass' }));
        expect(relL2(pass.relevance, R)).toBeLessThan(1e-6);
        expect(Math.abs(sum(pass.relevance) - sum(R)) / Math.abs(sum(R))).toBeLessThan(1e-6);
        // The gate's branch receives nothing, so it reports no relevance at all.
        expect(pass.layers.map((l) => l.layer)).not.toContain('fc1');
        const grad = await explainCpu(g, input, { preset: 'gradient' });
        const logit = v.get('fc')!.data[TARGET]!;
        expect(relL2(grad.relevance, numericGradient(g, input, TARGET).map((d) => d * logit))).toBeLessThan(1e-6);
      });
    }
  }

  it('a gate-first mul reports no stale relevance for the gate after another program wrote it', async () => {
    const g = seGraph('sigmoid', true, 64);
    const input = randomArray(36, rng(65), 2);
    const m = await (await cpuEngine()).load(g);
    await m.explain(input, { rules: { preset: 'gradient' }, target: TARGET });
    const e = await m.explain(input, { rules: gradientWith({ layer: 'mul', rule: 'pass' }), target: TARGET });
    expect(e.layers.map((l) => l.layer)).not.toContain('mul');
    const signalFirst = await explainCpu(seGraph('sigmoid', false, 64), input, gradientWith({ layer: 'mul', rule: 'pass' }));
    expect(relL2(signalFirst.layers.find((l) => l.layer === 'mul')!.data, signalFirst.relevance)).toBeLessThan(1e-7);
    m.dispose();
  });

  it('the composites pick Pass for the gate', () => {
    const g = seGraph('sigmoid', false, 63);
    for (const id of ['EpsilonPlus', 'EpsilonGammaBox', 'captum-default']) expect(findComposite(id)!.assign(g, {}, layerClassOf).get('mul')?.rule, id).toBe('pass');
  });
});

describe('div of two computed values', () => {
  // x / (GAP(x) + 1.5): a normalisation by a computed, broadcast denominator.
  function graph(): Graph {
    const random = rng(71);
    return graphOf('div', [1, 2, 3, 3], [
      node('gap', 'globalavgpool', ['x']),
      node('shift', 'addconst', ['gap'], {}, { constant: t([1], Float32Array.from([1.5])) }),
      node('div', 'div', ['x', 'shift']),
      ...head(random, 'div', 18),
    ]);
  }
  it('Pass gives the numerator all relevance; the gradient equals central differences', async () => {
    const g = graph();
    const input = randomArray(18, rng(72), 1);
    const v = naiveForward(g, input);
    const R = fcGradient(g, v);
    const pass = await explainCpu(g, input, gradientWith({ layer: 'div', rule: 'pass' }));
    expect(relL2(pass.relevance, R)).toBeLessThan(1e-6);
    const grad = await explainCpu(g, input, { preset: 'gradient' });
    const logit = v.get('fc')!.data[TARGET]!;
    expect(relL2(grad.relevance, numericGradient(g, input, TARGET).map((d) => d * logit))).toBeLessThan(1e-6);
  });
});

describe('activations', () => {
  const cases: [string, GraphNode['op'], GraphNode['attrs']][] = [
    ['HardSigmoid', 'hardsigmoid', { alpha: 0.2, beta: 0.5 }],
    ['HardSwish', 'hardswish', { alpha: 1 / 6, beta: 0.5 }],
    ['SiLU', 'silu', {}],
    ['GELU', 'gelu', {}],
    ['GELU (tanh)', 'gelu', { approximate: 'tanh' }],
    ['erf', 'erf', {}],
  ];
  for (const [label, op, attrs] of cases) {
    it(`${label}: Pass passes R unchanged; the gradient equals central differences`, async () => {
      const random = rng(81);
      const g = graphOf(label, [1, 2, 3, 3], [node('act', op, ['x'], attrs), ...head(random, 'act', 18)]);
      const input = randomArray(18, rng(82), 4);
      const v = naiveForward(g, input);
      const pass = await explainCpu(g, input, gradientWith({ layer: 'act', rule: 'pass' }));
      expect(relL2(pass.relevance, fcGradient(g, v))).toBeLessThan(1e-6);
      const grad = await explainCpu(g, input, { preset: 'gradient' });
      const logit = v.get('fc')!.data[TARGET]!;
      expect(relL2(grad.relevance, numericGradient(g, input, TARGET).map((d) => d * logit))).toBeLessThan(1e-6);
    });
  }

  it('the composites pick Pass for them', () => {
    const g = graphOf('acts', [1, 2, 3, 3], [node('a1', 'hardswish', ['x']), node('a2', 'gelu', ['a1']), node('a3', 'silu', ['a2']), ...head(rng(1), 'a3', 18)]);
    const a = findComposite('EpsilonPlusFlat')!.assign(g, {}, layerClassOf);
    for (const l of ['a1', 'a2', 'a3']) expect(a.get(l)?.rule).toBe('pass');
  });
});

describe('a BatchNorm that cannot be merged stays a layer', () => {
  // ReLU before it: nothing to merge into (as after a Concat in DenseNet).
  function graph(): Graph {
    const random = rng(91);
    const scale = Float32Array.from([1.7, -0.6, 0.9]);
    const shift = Float32Array.from([0.3, 0.8, -0.5]);
    return graphOf('bn', [1, 3, 2, 2], [node('relu', 'relu', ['x']), node('bn', 'batchnorm', ['relu'], { epsilon: 1e-5 }, { scale: t([3], scale), shift: t([3], shift) }), ...head(random, 'bn', 12)]);
  }
  const input = randomArray(12, rng(92), 2);

  it('foldBatchNorm keeps it, and Zennit composites give it Epsilon', () => {
    const g = foldBatchNorm(graph());
    expect(g.nodes.map((n) => n.op)).toContain('batchnorm');
    expect(findComposite('EpsilonPlus')!.assign(g, {}, layerClassOf).get('bn')?.rule).toBe('epsilon');
  });

  it('Epsilon and Norm: R_a = a scale R / stab(scale a + shift); Pass: R; gradient: scale R', async () => {
    const g = foldBatchNorm(graph());
    const v = naiveForward(g, input);
    const a = v.get('relu')!;
    const z = v.get('bn')!;
    const R = fcGradient(g, v);
    const scale = g.nodes[1]!.params.scale!.data;
    const ch = (i: number) => Math.floor(i / 4) % 3;
    const relu = { layer: 'relu', rule: 'pass' } as const;
    for (const [rule, eps] of [
      ['epsilon', 0.1],
      ['norm', 0.3],
      ['captum.epsilon', 1e-9],
    ] as const) {
      const e = await explainCpu(g, input, gradientWith({ layer: 'bn', rule, epsilon: eps }, relu));
      const want = Float64Array.from(a.data, (av, i) => (av * scale[ch(i)]! * R[i]!) / stab(z.data[i]!, eps));
      expect(relL2(e.relevance, want), rule).toBeLessThan(1e-6);
    }
    const pass = await explainCpu(g, input, gradientWith({ layer: 'bn', rule: 'pass' }, relu));
    expect(relL2(pass.relevance, R)).toBeLessThan(1e-6);
    const grad = await explainCpu(g, input, gradientWith(relu));
    expect(relL2(grad.relevance, Float64Array.from(R, (r, i) => r * scale[ch(i)]!))).toBeLessThan(1e-6);
  });

  it('on the WebGPU backend too', async () => {
    const g = foldBatchNorm(graph());
    const [mc, mg] = await Promise.all([(await cpuEngine()).load(g), (await gpuEngine()).load(g)]);
    for (const rules of [{ preset: 'EpsilonPlus' }, { preset: 'captum-default' }, { preset: 'gradient' }, gradientWith({ layer: 'bn', rule: 'norm' })] as RuleAssignment[]) {
      const a = await mc.explain(input, { rules, target: TARGET });
      const b = await mg.explain(input, { rules, target: TARGET });
      expect(relL2(b.relevance, a.relevance), JSON.stringify(rules)).toBeLessThan(1e-5);
    }
    mc.dispose();
    mg.dispose();
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------------------------

describe('squeeze-excitation and every elementwise op on both backends', () => {
  /**
   * conv 3x3 -> ReLU -> SE (GAP -> conv 1x1 -> ReLU -> conv 1x1 -> Sigmoid or HardSigmoid -> Mul) -> HardSwish ->
   * scale -> addconst -> add (x / (GAP + 2)) -> GELU -> SiLU -> GAP -> fc. Zero biases on request, for conservation.
   */
  function zoo(gateOp: 'sigmoid' | 'hardsigmoid', zeroBias: boolean, seed: number): Graph {
    const random = rng(seed);
    const C = 4;
    const bias = (n: number): Record<string, Tensor> => (zeroBias ? {} : { bias: t([n], randomArray(n, random, 0.3)) });
    const conv = (name: string, input: string, o: number, c: number, k: number) =>
      node(name, 'conv2d', [input], { stride: [1, 1], pads: [k >> 1, k >> 1, k >> 1, k >> 1], dilation: [1, 1], groups: 1 }, { weight: t([o, c, k, k], randomArray(o * c * k * k, random)), ...bias(o) });
    const nodes: GraphNode[] = [
      conv('conv1', 'x', C, 3, 3),
      node('relu1', 'relu', ['conv1']),
      node('se.pool', 'globalavgpool', ['relu1']),
      conv('se.fc1', 'se.pool', 2, C, 1),
      node('se.relu', 'relu', ['se.fc1']),
      conv('se.fc2', 'se.relu', C, 2, 1),
      node('se.gate', gateOp, ['se.fc2'], gateOp === 'hardsigmoid' ? { alpha: 1 / 6, beta: 0.5 } : {}),
      node('se.mul', 'mul', ['relu1', 'se.gate'], { gate: 1 }),
    ];
    if (!zeroBias) {
      nodes.push(
        node('hswish', 'hardswish', ['se.mul'], { alpha: 1 / 6, beta: 0.5 }),
        node('layerscale', 'scale', ['hswish'], {}, { constant: t([1, C, 1, 1], randomArray(C, random)) }),
        node('shift', 'addconst', ['layerscale'], {}, { constant: t([1, 1, 1, 5], randomArray(5, random)) }),
        node('norm.pool', 'globalavgpool', ['shift']),
        node('norm.den', 'addconst', ['norm.pool'], {}, { constant: t([1], Float32Array.from([4])) }),
        node('norm.div', 'div', ['shift', 'norm.den']),
        node('res', 'add', ['norm.div', 'relu1'], { mode: 'sub' }),
        node('gelu', 'gelu', ['res']),
        node('silu', 'silu', ['gelu']),
      );
    }
    const last = nodes[nodes.length - 1]!.output;
    nodes.push(node('pool', 'globalavgpool', [last]), node('flatten', 'reshape', ['pool'], { shape: [1, C] }), node('fc', 'linear', ['flatten'], {}, { weight: t([5, C], randomArray(5 * C, random)), ...bias(5) }));
    return graphOf('zoo', [1, 3, 6, 5], nodes);
  }

  const presets: RuleAssignment[] = [
    { preset: 'captum-default' },
    { preset: 'EpsilonPlus' },
    { preset: 'EpsilonGammaBox' },
    { preset: 'gradient' },
    { preset: 'EpsilonPlus', layers: [{ layer: 'res', rule: 'gradient' }, { layer: 'se.mul', rule: 'gradient' }, { layer: 'layerscale', rule: 'gradient' }] },
  ];

  for (const gateOp of ['sigmoid', 'hardsigmoid'] as const) {
    it(`${gateOp} gate: WebGPU equals the float64 CPU backend under every preset, per layer`, async () => {
      const g = zoo(gateOp, false, 101);
      const input = randomArray(90, rng(102), 2);
      const [mc, mg] = await Promise.all([(await cpuEngine()).load(g), (await gpuEngine()).load(g)]);
      for (const rules of presets) {
        const a = await mc.explain(input, { rules, target: TARGET });
        const b = await mg.explain(input, { rules, target: TARGET });
        const name = JSON.stringify(rules);
        expect(relL2(b.logits, a.logits), `${name}: logits`).toBeLessThan(1e-5);
        expect(relL2(b.relevance, a.relevance), name).toBeLessThan(1e-4);
        a.layers.forEach((l, i) => expect(relL2(b.layers[i]!.data, l.data), `${name}: ${l.layer}`).toBeLessThan(1e-4));
        expect(a.nonFinite).toBeNull();
      }
      const v = naiveForward(g, input);
      expect(relL2(await mc.forward(input), v.get('fc')!.data)).toBeLessThan(1e-6);
      mc.dispose();
      mg.dispose();
    }, 120_000);
  }

  it('EpsilonPlus conserves relevance through a squeeze-excitation block (zero biases): sum R_input = logit', async () => {
    for (const gateOp of ['sigmoid', 'hardsigmoid'] as const) {
      const g = zoo(gateOp, true, 111);
      const input = randomArray(90, rng(112), 2).map(Math.abs);
      for (const engine of [await cpuEngine(), await gpuEngine()]) {
        const m = await engine.load(g);
        const e = await m.explain(input, { rules: { preset: 'EpsilonPlus' }, target: TARGET });
        const logit = e.logits[TARGET]!;
        expect(Math.abs(sum(e.relevance) - logit) / Math.abs(logit), `${gateOp} on ${engine.backend}`).toBeLessThan(1e-4);
        m.dispose();
      }
    }
  }, 60_000);
});
