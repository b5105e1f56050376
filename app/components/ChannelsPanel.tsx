/**
 * A layer's channels ranked by relevance: the relevance arriving at the layer's input (already computed by the
 * explanation) summed per channel, most relevant first, with the maps of the top 16 channels.
 */
import { useId, useMemo } from 'react';
import { formatValue, symmetricMax, type HeatMap } from '../../src/models/colormap';
import { setChannelsLayer } from '../evaluation';
import { selectResult, useStore } from '../store';
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

export function ChannelsPanel() {
  const id = useId();
  const result = useStore(selectResult);
  const chosenName = useStore((s) => s.evaluation.channelsLayer);
  const layers = useMemo(() => (result?.layers ?? []).filter((l) => l.shape.length === 4 && l.shape[1]! > 1), [result]);
  const chosen = layers.find((l) => l.layer === chosenName) ?? layers[0] ?? null;
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
