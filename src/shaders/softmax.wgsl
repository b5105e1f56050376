// Softmax over the last axis: out[r, j] = exp(x[r, j] - max_j x[r, :]) / sum_j exp(x[r, j] - max_j x[r, :]).
// The tensor is viewed as [rows, cols] (cols: the last axis); subtracting the row maximum keeps exp() finite.
// Bindings: 0 uniform Params; 1 x; 2 out (written, x's shape).
// Dispatch: one invocation per row, workgroup_size 64, flat index gid.x + gid.y * num_workgroups.x * 64.
// Params (not declared here) is generated from the field list in kernels/softmax.ts, which its packing uses too.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = gid.x + gid.y * nwg.x * 64u;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  var mx = x[base];
  for (var j = 1u; j < p.cols; j++) { mx = max(mx, x[base + j]); }
  var sum = 0.0;
  for (var j = 0u; j < p.cols; j++) {
    let e = exp(x[base + j] - mx);
    out[base + j] = e;
    sum += e;
  }
  let inv = 1.0 / sum;
  for (var j = 0u; j < p.cols; j++) { out[base + j] = out[base + j] * inv; }
}
