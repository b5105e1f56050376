/**
 * Engine entry point: pick a backend, load graphs, explain. The same code runs in the browser (navigator.gpu)
 * and in Node (the `webgpu` package's GPU object, passed in).
 */
import type { Graph } from './graph';
import type { BackendKind, Explanation, ExplainOptions, LoadedModel } from './api';
import { compileProgram, inferShapes } from './compile';
import { resolveAssignment } from '../rules/assignment';
import { CpuProgramRunner } from './cpu/cpu-backend';
import { createGpuSharedForward, GpuError, GpuProgramRunner } from './gpu/gpu-backend';
import { SharedForward } from './runner';
import { PipelineCache } from './gpu/pipeline-cache';
import type { ProgramRunner } from './runner';
import type { Program } from './program';

export type { BackendKind, Explanation, ExplainOptions, LoadedModel } from './api';
export type { Graph } from './graph';

export interface EngineOptions {
  /** 'auto' (default): WebGPU when an adapter is available, else the CPU backend. */
  readonly backend?: BackendKind | 'auto';
  /** The WebGPU entry point: navigator.gpu in browsers, the `webgpu` package's create() result in Node. */
  readonly gpu?: GPU;
}

export interface Engine {
  readonly backend: BackendKind;
  readonly gpu?: GPU | undefined;
  /** Adapter description, or why the CPU backend runs. */
  readonly description: string;
  load(graph: Graph): Promise<LoadedModel>;
  dispose(): void;
}

/** Compiled programs kept per model, keyed by rule assignment, so switching back and forth is instant. */
const PROGRAM_CACHE_SIZE = 4;

async function requestDevice(gpu: GPU): Promise<{ device: GPUDevice; description: string }> {
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new GpuError('no WebGPU adapter is available');
  const limits = adapter.limits;
  const device = await adapter.requestDevice({
    requiredLimits: {
      // Ask for what large models need, within what the adapter offers (never its full limits).
      maxStorageBufferBindingSize: Math.min(limits.maxStorageBufferBindingSize, 1 << 30),
      maxBufferSize: Math.min(limits.maxBufferSize, 1 << 30),
      maxStorageBuffersPerShaderStage: Math.min(limits.maxStorageBuffersPerShaderStage, 8),
    },
  });
  const info = adapter.info;
  const description = [info?.vendor, info?.architecture, info?.device, info?.description].filter(Boolean).join(' ') || 'WebGPU adapter';
  return { device, description };
}

export async function createEngine(options: EngineOptions = {}): Promise<Engine> {
  const wanted = options.backend ?? 'auto';
  const gpu = options.gpu ?? (typeof navigator !== 'undefined' ? navigator.gpu : undefined);
  let device: GPUDevice | null = null;
  let description = 'CPU';
  if (wanted !== 'cpu') {
    try {
      if (!gpu) throw new GpuError('this environment has no WebGPU');
      ({ device, description } = await requestDevice(gpu));
    } catch (e) {
      if (wanted === 'webgpu') throw e instanceof GpuError ? e : new GpuError(`WebGPU is not available: ${(e as Error).message}`);
      description = `CPU: ${(e as Error).message}`;
    }
  }
  const backend: BackendKind = device ? 'webgpu' : 'cpu';
  const cache = device ? new PipelineCache(device) : null;


  return {
    backend,
    description,
    // Holding the GPU object keeps Dawn's instance alive as long as the engine (Node crashes otherwise).
    gpu: device ? gpu : undefined,
    async load(graph) {
      const classes = inferShapes(graph).get(graph.output)![1]!;
      const runners = new Map<string, Promise<ProgramRunner>>();
      // The forward state all of this model's programs share (see Program.forwardTensors).
      const gpuForward = device ? createGpuSharedForward() : null;
      const cpuForward = new SharedForward<Float64Array[]>([]);
      const makeRunner = async (program: Program): Promise<ProgramRunner> =>
        device ? GpuProgramRunner.create(device, cache!, program, gpuForward!) : new CpuProgramRunner(program, cpuForward);
      const programs = new Map<string, Program>();
      const runnerFor = (options: ExplainOptions): Promise<ProgramRunner> => {
        const key = JSON.stringify(options.rules ?? {});
        let runner = runners.get(key);
        if (runner) {
          runners.delete(key);
        } else {
          const rules = resolveAssignment(graph, options.rules);
          const program = compileProgram(graph, rules);
          programs.set(key, program);
          runner = makeRunner(program);
          runner.catch(() => {
            runners.delete(key);
            programs.delete(key);
          });
        }
        runners.set(key, runner); // most recently used last
        while (runners.size > PROGRAM_CACHE_SIZE) {
          const [oldKey, old] = runners.entries().next().value as [string, Promise<ProgramRunner>];
          runners.delete(oldKey);
          programs.delete(oldKey);
          void old.then((r) => r.dispose(), () => undefined);
        }
        return runner;
      };
      const model: LoadedModel = {
        graph,
        backend,
        async explain(input, options = {}): Promise<Explanation> {
          const start = performance.now();
          const runner = await runnerFor(options);
          for (const [what, t] of [['target', options.target], ['contrast target', options.contrastTarget]] as const) {
            if (t !== undefined && !(Number.isInteger(t) && t >= 0 && t < classes)) {
              throw new RangeError(`${what} ${t} is not a class index of this model (0 to ${classes - 1})`);
            }
          }
          const result = await runner.run({
            input,
            target: options.target ?? -1,
            contrastTarget: options.contrastTarget ?? -1,
            layerRelevance: options.layerRelevance ?? true,
          });
          const layers = runner.program.outputs.layers;
          return {
            logits: result.logits,
            target: result.target,
            relevance: result.relevance,
            inputShape: graph.input.shape,
            layers: result.layers.map((data, i) => ({ layer: layers[i]!.layer, shape: layers[i]!.ref.shape, data })),
            timings: { totalMs: performance.now() - start },
            backend,
          };
        },
        async forward(input) {
          const runner = await (runners.size ? [...runners.values()].at(-1)! : runnerFor({}));
          const result = await runner.run({ input, target: -1, contrastTarget: -1, layerRelevance: false, forwardOnly: true });
          return result.logits;
        },
        stats() {
          let bufferBytes = 0;
          for (const p of programs.values()) for (const t of p.tensors) bufferBytes += t.size * (backend === 'cpu' ? 8 : 4);
          return { programs: programs.size, bufferBytes };
        },
        dispose() {
          for (const r of runners.values()) void r.then((x) => x.dispose(), () => undefined);
          runners.clear();
          for (const b of gpuForward?.storage.buffers ?? []) b.destroy();
          cpuForward.storage.length = 0;
        },
      };
      return model;
    },
    dispose() {
      device?.destroy();
    },
  };
}
