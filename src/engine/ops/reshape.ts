import { attrNumbers, shapeSize } from '../graph';
import { fail, type OpDef } from './op';
import type { OnnxMapping, OnnxNode } from './import-context';
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
  summary: 'A view of the same values in another shape; relevance moves back unchanged.',
  onnx: onnxReshapes,
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
