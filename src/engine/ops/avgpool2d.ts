import { attrNumber, attrNumbers, type GraphNode, type Shape } from '../graph';
import type { ProgramBuilder } from '../program';
import type { ConvGeometry } from '../kernels/steps';
import { emitConvForward, emitConvRelevance, type ConvLayer } from './conv-shaped';
import { onnxPoolAttributes, poolOutSize } from './maxpool2d';
import { expectRank, fail, nonNegativeIfInput, type OpDef } from './op';
import type { KerasLayer } from './import-context';
import { kerasGlobalPool, kerasPoolGeometry } from '../tfjs/keras-helpers';

/**
 * Average pooling is a depthwise convolution with constant weights 1/(kh*kw): the epsilon / Norm rule then splits a
 * window's relevance in proportion to each input, the gradient evenly. Global average pooling is the window that
 * covers the whole image. Where the divisor varies by window (PyTorch semantics: count_include_pad=0 divides by the
 * input elements a window covers; ceil mode's extra end padding is never counted), the convolution has weights 1
 * and a factor 1/count per output element (ConvLayer.outScale): Norm then splits in proportion to x_i / count_o,
 * the gradient gives 1 / count_o.
 */
function geometry(node: GraphNode, x: Shape, global: boolean): ConvGeometry & { readonly padBottom: number; readonly padRight: number } {
  const [n, c, h, w] = x as [number, number, number, number];
  const [kh, kw] = global ? [h, w] : (attrNumbers(node, 'kernel') as [number, number]);
  const [strideH, strideW] = global ? [1, 1] : (attrNumbers(node, 'stride', [kh, kw]) as [number, number]);
  const [padTop, padLeft, padBottom, padRight] = global ? [0, 0, 0, 0] : (attrNumbers(node, 'pads', [0, 0, 0, 0]) as [number, number, number, number]);
  const ceil = !global && attrNumber(node, 'ceilMode', 0) === 1;
  const oh = poolOutSize(h, kh, strideH, padTop, padBottom, 1, ceil);
  const ow = poolOutSize(w, kw, strideW, padLeft, padRight, 1, ceil);
  if (oh < 1 || ow < 1) fail(node, `window ${kh}x${kw} does not fit the ${h}x${w} input`);
  if (padTop >= kh || padLeft >= kw || padBottom >= kh || padRight >= kw) fail(node, 'padding must be smaller than the window');
  return { n, c, h, w, o: c, oh, ow, kh, kw, strideH, strideW, padTop, padLeft, dilH: 1, dilW: 1, groups: c, padBottom, padRight };
}

/** Each window's divisor (PyTorch's avg_pool2d), per output position [oh * ow]; null when every one is kh*kw. */
function divisors(node: GraphNode, g: ReturnType<typeof geometry>): Float64Array | null {
  const includePad = attrNumber(node, 'countIncludePad', 1) !== 0;
  const out = new Float64Array(g.oh * g.ow);
  let constant = true;
  for (let oy = 0; oy < g.oh; oy++) {
    const y0 = oy * g.strideH - g.padTop;
    const y1 = Math.min(y0 + g.kh, g.h + g.padBottom);
    const rows = includePad ? y1 - y0 : Math.min(y1, g.h) - Math.max(y0, 0);
    for (let ox = 0; ox < g.ow; ox++) {
      const x0 = ox * g.strideW - g.padLeft;
      const x1 = Math.min(x0 + g.kw, g.w + g.padRight);
      const cols = includePad ? x1 - x0 : Math.min(x1, g.w) - Math.max(x0, 0);
      out[oy * g.ow + ox] = rows * cols;
      if (rows * cols !== g.kh * g.kw) constant = false;
    }
  }
  return constant ? null : out;
}

function layer(node: GraphNode, x: Shape, b: ProgramBuilder, global: boolean): ConvLayer {
  const full = geometry(node, x, global);
  const { padBottom: _bottom, padRight: _right, ...geom } = full; // the end padding only shapes the divisors
  const { n, c, kh, kw } = geom;
  const counts = global ? null : divisors(node, full);
  if (!counts) {
    const weights = new Float32Array(c * kh * kw).fill(1 / (kh * kw));
    return { geom, weight: b.param(`avgpool:${c}x${kh}x${kw}`, { shape: [c, 1, kh, kw], data: weights }), bias: null };
  }
  const plane = geom.oh * geom.ow;
  const scale = new Float32Array(n * c * plane);
  for (let i = 0; i < scale.length; i++) scale[i] = 1 / counts[i % plane]!;
  return {
    geom,
    weight: b.param(`avgpool-sum:${c}x${kh}x${kw}`, { shape: [c, 1, kh, kw], data: new Float32Array(c * kh * kw).fill(1) }),
    bias: null,
    outScale: b.param(`${node.name}:1/count`, { shape: [n, c, geom.oh, geom.ow], data: scale }),
  };
}

function poolOp(op: 'avgpool2d' | 'globalavgpool'): OpDef {
  const global = op === 'globalavgpool';
  return {
    op,
    layerClass: 'avgpool',
    nonNegative: nonNegativeIfInput,
    summary: global
      ? 'Global average pooling (also ReduceMean over H and W): Norm splits relevance in proportion to each input.'
      : 'Average pooling: a depthwise convolution with weights 1/window; Norm splits relevance in proportion to each input.',
    inferShape(node, [x]) {
      expectRank(node, x!, 4);
      const g = geometry(node, x!, global);
      return [g.n, g.c, g.oh, g.ow];
    },
    forward: (ctx) => emitConvForward(ctx, layer(ctx.node, ctx.inputs[0]!.shape, ctx.b, global)),
    relevance: (ctx) => emitConvRelevance(ctx, layer(ctx.node, ctx.inputs[0]!.shape, ctx.b, global)),
  };
}

export const avgPoolOp: OpDef = {
  ...poolOp('avgpool2d'),
  onnx: {
    AveragePool: {
      limits: 'NCHW; kernel, strides, pads or auto_pad, ceil_mode, count_include_pad either way; no dilation',
      map(n) {
        const { x, attrs, outShape } = onnxPoolAttributes(n);
        if (attrs.dilation.some((d) => d !== 1)) n.error('dilated average pooling is not supported');
        const { kernel, stride, pads, ceilMode } = attrs;
        const countIncludePad = n.attr.int('count_include_pad', 0) ? 1 : 0;
        n.emit('avgpool2d', [x], { kernel, stride, pads, countIncludePad, ...(ceilMode ? { ceilMode } : {}) }, {}, outShape);
      },
    },
  },
  keras: { AveragePooling2D: { limits: "valid padding, or 'same' where it pads nothing (Keras averages over the pixels inside the image only)", map: kerasAvgPool } },
};
export const globalAvgPoolOp: OpDef = {
  ...poolOp('globalavgpool'),
  keras: {
    GlobalAveragePooling2D: {
      limits: 'channels_last; keepdims either way',
      layers: ['globalavgpool', 'reshape'],
      map: (layer) => kerasGlobalPool(layer, (x) => layer.emit('globalavgpool', [x], {}, {}, [1, 1, x.shape[2]!])),
    },
  },
  onnx: {
    GlobalAveragePool: {
      limits: 'NCHW',
      map(n) {
        const x = n.rt(0);
        const s = n.rank(x, 4);
        n.emit('globalavgpool', [x], {}, {}, [s[0]!, s[1]!, 1, 1]);
      },
    },
    ReduceMean: {
      limits:
        'over any axes but the batch, keepdims either way: over H and W of NCHW a global average pool; over other axes (H and W of NHWC) the reduced axes are moved last and pooled the same way; over the last axis inside a LayerNorm written out, LayerNorm (fused at import)',
      map(n) {
        const x = n.rt(0);
        const axesIn = n.ins[1] ? n.ints(1, 'the axes') : n.attr.ints('axes');
        const s = n.shapeOf(x);
        const rank = s.length;
        if (!axesIn || axesIn.length === 0) return n.error('a ReduceMean over every axis (no axes given) is not supported: the batch axis must stay');
        const axes = [...new Set(axesIn.map((a) => (a < 0 ? a + rank : a)))].sort((p, q) => p - q);
        if (axes.some((a) => !Number.isInteger(a) || a < 0 || a >= rank)) n.error(`axes [${axesIn.join(', ')}] are out of range for rank ${rank}`);
        if (axes.includes(0)) n.error('a ReduceMean over the batch axis is not supported');
        const keep = n.attr.int('keepdims', 1) === 1;
        const kept = s.map((_, i) => i).filter((i) => !axes.includes(i));
        const outShape = keep ? s.map((d, i) => (axes.includes(i) ? 1 : d)) : kept.map((i) => s[i]!);
        if (rank === 4 && axes.length === 2 && axes[0] === 2 && axes[1] === 3) {
          // NCHW over H and W: a global average pool.
          const gapShape = [s[0]!, s[1]!, 1, 1];
          if (keep) {
            n.emit('globalavgpool', [x], {}, {}, gapShape);
            return;
          }
          const mid = n.emit('globalavgpool', [x], {}, {}, gapShape, { output: `${n.out()}/gap` });
          n.emit('reshape', [mid], { shape: outShape }, {}, outShape);
          return;
        }
        // Any other axes: move the reduced axes last (the batch stays first), view as [N, rest, 1, reduced], pool.
        const perm = [...kept, ...axes];
        let v = x;
        if (perm.some((a, i) => a !== i)) v = n.emit('transpose', [x], { perm }, {}, perm.map((a) => s[a]!), { output: `${n.out()}/moved` });
        const rest = kept.slice(1).reduce((p, i) => p * s[i]!, 1);
        const reduced = axes.reduce((p, i) => p * s[i]!, 1);
        const pooled = [s[0]!, rest, 1, reduced];
        const viewed = n.emit('reshape', [v], { shape: pooled }, {}, pooled, { output: `${n.out()}/rows` });
        const mean = n.emit('globalavgpool', [viewed], {}, {}, [s[0]!, rest, 1, 1], { output: `${n.out()}/mean` });
        n.emit('reshape', [mean], { shape: outShape }, {}, outShape);
      },
    },
  },
};

/** Keras AveragePooling2D; 'same' padding that pads is refused (Keras divides by the pixels inside the image). */
function kerasAvgPool(layer: KerasLayer) {
  const { x, H, W, kernel, stride, pads, shape } = kerasPoolGeometry(layer);
  if (pads.some((p) => p > 0)) {
    layer.error(
      `padding "same" pads this ${H}x${W} input by [${pads.join(', ')}] (top, left, bottom, right), and Keras then averages over the pixels inside the image only; the engine's average pool counts the padding, so this layer cannot be imported exactly`,
    );
  }
  return layer.emit('avgpool2d', [x], { kernel, stride, pads, countIncludePad: 1 }, {}, shape);
}
