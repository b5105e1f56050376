// LRP multiply pass of a grouped 2-D convolution as an implicit GEMM, NCHW:
// rin (+)= input_mod(x) * conv_transpose(s, weight), i.e. R_j = x'_j * sum_k w'_jk s_k. Same step semantics as
// conv2d-relevance.wgsl (the kernel is chosen by geometry in ops/conv-shaped.ts).
// Strided convolutions are split into stride_h * stride_w phases: the input pixels (iy, ix) with
// (iy + pad_top) % sh = py and (ix + pad_left) % sw = px receive relevance only through the kernel taps with
// (ky * dh) % sh = py and (kx * dw) % sw = px, so each phase is a dense GEMM over its own taps (no multiply-adds
// spent on taps the stride skips; one phase when both strides are 1). Per group g and phase (py, px):
//   C[m, q] = sum_k A[m, k] * B[k, q]
//   m = input channel within the group (M = C/groups); q enumerates the phase's pixels, batch folded in:
//   q = (n * CY + a) * CX + b for iy = iy_first + sh*a, ix = ix_first + sw*b (CY, CX: the phase's rows, columns);
//   k = (oo * NKY + jy) * NKX + jx over output channels oo of the group and the phase's taps ky = ky0 + jy*step_y,
//   kx = kx0 + jx*step_x; A[m, k] = wmod(weight[g*O/groups + oo, m, ky, kx]);
//   B[k, q] = s[n, g*O/groups + oo, oy, ox] with oy = a + cy0 - jy*dcy, ox = b + cx0 - jx*dcx (the exact
//   quotients (iy + pad_top - ky*dh) / sh, ...), 0 outside [0, OH) x [0, OW).
// Then rin[n, g*M + m, iy, ix] (+)= input_mod(x[same]) * C[m, q] in the epilogue (every pixel is written: a
// phase without taps writes 0, or adds 0).
// Bindings: 0 uniform Params (the forward convolution's geometry); 1 x [N,C,H,W]; 2 weight [O, C/groups, KH, KW];
//           3 s [N,O,OH,OW]; 4 bounds [2C] (ZBox low, high per channel); 5 rin [N,C,H,W] (written).
// Dispatch: workgroup_size (16, 16); workgroups [ceil(N * ceil(H/sh) * ceil(W/sw) / 64), ceil(M / 64),
//           groups * sh * sw] (z = g * sh*sw + py * sw + px; workgroups past their phase's pixels return at once).
//           A workgroup computes a 64x64 tile of C, invocation (tx, ty) the 4x4 register block of rows 4ty.. and
//           columns 4tx..; K advances in chunks of 16 staged in workgroup memory, with the layout of
//           conv2d-gemm.wgsl.
// Modes (uniforms, as in conv2d.wgsl): input_mod, accumulate.
// The rule term's modifiers come from term-modifiers.wgsl (prepended): modify_input() per the input_mod uniform,
// and weight_at(), which applies the weight modifier wmod set by the wm_ uniforms as each weight is loaded.
// Params (not declared here) is generated from the field list in kernels/conv2d-fast.ts, which its packing uses too.


const TILE: u32 = 64u;
const KC: u32 = 16u;
const TQ: u32 = 16u; // TILE / 4: vec4 slots per row of the B tile
const A_ROW: u32 = 17u; // vec4 slots per row of the A tile: TQ + 1 of padding against bank conflicts

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> s: array<f32>;
@group(0) @binding(4) var<storage, read> bounds: array<f32>;
@group(0) @binding(5) var<storage, read_write> rin: array<f32>;

// a_tile[kk * A_ROW + m / 4][m % 4] = A[m0 + m, k0 + kk]; b_tile[kk * TQ + q / 4][q % 4] = B[k0 + kk, q0 + q].
var<workgroup> a_tile: array<vec4f, 272>;
var<workgroup> b_tile: array<vec4f, 256>;

// One dimension of a phase: its first pixel and pixel count, its first tap, tap step and tap count, and the
// output coordinate o = a + c0 - j * dc of pixel a and tap j.
struct Phase {
  first: u32,
  count: u32,
  tap0: u32,
  tap_step: u32,
  taps: u32,
  c0: i32,
  dc: i32,
}

fn phase_of(ph: u32, stride: u32, pad: i32, dil: u32, size: u32, kernel: u32) -> Phase {
  var r: Phase;
  let si = i32(stride);
  r.first = u32(((i32(ph) - pad) % si + si) % si);
  r.count = select(0u, (size - r.first + stride - 1u) / stride, r.first < size);
  // Taps t with t * dil = ph (mod stride): the first one, then every tap_step (the period of t * dil mod stride).
  r.tap0 = kernel;
  for (var t = 0u; t < min(kernel, stride); t++) {
    if ((t * dil) % stride == ph) {
      r.tap0 = t;
      break;
    }
  }
  r.tap_step = stride;
  for (var t = 1u; t <= stride; t++) {
    if ((t * dil) % stride == 0u) {
      r.tap_step = t;
      break;
    }
  }
  r.taps = select(0u, (kernel - r.tap0 + r.tap_step - 1u) / r.tap_step, r.tap0 < kernel);
  r.c0 = (i32(r.first) + pad - i32(r.tap0 * dil)) / si;
  r.dc = i32(r.tap_step * dil / stride);
  return r;
}

// Writes input channel ch at this invocation's 4 columns (offset of column j: col_off[j] + ch * H*W).
fn store_row(ch: u32, v: vec4f, col_off: vec4u, col_ok: vec4<bool>, hw: u32) {
  for (var j = 0u; j < 4u; j++) {
    if (col_ok[j]) {
      let idx = col_off[j] + ch * hw;
      var r = modify_input(x[idx], ch) * v[j];
      if (p.accumulate == 1u) { r += rin[idx]; }
      rin[idx] = r;
    }
  }
}

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3u) {
  let phases = p.stride_h * p.stride_w;
  let grp = wg.z / phases;
  let ph = wg.z - grp * phases;
  let py = phase_of(ph / p.stride_w, p.stride_h, p.pad_top, p.dil_h, p.h, p.kh);
  let px = phase_of(ph % p.stride_w, p.stride_w, p.pad_left, p.dil_w, p.w, p.kw);
  let cols = p.n * py.count * px.count;
  let m0 = wg.y * TILE;
  let q0 = wg.x * TILE;
  if (q0 >= cols) { return; }
  let hw = p.h * p.w;
  let plane = p.oh * p.ow;
  let khw = p.kh * p.kw;
  let ntaps = py.taps * px.taps;
  let k_total = p.opg * ntaps;
  // Decoding divides by these; a phase without taps has K = 0 and never decodes.
  let nt = max(ntaps, 1u);
  let nkx = max(px.taps, 1u);

  // Staging of A: column a_kk of the chunk (k = oo * ntaps + r, advanced by KC per chunk), rows a_m + 16 i.
  let a_kk = li % KC;
  let a_m = li / KC;
  var a_oo = a_kk / nt;
  var a_r = a_kk - a_oo * nt;
  let a_step_oo = KC / nt;
  let a_step_r = KC - a_step_oo * nt;
  let a_base = grp * p.opg * p.cpg * khw;

  // Staging of B: column b_q (a pixel of the phase, decoded once), rows b_k + 4 i as (oo, jy, jx).
  let b_q = li % TILE;
  let b_k = li / TILE;
  let q = q0 + b_q;
  let q_ok = q < cols;
  let qc = select(0u, q, q_ok);
  let per_image = py.count * px.count;
  let nb = qc / per_image;
  let rest = qc - nb * per_image;
  let a_y = rest / px.count;
  let a_x = rest - a_y * px.count;
  let oy_base = i32(a_y) + py.c0;
  let ox_base = i32(a_x) + px.c0;
  let s_base = (nb * p.o + grp * p.opg) * plane;
  let k_start = vec4u(b_k, b_k + 4u, b_k + 8u, b_k + 12u);
  var oo = k_start / nt;
  let r0 = k_start - oo * nt;
  var jy = r0 / nkx;
  var jx = r0 - jy * nkx;
  let step_oo = KC / nt;
  let step_r = KC - step_oo * nt;
  let step_jy = step_r / nkx;
  let step_jx = step_r - step_jy * nkx;
  let nkx4 = vec4u(nkx);
  let nky4 = vec4u(py.taps);

  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  let chunks = (k_total + KC - 1u) / KC;
  for (var chunk = 0u; chunk < chunks; chunk++) {
    let a_ok_k = a_oo < p.opg;
    let a_jy = a_r / nkx;
    let a_tap = (py.tap0 + (a_jy * py.tap_step)) * p.kw + px.tap0 + (a_r - a_jy * nkx) * px.tap_step;
    let a_at = a_base + a_oo * p.cpg * khw + a_tap;
    for (var i = 0u; i < 4u; i++) {
      let m = a_m + 16u * i;
      let cm = m0 + m;
      let ok = a_ok_k && cm < p.cpg;
      let idx = select(0u, a_at + cm * khw, ok);
      a_tile[a_kk * A_ROW + (m >> 2u)][m & 3u] = select(0.0, weight_at(idx), ok);
    }
    a_r += a_step_r;
    let a_carry = a_r >= nt;
    a_r -= select(0u, nt, a_carry);
    a_oo += a_step_oo + select(0u, 1u, a_carry);

    let oy = vec4i(oy_base) - vec4i(jy) * py.dc;
    let ox = vec4i(ox_base) - vec4i(jx) * px.dc;
    let in_y = (oy >= vec4i(0)) & (oy < vec4i(i32(p.oh)));
    let in_x = (ox >= vec4i(0)) & (ox < vec4i(i32(p.ow)));
    let ok4 = (oo < vec4u(p.opg)) & in_y & in_x & vec4<bool>(q_ok);
    let at = vec4u(s_base) + oo * plane + vec4u(oy) * p.ow + vec4u(ox);
    for (var i = 0u; i < 4u; i++) {
      let ok = ok4[i];
      b_tile[(b_k + 4u * i) * TQ + (b_q >> 2u)][b_q & 3u] = select(0.0, s[select(0u, at[i], ok)], ok);
    }
    jx += vec4u(step_jx);
    let carry_x = jx >= nkx4;
    jx -= select(vec4u(0u), nkx4, carry_x);
    jy += vec4u(step_jy) + select(vec4u(0u), vec4u(1u), carry_x);
    let carry_y = jy >= nky4;
    jy -= select(vec4u(0u), nky4, carry_y);
    oo += vec4u(step_oo) + select(vec4u(0u), vec4u(1u), carry_y);
    workgroupBarrier();
    for (var kk = 0u; kk < KC; kk++) {
      let b = b_tile[kk * TQ + lid.x];
      let a = a_tile[kk * A_ROW + lid.y];
      acc0 += a.x * b;
      acc1 += a.y * b;
      acc2 += a.z * b;
      acc3 += a.w * b;
    }
    workgroupBarrier();
  }

  // Epilogue: multiply by input_mod(x) (and accumulate) at columns q0 + 4tx + j, input channels 4ty + i.
  let cq = vec4u(q0 + 4u * lid.x) + vec4u(0u, 1u, 2u, 3u);
  let col_ok = cq < vec4u(cols);
  let cn = cq / per_image;
  let cr = cq - cn * per_image;
  let cy = cr / px.count;
  let cx = cr - cy * px.count;
  let col_off = cn * (p.c * hw) + (vec4u(py.first) + cy * p.stride_h) * p.w + vec4u(px.first) + cx * p.stride_w;
  let mb = m0 + 4u * lid.y;
  let cb = grp * p.cpg + mb;
  if (mb < p.cpg) { store_row(cb, acc0, col_off, col_ok, hw); }
  if (mb + 1u < p.cpg) { store_row(cb + 1u, acc1, col_off, col_ok, hw); }
  if (mb + 2u < p.cpg) { store_row(cb + 2u, acc2, col_off, col_ok, hw); }
  if (mb + 3u < p.cpg) { store_row(cb + 3u, acc3, col_off, col_ok, hw); }
}
