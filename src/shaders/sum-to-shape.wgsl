// Sum to a broadcast shape (the reverse of broadcasting, rank <= 6): out[j] (+)= scale * sum of x over the
// positions whose coordinates agree with j's on every axis where out is not 1 (x's shape broadcast from out's).
// Bindings: 0 uniform Params (total = out's size; count = positions summed per output; odims = out's shape,
// rdims = the summed extents (x's extent where out has 1, else 1), xs = x's row-major strides, each padded to 8
// as two vec4u); 1 x; 2 out (written).
// Dispatch: one invocation per element of out (each loops over its count positions), workgroup_size 64, flat
// index gid.x + gid.y * num_workgroups.x * 64.
// Overrides: ACCUMULATE adds to out.
// Params (not declared here) is generated from the field list in kernels/sum-to-shape.ts, which its packing uses too.

override ACCUMULATE: u32 = 0u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = gid.x + gid.y * nwg.x * 64u;
  if (j >= p.total) { return; }
  var rem = j;
  var base = 0u;
  for (var k = 5u; ; k--) {
    let d = p.odims[k / 4u][k % 4u];
    base += (rem % d) * p.xs[k / 4u][k % 4u];
    rem = rem / d;
    if (k == 0u) { break; }
  }
  var acc = 0.0;
  for (var r = 0u; r < p.count; r++) {
    var rr = r;
    var at = base;
    for (var k = 5u; ; k--) {
      let d = p.rdims[k / 4u][k % 4u];
      at += (rr % d) * p.xs[k / 4u][k % 4u];
      rr = rr / d;
      if (k == 0u) { break; }
    }
    acc += x[at];
  }
  var v = p.scale * acc;
  if (ACCUMULATE == 1u) { v += out[j]; }
  out[j] = v;
}
