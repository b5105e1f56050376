// LRP multiply pass of a grouped 2-D convolution, NCHW: rin (+)= input_mod(x) * conv_transpose(s, weight),
// i.e. R_j = x'_j * sum_k w'_jk s_k. Linear layers run here as the 1x1-on-1x1 case.
// Bindings: 0 uniform Params (the forward convolution's geometry; total = N*C*H*W); 1 x [N,C,H,W];
//           2 weight [O, C/groups, KH, KW]; 3 s [N,O,OH,OW]; 4 bounds [2C] (ZBox low, high per channel);
//           5 rin [N,C,H,W] (written).
// Dispatch: one invocation per input element, workgroup_size 64, flat index gid.x + gid.y * num_workgroups.x * 64.
// Modes (uniforms, as in conv2d.wgsl): input_mod, accumulate.
// Taps: without dilation, only every stride-th kernel row (column) reaches this element, starting at
// (iy + pad_top) % stride_h: the loops step over those alone (a ViT's 16x16 patch embedding with stride 16 visits
// 1 tap instead of 256); with dilation every tap is tried.
// The rule term's modifiers come from term-modifiers.wgsl (prepended): modify_input() per the input_mod uniform,
// and weight_at(), which applies the weight modifier wmod set by the wm_ uniforms as each weight is loaded.
// Params (not declared here) is generated from the field list in kernels/conv2d-relevance.ts, which its packing uses too.


@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> s: array<f32>;
@group(0) @binding(4) var<storage, read> bounds: array<f32>;
@group(0) @binding(5) var<storage, read_write> rin: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = gid.x + gid.y * nwg.x * 64u;
  if (idx >= p.total) { return; }
  let ix = i32(idx % p.w);
  let iy = i32((idx / p.w) % p.h);
  let ch = (idx / (p.w * p.h)) % p.c;
  let n = idx / (p.w * p.h * p.c);
  let cpg = p.c / p.groups;
  let opg = p.o / p.groups;
  let grp = ch / cpg;
  let ci = ch - grp * cpg;
  let plain_h = p.dil_h == 1u;
  let plain_w = p.dil_w == 1u;
  let ky0 = select(0u, u32(iy + p.pad_top) % p.stride_h, plain_h);
  let kx0 = select(0u, u32(ix + p.pad_left) % p.stride_w, plain_w);
  let ky_step = select(1u, p.stride_h, plain_h);
  let kx_step = select(1u, p.stride_w, plain_w);
  var acc = 0.0;
  for (var oo = 0u; oo < opg; oo++) {
    let o = grp * opg + oo;
    let s_base = (n * p.o + o) * p.oh;
    let w_base = (o * cpg + ci) * p.kh;
    for (var ky = ky0; ky < p.kh; ky += ky_step) {
      let ty = iy + p.pad_top - i32(ky * p.dil_h);
      if (ty < 0 || ty % i32(p.stride_h) != 0) { continue; }
      let oy = u32(ty) / p.stride_h;
      if (oy >= p.oh) { continue; }
      for (var kx = kx0; kx < p.kw; kx += kx_step) {
        let tx = ix + p.pad_left - i32(kx * p.dil_w);
        if (tx < 0 || tx % i32(p.stride_w) != 0) { continue; }
        let ox = u32(tx) / p.stride_w;
        if (ox >= p.ow) { continue; }
        acc += weight_at((w_base + ky) * p.kw + kx) * s[(s_base + oy) * p.ow + ox];
      }
    }
  }
  var r = modify_input(x[idx], ch) * acc;
  if (p.accumulate == 1u) { r += rin[idx]; }
  rin[idx] = r;
}
