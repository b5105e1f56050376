// Elementwise maps: activations and their gradients (times the relevance b), residual add, multiply, copy.
// Bindings: 0 uniform Params; 1 a; 2 b (unused by relu and copy); 3 out (written); all of size total.
// Dispatch: one invocation per element, workgroup_size 64, flat index gid.x + gid.y * num_workgroups.x * 64.
// Overrides: OP 0 relu(a), 1 b where a > 0 else 0, 2 a + b, 3 a * b, 4 a, 5 leaky relu (slope p0),
//            6 its gradient times b, 7 clip to [p0, p1], 8 its gradient times b, 9 sigmoid, 10 its gradient times b,
//            11 tanh, 12 its gradient times b; ACCUMULATE adds to out.
// Params (not declared here) is generated from the field list in kernels/elementwise.ts, which its packing uses too.

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
  var v: f32;
  switch OP {
    case 0u: { v = max(a[i], 0.0); }
    case 1u: { v = select(0.0, b[i], a[i] > 0.0); }
    case 2u: { v = a[i] + b[i]; }
    case 3u: { v = a[i] * b[i]; }
    case 5u: { v = select(p.p0 * a[i], a[i], a[i] > 0.0); }
    case 6u: { v = select(p.p0 * b[i], b[i], a[i] > 0.0); }
    case 7u: { v = clamp(a[i], p.p0, p.p1); }
    case 8u: { v = select(0.0, b[i], a[i] > p.p0 && a[i] < p.p1); }
    case 9u: { v = 1.0 / (1.0 + exp(-a[i])); }
    case 10u: { let sg = 1.0 / (1.0 + exp(-a[i])); v = b[i] * sg * (1.0 - sg); }
    case 11u: { v = tanh(a[i]); }
    case 12u: { let t = tanh(a[i]); v = b[i] * (1.0 - t * t); }
    default: { v = a[i]; }
  }
  if (ACCUMULATE == 1u) { v += out[i]; }
  out[i] = v;
}
