import type { GraphNode, Shape } from '../graph';
import type { ProgramBuilder } from '../program';
import { emitConvForward, emitConvRelevance, type ConvLayer } from './conv-shaped';
import { fail, type OpDef } from './op';
import type { KerasLayer, OnnxMapping } from './import-context';
import { brief, engineOrder, kerasAxis } from '../tfjs/keras-helpers';
import { tensor } from '../onnx/mapping-helpers';

const onnxBatchNorm: OnnxMapping = {
  limits: 'inference mode, constant statistics; [N, C] or NCHW',
  map(n) {
    if (n.attr.int('training_mode', 0) !== 0) n.error('training_mode=1 is not supported');
    if (n.outs.slice(1).some((o) => o && n.consumers(o))) n.error('running-statistics outputs are not supported');
    const x = n.rt(0);
    const s = n.shapeOf(x);
    if (s.length < 2) n.error('the input needs a channel axis');
    const C = s[1]!;
    const get = (i: number, what: string): Float32Array => {
      const t = n.param(i, what);
      if (t.data.length !== C) n.error(`${what} has ${t.data.length} values, ${C} expected`);
      return n.f32(t, what);
    };
    const gamma = get(1, 'the scale');
    const beta = get(2, 'the bias');
    const mean = get(3, 'the mean');
    const variance = get(4, 'the variance');
    const epsilon = n.attr.float('epsilon', 1e-5);
    n.charge(2 * C, 'the folded scale and shift');
    const scale = new Float32Array(C);
    const shift = new Float32Array(C);
    for (let c = 0; c < C; c++) {
      const k = gamma[c]! / Math.sqrt(variance[c]! + epsilon);
      scale[c] = k;
      shift[c] = beta[c]! - mean[c]! * k;
    }
    const params = {
      scale: tensor([C], scale),
      shift: tensor([C], shift),
      gamma: tensor([C], gamma),
      beta: tensor([C], beta),
      mean: tensor([C], mean),
      var: tensor([C], variance),
    };
    n.emit('batchnorm', [x], { epsilon }, params, [...s], { weightInput: 1 });
  },
};

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
  layerClass: 'batchnorm',
  summary: 'BatchNorm at inference, a per-channel affine map: merged into the Linear/Conv before it (Zennit) or kept as a layer (Captum, or when nothing precedes it to merge into, as after a Concat); kept, it takes Epsilon, Norm, Pass or the gradient.',
  onnx: { BatchNormalization: onnxBatchNorm },
  keras: { BatchNormalization: { limits: 'the channel axis (-1), or the features of a vector; center and scale either way', map: kerasBatchNorm } },
  inferShape(node, [x]) {
    if (x!.length !== 2 && x!.length !== 4) fail(node, `expects a [N, C] or [N, C, H, W] input, got [${x!.join(', ')}]`);
    return x!;
  },
  forward: (ctx) => emitConvForward(ctx, layer(ctx.node, ctx.inputs[0]!.shape, ctx.b)),
  relevance: (ctx) => emitConvRelevance(ctx, layer(ctx.node, ctx.inputs[0]!.shape, ctx.b)),
};

/**
 * Keras BatchNormalization over the channel axis: gamma, beta, mean and variance (reordered for a flattened vector,
 * whose features the engine holds in C, H, W order), with scale and shift computed in float64.
 */
function kerasBatchNorm(layer: KerasLayer) {
  const c = layer.config;
  const x = layer.input();
  const rank = x.shape.length;
  if (kerasAxis(c.axis, rank) !== rank - 1) layer.error(`normalising axis ${brief(c.axis)} is not supported (only the channel axis, -1)`);
  const C = x.shape[rank - 1]!;
  const epsilon = typeof c.epsilon === 'number' ? c.epsilon : 1e-3;
  // gamma, beta, mean, variance (reordered for a flattened input), scale and shift: six arrays of C.
  layer.charge(C, 'the normalisation terms', 6 * 4);
  const gamma = engineOrder(x, c.scale === false ? new Float32Array(C).fill(1) : layer.weight('gamma', [C]));
  const beta = engineOrder(x, c.center === false ? new Float32Array(C) : layer.weight('beta', [C]));
  const mean = engineOrder(x, layer.weight('moving_mean', [C]));
  const variance = engineOrder(x, layer.weight('moving_variance', [C]));
  const scale = new Float32Array(C);
  const shift = new Float32Array(C);
  for (let i = 0; i < C; i++) {
    const s = gamma[i]! / Math.sqrt(variance[i]! + epsilon); // float64
    scale[i] = s;
    shift[i] = beta[i]! - mean[i]! * s;
  }
  const params = { scale: tensor([C], scale), shift: tensor([C], shift), gamma: tensor([C], gamma), beta: tensor([C], beta), mean: tensor([C], mean), var: tensor([C], variance) };
  return layer.emit('batchnorm', [x], { epsilon }, params, x.shape, x.flat ? { flat: x.flat } : {});
}
