import shader from '../../shaders/strided-copy.wgsl?raw';
import type { KernelDef } from './kernel';
import { defineParams } from './uniforms';
import type { StridedCopyStep } from './steps';

/** The largest rank a strided copy takes. */
export const STRIDED_COPY_RANK = 6;

/** Row-major strides of a shape. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length);
  let s = 1;
  for (let a = shape.length - 1; a >= 0; a--) {
    out[a] = s;
    s *= shape[a]!;
  }
  return out;
}

/** A plain strided copy: every index of `shape`, no source window (start 0, step 1, count = shape). */
export function plainCopy(
  fields: Pick<StridedCopyStep, 'x' | 'out' | 'shape' | 'dstOffset' | 'dstStrides' | 'srcOffset' | 'srcStrides' | 'accumulate'>,
): StridedCopyStep {
  return { kernel: 'strided-copy', ...fields, start: fields.shape.map(() => 0), step: fields.shape.map(() => 1), count: fields.shape };
}

/** The six values of a per-axis field, leading axes filled (rank < 6 is right-aligned). */
function pad6(v: readonly number[], fill: number): number[] {
  if (v.length > STRIDED_COPY_RANK) throw new Error(`strided copy: rank ${v.length} exceeds ${STRIDED_COPY_RANK}`);
  return [...new Array<number>(STRIDED_COPY_RANK - v.length).fill(fill), ...v, 0, 0].slice(0, 8);
}

/** Each per-axis field is rank 6 padded to 8 (an array<vec4i, 2>). */
const params = defineParams([
  ['shape', 'array<vec4i, 2>'],
  ['dst_strides', 'array<vec4i, 2>'],
  ['src_strides', 'array<vec4i, 2>'],
  ['start', 'array<vec4i, 2>'],
  ['step', 'array<vec4i, 2>'],
  ['count', 'array<vec4i, 2>'],
  ['dst_offset', 'i32'],
  ['src_offset', 'i32'],
  ['total', 'u32'],
]);

export const stridedCopyKernel: KernelDef<StridedCopyStep> = {
  kind: 'strided-copy',
  cpu(step, mem) {
    const x = mem.get(step.x);
    const out = mem.get(step.out);
    const rank = step.shape.length;
    const o = new Array<number>(rank).fill(0);
    let total = 1;
    for (const d of step.shape) total *= d;
    for (let i = 0; i < total; i++) {
      let rest = i;
      for (let a = rank - 1; a >= 0; a--) {
        o[a] = rest % step.shape[a]!;
        rest = Math.floor(rest / step.shape[a]!);
      }
      let d = step.dstOffset;
      let s = step.srcOffset;
      let inside = true;
      for (let a = 0; a < rank; a++) {
        d += o[a]! * step.dstStrides[a]!;
        const t = o[a]! - step.start[a]!;
        const q = Math.floor(t / step.step[a]!);
        inside &&= t >= 0 && t % step.step[a]! === 0 && q < step.count[a]!;
        s += q * step.srcStrides[a]!;
      }
      const v = inside ? x[s]! : 0;
      out[d] = step.accumulate ? out[d]! + v : v;
    }
  },
  gpu: {
    shader,
    params,
    overrides: (s) => ({ ACCUMULATE: s.accumulate ? 1 : 0 }),
    uniforms: (s) =>
      params.pack({
        shape: pad6(s.shape, 1),
        dst_strides: pad6(s.dstStrides, 0),
        src_strides: pad6(s.srcStrides, 0),
        start: pad6(s.start, 0),
        step: pad6(s.step, 1),
        count: pad6(s.count, 1),
        dst_offset: s.dstOffset,
        src_offset: s.srcOffset,
        total: s.shape.reduce((a, b) => a * b, 1),
      }),
    bindings: (s) => [s.x, s.out],
    invocations: (s) => s.shape.reduce((a, b) => a * b, 1),
  },
};
