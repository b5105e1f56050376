/**
 * Keras layer classes that become several engine layer kinds (a convolution with a fused activation, SeparableConv2D,
 * an Activation layer, ReLU's three forms) or none (InputLayer, Softmax, the Dropout family); the classes that
 * become one kind are declared by that op (`keras` in src/engine/ops/*.ts). Also the table of Keras activation
 * names (a layer's `activation`, or an Activation layer). ./keras-table.ts joins both into the importer's table.
 */
import type { AttrValue, OpType, Tensor } from '../graph';
import type { KerasLayer, KerasLayerInfo, KerasMapping, KerasTensor } from '../ops/import-context';
import { brief } from '../onnx/limits';
import { convGeometry, explicitPad, kerasIndex, kerasPair, positiveInt } from './keras-helpers';

// ---------------------------------------------------------------------------------------------------------------
// Activations

export interface KerasActivation {
  /** The engine layer, or null: the identity ("linear"), or removed at the end of the model ("softmax"). */
  readonly op: OpType | null;
  /** Its attributes; `keras3`: the file was written by Keras 3 (some definitions changed). */
  attrs?(keras3: boolean): Record<string, AttrValue>;
}

/**
 * Keras activation names (as TF.js and Keras 2/3 write them) -> engine layer. hard_sigmoid is Keras 2's and TF.js's
 * clip(0.2 x + 0.5, 0, 1), and Keras 3's relu6(x + 3) / 6 = clip(x / 6 + 0.5, 0, 1); gelu is exact (erf), TF.js's
 * gelu_new the tanh approximation; swish is x * sigmoid(x) (TF.js's alpha 1).
 */
export const KERAS_ACTIVATIONS: Readonly<Record<string, KerasActivation>> = {
  linear: { op: null },
  relu: { op: 'relu' },
  relu6: { op: 'clip', attrs: () => ({ min: 0, max: 6 }) },
  sigmoid: { op: 'sigmoid' },
  tanh: { op: 'tanh' },
  leaky_relu: { op: 'leakyrelu', attrs: () => ({ alpha: 0.2 }) },
  hard_sigmoid: { op: 'hardsigmoid', attrs: (keras3) => ({ alpha: keras3 ? 1 / 6 : 0.2, beta: 0.5 }) },
  hard_swish: { op: 'hardswish', attrs: () => ({ alpha: 1 / 6, beta: 0.5 }) },
  hard_silu: { op: 'hardswish', attrs: () => ({ alpha: 1 / 6, beta: 0.5 }) },
  swish: { op: 'silu' },
  silu: { op: 'silu' },
  gelu: { op: 'gelu' },
  gelu_new: { op: 'gelu', attrs: () => ({ approximate: 'tanh' }) },
  softmax: { op: null },
};

/** TF.js's camelCase spellings of the same activations. */
const ACTIVATION_ALIASES: Readonly<Record<string, string>> = { hardSigmoid: 'hard_sigmoid', leakyRelu: 'leaky_relu', hardSwish: 'hard_swish', geluNew: 'gelu_new' };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** An activation's name: a string, or the class_name of a serialised activation object; aliases resolved. */
export function activationName(act: unknown): string {
  const name = typeof act === 'string' ? act : isObject(act) && typeof act.class_name === 'string' ? act.class_name : brief(act);
  return Object.hasOwn(ACTIVATION_ALIASES, name) ? ACTIVATION_ALIASES[name]! : name;
}

/** The activation, or undefined when it is not supported. */
export function kerasActivation(name: string): KerasActivation | undefined {
  return Object.hasOwn(KERAS_ACTIVATIONS, name) ? KERAS_ACTIVATIONS[name] : undefined;
}

/** Reports an activation config value that cannot be imported (unknown, or a softmax before the end). */
export function checkActivation(act: unknown, layer: KerasLayerInfo, report: (label: string) => void): void {
  if (act === undefined || act === null) return;
  const name = activationName(act);
  if (!kerasActivation(name)) report(`activation "${name}"`);
  else if (name === 'softmax' && !layer.isFinal) report('softmax (not at the end)');
}

const activationList = Object.keys(KERAS_ACTIVATIONS)
  .map((n) => (n === 'softmax' ? 'softmax (final only)' : n))
  .join(', ');
const activationOps = [...new Set(Object.values(KERAS_ACTIVATIONS).flatMap((a) => (a.op ? [a.op] : [])))];

/** A layer with a fused `activation`: its own layers, then the activation's. */
function withActivation(limits: string, layers: readonly OpType[], body: (layer: KerasLayer) => KerasTensor): KerasMapping {
  return {
    limits: `${limits}; its activation becomes a layer of its own, as in Activation`,
    layers,
    check: (l, report) => checkActivation(l.config.activation, l, report),
    map: (layer) => layer.activation(body(layer), layer.config.activation),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Convolutions and Dense

function conv2d(layer: KerasLayer): KerasTensor {
  const c = layer.config;
  const x = layer.input();
  const [H, W, C] = layer.image(x);
  const filters = positiveInt(layer, c.filters, 'filters');
  const kernel = kerasPair(layer, c.kernel_size, 'kernel_size');
  const groups = typeof c.groups === 'number' ? c.groups : 1;
  if (!Number.isInteger(groups) || groups < 1 || C % groups !== 0 || filters % groups !== 0) {
    layer.error(`groups=${groups} does not divide ${C} input channels and ${filters} filters`);
  }
  const g = convGeometry(layer, c, H, W, kernel);
  const input = explicitPad(layer, layer.name, x, g.pads);
  const Ig = C / groups;
  const [kh, kw] = kernel;
  const k = layer.weight('kernel', [kh, kw, Ig, filters]);
  // HWIO -> OIHW
  const w = layer.alloc(filters * Ig * kh * kw, 'the kernel');
  for (let y = 0; y < kh; y++)
    for (let xx = 0; xx < kw; xx++)
      for (let i = 0; i < Ig; i++) for (let o = 0; o < filters; o++) w[((o * Ig + i) * kh + y) * kw + xx] = k[((y * kw + xx) * Ig + i) * filters + o]!;
  const params: Record<string, Tensor> = { weight: { shape: [filters, Ig, kh, kw], data: w } };
  if (c.use_bias !== false) params.bias = { shape: [filters], data: layer.weight('bias', [filters]) };
  return layer.emit('conv2d', [input], { kernel: [kh, kw], stride: g.stride, pads: [0, 0, 0, 0], dilation: g.dilation, groups }, params, [g.oh, g.ow, filters]);
}

/** A depthwise convolution; its kernel [kh, kw, C, M] becomes [C*M, 1, kh, kw] (output channel c*M + m). */
function depthwiseNode(layer: KerasLayer, name: string, x: KerasTensor, withBias: boolean): KerasTensor {
  const c = layer.config;
  const [H, W, C] = layer.image(x);
  const kernel = kerasPair(layer, c.kernel_size, 'kernel_size');
  const M = typeof c.depth_multiplier === 'number' ? c.depth_multiplier : 1;
  if (!Number.isInteger(M) || M < 1) layer.error(`depth_multiplier ${M} should be a positive integer`);
  const g = convGeometry(layer, c, H, W, kernel);
  const input = explicitPad(layer, name, x, g.pads);
  const [kh, kw] = kernel;
  const k = layer.weight('depthwise_kernel', [kh, kw, C, M]);
  const O = C * M;
  const w = layer.alloc(O * kh * kw, 'the kernel');
  for (let y = 0; y < kh; y++)
    for (let xx = 0; xx < kw; xx++) for (let ch = 0; ch < C; ch++) for (let m = 0; m < M; m++) w[((ch * M + m) * kh + y) * kw + xx] = k[((y * kw + xx) * C + ch) * M + m]!;
  const params: Record<string, Tensor> = { weight: { shape: [O, 1, kh, kw], data: w } };
  if (withBias) params.bias = { shape: [O], data: layer.weight('bias', [O]) };
  const attrs = { kernel: [kh, kw], stride: g.stride, pads: [0, 0, 0, 0], dilation: g.dilation, groups: C };
  return layer.emit('conv2d', [input], attrs, params, [g.oh, g.ow, O], { name });
}

/** SeparableConv2D: a depthwise convolution ("<name>_depthwise"), then a pointwise 1x1 convolution ("<name>"). */
function separable(layer: KerasLayer): KerasTensor {
  const c = layer.config;
  const d = depthwiseNode(layer, layer.unique(`${layer.name}_depthwise`), layer.input(), false);
  const filters = positiveInt(layer, c.filters, 'filters');
  const [oh, ow, CM] = d.shape as [number, number, number];
  const k = layer.weight('pointwise_kernel', [1, 1, CM, filters]);
  const w = layer.alloc(filters * CM, 'the kernel');
  for (let i = 0; i < CM; i++) for (let o = 0; o < filters; o++) w[o * CM + i] = k[i * filters + o]!;
  const params: Record<string, Tensor> = { weight: { shape: [filters, CM, 1, 1], data: w } };
  if (c.use_bias !== false) params.bias = { shape: [filters], data: layer.weight('bias', [filters]) };
  return layer.emit('conv2d', [d], { kernel: [1, 1], stride: [1, 1], pads: [0, 0, 0, 0], dilation: [1, 1], groups: 1 }, params, [oh, ow, filters]);
}

/**
 * Dense on a vector: a linear layer (after a Keras Flatten its weight columns are reordered to the engine's C, H, W
 * flatten). On an image [H, W, C] Keras applies it to every pixel's channels: a 1x1 convolution.
 */
function dense(layer: KerasLayer): KerasTensor {
  const c = layer.config;
  const x = layer.input();
  const units = positiveInt(layer, c.units, 'units');
  const bias = (): Tensor | undefined => (c.use_bias !== false ? { shape: [units], data: layer.weight('bias', [units]) } : undefined);
  if (x.shape.length === 3) {
    const [H, W, C] = layer.image(x);
    const k = layer.weight('kernel', [C, units]);
    const w = layer.alloc(units * C, 'the kernel');
    for (let i = 0; i < C; i++) for (let o = 0; o < units; o++) w[o * C + i] = k[i * units + o]!;
    const params: Record<string, Tensor> = { weight: { shape: [units, C, 1, 1], data: w } };
    const b = bias();
    if (b) params.bias = b;
    return layer.emit('conv2d', [x], { kernel: [1, 1], stride: [1, 1], pads: [0, 0, 0, 0], dilation: [1, 1], groups: 1 }, params, [H, W, units]);
  }
  if (x.shape.length !== 1) layer.error(`Dense on a tensor of shape [${x.shape.join(', ')}] is not supported`);
  const F = x.shape[0]!;
  const k = layer.weight('kernel', [F, units]);
  // Keras [in, out] -> [out, in]; after a Keras Flatten, column e (engine order) is Keras row kerasIndex(e).
  const kidx = kerasIndex(x);
  const w = layer.alloc(units * F, 'the kernel');
  for (let e = 0; e < F; e++) {
    const row = kidx(e) * units;
    for (let o = 0; o < units; o++) w[o * F + e] = k[row + o]!;
  }
  const params: Record<string, Tensor> = { weight: { shape: [units, F], data: w } };
  const b = bias();
  if (b) params.bias = b;
  return layer.emit('linear', [x], {}, params, [units]);
}

// ---------------------------------------------------------------------------------------------------------------
// The table's part declared here

const identity: KerasMapping = { limits: 'the identity at inference', layers: [], map: (layer) => layer.input() };

export const KERAS_LAYERS: Readonly<Record<string, KerasMapping>> = {
  InputLayer: {
    limits: 'an image H x W x C or a feature vector, batch 1 or free',
    layers: [],
    map: (layer) => layer.error('an InputLayer is the model input'),
  },
  Conv2D: withActivation("valid or 'same' padding (an explicit pad layer), strides, dilation, groups", ['pad', 'conv2d'], conv2d),
  DepthwiseConv2D: withActivation("any depth multiplier; valid or 'same' padding (an explicit pad layer)", ['pad', 'conv2d'], (l) => depthwiseNode(l, l.name, l.input(), l.config.use_bias !== false)),
  SeparableConv2D: withActivation('depthwise then pointwise', ['pad', 'conv2d', 'conv2d'], separable),
  Dense: withActivation('on a vector (after Flatten its weight columns are reordered to the NCHW flatten), or on every pixel of an image (a 1x1 convolution)', ['linear', 'conv2d'], dense),
  Activation: {
    limits: `${activationList}; hard_sigmoid is clip(0.2 x + 0.5, 0, 1) (TF.js, Keras 2) or relu6(x + 3) / 6 (a file from Keras 3), gelu exact, gelu_new the tanh approximation`,
    layers: activationOps,
    check: (l, report) => checkActivation(l.config.activation, l, report),
    map: (layer) => layer.activation(layer.input(), layer.config.activation, true),
  },
  Softmax: {
    limits: 'only at the end of the model, where it is removed',
    layers: [],
    check(l, report) {
      checkActivation('softmax', l, report);
      const a = l.config.axis;
      if (a !== undefined && a !== -1 && !(Array.isArray(a) && a.length === 1 && a[0] === -1)) report('Softmax over an axis other than the last');
    },
    map: (layer) => layer.activation(layer.input(), 'softmax', true),
  },
  ReLU: {
    limits: 'negative_slope or max_value (not both), no threshold',
    layers: ['relu', 'leakyrelu', 'clip'],
    check(l, report) {
      const c = l.config;
      if (typeof c.threshold === 'number' && c.threshold !== 0) report('ReLU with a threshold');
      if (typeof c.negative_slope === 'number' && c.negative_slope !== 0 && typeof c.max_value === 'number') report('ReLU with both negative_slope and max_value');
    },
    map(layer) {
      const c = layer.config;
      const x = layer.input();
      const slope = typeof c.negative_slope === 'number' ? c.negative_slope : 0;
      const max = typeof c.max_value === 'number' ? c.max_value : undefined;
      if (slope !== 0) return layer.emit('leakyrelu', [x], { alpha: slope }, {}, x.shape, x.flat ? { flat: x.flat } : {});
      if (max !== undefined) return layer.emit('clip', [x], { min: 0, max }, {}, x.shape, x.flat ? { flat: x.flat } : {});
      return layer.emit('relu', [x], {}, {}, x.shape, x.flat ? { flat: x.flat } : {});
    },
  },
  Dropout: identity,
  SpatialDropout2D: identity,
  GaussianNoise: identity,
  GaussianDropout: identity,
  AlphaDropout: identity,
};
