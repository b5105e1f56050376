import shader from '../../shaders/seed-relevance.wgsl?raw';
import type { KernelDef } from './kernel';
import { defineParams } from './uniforms';
import type { SeedStep } from './steps';

const params = defineParams([['classes', 'u32']]);

export const seedRelevanceKernel: KernelDef<SeedStep> = {
  kind: 'seed-relevance',
  cpu(step, mem) {
    const logits = mem.get(step.logits);
    const control = mem.get(step.control);
    const out = mem.get(step.out);
    let target = control[0]!;
    if (target < 0) {
      target = 0;
      for (let k = 1; k < logits.length; k++) if (logits[k]! > logits[target]!) target = k;
    }
    const contrast = control[1]!;
    // Seed mode (control[2], where the control has it): 0 the logits, 1 one (the gradient).
    const one = control.length > 2 && control[2] === 1;
    out.fill(0);
    out[target] = one ? 1 : logits[target]!;
    if (contrast >= 0 && contrast !== target) out[contrast] = one ? -1 : -logits[contrast]!;
    mem.get(step.chosen)[0] = target;
  },
  gpu: {
    shader,
    params,
    overrides: () => ({}),
    uniforms: (s) => params.pack({ classes: s.out.size }),
    bindings: (s) => [s.control, s.logits, s.chosen, s.out],
    invocations: (s) => s.out.size,
  },
};
