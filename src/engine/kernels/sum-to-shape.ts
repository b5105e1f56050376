/**
 * The reverse of broadcasting: out[j] (+)= scale * sum of x over the positions of x's shape that broadcast from j
 * (out's shape broadcasts to x's, right-aligned, rank up to 6). Relevance and gradients of broadcast operands.
 * With equal shapes it is a scaled copy.
 */
import shader from '../../shaders/sum-to-shape.wgsl?raw';
import type { KernelDef } from './kernel';
import { defineParams } from './uniforms';
import type { SumToShapeStep } from './steps';
import { broadcastsTo, MAX_BROADCAST_RANK, padShape } from './broadcast-binary';

function check(step: SumToShapeStep): void {
  const ok = step.x.shape.length <= MAX_BROADCAST_RANK || step.x.shape.slice(0, step.x.shape.length - MAX_BROADCAST_RANK).every((d) => d === 1);
  if (!ok || !broadcastsTo(step.out.shape, step.x.shape)) {
    throw new Error(`sum-to-shape: [${step.out.shape.join(', ')}] does not broadcast to [${step.x.shape.join(', ')}] (rank at most ${MAX_BROADCAST_RANK})`);
  }
}

/** Rank-6 geometry: out's extents, the summed extents (x's where out has 1, else 1), x's row-major strides. */
export function sumGeometry(step: SumToShapeStep): { odims: number[]; rdims: number[]; xstrides: number[]; count: number } {
  const xd = padShape(step.x.shape);
  const od = padShape(step.out.shape);
  const rdims = xd.map((d, k) => (od[k] === 1 ? d : 1));
  const xstrides = new Array<number>(MAX_BROADCAST_RANK);
  let stride = 1;
  for (let k = MAX_BROADCAST_RANK - 1; k >= 0; k--) {
    xstrides[k] = stride;
    stride *= xd[k]!;
  }
  return { odims: od, rdims, xstrides, count: rdims.reduce((p, d) => p * d, 1) };
}

/** Six per-axis values padded to eight (an array<vec4u, 2>). */
const vec8 = (v: readonly number[]): number[] => [...v, 0, 0];

/** total: out's size; count: positions summed per output; odims, rdims, xs: as sumGeometry. */
const params = defineParams([
  ['total', 'u32'],
  ['count', 'u32'],
  ['scale', 'f32'],
  ['odims', 'array<vec4u, 2>'],
  ['rdims', 'array<vec4u, 2>'],
  ['xs', 'array<vec4u, 2>'],
]);

export const sumToShapeKernel: KernelDef<SumToShapeStep> = {
  kind: 'sum-to-shape',
  cpu(step, mem) {
    check(step);
    const x = mem.get(step.x);
    const out = mem.get(step.out);
    const { odims, rdims, xstrides, count } = sumGeometry(step);
    for (let j = 0; j < out.length; j++) {
      let rem = j;
      let base = 0;
      for (let k = MAX_BROADCAST_RANK - 1; k >= 0; k--) {
        base += (rem % odims[k]!) * xstrides[k]!;
        rem = Math.floor(rem / odims[k]!);
      }
      let acc = 0;
      for (let r = 0; r < count; r++) {
        let rr = r;
        let at = base;
        for (let k = MAX_BROADCAST_RANK - 1; k >= 0; k--) {
          at += (rr % rdims[k]!) * xstrides[k]!;
          rr = Math.floor(rr / rdims[k]!);
        }
        acc += x[at]!;
      }
      const v = step.scale * acc;
      out[j] = step.accumulate ? out[j]! + v : v;
    }
  },
  gpu: {
    shader,
    params,
    overrides: (s) => ({ ACCUMULATE: s.accumulate ? 1 : 0 }),
    uniforms: (s) => {
      check(s);
      const g = sumGeometry(s);
      return params.pack({ total: s.out.size, count: g.count, scale: s.scale, odims: vec8(g.odims), rdims: vec8(g.rdims), xs: vec8(g.xstrides) });
    },
    bindings: (s) => [s.x, s.out],
    invocations: (s) => s.out.size,
  },
};
