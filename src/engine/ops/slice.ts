import { attrNumbers, type GraphNode, type Shape } from '../graph';
import { contiguousStrides, plainCopy, STRIDED_COPY_RANK } from '../kernels/strided-copy';
import { normaliseSlice } from '../onnx/onnx-const';
import type { OnnxNode } from './import-context';
import { fail, nonNegativeIfInput, type OpDef } from './op';

/** Per axis: the first element taken, the step between taken elements (non-zero, negative walks backwards), how many. */
export interface SliceWindow {
  readonly start: number[];
  readonly step: number[];
  readonly count: number[];
}

/**
 * ONNX Slice semantics over attributes starts, ends, axes (default the first axes) and steps (default 1): negative
 * indices count from the end, starts and ends are clamped, negative steps walk backwards.
 */
export function sliceWindow(node: GraphNode, x: Shape): SliceWindow {
  const rank = x.length;
  const starts = attrNumbers(node, 'starts');
  const ends = attrNumbers(node, 'ends');
  const axes = attrNumbers(node, 'axes', starts.map((_, i) => i));
  const steps = attrNumbers(node, 'steps', starts.map(() => 1));
  if (starts.length !== ends.length || axes.length !== starts.length || steps.length !== starts.length) {
    fail(node, 'starts, ends, axes and steps must have the same length');
  }
  if (rank > STRIDED_COPY_RANK) fail(node, `slices up to rank ${STRIDED_COPY_RANK}, got [${x.join(', ')}]`);
  const start = x.map(() => 0);
  const step = x.map(() => 1);
  const count = [...x];
  const seen = new Set<number>();
  axes.forEach((axis0, i) => {
    const axis = axis0 < 0 ? axis0 + rank : axis0;
    if (!Number.isInteger(axis) || axis < 0 || axis >= rank || seen.has(axis)) fail(node, `axis ${axis0} is out of range or repeated`);
    seen.add(axis);
    const dim = x[axis]!;
    const st = steps[i]!;
    if (!Number.isInteger(st) || st === 0) fail(node, 'steps must be non-zero integers');
    let s = starts[i]!;
    let e = ends[i]!;
    if (s < 0) s += dim;
    if (e < 0) e += dim;
    if (st > 0) {
      s = Math.min(Math.max(s, 0), dim);
      e = Math.min(Math.max(e, 0), dim);
    } else {
      s = Math.min(Math.max(s, 0), dim - 1);
      e = Math.min(Math.max(e, -1), dim - 1);
    }
    start[axis] = s;
    step[axis] = st;
    count[axis] = Math.max(0, st > 0 ? Math.ceil((e - s) / st) : Math.ceil((s - e) / -st));
  });
  if (count.some((d) => d < 1)) fail(node, 'slice selects nothing');
  return { start, step, count };
}

/**
 * Emits one slice layer (attributes over every axis) or an alias. `ends` default to one step past the last element
 * taken; an end before index 0 (walking backwards to the first element) becomes -dim-1, which re-normalises to it.
 */
function emitSlice(n: OnnxNode, x: string, output: string, start: number[], step: number[], count: number[], ends0?: readonly number[]): void {
  const s = n.shapeOf(x);
  if (count.some((c) => c === 0)) n.error('the slice is empty');
  if (count.every((c, i) => c === s[i]) && step.every((t) => t === 1)) return n.alias(output, x); // takes everything
  // Only the axes it cuts: an axis taken whole (the batch, above all) stays whole when the batch changes.
  const axes = s.flatMap((d, i) => (start[i] === 0 && step[i] === 1 && count[i] === d ? [] : [i]));
  const ends = axes.map((i) => {
    const e = ends0?.[i] ?? start[i]! + count[i]! * step[i]!;
    return e < 0 ? -s[i]! - 1 : e;
  });
  n.emit('slice', [x], { starts: axes.map((i) => start[i]!), ends, axes, steps: axes.map((i) => step[i]!) }, {}, count, { output });
}

/** Gather's and Split's computed input, its shape and their `axis` attribute, checked. */
function inputAndAxis(n: OnnxNode): { x: string; s: number[]; axis: number } {
  const x = n.rt(0);
  const s = n.shapeOf(x);
  if (s.length > STRIDED_COPY_RANK) n.error(`rank ${s.length} exceeds ${STRIDED_COPY_RANK}`);
  const axis0 = n.attr.int('axis', 0);
  const axis = axis0 < 0 ? axis0 + s.length : axis0;
  if (axis < 0 || axis >= s.length) n.error(`axis ${axis0} is out of range for rank ${s.length}`);
  return { x, s, axis };
}

/** The sizes an ONNX Split cuts along its axis. */
function splitSizes(n: OnnxNode, dim: number): number[] {
  const outputs = n.outs.length;
  const given = n.ins[1] ? n.ints(1, 'the split sizes') : n.attr.ints('split');
  if (given) {
    if (given.length !== outputs) n.error(`split lists ${given.length} sizes for ${outputs} outputs`);
    if (given.some((v) => !Number.isInteger(v) || v < 0) || given.reduce((a, b) => a + b, 0) !== dim) {
      n.error(`split sizes [${given.join(', ')}] do not add up to the axis size ${dim}`);
    }
    return given;
  }
  const parts = n.attr.has('num_outputs') ? n.attr.int('num_outputs', outputs) : outputs;
  if (parts !== outputs || parts < 1) n.error(`num_outputs ${parts} does not match the ${outputs} outputs`);
  if (n.attr.has('num_outputs')) {
    // Opset 18: chunks of ceil(dim / parts), the last one smaller.
    const chunk = Math.ceil(dim / parts);
    const sizes = new Array<number>(parts).fill(0).map((_, i) => Math.max(0, Math.min(chunk, dim - i * chunk)));
    if (sizes.some((v) => v === 0)) n.error(`cannot split ${dim} into ${parts} non-empty chunks`);
    return sizes;
  }
  if (dim % parts !== 0) n.error(`cannot split ${dim} evenly into ${parts} outputs`);
  return new Array<number>(parts).fill(dim / parts);
}

/** Slice: a strided window over any axes (rank up to 6), steps of either sign; relevance returns to the elements taken. */
export const sliceOp: OpDef = {
  op: 'slice',
  layerClass: 'structural',
  nonNegative: nonNegativeIfInput,
  summary: 'A strided window of the input (rank up to 6; also each output of a Split); relevance returns to the elements taken.',
  onnx: {
    Slice: {
      limits: `rank up to ${STRIDED_COPY_RANK}; constant starts, ends, axes and steps (steps of either sign)`,
      map(n) {
        const x = n.rt(0);
        const s = n.shapeOf(x);
        if (s.length > STRIDED_COPY_RANK) n.error(`rank ${s.length} exceeds ${STRIDED_COPY_RANK}`);
        const opt = (i: number, what: string): number[] | undefined => (n.ins[i] ? n.ints(i, what) : undefined);
        const starts = opt(1, 'starts') ?? n.attr.ints('starts');
        const ends = opt(2, 'ends') ?? n.attr.ints('ends');
        const axes = opt(3, 'axes') ?? (n.ins.length < 2 ? n.attr.ints('axes') : undefined);
        const steps = opt(4, 'steps');
        if (!starts || !ends) return n.error('starts and ends must be constants');
        const spec = n.guard(() => normaliseSlice(s, starts, ends, axes, steps));
        emitSlice(n, x, n.out(), spec.starts, spec.steps, spec.counts, spec.ends);
      },
    },
    Gather: {
      limits: `a computed value of rank up to ${STRIDED_COPY_RANK} with constant indices: a single index (a slice, the axis removed: Inception's transform_input, a class token) or evenly spaced indices; Gathers of constants are folded`,
      map(n) {
        const { x, s, axis } = inputAndAxis(n);
        const t = n.cst(1, 'the indices');
        if (t.shape.length > 1) n.error(`indices of shape [${t.shape.join(', ')}] are not supported (a scalar or a list)`);
        const dim = s[axis]!;
        const idx = n.guard(() => [...t.data].map((v) => (v < 0 ? v + dim : v)));
        if (idx.length === 0 || idx.some((v) => !Number.isInteger(v) || v < 0 || v >= dim)) n.error(`indices [${[...t.data].slice(0, 8).join(', ')}] are out of range for size ${dim}`);
        const step = idx.length > 1 ? idx[1]! - idx[0]! : 1;
        if (step === 0 || idx.some((v, i) => v !== idx[0]! + i * step)) n.error('only a single index or evenly spaced indices are supported');
        const start = s.map(() => 0);
        start[axis] = idx[0]!;
        const steps = s.map(() => 1);
        steps[axis] = step;
        const count = [...s];
        count[axis] = idx.length;
        if (t.shape.length === 1) return emitSlice(n, x, n.out(), start, steps, count);
        // A scalar index removes the axis: the slice, then a view without it.
        const taken = `${n.out()}/gathered`;
        emitSlice(n, x, taken, start, steps, count);
        const shape = s.filter((_, i) => i !== axis);
        n.emit('reshape', [taken], { shape }, {}, shape);
      },
    },
    Split: {
      limits: `rank up to ${STRIDED_COPY_RANK}; sizes from the split input (opset 13), the split attribute (older), num_outputs (opset 18) or equal parts; one slice layer per used output`,
      map(n) {
        const { x, s, axis } = inputAndAxis(n);
        const sizes = splitSizes(n, s[axis]!);
        let offset = 0;
        sizes.forEach((size, k) => {
          const output = n.outs[k]!;
          if (output && (n.consumers(output) > 0 || n.isGraphOutput(output))) {
            const start = s.map(() => 0);
            start[axis] = offset;
            const count = [...s];
            count[axis] = size;
            emitSlice(n, x, output, start, s.map(() => 1), count);
          }
          offset += size;
        });
      },
    },
  },
  inferShape(node, [x]) {
    return sliceWindow(node, x!).count;
  },
  forward(ctx) {
    const x = ctx.inputs[0]!;
    const { start, step } = sliceWindow(ctx.node, x.shape);
    const inStrides = contiguousStrides(x.shape);
    const out = ctx.b.tensor(ctx.outShape, `${ctx.node.name}:out`);
    ctx.b.emit(
      'forward',
      plainCopy({
        x,
        out,
        shape: ctx.outShape,
        dstOffset: 0,
        dstStrides: contiguousStrides(ctx.outShape),
        srcOffset: start.reduce((a, v, i) => a + v * inStrides[i]!, 0),
        srcStrides: step.map((t, i) => t * inStrides[i]!),
        accumulate: false,
      }),
    );
    return out;
  },
  relevance(ctx) {
    // Relevance goes back to the elements the slice took; the others get none. Gathered over the input: an axis
    // walked backwards is the window from its last element taken, forwards, reading R in reverse.
    const x = ctx.inputs[0]!;
    const { start, step, count } = sliceWindow(ctx.node, x.shape);
    const rStrides = contiguousStrides(ctx.output.shape);
    const t = ctx.target(0);
    let srcOffset = 0;
    const srcStrides = [...rStrides];
    const first = start.map((s, a) => (step[a]! > 0 ? s : s + (count[a]! - 1) * step[a]!));
    step.forEach((st, a) => {
      if (st < 0) {
        srcOffset += (count[a]! - 1) * rStrides[a]!;
        srcStrides[a] = -rStrides[a]!;
      }
    });
    ctx.b.emit('relevance', {
      kernel: 'strided-copy',
      x: ctx.r,
      out: t.ref,
      shape: x.shape,
      dstOffset: 0,
      dstStrides: contiguousStrides(x.shape),
      srcOffset,
      srcStrides,
      start: first,
      step: step.map(Math.abs),
      count,
      accumulate: t.accumulate,
    });
  },
};
