/** A generic parser for the Prometheus text exposition format (what `/metrics` serves). */

export interface Sample {
  /** The series name as written (`tts_time_to_first_audio_seconds_bucket`). */
  name: string;
  labels: Readonly<Record<string, string>>;
  value: number;
}

export interface MetricFamily {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

export type MetricsSnapshot = ReadonlyMap<string, MetricFamily>;

const SUFFIXES = ['_bucket', '_sum', '_count', '_total', '_created', '_gsum', '_gcount'];

function parseValue(raw: string): number {
  switch (raw) {
    case '+Inf':
    case 'Inf':
      return Infinity;
    case '-Inf':
      return -Infinity;
    case 'NaN':
      return NaN;
    default:
      return Number(raw);
  }
}

/** `{a="x",b="y \"q\""}` starting at `text[at]` = '{'; returns the labels and the index after '}'. */
function parseLabels(text: string, at: number): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  let i = at + 1;
  for (;;) {
    while (text[i] === ' ' || text[i] === ',') i++;
    if (text[i] === '}') return [labels, i + 1];
    const eq = text.indexOf('=', i);
    if (eq < 0 || text[eq + 1] !== '"') throw new Error(`bad label at ${i}`);
    const key = text.slice(i, eq).trim();
    let value = '';
    i = eq + 2;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\') {
        const next = text[i + 1];
        value += next === 'n' ? '\n' : next;
        i += 2;
      } else {
        value += text[i++];
      }
    }
    labels[key] = value;
    i++;
  }
}

/**
 * Parses the text into families keyed by their declared name (a histogram's `_bucket`/`_sum`/`_count`
 * series land in its family). Series without a `# TYPE` get a family of their own, type `untyped`.
 * Malformed lines are skipped: one bad line must not blank the whole dashboard.
 */
export function parsePrometheus(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>();
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { name, type: 'untyped', help: '', samples: [] }));
    return f;
  };
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    if (!line) continue;
    if (line.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)\s?(.*)$/.exec(line);
      if (m?.[1] === 'TYPE') family(m[2]).type = m[3].trim();
      else if (m?.[1] === 'HELP') family(m[2]).help = m[3];
      continue;
    }
    try {
      const nameEnd = line.search(/[{\s]/);
      if (nameEnd <= 0) continue;
      const name = line.slice(0, nameEnd);
      let labels: Record<string, string> = {};
      let rest = nameEnd;
      if (line[nameEnd] === '{') [labels, rest] = parseLabels(line, nameEnd);
      const value = parseValue(line.slice(rest).trim().split(/\s+/)[0]);
      family(familyOf(name, families)).samples.push({ name, labels, value });
    } catch {
      continue; // skip the malformed line (see above)
    }
  }
  return families;
}

function familyOf(series: string, families: ReadonlyMap<string, MetricFamily>): string {
  if (families.has(series) && families.get(series)!.type !== 'untyped') return series;
  for (const suffix of SUFFIXES) {
    if (series.endsWith(suffix)) {
      const base = series.slice(0, -suffix.length);
      const f = families.get(base);
      if (f && f.type !== 'untyped') return base;
    }
  }
  return series;
}

export type LabelFilter = (labels: Readonly<Record<string, string>>) => boolean;

/** Samples of a series (`name` exactly as written), optionally filtered by labels. */
export function seriesOf(snapshot: MetricsSnapshot, name: string, filter?: LabelFilter): Sample[] {
  const fam = snapshot.get(name) ?? snapshot.get(name.replace(/_(bucket|sum|count|total)$/, ''));
  return (fam?.samples ?? []).filter((s) => s.name === name && (!filter || filter(s.labels)));
}

/** Sum of a series over all its label sets (null when the series is absent). */
export function sumOf(snapshot: MetricsSnapshot, name: string, filter?: LabelFilter): number | null {
  const samples = seriesOf(snapshot, name, filter);
  return samples.length ? samples.reduce((acc, s) => acc + s.value, 0) : null;
}

export interface Bucket {
  le: number;
  count: number;
}

/** A histogram's cumulative buckets summed over its other labels, sorted by bound. */
export function histogramBuckets(snapshot: MetricsSnapshot, base: string, filter?: LabelFilter): Bucket[] {
  const byLe = new Map<number, number>();
  for (const s of seriesOf(snapshot, `${base}_bucket`, filter)) {
    const le = parseValue(s.labels.le ?? '+Inf');
    byLe.set(le, (byLe.get(le) ?? 0) + s.value);
  }
  return [...byLe.entries()].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
}
