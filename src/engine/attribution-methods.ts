/**
 * Gradient baselines, on either backend: the gradient of the target logit is the relevance pass under the
 * 'gradient' preset (every layer its vector-Jacobian product) seeded with 1 at the target (ExplainOptions.seed
 * 'one'; with a contrast target, -1 there: the gradient of the logit difference).
 *
 * - Gradient x Input (Simonyan et al. 2014, "Deep Inside Convolutional Networks"; Shrikumar et al. 2016, "Not Just
 *   a Black Box"): x * df/dx.
 * - SmoothGrad (Smilkov et al. 2017, "SmoothGrad: removing noise by adding noise"): the mean gradient over n noisy
 *   copies x + N(0, sigma^2), sigma = noiseLevel * (max x - min x); optionally times the input.
 * - Integrated Gradients (Sundararajan et al. 2017, "Axiomatic Attribution for Deep Networks"):
 *   (x - x') * integral_0^1 df/dx(x' + a (x - x')) da, the integral as a Riemann sum over `steps` points: 'midpoint'
 *   (a_k = (k - 1/2) / m, k = 1..m, weights 1/m) or 'trapezoid' (a_k = k / m, k = 0..m, weights 1/m, halved at both
 *   ends; m + 1 gradients). Completeness: the attributions sum to f(x) - f(x') up to the quadrature's error.
 *
 * Each gradient is one explanation (batch 1: the relevance pass has no batch dimension), so SmoothGrad and IG cost
 * one forward and one relevance pass per sample or step. On WebGPU they go 8 at a time through explainMany (one
 * submission and readback per 8, see forEachGradient); on the CPU backends one after the other.
 */
import type { BackendKind, LoadedModel } from './api';
import { seededRandom } from '../evaluation/random';

/** Every layer through its gradient: the relevance pass is then the backward pass of autodiff. */
export const GRADIENT_RULES = { preset: 'gradient' } as const;

export interface GradientOptions {
  /** Class whose logit is differentiated; default: the top class of the input. */
  readonly target?: number;
  /** Differentiate the target's logit minus this class's. */
  readonly contrastTarget?: number;
  readonly signal?: AbortSignal;
  /** Told after each gradient: how many are done of how many. */
  readonly onProgress?: (done: number, total: number) => void;
}

export interface SmoothGradOptions extends GradientOptions {
  /** Noisy samples (default 25). */
  readonly samples?: number;
  /** Noise standard deviation as a fraction of the input's range, max - min (default 0.15). */
  readonly noiseLevel?: number;
  /** Seed of the noise (mulberry32 with Box-Muller; default 0): the same seed gives the same result. */
  readonly seed?: number;
  /** Multiply the mean gradient by the input (SmoothGrad x Input; default false: the mean gradient). */
  readonly multiplyByInput?: boolean;
}

export type IntegrationRule = 'midpoint' | 'trapezoid';

export interface IntegratedGradientsOptions extends GradientOptions {
  /** Points of the Riemann sum (default 50). */
  readonly steps?: number;
  /** Reference input x' (default all zeros); same size as the input. */
  readonly baseline?: Float32Array;
  /** Default 'midpoint'. */
  readonly rule?: IntegrationRule;
}

export type AttributionMethod = 'gradient' | 'gradient-x-input' | 'smoothgrad' | 'integrated-gradients';

export interface Attribution {
  readonly method: AttributionMethod;
  /** The class differentiated. */
  readonly target: number;
  /** Logits of the input itself. */
  readonly logits: Float32Array;
  /** One value per input element (the input's shape). */
  readonly attribution: Float32Array;
  /** How many gradients were computed (explanations run). */
  readonly gradients: number;
  readonly backend: BackendKind;
  /**
   * Integrated Gradients only: f(x) - f(x') of the differentiated logit (difference), and the attributions' sum
   * minus it (completeness gap: the quadrature's error).
   */
  readonly completeness?: { readonly expected: number; readonly delta: number };
}

/** The target logit (minus the contrast's) of a row of logits. */
function objective(logits: ArrayLike<number>, target: number, contrast: number | undefined): number {
  return logits[target]! - (contrast !== undefined && contrast !== target ? logits[contrast]! : 0);
}

/**
 * df/dx at x (Explanation.relevance) for the target (the top class of x when not given), with x's logits. An aborted
 * signal makes the explanation reject with the engine's AbortError.
 */
function gradientAt(model: LoadedModel, x: Float32Array, options: GradientOptions, target = options.target) {
  return model.explain(x, {
    rules: GRADIENT_RULES,
    seed: 'one',
    layerRelevance: false,
    ...(target !== undefined ? { target } : {}),
    ...(options.contrastTarget !== undefined ? { contrastTarget: options.contrastTarget } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
}

/** Gradients per GPU submission for SmoothGrad and IG: explainMany (one command encoder for all) in chunks this long. */
const GPU_CHUNK = 8;

/**
 * The gradient at each point, handed to `each` in order (SmoothGrad's samples, IG's path points). On WebGPU the
 * points go GPU_CHUNK at a time through the model's explainMany: one submission and one readback per chunk instead of
 * per point, with the same values as one explain each (gpu-backend.ts runMany equals run). Elsewhere, one explain per
 * point, so progress moves after every gradient (the CPU backends gain nothing from a chunk).
 */
async function forEachGradient(
  model: LoadedModel,
  points: (k: number) => Float32Array,
  count: number,
  options: GradientOptions,
  target: number,
  each: (k: number, gradient: Float32Array) => void,
): Promise<void> {
  const chunk = model.backend === 'webgpu' && model.explainMany ? GPU_CHUNK : 1;
  for (let start = 0; start < count; start += chunk) {
    const ks = Array.from({ length: Math.min(chunk, count - start) }, (_, j) => start + j);
    if (chunk === 1) {
      each(start, (await gradientAt(model, points(start), options, target)).relevance);
    } else {
      const inputs = ks.map((k) => points(k).slice());
      const explained = await model.explainMany!(inputs, {
        rules: GRADIENT_RULES,
        seed: 'one',
        layerRelevance: false,
        targets: ks.map(() => target),
        ...(options.contrastTarget !== undefined ? { contrastTarget: options.contrastTarget } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      ks.forEach((k, j) => each(k, explained[j]!.relevance));
    }
    options.onProgress?.(start + ks.length, count);
  }
}

/** The plain gradient of the target logit with respect to the input (Simonyan et al. 2014). */
export async function inputGradient(model: LoadedModel, input: Float32Array, options: GradientOptions = {}): Promise<Attribution> {
  const e = await gradientAt(model, input, options);
  options.onProgress?.(1, 1);
  return { method: 'gradient', target: e.target, logits: e.logits, attribution: e.relevance, gradients: 1, backend: model.backend };
}

/** Gradient x Input: x_i * df/dx_i. */
export async function gradientTimesInput(model: LoadedModel, input: Float32Array, options: GradientOptions = {}): Promise<Attribution> {
  const e = await gradientAt(model, input, options);
  options.onProgress?.(1, 1);
  const attribution = new Float32Array(input.length);
  for (let i = 0; i < input.length; i++) attribution[i] = input[i]! * e.relevance[i]!;
  return { method: 'gradient-x-input', target: e.target, logits: e.logits, attribution, gradients: 1, backend: model.backend };
}

/** Standard normal numbers from a seeded uniform source (Box-Muller). */
export function gaussianNoise(seed: number): () => number {
  const uniform = seededRandom(seed);
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    const u1 = Math.max(uniform(), Number.MIN_VALUE);
    const u2 = uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  };
}

const positiveInteger = (name: string, v: number) => {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
};

/** SmoothGrad: the mean gradient over noisy copies of the input (the target fixed to the clean input's). */
export async function smoothGrad(model: LoadedModel, input: Float32Array, options: SmoothGradOptions = {}): Promise<Attribution> {
  const samples = options.samples ?? 25;
  const noiseLevel = options.noiseLevel ?? 0.15;
  positiveInteger('samples', samples);
  if (!(Number.isFinite(noiseLevel) && noiseLevel >= 0)) throw new RangeError(`noiseLevel must be a non-negative number, got ${noiseLevel}`);
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of input) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const sigma = noiseLevel * (hi - lo);
  const noise = gaussianNoise(options.seed ?? 0);
  // The clean input fixes the target and gives the logits reported.
  const logits = await model.forward(input);
  let target = options.target;
  if (target === undefined) {
    target = 0;
    for (let k = 1; k < logits.length; k++) if (logits[k]! > logits[target]!) target = k;
  }
  const sum = new Float64Array(input.length);
  const noisy = new Float32Array(input.length);
  // The noise is drawn in sample order, as the points are asked for.
  const point = () => {
    for (let i = 0; i < input.length; i++) noisy[i] = input[i]! + sigma * noise();
    return noisy;
  };
  await forEachGradient(model, point, samples, options, target, (_, g) => {
    for (let i = 0; i < input.length; i++) sum[i]! += g[i]!;
  });
  const attribution = new Float32Array(input.length);
  for (let i = 0; i < input.length; i++) attribution[i] = (sum[i]! / samples) * (options.multiplyByInput ? input[i]! : 1);
  return { method: 'smoothgrad', target, logits, attribution, gradients: samples, backend: model.backend };
}

/** The points a_k and weights w_k of the Riemann sum of integral_0^1 g(a) da. */
export function integrationPoints(steps: number, rule: IntegrationRule): { alphas: number[]; weights: number[] } {
  positiveInteger('steps', steps);
  if (rule === 'midpoint') return { alphas: Array.from({ length: steps }, (_, k) => (k + 0.5) / steps), weights: new Array<number>(steps).fill(1 / steps) };
  if (rule === 'trapezoid') {
    return {
      alphas: Array.from({ length: steps + 1 }, (_, k) => k / steps),
      weights: Array.from({ length: steps + 1 }, (_, k) => (k === 0 || k === steps ? 0.5 : 1) / steps),
    };
  }
  throw new RangeError(`rule must be "midpoint" or "trapezoid", got ${String(rule)}`);
}

/** Integrated Gradients along the straight path from the baseline to the input. */
export async function integratedGradients(model: LoadedModel, input: Float32Array, options: IntegratedGradientsOptions = {}): Promise<Attribution> {
  const baseline = options.baseline ?? new Float32Array(input.length);
  if (baseline.length !== input.length) throw new RangeError(`the baseline has ${baseline.length} values, the input ${input.length}`);
  const { alphas, weights } = integrationPoints(options.steps ?? 50, options.rule ?? 'midpoint');
  const logits = await model.forward(input);
  const baseLogits = await model.forward(baseline);
  let target = options.target;
  if (target === undefined) {
    target = 0;
    for (let k = 1; k < logits.length; k++) if (logits[k]! > logits[target]!) target = k;
  }
  const sum = new Float64Array(input.length);
  const point = new Float32Array(input.length);
  const pathPoint = (k: number) => {
    const a = alphas[k]!;
    for (let i = 0; i < input.length; i++) point[i] = baseline[i]! + a * (input[i]! - baseline[i]!);
    return point;
  };
  await forEachGradient(model, pathPoint, alphas.length, options, target, (k, g) => {
    const w = weights[k]!;
    for (let i = 0; i < input.length; i++) sum[i]! += w * g[i]!;
  });
  const attribution = new Float32Array(input.length);
  let total = 0;
  for (let i = 0; i < input.length; i++) {
    const v = (input[i]! - baseline[i]!) * sum[i]!;
    attribution[i] = v;
    total += v;
  }
  const expected = objective(logits, target, options.contrastTarget) - objective(baseLogits, target, options.contrastTarget);
  return {
    method: 'integrated-gradients',
    target,
    logits,
    attribution,
    gradients: alphas.length,
    backend: model.backend,
    completeness: { expected, delta: total - expected },
  };
}
