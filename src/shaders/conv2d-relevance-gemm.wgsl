// LRP multiply pass of a grouped 2-D convolution as an implicit GEMM, NCHW:
// rin (+)= input_mod(x) * conv_transpose(s, weight), i.e. R_j = x'_j * sum_k w'_jk s_k. Same step semantics as
// conv2d-relevance.wgsl (the kernel chosen by geometry in ops/conv-shaped.ts). Per group g:
//   C[m, q] = sum_k A[m, k] * B[k, q]
//   m = input channel within the group (M = C/groups); q = n*H*W + iy*W + ix (batch folded in, N = N*H*W);
//   k = (oo*KH + ky)*KW + kx (K = O/groups*KH*KW); A[m, k] = weight[((g*O/groups + oo)*M + m)*KH*KW + ky*KW + kx];
//   B[k, q] = s[n, g*O/groups + oo, oy, ox] where iy + pad_top - ky*dh = oy*sh and ix + pad_left - kx*dw = ox*sw
//   with 0 <= oy < OH, 0 <= ox < OW, else 0 (the divisibility checks of the transposed convolution).
// Then rin[n, g*M + m, iy, ix] (+)= input_mod(x[same]) * C[m, q] in the epilogue.
// Bindings: 0 uniform Params (the forward convolution's geometry); 1 x [N,C,H,W]; 2 weight [O, C/groups, KH, KW];
//           3 s [N,O,OH,OW]; 4 bounds [2C] (ZBox low, high per channel); 5 rin [N,C,H,W] (written).
// Dispatch: workgroup_size (16, 16); workgroups [ceil(N*H*W / 64), ceil(M / 64), groups]. A workgroup computes a
//           64x64 tile of C, invocation (tx, ty) the 4x4 block of rows 4ty.., columns 4tx..; K advances in
//           chunks of 16 staged in workgroup memory (as in conv2d-gemm.wgsl).
// Overrides: INPUT_MOD (as in conv2d.wgsl), ACCUMULATE (0/1), UNIT_STRIDE (1 when both strides are 1: the
//            divisibility checks are skipped).

struct Params {
  n: u32, c: u32, h: u32, w: u32,
  o: u32, oh: u32, ow: u32, groups: u32,
  kh: u32, kw: u32, stride_h: u32, stride_w: u32,
  pad_top: i32, pad_left: i32, dil_h: u32, dil_w: u32,
  total: u32, cpg: u32, opg: u32, k_total: u32,
  cols: u32,
}

override INPUT_MOD: u32 = 0u;
override ACCUMULATE: u32 = 0u;
override UNIT_STRIDE: u32 = 0u;

const TILE: u32 = 64u;
const KC: u32 = 16u;
const TQ: u32 = 16u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> s: array<f32>;
@group(0) @binding(4) var<storage, read> bounds: array<f32>;
@group(0) @binding(5) var<storage, read_write> rin: array<f32>;

var<workgroup> a_tile: array<vec4f, 256>;
var<workgroup> b_tile: array<vec4f, 256>;

fn modify_input(v: f32, ch: u32) -> f32 {
  switch INPUT_MOD {
    case 1u: { return max(v, 0.0); }
    case 2u: { return min(v, 0.0); }
    case 3u: { return 1.0; }
    case 4u: { return bounds[ch]; }
    case 5u: { return bounds[p.c + ch]; }
    default: { return v; }
  }
}

fn store_row(ch: u32, v: vec4f, col_off: vec4u, ncols: u32, hw: u32) {
  for (var j = 0u; j < 4u; j++) {
    if (j >= ncols) { break; }
    let idx = col_off[j] + ch * hw;
    var r = modify_input(x[idx], ch) * v[j];
    if (ACCUMULATE == 1u) { r += rin[idx]; }
    rin[idx] = r;
  }
}

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3u) {
  let grp = wg.z;
  let m0 = wg.y * TILE;
  let q0 = wg.x * TILE;
  let hw = p.h * p.w;
  let plane = p.oh * p.ow;
  let khw = p.kh * p.kw;

  // Staging of A: column a_kk of the chunk (k = oo*KHW + r, advanced by KC per chunk), rows a_m + 16 i.
  let a_kk = li % KC;
  let a_m = li / KC;
  var a_oo = a_kk / khw;
  var a_r = a_kk - a_oo * khw;
  let a_step_oo = KC / khw;
  let a_step_r = KC - a_step_oo * khw;
  let a_base = grp * p.opg * p.cpg * khw;

  // Staging of B: column b_q (an input pixel, decoded once), rows b_k + 4 i as (oo, ky, kx).
  let b_q = li % TILE;
  let b_k = li / TILE;
  let q = q0 + b_q;
  let q_ok = q < p.cols;
  let qc = select(0u, q, q_ok);
  let nb = qc / hw;
  let pix = qc - nb * hw;
  let iy = pix / p.w;
  let ix = pix - iy * p.w;
  let ay = i32(iy) + p.pad_top;
  let ax = i32(ix) + p.pad_left;
  let s_base = (nb * p.o + grp * p.opg) * plane;
  let k_start = vec4u(b_k, b_k + 4u, b_k + 8u, b_k + 12u);
  var oo = k_start / khw;
  let r0 = k_start - oo * khw;
  var ky = r0 / p.kw;
  var kx = r0 - ky * p.kw;
  let step_oo = KC / khw;
  let step_r = KC - step_oo * khw;
  let step_ky = step_r / p.kw;
  let step_kx = step_r - step_ky * p.kw;
  let kw4 = vec4u(p.kw);
  let kh4 = vec4u(p.kh);
  let sh4 = vec4i(i32(p.stride_h));
  let sw4 = vec4i(i32(p.stride_w));

  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  let chunks = (p.k_total + KC - 1u) / KC;
  for (var chunk = 0u; chunk < chunks; chunk++) {
    let a_ok_k = a_oo < p.opg;
    let a_at = a_base + a_oo * p.cpg * khw + a_r;
    for (var i = 0u; i < 4u; i++) {
      let m = a_m + 16u * i;
      let cm = m0 + m;
      let ok = a_ok_k && cm < p.cpg;
      let idx = select(0u, a_at + cm * khw, ok);
      a_tile[a_kk * TQ + (m >> 2u)][m & 3u] = select(0.0, weight[idx], ok);
    }
    a_r += a_step_r;
    let a_carry = a_r >= khw;
    a_r -= select(0u, khw, a_carry);
    a_oo += a_step_oo + select(0u, 1u, a_carry);

    let ty = vec4i(ay) - vec4i(ky * p.dil_h);
    let tx = vec4i(ax) - vec4i(kx * p.dil_w);
    var oy = ty;
    var ox = tx;
    var ok4 = (oo < vec4u(p.opg)) & (ty >= vec4i(0)) & (tx >= vec4i(0));
    if (UNIT_STRIDE == 0u) {
      oy = ty / sh4;
      ox = tx / sw4;
      ok4 = ok4 & (oy * sh4 == ty) & (ox * sw4 == tx);
    }
    ok4 = ok4 & (oy < vec4i(i32(p.oh))) & (ox < vec4i(i32(p.ow)));
    let at = vec4u(s_base) + oo * plane + vec4u(oy) * p.ow + vec4u(ox);
    for (var i = 0u; i < 4u; i++) {
      let ok = q_ok && ok4[i];
      b_tile[(b_k + 4u * i) * TQ + (b_q >> 2u)][b_q & 3u] = select(0.0, s[select(0u, at[i], ok)], ok);
    }
    kx += vec4u(step_kx);
    let carry_x = kx >= kw4;
    kx -= select(vec4u(0u), kw4, carry_x);
    ky += vec4u(step_ky) + select(vec4u(0u), vec4u(1u), carry_x);
    let carry_y = ky >= kh4;
    ky -= select(vec4u(0u), kh4, carry_y);
    oo += vec4u(step_oo) + select(vec4u(0u), vec4u(1u), carry_y);
    workgroupBarrier();
    for (var kk = 0u; kk < KC; kk++) {
      let a = a_tile[kk * TQ + lid.y];
      let b = b_tile[kk * TQ + lid.x];
      acc0 += a.x * b;
      acc1 += a.y * b;
      acc2 += a.z * b;
      acc3 += a.w * b;
    }
    workgroupBarrier();
  }

  // Epilogue: multiply by input_mod(x) (and accumulate) at columns 4tx.. and input channels 4ty.. of the tile.
  let c0 = q0 + 4u * lid.x;
  if (c0 >= p.cols) { return; }
  let ncols = min(4u, p.cols - c0);
  let cq = min(vec4u(c0) + vec4u(0u, 1u, 2u, 3u), vec4u(p.cols - 1u));
  let cn = cq / hw;
  let col_off = cn * (p.c * hw) + (cq - cn * hw);
  let mb = m0 + 4u * lid.y;
  let cb = grp * p.cpg + mb;
  if (mb < p.cpg) { store_row(cb, acc0, col_off, ncols, hw); }
  if (mb + 1u < p.cpg) { store_row(cb + 1u, acc1, col_off, ncols, hw); }
  if (mb + 2u < p.cpg) { store_row(cb + 2u, acc2, col_off, ncols, hw); }
  if (mb + 3u < p.cpg) { store_row(cb + 3u, acc3, col_off, ncols, hw); }
}
