/**
 * Helpers the MQTT format decoders share: reading/status drafts, bounded per-device state, unit lookup, JSON and
 * epoch parsing, dead-letter results. The contract of a format is format.ts; values are read by src/inputs/values.ts.
 */
import { configProblem, type ConfigProblem } from '../../../config/problems.js';
import type { EventDraft, Quality, ReadingValue } from '../../../events/schema.js';
import { deadLetter, type DecodeContext } from '../dead-letter.js';

/** The one JSON reader of the MQTT decoders (dead-letter reasons that read the same on every Node). */
export { parseJson } from '../dead-letter.js';
import type { FormatMessage, FormatResult } from './format.js';
import { compileFieldPath, type FieldPath } from '../../../util/field-path.js';

export type DeviceStatus = 'online' | 'degraded' | 'offline' | 'error';

/** A Map that forgets its least recently written entry beyond `limit` (per-device state must stay bounded). */
export class BoundedMap<K, V> {
  readonly #map = new Map<K, V>();
  constructor(readonly limit: number) {}
  get(key: K): V | undefined {
    return this.#map.get(key);
  }
  has(key: K): boolean {
    return this.#map.has(key);
  }
  set(key: K, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, value);
    while (this.#map.size > this.limit) {
      const oldest = this.#map.keys().next();
      if (oldest.done) break;
      this.#map.delete(oldest.value);
    }
  }
  delete(key: K): boolean {
    return this.#map.delete(key);
  }
  keys(): IterableIterator<K> {
    return this.#map.keys();
  }
  values(): IterableIterator<V> {
    return this.#map.values();
  }
  get size(): number {
    return this.#map.size;
  }
}

/** Remembers each device's last reported status so only transitions become events. */
export class StatusTracker {
  readonly #last: BoundedMap<string, DeviceStatus>;
  constructor(limit: number) {
    this.#last = new BoundedMap(limit);
  }
  current(deviceId: string): DeviceStatus | undefined {
    return this.#last.get(deviceId);
  }
  /** A device-status draft when the status changed (or was unknown), else undefined. */
  transition(deviceId: string, status: DeviceStatus, reason: string, ctx: DecodeContext, sourceTime: string | null = null): EventDraft | undefined {
    const previous = this.#last.get(deviceId);
    this.#last.set(deviceId, status);
    if (previous === status) return undefined;
    return { type: 'device-status', deviceId, sourceTime, receivedAt: ctx.receivedAt, status, previous: previous ?? 'unknown', reason };
  }
}

export interface ReadingFields {
  deviceId: string;
  metric: string;
  value: ReadingValue;
  unit: string | null;
  quality?: Quality;
  sourceTime: string | null;
  source: string;
  code?: string;
}

export function reading(f: ReadingFields, ctx: DecodeContext): EventDraft {
  return {
    type: 'reading',
    deviceId: f.deviceId,
    sourceTime: f.sourceTime,
    receivedAt: ctx.receivedAt,
    metric: f.metric,
    value: f.value,
    unit: f.unit,
    quality: f.quality ?? (f.value === null ? 'bad' : 'good'),
    ...(f.code === undefined ? {} : { code: f.code }),
    source: f.source,
  };
}

/** A device unit (°C, kWh, V) as UCUM through the driver's table; units not in the table pass through unchanged. */
export function ucum(unit: string | undefined | null, table: Readonly<Record<string, string>>): string | null {
  if (unit === undefined || unit === null || unit.trim() === '') return null;
  return table[unit] ?? unit;
}


/**
 * A driver's key → mapping table with each key compiled as a field path (`ENERGY.Power`, `aenergy.total`).
 * Keys that are not valid paths were already reported by the driver schema; they are left out here.
 */
export function compileKeyedPaths<M>(table: Readonly<Record<string, M>>): { key: string; path: FieldPath; mapping: M }[] {
  return Object.entries(table).flatMap(([key, mapping]) => {
    const path = compileFieldPath(key);
    return path === undefined ? [] : [{ key, path, mapping }];
  });
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Unix seconds or milliseconds (by magnitude) → ISO time; undefined when unusable. */
export function epochToIso(raw: unknown): string | undefined {
  if (typeof raw !== 'number' || !Number.isFinite(raw) || raw <= 0) return undefined;
  const ms = raw > 1e11 ? raw : raw * 1000;
  const date = new Date(Math.round(ms));
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

/** A dead-letter result for one message. */
export function rejected(ctx: DecodeContext, deviceId: string, message: FormatMessage, reason: string): FormatResult {
  return { drafts: [deadLetter(ctx, deviceId, message.topic, message.payload, reason)] };
}

/** Problems of formats whose device names span topic levels: their filters must be `<base>/#`. */
export function topicsEndInHash(topics: readonly string[], format: string): ConfigProblem[] {
  return topics.filter((t) => !t.endsWith('/#')).map((t) => configProblem(['topic'], `the ${format} format needs a filter like <base>/# (got "${t}")`));
}
