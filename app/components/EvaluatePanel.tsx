/**
 * Pixel flipping of the current explanation: the target's logit as the most relevant patches are removed (and,
 * as the baseline, patches in a random order), with the AOPC of both. Computed in the engine worker on request.
 */
import { useEffect, useId, useState } from 'react';
import { cancelRun, runEvaluation, runKey, setEvaluationSettings } from '../evaluation';
import type { PerturbationBaseline } from '../protocol';
import { selectEvaluation, selectModel, useStore, type RunState } from '../store';
import { LineChart } from './LineChart';

const BASELINES: readonly { id: PerturbationBaseline; label: string }[] = [
  { id: 'blur', label: 'blur (box filter of the patch size)' },
  { id: 'mean', label: 'mean colour' },
  { id: 'noise', label: 'uniform noise' },
  { id: 'zero', label: 'zero (model input space)' },
];

export const RELEVANCE_COLOR = '#c0392b';
export const RANDOM_COLOR = '#7f8c8d';
export const B_COLOR = '#2471a3';

/** Patch size, baseline and steps, shared by the evaluation and the comparison. */
export function EvaluationSettingsRow({ disabled }: { disabled: boolean }) {
  const id = useId();
  const settings = useStore((s) => s.evaluation.settings);
  const model = useStore(selectModel);
  const side = model && model.inputShape.length === 4 ? Math.min(model.inputShape[2]!, model.inputShape[3]!) : 0;
  // The current values are always offered (a share link may set any patch size and number of steps).
  const withCurrent = (list: number[], current: number) => [...new Set([...list, current])].sort((a, b) => a - b);
  const patches = withCurrent([2, 4, 8, 16, 32, 56].filter((p) => p <= side / 2), settings.patch);
  const steps = withCurrent([4, 8, 16, 32], settings.steps);
  return (
    <div className="row">
      <label htmlFor={`${id}-patch`}>Patch</label>
      <select id={`${id}-patch`} value={settings.patch} disabled={disabled} onChange={(e) => setEvaluationSettings({ patch: Number(e.target.value) })}>
        {patches.map((p) => (
          <option key={p} value={p}>
            {p}×{p}
          </option>
        ))}
      </select>
      <label htmlFor={`${id}-baseline`}>Baseline</label>
      <select
        id={`${id}-baseline`}
        value={settings.baseline}
        disabled={disabled}
        onChange={(e) => setEvaluationSettings({ baseline: e.target.value as PerturbationBaseline })}
      >
        {BASELINES.map((b) => (
          <option key={b.id} value={b.id}>
            {b.label}
          </option>
        ))}
      </select>
      <label htmlFor={`${id}-steps`}>Steps</label>
      <select id={`${id}-steps`} value={settings.steps} disabled={disabled} onChange={(e) => setEvaluationSettings({ steps: Number(e.target.value) })}>
        {steps.map((n) => (
          <option key={n} value={n}>
            {n}
          </option>
        ))}
      </select>
    </div>
  );
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Re-renders every `ms` while `on`; returns performance.now() at the last render. */
function useTicker(on: boolean, ms: number): number {
  const [now, setNow] = useState(() => performance.now());
  useEffect(() => {
    if (!on) return;
    setNow(performance.now());
    const t = setInterval(() => setNow(performance.now()), ms);
    return () => clearInterval(t);
  }, [on, ms]);
  return now;
}

/**
 * A run's progress: the bar with its share done and the time elapsed, which ticks every half second (so the row
 * moves even while one long step, e.g. the first explanation, reports nothing); at the end, how long it took.
 */
export function ProgressRow({ run, onCancel }: { run: RunState<unknown>; onCancel: () => void }) {
  const now = useTicker(run.running, 500);
  if (!run.running) {
    if (run.elapsedMs === null) return null;
    return (
      <p className="hint run-time" role="status">
        {run.error ? 'Stopped' : 'Finished'} after {seconds(run.elapsedMs)}.
      </p>
    );
  }
  const elapsed = run.startedAt !== null ? Math.max(0, now - run.startedAt) : 0;
  return (
    <div className="row" role="status">
      <progress max={1} value={run.progress} aria-label="Progress" /> {Math.round(run.progress * 100)}%{' · '}
      <span className="elapsed" aria-live="off">
        {seconds(elapsed)} elapsed
      </span>
      <button type="button" onClick={onCancel}>
        Cancel
      </button>
    </div>
  );
}

export function EvaluatePanel() {
  const evaluation = useStore(selectEvaluation);
  const currentKey = useStore((s) => runKey(s, 'evaluate'));
  const ready = useStore((s) => !!s.model.current && !!s.image.current && !!s.result.current);
  const names = useStore((s) => s.model.current?.card.classes);
  const run = evaluation.evaluate;
  const r = run.result;
  const curves = r?.runs[0];
  const stale = r !== null && run.key !== currentKey;
  return (
    <div className="evaluate-panel">
      <p className="hint">
        Pixel flipping: the image’s {evaluation.settings.patch}×{evaluation.settings.patch} patches are replaced by the baseline, most relevant first
        (and in a random order, for comparison), and the model runs again. A faithful heatmap makes the target’s logit fall fast: a larger area over the
        curve (AOPC) than the random order’s.
      </p>
      <EvaluationSettingsRow disabled={run.running} />
      <div className="row">
        <button type="button" onClick={() => void runEvaluation()} disabled={!ready}>
          Evaluate
        </button>
        <ProgressRow run={run} onCancel={() => cancelRun('evaluate')} />
      </div>
      {run.error && <p className="error">{run.error}</p>}
      {curves?.relevanceOrder && curves.randomOrder && r && (
        <div className={stale ? 'stale' : undefined}>
          {stale && <p className="hint">Out of date: the rules, image or settings changed since. Evaluate again.</p>}
          <LineChart
            title={`Pixel flipping: logit of ${names?.[r.target] ?? `class ${r.target}`} against the share of patches removed`}
            xLabel="patches removed"
            yLabel="target logit"
            percentX
            series={[
              { label: 'relevance order', color: RELEVANCE_COLOR, x: curves.relevanceOrder.fractions, y: curves.relevanceOrder.scores },
              { label: 'random order', color: RANDOM_COLOR, dashed: true, x: curves.randomOrder.fractions, y: curves.randomOrder.scores },
            ]}
          />
          <dl className="aopc" data-testid="aopc">
            <dt>AOPC, relevance order</dt>
            <dd data-testid="aopc-relevance">{curves.relevanceOrder.aopc.toFixed(4)}</dd>
            <dt>AOPC, random order</dt>
            <dd data-testid="aopc-random">{curves.randomOrder.aopc.toFixed(4)}</dd>
          </dl>
          <p className="hint">
            {r.regions} patches, {evaluation.settings.steps} steps; {(r.ms / 1000).toFixed(1)} s.
          </p>
        </div>
      )}
    </div>
  );
}
