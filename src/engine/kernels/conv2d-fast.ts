/**
 * Fast GPU implementations of the conv2d and conv2d-relevance steps (the CPU references in ./conv2d.ts and
 * ./conv2d-relevance.ts are unchanged: same step semantics, another shader). ops/conv-shaped.ts picks one per
 * geometry through the step's `variant`:
 *   'gemm': implicit GEMM with 64x64 workgroup tiles and 4x4 register blocks (conv2d-gemm.wgsl,
 *           conv2d-relevance-gemm.wgsl);
 *   'gemv': a Linear layer's matrix-vector products (dense-forward.wgsl, dense-relevance.wgsl).
 */
import gemmShader from '../../shaders/conv2d-gemm.wgsl?raw';
import relevanceGemmShader from '../../shaders/conv2d-relevance-gemm.wgsl?raw';
import denseForwardShader from '../../shaders/dense-forward.wgsl?raw';
import denseRelevanceShader from '../../shaders/dense-relevance.wgsl?raw';
import type { GpuKernelSpec } from './kernel';
import { isDense, type Conv2dRelevanceStep, type Conv2dStep, type ConvGeometry, type ConvVariant } from './steps';

export { isDense };
import { CONV_GEOMETRY_FIELDS, convUniforms, FORWARD_MODE_FIELDS, forwardModes, RELEVANCE_MODE_FIELDS, relevanceModes } from './conv2d';
import { WEIGHT_MOD_FIELDS, weightModUniforms, withTermModifiers } from './term-modifiers';
import { defineParams, type UniformValues } from './uniforms';

/** Output tile of the GEMM kernels (rows and columns) and their K chunk. */
export const GEMM_TILE = 64;
export const GEMM_K_CHUNK = 16;
/** Outputs per workgroup of dense-forward.wgsl, input features per workgroup of dense-relevance.wgsl. */
export const GEMV_ROWS = 8;
export const GEMV_COLUMNS = 64;

/** The GEMMs a step dispatches: `groups` of them (workgroups along z), each M x N outputs over (up to) K. */
export interface GemmShape {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly groups: number;
}

export function forwardGemmShape(g: ConvGeometry): GemmShape {
  return { m: g.o / g.groups, n: g.n * g.oh * g.ow, k: (g.c / g.groups) * g.kh * g.kw, groups: g.groups };
}

/**
 * The transposed pass runs one GEMM per group and stride phase (conv2d-relevance-gemm.wgsl): N counts the pixels
 * of the largest phase, K its taps when the dilation is 1 (at most KH*KW taps in any case).
 */
export function relevanceGemmShape(g: ConvGeometry): GemmShape {
  const taps = Math.ceil(g.kh / g.strideH) * Math.ceil(g.kw / g.strideW);
  return {
    m: g.c / g.groups,
    n: g.n * Math.ceil(g.h / g.strideH) * Math.ceil(g.w / g.strideW),
    k: (g.o / g.groups) * taps,
    groups: g.groups * g.strideH * g.strideW,
  };
}


/** conv2d-gemm.wgsl's Params: the convolution's, then C/groups, O/groups, K and N of the GEMM, modes, weight modifier. */
const gemmParams = defineParams([
  ...CONV_GEOMETRY_FIELDS,
  ['cpg', 'u32'], ['opg', 'u32'], ['k_total', 'u32'], ['cols', 'u32'],
  ...FORWARD_MODE_FIELDS,
  ...WEIGHT_MOD_FIELDS,
]);
/** conv2d-relevance-gemm.wgsl's Params: the forward convolution's, then C/groups and O/groups, modes, weight modifier. */
const relevanceGemmParams = defineParams([...CONV_GEOMETRY_FIELDS, ['cpg', 'u32'], ['opg', 'u32'], ...RELEVANCE_MODE_FIELDS, ...WEIGHT_MOD_FIELDS]);
/** The dense shaders' Params: N (batch rows), C (input features), O (outputs), modes, weight modifier. */
const DENSE_FIELDS = [['n', 'u32'], ['c', 'u32'], ['o', 'u32']] as const;
const denseForwardParams = defineParams([...DENSE_FIELDS, ...FORWARD_MODE_FIELDS, ...WEIGHT_MOD_FIELDS]);
const denseRelevanceParams = defineParams([...DENSE_FIELDS, ...RELEVANCE_MODE_FIELDS, ...WEIGHT_MOD_FIELDS]);

const gemmWorkgroups = (shape: GemmShape): [number, number, number] => [
  Math.ceil(shape.n / GEMM_TILE),
  Math.ceil(shape.m / GEMM_TILE),
  shape.groups,
];

const denseUniforms = (g: ConvGeometry): UniformValues<typeof DENSE_FIELDS> => ({ n: g.n, c: g.c, o: g.o });

function checkDense(g: ConvGeometry): void {
  if (!isDense(g)) throw new Error(`the gemv kernels take Linear layers (1x1 on 1x1, ungrouped), got ${JSON.stringify(g)}`);
}

export const conv2dGpuVariants: Record<ConvVariant, GpuKernelSpec<Conv2dStep>> = {
  gemm: {
    shader: withTermModifiers(gemmShader),
    params: gemmParams,
    overrides: () => ({}),
    uniforms: (s) => {
      const shape = forwardGemmShape(s.geom);
      return gemmParams.pack({
        ...convUniforms(s.geom, s.out.size),
        cpg: s.geom.c / s.geom.groups,
        opg: s.geom.o / s.geom.groups,
        k_total: shape.k,
        cols: shape.n,
        ...forwardModes(s),
        ...weightModUniforms(s.weightMod),
      });
    },
    bindings: (s) => [s.x, s.weight, s.bias, s.bounds, s.out],
    workgroups: (s) => gemmWorkgroups(forwardGemmShape(s.geom)),
  },
  gemv: {
    shader: withTermModifiers(denseForwardShader),
    params: denseForwardParams,
    overrides: () => ({}),
    uniforms: (s) => {
      checkDense(s.geom);
      return denseForwardParams.pack({ ...denseUniforms(s.geom), ...forwardModes(s), ...weightModUniforms(s.weightMod) });
    },
    bindings: (s) => [s.x, s.weight, s.bias, s.bounds, s.out],
    workgroups: (s) => [Math.ceil(s.geom.o / GEMV_ROWS), s.geom.n, 1],
  },
};

export const conv2dRelevanceGpuVariants: Record<ConvVariant, GpuKernelSpec<Conv2dRelevanceStep>> = {
  gemm: {
    shader: withTermModifiers(relevanceGemmShader),
    params: relevanceGemmParams,
    overrides: () => ({}),
    uniforms: (s) =>
      relevanceGemmParams.pack({
        ...convUniforms(s.geom, s.rin.size),
        cpg: s.geom.c / s.geom.groups,
        opg: s.geom.o / s.geom.groups,
        ...relevanceModes(s),
        ...weightModUniforms(s.weightMod),
      }),
    bindings: (s) => [s.x, s.weight, s.s, s.bounds, s.rin],
    workgroups: (s) => gemmWorkgroups(relevanceGemmShape(s.geom)),
  },
  gemv: {
    shader: withTermModifiers(denseRelevanceShader),
    params: denseRelevanceParams,
    overrides: () => ({}),
    uniforms: (s) => {
      checkDense(s.geom);
      return denseRelevanceParams.pack({ ...denseUniforms(s.geom), ...relevanceModes(s), ...weightModUniforms(s.weightMod) });
    },
    bindings: (s) => [s.x, s.weight, s.s, s.bounds, s.rin],
    workgroups: (s) => [Math.ceil(s.geom.c / GEMV_COLUMNS), s.geom.n, 1],
  },
};
