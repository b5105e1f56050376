/**
 * UI state: one zustand store in slices (model, image, rules, view, result, status). Components read it through
 * the selectors below; the actions (app/actions.ts) and the explanation scheduler (app/controller.ts) write it.
 */
import { create } from 'zustand';
import type { ColormapId } from '../src/models/colormap';
import type { BackendInfo, BackendPreference, Catalog, ConceptMap, ConceptRankingInfo, EvaluateResult, EvaluationSettings, ExplainResult, ImageInfo, ImageView, ModelInfo, Progress, RandomizeResult } from './protocol';
import type { RuleParams } from '../src/rules/rules';
import { DEFAULT_PRESET } from '../src/rules/assignment';
import { DEFAULT_COMPARE_METHOD, type CompareMethod } from './compare-methods';

export interface ModelSlice {
  readonly current: ModelInfo | null;
  /** Increments whenever the worker's model (or its preprocessing) changes. */
  readonly version: number;
  readonly loading: { readonly label: string; readonly progress: Progress | null } | null;
  readonly error: string | null;
  readonly mergeBatchNorm: boolean;
  /** The files given for the user's model that were not used, and why (src/models/model-files.ts); null: none. */
  readonly filesNote: string | null;
}

export interface ImageSlice {
  readonly current: ImageInfo | null;
  readonly view: ImageView | null;
  /** The sample photo's file name when the image is one (a share link then names it instead of carrying it). */
  readonly sample: string | null;
  /** Increments whenever the worker's image changes. */
  readonly version: number;
  readonly loading: string | null;
  readonly error: string | null;
}

export interface LayerOverride {
  readonly rule: string;
  readonly params: RuleParams;
}

export interface RulesSlice {
  readonly preset: string;
  readonly overrides: Readonly<Record<string, LayerOverride>>;
  /** Class to explain; null: the top class. */
  readonly target: number | null;
  /** Contrast class (relevance of target minus relevance of this one); null: none. */
  readonly contrast: number | null;
  /** A slider is being dragged: slow models wait for the release. */
  readonly transient: boolean;
}

export interface ViewSlice {
  readonly colormap: ColormapId;
  /** Heatmap opacity over the image, 0..1. */
  readonly opacity: number;
  readonly clip: boolean;
  /** Percentile of |relevance| that saturates the scale when clipping. */
  readonly clipPercentile: number;
  /** Layer whose relevance the inspector shows; null: the first. */
  readonly inspect: string | null;
}

export interface ResultSlice {
  readonly current: ExplainResult | null;
  readonly error: string | null;
  readonly computing: boolean;
}

export interface StatusSlice {
  /** Built-in models and sample photos; null until the worker has answered. */
  readonly catalog: Catalog | null;
  readonly preference: BackendPreference;
  readonly backend: BackendInfo | null;
  readonly starting: boolean;
  readonly error: string | null;
  readonly notice: string | null;
  /** Time of the last explanation as the page saw it (request to result), in ms. */
  readonly lastMs: number | null;
}

/** One long evaluation run (pixel flipping, comparison, sanity check) as its panel shows it. */
export interface RunState<T> {
  readonly running: boolean;
  /** Share done, 0..1. */
  readonly progress: number;
  readonly result: T | null;
  readonly error: string | null;
  /** What the result was computed for (model, image, rules, settings): another key means it is out of date. */
  readonly key: string | null;
  /** When the run started (performance.now() of the page); null when none has. */
  readonly startedAt: number | null;
  /** How long the last run took, from request to answer (ms); null while running or when cancelled. */
  readonly elapsedMs: number | null;
}

/** The rule assignment compared with the current one ("B"): a preset, or a snapshot of an earlier assignment. */
export interface ComparedRules {
  readonly kind: 'preset' | 'snapshot';
  readonly label: string;
  readonly preset: string;
  readonly overrides: Readonly<Record<string, LayerOverride>>;
}

export interface EvaluationSlice {
  readonly tab: 'evaluate' | 'compare' | 'sanity' | 'channels';
  readonly settings: EvaluationSettings;
  /** B of the comparison (what a share link would carry). */
  readonly compareWith: ComparedRules;
  /** The method of each side of the comparison: its LRP rules (A: the current ones, B: compareWith) or a gradient baseline. */
  readonly compareMethods: { readonly a: CompareMethod; readonly b: CompareMethod };
  /** The last snapshot taken of the current assignment. */
  readonly snapshot: ComparedRules | null;
  readonly evaluate: RunState<EvaluateResult>;
  readonly compare: RunState<EvaluateResult>;
  readonly sanity: RunState<RandomizeResult>;
  /** Layer whose channels the channel view ranks; null: the first with channels. */
  readonly channelsLayer: string | null;
  /** The concept (CRP) chosen in the channel view: a channel of a layer's output; null: none (a share link carries it). */
  readonly concept: Concept | null;
  /** The channel view's concept maps (app/evaluation.ts requestConcepts). */
  readonly concepts: ConceptsState;
}

export interface Concept {
  /** The layer (a graph node name) whose output holds the channel. */
  readonly layer: string;
  readonly channel: number;
}

/** The concept maps of one layer, as they arrive from the worker. */
export interface ConceptsState {
  /** What they were asked for (model, image, rules, target, layer): another key means they are out of date. */
  readonly key: string | null;
  /** The channels asked for beyond the top ones (a link's concept). */
  readonly extra: readonly number[];
  readonly running: boolean;
  /** Maps done and to do. */
  readonly done: number;
  readonly total: number;
  readonly ranking: ConceptRankingInfo | null;
  readonly maps: readonly ConceptMap[];
  /** Shown once; the same request is not sent again until something it depends on changes, or Retry. */
  readonly error: string | null;
  /** Cancelled by the user: not asked for again until Compute (or a change). */
  readonly cancelled: boolean;
}

export const IDLE_CONCEPTS: ConceptsState = { key: null, extra: [], running: false, done: 0, total: 0, ranking: null, maps: [], error: null, cancelled: false };

/** The preset the page starts with: the engine's default too (src/rules/assignment.ts). */
export { DEFAULT_PRESET };

const IDLE_RUN = { running: false, progress: 0, result: null, error: null, key: null, startedAt: null, elapsedMs: null } as const;

export interface AppState {
  readonly model: ModelSlice;
  readonly image: ImageSlice;
  readonly rules: RulesSlice;
  readonly view: ViewSlice;
  readonly result: ResultSlice;
  readonly status: StatusSlice;
  readonly evaluation: EvaluationSlice;
}

export const initialState: AppState = {
  model: { current: null, version: 0, loading: null, error: null, mergeBatchNorm: true, filesNote: null },
  image: { current: null, view: null, sample: null, version: 0, loading: null, error: null },
  // EpsilonPlusFlat (Zennit's recommended composite for CNNs) draws a photo's objects; Captum's default (Epsilon
  // everywhere, close to gradient x input) draws noise. Share links always carry their preset.
  rules: { preset: DEFAULT_PRESET, overrides: {}, target: null, contrast: null, transient: false },
  // Clipped at the 99.5th percentile of |relevance|: a few extreme pixels (a cat's eyes) no longer wash out the rest.
  view: { colormap: 'bwr', opacity: 0.7, clip: true, clipPercentile: 99.5, inspect: null },
  result: { current: null, error: null, computing: false },
  status: { catalog: null, preference: 'auto', backend: null, starting: true, error: null, notice: null, lastMs: null },
  evaluation: {
    tab: 'evaluate',
    settings: { patch: 8, baseline: 'blur', steps: 16 },
    compareWith: { kind: 'preset', label: 'EpsilonPlusFlat', preset: 'EpsilonPlusFlat', overrides: {} },
    compareMethods: { a: DEFAULT_COMPARE_METHOD, b: DEFAULT_COMPARE_METHOD },
    snapshot: null,
    evaluate: IDLE_RUN,
    compare: IDLE_RUN,
    sanity: IDLE_RUN,
    channelsLayer: null,
    concept: null,
    concepts: IDLE_CONCEPTS,
  },
};

export const useStore = create<AppState>()(() => initialState);

type SliceName = keyof AppState;

/** Merges a partial update into one slice. */
export function update<K extends SliceName>(slice: K, patch: Partial<AppState[K]> | ((s: AppState[K]) => Partial<AppState[K]>)): void {
  useStore.setState((state) => ({
    [slice]: { ...state[slice], ...(typeof patch === 'function' ? patch(state[slice]) : patch) },
  }));
}

// ---- selectors ----
export const selectModel = (s: AppState) => s.model.current;
export const selectModelSlice = (s: AppState) => s.model;
export const selectImage = (s: AppState) => s.image;
export const selectRules = (s: AppState) => s.rules;
export const selectView = (s: AppState) => s.view;
export const selectResult = (s: AppState) => s.result.current;
export const selectResultSlice = (s: AppState) => s.result;
export const selectStatus = (s: AppState) => s.status;
export const selectEvaluation = (s: AppState) => s.evaluation;
export const selectCatalog = (s: AppState) => s.status.catalog;
const NO_CLASSES: readonly string[] = [];
export const selectClassNames = (s: AppState): readonly string[] => s.model.current?.card.classes ?? NO_CLASSES;
