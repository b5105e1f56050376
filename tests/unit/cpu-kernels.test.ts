/**
 * The CPU references of the conv-shaped steps (src/engine/kernels/conv2d.ts, conv2d-relevance.ts), which run a
 * weight at a time over the rows it touches, against the definitions written one output (or one input) at a time,
 * on random geometries: groups, strides, asymmetric padding, dilation, batch, every input and weight modifier,
 * bias and accumulate. And the modifier helpers against applyParamModifier / modifyInput.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { conv2dKernel } from '../../src/engine/kernels/conv2d';
import { conv2dRelevanceKernel } from '../../src/engine/kernels/conv2d-relevance';
import { modifiedInput, modifiedWeights, modifyInput } from '../../src/engine/kernels/term-modifiers';
import type { Conv2dRelevanceStep, Conv2dStep, ConvGeometry } from '../../src/engine/kernels/steps';
import type { TensorRef } from '../../src/engine/program';
import { affineMod, applyParamModifier, identityMod, negativeMod, onesMod, positiveMod, squareMod, zeroMod, type InputModifier, type ParamModifier } from '../../src/rules/rule-program';
import { randomArray, rng } from './helpers/engines';

const INPUT_MODS: readonly InputModifier[] = ['identity', 'positive', 'negative', 'ones', 'low', 'high'];
const WEIGHT_MODS: readonly ParamModifier[] = [identityMod, positiveMod, negativeMod, affineMod(1, 0.25, 0), affineMod(0, 2, -1), squareMod, onesMod, zeroMod];

/** The forward convolution, one output at a time (the textbook definition). */
function convDefinition(g: ConvGeometry, x: Float64Array, w: Float64Array, bias: Float64Array | null, im: InputModifier, wm: ParamModifier, bounds: Float64Array | null): Float64Array {
  const cpg = g.c / g.groups;
  const opg = g.o / g.groups;
  const out = new Float64Array(g.n * g.o * g.oh * g.ow);
  for (let n = 0; n < g.n; n++)
    for (let o = 0; o < g.o; o++)
      for (let oy = 0; oy < g.oh; oy++)
        for (let ox = 0; ox < g.ow; ox++) {
          let acc = 0;
          for (let ci = 0; ci < cpg; ci++) {
            const ch = Math.floor(o / opg) * cpg + ci;
            for (let ky = 0; ky < g.kh; ky++)
              for (let kx = 0; kx < g.kw; kx++) {
                const iy = oy * g.strideH + ky * g.dilH - g.padTop;
                const ix = ox * g.strideW + kx * g.dilW - g.padLeft;
                if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
                const v = modifyInput(im, x[((n * g.c + ch) * g.h + iy) * g.w + ix]!, ch, bounds, g.c);
                acc += v * applyParamModifier(wm, w[((o * cpg + ci) * g.kh + ky) * g.kw + kx]!);
              }
          }
          out[((n * g.o + o) * g.oh + oy) * g.ow + ox] = acc + (bias ? bias[o]! : 0);
        }
  return out;
}

/** The transposed pass, one input position at a time: R_in = input_mod(x) * sum over the outputs it feeds. */
function relevanceDefinition(g: ConvGeometry, x: Float64Array, w: Float64Array, s: Float64Array, im: InputModifier, wm: ParamModifier, bounds: Float64Array | null): Float64Array {
  const cpg = g.c / g.groups;
  const opg = g.o / g.groups;
  const out = new Float64Array(g.n * g.c * g.h * g.w);
  for (let n = 0; n < g.n; n++)
    for (let ch = 0; ch < g.c; ch++)
      for (let iy = 0; iy < g.h; iy++)
        for (let ix = 0; ix < g.w; ix++) {
          const grp = Math.floor(ch / cpg);
          const ci = ch - grp * cpg;
          let acc = 0;
          for (let o = grp * opg; o < (grp + 1) * opg; o++)
            for (let ky = 0; ky < g.kh; ky++)
              for (let kx = 0; kx < g.kw; kx++) {
                const ty = iy + g.padTop - ky * g.dilH;
                const tx = ix + g.padLeft - kx * g.dilW;
                if (ty % g.strideH !== 0 || tx % g.strideW !== 0) continue;
                const [oy, ox] = [ty / g.strideH, tx / g.strideW];
                if (oy < 0 || oy >= g.oh || ox < 0 || ox >= g.ow) continue;
                acc += applyParamModifier(wm, w[((o * cpg + ci) * g.kh + ky) * g.kw + kx]!) * s[((n * g.o + o) * g.oh + oy) * g.ow + ox]!;
              }
          const i = ((n * g.c + ch) * g.h + iy) * g.w + ix;
          out[i] = modifyInput(im, x[i]!, ch, bounds, g.c) * acc;
        }
  return out;
}

const geometry = fc
  .record({
    n: fc.integer({ min: 1, max: 2 }),
    cpg: fc.integer({ min: 1, max: 5 }),
    opg: fc.integer({ min: 1, max: 5 }),
    groups: fc.integer({ min: 1, max: 3 }),
    h: fc.integer({ min: 1, max: 9 }),
    w: fc.integer({ min: 1, max: 9 }),
    kh: fc.integer({ min: 1, max: 4 }),
    kw: fc.integer({ min: 1, max: 4 }),
    sh: fc.integer({ min: 1, max: 3 }),
    sw: fc.integer({ min: 1, max: 3 }),
    pads: fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 })),
    dh: fc.integer({ min: 1, max: 2 }),
    dw: fc.integer({ min: 1, max: 2 }),
  })
  .map((k): ConvGeometry => ({
    n: k.n, c: k.cpg * k.groups, h: k.h, w: k.w, o: k.opg * k.groups, kh: k.kh, kw: k.kw,
    oh: Math.floor((k.h + k.pads[0] + k.pads[2] - k.dh * (k.kh - 1) - 1) / k.sh) + 1,
    ow: Math.floor((k.w + k.pads[1] + k.pads[3] - k.dw * (k.kw - 1) - 1) / k.sw) + 1,
    strideH: k.sh, strideW: k.sw, padTop: k.pads[0], padLeft: k.pads[1], dilH: k.dh, dilW: k.dw, groups: k.groups,
  }))
  .filter((g) => g.oh >= 1 && g.ow >= 1);

const close = (a: Float64Array, b: Float64Array) => {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(1e-12 * (1 + Math.abs(b[i]!)));
};

describe('CPU references of the conv-shaped steps', () => {
  it('forward and transposed pass equal their one-element-at-a-time definitions', () => {
    fc.assert(
      fc.property(geometry, fc.constantFrom(...INPUT_MODS), fc.constantFrom(...WEIGHT_MODS), fc.boolean(), fc.boolean(), fc.integer({ min: 1, max: 1 << 30 }), (g, im, wm, hasBias, accumulate, seed) => {
        const random = rng(seed);
        const data = [
          randomArray(g.n * g.c * g.h * g.w, random, 2),
          randomArray(g.o * (g.c / g.groups) * g.kh * g.kw, random),
          randomArray(g.o, random),
          Float32Array.from([...randomArray(g.c, random).map((v) => -Math.abs(v)), ...randomArray(g.c, random).map((v) => Math.abs(v))]),
          randomArray(g.n * g.o * g.oh * g.ow, random),
          randomArray(g.n * g.o * g.oh * g.ow, random),
          randomArray(g.n * g.c * g.h * g.w, random),
        ].map((d) => Float64Array.from(d));
        // Some zeros in s: the transposed pass skips them.
        for (let i = 0; i < data[5]!.length; i += 3) data[5]![i] = 0;
        const before = data.map((d) => d.slice());
        const ref = (id: number): TensorRef => ({ id, shape: [data[id]!.length], size: data[id]!.length });
        const mem = { get: (r: TensorRef) => data[r.id]! };
        const common = { geom: g, x: ref(0), weight: ref(1), weightMod: wm, bounds: ref(3), inputMod: im, accumulate };
        const forward: Conv2dStep = { kernel: 'conv2d', ...common, bias: hasBias ? ref(2) : null, out: ref(4) };
        const relevance: Conv2dRelevanceStep = { kernel: 'conv2d-relevance', ...common, s: ref(5), rin: ref(6) };
        conv2dKernel.cpu(forward, mem);
        conv2dRelevanceKernel.cpu(relevance, mem);
        const z = convDefinition(g, before[0]!, before[1]!, hasBias ? before[2]! : null, im, wm, before[3]!);
        const r = relevanceDefinition(g, before[0]!, before[1]!, before[5]!, im, wm, before[3]!);
        close(data[4]!, accumulate ? z.map((v, i) => before[4]![i]! + v) : z);
        close(data[6]!, accumulate ? r.map((v, i) => before[6]![i]! + v) : r);
      }),
      { numRuns: 400, seed: 20261126 },
    );
  });

  it('modifiedWeights and modifiedInput give applyParamModifier and modifyInput element by element', () => {
    const values = Float64Array.from([0, -0, 1, -1, 2.5, -3.25, 1e-300, -1e300, Infinity, -Infinity]);
    // The identity is the weights themselves (infinities too, where the formula's 0 * inf would give NaN).
    expect(modifiedWeights(values, identityMod)).toBe(values);
    for (const m of WEIGHT_MODS.slice(1)) {
      const got = modifiedWeights(values, m);
      values.forEach((v, i) => expect(got[i], `${JSON.stringify(m)} of ${v}`).toBe(applyParamModifier(m, v)));
    }
    const g = { n: 1, c: 2, h: 1, w: 5 } as ConvGeometry;
    const bounds = Float64Array.from([-1, -2, 3, 4]);
    for (const im of INPUT_MODS) {
      const got = modifiedInput(values, im, bounds, g);
      values.forEach((v, i) => expect(got[i]).toBe(modifyInput(im, v, Math.floor(i / 5), bounds, 2)));
    }
  });
});
