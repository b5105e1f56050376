/**
 * The broadcast-binary, sum-to-shape and activation kernels: float64 CPU references against definitions written
 * naively here (numpy broadcasting by coordinates, erf from tabulated values, derivatives by central differences),
 * then the WebGPU kernels against the CPU references on small random cases, accumulate on and off.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActivationFn, BroadcastBinaryOp, Step } from '../../src/engine/kernels/steps';
import { activationDerivative, activationValue, erf64 } from '../../src/engine/kernels/activation';
import { broadcastShapes } from '../../src/engine/kernels/broadcast-binary';
import { randomArray, relL2, rng } from './helpers/engines';
import { cpuRun, StepGpu, Tensors } from './helpers/step-runner';

const size = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);

/** Every coordinate of a shape in row-major order. */
function coords(shape: readonly number[]): number[][] {
  const out: number[][] = [[]];
  for (const d of shape) {
    const next: number[][] = [];
    for (const c of out) for (let i = 0; i < d; i++) next.push([...c, i]);
    out.splice(0, out.length, ...next);
  }
  return out;
}

/** Flat index in `shape` of the out-coordinate `c` (right-aligned; broadcast axes read index 0). */
function indexAt(shape: readonly number[], c: readonly number[]): number {
  let idx = 0;
  for (let k = 0; k < shape.length; k++) {
    const ck = c[c.length - shape.length + k]!;
    idx = idx * shape[k]! + (shape[k] === 1 ? 0 : ck);
  }
  return idx;
}

const naiveOp = (op: BroadcastBinaryOp, a: number, b: number) =>
  op === 'add' ? a + b : op === 'subtract' ? a - b : op === 'multiply' ? a * b : op === 'divide' ? a / b : a;

/** A random pair of shapes that broadcast, rank 1 to 6, at most ~200 elements in the result. */
function shapePair(random: () => number): [number[], number[]] {
  for (;;) {
    const rank = 1 + Math.floor(random() * 6);
    const full = Array.from({ length: rank }, () => 1 + Math.floor(random() * 4));
    if (size(full) > 200) continue;
    const thin = (s: number[]) => s.map((d) => (random() < 0.4 ? 1 : d));
    let a = thin(full);
    let b = thin(full);
    // Sometimes drop leading axes of one operand (numpy right-alignment).
    if (random() < 0.3) a = a.slice(Math.floor(random() * a.length));
    if (random() < 0.3) b = b.slice(Math.floor(random() * b.length));
    if (a.length === 0) a = [1];
    if (b.length === 0) b = [1];
    return [a, b];
  }
}

const OPS: readonly BroadcastBinaryOp[] = ['add', 'subtract', 'multiply', 'divide', 'first'];
const FNS: readonly ActivationFn[] = ['hard-sigmoid', 'hard-swish', 'silu', 'gelu', 'gelu-tanh', 'erf'];

function binaryCase(seed: number, op: BroadcastBinaryOp, accumulate: boolean) {
  const random = rng(seed);
  const [sa, sb] = shapePair(random);
  const so = broadcastShapes(sa, sb)!;
  const t = new Tensors();
  const a = t.add(randomArray(size(sa), random, 2), sa);
  const bData = randomArray(size(sb), random, 2).map((v) => (op === 'divide' ? Math.sign(v || 1) * (0.5 + Math.abs(v)) : v));
  const b = op === 'first' ? null : t.add(bData, sb);
  const out = t.add(randomArray(size(so), random), so);
  const scale = random() < 0.5 ? 1 : -0.75;
  const step: Step = { kernel: 'broadcast-binary', op, a, b, out, scale, accumulate };
  return { step, t, out, sa, sb, so, scale };
}

function sumCase(seed: number, accumulate: boolean) {
  const random = rng(seed);
  const [sa, sb] = shapePair(random);
  const sx = broadcastShapes(sa, sb)!;
  const t = new Tensors();
  const x = t.add(randomArray(size(sx), random, 2), sx);
  const out = t.add(randomArray(size(sa), random), sa);
  const scale = random() < 0.5 ? 1 : -2;
  const step: Step = { kernel: 'sum-to-shape', x, out, scale, accumulate };
  return { step, t, out, sx, so: sa, scale };
}

function activationCase(seed: number, fn: ActivationFn, gradient: boolean, accumulate: boolean) {
  const random = rng(seed);
  const n = 1 + Math.floor(random() * 150);
  const t = new Tensors();
  const x = t.add(randomArray(n, random, 6));
  const r = t.add(randomArray(n, random));
  const out = t.add(randomArray(n, random));
  const [alpha, beta] = fn === 'hard-sigmoid' ? [0.2, 0.5] : [1 / 6, 0.5];
  const step: Step = { kernel: 'activation', fn, gradient, x, r: gradient ? r : null, out, accumulate, alpha, beta };
  return { step, t, out };
}

describe('float64 references against naive definitions', () => {
  it('broadcast-binary is numpy broadcasting, element by element, for every op and rank up to 6', () => {
    for (let seed = 1; seed <= 60; seed++) {
      const op = OPS[seed % OPS.length]!;
      const accumulate = seed % 3 === 0;
      const { step, t, out, sa, sb, so, scale } = binaryCase(seed, op, accumulate);
      const got = cpuRun(step, t, out);
      const [a, b, before] = [t.data[0]!, op === 'first' ? null : t.data[1]!, t.data[out.id]!];
      coords(so).forEach((c, i) => {
        const v = scale * naiveOp(op, a[indexAt(sa, c)]!, b ? b[indexAt(sb, c)]! : 0) + (accumulate ? before[i]! : 0);
        expect(got[i], `seed ${seed} ${op} [${sa}] [${sb}] at ${c}`).toBeCloseTo(v, 12);
      });
    }
  });

  it('sum-to-shape adds every position that broadcasts from an output element', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const accumulate = seed % 2 === 0;
      const { step, t, out, sx, so, scale } = sumCase(seed, accumulate);
      const got = cpuRun(step, t, out);
      const want = Float64Array.from(t.data[out.id]!).map((v) => (accumulate ? v : 0));
      const x = t.data[0]!;
      coords(sx).forEach((c, i) => (want[indexAt(so, c)]! += scale * x[i]!));
      want.forEach((v, j) => expect(got[j], `seed ${seed}: [${sx}] -> [${so}]`).toBeCloseTo(v, 12));
    }
  });

  it('erf64 matches tabulated values to 1e-15', () => {
    // Values from mpmath (30 digits), rounded to float64.
    const table: [number, number][] = [
      [0, 0],
      [1e-8, 1.1283791670955126e-8],
      [0.1, 0.1124629160182849],
      [0.5, 0.5204998778130465],
      [1, 0.8427007929497149],
      [1.5, 0.9661051464753108],
      [1.9999, 0.9953201979070294],
      [2, 0.9953222650189527],
      [2.5, 0.999593047982555],
      [3, 0.9999779095030014],
      [4, 0.9999999845827421],
      [5.9, 0.9999999999999999],
    ];
    for (const [x, v] of table) {
      expect(Math.abs(erf64(x) - v), `erf(${x})`).toBeLessThan(1.5e-15);
      expect(Math.abs(erf64(-x) + v), `erf(-${x})`).toBeLessThan(1.5e-15);
    }
  });

  it('GELU is x Phi(x) (tabulated normal CDF); tanh GELU and HardSwish at known points', () => {
    // Phi(1) = 0.8413447460685429, Phi(-2) = 0.022750131948179195.
    expect(activationValue('gelu', 1, 0, 0)).toBeCloseTo(0.8413447460685429, 14);
    expect(activationValue('gelu', -2, 0, 0)).toBeCloseTo(-2 * 0.022750131948179195, 14);
    expect(activationValue('gelu-tanh', 1, 0, 0)).toBeCloseTo(0.5 * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * 1.044715)), 14);
    expect(activationValue('hard-swish', 1.5, 1 / 6, 0.5)).toBeCloseTo(1.5 * (1.5 + 3) / 6, 14);
    expect(activationValue('hard-swish', 4, 1 / 6, 0.5)).toBe(4);
    expect(activationValue('hard-swish', -4, 1 / 6, 0.5)).toBe(-0);
    expect(activationValue('hard-sigmoid', 1, 0.2, 0.5)).toBeCloseTo(0.7, 14);
    expect(activationValue('silu', 2, 0, 0)).toBeCloseTo(2 / (1 + Math.exp(-2)), 14);
  });

  it('every derivative equals central differences of the function (away from HardSigmoid kinks)', () => {
    const random = rng(7);
    for (const fn of FNS) {
      const [alpha, beta] = fn === 'hard-sigmoid' ? [0.2, 0.5] : [1 / 6, 0.5];
      for (let k = 0; k < 200; k++) {
        const x = (random() * 2 - 1) * 6;
        if (fn.startsWith('hard') && Math.min(Math.abs(alpha * x + beta), Math.abs(alpha * x + beta - 1)) < 1e-3) continue;
        const h = 1e-5;
        const fd = (activationValue(fn, x + h, alpha, beta) - activationValue(fn, x - h, alpha, beta)) / (2 * h);
        expect(activationDerivative(fn, x, alpha, beta), `${fn}'(${x})`).toBeCloseTo(fd, 7);
      }
    }
  });
});

describe('WebGPU kernels match their float64 references', () => {
  let gpu: StepGpu;
  beforeAll(async () => {
    gpu = await StepGpu.create();
  });
  afterAll(() => gpu?.destroy());

  it('broadcast-binary: every op, random broadcast shapes up to rank 6, scale, accumulate', async () => {
    for (let seed = 100; seed < 130; seed++) {
      const op = OPS[seed % OPS.length]!;
      const { step, t, out, sa, sb } = binaryCase(seed, op, seed % 2 === 0);
      const want = cpuRun(step, t, out);
      const got = await gpu.run(step, t, out);
      expect(relL2(got, want), `seed ${seed} ${op} [${sa}] [${sb}]`).toBeLessThan(1e-6);
    }
  }, 120_000);

  it('sum-to-shape: random shapes up to rank 6, scale, accumulate', async () => {
    for (let seed = 200; seed < 220; seed++) {
      const { step, t, out, sx, so } = sumCase(seed, seed % 2 === 0);
      const want = cpuRun(step, t, out);
      const got = await gpu.run(step, t, out);
      expect(relL2(got, want), `seed ${seed} [${sx}] -> [${so}]`).toBeLessThan(1e-6);
    }
  }, 120_000);

  it('sum-to-shape over a squeeze-excitation gate: [1, C, H, W] to [1, C, 1, 1]', async () => {
    const random = rng(5);
    const t = new Tensors();
    const x = t.add(randomArray(5 * 9 * 7, random), [1, 5, 9, 7]);
    const out = t.add(new Float32Array(5), [1, 5, 1, 1]);
    const step: Step = { kernel: 'sum-to-shape', x, out, scale: 1, accumulate: false };
    const want = cpuRun(step, t, out);
    for (let c = 0; c < 5; c++) {
      let s = 0;
      for (let i = 0; i < 63; i++) s += t.data[0]![c * 63 + i]!;
      expect(want[c]).toBeCloseTo(s, 12);
    }
    expect(relL2(await gpu.run(step, t, out), want)).toBeLessThan(1e-6);
  }, 60_000);

  it('activation: every function, forward and gradient, accumulate', async () => {
    for (const [i, fn] of FNS.entries()) {
      for (const gradient of [false, true]) {
        const { step, t, out } = activationCase(300 + i * 2 + (gradient ? 1 : 0), fn, gradient, gradient && i % 2 === 0);
        const want = cpuRun(step, t, out);
        const got = await gpu.run(step, t, out);
        expect(relL2(got, want), `${fn}${gradient ? ' gradient' : ''}`).toBeLessThan(2e-6);
        // Elementwise too: float32 erf (A&S 7.1.26) is within 1.5e-7 absolute.
        got.forEach((v, j) => expect(Math.abs(v - want[j]!), `${fn}${gradient ? "'" : ''} at ${t.data[0]![j]}`).toBeLessThan(2e-6 * (1 + Math.abs(want[j]!))));
      }
    }
  }, 120_000);

  it('float32 erf and GELU over a dense grid of [-6, 6], and far out (no NaN)', async () => {
    const xs = Float32Array.from({ length: 1201 }, (_, i) => -6 + i / 100);
    const far = Float32Array.from([-1e4, -100, -30, 30, 100, 1e4]);
    for (const fn of ['erf', 'gelu', 'gelu-tanh', 'silu'] as const) {
      for (const data of [xs, far]) {
        const t = new Tensors();
        const x = t.add(data);
        const out = t.add(new Float32Array(data.length));
        const step: Step = { kernel: 'activation', fn, gradient: false, x, r: null, out, accumulate: false };
        const want = cpuRun(step, t, out);
        const got = await gpu.run(step, t, out);
        got.forEach((v, j) => expect(Math.abs(v - want[j]!), `${fn}(${data[j]})`).toBeLessThan(3e-7 * Math.max(1, Math.abs(want[j]!))));
      }
    }
  }, 60_000);
});
