/**
 * Forward and LRP relevance for every convolution-shaped layer (Linear, Conv2d, BatchNorm, average pools):
 * one implementation of the rule-program interpretation, driven by the layer's geometry and parameters.
 */
import { identityMod, isPlainForward, type Group } from '../../rules/rule-program';
import type { TensorRef } from '../program';
import type { ConvGeometry, ConvVariant } from '../kernels/steps';
import { forwardGemmShape, GEMM_TILE, GEMV_COLUMNS, GEMV_ROWS, isDense, relevanceGemmShape, type GemmShape } from '../kernels/conv2d-fast';
import { shapeSize } from '../graph';
import { fail, type ForwardContext, type RelevanceContext } from './op';

export interface ConvLayer {
  readonly geom: ConvGeometry;
  readonly weight: TensorRef;
  readonly bias: TensorRef | null;
  /**
   * A factor per output element applied after the convolution (average pools whose divisor varies by window:
   * count_include_pad=0, ceil mode): z = scale * conv(x, w). Relevance then uses z_g * scale and s_g * scale.
   */
  readonly outScale?: TensorRef;
}

/** Largest workgroup count per dimension every WebGPU device supports (maxComputeWorkgroupsPerDimension). */
const MAX_WORKGROUPS = 65535;
/** Largest batch the GEMV kernels take (they read the weights once per batch row). */
const GEMV_MAX_BATCH = 8;
/** The GEMV dispatches: O/8 (forward) and C/64 (relevance) workgroups along x. */
const GEMV_ROWS_LIMIT = GEMV_ROWS * MAX_WORKGROUPS;
const GEMV_COLUMNS_LIMIT = GEMV_COLUMNS * MAX_WORKGROUPS;
/** Smallest M, N and K for which the 64x64 GEMM tiles pay (below, most of a tile would be padding). */
const GEMM_MIN_DIM = 16;

/**
 * The GPU kernel for a conv2d (forward) or conv2d-relevance step of this geometry; undefined: the direct kernel.
 * - Linear layers (1x1 on 1x1, ungrouped) with a batch of at most 8: the GEMV kernels.
 * - Otherwise the implicit GEMM when its per-group M, N and K are all at least 16 (forward: M = O/groups,
 *   N = batch*OH*OW, K = C/groups*KH*KW; relevance, per stride phase: M = C/groups, N = batch*ceil(H/sh)*ceil(W/sw),
 *   K = O/groups*taps) and the tiles fit the dispatch limits.
 * - The direct kernels for the rest: depthwise and grouped convolutions with few channels per group (BatchNorm
 *   kept as a layer, average pools), and layers with a tiny M, N or K.
 */
export function selectConvVariant(g: ConvGeometry, pass: 'forward' | 'relevance'): ConvVariant | undefined {
  if (isDense(g) && g.n <= GEMV_MAX_BATCH && g.o <= GEMV_ROWS_LIMIT && g.c <= GEMV_COLUMNS_LIMIT) return 'gemv';
  const shape: GemmShape = pass === 'forward' ? forwardGemmShape(g) : relevanceGemmShape(g);
  const fits = Math.ceil(shape.n / GEMM_TILE) <= MAX_WORKGROUPS && Math.ceil(shape.m / GEMM_TILE) <= MAX_WORKGROUPS && shape.groups <= MAX_WORKGROUPS;
  if (fits && shape.m >= GEMM_MIN_DIM && shape.n >= GEMM_MIN_DIM && shape.k >= GEMM_MIN_DIM) return 'gemm';
  return undefined;
}

export function emitConvForward(ctx: ForwardContext, layer: ConvLayer): TensorRef {
  const out = ctx.b.tensor(ctx.outShape, layer.outScale ? `${ctx.node.name}:unscaled` : `${ctx.node.name}:out`);
  ctx.b.emit('forward', {
    kernel: 'conv2d',
    geom: layer.geom,
    x: ctx.inputs[0]!,
    weight: layer.weight,
    weightMod: identityMod,
    bias: layer.bias,
    bounds: null,
    inputMod: 'identity',
    out,
    accumulate: false,
    ...variantField(selectConvVariant(layer.geom, 'forward')),
  });
  if (!layer.outScale) return out;
  const scaled = ctx.b.tensor(ctx.outShape, `${ctx.node.name}:out`);
  ctx.b.emit('forward', { kernel: 'elementwise', op: 'multiply', a: out, b: layer.outScale, out: scaled, accumulate: false });
  return scaled;
}

/** The step field for a variant (absent for the direct kernel, so those steps look as before). */
const variantField = (variant: ConvVariant | undefined): { variant?: ConvVariant } => (variant ? { variant } : {});

/** ZBox's bounds as one tensor [low per channel, high per channel]. */
function boundsTensor(ctx: RelevanceContext, channels: number): TensorRef | null {
  if (ctx.program.kind !== 'lrp' || !ctx.program.bounds) return null;
  const data = new Float32Array(2 * channels);
  const fill = (v: number | readonly number[], offset: number, what: string) => {
    if (typeof v === 'number') data.fill(v, offset, offset + channels);
    else if (v.length === channels) data.set(v, offset);
    else fail(ctx.node, `ZBox ${what} has ${v.length} values but the layer has ${channels} input channels`);
  };
  fill(ctx.program.bounds.low, 0, 'low');
  fill(ctx.program.bounds.high, channels, 'high');
  const key = `bounds:${ctx.node.name}:${Array.from(data).join(',')}`;
  return ctx.b.param(key, { shape: [2 * channels], data });
}

/**
 * A rule's groups for an input that is never negative (after a ReLU: OpDef.nonNegative): a term on its negative part
 * reads x- = min(x, 0) = 0 and adds exactly 0 to z and to the relevance, so it is left out, and one on its positive
 * part reads x+ = x, so it reads x itself. ZPlus, Gamma and AlphaBeta then run half their convolutions and no
 * input modifier, with the same values. A group left without terms passes no relevance and is dropped; where every
 * group would be, the rule is kept as it is (the input's relevance must be written).
 */
export function withoutZeroTerms(groups: readonly Group[]): readonly Group[] {
  const kept = groups
    .map((g) => ({ ...g, terms: g.terms.filter((t) => t.input !== 'negative').map((t) => (t.input === 'positive' ? { ...t, input: 'identity' as const } : t)) }))
    .filter((g) => g.terms.length > 0);
  return kept.length ? kept : groups;
}

export function emitConvRelevance(ctx: RelevanceContext, layer: ConvLayer): void {
  const { b, program } = ctx;
  const x = ctx.inputs[0]!;
  const xView = b.view(x, [layer.geom.n, layer.geom.c, layer.geom.h, layer.geom.w]);
  if (program.kind === 'pass') {
    if (shapeSize(x.shape) !== ctx.r.size) fail(ctx.node, 'relevance cannot pass unchanged through a layer that changes shape');
    ctx.pass(0, ctx.r);
    return;
  }
  const groups: readonly Group[] =
    program.kind === 'gradient'
      ? [{ terms: [{ input: 'ones', weight: { kind: 'affine', plain: 1, pos: 0, neg: 0 } }], bias: { kind: 'zero' }, coefficient: 1, mask: 'all', epsilon: null }]
      : ctx.nonNegativeInputs[0]
        ? withoutZeroTerms(program.groups)
        : program.groups;
  const forwardVariant = variantField(selectConvVariant(layer.geom, 'forward'));
  const relevanceVariant = variantField(selectConvVariant(layer.geom, 'relevance'));
  const bounds = boundsTensor(ctx, layer.geom.c);
  const needsBounds = groups.some((g) => g.terms.some((t) => t.input === 'low' || t.input === 'high'));
  if (needsBounds && !bounds) fail(ctx.node, 'rule uses ZBox bounds but none were given');
  for (const group of groups) {
    let z = ctx.output;
    if (group.epsilon !== null && !isPlainForward(group)) {
      z = b.tensor(ctx.output.shape, `${ctx.node.name}:z`);
      group.terms.forEach((term, i) => {
        const bias = i === 0 && layer.bias && group.bias.kind !== 'zero' ? b.modified(layer.bias, group.bias) : null;
        b.emit('relevance', {
          kernel: 'conv2d',
          geom: layer.geom,
          x: xView,
          weight: layer.weight,
          weightMod: term.weight,
          bias,
          bounds,
          inputMod: term.input,
          out: z,
          accumulate: i > 0,
          ...forwardVariant,
        });
      });
    }
    if (layer.outScale && z !== ctx.output) {
      const zScaled = b.tensor(ctx.output.shape, `${ctx.node.name}:z`);
      b.emit('relevance', { kernel: 'elementwise', op: 'multiply', a: z, b: layer.outScale, out: zScaled, accumulate: false });
      z = zScaled;
    }
    let s = b.tensor(ctx.output.shape, `${ctx.node.name}:s`);
    b.emit('relevance', {
      kernel: 'stabilized-divide',
      r: ctx.r,
      z,
      zref: ctx.output,
      s,
      epsilon: group.epsilon,
      coefficient: group.coefficient,
      mask: group.mask,
    });
    if (layer.outScale) {
      const sScaled = b.tensor(ctx.output.shape, `${ctx.node.name}:s`);
      b.emit('relevance', { kernel: 'elementwise', op: 'multiply', a: s, b: layer.outScale, out: sScaled, accumulate: false });
      s = sScaled;
    }
    for (const term of group.terms) {
      const t = ctx.target(0);
      b.emit('relevance', {
        kernel: 'conv2d-relevance',
        geom: layer.geom,
        x: xView,
        weight: layer.weight,
        weightMod: term.weight,
        s,
        bounds,
        inputMod: term.input,
        rin: b.view(t.ref, xView.shape),
        accumulate: t.accumulate,
        ...relevanceVariant,
      });
    }
  }
}
