import shader from '../../shaders/window-copy.wgsl?raw';
import type { KernelDef } from './kernel';
import { defineParams } from './uniforms';
import type { WindowCopyStep } from './steps';

/** NCHW shapes and the window's per-axis start and step, as vec4i (x = N ... w = W). */
const params = defineParams([
  ['in_shape', 'vec4i'],
  ['out_shape', 'vec4i'],
  ['start', 'vec4i'],
  ['step', 'vec4i'],
  ['total', 'u32'],
]);

export const windowCopyKernel: KernelDef<WindowCopyStep> = {
  kind: 'window-copy',
  cpu(step, mem) {
    const x = mem.get(step.x);
    const out = mem.get(step.out);
    const [, ic, ih, iw] = step.inShape;
    const [on, oc, oh, ow] = step.outShape;
    const o = [0, 0, 0, 0];
    const src = [0, 0, 0, 0];
    let idx = 0;
    for (o[0] = 0; o[0] < on; o[0]++)
      for (o[1] = 0; o[1] < oc; o[1]++)
        for (o[2] = 0; o[2] < oh; o[2]++)
          for (o[3] = 0; o[3] < ow; o[3]++, idx++) {
            let inside = true;
            for (let a = 0; a < 4; a++) {
              if (step.inverse) {
                const t = o[a]! - step.start[a]!;
                inside &&= t >= 0 && t % step.step[a]! === 0;
                src[a] = Math.floor(t / step.step[a]!);
              } else {
                src[a] = o[a]! * step.step[a]! + step.start[a]!;
              }
              inside &&= src[a]! >= 0 && src[a]! < step.inShape[a]!;
            }
            const v = inside ? x[((src[0]! * ic + src[1]!) * ih + src[2]!) * iw + src[3]!]! : 0;
            out[idx] = step.accumulate ? out[idx]! + v : v;
          }
  },
  gpu: {
    shader,
    params,
    overrides: (s) => ({ INVERSE: s.inverse ? 1 : 0, ACCUMULATE: s.accumulate ? 1 : 0 }),
    uniforms: (s) => params.pack({ in_shape: s.inShape, out_shape: s.outShape, start: s.start, step: s.step, total: s.out.size }),
    bindings: (s) => [s.x, s.out],
    invocations: (s) => s.out.size,
  },
};
