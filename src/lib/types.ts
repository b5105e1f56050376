/**
 * The public types of the `lrp-lens` package. Self-contained on purpose (no imports from the engine): the
 * declaration files shipped in the package are this file, index.d.ts and node.d.ts, nothing else. The facade
 * (./core.ts) passes these values to the engine, so the type checker keeps them in step with the engine's own.
 */

/**
 * Where the explanation runs. 'auto': WebGPU on a hardware adapter, else (a software adapter such as SwiftShader,
 * or none) 'cpu-fast', else (no WebAssembly SIMD) 'cpu'; 'cpu-fast': float32 on the CPU with WASM SIMD convolutions
 * (faster, float32 rounding); 'cpu': float64, the reference.
 */
export type Backend = 'webgpu' | 'cpu' | 'cpu-fast';
export type BackendChoice = Backend | 'auto';

/** The rule presets (composites) of docs/engine.md. */
export type Preset =
  | 'captum-default'
  | 'gradient'
  | 'EpsilonPlus'
  | 'EpsilonPlusFlat'
  | 'EpsilonGammaBox'
  | 'EpsilonAlpha2Beta1'
  | 'EpsilonAlpha2Beta1Flat'
  | 'cp-gamma'
  | 'cp-epsilon'
  | 'attnlrp';

export type RuleParamValue = number | boolean | readonly number[];

/** One layer's rule: the layer (its name, or "#i" for the i-th Linear/Conv layer), the rule, its parameters. */
export interface LayerRule {
  readonly layer: string;
  readonly rule: string;
  readonly [param: string]: RuleParamValue | string;
}

/** A rule and its parameters, for the object form of `layers` (keyed by layer). */
export interface RuleChoice {
  readonly rule: string;
  readonly [param: string]: RuleParamValue | string;
}

/**
 * The rule assignment JSON of docs/engine.md: a preset plus per-layer overrides, e.g.
 * `{ preset: 'EpsilonGammaBox', presetParams: { low: -3, high: 3 }, layers: [{ layer: 'conv1', rule: 'gamma', gamma: 0.25 }] }`.
 * `layers` may also be an object keyed by layer: `{ conv1: { rule: 'gamma', gamma: 0.25 } }`.
 */
export interface RuleAssignment {
  /** Default 'captum-default' (epsilon 1e-9 on every layer), as in docs/engine.md. */
  readonly preset?: Preset | (string & {});
  readonly presetParams?: Readonly<Record<string, RuleParamValue>>;
  readonly layers?: readonly LayerRule[] | Readonly<Record<string, RuleChoice>>;
  /** Custom rules, defined as data (docs/engine.md, "Custom rules"), that `layers` may name by id. */
  readonly ruleDefs?: readonly CustomRuleDefinition[];
}

/** The layer classes a rule applies to (docs/engine.md). */
export type LayerClassName =
  | 'weighted'
  | 'batchnorm'
  | 'avgpool'
  | 'maxpool'
  | 'activation'
  | 'add'
  | 'structural'
  | 'gate'
  | 'scale'
  | 'layernorm'
  | 'matmul'
  | 'softmax';

/** A number of a custom rule's program: a literal, "$name" (the rule's parameter) or "-$name" (its negation). */
export type RuleNumber = number | `$${string}` | `-$${string}`;

/** How a term sees a parameter: a named modifier, or plain * p + pos * max(p, 0) + neg * min(p, 0). */
export type RuleModifier =
  | 'identity'
  | 'positive'
  | 'negative'
  | 'zero'
  | 'ones'
  | 'square'
  | { readonly plain?: RuleNumber; readonly pos?: RuleNumber; readonly neg?: RuleNumber };

/**
 * A custom rule (docs/engine.md, "Custom rules"): the same form as the built-in rules, compiled to the engine's rule
 * program. An id may not be a built-in rule's. Invalid definitions are refused with a RuleError naming the field.
 */
export interface CustomRuleDefinition {
  readonly id: string;
  readonly label: string;
  readonly description?: string;
  readonly appliesTo: readonly LayerClassName[];
  readonly params?: readonly { readonly name: string; readonly default: number; readonly min?: number; readonly max?: number; readonly description?: string }[];
  readonly program: {
    /** Default 'lrp'; 'pass' and 'gradient' take no groups. */
    readonly kind?: 'lrp' | 'pass' | 'gradient';
    readonly groups?: readonly {
      readonly terms: readonly { readonly input: 'identity' | 'positive' | 'negative' | 'ones' | 'low' | 'high'; readonly weight: RuleModifier }[];
      readonly bias: RuleModifier;
      /** Default 'all'. */
      readonly mask?: 'all' | 'positive' | 'negative';
      /** Default 1. */
      readonly coefficient?: RuleNumber;
      /** z + epsilon * sign(z), sign(0) = +1; null: no division. */
      readonly stabilizer: { readonly epsilon: RuleNumber; readonly sign?: 'sign' } | null;
    }[];
    readonly bounds?: { readonly low: number | readonly number[]; readonly high: number | readonly number[] };
    readonly operands?: 'uniform';
  };
}

/** A model file given as bytes: its name (as the model refers to it: "cnn.onnx.data", "group1-shard1of1.bin"). */
export interface NamedBytes {
  readonly name: string;
  readonly bytes: Uint8Array | ArrayBuffer;
}

/** A file of the model: a browser File (or a Blob with a name), or bytes with a name. */
export type ModelFileInput = NamedBytes | (Blob & { readonly name: string });

/**
 * Where a model comes from: a URL (fetched, with its external data or weight shards from beside it), or all of
 * its files at once (an .onnx with its .onnx.data, or a TF.js model.json with its weight shards). The Node entry
 * (`lrp-lens/node`) also takes a file path.
 */
export type ModelSource = string | URL | readonly ModelFileInput[];

/** The WebGPU entry point (navigator.gpu, or the `webgpu` package's create() result in Node). */
export interface GpuLike {
  requestAdapter(options?: object): Promise<unknown>;
}

export interface LoadModelOptions {
  /** Default 'auto'. 'webgpu' fails (with the reason) where no WebGPU adapter is available. */
  readonly backend?: BackendChoice;
  /** BatchNorm merged into the Linear/Conv before it (Zennit, the default) or kept as a layer of its own (Captum). */
  readonly batchNorm?: 'merge' | 'layer';
  /** The WebGPU entry point to use; default navigator.gpu (browsers) or Dawn's (`lrp-lens/node`). */
  readonly gpu?: GpuLike;
  /** Fetches a URL source and its companion files; default globalThis.fetch. */
  readonly fetch?: (url: string) => Promise<Response>;
}

export interface ExplainOptions {
  /** The class to explain; default the top class. */
  readonly target?: number;
  /** Explain `target` against this class: relevance of target minus relevance of this one. */
  readonly contrastTarget?: number;
  /**
   * Default, when `rules` is left out: `{ preset: 'EpsilonPlusFlat' }`, as the app and the CLI (Zennit's composite for
   * CNNs). A rule assignment without a `preset` means 'captum-default', as everywhere the JSON is read.
   */
  readonly rules?: RuleAssignment;
  /** Relevance arriving at each layer's input: true (every layer with a rule), a list of layer names, or false (default). */
  readonly layers?: boolean | readonly string[];
  /** Cancels the explanation: it then rejects with an AbortError. */
  readonly signal?: AbortSignal;
}

export interface LayerRelevance {
  readonly layer: string;
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export interface Explanation {
  /** Relevance of every input value, in the input's layout (`inputShape`). */
  readonly relevance: Float32Array;
  readonly inputShape: readonly number[];
  readonly logits: Float32Array;
  /** The class explained. */
  readonly target: number;
  readonly contrastTarget: number | null;
  /** The relevance arriving at the layers asked for with `layers`, in execution order. */
  readonly layers: readonly LayerRelevance[];
  /** Set when some relevance is NaN or infinite: the layer where it first appeared. Such a result is not meaningful. */
  readonly nonFinite: { readonly layer: string; readonly count: number } | null;
  readonly backend: Backend;
  /** Wall time of the call, in milliseconds. */
  readonly timeMs: number;
}

export interface ModelLayer {
  readonly name: string;
  /** The engine's op: conv2d, dense, relu, maxpool2d, add, ... */
  readonly op: string;
}

export interface LrpModel {
  /** The model file's name (model.json, or the .onnx). */
  readonly name: string;
  readonly format: 'onnx' | 'tfjs';
  readonly backend: Backend;
  /** The WebGPU adapter, or why the CPU backend runs. */
  readonly backendDescription: string;
  /** The input the model takes, batch included (e.g. [1, 3, 224, 224]). */
  readonly inputShape: readonly number[];
  /** Number of classes (logits). */
  readonly classes: number;
  readonly layers: readonly ModelLayer[];
  /** What the importer changed, for the user (e.g. a final softmax removed: explanations start from the logits). */
  readonly notes: readonly string[];
  explain(input: Float32Array | ArrayLike<number>, options?: ExplainOptions): Promise<Explanation>;
  /** The forward pass alone: the logits. */
  predict(input: Float32Array | ArrayLike<number>): Promise<Float32Array>;
  /** Frees the backend's buffers (and its GPU device). */
  dispose(): void;
}

/** A .npy array read as float32. */
export interface NpyTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}
