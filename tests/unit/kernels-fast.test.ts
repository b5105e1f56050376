/**
 * The fast conv-shaped kernels (src/engine/kernels/conv2d-fast.ts: implicit GEMM and GEMV) against the float64 CPU
 * references of the conv2d and conv2d-relevance steps, one step at a time on random geometries that reach every
 * edge: tile remainders, K not a multiple of the chunk, strides with asymmetric padding, dilation, groups, batch,
 * every input modifier, accumulate on and off. Then the selection rule, and whole graphs whose layers select the
 * fast kernels, on both backends.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { TensorRef } from '../../src/engine/program';
import type { ConvVariant, Step } from '../../src/engine/kernels/steps';
import { affineMod, identityMod, negativeMod } from '../../src/rules/rule-program';
import type { Graph, GraphNode } from '../../src/engine/graph';
import type { RuleAssignment } from '../../src/rules/assignment';
import { selectConvVariant } from '../../src/engine/ops/conv-shaped';
import { cpuEngine, gpuEngine, randomArray, relL2, rng } from './helpers/engines';
import { cpuRun as cpuReference, StepGpu, Tensors } from './helpers/step-runner';
import { accumulatedError, convCaseFields, convGeometry, convSteps, hasOutput, INPUT_MODS, WEIGHT_MODS, type ConvCase } from './helpers/conv-cases';

const TOL = 1e-5;

let stepGpu: StepGpu;

beforeAll(async () => {
  stepGpu = await StepGpu.create((adapter) => ({ maxStorageBufferBindingSize: Math.min(adapter.limits.maxStorageBufferBindingSize, 1 << 30) }));
});

afterAll(() => stepGpu?.destroy());

/** The float64 reference, rounded to float32 as the GPU stores it. */
const cpuRun = (step: Step, tensors: Tensors, written: TensorRef): Float32Array => Float32Array.from(cpuReference(step, tensors, written));
/** One step through its GPU spec (the variant it names), as the WebGPU backend dispatches it. */
const gpuRun = (step: Step, tensors: Tensors, written: TensorRef): Promise<Float32Array> => stepGpu.run(step, tensors, written);






async function compare(k: ConvCase, variant: ConvVariant | undefined, which: 'forward' | 'relevance' | 'both' = 'both'): Promise<void> {
  const { forward, relevance, tensors } = convSteps(k, variant);
  const label = `${variant ?? 'direct'} ${JSON.stringify(k)}`;
  if (which !== 'relevance') {
    const [a, b] = [cpuRun(forward, tensors, forward.out), await gpuRun(forward, tensors, forward.out)];
    expect(accumulatedError(b, a, tensors.data[forward.out.id]!, k.accumulate), `forward ${label}`).toBeLessThan(TOL);
  }
  if (which !== 'forward') {
    const [a, b] = [cpuRun(relevance, tensors, relevance.rin), await gpuRun(relevance, tensors, relevance.rin)];
    expect(accumulatedError(b, a, tensors.data[relevance.rin.id]!, k.accumulate), `relevance ${label}`).toBeLessThan(TOL);
  }
}

const base: ConvCase = {
  n: 1,
  cpg: 1,
  opg: 1,
  groups: 1,
  h: 1,
  w: 1,
  kh: 1,
  kw: 1,
  stride: [1, 1],
  pads: [0, 0, 0, 0],
  dilation: [1, 1],
  bias: true,
  inputMod: 'identity',
  weightMod: identityMod,
  accumulate: false,
  seed: 1,
};

// Modifiers, bias and accumulate are uniforms, not override constants: one pipeline per shader serves them all.
const convCase = fc.record(convCaseFields(80)).filter(hasOutput);

describe('implicit GEMM kernels (variant gemm) match the float64 reference', () => {
  it('random geometry: groups, strides, asymmetric padding, dilation, batch, bias, accumulate', async () => {
    await fc.assert(
      fc.asyncProperty(convCase, (k) => compare(k, 'gemm')),
      { numRuns: 30, seed: 20261127 },
    );
  }, 300_000);

  it('edges: tile remainders, K not a multiple of 16, stride 2 with asymmetric padding, dilation, wide groups', async () => {
    const cases: Partial<ConvCase>[] = [
      // VGG's first layer: K = 27; N = 31*29 pixels, not a multiple of 64.
      { cpg: 3, opg: 70, h: 31, w: 29, kh: 3, kw: 3, pads: [1, 1, 1, 1] },
      // M = 130: three row tiles, the last one almost empty; K = 9*20 = 180.
      { cpg: 20, opg: 130, h: 9, w: 10, kh: 3, kw: 3, pads: [1, 1, 1, 1], accumulate: true },
      // Stride 2 with asymmetric padding (TensorFlow's SAME), dilation 2.
      { cpg: 17, opg: 33, h: 15, w: 12, kh: 3, kw: 3, stride: [2, 2], pads: [0, 0, 1, 1], inputMod: 'positive' },
      { cpg: 9, opg: 40, h: 13, w: 16, kh: 3, kw: 2, stride: [2, 1], pads: [2, 1, 0, 1], dilation: [2, 2], inputMod: 'negative', accumulate: true },
      { cpg: 5, opg: 20, h: 20, w: 17, kh: 7, kw: 7, stride: [2, 2], pads: [3, 3, 2, 3], inputMod: 'low' },
      // Grouped with many channels per group; batch 2.
      { n: 2, cpg: 24, opg: 20, groups: 3, h: 8, w: 9, kh: 3, kw: 3, pads: [1, 0, 1, 2], inputMod: 'high', accumulate: true },
      // 1x1 convolutions (K = C/groups), stride 2 (ResNet's downsampling shortcut).
      { cpg: 64, opg: 48, h: 14, w: 14, stride: [2, 2], inputMod: 'ones' },
      { n: 2, cpg: 100, opg: 65, h: 7, w: 7, bias: false },
      // Strides larger than the kernel (stride phases without taps) and dilation coprime to the stride.
      { cpg: 20, opg: 24, h: 11, w: 10, stride: [3, 2], accumulate: true },
      { cpg: 18, opg: 20, h: 13, w: 14, kh: 3, kw: 3, stride: [2, 2], pads: [2, 1, 2, 1], dilation: [3, 2], inputMod: 'negative' },
      // A whole tile of K-padding: K = 1.
      { cpg: 1, opg: 70, h: 10, w: 10 },
    ];
    for (const [i, c] of cases.entries()) await compare({ ...base, weightMod: WEIGHT_MODS[i % WEIGHT_MODS.length]!, ...c, seed: 100 + i }, 'gemm');
  }, 300_000);
});

describe('direct kernels (no variant) match the float64 reference', () => {
  it('random geometry: groups, strides, asymmetric padding, dilation, batch, bias, accumulate', async () => {
    await fc.assert(
      fc.asyncProperty(convCase, (k) => compare(k, undefined)),
      { numRuns: 30, seed: 20261206 },
    );
  }, 300_000);

  it('patch embeddings (stride = kernel), strides above and below the kernel, with padding and dilation', async () => {
    const cases: Partial<ConvCase>[] = [
      // A ViT's patch embedding: 3 channels, 8x8 patches with stride 8 (each input pixel in one window).
      { cpg: 3, opg: 20, h: 32, w: 24, kh: 8, kw: 8, stride: [8, 8] },
      // Patches that do not tile the image; non-square stride; padding.
      { cpg: 2, opg: 7, h: 19, w: 13, kh: 4, kw: 3, stride: [4, 3], pads: [1, 0, 2, 1], accumulate: true, inputMod: 'positive' },
      // Stride above the kernel (pixels no window reaches) and below it (overlapping windows).
      { cpg: 3, opg: 5, h: 17, w: 17, kh: 2, kw: 3, stride: [5, 4], pads: [0, 2, 1, 0] },
      { cpg: 4, opg: 6, h: 12, w: 11, kh: 5, kw: 5, stride: [3, 2], pads: [2, 2, 2, 2], inputMod: 'negative' },
      // Dilation with stride: every tap is tried.
      { cpg: 3, opg: 4, h: 15, w: 14, kh: 3, kw: 3, stride: [2, 3], pads: [2, 1, 2, 1], dilation: [2, 3], inputMod: 'low' },
      // Grouped (depthwise) with stride.
      { cpg: 1, opg: 1, groups: 6, h: 10, w: 9, kh: 3, kw: 3, stride: [2, 2], pads: [1, 1, 1, 1] },
    ];
    for (const [i, c] of cases.entries()) await compare({ ...base, weightMod: WEIGHT_MODS[i % WEIGHT_MODS.length]!, ...c, seed: 300 + i }, undefined);
  }, 300_000);
});

describe('GEMV kernels (variant gemv, Linear layers) match the float64 reference', () => {
  it('in and out not multiples of 64, batch 1 to 3, every modifier, accumulate on and off', async () => {
    let i = 0;
    for (const [c, o] of [
      [3, 1],
      [260, 70],
      [131, 257],
      [1027, 10],
    ] as const) {
      for (const n of [1, 3]) {
        for (const inputMod of INPUT_MODS) {
          const accumulate = i % 2 === 1;
          await compare({ ...base, n, cpg: c, opg: o, inputMod, weightMod: WEIGHT_MODS[i % WEIGHT_MODS.length]!, accumulate, bias: i % 3 !== 0, seed: 500 + i++ }, 'gemv');
        }
      }
    }
  }, 300_000);

  it('Linear layers through the implicit GEMM (batch 20) and the direct kernel', async () => {
    await compare({ ...base, n: 20, cpg: 70, opg: 33, inputMod: 'positive', weightMod: negativeMod, seed: 7 }, 'gemm');
    await compare({ ...base, n: 1, cpg: 77, opg: 33, inputMod: 'high', weightMod: affineMod(1, 0.25, 0), seed: 8 }, undefined);
  });
});

describe('every weight modifier, applied on load, matches the float64 reference on every kernel', () => {
  it('direct, GEMM and GEMV kernels, forward and relevance', async () => {
    const conv: Partial<ConvCase> = { cpg: 18, opg: 20, h: 9, w: 8, kh: 3, kw: 3, pads: [1, 1, 1, 1], stride: [2, 1] };
    for (const [i, weightMod] of WEIGHT_MODS.entries()) {
      await compare({ ...base, ...conv, weightMod, inputMod: i % 2 ? 'positive' : 'identity', seed: 900 + i }, undefined);
      await compare({ ...base, ...conv, weightMod, accumulate: i % 3 === 0, seed: 920 + i }, 'gemm');
      await compare({ ...base, cpg: 70, opg: 20, weightMod, seed: 940 + i }, 'gemv');
    }
  }, 300_000);
});

describe('kernel selection by geometry', () => {
  const g = (c: Partial<ConvCase>) => convGeometry({ ...base, ...c });
  it('picks GEMM for wide convolutions, GEMV for Linear layers, the direct kernel for the rest', () => {
    const vgg = g({ cpg: 64, opg: 64, h: 56, w: 56, kh: 3, kw: 3, pads: [1, 1, 1, 1] });
    expect(selectConvVariant(vgg, 'forward')).toBe('gemm');
    expect(selectConvVariant(vgg, 'relevance')).toBe('gemm');
    // VGG's first layer: the forward GEMM has M = 64, the relevance pass M = 3 input channels.
    const first = g({ cpg: 3, opg: 64, h: 224, w: 224, kh: 3, kw: 3, pads: [1, 1, 1, 1] });
    expect(selectConvVariant(first, 'forward')).toBe('gemm');
    expect(selectConvVariant(first, 'relevance')).toBeUndefined();
    const dense = g({ cpg: 4096, opg: 4096 });
    expect(selectConvVariant(dense, 'forward')).toBe('gemv');
    expect(selectConvVariant(dense, 'relevance')).toBe('gemv');
    expect(selectConvVariant(g({ cpg: 4097, opg: 10 }), 'relevance')).toBe('gemv');
    // Batches: GEMV up to 8 rows, the GEMM from 16, the direct kernel between.
    expect(selectConvVariant(g({ n: 8, cpg: 100, opg: 10 }), 'forward')).toBe('gemv');
    expect(selectConvVariant(g({ n: 12, cpg: 100, opg: 10 }), 'forward')).toBeUndefined();
    expect(selectConvVariant(g({ n: 32, cpg: 4097, opg: 1000 }), 'forward')).toBe('gemm');
    // ResNet's strided 1x1 shortcut: the relevance GEMM runs per stride phase (N = 28*28 pixels, K = 512).
    expect(selectConvVariant(g({ cpg: 256, opg: 512, h: 56, w: 56, stride: [2, 2] }), 'relevance')).toBe('gemm');
        // Depthwise (BatchNorm as a layer, average pools, MobileNet) and narrow groups (ResNeXt's 4 per group).
    expect(selectConvVariant(g({ cpg: 1, opg: 1, groups: 64, h: 56, w: 56, kh: 3, kw: 3, pads: [1, 1, 1, 1] }), 'forward')).toBeUndefined();
    expect(selectConvVariant(g({ cpg: 4, opg: 4, groups: 32, h: 56, w: 56, kh: 3, kw: 3, pads: [1, 1, 1, 1] }), 'relevance')).toBeUndefined();
  });
});

describe('graphs whose layers select the fast kernels: WebGPU equals the CPU backend', () => {
  function graph(seed: number): Graph {
    const random = rng(seed);
    const conv = (name: string, input: string, output: string, c: number, o: number, k: number, stride: number, pads: [number, number, number, number]): GraphNode => ({
      name,
      op: 'conv2d',
      inputs: [input],
      output,
      attrs: { stride: [stride, stride], pads, dilation: [1, 1], groups: 1 },
      params: {
        weight: { shape: [o, c, k, k], data: randomArray(o * c * k * k, random, Math.sqrt(2 / (c * k * k))) },
        bias: { shape: [o], data: randomArray(o, random, 0.1) },
      },
    });
    const relu = (name: string, input: string, output: string): GraphNode => ({ name, op: 'relu', inputs: [input], output, attrs: {}, params: {} });
    // 3 -> 20 (forward GEMM, relevance direct), 20 -> 24 stride 2 SAME-style padding (both GEMM), Linear 24*6*6 -> 68
    // (GEMV), Linear 68 -> 5 (GEMV).
    return {
      name: 'fast-kernels',
      input: { name: 'x', shape: [1, 3, 12, 12] },
      output: 'logits',
      nodes: [
        conv('conv1', 'x', 'z1', 3, 20, 3, 1, [1, 1, 1, 1]),
        relu('relu1', 'z1', 'a1'),
        conv('conv2', 'a1', 'z2', 20, 24, 3, 2, [0, 0, 1, 1]),
        relu('relu2', 'z2', 'a2'),
        { name: 'flatten', op: 'reshape', inputs: ['a2'], output: 'f', attrs: { shape: [1, 24 * 6 * 6] }, params: {} },
        {
          name: 'fc1',
          op: 'linear',
          inputs: ['f'],
          output: 'h',
          attrs: {},
          params: { weight: { shape: [68, 864], data: randomArray(68 * 864, random, 0.05) }, bias: { shape: [68], data: randomArray(68, random, 0.1) } },
        },
        relu('relu3', 'h', 'a3'),
        {
          name: 'fc2',
          op: 'linear',
          inputs: ['a3'],
          output: 'logits',
          attrs: {},
          params: { weight: { shape: [5, 68], data: randomArray(5 * 68, random, 0.1) }, bias: { shape: [5], data: randomArray(5, random, 0.1) } },
        },
      ],
    };
  }

  const assignments: Record<string, RuleAssignment> = {
    'captum default': { preset: 'captum-default' },
    EpsilonPlusFlat: { preset: 'EpsilonPlusFlat' },
    EpsilonGammaBox: { preset: 'EpsilonGammaBox', presetParams: { low: -3, high: 3 } },
    'zplus, wsquare, alphabeta': {
      preset: 'gradient',
      layers: [
        { layer: 'conv1', rule: 'wsquare' },
        { layer: 'conv2', rule: 'zplus' },
        { layer: 'fc1', rule: 'alphabeta', alpha: 2, beta: 1 },
        { layer: 'fc2', rule: 'epsilon', epsilon: 0.01 },
      ],
    },
  };

  it('every preset, per-layer relevance included', async () => {
    const [cpu, gpuE] = await Promise.all([cpuEngine(), gpuEngine()]);
    const g = graph(42);
    const input = randomArray(3 * 12 * 12, rng(43), 2);
    const [mc, mg] = await Promise.all([cpu.load(g), gpuE.load(g)]);
    for (const [name, rules] of Object.entries(assignments)) {
      const a = await mc.explain(input, { rules, target: 2 });
      const b = await mg.explain(input, { rules, target: 2 });
      expect(relL2(b.logits, a.logits), `${name}: logits`).toBeLessThan(TOL);
      expect(relL2(b.relevance, a.relevance), `${name}: input relevance`).toBeLessThan(1e-4);
      a.layers.forEach((l, i) => expect(relL2(b.layers[i]!.data, l.data), `${name}: ${l.layer}`).toBeLessThan(1e-4));
    }
    mc.dispose();
    mg.dispose();
  }, 120_000);
});
