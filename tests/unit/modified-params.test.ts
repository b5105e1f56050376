/**
 * Shared modified parameters (runner.ts ModifiedParamCache): the param steps of a program (b+, a Gamma's
 * w + gamma w+, ...) depend on the source parameter and the modifier alone, so every program of one model on a
 * backend shares them and a program compiled for a new rule assignment computes only those no live program holds
 * (RunResult.work.paramSteps); denominator part keys come from a per-graph memo (denominator.ts PartKeyMemo).
 * Results after sequences of rule changes, with programs evicted, are bit-identical to a
 * fresh model's. WebGPU cases need Dawn: `node scripts/with-dawn-env.mjs npx vitest run tests/unit/modified-params.test.ts`.
 */
import { describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/engine/index';
import type { RuleAssignment } from '../../src/rules/assignment';
import { compileProgram } from '../../src/engine/compile';
import { resolveAssignment } from '../../src/engine/rule-assignment';
import { CpuProgramRunner } from '../../src/engine/cpu/cpu-backend';
import { createFastSharedForward, disposeFastShared, FastCpuProgramRunner } from '../../src/engine/cpu/fast-backend';
import { createGpuSharedForward, GpuProgramRunner } from '../../src/engine/gpu/gpu-backend';
import { PipelineCache } from '../../src/engine/gpu/pipeline-cache';
import { modifiedParamKeys, SharedForward, type ProgramRunner, type RunRequest } from '../../src/engine/runner';
import type { Program } from '../../src/engine/program';
import { findDenominators } from '../../src/engine/denominator';
import { resnet50, TINY } from '../../src/bench/models';
import { cpuEngine, gpuEngine, randomArray, rng } from './helpers/engines';
import { expectSameExplanation, residualGraph } from './helpers/small-nets';

let fast: Promise<Engine> | undefined;
const fastEngine = () => (fast ??= createEngine({ backend: 'cpu-fast' }));


const EPF: RuleAssignment = { preset: 'EpsilonPlusFlat' };
const withLayers = (...layers: Record<string, unknown>[]): RuleAssignment => ({ preset: 'EpsilonPlusFlat', layers: layers as never });

/** More distinct assignments than a model keeps programs (4), so programs are evicted and their storage freed. */
const SEQUENCE: readonly (readonly [string, RuleAssignment])[] = [
  ['EpsilonPlusFlat', EPF],
  ['top epsilon', withLayers({ layer: 'fc', rule: 'epsilon', epsilon: 0.3 })],
  ['gamma 0.5', withLayers({ layer: 'conv2', rule: 'gamma', gamma: 0.5 })],
  ['gamma 0.25', withLayers({ layer: 'conv2', rule: 'gamma', gamma: 0.25 })],
  ['zplus first', withLayers({ layer: 'conv1', rule: 'zplus' })],
  ['alpha-beta', withLayers({ layer: 'conv2', rule: 'alphabeta', alpha: 2, beta: 1 })],
  ['EpsilonPlus', { preset: 'EpsilonPlus' }],
  ['gamma 0.5 again', withLayers({ layer: 'conv2', rule: 'gamma', gamma: 0.5 })],
  ['top epsilon again', withLayers({ layer: 'fc', rule: 'epsilon', epsilon: 0.7 })],
  ['EpsilonPlusFlat again', EPF],
];


describe.each([
  ['cpu', cpuEngine],
  ['cpu-fast', fastEngine],
  ['webgpu', gpuEngine],
] as const)('shared modified parameters on %s', (name, engine) => {
  it('rule changes, with programs evicted, equal a fresh model bit for bit', async () => {
    const e = await engine();
    const graph = residualGraph(81);
    const x = randomArray(3 * 36, rng(82), 2);
    const y = randomArray(3 * 36, rng(83), 2);
    const model = await e.load(graph);
    for (const [k, [what, rules]] of SEQUENCE.entries()) {
      // Alternate inputs now and then: modified parameters do not depend on the input.
      const input = k % 3 === 2 ? y : x;
      const got = await model.explain(input, { rules });
      const freshModel = await e.load(graph);
      expectSameExplanation(got, await freshModel.explain(input, { rules }), `${name}: ${what}`);
      freshModel.dispose();
    }
    model.dispose();
  });
});

/** A runner of the program on a backend, all sharing `shared`'s model state. */
type Make = (program: Program) => Promise<ProgramRunner>;

async function backendRunners(name: 'cpu' | 'cpu-fast' | 'webgpu'): Promise<{ make: Make; shared: SharedForward<unknown>; done: () => void }> {
  if (name === 'cpu') {
    const shared = new SharedForward<Float64Array[]>([]);
    return { make: async (p) => new CpuProgramRunner(p, shared), shared, done: () => undefined };
  }
  if (name === 'cpu-fast') {
    const shared = createFastSharedForward();
    return { make: (p) => FastCpuProgramRunner.create(p, shared), shared, done: () => disposeFastShared(shared) };
  }
  // The engine's GPU object (one Dawn instance per test file), a device of its own.
  const adapter = await (await gpuEngine()).gpu!.requestAdapter();
  const device = await adapter!.requestDevice();
  const cache = new PipelineCache(device);
  const shared = createGpuSharedForward();
  return { make: (p) => GpuProgramRunner.create(device, cache, p, shared), shared, done: () => undefined };
}

describe.each(['cpu', 'cpu-fast', 'webgpu'] as const)('modified parameters computed once on %s', (name) => {
  const graph = residualGraph(91);
  const program = (rules: RuleAssignment) => compileProgram(graph, resolveAssignment(graph, rules));

  it('a new program reuses the modified parameters a live program computed, and storage follows the programs held', async () => {
    const { make, shared, done } = await backendRunners(name);
    const x = randomArray(3 * 36, rng(92), 2);
    const request: RunRequest = { input: x, target: -1, contrastTarget: -1, layerRelevance: false };
    try {
      const pa = program(EPF);
      expect(pa.paramSteps.length).toBeGreaterThan(0);
      const a = await make(pa);
      expect((await a.run(request)).work.paramSteps).toBe(pa.paramSteps.length);
      // Later runs of the same program compute none.
      expect((await a.run({ ...request, input: x.map((v) => -v) })).work.paramSteps).toBe(0);
      // Only the epsilon at the top changed: every modified parameter is shared.
      const pb = program(withLayers({ layer: 'fc', rule: 'epsilon', epsilon: 0.4 }));
      expect(modifiedParamKeys(pb)).toEqual(modifiedParamKeys(pa));
      const b = await make(pb);
      expect((await b.run(request)).work.paramSteps).toBe(0);
      // A Gamma at conv2 needs conv2's w + gamma w+ and b + gamma b+: computed, the rest shared.
      const pc = program(withLayers({ layer: 'conv2', rule: 'gamma', gamma: 0.5 }));
      const fresh = modifiedParamKeys(pc).filter((k) => !modifiedParamKeys(pa).includes(k)).length;
      expect(fresh).toBeGreaterThan(0);
      const c = await make(pc);
      expect((await c.run(request)).work.paramSteps).toBe(fresh);
      const keys = new Set([...modifiedParamKeys(pa), ...modifiedParamKeys(pc)]);
      expect(shared.modified.size).toBe(keys.size);
      a.dispose();
      b.dispose();
      expect(shared.modified.size).toBe(new Set(modifiedParamKeys(pc)).size);
      // The shared values survive the programs that computed them: a new program with EPF's keys that c holds
      // reuses them, and computes the rest again.
      const d = await make(program(EPF));
      const again = modifiedParamKeys(pa).filter((k) => !modifiedParamKeys(pc).includes(k)).length;
      expect((await d.run(request)).work.paramSteps).toBe(again);
      c.dispose();
      d.dispose();
      expect(shared.modified.size).toBe(0);
      expect(shared.modified.bytes).toBe(0);
    } finally {
      done();
    }
  });
});

describe('per-compile costs', () => {
  it('denominator part keys taken from the per-graph memo equal those computed afresh', () => {
    for (const graph of [residualGraph(101), resnet50(TINY)]) {
      const weighted = graph.nodes.filter((n) => n.op === 'conv2d' || n.op === 'linear');
      const [first, top] = [weighted[0]!.name, weighted[weighted.length - 1]!.name];
      const assignments: RuleAssignment[] = [
        EPF,
        withLayers({ layer: top, rule: 'epsilon', epsilon: 0.3 }),
        withLayers({ layer: first, rule: 'zplus' }),
        withLayers({ layer: first, rule: 'gamma', gamma: 0.5 }),
        { preset: 'EpsilonAlpha2Beta1' },
        EPF,
      ];
      // Twice over: the second time every segment's key comes from the memo.
      for (const rules of [...assignments, ...assignments]) {
        const compiled = compileProgram(graph, resolveAssignment(graph, rules), { reuseBuffers: false });
        const afresh = findDenominators({ ...compiled, denominators: undefined });
        expect(compiled.denominators, `${graph.name} ${JSON.stringify(rules)}`).toEqual(afresh.denominators);
      }
    }
  });
});
