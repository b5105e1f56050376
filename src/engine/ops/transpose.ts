import { attrNumbers, type GraphNode, type Shape } from '../graph';
import { contiguousStrides, plainCopy, STRIDED_COPY_RANK } from '../kernels/strided-copy';
import { fail, nonNegativeIfInput, type OpDef } from './op';

/** The permutation (attribute `perm`: output axis j is input axis perm[j]), checked against the input's rank. */
function permutation(node: GraphNode, x: Shape): number[] {
  const perm = attrNumbers(node, 'perm').map((a) => (a < 0 ? a + x.length : a));
  if (x.length > STRIDED_COPY_RANK) fail(node, `transposes up to rank ${STRIDED_COPY_RANK}, got [${x.join(', ')}]`);
  const sorted = [...perm].sort((a, b) => a - b);
  if (perm.length !== x.length || sorted.some((a, i) => a !== i)) fail(node, `perm [${attrNumbers(node, 'perm').join(', ')}] is not a permutation of ${x.length} axes`);
  return perm;
}

/**
 * Transpose (ShuffleNet's channel shuffle, NCHW <-> NHWC permutes): a copy, so relevance routes back exactly
 * (every rule is the identity on a permutation).
 */
export const transposeOp: OpDef = {
  op: 'transpose',
  layerClass: 'structural',
  nonNegative: nonNegativeIfInput,
  summary: 'Axis permutation of a computed value (rank up to 6); relevance routes back to each element.',
  onnx: {
    Transpose: {
      limits: `a computed value of rank up to ${STRIDED_COPY_RANK}; perm absent reverses the axes`,
      map(n) {
        const x = n.rt(0);
        const s = n.shapeOf(x);
        if (s.length > STRIDED_COPY_RANK) n.error(`rank ${s.length} exceeds ${STRIDED_COPY_RANK}`);
        const perm = (n.attr.ints('perm') ?? s.map((_, i) => s.length - 1 - i)).map((a) => (a < 0 ? a + s.length : a));
        const sorted = [...perm].sort((a, b) => a - b);
        if (perm.length !== s.length || sorted.some((a, i) => a !== i)) n.error(`perm [${perm.join(', ')}] is not a permutation of ${s.length} axes`);
        if (perm.every((a, i) => a === i)) return n.alias(n.out(), x);
        n.emit('transpose', [x], { perm }, {}, perm.map((a) => s[a]!));
      },
    },
  },
  inferShape(node, [x]) {
    return permutation(node, x!).map((a) => x![a]!);
  },
  forward(ctx) {
    const x = ctx.inputs[0]!;
    const perm = permutation(ctx.node, x.shape);
    const inStrides = contiguousStrides(x.shape);
    const out = ctx.b.tensor(ctx.outShape, `${ctx.node.name}:out`);
    ctx.b.emit(
      'forward',
      plainCopy({ x, out, shape: ctx.outShape, dstOffset: 0, dstStrides: contiguousStrides(ctx.outShape), srcOffset: 0, srcStrides: perm.map((a) => inStrides[a]!), accumulate: false }),
    );
    return out;
  },
  relevance(ctx) {
    // R_in[i] = R[perm(i)] for every rule: the inverse permutation, gathered over the input's shape.
    const x = ctx.inputs[0]!;
    const perm = permutation(ctx.node, x.shape);
    const rStrides = contiguousStrides(ctx.output.shape);
    const srcStrides = new Array<number>(perm.length);
    perm.forEach((a, j) => (srcStrides[a] = rStrides[j]!));
    const t = ctx.target(0);
    ctx.b.emit(
      'relevance',
      plainCopy({ x: ctx.r, out: t.ref, shape: x.shape, dstOffset: 0, dstStrides: contiguousStrides(x.shape), srcOffset: 0, srcStrides, accumulate: t.accumulate }),
    );
  },
};
