/**
 * Max pooling, forward and relevance, for the fast CPU backend: the float64 references of ../kernels/maxpool2d.ts
 * visit each window through a callback, which dominated darknet-tiny's explanation on cpu-fast. These are the same
 * arithmetic as tight loops: the same window scan order and tie rule (the first maximum), a float64 accumulator for
 * the relevance, the same stabiliser. Run on the same float32 memory, they give the reference's results bit for bit
 * (tests/unit/cpu-fast-kernels.test.ts).
 */
import type { TensorRef } from '../program';
import { stabilize } from '../kernels/kernel';
import type { MaxPoolRelevanceStep, MaxPoolStep, PoolGeometry } from '../kernels/steps';

interface PoolMemory {
  get(ref: TensorRef): Float32Array;
}

/** Index within the plane of window (oy, ox)'s first maximum in scan order; -1 for a window wholly in the padding. */
function winner(g: PoolGeometry, x: Float32Array, base: number, oy: number, ox: number): number {
  const iy0 = oy * g.strideH - g.padTop;
  const ix0 = ox * g.strideW - g.padLeft;
  let best = -Infinity;
  let at = -1;
  for (let ky = 0; ky < g.kh; ky++) {
    const iy = iy0 + ky * g.dilH;
    if (iy < 0 || iy >= g.h) continue;
    const row = iy * g.w;
    for (let kx = 0; kx < g.kw; kx++) {
      const ix = ix0 + kx * g.dilW;
      if (ix < 0 || ix >= g.w) continue;
      const v = x[base + row + ix]!;
      if (at < 0 || v > best) {
        best = v;
        at = row + ix;
      }
    }
  }
  return at;
}

/** Whether every window lies wholly inside the input (no padding reached): no bounds checks needed. */
const inside = (g: PoolGeometry) =>
  g.padTop === 0 && g.padLeft === 0 && (g.oh - 1) * g.strideH + (g.kh - 1) * g.dilH < g.h && (g.ow - 1) * g.strideW + (g.kw - 1) * g.dilW < g.w;

/** winner() of a 2x2 window with dilation 1 wholly inside the input, unrolled: the same scan order and tie rule. */
function winner2x2(g: PoolGeometry, x: Float32Array, base: number, oy: number, ox: number): number {
  let at = oy * g.strideH * g.w + ox * g.strideW;
  let best = x[base + at]!;
  const right = at + 1;
  const below = at + g.w;
  let v = x[base + right]!;
  if (v > best) {
    best = v;
    at = right;
  }
  v = x[base + below]!;
  if (v > best) {
    best = v;
    at = below;
  }
  v = x[base + below + 1]!;
  return v > best ? below + 1 : at;
}

/** The winner function for this geometry: the unrolled 2x2 one where it applies. */
const winnerFor = (g: PoolGeometry) => (g.kh === 2 && g.kw === 2 && g.dilH === 1 && g.dilW === 1 && inside(g) ? winner2x2 : winner);

export function maxPoolFast(step: MaxPoolStep, mem: PoolMemory): void {
  const g = step.geom;
  const x = mem.get(step.x);
  const out = mem.get(step.out);
  const plane = g.h * g.w;
  const find = winnerFor(g);
  let o = 0;
  for (let p = 0; p < g.n * g.c; p++) {
    const base = p * plane;
    for (let oy = 0; oy < g.oh; oy++) for (let ox = 0; ox < g.ow; ox++) out[o++] = x[base + find(g, x, base, oy, ox)]!;
  }
}

/** The float64 accumulator, grown as needed: kernels run one at a time on their thread. */
let accumulator = new Float64Array(0);

export function maxPoolRelevanceFast(step: MaxPoolRelevanceStep, mem: PoolMemory): void {
  const g = step.geom;
  const x = mem.get(step.x);
  const r = mem.get(step.r);
  const rin = mem.get(step.rin);
  if (accumulator.length < rin.length) accumulator = new Float64Array(rin.length);
  const acc = accumulator;
  acc.fill(0, 0, rin.length);
  const plane = g.h * g.w;
  const find = winnerFor(g);
  let o = 0;
  for (let p = 0; p < g.n * g.c; p++) {
    const base = p * plane;
    for (let oy = 0; oy < g.oh; oy++) {
      for (let ox = 0; ox < g.ow; ox++) {
        const at = base + find(g, x, base, oy, ox);
        acc[at] = acc[at]! + r[o++]!;
      }
    }
  }
  const eps = step.epsilon;
  const n = rin.length;
  if (eps === null) {
    if (step.accumulate) for (let i = 0; i < n; i++) rin[i] = rin[i]! + acc[i]!;
    else for (let i = 0; i < n; i++) rin[i] = acc[i]!;
    return;
  }
  for (let i = 0; i < n; i++) {
    const d = stabilize(x[i]!, eps);
    const v = d === 0 ? 0 : (acc[i]! * x[i]!) / d;
    rin[i] = step.accumulate ? rin[i]! + v : v;
  }
}
