import shader from '../../shaders/conv2d-relevance.wgsl?raw';
import type { KernelDef } from './kernel';
import { isDense, type Conv2dRelevanceStep } from './steps';
import { CONV_GEOMETRY_FIELDS, convUniforms, RELEVANCE_MODE_FIELDS, relevanceModes, tapRanges } from './conv2d';
import { modifiedInput, modifiedWeights, WEIGHT_MOD_FIELDS, weightModUniforms, withTermModifiers } from './term-modifiers';
import { defineParams } from './uniforms';

const params = defineParams([...CONV_GEOMETRY_FIELDS, ...RELEVANCE_MODE_FIELDS, ...WEIGHT_MOD_FIELDS]);

export const conv2dRelevanceKernel: KernelDef<Conv2dRelevanceStep> = {
  kind: 'conv2d-relevance',
  // Scatter form of the transposed convolution, in the forward kernel's loop order: each weight once per output
  // plane, over the rows and columns it reaches. Outputs whose s is 0 are skipped, as they contribute nothing.
  cpu(step, mem) {
    const g = step.geom;
    const bounds = step.bounds ? mem.get(step.bounds) : null;
    const x = modifiedInput(mem.get(step.x), step.inputMod, bounds, g);
    const w = modifiedWeights(mem.get(step.weight), step.weightMod);
    const s = mem.get(step.s);
    const rin = mem.get(step.rin);
    const cpg = g.c / g.groups;
    const opg = g.o / g.groups;
    const acc = new Float64Array(g.n * g.c * g.h * g.w);
    if (isDense(g)) {
      for (let n = 0; n < g.n; n++) {
        for (let o = 0; o < g.o; o++) {
          const sv = s[n * g.o + o]!;
          if (sv === 0) continue;
          for (let ci = 0, wi = o * g.c, ai = n * g.c; ci < g.c; ci++) acc[ai + ci] = acc[ai + ci]! + w[wi + ci]! * sv;
        }
      }
    } else {
      const rows = tapRanges(g.kh, g.oh, g.h, g.strideH, g.dilH, g.padTop);
      const cols = tapRanges(g.kw, g.ow, g.w, g.strideW, g.dilW, g.padLeft);
      for (let n = 0; n < g.n; n++) {
        for (let o = 0; o < g.o; o++) {
          const sPlane = (n * g.o + o) * g.oh * g.ow;
          const grp = Math.floor(o / opg);
          for (let ci = 0; ci < cpg; ci++) {
            const aPlane = (n * g.c + grp * cpg + ci) * g.h * g.w;
            for (let ky = 0; ky < g.kh; ky++) {
              for (let kx = 0; kx < g.kw; kx++) {
                const wv = w[((o * cpg + ci) * g.kh + ky) * g.kw + kx]!;
                const [ox0, ox1] = [cols[2 * kx]!, cols[2 * kx + 1]!];
                for (let oy = rows[2 * ky]!; oy <= rows[2 * ky + 1]!; oy++) {
                  const aRow = aPlane + (oy * g.strideH + ky * g.dilH - g.padTop) * g.w + kx * g.dilW - g.padLeft;
                  const sRow = sPlane + oy * g.ow;
                  for (let ox = ox0; ox <= ox1; ox++) {
                    const sv = s[sRow + ox]!;
                    if (sv !== 0) acc[aRow + ox * g.strideW] = acc[aRow + ox * g.strideW]! + wv * sv;
                  }
                }
              }
            }
          }
        }
      }
    }
    for (let i = 0; i < acc.length; i++) {
      const r = x[i]! * acc[i]!;
      rin[i] = step.accumulate ? rin[i]! + r : r;
    }
  },
  gpu: {
    shader: withTermModifiers(shader),
    params,
    overrides: () => ({}),
    uniforms: (s) => params.pack({ ...convUniforms(s.geom, s.rin.size), ...relevanceModes(s), ...weightModUniforms(s.weightMod) }),
    bindings: (s) => [s.x, s.weight, s.s, s.bounds, s.rin],
    invocations: (s) => s.rin.size,
  },
};
