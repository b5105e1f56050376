/**
 * Gradient baselines (engine/attribution-methods.ts) on both backends: the gradient against central differences of
 * a float64 forward pass written in the test, Gradient x Input, SmoothGrad and Integrated Gradients against the same
 * differences combined as their definitions say, and IG's completeness as the steps grow.
 */
import { describe, expect, it } from 'vitest';
import {
  gaussianNoise,
  gradientTimesInput,
  inputGradient,
  integratedGradients,
  smoothGrad,
  type Engine,
} from '../../src/engine/index';
import { seededRandom } from '../../src/evaluation/random';
import { cpuEngine, gpuEngine, randomArray, relL2, rng } from './helpers/engines';
import { tinyForward, tinyNet, type TinyNet } from './helpers/tiny-net';

const smooth = tinyNet(31, 'tanh', { c: 2, o: 3, h: 3, w: 4, k: 2, pad: 0, classes: 4 });
const relu = tinyNet(32, 'relu', { c: 2, o: 3, h: 4, w: 4, k: 3, pad: 1, classes: 3 });
const size = (net: TinyNet) => net.c * net.h * net.w;

/** The target logit (minus the contrast's) of the float64 forward pass. */
function objective(net: TinyNet, x: ArrayLike<number>, target: number, contrast?: number): number {
  const l = tinyForward(net, x).logits;
  return l[target]! - (contrast === undefined ? 0 : l[contrast]!);
}

/** Central differences in float64, step 1e-5. */
function numericGradient(net: TinyNet, x: ArrayLike<number>, target: number, contrast?: number): Float64Array {
  const h = 1e-5;
  const p = Float64Array.from(x);
  const g = new Float64Array(p.length);
  for (let i = 0; i < p.length; i++) {
    const v = p[i]!;
    p[i] = v + h;
    const up = objective(net, p, target, contrast);
    p[i] = v - h;
    const down = objective(net, p, target, contrast);
    p[i] = v;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

function argmax(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[best]!) best = i;
  return best;
}

/** Integrated gradients from the definition: (x - x') times the Riemann sum of the gradient along the path. */
function referenceIG(net: TinyNet, x: Float32Array, baseline: Float32Array, target: number, steps: number, rule: 'midpoint' | 'trapezoid'): Float64Array {
  const acc = new Float64Array(x.length);
  const points = rule === 'midpoint' ? steps : steps + 1;
  for (let k = 0; k < points; k++) {
    const alpha = rule === 'midpoint' ? (k + 0.5) / steps : k / steps;
    const weight = rule === 'midpoint' || (k > 0 && k < steps) ? 1 / steps : 0.5 / steps;
    // The path point is formed in float32, as the engine's input is.
    const point = Float32Array.from(x, (v, i) => baseline[i]! + alpha * (v - baseline[i]!));
    numericGradient(net, point, target).forEach((g, i) => (acc[i]! += weight * g));
  }
  return acc.map((g, i) => g * (x[i]! - baseline[i]!));
}

describe.each([
  ['cpu', cpuEngine],
  ['webgpu', gpuEngine],
] as [string, () => Promise<Engine>][])('gradient baselines on %s', (backendName, engine) => {
  const tol = backendName === 'cpu' ? 1e-6 : 1e-4;

  it('the gradient and Gradient x Input against central differences (tanh and ReLU networks, contrast)', async () => {
    for (const net of [smooth, relu]) {
      const model = await (await engine()).load(net.graph);
      const x = randomArray(size(net), rng(net.convB.length + 5), 1.2);
      const top = argmax(tinyForward(net, x).logits);
      const g = await inputGradient(model, x);
      expect(g.target).toBe(top);
      expect(relL2(g.attribution, numericGradient(net, x, top)), `${net.act}: gradient`).toBeLessThan(tol);
      const gx = await gradientTimesInput(model, x, { target: 1 });
      const want = numericGradient(net, x, 1).map((v, i) => v * x[i]!);
      expect(relL2(gx.attribution, want), `${net.act}: gradient x input`).toBeLessThan(tol);
      const contrast = await inputGradient(model, x, { target: 0, contrastTarget: 2 });
      expect(relL2(contrast.attribution, numericGradient(net, x, 0, 2)), `${net.act}: contrast`).toBeLessThan(tol);
      // The LRP seed is untouched: the same call without seed 'one' scales the gradient by the logit.
      const lrp = await model.explain(x, { rules: { preset: 'gradient' }, target: 1 });
      const logit = tinyForward(net, x).logits[1]!;
      expect(relL2(lrp.relevance, numericGradient(net, x, 1).map((v) => v * logit))).toBeLessThan(tol);
      model.dispose();
    }
  });

  it('Integrated Gradients equals the Riemann sum of the definition (midpoint, trapezoid; zero and given baselines)', async () => {
    const model = await (await engine()).load(smooth.graph);
    const x = randomArray(size(smooth), rng(41), 1.5);
    const given = randomArray(size(smooth), rng(42), 0.5);
    for (const rule of ['midpoint', 'trapezoid'] as const) {
      for (const baseline of [new Float32Array(x.length), given]) {
        const ig = await integratedGradients(model, x, { target: 2, steps: 6, rule, baseline });
        expect(ig.gradients).toBe(rule === 'midpoint' ? 6 : 7);
        expect(relL2(ig.attribution, referenceIG(smooth, x, baseline, 2, 6, rule)), rule).toBeLessThan(tol);
      }
    }
    model.dispose();
  });

  it('Integrated Gradients completeness: the sum approaches f(x) - f(baseline) as the steps grow', async () => {
    const model = await (await engine()).load(smooth.graph);
    const x = randomArray(size(smooth), rng(43), 2);
    const baseline = randomArray(size(smooth), rng(44), 0.3);
    const target = argmax(tinyForward(smooth, x).logits);
    const expected = objective(smooth, x, target) - objective(smooth, baseline, target);
    const gaps: number[] = [];
    for (const steps of [1, 4, 16, 64]) {
      const ig = await integratedGradients(model, x, { steps, baseline });
      expect(ig.target).toBe(target);
      expect(ig.completeness!.expected).toBeCloseTo(expected, 4);
      const total = ig.attribution.reduce((s, v) => s + v, 0);
      expect(ig.completeness!.delta).toBeCloseTo(total - ig.completeness!.expected, 4);
      gaps.push(Math.abs(total - expected));
    }
    // The midpoint rule's error falls as 1/steps^2 on a smooth path (here 0.50, 2.4e-4, 1.1e-4, 6.7e-6 for an
    // expected 0.374: 16x from 1 to 64 steps would be the asymptotic rate).
    const message = `gaps ${gaps.join(', ')}`;
    expect(gaps[0]!, message).toBeGreaterThan(1e-2 * Math.abs(expected)); // one step is visibly off: the test can tell
    expect(gaps[1]!, message).toBeLessThan(gaps[0]! / 10);
    expect(gaps[3]!, message).toBeLessThan(gaps[1]! / 10);
    expect(gaps[3]!, message).toBeLessThan(1e-4 * Math.abs(expected) + 1e-5);
    model.dispose();
  });

  it('SmoothGrad equals the mean gradient over the seeded noise; deterministic per seed', async () => {
    const model = await (await engine()).load(smooth.graph);
    const x = randomArray(size(smooth), rng(51), 1.5);
    const samples = 5;
    const noiseLevel = 0.2;
    const sg = await smoothGrad(model, x, { samples, noiseLevel, seed: 7, target: 3 });
    // The documented noise: mulberry32(seed), Box-Muller pairs (cos first, then sin), sigma = level * (max - min).
    const uniform = seededRandom(7);
    const normals: number[] = [];
    while (normals.length < samples * x.length) {
      const u1 = uniform();
      const u2 = uniform();
      const r = Math.sqrt(-2 * Math.log(u1));
      normals.push(r * Math.cos(2 * Math.PI * u2), r * Math.sin(2 * Math.PI * u2));
    }
    const sigma = noiseLevel * (Math.max(...x) - Math.min(...x));
    const want = new Float64Array(x.length);
    for (let s = 0; s < samples; s++) {
      const noisy = Float32Array.from(x, (v, i) => v + sigma * normals[s * x.length + i]!);
      numericGradient(smooth, noisy, 3).forEach((g, i) => (want[i]! += g / samples));
    }
    expect(relL2(sg.attribution, want)).toBeLessThan(tol);
    expect(sg.gradients).toBe(samples);
    const again = await smoothGrad(model, x, { samples, noiseLevel, seed: 7, target: 3 });
    expect(Array.from(again.attribution)).toEqual(Array.from(sg.attribution));
    const other = await smoothGrad(model, x, { samples, noiseLevel, seed: 8, target: 3 });
    expect(relL2(other.attribution, sg.attribution)).toBeGreaterThan(1e-3);
    const times = await smoothGrad(model, x, { samples, noiseLevel, seed: 7, target: 3, multiplyByInput: true });
    expect(relL2(times.attribution, want.map((v, i) => v * x[i]!))).toBeLessThan(tol);
    const noNoise = await smoothGrad(model, x, { samples: 2, noiseLevel: 0, target: 3 });
    expect(relL2(noNoise.attribution, numericGradient(smooth, x, 3))).toBeLessThan(tol);
    model.dispose();
  });

  it('refuses bad parameters', async () => {
    const model = await (await engine()).load(smooth.graph);
    const x = new Float32Array(size(smooth));
    await expect(integratedGradients(model, x, { steps: 0 })).rejects.toThrow(/steps must be a positive integer/);
    await expect(integratedGradients(model, x, { baseline: new Float32Array(3) })).rejects.toThrow(/baseline has 3 values/);
    await expect(smoothGrad(model, x, { samples: 1.5 })).rejects.toThrow(/samples must be a positive integer/);
    await expect(smoothGrad(model, x, { noiseLevel: -1 })).rejects.toThrow(/noiseLevel/);
    model.dispose();
  });
});

describe('gaussianNoise', () => {
  it('is standard normal: mean 0, variance 1, a normal share within one sigma', () => {
    const next = gaussianNoise(3);
    const n = 40000;
    const v = Array.from({ length: n }, next);
    const mean = v.reduce((s, x) => s + x, 0) / n;
    const variance = v.reduce((s, x) => s + (x - mean) ** 2, 0) / n;
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(Math.abs(variance - 1)).toBeLessThan(0.03);
    expect(Math.abs(v.filter((x) => Math.abs(x) < 1).length / n - 0.6827)).toBeLessThan(0.01);
  });
});
