import { attrNumbers, type GraphNode } from '../graph';
import { expectRank, fail, type OpDef } from './op';

type Quad = [number, number, number, number];

/** Zero padding (ONNX order [begin per axis..., end per axis...]); negative pads crop. */
function pads(node: GraphNode): { begin: Quad; end: Quad } {
  const p = attrNumbers(node, 'pads');
  if (p.length !== 8 || p.some((v) => !Number.isInteger(v))) fail(node, 'needs 8 integer pads for a 4-D input');
  return { begin: p.slice(0, 4) as Quad, end: p.slice(4) as Quad };
}

export const padOp: OpDef = {
  op: 'pad',
  inferShape(node, [x]) {
    expectRank(node, x!, 4);
    const { begin, end } = pads(node);
    const out = x!.map((d, i) => d + begin[i]! + end[i]!);
    if (out.some((d) => d < 1)) fail(node, `padding leaves an empty tensor from [${x!.join(', ')}]`);
    return out;
  },
  forward(ctx) {
    const { begin } = pads(ctx.node);
    const out = ctx.b.tensor(ctx.outShape, `${ctx.node.name}:out`);
    ctx.b.emit('forward', {
      kernel: 'window-copy',
      x: ctx.inputs[0]!,
      out,
      inShape: ctx.inputs[0]!.shape as Quad,
      outShape: ctx.outShape as Quad,
      start: begin.map((v) => -v) as Quad,
      step: [1, 1, 1, 1],
      inverse: false,
      accumulate: false,
    });
    return out;
  },
  relevance(ctx) {
    // Relevance routes back to the positions the pad copied; padding positions keep none of it.
    const { begin } = pads(ctx.node);
    const t = ctx.target(0);
    ctx.b.emit('relevance', {
      kernel: 'window-copy',
      x: ctx.r,
      out: t.ref,
      inShape: ctx.output.shape as Quad,
      outShape: ctx.inputs[0]!.shape as Quad,
      start: begin,
      step: [1, 1, 1, 1],
      inverse: false,
      accumulate: t.accumulate,
    });
  },
};
