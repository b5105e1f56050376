/**
 * Float32 implementations of the heavy kernels for the fast CPU backend (./fast-backend.ts): conv2d and
 * conv2d-relevance (Linear layers included: the dense geometry) as im2col / col2im in JavaScript around the WASM
 * SIMD GEMM (../wasm/fast-wasm.ts). Same step semantics as the float64 references in ../kernels/conv2d.ts and
 * conv2d-relevance.ts; the sums run in float32 and in another order, so results agree within float32 rounding.
 *
 * The rule's weight modifier is applied once: the modified weights of a 'param' tensor are copied into the WASM
 * memory on first use and kept there (per weight array and modifier); the input modifier is applied per call.
 */
import type { TensorRef } from '../program';
import { tapRanges } from '../kernels/conv2d';
import { elementwiseKernel } from '../kernels/elementwise';
import type { CpuMemory } from '../kernels/kernel';
import { isDense, type Conv2dRelevanceStep, type Conv2dStep, type ConvGeometry, type ElementwiseStep, type Step, type StepKind } from '../kernels/steps';
import { applyParamModifier, type InputModifier, type ParamModifier } from '../../rules/rule-program';
import type { WasmArena } from '../wasm/fast-wasm';

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

/**
 * im2col of one image's group: dst[((ci * kh + ky) * kw + kx) * N + oy * ow + ox] = x at the tap, 0 where the tap
 * falls in the padding. dst is the arena's view, `at` a float index.
 */
function im2col(x: Float32Array, xBase: number, g: ConvGeometry, cpg: number, rows: Int32Array, cols: Int32Array, dst: Float32Array, at: number): void {
  const plane = g.oh * g.ow;
  const kTaps = g.kh * g.kw;
  if (kTaps === 1 && g.strideH === 1 && g.strideW === 1 && g.padTop === 0 && g.padLeft === 0 && g.oh === g.h && g.ow === g.w) {
    // A 1x1 convolution with stride 1: the columns are the input itself.
    for (let i = 0, n = cpg * plane; i < n; i++) dst[at + i] = x[xBase + i]!;
    return;
  }
  dst.fill(0, at, at + cpg * kTaps * plane);
  for (let ci = 0; ci < cpg; ci++) {
    const xPlane = xBase + ci * g.h * g.w;
    for (let ky = 0; ky < g.kh; ky++) {
      for (let kx = 0; kx < g.kw; kx++) {
        const rowBase = at + (ci * kTaps + ky * g.kw + kx) * plane;
        const ox0 = cols[2 * kx]!;
        const ox1 = cols[2 * kx + 1]!;
        if (ox0 > ox1) continue;
        for (let oy = rows[2 * ky]!; oy <= rows[2 * ky + 1]!; oy++) {
          const xRow = xPlane + (oy * g.strideH + ky * g.dilH - g.padTop) * g.w + kx * g.dilW - g.padLeft;
          const d = rowBase + oy * g.ow;
          if (g.strideW === 1) for (let ox = ox0; ox <= ox1; ox++) dst[d + ox] = x[xRow + ox]!;
          else for (let ox = ox0; ox <= ox1; ox++) dst[d + ox] = x[xRow + ox * g.strideW]!;
        }
      }
    }
  }
}

/** col2im: acc (one image's group of input channels, from aBase) += the columns' taps; the transpose of im2col. */
function col2im(src: Float32Array, at: number, g: ConvGeometry, cpg: number, rows: Int32Array, cols: Int32Array, acc: Float32Array, aBase: number): void {
  const plane = g.oh * g.ow;
  const kTaps = g.kh * g.kw;
  if (kTaps === 1 && g.strideH === 1 && g.strideW === 1 && g.padTop === 0 && g.padLeft === 0 && g.oh === g.h && g.ow === g.w) {
    for (let i = 0, n = cpg * plane; i < n; i++) acc[aBase + i] = acc[aBase + i]! + src[at + i]!;
    return;
  }
  for (let ci = 0; ci < cpg; ci++) {
    const aPlane = aBase + ci * g.h * g.w;
    for (let ky = 0; ky < g.kh; ky++) {
      for (let kx = 0; kx < g.kw; kx++) {
        const rowBase = at + (ci * kTaps + ky * g.kw + kx) * plane;
        const ox0 = cols[2 * kx]!;
        const ox1 = cols[2 * kx + 1]!;
        for (let oy = rows[2 * ky]!; oy <= rows[2 * ky + 1]!; oy++) {
          const aRow = aPlane + (oy * g.strideH + ky * g.dilH - g.padTop) * g.w + kx * g.dilW - g.padLeft;
          const s = rowBase + oy * g.ow;
          for (let ox = ox0; ox <= ox1; ox++) acc[aRow + ox * g.strideW] = acc[aRow + ox * g.strideW]! + src[s + ox]!;
        }
      }
    }
  }
}

/**
 * The weights a convolution's GEMMs read (the arena's cached copy of a parameter, or the modified weights copied in
 * for this step) and two scratch blocks of `a` and `b` floats for its B and C operands.
 */
function gemmOperands(step: Conv2dStep | Conv2dRelevanceStep, mem: FastMemory, ctx: FastContext, a: number, b: number): { w: number; bAt: number; cAt: number } {
  const cached = mem.isParam(step.weight);
  const wAt = cached ? weightsIn(ctx, mem, step.weight, step.weightMod, null) : null;
  const [bAt, cAt, sAt] = ctx.arena.scratch(a, b, cached ? 0 : step.weight.size);
  return { w: wAt ?? weightsIn(ctx, mem, step.weight, step.weightMod, sAt!), bAt: bAt!, cAt: cAt! };
}

/** A grouped convolution as one GEMM per group: the group's sizes and the kernel taps' valid output ranges. */
function groupedGemm(g: Conv2dStep['geom']) {
  const cpg = g.c / g.groups;
  const opg = g.o / g.groups;
  return {
    cpg,
    opg,
    kg: cpg * g.kh * g.kw,
    plane: g.oh * g.ow,
    rows: tapRanges(g.kh, g.oh, g.h, g.strideH, g.dilH, g.padTop),
    cols: tapRanges(g.kw, g.ow, g.w, g.strideW, g.dilW, g.padLeft),
  };
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
  const { cpg, opg, kg, plane, rows, cols } = groupedGemm(g);
  const { w, bAt: colAt, cAt } = gemmOperands(step, mem, ctx, kg * plane, opg * plane);
  const f = arena.f32;
  for (let n = 0; n < g.n; n++) {
    for (let grp = 0; grp < g.groups; grp++) {
      im2col(x, (n * g.c + grp * cpg) * g.h * g.w, g, cpg, rows, cols, f, colAt >> 2);
      arena.gemm(opg, plane, kg, w + grp * opg * kg * 4, kg, 1, colAt, plane, cAt, plane, false);
      const c0 = cAt >> 2;
      for (let o = 0; o < opg; o++) {
        const oc = grp * opg + o;
        const base = (n * g.o + oc) * plane;
        const bv = bias ? bias[oc]! : 0;
        const src = c0 + o * plane;
        if (step.accumulate) for (let i = 0; i < plane; i++) out[base + i] = out[base + i]! + (f[src + i]! + bv);
        else for (let i = 0; i < plane; i++) out[base + i] = f[src + i]! + bv;
      }
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
  const acc = buffer(ctx, 1, g.n * g.c * g.h * g.w, true);
  if (isDense(g)) {
    const { w, bAt, cAt } = gemmOperands(step, mem, ctx, g.o * g.n, g.c * g.n);
    const f = arena.f32;
    // B = s^T (o x n), C = W^T B (c x n): A = W^T is W read with row stride 1, column stride c.
    const b0 = bAt >> 2;
    for (let n = 0; n < g.n; n++) for (let o = 0; o < g.o; o++) f[b0 + o * g.n + n] = s[n * g.o + o]!;
    arena.gemm(g.c, g.n, g.o, w, 1, g.c, bAt, g.n, cAt, g.n, false);
    const c0 = cAt >> 2;
    for (let n = 0; n < g.n; n++) for (let ci = 0; ci < g.c; ci++) acc[n * g.c + ci] = f[c0 + ci * g.n + n]!;
  } else {
    const { cpg, opg, kg, plane, rows, cols } = groupedGemm(g);
    const { w, bAt, cAt } = gemmOperands(step, mem, ctx, opg * plane, kg * plane);
    const f = arena.f32;
    for (let n = 0; n < g.n; n++) {
      for (let grp = 0; grp < g.groups; grp++) {
        const sFrom = (n * g.o + grp * opg) * plane;
        f.set(s.subarray(sFrom, sFrom + opg * plane), bAt >> 2);
        // C (kg x plane) = W_grp^T S_grp: W_grp (opg x kg) read transposed.
        arena.gemm(kg, plane, opg, w + grp * opg * kg * 4, 1, kg, bAt, plane, cAt, plane, false);
        col2im(f, cAt >> 2, g, cpg, rows, cols, acc, (n * g.c + grp * cpg) * g.h * g.w);
      }
    }
  }
  if (step.accumulate) for (let i = 0; i < acc.length; i++) rin[i] = rin[i]! + x[i]! * acc[i]!;
  else for (let i = 0; i < acc.length; i++) rin[i] = x[i]! * acc[i]!;
};

/**
 * The elementwise ops of CNNs (ReLU and its gradient, add, multiply, copy) as tight loops, the same arithmetic as
 * the reference (../kernels/elementwise.ts): one switch per step instead of one per element. Other ops run the
 * reference.
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
      else if (out !== a) for (let i = 0; i < n; i++) out[i] = a[i]!;
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
};

export function fastKernelFor<S extends Step>(step: S): FastKernel<S> | undefined {
  return fastKernels[step.kernel] as FastKernel<S> | undefined;
}
