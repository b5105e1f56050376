// LayerNorm relevance over one axis (tensor viewed as [outer, features, inner], as in layernorm.wgsl), per row:
//   MODE 0, epsilon with the sdev held constant (Ali et al. 2022):
//     t_i = gamma_i R_i / (sdev * stab(gamma_i xhat_i + b_i)),  rin_j = x_j * (t_j - mean(t))
//     b is the rule's bias (HAS_BIAS 1) or 0 (HAS_BIAS 0); stab(d) = d + stabilizer * sign(d), sign(0) = +1
//   MODE 1, the gradient: g_i = gamma_i R_i,  rin_j = (g_j - mean(g) - xhat_j * mean(g xhat)) / sdev
// with xhat = (x - mean) / sdev, sdev = sqrt(var + epsilon). The second pass recomputes t rather than storing it.
// Bindings: 0 uniform Params; 1 x; 2 gamma [features]; 3 bias [features] (a placeholder when HAS_BIAS is 0);
//           4 r (relevance at the output, x's shape); 5 rin (written, x's shape).
// Dispatch: one invocation per row (rows = outer*inner), workgroup_size 64, flat index
//           gid.x + gid.y * num_workgroups.x * 64.
// Overrides: MODE (0 epsilon, 1 gradient); ACCUMULATE (0/1); HAS_BIAS (0/1).
// Params (not declared here) is generated from the field list in kernels/layernorm.ts, which its packing uses too.

override MODE: u32 = 0u;
override ACCUMULATE: u32 = 0u;
override HAS_BIAS: u32 = 1u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> r: array<f32>;
@group(0) @binding(5) var<storage, read_write> rin: array<f32>;

/** t_f for the epsilon rule, or g_f for the gradient. */
fn term(at: u32, f: u32, mean: f32, sdev: f32) -> f32 {
  if (MODE == 1u) { return gamma[f] * r[at]; }
  var b = 0.0;
  if (HAS_BIAS == 1u) { b = bias[f]; }
  let z = gamma[f] * (x[at] - mean) / sdev + b;
  let d = z + select(-p.stabilizer, p.stabilizer, z >= 0.0);
  // Only a stabilizer of 0 meeting z = 0 reaches d = 0: no contribution, so no relevance passes (never 0/0).
  return select(gamma[f] * r[at] / (sdev * d), 0.0, d == 0.0);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = gid.x + gid.y * nwg.x * 64u;
  if (row >= p.rows) { return; }
  let base = (row / p.inner) * p.features * p.inner + row % p.inner;
  let n = f32(p.features);
  var sum = 0.0;
  for (var f = 0u; f < p.features; f++) { sum += x[base + f * p.inner]; }
  let mean = sum / n;
  var sq = 0.0;
  for (var f = 0u; f < p.features; f++) {
    let d = x[base + f * p.inner] - mean;
    sq += d * d;
  }
  let sdev = sqrt(sq / n + p.epsilon);
  var tSum = 0.0;
  var gxSum = 0.0;
  for (var f = 0u; f < p.features; f++) {
    let at = base + f * p.inner;
    let t = term(at, f, mean, sdev);
    tSum += t;
    gxSum += t * (x[at] - mean) / sdev;
  }
  let tMean = tSum / n;
  let gxMean = gxSum / n;
  for (var f = 0u; f < p.features; f++) {
    let at = base + f * p.inner;
    let t = term(at, f, mean, sdev);
    var v = x[at] * (t - tMean);
    if (MODE == 1u) { v = (t - tMean - (x[at] - mean) / sdev * gxMean) / sdev; }
    if (ACCUMULATE == 1u) { v += rin[at]; }
    rin[at] = v;
  }
}
