import shader from '../../shaders/stabilized-divide.wgsl?raw';
import { stabilize, type KernelDef } from './kernel';
import { defineParams } from './uniforms';
import type { StabilizedDivideStep } from './steps';

const maskCode = { all: 0, positive: 1, negative: 2 } as const;

const params = defineParams([['total', 'u32'], ['epsilon', 'f32'], ['coefficient', 'f32']]);

export const stabilizedDivideKernel: KernelDef<StabilizedDivideStep> = {
  kind: 'stabilized-divide',
  cpu(step, mem) {
    const r = mem.get(step.r);
    const z = mem.get(step.z);
    const zref = mem.get(step.zref);
    const s = mem.get(step.s);
    for (let i = 0; i < s.length; i++) {
      const zr = zref[i]!;
      const keep = step.mask === 'all' || (step.mask === 'positive' ? zr > 0 : zr < 0);
      if (!keep) {
        s[i] = 0;
        continue;
      }
      const v = step.coefficient * r[i]!;
      const d = step.epsilon === null ? 1 : stabilize(z[i]!, step.epsilon);
      // Only an epsilon of 0 meeting z = 0 gets here: no contribution, so no relevance passes (never 0/0).
      s[i] = d === 0 ? 0 : v / d;
    }
  },
  gpu: {
    shader,
    params,
    overrides: (s) => ({ MASK: maskCode[s.mask], DIVIDE: s.epsilon === null ? 0 : 1 }),
    uniforms: (s) => params.pack({ total: s.s.size, epsilon: s.epsilon ?? 0, coefficient: s.coefficient }),
    bindings: (s) => [s.r, s.z, s.zref, s.s],
    invocations: (s) => s.s.size,
  },
};
