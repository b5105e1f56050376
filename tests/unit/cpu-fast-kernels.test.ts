/**
 * The fast CPU backend's kernels (src/engine/cpu/fast-kernels.ts, the WASM SIMD GEMM of assembly/gemm.ts) against
 * the float64 references, one step at a time on random geometries: groups, strides, asymmetric padding, dilation,
 * batch, every input and weight modifier, bias, accumulate; weights cached in the arena (params) or not. And the
 * committed WASM module against its source.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { TensorRef } from '../../src/engine/program';
import type { ElementwiseOp, ElementwiseStep, Step } from '../../src/engine/kernels/steps';
import { affineMod, identityMod, negativeMod, onesMod, positiveMod } from '../../src/rules/rule-program';
import { WasmArena } from '../../src/engine/wasm/fast-wasm';
import { GEMM_SOURCE_SHA256 } from '../../src/engine/wasm/gemm-wasm';
import { fastKernelFor, type FastContext } from '../../src/engine/cpu/fast-kernels';
import { cpuEngine, randomArray, relL2, rng } from './helpers/engines';
import { createEngine } from '../../src/engine/index';
import { setFastCpuThreads } from '../../src/engine/cpu/fast-backend';
import { benchInput, resnet50, TINY, vgg16, visionTransformer, VIT_TINY } from '../../src/bench/models';
import { cpuRun, Tensors } from './helpers/step-runner';
import { kernelFor } from '../../src/engine/kernels/registry';
import type { CpuMemory } from '../../src/engine/kernels/kernel';
import { accumulatedError, convCaseFields, convSteps, hasOutput, type ConvCase } from './helpers/conv-cases';

const TOL = 1e-5;

describe('the committed WASM module', () => {
  it('was compiled from the current assembly/*.ts (else run npm run gen:wasm)', () => {
    // As scripts/gen-wasm.mjs hashes them: each source's name and text, by name.
    const dir = new URL('../../assembly/', import.meta.url);
    const hash = createHash('sha256');
    for (const name of readdirSync(dir).filter((n) => n.endsWith('.ts')).sort()) hash.update(`${name}\n`).update(readFileSync(new URL(name, dir)));
    const sha = hash.digest('hex');
    expect(GEMM_SOURCE_SHA256, 'src/engine/wasm/gemm-wasm.ts is stale: run npm run gen:wasm').toBe(sha);
  });
});

describe('WASM GEMM', () => {
  it('splits rows over worker threads in Node (shared memory)', async () => {
    const arena = await WasmArena.create(3);
    expect(arena.threadCount).toBe(3);
    arena.dispose();
  });

  it.each([1, 2, 3])('matches a float64 matrix product, A plain and transposed, with and without accumulate (%i threads)', async (threads) => {
    const arena = await WasmArena.create(threads);
    await fc.assert(
      fc.asyncProperty(
        fc.record({ m: fc.integer({ min: 1, max: 37 }), n: fc.integer({ min: 1, max: 600 }), k: fc.integer({ min: 0, max: 300 }), transposed: fc.boolean(), accumulate: fc.boolean(), seed: fc.integer({ min: 1, max: 1 << 30 }) }),
        async ({ m, n, k, transposed, accumulate, seed }) => {
          const random = rng(seed);
          const a = randomArray(m * k, random);
          const b = randomArray(k * n, random);
          const c0 = randomArray(m * n, random);
          const [aAt, bAt, cAt] = arena.scratch(m * k, k * n, m * n);
          const f = arena.f32;
          f.set(a, aAt! >> 2);
          f.set(b, bAt! >> 2);
          f.set(c0, cAt! >> 2);
          // A[i][kk] at a[i*k + kk] (plain) or a[kk*m + i] (transposed storage).
          const [ars, acs] = transposed ? [1, m] : [k, 1];
          arena.gemm(m, n, k, aAt!, ars, acs, bAt!, n, cAt!, n, accumulate);
          const got = arena.f32.slice(cAt! >> 2, (cAt! >> 2) + m * n);
          const want = new Float64Array(m * n);
          let scale = 0;
          for (let i = 0; i < m; i++) {
            for (let j = 0; j < n; j++) {
              let s = accumulate ? c0[i * n + j]! : 0;
              for (let kk = 0; kk < k; kk++) s += a[i * ars + kk * acs]! * b[kk * n + j]!;
              want[i * n + j] = s;
              scale = Math.max(scale, Math.abs(s));
            }
          }
          let worst = 0;
          for (let i = 0; i < m * n; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
          expect(worst, JSON.stringify({ m, n, k, transposed, accumulate })).toBeLessThanOrEqual(1e-5 * (1 + scale) * Math.sqrt(k + 1));
        },
      ),
      { numRuns: threads === 1 ? 60 : 25, seed: 20261206 + threads },
    );
    arena.dispose();
  });
});

interface Case extends ConvCase {
  /** Weights a param tensor (modified copy cached in the arena) or a computed one (modified per call). */
  param: boolean;
}



/** One step through the fast kernel, on float32 copies of the tensors; run twice when cached (the cache hit). */
function fastRun(step: Step, tensors: Tensors, written: TensorRef, ctx: FastContext, param: boolean, weight: TensorRef): Float32Array {
  let result = new Float32Array(0);
  for (let pass = 0; pass < (param ? 2 : 1); pass++) {
    const mem = tensors.data.map((d) => d.slice());
    fastKernelFor(step)!(step, { get: (ref) => mem[ref.id]!, isParam: (ref) => param && ref.id === weight.id, storage: (ref) => tensors.data[ref.id]! }, ctx);
    result = mem[written.id]!;
  }
  return result;
}


async function compare(k: Case): Promise<void> {
  // Reused buffers (as the backend's runner), or fresh arrays per call.
  const ctx: FastContext = { arena: await WasmArena.create(), weights: new WeakMap(), ...(k.seed % 2 ? { buffers: [] } : {}) };
  const { forward, relevance, tensors } = convSteps(k);
  const label = JSON.stringify(k);
  const f = fastRun(forward, tensors, forward.out, ctx, k.param, forward.weight);
  expect(accumulatedError(f, cpuRun(forward, tensors, forward.out), tensors.data[forward.out.id]!, k.accumulate), `forward ${label}`).toBeLessThan(TOL);
  const r = fastRun(relevance, tensors, relevance.rin, ctx, k.param, relevance.weight);
  expect(accumulatedError(r, cpuRun(relevance, tensors, relevance.rin), tensors.data[relevance.rin.id]!, k.accumulate), `relevance ${label}`).toBeLessThan(TOL);
}

const convCase = fc.record({ ...convCaseFields(40), param: fc.boolean() }).filter(hasOutput);

const base: Case = {
  n: 1, cpg: 1, opg: 1, groups: 1, h: 1, w: 1, kh: 1, kw: 1, stride: [1, 1], pads: [0, 0, 0, 0], dilation: [1, 1],
  bias: true, inputMod: 'identity', weightMod: identityMod, accumulate: false, param: true, seed: 1,
};

describe('fast conv2d and conv2d-relevance match the float64 references', () => {
  it('random geometry: groups, strides, asymmetric padding, dilation, batch, modifiers, bias, accumulate', async () => {
    await fc.assert(fc.asyncProperty(convCase, compare), { numRuns: 80, seed: 20261206 });
  }, 120_000);

  it('edges: dense (Linear) layers, 7x7 stride 2, 1x1 stride 2, wide groups, large K', async () => {
    const cases: Partial<Case>[] = [
      // Linear layers: the dense geometry, batch 1 and 3.
      { cpg: 300, opg: 70 },
      { n: 3, cpg: 65, opg: 130, weightMod: positiveMod, inputMod: 'positive', accumulate: true },
      { cpg: 513, opg: 9, param: false, weightMod: affineMod(1, 0.25, 0) },
      // ResNet's first layer and its downsampling shortcut.
      { cpg: 3, opg: 20, h: 23, w: 21, kh: 7, kw: 7, stride: [2, 2], pads: [3, 3, 3, 3], inputMod: 'low', weightMod: onesMod },
      { cpg: 64, opg: 48, h: 14, w: 14, stride: [2, 2], inputMod: 'negative', weightMod: negativeMod },
      // K over one k-block (128): 3x3 over 40 channels; N over one n-block (512).
      { cpg: 40, opg: 33, h: 25, w: 24, kh: 3, kw: 3, pads: [1, 1, 1, 1], accumulate: true },
      { n: 2, cpg: 24, opg: 20, groups: 3, h: 8, w: 9, kh: 3, kw: 3, pads: [1, 0, 1, 2], inputMod: 'high', param: false },
      // 1x1 with stride 1 (the columns are the input itself), batch 2.
      { n: 2, cpg: 100, opg: 65, h: 7, w: 7, bias: false, accumulate: true },
      // Depthwise.
      { cpg: 1, opg: 1, groups: 16, h: 9, w: 9, kh: 3, kw: 3, stride: [2, 2], pads: [1, 1, 1, 1] },
    ];
    for (const [i, c] of cases.entries()) await compare({ ...base, ...c, seed: 100 + i });
  }, 60_000);
});

describe('fast elementwise ops match the reference', () => {
  it('every op, with and without accumulate, on values with zeros and signs', async () => {
    const ctx: FastContext = { arena: await WasmArena.create(), weights: new WeakMap(), buffers: [] };
    const ops: readonly ElementwiseOp[] = ['relu', 'relu-gradient', 'add', 'multiply', 'copy', 'leaky-relu', 'leaky-relu-gradient', 'clip', 'sigmoid-gradient', 'tanh'];
    for (const [i, op] of ops.entries()) {
      for (const accumulate of [false, true]) {
        const random = rng(50 + i);
        const t = new Tensors();
        const a = t.add(randomArray(301, random).map((v, j) => (j % 7 === 0 ? 0 : v)));
        const b = t.add(randomArray(301, random));
        const out = t.add(randomArray(301, random));
        const step: ElementwiseStep = { kernel: 'elementwise', op, a, b, out, accumulate, p0: -0.5, p1: 0.5 };
        const got = fastOnCopies(step, t, out, ctx);
        expect(relL2(got, cpuRun(step, t, out)), `${op} accumulate=${accumulate}`).toBeLessThan(1e-7);
        // The same arithmetic as the reference run on float32 memory, as cpu-fast ran it before: bit for bit.
        expect(got, `${op} accumulate=${accumulate}`).toEqual(referenceOnFloat32(step, t, out));
      }
    }
  });
});

/** The step's fast kernel run on copies of the tensors: what it wrote to `written`. */
function fastOnCopies(step: Step, t: Tensors, written: TensorRef, ctx: FastContext): Float32Array {
  const mem = t.data.map((d) => d.slice());
  fastKernelFor(step)!(step, { get: (ref) => mem[ref.id]!, isParam: () => false, storage: (ref) => mem[ref.id]! }, ctx);
  return mem[written.id]!;
}

/** The float64 reference kernel run on float32 memory (what cpu-fast runs for kernels without a fast version). */
function referenceOnFloat32(step: Step, t: Tensors, written: TensorRef): Float32Array {
  const mem = t.data.map((d) => d.slice());
  kernelFor(step).cpu(step, { get: (ref: TensorRef) => mem[ref.id]! } as unknown as CpuMemory);
  return mem[written.id]!;
}

describe('fast stabilised division and window copy match the reference bit for bit', () => {
  it('stabilised division: every mask, epsilon none, 0 or positive, z with zeros of both signs', async () => {
    const ctx: FastContext = { arena: await WasmArena.create(1), weights: new WeakMap(), buffers: [] };
    let seed = 70;
    for (const mask of ['all', 'positive', 'negative'] as const) {
      for (const epsilon of [null, 0, 1e-6, 0.25]) {
        for (const coefficient of [1, -0.5]) {
          const random = rng(seed++);
          const t = new Tensors();
          const r = t.add(randomArray(401, random));
          const z = t.add(randomArray(401, random).map((v, j) => (j % 9 === 0 ? 0 : j % 9 === 1 ? -0 : j % 9 === 2 ? -(epsilon ?? 0) : v)));
          const zref = t.add(randomArray(401, random).map((v, j) => (j % 11 === 0 ? 0 : v)));
          const out = t.add(randomArray(401, random));
          const step: Step = { kernel: 'stabilized-divide', r, z, zref, s: out, epsilon, coefficient, mask };
          expect(fastOnCopies(step, t, out, ctx), `${mask} ${epsilon} ${coefficient}`).toEqual(referenceOnFloat32(step, t, out));
        }
      }
    }
    ctx.arena.dispose();
  });

  it('window copy: random pads and slices (starts, steps, negative starts), forward and inverse, accumulate', async () => {
    const ctx: FastContext = { arena: await WasmArena.create(1), weights: new WeakMap(), buffers: [] };
    const dim = fc.integer({ min: 1, max: 5 });
    const axis = fc.record({ start: fc.integer({ min: -2, max: 2 }), step: fc.integer({ min: 1, max: 3 }) });
    await fc.assert(
      fc.property(
        fc.tuple(dim, dim, dim, dim),
        fc.tuple(dim, dim, dim, dim),
        fc.tuple(axis, axis, axis, axis),
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 1, max: 1 << 30 }),
        (inShape, outShape, axes, inverse, accumulate, seed) => {
          const random = rng(seed);
          const t = new Tensors();
          const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
          const x = t.add(randomArray(size(inShape), random));
          const out = t.add(randomArray(size(outShape), random));
          const step: Step = {
            kernel: 'window-copy',
            x,
            out,
            inShape,
            outShape,
            start: [axes[0].start, axes[1].start, axes[2].start, axes[3].start],
            step: [axes[0].step, axes[1].step, axes[2].step, axes[3].step],
            inverse,
            accumulate,
          };
          expect(fastOnCopies(step, t, out, ctx)).toEqual(referenceOnFloat32(step, t, out));
        },
      ),
      { numRuns: 300 },
    );
    ctx.arena.dispose();
  });
});

describe('fast max pooling matches the reference bit for bit', () => {
  const int = (min: number, max: number) => fc.integer({ min, max });
  const common = { n: int(1, 2), c: int(1, 3), h: int(1, 9), w: int(1, 9), epsilon: fc.constantFrom(null, 0, 1e-6, 0.25), accumulate: fc.boolean(), ties: fc.boolean(), seed: int(1, 1 << 30) };
  const geometries = {
    'random geometry: kernel, stride, padding, dilation': { kh: int(1, 3), kw: int(1, 3), strideH: int(1, 3), strideW: int(1, 3), padTop: int(0, 1), padLeft: int(0, 1), dilH: int(1, 2), dilW: int(1, 2) },
    // The unrolled 2x2 path (no padding, dilation 1), stride 1 and 2.
    '2x2 windows without padding, stride 1 or 2': { kh: fc.constant(2), kw: fc.constant(2), strideH: int(1, 2), strideW: int(1, 2), padTop: fc.constant(0), padLeft: fc.constant(0), dilH: fc.constant(1), dilW: fc.constant(1) },
  };
  it.each(Object.entries(geometries))('%s; batch, ties, epsilon or none, accumulate', async (_, geometry) => {
    const ctx: FastContext = { arena: await WasmArena.create(1), weights: new WeakMap(), buffers: [] };
    await fc.assert(
      fc.property(
        fc.record({ ...common, ...geometry }),
        (p) => {
          const extH = (p.kh - 1) * p.dilH + 1;
          const extW = (p.kw - 1) * p.dilW + 1;
          const oh = Math.floor((p.h + 2 * p.padTop - extH) / p.strideH) + 1;
          const ow = Math.floor((p.w + 2 * p.padLeft - extW) / p.strideW) + 1;
          // Every window must see the input (PyTorch's constraint: padding at most half the kernel).
          if (oh < 1 || ow < 1 || p.padTop > Math.floor(extH / 2) || p.padLeft > Math.floor(extW / 2)) return;
          const geom = { n: p.n, c: p.c, h: p.h, w: p.w, oh, ow, kh: p.kh, kw: p.kw, strideH: p.strideH, strideW: p.strideW, padTop: p.padTop, padLeft: p.padLeft, dilH: p.dilH, dilW: p.dilW };
          const random = rng(p.seed);
          const t = new Tensors();
          // With ties: few distinct values, so the first-maximum rule decides.
          const x = t.add(randomArray(p.n * p.c * p.h * p.w, random).map((v) => (p.ties ? Math.round(v * 2) / 2 : v)));
          const out = t.add(randomArray(p.n * p.c * oh * ow, random));
          const r = t.add(randomArray(p.n * p.c * oh * ow, random));
          const rin = t.add(randomArray(p.n * p.c * p.h * p.w, random));
          const steps: Step[] = [
            { kernel: 'maxpool2d', geom, x, out },
            { kernel: 'maxpool2d-relevance', geom, x, r, rin, epsilon: p.epsilon, accumulate: p.accumulate },
          ];
          for (const step of steps) {
            const written = step.kernel === 'maxpool2d' ? out : rin;
            expect(fastOnCopies(step, t, written, ctx)).toEqual(referenceOnFloat32(step, t, written));
          }
        },
      ),
      { numRuns: 300 },
    );
    ctx.arena.dispose();
  });
});

describe('the cpu-fast backend matches the float64 backend on whole models', () => {
  const presets = ['EpsilonPlusFlat', 'captum-default', 'EpsilonGammaBox', 'EpsilonAlpha2Beta1Flat'] as const;
  // Threads: 3 (two worker threads), 1 (none), null (the default: every core).
  for (const [build, threads] of [[() => resnet50(TINY), 3], [() => vgg16(TINY), 1], [() => visionTransformer(VIT_TINY), null]] as const) {
    it(`${build().name} on ${threads ?? 'every core as'} thread(s): relevance, logits and every layer's relevance; a rule change reuses the forward pass`, async () => {
      const graph = build();
      const before = setFastCpuThreads(threads);
      const fast = await (await createEngine({ backend: 'cpu-fast' })).load(graph);
      setFastCpuThreads(before);
      const reference = await (await cpuEngine()).load(graph);
      expect(fast.backend).toBe('cpu-fast');
      const input = benchInput(graph.input.shape, 3);
      for (const preset of presets) {
        const [a, b] = [await fast.explain(input, { rules: { preset } }), await reference.explain(input, { rules: { preset } })];
        expect(a.target, preset).toBe(b.target);
        expect(relL2(a.logits, b.logits), `${preset} logits`).toBeLessThan(1e-5);
        expect(relL2(a.relevance, b.relevance), `${preset} relevance`).toBeLessThan(1e-4);
        a.layers.forEach((l, i) => expect(relL2(l.data, b.layers[i]!.data), `${preset} ${l.layer}`).toBeLessThan(1e-4));
        if (preset !== presets[0]) expect(a.work.forward, 'forward pass reused after a rule change').toBe(false);
      }
      const target = 7;
      const [a, b] = [await fast.explain(input, { target, contrastTarget: 2 }), await reference.explain(input, { target, contrastTarget: 2 })];
      expect(relL2(a.relevance, b.relevance), 'contrast').toBeLessThan(1e-4);
      expect(relL2(await fast.forward(input), await reference.forward(input))).toBeLessThan(1e-5);
      fast.dispose();
      reference.dispose();
    }, 120_000);
  }
});
