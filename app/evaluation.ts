/**
 * The evaluation views' actions: pixel flipping of the current explanation, the comparison of two rule
 * assignments, and the model-randomisation sanity check. Each runs in the engine worker on request (a button);
 * a newer request of the same kind cancels the one running, and Cancel sends an empty one to the same effect.
 * The channel view's concept maps (CRP) run by themselves while that view is shown (requestConcepts).
 */
import { engineClient } from './actions';
import type { ConceptMap, EvaluationSettings, ModelInfo, Progress } from './protocol';
import { toAssignment, validateAssignment } from './rules-state';
import { baselineOf, type CompareMethod } from './compare-methods';
import { IDLE_CONCEPTS, update, useStore, type AppState, type ComparedRules, type Concept, type ConceptsState, type EvaluationSlice, type RulesSlice } from './store';

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
        ? [
            evaluation.settings,
            baselineOf(evaluation.compareMethods.a),
            // B's rules matter only while B uses them.
            baselineOf(evaluation.compareMethods.b) ?? toAssignment(comparedRules(state, evaluation.compareWith), model.current),
          ]
        : null;
  return JSON.stringify([name, model.current.id, model.version, image.version, a, rules.target, rules.contrast, extra]);
}

export function setEvaluationTab(tab: EvaluationSlice['tab']): void {
  update('evaluation', { tab });
}

export function setEvaluationSettings(settings: Partial<EvaluationSettings>): void {
  update('evaluation', (s) => ({ settings: { ...s.settings, ...settings } }));
}

/** Another layer for the channel view: the concept chosen on the last one is let go. */
export function setChannelsLayer(layer: string | null): void {
  update('evaluation', (e) => ({ channelsLayer: layer, concept: layer === e.channelsLayer ? e.concept : null }));
}

/** Changes the method of a side of the comparison (or a parameter of its baseline). */
export function setCompareMethod(side: 'a' | 'b', patch: Partial<CompareMethod>): void {
  update('evaluation', (e) => ({ compareMethods: { ...e.compareMethods, [side]: { ...e.compareMethods[side], ...patch } } }));
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
  // A compare side with a gradient baseline computes that instead of its rules (which then need not fit).
  const sides = state.evaluation.compareMethods;
  const methods = name === 'compare' ? [baselineOf(sides.a), baselineOf(sides.b)] : [];
  const invalid = assignments.map((a, i) => (methods[i] ? null : validateAssignment(model, a))).find((e) => e !== null);
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
        ...(methods.some((m) => m) ? { methods } : {}),
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

// ---------------------------------------------------------------------------------------------------------------
// Concept maps (CRP) for the channel view

/** How many of a layer's most relevant channels get a concept map. */
export const CONCEPT_TOP = 6;

/**
 * The concepts behind the channel view's layer `reader` (which shows the relevance arriving at its input): the
 * channels of the layer that produces that input (`layer`, a graph node name), along `axis` of its output.
 */
export interface ConceptSource {
  readonly reader: string;
  readonly layer: string;
  readonly axis: number;
  readonly channels: number;
}

export function conceptSource(model: ModelInfo, reader: string): ConceptSource | { readonly error: string } {
  const x = model.layers.find((l) => l.name === reader);
  if (!x) return { error: `this model has no layer ${reader}` };
  const value = x.inputs[0];
  const producer = model.layers.find((l) => l.output === value);
  if (!producer) return { error: `the input of ${reader} is the model's input: its channels are the image's colours, not concepts. Choose a later layer for concept maps.` };
  const axis = x.inputChannelsLast ? 3 : 1;
  const shape = producer.outputShape;
  if (shape.length !== 4 || !((shape[axis] ?? 0) > 1)) return { error: `${producer.name}'s output [${shape.join(', ')}] has no channels to condition on` };
  return { reader, layer: producer.name, axis, channels: shape[axis]! };
}

/**
 * For a concept layer (a share link's): the first layer of the channel view that reads its output (a layer with a
 * rule, whose input relevance the view ranks), or why there is none.
 */
export function conceptReader(model: ModelInfo, layer: string): ConceptSource | { readonly error: string } {
  const producer = model.layers.find((l) => l.name === layer);
  if (!producer) return { error: 'no layer' };
  for (const r of model.layers) {
    if (r.inputs[0] !== producer.output || r.cls === 'structural') continue;
    const source = conceptSource(model, r.name);
    if ('layer' in source) return source;
  }
  return { error: 'no channels' };
}

/** What the concept maps of `source` depend on; null while there is nothing to explain. */
export function conceptsKey(state: AppState, source: ConceptSource): string | null {
  const { model, image, rules, status } = state;
  if (!model.current || !image.current || !status.backend || status.starting) return null;
  const a = toAssignment(rules, model.current);
  return JSON.stringify(['concepts', model.current.id, model.version, image.version, a, rules.target, rules.contrast, status.backend.backend, source.layer, source.axis, CONCEPT_TOP]);
}

let conceptSeq = 0;

function setConcepts(patch: Partial<ConceptsState> | ((c: ConceptsState) => Partial<ConceptsState>)): void {
  update('evaluation', (e) => ({ concepts: { ...e.concepts, ...(typeof patch === 'function' ? patch(e.concepts) : patch) } }));
}

const withMap = (maps: readonly ConceptMap[], map: ConceptMap): ConceptMap[] => [...maps.filter((m) => m.channel !== map.channel), map];

/**
 * Asks the worker for the concept maps of `source` (the top CONCEPT_TOP channels, and the chosen concept's when it
 * is not among them) unless they are there, on their way, or failed for the same key: a failed or cancelled request
 * is shown once and never sent again by itself (`force`: Retry / Compute). The maps arrive one by one.
 */
export async function requestConcepts(source: ConceptSource, force = false): Promise<void> {
  const state = useStore.getState();
  const model = state.model.current;
  if (!model || state.rules.transient) return;
  const key = conceptsKey(state, source);
  if (!key) return;
  const c = state.evaluation.concepts;
  const concept = state.evaluation.concept;
  const wanted = concept && concept.layer === source.layer && concept.channel < source.channels ? concept.channel : null;
  const same = c.key === key;
  if (same && !force) {
    if (c.error !== null || c.cancelled) return;
    if (c.running) return; // the chosen concept is looked at again when this run is done
    if (wanted === null || c.maps.some((m) => m.channel === wanted)) return;
  }
  const rules = toAssignment(state.rules, model);
  const invalid = validateAssignment(model, rules);
  if (invalid) {
    update('evaluation', { concepts: { ...IDLE_CONCEPTS, key, error: invalid } });
    return;
  }
  // The same key, done, and only the chosen concept missing: its map alone joins the others.
  const incremental = same && !force && !c.running && c.ranking !== null;
  const kept = incremental ? c.maps : [];
  const mySeq = ++conceptSeq;
  const extra = wanted !== null ? [wanted] : [];
  update('evaluation', {
    concepts: { key, extra, running: true, done: 0, total: 0, ranking: incremental ? c.ranking : null, maps: kept, error: null, cancelled: false },
  });
  try {
    const result = await engineClient().concepts(
      {
        seq: mySeq,
        layer: source.layer,
        axis: source.axis,
        top: incremental ? 0 : CONCEPT_TOP,
        extra,
        rules,
        ...(state.rules.target !== null ? { target: state.rules.target } : {}),
        ...(state.rules.contrast !== null ? { contrastTarget: state.rules.contrast } : {}),
      },
      (u) => {
        if (mySeq !== conceptSeq) return;
        if (u.kind === 'ranking') setConcepts({ ranking: u.ranking, total: u.total });
        else setConcepts((s) => ({ maps: withMap(s.maps, u.map), done: u.done, total: u.total }));
      },
    );
    if (mySeq !== conceptSeq) return;
    if (!result) {
      // Superseded in the worker (an explanation came first, or a new model or image): asked for again when wanted.
      setConcepts({ key: null, running: false });
      return;
    }
    if (result.modelId !== useStore.getState().model.current?.id) return;
    setConcepts((s) => ({
      running: false,
      ranking: result.ranking,
      maps: result.maps.reduce(withMap, kept),
      done: s.total,
    }));
  } catch (e) {
    if (mySeq !== conceptSeq) return;
    setConcepts({ running: false, error: message(e) });
  }
}

/** Stops the concept maps being computed (Cancel): the maps so far stay; nothing is asked for again by itself. */
export function cancelConcepts(): void {
  conceptSeq++;
  setConcepts({ running: false, cancelled: true });
  void engineClient()
    .concepts({ seq: conceptSeq, layer: '', axis: 1, top: 0, extra: [], rules: { preset: 'gradient' }, cancel: true })
    .catch(() => undefined);
}

/** The channel view closes: a run in progress stops, and its maps are asked for again when the view is back. */
export function leaveConcepts(): void {
  const c = useStore.getState().evaluation.concepts;
  if (!c.running) return;
  cancelConcepts();
  update('evaluation', { concepts: IDLE_CONCEPTS });
}

/** Chooses the concept the channel view enlarges (and a share link carries); the same one again: none. */
export function selectConcept(concept: Concept | null): void {
  update('evaluation', (e) => ({
    concept: concept && e.concept && e.concept.layer === concept.layer && e.concept.channel === concept.channel ? null : concept,
  }));
}
