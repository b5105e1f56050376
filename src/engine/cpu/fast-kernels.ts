/**
 * Float32 implementations of the heavy kernels for the fast CPU backend (./fast-backend.ts): conv2d and
 * conv2d-relevance (Linear layers included: the dense geometry) as the WASM SIMD GEMM with im2col / col2im and the
 * bias in WASM too (../wasm/fast-wasm.ts), and the elementwise ops; the table at the end adds the pools, Pad / Slice
 * and the stabilised division (./fast-pool.ts, ./fast-window-copy.ts, ./fast-divide.ts). The convolutions have the
 * same step semantics as the float64 references in ../kernels/conv2d.ts and conv2d-relevance.ts; their sums run in
 * float32 and in another order, so results agree within float32 rounding.
 *
 * The rule's weight modifier is applied once: the modified weights of a 'param' tensor are copied into the WASM
 * memory on first use and kept there (per weight array and modifier); the input modifier is applied per call.
 */
import type { TensorRef } from '../program';
import { elementwiseKernel } from '../kernels/elementwise';
import type { CpuMemory } from '../kernels/kernel';
import { isDense, type Conv2dRelevanceStep, type Conv2dStep, type ConvGeometry, type ElementwiseStep, type Step, type StepKind } from '../kernels/steps';
import { applyParamModifier, type InputModifier, type ParamModifier } from '../../rules/rule-program';
import type { WasmArena } from '../wasm/fast-wasm';
import { maxPoolFast, maxPoolRelevanceFast } from './fast-pool';
import { windowCopyFast } from './fast-window-copy';
import { stabilizedDivideFast } from './fast-divide';

export interface FastMemory {
  get(ref: TensorRef): Float32Array;
  /** Whether the tensor is a parameter (constant once the param steps have run), so derived data may be cached. */
  isParam(ref: TensorRef): boolean;
  /** The whole storage the tensor lives in (get() may return a fresh prefix view of it): the cache key. */
  storage(ref: TensorRef): Float32Array;
}

/** Per runner: the arena and the cache of modified weights in it. */
export interface FastContext {
  readonly arena: WasmArena;
  /** weight storage -> (size, modifier) key -> byte address of the modified weights in the arena. */
  readonly weights: WeakMap<Float32Array, Map<string, number>>;
  /** Reusable JavaScript buffers by slot, grown as needed (no allocation, and no garbage, per call). */
  readonly buffers?: Float32Array[];
}

/** A zero-filled or stale buffer of `size` floats from the context's slot (a fresh array without buffers). */
function buffer(ctx: FastContext, slot: number, size: number, zero: boolean): Float32Array {
  const pool = ctx.buffers;
  if (!pool) return new Float32Array(size);
  let b = pool[slot];
  if (!b || b.length < size) pool[slot] = b = new Float32Array(Math.max(size, Math.ceil((b?.length ?? 0) * 1.5)));
  const view = b.length === size ? b : b.subarray(0, size);
  if (zero) view.fill(0);
  return view;
}

export type FastKernel<S extends Step> = (step: S, mem: FastMemory, ctx: FastContext) => void;

const isIdentity = (m: ParamModifier) => m.kind === 'affine' && m.plain === 1 && m.pos === 0 && m.neg === 0;

/** The weights with the modifier applied, in the arena: cached for params, written to `scratchAt` otherwise. */
function weightsIn(ctx: FastContext, mem: FastMemory, ref: TensorRef, mod: ParamModifier, scratchAt: number | null): number {
  const w = mem.get(ref);
  const write = (at: number) => {
    const f = ctx.arena.f32;
    const base = at >> 2;
    if (isIdentity(mod)) f.set(w, base);
    else if (mod.kind === 'affine') {
      const { plain, pos, neg } = mod;
      for (let i = 0; i < w.length; i++) {
        const v = w[i]!;
        f[base + i] = plain * v + pos * Math.max(v, 0) + neg * Math.min(v, 0);
      }
    } else for (let i = 0; i < w.length; i++) f[base + i] = applyParamModifier(mod, w[i]!);
  };
  if (scratchAt !== null) {
    write(scratchAt);
    return scratchAt;
  }
  const storage = mem.storage(ref);
  let byMod = ctx.weights.get(storage);
  if (!byMod) ctx.weights.set(storage, (byMod = new Map()));
  const key = `${w.length} ${JSON.stringify(mod)}`;
  let at = byMod.get(key);
  if (at === undefined) {
    at = ctx.arena.alloc(w.length);
    write(at);
    byMod.set(key, at);
  }
  return at;
}

/** The input as a term sees it (../kernels/term-modifiers.ts modifiedInput), in float32. */
export function modifiedInput32(x: Float32Array, mod: InputModifier, bounds: Float32Array | null, g: ConvGeometry, into?: Float32Array): Float32Array {
  if (mod === 'identity') return x;
  const out = into ?? new Float32Array(x.length);
  if (mod === 'positive') for (let i = 0; i < x.length; i++) out[i] = Math.max(x[i]!, 0);
  else if (mod === 'negative') for (let i = 0; i < x.length; i++) out[i] = Math.min(x[i]!, 0);
  else if (mod === 'ones') out.fill(1);
  else {
    const plane = g.h * g.w;
    const offset = mod === 'high' ? g.c : 0;
    for (let i = 0; i < x.length; i++) out[i] = bounds![offset + (Math.floor(i / plane) % g.c)]!;
  }
  return out;
}

/** A 1x1 convolution with stride 1 and no padding: its im2col columns are the input itself. */
const isPointwise = (g: ConvGeometry) => g.kh === 1 && g.kw === 1 && g.strideH === 1 && g.strideW === 1 && g.padTop === 0 && g.padLeft === 0 && g.oh === g.h && g.ow === g.w;

/**
 * The weights a convolution's GEMMs read (the arena's cached copy of a parameter, or the modified weights copied in
 * for this step) and three scratch blocks of `a`, `b` and `c` floats: its B and C operands, and one image's planes
 * (the input a convolution's im2col reads, the relevance its col2im sums into).
 */
function gemmOperands(step: Conv2dStep | Conv2dRelevanceStep, mem: FastMemory, ctx: FastContext, a: number, b: number, c = 0): { w: number; bAt: number; cAt: number; imageAt: number } {
  const cached = mem.isParam(step.weight);
  const wAt = cached ? weightsIn(ctx, mem, step.weight, step.weightMod, null) : null;
  const [bAt, cAt, imageAt, sAt] = ctx.arena.scratch(a, b, c, cached ? 0 : step.weight.size);
  return { w: wAt ?? weightsIn(ctx, mem, step.weight, step.weightMod, sAt!), bAt: bAt!, cAt: cAt!, imageAt: imageAt! };
}

/** A grouped convolution as one GEMM per group: the group's sizes. */
function groupedGemm(g: Conv2dStep['geom']) {
  const cpg = g.c / g.groups;
  return { cpg, opg: g.o / g.groups, kg: cpg * g.kh * g.kw, plane: g.oh * g.ow, image: g.c * g.h * g.w, groupPlanes: cpg * g.h * g.w };
}

export const conv2dFast: FastKernel<Conv2dStep> = (step, mem, ctx) => {
  const g = step.geom;
  const { arena } = ctx;
  const xRaw = mem.get(step.x);
  const x = modifiedInput32(xRaw, step.inputMod, step.bounds ? mem.get(step.bounds) : null, g, step.inputMod === 'identity' ? undefined : buffer(ctx, 0, xRaw.length, false));
  const bias = step.bias ? mem.get(step.bias) : null;
  const out = mem.get(step.out);
  if (isDense(g)) {
    const { w, bAt, cAt } = gemmOperands(step, mem, ctx, g.c * g.n, g.o * g.n);
    const f = arena.f32;
    // B = x^T (c x n), C = W B (o x n).
    const b0 = bAt >> 2;
    for (let n = 0; n < g.n; n++) for (let ci = 0; ci < g.c; ci++) f[b0 + ci * g.n + n] = x[n * g.c + ci]!;
    arena.gemm(g.o, g.n, g.c, w, g.c, 1, bAt, g.n, cAt, g.n, false);
    const c0 = cAt >> 2;
    for (let n = 0; n < g.n; n++) {
      for (let o = 0; o < g.o; o++) {
        const v = f[c0 + o * g.n + n]! + (bias ? bias[o]! : 0);
        const i = n * g.o + o;
        out[i] = step.accumulate ? out[i]! + v : v;
      }
    }
    return;
  }
  // Per image: its (modified) input into the arena; per group, im2col there (none for a pointwise convolution: the
  // input is the columns), the GEMM and the bias in WASM, then the group's output planes copied out in one piece.
  const { cpg, opg, kg, plane, image, groupPlanes } = groupedGemm(g);
  const pointwise = isPointwise(g);
  const { w, bAt: colAt, cAt, imageAt } = gemmOperands(step, mem, ctx, pointwise ? 0 : kg * plane, opg * plane, image + g.o);
  const biasAt = imageAt + image * 4;
  const f = arena.f32;
  if (bias) f.set(bias, biasAt >> 2);
  const c0 = cAt >> 2;
  for (let n = 0; n < g.n; n++) {
    f.set(x.subarray(n * image, (n + 1) * image), imageAt >> 2);
    for (let grp = 0; grp < g.groups; grp++) {
      const xAt = imageAt + grp * groupPlanes * 4;
      if (!pointwise) arena.im2col(xAt, cpg, g, colAt);
      arena.gemm(opg, plane, kg, w + grp * opg * kg * 4, kg, 1, pointwise ? xAt : colAt, plane, cAt, plane, false);
      if (bias) arena.addBias(cAt, opg, plane, biasAt + grp * opg * 4);
      const base = (n * g.o + grp * opg) * plane;
      const size = opg * plane;
      if (step.accumulate) for (let i = 0; i < size; i++) out[base + i] = out[base + i]! + f[c0 + i]!;
      else out.set(f.subarray(c0, c0 + size), base);
    }
  }
};

export const conv2dRelevanceFast: FastKernel<Conv2dRelevanceStep> = (step, mem, ctx) => {
  const g = step.geom;
  const { arena } = ctx;
  const xRaw = mem.get(step.x);
  const x = modifiedInput32(xRaw, step.inputMod, step.bounds ? mem.get(step.bounds) : null, g, step.inputMod === 'identity' ? undefined : buffer(ctx, 0, xRaw.length, false));
  const s = mem.get(step.s);
  const rin = mem.get(step.rin);
  if (isDense(g)) {
    const acc = buffer(ctx, 1, g.n * g.c, false);
    const { w, bAt, cAt } = gemmOperands(step, mem, ctx, g.o * g.n, g.c * g.n);
    const f = arena.f32;
    // B = s^T (o x n), C = W^T B (c x n): A = W^T is W read with row stride 1, column stride c.
    const b0 = bAt >> 2;
    for (let n = 0; n < g.n; n++) for (let o = 0; o < g.o; o++) f[b0 + o * g.n + n] = s[n * g.o + o]!;
    arena.gemm(g.c, g.n, g.o, w, 1, g.c, bAt, g.n, cAt, g.n, false);
    const c0 = cAt >> 2;
    for (let n = 0; n < g.n; n++) for (let ci = 0; ci < g.c; ci++) acc[n * g.c + ci] = f[c0 + ci * g.n + n]!;
    if (step.accumulate) for (let i = 0; i < acc.length; i++) rin[i] = rin[i]! + x[i]! * acc[i]!;
    else for (let i = 0; i < acc.length; i++) rin[i] = x[i]! * acc[i]!;
    return;
  }
  // Per image: per group, C = W_grp^T S_grp, summed into the image's planes in the arena by col2im (a pointwise
  // convolution's C is those planes: the GEMM writes them); then rin = x * the sum.
  const { cpg, opg, kg, plane, image, groupPlanes } = groupedGemm(g);
  const pointwise = isPointwise(g);
  const { w, bAt, cAt, imageAt: accAt } = gemmOperands(step, mem, ctx, opg * plane, pointwise ? 0 : kg * plane, image);
  const f = arena.f32;
  const a0 = accAt >> 2;
  for (let n = 0; n < g.n; n++) {
    if (!pointwise) f.fill(0, a0, a0 + image);
    for (let grp = 0; grp < g.groups; grp++) {
      const sFrom = (n * g.o + grp * opg) * plane;
      f.set(s.subarray(sFrom, sFrom + opg * plane), bAt >> 2);
      // C (kg x plane) = W_grp^T S_grp: W_grp (opg x kg) read transposed.
      const groupAt = accAt + grp * groupPlanes * 4;
      arena.gemm(kg, plane, opg, w + grp * opg * kg * 4, 1, kg, bAt, plane, pointwise ? groupAt : cAt, plane, false);
      if (!pointwise) arena.col2im(cAt, cpg, g, groupAt);
    }
    const base = n * image;
    if (step.accumulate) for (let i = 0; i < image; i++) rin[base + i] = rin[base + i]! + x[base + i]! * f[a0 + i]!;
    else for (let i = 0; i < image; i++) rin[base + i] = x[base + i]! * f[a0 + i]!;
  }
};

/**
 * The elementwise ops of CNNs (ReLU, leaky ReLU and their gradients, add, multiply, copy) as tight loops, the same
 * arithmetic as the reference (../kernels/elementwise.ts): one switch per step instead of one per element. Other ops
 * run the reference.
 */
export const elementwiseFast: FastKernel<ElementwiseStep> = (step, mem) => {
  const a = mem.get(step.a);
  const b = step.b ? mem.get(step.b) : null;
  const out = mem.get(step.out);
  const n = out.length;
  const acc = step.accumulate;
  switch (step.op) {
    case 'relu':
      if (acc) for (let i = 0; i < n; i++) out[i] = out[i]! + Math.max(a[i]!, 0);
      else for (let i = 0; i < n; i++) out[i] = Math.max(a[i]!, 0);
      return;
    case 'relu-gradient':
      if (b) {
        if (acc) for (let i = 0; i < n; i++) out[i] = out[i]! + (a[i]! > 0 ? b[i]! : 0);
        else for (let i = 0; i < n; i++) out[i] = a[i]! > 0 ? b[i]! : 0;
        return;
      }
      break;
    case 'leaky-relu': {
      const slope = step.p0 ?? 0;
      if (acc) for (let i = 0; i < n; i++) out[i] = out[i]! + (a[i]! > 0 ? a[i]! : slope * a[i]!);
      else for (let i = 0; i < n; i++) out[i] = a[i]! > 0 ? a[i]! : slope * a[i]!;
      return;
    }
    case 'leaky-relu-gradient':
      if (b) {
        const slope = step.p0 ?? 0;
        if (acc) for (let i = 0; i < n; i++) out[i] = out[i]! + (a[i]! > 0 ? b[i]! : slope * b[i]!);
        else for (let i = 0; i < n; i++) out[i] = a[i]! > 0 ? b[i]! : slope * b[i]!;
        return;
      }
      break;
    case 'add':
      if (b) {
        if (acc) for (let i = 0; i < n; i++) out[i] = out[i]! + (a[i]! + b[i]!);
        else for (let i = 0; i < n; i++) out[i] = a[i]! + b[i]!;
        return;
      }
      break;
    case 'multiply':
      if (b) {
        if (acc) for (let i = 0; i < n; i++) out[i] = out[i]! + a[i]! * b[i]!;
        else for (let i = 0; i < n; i++) out[i] = a[i]! * b[i]!;
        return;
      }
      break;
    case 'copy':
      if (acc) for (let i = 0; i < n; i++) out[i] = out[i]! + a[i]!;
      else if (out !== a) out.set(a.length === n ? a : a.subarray(0, n));
      return;
    default:
      break;
  }
  elementwiseKernel.cpu(step, mem as unknown as CpuMemory);
};

/** The kernels with a float32 implementation; the others run their float64 reference code on float32 memory. */
export const fastKernels: { readonly [K in StepKind]?: FastKernel<Extract<Step, { kernel: K }>> } = {
  conv2d: conv2dFast,
  'conv2d-relevance': conv2dRelevanceFast,
  elementwise: elementwiseFast,
  maxpool2d: maxPoolFast,
  'maxpool2d-relevance': maxPoolRelevanceFast,
  'window-copy': windowCopyFast,
  'stabilized-divide': stabilizedDivideFast,
};

export function fastKernelFor<S extends Step>(step: S): FastKernel<S> | undefined {
  return fastKernels[step.kernel] as FastKernel<S> | undefined;
}
