// Binary map with numpy broadcasting (rank <= 6): out[i] (+)= scale * f(a[ia], b[ib]), where i's coordinates in
// out's shape (padded to rank 6) give ia and ib through per-axis strides that are 0 along broadcast axes.
// Bindings: 0 uniform Params (total = out's size, dims = out's shape, sa/sb = strides of a and b, each padded to 8
// as two vec4u); 1 a; 2 b (unused by FIRST); 3 out (written).
// Dispatch: one invocation per element of out, workgroup_size 64, flat index gid.x + gid.y * num_workgroups.x * 64.
// Overrides: OP 0 a + b, 1 a - b, 2 a * b, 3 a / b, 4 a (a broadcast copy); ACCUMULATE adds to out.
// Params (not declared here) is generated from the field list in kernels/broadcast-binary.ts, which its packing uses too.

override OP: u32 = 0u;
override ACCUMULATE: u32 = 0u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.total) { return; }
  var rem = i;
  var ia = 0u;
  var ib = 0u;
  for (var k = 5u; ; k--) {
    let d = p.dims[k / 4u][k % 4u];
    let c = rem % d;
    rem = rem / d;
    ia += c * p.sa[k / 4u][k % 4u];
    ib += c * p.sb[k / 4u][k % 4u];
    if (k == 0u) { break; }
  }
  var v: f32;
  switch OP {
    case 0u: { v = a[ia] + b[ib]; }
    case 1u: { v = a[ia] - b[ib]; }
    case 2u: { v = a[ia] * b[ib]; }
    case 3u: { v = a[ia] / b[ib]; }
    default: { v = a[ia]; }
  }
  v = p.scale * v;
  if (ACCUMULATE == 1u) { v += out[i]; }
  out[i] = v;
}
