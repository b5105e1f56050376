// A rule's weight modifier, applied where a convolution shader loads a weight (instead of a modified copy of the
// weights in memory): plain * w + pos * max(w, 0) + neg * min(w, 0) + square * w * w + constant, which covers
// the affine modifiers (w+, w-, gamma's w + gamma w+), WSquare (w^2), Flat (1) and zero; w itself, NaN and
// infinities included, when wm_identity is 1.
// Prepended by src/engine/kernels/weight-modifier.ts to conv2d.wgsl, conv2d-relevance.wgsl, conv2d-gemm.wgsl,
// conv2d-relevance-gemm.wgsl, dense-forward.wgsl and dense-relevance.wgsl. Needs from the shader: the binding
// `weight: array<f32>` and the uniform `p` whose Params end with the six wm_ fields (weightModUniforms).
// The modifier is uniform, not an override constant: one pipeline serves every rule.

fn weight_at(i: u32) -> f32 {
  let v = weight[i];
  if (p.wm_identity == 1u) { return v; }
  return p.wm_plain * v + p.wm_pos * max(v, 0.0) + p.wm_neg * min(v, 0.0) + p.wm_square * v * v + p.wm_constant;
}
