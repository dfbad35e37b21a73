/**
 * Kafka batching, shared by the forwarder and `replay`: how a stored event becomes a Kafka record (key, value,
 * headers), how records are grouped into one batch per topic, how many fit in one produce request, and how the
 * request size shrinks when the broker refuses a batch as too large. Every client (kafkajs, librdkafka) sits
 * below this module behind `KafkaTransport`, so the batching and the "too large" handling are the same for all.
 */
import type { StoredEvent } from '../buffer/sqlite-buffer.js';
import type { EventFamily, EventType } from '../events/schema.js';
import type { KafkaRecord, TopicBatch } from './kafka-transport.js';

/**
 * What a value format (src/registry: schema registry wire format, Connect copies) does to the records of one
 * event: the event's own record with its value format applied first, then any copies on other topics. The
 * senders call it through `toTopicBatches`; without one, records go out exactly as built.
 */
export interface RecordFormatter {
  format(event: Pick<RecordSource, 'family' | 'payload'>, topic: string, record: KafkaRecord, options?: { connectCopy?: boolean }): { topic: string; record: KafkaRecord }[];
  /** Estimated bytes the format adds to one event of the family in a produce request (for request sizing). */
  extraBytes(family: EventFamily): number;
}

/** What record building reads from a stored event (the buffer's StoredEvent and KeptEvent fit). */
export type RecordSource = Pick<StoredEvent, 'id' | 'deviceId' | 'type' | 'family' | 'eventTime' | 'payload'>;

/**
 * CloudEvents Kafka protocol binding mode. binary: the value is the event, the attributes are seven `ce_*` /
 * content-type headers. structured: the value is a CloudEvents JSON envelope with the event in `data`, and the
 * record has one `content-type: application/cloudevents+json` header.
 */
export type CloudEventsMode = 'binary' | 'structured';

export const STRUCTURED_CONTENT_TYPE = 'application/cloudevents+json';
/** Set on records that waited in the backlog while live-first drain sent fresher events of the same device first. */
export const BACKLOG_HEADER = 'etg_backlog';
/** Set on every record sent by `replay`. */
export const REPLAYED_HEADER = 'etg_replayed';

/** The smallest produce request size the "too large" halving goes down to. */
export const MIN_REQUEST_BYTES = 16_384;
/**
 * Bytes a record costs on the wire besides its value and key: the record framing plus the CloudEvents
 * attributes (headers in binary mode, the envelope in structured mode), both about 200 bytes.
 */
const RECORD_OVERHEAD_BYTES = 220;

export function cloudEventSource(gatewayId: string): string {
  return `/edge-telemetry-gateway/${gatewayId}`;
}

export function cloudEventTypeOf(type: EventType): string {
  return `io.edge-telemetry-gateway.${type}.v1`;
}

/** CloudEvents Kafka protocol binding (binary mode) headers of one event. */
export function cloudEventHeaders(gatewayId: string, e: RecordSource): Record<string, string> {
  return {
    ce_specversion: '1.0',
    ce_id: e.id,
    ce_source: cloudEventSource(gatewayId),
    ce_type: cloudEventTypeOf(e.type),
    ce_time: e.eventTime,
    ce_subject: e.deviceId,
    'content-type': 'application/json',
  };
}

export interface RecordBuilderOptions {
  gatewayId: string;
  cloudEvents: CloudEventsMode;
}

/** Headers added to one record besides the CloudEvents ones (backlog, replayed). */
export type ExtraHeaders = Readonly<Record<string, string>> | undefined;

/**
 * Builds records: event → key, value, headers. The one place where a record's bytes are decided (a value
 * encoding, e.g. a schema registry's, hooks in here). What is the same for every event (the JSON-escaped
 * source, the envelope's fixed parts) is computed once per builder, not per event.
 */
export class RecordBuilder {
  readonly #options: RecordBuilderOptions;
  readonly #source: string;
  /** `{"specversion":"1.0","source":"…",` — the constant head of the structured envelope. */
  readonly #envelopeHead: string;

  constructor(options: RecordBuilderOptions) {
    this.#options = options;
    this.#source = cloudEventSource(options.gatewayId);
    this.#envelopeHead = `{"specversion":"1.0","source":${JSON.stringify(this.#source)},"datacontenttype":"application/json","id":`;
  }

  get mode(): CloudEventsMode {
    return this.#options.cloudEvents;
  }

  /** Records as built are JSON text; only a value format (the registry's wire format) turns a value into bytes. */
  build(e: RecordSource, extra?: ExtraHeaders): KafkaRecord & { value: string } {
    if (this.#options.cloudEvents === 'structured') {
      // The payload is already JSON: the envelope is written around it instead of parsing and stringifying it.
      const value = `${this.#envelopeHead}${JSON.stringify(e.id)},"type":"${cloudEventTypeOf(e.type)}","time":${JSON.stringify(e.eventTime)},"subject":${JSON.stringify(e.deviceId)},"data":${e.payload}}`;
      const headers: Record<string, string> = { 'content-type': STRUCTURED_CONTENT_TYPE };
      if (extra) Object.assign(headers, extra);
      return { key: e.deviceId, value, headers };
    }
    const headers: Record<string, string> = {
      ce_specversion: '1.0',
      ce_id: e.id,
      ce_source: this.#source,
      ce_type: cloudEventTypeOf(e.type),
      ce_time: e.eventTime,
      ce_subject: e.deviceId,
      'content-type': 'application/json',
    };
    if (extra) Object.assign(headers, extra);
    return { key: e.deviceId, value: e.payload, headers };
  }
}

type SizedEvent = Pick<RecordSource, 'payload' | 'deviceId' | 'family'>;

/** Estimated bytes of one event's records in a produce request (for request sizing, not exact). */
export function recordBytes(e: SizedEvent, format?: RecordFormatter): number {
  return e.payload.length + e.deviceId.length + RECORD_OVERHEAD_BYTES + (format ? format.extraBytes(e.family) : 0);
}

/** How many events from the start fit in one produce request: at least one, at most maxEvents. */
export function fittingCount(events: readonly SizedEvent[], maxEvents: number, maxBytes: number, format?: RecordFormatter): number {
  const limit = Math.min(events.length, maxEvents);
  let bytes = 0;
  for (let i = 0; i < limit; i++) {
    bytes += recordBytes(events[i] as SizedEvent, format);
    if (bytes > maxBytes && i > 0) return i;
  }
  return limit;
}

/**
 * Groups events into one batch per topic, keeping their order within each topic. With a value format, each
 * event's records are what the format makes of the built record (its own, plus copies on other topics).
 */
export function toTopicBatches<E extends RecordSource>(
  events: readonly E[],
  topicOf: (e: E) => string,
  build: (e: E) => KafkaRecord,
  format?: RecordFormatter,
  formatOptions?: { connectCopy?: boolean },
): TopicBatch[] {
  const byTopic = new Map<string, TopicBatch>();
  const add = (topic: string, record: KafkaRecord): void => {
    let batch = byTopic.get(topic);
    if (!batch) {
      batch = { topic, messages: [] };
      byTopic.set(topic, batch);
    }
    batch.messages.push(record);
  };
  for (const e of events) {
    const topic = topicOf(e);
    const record = build(e);
    if (!format) add(topic, record);
    else for (const out of format.format(e, topic, record, formatOptions)) add(out.topic, out.record);
  }
  return [...byTopic.values()];
}

/** Error type every transport gives a refusal of a record or batch as too large (kafkajs' own type name). */
export const TOO_LARGE = 'MESSAGE_TOO_LARGE';

export function isTooLarge(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { type?: unknown }).type === TOO_LARGE;
}

/**
 * The produce request size in force: starts at kafka.batch.maxBytes and halves (down to 16 KiB) each time the
 * broker refuses a batch as too large, i.e. its message.max.bytes (or the topic's max.message.bytes) is lower.
 */
export class RequestSizeLimit {
  #maxBytes: number;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  get maxBytes(): number {
    return this.#maxBytes;
  }

  /** After a refusal: whether the limit could still be lowered (false: it is already at the floor). */
  shrink(): boolean {
    if (this.#maxBytes <= MIN_REQUEST_BYTES) return false;
    this.#maxBytes = Math.max(MIN_REQUEST_BYTES, Math.floor(this.#maxBytes / 2));
    return true;
  }
}
