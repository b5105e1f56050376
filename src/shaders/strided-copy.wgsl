// Strided copy over up to 6 axes: Transpose, Concat placement, Slice/Split gather, and their relevance.
// For every index o of the region `shape` (rank 6, leading axes of extent 1 for lower ranks):
//   out[dst_offset + sum_a o_a * dst_strides_a] (+)= x[src_offset + sum_a t_a * src_strides_a],
//   t_a = (o_a - start_a) / step_a, when every (o_a - start_a) is a non-negative multiple of step_a and t_a < count_a;
//   else 0 (a position the source window does not reach: written 0, or left as is when accumulating).
// Bindings: 0 uniform Params; 1 x; 2 out (written).
// Dispatch: one invocation per element of the region, workgroup_size 64, flat index gid.x + gid.y * num_workgroups.x * 64.
// Overrides: ACCUMULATE (0/1). Sizes, offsets and strides are uniforms (one pipeline for every shape).
// Params (not declared here) is generated from the field list in kernels/strided-copy.ts, which its packing uses too.

override ACCUMULATE: u32 = 0u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = gid.x + gid.y * nwg.x * 64u;
  if (idx >= p.total) { return; }
  var rest = i32(idx);
  var d = p.dst_offset;
  var s = p.src_offset;
  var inside = true;
  for (var a = 5; a >= 0; a--) {
    let v = a / 4;
    let c = a % 4;
    let n = p.shape[v][c];
    let o = rest % n;
    rest = rest / n;
    d += o * p.dst_strides[v][c];
    let t = o - p.start[v][c];
    let st = p.step[v][c];
    let q = t / st;
    inside = inside && t >= 0 && t % st == 0 && q < p.count[v][c];
    s += q * p.src_strides[v][c];
  }
  var value = 0.0;
  if (inside) { value = x[s]; }
  let at = u32(d);
  if (ACCUMULATE == 1u) { value += out[at]; }
  out[at] = value;
}
