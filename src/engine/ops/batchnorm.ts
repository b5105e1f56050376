import type { GraphNode, Shape } from '../graph';
import type { ProgramBuilder } from '../program';
import { emitConvForward, emitConvRelevance, type ConvLayer } from './conv-shaped';
import { fail, type OpDef } from './op';

/**
 * BatchNorm at inference is a per-channel affine map y = scale * x + shift: a depthwise 1x1 convolution, so every
 * rule applies to it as to any convolution (Captum's epsilon on BatchNorm is exactly that). 2-D inputs [N, C] are
 * the 1x1-image case.
 */
function layer(node: GraphNode, x: Shape, b: ProgramBuilder): ConvLayer {
  const { scale, shift } = node.params;
  const c = x[1]!;
  if (!scale || !shift || scale.data.length !== c || shift.data.length !== c) fail(node, `needs scale and shift with ${c} values`);
  const [h, w] = x.length === 4 ? [x[2]!, x[3]!] : [1, 1];
  return {
    geom: { n: x[0]!, c, h, w, o: c, oh: h, ow: w, kh: 1, kw: 1, strideH: 1, strideW: 1, padTop: 0, padLeft: 0, dilH: 1, dilW: 1, groups: c },
    weight: b.param(`${node.name}.scale`, scale, [c, 1, 1, 1]),
    bias: b.param(`${node.name}.shift`, shift),
  };
}

export const batchNormOp: OpDef = {
  op: 'batchnorm',
  inferShape(node, [x]) {
    if (x!.length !== 2 && x!.length !== 4) fail(node, `expects a [N, C] or [N, C, H, W] input, got [${x!.join(', ')}]`);
    return x!;
  },
  forward: (ctx) => emitConvForward(ctx, layer(ctx.node, ctx.inputs[0]!.shape, ctx.b)),
  relevance: (ctx) => emitConvRelevance(ctx, layer(ctx.node, ctx.inputs[0]!.shape, ctx.b)),
};
