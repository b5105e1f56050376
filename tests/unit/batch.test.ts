/**
 * explainBatch / explainTargets (src/engine/batch.ts): the explanations of several inputs (or several targets of
 * one input) are exactly those of explaining each input alone with the same options, on both backends, and an
 * input repeated after itself skips the forward pass.
 */
import { describe, expect, it } from 'vitest';
import type { LayerHook } from '../../src/engine/api';
import { compileProgram, inferShapes } from '../../src/engine/compile';
import { createGpuSharedForward, GpuProgramRunner } from '../../src/engine/gpu/gpu-backend';
import { PipelineCache } from '../../src/engine/gpu/pipeline-cache';
import { explainBatch, explainTargets, resolveHooks, type Engine, type Explanation } from '../../src/engine/index';
import { resolveAssignment } from '../../src/engine/rule-assignment';
import type { RunRequest, RunResult } from '../../src/engine/runner';
import { createNodeGpu } from '../../src/node/node-gpu';
import type { RuleAssignment } from '../../src/rules/assignment';
import { cpuEngine, gpuEngine, randomArray, rng } from './helpers/engines';
import { tinyNet } from './helpers/tiny-net';

const net = tinyNet(31, 'relu', { c: 2, o: 4, h: 5, w: 5, k: 3, pad: 1, classes: 4 });
const random = rng(32);
const inputs = [0, 1, 2, 3].map(() => randomArray(net.c * net.h * net.w, random, 1.5));
const rules: RuleAssignment = { preset: 'EpsilonGammaBox', presetParams: { low: -3, high: 3 } };

/** Everything an explanation computes (not its timings or what was reused). */
function values(e: Explanation) {
  return {
    logits: Array.from(e.logits),
    target: e.target,
    relevance: Array.from(e.relevance),
    layers: e.layers.map((l) => ({ layer: l.layer, shape: l.shape, data: Array.from(l.data) })),
    hooks: e.hooks?.map((h) => ({ layer: h.layer, activation: Array.from(h.activation), relevance: Array.from(h.relevance) })),
  };
}

describe.each([
  ['cpu', cpuEngine],
  ['webgpu', gpuEngine],
] as [string, () => Promise<Engine>][])('explainBatch on %s', (_name, engine) => {
  it('equals explaining each input alone, value for value (top class, per-input targets, contrast, hooks)', async () => {
    const model = await (await engine()).load(net.graph);
    const cases = [
      { rules },
      { rules, contrastTarget: 1, layerRelevance: false },
      { rules: { preset: 'gradient' }, seed: 'one' as const },
      { rules, hooks: [{ layer: 'act', scale: [1, 0, 1, 0] }] },
    ];
    for (const options of cases) {
      const batch = await explainBatch(model, inputs, options);
      expect(batch).toHaveLength(inputs.length);
      for (const [i, x] of inputs.entries()) expect(values(batch[i]!), `input ${i}`).toEqual(values(await model.explain(x, options)));
    }
    const targets = [3, undefined, 0, 2];
    // `targets` overrides `target`: an undefined entry explains that input's top class.
    const perRow = await explainBatch(model, inputs, { rules, targets, target: 1 });
    for (const [i, x] of inputs.entries()) {
      const t = targets[i];
      const alone = await model.explain(x, t !== undefined ? { rules, target: t } : { rules });
      expect(values(perRow[i]!), `input ${i}`).toEqual(values(alone));
    }
    const top = Array.from(perRow[1]!.logits).indexOf(Math.max(...perRow[1]!.logits));
    expect(perRow.map((e) => e.target)).toEqual([3, top, 0, 2]);
    model.dispose();
  });

  it('explainTargets: one input, several targets, the forward pass once; equal to explaining each target alone', async () => {
    const model = await (await engine()).load(net.graph);
    const x = inputs[2]!;
    const progress: number[] = [];
    const batch = await explainTargets(model, x, [0, 1, 2, 3], { rules, onProgress: (done) => progress.push(done) });
    expect(progress.at(-1)).toBe(4); // after each explanation, or once when the model explains them in one go
    expect(batch.map((e) => e.work.forward)).toEqual([true, false, false, false]);
    for (let t = 0; t < 4; t++) {
      expect(batch[t]!.target).toBe(t);
      expect(values(batch[t]!)).toEqual(values(await model.explain(x, { rules, target: t })));
    }
    model.dispose();
  });

  it('refuses a target list of another length than the inputs, and a target that is not a class', async () => {
    const model = await (await engine()).load(net.graph);
    await expect(explainBatch(model, inputs, { targets: [0, 1] })).rejects.toThrow('explainBatch: 2 targets for 4 inputs');
    await expect(explainBatch(model, inputs.slice(0, 1), { targets: [7] })).rejects.toThrow(/target 7 is not a class index of this model \(0 to 3\)/);
    expect(await explainBatch(model, [])).toEqual([]);
    model.dispose();
  });
});

/**
 * The GPU runner's single-submission batch (GpuProgramRunner.runMany): N explanations encoded into one command
 * encoder and read back with one map. Not yet reachable from LoadedModel (see src/engine/batch.ts); tested at the
 * runner, against run() on each request.
 */
describe('GpuProgramRunner.runMany (one submission)', () => {
  async function runner(hooks: readonly LayerHook[] = []) {
    const gpu = await createNodeGpu();
    const adapter = await gpu.requestAdapter();
    const device = await adapter!.requestDevice();
    const sites = hooks.length ? resolveHooks(net.graph, inferShapes(net.graph), hooks).sites : [];
    const program = compileProgram(net.graph, resolveAssignment(net.graph, rules), sites.length ? { hooks: sites } : {});
    return { gpu, device, runner: await GpuProgramRunner.create(device, new PipelineCache(device), program, createGpuSharedForward()) };
  }
  const plain = (r: RunResult) => ({
    logits: Array.from(r.logits),
    relevance: Array.from(r.relevance),
    target: r.target,
    layers: r.layers.map((l) => Array.from(l)),
    hooks: r.hooks?.map((h) => [Array.from(h.activation), Array.from(h.relevance)]),
  });

  it('equals run() on each request: targets, contrast, seed, layer relevance on some requests only', async () => {
    const { gpu, device, runner: r } = await runner();
    const requests: RunRequest[] = inputs.map((input, i) => ({
      input,
      target: i === 1 ? -1 : i,
      contrastTarget: i === 2 ? 3 : -1,
      layerRelevance: i !== 3,
      ...(i === 0 ? { seed: 'one' as const } : {}),
    }));
    const many = await r.runMany(requests);
    expect(many).toHaveLength(requests.length);
    for (const [i, request] of requests.entries()) expect(plain(many[i]!), `request ${i}`).toEqual(plain(await r.run(request)));
    // After the batch, a run of another input is right (the shared forward state follows the batch's last input).
    const after = await r.run({ input: inputs[3]!, target: 1, contrastTarget: -1, layerRelevance: true });
    const again = (await r.runMany([{ input: inputs[3]!, target: 1, contrastTarget: -1, layerRelevance: true }]))[0]!;
    expect(plain(again)).toEqual(plain(after));
    // One input, several targets: the forward pass runs for the first only, as run() would skip it.
    const x = inputs[0]!;
    const targets = await r.runMany([0, 1, 2, 3].map((t) => ({ input: x.slice(), target: t, contrastTarget: -1, layerRelevance: true })));
    expect(targets.map((t) => t.work.forward)).toEqual([true, false, false, false]);
    for (const [t, result] of targets.entries()) expect(plain(result), `target ${t}`).toEqual(plain(await r.run({ input: x, target: t, contrastTarget: -1, layerRelevance: true })));
    await expect(r.runMany([{ ...requests[0]!, forwardOnly: true }])).rejects.toThrow(/not forward-only/);
    r.dispose();
    device.destroy();
    expect(gpu).toBeDefined();
  });

  it('carries per-request hook factors', async () => {
    const { gpu, device, runner: r } = await runner([{ layer: 'act', scale: [1, 1, 1, 1] }]);
    const masks = [
      [1, 0, 1, 0],
      [0, 1, 0, 0],
      [0.5, 2, 1, -1],
    ].map((m) => Float32Array.from(m));
    const requests: RunRequest[] = masks.map((m, i) => ({ input: inputs[i]!, target: -1, contrastTarget: -1, layerRelevance: true, hookScales: [m] }));
    const many = await r.runMany(requests);
    for (const [i, request] of requests.entries()) expect(plain(many[i]!), `request ${i}`).toEqual(plain(await r.run(request)));
    r.dispose();
    device.destroy();
    expect(gpu).toBeDefined();
  });
});
