// Max pooling relevance: every window's relevance goes to its maximum, the first in scan order on ties (as
// PyTorch's gradient does). With MODE 1 it is scaled by a / stab(a) (Captum's epsilon rule on a max pool).
// Gathered per input element (no float atomics in WGSL): each input visits the windows that contain it and
// recomputes their winner.
// Bindings: 0 uniform Params (as maxpool2d.wgsl; total = N*C*H*W); 1 x [N,C,H,W]; 2 r [N,C,OH,OW];
//           3 rin [N,C,H,W] (written).
// Dispatch: one invocation per input element, workgroup_size 64, flat index gid.x + gid.y * num_workgroups.x * 64.
// Overrides: MODE 0 gradient, 1 epsilon; ACCUMULATE (0/1).
// Params (not declared here) is generated from the field list in kernels/maxpool2d.ts, which its packing uses too.

override MODE: u32 = 0u;
override ACCUMULATE: u32 = 0u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> r: array<f32>;
@group(0) @binding(3) var<storage, read_write> rin: array<f32>;

// Flat index (within the plane) of the first maximum of window (oy, ox).
fn winner(base: u32, oy: u32, ox: u32) -> i32 {
  var best = bitcast<f32>(0xff7fffffu);
  var at = -1;
  for (var ky = 0u; ky < p.kh; ky++) {
    let iy = i32(oy * p.stride_h + ky * p.dil_h) - p.pad_top;
    if (iy < 0 || iy >= i32(p.h)) { continue; }
    for (var kx = 0u; kx < p.kw; kx++) {
      let ix = i32(ox * p.stride_w + kx * p.dil_w) - p.pad_left;
      if (ix < 0 || ix >= i32(p.w)) { continue; }
      let v = x[base + u32(iy) * p.w + u32(ix)];
      if (at < 0 || v > best) { best = v; at = iy * i32(p.w) + ix; }
    }
  }
  return at;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = gid.x + gid.y * nwg.x * 64u;
  if (idx >= p.total) { return; }
  let ix = i32(idx % p.w);
  let iy = i32((idx / p.w) % p.h);
  let plane = idx / (p.w * p.h);
  let base = plane * p.h * p.w;
  let me = iy * i32(p.w) + ix;
  var acc = 0.0;
  for (var ky = 0u; ky < p.kh; ky++) {
    let ty = iy + p.pad_top - i32(ky * p.dil_h);
    if (ty < 0 || ty % i32(p.stride_h) != 0) { continue; }
    let oy = u32(ty) / p.stride_h;
    if (oy >= p.oh) { continue; }
    for (var kx = 0u; kx < p.kw; kx++) {
      let tx = ix + p.pad_left - i32(kx * p.dil_w);
      if (tx < 0 || tx % i32(p.stride_w) != 0) { continue; }
      let ox = u32(tx) / p.stride_w;
      if (ox >= p.ow) { continue; }
      if (winner(base, oy, ox) == me) { acc += r[(plane * p.oh + oy) * p.ow + ox]; }
    }
  }
  if (MODE == 1u) {
    let a = x[idx];
    let d = a + select(-p.epsilon, p.epsilon, a >= 0.0);
    acc = select(acc * a / d, 0.0, d == 0.0);
  }
  if (ACCUMULATE == 1u) { acc += rin[idx]; }
  rin[idx] = acc;
}
