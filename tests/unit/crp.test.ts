/**
 * Concept Relevance Propagation (engine/concepts.ts): the input relevance conditioned on channels of a layer, against
 * the definition computed in float64 in this file, and conservation over a partition of the channels, on both
 * backends.
 */
import { describe, expect, it } from 'vitest';
import { channelRelevance, explainConcept, rankConcepts, type Engine } from '../../src/engine/index';
import type { Graph, GraphNode } from '../../src/engine/graph';
import type { RuleAssignment } from '../../src/rules/assignment';
import { cpuEngine, gpuEngine, randomArray, relL2, rng } from './helpers/engines';
import { convContributions, stab, tinyForward, tinyNet } from './helpers/tiny-net';

const net = tinyNet(21, 'relu', { c: 2, o: 4, h: 4, w: 5, k: 3, pad: 1, classes: 3 });
const input = randomArray(net.c * net.h * net.w, rng(22), 1.5);
const per = net.oh * net.ow;
const eps = 0.05;
const epsilonRules: RuleAssignment = {
  preset: 'EpsilonPlus', // the activation: Pass
  layers: [
    { layer: 'conv', rule: 'epsilon', epsilon: eps },
    { layer: 'fc', rule: 'epsilon', epsilon: eps },
  ],
};

/**
 * CRP from its definition (Achtibat et al. 2023): seed the target logit, the epsilon rule on fc, the relevance at the
 * activation's output kept on the concept's channels only, Pass through the ReLU, the epsilon rule on the conv.
 */
function reference(target: number, channels: readonly number[]) {
  const f = tinyForward(net, input);
  const features = f.a1.length;
  const rf = new Float64Array(features);
  for (let j = 0; j < features; j++) {
    for (let q = 0; q < net.classes; q++) {
      const ry = q === target ? f.logits[target]! : 0;
      rf[j]! += (f.a1[j]! * net.fcW[q * features + j]! * ry) / stab(f.logits[q]!, eps);
    }
  }
  const perChannel = Array.from({ length: net.o }, (_, c) => rf.slice(c * per, (c + 1) * per).reduce((a, b) => a + b, 0));
  const masked = rf.map((v, j) => (channels.includes(Math.floor(j / per)) ? v : 0));
  const contrib = convContributions(net);
  const rx = Array.from(input, (x, i) => x * contrib[i]!.reduce((s, { out, weight }) => s + (weight * masked[out]!) / stab(f.z1[out]!, eps), 0));
  return { rx, perChannel };
}

const sum = (a: readonly number[]) => a.reduce((s, v) => s + v, 0);

describe.each([
  ['cpu', cpuEngine],
  ['webgpu', gpuEngine],
] as [string, () => Promise<Engine>][])('CRP on %s', (backendName, engine) => {
  const tol = backendName === 'cpu' ? 1e-6 : 2e-5;

  it('a concept\'s input relevance equals the definition written out in float64', async () => {
    const model = await (await engine()).load(net.graph);
    for (const [target, channels] of [
      [0, [1]],
      [2, [0, 3]],
      [1, [2]],
    ] as [number, number[]][]) {
      const ref = reference(target, channels);
      for (const layer of ['act', 'conv']) {
        // At the activation's output or at the conv's: the same relevance (the ReLU passes it unchanged).
        const e = await explainConcept(model, input, { rules: epsilonRules, target, layer, channels });
        expect(relL2(e.relevance, ref.rx), `${target} ${channels.join('+')} at ${layer}`).toBeLessThan(tol);
        expect(e.concept.channels).toEqual(channels);
        expect(relL2(e.concept.channelRelevance, ref.perChannel)).toBeLessThan(tol);
        expect(e.concept.relevance).toBeCloseTo(sum(channels.map((c) => ref.perChannel[c]!)), 4);
      }
    }
    // The ranking: channels by relevance, from the same observation.
    const ranking = await rankConcepts(model, input, { rules: epsilonRules, target: 2, layer: 'act' });
    const want = reference(2, []).perChannel.map((r, channel) => ({ channel, r })).sort((a, b) => b.r - a.r);
    expect(ranking.channels.map((c) => c.channel)).toEqual(want.map((w) => w.channel));
    ranking.channels.forEach((c, i) => expect(c.relevance).toBeCloseTo(want[i]!.r, 4));
    model.dispose();
  });

  it('conservation: conditional relevances over a partition of the channels sum to the unconditional one', async () => {
    const model = await (await engine()).load(net.graph);
    const assignments: Record<string, RuleAssignment> = {
      epsilon: epsilonRules,
      'EpsilonPlus (zplus)': { preset: 'EpsilonPlus' },
      'gamma 0.25': { preset: 'EpsilonPlus', layers: [{ layer: 'conv', rule: 'gamma', gamma: 0.25 }] },
      'alphabeta 2 1': { preset: 'EpsilonAlpha2Beta1' },
      'EpsilonGammaBox (zbox)': { preset: 'EpsilonGammaBox', presetParams: { low: -1.5, high: 1.5 } },
      gradient: { preset: 'gradient' },
    };
    for (const [name, rules] of Object.entries(assignments)) {
      const plain = await model.explain(input, { rules, target: 1 });
      for (const partition of [[[0], [1], [2], [3]], [[0, 2], [1, 3]]]) {
        const total = new Float64Array(input.length);
        for (const channels of partition) {
          const e = await explainConcept(model, input, { rules, target: 1, layer: 'act', channels });
          e.relevance.forEach((v, i) => (total[i]! += v));
        }
        expect(relL2(total, plain.relevance), `${name}: ${JSON.stringify(partition)}`).toBeLessThan(tol);
      }
      // A single channel is not the whole (the test can tell them apart).
      const one = await explainConcept(model, input, { rules, target: 1, layer: 'act', channels: 0 });
      expect(relL2(one.relevance, plain.relevance), name).toBeGreaterThan(1e-3);
    }
    model.dispose();
  });

  it('refuses channels outside the layer and an empty concept', async () => {
    const model = await (await engine()).load(net.graph);
    await expect(explainConcept(model, input, { layer: 'act', channels: [4] })).rejects.toThrow(/channel 4 is not a channel of the layer \(0 to 3\)/);
    await expect(explainConcept(model, input, { layer: 'act', channels: [] })).rejects.toThrow(/no channels/);
    await expect(explainConcept(model, input, { layer: 'missing', channels: [0] })).rejects.toThrow(/no layer named "missing"/);
    model.dispose();
  });
});

/** A residual block: the hooked ReLU's output is read by a convolution and by the residual add. */
function residualGraph(): Graph {
  const random = rng(61);
  const conv = (name: string, input: string, output: string): GraphNode => ({
    name,
    op: 'conv2d',
    inputs: [input],
    output,
    attrs: { stride: [1, 1], pads: [1, 1, 1, 1], dilation: [1, 1], groups: 1 },
    params: { weight: { shape: [3, 3, 3, 3], data: randomArray(81, random, 0.6) }, bias: { shape: [3], data: randomArray(3, random, 0.2) } },
  });
  return {
    name: 'residual',
    input: { name: 'x', shape: [1, 3, 4, 4] },
    output: 'logits',
    nodes: [
      conv('conv1', 'x', 'z1'),
      { name: 'relu1', op: 'relu', inputs: ['z1'], output: 'r1', attrs: {}, params: {} },
      conv('conv2', 'r1', 'z2'),
      { name: 'add', op: 'add', inputs: ['r1', 'z2'], output: 's', attrs: {}, params: {} },
      { name: 'flatten', op: 'reshape', inputs: ['s'], output: 'f', attrs: { shape: [1, 48] }, params: {} },
      { name: 'fc', op: 'linear', inputs: ['f'], output: 'logits', attrs: {}, params: { weight: { shape: [2, 48], data: randomArray(96, random) }, bias: { shape: [2], data: randomArray(2, random, 0.1) } } },
    ],
  };
}

describe('CRP at a value with two readers (a residual shortcut)', () => {
  it('conditions on the relevance summed over both readers; conservation; WebGPU equals CPU', async () => {
    const graph = residualGraph();
    const x = randomArray(48, rng(62), 1.5);
    const [cpu, gpu] = await Promise.all([cpuEngine(), gpuEngine()]);
    const [mc, mg] = await Promise.all([cpu.load(graph), gpu.load(graph)]);
    for (const rules of [{ preset: 'EpsilonPlus' }, { preset: 'EpsilonGammaBox', presetParams: { low: -2, high: 2 } }] as RuleAssignment[]) {
      const plain = await mc.explain(x, { rules, target: 0 });
      // What relu1's output receives: conv2's share plus the add's, i.e. relu1's input relevance under Pass.
      const parts = await Promise.all([0, 1, 2].map((c) => explainConcept(mc, x, { rules, target: 0, layer: 'relu1', channels: [c] })));
      expect(relL2(parts[0]!.hooks![0]!.relevance, plain.layers.find((l) => l.layer === 'relu1')!.data)).toBeLessThan(1e-7);
      const total = Array.from(x, (_, i) => parts.reduce((s, p) => s + p.relevance[i]!, 0));
      expect(relL2(total, plain.relevance)).toBeLessThan(1e-6);
      for (const p of parts) {
        const g = await explainConcept(mg, x, { rules, target: 0, layer: 'relu1', channels: p.concept.channels });
        expect(relL2(g.relevance, p.relevance)).toBeLessThan(2e-5);
        expect(relL2(g.concept.channelRelevance, p.concept.channelRelevance)).toBeLessThan(2e-5);
      }
    }
    mc.dispose();
    mg.dispose();
  });
});

describe('channelRelevance', () => {
  it('sums over every axis but the channel axis', () => {
    const data = Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => i);
    expect(Array.from(channelRelevance(data, [2, 3, 4], 1))).toEqual([0, 1, 2].map((c) => [0, 1].reduce((s, n) => s + [0, 1, 2, 3].reduce((t, k) => t + n * 12 + c * 4 + k, 0), 0)));
    expect(Array.from(channelRelevance(data, [2, 3, 4], -1))).toEqual([0, 1, 2, 3].map((k) => [0, 1, 2, 3, 4, 5].reduce((s, r) => s + r * 4 + k, 0)));
  });
});
