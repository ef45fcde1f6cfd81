interface Series {
  values: readonly (number | null)[];
  className?: string;
}

interface SparklineProps {
  series: readonly Series[];
  /** Points shown (the newest at the right). */
  capacity: number;
  /** Spoken summary of the chart (the card's title and value already say the current figure). */
  label: string;
  /** Lowest top of the scale, so small values do not fill the chart. */
  minMax?: number;
  /** Plot as steps (states) rather than lines. */
  steps?: boolean;
}

const W = 120;
const H = 36;

/** A small SVG chart; gaps (null) break the line. */
export function Sparkline({ series, capacity, label, minMax = 1, steps = false }: SparklineProps) {
  const max = Math.max(
    minMax,
    ...series.flatMap((s) => s.values.filter((v): v is number => v !== null && Number.isFinite(v))),
  );
  // The newest point is at the right; until the chart fills, a few points still span a useful width.
  const span = Math.min(capacity, Math.max(15, ...series.map((s) => s.values.length)));
  const x = (i: number, n: number) => ((span - n + i) / Math.max(1, span - 1)) * W;
  const y = (v: number) => H - 2 - (v / max) * (H - 4);
  return (
    <svg viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" className="spark" aria-hidden="true">
      <title>{label}</title>
      {series.map((s, k) => {
        const paths: string[] = [];
        let d = '';
        s.values.forEach((v, i) => {
          if (v === null || !Number.isFinite(v)) {
            if (d) paths.push(d);
            d = '';
            return;
          }
          const px = x(i, s.values.length).toFixed(1);
          const py = y(v).toFixed(1);
          if (!d) d = `M${px},${py}`;
          else d += steps ? `H${px}V${py}` : `L${px},${py}`;
        });
        if (d) paths.push(d);
        return paths.map((p, j) => (
          <path key={`${k}-${j}`} d={p} className={s.className ?? 'line'} vectorEffect="non-scaling-stroke" />
        ));
      })}
    </svg>
  );
}
