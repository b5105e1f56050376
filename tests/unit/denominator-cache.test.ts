/**
 * The denominator cache (src/engine/denominator.ts, runner.ts DenominatorCache): each layer's denominators z are
 * computed once per input and reused by every program of the model whose layer has an equal part, so a change at
 * the top layer recomputes below it only the steps that carry relevance. Results after any sequence of rule
 * changes, inputs, targets, contrasts and hooks are bit-identical to a fresh model's; the cached steps are skipped
 * (work.cachedSteps); the cache follows the programs held. WebGPU cases need Dawn:
 * `node scripts/with-dawn-env.mjs npx vitest run tests/unit/denominator-cache.test.ts`.
 */
import { describe, expect, it } from 'vitest';
import { createEngine, type Engine, type ExplainOptions } from '../../src/engine/index';
import type { RuleAssignment } from '../../src/rules/assignment';
import { compileProgram } from '../../src/engine/compile';
import { resolveAssignment } from '../../src/engine/rule-assignment';
import { CpuProgramRunner } from '../../src/engine/cpu/cpu-backend';
import { SharedForward, type RunRequest } from '../../src/engine/runner';
import { stepWrites } from '../../src/engine/denominator';
import { resnet50, TINY, visionTransformer, VIT_TINY } from '../../src/bench/models';
import { cpuEngine, gpuEngine, randomArray, rng } from './helpers/engines';
import { expectSameExplanation, residualGraph } from './helpers/small-nets';

let fast: Promise<Engine> | undefined;
const fastEngine = () => (fast ??= createEngine({ backend: 'cpu-fast' }));


const EPF: RuleAssignment = { preset: 'EpsilonPlusFlat' };
const withLayers = (...layers: Record<string, unknown>[]): RuleAssignment => ({ preset: 'EpsilonPlusFlat', layers: layers as never });


const backends: [string, () => Promise<Engine>][] = [
  ['cpu', cpuEngine],
  ['cpu-fast', fastEngine],
  ['webgpu', gpuEngine],
];

describe.each(backends)('denominator cache on %s', (name, engine) => {
  it('re-explanations in any order equal a fresh model, and skip the cached denominators', async () => {
    const e = await engine();
    const graph = residualGraph(41);
    const x = randomArray(3 * 36, rng(42), 2);
    const y = randomArray(3 * 36, rng(43), 2);
    const model = await e.load(graph);
    const topChanged = withLayers({ layer: 'fc', rule: 'epsilon', epsilon: 0.3 });
    const steps: { what: string; input: Float32Array; options: ExplainOptions; cached: 'none' | 'some' }[] = [
      { what: 'first', input: x, options: { rules: EPF }, cached: 'none' },
      { what: 'top changed', input: x, options: { rules: topChanged }, cached: 'some' },
      { what: 'middle changed', input: x, options: { rules: withLayers({ layer: 'conv2', rule: 'gamma', gamma: 0.5 }) }, cached: 'some' },
      { what: 'first layer changed', input: x, options: { rules: withLayers({ layer: 'conv1', rule: 'flat', epsilon: 0.01 }) }, cached: 'some' },
      { what: 'back', input: x, options: { rules: EPF }, cached: 'some' },
      { what: 'new input, top changed', input: y, options: { rules: topChanged }, cached: 'none' },
      { what: 'back to x', input: x, options: { rules: EPF }, cached: 'none' },
      { what: 'target and contrast', input: x, options: { rules: topChanged, target: 2, contrastTarget: 1 }, cached: 'some' },
      { what: 'seed one', input: x, options: { rules: EPF, target: 3, seed: 'one' }, cached: 'some' },
      { what: 'observe hook', input: x, options: { rules: EPF, hooks: [{ layer: 'conv2' }] }, cached: 'some' },
      { what: 'scaling hook', input: x, options: { rules: topChanged, hooks: [{ layer: 'pool', scale: [0.5, 2, 1, -1], axis: 1 }] }, cached: 'some' },
      { what: 'other scale, same hook', input: x, options: { rules: topChanged, hooks: [{ layer: 'pool', scale: [1, 1, 3, 0] }] }, cached: 'some' },
      { what: 'top changed again', input: x, options: { rules: withLayers({ layer: 'fc', rule: 'epsilon', epsilon: 0.7 }) }, cached: 'some' },
    ];
    for (const s of steps) {
      const got = await model.explain(s.input, s.options);
      const fresh = await (await e.load(graph)).explain(s.input, s.options);
      expectSameExplanation(got, fresh, `${name}: ${s.what}`);
      expect(fresh.work.cachedSteps, s.what).toBe(0);
      if (s.cached === 'none') expect(got.work.cachedSteps, s.what).toBe(0);
      else expect(got.work.cachedSteps, s.what).toBeGreaterThan(0);
    }
  });

  it('explainMany, then re-explanations, equal a fresh model', async () => {
    const e = await engine();
    const graph = residualGraph(51);
    const inputs = [0, 1, 2].map((k) => randomArray(3 * 36, rng(52 + k), 2));
    const model = await e.load(graph);
    const many = await model.explainMany!(inputs, { rules: EPF, targets: [0, 1, undefined] });
    for (const [k, input] of inputs.entries()) expectSameExplanation(many[k]!, await (await e.load(graph)).explain(input, { rules: EPF, target: [0, 1, undefined][k] }), `explainMany ${k}`);
    for (const input of [inputs[2]!, inputs[0]!]) {
      const rules = withLayers({ layer: 'fc', rule: 'epsilon', epsilon: 0.2 });
      expectSameExplanation(await model.explain(input, { rules }), await (await e.load(graph)).explain(input, { rules }), 'after explainMany');
    }
  });
});

describe('denominator cache on the tiny benchmark models', () => {
  for (const [name, engine] of [['cpu', cpuEngine], ['cpu-fast', fastEngine]] as const) {
    it(`ResNet-50 and ViT tiny: top, middle and first layer changes equal a fresh model (${name})`, async () => {
      const e = await engine();
      for (const graph of [resnet50(TINY), visionTransformer(VIT_TINY)]) {
        const weighted = graph.nodes.filter((n) => n.op === 'conv2d' || n.op === 'linear');
        const [first, middle, top] = [weighted[0]!, weighted[Math.floor(weighted.length / 2)]!, weighted[weighted.length - 1]!];
        const x = randomArray(graph.input.shape.reduce((a, b) => a * b, 1), rng(61), 1);
        const model = await e.load(graph);
        const sequence: RuleAssignment[] = [
          EPF,
          withLayers({ layer: top.name, rule: 'epsilon', epsilon: 0.01 }),
          withLayers(middle.op === 'conv2d' ? { layer: middle.name, rule: 'gamma', gamma: 0.25 } : { layer: middle.name, rule: 'epsilon', epsilon: 0.1 }),
          withLayers({ layer: first.name, rule: 'flat', epsilon: 1e-3 }),
          EPF,
        ];
        for (const [i, rules] of sequence.entries()) {
          const got = await model.explain(x, { rules, layerRelevance: false });
          const fresh = await (await e.load(graph)).explain(x, { rules, layerRelevance: false });
          expect(Array.from(got.relevance), `${graph.name} step ${i}`).toEqual(Array.from(fresh.relevance));
          if (i > 0 && graph.name.startsWith('resnet')) expect(got.work.cachedSteps, `${graph.name} step ${i}`).toBeGreaterThan(0);
        }
        model.dispose();
      }
    }, 120_000);
  }
});

describe('denominator parts and their storage', () => {
  const graph = residualGraph(71);
  const program = (rules: RuleAssignment) => compileProgram(graph, resolveAssignment(graph, rules));

  it('a part holds the z steps of ZPlus, Flat and Gamma layers, never a step that reads relevance or control', () => {
    const p = program(withLayers({ layer: 'conv2', rule: 'gamma', gamma: 0.5 }));
    const parts = p.denominators ?? [];
    expect(parts.length).toBeGreaterThan(0);
    const partSteps = new Set(parts.flatMap((d) => d.steps));
    const relevanceWritten = new Set(p.relevanceSteps.flatMap((s, i) => (partSteps.has(i) ? [] : stepWrites(s))));
    for (const d of parts) {
      for (const i of d.steps) {
        const step = p.relevanceSteps[i]!;
        expect(['conv2d', 'elementwise', 'broadcast-binary']).toContain(step.kernel);
        expect(JSON.stringify(step)).not.toContain(`"id":${p.control.id},`);
        for (const id of stepWrites(step)) expect(d.tensors).toContain(id);
      }
      // Cached tensors are written by part steps alone and share storage with nothing else.
      for (const id of d.tensors) expect(relevanceWritten.has(id)).toBe(false);
    }
    const layers = parts.map((d) => p.segments[d.segment]!.key.split(':')[0]);
    expect(layers).toEqual(expect.arrayContaining(['conv1', 'conv2']));
    expect(layers).not.toContain('fc'); // Epsilon: z is the layer's output, nothing to compute
  });

  it('programs share a part when the layer computes the same z, whatever its epsilon', () => {
    const a = program(EPF);
    const b = program(withLayers({ layer: 'conv1', rule: 'flat', epsilon: 0.5 }, { layer: 'fc', rule: 'epsilon', epsilon: 2 }));
    const c = program(withLayers({ layer: 'conv1', rule: 'zplus' }));
    const key = (p: typeof a, layer: string) => p.denominators!.find((d) => p.segments[d.segment]!.key.startsWith(`${layer}:`))?.key;
    expect(key(b, 'conv1')).toBe(key(a, 'conv1'));
    expect(key(b, 'conv2')).toBe(key(a, 'conv2'));
    expect(key(c, 'conv1')).not.toBe(key(a, 'conv1'));
  });

  it('runners share the storage, skip what is cached for the input held, and free it with the last program', async () => {
    const shared = new SharedForward<Float64Array[]>([]);
    const x = randomArray(3 * 36, rng(72), 2);
    const request: RunRequest = { input: x, target: -1, contrastTarget: -1, layerRelevance: false };
    const a = new CpuProgramRunner(program(EPF), shared);
    const b = new CpuProgramRunner(program(withLayers({ layer: 'fc', rule: 'epsilon', epsilon: 0.4 })), shared);
    const all = (p: CpuProgramRunner) => (p.program.denominators ?? []).reduce((n, d) => n + d.steps.length, 0);
    const first = await a.run(request);
    expect(first.work).toMatchObject({ denominatorSteps: all(a), cachedSteps: 0 });
    const second = await b.run(request);
    expect(second.work).toMatchObject({ denominatorSteps: 0, cachedSteps: all(b) });
    expect(all(b)).toBeGreaterThan(0);
    const other = await b.run({ ...request, input: x.map((v) => -v) });
    expect(other.work).toMatchObject({ forward: true, denominatorSteps: all(b), cachedSteps: 0 });
    expect(shared.denominators.size).toBe(b.program.denominators!.length);
    const bytes = shared.denominators.bytes;
    expect(bytes).toBe(b.program.denominators!.flatMap((d) => d.tensors).reduce((n, id) => n + 8 * b.program.tensors[id]!.size, 0));
    a.dispose();
    expect(shared.denominators.size).toBe(b.program.denominators!.length);
    b.dispose();
    expect(shared.denominators.size).toBe(0);
  });
});
