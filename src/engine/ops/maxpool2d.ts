import { attrNumbers, type GraphNode, type Shape } from '../graph';
import type { PoolGeometry } from '../kernels/steps';
import { convOutSize } from './conv2d';
import { expectRank, fail, unsupportedRule, type OpDef } from './op';

function geometry(node: GraphNode, x: Shape): PoolGeometry {
  const [n, c, h, w] = x as [number, number, number, number];
  const [kh, kw] = attrNumbers(node, 'kernel') as [number, number];
  const [strideH, strideW] = attrNumbers(node, 'stride', [kh, kw]) as [number, number];
  const [padTop, padLeft, padBottom, padRight] = attrNumbers(node, 'pads', [0, 0, 0, 0]) as [number, number, number, number];
  const [dilH, dilW] = attrNumbers(node, 'dilation', [1, 1]) as [number, number];
  const oh = convOutSize(h, kh, strideH, padTop, padBottom, dilH);
  const ow = convOutSize(w, kw, strideW, padLeft, padRight, dilW);
  if (oh < 1 || ow < 1) fail(node, `window ${kh}x${kw} does not fit the ${h}x${w} input`);
  if (padTop >= kh || padLeft >= kw || padBottom >= kh || padRight >= kw) fail(node, 'padding must be smaller than the window');
  return { n, c, h, w, oh, ow, kh, kw, strideH, strideW, padTop, padLeft, dilH, dilW };
}

export const maxPoolOp: OpDef = {
  op: 'maxpool2d',
  inferShape(node, [x]) {
    expectRank(node, x!, 4);
    const g = geometry(node, x!);
    return [g.n, g.c, g.oh, g.ow];
  },
  forward(ctx) {
    const out = ctx.b.tensor(ctx.outShape, `${ctx.node.name}:out`);
    ctx.b.emit('forward', { kernel: 'maxpool2d', geom: geometry(ctx.node, ctx.inputs[0]!.shape), x: ctx.inputs[0]!, out });
    return out;
  },
  relevance(ctx) {
    const { program } = ctx;
    let epsilon: number | null;
    if (program.kind === 'gradient') epsilon = null;
    else if (program.kind === 'lrp' && program.groups.length === 1 && program.groups[0]!.epsilon !== null) {
      // The epsilon rule on a max pool: z of a window is its maximum, so R_winner = a R / stab(a).
      epsilon = program.groups[0]!.epsilon;
    } else return unsupportedRule(ctx);
    const t = ctx.target(0);
    ctx.b.emit('relevance', {
      kernel: 'maxpool2d-relevance',
      geom: geometry(ctx.node, ctx.inputs[0]!.shape),
      x: ctx.inputs[0]!,
      r: ctx.r,
      rin: t.ref,
      epsilon,
      accumulate: t.accumulate,
    });
  },
};
