/**
 * The one vocabulary by which a device's raw value becomes a reading value, for every input family: MQTT metric
 * mappings (mqtt/mapping.ts), the MQTT format drivers (mqtt/formats/) and serial record fields (serial/records.ts).
 * Documented in the README ("How device values are read"); test/values.test.ts holds every input to it.
 *
 * - number: a finite JSON number, or text that is a decimal number (`21.5`, ` -3 `, `1e3`, `.5`); not hex, not
 *   `NaN`/`Infinity`, not a number too large to be finite.
 * - boolean: a JSON boolean, or one of the words below (case and surrounding spaces ignored; `1`/`0` as numbers
 *   too). A driver may add words of its own device for one field (the NMEA status letters `A`/`V`).
 * - string: text as it is; a number or a boolean as its JSON text.
 * - `null` is "no value" (a reading with quality bad) for every type; anything else is a decode error.
 */
import type { ReadingValue } from '../events/schema.js';

export type ValueType = 'number' | 'boolean' | 'string';

export const TRUE_WORDS: readonly string[] = ['true', 'on', 'yes', '1', 'open', 'online'];
export const FALSE_WORDS: readonly string[] = ['false', 'off', 'no', '0', 'closed', 'offline'];

/** Extra boolean words of one device field, on top of the shared ones. */
export interface BooleanWords {
  true: readonly string[];
  false: readonly string[];
}

const NUMERIC = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/** A finite number from a JSON number or numeric text; undefined otherwise. */
export function readNumber(raw: unknown): number | undefined {
  let n: number | undefined;
  if (typeof raw === 'number') n = raw;
  else if (typeof raw === 'string' && NUMERIC.test(raw.trim())) n = Number(raw.trim());
  return n !== undefined && Number.isFinite(n) ? n : undefined;
}

/** A boolean from a JSON boolean, a word of the vocabulary (or of `extra`), or the numbers 1/0; undefined otherwise. */
export function readBoolean(raw: unknown, extra?: BooleanWords): boolean | undefined {
  if (typeof raw === 'boolean') return raw;
  if (typeof raw !== 'string' && typeof raw !== 'number') return undefined;
  const word = String(raw).trim().toLowerCase();
  if (TRUE_WORDS.includes(word) || extra?.true.some((w) => w.toLowerCase() === word)) return true;
  if (FALSE_WORDS.includes(word) || extra?.false.some((w) => w.toLowerCase() === word)) return false;
  return undefined;
}

/** Text from a string, number or boolean; undefined for objects and arrays. */
export function readString(raw: unknown): string | undefined {
  return typeof raw === 'string' || typeof raw === 'number' || typeof raw === 'boolean' ? String(raw) : undefined;
}

/** Raw value → reading value of `type`; null stays null (no value); undefined when it does not fit the type. */
export function toReadingValue(raw: unknown, type: ValueType, extra?: BooleanWords): ReadingValue | undefined {
  if (raw === null) return null;
  switch (type) {
    case 'number':
      return readNumber(raw);
    case 'boolean':
      return readBoolean(raw, extra);
    case 'string':
      return readString(raw);
  }
}

/** What was expected, for the dead letter's reason: `expected a boolean (true/false, on/off, …), got …`. */
export function expectedText(type: ValueType): string {
  switch (type) {
    case 'number':
      return 'a number';
    case 'boolean':
      return `a boolean (${TRUE_WORDS.map((w, i) => `${w}/${FALSE_WORDS[i] ?? ''}`).join(', ')})`;
    case 'string':
      return 'a string';
  }
}

/** A short description of a raw value for error messages (text cut at 40 characters). */
export function describeValue(raw: unknown): string {
  if (Array.isArray(raw)) return 'an array';
  if (raw === null) return 'null';
  if (typeof raw === 'object') return 'an object';
  if (typeof raw === 'string') return `the string ${JSON.stringify(raw.length > 40 ? `${raw.slice(0, 40)}…` : raw)}`;
  return `${typeof raw} ${String(raw)}`;
}

/** Device time from a timestamp field: ISO text, Unix seconds or milliseconds; undefined when unusable. */
export function parseTimestamp(raw: unknown, format: 'auto' | 'iso' | 'unix-s' | 'unix-ms'): string | undefined {
  let ms: number | undefined;
  const numeric = readNumber(raw);
  if (format === 'unix-s' && numeric !== undefined) ms = numeric * 1000;
  else if (format === 'unix-ms' && numeric !== undefined) ms = numeric;
  else if (format === 'auto' && numeric !== undefined) ms = numeric > 1e11 ? numeric : numeric * 1000;
  else if ((format === 'iso' || format === 'auto') && typeof raw === 'string') ms = Date.parse(raw);
  if (ms === undefined || !Number.isFinite(ms)) return undefined;
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

