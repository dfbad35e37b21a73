/**
 * Decoding for consumers: a Kafka record written by the gateway (or by a sink that uses `encodeEvent`) becomes a
 * typed, validated `TelemetryEvent` of the current schema version.
 *
 * Only zod and the event schemas are imported here: consumers load this through `edge-telemetry-gateway/events`
 * and must not pull in kafkajs, SQLite or the gateway itself.
 */
import type { z } from 'zod';
import { GatewayError } from '../errors.js';
import { SCHEMA_VERSION, TelemetryEventSchema, type TelemetryEvent } from './schema.js';
import { withoutWireFraming } from '../registry/wire-format.js';

/** The subset of a Kafka record `decodeEvent` reads; kafkajs' `KafkaMessage` and most other clients' records fit. */
export interface EventRecord {
  value: Uint8Array | string | null | undefined;
  /** CloudEvents headers; kafkajs hands repeated keys over as arrays. */
  headers?: Readonly<Record<string, Uint8Array | string | readonly (Uint8Array | string)[] | undefined>> | undefined;
  /** When given, it must be the event's deviceId (the gateway keys records by device). */
  key?: Uint8Array | string | null | undefined;
}

export interface DecodeOptions {
  /**
   * Check the CloudEvents headers (default true). Turn off only for records whose headers were lost on the way,
   * e.g. re-published by a tool that drops headers; the value is still validated completely.
   */
  checkHeaders?: boolean;
}

export type EventDecodeCode = 'GW_EVENT_INVALID' | 'GW_EVENT_VERSION';

/** A record that is not a valid event (GW_EVENT_INVALID) or has a schemaVersion this decoder does not know (GW_EVENT_VERSION). */
export class EventDecodeError extends GatewayError {
  override readonly code: EventDecodeCode;

  constructor(code: EventDecodeCode, message: string, details: readonly string[] = []) {
    super(code, message, { details });
    this.name = 'EventDecodeError';
    this.code = code;
  }
}

type JsonObject = Record<string, unknown>;

/**
 * One entry per past schema version: how an event of version N becomes an event of version N + 1.
 * A new schema version (say 3) adds exactly one entry, `2: upgradeV2ToV3`, and bumps SCHEMA_VERSION in schema.ts.
 * The result is validated against the current schema after the last step, so an upgrade only moves fields.
 */
export const SCHEMA_UPGRADES: Readonly<Record<number, (event: JsonObject) => JsonObject>> = {
  // v2 renamed the gap time range `from`/`to` to `fromTime`/`toTime`; nothing else changed.
  1: (event) => {
    if (event.type !== 'gap') return { ...event, schemaVersion: 2 };
    const { from, to, ...rest } = event;
    return { ...rest, fromTime: rest.fromTime ?? from, toTime: rest.toTime ?? to, schemaVersion: 2 };
  },
};

/** The schema versions this decoder accepts: every version with an upgrade path, and the current one. */
export function knownSchemaVersions(): number[] {
  const versions = [SCHEMA_VERSION as number];
  for (let v = SCHEMA_VERSION - 1; v >= 1 && SCHEMA_UPGRADES[v]; v--) versions.unshift(v);
  return versions;
}

/** CloudEvents `type` of an event type, as the gateway's forwarder writes it (the `.v1` is the CloudEvents type version). */
export function cloudEventType(type: string): string {
  return `io.edge-telemetry-gateway.${type}.v1`;
}

const CLOUD_EVENT_TYPE = /^io\.edge-telemetry-gateway\.([a-z-]+)\.v\d+$/;
const textDecoder = new TextDecoder('utf-8', { fatal: true });

function asText(value: Uint8Array | string): string {
  return typeof value === 'string' ? value : textDecoder.decode(value);
}

/**
 * Registry hook: a value in the schema registry wire format (kafka.valueFormat: registry-json) is its JSON after
 * the 5-byte header; plain JSON values pass unchanged. The schema id is not needed to decode: the event carries
 * its schemaVersion, and it is validated below like any other.
 */
function withoutRegistryFraming(value: Uint8Array | string): Uint8Array | string {
  return typeof value === 'string' ? value : withoutWireFraming(value);
}

function headerValue(record: EventRecord, name: string): string | undefined {
  const raw = record.headers?.[name];
  if (raw === undefined) return undefined;
  const first = Array.isArray(raw) ? (raw as readonly (Uint8Array | string)[])[0] : (raw as Uint8Array | string);
  return first === undefined ? undefined : asText(first);
}

function invalid(message: string, details: readonly string[] = []): EventDecodeError {
  return new EventDecodeError('GW_EVENT_INVALID', message, details);
}

function issueLines(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(event)'}: ${i.message}`);
}

/** Content type of a CloudEvents structured-mode record (kafka.cloudEvents: structured). */
export const STRUCTURED_CONTENT_TYPE = 'application/cloudevents+json';

function mediaType(value: string | undefined): string | undefined {
  return value?.split(';')[0]?.trim().toLowerCase();
}

/**
 * A structured-mode record: the content-type header says so, or (headers lost on the way) the value is a
 * CloudEvents envelope — it has specversion and data and, unlike an event, no schemaVersion.
 */
function isEnvelope(record: EventRecord, parsed: JsonObject): boolean {
  const contentType = mediaType(headerValue(record, 'content-type'));
  if (contentType !== undefined) return contentType === STRUCTURED_CONTENT_TYPE;
  return 'specversion' in parsed && 'data' in parsed && !('schemaVersion' in parsed);
}

/** Parses the JSON value and brings it to the current schema version (not yet validated). */
function parseAndUpgrade(record: EventRecord): { event: JsonObject; fromVersion: number; envelope: JsonObject | undefined } {
  if (record.value === null || record.value === undefined) {
    throw invalid('the record has no value (a tombstone?); events always carry a JSON value');
  }
  let text: string;
  try {
    text = asText(withoutRegistryFraming(record.value));
  } catch {
    throw invalid('the record value is not UTF-8 text; events are JSON');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw invalid(`the record value is not JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw invalid('the record value is JSON but not an object; events are JSON objects');
  }
  let event = parsed as JsonObject;
  let envelope: JsonObject | undefined;
  if (isEnvelope(record, event)) {
    envelope = event;
    const data = envelope.data;
    if (typeof data !== 'object' || data === null || Array.isArray(data)) {
      throw invalid('the record is a CloudEvents structured-mode envelope whose data is not a JSON object; the event must be in data');
    }
    event = data as JsonObject;
  }
  const version = event.schemaVersion;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) {
    throw invalid(`schemaVersion is ${JSON.stringify(version)}; expected a positive integer`);
  }
  const known = knownSchemaVersions();
  if (!known.includes(version)) {
    const id = typeof event.id === 'string' ? `event ${event.id}` : 'the event';
    const what =
      version > SCHEMA_VERSION
        ? `is newer than this decoder (it knows versions ${known.join(', ')})`
        : `is older than any version this decoder can upgrade (it knows versions ${known.join(', ')})`;
    throw new EventDecodeError('GW_EVENT_VERSION', `${id} has schemaVersion ${version}, which ${what}`, [
      version > SCHEMA_VERSION
        ? 'update edge-telemetry-gateway in this consumer to a release that knows this version'
        : 'replay the data through a gateway release that still upgrades it',
    ]);
  }
  for (let v = version; v < SCHEMA_VERSION; v++) {
    const upgrade = SCHEMA_UPGRADES[v];
    if (!upgrade) throw new EventDecodeError('GW_EVENT_VERSION', `no upgrade from schemaVersion ${v}`);
    event = upgrade(event);
  }
  return { event, fromVersion: version, envelope };
}

/** The CloudEvents attributes of a structured-mode envelope against the event in its data. */
function checkEnvelope(envelope: JsonObject, event: TelemetryEvent): void {
  const problems: string[] = [];
  const text = (name: string): string | undefined => (typeof envelope[name] === 'string' ? (envelope[name] as string) : undefined);
  if (text('specversion') !== '1.0') problems.push(`specversion: expected "1.0", got ${JSON.stringify(envelope.specversion ?? null)}`);
  if (text('id') !== event.id) problems.push(`id: expected the event id "${event.id}", got ${JSON.stringify(envelope.id ?? null)}`);
  const type = text('type');
  if (type === undefined || CLOUD_EVENT_TYPE.exec(type)?.[1] !== event.type) {
    problems.push(`type: expected ${cloudEventType(event.type)} (the event is a ${event.type}), got ${JSON.stringify(envelope.type ?? null)}`);
  }
  if (!text('source')) problems.push('source: missing (required by CloudEvents)');
  const dataContentType = text('datacontenttype');
  if (dataContentType !== undefined && mediaType(dataContentType) !== 'application/json') {
    problems.push(`datacontenttype: expected "application/json", got ${JSON.stringify(dataContentType)}`);
  }
  if (problems.length > 0) throw invalid(`event ${event.id}: the CloudEvents envelope does not match the event in its data`, problems);
}

function checkHeaders(record: EventRecord, event: TelemetryEvent): void {
  const problems: string[] = [];
  const specversion = headerValue(record, 'ce_specversion');
  if (specversion !== '1.0') problems.push(`ce_specversion: expected "1.0", got ${JSON.stringify(specversion ?? null)}`);
  const id = headerValue(record, 'ce_id');
  if (id !== event.id) problems.push(`ce_id: expected the event id "${event.id}", got ${JSON.stringify(id ?? null)}`);
  const type = headerValue(record, 'ce_type');
  if (type === undefined || CLOUD_EVENT_TYPE.exec(type)?.[1] !== event.type) {
    problems.push(`ce_type: expected ${cloudEventType(event.type)} (the event is a ${event.type}), got ${JSON.stringify(type ?? null)}`);
  }
  if (!headerValue(record, 'ce_source')) problems.push('ce_source: missing (required by CloudEvents)');
  const contentType = headerValue(record, 'content-type');
  if (contentType === undefined || contentType.split(';')[0]?.trim().toLowerCase() !== 'application/json') {
    problems.push(`content-type: expected "application/json", got ${JSON.stringify(contentType ?? null)}`);
  }
  if (problems.length > 0) {
    throw invalid(`event ${event.id}: the CloudEvents headers do not match the event`, [
      ...problems,
      'records without headers can be decoded with { checkHeaders: false }',
    ]);
  }
}

/**
 * Validates a Kafka record — binary mode (the value is the event, CloudEvents attributes in ce_* headers) or
 * structured mode (content-type application/cloudevents+json, the event in the envelope's data) — upgrades an event of an older schema version it
 * knows to the current one, and returns the typed event. Throws `EventDecodeError`: GW_EVENT_INVALID when the
 * record is not a valid event, GW_EVENT_VERSION when its schemaVersion is unknown (newer than this decoder).
 */
export function decodeEvent(record: EventRecord, options: DecodeOptions = {}): TelemetryEvent {
  const { event: raw, fromVersion, envelope } = parseAndUpgrade(record);
  const result = TelemetryEventSchema.safeParse(raw);
  if (!result.success) {
    const id = typeof raw.id === 'string' ? `event ${raw.id}` : 'the record';
    const upgraded = fromVersion === SCHEMA_VERSION ? '' : ` (upgraded from schemaVersion ${fromVersion})`;
    throw invalid(`${id} is not a valid edge-telemetry-gateway event${upgraded}`, issueLines(result.error.issues));
  }
  const event = result.data;
  // The envelope is the value itself, so it is always checked; headers only where the attributes live in them.
  if (envelope) checkEnvelope(envelope, event);
  else if (options.checkHeaders ?? true) checkHeaders(record, event);
  if (record.key !== undefined && record.key !== null) {
    let key: string;
    try {
      key = asText(record.key);
    } catch {
      throw invalid(`event ${event.id}: the record key is not UTF-8 text; the gateway keys records by deviceId`);
    }
    if (key !== event.deviceId) throw invalid(`event ${event.id}: record key "${key}" is not the event's deviceId "${event.deviceId}"`);
  }
  return event;
}
