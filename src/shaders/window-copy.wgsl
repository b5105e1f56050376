// Strided window copy over NCHW, for Pad and Slice and their relevance.
// Gather (INVERSE 0): out[o] = x[o * step + start] per axis when inside x, else 0.
// Scatter as gather (INVERSE 1): out[o] = x[(o - start) / step] when (o - start) is a non-negative multiple of
// step and the quotient is inside x, else 0.
// Bindings: 0 uniform Params; 1 x; 2 out (written).
// Dispatch: one invocation per output element, workgroup_size 64, flat index gid.x + gid.y * num_workgroups.x * 64.
// Overrides: INVERSE (0/1), ACCUMULATE (0/1).
// Params (not declared here) is generated from the field list in kernels/window-copy.ts, which its packing uses too.

override INVERSE: u32 = 0u;
override ACCUMULATE: u32 = 0u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = gid.x + gid.y * nwg.x * 64u;
  if (idx >= p.total) { return; }
  var rest = i32(idx);
  var o = vec4i(0);
  o.w = rest % p.out_shape.w; rest = rest / p.out_shape.w;
  o.z = rest % p.out_shape.z; rest = rest / p.out_shape.z;
  o.y = rest % p.out_shape.y; rest = rest / p.out_shape.y;
  o.x = rest;
  var src: vec4i;
  var inside = true;
  if (INVERSE == 0u) {
    src = o * p.step + p.start;
  } else {
    let t = o - p.start;
    src = t / p.step;
    inside = all(t >= vec4i(0)) && all(t % p.step == vec4i(0));
  }
  inside = inside && all(src >= vec4i(0)) && all(src < p.in_shape);
  var v = 0.0;
  if (inside) {
    v = x[((src.x * p.in_shape.y + src.y) * p.in_shape.z + src.z) * p.in_shape.w + src.w];
  }
  if (ACCUMULATE == 1u) { v += out[idx]; }
  out[idx] = v;
}
