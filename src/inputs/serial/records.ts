/**
 * Field parsing as data: a framed record (text or bytes) → named raw fields → readings and alarm flags, as the
 * driver's `records` say. Pure; problems come back as values (the decoder dead-letters the record), nothing throws.
 */
import type { Quality, ReadingValue } from '../../events/schema.js';
import type { BytePartT, FieldSpecT, RecordSpecT } from './driver.js';
import { compileTimestamp, type CompiledTimestamp } from './timestamp.js';
import { expectedText, readBoolean, readNumber } from '../values.js';

export interface CompiledRecord {
  spec: RecordSpecT;
  when: RegExp | undefined;
  pattern: RegExp | undefined;
  prefix: RegExp | undefined;
  timestamp: CompiledTimestamp | undefined;
  sentinels: readonly ReadonlySet<string>[];
}

export function compileRecord(spec: RecordSpecT, defaultZone: string): CompiledRecord {
  return {
    spec,
    when: spec.when === undefined ? undefined : new RegExp(spec.when),
    pattern: spec.parse.type === 'regex' ? new RegExp(spec.parse.pattern) : undefined,
    prefix: spec.parse.type === 'key-value' && spec.parse.prefix !== undefined ? new RegExp(`^(?:${spec.parse.prefix})`) : undefined,
    timestamp: spec.timestamp ? compileTimestamp(spec.timestamp, defaultZone) : undefined,
    sentinels: spec.fields.map((f) => new Set(f.sentinels.map((s) => String(s)))),
  };
}

/** Text record → raw fields by name; a string is the problem when the record does not have the declared shape. */
export function parseTextFields(record: CompiledRecord, text: string): Map<string, string> | string {
  const parse = record.spec.parse;
  const fields = new Map<string, string>();
  switch (parse.type) {
    case 'regex': {
      const m = record.pattern?.exec(text);
      if (!m) return `does not match the ${record.spec.name} pattern`;
      for (const [k, v] of Object.entries(m.groups ?? {})) if (v !== undefined) fields.set(k, v);
      return fields;
    }
    case 'key-value': {
      let rest = text;
      if (record.prefix) {
        const m = record.prefix.exec(text);
        if (!m) return `does not start like a record of type ${record.spec.name} (prefix ${parse.prefix ?? ''})`;
        for (const [k, v] of Object.entries(m.groups ?? {})) if (v !== undefined) fields.set(k, v);
        rest = text.slice(m[0].length);
      }
      const pairs = parse.pairSeparator === ' ' ? rest.trim().split(/\s+/) : rest.split(parse.pairSeparator);
      for (const pair of pairs) {
        if (pair === '') continue;
        const at = pair.indexOf(parse.keyValueSeparator);
        if (at <= 0) return `"${pair.slice(0, 24)}" is not a key${parse.keyValueSeparator}value pair`;
        fields.set(pair.slice(0, at).trim(), pair.slice(at + parse.keyValueSeparator.length));
      }
      return fields;
    }
    case 'csv': {
      let body = text;
      if (parse.stripChecksum) {
        if (body.startsWith('$') || body.startsWith('!')) body = body.slice(1);
        body = body.replace(/\*[0-9A-Fa-f]{2}\s*$/, '');
      }
      const columns = body.split(parse.separator);
      parse.columns.forEach((name, i) => {
        const v = columns[i];
        if (name !== null && v !== undefined) fields.set(name, v);
      });
      return fields;
    }
    case 'binary':
      return 'a binary record spec cannot read text';
  }
}

/** Reads a number from binary parts: OR of ((byte & mask) << shift); `frameLength` positions packet frames. */
export function readParts(parts: readonly BytePartT[], bytes: Uint8Array, frameLength: number): number | undefined {
  let value = 0;
  for (const p of parts) {
    const b = bytes[p.frame * frameLength + p.byte];
    if (b === undefined) return undefined;
    value |= (b & p.mask) << p.shift;
  }
  return value >>> 0;
}


export type FieldResult =
  | { kind: 'value'; value: ReadingValue; quality: Quality }
  | { kind: 'absent' }
  | { kind: 'problem'; problem: string };

function round(n: number, decimals: number | undefined): number {
  const v = decimals === undefined ? n : Math.round(n * 10 ** decimals) / 10 ** decimals;
  // Scaling by 0.1 and friends leaves binary noise (21.500000000000004); 12 significant digits is beyond any sensor.
  return Number(v.toPrecision(12));
}

function scaled(n: number, f: FieldSpecT): number {
  return round(f.scale === 1 && f.offset === 0 ? n : n * f.scale + f.offset, f.decimals);
}

/** One field of a text record → a value (or "no value", quality bad), absent, or a problem. */
export function convertTextField(f: FieldSpecT, sentinels: ReadonlySet<string>, fields: ReadonlyMap<string, string>): FieldResult {
  const raw = f.from === undefined ? undefined : fields.get(f.from);
  if (raw === undefined) return f.optional ? { kind: 'absent' } : { kind: 'problem', problem: `field ${f.from ?? '?'} is missing` };
  let text = raw.trim();
  if (f.strip !== undefined) for (const c of f.strip) text = text.split(c).join('');
  text = text.trim();
  if (sentinels.has(text) || sentinels.has(raw.trim())) return { kind: 'value', value: null, quality: 'bad' };
  if (text === '' && f.emptyIsMissing) return { kind: 'value', value: null, quality: 'bad' };
  if (f.badWhen) {
    const other = fields.get(f.badWhen.from);
    if (other !== undefined && f.badWhen.in.includes(other.trim())) return { kind: 'value', value: null, quality: 'bad' };
  }
  switch (f.type) {
    case 'string':
      return { kind: 'value', value: text, quality: 'good' };
    case 'boolean': {
      const value = readBoolean(text, f.booleanWords);
      if (value !== undefined) return { kind: 'value', value, quality: 'good' };
      return { kind: 'problem', problem: `field ${f.from ?? '?'} = "${raw.slice(0, 24)}" is not ${expectedText('boolean')}${f.booleanWords ? ` or ${[...f.booleanWords.true, ...f.booleanWords.false].join('/')}` : ''}` };
    }
    case 'number': {
      const parsed = readNumber(text);
      if (parsed === undefined) return { kind: 'problem', problem: `field ${f.from ?? '?'} = "${raw.slice(0, 24)}" is not a number` };
      let n = parsed;
      if (f.transform === 'nmea-coordinate') {
        const hemisphere = (f.hemisphere === undefined ? undefined : fields.get(f.hemisphere))?.trim().toUpperCase();
        if (hemisphere === undefined || !['N', 'S', 'E', 'W'].includes(hemisphere)) {
          return { kind: 'problem', problem: `field ${f.hemisphere ?? '?'} = "${(hemisphere ?? '').slice(0, 8)}" is not a hemisphere (N, S, E, W)` };
        }
        const degrees = Math.floor(n / 100);
        const minutes = n - degrees * 100;
        if (minutes >= 60) return { kind: 'problem', problem: `field ${f.from ?? '?'} = "${raw.slice(0, 24)}" has ${minutes} minutes` };
        n = (degrees + minutes / 60) * (hemisphere === 'S' || hemisphere === 'W' ? -1 : 1);
        return { kind: 'value', value: scaled(n, { ...f, decimals: f.decimals ?? 7 }), quality: 'good' };
      }
      return { kind: 'value', value: scaled(n, f), quality: 'good' };
    }
  }
}

/** One field of a binary record. */
export function convertBinaryField(f: FieldSpecT, sentinels: ReadonlySet<string>, bytes: Uint8Array, frameLength: number): FieldResult {
  const raw = f.parts ? readParts(f.parts, bytes, frameLength) : undefined;
  if (raw === undefined) return f.optional ? { kind: 'absent' } : { kind: 'problem', problem: `field ${f.metric} is past the end of the record` };
  if (sentinels.has(String(raw))) return { kind: 'value', value: null, quality: 'bad' };
  return { kind: 'value', value: scaled(raw, f), quality: 'good' };
}

/** Flags of an alarm spec from a text field; undefined when absent, a string when unparsable. */
export function textFlags(from: string, base: 2 | 10 | 16, fields: ReadonlyMap<string, string>): number | undefined | string {
  const raw = fields.get(from);
  if (raw === undefined) return undefined;
  const text = raw.trim();
  const digits = base === 16 ? /^[0-9A-Fa-f]{1,8}$/ : base === 10 ? /^\d{1,10}$/ : /^[01]{1,32}$/;
  if (!digits.test(text)) return `flags ${from} = "${raw.slice(0, 24)}" are not base-${base} digits`;
  return parseInt(text, base);
}
