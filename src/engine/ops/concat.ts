import { attrNumber, attrNumbers, shapeSize, type GraphNode, type Shape, type Tensor } from '../graph';
import { tensor } from '../onnx/mapping-helpers';
import { contiguousStrides, plainCopy, STRIDED_COPY_RANK } from '../kernels/strided-copy';
import { fail, nonNegativeIfAllInputs, type OpDef } from './op';
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

/** The parts in order: a computed input (its TensorRef's index) or a constant parameter, with their shapes. */
function parts(node: GraphNode, inputShapes: readonly Shape[]): { input: number; shape: Shape; key?: string }[] {
  const layout = node.attrs.layout === undefined ? inputShapes.map((_, i) => i) : attrNumbers(node, 'layout');
  const used = new Set<number>();
  const out = layout.map((p) => {
    if (p >= 0) {
      if (!Number.isInteger(p) || p >= inputShapes.length || used.has(p)) fail(node, `layout entry ${p} names no input or one twice`);
      used.add(p);
      return { input: p, shape: inputShapes[p]! };
    }
    const key = `constant${-p - 1}`;
    const c = node.params[key];
    if (!c || c.data.length !== shapeSize(c.shape)) fail(node, `layout names the parameter "${key}", which it does not have`);
    return { input: -1, shape: c.shape, key };
  });
  if (used.size !== inputShapes.length) fail(node, 'layout leaves an input out');
  return out;
}

/**
 * Concatenation of computed values along any axis (SqueezeNet's Fire expand branches, Inception's four branches,
 * ShuffleNet's halves). A copy: each input's relevance is its slice of R, for every rule. Constant parts (a ViT's
 * class token: parameters "constant<k>", placed by attribute `layout`) absorb their slice as a bias does: it is
 * dropped.
 */
export const concatOp: OpDef = {
  op: 'concat',
  layerClass: 'structural',
  nonNegative: nonNegativeIfAllInputs,
  summary: 'Concatenation of computed values along any axis (rank up to 6); each input gets its slice of the relevance.',
  onnx: {
    Concat: {
      limits: `inputs of rank up to ${STRIDED_COPY_RANK}, any axis; constant parts (a class token) absorb their share of relevance, as a bias does (all-constant Concats are folded at load)`,
      map(n) {
        const ins = n.ins.filter((v) => v !== '');
        if (ins.length === 0) n.error('it has no inputs');
        // Computed inputs are the layer's inputs; constants (a ViT's class token) become parameters "constant<k>",
        // and `layout` lists the parts in order: i >= 0 the i-th input, -(k + 1) the k-th constant.
        const xs: string[] = [];
        const layout: number[] = [];
        const params: Record<string, Tensor> = {};
        const shapes: number[][] = [];
        n.ins.forEach((v, i) => {
          if (v === '') return;
          if (n.isConst(i)) {
            const c = n.param(i, 'the constant part');
            const k = Object.keys(params).length;
            params[`constant${k}`] = tensor([...c.shape], n.f32(c, 'the constant part'));
            layout.push(-(k + 1));
            shapes.push([...c.shape]);
          } else {
            layout.push(xs.length);
            xs.push(n.rt(i));
            shapes.push(n.shapeOf(xs[xs.length - 1]!));
          }
        });
        const rank = shapes[0]!.length;
        if (rank > STRIDED_COPY_RANK) n.error(`rank ${rank} exceeds ${STRIDED_COPY_RANK}`);
        const axis0 = n.attr.int('axis', Number.NaN);
        if (Number.isNaN(axis0)) n.error('the axis attribute is missing');
        const axis = axis0 < 0 ? axis0 + rank : axis0;
        if (axis < 0 || axis >= rank) n.error(`axis ${axis0} is out of range for rank ${rank}`);
        if (shapes.some((s) => s.length !== rank || s.some((d, i) => i !== axis && d !== shapes[0]![i]))) {
          n.error(`cannot concatenate ${shapes.map((s) => `[${s.join(', ')}]`).join(', ')} along axis ${axis}`);
        }
        if (xs.length === 1 && layout.length === 1) return n.alias(n.out(), xs[0]!);
        const out = [...shapes[0]!];
        out[axis] = shapes.reduce((a, s) => a + s[axis]!, 0);
        n.emit('concat', xs, layout.some((p) => p < 0) ? { axis, layout } : { axis }, params, out);
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
  inferShape(node, inputShapes) {
    const shapes = parts(node, inputShapes).map((p) => p.shape);
    const axis = concatAxis(node, shapes);
    const out = [...shapes[0]!];
    out[axis] = shapes.reduce((a, s) => a + s[axis]!, 0);
    return out;
  },
  forward(ctx) {
    const ps = parts(ctx.node, ctx.inputs.map((x) => x.shape));
    const axis = concatAxis(ctx.node, ps.map((p) => p.shape));
    const out = ctx.b.tensor(ctx.outShape, `${ctx.node.name}:out`);
    const outStrides = contiguousStrides(ctx.outShape);
    let offset = 0;
    for (const p of ps) {
      const x = p.key ? ctx.b.param(`${ctx.node.name}.${p.key}`, ctx.node.params[p.key]!) : ctx.inputs[p.input]!;
      ctx.b.emit(
        'forward',
        plainCopy({ x, out, shape: x.shape, dstOffset: offset * outStrides[axis]!, dstStrides: outStrides, srcOffset: 0, srcStrides: contiguousStrides(x.shape), accumulate: false }),
      );
      offset += x.shape[axis]!;
    }
    return out;
  },
  relevance(ctx) {
    const ps = parts(ctx.node, ctx.inputs.map((x) => x.shape));
    const axis = concatAxis(ctx.node, ps.map((p) => p.shape));
    const rStrides = contiguousStrides(ctx.output.shape);
    let offset = 0;
    ps.forEach((p) => {
      if (p.key) {
        offset += p.shape[axis]!; // a constant part: its relevance is absorbed
        return;
      }
      const i = p.input;
      const x = ctx.inputs[i]!;
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
