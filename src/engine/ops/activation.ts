/**
 * Elementwise activations share one shape: forward is an elementwise map, relevance either passes unchanged
 * (the Pass rule of composites and Captum) or goes through the activation's gradient.
 */
import type { OpType } from '../graph';
import type { ElementwiseOp } from '../kernels/steps';
import { attrNumber } from '../graph';
import { unsupportedRule, type OpDef } from './op';
import type { OnnxMapping } from './import-context';

/** The ONNX mapping of a unary activation whose attributes map one to one. */
export function unaryOnnx(op: OpType, limits: string, attrs: (n: Parameters<OnnxMapping['map']>[0]) => Record<string, number> = () => ({})): OnnxMapping {
  return {
    limits,
    map(n) {
      const x = n.rt(0);
      n.emit(op, [x], attrs(n), {}, n.shapeOf(x));
    },
  };
}

export function activationOp(
  op: OpType,
  forward: ElementwiseOp,
  gradient: ElementwiseOp,
  declared: Pick<OpDef, 'summary' | 'onnx' | 'keras' | 'nonNegative'>,
  params: (node: Parameters<OpDef['inferShape']>[0]) => { p0?: number; p1?: number } = () => ({}),
): OpDef {
  return {
    op,
    layerClass: 'activation',
    ...declared,
    inferShape: (node, [x]) => {
      params(node);
      return x!;
    },
    forward(ctx) {
      const out = ctx.b.tensor(ctx.outShape, `${ctx.node.name}:out`);
      ctx.b.emit('forward', { kernel: 'elementwise', op: forward, a: ctx.inputs[0]!, b: null, out, accumulate: false, ...params(ctx.node) });
      return out;
    },
    relevance(ctx) {
      if (ctx.program.kind === 'pass') return ctx.pass(0, ctx.r);
      if (ctx.program.kind !== 'gradient') return unsupportedRule(ctx);
      const t = ctx.target(0);
      ctx.b.emit('relevance', { kernel: 'elementwise', op: gradient, a: ctx.inputs[0]!, b: ctx.r, out: t.ref, accumulate: t.accumulate, ...params(ctx.node) });
    },
  };
}

export const leakyParams = (node: Parameters<OpDef['inferShape']>[0]) => ({ p0: attrNumber(node, 'alpha', 0.01) });
