import { attrNumber, attrNumbers, type GraphNode, type Shape } from '../graph';
import { pair, resolvePads } from '../onnx/mapping-helpers';
import type { KerasMapping, OnnxNode } from './import-context';
import { kerasGlobalPool, kerasPoolGeometry } from '../tfjs/keras-helpers';
import type { PoolGeometry } from '../kernels/steps';
import { expectRank, fail, nonNegativeIfInput, unsupportedRule, type OpDef } from './op';

/**
 * Output size of a pooling window along one axis. Ceil mode (PyTorch's and ONNX's ceil_mode) rounds up: extra end
 * padding that is never counted, and the last window must start inside the input or its leading padding.
 */
export function poolOutSize(inSize: number, kernel: number, stride: number, padBegin: number, padEnd: number, dilation: number, ceil: boolean): number {
  const span = inSize + padBegin + padEnd - dilation * (kernel - 1) - 1;
  let o = (ceil ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
  if (ceil && (o - 1) * stride >= inSize + padBegin) o--;
  return o;
}

function geometry(node: GraphNode, x: Shape): PoolGeometry {
  const [n, c, h, w] = x as [number, number, number, number];
  const [kh, kw] = attrNumbers(node, 'kernel') as [number, number];
  const [strideH, strideW] = attrNumbers(node, 'stride', [kh, kw]) as [number, number];
  const [padTop, padLeft, padBottom, padRight] = attrNumbers(node, 'pads', [0, 0, 0, 0]) as [number, number, number, number];
  const [dilH, dilW] = attrNumbers(node, 'dilation', [1, 1]) as [number, number];
  const ceil = attrNumber(node, 'ceilMode', 0) === 1;
  const oh = poolOutSize(h, kh, strideH, padTop, padBottom, dilH, ceil);
  const ow = poolOutSize(w, kw, strideW, padLeft, padRight, dilW, ceil);
  if (oh < 1 || ow < 1) fail(node, `window ${kh}x${kw} does not fit the ${h}x${w} input`);
  if (padTop >= kh || padLeft >= kw || padBottom >= kh || padRight >= kw) fail(node, 'padding must be smaller than the window');
  return { n, c, h, w, oh, ow, kh, kw, strideH, strideW, padTop, padLeft, dilH, dilW };
}

/** The attributes of an ONNX MaxPool / AveragePool over NCHW, resolved (auto_pad, ceil_mode), with the output shape. */
export function onnxPoolAttributes(n: OnnxNode): { x: string; attrs: { kernel: number[]; stride: number[]; pads: number[]; dilation: number[]; ceilMode: number }; outShape: number[] } {
  const x = n.rt(0);
  const s = n.rank(x, 4, 'only 2D pooling (NCHW input) is supported');
  const kernelAttr = n.attr.ints('kernel_shape');
  if (!kernelAttr || kernelAttr.length !== 2) n.error('kernel_shape must list 2 sizes');
  const kernel = pair(n, kernelAttr, 'kernel_shape');
  const stride = pair(n, n.attr.ints('strides') ?? [1, 1], 'strides');
  const dilation = pair(n, n.attr.ints('dilations') ?? [1, 1], 'dilations');
  const pads = resolvePads(n, [s[2]!, s[3]!], kernel, stride, dilation);
  const size = (i: number, ceil: boolean) => poolOutSize(s[2 + i]!, kernel[i]!, stride[i]!, pads[i]!, pads[i + 2]!, dilation[i]!, ceil);
  const oh = size(0, false);
  const ow = size(1, false);
  if (oh <= 0 || ow <= 0) n.error(`the output would be empty (input ${s[2]}x${s[3]})`);
  // Ceil mode matters only where it changes the output size.
  const ceil = n.attr.int('ceil_mode', 0) === 1 && (size(0, true) !== oh || size(1, true) !== ow);
  const outShape = [s[0]!, s[1]!, ceil ? size(0, true) : oh, ceil ? size(1, true) : ow];
  return { x, attrs: { kernel, stride, pads, dilation, ceilMode: ceil ? 1 : 0 }, outShape };
}

export const maxPoolOp: OpDef = {
  op: 'maxpool2d',
  layerClass: 'maxpool',
  nonNegative: nonNegativeIfInput,
  summary: 'Max pooling: relevance goes to each window\'s maximum (its gradient; Captum scales it by a / stab(a)).',
  onnx: {
    MaxPool: {
      limits: 'NCHW; kernel, strides, dilations, pads or auto_pad, ceil_mode; not the indices output',
      map(n) {
        const { x, attrs, outShape } = onnxPoolAttributes(n);
        if (n.outs[1] && n.consumers(n.outs[1]) > 0) n.error('the indices output is not supported');
        const { ceilMode, ...rest } = attrs;
        n.emit('maxpool2d', [x], ceilMode ? attrs : rest, {}, outShape);
      },
    },
    GlobalMaxPool: {
      limits: 'NCHW; a max pool over the whole image',
      map(n) {
        const x = n.rt(0);
        const s = n.rank(x, 4, 'only 2D pooling (NCHW input) is supported');
        n.emit('maxpool2d', [x], { kernel: [s[2]!, s[3]!], stride: [1, 1], pads: [0, 0, 0, 0], dilation: [1, 1] }, {}, [s[0]!, s[1]!, 1, 1]);
      },
    },
  },
  keras: {
    MaxPooling2D: {
      limits: "valid or 'same' padding (padded positions never win)",
      map(layer) {
        const { x, kernel, stride, pads, shape } = kerasPoolGeometry(layer);
        return layer.emit('maxpool2d', [x], { kernel, stride, pads, dilation: [1, 1] }, {}, shape);
      },
    },
    GlobalMaxPooling2D: {
      limits: 'channels_last; keepdims either way',
      layers: ['maxpool2d', 'reshape'],
      map: (layer) =>
        kerasGlobalPool(layer, (x, H, W) => layer.emit('maxpool2d', [x], { kernel: [H, W], stride: [1, 1], pads: [0, 0, 0, 0], dilation: [1, 1] }, {}, [1, 1, x.shape[2]!])),
    },
  } satisfies Record<string, KerasMapping>,
  inferShape(node, [x]) {
    expectRank(node, x!, 4);
    const g = geometry(node, x!);
    return [g.n, g.c, g.oh, g.ow];
  },
  forward(ctx) {
    const out = ctx.b.tensor(ctx.outShape, `${ctx.node.name}:out`);
    ctx.b.emit('forward', { kernel: 'maxpool2d', geom: geometry(ctx.node, ctx.inputs[0]!.shape), x: ctx.inputs[0]!, out });
    return out;
  },
  relevance(ctx) {
    const { program } = ctx;
    let epsilon: number | null;
    if (program.kind === 'gradient') epsilon = null;
    else if (program.kind === 'lrp' && program.groups.length === 1 && program.groups[0]!.epsilon !== null) {
      // The epsilon rule on a max pool: z of a window is its maximum, so R_winner = a R / stab(a).
      epsilon = program.groups[0]!.epsilon;
    } else return unsupportedRule(ctx);
    const t = ctx.target(0);
    ctx.b.emit('relevance', {
      kernel: 'maxpool2d-relevance',
      geom: geometry(ctx.node, ctx.inputs[0]!.shape),
      x: ctx.inputs[0]!,
      r: ctx.r,
      rin: t.ref,
      epsilon,
      accumulate: t.accumulate,
    });
  },
};
