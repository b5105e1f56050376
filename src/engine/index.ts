/**
 * Engine entry point: pick a backend, load graphs, explain. The same code runs in the browser (navigator.gpu)
 * and in Node (the `webgpu` package's GPU object, passed in).
 */
import { shapeSize, type Graph } from './graph';
import type { BackendKind, Explanation, ExplainOptions, LoadedModel } from './api';
import { compileForward, compileProgram, inferShapes, withBatch } from './compile';
import { resolveAssignment } from './rule-assignment';
import { CpuProgramRunner } from './cpu/cpu-backend';
import { checkLimits, createGpuSharedForward, GpuError, GpuProgramRunner, type GpuSharedForward } from './gpu/gpu-backend';
import { SharedForward, type ProgramRunner } from './runner';
import { PipelineCache } from './gpu/pipeline-cache';
import type { Program } from './program';

export type { BackendKind, Explanation, ExplainOptions, LoadedModel, ModelStats } from './api';
export type { Graph } from './graph';
export { GpuError } from './gpu/gpu-backend';

export interface EngineOptions {
  /** 'auto' (default): WebGPU when an adapter is available, else the CPU backend. */
  readonly backend?: BackendKind | 'auto';
  /** The WebGPU entry point: navigator.gpu in browsers, the `webgpu` package's create() result in Node. */
  readonly gpu?: GPU;
  /** Told when the GPU device was lost and what the engine did about it. */
  readonly onDeviceLost?: (message: string) => void;
}

export interface Engine {
  readonly backend: BackendKind;
  readonly gpu?: GPU | undefined;
  /** Adapter description, or why the CPU backend runs. */
  readonly description: string;
  load(graph: Graph): Promise<LoadedModel>;
  /** Destroys the device as a driver reset would (tests of the recovery path). */
  simulateDeviceLoss(): void;
  dispose(): void;
}

export class AbortError extends Error {
  override name = 'AbortError';
}

/** Compiled programs kept per model, keyed by rule assignment, so switching back and forth is instant. */
const PROGRAM_CACHE_SIZE = 4;

interface DeviceState {
  readonly device: GPUDevice;
  readonly cache: PipelineCache;
  /** Increments when the device is replaced; runners built on an older one are rebuilt. */
  readonly generation: number;
  lost: boolean;
}

async function requestDevice(gpu: GPU): Promise<{ device: GPUDevice; description: string }> {
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new GpuError('no WebGPU adapter is available');
  const limits = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures: adapter.features.has('timestamp-query') ? ['timestamp-query'] : [],
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

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError('the explanation was cancelled');
}

/** The first layer (in execution order) whose relevance is not finite, and how many values are not. */
function findNonFinite(relevance: Float32Array, layers: Explanation['layers']): Explanation['nonFinite'] {
  const count = (a: Float32Array) => a.reduce((n, v) => (Number.isFinite(v) ? n : n + 1), 0);
  const inInput = count(relevance);
  const bad = layers.filter((l) => count(l.data) > 0);
  if (!inInput && !bad.length) return null;
  // Relevance flows from the output backwards: the deepest layer with bad values produced them.
  const origin = bad.at(-1);
  return { layer: origin ? origin.layer : 'input', count: inInput || count(origin!.data) };
}

export async function createEngine(options: EngineOptions = {}): Promise<Engine> {
  const wanted = options.backend ?? 'auto';
  const gpu = options.gpu ?? (typeof navigator !== 'undefined' ? navigator.gpu : undefined);
  let state: DeviceState | null = null;
  let description = 'CPU';
  let disposed = false;

  const watch = (s: DeviceState) => {
    void s.device.lost.then((info) => {
      s.lost = true;
      if (!disposed && state === s) options.onDeviceLost?.(`the GPU device was lost (${info.reason}: ${info.message || 'no details'}); it is recreated for the next explanation`);
    });
  };
  const newDevice = async (generation: number): Promise<DeviceState> => {
    const { device, description: d } = await requestDevice(gpu!);
    description = d;
    const s: DeviceState = { device, cache: new PipelineCache(device), generation, lost: false };
    watch(s);
    return s;
  };

  if (wanted !== 'cpu') {
    try {
      if (!gpu) throw new GpuError('this environment has no WebGPU');
      state = await newDevice(0);
    } catch (e) {
      if (wanted === 'webgpu') throw e instanceof GpuError ? e : new GpuError(`WebGPU is not available: ${(e as Error).message}`);
      description = `CPU: ${(e as Error).message}`;
    }
  }
  const backend: BackendKind = state ? 'webgpu' : 'cpu';

  /** The live device, recreated after a loss. */
  let recovering: Promise<DeviceState> | null = null;
  const liveDevice = async (): Promise<DeviceState> => {
    if (!state!.lost) return state!;
    recovering ??= newDevice(state!.generation + 1).then(
      (s) => {
        state = s;
        recovering = null;
        return s;
      },
      (e: unknown) => {
        recovering = null;
        throw new GpuError(`the GPU device was lost and could not be recreated: ${(e as Error).message}`);
      },
    );
    return recovering;
  };

  return {
    backend,
    get description() {
      return description;
    },
    // Holding the GPU object keeps Dawn's instance alive as long as the engine (Node crashes otherwise).
    gpu: state ? gpu : undefined,
    async load(graph) {
      const classes = inferShapes(graph).get(graph.output)![1]!;
      interface Entry {
        readonly program: Program;
        readonly generation: number;
        readonly runner: Promise<ProgramRunner>;
      }
      const entries = new Map<string, Entry>();
      // The forward state all of this model's programs share (see Program.forwardTensors), per device.
      let gpuForward: { generation: number; shared: GpuSharedForward } | null = null;
      const cpuForward = new SharedForward<Float64Array[]>([]);
      let batchRunner: { n: number; generation: number; runner: Promise<ProgramRunner> } | null = null;

      const makeRunner = async (program: Program): Promise<{ generation: number; runner: Promise<ProgramRunner> }> => {
        if (backend === 'cpu') return { generation: 0, runner: Promise.resolve(new CpuProgramRunner(program, cpuForward)) };
        const s = await liveDevice();
        checkLimits(s.device, program);
        if (gpuForward?.generation !== s.generation) gpuForward = { generation: s.generation, shared: createGpuSharedForward() };
        return { generation: s.generation, runner: GpuProgramRunner.create(s.device, s.cache, program, gpuForward.shared) };
      };

      const evict = (key: string) => {
        const old = entries.get(key);
        entries.delete(key);
        void old?.runner.then((r) => r.dispose(), () => undefined);
      };

      const entryFor = async (options: ExplainOptions): Promise<Entry> => {
        const key = JSON.stringify(options.rules ?? {});
        let entry = entries.get(key);
        const generation = state?.generation ?? 0;
        if (entry && (entry.generation !== generation || state?.lost)) {
          evict(key);
          entry = undefined;
        }
        if (entry) {
          entries.delete(key);
        } else {
          const program = entry ?? compileProgram(graph, resolveAssignment(graph, options.rules));
          const made = await makeRunner(program);
          entry = { program, ...made };
          made.runner.catch(() => entries.delete(key));
        }
        entries.set(key, entry); // most recently used last
        while (entries.size > PROGRAM_CACHE_SIZE) evict(entries.keys().next().value!);
        return entry;
      };

      /** Runs on the live device; if the device is lost during the run, recreates it and runs once more. */
      const run = async (options: ExplainOptions, request: Parameters<ProgramRunner['run']>[0]) => {
        for (let attempt = 0; ; attempt++) {
          const entry = await entryFor(options);
          try {
            const runner = await entry.runner;
            return { entry, result: await runner.run(request) };
          } catch (e) {
            const lost = backend === 'webgpu' && (state!.lost || entry.generation !== state!.generation);
            if (!lost || attempt > 0) throw e;
          }
        }
      };

      const model: LoadedModel = {
        graph,
        backend,
        async explain(input, options = {}): Promise<Explanation> {
          const start = performance.now();
          throwIfAborted(options.signal);
          for (const [what, t] of [['target', options.target], ['contrast target', options.contrastTarget]] as const) {
            if (t !== undefined && !(Number.isInteger(t) && t >= 0 && t < classes)) {
              throw new RangeError(`${what} ${t} is not a class index of this model (0 to ${classes - 1})`);
            }
          }
          const { entry, result } = await run(options, {
            input,
            target: options.target ?? -1,
            contrastTarget: options.contrastTarget ?? -1,
            layerRelevance: options.layerRelevance ?? true,
          });
          throwIfAborted(options.signal);
          const outputs = entry.program.outputs.layers;
          const layers = result.layers.map((data, i) => ({ layer: outputs[i]!.layer, shape: outputs[i]!.ref.shape, data }));
          return {
            logits: result.logits,
            target: result.target,
            relevance: result.relevance,
            inputShape: graph.input.shape,
            layers,
            nonFinite: findNonFinite(result.relevance, layers),
            timings: { totalMs: performance.now() - start, gpuMs: result.work.gpuMs ?? null },
            work: { forward: result.work.forward, relevanceSteps: result.work.relevanceSteps, ofRelevanceSteps: entry.program.relevanceSteps.length },
            backend,
          };
        },
        async forward(input) {
          const last = [...entries.keys()].at(-1);
          const options = last === undefined ? {} : { rules: JSON.parse(last) as ExplainOptions['rules'] };
          const { result } = await run(options, { input, target: -1, contrastTarget: -1, layerRelevance: false, forwardOnly: true });
          return result.logits;
        },
        async forwardBatch(inputs, n) {
          const size = shapeSize(graph.input.shape);
          if (inputs.length !== n * size) throw new RangeError(`a batch of ${n} needs ${n * size} values, got ${inputs.length}`);
          if (batchRunner?.n !== n || batchRunner.generation !== (state?.generation ?? 0) || state?.lost) {
            void batchRunner?.runner.then((r) => r.dispose(), () => undefined);
            const program = compileForward(withBatch(graph, n));
            // A batch program has its own forward state: its shapes differ from the explanation programs'.
            const made =
              backend === 'cpu'
                ? { generation: 0, runner: Promise.resolve<ProgramRunner>(new CpuProgramRunner(program)) }
                : await (async () => {
                    const s = await liveDevice();
                    checkLimits(s.device, program);
                    return { generation: s.generation, runner: GpuProgramRunner.create(s.device, s.cache, program, createGpuSharedForward()) };
                  })();
            batchRunner = { n, ...made };
          }
          const runner = await batchRunner.runner;
          const result = await runner.run({ input: inputs, target: -1, contrastTarget: -1, layerRelevance: false, forwardOnly: true });
          return result.logits;
        },
        stats() {
          let bufferBytes = 0;
          for (const { program } of entries.values()) for (const t of program.tensors) bufferBytes += t.size * (backend === 'cpu' ? 8 : 4);
          return { programs: entries.size, bufferBytes };
        },
        dispose() {
          for (const key of [...entries.keys()]) evict(key);
          void batchRunner?.runner.then((r) => r.dispose(), () => undefined);
          batchRunner = null;
          for (const b of gpuForward?.shared.storage.buffers ?? []) b.destroy();
          cpuForward.storage.length = 0;
        },
      };
      return model;
    },
    simulateDeviceLoss() {
      state?.device.destroy();
    },
    dispose() {
      disposed = true;
      state?.device.destroy();
    },
  };
}
