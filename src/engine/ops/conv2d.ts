import { attrNumber, attrNumbers, type GraphNode, type Shape, type Tensor } from '../graph';
import type { ConvGeometry } from '../kernels/steps';
import { emitConvForward, emitConvRelevance, type ConvLayer } from './conv-shaped';
import { expectRank, fail, type OpDef } from './op';
import type { OnnxMapping } from './import-context';
import { pair, resolvePads, tensor } from '../onnx/mapping-helpers';

const onnxConv: OnnxMapping = {
  limits: '2-D (NCHW), constant weight and bias, any group, stride, dilation, pads or auto_pad',
  map(n) {
    const x = n.rt(0);
    const s = n.rank(x, 4, 'only 2D convolutions (NCHW input) are supported');
    const w = n.param(1, 'the weight');
    if (w.shape.length !== 4) n.error(`the weight has shape [${w.shape.join(', ')}], OIHW expected`);
    const [O, Ig, kh, kw] = w.shape as [number, number, number, number];
    const groups = n.attr.int('group', 1);
    const kernel = n.attr.ints('kernel_shape') ?? [kh, kw];
    if (kernel[0] !== kh || kernel[1] !== kw) n.error(`kernel_shape [${kernel.join(', ')}] does not match the weight`);
    if (s[1] !== Ig * groups || O % groups !== 0) {
      n.error(`the weight [${w.shape.join(', ')}] with group=${groups} does not fit an input with ${s[1]} channels`);
    }
    if (w.data.length === 0) n.error(`the weight has shape [${w.shape.join(', ')}], which holds nothing`);
    const stride = pair(n, n.attr.ints('strides') ?? [1, 1], 'strides');
    const dilation = pair(n, n.attr.ints('dilations') ?? [1, 1], 'dilations');
    const pads = resolvePads(n, [s[2]!, s[3]!], [kh, kw], stride, dilation);
    const params: Record<string, Tensor> = { weight: tensor(w.shape, n.f32(w, 'the weight')) };
    if (n.ins[2]) {
      const b = n.param(2, 'the bias');
      if (b.data.length !== O) n.error(`the bias has ${b.data.length} values, ${O} expected`);
      params.bias = tensor([O], n.f32(b, 'the bias'));
    }
    const oh = convOutSize(s[2]!, kh, stride[0]!, pads[0]!, pads[2]!, dilation[0]!);
    const ow = convOutSize(s[3]!, kw, stride[1]!, pads[1]!, pads[3]!, dilation[1]!);
    if (oh <= 0 || ow <= 0) n.error(`the output would be empty (input ${s[2]}x${s[3]})`);
    n.emit('conv2d', [x], { kernel: [kh, kw], stride: [...stride], pads, dilation: [...dilation], groups }, params, [s[0]!, O, oh, ow], { weightInput: 1 });
  },
};

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
  layerClass: 'weighted',
  summary: '2-D convolution (grouped, depthwise, strided, dilated, padded); every Linear/Conv rule applies.',
  onnx: { Conv: onnxConv },
  inferShape(node, [x]) {
    expectRank(node, x!, 4);
    const g = geometry(node, x!);
    return [g.n, g.o, g.oh, g.ow];
  },
  forward: (ctx) => emitConvForward(ctx, layer(ctx.node, ctx.inputs[0]!.shape, ctx.b)),
  relevance: (ctx) => emitConvRelevance(ctx, layer(ctx.node, ctx.inputs[0]!.shape, ctx.b)),
};
