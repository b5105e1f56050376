/** A small SVG line chart: a few series over a shared x axis, with axes, ticks and a legend. */
import { formatValue } from '../../src/models/colormap';

export interface Series {
  readonly label: string;
  readonly color: string;
  readonly dashed?: boolean;
  readonly x: readonly number[];
  readonly y: readonly number[];
}

export interface LineChartProps {
  readonly series: readonly Series[];
  readonly xLabel: string;
  readonly yLabel: string;
  readonly title: string;
  readonly width?: number;
  readonly height?: number;
  /** x values shown as percentages. */
  readonly percentX?: boolean;
}

function ticks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

export function LineChart({ series, xLabel, yLabel, title, width = 420, height = 240, percentX = false }: LineChartProps) {
  const pad = { left: 52, right: 20, top: 12, bottom: 38 };
  const xs = series.flatMap((s) => s.x).filter(Number.isFinite);
  const ys = series.flatMap((s) => s.y).filter(Number.isFinite);
  const x0 = Math.min(...xs, 0);
  const x1 = Math.max(...xs, x0 + 1e-9);
  let y0 = Math.min(...ys);
  let y1 = Math.max(...ys);
  if (!(y1 > y0)) {
    y0 -= 1;
    y1 += 1;
  }
  const margin = (y1 - y0) * 0.05;
  y0 -= margin;
  y1 += margin;
  const w = width - pad.left - pad.right;
  const h = height - pad.top - pad.bottom;
  const sx = (v: number) => pad.left + ((v - x0) / (x1 - x0)) * w;
  const sy = (v: number) => pad.top + (1 - (v - y0) / (y1 - y0)) * h;
  const path = (s: Series) =>
    s.x
      .map((x, i) => [x, s.y[i]!] as const)
      .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
      .map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`)
      .join(' ');
  return (
    <figure className="line-chart" data-testid="line-chart">
      <svg viewBox={`0 0 ${width} ${height}`} width="100%" style={{ maxWidth: width }} role="img" aria-label={title}>
        <title>{title}</title>
        <rect x={pad.left} y={pad.top} width={w} height={h} fill="none" stroke="currentColor" strokeOpacity={0.3} />
        {ticks(x0, x1).map((t) => (
          <g key={`x${t}`}>
            <line x1={sx(t)} x2={sx(t)} y1={pad.top + h} y2={pad.top + h + 4} stroke="currentColor" />
            <text x={sx(t)} y={pad.top + h + 15} textAnchor="middle" fontSize={10} fill="currentColor">
              {percentX ? `${Math.round(t * 100)}%` : Number.isInteger(t) ? String(t) : formatValue(t)}
            </text>
          </g>
        ))}
        {ticks(y0, y1).map((t) => (
          <g key={`y${t}`}>
            <line x1={pad.left - 4} x2={pad.left + w} y1={sy(t)} y2={sy(t)} stroke="currentColor" strokeOpacity={0.12} />
            <text x={pad.left - 6} y={sy(t) + 3} textAnchor="end" fontSize={10} fill="currentColor">
              {formatValue(t)}
            </text>
          </g>
        ))}
        <text x={pad.left + w / 2} y={height - 4} textAnchor="middle" fontSize={11} fill="currentColor">
          {xLabel}
        </text>
        <text transform={`translate(12 ${pad.top + h / 2}) rotate(-90)`} textAnchor="middle" fontSize={11} fill="currentColor">
          {yLabel}
        </text>
        {series.map((s) => (
          <path
            key={s.label}
            className="series"
            data-series={s.label}
            d={path(s)}
            fill="none"
            stroke={s.color}
            strokeWidth={2}
            strokeDasharray={s.dashed ? '5 4' : undefined}
          />
        ))}
      </svg>
      <figcaption className="legend">
        {series.map((s) => (
          <span key={s.label} className="legend-item">
            <svg width="22" height="8" aria-hidden="true">
              <line x1="0" x2="22" y1="4" y2="4" stroke={s.color} strokeWidth={2} strokeDasharray={s.dashed ? '5 4' : undefined} />
            </svg>{' '}
            {s.label}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
