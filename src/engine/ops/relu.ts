import { fail, unsupportedRule, type OpDef } from './op';

export const reluOp: OpDef = {
  op: 'relu',
  inferShape: (_node, [x]) => x!,
  forward(ctx) {
    const out = ctx.b.tensor(ctx.outShape, `${ctx.node.name}:out`);
    ctx.b.emit('forward', { kernel: 'elementwise', op: 'relu', a: ctx.inputs[0]!, b: null, out, accumulate: false });
    return out;
  },
  relevance(ctx) {
    if (ctx.program.kind === 'pass') return ctx.pass(0, ctx.r);
    if (ctx.program.kind !== 'gradient') return unsupportedRule(ctx);
    const t = ctx.target(0);
    if (t.ref.size !== ctx.r.size) fail(ctx.node, 'relevance shape mismatch');
    // The gradient of ReLU: relevance survives only where the input was positive.
    ctx.b.emit('relevance', { kernel: 'elementwise', op: 'relu-gradient', a: ctx.inputs[0]!, b: ctx.r, out: t.ref, accumulate: t.accumulate });
  },
};
