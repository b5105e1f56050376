/**
 * Activations computed by the `activation` kernel (kernels/activation.ts): HardSigmoid, HardSwish, SiLU, GELU, erf.
 * Like ./activation.ts: forward is an elementwise map; relevance passes unchanged (Pass, the composites' choice for
 * activations) or goes through the activation's derivative (the gradient).
 */
import type { GraphNode, OpType } from '../graph';
import type { ActivationFn } from '../kernels/steps';
import { unsupportedRule, type OpDef } from './op';

export function fnActivationOp(
  op: OpType,
  declared: Pick<OpDef, 'summary' | 'onnx' | 'keras' | 'nonNegative'>,
  fn: (node: GraphNode) => { fn: ActivationFn; alpha?: number; beta?: number },
): OpDef {
  return {
    op,
    layerClass: 'activation',
    ...declared,
    inferShape: (node, [x]) => {
      fn(node);
      return x!;
    },
    forward(ctx) {
      const out = ctx.b.tensor(ctx.outShape, `${ctx.node.name}:out`);
      ctx.b.emit('forward', { kernel: 'activation', ...fn(ctx.node), gradient: false, x: ctx.inputs[0]!, r: null, out, accumulate: false });
      return out;
    },
    relevance(ctx) {
      if (ctx.program.kind === 'pass') return ctx.pass(0, ctx.r);
      if (ctx.program.kind !== 'gradient') return unsupportedRule(ctx);
      const t = ctx.target(0);
      ctx.b.emit('relevance', { kernel: 'activation', ...fn(ctx.node), gradient: true, x: ctx.inputs[0]!, r: ctx.r, out: t.ref, accumulate: t.accumulate });
    },
  };
}
