import type { GraphNode, Shape } from '../graph';
import type { ProgramBuilder } from '../program';
import { emitConvForward, emitConvRelevance, type ConvLayer } from './conv-shaped';
import { expectRank, fail, type OpDef } from './op';

/** A Linear layer is the 1x1 convolution of a 1x1 image with `in` channels; weight [out, in]. */
function layer(node: GraphNode, x: Shape, b: ProgramBuilder): ConvLayer {
  const w = node.params.weight;
  if (!w || w.shape.length !== 2) fail(node, 'needs a weight of shape [out, in]');
  const [o, c] = w.shape as [number, number];
  if (x[1] !== c) fail(node, `weight expects ${c} input features, input has ${x[1]}`);
  const bias = node.params.bias;
  if (bias && bias.data.length !== o) fail(node, `bias has ${bias.data.length} values for ${o} outputs`);
  return {
    geom: { n: x[0]!, c, h: 1, w: 1, o, oh: 1, ow: 1, kh: 1, kw: 1, strideH: 1, strideW: 1, padTop: 0, padLeft: 0, dilH: 1, dilW: 1, groups: 1 },
    weight: b.param(`${node.name}.weight`, w, [o, c, 1, 1]),
    bias: bias ? b.param(`${node.name}.bias`, bias) : null,
  };
}

export const linearOp: OpDef = {
  op: 'linear',
  inferShape(node, [x]) {
    expectRank(node, x!, 2);
    const w = node.params.weight;
    if (!w || w.shape.length !== 2) fail(node, 'needs a weight of shape [out, in]');
    if (w.shape[1] !== x![1]) fail(node, `weight expects ${w.shape[1]} input features, input has ${x![1]}`);
    return [x![0]!, w.shape[0]!];
  },
  forward: (ctx) => emitConvForward(ctx, layer(ctx.node, ctx.inputs[0]!.shape, ctx.b)),
  relevance: (ctx) => emitConvRelevance(ctx, layer(ctx.node, ctx.inputs[0]!.shape, ctx.b)),
};
