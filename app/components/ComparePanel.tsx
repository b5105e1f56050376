/**
 * Two rule assignments side by side: A (the current rules) and B (a preset, or a snapshot of an earlier
 * assignment), their difference A − B, and both pixel-flipping curves on one chart.
 */
import { useId, useMemo } from 'react';
import { symmetricMax, type HeatMap } from '../../src/models/colormap';
import { cancelRun, compareWithPreset, compareWithSnapshot, runComparison, runKey, snapshotCurrentRules } from '../evaluation';
import { composites, PRESET_ORDER } from '../rules-state';
import { selectEvaluation, useStore } from '../store';
import { B_COLOR, EvaluationSettingsRow, ProgressRow, RANDOM_COLOR, RELEVANCE_COLOR } from './EvaluatePanel';
import { LineChart } from './LineChart';
import { MapCanvas } from './MapCanvas';

const presetName = (id: string) => composites.find((c) => c.id === id)?.label ?? id;

export function difference(a: HeatMap, b: HeatMap): HeatMap {
  const data = new Float32Array(a.data.length);
  for (let i = 0; i < data.length; i++) data[i] = a.data[i]! - b.data[i]!;
  return { width: a.width, height: a.height, data };
}

export function ComparePanel() {
  const id = useId();
  const evaluation = useStore(selectEvaluation);
  const rules = useStore((s) => s.rules);
  const currentKey = useStore((s) => runKey(s, 'compare'));
  const ready = useStore((s) => !!s.model.current && !!s.image.current && !!s.result.current);
  const run = evaluation.compare;
  const r = run.result;
  const [a, b] = r?.runs ?? [];
  const diff = useMemo(() => (a && b ? difference(a.map, b.map) : null), [a, b]);
  // A and B share one scale, so their colours compare directly.
  const vmax = useMemo(() => (a && b ? Math.max(symmetricMax(a.map.data, null), symmetricMax(b.map.data, null)) : 1), [a, b]);
  const stale = r !== null && run.key !== currentKey;
  const overrides = Object.keys(rules.overrides).length;
  const labelA = `A: ${presetName(rules.preset)}${overrides ? ` + ${overrides} layer rule${overrides > 1 ? 's' : ''}` : ''}`;
  const b0 = evaluation.compareWith;
  const labelB = `B: ${b0.kind === 'preset' ? presetName(b0.preset) : b0.label}`;
  const choice = b0.kind === 'snapshot' ? 'snapshot' : b0.preset;
  return (
    <div className="compare-panel">
      <p className="hint">A is the current rule assignment; B is a preset or a snapshot of an assignment you kept. Both explain the same class.</p>
      <div className="row">
        <label htmlFor={`${id}-b`}>Compare with</label>
        <select
          id={`${id}-b`}
          value={choice}
          disabled={run.running}
          onChange={(e) => (e.target.value === 'snapshot' ? compareWithSnapshot() : compareWithPreset(e.target.value))}
        >
          {PRESET_ORDER.map((p) => (
            <option key={p} value={p}>
              {presetName(p)}
            </option>
          ))}
          {evaluation.snapshot && <option value="snapshot">{evaluation.snapshot.label}</option>}
        </select>
        <button type="button" onClick={snapshotCurrentRules} disabled={run.running} title="Keep the current rules as B, then change A">
          Snapshot current rules as B
        </button>
      </div>
      <EvaluationSettingsRow disabled={run.running} />
      <div className="row">
        <button type="button" onClick={() => void runComparison()} disabled={!ready}>
          Compare
        </button>
        <ProgressRow run={run} onCancel={() => cancelRun('compare')} />
      </div>
      {run.error && <p className="error">{run.error}</p>}
      {r && a && b && diff && (
        <div className={stale ? 'stale' : undefined}>
          {stale && <p className="hint">Out of date: the rules, image or settings changed since. Compare again.</p>}
          <div className="map-row">
            <figure>
              <MapCanvas map={a.map} vmax={vmax} label={`Heatmap ${labelA}`} testId="compare-a" />
              <figcaption>{labelA}</figcaption>
            </figure>
            <figure>
              <MapCanvas map={b.map} vmax={vmax} label={`Heatmap ${labelB}`} testId="compare-b" />
              <figcaption>{labelB}</figcaption>
            </figure>
            <figure>
              <MapCanvas map={diff} label="Difference A − B" testId="compare-diff" />
              <figcaption>A − B (red: A higher), ±{symmetricMax(diff.data, null).toPrecision(3)}</figcaption>
            </figure>
          </div>
          {a.relevanceOrder && b.relevanceOrder && a.randomOrder && (
            <>
              <LineChart
                title="Pixel flipping of A and B"
                xLabel="patches removed"
                yLabel="target logit"
                percentX
                series={[
                  { label: labelA, color: RELEVANCE_COLOR, x: a.relevanceOrder.fractions, y: a.relevanceOrder.scores },
                  { label: labelB, color: B_COLOR, x: b.relevanceOrder.fractions, y: b.relevanceOrder.scores },
                  { label: 'random order', color: RANDOM_COLOR, dashed: true, x: a.randomOrder.fractions, y: a.randomOrder.scores },
                ]}
              />
              <dl className="aopc" data-testid="compare-aopc">
                <dt>AOPC {labelA}</dt>
                <dd>{a.relevanceOrder.aopc.toFixed(4)}</dd>
                <dt>AOPC {labelB}</dt>
                <dd>{b.relevanceOrder.aopc.toFixed(4)}</dd>
                <dt>AOPC random order</dt>
                <dd>{a.randomOrder.aopc.toFixed(4)}</dd>
              </dl>
            </>
          )}
        </div>
      )}
    </div>
  );
}
