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

it('SmoothGrad and Integrated Gradients on webgpu take their gradients 8 per submission, with the values of one explain each', async () => {
  const { smoothGrad, integratedGradients } = await import('../../src/engine/attribution-methods');
  const net = tinyNet(32, 'tanh', { c: 2, o: 3, h: 4, w: 4, k: 3, pad: 1, classes: 3 });
  const x = randomArray(32, rng(2));
  const model = await (await gpuEngine()).load(net.graph);
  // The same model without explainMany: one explain per gradient.
  const oneByOne = new Proxy(model, { get: (t, k) => (k === 'explainMany' ? undefined : Reflect.get(t, k)) });
  const many = vi.spyOn(GpuProgramRunner.prototype, 'runMany');
  many.mockClear();
  const ig = await integratedGradients(model, x, { steps: 10 });
  expect(many).toHaveBeenCalledTimes(2); // 8 + 2 path points
  const sg = await smoothGrad(model, x, { samples: 9, seed: 3 });
  expect(many).toHaveBeenCalledTimes(4); // 8 + 1 samples
  many.mockClear();
  const ig1 = await integratedGradients(oneByOne, x, { steps: 10 });
  const sg1 = await smoothGrad(oneByOne, x, { samples: 9, seed: 3 });
  expect(many).toHaveBeenCalledTimes(0);
  expect(Array.from(ig.attribution)).toEqual(Array.from(ig1.attribution));
  expect(Array.from(sg.attribution)).toEqual(Array.from(sg1.attribution));
});
