/** A small heatmap: a 2-D map drawn with the chosen colormap on a canvas, scaled up without smoothing. */
import { useEffect, useRef } from 'react';
import { renderHeatmap, symmetricMax, type HeatMap } from '../../src/models/colormap';
import type { ColormapId } from '../../src/models/colormap';

export interface MapCanvasProps {
  readonly map: HeatMap;
  readonly label: string;
  readonly colormap?: ColormapId;
  /** Scale; default the map's largest |value|. */
  readonly vmax?: number;
  /** Displayed size (the longer side), CSS pixels. */
  readonly size?: number;
  readonly testId?: string;
}

export function MapCanvas({ map, label, colormap = 'bwr', vmax, size = 160, testId }: MapCanvasProps) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const c = canvas.current;
    if (!c) return;
    c.width = map.width;
    c.height = map.height;
    const scale = vmax ?? symmetricMax(map.data, null);
    c.getContext('2d')!.putImageData(new ImageData(renderHeatmap(map, colormap, scale), map.width, map.height), 0, 0);
  }, [map, colormap, vmax]);
  const zoom = size / Math.max(map.width, map.height);
  return (
    <canvas
      ref={canvas}
      className="map-canvas"
      role="img"
      aria-label={label}
      data-testid={testId}
      style={{ width: map.width * zoom, height: map.height * zoom, imageRendering: 'pixelated' }}
    />
  );
}
