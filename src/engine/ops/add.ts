import { fail, nonNegativeIfAllInputs, unsupportedRule, type OpDef, type RelevanceContext } from './op';
import type { ConstValue, KerasLayer, KerasMapping, OnnxMapping, OnnxNode } from './import-context';
import { mergeInputs, mergeShapes } from '../tfjs/keras-helpers';
import { emitBinary, emitContribution, emitSumTo, inferBroadcast } from './broadcast';
import { broadcastShapes, MAX_BROADCAST_RANK } from '../kernels/broadcast-binary';
import { perChannel, perFeature, tensor } from '../onnx/mapping-helpers';

/**
 * Sum (or difference, attribute mode "sub": a - b) of two computed values, with ONNX broadcasting: residual
 * additions. Norm / epsilon splits relevance in proportion to each operand's contribution:
 * R_a = a R / stab(z), R_b = (+-b) R / stab(z), a broadcast operand summing over the positions it was broadcast to.
 * The gradient (and Pass) gives each operand R, summed likewise (Sub's b gets -R under the gradient).
 */
export const addOp: OpDef = {
  op: 'add',
  layerClass: 'add',
  nonNegative: (node, inputs) => node.attrs.mode !== 'sub' && nonNegativeIfAllInputs(node, inputs),
  summary:
    'Sum or difference of two computed values (residual additions; ONNX broadcasting): Norm splits relevance in proportion to each operand; the gradient gives each all of it.',
  onnx: { Add: onnxAddSub(false), Sub: onnxAddSub(true) },
  keras: {
    Add: { limits: 'two or more inputs, with Keras broadcasting (a vector [C] against images is [1, 1, C]); a chain of two-input adds', merge: true, map: (l) => kerasAddSub(l, false) },
    Subtract: { limits: 'two inputs, with Keras broadcasting', merge: true, map: (l) => kerasAddSub(l, true) },
  } satisfies Record<string, KerasMapping>,
  inferShape(node, shapes) {
    if (shapes.length !== 2) fail(node, 'adds exactly two inputs');
    const mode = node.attrs.mode ?? 'add';
    if (mode !== 'add' && mode !== 'sub') fail(node, `mode must be "add" or "sub", got ${JSON.stringify(mode)}`);
    return inferBroadcast(node, shapes[0]!, shapes[1]!, mode === 'sub' ? 'subtract' : 'add');
  },
  forward(ctx) {
    const out = ctx.b.tensor(ctx.outShape, `${ctx.node.name}:out`);
    emitBinary(ctx, 'forward', ctx.node.attrs.mode === 'sub' ? 'subtract' : 'add', ctx.inputs[0]!, ctx.inputs[1]!, out, false);
    return out;
  },
  relevance(ctx) {
    const { program } = ctx;
    const bSign = ctx.node.attrs.mode === 'sub' ? -1 : 1;
    if (program.kind === 'pass' || program.kind === 'gradient') {
      emitSumTo(ctx, 0, ctx.r);
      emitSumTo(ctx, 1, ctx.r, program.kind === 'gradient' ? bSign : 1);
      return;
    }
    const s = normQuotient(ctx);
    emitContribution(ctx, 0, 'multiply', ctx.inputs[0]!, s);
    emitContribution(ctx, 1, 'multiply', ctx.inputs[1]!, s, bSign);
  },
};

/**
 * s = R / stab(z) for Norm / epsilon on a sum (one group, unmodified input; z = the layer's output, or `z` given).
 * Other LRP programs do not apply to sums.
 */
export function normQuotient(ctx: RelevanceContext, z = ctx.output) {
  const { program, b } = ctx;
  if (program.kind !== 'lrp') return unsupportedRule(ctx);
  const group = program.groups[0];
  if (program.groups.length !== 1 || !group || group.terms.length !== 1 || group.terms[0]!.input !== 'identity') return unsupportedRule(ctx);
  const s = b.tensor(ctx.output.shape, `${ctx.node.name}:s`);
  b.emit('relevance', { kernel: 'stabilized-divide', r: ctx.r, z, zref: ctx.output, s, epsilon: group.epsilon, coefficient: group.coefficient, mask: group.mask });
  return s;
}

/** A constant's values when it broadcasts along `axis` only of a rank-`rank` value with `channels` there. */
function alongAxis(c: ConstValue, channels: number, rank: number, axis: number): boolean {
  if (c.shape.length > rank) return false;
  if (c.data.length === 1) return true;
  const aligned = [...new Array<number>(rank - c.shape.length).fill(1), ...c.shape];
  return c.data.length === channels && aligned.every((d, i) => (i === axis ? d === channels : d === 1));
}

/**
 * Add / Sub. Two computed values: an `add` layer. A computed value and a constant: folded into the bias of the
 * Linear/Conv that computes the value when that layer feeds nothing else and the constant is one value per output
 * channel (Conv: axis 1; Linear: the last axis); else an `addconst` layer (the constant absorbs relevance like a
 * bias). Both constant: folded at load before this runs.
 */
function onnxAddSub(sub: boolean): OnnxMapping {
  return {
    limits: `two computed values or a computed value and a constant, with broadcasting up to rank ${MAX_BROADCAST_RANK}; a constant after a Linear/Conv that feeds nothing else becomes its bias`,
    map(n) {
      if (!n.isConst(0) && !n.isConst(1)) {
        const [a, b] = [n.rt(0), n.rt(1)];
        const shape = broadcastOrFail(n, n.shapeOf(a), n.shapeOf(b));
        n.emit('add', [a, b], sub ? { mode: 'sub' } : {}, {}, shape);
        return;
      }
      const xi = n.isConst(0) ? 1 : 0;
      const x = n.rt(xi);
      const what = sub ? 'the subtracted constant' : 'the added constant';
      const c = n.param(1 - xi, what);
      const xSign = sub && xi === 1 ? -1 : 1; // c - x
      const cSign = sub && xi === 0 ? -1 : 1; // x - c
      const xs = n.shapeOf(x);
      const p = n.producer(x);
      const single = n.raw[xi] === x && n.consumers(x) === 1 && !n.isGraphOutput(x);
      if (xSign === 1 && single && p && (p.op === 'linear' || p.op === 'conv2d') && p.params.weight) {
        const channels = p.params.weight.shape[0]!;
        const axis = p.op === 'linear' ? xs.length - 1 : 1;
        if (xs[axis] === channels && alongAxis(c, channels, xs.length, axis)) {
          const add = p.op === 'linear' ? perFeature(n, c, channels, what) : perChannel(n, c, channels, xs.length, what);
          n.charge(channels, 'the bias');
          const old = p.params.bias?.data;
          const bias = new Float32Array(channels);
          for (let o = 0; o < channels; o++) bias[o] = (old ? old[o]! : 0) + cSign * add[o]!;
          p.params.bias = tensor([channels], bias);
          // The layer now produces the Add's value: it takes over the name (x fed nothing else).
          n.retarget(p, n.out(), xs);
          return;
        }
      }
      const shape = broadcastOrFail(n, xs, c.shape);
      let data = n.f32(c, what);
      if (cSign === -1) {
        n.charge(data.length, what);
        data = Float32Array.from(data, (v) => -v);
      }
      n.emit('addconst', [x], xSign === -1 ? { sign: -1 } : {}, { constant: tensor(c.shape, data) }, shape);
    },
  };
}

export function broadcastOrFail(n: OnnxNode, a: readonly number[], b: readonly number[]): number[] {
  const shape = broadcastShapes(a, b);
  if (!shape) n.error(`[${a.join(', ')}] and [${b.join(', ')}] do not broadcast`);
  if (shape.length > MAX_BROADCAST_RANK) n.error(`rank ${shape.length} is above the ${MAX_BROADCAST_RANK} supported`);
  return shape;
}

/** Keras Add (any number of inputs: a chain "<layer>_1", ..., "<layer>") and Subtract (two: a - b). */
function kerasAddSub(layer: KerasLayer, sub: boolean) {
  const verb = sub ? 'subtract' : 'add';
  if (sub && layer.ins.length !== 2) layer.error(`subtracts exactly two inputs, got ${layer.ins.length}`);
  const { ins, flat } = mergeInputs(layer, verb);
  let acc = ins[0]!;
  for (let i = 1; i < ins.length; i++) {
    const name = i === ins.length - 1 ? layer.name : layer.unique(`${layer.name}_${i}`);
    const shape = mergeShapes(layer, [acc.shape, ins[i]!.shape], verb);
    acc = layer.emit('add', [acc, ins[i]!], sub ? { mode: 'sub' } : {}, {}, shape, { name, ...(flat ? { flat } : {}) });
  }
  return acc;
}
