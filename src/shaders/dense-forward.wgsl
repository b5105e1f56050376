// Linear layer forward as a matrix-vector product (the conv2d step of a 1x1 convolution on a 1x1 image, C a
// multiple of 4): out[n, o] (+)= sum_j weight[o, j] * input_mod(x[n, j]) + bias[o].
// Bindings: 0 uniform Params; 1 x [N, C] as vec4; 2 weight [O, C] as vec4 (row o at o*C/4); 3 bias [O] (read when
//           HAS_BIAS); 4 bounds [2C] as vec4 = ZBox low then high per input feature (read when INPUT_MOD is 4 or 5);
//           5 out [N, O] (written).
// Dispatch: workgroup_size (64, 4); workgroups [ceil(O / 4), N, 1]. Each workgroup computes 4 outputs of batch
//           row workgroup_id.y; the 64 invocations of one output read its weight row as vec4s, adjacent
//           invocations on adjacent vec4s (coalesced), and reduce their partial sums with a tree in workgroup
//           memory. Bias and ACCUMULATE are applied by the invocation that writes.
// Overrides: INPUT_MOD (as in conv2d.wgsl), HAS_BIAS, ACCUMULATE (0/1).

struct Params { n: u32, c4: u32, o: u32 }

override INPUT_MOD: u32 = 0u;
override HAS_BIAS: u32 = 1u;
override ACCUMULATE: u32 = 0u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> weight: array<vec4f>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> bounds: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

var<workgroup> partial: array<f32, 256>;

fn modify_input(v: vec4f, j4: u32) -> vec4f {
  switch INPUT_MOD {
    case 1u: { return max(v, vec4f(0.0)); }
    case 2u: { return min(v, vec4f(0.0)); }
    case 3u: { return vec4f(1.0); }
    case 4u: { return bounds[j4]; }
    case 5u: { return bounds[p.c4 + j4]; }
    default: { return v; }
  }
}

@compute @workgroup_size(64, 4)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wg: vec3u) {
  let row = wg.x * 4u + lid.y;
  let row_ok = row < p.o;
  let w_base = select(0u, row, row_ok) * p.c4;
  let x_base = wg.y * p.c4;
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var j = lid.x;
  for (; j + 64u < p.c4; j += 128u) {
    acc0 += weight[w_base + j] * modify_input(x[x_base + j], j);
    acc1 += weight[w_base + j + 64u] * modify_input(x[x_base + j + 64u], j + 64u);
  }
  if (j < p.c4) { acc0 += weight[w_base + j] * modify_input(x[x_base + j], j); }
  let sum = acc0 + acc1;
  let slot = lid.y * 64u + lid.x;
  partial[slot] = (sum.x + sum.y) + (sum.z + sum.w);
  workgroupBarrier();
  for (var half = 32u; half > 0u; half >>= 1u) {
    if (lid.x < half) { partial[slot] += partial[slot + half]; }
    workgroupBarrier();
  }
  if (lid.x == 0u && row_ok) {
    var r = partial[slot];
    if (HAS_BIAS == 1u) { r += bias[row]; }
    let idx = wg.y * p.o + row;
    if (ACCUMULATE == 1u) { r += out[idx]; }
    out[idx] = r;
  }
}
