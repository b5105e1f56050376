import forwardShader from '../../shaders/maxpool2d.wgsl?raw';
import relevanceShader from '../../shaders/maxpool2d-relevance.wgsl?raw';
import { stabilize, type KernelDef } from './kernel';
import { defineParams, type UniformValues } from './uniforms';
import type { MaxPoolRelevanceStep, MaxPoolStep, PoolGeometry } from './steps';

/** Both pooling shaders' Params: the geometry, total = invocations, epsilon (the relevance's stabiliser; 0 forward). */
const params = defineParams([
  ['n', 'u32'], ['c', 'u32'], ['h', 'u32'], ['w', 'u32'],
  ['oh', 'u32'], ['ow', 'u32'], ['kh', 'u32'], ['kw', 'u32'],
  ['stride_h', 'u32'], ['stride_w', 'u32'], ['pad_top', 'i32'], ['pad_left', 'i32'],
  ['dil_h', 'u32'], ['dil_w', 'u32'], ['total', 'u32'], ['epsilon', 'f32'],
]);

function poolUniforms(g: PoolGeometry, total: number, epsilon: number): UniformValues<typeof params.fields> {
  return {
    n: g.n, c: g.c, h: g.h, w: g.w,
    oh: g.oh, ow: g.ow, kh: g.kh, kw: g.kw,
    stride_h: g.strideH, stride_w: g.strideW, pad_top: g.padTop, pad_left: g.padLeft,
    dil_h: g.dilH, dil_w: g.dilW, total, epsilon,
  };
}

/** Visits the real positions of window (oy, ox) in scan order. */
function forWindow(g: PoolGeometry, oy: number, ox: number, visit: (iy: number, ix: number) => void): void {
  for (let ky = 0; ky < g.kh; ky++) {
    const iy = oy * g.strideH + ky * g.dilH - g.padTop;
    if (iy < 0 || iy >= g.h) continue;
    for (let kx = 0; kx < g.kw; kx++) {
      const ix = ox * g.strideW + kx * g.dilW - g.padLeft;
      if (ix >= 0 && ix < g.w) visit(iy, ix);
    }
  }
}

/** Index within the plane of the window's first maximum (PyTorch's tie rule). */
function winner(g: PoolGeometry, x: Float64Array, base: number, oy: number, ox: number): number {
  let best = -Infinity;
  let at = -1;
  forWindow(g, oy, ox, (iy, ix) => {
    const v = x[base + iy * g.w + ix]!;
    if (at < 0 || v > best) {
      best = v;
      at = iy * g.w + ix;
    }
  });
  return at;
}

export const maxPoolKernel: KernelDef<MaxPoolStep> = {
  kind: 'maxpool2d',
  cpu(step, mem) {
    const g = step.geom;
    const x = mem.get(step.x);
    const out = mem.get(step.out);
    for (let plane = 0; plane < g.n * g.c; plane++) {
      const base = plane * g.h * g.w;
      for (let oy = 0; oy < g.oh; oy++) {
        for (let ox = 0; ox < g.ow; ox++) {
          out[(plane * g.oh + oy) * g.ow + ox] = x[base + winner(g, x, base, oy, ox)]!;
        }
      }
    }
  },
  gpu: {
    shader: forwardShader,
    params,
    overrides: () => ({}),
    uniforms: (s) => params.pack(poolUniforms(s.geom, s.out.size, 0)),
    bindings: (s) => [s.x, s.out],
    invocations: (s) => s.out.size,
  },
};

export const maxPoolRelevanceKernel: KernelDef<MaxPoolRelevanceStep> = {
  kind: 'maxpool2d-relevance',
  cpu(step, mem) {
    const g = step.geom;
    const x = mem.get(step.x);
    const r = mem.get(step.r);
    const rin = mem.get(step.rin);
    const acc = new Float64Array(rin.length);
    for (let plane = 0; plane < g.n * g.c; plane++) {
      const base = plane * g.h * g.w;
      for (let oy = 0; oy < g.oh; oy++) {
        for (let ox = 0; ox < g.ow; ox++) {
          const at = base + winner(g, x, base, oy, ox);
          acc[at] = acc[at]! + r[(plane * g.oh + oy) * g.ow + ox]!;
        }
      }
    }
    for (let i = 0; i < acc.length; i++) {
      let v = acc[i]!;
      if (step.epsilon !== null) {
        const d = stabilize(x[i]!, step.epsilon);
        v = d === 0 ? 0 : (v * x[i]!) / d;
      }
      rin[i] = step.accumulate ? rin[i]! + v : v;
    }
  },
  gpu: {
    shader: relevanceShader,
    params,
    overrides: (s) => ({ MODE: s.epsilon === null ? 0 : 1, ACCUMULATE: s.accumulate ? 1 : 0 }),
    uniforms: (s) => params.pack(poolUniforms(s.geom, s.rin.size, s.epsilon ?? 0)),
    bindings: (s) => [s.x, s.r, s.rin],
    invocations: (s) => s.rin.size,
  },
};
