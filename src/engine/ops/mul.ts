import { attrNumber, shapeSize } from '../graph';
import { fail, unsupportedRule, type OpDef } from './op';
import type { KerasLayer, OnnxMapping, OnnxNode } from './import-context';
import { mergeInputs, mergeShapes } from '../tfjs/keras-helpers';
import { emitBinary, emitContribution, emitSumTo, inferBroadcast } from './broadcast';
import { broadcastOrFail } from './add';
import { tensor } from '../onnx/mapping-helpers';
import { MAX_BROADCAST_RANK } from '../kernels/broadcast-binary';

const gateOf = (node: Parameters<OpDef['inferShape']>[0]): 0 | 1 => {
  const g = attrNumber(node, 'gate', 1);
  if (g !== 0 && g !== 1) fail(node, `gate must be 0 or 1 (the index of the gating input), got ${g}`);
  return g;
};

/**
 * The product of two computed values, a signal and a gate (squeeze-excitation: a feature map times a per-channel
 * Sigmoid/HardSigmoid), with ONNX broadcasting; attribute `gate` is the gating input's index. Pass: the signal takes
 * all relevance, the gate none (Arras et al. 2017, "Explaining recurrent neural network predictions in sentiment
 * analysis"). Gradient: R_a = R * b and R_b = R * a, each summed to its own shape.
 */
export const mulOp: OpDef = {
  op: 'mul',
  layerClass: 'gate',
  summary:
    'Product of a signal and a gate (squeeze-excitation): Pass gives the signal all relevance and the gate none (Arras et al. 2017); the gradient is the product rule.',
  onnx: { Mul: { limits: `two computed values or a computed value and a constant, with broadcasting up to rank ${MAX_BROADCAST_RANK}; x * Sigmoid(x) becomes SiLU, x * HardSigmoid(x) HardSwish`, map: mapMul } satisfies OnnxMapping },
  keras: {
    Multiply: {
      limits: 'two or more inputs, with Keras broadcasting (a squeeze-excitation gate [1, 1, C] or [C] against images); the gate as for ONNX Mul',
      merge: true,
      map: kerasMultiply,
    },
  },
  inferShape(node, [a, b]) {
    if (!a || !b) fail(node, 'multiplies exactly two inputs');
    gateOf(node);
    return inferBroadcast(node, a, b, 'multiply');
  },
  forward(ctx) {
    const out = ctx.b.tensor(ctx.outShape, `${ctx.node.name}:out`);
    emitBinary(ctx, 'forward', 'multiply', ctx.inputs[0]!, ctx.inputs[1]!, out, false);
    return out;
  },
  relevance(ctx) {
    if (ctx.program.kind === 'pass') return emitSumTo(ctx, 1 - gateOf(ctx.node), ctx.r);
    if (ctx.program.kind !== 'gradient') return unsupportedRule(ctx);
    emitContribution(ctx, 0, 'multiply', ctx.r, ctx.inputs[1]!);
    emitContribution(ctx, 1, 'multiply', ctx.r, ctx.inputs[0]!);
  },
};

const GATES = new Set(['sigmoid', 'hardsigmoid']);

/**
 * ONNX Mul. A constant operand: a `scale` layer. x * Sigmoid(x): SiLU; x * HardSigmoid(x): HardSwish (opset < 14
 * exports of nn.Hardswish), the Sigmoid/HardSigmoid pruned when nothing else reads it. Otherwise a gate: the
 * operand computed by a Sigmoid/HardSigmoid, else the smaller (broadcast) one, else the second.
 */
function mapMul(n: OnnxNode): void {
  if (n.isConst(0) || n.isConst(1)) {
    const xi = n.isConst(0) ? 1 : 0;
    const x = n.rt(xi);
    const c = n.param(1 - xi, 'the constant factor');
    const shape = broadcastOrFail(n, n.shapeOf(x), c.shape);
    n.emit('scale', [x], {}, { constant: tensor(c.shape, n.f32(c, 'the constant factor')) }, shape);
    return;
  }
  const a = n.rt(0);
  const b = n.rt(1);
  const shape = broadcastOrFail(n, n.shapeOf(a), n.shapeOf(b));
  for (const [x, g] of [
    [a, b],
    [b, a],
  ] as const) {
    const p = n.producer(g);
    if (!p || p.inputs[0] !== x || shapeSize(n.shapeOf(g)) !== shapeSize(shape) || shapeSize(n.shapeOf(x)) !== shapeSize(shape)) continue;
    if (p.op === 'sigmoid') {
      n.emit('silu', [x], {}, {}, shape);
      return;
    }
    if (p.op === 'hardsigmoid') {
      n.emit('hardswish', [x], { alpha: p.attrs.alpha ?? 0.2, beta: p.attrs.beta ?? 0.5 }, {}, shape);
      return;
    }
  }
  const isGate = (v: string) => GATES.has(n.producer(v)?.op ?? '');
  const [ga, gb] = [isGate(a), isGate(b)];
  const gate = ga !== gb ? (ga ? 0 : 1) : shapeSize(n.shapeOf(a)) < shapeSize(n.shapeOf(b)) ? 0 : 1;
  n.emit('mul', [a, b], { gate }, {}, shape);
}

/**
 * Keras Multiply: a chain of two-input products ("<layer>_1", ..., "<layer>"); in each the gate is chosen as for
 * ONNX Mul: the operand a Sigmoid/HardSigmoid computes, else the smaller (broadcast) one, else the second.
 */
function kerasMultiply(layer: KerasLayer) {
  const { ins, flat } = mergeInputs(layer, 'multiply');
  // The gate's producer, looking through the reshape of a [C] gate to [1, 1, C].
  const isGate = (t: (typeof ins)[number]) => {
    const p = layer.producer(t);
    const q = p?.op === 'reshape' ? layer.producer({ value: p.inputs[0]!, shape: [] }) : p;
    return GATES.has(q?.op ?? '');
  };
  const size = (s: readonly number[]) => s.reduce((a, d) => a * d, 1);
  let acc = ins[0]!;
  for (let i = 1; i < ins.length; i++) {
    const b = ins[i]!;
    const name = i === ins.length - 1 ? layer.name : layer.unique(`${layer.name}_${i}`);
    const shape = mergeShapes(layer, [acc.shape, b.shape], 'multiply');
    const [ga, gb] = [isGate(acc), isGate(b)];
    const gate = ga !== gb ? (ga ? 0 : 1) : size(acc.shape) < size(b.shape) ? 0 : 1;
    acc = layer.emit('mul', [acc, b], { gate }, {}, shape, { name, ...(flat ? { flat } : {}) });
  }
  return acc;
}
