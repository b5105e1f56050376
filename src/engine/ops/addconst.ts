import { attrNumber } from '../graph';
import { fail, unsupportedRule, type OpDef } from './op';
import { constantOf, constantShape, emitBinary, emitContribution, emitSumTo, inferBroadcast } from './broadcast';
import { normQuotient } from './add';

const signOf = (node: Parameters<OpDef['inferShape']>[0]): 1 | -1 => {
  const s = attrNumber(node, 'sign', 1);
  if (s !== 1 && s !== -1) fail(node, `sign must be 1 or -1, got ${s}`);
  return s;
};

/**
 * z = sign * x + c: a computed value plus (or, sign -1, subtracted from) a constant c that could not be folded into
 * a preceding Linear/Conv bias (ONNX Add/Sub with one constant operand, broadcasting either way). The constant
 * absorbs relevance as a bias does: Norm / epsilon R_x = sign * x * R / stab(z) (with the epsilon rule's zeroBias,
 * z = sign * x); the gradient R_x = sign * R; Pass R_x = R. Summed over positions where x was broadcast.
 */
export const addConstOp: OpDef = {
  op: 'addconst',
  layerClass: 'add',
  summary: 'A computed value plus a constant that is no Linear/Conv bias: Norm gives the value x R / stab(x + c), the constant absorbing the rest as a bias does.',
  inferShape(node, [x]) {
    signOf(node);
    return inferBroadcast(node, x!, constantShape(node), 'add');
  },
  forward(ctx) {
    const out = ctx.b.tensor(ctx.outShape, `${ctx.node.name}:out`);
    const c = constantOf(ctx.node, ctx.b);
    if (signOf(ctx.node) === 1) emitBinary(ctx, 'forward', 'add', ctx.inputs[0]!, c, out, false);
    else emitBinary(ctx, 'forward', 'subtract', c, ctx.inputs[0]!, out, false);
    return out;
  },
  relevance(ctx) {
    const { program, b } = ctx;
    const sign = signOf(ctx.node);
    const x = ctx.inputs[0]!;
    if (program.kind === 'pass' || program.kind === 'gradient') return emitSumTo(ctx, 0, ctx.r, program.kind === 'gradient' ? sign : 1);
    if (program.kind !== 'lrp') return unsupportedRule(ctx);
    let z = ctx.output;
    if (program.groups[0]?.bias.kind === 'zero') {
      // zeroBias: the denominator without the constant.
      z = b.tensor(ctx.output.shape, `${ctx.node.name}:z`);
      emitBinary(ctx, 'relevance', 'first', x, null, z, false, sign);
    }
    const s = normQuotient(ctx, z);
    emitContribution(ctx, 0, 'multiply', x, s, sign);
  },
};
