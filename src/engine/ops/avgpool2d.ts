import { attrNumber, attrNumbers, type GraphNode, type Shape } from '../graph';
import type { ProgramBuilder } from '../program';
import type { ConvGeometry } from '../kernels/steps';
import { emitConvForward, emitConvRelevance, type ConvLayer } from './conv-shaped';
import { convOutSize } from './conv2d';
import { expectRank, fail, type OpDef } from './op';

/**
 * Average pooling (count_include_pad) is a depthwise convolution with constant weights 1/(kh*kw): the epsilon /
 * Norm rule then splits a window's relevance in proportion to each input, the gradient evenly. Global average
 * pooling is the window that covers the whole image.
 */
function geometry(node: GraphNode, x: Shape, global: boolean): ConvGeometry {
  const [n, c, h, w] = x as [number, number, number, number];
  const [kh, kw] = global ? [h, w] : (attrNumbers(node, 'kernel') as [number, number]);
  const [strideH, strideW] = global ? [1, 1] : (attrNumbers(node, 'stride', [kh, kw]) as [number, number]);
  const [padTop, padLeft, padBottom, padRight] = global ? [0, 0, 0, 0] : (attrNumbers(node, 'pads', [0, 0, 0, 0]) as [number, number, number, number]);
  if (!global && attrNumber(node, 'countIncludePad', 1) === 0 && padTop + padLeft + padBottom + padRight > 0) {
    fail(node, 'average pooling that excludes padding from the count is not supported');
  }
  const oh = convOutSize(h, kh, strideH, padTop, padBottom, 1);
  const ow = convOutSize(w, kw, strideW, padLeft, padRight, 1);
  if (oh < 1 || ow < 1) fail(node, `window ${kh}x${kw} does not fit the ${h}x${w} input`);
  return { n, c, h, w, o: c, oh, ow, kh, kw, strideH, strideW, padTop, padLeft, dilH: 1, dilW: 1, groups: c };
}

function layer(node: GraphNode, x: Shape, b: ProgramBuilder, global: boolean): ConvLayer {
  const geom = geometry(node, x, global);
  const { c, kh, kw } = geom;
  const weights = new Float32Array(c * kh * kw).fill(1 / (kh * kw));
  return { geom, weight: b.param(`avgpool:${c}x${kh}x${kw}`, { shape: [c, 1, kh, kw], data: weights }), bias: null };
}

function poolOp(op: 'avgpool2d' | 'globalavgpool'): OpDef {
  const global = op === 'globalavgpool';
  return {
    op,
    inferShape(node, [x]) {
      expectRank(node, x!, 4);
      const g = geometry(node, x!, global);
      return [g.n, g.c, g.oh, g.ow];
    },
    forward: (ctx) => emitConvForward(ctx, layer(ctx.node, ctx.inputs[0]!.shape, ctx.b, global)),
    relevance: (ctx) => emitConvRelevance(ctx, layer(ctx.node, ctx.inputs[0]!.shape, ctx.b, global)),
  };
}

export const avgPoolOp = poolOp('avgpool2d');
export const globalAvgPoolOp = poolOp('globalavgpool');
