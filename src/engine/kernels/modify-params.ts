import shader from '../../shaders/modify-params.wgsl?raw';
import type { KernelDef } from './kernel';
import { defineParams } from './uniforms';
import type { ModifyParamsStep } from './steps';
import { applyParamModifier } from '../../rules/rule-program';

const kindCode = { affine: 0, square: 1, ones: 2, zero: 3 } as const;

const params = defineParams([['total', 'u32'], ['plain', 'f32'], ['pos', 'f32'], ['neg', 'f32']]);

export const modifyParamsKernel: KernelDef<ModifyParamsStep> = {
  kind: 'modify-params',
  cpu(step, mem) {
    const src = mem.get(step.src);
    const dst = mem.get(step.dst);
    for (let i = 0; i < dst.length; i++) dst[i] = applyParamModifier(step.mod, src[i]!);
  },
  gpu: {
    shader,
    params,
    overrides: (s) => ({ KIND: kindCode[s.mod.kind] }),
    uniforms: (s) => {
      const m = s.mod.kind === 'affine' ? s.mod : { plain: 0, pos: 0, neg: 0 };
      return params.pack({ total: s.dst.size, plain: m.plain, pos: m.pos, neg: m.neg });
    },
    bindings: (s) => [s.src, s.dst],
    invocations: (s) => s.dst.size,
  },
};
