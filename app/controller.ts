/**
 * The explanation scheduler: whenever what an explanation depends on changes (model, image, preprocessing,
 * rules, target, contrast, backend), it asks the worker for a new one. Each request carries a sequence number and
 * the page shows only the latest; the worker drops or aborts superseded ones.
 *
 * A slider being dragged (rules.transient) recomputes live, debounced by 50 ms, when the model is fast (its last
 * explanation took under LIVE_LIMIT_MS); a slow model waits for the slider's release.
 */
import { engineClient } from './actions';
import { toAssignment, validateAssignment } from './rules-state';
import { update, useStore, type AppState } from './store';
import type { ExplainRequest } from './protocol';

export const LIVE_DEBOUNCE_MS = 50;
export const LIVE_LIMIT_MS = 1000;

let seq = 0;
let lastKey = '';
let timer: ReturnType<typeof setTimeout> | null = null;

function requestFor(state: AppState): { key: string; request: Omit<ExplainRequest, 'seq'> } | { key: string; error: string } | null {
  const { model, image, rules, status } = state;
  if (!model.current || !image.current || !status.backend || status.starting) return null;
  const assignment = toAssignment(rules, model.current);
  const key = JSON.stringify([model.current.id, model.version, image.version, assignment, rules.target, rules.contrast, status.backend]);
  const error = validateAssignment(model.current, assignment);
  if (error) return { key, error };
  return {
    key,
    request: {
      rules: assignment,
      ...(rules.target !== null ? { target: rules.target } : {}),
      ...(rules.contrast !== null ? { contrastTarget: rules.contrast } : {}),
    },
  };
}

async function send(): Promise<void> {
  timer = null;
  const state = useStore.getState();
  const next = requestFor(state);
  if (!next || next.key === lastKey) return;
  lastKey = next.key;
  if ('error' in next) {
    update('result', { error: next.error, computing: false });
    return;
  }
  const mySeq = ++seq;
  const started = performance.now();
  hook().requests++;
  update('result', { computing: true });
  try {
    const result = await engineClient().explain({ ...next.request, seq: mySeq });
    if (!result || mySeq !== seq) return; // superseded: a newer one is on its way
    const current = useStore.getState().model.current;
    if (result.modelId !== current?.id) return;
    update('result', { current: result, error: null, computing: false });
    update('status', { lastMs: performance.now() - started });
    publishForTests(result);
  } catch (e) {
    if (mySeq !== seq) return;
    // lastKey stays: the failed request is shown once and not sent again until something it depends on changes
    // (the next user change). Clearing it here retried in a tight loop, as the store update below rescheduled it.
    update('result', { error: (e as Error).message, computing: false });
  }
}

/** Asks again for the explanation that failed (a failed one is otherwise asked for again only after a change). */
export function retryExplanation(): void {
  lastKey = '';
  schedule(useStore.getState());
}

function schedule(state: AppState): void {
  const next = requestFor(state);
  if (!next || next.key === lastKey) return;
  const fast = (state.status.lastMs ?? Infinity) < LIVE_LIMIT_MS;
  if (state.rules.transient && !fast) return; // wait for the release
  if (timer !== null) clearTimeout(timer);
  timer = setTimeout(() => void send(), state.rules.transient ? LIVE_DEBOUNCE_MS : 0);
}

// ---------------------------------------------------------------------------------------------------------------
// A read-only view of the latest explanation for the browser tests (window.__lrpLens); the app never reads it.

export interface TestHook {
  lastRelevance: Float32Array | null;
  lastInputShape: readonly number[] | null;
  lastTarget: number | null;
  lastLogits: Float32Array | null;
  /** The backend that computed the latest explanation ('webgpu', 'cpu-fast' or 'cpu'). */
  lastBackend: string | null;
  /** The channel sum the heatmap canvas shows, and the scale it was drawn with. */
  lastHeatmap: { width: number; height: number; data: Float32Array; vmax: number; colormap: string } | null;
  explanations: number;
  /** Explanation requests sent to the worker. */
  requests: number;
}

declare global {
  interface Window {
    __lrpLens?: TestHook;
  }
}

function hook(): TestHook {
  window.__lrpLens ??= { lastRelevance: null, lastInputShape: null, lastTarget: null, lastLogits: null, lastBackend: null, lastHeatmap: null, explanations: 0, requests: 0 };
  return window.__lrpLens;
}

function publishForTests(result: { relevance: Float32Array; inputShape: readonly number[]; target: number; logits: Float32Array; backend: string }): void {
  const h = hook();
  h.lastBackend = result.backend;
  h.lastRelevance = result.relevance;
  h.lastInputShape = result.inputShape;
  h.lastTarget = result.target;
  h.lastLogits = result.logits;
  h.explanations++;
}

export function publishHeatmap(heatmap: TestHook['lastHeatmap']): void {
  hook().lastHeatmap = heatmap;
}

export function startController(): () => void {
  hook();
  return useStore.subscribe((state) => schedule(state));
}
