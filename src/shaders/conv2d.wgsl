// Direct grouped 2-D convolution, NCHW: out (+)= conv(input_mod(x), weight) + bias.
// Linear layers run here as 1x1 convolutions on 1x1 images; BatchNorm and average pools as depthwise ones.
// Bindings: 0 uniform Params; 1 x [N,C,H,W]; 2 weight [O, C/groups, KH, KW]; 3 bias [O] (read when has_bias);
//           4 bounds [2C] = ZBox low then high per input channel (read when input_mod is 4 or 5);
//           5 out [N,O,OH,OW] (written).
// Dispatch: one invocation per output element, workgroup_size 64; workgroups fill x then y, so the flat index is
//           gid.x + gid.y * num_workgroups.x * 64 (keeps each dimension under 65535).
// Modes (uniforms, not override constants: one pipeline serves every rule and every shape): input_mod 0 identity,
//            1 positive part, 2 negative part, 3 ones, 4 low bound, 5 high bound; has_bias, accumulate (0/1). Padded positions contribute 0 whatever the modifier.
// The rule term's modifiers come from term-modifiers.wgsl (prepended): modify_input() per the input_mod uniform,
// and weight_at(), which applies the weight modifier wmod set by the wm_ uniforms as each weight is loaded.
// Params (not declared here) is generated from the field list in kernels/conv2d.ts, which its packing uses too.


@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> bounds: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = gid.x + gid.y * nwg.x * 64u;
  if (idx >= p.total) { return; }
  let ox = idx % p.ow;
  let oy = (idx / p.ow) % p.oh;
  let o = (idx / (p.ow * p.oh)) % p.o;
  let n = idx / (p.ow * p.oh * p.o);
  let cpg = p.c / p.groups;
  let grp = o / (p.o / p.groups);
  var acc = 0.0;
  for (var ci = 0u; ci < cpg; ci++) {
    let ch = grp * cpg + ci;
    let x_base = (n * p.c + ch) * p.h;
    let w_base = (o * cpg + ci) * p.kh;
    for (var ky = 0u; ky < p.kh; ky++) {
      let iy = i32(oy * p.stride_h + ky * p.dil_h) - p.pad_top;
      if (iy < 0 || iy >= i32(p.h)) { continue; }
      for (var kx = 0u; kx < p.kw; kx++) {
        let ix = i32(ox * p.stride_w + kx * p.dil_w) - p.pad_left;
        if (ix < 0 || ix >= i32(p.w)) { continue; }
        let v = modify_input(x[(x_base + u32(iy)) * p.w + u32(ix)], ch);
        acc += v * weight_at((w_base + ky) * p.kw + kx);
      }
    }
  }
  if (p.has_bias == 1u) { acc += bias[o]; }
  if (p.accumulate == 1u) { acc += out[idx]; }
  out[idx] = acc;
}
