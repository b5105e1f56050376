/**
 * Engine entry point: pick a backend, load graphs, explain. The same code runs in the browser (navigator.gpu)
 * and in Node (the `webgpu` package's GPU object, passed in).
 */
import { shapeSize, type Graph, type Shape } from './graph';
import type { BackendKind, Explanation, ExplainOptions, LayerHook, LoadedModel } from './api';
import { compileForward, compileProgram, inferShapes, withBatch, type HookSite } from './compile';
import { resolveAssignment } from './rule-assignment';
import { patchProgram } from './program-patch';
import type { ResolvedLayerRule } from '../rules/assignment';
import { CpuProgramRunner } from './cpu/cpu-backend';
import { createFastSharedForward, disposeFastShared, FastCpuProgramRunner } from './cpu/fast-backend';
import { WasmArena } from './wasm/fast-wasm';
import { adapterName, softwareAdapterReason } from './backend-choice';
import { checkLimits, createGpuSharedForward, GpuError, GpuProgramRunner, type GpuSharedForward } from './gpu/gpu-backend';
import { SharedForward, type ProgramRunner, type RunRequest, type RunResult } from './runner';
import { PipelineCache } from './gpu/pipeline-cache';
import type { Program } from './program';

export type { BackendKind, Explanation, ExplainOptions, HookObservation, LayerHook, LoadedModel, ModelStats, SeedMode } from './api';
export type { Graph } from './graph';
export { GpuError } from './gpu/gpu-backend';
export { explainBatch, explainTargets, type BatchOptions } from './batch';
export { channelRelevance, conceptMask, explainConcept, rankConcepts, type ConceptExplanation, type ConceptOptions, type ConceptRanking } from './concepts';
export {
  gaussianNoise,
  GRADIENT_RULES,
  gradientTimesInput,
  inputGradient,
  integratedGradients,
  integrationPoints,
  smoothGrad,
  type Attribution,
  type AttributionMethod,
  type GradientOptions,
  type IntegratedGradientsOptions,
  type IntegrationRule,
  type SmoothGradOptions,
} from './attribution-methods';

export interface EngineOptions {
  /**
   * 'auto' (default): WebGPU on a hardware adapter; else (a software adapter, none, or one that fails to start) the
   * fast CPU backend, or the float64 one where WebAssembly SIMD is missing (./backend-choice.ts; Engine.reason
   * says why).
   */
  readonly backend?: BackendKind | 'auto';
  /** The WebGPU entry point: navigator.gpu in browsers, the `webgpu` package's create() result in Node. */
  readonly gpu?: GPU;
  /** Why there is no `gpu` (e.g. Dawn failed to load), for the message: 'webgpu' fails with it, 'auto' reports it. */
  readonly gpuProblem?: string;
  /** Told when the GPU device was lost and what the engine did about it. */
  readonly onDeviceLost?: (message: string) => void;
}

export interface Engine {
  readonly backend: BackendKind;
  readonly gpu?: GPU | undefined;
  /** Adapter description; for a CPU backend 'auto' chose, the backend's name and why. */
  readonly description: string;
  /** Why 'auto' did not run on WebGPU (no adapter, a software one...); null when it did, or when a backend was named. */
  readonly reason: string | null;
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

const requestAdapter = (gpu: GPU): Promise<GPUAdapter | null> => gpu.requestAdapter({ powerPreference: 'high-performance' });

async function requestDevice(gpu: GPU, found?: GPUAdapter): Promise<{ device: GPUDevice; description: string }> {
  const adapter = found ?? (await requestAdapter(gpu));
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
  return { device, description: adapterName(info) };
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

/** patchProgram, or null where it fails: compiling then reports the rules' problem the way it always does. */
function tryPatch(...args: Parameters<typeof patchProgram>): Program | null {
  try {
    return patchProgram(...args);
  } catch {
    return null;
  }
}

/** What a compiled program depends on: the rules and where hooks read and scale. */
interface CompileSpec {
  readonly rules: ExplainOptions['rules'];
  readonly hooks: readonly HookSite[];
}

/**
 * ExplainOptions.hooks as compile sites and per-run factors, checked against the layers' output shapes: a scale
 * has one factor per channel along the axis (mode 'channel') or one per element ('element').
 */
export function resolveHooks(graph: Graph, shapes: ReadonlyMap<string, Shape>, hooks: readonly LayerHook[]): { sites: HookSite[]; scales: Float32Array[] } {
  const sites: HookSite[] = [];
  const scales: Float32Array[] = [];
  for (const hook of hooks) {
    const node = graph.nodes.find((n) => n.name === hook.layer);
    if (!node) throw new RangeError(`hook: no layer named "${hook.layer}"`);
    const shape = shapes.get(node.output)!;
    const rank = shape.length;
    const given = hook.axis ?? 1;
    const axis = given < 0 ? given + rank : given;
    if (!Number.isInteger(given) || axis < 0 || axis >= rank) throw new RangeError(`hook at "${hook.layer}": axis ${given} is not an axis of its output [${shape.join(', ')}]`);
    if (!hook.scale) {
      sites.push({ layer: hook.layer, mode: 'observe' });
      continue;
    }
    const n = hook.scale.length;
    const mode = n === shape[axis] ? 'channel' : n === shapeSize(shape) ? 'element' : null;
    if (!mode) {
      throw new RangeError(`hook at "${hook.layer}": ${n} factors, but its output [${shape.join(', ')}] has ${shape[axis]} channels along axis ${axis} and ${shapeSize(shape)} elements`);
    }
    const values = Float32Array.from(hook.scale);
    if (values.some((v) => !Number.isFinite(v))) throw new RangeError(`hook at "${hook.layer}": the factors must be finite numbers`);
    sites.push(mode === 'channel' ? { layer: hook.layer, mode, axis } : { layer: hook.layer, mode });
    scales.push(values);
  }
  return { sites, scales };
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
  const newDevice = async (generation: number, adapter?: GPUAdapter): Promise<DeviceState> => {
    const { device, description: d } = await requestDevice(gpu!, adapter);
    description = d;
    const s: DeviceState = { device, cache: new PipelineCache(device), generation, lost: false };
    watch(s);
    return s;
  };

  /** Why 'auto' runs on a CPU backend (./backend-choice.ts). */
  let reason: string | null = null;
  const failure = (e: unknown): string => (e as Error).message.replace(/^WebGPU is not available: /, '');
  if (wanted === 'webgpu') {
    try {
      if (!gpu) throw new GpuError(options.gpuProblem ?? 'this environment has no WebGPU');
      state = await newDevice(0);
    } catch (e) {
      throw e instanceof GpuError ? e : new GpuError(`WebGPU is not available: ${(e as Error).message}`);
    }
  } else if (wanted === 'auto') {
    const adapter = gpu ? await requestAdapter(gpu).catch(() => null) : null;
    if (!gpu) reason = options.gpuProblem ?? 'this environment has no WebGPU';
    else if (!adapter) reason = 'no WebGPU adapter is available';
    else reason = softwareAdapterReason(adapter.info);
    if (adapter && reason === null) {
      try {
        state = await newDevice(0, adapter);
      } catch (e) {
        reason = `WebGPU failed to start (${failure(e)})`;
      }
    }
  }
  let backend: BackendKind = state ? 'webgpu' : wanted === 'cpu' ? 'cpu' : 'cpu-fast';
  if (backend === 'cpu-fast') {
    // Fails here, not at the first explanation, where WebAssembly SIMD is missing or blocked (a CSP without
    // 'wasm-unsafe-eval').
    try {
      await WasmArena.create();
      description = 'CPU (float32, WASM SIMD)';
    } catch (e) {
      if (wanted === 'cpu-fast') throw new Error(`the cpu-fast backend needs WebAssembly with SIMD: ${(e as Error).message}`, { cause: e });
      backend = 'cpu';
      reason = `${reason}; no WebAssembly SIMD here (${(e as Error).message}), so the float64 CPU backend runs`;
    }
  }
  if (reason !== null) description = `${description}: ${reason}`;

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
    reason,
    // Holding the GPU object keeps Dawn's instance alive as long as the engine (Node crashes otherwise).
    gpu: state ? gpu : undefined,
    async load(graph) {
      const shapes = inferShapes(graph);
      const classes = shapes.get(graph.output)![1]!;
      interface Entry {
        readonly spec: CompileSpec;
        readonly rules: ReadonlyMap<string, ResolvedLayerRule>;
        readonly program: Program;
        /** How the program was made, and whether an explanation has used it yet (Explanation.work.program). */
        readonly made: 'patched' | 'compiled';
        used: boolean;
        readonly generation: number;
        readonly runner: Promise<ProgramRunner>;
      }
      const entries = new Map<string, Entry>();
      // The forward state all of this model's programs share (see Program.forwardTensors), per device.
      let gpuForward: { generation: number; shared: GpuSharedForward } | null = null;
      const cpuForward = new SharedForward<Float64Array[]>([]);
      const fastForward = createFastSharedForward();
      let batchRunner: { n: number; generation: number; runner: Promise<ProgramRunner> } | null = null;

      const makeRunner = async (program: Program): Promise<{ generation: number; runner: Promise<ProgramRunner> }> => {
        if (backend === 'cpu') return { generation: 0, runner: Promise.resolve(new CpuProgramRunner(program, cpuForward)) };
        if (backend === 'cpu-fast') return { generation: 0, runner: FastCpuProgramRunner.create(program, fastForward) };
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

      const entryFor = async (spec: CompileSpec): Promise<Entry> => {
        // Without hooks, the key is the rules alone (as before hooks existed).
        const key = JSON.stringify(spec.rules ?? {}) + (spec.hooks.length ? `\u0000hooks:${JSON.stringify(spec.hooks)}` : '');
        let entry = entries.get(key);
        const generation = state?.generation ?? 0;
        if (entry && (entry.generation !== generation || state?.lost)) {
          evict(key);
          entry = undefined;
        }
        if (entry) {
          entries.delete(key);
        } else {
          const rules = resolveAssignment(graph, spec.rules);
          // New numbers in a few layers' rules (a slider): the most recent program patched, else compiled.
          const recent = spec.hooks.length ? undefined : [...entries.values()].at(-1);
          const patched = recent && !recent.spec.hooks.length ? tryPatch(graph, recent.program, recent.rules, rules) : null;
          const program = patched ?? compileProgram(graph, rules, spec.hooks.length ? { hooks: spec.hooks } : {});
          const made = await makeRunner(program);
          entry = { spec, rules, program, made: patched ? 'patched' : 'compiled', used: false, ...made };
          made.runner.catch(() => entries.delete(key));
        }
        entries.set(key, entry); // most recently used last
        while (entries.size > PROGRAM_CACHE_SIZE) evict(entries.keys().next().value!);
        return entry;
      };

      /** Runs on the live device; if the device is lost during the run, recreates it and runs once more. */
      const run = async (spec: CompileSpec, request: Parameters<ProgramRunner['run']>[0]) => {
        for (let attempt = 0; ; attempt++) {
          const entry = await entryFor(spec);
          try {
            const runner = await entry.runner;
            return { entry, result: await runner.run(request) };
          } catch (e) {
            const lost = backend === 'webgpu' && (state!.lost || entry.generation !== state!.generation);
            if (!lost || attempt > 0) throw e;
          }
        }
      };

      /** run() for several requests: one submission where the runner has runMany (WebGPU), else one run each. */
      const runAll = async (spec: CompileSpec, requests: readonly RunRequest[]) => {
        for (let attempt = 0; ; attempt++) {
          const entry = await entryFor(spec);
          try {
            const runner = await entry.runner;
            if (runner.runMany) return { entry, results: await runner.runMany(requests) };
            const results: RunResult[] = [];
            for (const request of requests) results.push(await runner.run(request));
            return { entry, results };
          } catch (e) {
            const lost = backend === 'webgpu' && (state!.lost || entry.generation !== state!.generation);
            if (!lost || attempt > 0) throw e;
          }
        }
      };

      /** Checks an explanation's options; the compile spec and the run request they give for an input and target. */
      const prepare = (options: ExplainOptions, targets: readonly (number | undefined)[] = [options.target]) => {
        for (const [what, t] of [...targets.map((t) => ['target', t] as const), ['contrast target', options.contrastTarget] as const]) {
          if (t !== undefined && !(Number.isInteger(t) && t >= 0 && t < classes)) {
            throw new RangeError(`${what} ${t} is not a class index of this model (0 to ${classes - 1})`);
          }
        }
        if (options.seed !== undefined && options.seed !== 'logit' && options.seed !== 'one') throw new RangeError(`seed must be "logit" or "one", got ${String(options.seed)}`);
        const hooks = options.hooks?.length ? resolveHooks(graph, shapes, options.hooks) : null;
        const spec: CompileSpec = { rules: options.rules, hooks: hooks?.sites ?? [] };
        const request = (input: Float32Array, target: number | undefined): RunRequest => ({
          input,
          target: target ?? -1,
          contrastTarget: options.contrastTarget ?? -1,
          layerRelevance: options.layerRelevance ?? true,
          ...(options.seed === 'one' ? { seed: 'one' as const } : {}),
          ...(hooks ? { hookScales: hooks.scales } : {}),
        });
        return { spec, request };
      };

      /** A run's result as the Explanation explain() returns. */
      const explanation = (entry: Entry, result: RunResult, start: number): Explanation => {
        const used = entry.used;
        entry.used = true;
        const outputs = entry.program.outputs.layers;
        const layers = result.layers.map((data, i) => ({ layer: outputs[i]!.layer, shape: outputs[i]!.ref.shape, data }));
        const observed = entry.program.outputs.hooks;
        return {
          ...(observed && result.hooks
            ? { hooks: observed.map((h, i) => ({ layer: h.layer, shape: h.activation.shape, activation: result.hooks![i]!.activation, relevance: result.hooks![i]!.relevance })) }
            : {}),
          logits: result.logits,
          target: result.target,
          relevance: result.relevance,
          inputShape: graph.input.shape,
          layers,
          nonFinite: findNonFinite(result.relevance, layers),
          timings: { totalMs: performance.now() - start, gpuMs: result.work.gpuMs ?? null },
          work: {
            forward: result.work.forward,
            relevanceSteps: result.work.relevanceSteps,
            ofRelevanceSteps: entry.program.relevanceSteps.length,
            cachedSteps: result.work.cachedSteps ?? 0,
            program: used ? 'cached' : entry.made,
          },
          backend,
        };
      };

      const model: LoadedModel = {
        graph,
        backend,
        async explainMany(inputs, options = {}): Promise<Explanation[]> {
          const start = performance.now();
          throwIfAborted(options.signal);
          const { targets, ...common } = options;
          if (targets !== undefined && targets.length !== inputs.length) throw new RangeError(`explainMany: ${targets.length} targets for ${inputs.length} inputs`);
          const per = targets ?? inputs.map(() => common.target);
          const { spec, request } = prepare(common, per);
          if (inputs.length === 0) return [];
          const { entry, results } = await runAll(spec, inputs.map((x, i) => request(x, per[i])));
          throwIfAborted(options.signal);
          return results.map((result) => explanation(entry, result, start));
        },
        async explain(input, options = {}): Promise<Explanation> {
          const start = performance.now();
          throwIfAborted(options.signal);
          const { spec, request } = prepare(options);
          const { entry, result } = await run(spec, request(input, options.target));
          throwIfAborted(options.signal);
          return explanation(entry, result, start);
        },
        async forward(input) {
          const last = [...entries.values()].at(-1);
          const { result } = await run(last?.spec ?? { rules: undefined, hooks: [] }, { input, target: -1, contrastTarget: -1, layerRelevance: false, forwardOnly: true });
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
                : backend === 'cpu-fast'
                  ? { generation: 0, runner: FastCpuProgramRunner.create(program) as Promise<ProgramRunner> }
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
          // The forward state (the tensors below forwardTensors: weights, activations, every value's relevance) is
          // one storage all programs of the model share: counted once; the rest of each program per program.
          const bytes = backend === 'cpu' ? 8 : 4;
          let bufferBytes = 0;
          let forwardCounted = false;
          for (const { program } of entries.values()) {
            program.tensors.forEach((t, id) => {
              if (id >= program.forwardTensors || !forwardCounted) bufferBytes += t.size * bytes;
            });
            forwardCounted = true;
          }
          return { programs: entries.size, bufferBytes };
        },
        dispose() {
          for (const key of [...entries.keys()]) evict(key);
          void batchRunner?.runner.then((r) => r.dispose(), () => undefined);
          batchRunner = null;
          for (const b of gpuForward?.shared.storage.buffers ?? []) b.destroy();
          cpuForward.storage.length = 0;
          disposeFastShared(fastForward);
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
