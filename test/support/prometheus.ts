/**
 * Reading /metrics in tests: `parse-prometheus-text-format` (a port of the Prometheus Python client's parser)
 * does the parsing; `checkExposition` adds the strictness it lacks (every line well-formed, every sample of a
 * family declared by HELP and TYPE, no duplicate series), so a malformed exposition fails the test.
 */
import parsePrometheusTextFormat, { type ParsedFamily } from 'parse-prometheus-text-format';

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL_VALUE = '"(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
const LABELS = `\\{(?:[a-zA-Z_][a-zA-Z0-9_]*=${LABEL_VALUE}(?:,[a-zA-Z_][a-zA-Z0-9_]*=${LABEL_VALUE})*,?)?\\}`;
// Prometheus parses values with Go's strconv.ParseFloat: NaN and Inf in any letter case (prom-client writes "Nan").
const VALUE = '(?:[-+]?(?:\\d+\\.?\\d*(?:[eE][-+]?\\d+)?|\\.\\d+(?:[eE][-+]?\\d+)?)|[-+]?[iI][nN][fF]|[nN][aA][nN])';
const SAMPLE = new RegExp(`^(${NAME})(${LABELS})? (${VALUE})(?: -?\\d+)?$`);
const HELP = new RegExp(`^# HELP (${NAME}) .*$`);
const TYPE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
const SUFFIXES: Record<string, string[]> = {
  counter: [''],
  gauge: [''],
  untyped: [''],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
};

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"/g;

/**
 * Throws naming the first line that breaks the text exposition format (version 0.0.4); returns every sample.
 * (The library flattens labelled histograms lossily, so their _count/_sum series are read from here.)
 */
export function checkExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const helped = new Set<string>();
  const series = new Set<string>();
  const lines = text.split('\n');
  if (lines.at(-1) !== '') throw new Error('exposition does not end with a newline');
  lines.slice(0, -1).forEach((line, i) => {
    const where = `line ${i + 1}: ${line}`;
    if (line === '') return;
    const help = HELP.exec(line);
    if (help) {
      if (helped.has(help[1] as string)) throw new Error(`second HELP for a family, ${where}`);
      helped.add(help[1] as string);
      return;
    }
    const type = TYPE.exec(line);
    if (type) {
      if (types.has(type[1] as string)) throw new Error(`second TYPE for a family, ${where}`);
      types.set(type[1] as string, type[2] as string);
      return;
    }
    if (line.startsWith('#')) return;
    const sample = SAMPLE.exec(line);
    if (!sample) throw new Error(`malformed sample, ${where}`);
    const name = sample[1] as string;
    const family = [...types].find(([f, t]) => (SUFFIXES[t] ?? ['']).some((s) => name === f + s));
    if (!family) throw new Error(`sample of an undeclared family (no TYPE before it), ${where}`);
    if (!helped.has(family[0])) throw new Error(`family without HELP, ${where}`);
    const key = `${name}${sample[2] ?? ''}`;
    if (series.has(key)) throw new Error(`duplicate series, ${where}`);
    series.add(key);
    const labels: Record<string, string> = {};
    for (const m of (sample[2] ?? '').matchAll(LABEL_PAIR)) {
      labels[m[1] as string] = (m[2] as string).replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1');
    }
    samples.push({ name, labels, value: Number(sample[3]) });
  });
  return samples;
}

export interface Exposition {
  families: ParsedFamily[];
  /** Value of one series; labels must match exactly; undefined when absent. */
  value(name: string, labels?: Record<string, string>): number | undefined;
  /** Sum of a family's samples whose labels include `labels`. */
  sum(name: string, labels?: Record<string, string>): number;
  family(name: string): ParsedFamily | undefined;
  /** Every sample line as written (histogram _bucket/_sum/_count series included). */
  samples: Sample[];
  /** A sample line by exact name and labels. */
  sample(name: string, labels?: Record<string, string>): number | undefined;
}

export function parseExposition(text: string): Exposition {
  const samples = checkExposition(text);
  const families = parsePrometheusTextFormat(text);
  const family = (name: string): ParsedFamily | undefined => families.find((f) => f.name === name);
  const matches = (have: Record<string, string> | undefined, want: Record<string, string>): boolean =>
    Object.entries(want).every(([k, v]) => (have ?? {})[k] === v);
  return {
    families,
    family,
    samples,
    sample(name, labels = {}) {
      const want = Object.entries(labels).sort().join();
      return samples.find((s) => s.name === name && Object.entries(s.labels).sort().join() === want)?.value;
    },
    value(name, labels = {}) {
      const sample = family(name)?.metrics.find(
        (m) => matches(m.labels, labels) && Object.keys(m.labels ?? {}).length === Object.keys(labels).length,
      );
      return sample?.value === undefined ? undefined : Number(sample.value);
    },
    sum(name, labels = {}) {
      return (family(name)?.metrics ?? []).filter((m) => matches(m.labels, labels)).reduce((n, m) => n + Number(m.value ?? m.count ?? 0), 0);
    },
  };
}
