/**
 * A layer's channels ranked by relevance: the relevance arriving at the layer's input (already computed by the
 * explanation) summed per channel, most relevant first, with the maps of the top 16 channels; and what the top
 * channels look at in the image: their concept maps (CRP, Achtibat et al. 2023), the input relevance conditioned on
 * one channel at a time, computed in the worker while this view is shown. Choosing one enlarges it and makes it
 * the current concept (which a share link carries).
 */
import { useEffect, useId, useMemo } from 'react';
import { formatValue, symmetricMax, type ColormapId, type HeatMap } from '../../src/models/colormap';
import type { ConceptMap, ModelInfo } from '../protocol';
import {
  CONCEPT_TOP,
  cancelConcepts,
  conceptSource,
  conceptsKey,
  leaveConcepts,
  requestConcepts,
  selectConcept,
  setChannelsLayer,
  type ConceptSource,
} from '../evaluation';
import { selectResult, useStore, type Concept, type ConceptsState } from '../store';
import { MapCanvas } from './MapCanvas';

export const TOP_CHANNELS = 16;

export interface ChannelRank {
  readonly channel: number;
  readonly sum: number;
  readonly map: HeatMap;
}

/** Channels of an NCHW relevance tensor by their relevance sum, largest first (ties: lower index first). */
export function rankChannels(data: Float32Array, shape: readonly number[]): ChannelRank[] {
  const [, c = 0, h = 0, w = 0] = shape;
  const plane = h * w;
  const out: ChannelRank[] = [];
  for (let k = 0; k < c; k++) {
    const map = data.subarray(k * plane, (k + 1) * plane);
    let sum = 0;
    for (let i = 0; i < plane; i++) sum += map[i]!;
    out.push({ channel: k, sum, map: { width: w, height: h, data: map } });
  }
  return out.sort((a, b) => b.sum - a.sum || a.channel - b.channel);
}

/** The source of a layer's concepts, or null (no model, or its input is not a layer's output with channels). */
function sourceOf(model: ModelInfo | null, layer: string): ConceptSource | null {
  if (!model) return null;
  const s = conceptSource(model, layer);
  return 'layer' in s ? s : null;
}

export function ChannelsPanel() {
  const id = useId();
  const result = useStore(selectResult);
  const model = useStore((s) => s.model.current);
  const chosenName = useStore((s) => s.evaluation.channelsLayer);
  const concept = useStore((s) => s.evaluation.concept);
  const layers = useMemo(() => (result?.layers ?? []).filter((l) => l.shape.length === 4 && l.shape[1]! > 1), [result]);
  // The chosen layer; else one that shows the chosen concept's channels; else the first whose input is a layer's
  // output (the model's input has colours, not concepts); else the first.
  const chosen =
    layers.find((l) => l.layer === chosenName) ??
    (concept ? layers.find((l) => sourceOf(model, l.layer)?.layer === concept.layer) : undefined) ??
    layers.find((l) => sourceOf(model, l.layer) !== null) ??
    layers[0] ??
    null;
  const ranked = useMemo(() => (chosen ? rankChannels(chosen.data, chosen.shape) : []), [chosen]);
  const total = ranked.reduce((s, r) => s + r.sum, 0);
  const top = ranked.slice(0, TOP_CHANNELS);
  const vmax = useMemo(() => Math.max(1e-30, ...top.map((r) => symmetricMax(r.map.data, null))), [top]);
  const maxAbs = Math.max(1e-30, ...ranked.map((r) => Math.abs(r.sum)));
  if (!result || result.nonFinite) return <p className="hint">The channels appear after an explanation.</p>;
  if (!chosen) return <p className="hint">This model has no layer with channels (its layers’ inputs are not [1, C, H, W]).</p>;
  const topShare = top.reduce((s, r) => s + r.sum, 0);
  return (
    <div className="channels-panel">
      <div className="row">
        <label htmlFor={`${id}-layer`}>Layer</label>
        <select id={`${id}-layer`} value={chosen.layer} onChange={(e) => setChannelsLayer(e.target.value)}>
          {layers.map((l) => (
            <option key={l.layer} value={l.layer}>
              {l.layer} [{l.shape.join(', ')}]
            </option>
          ))}
        </select>
      </div>
      <p className="hint">
        Relevance at the input of {chosen.layer}: {ranked.length} channels, total {formatValue(total)}; the top {top.length} carry {formatValue(topShare)}
        {total !== 0 ? ` (${((topShare / total) * 100).toFixed(1)}%)` : ''}. Maps share one scale, ±{formatValue(vmax)}.
      </p>
      <div className="map-row small" data-testid="channel-maps">
        {top.map((r, i) => (
          <figure key={r.channel}>
            <MapCanvas map={r.map} vmax={vmax} size={80} label={`Relevance of channel ${r.channel} of ${chosen.layer}`} />
            <figcaption>
              #{i + 1} ch {r.channel}: {formatValue(r.sum)}
            </figcaption>
          </figure>
        ))}
      </div>
      {model && <Concepts model={model} reader={chosen.layer} />}
      <details>
        <summary>All {ranked.length} channels</summary>
        <table className="totals-table">
          <thead>
            <tr>
              <th scope="col">Rank</th>
              <th scope="col">Channel</th>
              <th scope="col">Relevance</th>
              <th scope="col">
                <span className="visually-hidden">Chart</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {ranked.map((r, i) => (
              <tr key={r.channel}>
                <td>{i + 1}</td>
                <td>{r.channel}</td>
                <td>{formatValue(r.sum)}</td>
                <td className="bar-cell" aria-hidden="true">
                  <span className={r.sum < 0 ? 'bar negative' : 'bar'} style={{ width: `${(Math.abs(r.sum) / maxAbs) * 100}%` }} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </div>
  );
}

const percent = (v: number, total: number): string | null => (Math.abs(total) > 1e-30 ? `${((v / total) * 100).toFixed(1)}%` : null);

/** "23.4% of the relevance" (or the value alone when the channels' relevance sums to about 0). */
function shareText(m: { relevance: number }, total: number): string {
  const p = percent(m.relevance, total);
  return p ? `${p} of the relevance` : `relevance ${formatValue(m.relevance)}`;
}

const sameConcept = (a: Concept | null, layer: string, channel: number) => a !== null && a.layer === layer && a.channel === channel;

/** The concept maps of the channels that feed `reader`: the top CONCEPT_TOP (and the chosen one), as buttons. */
function Concepts({ model, reader }: { model: ModelInfo; reader: string }) {
  const id = useId();
  const found = conceptSource(model, reader);
  const source = 'layer' in found ? found : null;
  const key = useStore((s) => (source ? conceptsKey(s, source) : null));
  const transient = useStore((s) => s.rules.transient);
  const concept = useStore((s) => s.evaluation.concept);
  const c = useStore((s) => s.evaluation.concepts);
  const view = useStore((s) => s.view);
  const sourceId = source ? `${source.layer}|${source.axis}|${source.channels}` : '';

  // Asked for whenever what they depend on changes (requestConcepts decides whether anything is to be done).
  useEffect(() => {
    if (source) void requestConcepts(source);
    // eslint-disable-next-line react-hooks/exhaustive-deps -- `source` is a new object each render; sourceId is its value
  }, [sourceId, key, transient, concept, c.key, c.running]);
  useEffect(() => () => leaveConcepts(), []);

  const clip = view.clip ? view.clipPercentile : null;
  const current = c.key !== null && c.key === key ? c : null;
  const maps = useMemo(() => ordered(current), [current]);
  const vmax = useMemo(() => Math.max(1e-30, ...maps.filter((m) => !m.nonFinite).map((m) => symmetricMax(m.map.data, clip))), [maps, clip]);

  if (!source) {
    return (
      <section className="concepts" aria-labelledby={`${id}-title`}>
        <h3 id={`${id}-title`}>Concept maps</h3>
        <p className="hint">{'error' in found ? found.error : ''}</p>
      </section>
    );
  }
  const total = current?.ranking?.total ?? 0;
  const selected = concept && concept.layer === source.layer ? concept : null;
  const selectedMap = selected ? maps.find((m) => m.channel === selected.channel) : undefined;
  return (
    <section className="concepts" aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`}>Concept maps: what the top channels look at</h3>
      <p className="hint" id={`${id}-hint`}>
        Each map is the input relevance conditioned on one channel of {source.layer} (CRP): the relevance passed down from that channel alone
        {source.reader !== source.layer ? ` (the channels ${source.reader} reads)` : ''}. The top {CONCEPT_TOP} of {source.channels} channels by
        relevance{current?.ranking ? `, for class ${current.ranking.target}` : ''}
        {maps.length ? `; the maps share one scale, ±${formatValue(vmax)}` : ''}. Choose one to enlarge it.
      </p>
      {current?.running && (
        <p className="concepts-progress">
          <progress max={Math.max(1, current.total)} value={current.done} aria-label="Concept maps computed" /> {current.done} of{' '}
          {current.total || '…'} maps{' '}
          <button type="button" className="small" onClick={cancelConcepts}>
            Cancel concept maps
          </button>
        </p>
      )}
      {current?.error && (
        <p className="error" role="alert">
          The concept maps could not be computed: {current.error}{' '}
          <button type="button" className="small" onClick={() => void requestConcepts(source, true)}>
            Retry concept maps
          </button>
        </p>
      )}
      {current?.cancelled && !current.running && (
        <p className="hint">
          Cancelled.{' '}
          <button type="button" className="small" onClick={() => void requestConcepts(source, true)}>
            Compute concept maps
          </button>
        </p>
      )}
      <ul className="concept-maps" aria-label={`Concept maps of ${source.layer}`} aria-describedby={`${id}-hint`}>
        {maps.map((m) => (
          <li key={m.channel}>
            <ConceptButton
              map={m}
              layer={source.layer}
              total={total}
              vmax={vmax}
              colormap={view.colormap}
              pressed={sameConcept(concept, source.layer, m.channel)}
            />
          </li>
        ))}
      </ul>
      {selected && (
        <figure className="concept-view" aria-live="polite">
          {selectedMap && !selectedMap.nonFinite ? (
            <MapCanvas
              map={selectedMap.map}
              vmax={symmetricMax(selectedMap.map.data, clip)}
              colormap={view.colormap}
              size={240}
              label={`Concept view: input relevance conditioned on channel ${selected.channel} of ${source.layer}`}
              testId="concept-view"
            />
          ) : (
            <p className="hint">{selectedMap ? 'This map has NaN or infinite relevance and is not drawn.' : `The map of channel ${selected.channel} is being computed…`}</p>
          )}
          <figcaption>
            Channel {selected.channel} of {source.layer}
            {selectedMap ? `: ${shareText(selectedMap, total)}; its own scale, ±${formatValue(symmetricMax(selectedMap.map.data, clip))}` : ''}
          </figcaption>
        </figure>
      )}
    </section>
  );
}

/** The maps in rank order (the chosen concept's, when it is not a top one, after them). */
function ordered(c: ConceptsState | null): ConceptMap[] {
  if (!c) return [];
  const rank = new Map((c.ranking?.channels ?? []).map((r, i) => [r.channel, i]));
  return [...c.maps].sort((a, b) => (rank.get(a.channel) ?? Infinity) - (rank.get(b.channel) ?? Infinity) || a.channel - b.channel);
}

interface ConceptButtonProps {
  readonly map: ConceptMap;
  readonly layer: string;
  readonly total: number;
  readonly vmax: number;
  readonly colormap: ColormapId;
  readonly pressed: boolean;
}

function ConceptButton({ map, layer, total, vmax, colormap, pressed }: ConceptButtonProps) {
  const p = percent(map.relevance, total);
  // The visible caption starts the accessible name (WCAG 2.5.3, label in name).
  const caption = `Channel ${map.channel}: ${p ?? formatValue(map.relevance)}`;
  return (
    <button
      type="button"
      className={pressed ? 'concept selected' : 'concept'}
      aria-pressed={pressed}
      aria-label={p ? `${caption} of ${layer}'s relevance` : `${caption}, the relevance of this channel of ${layer}`}
      onClick={() => selectConcept({ layer, channel: map.channel })}
    >
      {map.nonFinite ? (
        <span className="concept-missing">not drawn (NaN or infinite relevance)</span>
      ) : (
        <MapCanvas map={map.map} vmax={vmax} colormap={colormap} size={80} label={`Input relevance conditioned on channel ${map.channel} of ${layer}`} />
      )}
      <span className="concept-caption" aria-hidden="true">
        {caption}
      </span>
    </button>
  );
}
