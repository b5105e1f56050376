import { attrNumber, attrNumbers, type GraphNode, type Shape } from '../graph';
import type { ConvGeometry } from '../kernels/steps';
import { emitConvForward, emitConvRelevance, type ConvLayer } from './conv-shaped';
import { expectRank, fail, type OpDef } from './op';

export function convOutSize(inSize: number, kernel: number, stride: number, padBegin: number, padEnd: number, dilation: number): number {
  return Math.floor((inSize + padBegin + padEnd - dilation * (kernel - 1) - 1) / stride) + 1;
}

function geometry(node: GraphNode, x: Shape): ConvGeometry {
  const w = node.params.weight;
  if (!w || w.shape.length !== 4) fail(node, 'needs a weight of shape [out, in/groups, kh, kw]');
  const [o, cpg, kh, kw] = w.shape as [number, number, number, number];
  const groups = attrNumber(node, 'groups', 1);
  const [strideH, strideW] = attrNumbers(node, 'stride', [1, 1]) as [number, number];
  const [padTop, padLeft, padBottom, padRight] = attrNumbers(node, 'pads', [0, 0, 0, 0]) as [number, number, number, number];
  const [dilH, dilW] = attrNumbers(node, 'dilation', [1, 1]) as [number, number];
  const [n, c, h, wd] = x as [number, number, number, number];
  if (!Number.isInteger(groups) || groups < 1 || c % groups !== 0 || o % groups !== 0) {
    fail(node, `groups=${groups} must divide the ${c} input and ${o} output channels`);
  }
  if (cpg * groups !== c) fail(node, `weight expects ${cpg * groups} input channels, input has ${c}`);
  if ([strideH, strideW, dilH, dilW].some((v) => !Number.isInteger(v) || v < 1)) fail(node, 'strides and dilations must be positive integers');
  if ([padTop, padLeft, padBottom, padRight].some((v) => !Number.isInteger(v) || v < 0)) fail(node, 'paddings must be non-negative integers');
  const oh = convOutSize(h, kh, strideH, padTop, padBottom, dilH);
  const ow = convOutSize(wd, kw, strideW, padLeft, padRight, dilW);
  if (oh < 1 || ow < 1) fail(node, `kernel ${kh}x${kw} does not fit the ${h}x${wd} input`);
  const bias = node.params.bias;
  if (bias && bias.data.length !== o) fail(node, `bias has ${bias.data.length} values for ${o} outputs`);
  return { n, c, h, w: wd, o, oh, ow, kh, kw, strideH, strideW, padTop, padLeft, dilH, dilW, groups };
}

function layer(node: GraphNode, x: Shape, b: Parameters<OpDef['forward']>[0]['b']): ConvLayer {
  const geom = geometry(node, x);
  return {
    geom,
    weight: b.param(`${node.name}.weight`, node.params.weight!),
    bias: node.params.bias ? b.param(`${node.name}.bias`, node.params.bias) : null,
  };
}

export const conv2dOp: OpDef = {
  op: 'conv2d',
  inferShape(node, [x]) {
    expectRank(node, x!, 4);
    const g = geometry(node, x!);
    return [g.n, g.o, g.oh, g.ow];
  },
  forward: (ctx) => emitConvForward(ctx, layer(ctx.node, ctx.inputs[0]!.shape, ctx.b)),
  relevance: (ctx) => emitConvRelevance(ctx, layer(ctx.node, ctx.inputs[0]!.shape, ctx.b)),
};
