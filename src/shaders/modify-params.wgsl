// Rule parameter modifier, elementwise: dst = plain * p + pos * max(p, 0) + neg * min(p, 0), or p^2, 1 or 0.
// Runs once per compiled program (the "param" phase), not per explanation.
// Bindings: 0 uniform Params; 1 src; 2 dst (written), both of size total.
// Dispatch: one invocation per element, workgroup_size 64, flat index gid.x + gid.y * num_workgroups.x * 64.
// Overrides: KIND 0 affine, 1 square, 2 ones, 3 zero.
// Params (not declared here) is generated from the field list in kernels/modify-params.ts, which its packing uses too.

override KIND: u32 = 0u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.total) { return; }
  let v = src[i];
  switch KIND {
    case 1u: { dst[i] = v * v; }
    case 2u: { dst[i] = 1.0; }
    case 3u: { dst[i] = 0.0; }
    default: { dst[i] = p.plain * v + p.pos * max(v, 0.0) + p.neg * min(v, 0.0); }
  }
}
