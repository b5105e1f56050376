// Seeds the relevance at the model output: the target's logit at the target index, minus the contrast target's
// logit at its index when a contrast is asked for, 0 elsewhere; with seed mode 1, 1 and -1 instead of the logits
// (the gradient). Target -1 means the top class (first on ties).
// Bindings: 0 uniform Params; 1 control [3] i32 (target, contrast, seed mode; written per explanation; buffers are
//           at least 16 bytes, so a control of two ints reads mode 0); 2 logits [classes];
//           3 chosen [1] i32 (the target used; written by invocation 0); 4 out [classes] (written).
// Dispatch: one invocation per class, workgroup_size 64, flat index gid.x + gid.y * num_workgroups.x * 64.
// Params (not declared here) is generated from the field list in kernels/seed-relevance.ts, which its packing uses too.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> control: array<i32>;
@group(0) @binding(2) var<storage, read> logits: array<f32>;
@group(0) @binding(3) var<storage, read_write> chosen: array<i32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.classes) { return; }
  var tgt = control[0];
  if (tgt < 0) {
    tgt = 0;
    for (var k = 1u; k < p.classes; k++) {
      if (logits[k] > logits[u32(tgt)]) { tgt = i32(k); }
    }
  }
  let contrast = control[1];
  let one = control[2] == 1;
  var v = 0.0;
  if (i32(i) == tgt) { v = select(logits[i], 1.0, one); }
  if (i32(i) == contrast && contrast != tgt) { v = select(-logits[i], -1.0, one); }
  out[i] = v;
  if (i == 0u) { chosen[0] = tgt; }
}
