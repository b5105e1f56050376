/**
 * Two rule assignments side by side: A (the current rules) and B (a preset, or a snapshot of an earlier
 * assignment), their difference A − B, and both pixel-flipping curves on one chart.
 */
import { useId, useMemo, useState } from 'react';
import { formatValue, symmetricMax, type HeatMap } from '../../src/models/colormap';
import { baselineLabel, baselineOf, COMPARE_METHOD_LIMITS, COMPARE_METHOD_NAMES, COMPARE_METHOD_ORDER, type CompareMethod, type CompareMethodId } from '../compare-methods';
import { cancelRun, compareWithPreset, compareWithSnapshot, runComparison, runKey, setCompareMethod, snapshotCurrentRules } from '../evaluation';
import { composites, PRESET_ORDER } from '../rules-state';
import { selectEvaluation, useStore } from '../store';
import { B_COLOR, EvaluationSettingsRow, ProgressRow, RANDOM_COLOR, RELEVANCE_COLOR } from './EvaluatePanel';
import { LineChart } from './LineChart';
import { MapCanvas } from './MapCanvas';
import { NumberField } from './NumberField';

const presetName = (id: string) => composites.find((c) => c.id === id)?.label ?? id;

export function difference(a: HeatMap, b: HeatMap): HeatMap {
  const data = new Float32Array(a.data.length);
  for (let i = 0; i < data.length; i++) data[i] = a.data[i]! - b.data[i]!;
  return { width: a.width, height: a.height, data };
}

/**
 * The method of one side: its LRP rules, or a gradient baseline with its parameters (SmoothGrad's samples and noise
 * level, Integrated Gradients' steps; whole numbers are rounded).
 */
function MethodChooser({ side, method, disabled }: { side: 'a' | 'b'; method: CompareMethod; disabled: boolean }) {
  const id = useId();
  const S = side.toUpperCase();
  const L = COMPARE_METHOD_LIMITS;
  const lrp = side === 'a' ? 'LRP (the current rules)' : 'LRP (the rules chosen below)';
  return (
    <div className="row compare-method">
      <label htmlFor={`${id}-m`}>Method of {S}</label>
      <select id={`${id}-m`} value={method.method} disabled={disabled} onChange={(e) => setCompareMethod(side, { method: e.target.value as CompareMethodId })}>
        {COMPARE_METHOD_ORDER.map((m) => (
          <option key={m} value={m}>
            {m === 'lrp' ? lrp : COMPARE_METHOD_NAMES[m]}
          </option>
        ))}
      </select>
      {method.method === 'smoothgrad' && (
        <>
          <span aria-hidden="true">samples</span>
          <NumberField
            label={`SmoothGrad samples of ${S}`}
            value={method.samples}
            min={L.samples.min}
            max={L.samples.max}
            size={4}
            disabled={disabled}
            onCommit={(x) => setCompareMethod(side, { samples: Math.round(x) })}
          />
          <span aria-hidden="true">noise level</span>
          <NumberField
            label={`SmoothGrad noise level of ${S}`}
            value={method.noiseLevel}
            min={L.noiseLevel.min}
            max={L.noiseLevel.max}
            size={5}
            disabled={disabled}
            onCommit={(x) => setCompareMethod(side, { noiseLevel: x })}
          />
        </>
      )}
      {method.method === 'integrated-gradients' && (
        <>
          <span aria-hidden="true">steps</span>
          <NumberField
            label={`Integrated Gradients steps of ${S}`}
            value={method.steps}
            min={L.steps.min}
            max={L.steps.max}
            size={4}
            disabled={disabled}
            onCommit={(x) => setCompareMethod(side, { steps: Math.round(x) })}
          />
          <span className="hint">baseline: zeros</span>
        </>
      )}
    </div>
  );
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
  /**
   * Shared: A and B on one scale, so that their colours compare directly (a map far weaker than the other then looks
   * blank). Per map: each on its own largest |relevance|, to see where each puts its relevance.
   */
  const [scale, setScale] = useState<'shared' | 'per-map'>('shared');
  const maxA = useMemo(() => (a ? symmetricMax(a.map.data, null) : 1), [a]);
  const maxB = useMemo(() => (b ? symmetricMax(b.map.data, null) : 1), [b]);
  const maxDiff = useMemo(() => (diff ? symmetricMax(diff.data, null) : 1), [diff]);
  const shared = Math.max(maxA, maxB);
  const vmaxA = scale === 'shared' ? shared : maxA;
  const vmaxB = scale === 'shared' ? shared : maxB;
  /** How many times weaker the weaker map is: on a shared scale, beyond ~50 it hardly shows. */
  const ratio = Math.min(maxA, maxB) > 0 ? shared / Math.min(maxA, maxB) : Infinity;
  const stale = r !== null && run.key !== currentKey;
  const overrides = Object.keys(rules.overrides).length;
  const methods = evaluation.compareMethods;
  const baselineA = baselineOf(methods.a);
  const baselineB = baselineOf(methods.b);
  const labelA = `A: ${baselineA ? baselineLabel(baselineA) : `${presetName(rules.preset)}${overrides ? ` + ${overrides} layer rule${overrides > 1 ? 's' : ''}` : ''}`}`;
  const b0 = evaluation.compareWith;
  const labelB = `B: ${baselineB ? baselineLabel(baselineB) : b0.kind === 'preset' ? presetName(b0.preset) : b0.label}`;
  const choice = b0.kind === 'snapshot' ? 'snapshot' : b0.preset;
  return (
    <div className="compare-panel">
      <p className="hint">
        A is the current rule assignment; B is a preset or a snapshot of an assignment you kept. Either side can be a gradient baseline instead. Both explain
        the same class.
      </p>
      <MethodChooser side="a" method={methods.a} disabled={run.running} />
      <MethodChooser side="b" method={methods.b} disabled={run.running} />
      {!baselineB && (
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
      )}
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
          <fieldset className="scale-choice">
            <legend>Scale of A and B</legend>
            <label className="check">
              <input type="radio" name={`${id}-scale`} value="shared" checked={scale === 'shared'} onChange={() => setScale('shared')} /> Shared
            </label>
            <label className="check">
              <input type="radio" name={`${id}-scale`} value="per-map" checked={scale === 'per-map'} onChange={() => setScale('per-map')} />{' '}
              Per map
            </label>
          </fieldset>
          {scale === 'shared' && ratio > 50 && (
            <p className="hint">
              {maxA < maxB ? 'A' : 'B'}’s largest |relevance| is {Number.isFinite(ratio) ? `1/${ratio >= 100 ? Math.round(ratio) : ratio.toPrecision(2)}` : 'none'} of{' '}
              {maxA < maxB ? 'B' : 'A'}’s: on the shared scale it hardly shows. Choose “Per map” to see it.
            </p>
          )}
          <div className="map-row">
            <figure>
              <MapCanvas map={a.map} vmax={vmaxA} label={`Heatmap ${labelA}`} testId="compare-a" />
              <p className="map-scale">
                Scale ±{formatValue(vmaxA)}
                {scale === 'shared' ? ' (shared)' : ''}
              </p>
              <figcaption>{labelA}</figcaption>
            </figure>
            <figure>
              <MapCanvas map={b.map} vmax={vmaxB} label={`Heatmap ${labelB}`} testId="compare-b" />
              <p className="map-scale">
                Scale ±{formatValue(vmaxB)}
                {scale === 'shared' ? ' (shared)' : ''}
              </p>
              <figcaption>{labelB}</figcaption>
            </figure>
            <figure>
              <MapCanvas map={diff} vmax={maxDiff} label="Difference A − B" testId="compare-diff" />
              <p className="map-scale">
                Scale ±{formatValue(maxDiff)}
              </p>
              <figcaption>A − B (red: A higher), ±{maxDiff.toPrecision(3)}</figcaption>
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
