/**
 * Random convolution steps for the kernel tests (the WebGPU fast kernels in kernels-fast.test.ts, the cpu-fast WASM
 * kernels in cpu-fast-kernels.test.ts), compared with the float64 references: the case, its geometry, the
 * conv2d / conv2d-relevance step pair with random tensors, and the error measure.
 */
import fc from 'fast-check';
import type { Conv2dRelevanceStep, Conv2dStep, ConvGeometry, ConvVariant } from '../../../src/engine/kernels/steps';
import { affineMod, identityMod, negativeMod, onesMod, positiveMod, squareMod, zeroMod, type InputModifier, type ParamModifier } from '../../../src/rules/rule-program';
import { randomArray, relL2, rng } from './engines';
import { Tensors } from './step-runner';

export const INPUT_MODS: readonly InputModifier[] = ['identity', 'positive', 'negative', 'ones', 'low', 'high'];
/** Every kind of weight modifier the rules use (w, w+, w-, gamma's w + 0.25 w+, up/down's mix, WSquare, Flat, 0). */
export const WEIGHT_MODS: readonly ParamModifier[] = [identityMod, positiveMod, negativeMod, affineMod(1, 0.25, 0), affineMod(0, 2, -1), squareMod, onesMod, zeroMod];

export interface ConvCase {
  n: number;
  cpg: number;
  opg: number;
  groups: number;
  h: number;
  w: number;
  kh: number;
  kw: number;
  stride: [number, number];
  /** top, left, bottom, right */
  pads: [number, number, number, number];
  dilation: [number, number];
  bias: boolean;
  inputMod: InputModifier;
  weightMod: ParamModifier;
  accumulate: boolean;
  seed: number;
}

/** The fields of a random case, output channels per group up to `maxOpg` (modifiers, bias, accumulate included). */
export function convCaseFields(maxOpg: number) {
  return {
    n: fc.integer({ min: 1, max: 2 }),
    cpg: fc.integer({ min: 1, max: 40 }),
    opg: fc.integer({ min: 1, max: maxOpg }),
    groups: fc.integer({ min: 1, max: 3 }),
    h: fc.integer({ min: 1, max: 14 }),
    w: fc.integer({ min: 1, max: 14 }),
    kh: fc.integer({ min: 1, max: 4 }),
    kw: fc.integer({ min: 1, max: 4 }),
    stride: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
    pads: fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })),
    dilation: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
    bias: fc.boolean(),
    inputMod: fc.constantFrom(...INPUT_MODS),
    weightMod: fc.constantFrom(...WEIGHT_MODS),
    accumulate: fc.boolean(),
    seed: fc.integer({ min: 1, max: 1 << 30 }),
  };
}

/** The kernel fits inside the padded input (at least one output row and column). */
export const hasOutput = (k: Pick<ConvCase, 'h' | 'w' | 'kh' | 'kw' | 'pads' | 'dilation'>): boolean => k.h + k.pads[0] + k.pads[2] > k.dilation[0] * (k.kh - 1) && k.w + k.pads[1] + k.pads[3] > k.dilation[1] * (k.kw - 1);

export function convGeometry(k: ConvCase): ConvGeometry {
  const oh = Math.floor((k.h + k.pads[0] + k.pads[2] - k.dilation[0] * (k.kh - 1) - 1) / k.stride[0]) + 1;
  const ow = Math.floor((k.w + k.pads[1] + k.pads[3] - k.dilation[1] * (k.kw - 1) - 1) / k.stride[1]) + 1;
  return {
    n: k.n,
    c: k.cpg * k.groups,
    h: k.h,
    w: k.w,
    o: k.opg * k.groups,
    oh,
    ow,
    kh: k.kh,
    kw: k.kw,
    strideH: k.stride[0],
    strideW: k.stride[1],
    padTop: k.pads[0],
    padLeft: k.pads[1],
    dilH: k.dilation[0],
    dilW: k.dilation[1],
    groups: k.groups,
  };
}

/** The case's conv2d and conv2d-relevance steps over random tensors (x, weights, bias, bounds, s, out, rin). */
export function convSteps(k: ConvCase, variant?: ConvVariant): { forward: Conv2dStep; relevance: Conv2dRelevanceStep; tensors: Tensors } {
  const g = convGeometry(k);
  const random = rng(k.seed);
  const t = new Tensors();
  const x = t.add(randomArray(g.n * g.c * g.h * g.w, random, 2));
  const weight = t.add(randomArray(g.o * k.cpg * g.kh * g.kw, random));
  const bias = k.bias ? t.add(randomArray(g.o, random, 0.5)) : null;
  const low = randomArray(g.c, random, 1).map((v) => -Math.abs(v) - 0.1);
  const high = randomArray(g.c, random, 1).map((v) => Math.abs(v) + 0.1);
  const bounds = k.inputMod === 'low' || k.inputMod === 'high' ? t.add(Float32Array.from([...low, ...high])) : null;
  const s = t.add(randomArray(g.n * g.o * g.oh * g.ow, random));
  const out = t.add(randomArray(g.n * g.o * g.oh * g.ow, random));
  const rin = t.add(randomArray(g.n * g.c * g.h * g.w, random));
  const common = { geom: g, x, weight, weightMod: k.weightMod, bounds, inputMod: k.inputMod, accumulate: k.accumulate, ...(variant ? { variant } : {}) };
  return { forward: { kernel: 'conv2d', ...common, bias, out }, relevance: { kernel: 'conv2d-relevance', ...common, s, rin }, tensors: t };
}

/**
 * ||got - want|| relative to the size of what was summed: with accumulate on, the result is the tensor's earlier
 * contents plus the new values, and float32 rounds that sum relative to its parts, not to a result that cancels.
 */
export function accumulatedError(got: Float32Array, want: ArrayLike<number>, before: Float32Array, accumulate: boolean): number {
  if (!accumulate) return relL2(got, want);
  let d = 0;
  let n = 0;
  for (let i = 0; i < want.length; i++) {
    d += (got[i]! - want[i]!) ** 2;
    n += want[i]! ** 2 + before[i]! ** 2;
  }
  return Math.sqrt(d / n);
}
