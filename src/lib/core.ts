/**
 * The package's facade over the engine (src/engine): open the model's files (src/models/builtin.ts, as the app
 * and the CLI do), fold BatchNorm or not, load the graph on a backend (createEngine), and explain. Browser-safe;
 * ./index.ts and ./node.ts only differ in where files and the GPU come from.
 */
import { applyBatchNorm } from '../session/batchnorm';
import { shapeSize } from '../engine/graph';
import { createEngine } from '../engine/index';
import { encodeNpy as encodeNpyArray, parseNpy as parseNpyArray, toFloat32 } from '../engine/io/npy';
import { openModelFiles } from '../models/builtin';
import { graphClasses } from '../models/model-card';
import type { LayerRuleEntry, RuleAssignment as EngineRuleAssignment } from '../rules/assignment';
import { composites } from '../rules/composites';
import { LrpLensError } from './errors.js';
import type { ModelFileBytes } from './sources.js';
import type { ExplainOptions, Explanation, GpuLike, LoadModelOptions, LrpModel, NpyTensor, Preset, RuleAssignment } from './types.js';

/** The preset names `rules.preset` takes. */
export const PRESETS: readonly Preset[] = composites.map((c) => c.id as Preset);

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0]!;

/** Reads a .npy file's bytes (float32/float64/int/uint8/bool, C order) as float32. */
export function parseNpy(bytes: Uint8Array | ArrayBuffer): NpyTensor {
  const arr = parseNpyArray(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes));
  return { shape: arr.shape, data: toFloat32(arr) };
}

/** A float32 .npy file's bytes (e.g. an explanation's relevance with its inputShape). */
export function encodeNpy(data: Float32Array, shape: readonly number[]): Uint8Array {
  return encodeNpyArray(data, shape);
}

/** The rules when none are given: as the app and the CLI. */
const DEFAULT_RULES: EngineRuleAssignment = { preset: 'EpsilonPlusFlat' };

/** The engine's form of a rule assignment: `layers` as a list. */
function engineRules(rules: RuleAssignment | undefined): EngineRuleAssignment {
  if (rules === undefined) return DEFAULT_RULES;
  if (typeof rules !== 'object' || rules === null) throw new LrpLensError('rules must be an object: { preset, presetParams, layers }');
  const { layers, ...rest } = rules;
  if (layers === undefined || Array.isArray(layers)) return rules as EngineRuleAssignment;
  if (typeof layers !== 'object' || layers === null) throw new LrpLensError('rules.layers must be a list of { layer, rule, ...params } or an object keyed by layer');
  const list = Object.entries(layers as Record<string, object>).map(([layer, choice]): LayerRuleEntry => {
    if (typeof choice !== 'object' || choice === null) throw new LrpLensError(`rules.layers["${layer}"] must be { rule, ...params }`);
    return { ...(choice as object), layer } as LayerRuleEntry;
  });
  return { ...(rest as EngineRuleAssignment), layers: list };
}

function toInput(input: Float32Array | ArrayLike<number>, size: number, shape: readonly number[]): Float32Array {
  if (input === null || typeof input !== 'object' || typeof input.length !== 'number') {
    throw new LrpLensError(`the input must be a Float32Array of ${size} values (shape [${shape.join(', ')}])`);
  }
  if (input.length !== size) throw new LrpLensError(`the input has ${input.length} values; the model takes ${size} (shape [${shape.join(', ')}])`);
  return input instanceof Float32Array ? input : Float32Array.from(input);
}

/**
 * Opens the model's files and loads it on the backend. `gpu`: the WebGPU entry point (undefined: navigator.gpu
 * where there is one); `gpuProblem`: why there is none (for the message when backend 'webgpu' was asked for).
 */
export async function loadModelFiles(files: readonly ModelFileBytes[], options: LoadModelOptions, gpu: GpuLike | undefined, gpuProblem?: string): Promise<LrpModel> {
  const backend = options.backend ?? 'auto';
  if (backend !== 'auto' && backend !== 'webgpu' && backend !== 'cpu' && backend !== 'cpu-fast') throw new LrpLensError(`backend "${String(backend)}" is not one of 'webgpu', 'cpu', 'cpu-fast', 'auto'`);
  const batchNorm = options.batchNorm ?? 'merge';
  if (batchNorm !== 'merge' && batchNorm !== 'layer') throw new LrpLensError(`batchNorm "${String(batchNorm)}" is not one of 'merge', 'layer'`);
  const opened = openModelFiles(files); // ModelImportError naming the file for anything wrong with the model
  const { graph } = applyBatchNorm(opened.graph, batchNorm === 'merge');

  let engine: Awaited<ReturnType<typeof createEngine>>;
  try {
    engine = await createEngine({ backend, ...(gpu ? { gpu: gpu as unknown as GPU } : {}), ...(gpuProblem !== undefined ? { gpuProblem } : {}) });
  } catch (e) {
    if (backend !== 'webgpu') throw e;
    throw new LrpLensError(`backend 'webgpu' was asked for, but WebGPU is not available: ${message(e).replace(/^WebGPU is not available: /, '')}`);
  }
  let loaded: Awaited<ReturnType<typeof engine.load>>;
  try {
    loaded = await engine.load(graph);
  } catch (e) {
    engine.dispose();
    throw e;
  }

  const inputShape = graph.input.shape;
  const size = shapeSize(inputShape);
  const classes = graphClasses(graph);
  const layerNames = new Set(graph.nodes.map((n) => n.name));
  let disposed = false;
  const live = (): void => {
    if (disposed) throw new LrpLensError('the model was disposed');
  };

  return {
    name: opened.modelFile.split(/[\\/]/).pop() ?? opened.modelFile,
    format: opened.format,
    backend: engine.backend,
    backendDescription: engine.description,
    inputShape,
    classes,
    layers: graph.nodes.map((n) => ({ name: n.name, op: n.op })),
    notes: opened.notes,
    async explain(input, options: ExplainOptions = {}): Promise<Explanation> {
      live();
      const x = toInput(input, size, inputShape);
      const wanted = options.layers ?? false;
      if (Array.isArray(wanted)) {
        const unknown = wanted.filter((l) => !layerNames.has(l));
        if (unknown.length > 0) throw new LrpLensError(`no layer named ${unknown.map((l) => `"${l}"`).join(', ')} (layers: ${[...layerNames].join(', ')})`);
      } else if (typeof wanted !== 'boolean') {
        throw new LrpLensError('layers must be true, false or a list of layer names');
      }
      const start = performance.now();
      const e = await loaded.explain(x, {
        ...(options.target !== undefined ? { target: options.target } : {}),
        ...(options.contrastTarget !== undefined ? { contrastTarget: options.contrastTarget } : {}),
        rules: engineRules(options.rules),
        layerRelevance: wanted !== false,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      const keep = Array.isArray(wanted) ? new Set(wanted) : null;
      return {
        relevance: e.relevance,
        inputShape: e.inputShape,
        logits: e.logits,
        target: e.target,
        contrastTarget: options.contrastTarget ?? null,
        layers: wanted === false ? [] : e.layers.filter((l) => keep === null || keep.has(l.layer)),
        nonFinite: e.nonFinite,
        backend: e.backend,
        timeMs: performance.now() - start,
      };
    },
    async predict(input) {
      live();
      return loaded.forward(toInput(input, size, inputShape));
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      loaded.dispose();
      engine.dispose();
    },
  };
}
