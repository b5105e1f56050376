/**
 * The Compare tab's gradient baselines (app/baseline-maps.ts, what the engine worker runs for a compare side whose
 * method is a baseline) on the CPU backend with the built-in TinyVGG: each side's attribution is the engine
 * function's (src/engine/attribution-methods.ts) with the same parameters, and its map is that attribution summed
 * over the input's channels; progress is told after every gradient, and a cancelled run rejects with AbortError.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { baselineMap } from '../../app/baseline-maps';
import { baselineLabel, baselineOf, compareMethodFrom, DEFAULT_COMPARE_METHOD, type BaselineMethod } from '../../app/compare-methods';
import { importModelFiles } from '../../src/session/open-model';
import { gradientTimesInput, inputGradient, integratedGradients, smoothGrad, type Attribution } from '../../src/engine/attribution-methods';
import type { LoadedModel } from '../../src/engine/index';
import { parseNpy, toFloat32 } from '../../src/engine/io/npy';
import { sumChannels } from '../../src/models/colormap';
import { cpuEngine } from './helpers/engines';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = join(repoRoot, 'public', 'models', 'tinyvgg');
const files = ['model.json', 'group1-shard1of1.bin'].map((name) => ({ name, bytes: new Uint8Array(readFileSync(join(dir, name))) }));
const input = toFloat32(parseNpy(new Uint8Array(readFileSync(resolve(repoRoot, '..', 'shared', 'goldens', 'tfjs', 'tinyvgg.sample.coffee.npy')))));

describe('compare baselines (CPU backend, TinyVGG)', () => {
  let model: LoadedModel;
  let shape: readonly number[];
  beforeAll(async () => {
    const { graph } = importModelFiles(files);
    shape = graph.input.shape;
    model = await (await cpuEngine()).load(graph);
  });

  const cases: [BaselineMethod, (m: LoadedModel, x: Float32Array, o: { target: number }) => Promise<Attribution>][] = [
    [{ method: 'gradient' }, (m, x, o) => inputGradient(m, x, o)],
    [{ method: 'gradient-x-input' }, (m, x, o) => gradientTimesInput(m, x, o)],
    [{ method: 'smoothgrad', samples: 3, noiseLevel: 0.2 }, (m, x, o) => smoothGrad(m, x, { ...o, samples: 3, noiseLevel: 0.2 })],
    [{ method: 'integrated-gradients', steps: 4 }, (m, x, o) => integratedGradients(m, x, { ...o, steps: 4 })],
  ];

  it.each(cases)('%o equals the engine function, summed over channels', async (method, reference) => {
    const target = 3;
    const progress: [number, number][] = [];
    let pauses = 0;
    const { map, attribution } = await baselineMap(model, input, shape, method, {
      target,
      pause: async () => {
        pauses++;
      },
      onProgress: (done, total) => progress.push([done, total]),
    });
    const expected = await reference(model, input, { target });
    expect(attribution.method).toBe(method.method);
    expect(attribution.target).toBe(target);
    expect(attribution.attribution).toEqual(expected.attribution);
    expect(map).toEqual(sumChannels(expected.attribution, shape));
    expect([map.width, map.height]).toEqual([shape[3], shape[2]]);
    // One progress report per gradient, counting up to all of them; a pause before every engine call.
    const n = expected.gradients;
    expect(progress).toEqual(Array.from({ length: n }, (_, k) => [k + 1, n]));
    expect(pauses).toBeGreaterThanOrEqual(n);
    expect(map.data.some((v) => v !== 0)).toBe(true);
  });

  it('the top class when no target is given, as the engine function picks it', async () => {
    const { attribution } = await baselineMap(model, input, shape, { method: 'integrated-gradients', steps: 2 });
    const expected = await integratedGradients(model, input, { steps: 2 });
    expect(attribution.target).toBe(expected.target);
    expect(attribution.attribution).toEqual(expected.attribution);
  });

  it('a cancelled run rejects with an AbortError before it ends', async () => {
    const controller = new AbortController();
    let done = 0;
    const run = baselineMap(model, input, shape, { method: 'smoothgrad', samples: 50, noiseLevel: 0.1 }, {
      signal: controller.signal,
      pause: () => new Promise((r) => setTimeout(r, 0)),
      onProgress: (d) => {
        done = d;
        if (d === 2) controller.abort();
      },
    });
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(done).toBeLessThan(50);
  });

  it('the page side: a side\'s baseline, its label, and a link\'s method applied', () => {
    expect(baselineOf(DEFAULT_COMPARE_METHOD)).toBeNull();
    const ig = { ...DEFAULT_COMPARE_METHOD, method: 'integrated-gradients' as const, steps: 8 };
    expect(baselineOf(ig)).toEqual({ method: 'integrated-gradients', steps: 8 });
    expect(baselineOf({ ...ig, method: 'smoothgrad' })).toEqual({ method: 'smoothgrad', samples: DEFAULT_COMPARE_METHOD.samples, noiseLevel: DEFAULT_COMPARE_METHOD.noiseLevel });
    expect(baselineLabel({ method: 'integrated-gradients', steps: 8 })).toBe('Integrated Gradients (8 steps, zeros baseline)');
    expect(baselineLabel({ method: 'smoothgrad', samples: 1, noiseLevel: 0.1 })).toBe('SmoothGrad (1 sample, noise 0.1)');
    // A link's method replaces the side's method and its own parameters; the others stay.
    expect(compareMethodFrom({ method: 'smoothgrad', samples: 5, noiseLevel: 0.3 }, ig)).toEqual({ ...ig, method: 'smoothgrad', samples: 5, noiseLevel: 0.3 });
    expect(compareMethodFrom(null, ig)).toEqual({ ...ig, method: 'lrp' });
  });
});
