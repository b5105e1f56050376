/**
 * Helpers the Keras mappings of several ops share (config values, TensorFlow's 'same' padding, convolution and
 * pooling geometry, the Keras order of a flattened vector). Each takes the layer being imported, so that every
 * error names it. Nothing here imports the importer.
 */
import { brief } from '../onnx/limits';

export { brief };
import type { KerasLayer, KerasLayerInfo, KerasTensor } from '../ops/import-context';

/** One or two numbers (kernel_size, strides, pool_size) as a pair; `fallback` when absent. */
export function kerasPair(layer: Pick<KerasLayer, 'error'>, v: unknown, what: string, fallback?: number): [number, number] {
  if (v === undefined || v === null) {
    if (fallback !== undefined) return [fallback, fallback];
    layer.error(`${what} is missing`);
  }
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number')) return [v[0] as number, v[1] as number];
  if (Array.isArray(v) && v.length === 1 && typeof v[0] === 'number') return [v[0], v[0]];
  return layer.error(`${what} ${brief(v)} should be one or two numbers`);
}

function positiveInts(layer: Pick<KerasLayer, 'error'>, v: readonly number[], what: string): void {
  if (!v.every((x) => Number.isInteger(x) && x > 0)) layer.error(`${what} [${v.join(', ')}] should be positive integers`);
}

/** A positive integer config value (filters, units), or an error naming it. */
export function positiveInt(layer: Pick<KerasLayer, 'error'>, v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) layer.error(`has no valid "${what}"`);
  return v;
}

/** TensorFlow's 'same' padding along one axis: [before, after], the odd pixel after. */
export function samePadding(size: number, kernel: number, stride: number, dilation = 1): [number, number] {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

function outSize(size: number, kernel: number, stride: number, before: number, after: number, dilation = 1): number {
  return Math.floor((size + before + after - dilation * (kernel - 1) - 1) / stride) + 1;
}

/** Strides, dilation, explicit [top, left, bottom, right] pads ('same' resolved) and the output size of a 2-D window. */
export function convGeometry(layer: Pick<KerasLayer, 'error'>, c: Readonly<Record<string, unknown>>, H: number, W: number, kernel: [number, number]) {
  const stride = kerasPair(layer, c.strides, 'strides', 1);
  const dilation = kerasPair(layer, c.dilation_rate, 'dilation_rate', 1);
  positiveInts(layer, kernel, 'kernel_size');
  positiveInts(layer, stride, 'strides');
  positiveInts(layer, dilation, 'dilation_rate');
  const padding = c.padding ?? 'valid';
  let pads: [number, number, number, number];
  if (padding === 'valid') pads = [0, 0, 0, 0];
  else if (padding === 'same') {
    const [t, b] = samePadding(H, kernel[0], stride[0], dilation[0]);
    const [l, r] = samePadding(W, kernel[1], stride[1], dilation[1]);
    pads = [t, l, b, r];
  } else layer.error(`padding ${brief(padding)} is not supported ('same' or 'valid')`);
  const oh = outSize(H, kernel[0], stride[0], pads[0], pads[2], dilation[0]);
  const ow = outSize(W, kernel[1], stride[1], pads[1], pads[3], dilation[1]);
  if (oh < 1 || ow < 1) layer.error(`the window ${kernel[0]}x${kernel[1]} does not fit the ${H}x${W} input`);
  return { stride, dilation, pads, oh, ow };
}

/**
 * A convolution's 'same' padding as its own zero Pad layer ("<name>_pad") before a 'valid' convolution, the way
 * Keras models are written in PyTorch (ZeroPad2d + Conv2d) and the form the TF.js goldens are computed on: rules
 * that replace the input (Flat, WSquare, ZBox) then see the padded positions as inputs of the convolution.
 */
export function explicitPad(layer: KerasLayer, name: string, x: KerasTensor, pads: readonly number[]): KerasTensor {
  const [t, l, b, r] = pads as [number, number, number, number];
  if (t + l + b + r === 0) return x;
  const [H, W, C] = layer.image(x);
  return layer.emit('pad', [x], { pads: [0, 0, t, l, 0, 0, b, r] }, {}, [H + t + b, W + l + r, C], { name: layer.unique(`${name}_pad`) });
}

/** For a vector flattened from [H, W, C]: the Keras index of each engine (C, H, W order) feature. */
export function kerasIndex(t: KerasTensor): (e: number) => number {
  if (!t.flat) return (e) => e;
  const [H, W, C] = t.flat;
  return (e) => {
    const ch = Math.floor(e / (H * W));
    const hw = e - ch * H * W;
    return hw * C + ch;
  };
}

/** Per-feature Keras values (one per channel, or per feature of a flattened vector) in engine order. */
export function engineOrder(t: KerasTensor, v: Float32Array): Float32Array {
  if (!t.flat) return v;
  const k = kerasIndex(t);
  return Float32Array.from({ length: v.length }, (_, e) => v[k(e)]!);
}

/** A Keras `axis` config value (a number or a one-element list, counting the batch axis) on a rank-`rank` tensor (batch left out): the axis without the batch, or NaN. */
export function kerasAxis(v: unknown, rank: number, fallback = -1): number {
  const raw = Array.isArray(v) && v.length === 1 ? v[0] : (v ?? fallback);
  if (typeof raw !== 'number' || !Number.isInteger(raw)) return NaN;
  const a = raw < 0 ? raw + rank + 1 : raw;
  return a >= 1 && a <= rank ? a - 1 : NaN;
}

/** The engine axis of Keras axis `a` (batch left out) of a tensor of rank `rank`: H, W, C -> 2, 3, 1; F -> 1. */
export function engineAxis(a: number, rank: number): number {
  if (rank === 1) return 1;
  return a === rank - 1 ? 1 : a + 2;
}

/** Reports data_format "channels_first" (the importer checks every layer for it). */
export function channelsFirst(layer: KerasLayerInfo): boolean {
  return layer.config.data_format === 'channels_first';
}

/** The Keras shape broadcasting of merge inputs (Add, Subtract, Multiply): lower ranks gain axes after the batch axis. */
export function mergeShapes(layer: Pick<KerasLayer, 'error'>, shapes: readonly (readonly number[])[], verb: string): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s0 of shapes) {
    const s = [...new Array<number>(rank - s0.length).fill(1), ...s0];
    s.forEach((d, i) => {
      if (d === out[i] || d === 1) return;
      if (out[i] === 1) out[i] = d;
      else layer.error(`cannot ${verb} ${shapes.map((t) => `[${t.join(', ')}]`).join(' and ')}: the shapes do not broadcast`);
    });
  }
  return out;
}

/**
 * The inputs of a merge layer (Add, Subtract, Multiply) made ready for the engine's numpy broadcasting, and the
 * Keras output shape: a vector merged with images becomes [1, 1, C] (Keras inserts the missing axes after the batch
 * axis; the engine value [1, C] is reshaped to [1, C, 1, 1]); flattened vectors merge only with vectors flattened
 * from the same shape (or single values), since the engine holds them in another order.
 */
export function mergeInputs(layer: KerasLayer, verb: string, min = 2): { ins: KerasTensor[]; shape: number[]; flat?: readonly [number, number, number] } {
  const ins = layer.ins;
  if (ins.length < min) layer.error(`needs at least ${min} inputs, got ${ins.length}`);
  const shape = mergeShapes(layer, ins.map((t) => t.shape), verb);
  let flat: readonly [number, number, number] | undefined;
  for (const t of ins) {
    const full = t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]);
    if (!full) continue;
    if (t.flat && flat === undefined) flat = t.flat;
  }
  for (const t of ins) {
    const size = t.shape.reduce((a, d) => a * d, 1);
    if (size === 1) continue;
    if (JSON.stringify(t.flat) !== JSON.stringify(flat)) layer.error(`cannot ${verb} vectors flattened from different shapes (Keras H, W, C order against the engine's C, H, W)`);
  }
  const aligned = ins.map((t) => {
    if (t.shape.length === shape.length) return t;
    if (t.flat) layer.error(`cannot ${verb} a vector flattened from an image with images`);
    const full = [...new Array<number>(shape.length - t.shape.length).fill(1), ...t.shape];
    const [, , C] = full as [number, number, number];
    return layer.emit('reshape', [t], { shape: [1, C, 1, 1] }, {}, full, { name: layer.unique(`${layer.name}_reshape`) });
  });
  return { ins: aligned, shape, ...(flat ? { flat } : {}) };
}

/** `flat` carried over to an elementwise layer's output. */
export const keepFlat = (x: KerasTensor): { flat?: readonly [number, number, number] } => (x.flat ? { flat: x.flat } : {});

/** A Keras MaxPooling2D / AveragePooling2D: its input, window, strides, explicit pads and output shape. */
export function kerasPoolGeometry(layer: KerasLayer) {
  const c = layer.config;
  const x = layer.input();
  const [H, W, C] = layer.image(x);
  const kernel = kerasPair(layer, c.pool_size, 'pool_size', 2);
  const stride = c.strides === undefined || c.strides === null ? kernel : kerasPair(layer, c.strides, 'strides');
  const g = convGeometry(layer, { ...c, strides: stride, dilation_rate: 1 }, H, W, kernel);
  return { x, H, W, C, kernel, stride: g.stride, pads: g.pads, shape: [g.oh, g.ow, C] };
}

/**
 * A Keras global pooling layer: `pool` emits the engine's [1, C, 1, 1] pool (Keras [1, 1, C], kept with
 * keepdims), reshaped to the vector [C] ("<layer>_reshape") otherwise.
 */
export function kerasGlobalPool(layer: KerasLayer, pool: (x: KerasTensor, H: number, W: number) => KerasTensor): KerasTensor {
  const x = layer.input();
  const [H, W, C] = layer.image(x);
  const t = pool(x, H, W);
  if (layer.config.keepdims === true) return t;
  return layer.emit('reshape', [t], { shape: [1, C] }, {}, [C], { name: layer.unique(`${layer.name}_reshape`) });
}
