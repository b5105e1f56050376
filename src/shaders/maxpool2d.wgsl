// Max pooling forward, NCHW; padded positions never win.
// Bindings: 0 uniform Params; 1 x [N,C,H,W]; 2 out [N,C,OH,OW] (written).
// Dispatch: one invocation per output element, workgroup_size 64, flat index gid.x + gid.y * num_workgroups.x * 64.
// Params (not declared here) is generated from the field list in kernels/maxpool2d.ts, which its packing uses too.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = gid.x + gid.y * nwg.x * 64u;
  if (idx >= p.total) { return; }
  let ox = idx % p.ow;
  let oy = (idx / p.ow) % p.oh;
  let plane = idx / (p.ow * p.oh);
  let base = plane * p.h * p.w;
  var best = bitcast<f32>(0xff7fffffu);
  for (var ky = 0u; ky < p.kh; ky++) {
    let iy = i32(oy * p.stride_h + ky * p.dil_h) - p.pad_top;
    if (iy < 0 || iy >= i32(p.h)) { continue; }
    for (var kx = 0u; kx < p.kw; kx++) {
      let ix = i32(ox * p.stride_w + kx * p.dil_w) - p.pad_left;
      if (ix < 0 || ix >= i32(p.w)) { continue; }
      best = max(best, x[base + u32(iy) * p.w + u32(ix)]);
    }
  }
  out[idx] = best;
}
