/**
 * What every MQTT format decoder shares: the decoder interface, reading/status drafts, bounded per-device state,
 * unit lookup and the helpers that turn device values into reading values.
 */
import type { EventDraft, Quality, ReadingValue } from '../../../events/schema.js';
import { deadLetter, type DecodeContext } from '../mapping.js';
import { compileFieldPath, type FieldPath } from '../../../util/field-path.js';

export type { DecodeContext } from '../mapping.js';

export interface FormatMessage {
  topic: string;
  payload: Buffer;
  /**
   * Topic levels after the literal prefix of the matching filter (the levels before its first wildcard): for
   * `site-a/tele/+/SENSOR` and topic `site-a/tele/kitchen/SENSOR` that is [kitchen, SENSOR]. Formats read device
   * names from these, so a user-chosen prefix never ends up in a device id.
   * Undefined for topics the decoder subscribed to itself (Home Assistant state topics).
   */
  relativeLevels: readonly string[] | undefined;
}

export interface FormatResult {
  drafts: EventDraft[];
  /** Topic filters the input should subscribe to now (Home Assistant state topics). */
  subscribe?: string[];
  /** Topic filters no longer needed. */
  unsubscribe?: string[];
}

/** A format decoder: deterministic given its inputs and its own bounded state; never throws on bad input. */
export interface FormatDecoder {
  readonly format: string;
  /** Filters to subscribe to at connect, besides the subscription's own (e.g. discovered state topics). */
  dynamicTopics(): string[];
  /** True for topics this decoder subscribed to itself. */
  claims(topic: string): boolean;
  decode(message: FormatMessage, ctx: DecodeContext): FormatResult;
}

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

export function parseJson(payload: Buffer): { ok: true; value: unknown } | { ok: false; problem: string } {
  try {
    return { ok: true, value: JSON.parse(payload.toString('utf8')) as unknown };
  } catch (err) {
    return { ok: false, problem: `invalid JSON: ${(err as Error).message}` };
  }
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
