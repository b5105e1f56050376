/**
 * LayerNorm over one axis, forward and relevance. The tensor is viewed as [outer, features, inner] with the
 * normalised axis in the middle; a row is one (outer, inner) pair: its `features` elements lie `inner` apart.
 *   forward:   y_i = gamma_i * (x_i - mean) / std + beta_i,   std = sqrt(var + eps), biased variance
 *   epsilon:   the std held constant (Ali et al. 2022), the layer is then the linear map
 *              y_i = sum_j W_ij x_j + beta_i with W_ij = gamma_i (delta_ij - 1/F) / std, and the epsilon rule gives
 *              R_j = x_j * sum_i W_ij R_i / stab(z_i) = x_j * (t_j - mean_i t_i),  t_i = gamma_i R_i / (std stab(z_i)),
 *              z_i = gamma_i (x_i - mean) / std + b_i with b the rule's bias (beta, or 0 with zeroBias)
 *   gradient:  the vector-Jacobian product with std a function of x:
 *              R_in_j = (g_j - mean(g) - xhat_j mean(g xhat)) / std,  g_i = gamma_i R_i, xhat = (x - mean) / std
 */
import forwardShader from '../../shaders/layernorm.wgsl?raw';
import relevanceShader from '../../shaders/layernorm-relevance.wgsl?raw';
import { stabilize, type KernelDef } from './kernel';
import { defineParams, type UniformValues } from './uniforms';
import type { LayerNormGeometry, LayerNormRelevanceStep, LayerNormStep } from './steps';

const rows = (g: LayerNormGeometry): number => g.outer * g.inner;

const GEOMETRY_FIELDS = [['outer', 'u32'], ['features', 'u32'], ['inner', 'u32'], ['rows', 'u32']] as const;
const geometryUniforms = (g: LayerNormGeometry): UniformValues<typeof GEOMETRY_FIELDS> => ({ outer: g.outer, features: g.features, inner: g.inner, rows: rows(g) });
const forwardParams = defineParams([...GEOMETRY_FIELDS, ['epsilon', 'f32']]);
const relevanceParams = defineParams([...GEOMETRY_FIELDS, ['epsilon', 'f32'], ['stabilizer', 'f32']]);

/** Visits every row: `at(f)` is the flat index of the row's f-th element. */
function forRows(g: LayerNormGeometry, visit: (at: (f: number) => number) => void): void {
  for (let o = 0; o < g.outer; o++) {
    for (let i = 0; i < g.inner; i++) {
      const base = o * g.features * g.inner + i;
      visit((f) => base + f * g.inner);
    }
  }
}

/** Mean and std = sqrt(var + eps) of one row (two passes). */
function rowStats(x: Float64Array, g: LayerNormGeometry, at: (f: number) => number, epsilon: number): { mean: number; std: number } {
  let sum = 0;
  for (let f = 0; f < g.features; f++) sum += x[at(f)]!;
  const mean = sum / g.features;
  let sq = 0;
  for (let f = 0; f < g.features; f++) sq += (x[at(f)]! - mean) ** 2;
  return { mean, std: Math.sqrt(sq / g.features + epsilon) };
}

export const layerNormKernel: KernelDef<LayerNormStep> = {
  kind: 'layernorm',
  cpu(step, mem) {
    const g = step.geom;
    const [x, gamma, beta, out] = [mem.get(step.x), mem.get(step.gamma), mem.get(step.beta), mem.get(step.out)];
    forRows(g, (at) => {
      const { mean, std } = rowStats(x, g, at, step.epsilon);
      for (let f = 0; f < g.features; f++) out[at(f)] = (gamma[f]! * (x[at(f)]! - mean)) / std + beta[f]!;
    });
  },
  gpu: {
    shader: forwardShader,
    params: forwardParams,
    overrides: () => ({}),
    uniforms: (s) => forwardParams.pack({ ...geometryUniforms(s.geom), epsilon: s.epsilon }),
    bindings: (s) => [s.x, s.gamma, s.beta, s.out],
    invocations: (s) => rows(s.geom),
  },
};

export const layerNormRelevanceKernel: KernelDef<LayerNormRelevanceStep> = {
  kind: 'layernorm-relevance',
  cpu(step, mem) {
    const g = step.geom;
    const [x, gamma, r, rin] = [mem.get(step.x), mem.get(step.gamma), mem.get(step.r), mem.get(step.rin)];
    const bias = step.bias ? mem.get(step.bias) : null;
    const t = new Float64Array(g.features);
    forRows(g, (at) => {
      const { mean, std } = rowStats(x, g, at, step.epsilon);
      let tMean = 0;
      let gxMean = 0;
      for (let f = 0; f < g.features; f++) {
        const xhat = (x[at(f)]! - mean) / std;
        if (step.mode === 'epsilon') {
          const d = stabilize(gamma[f]! * xhat + (bias ? bias[f]! : 0), step.stabilizer);
          t[f] = d === 0 ? 0 : (gamma[f]! * r[at(f)]!) / (std * d);
        } else {
          t[f] = gamma[f]! * r[at(f)]!;
          gxMean += t[f]! * xhat;
        }
        tMean += t[f]!;
      }
      tMean /= g.features;
      gxMean /= g.features;
      for (let f = 0; f < g.features; f++) {
        const v =
          step.mode === 'epsilon' ? x[at(f)]! * (t[f]! - tMean) : (t[f]! - tMean - ((x[at(f)]! - mean) / std) * gxMean) / std;
        rin[at(f)] = step.accumulate ? rin[at(f)]! + v : v;
      }
    });
  },
  gpu: {
    shader: relevanceShader,
    params: relevanceParams,
    overrides: (s) => ({ MODE: s.mode === 'epsilon' ? 0 : 1, ACCUMULATE: s.accumulate ? 1 : 0, HAS_BIAS: s.bias ? 1 : 0 }),
    uniforms: (s) => relevanceParams.pack({ ...geometryUniforms(s.geom), epsilon: s.epsilon, stabilizer: s.stabilizer }),
    bindings: (s) => [s.x, s.gamma, s.bias, s.r, s.rin],
    invocations: (s) => rows(s.geom),
  },
};
