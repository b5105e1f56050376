/**
 * Activations beyond the elementwise kernel's: HardSigmoid, HardSwish, SiLU, GELU (exact and tanh) and erf, with
 * their derivatives. Forward: out = f(x). Gradient: out (+)= r * f'(x).
 * The float64 reference needs erf, which JavaScript lacks: erf64 below (series, and a continued fraction for the
 * tail). The shader's float32 erf is Abramowitz & Stegun 7.1.26 (absolute error at most 1.5e-7), with the Taylor
 * series near 0 where the relative error matters (src/shaders/activation.wgsl).
 */
import shader from '../../shaders/activation.wgsl?raw';
import type { KernelDef } from './kernel';
import { defineParams } from './uniforms';
import type { ActivationFn, ActivationStep } from './steps';

const fnCode: Record<ActivationFn, number> = { 'hard-sigmoid': 0, 'hard-swish': 1, silu: 2, gelu: 3, 'gelu-tanh': 4, erf: 5 };

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/**
 * erf in float64 to about 1e-15: the Maclaurin series for |x| < 2 (terms fall below 1e-17 of the sum; the largest
 * term is under e^4 times the result, so cancellation costs under two digits), else 1 - erfc(x) with erfc from its
 * continued fraction erfc(x) = exp(-x^2) / sqrt(pi) / (x + (1/2) / (x + 1 / (x + (3/2) / (x + ...)))) (Abramowitz
 * & Stegun 7.1.14), evaluated by the modified Lentz method.
 */
export function erf64(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax < 2) {
    const x2 = x * x;
    let term = x; // (-1)^n x^(2n+1) / n!
    let sum = x;
    for (let n = 1; n < 200; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return TWO_OVER_SQRT_PI * sum;
  }
  if (ax > 6) return Math.sign(x);
  const tiny = 1e-300;
  let f = ax;
  let c = ax;
  let d = 0;
  for (let k = 1; k < 500; k++) {
    const a = k / 2;
    d = ax + a * d;
    d = Math.abs(d) < tiny ? tiny : d;
    d = 1 / d;
    c = ax + a / c;
    c = Math.abs(c) < tiny ? tiny : c;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const GELU_TANH_C = 0.044715;
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** f(x) in float64; alpha and beta: HardSigmoid's (and HardSwish's) clamp(alpha x + beta, 0, 1). */
export function activationValue(fn: ActivationFn, x: number, alpha: number, beta: number): number {
  switch (fn) {
    case 'hard-sigmoid':
      return Math.min(Math.max(alpha * x + beta, 0), 1);
    case 'hard-swish':
      return x * Math.min(Math.max(alpha * x + beta, 0), 1);
    case 'silu':
      return x * sigmoid(x);
    case 'gelu':
      return 0.5 * x * (1 + erf64(x / Math.SQRT2));
    case 'gelu-tanh':
      return 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + GELU_TANH_C * x * x * x)));
    case 'erf':
      return erf64(x);
  }
}

/** f'(x) in float64 (at HardSigmoid's kinks, the one-sided value of the flat side: 0 outside the open ramp). */
export function activationDerivative(fn: ActivationFn, x: number, alpha: number, beta: number): number {
  switch (fn) {
    case 'hard-sigmoid': {
      const t = alpha * x + beta;
      return t > 0 && t < 1 ? alpha : 0;
    }
    case 'hard-swish': {
      const t = alpha * x + beta;
      return Math.min(Math.max(t, 0), 1) + (t > 0 && t < 1 ? alpha * x : 0);
    }
    case 'silu': {
      const s = sigmoid(x);
      return s * (1 + x * (1 - s));
    }
    case 'gelu':
      return 0.5 * (1 + erf64(x / Math.SQRT2)) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI);
    case 'gelu-tanh': {
      const t = Math.tanh(SQRT_2_OVER_PI * (x + GELU_TANH_C * x * x * x));
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * GELU_TANH_C * x * x);
    }
    case 'erf':
      return TWO_OVER_SQRT_PI * Math.exp(-x * x);
  }
}

const params = defineParams([['total', 'u32'], ['alpha', 'f32'], ['beta', 'f32']]);

export const activationKernel: KernelDef<ActivationStep> = {
  kind: 'activation',
  cpu(step, mem) {
    const x = mem.get(step.x);
    if (step.gradient && !step.r) throw new Error('activation: the gradient needs the relevance r');
    const r = step.r ? mem.get(step.r) : null;
    const out = mem.get(step.out);
    const alpha = step.alpha ?? 0;
    const beta = step.beta ?? 0;
    for (let i = 0; i < out.length; i++) {
      const v = step.gradient ? r![i]! * activationDerivative(step.fn, x[i]!, alpha, beta) : activationValue(step.fn, x[i]!, alpha, beta);
      out[i] = step.accumulate ? out[i]! + v : v;
    }
  },
  gpu: {
    shader,
    params,
    overrides: (s) => ({ FN: fnCode[s.fn], GRADIENT: s.gradient ? 1 : 0, ACCUMULATE: s.accumulate ? 1 : 0 }),
    uniforms: (s) => params.pack({ total: s.out.size, alpha: s.alpha ?? 0, beta: s.beta ?? 0 }),
    bindings: (s) => [s.x, s.r, s.out],
    invocations: (s) => s.out.size,
  },
};
