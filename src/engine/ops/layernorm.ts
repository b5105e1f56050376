import { attrNumber, shapeSize, type GraphNode, type Shape, type Tensor } from '../graph';
import type { ProgramBuilder, TensorRef } from '../program';
import type { LayerNormGeometry } from '../kernels/steps';
import { fail, unsupportedRule, type OpDef, type RelevanceContext } from './op';
import type { ConstValue, KerasLayer, OnnxMapping, OnnxNode } from './import-context';
import { brief, engineAxis, engineOrder, kerasAxis } from '../tfjs/keras-helpers';
import { tensor } from '../onnx/mapping-helpers';

/**
 * LayerNorm over one axis (attribute `axis`, default -1; timm's LayerNorm2d is axis 1 of NCHW):
 * y = gamma * (x - mean) / sqrt(var + epsilon) + beta with the biased variance; params gamma and beta [F] (beta
 * optional). Relevance (kernels/layernorm.ts): Epsilon with the standard deviation held constant (Ali et al. 2022,
 * "XAI for Transformers: Better Explanations through Conservative Propagation"), Pass, or the true gradient.
 */
function geometry(node: GraphNode, x: Shape): { geom: LayerNormGeometry; axis: number } {
  if (x.length < 2 || x.length > 6) fail(node, `expects an input of rank 2 to 6, got [${x.join(', ')}]`);
  const raw = attrNumber(node, 'axis', -1);
  const axis = raw < 0 ? raw + x.length : raw;
  if (!Number.isInteger(axis) || axis < 1 || axis >= x.length) fail(node, `axis ${raw} is not a feature axis of [${x.join(', ')}] (the batch axis 0 cannot be normalised)`);
  const features = x[axis]!;
  const eps = attrNumber(node, 'epsilon', 1e-5);
  if (!(eps >= 0) || !Number.isFinite(eps)) fail(node, `epsilon ${eps} must be a non-negative number`);
  const { gamma, beta } = node.params;
  if (!gamma || gamma.data.length !== features) fail(node, `needs gamma with ${features} values (one per feature along axis ${axis})`);
  if (beta && beta.data.length !== features) fail(node, `beta has ${beta.data.length} values, ${features} expected`);
  return { geom: { outer: shapeSize(x.slice(0, axis)), features, inner: shapeSize(x.slice(axis + 1)) }, axis };
}

function params(ctx: { node: GraphNode; b: ProgramBuilder }, features: number): { gamma: TensorRef; beta: TensorRef } {
  const { node, b } = ctx;
  const beta = node.params.beta ?? { shape: [features], data: new Float32Array(features) };
  return { gamma: b.param(`${node.name}.gamma`, node.params.gamma!), beta: b.param(`${node.name}.beta`, beta) };
}

function relevance(ctx: RelevanceContext): void {
  const { node, program, b } = ctx;
  const x = ctx.inputs[0]!;
  if (program.kind === 'pass') return ctx.pass(0, ctx.r);
  const { geom } = geometry(node, x.shape);
  const { gamma, beta } = params(ctx, geom.features);
  let mode: 'epsilon' | 'gradient' = 'gradient';
  let stabilizer = 0;
  let bias: TensorRef | null = null;
  if (program.kind === 'lrp') {
    // Only the epsilon formula has a meaning here (the layer is linear once the std is held constant).
    const [g] = program.groups;
    const plain = (m: { kind: string; plain?: number; pos?: number; neg?: number }) => m.kind === 'affine' && m.plain === 1 && m.pos === 0 && m.neg === 0;
    const t = g?.terms[0];
    if (program.groups.length !== 1 || g!.terms.length !== 1 || t!.input !== 'identity' || !plain(t!.weight) || g!.coefficient !== 1 || g!.mask !== 'all' || g!.epsilon === null) {
      unsupportedRule(ctx);
    }
    mode = 'epsilon';
    stabilizer = g!.epsilon!;
    bias = g!.bias.kind === 'zero' ? null : b.modified(beta, g!.bias);
  }
  const target = ctx.target(0);
  b.emit('relevance', {
    kernel: 'layernorm-relevance',
    geom,
    mode,
    x,
    gamma,
    bias,
    r: ctx.r,
    rin: target.ref,
    epsilon: attrNumber(node, 'epsilon', 1e-5),
    stabilizer,
    accumulate: target.accumulate,
  });
}

/** A constant with one value per feature (or a single value), shaped [F] or with axes of size 1 around F. */
function featureValues(n: OnnxNode, c: ConstValue, features: number, what: string): Float32Array {
  if (c.data.length === 1) {
    n.charge(features, what);
    return new Float32Array(features).fill(c.data[0]!);
  }
  if (c.data.length !== features || c.shape.filter((d) => d !== 1).length !== 1) n.error(`${what} has shape [${c.shape.join(', ')}]; one value per feature (${features}) expected`);
  n.charge(features, what);
  return new Float32Array(c.data);
}

const onnxLayerNorm: OnnxMapping = {
  limits:
    'normalisation over a single axis: the last (or one followed only by axes of size 1), or any one axis of a LayerNorm written out op by op (fused at import, onnx-fusions.ts); constant scale and optional bias; the Mean and InvStdDev outputs unused',
  map(n) {
    const x = n.rt(0);
    const s = n.shapeOf(x);
    if (s.length < 2) n.error(`the input [${s.join(', ')}] needs a feature axis`);
    const raw = n.attr.int('axis', -1);
    const axis = raw < 0 ? raw + s.length : raw;
    if (axis < 1 || axis >= s.length) n.error(`axis ${raw} is out of range for [${s.join(', ')}] (or normalises the batch axis)`);
    // `single_axis`: set by the import pre-pass on a written-out LayerNorm, which normalises axis `axis` only.
    if (n.attr.int('single_axis', 0) !== 1 && s.slice(axis + 1).some((d) => d !== 1)) {
      n.error(`normalising over the axes [${s.slice(axis).join(', ')}] together (axis ${raw} to the last) is not supported: only a single normalised axis is`);
    }
    if (n.outs.slice(1).some((o) => o && n.consumers(o) > 0)) n.error('the Mean and InvStdDev outputs are not supported');
    const features = s[axis]!;
    const gamma = featureValues(n, n.param(1, 'the scale'), features, 'the scale');
    const params: Record<string, Tensor> = { gamma: tensor([features], gamma) };
    if (n.ins[2]) params.beta = tensor([features], featureValues(n, n.param(2, 'the bias'), features, 'the bias'));
    n.emit('layernorm', [x], { axis, epsilon: n.attr.float('epsilon', 1e-5) }, params, [...s], { weightInput: 1 });
  },
};

export const layerNormOp: OpDef = {
  op: 'layernorm',
  layerClass: 'layernorm',
  summary: 'LayerNorm over one axis: Epsilon with the standard deviation held constant (Ali et al. 2022), Pass, or its gradient.',
  onnx: { LayerNormalization: onnxLayerNorm },
  keras: { LayerNormalization: { limits: 'a single axis (the channels, -1, by default; the features of a vector); center and scale either way; not rms_scaling', map: kerasLayerNorm } },
  inferShape(node, [x]) {
    geometry(node, x!);
    return x!;
  },
  forward(ctx) {
    const { node, b } = ctx;
    const x = ctx.inputs[0]!;
    const { geom } = geometry(node, x.shape);
    const { gamma, beta } = params(ctx, geom.features);
    const out = b.tensor(ctx.outShape, `${node.name}:out`);
    b.emit('forward', { kernel: 'layernorm', geom, x, gamma, beta, epsilon: attrNumber(node, 'epsilon', 1e-5), out });
    return out;
  },
  relevance,
};

/**
 * Keras LayerNormalization over one axis: the channel axis -1 of an image [H, W, C] is the engine's axis 1 (each
 * pixel normalised over its channels), as is a vector's; gamma and beta are reordered for a flattened vector.
 */
function kerasLayerNorm(layer: KerasLayer) {
  const c = layer.config;
  const x = layer.input();
  const rank = x.shape.length;
  const a = kerasAxis(c.axis, rank);
  if (Number.isNaN(a)) layer.error(`normalising over axis ${brief(c.axis)} of [${x.shape.join(', ')}] is not supported (only a single axis, not the batch axis)`);
  if (c.rms_scaling === true) layer.error('rms_scaling is not supported');
  const F = x.shape[a]!;
  const epsilon = typeof c.epsilon === 'number' ? c.epsilon : 1e-3;
  layer.charge(F, 'the normalisation terms', 2 * 4);
  const params: Record<string, Tensor> = { gamma: tensor([F], engineOrder(x, c.scale === false ? new Float32Array(F).fill(1) : layer.weight('gamma', [F]))) };
  if (c.center !== false) params.beta = tensor([F], engineOrder(x, layer.weight('beta', [F])));
  return layer.emit('layernorm', [x], { axis: engineAxis(a, rank), epsilon }, params, x.shape, x.flat ? { flat: x.flat } : {});
}
