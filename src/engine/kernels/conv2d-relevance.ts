import shader from '../../shaders/conv2d-relevance.wgsl?raw';
import type { KernelDef } from './kernel';
import { inputModCode, type Conv2dRelevanceStep } from './steps';
import { convUniforms, modifyInput } from './conv2d';
import { modifiedWeights, weightModUniforms, withWeightModifier } from './weight-modifier';

export const conv2dRelevanceKernel: KernelDef<Conv2dRelevanceStep> = {
  kind: 'conv2d-relevance',
  cpu(step, mem) {
    const g = step.geom;
    const x = mem.get(step.x);
    const w = modifiedWeights(mem.get(step.weight), step.weightMod);
    const s = mem.get(step.s);
    const bounds = step.bounds ? mem.get(step.bounds) : null;
    const rin = mem.get(step.rin);
    const cpg = g.c / g.groups;
    const opg = g.o / g.groups;
    // Scatter form of the transposed convolution: each output's s flows back along its weights.
    const acc = new Float64Array(g.n * g.c * g.h * g.w);
    for (let n = 0; n < g.n; n++) {
      for (let o = 0; o < g.o; o++) {
        const grp = Math.floor(o / opg);
        for (let oy = 0; oy < g.oh; oy++) {
          for (let ox = 0; ox < g.ow; ox++) {
            const sv = s[((n * g.o + o) * g.oh + oy) * g.ow + ox]!;
            if (sv === 0) continue;
            for (let ci = 0; ci < cpg; ci++) {
              const ch = grp * cpg + ci;
              for (let ky = 0; ky < g.kh; ky++) {
                const iy = oy * g.strideH + ky * g.dilH - g.padTop;
                if (iy < 0 || iy >= g.h) continue;
                for (let kx = 0; kx < g.kw; kx++) {
                  const ix = ox * g.strideW + kx * g.dilW - g.padLeft;
                  if (ix < 0 || ix >= g.w) continue;
                  const at = ((n * g.c + ch) * g.h + iy) * g.w + ix;
                  acc[at] = acc[at]! + w[((o * cpg + ci) * g.kh + ky) * g.kw + kx]! * sv;
                }
              }
            }
          }
        }
      }
    }
    const plane = g.h * g.w;
    for (let i = 0; i < acc.length; i++) {
      const ch = Math.floor(i / plane) % g.c;
      const r = modifyInput(step.inputMod, x[i]!, ch, bounds, g.c) * acc[i]!;
      rin[i] = step.accumulate ? rin[i]! + r : r;
    }
  },
  gpu: {
    shader: withWeightModifier(shader),
    overrides: (s) => ({ INPUT_MOD: inputModCode[s.inputMod], ACCUMULATE: s.accumulate ? 1 : 0 }),
    uniforms: (s) => [...convUniforms(s.geom, s.rin.size), ...weightModUniforms(s.weightMod)],
    bindings: (s) => [s.x, s.weight, s.s, s.bounds, s.rin],
    invocations: (s) => s.rin.size,
  },
};
