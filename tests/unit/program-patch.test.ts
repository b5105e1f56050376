/**
 * Programs patched for new rule numbers (src/engine/program-patch.ts) against programs compiled for the same rules:
 * equal wherever a patch is made, no patch where the rules change shape (another rule, another term, hooks), and
 * through the engine the same explanations as a model that compiles every program.
 */
import { describe, expect, it } from 'vitest';
import type { Graph } from '../../src/engine/graph';
import { compileProgram } from '../../src/engine/compile';
import { patchProgram } from '../../src/engine/program-patch';
import { resolveAssignment } from '../../src/engine/rule-assignment';
import type { RuleAssignment } from '../../src/rules/assignment';
import { resnet50, TINY, vgg16, visionTransformer, VIT_TINY } from '../../src/bench/models';
import { reexplainLayers } from '../../src/bench/run-bench';
import { residualGraph, expectSameExplanation } from './helpers/small-nets';
import { createEngine } from '../../src/engine/index';
import { gpuEngine, randomArray, rng } from './helpers/engines';

const EPF: RuleAssignment = { preset: 'EpsilonPlusFlat' };
const withLayers = (preset: string, layers: RuleAssignment['layers']): RuleAssignment => ({ preset, layers });

/** base rules -> new rules, and whether a patch is expected. */
function cases(graph: Graph): { name: string; base: RuleAssignment; next: RuleAssignment; patch: boolean }[] {
  const { top, first } = reexplainLayers(graph);
  const convs = graph.nodes.filter((n) => n.op === 'conv2d').map((n) => n.name);
  const middle = convs[Math.floor(convs.length / 2)] ?? top;
  return [
    { name: 'the top layer\'s epsilon', base: EPF, next: withLayers('EpsilonPlusFlat', [{ layer: top, rule: 'epsilon', epsilon: 3e-3 }]), patch: true },
    {
      name: 'the top and the first layer\'s epsilon, from an earlier change',
      base: withLayers('EpsilonPlusFlat', [{ layer: top, rule: 'epsilon', epsilon: 3e-3 }]),
      next: withLayers('EpsilonPlusFlat', [{ layer: top, rule: 'epsilon', epsilon: 5e-2 }, { layer: first, rule: 'flat', epsilon: 1e-4 }]),
      patch: true,
    },
    // Gamma's number is in the layer's denominators (cached per input) and its modified parameters: compiled.
    { name: 'a middle layer\'s gamma', base: withLayers('EpsilonGammaBox', []), next: withLayers('EpsilonGammaBox', [{ layer: middle, rule: 'gamma', gamma: 0.5 }]), patch: false },
    { name: 'a middle layer from epsilon to gamma (another rule shape)', base: EPF, next: withLayers('EpsilonPlusFlat', [{ layer: middle, rule: 'gamma', gamma: 0.25 }]), patch: false },
    { name: 'another preset', base: EPF, next: { preset: 'EpsilonAlpha2Beta1' }, patch: false },
  ];
}

const graphs: [string, () => Graph][] = [
  ['resnet50-tiny', () => resnet50(TINY)],
  ['vgg16-tiny', () => vgg16(TINY)],
  ['vit-tiny', () => visionTransformer(VIT_TINY)],
  ['a residual network', () => residualGraph(5)],
];

describe('a patched program is the compiled one', () => {
  it.each(graphs)('%s', (_, build) => {
    const graph = build();
    for (const c of cases(graph)) {
      const baseRules = resolveAssignment(graph, c.base);
      const rules = resolveAssignment(graph, c.next);
      const base = compileProgram(graph, baseRules);
      const patched = patchProgram(graph, base, baseRules, rules);
      const compiled = compileProgram(graph, rules);
      if (c.patch) {
        expect(patched, c.name).not.toBeNull();
        expect(patched, c.name).toEqual(compiled);
      } else {
        expect(patched, c.name).toBeNull();
      }
    }
  });

  it('a number in a cached denominator (gamma of a layer without bias) is not patched', () => {
    const graph = residualGraph(9);
    const nodes = graph.nodes.map((n) => (n.name === 'conv2' ? { ...n, params: { weight: n.params.weight! } } : n));
    const unbiased: Graph = { ...graph, nodes };
    const baseRules = resolveAssignment(unbiased, withLayers('EpsilonGammaBox', []));
    const rules = resolveAssignment(unbiased, withLayers('EpsilonGammaBox', [{ layer: 'conv2', rule: 'gamma', gamma: 0.75 }]));
    const base = compileProgram(unbiased, baseRules);
    expect(base.denominators?.length).toBeGreaterThan(0);
    expect(patchProgram(unbiased, base, baseRules, rules)).toBeNull();
  });

  it('the same rules give the program back unchanged; hooks are not patched', () => {
    const graph = residualGraph(6);
    const rules = resolveAssignment(graph, EPF);
    const base = compileProgram(graph, rules);
    expect(patchProgram(graph, base, rules, resolveAssignment(graph, EPF))).toBe(base);
    const hooked = compileProgram(graph, rules, { hooks: [{ layer: 'conv2', mode: 'observe' }] });
    expect(patchProgram(graph, hooked, rules, resolveAssignment(graph, withLayers('EpsilonPlusFlat', [{ layer: 'fc', rule: 'epsilon', epsilon: 0.1 }])))).toBeNull();
  });
});

describe('through the engine, patched programs explain as compiled ones', () => {
  it.each(['cpu', 'cpu-fast', 'webgpu'] as const)('%s: a run of epsilon changes at the top and first layer, bit for bit a model that compiles each', async (backend) => {
    const engine = backend === 'webgpu' ? await gpuEngine() : await createEngine({ backend });
    const graph = residualGraph(7);
    const patching = await engine.load(graph);
    const random = rng(8);
    const x = randomArray(3 * 6 * 6, random);
    for (let k = 0; k < 6; k++) {
      const rules = withLayers('EpsilonPlusFlat', [
        { layer: 'fc', rule: 'epsilon', epsilon: 1e-3 * (k + 1) },
        ...(k % 2 ? [{ layer: 'conv1', rule: 'flat', epsilon: 1e-4 * k }] : []),
      ]);
      const got = await patching.explain(x, { rules });
      // The first compiles; each later one changes numbers only, in one or two layers: patched.
      expect(got.work.program, `change ${k}`).toBe(k === 0 ? 'compiled' : 'patched');
      // A fresh model has no program to patch: it compiles.
      const fresh = await engine.load(graph);
      const want = await fresh.explain(x, { rules });
      expect(want.work.program).toBe('compiled');
      fresh.dispose();
      expectSameExplanation(got, want, `${backend} change ${k}`);
    }
    patching.dispose();
    engine.dispose();
  });
});
