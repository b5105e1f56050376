/**
 * A tiny convolutional network for the hook, CRP and gradient-baseline tests, and its forward pass written out in
 * float64 from the definitions (independent of the engine): conv (stride 1, zero padding) -> activation -> flatten
 * -> linear.
 */
import type { Graph } from '../../../src/engine/graph';
import { randomArray, rng } from './engines';

export interface TinyNet {
  readonly graph: Graph;
  readonly c: number;
  readonly o: number;
  readonly h: number;
  readonly w: number;
  readonly k: number;
  readonly pad: number;
  readonly oh: number;
  readonly ow: number;
  readonly classes: number;
  readonly act: 'relu' | 'tanh';
  readonly convW: Float32Array; // [o, c, k, k]
  readonly convB: Float32Array; // [o]
  readonly fcW: Float32Array; // [classes, o * oh * ow]
  readonly fcB: Float32Array; // [classes]
}

export function tinyNet(seed: number, act: 'relu' | 'tanh', { c = 2, o = 3, h = 4, w = 4, k = 3, pad = 1, classes = 3 } = {}): TinyNet {
  const random = rng(seed);
  const oh = h + 2 * pad - k + 1;
  const ow = w + 2 * pad - k + 1;
  const features = o * oh * ow;
  const convW = randomArray(o * c * k * k, random, 0.8);
  const convB = randomArray(o, random, 0.3);
  const fcW = randomArray(classes * features, random, 0.8);
  const fcB = randomArray(classes, random, 0.2);
  const graph: Graph = {
    name: 'tiny',
    input: { name: 'x', shape: [1, c, h, w] },
    output: 'logits',
    nodes: [
      {
        name: 'conv',
        op: 'conv2d',
        inputs: ['x'],
        output: 'z1',
        attrs: { stride: [1, 1], pads: [pad, pad, pad, pad], dilation: [1, 1], groups: 1 },
        params: { weight: { shape: [o, c, k, k], data: convW }, bias: { shape: [o], data: convB } },
      },
      { name: 'act', op: act, inputs: ['z1'], output: 'a1', attrs: {}, params: {} },
      { name: 'flatten', op: 'reshape', inputs: ['a1'], output: 'f', attrs: { shape: [1, features] }, params: {} },
      {
        name: 'fc',
        op: 'linear',
        inputs: ['f'],
        output: 'logits',
        attrs: {},
        params: { weight: { shape: [classes, features], data: fcW }, bias: { shape: [classes], data: fcB } },
      },
    ],
  };
  return { graph, c, o, h, w, k, pad, oh, ow, classes, act, convW, convB, fcW, fcB };
}

export interface TinyForward {
  /** Conv output [o, oh, ow] flat. */
  readonly z1: Float64Array;
  /** Activation output, same layout (= the flattened features). */
  readonly a1: Float64Array;
  readonly logits: Float64Array;
}

/** The forward pass in float64, written from the layer definitions. */
export function tinyForward(net: TinyNet, x: ArrayLike<number>): TinyForward {
  const { c, o, h, w, k, pad, oh, ow, classes } = net;
  const z1 = new Float64Array(o * oh * ow);
  for (let oc = 0; oc < o; oc++)
    for (let y = 0; y < oh; y++)
      for (let xx = 0; xx < ow; xx++) {
        let s = net.convB[oc]!;
        for (let ic = 0; ic < c; ic++)
          for (let ky = 0; ky < k; ky++)
            for (let kx = 0; kx < k; kx++) {
              const iy = y + ky - pad;
              const ix = xx + kx - pad;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              s += net.convW[((oc * c + ic) * k + ky) * k + kx]! * x[(ic * h + iy) * w + ix]!;
            }
        z1[(oc * oh + y) * ow + xx] = s;
      }
  const a1 = z1.map((v) => (net.act === 'relu' ? Math.max(v, 0) : Math.tanh(v)));
  const logits = new Float64Array(classes);
  for (let q = 0; q < classes; q++) {
    let s = net.fcB[q]!;
    for (let j = 0; j < a1.length; j++) s += net.fcW[q * a1.length + j]! * a1[j]!;
    logits[q] = s;
  }
  return { z1, a1, logits };
}

/** For every input element: the conv output positions it feeds and the weights (to write rules by hand). */
export function convContributions(net: TinyNet): { out: number; weight: number }[][] {
  const { c, o, h, w, k, pad, oh, ow } = net;
  const contrib: { out: number; weight: number }[][] = Array.from({ length: c * h * w }, () => []);
  for (let oc = 0; oc < o; oc++)
    for (let y = 0; y < oh; y++)
      for (let xx = 0; xx < ow; xx++)
        for (let ic = 0; ic < c; ic++)
          for (let ky = 0; ky < k; ky++)
            for (let kx = 0; kx < k; kx++) {
              const iy = y + ky - pad;
              const ix = xx + kx - pad;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              contrib[(ic * h + iy) * w + ix]!.push({ out: (oc * oh + y) * ow + xx, weight: net.convW[((oc * c + ic) * k + ky) * k + kx]! });
            }
  return contrib;
}

/** stab(d) = d + eps * sign(d), sign(0) = +1 (docs/engine.md). */
export const stab = (d: number, eps: number) => d + eps * (d >= 0 ? 1 : -1);
