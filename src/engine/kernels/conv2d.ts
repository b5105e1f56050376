import shader from '../../shaders/conv2d.wgsl?raw';
import type { KernelDef, UniformField } from './kernel';
import { inputModCode, type Conv2dStep, type ConvGeometry } from './steps';
import type { InputModifier } from '../../rules/rule-program';
import { modifiedWeights, weightModUniforms, withWeightModifier } from './weight-modifier';

export function convUniforms(g: ConvGeometry, total: number): UniformField[] {
  return [
    ['u', g.n], ['u', g.c], ['u', g.h], ['u', g.w],
    ['u', g.o], ['u', g.oh], ['u', g.ow], ['u', g.groups],
    ['u', g.kh], ['u', g.kw], ['u', g.strideH], ['u', g.strideW],
    ['i', g.padTop], ['i', g.padLeft], ['u', g.dilH], ['u', g.dilW],
    ['u', total],
  ];
}

/** The input as a rule's term sees it, at a real (unpadded) position of channel ch. */
export function modifyInput(mod: InputModifier, v: number, ch: number, bounds: Float64Array | null, channels: number): number {
  switch (mod) {
    case 'identity':
      return v;
    case 'positive':
      return Math.max(v, 0);
    case 'negative':
      return Math.min(v, 0);
    case 'ones':
      return 1;
    case 'low':
      return bounds![ch]!;
    case 'high':
      return bounds![channels + ch]!;
  }
}

export const conv2dKernel: KernelDef<Conv2dStep> = {
  kind: 'conv2d',
  cpu(step, mem) {
    const g = step.geom;
    const x = mem.get(step.x);
    const w = modifiedWeights(mem.get(step.weight), step.weightMod);
    const bias = step.bias ? mem.get(step.bias) : null;
    const bounds = step.bounds ? mem.get(step.bounds) : null;
    const out = mem.get(step.out);
    const cpg = g.c / g.groups;
    const opg = g.o / g.groups;
    for (let n = 0; n < g.n; n++) {
      for (let o = 0; o < g.o; o++) {
        const grp = Math.floor(o / opg);
        for (let oy = 0; oy < g.oh; oy++) {
          for (let ox = 0; ox < g.ow; ox++) {
            let acc = 0;
            for (let ci = 0; ci < cpg; ci++) {
              const ch = grp * cpg + ci;
              for (let ky = 0; ky < g.kh; ky++) {
                const iy = oy * g.strideH + ky * g.dilH - g.padTop;
                if (iy < 0 || iy >= g.h) continue;
                for (let kx = 0; kx < g.kw; kx++) {
                  const ix = ox * g.strideW + kx * g.dilW - g.padLeft;
                  if (ix < 0 || ix >= g.w) continue;
                  const v = modifyInput(step.inputMod, x[((n * g.c + ch) * g.h + iy) * g.w + ix]!, ch, bounds, g.c);
                  acc += v * w[((o * cpg + ci) * g.kh + ky) * g.kw + kx]!;
                }
              }
            }
            if (bias) acc += bias[o]!;
            const idx = ((n * g.o + o) * g.oh + oy) * g.ow + ox;
            out[idx] = step.accumulate ? out[idx]! + acc : acc;
          }
        }
      }
    }
  },
  gpu: {
    shader: withWeightModifier(shader),
    overrides: (s) => ({ INPUT_MOD: inputModCode[s.inputMod], HAS_BIAS: s.bias ? 1 : 0, ACCUMULATE: s.accumulate ? 1 : 0 }),
    uniforms: (s) => [...convUniforms(s.geom, s.out.size), ...weightModUniforms(s.weightMod)],
    bindings: (s) => [s.x, s.weight, s.bias, s.bounds, s.out],
    invocations: (s) => s.out.size,
  },
};
