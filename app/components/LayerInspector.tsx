import { useEffect, useId, useMemo, useRef, useState } from 'react';
import { inspectLayer } from '../actions';
import { formatValue, renderHeatmap, sumChannels, sumChannelsLast, symmetricMax } from '../../src/models/colormap';
import { groupLayers } from '../layer-groups';
import { patchGridOf, tokenRelevance } from '../token-grid';
import { selectClassNames, selectModel, selectResult, selectView, useStore } from '../store';
import type { ExplainResult } from '../protocol';

const sum = (data: Float32Array) => {
  let s = 0;
  for (let i = 0; i < data.length; i++) s += data[i]!;
  return s;
};

/** The relevance the explanation started from: the target's logit, minus the contrast class's. */
export function seedRelevance(r: ExplainResult): number {
  return r.logits[r.target]! - (r.contrastTarget !== null && r.contrastTarget !== r.target ? r.logits[r.contrastTarget]! : 0);
}

export interface LayerTotal {
  readonly layer: string;
  readonly total: number;
  /** total / seed */
  readonly kept: number;
  /** What this layer's rule lost (bias, stabiliser) or added: the total above it minus this one. */
  readonly absorbed: number;
}

/** Relevance totals from the output down to the input: each layer's input, in the order relevance flows. */
export function layerTotals(r: ExplainResult): LayerTotal[] {
  const seed = seedRelevance(r);
  const rows: LayerTotal[] = [];
  let above = seed;
  for (const l of [...r.layers].reverse()) {
    const total = sum(l.data);
    rows.push({ layer: l.layer, total, kept: seed ? total / seed : NaN, absorbed: above - total });
    above = total;
  }
  return rows;
}

/** The mounted inspector's "bring the map into view" callbacks. */
const revealers = new Set<() => void>();

/**
 * Inspects a layer and scrolls the inspector's map of it into view: the "Inspect" buttons of the layers and rules
 * panel and the layer names of the totals table, which may lie a screen away from the map they change.
 */
export function inspectAndShow(layer: string): void {
  inspectLayer(layer);
  for (const reveal of revealers) reveal();
}

export function LayerInspector() {
  const result = useStore(selectResult);
  const view = useStore(selectView);
  const names = useStore(selectClassNames);
  const model = useStore(selectModel);
  const id = useId();
  const canvas = useRef<HTMLCanvasElement>(null);
  const shown = useRef<HTMLDivElement>(null);
  const section = useRef<HTMLElement>(null);
  /** Counts the requests to bring the map into view; the effect below scrolls after the render that shows it. */
  const [reveal, setReveal] = useState(0);
  useEffect(() => {
    const request = () => setReveal((n) => n + 1);
    revealers.add(request);
    return () => {
      revealers.delete(request);
    };
  }, []);
  useEffect(() => {
    if (reveal === 0) return;
    // Instant, not smooth: the next click (or test step) finds the page where it will stay.
    (shown.current ?? section.current)?.scrollIntoView({ block: 'nearest', inline: 'nearest' });
  }, [reveal]);

  const layers = useMemo(() => result?.layers ?? [], [result]);
  /** The menu's layers, in optgroups by module path as the layer panel groups them. */
  const options = useMemo(() => groupLayers(layers.map((l) => ({ name: l.layer }))), [layers]);
  const chosen = layers.find((l) => l.layer === view.inspect) ?? layers[0] ?? null;
  const channelsLast = !!chosen && !!model?.layers.find((l) => l.name === chosen.layer)?.inputChannelsLast;
  /** A ViT's patch grid (app/token-grid.ts): token tensors are shown on it. */
  const grid = useMemo(() => (model ? patchGridOf(model.layers, model.skeleton.input.name, model.inputShape) : null), [model]);
  const tokens = useMemo(
    () => (chosen && grid && !result?.nonFinite && !channelsLast ? tokenRelevance(chosen.data, chosen.shape, grid) : null),
    [chosen, grid, result, channelsLast],
  );
  const map = useMemo(
    () =>
      chosen && !result?.nonFinite ? (tokens ? tokens.map : (channelsLast ? sumChannelsLast : sumChannels)(chosen.data, chosen.shape)) : null,
    [chosen, result, channelsLast, tokens],
  );
  const vmax = useMemo(() => (map ? symmetricMax(map.data, view.clip ? view.clipPercentile : null) : 1), [map, view.clip, view.clipPercentile]);
  const totals = useMemo(() => (result && !result.nonFinite ? layerTotals(result) : []), [result]);
  const inputTotal = useMemo(() => (result ? sum(result.relevance) : NaN), [result]);

  useEffect(() => {
    const c = canvas.current;
    if (!c) return;
    if (!map) {
      c.getContext('2d')!.clearRect(0, 0, c.width, c.height);
      return;
    }
    c.width = map.width;
    c.height = map.height;
    c.getContext('2d')!.putImageData(new ImageData(renderHeatmap(map, view.colormap, vmax), map.width, map.height), 0, 0);
  }, [map, vmax, view.colormap]);

  const zoom = map ? Math.max(1, Math.floor(256 / Math.max(map.width, map.height))) : 1;
  const seed = result ? seedRelevance(result) : 0;
  // The first layer usually reads the input itself: then its row is the input's.
  const first = model?.layers.find((l) => l.name === layers[0]?.layer);
  const inputRow = !first || first.inputs[0] !== model?.skeleton.input.name;
  const maxKept = Math.max(1, ...totals.map((t) => Math.abs(t.kept)).filter(Number.isFinite));

  return (
    <section className="panel inspector-panel" ref={section} aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>Inspect a layer</h2>
      {!result || result.nonFinite ? (
        <p className="hint">Each layer’s relevance appears here after an explanation.</p>
      ) : (
        <div className="inspector">
          <div ref={shown} className="inspector-map">
            <div className="row">
              <label htmlFor={`${id}-layer`}>Layer</label>
              <select id={`${id}-layer`} value={chosen?.layer ?? ''} onChange={(e) => inspectLayer(e.target.value)}>
                {options.map((e) =>
                  e.kind === 'layer' ? (
                    <option key={e.layer.name} value={e.layer.name}>
                      {e.layer.name}
                    </option>
                  ) : (
                    <optgroup key={e.path} label={e.path}>
                      {e.layers.map((l) => (
                        <option key={l.name} value={l.name}>
                          {l.name}
                        </option>
                      ))}
                    </optgroup>
                  ),
                )}
              </select>
            </div>
            {chosen && map && (
              <figure className="layer-map">
                <div className="layer-map-row">
                  <canvas
                    ref={canvas}
                    role="img"
                    aria-label={
                      tokens
                        ? `Token relevance arriving at layer ${chosen.layer}, on the ${map.height}x${map.width} patch grid`
                        : `Relevance arriving at layer ${chosen.layer}, summed over channels`
                    }
                    data-grid={tokens ? `${map.height}x${map.width}` : undefined}
                    style={{ width: map.width * zoom, height: map.height * Math.max(zoom, map.height === 1 ? 16 : 1) }}
                  />
                  {tokens && tokens.classToken !== null && (
                    <p className="class-token" aria-label="Class token relevance">
                      Class token: <output>{formatValue(tokens.classToken)}</output>
                    </p>
                  )}
                </div>
                {tokens && grid ? (
                  <figcaption className="hint">
                    Token relevance at the input of {chosen.layer} [{chosen.shape.join(', ')}]: {tokens.tokens} tokens (axis {tokens.axis}) ={' '}
                    {tokens.classToken !== null ? 'the class token + ' : ''}
                    {grid.rows}×{grid.cols} patches of {grid.patch[0]}×{grid.patch[1]} pixels, each token summed over its features, drawn where its
                    patch lies in the image; scale ±{formatValue(vmax)}.
                  </figcaption>
                ) : (
                  <figcaption className="hint">
                    Relevance at the input of {chosen.layer} [{chosen.shape.join(', ')}]{channelsLast ? ' (NHWC)' : ''}, summed over channels; scale ±
                    {formatValue(vmax)}.
                  </figcaption>
                )}
              </figure>
            )}
          </div>
          <details className="totals-details">
            <summary>
              Relevance totals at each layer ({totals.length} layer{totals.length === 1 ? '' : 's'}
              {seed !== 0 && Number.isFinite(inputTotal) ? `; ${((inputTotal / seed) * 100).toFixed(1)}% reaches the input` : ''})
            </summary>
            <figure className="totals">
              <figcaption>
                Relevance total at each layer’s input, as a share of the{' '}
                {result.contrastTarget !== null
                  ? `logit difference (${names[result.target] ?? result.target} − ${names[result.contrastTarget] ?? result.contrastTarget})`
                  : `logit of “${names[result.target] ?? result.target}”`}{' '}
                = {formatValue(seed)}. Whatever a layer does not pass on went to its bias or stabiliser.
              </figcaption>
              <table className="totals-table">
                <thead>
                  <tr>
                    <th scope="col">Layer (output to input)</th>
                    <th scope="col">Total</th>
                    <th scope="col">Kept</th>
                    <th scope="col">Absorbed</th>
                    <th scope="col">
                      <span className="visually-hidden">Chart</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {totals.map((t) => (
                    <tr key={t.layer} className={t.layer === chosen?.layer ? 'selected' : undefined}>
                      <th scope="row">
                        <button type="button" className="link" onClick={() => inspectAndShow(t.layer)}>
                          {t.layer}
                        </button>
                      </th>
                      <td>{formatValue(t.total)}</td>
                      <td>{Number.isFinite(t.kept) ? `${(t.kept * 100).toFixed(1)}%` : '–'}</td>
                      <td>{formatValue(t.absorbed)}</td>
                      <td className="bar-cell" aria-hidden="true">
                        <span
                          className={t.kept < 0 ? 'bar negative' : 'bar'}
                          style={{ width: `${Number.isFinite(t.kept) ? (Math.abs(t.kept) / maxKept) * 100 : 0}%` }}
                        />
                      </td>
                    </tr>
                  ))}
                  {inputRow && (<tr>
                    <th scope="row">input</th>
                    <td>{formatValue(inputTotal)}</td>
                    <td>{seed ? `${((inputTotal / seed) * 100).toFixed(1)}%` : '–'}</td>
                    <td>{formatValue((totals.at(-1)?.total ?? seed) - inputTotal)}</td>
                    <td className="bar-cell" aria-hidden="true">
                      <span className="bar input" style={{ width: `${seed ? (Math.abs(inputTotal / seed) / maxKept) * 100 : 0}%` }} />
                    </td>
                  </tr>)}
                </tbody>
              </table>
            </figure>
          </details>
        </div>
      )}
    </section>
  );
}
