// LRP multiply pass of a Linear layer (the conv2d-relevance step of a 1x1 convolution on a 1x1 image, C a
// multiple of 4): rin[n, j] (+)= input_mod(x[n, j]) * sum_k weight[k, j] * s[n, k].
// Bindings: 0 uniform Params; 1 x [N, C] as vec4; 2 weight [O, C] as vec4; 3 s [N, O]; 4 bounds [2C] as vec4 (ZBox
//           low, high per input feature); 5 rin [N, C] as vec4 (written).
// Dispatch: workgroup_size (16, 16); workgroups [ceil(C / 64), N, 1]. Invocation (tx, ty) of a workgroup owns the
//           4 input features 4 * (16 * workgroup_id.x + tx).. (adjacent invocations read adjacent vec4s of a
//           weight row: coalesced) and the outputs k = ty, ty + 16, ...; the 16 partial sums per feature are
//           reduced with a tree in workgroup memory, and row ty = 0 multiplies by input_mod(x) and writes.
// Overrides: INPUT_MOD (as in conv2d.wgsl), ACCUMULATE (0/1).

struct Params { n: u32, c4: u32, o: u32 }

override INPUT_MOD: u32 = 0u;
override ACCUMULATE: u32 = 0u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> weight: array<vec4f>;
@group(0) @binding(3) var<storage, read> s: array<f32>;
@group(0) @binding(4) var<storage, read> bounds: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> rin: array<vec4f>;

var<workgroup> partial: array<vec4f, 256>;

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

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wg: vec3u) {
  let jq = wg.x * 16u + lid.x;
  let ok = jq < p.c4;
  let col = select(0u, jq, ok);
  let s_base = wg.y * p.o;
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var k = lid.y;
  for (; k + 16u < p.o; k += 32u) {
    acc0 += weight[k * p.c4 + col] * s[s_base + k];
    acc1 += weight[(k + 16u) * p.c4 + col] * s[s_base + k + 16u];
  }
  if (k < p.o) { acc0 += weight[k * p.c4 + col] * s[s_base + k]; }
  let slot = lid.y * 16u + lid.x;
  partial[slot] = acc0 + acc1;
  workgroupBarrier();
  for (var half = 8u; half > 0u; half >>= 1u) {
    if (lid.y < half) { partial[slot] += partial[slot + 16u * half]; }
    workgroupBarrier();
  }
  if (lid.y == 0u && ok) {
    let idx = wg.y * p.c4 + jq;
    var r = modify_input(x[idx], jq) * partial[slot];
    if (ACCUMULATE == 1u) { r += rin[idx]; }
    rin[idx] = r;
  }
}
