import { attrNumbers, shapeSize } from '../graph';
import { fail, nonNegativeIfInput, type OpDef } from './op';
import type { KerasLayer, KerasTensor, OnnxMapping, OnnxNode } from './import-context';
import { brief } from '../tfjs/keras-helpers';
import { flattenShape, resolveReshape, squeezeShape, unsqueezeShape } from '../onnx/onnx-const';

/** A reshape to `shape`, or nothing when the shape does not change. */
function emitReshape(n: OnnxNode, x: string, shape: number[]): void {
  const inShape = n.shapeOf(x);
  if (inShape.length === shape.length && inShape.every((d, i) => d === shape[i])) return n.alias(n.out(), x);
  n.emit('reshape', [x], { shape }, {}, shape);
}

const onnxReshapes: Record<string, OnnxMapping> = {
  Flatten: {
    limits: 'any axis',
    map(n) {
      const x = n.rt(0);
      emitReshape(n, x, n.guard(() => flattenShape(n.shapeOf(x), n.attr.int('axis', 1))));
    },
  },
  Reshape: {
    limits: 'a constant target shape (0 and -1 resolved at load)',
    map(n) {
      const x = n.rt(0);
      const spec = n.attr.ints('shape') ?? n.ints(1, 'the target shape');
      emitReshape(n, x, n.guard(() => resolveReshape(n.shapeOf(x), spec, n.attr.int('allowzero', 0) === 1)));
    },
  },
  Squeeze: {
    limits: 'constant axes',
    map(n) {
      const x = n.rt(0);
      const axes = n.ins[1] ? n.ints(1, 'the axes') : n.attr.ints('axes');
      emitReshape(n, x, n.guard(() => squeezeShape(n.shapeOf(x), axes)));
    },
  },
  Unsqueeze: {
    limits: 'constant axes',
    map(n) {
      const x = n.rt(0);
      const axes = n.ins[1] ? n.ints(1, 'the axes') : n.attr.ints('axes');
      emitReshape(n, x, n.guard(() => unsqueezeShape(n.shapeOf(x), axes ?? [])));
    },
  },
};

/** Flatten and Reshape: a view of the same values; relevance moves back unchanged. */
export const reshapeOp: OpDef = {
  op: 'reshape',
  layerClass: 'structural',
  nonNegative: nonNegativeIfInput,
  summary: 'A view of the same values in another shape; relevance moves back unchanged.',
  onnx: onnxReshapes,
  keras: {
    Flatten: { limits: 'H, W, C order (Keras): the Dense or BatchNormalization after it is reordered to the engine\'s C, H, W order', map: (layer) => kerasReshape(layer, [-1]) },
    Reshape: {
      limits: 'to and from images [H, W, C] and vectors, where no value moves (e.g. [C] to [1, 1, C] for squeeze-excitation, or a flatten)',
      map: (layer) => kerasReshape(layer, layer.config.target_shape),
    },
  },
  inferShape(node, [x]) {
    const target = attrNumbers(node, 'shape');
    let known = 1;
    let infer = -1;
    const out = target.map((d, i) => {
      if (d === 0) return x![i] ?? fail(node, 'shape 0 refers to a missing input dimension');
      if (d === -1) {
        if (infer >= 0) fail(node, 'at most one dimension can be -1');
        infer = i;
        return -1;
      }
      if (!Number.isInteger(d) || d < 0) fail(node, `invalid dimension ${d}`);
      return d;
    });
    for (const d of out) if (d !== -1) known *= d;
    const total = shapeSize(x!);
    if (infer >= 0) {
      if (known === 0 || total % known !== 0) fail(node, `cannot reshape [${x!.join(', ')}] to [${target.join(', ')}]`);
      out[infer] = total / known;
    }
    if (shapeSize(out) !== total) fail(node, `cannot reshape [${x!.join(', ')}] to [${target.join(', ')}]`);
    return out;
  },
  forward: (ctx) => ctx.b.view(ctx.inputs[0]!, ctx.outShape),
  relevance: (ctx) => ctx.pass(0, ctx.r),
};

/** A Keras tensor held in the same order by the engine (C, H, W) and by Keras (H, W, C). */
const sameOrder = (t: { shape: readonly number[]; flat?: unknown }): boolean =>
  t.shape.length === 1 ? !t.flat : t.shape.length === 3 && (t.shape[0]! * t.shape[1]! === 1 || t.shape[2] === 1);

/**
 * Keras Flatten / Reshape (target shape without the batch axis, one -1 allowed). The engine holds images in C, H, W
 * order and Keras in H, W, C: a reshape is a view where neither order moves a value; an image flattened to a vector
 * keeps its original shape (`flat`) so that a Dense after it reads its columns in the engine's order, and such a
 * vector reshaped back to that image is a view again. Anything else would reorder values and is refused.
 */
function kerasReshape(layer: KerasLayer, spec: unknown): KerasTensor {
  const x = layer.input();
  const size = x.shape.reduce((a, d) => a * d, 1);
  if (!Array.isArray(spec) || spec.length === 0 || !spec.every((d) => d === -1 || (Number.isSafeInteger(d) && d > 0)) || spec.filter((d) => d === -1).length > 1) {
    layer.error(`target_shape ${brief(spec)} should list positive integers (one may be -1)`);
  }
  const known = (spec as number[]).reduce((a, d) => (d === -1 ? a : a * d), 1);
  const shape = (spec as number[]).map((d) => (d === -1 ? size / known : d));
  if (!shape.every((d) => Number.isSafeInteger(d)) || shape.reduce((a, d) => a * d, 1) !== size) layer.error(`cannot reshape [${x.shape.join(', ')}] to [${spec.join(', ')}]`);
  if (shape.length !== 1 && shape.length !== 3) layer.error(`reshaping to [${shape.join(', ')}] is not supported (only images H x W x C and vectors)`);
  if (shape.length === x.shape.length && shape.every((d, i) => d === x.shape[i])) return x;
  const engine = shape.length === 1 ? [1, shape[0]!] : [1, shape[2]!, shape[0]!, shape[1]!];
  const out = { shape };
  if (sameOrder(x) && sameOrder(out)) return layer.emit('reshape', [x], { shape: engine }, {}, shape);
  if (x.shape.length === 3 && shape.length === 1) return layer.emit('reshape', [x], { shape: engine }, {}, shape, { flat: x.shape as [number, number, number] });
  if (x.flat && shape.length === 3 && shape.every((d, i) => d === x.flat![i])) return layer.emit('reshape', [x], { shape: engine }, {}, shape);
  return layer.error(
    `reshaping [${x.shape.join(', ')}]${x.flat ? ` (flattened from [${x.flat.join(', ')}])` : ''} to [${shape.join(', ')}] would reorder values (Keras holds images in H, W, C order, the engine in C, H, W) and is not supported`,
  );
}
