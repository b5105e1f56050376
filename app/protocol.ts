/**
 * Messages between the page (app/engine-client.ts) and the engine worker (app/engine-worker.ts). Every request
 * carries an id; the worker answers each with exactly one response of the same id (a result, an error, or
 * "superseded" when a newer request of the same kind made it pointless), and may send progress messages first.
 */
import type { BackendKind } from '../src/engine/api';
import type { OpType, Shape } from '../src/engine/graph';
import type { RuleAssignment } from '../src/rules/assignment';
import type { LayerClass } from '../src/rules/rules';
import type { ModelCard } from '../src/models/model-card';
import type { PerturbationBaseline, PerturbationCurve as Curve } from '../src/evaluation/pixel-flipping';
import type { ShareCompareMethod as BaselineMethod } from '../src/share/share-state';

/** The backend menu's choice (and ?backend=): 'cpu' the float64 CPU backend, 'cpu-fast' the float32 WASM SIMD one. */
export type BackendPreference = 'auto' | 'webgpu' | 'cpu' | 'cpu-fast';

/** What the page offers before any model is open (from src/models/builtin.ts, read in the worker so that the
 * page does not load the importers). */
export interface Catalog {
  readonly builtins: readonly { readonly id: string; readonly name: string }[];
  readonly samples: readonly { readonly file: string; readonly label: string; readonly credit: string }[];
  readonly defaultModel: string;
  readonly defaultSample: string;
}

export interface BackendInfo {
  readonly backend: BackendKind;
  /** For the status line: the adapter, or why the CPU backend runs. */
  readonly description: string;
}

/** One layer as the layer panel shows it. */
export interface LayerInfo {
  readonly name: string;
  readonly op: OpType;
  readonly cls: LayerClass;
  readonly inputs: readonly string[];
  readonly output: string;
  readonly outputShape: Shape;
  /** Number of learned parameters. */
  readonly params: number;
  /**
   * Its first input (the value whose relevance the layer inspector shows) is 4-D in NHWC order: between a
   * ConvNeXt block's permutes (LayerNorm, Linear, GELU). Absent: NCHW, or not an image-shaped value.
   */
  readonly inputChannelsLast?: boolean;
}

/** A graph without its weights: enough to resolve rule assignments on the page. */
export interface GraphSkeleton {
  readonly name: string;
  readonly input: { readonly name: string; readonly shape: Shape };
  readonly output: string;
  readonly nodes: readonly { readonly name: string; readonly op: OpType; readonly inputs: readonly string[]; readonly output: string }[];
}

export interface ModelInfo {
  /** Built-in id, or "user:<name>" for a model opened from files. */
  readonly id: string;
  readonly builtin: boolean;
  readonly card: ModelCard;
  readonly inputShape: Shape;
  readonly classes: number;
  readonly layers: readonly LayerInfo[];
  readonly skeleton: GraphSkeleton;
  /** The importer's notes (e.g. the final softmax it removed) and the app's (BatchNorm merged). */
  readonly notes: readonly string[];
  readonly files: readonly string[];
  /** The file the model was read from (the .onnx, or the TF.js model.json); the others are its side files. */
  readonly modelFile: string;
  readonly mergeBatchNorm: boolean;
  /** How many BatchNorm layers the model has before merging (0: the option does not matter). */
  readonly batchNorms: number;
}

/** The image as the model sees it, cropped as the model card says, scaled for display. */
export interface ImageView {
  readonly bitmap: ImageBitmap;
  readonly width: number;
  readonly height: number;
}

export interface ImageInfo {
  readonly name: string;
  /** Size of the original image (for a tensor file: the tensor's height and width). */
  readonly width: number;
  readonly height: number;
  /** A preprocessed tensor (.npy) given instead of a photo: preprocessing does not apply. */
  readonly tensor: boolean;
}

export type ImageSource =
  | { readonly kind: 'url'; readonly url: string; readonly name: string }
  | { readonly kind: 'blob'; readonly blob: Blob; readonly name: string }
  /** RGB bytes, row-major (a share link's image: what the model saw, at its input resolution). */
  | { readonly kind: 'pixels'; readonly width: number; readonly height: number; readonly rgb: Uint8Array; readonly name: string };

/** The photo as the model sees it: 8-bit RGB at the model's input resolution, cropped and resized per the card. */
export interface SeenPixels {
  readonly width: number;
  readonly height: number;
  readonly rgb: Uint8Array;
}

export interface ExplainRequest {
  /** Sequence number: the page shows only the result of its latest request. */
  readonly seq: number;
  readonly target?: number;
  readonly contrastTarget?: number;
  readonly rules: RuleAssignment;
}

export interface ExplainResult {
  readonly seq: number;
  readonly modelId: string;
  readonly logits: Float32Array;
  readonly target: number;
  readonly contrastTarget: number | null;
  readonly relevance: Float32Array;
  readonly inputShape: Shape;
  readonly layers: readonly { readonly layer: string; readonly shape: Shape; readonly data: Float32Array }[];
  readonly nonFinite: { readonly layer: string; readonly count: number } | null;
  /** Time the engine took, and the time from the request to the result in the worker. */
  readonly engineMs: number;
  readonly workerMs: number;
  readonly forwardReused: boolean;
  readonly backend: BackendKind;
}

/** What pixel flipping removes a patch with, and a curve it gives (src/evaluation/pixel-flipping.ts). */
export type { PerturbationBaseline, Curve };

export interface EvaluationSettings {
  readonly patch: number;
  readonly baseline: PerturbationBaseline;
  readonly steps: number;
}

/**
 * Explain the current image with one or more rule assignments and (with `settings`) run pixel flipping on each.
 * `channel` keeps the evaluate and compare views apart: a newer request of the same channel cancels the older.
 */
export interface EvaluateRequest {
  readonly seq: number;
  readonly channel: 'evaluate' | 'compare';
  readonly assignments: readonly RuleAssignment[];
  /**
   * Per run (parallel to `assignments`; absent or null: the assignment's LRP rules): a gradient baseline
   * (app/compare-methods.ts) computes that run's map instead, its assignment unused.
   */
  readonly methods?: readonly (BaselineMethod | null)[];
  readonly target?: number;
  readonly settings: EvaluationSettings | null;
  /** Only cancels the running one of its channel (answered "superseded"). */
  readonly cancel?: boolean;
}

export interface EvaluateResult {
  readonly seq: number;
  readonly modelId: string;
  readonly target: number;
  readonly runs: readonly {
    /** Relevance summed over channels (the heatmap), width x height. */
    readonly map: { readonly width: number; readonly height: number; readonly data: Float32Array };
    readonly relevanceOrder: Curve | null;
    readonly randomOrder: Curve | null;
  }[];
  readonly regions: number;
  readonly ms: number;
}

/** Model randomisation (src/evaluation/randomization.ts), cumulative from the top layer down. */
export interface RandomizeRequest {
  readonly seq: number;
  /** Only cancels the running one (answered "superseded"). */
  readonly cancel?: boolean;
  readonly rules: RuleAssignment;
  readonly target?: number;
}

export interface RandomizeResult {
  readonly seq: number;
  readonly modelId: string;
  readonly target: number;
  readonly weightedLayers: number;
  readonly steps: readonly {
    readonly layer: string | null;
    readonly randomized: number;
    readonly spearman: number;
    readonly spearmanAbs: number;
    readonly map: { readonly width: number; readonly height: number; readonly data: Float32Array };
  }[];
  readonly ms: number;
}

/**
 * Concept-conditional heatmaps (CRP, src/engine/concepts.ts) for the Channels tab: the channels of `layer`'s output
 * ranked by relevance (rankConcepts), then the input relevance conditioned on each of the top `top` channels, and
 * on each of `extra` (explainConcept with channels = [c]). A newer request cancels the running one, as does an
 * explanation (the main heatmap comes first) or a new model or image.
 */
export interface ConceptsRequest {
  readonly seq: number;
  /** The layer (a graph node name) whose output channels are the concepts. */
  readonly layer: string;
  /** Their axis in the layer's output: 1 (NCHW), or 3 for a value in NHWC order. */
  readonly axis: number;
  /** How many of the most relevant channels get a map. */
  readonly top: number;
  /** Channels that get a map even when they are not among the top (a link's concept). */
  readonly extra: readonly number[];
  readonly rules: RuleAssignment;
  readonly target?: number;
  readonly contrastTarget?: number;
  /** Only cancels the running one (answered "superseded"). */
  readonly cancel?: boolean;
}

/** The channels of the concept layer by relevance (before any conditioning), most relevant first. */
export interface ConceptRankingInfo {
  readonly layer: string;
  readonly axis: number;
  /** The class explained (the top class when the request named none). */
  readonly target: number;
  readonly channels: readonly { readonly channel: number; readonly relevance: number }[];
  /** The relevance of all channels together (the sum of `channels`' relevance). */
  readonly total: number;
}

/** One concept's input relevance, summed over the input's channels (width x height). */
export interface ConceptMap {
  readonly channel: number;
  /** The channel's relevance at the concept layer (its share of the target's relevance). */
  readonly relevance: number;
  readonly map: { readonly width: number; readonly height: number; readonly data: Float32Array };
  /** Set when the conditioned relevance is NaN or infinite somewhere: the map must not be drawn. */
  readonly nonFinite: { readonly layer: string; readonly count: number } | null;
}

export interface ConceptsResult {
  readonly seq: number;
  readonly modelId: string;
  readonly ranking: ConceptRankingInfo;
  /** The maps, in the order computed: the top channels by rank, then the extra ones. */
  readonly maps: readonly ConceptMap[];
  readonly ms: number;
}

/** What a concepts request reports as it goes (a 'partial' message): the ranking first, then each map. */
export type ConceptUpdate =
  | { readonly kind: 'ranking'; readonly ranking: ConceptRankingInfo; readonly total: number }
  | { readonly kind: 'map'; readonly map: ConceptMap; readonly done: number; readonly total: number };

export type Request =
  | { readonly type: 'catalog' }
  | { readonly type: 'init'; readonly backend: BackendPreference }
  | { readonly type: 'openBuiltin'; readonly modelId: string; readonly mergeBatchNorm: boolean }
  | { readonly type: 'openFiles'; readonly files: readonly File[]; readonly mergeBatchNorm: boolean }
  | { readonly type: 'reopen'; readonly mergeBatchNorm: boolean }
  | { readonly type: 'setImage'; readonly source: ImageSource }
  | { readonly type: 'setPreprocessing'; readonly preprocessing: ModelCard['preprocessing'] }
  | { readonly type: 'explain'; readonly request: ExplainRequest }
  | { readonly type: 'seenPixels' }
  | { readonly type: 'evaluate'; readonly request: EvaluateRequest }
  | { readonly type: 'randomize'; readonly request: RandomizeRequest }
  | { readonly type: 'concepts'; readonly request: ConceptsRequest };

export type RequestType = Request['type'];

export interface OpenResult {
  readonly model: ModelInfo;
  readonly view: ImageView | null;
}

export interface ImageResult {
  readonly image: ImageInfo;
  readonly view: ImageView | null;
}

export interface ResponseMap {
  catalog: Catalog;
  init: BackendInfo;
  openBuiltin: OpenResult;
  openFiles: OpenResult;
  reopen: OpenResult;
  setImage: ImageResult;
  setPreprocessing: { readonly view: ImageView | null };
  explain: ExplainResult;
  /** null: no photo (a tensor, or none), or a model whose input is not an image. */
  seenPixels: { readonly pixels: SeenPixels | null };
  evaluate: EvaluateResult;
  randomize: RandomizeResult;
  concepts: ConceptsResult;
}

export interface Progress {
  /** 'evaluate' and 'randomize': loaded / total is the share of the work done. */
  readonly phase: 'download' | 'read' | 'import' | 'prepare' | 'evaluate' | 'randomize';
  /** Bytes so far and in all (0 when not known). */
  readonly loaded: number;
  readonly total: number;
  readonly file?: string;
}

export type WorkerMessage =
  | { readonly id: number; readonly kind: 'result'; readonly value: unknown }
  | { readonly id: number; readonly kind: 'error'; readonly message: string; readonly name: string }
  | { readonly id: number; readonly kind: 'superseded' }
  | { readonly id: number; readonly kind: 'progress'; readonly progress: Progress }
  /** Part of a result, before the result (a concepts request: the ranking, then each channel's map). */
  | { readonly id: number; readonly kind: 'partial'; readonly value: unknown }
  | { readonly id: -1; readonly kind: 'notice'; readonly message: string };

export type PageMessage = { readonly id: number; readonly request: Request };
