/**
 * Softmax over the last axis, the tensor viewed as [rows, cols]:
 *   out[r, j] = exp(x[r, j] - max(x[r, :])) / sum_j' exp(x[r, j'] - max(x[r, :]))
 * (the row maximum subtracted first, so exp never overflows). One invocation per row on the GPU (softmax.wgsl).
 */
import shader from '../../shaders/softmax.wgsl?raw';
import type { KernelDef } from './kernel';
import { defineParams } from './uniforms';
import type { SoftmaxStep } from './steps';

const params = defineParams([['rows', 'u32'], ['cols', 'u32']]);

export const softmaxKernel: KernelDef<SoftmaxStep> = {
  kind: 'softmax',
  cpu(s, mem) {
    const [x, out] = [mem.get(s.x), mem.get(s.out)];
    for (let r = 0; r < s.rows; r++) {
      const base = r * s.cols;
      let mx = -Infinity;
      for (let j = 0; j < s.cols; j++) mx = Math.max(mx, x[base + j]!);
      let sum = 0;
      for (let j = 0; j < s.cols; j++) sum += Math.exp(x[base + j]! - mx);
      for (let j = 0; j < s.cols; j++) out[base + j] = Math.exp(x[base + j]! - mx) / sum;
    }
  },
  gpu: {
    shader,
    params,
    overrides: () => ({}),
    uniforms: (s) => params.pack({ rows: s.rows, cols: s.cols }),
    bindings: (s) => [s.x, s.out],
    invocations: (s) => s.rows,
  },
};
