// AssemblyScript source of the fast CPU backend's float32 GEMM (WASM SIMD, f32x4). Compiled by `npm run gen:wasm`
// (scripts/gen-wasm.mjs) into gemm-wasm.ts (the module as base64); tests/unit/cpu-fast-kernels.test.ts fails when
// that file is stale. No allocator, no runtime: the caller (src/engine/wasm/fast-wasm.ts) owns the linear memory
// and passes byte addresses.
//
// gemm: C[i*ldc + j] (+)= sum_k A[i*ars + k*acs] * B[k*ldb + j] for i < m, j < n, k < kk; strides in elements, so A
// may be a matrix or its transpose (ars = 1). Blocked over n (NC columns) and k (KC) so that a B panel stays in
// cache across the rows; a 4x8 register tile (8 accumulators), then 4x4, then scalar columns; 1-row tiles for the
// last m % 4 rows.

const NC: i32 = 512;
const KC: i32 = 128;

function tile4x8(kb: i32, pa: usize, ars: usize, acs: usize, pb: usize, ldb: usize, pc: usize, ldc: usize, add: bool): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let k = 0; k < kb; k++) {
    const b0 = v128.load(pb);
    const b1 = v128.load(pb, 16);
    let a = f32x4.splat(load<f32>(pa));
    c00 = f32x4.add(c00, f32x4.mul(a, b0));
    c01 = f32x4.add(c01, f32x4.mul(a, b1));
    a = f32x4.splat(load<f32>(pa + ars));
    c10 = f32x4.add(c10, f32x4.mul(a, b0));
    c11 = f32x4.add(c11, f32x4.mul(a, b1));
    a = f32x4.splat(load<f32>(pa + 2 * ars));
    c20 = f32x4.add(c20, f32x4.mul(a, b0));
    c21 = f32x4.add(c21, f32x4.mul(a, b1));
    a = f32x4.splat(load<f32>(pa + 3 * ars));
    c30 = f32x4.add(c30, f32x4.mul(a, b0));
    c31 = f32x4.add(c31, f32x4.mul(a, b1));
    pa += acs;
    pb += ldb;
  }
  if (add) {
    c00 = f32x4.add(c00, v128.load(pc));
    c01 = f32x4.add(c01, v128.load(pc, 16));
    c10 = f32x4.add(c10, v128.load(pc + ldc));
    c11 = f32x4.add(c11, v128.load(pc + ldc, 16));
    c20 = f32x4.add(c20, v128.load(pc + 2 * ldc));
    c21 = f32x4.add(c21, v128.load(pc + 2 * ldc, 16));
    c30 = f32x4.add(c30, v128.load(pc + 3 * ldc));
    c31 = f32x4.add(c31, v128.load(pc + 3 * ldc, 16));
  }
  v128.store(pc, c00);
  v128.store(pc, c01, 16);
  v128.store(pc + ldc, c10);
  v128.store(pc + ldc, c11, 16);
  v128.store(pc + 2 * ldc, c20);
  v128.store(pc + 2 * ldc, c21, 16);
  v128.store(pc + 3 * ldc, c30);
  v128.store(pc + 3 * ldc, c31, 16);
}

function tile4x4(kb: i32, pa: usize, ars: usize, acs: usize, pb: usize, ldb: usize, pc: usize, ldc: usize, add: bool): void {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
  for (let k = 0; k < kb; k++) {
    const b0 = v128.load(pb);
    c0 = f32x4.add(c0, f32x4.mul(f32x4.splat(load<f32>(pa)), b0));
    c1 = f32x4.add(c1, f32x4.mul(f32x4.splat(load<f32>(pa + ars)), b0));
    c2 = f32x4.add(c2, f32x4.mul(f32x4.splat(load<f32>(pa + 2 * ars)), b0));
    c3 = f32x4.add(c3, f32x4.mul(f32x4.splat(load<f32>(pa + 3 * ars)), b0));
    pa += acs;
    pb += ldb;
  }
  if (add) {
    c0 = f32x4.add(c0, v128.load(pc));
    c1 = f32x4.add(c1, v128.load(pc + ldc));
    c2 = f32x4.add(c2, v128.load(pc + 2 * ldc));
    c3 = f32x4.add(c3, v128.load(pc + 3 * ldc));
  }
  v128.store(pc, c0);
  v128.store(pc + ldc, c1);
  v128.store(pc + 2 * ldc, c2);
  v128.store(pc + 3 * ldc, c3);
}

function tile1x8(kb: i32, pa: usize, acs: usize, pb: usize, ldb: usize, pc: usize, add: bool): void {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0);
  for (let k = 0; k < kb; k++) {
    const a = f32x4.splat(load<f32>(pa));
    c0 = f32x4.add(c0, f32x4.mul(a, v128.load(pb)));
    c1 = f32x4.add(c1, f32x4.mul(a, v128.load(pb, 16)));
    pa += acs;
    pb += ldb;
  }
  if (add) {
    c0 = f32x4.add(c0, v128.load(pc));
    c1 = f32x4.add(c1, v128.load(pc, 16));
  }
  v128.store(pc, c0);
  v128.store(pc, c1, 16);
}

function dot1(kb: i32, pa: usize, acs: usize, pb: usize, ldb: usize, pc: usize, add: bool): void {
  let s: f32 = 0;
  for (let k = 0; k < kb; k++) {
    s += load<f32>(pa) * load<f32>(pb);
    pa += acs;
    pb += ldb;
  }
  store<f32>(pc, add ? load<f32>(pc) + s : s);
}

export function gemm(m: i32, n: i32, kk: i32, a: usize, ars: i32, acs: i32, b: usize, ldb: i32, c: usize, ldc: i32, accumulate: i32): void {
  const ars4 = <usize>ars << 2, acs4 = <usize>acs << 2, ldb4 = <usize>ldb << 2, ldc4 = <usize>ldc << 2;
  if (kk == 0) {
    if (accumulate == 0) for (let i = 0; i < m; i++) memory.fill(c + <usize>i * ldc4, 0, <usize>n << 2);
    return;
  }
  for (let j0 = 0; j0 < n; j0 += NC) {
    const jEnd = min(n, j0 + NC);
    for (let k0 = 0; k0 < kk; k0 += KC) {
      const kb = min(KC, kk - k0);
      const add = accumulate != 0 || k0 > 0;
      const aK = a + <usize>k0 * acs4;
      const bK = b + <usize>k0 * ldb4;
      let i = 0;
      for (; i + 4 <= m; i += 4) {
        const pa = aK + <usize>i * ars4;
        const pcRow = c + <usize>i * ldc4;
        let j = j0;
        for (; j + 8 <= jEnd; j += 8) tile4x8(kb, pa, ars4, acs4, bK + (<usize>j << 2), ldb4, pcRow + (<usize>j << 2), ldc4, add);
        for (; j + 4 <= jEnd; j += 4) tile4x4(kb, pa, ars4, acs4, bK + (<usize>j << 2), ldb4, pcRow + (<usize>j << 2), ldc4, add);
        for (; j < jEnd; j++) {
          for (let r = 0; r < 4; r++) dot1(kb, pa + <usize>r * ars4, acs4, bK + (<usize>j << 2), ldb4, pcRow + <usize>r * ldc4 + (<usize>j << 2), add);
        }
      }
      for (; i < m; i++) {
        const pa = aK + <usize>i * ars4;
        const pcRow = c + <usize>i * ldc4;
        let j = j0;
        for (; j + 8 <= jEnd; j += 8) tile1x8(kb, pa, acs4, bK + (<usize>j << 2), ldb4, pcRow + (<usize>j << 2), add);
        for (; j < jEnd; j++) dot1(kb, pa, acs4, bK + (<usize>j << 2), ldb4, pcRow + (<usize>j << 2), add);
      }
    }
  }
}

export { im2col, col2im, addBias } from './im2col';
