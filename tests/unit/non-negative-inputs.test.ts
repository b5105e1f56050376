/**
 * Weighted layers whose input is never negative (after a ReLU): the values the graph knows to be non-negative
 * (OpDef.nonNegative through forwardPart), and the rule terms on x- left out there (conv-shaped.ts,
 * withoutZeroTerms) giving the same relevance, bit for bit, as the full rule on the same values.
 */
import { describe, expect, it } from 'vitest';
import type { Graph, GraphNode } from '../../src/engine/graph';
import { compileProgram, forwardPart } from '../../src/engine/compile';
import { resolveAssignment } from '../../src/engine/rule-assignment';
import { createEngine, type Engine } from '../../src/engine/index';
import type { RuleAssignment } from '../../src/rules/assignment';
import { cpuEngine, gpuEngine, randomArray, rng } from './helpers/engines';
import { node } from './helpers/small-nets';


describe('which values are never negative', () => {
  it('follows ReLU, Sigmoid and Clip at or above 0 through pools, reshapes, sums and concatenations, and nothing else', () => {
    const graph: Graph = {
      name: 'signs',
      input: { name: 'x', shape: [1, 2, 4, 4] },
      output: 'out',
      nodes: [
        node('relu', 'relu', ['x']),
        node('leaky', 'leakyrelu', ['x'], { alpha: 0.1 }),
        node('relu6', 'clip', ['x'], { min: 0, max: 6 }),
        node('clip', 'clip', ['x'], { min: -1, max: 1 }),
        node('sigmoid', 'sigmoid', ['x']),
        node('sum', 'add', ['relu', 'relu6']),
        node('difference', 'add', ['relu', 'relu6'], { mode: 'sub' }),
        node('residual', 'add', ['relu', 'x']),
        node('pool', 'maxpool2d', ['relu'], { kernel: [2, 2], stride: [2, 2], pads: [0, 0, 0, 0] }),
        node('mean', 'avgpool2d', ['sigmoid'], { kernel: [2, 2], stride: [2, 2], pads: [0, 0, 0, 0] }),
        node('signedpool', 'maxpool2d', ['leaky'], { kernel: [2, 2], stride: [2, 2], pads: [0, 0, 0, 0] }),
        node('both', 'concat', ['relu', 'relu6'], { axis: 1 }),
        node('mixed', 'concat', ['relu', 'clip'], { axis: 1 }),
        node('token', 'concat', ['relu'], { axis: 1, layout: [-1, 0] }, { constant0: { shape: [1, 1, 4, 4], data: new Float32Array(16).fill(-0.5) } }),
        node('flat', 'reshape', ['pool'], { shape: [1, 8] }),
        node('out', 'linear', ['flat'], {}, { weight: { shape: [3, 8], data: randomArray(24, rng(1)) }, bias: { shape: [3], data: new Float32Array(3) } }),
      ],
    };
    const known = forwardPart(graph).nonNegative;
    const never = graph.nodes.map((n) => n.name).filter((v) => known.has(v));
    expect(never.sort()).toEqual(['both', 'flat', 'mean', 'pool', 'relu', 'relu6', 'sigmoid', 'sum'].sort());
  });
});

/**
 * Two nets with the same weights: `relu` computes its ReLU inside (the conv's input is known non-negative),
 * `given` is handed the ReLU's values as its input (not known). The conv's input relevance must agree.
 */
function nets(seed: number): { relu: Graph; given: Graph } {
  const random = rng(seed);
  const conv = { weight: { shape: [4, 3, 3, 3], data: randomArray(108, random) }, bias: { shape: [4], data: randomArray(4, random, 0.3) } };
  const fc = { weight: { shape: [5, 64], data: randomArray(320, random) }, bias: { shape: [5], data: randomArray(5, random, 0.3) } };
  const tail = (input: string): GraphNode[] => [
    node('conv', 'conv2d', [input], { stride: [1, 1], pads: [1, 1, 1, 1], dilation: [1, 1], groups: 1 }, conv),
    node('act', 'relu', ['conv']),
    node('flatten', 'reshape', ['act'], { shape: [1, 64] }),
    node('fc', 'linear', ['flatten'], {}, fc),
  ];
  return {
    relu: { name: 'relu-inside', input: { name: 'x', shape: [1, 3, 4, 4] }, output: 'fc', nodes: [node('relu', 'relu', ['x']), ...tail('relu')] },
    given: { name: 'relu-given', input: { name: 'x', shape: [1, 3, 4, 4] }, output: 'fc', nodes: tail('x') },
  };
}

const RULES: Record<string, RuleAssignment> = {
  ZPlus: { preset: 'EpsilonPlus' },
  'Gamma 0.25': { preset: 'EpsilonGammaBox', layers: [{ layer: 'conv', rule: 'gamma', gamma: 0.25 }] },
  'AlphaBeta 2 1': { preset: 'EpsilonAlpha2Beta1' },
  'AlphaBeta 1 0': { preset: 'EpsilonPlus', layers: [{ layer: 'conv', rule: 'alphabeta', alpha: 1, beta: 0 }] },
};

const inputModifiers = (g: Graph, rules: RuleAssignment) =>
  compileProgram(g, resolveAssignment(g, rules))
    .relevanceSteps.filter((s) => s.kernel === 'conv2d-relevance' || s.kernel === 'conv2d')
    .map((s) => (s as { inputMod: string }).inputMod);

describe('terms on x- are left out where x is never negative, with the same relevance', () => {
  const { relu, given } = nets(7);
  it.each(Object.entries(RULES))('%s: the conv after the ReLU reads x alone; given the same values it reads x+ and x-', (_, rules) => {
    expect(inputModifiers(relu, rules).filter((m) => m === 'negative' || m === 'positive')).toEqual([]);
    expect(inputModifiers(given, rules)).toContain('negative');
    expect(inputModifiers(given, rules).length).toBeGreaterThan(inputModifiers(relu, rules).length);
  });

  const backends: [string, () => Promise<Engine>][] = [
    ['cpu', cpuEngine],
    ['cpu-fast', () => createEngine({ backend: 'cpu-fast' })],
    ['webgpu', gpuEngine],
  ];
  for (const [backend, engine] of backends) {
    it(`${backend}: the conv's input relevance is the full rule's, bit for bit, for every rule`, async () => {
      const e = await engine();
      const [a, b] = [await e.load(relu), await e.load(given)];
      const x = randomArray(48, rng(11), 2);
      const activated = x.map((v) => Math.max(v, 0)); // about half exact zeros
      for (const [what, rules] of Object.entries(RULES)) {
        const inside = await a.explain(x, { rules });
        const outside = await b.explain(activated, { rules });
        expect(inside.logits, what).toEqual(outside.logits);
        const convInput = inside.layers.find((l) => l.layer === 'conv')!.data;
        // (+ 0: a product with x = 0 is -0 or +0 depending on the path; both are zero relevance.)
        expect(Array.from(convInput, (v) => v + 0), what).toEqual(Array.from(outside.relevance, (v) => v + 0));
        expect(convInput.some((v) => v !== 0), what).toBe(true);
      }
      a.dispose();
      b.dispose();
    });
  }
});
