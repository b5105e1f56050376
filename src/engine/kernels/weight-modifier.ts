/**
 * A rule's weight modifier applied inside the convolution kernels (src/shaders/weight-modifier.wgsl) rather than
 * stored as a modified copy of the weights: ZPlus, AlphaBeta, Gamma, WSquare and Flat then cost no memory beyond
 * the layer's own weights, and a rule change no parameter pass. The CPU references apply the same modifier
 * (applyParamModifier's formula, in float64) to the weights they read.
 */
import weightModifierShader from '../../shaders/weight-modifier.wgsl?raw';
import type { ParamModifier } from '../../rules/rule-program';
import type { UniformField } from './kernel';

/** The shader with weight_at() prepended (WGSL has no includes; declarations may come in any order). */
export const withWeightModifier = (shader: string): string => `${weightModifierShader}\n${shader}`;

const isIdentity = (m: ParamModifier) => m.kind === 'affine' && m.plain === 1 && m.pos === 0 && m.neg === 0;

/** The six wm_ fields that end the Params of every shader that uses weight_at(). */
export function weightModUniforms(m: ParamModifier): UniformField[] {
  const [plain, pos, neg, square, constant] =
    m.kind === 'affine' ? [m.plain, m.pos, m.neg, 0, 0] : m.kind === 'square' ? [0, 0, 0, 1, 0] : m.kind === 'ones' ? [0, 0, 0, 0, 1] : [0, 0, 0, 0, 0];
  return [['u', isIdentity(m) ? 1 : 0], ['f', plain], ['f', pos], ['f', neg], ['f', square], ['f', constant]];
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
