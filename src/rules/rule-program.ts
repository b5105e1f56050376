/**
 * Rules as data. A rule compiles to a RuleProgram that the engine interprets the same way for every layer kind,
 * on every backend, in the spirit of Zennit's BasicHook (input modifiers, parameter modifiers, stabiliser, reducer).
 *
 * For a convolution-shaped layer (Linear, Conv2d, BatchNorm, average pools) with input a, weights w and bias b,
 * an 'lrp' program computes, for each group g:
 *   z_g[k]  = sum_terms sum_j input_t(a)[j] * weight_t(w)[j,k]  +  bias_g(b)[k]
 *   s_g[k]  = coefficient_g * mask_g(z[k]) * R[k] / stab(z_g[k])     (no division when stabilizer is null)
 *   R_in[j] += sum_terms input_t(a)[j] * sum_k weight_t(w)[j,k] * s_g[k]
 * where z is the layer's unmodified forward output and stab(d) = d + eps * sign(d), sign(0) = +1.
 */

/** How a term sees the layer input. 'low'/'high' are ZBox's bounds; padded positions are always 0. */
export type InputModifier = 'identity' | 'positive' | 'negative' | 'ones' | 'low' | 'high';

/**
 * How a term sees a parameter (weights or bias): plain * p + pos * max(p, 0) + neg * min(p, 0), or p squared, or 1,
 * or 0. Covers Captum's gamma (w + gamma w+), Zennit's up/down, ZPlus's w+ / w-, WSquare and Flat.
 */
export type ParamModifier =
  | { readonly kind: 'affine'; readonly plain: number; readonly pos: number; readonly neg: number }
  | { readonly kind: 'square' }
  | { readonly kind: 'ones' }
  | { readonly kind: 'zero' };

export interface Term {
  readonly input: InputModifier;
  readonly weight: ParamModifier;
}

/** Which outputs a group passes relevance through, judged by the sign of the unmodified forward output z. */
export type OutputMask = 'all' | 'positive' | 'negative';

export interface Group {
  readonly terms: readonly Term[];
  readonly bias: ParamModifier;
  readonly coefficient: number;
  readonly mask: OutputMask;
  /** Stabiliser epsilon, or null for no division at all (the plain gradient). */
  readonly epsilon: number | null;
}

export type RuleProgram =
  | {
      readonly kind: 'lrp';
      readonly groups: readonly Group[];
      /** Values of the 'low' and 'high' inputs (ZBox): a scalar, or one value per input channel. */
      readonly bounds?: { readonly low: number | readonly number[]; readonly high: number | readonly number[] };
      /**
       * Products of two computed values (matmul). Absent: the Softmax operand is held constant as a gate and the
       * other operand takes all relevance (CP-LRP). 'uniform': every operand gets the group's share of the epsilon
       * rule, R_A = A * (s B^T), R_B = B * (A^T s), s = coefficient R / stab(Z) (AttnLRP's uniform rule: coefficient 1/2).
       */
      readonly operands?: 'uniform';
    }
  /** Relevance passes unchanged (shape-preserving layers only). */
  | { readonly kind: 'pass' }
  /** The vector-Jacobian product: ReLU masks, MaxPool routes to the winner, AvgPool splits evenly. */
  | { readonly kind: 'gradient' };

export const identityMod: ParamModifier = { kind: 'affine', plain: 1, pos: 0, neg: 0 };
export const positiveMod: ParamModifier = { kind: 'affine', plain: 0, pos: 1, neg: 0 };
export const negativeMod: ParamModifier = { kind: 'affine', plain: 0, pos: 0, neg: 1 };
export const zeroMod: ParamModifier = { kind: 'zero' };
export const onesMod: ParamModifier = { kind: 'ones' };
export const squareMod: ParamModifier = { kind: 'square' };

export function affineMod(plain: number, pos: number, neg: number): ParamModifier {
  return { kind: 'affine', plain, pos, neg };
}

/** One group, one term with the unmodified input: the epsilon formula on a (possibly modified) layer. */
export function epsilonProgram(epsilon: number, weight: ParamModifier = identityMod, bias: ParamModifier = identityMod): RuleProgram {
  return { kind: 'lrp', groups: [{ terms: [{ input: 'identity', weight }], bias, coefficient: 1, mask: 'all', epsilon }] };
}

/** A stable key for caching modified parameters on a backend. */
export function paramModifierKey(mod: ParamModifier): string {
  return mod.kind === 'affine' ? `a${mod.plain},${mod.pos},${mod.neg}` : mod.kind;
}

export function applyParamModifier(mod: ParamModifier, p: number): number {
  switch (mod.kind) {
    case 'affine':
      return mod.plain * p + mod.pos * Math.max(p, 0) + mod.neg * Math.min(p, 0);
    case 'square':
      return p * p;
    case 'ones':
      return 1;
    case 'zero':
      return 0;
  }
}

/** True when a group is exactly the layer's own forward computation, so its z is the forward output. */
export function isPlainForward(group: Group): boolean {
  if (group.terms.length !== 1) return false;
  const [t] = group.terms;
  const plain = (m: ParamModifier) => m.kind === 'affine' && m.plain === 1 && m.pos === 0 && m.neg === 0;
  return t!.input === 'identity' && plain(t!.weight) && plain(group.bias);
}
