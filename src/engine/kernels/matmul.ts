/**
 * Batched product of two computed tensors (attention's Q K^T and A V, and their relevance):
 *   out[b, m, q] (+)= sum_k A(b, m, k) * B(b, k, q)
 * with A stored [batch, M, K] (or [batch, K, M] with transA) and B stored [batch, K, N] (or [batch, N, K] with
 * transB). The GPU kernel is a 64x64-tiled GEMM with 4x4 register blocks (matmul.wgsl, after conv2d-gemm.wgsl).
 */
import shader from '../../shaders/matmul.wgsl?raw';
import type { KernelDef } from './kernel';
import { defineParams } from './uniforms';
import type { MatMulStep } from './steps';

/** The tile edge of matmul.wgsl: a workgroup computes a TILE x TILE block of one batch entry. */
export const MATMUL_TILE = 64;

const params = defineParams([
  ['m', 'u32'],
  ['k', 'u32'],
  ['n', 'u32'],
  ['trans_a', 'u32'],
  ['trans_b', 'u32'],
  ['accumulate', 'u32'],
]);

function check(s: MatMulStep): void {
  const { batch, m, k, n } = s;
  if (s.a.size !== batch * m * k || s.b.size !== batch * k * n || s.out.size !== batch * m * n) {
    throw new Error(`matmul: sizes ${s.a.size}, ${s.b.size} -> ${s.out.size} do not fit batch ${batch} of [${m}, ${k}] x [${k}, ${n}]`);
  }
  if (batch > 65535) throw new Error(`matmul: a batch of ${batch} exceeds 65535 workgroups along z`);
}

export const matMulKernel: KernelDef<MatMulStep> = {
  kind: 'matmul',
  cpu(s, mem) {
    check(s);
    const [a, b, out] = [mem.get(s.a), mem.get(s.b), mem.get(s.out)];
    const { batch, m, k, n } = s;
    for (let bt = 0; bt < batch; bt++) {
      const ab = bt * m * k;
      const bb = bt * k * n;
      const ob = bt * m * n;
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let acc = 0;
          for (let l = 0; l < k; l++) {
            const av = s.transA ? a[ab + l * m + i]! : a[ab + i * k + l]!;
            const bv = s.transB ? b[bb + j * k + l]! : b[bb + l * n + j]!;
            acc += av * bv;
          }
          const at = ob + i * n + j;
          out[at] = s.accumulate ? out[at]! + acc : acc;
        }
      }
    }
  },
  gpu: {
    shader,
    params,
    overrides: () => ({}),
    uniforms: (s) => {
      check(s);
      return params.pack({ m: s.m, k: s.k, n: s.n, trans_a: s.transA ? 1 : 0, trans_b: s.transB ? 1 : 0, accumulate: s.accumulate ? 1 : 0 });
    },
    bindings: (s) => [s.a, s.b, s.out],
    workgroups: (s) => [Math.ceil(s.n / MATMUL_TILE), Math.ceil(s.m / MATMUL_TILE), s.batch],
  },
};
