// LRP multiply pass of a Linear layer (the conv2d-relevance step of a 1x1 convolution on a 1x1 image):
// rin[n, j] (+)= input_mod(x[n, j]) * sum_k wmod(weight[k, j]) * s[n, k].
// Bindings: 0 uniform Params; 1 x [N, C]; 2 weight [O, C]; 3 s [N, O]; 4 bounds [2C] (ZBox low, high per input
//           feature); 5 rin [N, C] (written).
// Dispatch: workgroup_size (64, 4); workgroups [ceil(C / 64), N, 1]. Invocation (tx, ty) owns input feature
//           j = 64 * workgroup_id.x + tx (adjacent invocations read adjacent weights of a row: coalesced) and the
//           outputs k = ty, ty + 4, ...; the 4 partial sums per feature meet in workgroup memory (1 barrier) and
//           row ty = 0 multiplies by input_mod(x) and writes.
// Modes (uniforms, as in conv2d.wgsl): input_mod, accumulate.
// The rule term's modifiers come from term-modifiers.wgsl (prepended): modify_input() per the input_mod uniform,
// and weight_at(), which applies the weight modifier wmod set by the wm_ uniforms as each weight is loaded.
// Params (not declared here) is generated from the field list in kernels/conv2d-fast.ts, which its packing uses too.


const COLUMNS: u32 = 64u;
const SLICES: u32 = 4u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> s: array<f32>;
@group(0) @binding(4) var<storage, read> bounds: array<f32>;
@group(0) @binding(5) var<storage, read_write> rin: array<f32>;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(64, 4)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wg: vec3u) {
  let j = wg.x * COLUMNS + lid.x;
  // Columns past C read column C-1 (clamped, never written), so that every invocation runs the same loads.
  let col = min(j, p.c - 1u);
  let s_base = wg.y * p.o;
  var acc0 = 0.0;
  var acc1 = 0.0;
  var k = lid.y;
  for (; k + SLICES < p.o; k += 2u * SLICES) {
    acc0 += weight_at(k * p.c + col) * s[s_base + k];
    acc1 += weight_at((k + SLICES) * p.c + col) * s[s_base + k + SLICES];
  }
  if (k < p.o) { acc0 += weight_at(k * p.c + col) * s[s_base + k]; }
  partial[lid.y * COLUMNS + lid.x] = acc0 + acc1;
  workgroupBarrier();
  if (lid.y == 0u && j < p.c) {
    let sum = (partial[lid.x] + partial[COLUMNS + lid.x]) + (partial[2u * COLUMNS + lid.x] + partial[3u * COLUMNS + lid.x]);
    let idx = wg.y * p.c + j;
    var r = modify_input(x[idx], j) * sum;
    if (p.accumulate == 1u) { r += rin[idx]; }
    rin[idx] = r;
  }
}
