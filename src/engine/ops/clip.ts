import { attrNumber } from '../graph';
import { activationOp } from './activation';
import { fail } from './op';
import type { GraphNode } from '../graph';
import type { OnnxMapping } from './import-context';

/** Clip (ReLU6 and friends): bounds from attributes (opset < 11) or constant inputs; Clip(0, none) is a ReLU. */
const onnxClip: OnnxMapping = {
  limits: 'constant bounds; Clip(0, none) becomes a ReLU, Clip without bounds the identity',
  map(n) {
    const x = n.rt(0);
    const bound = (i: number, attr: string): number | undefined => {
      if (n.ins[i]) {
        const t = n.cst(i, `the ${attr} bound`);
        if (t.data.length !== 1) n.error(`the ${attr} bound must be a single value, got shape [${t.shape.join(', ')}]`);
        return t.data[0]!;
      }
      return n.attr.has(attr) ? n.attr.float(attr, 0) : undefined;
    };
    const min = bound(1, 'min');
    const max = bound(2, 'max');
    const lo = min !== undefined && min > -3.4e38 ? min : undefined;
    const hi = max !== undefined && max < 3.4e38 ? max : undefined;
    if (lo !== undefined && hi !== undefined && !(lo <= hi)) n.error(`min ${lo} is above max ${hi}`);
    if (lo === undefined && hi === undefined) return n.alias(n.out(), x); // clips nothing
    if (lo === 0 && hi === undefined) {
      n.emit('relu', [x], {}, {}, n.shapeOf(x));
      return;
    }
    const attrs: Record<string, number> = {};
    if (lo !== undefined) attrs.min = lo;
    if (hi !== undefined) attrs.max = hi;
    n.emit('clip', [x], attrs, {}, n.shapeOf(x));
  },
};

/** Clip / ReLU6: clamp to [min, max]. */
export const clipOp = activationOp('clip', 'clip', 'clip-gradient', { summary: 'Clip / ReLU6: Pass in the composites, or its gradient.', onnx: { Clip: onnxClip }, nonNegative: (node: GraphNode) => attrNumber(node, 'min', -3.4e38) >= 0 }, (node) => {
  const p0 = attrNumber(node, 'min', -3.4e38);
  const p1 = attrNumber(node, 'max', 3.4e38);
  if (!(p0 <= p1)) fail(node, `min ${p0} is above max ${p1}`);
  return { p0, p1 };
});
