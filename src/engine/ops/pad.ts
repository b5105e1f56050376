import { attrNumbers, type GraphNode } from '../graph';
import { expectRank, fail, nonNegativeIfInput, type OpDef } from './op';
import type { KerasLayer, OnnxMapping } from './import-context';
import { brief } from '../tfjs/keras-helpers';

const onnxPad: OnnxMapping = {
  limits: 'constant zero padding of NCHW, non-negative pads (attribute or input, with axes)',
  map(n) {
    const x = n.rt(0);
    const s = n.rank(x, 4, 'only 4D (NCHW) padding is supported');
    const mode = n.attr.str('mode', 'constant');
    if (mode !== 'constant') n.error(`mode "${mode}" is not supported (only constant zero padding)`);
    let pads = n.ins[1] ? n.ints(1, 'the pads') : (n.attr.ints('pads') ?? []);
    const value = n.ins[2] ? (n.cst(2, 'the pad value').data[0] ?? 0) : n.attr.float('value', 0);
    if (value !== 0) n.error(`padding with ${value} is not supported (only zeros)`);
    if (n.ins[3]) {
      const axes = n.ints(3, 'the axes').map((a) => (a < 0 ? a + 4 : a));
      if (pads.length !== 2 * axes.length) n.error('pads and axes differ in length');
      if (!axes.every((a) => Number.isInteger(a) && a >= 0 && a < 4)) n.error(`axes [${axes.join(', ')}] are out of range for rank 4`);
      const full = new Array<number>(8).fill(0);
      axes.forEach((a, i) => {
        full[a] = pads[i]!;
        full[a + 4] = pads[i + axes.length]!;
      });
      pads = full;
    }
    if (pads.length !== 8) n.error(`pads [${pads.slice(0, 10).join(', ')}] should have 8 values`);
    if (pads.some((p) => p < 0)) n.error('negative pads (cropping) are not supported');
    if (!pads.every((p) => Number.isSafeInteger(p))) n.error(`pads [${pads.join(', ')}] should be integers`);
    n.emit('pad', [x], { pads }, {}, s.map((d, i) => d + pads[i]! + pads[i + 4]!));
  },
};

type Quad = [number, number, number, number];

/** Zero padding (ONNX order [begin per axis..., end per axis...]); negative pads crop. */
function pads(node: GraphNode): { begin: Quad; end: Quad } {
  const p = attrNumbers(node, 'pads');
  if (p.length !== 8 || p.some((v) => !Number.isInteger(v))) fail(node, 'needs 8 integer pads for a 4-D input');
  return { begin: p.slice(0, 4) as Quad, end: p.slice(4) as Quad };
}

export const padOp: OpDef = {
  op: 'pad',
  layerClass: 'structural',
  nonNegative: nonNegativeIfInput,
  summary: 'Zero padding; relevance returns to the unpadded elements.',
  onnx: { Pad: onnxPad },
  keras: { ZeroPadding2D: { limits: 'symmetric or per side', map: kerasZeroPad } },
  inferShape(node, [x]) {
    expectRank(node, x!, 4);
    const { begin, end } = pads(node);
    const out = x!.map((d, i) => d + begin[i]! + end[i]!);
    if (out.some((d) => d < 1)) fail(node, `padding leaves an empty tensor from [${x!.join(', ')}]`);
    return out;
  },
  forward(ctx) {
    const { begin } = pads(ctx.node);
    const out = ctx.b.tensor(ctx.outShape, `${ctx.node.name}:out`);
    ctx.b.emit('forward', {
      kernel: 'window-copy',
      x: ctx.inputs[0]!,
      out,
      inShape: ctx.inputs[0]!.shape as Quad,
      outShape: ctx.outShape as Quad,
      start: begin.map((v) => -v) as Quad,
      step: [1, 1, 1, 1],
      inverse: false,
      accumulate: false,
    });
    return out;
  },
  relevance(ctx) {
    // Relevance routes back to the positions the pad copied; padding positions keep none of it.
    const { begin } = pads(ctx.node);
    const t = ctx.target(0);
    ctx.b.emit('relevance', {
      kernel: 'window-copy',
      x: ctx.r,
      out: t.ref,
      inShape: ctx.output.shape as Quad,
      outShape: ctx.inputs[0]!.shape as Quad,
      start: begin,
      step: [1, 1, 1, 1],
      inverse: false,
      accumulate: t.accumulate,
    });
  },
};

/** Keras ZeroPadding2D: padding p, (h, w) or ((top, bottom), (left, right)). */
function kerasZeroPad(layer: KerasLayer) {
  const x = layer.input();
  const [H, W, C] = layer.image(x);
  const p = layer.config.padding ?? 1;
  let t: number, b: number, l: number, r: number;
  if (typeof p === 'number') [t, b, l, r] = [p, p, p, p];
  else if (Array.isArray(p) && p.length === 2 && p.every((v) => typeof v === 'number')) [t, b, l, r] = [p[0], p[0], p[1], p[1]] as number[] as [number, number, number, number];
  else if (Array.isArray(p) && p.length === 2 && p.every((v) => Array.isArray(v) && v.length === 2)) [[t, b], [l, r]] = p as [[number, number], [number, number]];
  else layer.error(`padding ${brief(p)} is not valid`);
  const all = [t, b, l, r];
  if (!all.every((v) => Number.isSafeInteger(v) && v >= 0)) layer.error(`padding ${brief(p)} should be non-negative integers`);
  if (all.every((v) => v === 0)) return x;
  return layer.emit('pad', [x], { pads: [0, 0, t, l, 0, 0, b, r] }, {}, [H + t + b, W + l + r, C]);
}
