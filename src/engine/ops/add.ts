import { fail, unsupportedRule, type OpDef } from './op';

/**
 * Residual addition z = a + b. Norm / epsilon splits relevance in proportion to each summand's contribution:
 * R_a = a * R / stab(z), R_b = b * R / stab(z). The gradient (or pass) gives each summand all of R.
 */
export const addOp: OpDef = {
  op: 'add',
  inferShape(node, shapes) {
    if (shapes.length !== 2) fail(node, 'adds exactly two inputs');
    const [a, b] = shapes as [readonly number[], readonly number[]];
    if (a.length !== b.length || a.some((d, i) => d !== b[i])) fail(node, `cannot add [${a.join(', ')}] and [${b.join(', ')}] (no broadcasting)`);
    return a;
  },
  forward(ctx) {
    const out = ctx.b.tensor(ctx.outShape, `${ctx.node.name}:out`);
    ctx.b.emit('forward', { kernel: 'elementwise', op: 'add', a: ctx.inputs[0]!, b: ctx.inputs[1]!, out, accumulate: false });
    return out;
  },
  relevance(ctx) {
    const { program, b } = ctx;
    if (program.kind === 'pass' || program.kind === 'gradient') {
      ctx.pass(0, ctx.r);
      ctx.pass(1, ctx.r);
      return;
    }
    const group = program.groups[0];
    if (program.groups.length !== 1 || !group || group.terms.length !== 1 || group.terms[0]!.input !== 'identity') return unsupportedRule(ctx);
    const s = b.tensor(ctx.output.shape, `${ctx.node.name}:s`);
    b.emit('relevance', { kernel: 'stabilized-divide', r: ctx.r, z: ctx.output, zref: ctx.output, s, epsilon: group.epsilon, coefficient: 1, mask: 'all' });
    for (let i = 0; i < 2; i++) {
      const t = ctx.target(i);
      b.emit('relevance', { kernel: 'elementwise', op: 'multiply', a: ctx.inputs[i]!, b: s, out: t.ref, accumulate: t.accumulate });
    }
  },
};
