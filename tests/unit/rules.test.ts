/** Rules as data: validation, compiled programs, and conservation where a rule conserves relevance. */
import { describe, expect, it } from 'vitest';
import type { Graph } from '../../src/engine/graph';
import { compileRule, findRule, ruleDefinitions, RuleError } from '../../src/rules/rules';
import type { RuleAssignment } from '../../src/rules/assignment';
import { resolveAssignment } from '../../src/engine/rule-assignment';
import { cpuEngine, gpuEngine, randomArray, relL2, rng, sum } from './helpers/engines';
import { residualGraph } from './helpers/small-nets';

describe('rule catalogue', () => {
  it('has every Captum and Zennit rule the tool promises', () => {
    const ids = ruleDefinitions.map((r) => r.id);
    for (const id of ['captum.epsilon', 'captum.gamma', 'captum.alpha1beta0', 'captum.identity', 'epsilon', 'zplus', 'alphabeta', 'gamma', 'flat', 'wsquare', 'zbox', 'norm', 'pass', 'gradient']) {
      expect(ids).toContain(id);
    }
  });

  it('rejects AlphaBeta unless alpha - beta = 1 with both >= 0', () => {
    expect(() => compileRule('alphabeta', { alpha: 2, beta: 2 })).toThrow(/alpha - beta = 1/);
    expect(() => compileRule('alphabeta', { alpha: 0.5, beta: -0.5 })).toThrow(RuleError);
    expect(compileRule('alphabeta', { alpha: 1, beta: 0 })).toMatchObject({ kind: 'lrp' });
  });

  it('rejects unknown rules, unknown parameters and out-of-range values with the rule named', () => {
    expect(() => compileRule('nope')).toThrow(/unknown rule "nope"/);
    expect(() => compileRule('epsilon', { gamma: 1 })).toThrow(/rule "epsilon" has no parameter "gamma"/);
    expect(() => compileRule('epsilon', { epsilon: -1 })).toThrow(/epsilon/);
    expect(() => compileRule('epsilon', { epsilon: Number.NaN })).toThrow(/epsilon/);
    expect(() => compileRule('captum.gamma', { zeroBias: 1 as unknown as boolean })).toThrow(/true or false/);
    expect(() => compileRule('zbox', { low: [] })).toThrow(/one per channel/);
  });

  it("Captum's gamma modifies weights only; Zennit's splits inputs and boosts the bias", () => {
    const captum = compileRule('captum.gamma', { gamma: 0.5 });
    expect(captum).toEqual({
      kind: 'lrp',
      groups: [{ terms: [{ input: 'identity', weight: { kind: 'affine', plain: 1, pos: 0.5, neg: 0 } }], bias: { kind: 'affine', plain: 1, pos: 0, neg: 0 }, coefficient: 1, mask: 'all', epsilon: 1e-9 }],
    });
    const zennit = compileRule('gamma', { gamma: 0.5 });
    if (zennit.kind !== 'lrp') throw new Error('expected an lrp program');
    expect(zennit.groups.map((g) => g.mask)).toEqual(['positive', 'negative']);
    expect(zennit.groups[0]!.bias).toEqual({ kind: 'affine', plain: 1, pos: 0.5, neg: 0 });
    expect(zennit.groups[0]!.terms.map((t) => t.input)).toEqual(['positive', 'negative']);
  });

  it('finds aliases used by the golden manifests', () => {
    expect(findRule('identity')?.id).toBe('captum.identity');
    expect(findRule('alpha1beta0')?.id).toBe('captum.alpha1beta0');
  });
});

/** conv (3 -> 4 channels, 3x3, fan-in 27) -> relu -> conv -> add(shortcut) -> avgpool -> flatten -> linear */
const testGraph = (seed: number): Graph => residualGraph(seed, 'conservation');

describe('conservation: input relevance sums to the output relevance where the rule conserves it', () => {
  const conserving: Record<string, Record<string, unknown>> = {
    'epsilon 0, no bias': { rule: 'epsilon', epsilon: 0, zeroBias: true },
    'captum epsilon 0 (bias zeroed via gamma 0)': { rule: 'captum.gamma', gamma: 0, zeroBias: true },
    'zplus, no bias': { rule: 'zplus', epsilon: 0, zeroBias: true },
    'alphabeta(2,1), no bias': { rule: 'alphabeta', alpha: 2, beta: 1, epsilon: 0, zeroBias: true },
    'alphabeta(1,0), no bias': { rule: 'alphabeta', alpha: 1, beta: 0, epsilon: 0, zeroBias: true },
    flat: { rule: 'flat', epsilon: 0 },
    'wsquare, no bias': { rule: 'wsquare', epsilon: 0, zeroBias: true },
    zbox: { rule: 'zbox', low: -4, high: 4, epsilon: 0 },
  };
  for (const backend of ['cpu', 'webgpu'] as const) {
    for (const [name, rule] of Object.entries(conserving)) {
      it(`${name} (${backend})`, async () => {
        const engine = backend === 'cpu' ? await cpuEngine() : await gpuEngine();
        const graph = testGraph(7);
        const model = await engine.load(graph);
        const input = randomArray(3 * 36, rng(11), 2);
        const rules = {
          preset: 'gradient',
          layers: [
            { layer: 'conv1', ...rule },
            { layer: 'relu1', rule: 'pass' },
            { layer: 'conv2', rule: 'epsilon', epsilon: 0, zeroBias: true },
            { layer: 'add', rule: 'norm', epsilon: 0 },
            { layer: 'pool', rule: 'norm', epsilon: 0 },
            { layer: 'fc', rule: 'epsilon', epsilon: 0, zeroBias: true },
          ],
        } as const;
        const ex = await model.explain(input, { rules: rules as never, target: 2 });
        const logit = ex.logits[2]!;
        // Results come back as float32: the CPU backend's float64 sums are exact to float32 rounding.
        const tol = backend === 'cpu' ? 1e-6 : 1e-4;
        expect(Math.abs(sum(ex.relevance) - logit) / Math.abs(logit)).toBeLessThan(tol);
        for (const layer of ex.layers) expect(Math.abs(sum(layer.data) - logit) / Math.abs(logit), layer.layer).toBeLessThan(tol);
        model.dispose();
      });
    }
  }

  it('a non-conserving setting does not conserve (the check can fail)', async () => {
    const model = await (await cpuEngine()).load(testGraph(7));
    const input = randomArray(3 * 36, rng(11), 2);
    const ex = await model.explain(input, { rules: { preset: 'gradient', layers: [{ layer: 'conv1', rule: 'epsilon', epsilon: 0.5 }, { layer: 'relu1', rule: 'pass' }] }, target: 2 });
    expect(Math.abs(sum(ex.relevance) - ex.logits[2]!) / Math.abs(ex.logits[2]!)).toBeGreaterThan(1e-3);
  });
});

describe('rule assignment', () => {
  it('resolves presets, overrides by name and by #index, and rejects rules that do not fit a layer', () => {
    const graph = testGraph(1);
    const r = resolveAssignment(graph, { preset: 'EpsilonPlusFlat', layers: [{ layer: '#1', rule: 'gamma', gamma: 0.1 }] });
    expect(r.get('conv1')!.rule).toBe('flat');
    expect(r.get('conv2')!.rule).toBe('gamma');
    expect(r.get('fc')!.rule).toBe('epsilon');
    expect(r.get('relu1')!.rule).toBe('pass');
    expect(r.get('pool')!.rule).toBe('norm');
    expect(() => resolveAssignment(graph, { layers: [{ layer: 'relu1', rule: 'zplus' }] })).toThrow(/does not apply/);
    expect(() => resolveAssignment(graph, { layers: [{ layer: '#9', rule: 'flat' }] })).toThrow(/#0 to #2/);
    expect(() => resolveAssignment(graph, { layers: [{ layer: 'nope', rule: 'flat' }] })).toThrow(/no layer named "nope"/);
    expect(() => resolveAssignment(graph, { preset: 'Nope' })).toThrow(/unknown preset/);
  });

  it('resolving again returns the same rule objects for unchanged layers, new ones where a number or a definition changed', () => {
    const graph = testGraph(1);
    const a = resolveAssignment(graph, { preset: 'EpsilonPlusFlat', layers: [{ layer: 'fc', rule: 'epsilon', epsilon: 0.01 }] });
    const b = resolveAssignment(graph, { preset: 'EpsilonPlusFlat', layers: [{ layer: 'fc', rule: 'epsilon', epsilon: 0.02 }] });
    for (const [layer, rule] of a) if (layer !== 'fc') expect(b.get(layer), layer).toBe(rule);
    expect(b.get('fc')).not.toBe(a.get('fc'));
    expect(b.get('fc')!.program).toEqual({ kind: 'lrp', groups: [expect.objectContaining({ epsilon: 0.02 })] });
    // A custom rule of the same id, defined anew with another epsilon: its own program, never the cached one.
    const custom = (epsilon: number) => ({
      ruleDefs: [
        {
          id: 'my.epsilon',
          label: 'Epsilon (custom)',
          appliesTo: ['weighted'],
          program: { groups: [{ terms: [{ input: 'identity', weight: 'identity' }], bias: 'identity', stabilizer: { epsilon } }] },
        },
      ],
      layers: [{ layer: 'fc', rule: 'my.epsilon' }],
    });
    const c1 = resolveAssignment(graph, custom(0.5) as never).get('fc')!;
    const c2 = resolveAssignment(graph, custom(0.25) as never).get('fc')!;
    expect([c1.program, c2.program]).toEqual([
      { kind: 'lrp', groups: [expect.objectContaining({ epsilon: 0.5 })] },
      { kind: 'lrp', groups: [expect.objectContaining({ epsilon: 0.25 })] },
    ]);
  });

  it('the same explanation on both backends for a residual graph under a composite', async () => {
    const graph = testGraph(3);
    const input = randomArray(3 * 36, rng(5), 2);
    const rules = { preset: 'EpsilonGammaBox', presetParams: { low: -2, high: 2 } };
    const [a, b] = await Promise.all([(await cpuEngine()).load(graph), (await gpuEngine()).load(graph)]);
    const ea = await a.explain(input, { rules });
    const eb = await b.explain(input, { rules });
    expect(eb.target).toBe(ea.target);
    expect(relL2(eb.relevance, ea.relevance)).toBeLessThan(1e-4);
  });
});

describe('re-explanation', () => {
  for (const backend of ['cpu', 'webgpu'] as const) {
    it(`reuses the cached forward pass across rule changes and gives the same result as a fresh model (${backend})`, async () => {
      const engine = backend === 'cpu' ? await cpuEngine() : await gpuEngine();
      const graph = testGraph(21);
      const input = randomArray(3 * 36, rng(22), 2);
      const other = randomArray(3 * 36, rng(23), 2);
      const a = { preset: 'EpsilonPlusFlat' };
      const b = { preset: 'EpsilonGammaBox', presetParams: { low: -3, high: 3 } };
      const model = await engine.load(graph);
      await model.explain(input, { rules: a });
      const one = model.stats().bufferBytes;
      const again = await model.explain(input, { rules: b, target: 4 });
      // The second program shares the first one's forward state (weights, activations, relevance): it adds its own
      // tensors only, fewer bytes than the whole first program.
      const added = model.stats().bufferBytes - one;
      expect(added).toBeGreaterThan(0);
      expect(added).toBeLessThan(one);
      const switched = await model.explain(other, { rules: a });
      const back = await model.explain(input, { rules: b, target: 4 });
      const fresh = await (await engine.load(graph)).explain(input, { rules: b, target: 4 });
      const freshOther = await (await engine.load(graph)).explain(other, { rules: a });
      expect(Array.from(again.relevance)).toEqual(Array.from(fresh.relevance));
      expect(Array.from(back.relevance)).toEqual(Array.from(fresh.relevance));
      expect(Array.from(switched.relevance)).toEqual(Array.from(freshOther.relevance));
      expect(Array.from(await model.forward(other))).toEqual(Array.from(freshOther.logits));
      expect(model.stats().programs).toBe(2);
    });
  }
});

describe('re-explanation recomputes only the layers from the changed one down', () => {
  for (const backend of ['cpu', 'webgpu'] as const) {
    it(`changing one layer at a time gives what a fresh model gives (${backend})`, async () => {
      const engine = backend === 'cpu' ? await cpuEngine() : await gpuEngine();
      const graph = testGraph(31);
      const input = randomArray(3 * 36, rng(32), 2);
      const model = await engine.load(graph);
      const steps: RuleAssignment[] = [
        { preset: 'EpsilonPlusFlat' },
        { preset: 'EpsilonPlusFlat', layers: [{ layer: 'conv1', rule: 'zbox', low: -3, high: 3 }] }, // first layer only
        { preset: 'EpsilonPlusFlat', layers: [{ layer: 'conv1', rule: 'zbox', low: -3, high: 3 }, { layer: 'fc', rule: 'epsilon', epsilon: 0.3 }] }, // top layer
        { preset: 'EpsilonPlusFlat', layers: [{ layer: 'conv2', rule: 'gamma', gamma: 0.5 }] }, // middle, inside the residual block
        { preset: 'EpsilonPlusFlat', layers: [{ layer: 'add', rule: 'norm', epsilon: 0.01 }] },
        { preset: 'EpsilonPlusFlat' },
      ];
      const work: string[] = [];
      for (const target of [undefined, 3]) {
        for (const [i, rules] of steps.entries()) {
          const got = await model.explain(input, { rules, target });
          // 'all', 'seed+' (everything but the one seed step), or the count of relevance steps run.
          const n = got.work.relevanceSteps;
          const of = got.work.ofRelevanceSteps;
          work.push(`${got.work.forward ? 'F' : '-'}${n === of ? 'all' : n === of - 1 ? 'seed+' : n}`);
          const fresh = await (await engine.load(graph)).explain(input, { rules, target });
          expect(Array.from(got.relevance), `step ${i}, target ${target}`).toEqual(Array.from(fresh.relevance));
          got.layers.forEach((l, k) => expect(Array.from(l.data), `step ${i} ${l.layer}`).toEqual(Array.from(fresh.layers[k]!.data)));
        }
      }
      // First run: everything. A first-layer change: only that layer's steps (ZBox: 3 z terms, the divide, 3
      // multiply terms). A top-layer change: all relevance but the seed. A change at the residual add: from the add
      // down. A new target: all relevance, never the forward pass.
      const [first, firstLayer, top, block, add, back, ...otherTarget] = work;
      expect([first, firstLayer, top]).toEqual(['Fall', '-7', '-seed+']);
      // The block change also puts fc back to its preset rule, so it starts at fc; the add change starts at the add.
      expect(block).toBe('-seed+');
      for (const w of [add, back]) expect(Number(w!.slice(1)), w).toBeGreaterThan(7);
      expect(otherTarget[0]).toBe('-all');
      expect(otherTarget.slice(1)).toEqual(work.slice(1, 6));
    });
  }
});
