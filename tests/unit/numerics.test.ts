/** Numerical traps and GPU failures: zero denominators, denormals, overflow, limits, device loss. */
import { describe, expect, it } from 'vitest';
import type { Graph } from '../../src/engine/graph';
import { createEngine, GpuError } from '../../src/engine/index';
import { createNodeGpu } from '../../src/node/node-gpu';
import { checkLimits } from '../../src/engine/gpu/gpu-backend';
import { compileProgram } from '../../src/engine/compile';
import { resolveAssignment } from '../../src/engine/rule-assignment';
import { cpuEngine, gpuEngine, randomArray, relL2, rng } from './helpers/engines';

function dense(weights: number[][], bias: number[] | null, name = 'fc'): Graph {
  const o = weights.length;
  const i = weights[0]!.length;
  return {
    name: 'dense',
    input: { name: 'x', shape: [1, i] },
    output: 'y',
    nodes: [
      {
        name,
        op: 'linear',
        inputs: ['x'],
        output: 'y',
        attrs: {},
        params: { weight: { shape: [o, i], data: Float32Array.from(weights.flat()) }, ...(bias ? { bias: { shape: [o], data: Float32Array.from(bias) } } : {}) },
      },
    ],
  };
}

describe.each(['cpu', 'webgpu'] as const)('numerics (%s)', (backend) => {
  const engine = () => (backend === 'cpu' ? cpuEngine() : gpuEngine());

  it('z exactly 0: every stabilised rule gives finite relevance, even with epsilon 0', async () => {
    // Output 0 has z = 0 (input orthogonal to its weights, no bias).
    const model = await (await engine()).load(dense([[1, -1], [2, 1]], null));
    for (const rule of [
      { rule: 'epsilon', epsilon: 0 },
      { rule: 'epsilon' },
      { rule: 'captum.epsilon' },
      { rule: 'zplus', epsilon: 0 },
      { rule: 'alphabeta', alpha: 2, beta: 1, epsilon: 0 },
      { rule: 'gamma', epsilon: 0 },
      { rule: 'flat', epsilon: 0 },
      { rule: 'wsquare', epsilon: 0 },
      { rule: 'zbox', epsilon: 0, low: 0, high: 0 },
    ]) {
      const ex = await model.explain(new Float32Array([1, 1]), { target: 0, rules: { layers: [{ layer: 'fc', ...rule }] } as never });
      expect(ex.logits[0]).toBe(0);
      expect(ex.nonFinite, JSON.stringify(rule)).toBeNull();
      expect(Array.from(ex.relevance).every(Number.isFinite)).toBe(true);
    }
  });

  it('denormal and huge magnitudes stay finite where the math is finite', async () => {
    const model = await (await engine()).load(dense([[1e-30, 2e-30], [1e30, -1e30]], [1e-38, 1e30]));
    for (const input of [new Float32Array([1e-10, 1e-10]), new Float32Array([1e5, 1e5])]) {
      for (const target of [0, 1]) {
        const ex = await model.explain(input, { target, rules: { layers: [{ layer: 'fc', rule: 'epsilon' }] } });
        expect(ex.nonFinite).toBeNull();
      }
    }
  });

  it('overflow to infinity is reported with the layer it came from, never silently', async () => {
    const graph: Graph = {
      name: 'overflow',
      input: { name: 'x', shape: [1, 2] },
      output: 'y',
      nodes: [
        ...dense([[3e38, 3e38], [1, 1]], null, 'fc1').nodes.map((n) => ({ ...n, output: 'h' })),
        { ...dense([[1, 1], [1, -1]], null, 'fc2').nodes[0]!, inputs: ['h'], output: 'y' },
      ],
    };
    const model = await (await engine()).load(graph);
    const ex = await model.explain(new Float32Array([10, 10]), { target: 1 });
    expect(ex.nonFinite).not.toBeNull();
    expect(ex.nonFinite!.layer).toBe('fc2');
  });
});

describe('GPU failures', () => {
  it('a tensor larger than the device allows is refused before any allocation, naming the numbers', () => {
    const weights = Array.from({ length: 4 }, () => Array.from({ length: 300 }, () => 1));
    const program = compileProgram(dense(weights, null), resolveAssignment(dense(weights, null)));
    const small = { limits: { maxBufferSize: 4096, maxStorageBufferBindingSize: 2048 } } as unknown as GPUDevice;
    expect(() => checkLimits(small, program)).toThrow(/"fc.weight" needs a 4,800-byte buffer, above this GPU's limit of 2,048 bytes/);
    const roomy = { limits: { maxBufferSize: 1 << 20, maxStorageBufferBindingSize: 1 << 20 } } as unknown as GPUDevice;
    expect(() => checkLimits(roomy, program)).not.toThrow();
  });

  it('device loss mid-run: the engine recreates the device and reruns the explanation once', async () => {
    const messages: string[] = [];
    const engine = await createEngine({ backend: 'webgpu', gpu: await createNodeGpu(), onDeviceLost: (m) => messages.push(m) });
    const graph = dense(Array.from({ length: 8 }, (_, k) => Array.from({ length: 16 }, (_, j) => Math.sin(k * 16 + j))), [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]);
    const input = randomArray(16, rng(1));
    const reference = await (await (await cpuEngine()).load(graph)).explain(input, { target: 3 });
    const model = await engine.load(graph);
    await model.explain(input, { target: 3 });
    const pending = model.explain(input, { target: 3, rules: { preset: 'EpsilonPlus' } });
    engine.simulateDeviceLoss();
    const recovered = await pending;
    expect(relL2(recovered.relevance, (await (await (await cpuEngine()).load(graph)).explain(input, { target: 3, rules: { preset: 'EpsilonPlus' } })).relevance)).toBeLessThan(1e-5);
    const after = await model.explain(input, { target: 3 });
    expect(relL2(after.relevance, reference.relevance)).toBeLessThan(1e-5);
    await new Promise((r) => setTimeout(r, 0));
    expect(messages.join(' ')).toMatch(/device was lost/);
    engine.dispose();
  });

  it('an engine that must use WebGPU fails clearly without an adapter', async () => {
    const noAdapter = { requestAdapter: async () => null } as unknown as GPU;
    await expect(createEngine({ backend: 'webgpu', gpu: noAdapter })).rejects.toThrow(GpuError);
    const auto = await createEngine({ gpu: noAdapter });
    expect(auto.backend).toBe('cpu-fast');
    expect(auto.reason).toBe('no WebGPU adapter is available');
    expect(auto.description).toBe('CPU (float32, WASM SIMD): no WebGPU adapter is available');
    auto.dispose();
  });
});

describe('GPU timing', () => {
  it('reports the compute pass time from timestamp queries where the adapter has them', async () => {
    const engine = await gpuEngine();
    const model = await engine.load(dense([[1, 2], [3, 4]], [0, 1]));
    const ex = await model.explain(new Float32Array([1, 2]));
    const hasTimestamps = (await (engine.gpu!).requestAdapter())!.features.has('timestamp-query');
    if (hasTimestamps) {
      expect(ex.timings.gpuMs).not.toBeNull();
      expect(ex.timings.gpuMs!).toBeGreaterThan(0);
    } else expect(ex.timings.gpuMs).toBeNull();
    const cpu = await (await (await cpuEngine()).load(dense([[1]], null))).explain(new Float32Array([1]));
    expect(cpu.timings.gpuMs).toBeNull();
  });
});
