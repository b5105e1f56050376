// LRP divide step: s = coefficient * mask(zref) * r / stab(z), stab(d) = d + eps * sign(d) with sign(0) = +1.
// Bindings: 0 uniform Params; 1 r (relevance at the layer output); 2 z (the rule's denominator);
//           3 zref (the unmodified forward output, for the sign mask); 4 s (written). All of one size.
// Dispatch: one invocation per element, workgroup_size 64, flat index gid.x + gid.y * num_workgroups.x * 64.
// Overrides: MASK 0 all, 1 where zref > 0, 2 where zref < 0; DIVIDE 0 skips the division (plain gradient).
// Params (not declared here) is generated from the field list in kernels/stabilized-divide.ts, which its packing uses too.

override MASK: u32 = 0u;
override DIVIDE: u32 = 1u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> r: array<f32>;
@group(0) @binding(2) var<storage, read> z: array<f32>;
@group(0) @binding(3) var<storage, read> zref: array<f32>;
@group(0) @binding(4) var<storage, read_write> s: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.total) { return; }
  var keep = true;
  if (MASK == 1u) { keep = zref[i] > 0.0; }
  if (MASK == 2u) { keep = zref[i] < 0.0; }
  var v = 0.0;
  if (keep) {
    v = p.coefficient * r[i];
    if (DIVIDE == 1u) {
      let d = z[i] + select(-p.epsilon, p.epsilon, z[i] >= 0.0);
      // Only an epsilon of 0 meeting z = 0 reaches d = 0: no contribution, so no relevance passes (never 0/0).
      v = select(v / d, 0.0, d == 0.0);
    }
  }
  s[i] = v;
}
