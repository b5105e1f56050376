import shader from '../../shaders/modify-params.wgsl?raw';
import type { KernelDef } from './kernel';
import type { ModifyParamsStep } from './steps';
import { applyParamModifier } from '../../rules/rule-program';

const kindCode = { affine: 0, square: 1, ones: 2, zero: 3 } as const;

export const modifyParamsKernel: KernelDef<ModifyParamsStep> = {
  kind: 'modify-params',
  cpu(step, mem) {
    const src = mem.get(step.src);
    const dst = mem.get(step.dst);
    for (let i = 0; i < dst.length; i++) dst[i] = applyParamModifier(step.mod, src[i]!);
  },
  gpu: {
    shader,
    overrides: (s) => ({ KIND: kindCode[s.mod.kind] }),
    uniforms: (s) => {
      const m = s.mod.kind === 'affine' ? s.mod : { plain: 0, pos: 0, neg: 0 };
      return [['u', s.dst.size], ['f', m.plain], ['f', m.pos], ['f', m.neg]];
    },
    bindings: (s) => [s.src, s.dst],
    invocations: (s) => s.dst.size,
  },
};
