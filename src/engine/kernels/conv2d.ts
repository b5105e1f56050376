import shader from '../../shaders/conv2d.wgsl?raw';
import type { KernelDef } from './kernel';
import { inputModCode, isDense, type Conv2dRelevanceStep, type Conv2dStep, type ConvGeometry } from './steps';
import { modifiedInput, modifiedWeights, WEIGHT_MOD_FIELDS, weightModUniforms, withTermModifiers } from './term-modifiers';
import { defineParams, type UniformValues } from './uniforms';

/**
 * The forward conv shaders' modes (input modifier, bias, accumulate): uniforms rather than override constants, so
 * one pipeline per shader serves every rule (each override combination would compile a pipeline of its own).
 */
export const FORWARD_MODE_FIELDS = [['input_mod', 'u32'], ['has_bias', 'u32'], ['accumulate', 'u32']] as const;
export const forwardModes = (s: Conv2dStep): UniformValues<typeof FORWARD_MODE_FIELDS> => ({
  input_mod: inputModCode[s.inputMod],
  has_bias: s.bias ? 1 : 0,
  accumulate: s.accumulate ? 1 : 0,
});

/** The transposed-pass shaders' modes (input modifier, accumulate), as forwardModes. */
export const RELEVANCE_MODE_FIELDS = [['input_mod', 'u32'], ['accumulate', 'u32']] as const;
export const relevanceModes = (s: Conv2dRelevanceStep): UniformValues<typeof RELEVANCE_MODE_FIELDS> => ({
  input_mod: inputModCode[s.inputMod],
  accumulate: s.accumulate ? 1 : 0,
});

/** The convolution's geometry, first in the Params of the direct and GEMM conv shaders; total = invocations. */
export const CONV_GEOMETRY_FIELDS = [
  ['n', 'u32'], ['c', 'u32'], ['h', 'u32'], ['w', 'u32'],
  ['o', 'u32'], ['oh', 'u32'], ['ow', 'u32'], ['groups', 'u32'],
  ['kh', 'u32'], ['kw', 'u32'], ['stride_h', 'u32'], ['stride_w', 'u32'],
  ['pad_top', 'i32'], ['pad_left', 'i32'], ['dil_h', 'u32'], ['dil_w', 'u32'],
  ['total', 'u32'],
] as const;

export function convUniforms(g: ConvGeometry, total: number): UniformValues<typeof CONV_GEOMETRY_FIELDS> {
  return {
    n: g.n, c: g.c, h: g.h, w: g.w,
    o: g.o, oh: g.oh, ow: g.ow, groups: g.groups,
    kh: g.kh, kw: g.kw, stride_h: g.strideH, stride_w: g.strideW,
    pad_top: g.padTop, pad_left: g.padLeft, dil_h: g.dilH, dil_w: g.dilW,
    total,
  };
}

const params = defineParams([...CONV_GEOMETRY_FIELDS, ...FORWARD_MODE_FIELDS, ...WEIGHT_MOD_FIELDS]);

/**
 * For each kernel tap along one axis, the output positions whose input position (out * stride + tap * dilation -
 * pad) falls inside the input: [first, last] (first > last when none does).
 */
export function tapRanges(taps: number, outSize: number, inSize: number, stride: number, dilation: number, pad: number): Int32Array {
  const r = new Int32Array(2 * taps);
  for (let t = 0; t < taps; t++) {
    const offset = t * dilation - pad;
    r[2 * t] = Math.max(0, Math.ceil(-offset / stride));
    r[2 * t + 1] = Math.min(outSize - 1, Math.floor((inSize - 1 - offset) / stride));
  }
  return r;
}

export const conv2dKernel: KernelDef<Conv2dStep> = {
  kind: 'conv2d',
  // Loop order for a CPU: per output plane, each weight once, over the rows and columns it touches (a strided
  // multiply-add along a row). Each output still sums its taps in (channel, ky, kx) order from 0, then the bias:
  // the same float64 sums as one output at a time.
  cpu(step, mem) {
    const g = step.geom;
    const bounds = step.bounds ? mem.get(step.bounds) : null;
    const x = modifiedInput(mem.get(step.x), step.inputMod, bounds, g);
    const w = modifiedWeights(mem.get(step.weight), step.weightMod);
    const bias = step.bias ? mem.get(step.bias) : null;
    const out = mem.get(step.out);
    const cpg = g.c / g.groups;
    const opg = g.o / g.groups;
    const write = (idx: number, acc: number) => {
      out[idx] = step.accumulate ? out[idx]! + acc : acc;
    };
    if (isDense(g)) {
      for (let n = 0; n < g.n; n++) {
        for (let o = 0; o < g.o; o++) {
          let acc = 0;
          for (let ci = 0, wi = o * g.c, xi = n * g.c; ci < g.c; ci++) acc += x[xi + ci]! * w[wi + ci]!;
          write(n * g.o + o, bias ? acc + bias[o]! : acc);
        }
      }
      return;
    }
    const rows = tapRanges(g.kh, g.oh, g.h, g.strideH, g.dilH, g.padTop);
    const cols = tapRanges(g.kw, g.ow, g.w, g.strideW, g.dilW, g.padLeft);
    const plane = g.oh * g.ow;
    const acc = new Float64Array(plane);
    for (let n = 0; n < g.n; n++) {
      for (let o = 0; o < g.o; o++) {
        acc.fill(0);
        const grp = Math.floor(o / opg);
        for (let ci = 0; ci < cpg; ci++) {
          const xPlane = (n * g.c + grp * cpg + ci) * g.h * g.w;
          for (let ky = 0; ky < g.kh; ky++) {
            for (let kx = 0; kx < g.kw; kx++) {
              const wv = w[((o * cpg + ci) * g.kh + ky) * g.kw + kx]!;
              const [ox0, ox1] = [cols[2 * kx]!, cols[2 * kx + 1]!];
              for (let oy = rows[2 * ky]!; oy <= rows[2 * ky + 1]!; oy++) {
                const xRow = xPlane + (oy * g.strideH + ky * g.dilH - g.padTop) * g.w + kx * g.dilW - g.padLeft;
                const aRow = oy * g.ow;
                for (let ox = ox0; ox <= ox1; ox++) acc[aRow + ox] = acc[aRow + ox]! + x[xRow + ox * g.strideW]! * wv;
              }
            }
          }
        }
        const base = (n * g.o + o) * plane;
        for (let i = 0; i < plane; i++) write(base + i, bias ? acc[i]! + bias[o]! : acc[i]!);
      }
    }
  },
  gpu: {
    shader: withTermModifiers(shader),
    params,
    overrides: () => ({}),
    uniforms: (s) => params.pack({ ...convUniforms(s.geom, s.out.size), ...forwardModes(s), ...weightModUniforms(s.weightMod) }),
    bindings: (s) => [s.x, s.weight, s.bias, s.bounds, s.out],
    invocations: (s) => s.out.size,
  },
};
