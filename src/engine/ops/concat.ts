import { attrNumber, type GraphNode, type Shape } from '../graph';
import { contiguousStrides, plainCopy, STRIDED_COPY_RANK } from '../kernels/strided-copy';
import { fail, type OpDef } from './op';
import type { KerasLayer } from './import-context';
import { brief, engineAxis, kerasAxis } from '../tfjs/keras-helpers';

/** The concatenation axis, non-negative, checked against the inputs' shapes (equal except along the axis). */
function concatAxis(node: GraphNode, shapes: readonly Shape[]): number {
  if (shapes.length < 1) fail(node, 'needs at least one input');
  const rank = shapes[0]!.length;
  if (rank < 1 || rank > STRIDED_COPY_RANK) fail(node, `concatenates ranks 1 to ${STRIDED_COPY_RANK}, got [${shapes[0]!.join(', ')}]`);
  const axis0 = attrNumber(node, 'axis');
  const axis = axis0 < 0 ? axis0 + rank : axis0;
  if (!Number.isInteger(axis) || axis < 0 || axis >= rank) fail(node, `axis ${axis0} is out of range for rank ${rank}`);
  for (const s of shapes) {
    if (s.length !== rank || s.some((d, i) => i !== axis && d !== shapes[0]![i])) {
      fail(node, `cannot concatenate [${shapes.map((t) => `[${t.join(', ')}]`).join(', ')}] along axis ${axis}`);
    }
  }
  return axis;
}

/**
 * Concatenation of computed values along any axis (SqueezeNet's Fire expand branches, Inception's four branches,
 * ShuffleNet's halves). A copy: each input's relevance is its slice of R, for every rule.
 */
export const concatOp: OpDef = {
  op: 'concat',
  layerClass: 'structural',
  summary: 'Concatenation of computed values along any axis (rank up to 6); each input gets its slice of the relevance.',
  onnx: {
    Concat: {
      limits: `computed inputs of rank up to ${STRIDED_COPY_RANK}, any axis (all-constant Concats are folded at load)`,
      map(n) {
        const ins = n.ins.filter((v) => v !== '');
        if (ins.length === 0) n.error('it has no inputs');
        n.ins.forEach((v, i) => {
          if (v !== '' && n.isConst(i)) {
            n.error('it concatenates a constant with computed values; the constant part would take relevance that no input accounts for (unsupported)');
          }
        });
        const xs = n.ins.flatMap((v, i) => (v === '' ? [] : [n.rt(i)]));
        const shapes = xs.map((v) => n.shapeOf(v));
        const rank = shapes[0]!.length;
        if (rank > STRIDED_COPY_RANK) n.error(`rank ${rank} exceeds ${STRIDED_COPY_RANK}`);
        const axis0 = n.attr.int('axis', Number.NaN);
        if (Number.isNaN(axis0)) n.error('the axis attribute is missing');
        const axis = axis0 < 0 ? axis0 + rank : axis0;
        if (axis < 0 || axis >= rank) n.error(`axis ${axis0} is out of range for rank ${rank}`);
        if (shapes.some((s) => s.length !== rank || s.some((d, i) => i !== axis && d !== shapes[0]![i]))) {
          n.error(`cannot concatenate ${shapes.map((s) => `[${s.join(', ')}]`).join(', ')} along axis ${axis}`);
        }
        if (xs.length === 1) return n.alias(n.out(), xs[0]!);
        const out = [...shapes[0]!];
        out[axis] = shapes.reduce((a, s) => a + s[axis]!, 0);
        n.emit('concat', xs, { axis }, {}, out);
      },
    },
  },
  keras: {
    Concatenate: {
      limits: 'two or more images along any axis (the channel axis -1 is the engine\'s axis 1), or vectors; not vectors flattened from images',
      merge: true,
      map: kerasConcat,
    },
  },
  inferShape(node, shapes) {
    const axis = concatAxis(node, shapes);
    const out = [...shapes[0]!];
    out[axis] = shapes.reduce((a, s) => a + s[axis]!, 0);
    return out;
  },
  forward(ctx) {
    const axis = concatAxis(ctx.node, ctx.inputs.map((x) => x.shape));
    const out = ctx.b.tensor(ctx.outShape, `${ctx.node.name}:out`);
    const outStrides = contiguousStrides(ctx.outShape);
    let offset = 0;
    for (const x of ctx.inputs) {
      ctx.b.emit(
        'forward',
        plainCopy({ x, out, shape: x.shape, dstOffset: offset * outStrides[axis]!, dstStrides: outStrides, srcOffset: 0, srcStrides: contiguousStrides(x.shape), accumulate: false }),
      );
      offset += x.shape[axis]!;
    }
    return out;
  },
  relevance(ctx) {
    const axis = concatAxis(ctx.node, ctx.inputs.map((x) => x.shape));
    const rStrides = contiguousStrides(ctx.output.shape);
    let offset = 0;
    ctx.inputs.forEach((x, i) => {
      const t = ctx.target(i);
      ctx.b.emit(
        'relevance',
        plainCopy({ x: ctx.r, out: t.ref, shape: x.shape, dstOffset: 0, dstStrides: contiguousStrides(x.shape), srcOffset: offset * rStrides[axis]!, srcStrides: rStrides, accumulate: t.accumulate }),
      );
      offset += x.shape[axis]!;
    });
  },
};

/** Keras Concatenate along `axis` (default -1, counting the batch axis): images along H, W or C, or vectors. */
function kerasConcat(layer: KerasLayer) {
  const ins = layer.ins;
  if (ins.length < 2) layer.error(`concatenates at least two inputs, got ${ins.length}`);
  const rank = ins[0]!.shape.length;
  const a = kerasAxis(layer.config.axis, rank);
  if (Number.isNaN(a)) layer.error(`axis ${brief(layer.config.axis)} is not an axis of [${ins[0]!.shape.join(', ')}] (the batch axis cannot be concatenated)`);
  if (ins.some((t) => t.flat)) layer.error('concatenating vectors flattened from images is not supported (Keras holds them in H, W, C order, the engine in C, H, W)');
  if (ins.some((t) => t.shape.length !== rank || t.shape.some((d, i) => i !== a && d !== ins[0]!.shape[i]))) {
    layer.error(`cannot concatenate ${ins.map((t) => `[${t.shape.join(', ')}]`).join(', ')} along axis ${a - rank}`);
  }
  const shape = [...ins[0]!.shape];
  shape[a] = ins.reduce((n, t) => n + t.shape[a]!, 0);
  return layer.emit('concat', ins, { axis: engineAxis(a, rank) }, {}, shape);
}
