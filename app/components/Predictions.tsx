import { useId, useMemo } from 'react';
import { setContrast, setTarget } from '../actions';
import { selectClassNames, selectResult, selectRules, useStore } from '../store';

/** Softmax of the logits in float64 (the importer removed the model's own softmax, if it had one). */
export function softmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  const out = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += out[i] = Math.exp(logits[i]! - max);
  for (let i = 0; i < out.length; i++) out[i]! /= sum;
  return out;
}

export function topK(values: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: values.length }, (_, i) => i)
    .sort((a, b) => values[b]! - values[a]! || a - b)
    .slice(0, k);
}

export function Predictions() {
  const result = useStore(selectResult);
  const rules = useStore(selectRules);
  const names = useStore(selectClassNames);
  const id = useId();
  const probs = useMemo(() => (result ? softmax(result.logits) : null), [result]);
  const top = useMemo(() => (probs ? topK(probs, 5) : []), [probs]);
  const name = (i: number) => names[i] ?? `class ${i}`;
  const count = result?.logits.length ?? names.length;
  const explained = result?.target ?? null;
  // The class asked for: the radio follows the choice at once, the heatmap when it is computed.
  const requested = rules.target ?? top[0] ?? null;
  const percent = (p: number) => (Number.isFinite(p) ? `${(p * 100).toFixed(1)}%` : '–');

  return (
    <section className="panel">
      <h2>Predictions</h2>
      {!result && <p className="hint">The top five classes appear here after the first explanation.</p>}
      {result && probs && (
        <ol className="predictions" aria-label="Predictions">
          {top.map((k) => (
            <li key={k} className={k === explained ? 'explained' : undefined}>
              <label>
                <input type="radio" name={`${id}-target`} checked={k === requested} onChange={() => setTarget(k === top[0] ? null : k)} />
                <span className="class-name">{name(k)}</span>
                <span className="prob">{percent(probs[k]!)}</span>
                <span className="bar" aria-hidden="true">
                  <span style={{ width: Number.isFinite(probs[k]!) ? `${(probs[k]! * 100).toFixed(1)}%` : 0 }} />
                </span>
              </label>
            </li>
          ))}
        </ol>
      )}
      <div className="grid2">
        <label htmlFor={`${id}-class`}>Explain</label>
        <select
          id={`${id}-class`}
          value={rules.target === null ? '' : String(rules.target)}
          onChange={(e) => setTarget(e.target.value === '' ? null : Number(e.target.value))}
          disabled={!count}
        >
          <option value="">The top class{result && top[0] !== undefined ? ` (${name(top[0])})` : ''}</option>
          {Array.from({ length: count }, (_, i) => (
            <option key={i} value={i}>
              {i}: {name(i)}
            </option>
          ))}
        </select>
        <label htmlFor={`${id}-contrast`}>Against</label>
        <select
          id={`${id}-contrast`}
          value={rules.contrast === null ? '' : String(rules.contrast)}
          onChange={(e) => setContrast(e.target.value === '' ? null : Number(e.target.value))}
          disabled={!count}
          aria-describedby={`${id}-contrast-hint`}
        >
          <option value="">No contrast</option>
          {Array.from({ length: count }, (_, i) =>
            i === explained ? null : (
              <option key={i} value={i}>
                {i}: {name(i)}
              </option>
            ),
          )}
        </select>
      </div>
      <p id={`${id}-contrast-hint`} className="hint">
        {result && result.contrastTarget !== null
          ? `Showing: relevance of “${name(result.target)}” minus relevance of “${name(result.contrastTarget)}”.`
          : 'Contrast: the relevance of the explained class minus that of another class.'}
      </p>
    </section>
  );
}
