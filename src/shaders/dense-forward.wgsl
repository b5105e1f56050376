// Linear layer forward as a matrix-vector product (the conv2d step of a 1x1 convolution on a 1x1 image):
// out[n, o] (+)= sum_j wmod(weight[o, j]) * input_mod(x[n, j]) + bias[o].
// Bindings: 0 uniform Params; 1 x [N, C]; 2 weight [O, C]; 3 bias [O] (read when has_bias); 4 bounds [2C] = ZBox low
//           then high per input feature (read when input_mod is 4 or 5); 5 out [N, O] (written).
// Dispatch: workgroup_size 64; workgroups [ceil(O / 8), N, 1]. A workgroup computes 8 outputs of batch row
//           workgroup_id.y: invocation t reads features j = t, t + 64, ... of x once and of the 8 weight rows
//           (adjacent invocations on adjacent addresses: coalesced), keeping 8 partial sums in registers; the
//           8 x 64 partial sums are then reduced in two rounds through workgroup memory (2 barriers). Bias and
//           accumulate are applied by the invocation that writes.
// Modes (uniforms, as in conv2d.wgsl): input_mod, has_bias, accumulate.
// The rule term's modifiers come from term-modifiers.wgsl (prepended): modify_input() per the input_mod uniform,
// and weight_at(), which applies the weight modifier wmod set by the wm_ uniforms as each weight is loaded.
// Params (not declared here) is generated from the field list in kernels/conv2d-fast.ts, which its packing uses too.


const ROWS: u32 = 8u;
const THREADS: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> bounds: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

// partial[r * THREADS + t]: invocation t's sum for row r; then sums[r * 8 + part] of 8 partials each.
var<workgroup> partial: array<f32, 512>;
var<workgroup> sums: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3u) {
  let row0 = wg.x * ROWS;
  // Rows past O read row O-1 (clamped, never written), so that every invocation runs the same loads.
  let last = p.o - 1u;
  let w_lo = min(vec4u(row0) + vec4u(0u, 1u, 2u, 3u), vec4u(last)) * p.c;
  let w_hi = min(vec4u(row0) + vec4u(4u, 5u, 6u, 7u), vec4u(last)) * p.c;
  let x_base = wg.y * p.c;
  // Partial sums of rows row0 + 0..3 (lo) and row0 + 4..7 (hi).
  var lo = vec4f(0.0);
  var hi = vec4f(0.0);
  for (var j = t; j < p.c; j += THREADS) {
    let v = modify_input(x[x_base + j], j);
    lo += vec4f(weight_at(w_lo.x + j), weight_at(w_lo.y + j), weight_at(w_lo.z + j), weight_at(w_lo.w + j)) * v;
    hi += vec4f(weight_at(w_hi.x + j), weight_at(w_hi.y + j), weight_at(w_hi.z + j), weight_at(w_hi.w + j)) * v;
  }
  partial[t] = lo.x;
  partial[THREADS + t] = lo.y;
  partial[2u * THREADS + t] = lo.z;
  partial[3u * THREADS + t] = lo.w;
  partial[4u * THREADS + t] = hi.x;
  partial[5u * THREADS + t] = hi.y;
  partial[6u * THREADS + t] = hi.z;
  partial[7u * THREADS + t] = hi.w;
  workgroupBarrier();
  // Round 1: invocation t sums the 8 partials part = t % 8 of row t / 8.
  let at = (t / 8u) * THREADS + (t % 8u) * 8u;
  var s = 0.0;
  for (var i = 0u; i < 8u; i++) { s += partial[at + i]; }
  sums[t] = s;
  workgroupBarrier();
  // Round 2: invocation r < 8 sums row r's 8 parts and writes it.
  let row = row0 + t;
  if (t < ROWS && row < p.o) {
    var r = 0.0;
    for (var i = 0u; i < 8u; i++) { r += sums[t * 8u + i]; }
    if (p.has_bias == 1u) { r += bias[row]; }
    let idx = wg.y * p.o + row;
    if (p.accumulate == 1u) { r += out[idx]; }
    out[idx] = r;
  }
}
