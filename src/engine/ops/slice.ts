import { attrNumbers, type GraphNode, type Shape } from '../graph';
import { expectRank, fail, type OpDef } from './op';

type Quad = [number, number, number, number];

/** Slice with positive steps (PyTorch's strided shortcut subsampling); relevance returns to the taken elements. */
export function sliceShape(node: GraphNode, x: Shape): { start: Quad; step: Quad; out: Quad } {
  const starts = attrNumbers(node, 'starts');
  const ends = attrNumbers(node, 'ends');
  const axes = attrNumbers(node, 'axes', [0, 1, 2, 3].slice(0, starts.length));
  const steps = attrNumbers(node, 'steps', starts.map(() => 1));
  if (starts.length !== ends.length || axes.length !== starts.length || steps.length !== starts.length) {
    fail(node, 'starts, ends, axes and steps must have the same length');
  }
  const start: Quad = [0, 0, 0, 0];
  const step: Quad = [1, 1, 1, 1];
  const out = [...x] as Quad;
  axes.forEach((axis0, i) => {
    const axis = axis0 < 0 ? axis0 + 4 : axis0;
    if (!(axis >= 0 && axis < 4)) fail(node, `axis ${axis0} out of range`);
    const dim = x[axis]!;
    const st = steps[i]!;
    if (!Number.isInteger(st) || st < 1) fail(node, 'only positive integer steps are supported');
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + dim : v, 0), dim);
    const s = clamp(starts[i]!);
    const e = clamp(ends[i]!);
    start[axis] = s;
    step[axis] = st;
    out[axis] = Math.max(0, Math.ceil((e - s) / st));
  });
  if (out.some((d) => d < 1)) fail(node, 'slice selects nothing');
  return { start, step, out };
}

export const sliceOp: OpDef = {
  op: 'slice',
  inferShape(node, [x]) {
    expectRank(node, x!, 4);
    return sliceShape(node, x!).out;
  },
  forward(ctx) {
    const { start, step } = sliceShape(ctx.node, ctx.inputs[0]!.shape);
    const out = ctx.b.tensor(ctx.outShape, `${ctx.node.name}:out`);
    ctx.b.emit('forward', {
      kernel: 'window-copy',
      x: ctx.inputs[0]!,
      out,
      inShape: ctx.inputs[0]!.shape as Quad,
      outShape: ctx.outShape as Quad,
      start,
      step,
      inverse: false,
      accumulate: false,
    });
    return out;
  },
  relevance(ctx) {
    // Relevance goes back to the elements the slice took; the others get none.
    const { start, step } = sliceShape(ctx.node, ctx.inputs[0]!.shape);
    const t = ctx.target(0);
    ctx.b.emit('relevance', {
      kernel: 'window-copy',
      x: ctx.r,
      out: t.ref,
      inShape: ctx.output.shape as Quad,
      outShape: ctx.inputs[0]!.shape as Quad,
      start,
      step,
      inverse: true,
      accumulate: t.accumulate,
    });
  },
};
