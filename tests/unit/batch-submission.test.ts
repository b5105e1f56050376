// explainBatch on WebGPU encodes all runs into one submission (GpuProgramRunner.runMany), not one per input.
import { expect, it, vi } from 'vitest';
import { explainBatch } from '../../src/engine/index';
import { GpuProgramRunner } from '../../src/engine/gpu/gpu-backend';
import { gpuEngine, randomArray, rng } from './helpers/engines';
import { tinyNet } from './helpers/tiny-net';

it('explainBatch on webgpu goes through runMany (one submission)', async () => {
  const net = tinyNet(31, 'relu', { c: 2, o: 4, h: 5, w: 5, k: 3, pad: 1, classes: 4 });
  const r = rng(1);
  const inputs = [0, 1, 2].map(() => randomArray(50, r));
  const spy = vi.spyOn(GpuProgramRunner.prototype, 'runMany');
  const runSpy = vi.spyOn(GpuProgramRunner.prototype, 'run');
  const model = await (await gpuEngine()).load(net.graph);
  const out = await explainBatch(model, inputs, {});
  expect(out).toHaveLength(3);
  expect(spy).toHaveBeenCalledTimes(1);
  expect(runSpy).toHaveBeenCalledTimes(0);
});
