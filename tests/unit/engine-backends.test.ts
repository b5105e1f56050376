/**
 * Every kernel on the WebGPU backend against the float64 CPU backend, through small random graphs with odd sizes,
 * strides, asymmetric paddings, dilations and groups, under every rule.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Graph, GraphNode } from '../../src/engine/graph';
import type { RuleAssignment } from '../../src/rules/assignment';
import { cpuEngine, gpuEngine, randomArray, relL2, rng } from './helpers/engines';
import { hasOutput } from './helpers/conv-cases';

interface ConvCase {
  c: number;
  o: number;
  h: number;
  w: number;
  kh: number;
  kw: number;
  stride: [number, number];
  pads: [number, number, number, number];
  dilation: [number, number];
  groups: number;
  bias: boolean;
  seed: number;
}

function convGraph(k: ConvCase, pool: 'max' | 'avg' | 'none'): Graph {
  const random = rng(k.seed);
  const nodes: GraphNode[] = [];
  const conv: GraphNode = {
    name: 'conv',
    op: 'conv2d',
    inputs: ['x'],
    output: 'z1',
    attrs: { stride: k.stride, pads: k.pads, dilation: k.dilation, groups: k.groups },
    params: {
      weight: { shape: [k.o, k.c / k.groups, k.kh, k.kw], data: randomArray(k.o * (k.c / k.groups) * k.kh * k.kw, random) },
      ...(k.bias ? { bias: { shape: [k.o], data: randomArray(k.o, random, 0.5) } } : {}),
    },
  };
  nodes.push(conv, { name: 'relu', op: 'relu', inputs: ['z1'], output: 'a1', attrs: {}, params: {} });
  const oh = Math.floor((k.h + k.pads[0] + k.pads[2] - k.dilation[0] * (k.kh - 1) - 1) / k.stride[0]) + 1;
  const ow = Math.floor((k.w + k.pads[1] + k.pads[3] - k.dilation[1] * (k.kw - 1) - 1) / k.stride[1]) + 1;
  let last = 'a1';
  let [ph, pw] = [oh, ow];
  if (pool !== 'none' && oh >= 2 && ow >= 2) {
    nodes.push({
      name: 'pool',
      op: pool === 'max' ? 'maxpool2d' : 'avgpool2d',
      inputs: ['a1'],
      output: 'p1',
      attrs: { kernel: [2, 2], stride: [2, 1], pads: [0, 1, 1, 0] },
      params: {},
    });
    ph = Math.floor((oh + 1 - 2) / 2) + 1;
    pw = Math.floor((ow + 1 - 2) / 1) + 1;
    last = 'p1';
  }
  const features = k.o * ph * pw;
  nodes.push({ name: 'flatten', op: 'reshape', inputs: [last], output: 'f', attrs: { shape: [1, features] }, params: {} });
  nodes.push({
    name: 'fc',
    op: 'linear',
    inputs: ['f'],
    output: 'logits',
    attrs: {},
    params: { weight: { shape: [3, features], data: randomArray(3 * features, random) }, bias: { shape: [3], data: randomArray(3, random, 0.1) } },
  });
  return { name: 'random-conv', input: { name: 'x', shape: [1, k.c, k.h, k.w] }, output: 'logits', nodes };
}

const convCase = fc
  .record({
    cpg: fc.integer({ min: 1, max: 3 }),
    opg: fc.integer({ min: 1, max: 3 }),
    groups: fc.integer({ min: 1, max: 3 }),
    h: fc.integer({ min: 3, max: 9 }),
    w: fc.integer({ min: 3, max: 9 }),
    kh: fc.integer({ min: 1, max: 3 }),
    kw: fc.integer({ min: 1, max: 3 }),
    stride: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
    pads: fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })),
    dilation: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
    bias: fc.boolean(),
    seed: fc.integer({ min: 1, max: 1 << 30 }),
  })
  .map((r): ConvCase => ({ ...r, c: r.cpg * r.groups, o: r.opg * r.groups }))
  .filter(hasOutput);

const assignments: Record<string, RuleAssignment> = {
  'captum default': { preset: 'captum-default' },
  'captum gamma + alpha1beta0': {
    preset: 'captum-default',
    layers: [
      { layer: 'conv', rule: 'captum.gamma', gamma: 0.5, zeroBias: true },
      { layer: 'fc', rule: 'captum.alpha1beta0' },
    ],
  },
  'zennit gamma + alphabeta': {
    preset: 'gradient',
    layers: [
      { layer: 'conv', rule: 'gamma', gamma: 0.25 },
      { layer: 'fc', rule: 'alphabeta', alpha: 2, beta: 1 },
    ],
  },
  'zplus + epsilon, pools Norm': { preset: 'EpsilonPlus', layers: [{ layer: 'conv', rule: 'zplus' }] },
  flat: { preset: 'gradient', layers: [{ layer: 'conv', rule: 'flat' }] },
  wsquare: { preset: 'gradient', layers: [{ layer: 'conv', rule: 'wsquare' }] },
  'zbox per channel': { preset: 'gradient', layers: [{ layer: 'conv', rule: 'zbox', low: -1, high: 1.5 }] },
};

describe('WebGPU kernels match the float64 CPU backend', () => {
  for (const pool of ['none', 'max', 'avg'] as const) {
    it(`convolution${pool === 'none' ? '' : ` + ${pool} pool`}: random geometry, every rule`, async () => {
      const [cpu, gpu] = await Promise.all([cpuEngine(), gpuEngine()]);
      await fc.assert(
        fc.asyncProperty(convCase, async (k) => {
          const graph = convGraph(k, pool);
          const input = randomArray(k.c * k.h * k.w, rng(k.seed + 1), 2);
          const [mc, mg] = await Promise.all([cpu.load(graph), gpu.load(graph)]);
          for (const [name, rules] of Object.entries(assignments)) {
            const a = await mc.explain(input, { rules, target: 1 });
            const b = await mg.explain(input, { rules, target: 1 });
            expect(relL2(b.logits, a.logits), `${name}: logits`).toBeLessThan(1e-5);
            // Relevance is compared relative to the whole vector; an all-zero reference must stay zero.
            const tol = 1e-4;
            expect(relL2(b.relevance, a.relevance), `${name}: input relevance`).toBeLessThan(tol);
            a.layers.forEach((l, i) => expect(relL2(b.layers[i]!.data, l.data), `${name}: ${l.layer}`).toBeLessThan(tol));
          }
          mc.dispose();
          mg.dispose();
        }),
        { numRuns: 8, seed: 20261126 + (pool === 'max' ? 1 : pool === 'avg' ? 2 : 0) },
      );
    }, 120_000);
  }
});

describe('grouped and depthwise convolution', () => {
  /** A grouped convolution is the concatenation of ordinary convolutions over channel slices. */
  function sliceGraph(k: ConvCase, g: number): Graph {
    const graph = convGraph(k, 'none');
    const conv = graph.nodes[0]!;
    const cpg = k.c / k.groups;
    const opg = k.o / k.groups;
    const w = conv.params.weight!.data.slice(g * opg * cpg * k.kh * k.kw, (g + 1) * opg * cpg * k.kh * k.kw);
    const b = conv.params.bias?.data.slice(g * opg, (g + 1) * opg);
    return {
      name: 'slice',
      input: { name: 'x', shape: [1, cpg, k.h, k.w] },
      output: 'out',
      nodes: [
        {
          ...conv,
          attrs: { ...conv.attrs, groups: 1 },
          params: { weight: { shape: [opg, cpg, k.kh, k.kw], data: w }, ...(b ? { bias: { shape: [opg], data: b } } : {}) },
        },
        { name: 'flatten', op: 'reshape', inputs: ['z1'], output: 'out', attrs: { shape: [1, -1] }, params: {} },
      ] as GraphNode[],
    };
  }

  it('the CPU reference of a grouped and of a depthwise convolution equals per-group convolutions', async () => {
    const cpu = await cpuEngine();
    for (const k of [
      { c: 6, o: 4, groups: 2, h: 7, w: 5, kh: 3, kw: 2, stride: [2, 1], pads: [1, 0, 2, 1], dilation: [1, 2], bias: true, seed: 3 },
      { c: 5, o: 10, groups: 5, h: 6, w: 6, kh: 3, kw: 3, stride: [1, 1], pads: [1, 1, 1, 1], dilation: [1, 1], bias: true, seed: 4 },
      { c: 4, o: 4, groups: 4, h: 5, w: 8, kh: 3, kw: 3, stride: [2, 2], pads: [0, 1, 1, 0], dilation: [1, 1], bias: false, seed: 5 },
    ] as ConvCase[]) {
      const full = convGraph(k, 'none');
      const graph: Graph = { ...full, output: 'out', nodes: [full.nodes[0]!, { name: 'flatten', op: 'reshape', inputs: ['z1'], output: 'out', attrs: { shape: [1, -1] }, params: {} }] };
      const input = randomArray(k.c * k.h * k.w, rng(k.seed), 2);
      const whole = await (await cpu.load(graph)).forward(input);
      const cpg = k.c / k.groups;
      const parts: number[] = [];
      for (let g = 0; g < k.groups; g++) {
        const part = input.slice(g * cpg * k.h * k.w, (g + 1) * cpg * k.h * k.w);
        parts.push(...(await (await cpu.load(sliceGraph(k, g))).forward(part)));
      }
      expect(relL2(whole, parts)).toBeLessThan(1e-7);
    }
  });

  it('depthwise convolution forward and every rule: WebGPU equals the CPU backend', async () => {
    const [cpu, gpu] = await Promise.all([cpuEngine(), gpuEngine()]);
    const k: ConvCase = { c: 6, o: 12, groups: 6, h: 9, w: 7, kh: 3, kw: 3, stride: [2, 2], pads: [1, 1, 1, 1], dilation: [1, 1], bias: true, seed: 9 };
    const graph = convGraph(k, 'max');
    const input = randomArray(k.c * k.h * k.w, rng(10), 2);
    const [mc, mg] = await Promise.all([cpu.load(graph), gpu.load(graph)]);
    for (const [name, rules] of Object.entries(assignments)) {
      const a = await mc.explain(input, { rules, target: 0 });
      const b = await mg.explain(input, { rules, target: 0 });
      expect(relL2(b.relevance, a.relevance), name).toBeLessThan(1e-4);
    }
  });
});
