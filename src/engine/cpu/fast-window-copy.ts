/**
 * Pad and Slice (and their relevance: the inverse copy) for the fast CPU backend. The float64 reference of
 * ../kernels/window-copy.ts decides per element and per axis whether the source is inside; this decides per output
 * row (axes N, C, H) and walks the row (axis W) in a tight loop, or copies it as one run where it reads consecutive
 * columns (a pad or a slice with step 1). The same copies and the same accumulate arithmetic,
 * so the same results bit for bit (tests/unit/cpu-fast-kernels.test.ts).
 */
import type { TensorRef } from '../program';
import type { WindowCopyStep } from '../kernels/steps';

interface CopyMemory {
  get(ref: TensorRef): Float32Array;
}

/** The source index along an axis of output index o, or -1 where o reads nothing (outside x, or between steps). */
function source(step: WindowCopyStep, axis: number, o: number): number {
  const start = step.start[axis]!;
  const stride = step.step[axis]!;
  let src: number;
  if (step.inverse) {
    const t = o - start;
    if (t < 0 || t % stride !== 0) return -1;
    src = t / stride;
  } else src = o * stride + start;
  return src >= 0 && src < step.inShape[axis]! ? src : -1;
}

export function windowCopyFast(step: WindowCopyStep, mem: CopyMemory): void {
  const x = mem.get(step.x);
  const out = mem.get(step.out);
  const [, ic, ih, iw] = step.inShape;
  const [on, oc, oh, ow] = step.outShape;
  // The source column of each output column (-1: none), shared by every row.
  const cols = new Int32Array(ow);
  for (let ox = 0; ox < ow; ox++) cols[ox] = source(step, 3, ox);
  // Where the columns that read anything form one run reading consecutive columns of x (a pad or a slice with step
  // 1), each row is one copy.
  let ox0 = 0;
  while (ox0 < ow && cols[ox0]! < 0) ox0++;
  let ox1 = ow - 1;
  while (ox1 >= ox0 && cols[ox1]! < 0) ox1--;
  let contiguous = true;
  for (let ox = ox0 + 1; ox <= ox1 && contiguous; ox++) contiguous = cols[ox] === cols[ox - 1]! + 1;
  let idx = 0;
  for (let n = 0; n < on; n++) {
    const sn = source(step, 0, n);
    for (let c = 0; c < oc; c++) {
      const sc = sn < 0 ? -1 : source(step, 1, c);
      for (let y = 0; y < oh; y++, idx += ow) {
        const sy = sc < 0 ? -1 : source(step, 2, y);
        if (sy < 0) {
          if (!step.accumulate) out.fill(0, idx, idx + ow);
          continue;
        }
        const row = ((sn * ic + sc) * ih + sy) * iw;
        if (contiguous && !step.accumulate) {
          // Columns ox0..ox1 read x's row from cols[ox0] on: one copy, zeros around it.
          out.fill(0, idx, idx + ox0);
          if (ox1 >= ox0) out.set(x.subarray(row + cols[ox0]!, row + cols[ox0]! + ox1 - ox0 + 1), idx + ox0);
          out.fill(0, idx + Math.max(ox1 + 1, ox0), idx + ow);
          continue;
        }
        if (step.accumulate) {
          for (let ox = 0; ox < ow; ox++) {
            const s = cols[ox]!;
            out[idx + ox] = out[idx + ox]! + (s < 0 ? 0 : x[row + s]!);
          }
        } else {
          for (let ox = 0; ox < ow; ox++) {
            const s = cols[ox]!;
            out[idx + ox] = s < 0 ? 0 : x[row + s]!;
          }
        }
      }
    }
  }
}
