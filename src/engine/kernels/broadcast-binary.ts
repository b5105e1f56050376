/**
 * Binary maps with ONNX (numpy) broadcasting, rank up to 6: out (+)= scale * f(a, b), a and b read at the
 * coordinates of out, right-aligned, along broadcast axes (extent 1, or missing) at index 0. Shapes come from the
 * step's TensorRefs; strides travel as uniforms, so one pipeline per op serves every shape.
 */
import shader from '../../shaders/broadcast-binary.wgsl?raw';
import type { KernelDef } from './kernel';
import { defineParams } from './uniforms';
import type { BroadcastBinaryOp, BroadcastBinaryStep } from './steps';
import type { Shape } from '../graph';

export const MAX_BROADCAST_RANK = 6;

/** The numpy broadcast of two shapes, or undefined when they do not broadcast. */
export function broadcastShapes(a: Shape, b: Shape): number[] | undefined {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let k = 0; k < rank; k++) {
    const da = a[a.length - rank + k] ?? 1;
    const db = b[b.length - rank + k] ?? 1;
    if (da !== db && da !== 1 && db !== 1) return undefined;
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Whether `shape` broadcasts to exactly `to` (right-aligned, each axis equal or 1, not of higher rank). */
export function broadcastsTo(shape: Shape, to: Shape): boolean {
  if (shape.length > to.length) return shape.slice(0, shape.length - to.length).every((d) => d === 1) && broadcastsTo(shape.slice(shape.length - to.length), to);
  return shape.every((d, i) => d === 1 || d === to[to.length - shape.length + i]);
}

/** `shape` left-padded with 1s to rank 6. */
export function padShape(shape: Shape): number[] {
  const tail = shape.slice(Math.max(0, shape.length - MAX_BROADCAST_RANK));
  return [...new Array<number>(MAX_BROADCAST_RANK - tail.length).fill(1), ...tail];
}

/** Row-major strides of `shape` as read at the coordinates of `out` (rank 6): 0 along axes where it broadcasts. */
export function broadcastStrides(shape: Shape, out: Shape): number[] {
  const s = padShape(shape);
  const o = padShape(out);
  const strides = new Array<number>(MAX_BROADCAST_RANK).fill(0);
  let stride = 1;
  for (let k = MAX_BROADCAST_RANK - 1; k >= 0; k--) {
    strides[k] = s[k] === 1 && o[k] !== 1 ? 0 : stride;
    stride *= s[k]!;
  }
  return strides;
}

export function checkBroadcast(step: { a: { shape: Shape }; b: { shape: Shape } | null; out: { shape: Shape } }, what: string): void {
  const ok = (s: Shape) => s.length <= MAX_BROADCAST_RANK || s.slice(0, s.length - MAX_BROADCAST_RANK).every((d) => d === 1);
  if (!ok(step.out.shape) || !broadcastsTo(step.a.shape, step.out.shape) || (step.b && !broadcastsTo(step.b.shape, step.out.shape))) {
    throw new Error(`${what}: [${step.a.shape.join(', ')}] and [${step.b?.shape.join(', ') ?? ''}] do not broadcast to [${step.out.shape.join(', ')}] (rank at most ${MAX_BROADCAST_RANK})`);
  }
}

const opCode: Record<BroadcastBinaryOp, number> = { add: 0, subtract: 1, multiply: 2, divide: 3, first: 4 };

function apply(op: BroadcastBinaryOp, a: number, b: number): number {
  switch (op) {
    case 'add':
      return a + b;
    case 'subtract':
      return a - b;
    case 'multiply':
      return a * b;
    case 'divide':
      return a / b;
    case 'first':
      return a;
  }
}

/** Six per-axis values padded to eight (an array<vec4u, 2>). */
const vec8 = (v: readonly number[]): number[] => [...v, 0, 0];

/** dims: out's shape; sa, sb: the strides of a and b at out's coordinates (0 along broadcast axes). */
const params = defineParams([
  ['total', 'u32'],
  ['scale', 'f32'],
  ['dims', 'array<vec4u, 2>'],
  ['sa', 'array<vec4u, 2>'],
  ['sb', 'array<vec4u, 2>'],
]);

export const broadcastBinaryKernel: KernelDef<BroadcastBinaryStep> = {
  kind: 'broadcast-binary',
  cpu(step, mem) {
    checkBroadcast(step, 'broadcast-binary');
    const a = mem.get(step.a);
    const b = step.b ? mem.get(step.b) : null;
    const out = mem.get(step.out);
    const dims = padShape(step.out.shape);
    const sa = broadcastStrides(step.a.shape, step.out.shape);
    const sb = step.b ? broadcastStrides(step.b.shape, step.out.shape) : new Array<number>(MAX_BROADCAST_RANK).fill(0);
    for (let i = 0; i < out.length; i++) {
      let rem = i;
      let ia = 0;
      let ib = 0;
      for (let k = MAX_BROADCAST_RANK - 1; k >= 0; k--) {
        const c = rem % dims[k]!;
        rem = Math.floor(rem / dims[k]!);
        ia += c * sa[k]!;
        ib += c * sb[k]!;
      }
      const v = step.scale * apply(step.op, a[ia]!, b ? b[ib]! : 0);
      out[i] = step.accumulate ? out[i]! + v : v;
    }
  },
  gpu: {
    shader,
    params,
    overrides: (s) => ({ OP: opCode[s.op], ACCUMULATE: s.accumulate ? 1 : 0 }),
    uniforms: (s) => {
      checkBroadcast(s, 'broadcast-binary');
      return params.pack({
        total: s.out.size,
        scale: s.scale,
        dims: vec8(padShape(s.out.shape)),
        sa: vec8(broadcastStrides(s.a.shape, s.out.shape)),
        sb: vec8(s.b ? broadcastStrides(s.b.shape, s.out.shape) : [0, 0, 0, 0, 0, 0]),
      });
    },
    bindings: (s) => [s.a, s.b, s.out],
    invocations: (s) => s.out.size,
  },
};
