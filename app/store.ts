/**
 * UI state: one zustand store in slices (model, image, rules, view, result, status). Components read it through
 * the selectors below; the actions (app/actions.ts) and the explanation scheduler (app/controller.ts) write it.
 */
import { create } from 'zustand';
import type { ColormapId } from './colormap';
import type { BackendInfo, BackendPreference, Catalog, ExplainResult, ImageInfo, ImageView, ModelInfo, Progress } from './protocol';
import type { RuleParams } from '../src/rules/rules';

export interface ModelSlice {
  readonly current: ModelInfo | null;
  /** Increments whenever the worker's model (or its preprocessing) changes. */
  readonly version: number;
  readonly loading: { readonly label: string; readonly progress: Progress | null } | null;
  readonly error: string | null;
  readonly mergeBatchNorm: boolean;
}

export interface ImageSlice {
  readonly current: ImageInfo | null;
  readonly view: ImageView | null;
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

export interface AppState {
  readonly model: ModelSlice;
  readonly image: ImageSlice;
  readonly rules: RulesSlice;
  readonly view: ViewSlice;
  readonly result: ResultSlice;
  readonly status: StatusSlice;
}

export const initialState: AppState = {
  model: { current: null, version: 0, loading: null, error: null, mergeBatchNorm: true },
  image: { current: null, view: null, version: 0, loading: null, error: null },
  rules: { preset: 'captum-default', overrides: {}, target: null, contrast: null, transient: false },
  view: { colormap: 'bwr', opacity: 0.7, clip: false, clipPercentile: 99.5, inspect: null },
  result: { current: null, error: null, computing: false },
  status: { catalog: null, preference: 'auto', backend: null, starting: true, error: null, notice: null, lastMs: null },
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
export const selectCatalog = (s: AppState) => s.status.catalog;
const NO_CLASSES: readonly string[] = [];
export const selectClassNames = (s: AppState): readonly string[] => s.model.current?.card.classes ?? NO_CLASSES;
