import { chartGeometry, type ThresholdLine } from '../model/analysis.js';
import { formatNumber } from '../model/format.js';

const W = 320;
const H = 120;

/** A small line chart of series (canary and baseline, or a threshold's measurements) with threshold lines drawn. */
export function SeriesChart({ title, series, lines }: { title: string; series: Array<{ label: string; values: number[]; kind: 'canary' | 'baseline' | 'measure' }>; lines: ThresholdLine[] }) {
  const g = chartGeometry(
    series.map((s) => s.values),
    lines,
    W,
    H,
    6,
  );
  const desc = `${series.map((s) => `${s.label}: ${s.values.length} points`).join('; ')}${lines.length ? `; thresholds: ${lines.map((l) => `${l.label} at ${formatNumber(l.value)}`).join(', ')}` : ''}`;
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${title}. ${desc}`} preserveAspectRatio="none">
        <rect x="0" y="0" width={W} height={H} className="chart-bg" />
        {g.lines.map((l) => (
          <line key={l.label} x1="0" x2={W} y1={l.y} y2={l.y} className="threshold">
            <title>{`${l.label}: ${formatNumber(l.value)}`}</title>
          </line>
        ))}
        {g.paths.map((d, i) => (
          <path key={series[i]!.label} d={d} className={`series ${series[i]!.kind}`} vectorEffect="non-scaling-stroke" />
        ))}
      </svg>
      <figcaption>
        <span className="axis">
          {formatNumber(g.yMin)} – {formatNumber(g.yMax)}
        </span>
        {series.map((s) => (
          <span key={s.label} className={`key ${s.kind}`}>
            {s.label}
          </span>
        ))}
        {lines.length > 0 && <span className="key threshold">threshold</span>}
      </figcaption>
    </figure>
  );
}
