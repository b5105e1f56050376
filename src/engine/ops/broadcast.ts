/**
 * Shared by the elementwise binary ops (add, addconst, scale, mul, div): broadcast shape inference, the forward
 * map, and relevance contributions summed back to each operand's shape. Equal shapes take the plain elementwise
 * kernel (bit for bit what the residual add always ran); broadcasting takes broadcast-binary and sum-to-shape.
 */
import { shapeSize, type GraphNode, type Shape } from '../graph';
import type { TensorRef } from '../program';
import type { BroadcastBinaryOp } from '../kernels/steps';
import { broadcastShapes, MAX_BROADCAST_RANK } from '../kernels/broadcast-binary';
import { fail, type ForwardContext, type RelevanceContext } from './op';

export const sameShape = (a: Shape, b: Shape): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/** The numpy broadcast of two input shapes; a clear error naming the layer when they do not broadcast. */
export function inferBroadcast(node: GraphNode, a: Shape, b: Shape, verb: string): number[] {
  const out = broadcastShapes(a, b);
  if (!out) fail(node, `cannot ${verb} [${a.join(', ')}] and [${b.join(', ')}]: the shapes do not broadcast`);
  if (out.length > MAX_BROADCAST_RANK) fail(node, `rank ${out.length} is above the ${MAX_BROADCAST_RANK} supported`);
  return out;
}

/** A constant operand stored as the layer's "constant" parameter, uploaded once. */
export function constantOf(node: GraphNode, b: { param(key: string, t: { shape: Shape; data: Float32Array }): TensorRef }): TensorRef {
  const c = node.params.constant;
  if (!c || c.data.length !== shapeSize(c.shape)) fail(node, 'needs a "constant" parameter');
  return b.param(`${node.name}.constant`, c);
}

export function constantShape(node: GraphNode): Shape {
  const c = node.params.constant;
  if (!c || c.data.length !== shapeSize(c.shape)) fail(node, 'needs a "constant" parameter');
  return c.shape;
}

/** out (+)= scale * f(a, b) at `out`'s shape: the elementwise kernel when nothing broadcasts and scale is 1. */
export function emitBinary(
  ctx: Pick<ForwardContext, 'b'>,
  phase: 'forward' | 'relevance',
  op: BroadcastBinaryOp,
  a: TensorRef,
  b: TensorRef | null,
  out: TensorRef,
  accumulate: boolean,
  scale = 1,
): void {
  const plain = scale === 1 && sameShape(a.shape, out.shape) && (!b || sameShape(b.shape, out.shape));
  if (plain && (op === 'add' || op === 'multiply' || op === 'first')) {
    ctx.b.emit(phase, { kernel: 'elementwise', op: op === 'first' ? 'copy' : op, a, b, out, accumulate });
    return;
  }
  ctx.b.emit(phase, { kernel: 'broadcast-binary', op, a, b, out, scale, accumulate });
}

/** Relevance for input i: `scale` times `src` (at the layer's output shape) summed to the input's shape. */
export function emitSumTo(ctx: RelevanceContext, i: number, src: TensorRef, scale = 1): void {
  const inShape = ctx.inputs[i]!.shape;
  if (scale === 1 && shapeSize(inShape) === src.size) {
    ctx.pass(i, src);
    return;
  }
  const t = ctx.target(i);
  ctx.b.emit('relevance', { kernel: 'sum-to-shape', x: src, out: t.ref, scale, accumulate: t.accumulate });
}

/**
 * Relevance for input i: scale * f(a, b), computed at the layer's output shape and summed to the input's shape
 * (written straight into the input's relevance when the input is not broadcast).
 */
export function emitContribution(ctx: RelevanceContext, i: number, op: BroadcastBinaryOp, a: TensorRef, b: TensorRef | null, scale = 1): void {
  const outShape = ctx.output.shape;
  if (shapeSize(ctx.inputs[i]!.shape) === shapeSize(outShape)) {
    const t = ctx.target(i);
    emitBinary(ctx, 'relevance', op, a, b, ctx.b.view(t.ref, outShape), t.accumulate, scale);
    return;
  }
  const tmp = ctx.b.tensor(outShape, `${ctx.node.name}:contribution${i}`);
  emitBinary(ctx, 'relevance', op, a, b, tmp, false, scale);
  const t = ctx.target(i);
  ctx.b.emit('relevance', { kernel: 'sum-to-shape', x: tmp, out: t.ref, scale: 1, accumulate: t.accumulate });
}
