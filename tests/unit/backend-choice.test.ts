// The 'auto' backend policy the app, the CLI and the library share (src/engine/backend-choice.ts, createEngine).
import { describe, expect, it } from 'vitest';
import { adapterName, isSoftwareAdapter, softwareAdapterReason } from '../../src/engine/backend-choice';
import { createEngine, GpuError } from '../../src/engine/index';

/** A WebGPU entry point whose one adapter has this info; requestDevice is never reached for a software one. */
const gpuWith = (info: GPUAdapterInfo | null): GPU =>
  ({
    requestAdapter: async () =>
      info && {
        info,
        features: new Set(),
        limits: {},
        requestDevice: async () => {
          throw new Error('device creation refused (test adapter)');
        },
      },
  }) as unknown as GPU;

const info = (fields: Partial<GPUAdapterInfo> & { isFallbackAdapter?: boolean }): GPUAdapterInfo => fields as GPUAdapterInfo;

describe('software adapters', () => {
  it.each([
    [{ vendor: 'google', architecture: 'swiftshader', device: '', description: '' }, true],
    [{ vendor: 'mesa', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' }, true],
    [{ vendor: 'mesa', description: 'lavapipe' }, true],
    [{ vendor: 'microsoft', description: 'Microsoft Basic Render Driver' }, true],
    [{ vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H100 80GB HBM3' }, false],
    [{ vendor: 'apple', architecture: 'metal-3' }, false],
    [{ vendor: 'intel', isFallbackAdapter: true }, true],
  ])('%o is software: %s', (fields, software) => {
    expect(isSoftwareAdapter(info(fields))).toBe(software);
    expect(softwareAdapterReason(info(fields)) === null).toBe(!software);
  });

  it('names an adapter from whatever fields it fills', () => {
    expect(adapterName(info({ vendor: 'nvidia', architecture: 'hopper' }))).toBe('nvidia hopper');
    expect(adapterName(info({}))).toBe('WebGPU adapter');
    expect(adapterName(undefined)).toBe('WebGPU adapter');
  });
});

describe("createEngine({ backend: 'auto' })", () => {
  it('passes over a software adapter for the fast CPU backend and says why', async () => {
    const engine = await createEngine({ gpu: gpuWith(info({ vendor: 'google', architecture: 'swiftshader' })) });
    expect(engine.backend).toBe('cpu-fast');
    expect(engine.reason).toBe('the WebGPU adapter is google swiftshader, a software renderer');
    expect(engine.description).toBe('CPU (float32, WASM SIMD): the WebGPU adapter is google swiftshader, a software renderer');
    engine.dispose();
  });

  it('falls back when a hardware adapter fails to give a device, naming the failure', async () => {
    const engine = await createEngine({ gpu: gpuWith(info({ vendor: 'nvidia', architecture: 'hopper' })) });
    expect(engine.backend).toBe('cpu-fast');
    expect(engine.reason).toBe('WebGPU failed to start (device creation refused (test adapter))');
    engine.dispose();
  });

  it('reports why there is no WebGPU entry point at all', async () => {
    const engine = await createEngine({ gpuProblem: 'Dawn did not load: libvulkan.so.1 missing' });
    // Node has no navigator.gpu, so this is what the CLI and lrp-lens/node see when Dawn fails.
    expect(engine.backend).toBe('cpu-fast');
    expect(engine.reason).toBe('Dawn did not load: libvulkan.so.1 missing');
    engine.dispose();
    await expect(createEngine({ backend: 'webgpu', gpuProblem: 'Dawn did not load' })).rejects.toThrow(new GpuError('Dawn did not load'));
  });

  it('keeps a named backend without a reason', async () => {
    const cpu = await createEngine({ backend: 'cpu', gpu: gpuWith(null) });
    expect([cpu.backend, cpu.reason, cpu.description]).toEqual(['cpu', null, 'CPU']);
    const fast = await createEngine({ backend: 'cpu-fast' });
    expect([fast.backend, fast.reason]).toEqual(['cpu-fast', null]);
    cpu.dispose();
    fast.dispose();
  });
});
