// LayerNorm forward over one axis: y = gamma * (x - mean) / sqrt(var + epsilon) + beta (biased variance, two passes).
// The tensor is viewed as [outer, features, inner]; row (o, i) holds the elements o*features*inner + f*inner + i.
// Bindings: 0 uniform Params; 1 x; 2 gamma [features]; 3 beta [features]; 4 out (written, x's shape).
// Dispatch: one invocation per row (rows = outer*inner), workgroup_size 64, flat index
//           gid.x + gid.y * num_workgroups.x * 64.
// Params (not declared here) is generated from the field list in kernels/layernorm.ts, which its packing uses too.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = gid.x + gid.y * nwg.x * 64u;
  if (row >= p.rows) { return; }
  let base = (row / p.inner) * p.features * p.inner + row % p.inner;
  var sum = 0.0;
  for (var f = 0u; f < p.features; f++) { sum += x[base + f * p.inner]; }
  let mean = sum / f32(p.features);
  var sq = 0.0;
  for (var f = 0u; f < p.features; f++) {
    let d = x[base + f * p.inner] - mean;
    sq += d * d;
  }
  let sdev = sqrt(sq / f32(p.features) + p.epsilon);
  for (var f = 0u; f < p.features; f++) {
    let at = base + f * p.inner;
    out[at] = gamma[f] * (x[at] - mean) / sdev + beta[f];
  }
}
