/**
 * A rule term's input and weight modifiers, applied inside the convolution kernels (src/shaders/term-modifiers.wgsl)
 * rather than stored as modified copies: ZPlus, AlphaBeta, Gamma, WSquare and Flat then cost no memory beyond the
 * layer's own weights, and a rule change no parameter pass. The CPU references apply the same modifiers (in
 * float64) to what they read.
 */
import termModifiersShader from '../../shaders/term-modifiers.wgsl?raw';
import type { InputModifier, ParamModifier } from '../../rules/rule-program';
import type { UniformValues } from './uniforms';
import type { ConvGeometry } from './steps';

/** The shader with modify_input() and weight_at() prepended (WGSL has no includes; declarations may come in any order). */
export const withTermModifiers = (shader: string): string => `${termModifiersShader}\n${shader}`;

/** The input as a rule's term sees it, at a real (unpadded) position of channel ch. */
export function modifyInput(mod: InputModifier, v: number, ch: number, bounds: Float64Array | null, channels: number): number {
  switch (mod) {
    case 'identity':
      return v;
    case 'positive':
      return Math.max(v, 0);
    case 'negative':
      return Math.min(v, 0);
    case 'ones':
      return 1;
    case 'low':
      return bounds![ch]!;
    case 'high':
      return bounds![channels + ch]!;
  }
}

/** The input as a term sees it, over the whole tensor (padded positions are the loops' concern: they read none). */
export function modifiedInput(x: Float64Array, mod: InputModifier, bounds: Float64Array | null, g: ConvGeometry): Float64Array {
  if (mod === 'identity') return x;
  const out = new Float64Array(x.length);
  if (mod === 'positive') for (let i = 0; i < x.length; i++) out[i] = Math.max(x[i]!, 0);
  else if (mod === 'negative') for (let i = 0; i < x.length; i++) out[i] = Math.min(x[i]!, 0);
  else if (mod === 'ones') out.fill(1);
  else {
    // ZBox's bounds: one value per channel, the same over the channel's plane.
    const plane = g.h * g.w;
    for (let i = 0; i < x.length; i++) out[i] = modifyInput(mod, x[i]!, Math.floor(i / plane) % g.c, bounds, g.c);
  }
  return out;
}

const isIdentity = (m: ParamModifier) => m.kind === 'affine' && m.plain === 1 && m.pos === 0 && m.neg === 0;

/** The six wm_ fields that end the Params of every shader that uses weight_at() (term-modifiers.wgsl). */
export const WEIGHT_MOD_FIELDS = [
  ['wm_identity', 'u32'],
  ['wm_plain', 'f32'],
  ['wm_pos', 'f32'],
  ['wm_neg', 'f32'],
  ['wm_square', 'f32'],
  ['wm_constant', 'f32'],
] as const;

/** The values of WEIGHT_MOD_FIELDS for a weight modifier. */
export function weightModUniforms(m: ParamModifier): UniformValues<typeof WEIGHT_MOD_FIELDS> {
  const [plain, pos, neg, square, constant] =
    m.kind === 'affine' ? [m.plain, m.pos, m.neg, 0, 0] : m.kind === 'square' ? [0, 0, 0, 1, 0] : m.kind === 'ones' ? [0, 0, 0, 0, 1] : [0, 0, 0, 0, 0];
  return { wm_identity: isIdentity(m) ? 1 : 0, wm_plain: plain, wm_pos: pos, wm_neg: neg, wm_square: square, wm_constant: constant };
}

/**
 * The weights as the CPU reference reads them: the array itself for the identity, else a modified copy (a plain
 * loop per kind: a callback per weight would cost more than a small layer's convolution).
 */
export function modifiedWeights(w: Float64Array, m: ParamModifier): Float64Array {
  if (isIdentity(m)) return w;
  const out = new Float64Array(w.length);
  if (m.kind === 'affine') {
    const { plain, pos, neg } = m;
    for (let i = 0; i < w.length; i++) {
      const v = w[i]!;
      out[i] = plain * v + pos * Math.max(v, 0) + neg * Math.min(v, 0);
    }
  } else if (m.kind === 'square') {
    for (let i = 0; i < w.length; i++) out[i] = w[i]! * w[i]!;
  } else if (m.kind === 'ones') {
    out.fill(1);
  }
  return out;
}
