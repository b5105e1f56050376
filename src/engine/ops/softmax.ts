import { shapeSize } from '../graph';
import type { TensorRef } from '../program';
import { fail, unsupportedRule, type OpDef, type RelevanceContext } from './op';
import type { ParamModifier } from '../../rules/rule-program';
import type { OnnxNode } from './import-context';
import { finalSoftmax } from '../onnx/onnx-aliases';
import { MAX_BROADCAST_RANK } from '../kernels/broadcast-binary';

/**
 * Softmax over the last axis (the attention weights). A final Softmax is removed at import (explanations start from
 * the logits). Class `softmax`: Pass in the composites; under CP-LRP its output is a gate of the A V product
 * (ops/matmul.ts), so no relevance reaches it. Gradient: R_in = y (R - sum_j y_j R_j) per row.
 * Epsilon (AttnLRP's softmax rule, Achtibat et al. 2024, Sec. 3): the epsilon rule on the softmax linearised
 * at its input x, y_j ~ sum_i J_ji x_i + b_j with J_ji = y_j (delta_ji - y_i): with t_j = y_j R_j / stab(y_j),
 * R_in_i = x_i (t_i - y_i sum_j t_j); at epsilon 0, x_i (R_i - y_i sum_j R_j). The bias b_j = y_j (1 - x_j + sum_i y_i x_i)
 * absorbs sum_j b_j R_j / y_j.
 */
export const softmaxOp: OpDef = {
  op: 'softmax',
  layerClass: 'softmax',
  summary:
    'Softmax over the last axis (attention weights; a final Softmax is removed): Pass, its gradient, or Epsilon (AttnLRP: x (R - y sum R) at epsilon 0); as attention weights it is a gate no relevance reaches under CP-LRP.',
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
    const y: TensorRef = ctx.output;
    const shape = y.shape;
    if (program.kind === 'lrp') return emitSoftmaxEpsilon(ctx);
    if (program.kind !== 'gradient') return unsupportedRule(ctx);
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

/** AttnLRP's softmax rule: t = y R / stab(y), R_in = x (t - y sum_row t). */
function emitSoftmaxEpsilon(ctx: RelevanceContext): void {
  const { program, b, node } = ctx;
  if (program.kind !== 'lrp') return;
  const group = program.groups[0];
  const plain = (m: ParamModifier) => m.kind === 'affine' && m.plain === 1 && m.pos === 0 && m.neg === 0;
  const t0 = group?.terms[0];
  if (program.groups.length !== 1 || !group || group.terms.length !== 1 || t0?.input !== 'identity' || !plain(t0.weight) || group.mask !== 'all') {
    return unsupportedRule(ctx);
  }
  const x = ctx.inputs[0]!;
  const y: TensorRef = ctx.output;
  const shape = y.shape;
  const s = b.tensor(shape, `${node.name}:s`);
  b.emit('relevance', { kernel: 'stabilized-divide', r: ctx.r, z: y, zref: y, s, epsilon: group.epsilon, coefficient: group.coefficient, mask: 'all' });
  const t = b.tensor(shape, `${node.name}:t`);
  b.emit('relevance', { kernel: 'elementwise', op: 'multiply', a: y, b: s, out: t, accumulate: false });
  const sum = b.tensor([...shape.slice(0, -1), 1], `${node.name}:sum`);
  b.emit('relevance', { kernel: 'sum-to-shape', x: t, out: sum, scale: 1, accumulate: false });
  const ys = b.tensor(shape, `${node.name}:ys`);
  b.emit('relevance', { kernel: 'broadcast-binary', op: 'multiply', a: y, b: sum, out: ys, scale: 1, accumulate: false });
  const d = b.tensor(shape, `${node.name}:d`);
  b.emit('relevance', { kernel: 'broadcast-binary', op: 'subtract', a: t, b: ys, out: d, scale: 1, accumulate: false });
  const target = ctx.target(0);
  b.emit('relevance', { kernel: 'elementwise', op: 'multiply', a: x, b: d, out: target.ref, accumulate: target.accumulate });
}

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
