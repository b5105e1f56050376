import { shapeSize } from '../graph';
import type { TensorRef } from '../program';
import { fail, unsupportedRule, type OpDef } from './op';
import type { OnnxNode } from './import-context';
import { finalSoftmax } from '../onnx/onnx-aliases';
import { MAX_BROADCAST_RANK } from '../kernels/broadcast-binary';

/**
 * Softmax over the last axis (the attention weights). A final Softmax is removed at import (explanations start from
 * the logits). Class `activation`: Pass in the composites; under CP-LRP its output is a gate of the A V product
 * (ops/matmul.ts), so no relevance reaches it. Gradient: R_in = y (R - sum_j y_j R_j) per row.
 */
export const softmaxOp: OpDef = {
  op: 'softmax',
  layerClass: 'activation',
  summary: 'Softmax over the last axis (attention weights; a final Softmax is removed): Pass, or its gradient; as attention weights it is a gate no relevance reaches under CP-LRP.',
  onnx: {
    Softmax: {
      limits: 'over the last axis (attention); at the end of the model it is removed',
      map: mapSoftmax,
    },
  },
  inferShape(node, [x]) {
    if (!x || x.length < 1 || x.length > MAX_BROADCAST_RANK) fail(node, `expects an input of rank 1 to ${MAX_BROADCAST_RANK}`);
    return x;
  },
  forward(ctx) {
    const x = ctx.inputs[0]!;
    const cols = x.shape[x.shape.length - 1]!;
    const out = ctx.b.tensor(ctx.outShape, `${ctx.node.name}:out`);
    ctx.b.emit('forward', { kernel: 'softmax', x, out, rows: shapeSize(x.shape) / cols, cols });
    return out;
  },
  relevance(ctx) {
    const { program, b, node } = ctx;
    if (program.kind === 'pass') return ctx.pass(0, ctx.r);
    if (program.kind !== 'gradient') return unsupportedRule(ctx);
    const y: TensorRef = ctx.output;
    const shape = y.shape;
    const yr = b.tensor(shape, `${node.name}:yr`);
    b.emit('relevance', { kernel: 'elementwise', op: 'multiply', a: y, b: ctx.r, out: yr, accumulate: false });
    const sum = b.tensor([...shape.slice(0, -1), 1], `${node.name}:sum`);
    b.emit('relevance', { kernel: 'sum-to-shape', x: yr, out: sum, scale: 1, accumulate: false });
    const d = b.tensor(shape, `${node.name}:d`);
    b.emit('relevance', { kernel: 'broadcast-binary', op: 'subtract', a: ctx.r, b: sum, out: d, scale: 1, accumulate: false });
    const t = ctx.target(0);
    b.emit('relevance', { kernel: 'elementwise', op: 'multiply', a: y, b: d, out: t.ref, accumulate: t.accumulate });
  },
};

function mapSoftmax(n: OnnxNode): void {
  const x = n.rt(0);
  const out = n.out();
  if (n.isGraphOutput(out) && n.consumers(out) <= 1) return finalSoftmax(n);
  const s = n.shapeOf(x);
  if (s.length > MAX_BROADCAST_RANK) n.error(`rank ${s.length} exceeds ${MAX_BROADCAST_RANK}`);
  // Opset 13 defaults to the last axis; older opsets to axis 1 over the flattened tail, the last axis only for rank 2.
  if (!n.attr.has('axis') && s.length > 2) n.error('a Softmax without an axis attribute on a tensor of rank above 2 is ambiguous across opsets; only the last axis is supported');
  const axis0 = n.attr.int('axis', -1);
  const axis = axis0 < 0 ? axis0 + s.length : axis0;
  if (axis !== s.length - 1) n.error(`Softmax over axis ${axis0} is not supported (only the last axis)`);
  n.emit('softmax', [x], {}, {}, s);
}
