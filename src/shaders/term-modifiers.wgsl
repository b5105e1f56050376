// A rule term's modifiers, as the convolution shaders read a term's input and weights (instead of modified copies
// in memory). Prepended by src/engine/kernels/term-modifiers.ts to conv2d.wgsl, conv2d-relevance.wgsl,
// conv2d-gemm.wgsl, conv2d-relevance-gemm.wgsl, dense-forward.wgsl and dense-relevance.wgsl (WGSL has no includes;
// declarations may come in any order). Needs from the shader: the bindings `weight: array<f32>` and
// `bounds: array<f32>`, and the uniform `p` whose Params hold c, input_mod and the six wm_ fields (the kernels'
// field lists end with WEIGHT_MOD_FIELDS of term-modifiers.ts). Both modifiers are uniforms, not override
// constants: one pipeline serves every rule.

// The input as a term sees it at a real (unpadded) position of input channel (or feature) ch: input_mod 0
// identity, 1 positive part, 2 negative part, 3 ones, 4 ZBox low bound, 5 ZBox high bound (bounds = [low per
// channel, high per channel]).
fn modify_input(v: f32, ch: u32) -> f32 {
  switch p.input_mod {
    case 1u: { return max(v, 0.0); }
    case 2u: { return min(v, 0.0); }
    case 3u: { return 1.0; }
    case 4u: { return bounds[ch]; }
    case 5u: { return bounds[p.c + ch]; }
    default: { return v; }
  }
}

// Weight i as the term sees it: plain * w + pos * max(w, 0) + neg * min(w, 0) + square * w * w + constant, which
// covers the affine modifiers (w+, w-, gamma's w + gamma w+), WSquare (w^2), Flat (1) and zero; w itself, NaN and
// infinities included, when wm_identity is 1.
fn weight_at(i: u32) -> f32 {
  let v = weight[i];
  if (p.wm_identity == 1u) { return v; }
  return p.wm_plain * v + p.wm_pos * max(v, 0.0) + p.wm_neg * min(v, 0.0) + p.wm_square * v * v + p.wm_constant;
}
