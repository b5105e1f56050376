import { shapeSize, type GraphNode, type Shape, type Tensor } from '../graph';
import type { ProgramBuilder } from '../program';
import { emitConvForward, emitConvRelevance, type ConvLayer } from './conv-shaped';
import { fail, type OpDef } from './op';
import type { OnnxMapping } from './import-context';
import { perChannel, tensor, transposed } from '../onnx/mapping-helpers';
import { mapComputedMatMul } from './matmul';

/** Ranks of the input a Linear takes: [N, F] up to [N, d1, ..., d4, F]. */
const MIN_RANK = 2;
const MAX_RANK = 6;

/** Checks the input [..., F] against the weight [O, F]; returns O and F. */
function check(node: GraphNode, x: Shape): { o: number; c: number } {
  if (x.length < MIN_RANK || x.length > MAX_RANK) fail(node, `expects an input of rank ${MIN_RANK} to ${MAX_RANK} ([..., features]), got [${x.join(', ')}]`);
  const w = node.params.weight;
  if (!w || w.shape.length !== 2) fail(node, 'needs a weight of shape [out, in]');
  const [o, c] = w.shape as [number, number];
  const features = x[x.length - 1]!;
  if (features !== c) fail(node, `weight expects ${c} input features, input has ${features}`);
  const bias = node.params.bias;
  if (bias && bias.data.length !== o) fail(node, `bias has ${bias.data.length} values for ${o} outputs`);
  return { o, c };
}

/**
 * A Linear layer is the 1x1 convolution of a 1x1 image with `in` channels; weight [out, in]. On [..., F] the rows
 * are independent: every leading axis is batch (n = their product), so [N, H, W, C] (ConvNeXt's NHWC MLP) and
 * [N, T, F] (a transformer's tokens) run as n rows of one matrix product.
 */
function layer(node: GraphNode, x: Shape, b: ProgramBuilder): ConvLayer {
  const { o, c } = check(node, x);
  const n = shapeSize(x) / c;
  const bias = node.params.bias;
  return {
    geom: { n, c, h: 1, w: 1, o, oh: 1, ow: 1, kh: 1, kw: 1, strideH: 1, strideW: 1, padTop: 0, padLeft: 0, dilH: 1, dilW: 1, groups: 1 },
    weight: b.param(`${node.name}.weight`, node.params.weight!, [o, c, 1, 1]),
    bias: bias ? b.param(`${node.name}.bias`, bias) : null,
  };
}

const onnxGemm: OnnxMapping = {
  limits: '2-D input, constant B and C, transA=0, any transB, alpha and beta',
  map(n) {
    if (n.attr.int('transA', 0) !== 0) n.error('transA=1 is not supported');
    const x = n.rt(0);
    const s = n.rank(x, 2, 'Gemm needs a 2D input');
    const b = n.param(1, 'the weight');
    if (b.shape.length !== 2) n.error(`the weight has shape [${b.shape.join(', ')}], 2D expected`);
    const transB = n.attr.int('transB', 0) !== 0;
    const [out, inF] = (transB ? b.shape : [b.shape[1], b.shape[0]]) as [number, number];
    if (inF !== s[1]) n.error(`the weight [${b.shape.join(', ')}]${transB ? '' : ' (transposed)'} does not fit an input of ${s[1]} features`);
    if (b.data.length === 0) n.error(`the weight has shape [${b.shape.join(', ')}], which holds nothing`);
    const wt = transB ? b : transposed(n, b);
    const alpha = n.attr.float('alpha', 1);
    const beta = n.attr.float('beta', 1);
    let w = n.f32(wt, 'the weight');
    if (alpha !== 1) {
      n.charge(w.length, 'the scaled weight');
      w = w.map((v) => v * alpha);
    }
    const params: Record<string, Tensor> = { weight: tensor([out, inF], w) };
    if (n.ins[2]) {
      const c = n.param(2, 'the bias');
      const bias = perChannel(n, c, out, 2, 'the bias');
      if (beta !== 1) for (let i = 0; i < bias.length; i++) bias[i] = bias[i]! * beta;
      params.bias = tensor([out], bias);
    }
    n.emit('linear', [x], {}, params, [s[0]!, out], { weightInput: 1 });
  },
};

const onnxMatMul: OnnxMapping = {
  limits: `a computed input of rank ${MIN_RANK} to ${MAX_RANK} times a constant 2-D weight [in, out] (a following Add of a constant becomes the bias); two computed values of equal rank ${MIN_RANK} to ${MAX_RANK} with equal leading axes: a matmul layer`,
  map(n) {
    if (!n.isConst(1) && !n.isConst(0)) return mapComputedMatMul(n);
    if (!n.isConst(1)) n.error('MatMul is supported with a constant 2-D weight as its second input (a constant first operand is not)');
    const x = n.rt(0);
    const s = n.shapeOf(x);
    if (s.length < MIN_RANK || s.length > MAX_RANK) n.error(`MatMul is supported on inputs of rank ${MIN_RANK} to ${MAX_RANK}, got [${s.join(', ')}]`);
    const features = s[s.length - 1]!;
    const b = n.param(1, 'the weight');
    if (b.shape.length !== 2 || b.shape[0] !== features) n.error(`the weight [${b.shape.join(', ')}] does not fit an input of ${features} features`);
    if (b.data.length === 0) n.error(`the weight has shape [${b.shape.join(', ')}], which holds nothing`);
    const wt = transposed(n, b);
    n.emit('linear', [x], {}, { weight: tensor(wt.shape, n.f32(wt, 'the weight')) }, [...s.slice(0, -1), wt.shape[0]!], { weightInput: 1 });
  },
};

export const linearOp: OpDef = {
  op: 'linear',
  layerClass: 'weighted',
  summary: 'Fully connected layer y = W x + b over the last axis of [..., F] (every leading axis is batch); every Linear/Conv rule applies.',
  onnx: { Gemm: onnxGemm, MatMul: onnxMatMul },
  inferShape(node, [x]) {
    const { o } = check(node, x!);
    return [...x!.slice(0, -1), o];
  },
  forward: (ctx) => emitConvForward(ctx, layer(ctx.node, ctx.inputs[0]!.shape, ctx.b)),
  relevance: (ctx) => emitConvRelevance(ctx, layer(ctx.node, ctx.inputs[0]!.shape, ctx.b)),
};
