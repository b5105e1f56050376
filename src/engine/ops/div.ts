import { unsupportedRule, fail, type OpDef } from './op';
import type { OnnxMapping } from './import-context';
import { emitBinary, emitContribution, emitSumTo, inferBroadcast } from './broadcast';
import { broadcastOrFail } from './add';
import { tensor } from '../onnx/mapping-helpers';
import { MAX_BROADCAST_RANK } from '../kernels/broadcast-binary';

/**
 * The quotient a / b of two computed values, with ONNX broadcasting (a normalisation computed in the graph). Pass:
 * the numerator takes all relevance, the denominator none (as a gate's signal does). Gradient: the vector-Jacobian
 * product R_a = R / b, R_b = -R a / b^2 (= -R z / b), each summed to its own shape.
 */
export const divOp: OpDef = {
  op: 'div',
  layerClass: 'gate',
  summary: 'Quotient of two computed values: Pass gives the numerator all relevance and the denominator none; the gradient is the quotient rule.',
  onnx: {
    Div: {
      limits: `two computed values, or a computed value divided by a constant (a scale layer), with broadcasting up to rank ${MAX_BROADCAST_RANK}; a constant divided by a computed value is not supported`,
      map(n) {
        if (n.isConst(0)) n.error('dividing a constant by a computed value is not supported');
        const x = n.rt(0);
        if (n.isConst(1)) {
          const c = n.param(1, 'the divisor');
          const shape = broadcastOrFail(n, n.shapeOf(x), c.shape);
          n.emit('scale', [x], { mode: 'div' }, { constant: tensor(c.shape, n.f32(c, 'the divisor')) }, shape);
          return;
        }
        const y = n.rt(1);
        n.emit('div', [x, y], {}, {}, broadcastOrFail(n, n.shapeOf(x), n.shapeOf(y)));
      },
    } satisfies OnnxMapping,
  },
  inferShape(node, [a, b]) {
    if (!a || !b) fail(node, 'divides exactly two inputs');
    return inferBroadcast(node, a, b, 'divide');
  },
  forward(ctx) {
    const out = ctx.b.tensor(ctx.outShape, `${ctx.node.name}:out`);
    emitBinary(ctx, 'forward', 'divide', ctx.inputs[0]!, ctx.inputs[1]!, out, false);
    return out;
  },
  relevance(ctx) {
    if (ctx.program.kind === 'pass') return emitSumTo(ctx, 0, ctx.r);
    if (ctx.program.kind !== 'gradient') return unsupportedRule(ctx);
    const b = ctx.inputs[1]!;
    emitContribution(ctx, 0, 'divide', ctx.r, b);
    const rz = ctx.b.tensor(ctx.output.shape, `${ctx.node.name}:rz`);
    emitBinary(ctx, 'relevance', 'multiply', ctx.r, ctx.output, rz, false);
    emitContribution(ctx, 1, 'divide', rz, b, -1);
  },
};
