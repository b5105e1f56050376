import { useEffect, useId, useMemo, useRef, useState } from 'react';
import { downloadHeatmap, downloadRelevance, setClip, setColormap, setOpacity } from '../actions';
import { colormapInfo, colormaps, formatValue, renderHeatmap, sumChannels, symmetricMax, type ColormapId, type HeatMap } from '../../src/models/colormap';
import { publishHeatmap, retryExplanation } from '../controller';
import { selectImage, selectResultSlice, selectView, useStore } from '../store';
import { ColorBar } from './ColorBar';
import { NumberField } from './NumberField';
import { SKIP_TARGETS } from './SkipLinks';

const DISPLAY = 512;

export function HeatmapView() {
  const { current: result, error, computing } = useStore(selectResultSlice);
  const image = useStore(selectImage);
  const view = useStore(selectView);
  const imageCanvas = useRef<HTMLCanvasElement>(null);
  const heatCanvas = useRef<HTMLCanvasElement>(null);
  const [probe, setProbe] = useState<{ x: number; y: number } | null>(null);
  /** The pixel last clicked or chosen with the arrow keys: the probe returns to it when the pointer leaves. */
  const [pinned, setPinned] = useState<{ x: number; y: number } | null>(null);
  const id = useId();

  const map: HeatMap | null = useMemo(() => (result && !result.nonFinite ? sumChannels(result.relevance, result.inputShape) : null), [result]);
  const vmax = useMemo(() => (map ? symmetricMax(map.data, view.clip ? view.clipPercentile : null) : 1), [map, view.clip, view.clipPercentile]);

  const width = image.view?.width ?? (map ? Math.round((DISPLAY * map.width) / Math.max(map.width, map.height)) : DISPLAY);
  const height = image.view?.height ?? (map ? Math.round((DISPLAY * map.height) / Math.max(map.width, map.height)) : DISPLAY);

  useEffect(() => {
    const canvas = imageCanvas.current;
    const bitmap = image.view?.bitmap;
    if (!canvas) return;
    const ctx = canvas.getContext('2d')!;
    if (!bitmap) {
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      return;
    }
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    ctx.drawImage(bitmap, 0, 0);
  }, [image.view]);

  useEffect(() => {
    const canvas = heatCanvas.current;
    if (!canvas) return;
    const ctx = canvas.getContext('2d')!;
    if (!map) {
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      publishHeatmap(null);
      return;
    }
    canvas.width = map.width;
    canvas.height = map.height;
    ctx.putImageData(new ImageData(renderHeatmap(map, view.colormap, vmax), map.width, map.height), 0, 0);
    publishHeatmap({ width: map.width, height: map.height, data: map.data, vmax, colormap: view.colormap });
  }, [map, vmax, view.colormap]);

  const probeInside = !!map && !!probe && probe.x < map.width && probe.y < map.height;
  const probeValue = probeInside ? map.data[probe.y * map.width + probe.x]! : null;

  const pointAt = (event: React.PointerEvent<HTMLCanvasElement>) => {
    if (!map) return null;
    const rect = event.currentTarget.getBoundingClientRect();
    const x = Math.floor(((event.clientX - rect.left) / rect.width) * map.width);
    const y = Math.floor(((event.clientY - rect.top) / rect.height) * map.height);
    return x >= 0 && y >= 0 && x < map.width && y < map.height ? { x, y } : null;
  };
  const moveProbe = (event: React.PointerEvent<HTMLCanvasElement>) => {
    const p = pointAt(event);
    if (p) setProbe(p);
  };
  const pinProbe = (event: React.PointerEvent<HTMLCanvasElement>) => {
    const p = pointAt(event);
    if (!p) return;
    setProbe(p);
    setPinned(p);
  };
  const keyProbe = (event: React.KeyboardEvent<HTMLCanvasElement>) => {
    if (!map) return;
    const step = event.shiftKey ? 8 : 1;
    const d = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[event.key];
    if (!d) return;
    event.preventDefault();
    const p = probe ?? pinned ?? { x: map.width >> 1, y: map.height >> 1 };
    const next = { x: Math.min(map.width - 1, Math.max(0, p.x + d[0]!)), y: Math.min(map.height - 1, Math.max(0, p.y + d[1]!)) };
    setProbe(next);
    setPinned(next);
  };

  const nonFinite = result?.nonFinite;
  const info = colormapInfo(view.colormap);

  return (
    <section className="panel heatmap-panel" id="heatmap">
      <h2>Relevance</h2>
      <div className="stage" style={{ width, height }} aria-busy={computing}>
        <canvas ref={imageCanvas} className="layer-image" style={{ width, height }} aria-label="Image as the model sees it" role="img" />
        <canvas
          ref={heatCanvas}
          className="layer-heat"
          role="img"
          aria-label="Relevance heatmap"
          aria-describedby={`${id}-probe`}
          id={SKIP_TARGETS.heatmap}
          tabIndex={0}
          style={{ width, height, opacity: map ? view.opacity : 0 }}
          onPointerMove={moveProbe}
          onPointerDown={pinProbe}
          onPointerLeave={() => setProbe(pinned)}
          onKeyDown={keyProbe}
          onBlur={() => {
            setProbe(null);
            setPinned(null);
          }}
        />
        {probeInside && (
          // The probed pixel: a ring in white and black, seen on any colour, at least 12 CSS pixels across.
          <div
            className="probe-marker"
            data-testid="probe-marker"
            aria-hidden="true"
            style={{
              left: `${((probe.x + 0.5) / map.width) * 100}%`,
              top: `${((probe.y + 0.5) / map.height) * 100}%`,
              width: `max(12px, ${100 / map.width}%)`,
              height: `max(12px, ${100 / map.height}%)`,
            }}
          />
        )}
        {computing && <div className="computing">Computing…</div>}
      </div>
      <p id={`${id}-probe`} className="probe" aria-live="polite">
        {probe && probeValue !== null
          ? `Pixel (${probe.x}, ${probe.y}): relevance ${formatValue(probeValue)} (summed over channels)`
          : map
            ? 'Point at the heatmap (or focus it and use the arrow keys) to read a pixel’s relevance.'
            : ' '}
      </p>
      {nonFinite && (
        <p className="error" role="alert">
          The relevance is not finite: {nonFinite.count} value{nonFinite.count === 1 ? '' : 's'} became NaN or infinite at layer “
          {nonFinite.layer}”. Nothing is drawn. A larger epsilon (or another rule) at that layer usually helps.
        </p>
      )}
      {error && (
        <p className="error" role="alert">
          The explanation failed: {error}{' '}
          <button type="button" className="small" onClick={retryExplanation}>
            Try again
          </button>
        </p>
      )}
      {map && <ColorBar colormap={view.colormap} vmax={vmax} clipped={view.clip ? view.clipPercentile : null} />}

      <div className="controls" role="group" aria-label="Heatmap display">
        <label htmlFor={`${id}-cmap`}>Colormap</label>
        <select id={`${id}-cmap`} value={view.colormap} onChange={(e) => setColormap(e.target.value as ColormapId)}>
          {colormaps.map((c) => (
            <option key={c.id} value={c.id}>
              {c.label}
            </option>
          ))}
        </select>
        <label htmlFor={`${id}-opacity`}>Opacity</label>
        <input
          id={`${id}-opacity`}
          type="range"
          min={0}
          max={1}
          step={0.05}
          value={view.opacity}
          onChange={(e) => setOpacity(Number(e.target.value))}
          aria-valuetext={`${Math.round(view.opacity * 100)}%`}
        />
        <label className="check">
          <input type="checkbox" checked={view.clip} onChange={(e) => setClip(e.target.checked)} /> Clip at percentile
        </label>
<NumberField
          label="Clip percentile"
          min={50}
          max={99.99}
          size={5}
          className="num percentile"
          value={view.clipPercentile}
          disabled={!view.clip}
          onCommit={(v) => setClip(view.clip, v)}
        />
      </div>
      <p className="hint">
        {info.signed
          ? 'Warm colours: evidence for the class; cold colours: evidence against it (symmetric scale, zero at the centre).'
          : 'Magnitude: |relevance|, evidence for and against alike.'}
      </p>
      <div className="row">
        <button type="button" disabled={!map} onClick={() => heatCanvas.current && downloadHeatmap(heatCanvas.current)}>
          Download heatmap (PNG)
        </button>
        <button type="button" disabled={!result || !!nonFinite} onClick={downloadRelevance}>
          Download relevance (.npy)
        </button>
      </div>
    </section>
  );
}
