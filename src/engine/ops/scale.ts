import type { GraphNode } from '../graph';
import { fail, unsupportedRule, type OpDef } from './op';
import { constantOf, constantShape, emitBinary, emitContribution, emitSumTo, inferBroadcast } from './broadcast';

const modeOf = (node: GraphNode): 'mul' | 'div' => {
  const m = node.attrs.mode ?? 'mul';
  if (m !== 'mul' && m !== 'div') fail(node, `mode must be "mul" or "div", got ${JSON.stringify(m)}`);
  return m;
};

/**
 * z = x * c, or x / c (mode "div"), for a constant c broadcasting either way: layer scale (ConvNeXt), a
 * normalisation written out. Pass: R_x = R (the constant takes none; summed where x was broadcast). Gradient:
 * R_x = R * c (R / c), summed likewise. Imported from ONNX Mul and Div with one constant operand (ops/mul.ts,
 * ops/div.ts).
 */
export const scaleOp: OpDef = {
  op: 'scale',
  layerClass: 'scale',
  summary: 'Multiplication or division by a constant (layer scale): Pass gives the input all relevance; the gradient multiplies it by the constant.',
  inferShape(node, [x]) {
    modeOf(node);
    return inferBroadcast(node, x!, constantShape(node), modeOf(node) === 'mul' ? 'multiply' : 'divide');
  },
  forward(ctx) {
    const out = ctx.b.tensor(ctx.outShape, `${ctx.node.name}:out`);
    emitBinary(ctx, 'forward', modeOf(ctx.node) === 'mul' ? 'multiply' : 'divide', ctx.inputs[0]!, constantOf(ctx.node, ctx.b), out, false);
    return out;
  },
  relevance(ctx) {
    if (ctx.program.kind === 'pass') return emitSumTo(ctx, 0, ctx.r);
    if (ctx.program.kind !== 'gradient') return unsupportedRule(ctx);
    emitContribution(ctx, 0, modeOf(ctx.node) === 'mul' ? 'multiply' : 'divide', ctx.r, constantOf(ctx.node, ctx.b));
  },
};
