// Batched matrix product of two computed tensors: out[b] (+)= op(A[b]) op(B[b]) for b < batch, row-major.
//   C[m, q] = sum_k A(m, k) * B(k, q), m < M, q < N, k < K
//   A(m, k) = a[b*M*K + m*K + k], or with trans_a a[b*M*K + k*M + m] (A stored [K, M]);
//   B(k, q) = bm[b*K*N + k*N + q], or with trans_b bm[b*K*N + q*K + k] (B stored [N, K]).
// Bindings: 0 uniform Params; 1 a; 2 bm; 3 out [batch, M, N] (written).
// Dispatch: workgroup_size (16, 16); workgroups [ceil(N / 64), ceil(M / 64), batch]. As conv2d-gemm.wgsl: a
//           workgroup computes a 64x64 tile of C, invocation (tx, ty) the 4x4 register block of rows 4ty.. and
//           columns 4tx..; K advances in chunks of 16, A (16x64, k-major, rows padded by one vec4 against bank
//           conflicts) and B (16x64) staged in workgroup memory, then 16 rank-1 updates per chunk.
// Modes (uniforms: one pipeline serves every shape and layout): trans_a, trans_b, accumulate (0/1).
// Params (not declared here) is generated from the field list in kernels/matmul.ts, which its packing uses too.

const TILE: u32 = 64u;
const KC: u32 = 16u;
const TQ: u32 = 16u;
const A_ROW: u32 = 17u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> bm: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

var<workgroup> a_tile: array<vec4f, 272>;
var<workgroup> b_tile: array<vec4f, 256>;

fn read_a(base: u32, m: u32, k: u32) -> f32 {
  if (m >= p.m || k >= p.k) { return 0.0; }
  if (p.trans_a == 1u) { return a[base + k * p.m + m]; }
  return a[base + m * p.k + k];
}

fn read_b(base: u32, k: u32, q: u32) -> f32 {
  if (k >= p.k || q >= p.n) { return 0.0; }
  if (p.trans_b == 1u) { return bm[base + q * p.k + k]; }
  return bm[base + k * p.n + q];
}

fn store_row(row: u32, v: vec4f, col: vec4u, base: u32) {
  if (row >= p.m) { return; }
  for (var j = 0u; j < 4u; j++) {
    if (col[j] < p.n) {
      let idx = base + row * p.n + col[j];
      var r = v[j];
      if (p.accumulate == 1u) { r += out[idx]; }
      out[idx] = r;
    }
  }
}

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3u) {
  let bt = wg.z;
  let m0 = wg.y * TILE;
  let q0 = wg.x * TILE;
  let a_base = bt * p.m * p.k;
  let b_base = bt * p.k * p.n;
  let a_kk = li % KC;
  let a_m = li / KC;
  let b_q = li % TILE;
  let b_k = li / TILE;

  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  let chunks = (p.k + KC - 1u) / KC;
  for (var chunk = 0u; chunk < chunks; chunk++) {
    let k0 = chunk * KC;
    for (var i = 0u; i < 4u; i++) {
      let m = a_m + 16u * i;
      a_tile[a_kk * A_ROW + (m >> 2u)][m & 3u] = read_a(a_base, m0 + m, k0 + a_kk);
      let kk = b_k + 4u * i;
      b_tile[kk * TQ + (b_q >> 2u)][b_q & 3u] = read_b(b_base, k0 + kk, q0 + b_q);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < KC; kk++) {
      let bv = b_tile[kk * TQ + lid.x];
      let av = a_tile[kk * A_ROW + lid.y];
      acc0 += av.x * bv;
      acc1 += av.y * bv;
      acc2 += av.z * bv;
      acc3 += av.w * bv;
    }
    workgroupBarrier();
  }

  let col = vec4u(q0 + 4u * lid.x) + vec4u(0u, 1u, 2u, 3u);
  let row = m0 + 4u * lid.y;
  let base = bt * p.m * p.n;
  store_row(row, acc0, col, base);
  store_row(row + 1u, acc1, col, base);
  store_row(row + 2u, acc2, col, base);
  store_row(row + 3u, acc3, col, base);
}
