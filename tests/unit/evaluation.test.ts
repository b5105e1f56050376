/** Faithfulness evaluation: pixel flipping (checked against an independent CPU computation) and randomisation. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { importOnnx } from '../../src/engine/onnx/import-onnx';
import { parseNpy, toFloat32 } from '../../src/engine/io/npy';
import { aopc, baselineImage, perturbedInputs, pixelFlipping, regionsOf } from '../../src/evaluation/pixel-flipping';
import { modelRandomization, randomizeTopLayers, spearman } from '../../src/evaluation/randomization';
import { isWeightedLayer } from '../../src/engine/graph';
import { cpuEngine, gpuEngine, relL2 } from './helpers/engines';

const goldens = resolve(__dirname, '../../../shared/goldens');
const cnn = () => importOnnx({ name: 'cnn.legacy.onnx', bytes: readFileSync(resolve(goldens, 'cnn.legacy.onnx')) });
const cnnInput = () => toFloat32(parseNpy(readFileSync(resolve(goldens, 'cnn.input.npy'))));

describe('pixel flipping', () => {
  it('AOPC is the mean drop from the unperturbed score', () => {
    expect(aopc([3, 2, 1])).toBeCloseTo((0 + 1 + 2) / 3);
    expect(aopc([1, 1])).toBe(0);
  });

  it('regions tile the image, partial ones at the border, and removal follows the order', () => {
    const layout = { c: 2, h: 5, w: 3 };
    const relevance = Float32Array.from({ length: 30 }, (_, i) => i);
    const regions = regionsOf(relevance, layout, 2);
    expect(regions.map((r) => r.pixels.length)).toEqual([4, 2, 4, 2, 2, 1]);
    const input = new Float32Array(30).fill(1);
    const steps = perturbedInputs(input, new Float32Array(30), layout, regions, [5, 4, 3, 2, 1, 0], 2);
    expect(steps).toHaveLength(3);
    expect(steps[0]!.every((v) => v === 1)).toBe(true);
    expect(steps[2]!.every((v) => v === 0)).toBe(true);
    // Half of the 6 regions (the last three in grid order) gone: 5 pixels per channel.
    expect(steps[1]!.filter((v) => v === 0)).toHaveLength(10);
  });

  it('baselines: mean keeps each channel mean, blur keeps a constant image, zero is zero', () => {
    const layout = { c: 1, h: 4, w: 4 };
    const input = Float32Array.from({ length: 16 }, (_, i) => i);
    expect(baselineImage(input, layout, 'mean', 2, 1).every((v) => v === 7.5)).toBe(true);
    expect(baselineImage(new Float32Array(16).fill(3), layout, 'blur', 3, 1).every((v) => Math.abs(v - 3) < 1e-6)).toBe(true);
    expect(baselineImage(input, layout, 'zero', 2, 1).every((v) => v === 0)).toBe(true);
    const noise = baselineImage(input, layout, 'noise', 2, 7);
    expect(noise.every((v) => v >= 0 && v <= 15)).toBe(true);
    expect(baselineImage(input, layout, 'noise', 2, 7)).toEqual(noise);
  });

  it('the batched WebGPU curve equals an independent CPU computation, one forward pass per point', async () => {
    const graph = cnn();
    const input = cnnInput();
    const gpuModel = await (await gpuEngine()).load(graph);
    const ex = await gpuModel.explain(input, { rules: { preset: 'EpsilonPlusFlat' } });
    const result = await pixelFlipping(gpuModel, input, ex.relevance, { target: ex.target, patch: 4, steps: 8, batch: 4, baseline: 'mean' });
    expect(result.regions).toBe(16);
    expect(result.relevanceOrder.scores).toHaveLength(9);
    expect(result.relevanceOrder.scores[0]).toBeCloseTo(ex.logits[ex.target]!, 4);

    // Independently: sort the 4x4 patches by hand, perturb, and run the CPU backend one input at a time.
    const cpuModel = await (await cpuEngine()).load(graph);
    const plane = 16 * 16;
    const patchSum = (py: number, px: number) => {
      let s = 0;
      for (let c = 0; c < 3; c++) for (let y = py * 4; y < py * 4 + 4; y++) for (let x = px * 4; x < px * 4 + 4; x++) s += ex.relevance[c * plane + y * 16 + x]!;
      return s;
    };
    const patches = Array.from({ length: 16 }, (_, i) => ({ py: Math.floor(i / 4), px: i % 4, r: patchSum(Math.floor(i / 4), i % 4) }));
    patches.sort((a, b) => b.r - a.r);
    const means = [0, 1, 2].map((c) => input.slice(c * plane, (c + 1) * plane).reduce((a, b) => a + b, 0) / plane);
    const scores: number[] = [];
    for (let k = 0; k <= 8; k++) {
      const x = input.slice();
      for (const { py, px } of patches.slice(0, k * 2)) {
        for (let c = 0; c < 3; c++) for (let y = py * 4; y < py * 4 + 4; y++) for (let xx = px * 4; xx < px * 4 + 4; xx++) x[c * plane + y * 16 + xx] = means[c]!;
      }
      scores.push((await cpuModel.forward(x))[ex.target]!);
    }
    expect(relL2(result.relevanceOrder.scores, scores)).toBeLessThan(1e-5);
    expect(result.relevanceOrder.aopc).toBeCloseTo(aopc(scores), 4);
  });

  it('rejects bad parameters with a clear message', async () => {
    const model = await (await cpuEngine()).load(cnn());
    const input = cnnInput();
    await expect(pixelFlipping(model, input, input, { target: 0, patch: 0 })).rejects.toThrow(/patch/);
    await expect(pixelFlipping(model, input, input, { target: 0, steps: 1000 })).rejects.toThrow(/steps/);
    await expect(pixelFlipping(model, input, input.slice(1), { target: 0 })).rejects.toThrow(/size/);
  });
});

describe('model randomisation', () => {
  it('spearman: 1 for the same order, -1 reversed, ties averaged', () => {
    expect(spearman([1, 2, 3, 4], [10, 20, 30, 40])).toBeCloseTo(1);
    expect(spearman([1, 2, 3, 4], [4, 3, 2, 1])).toBeCloseTo(-1);
    expect(spearman([1, 1, 2], [1, 1, 2])).toBeCloseTo(1);
  });

  it('re-draws exactly the top layers', () => {
    const graph = cnn();
    const weighted = graph.nodes.filter(isWeightedLayer);
    const two = randomizeTopLayers(graph, 2, 3);
    const changed = two.nodes.filter(isWeightedLayer).map((n, i) => n.params.weight!.data.some((v, j) => v !== weighted[i]!.params.weight!.data[j]));
    expect(changed).toEqual([false, false, true, true]);
  });

  it('the trained model correlates with itself and randomisation moves the heatmap', async () => {
    const steps = await modelRandomization(await cpuEngine(), cnn(), cnnInput(), { rules: { preset: 'EpsilonPlusFlat' }, target: 4 });
    expect(steps.map((s) => s.randomized)).toEqual([0, 1, 2, 3, 4]);
    expect(steps[0]!.spearman).toBeCloseTo(1);
    expect(steps.at(-1)!.spearman).toBeLessThan(0.9);
  });
});
