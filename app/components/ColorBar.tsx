import { useEffect, useRef } from 'react';
import { colormapInfo, colormapLut, formatValue, LUT_SIZE, type ColormapId } from '../../src/models/colormap';

/** The colour scale with its values: [-vmax, 0, vmax] for signed maps, [0, vmax] for magnitude. */
export function ColorBar({ colormap, vmax, clipped }: { colormap: ColormapId; vmax: number; clipped: number | null }) {
  const ref = useRef<HTMLCanvasElement>(null);
  const { signed } = colormapInfo(colormap);

  useEffect(() => {
    const canvas = ref.current;
    if (!canvas) return;
    const lut = colormapLut(colormap);
    const pixels = new Uint8ClampedArray(LUT_SIZE * 4);
    for (let i = 0; i < LUT_SIZE; i++) {
      pixels.set([lut[i * 3]!, lut[i * 3 + 1]!, lut[i * 3 + 2]!, 255], i * 4);
    }
    canvas.width = LUT_SIZE;
    canvas.height = 1;
    canvas.getContext('2d')!.putImageData(new ImageData(pixels, LUT_SIZE, 1), 0, 0);
  }, [colormap]);

  const ticks = signed ? [-vmax, -vmax / 2, 0, vmax / 2, vmax] : [0, vmax / 2, vmax];
  const description = signed
    ? `Colour scale from ${formatValue(-vmax)} to ${formatValue(vmax)}, zero at the centre`
    : `Colour scale of |relevance| from 0 to ${formatValue(vmax)}`;
  return (
    <figure className="colorbar">
      <canvas ref={ref} role="img" aria-label={description} />
      <div className="ticks" aria-hidden="true">
        {ticks.map((t, i) => (
          <span key={i}>{formatValue(t)}</span>
        ))}
      </div>
      <figcaption className="hint">
        Relevance per pixel (summed over channels){clipped !== null ? `; values beyond the ${clipped}th percentile of |relevance| saturate` : ''}.
      </figcaption>
    </figure>
  );
}
