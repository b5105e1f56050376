/**
 * The evaluation views' actions: pixel flipping of the current explanation, the comparison of two rule
 * assignments, and the model-randomisation sanity check. Each runs in the engine worker on request (a button);
 * a newer request of the same kind cancels the one running, and Cancel sends an empty one to the same effect.
 */
import { engineClient } from './actions';
import type { EvaluationSettings, Progress } from './protocol';
import { toAssignment, validateAssignment } from './rules-state';
import { update, useStore, type AppState, type ComparedRules, type EvaluationSlice, type RulesSlice } from './store';

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));
let seq = 0;

type RunName = 'evaluate' | 'compare' | 'sanity';

function setRun(name: RunName, patch: Partial<EvaluationSlice[RunName]>): void {
  update('evaluation', (s) => ({ [name]: { ...s[name], ...patch } }) as Partial<EvaluationSlice>);
}

const fraction = (p: Progress) => (p.total > 0 ? Math.min(1, p.loaded / p.total) : 0);

/** Time since the run started, for its end. */
const elapsed = (name: RunName): number => performance.now() - (useStore.getState().evaluation[name].startedAt ?? performance.now());

/** The rules slice that B of the comparison stands for. */
export function comparedRules(state: AppState, b: ComparedRules): RulesSlice {
  return { ...state.rules, preset: b.preset, overrides: b.overrides };
}

/** What a run depends on; a result computed for another key is out of date. */
export function runKey(state: AppState, name: RunName): string | null {
  const { model, image, rules, evaluation } = state;
  if (!model.current || !image.current) return null;
  const a = toAssignment(rules, model.current);
  const extra =
    name === 'evaluate'
      ? evaluation.settings
      : name === 'compare'
        ? [evaluation.settings, toAssignment(comparedRules(state, evaluation.compareWith), model.current)]
        : null;
  return JSON.stringify([name, model.current.id, model.version, image.version, a, rules.target, rules.contrast, extra]);
}

export function setEvaluationTab(tab: EvaluationSlice['tab']): void {
  update('evaluation', { tab });
}

export function setEvaluationSettings(settings: Partial<EvaluationSettings>): void {
  update('evaluation', (s) => ({ settings: { ...s.settings, ...settings } }));
}

export function setChannelsLayer(layer: string | null): void {
  update('evaluation', { channelsLayer: layer });
}

export function compareWithPreset(preset: string): void {
  update('evaluation', { compareWith: { kind: 'preset', label: preset, preset, overrides: {} } });
}

export function compareWithSnapshot(): void {
  const snap = useStore.getState().evaluation.snapshot;
  if (snap) update('evaluation', { compareWith: snap });
}

/** Keeps the current assignment as the comparison's B (e.g. before changing a layer's rule). */
export function snapshotCurrentRules(): void {
  const { rules } = useStore.getState();
  const n = Object.keys(rules.overrides).length;
  const snapshot: ComparedRules = {
    kind: 'snapshot',
    label: `snapshot: ${rules.preset}${n ? ` + ${n} layer rule${n > 1 ? 's' : ''}` : ''}`,
    preset: rules.preset,
    overrides: rules.overrides,
  };
  update('evaluation', { snapshot, compareWith: snapshot });
}

async function run(name: 'evaluate' | 'compare'): Promise<void> {
  const state = useStore.getState();
  const model = state.model.current;
  if (!model || !state.image.current) return;
  const key = runKey(state, name);
  const assignments = [toAssignment(state.rules, model)];
  if (name === 'compare') assignments.push(toAssignment(comparedRules(state, state.evaluation.compareWith), model));
  const invalid = assignments.map((a) => validateAssignment(model, a)).find((e) => e !== null);
  if (invalid) {
    setRun(name, { error: invalid, running: false });
    return;
  }
  if (model.inputShape.length !== 4) {
    setRun(name, { error: 'pixel flipping needs an image model (input [1, C, H, W])', running: false });
    return;
  }
  const mySeq = ++seq;
  setRun(name, { running: true, progress: 0, error: null, startedAt: performance.now(), elapsedMs: null });
  try {
    const result = await engineClient().evaluate(
      {
        seq: mySeq,
        channel: name,
        assignments,
        ...(state.rules.target !== null ? { target: state.rules.target } : {}),
        settings: state.evaluation.settings,
      },
      (p) => setRun(name, { progress: fraction(p) }),
    );
    if (!result) return; // replaced by a newer request (or cancelled), which sets the state itself
    setRun(name, { running: false, progress: 1, result, key, elapsedMs: elapsed(name) });
  } catch (e) {
    setRun(name, { running: false, error: message(e), elapsedMs: elapsed(name) });
  }
}

export const runEvaluation = (): Promise<void> => run('evaluate');
export const runComparison = (): Promise<void> => run('compare');

export async function runSanityCheck(): Promise<void> {
  const state = useStore.getState();
  const model = state.model.current;
  if (!model || !state.image.current) return;
  const key = runKey(state, 'sanity');
  const rules = toAssignment(state.rules, model);
  const invalid = validateAssignment(model, rules);
  if (invalid) {
    setRun('sanity', { error: invalid, running: false });
    return;
  }
  setRun('sanity', { running: true, progress: 0, error: null, startedAt: performance.now(), elapsedMs: null });
  try {
    const result = await engineClient().randomize(
      { seq: ++seq, rules, ...(state.rules.target !== null ? { target: state.rules.target } : {}) },
      (p) => setRun('sanity', { progress: fraction(p) }),
    );
    if (!result) return;
    setRun('sanity', { running: false, progress: 1, result, key, elapsedMs: elapsed('sanity') });
  } catch (e) {
    setRun('sanity', { running: false, error: message(e), elapsedMs: elapsed('sanity') });
  }
}

/** Stops a running evaluation: an empty request of its kind replaces it in the worker. */
export function cancelRun(name: RunName): void {
  setRun(name, { running: false, progress: 0, elapsedMs: null });
  const client = engineClient();
  const model = useStore.getState().model.current;
  if (name === 'sanity') {
    if (model) void client.randomize({ seq: ++seq, cancel: true, rules: { preset: 'gradient' } }).catch(() => undefined);
    return;
  }
  if (model) void client.evaluate({ seq: ++seq, channel: name, cancel: true, assignments: [], settings: null }).catch(() => undefined);
}
