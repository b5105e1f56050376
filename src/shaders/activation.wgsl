// Activations and their gradients: out = f(x), or with GRADIENT out (+)= r * f'(x).
// FN: 0 HardSigmoid clamp(alpha x + beta, 0, 1); 1 HardSwish x * HardSigmoid(x); 2 SiLU x * sigmoid(x);
//     3 GELU 0.5 x (1 + erf(x / sqrt 2)); 4 GELU, tanh approximation; 5 erf.
// Bindings: 0 uniform Params (total, alpha, beta); 1 x; 2 r (read by the gradient only); 3 out (written).
// Dispatch: one invocation per element, workgroup_size 64, flat index gid.x + gid.y * num_workgroups.x * 64.
// Overrides: FN, GRADIENT (0/1), ACCUMULATE (0/1; adds to out).
// Params (not declared here) is generated from the field list in kernels/activation.ts, which its packing uses too.

override FN: u32 = 0u;
override GRADIENT: u32 = 0u;
override ACCUMULATE: u32 = 0u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> r: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const TWO_OVER_SQRT_PI: f32 = 1.1283791671;
const INV_SQRT_2: f32 = 0.7071067812;
const INV_SQRT_2PI: f32 = 0.3989422804;
const SQRT_2_OVER_PI: f32 = 0.7978845608;
const GELU_TANH_C: f32 = 0.044715;

// erf in float32. |x| < 0.5: the Maclaurin series to x^11 (relative error under 3e-8). Else Abramowitz & Stegun,
// Handbook of Mathematical Functions (1964), formula 7.1.26: erf(x) = 1 - (a1 t + a2 t^2 + a3 t^3 + a4 t^4 + a5 t^5)
// exp(-x^2), t = 1 / (1 + p x), absolute error at most 1.5e-7 (relative under 3e-7 there, as erf(0.5) > 0.52).
fn erf32(v: f32) -> f32 {
  let a = abs(v);
  if (a < 0.5) {
    let v2 = v * v;
    return TWO_OVER_SQRT_PI * v * (1.0 + v2 * (-1.0 / 3.0 + v2 * (0.1 + v2 * (-1.0 / 42.0 + v2 * (1.0 / 216.0 - v2 / 1320.0)))));
  }
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t;
  return sign(v) * (1.0 - poly * exp(-a * a));
}

// 1 + erf(v), without cancellation for v <= -0.5: there it is erfc(|v|) = poly * exp(-v^2) of 7.1.26 directly.
fn one_plus_erf32(v: f32) -> f32 {
  if (v > -0.5) { return 1.0 + erf32(v); }
  let a = -v;
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t;
  return poly * exp(-a * a);
}

fn sigmoid(v: f32) -> f32 {
  return 1.0 / (1.0 + exp(-v));
}

// tanh with its argument clamped: tanh(10) is 1 in float32, and some drivers' tanh overflows far beyond.
fn tanh_safe(v: f32) -> f32 {
  return tanh(clamp(v, -10.0, 10.0));
}

fn value(v: f32) -> f32 {
  switch FN {
    case 0u: { return clamp(p.alpha * v + p.beta, 0.0, 1.0); }
    case 1u: { return v * clamp(p.alpha * v + p.beta, 0.0, 1.0); }
    case 2u: { return v * sigmoid(v); }
    case 3u: { return 0.5 * v * one_plus_erf32(v * INV_SQRT_2); }
    case 4u: { return 0.5 * v * (1.0 + tanh_safe(SQRT_2_OVER_PI * (v + GELU_TANH_C * v * v * v))); }
    default: { return erf32(v); }
  }
}

fn derivative(v: f32) -> f32 {
  switch FN {
    case 0u: {
      let t = p.alpha * v + p.beta;
      return select(0.0, p.alpha, t > 0.0 && t < 1.0);
    }
    case 1u: {
      let t = p.alpha * v + p.beta;
      return clamp(t, 0.0, 1.0) + select(0.0, p.alpha * v, t > 0.0 && t < 1.0);
    }
    case 2u: {
      let s = sigmoid(v);
      return s * (1.0 + v * (1.0 - s));
    }
    case 3u: { return 0.5 * one_plus_erf32(v * INV_SQRT_2) + v * exp(-0.5 * v * v) * INV_SQRT_2PI; }
    case 4u: {
      let t = tanh_safe(SQRT_2_OVER_PI * (v + GELU_TANH_C * v * v * v));
      return 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_TANH_C * v * v);
    }
    default: { return TWO_OVER_SQRT_PI * exp(-v * v); }
  }
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.total) { return; }
  var v: f32;
  if (GRADIENT == 1u) {
    v = r[i] * derivative(x[i]);
  } else {
    v = value(x[i]);
  }
  if (ACCUMULATE == 1u) { v += out[i]; }
  out[i] = v;
}
