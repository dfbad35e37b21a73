/**
 * How the events' Kafka records are written when `kafka.schemaRegistry`, `kafka.valueFormat: registry-json` or
 * `kafka.connect` is configured: the seam between the senders (forwarder, replay) and the registry.
 *
 * A sender builds each record as before (key, JSON value, CloudEvents headers) and hands it to `formatRecords`,
 * which returns what goes out: the record with its value format applied (`ce_dataschema` header; the wire format
 * with the schema id), plus the Connect copy of a reading. Before a send it awaits `prepare()`, which rejects
 * while the schema ids are not known yet (registry not reached): the sender then treats it like a failed send,
 * so the events stay in the buffer and ingest goes on.
 */
import { GatewayError, errorMessage } from '../errors.js';
import type { GapEvent, ReadingEvent, EventFamily } from '../events/schema.js';
import type { KafkaConfigT } from '../config/schema.js';
import type { KafkaRecord } from '../forwarder/kafka-transport.js';
import type { RecordFormatter, RecordSource } from '../forwarder/batching.js';
import type { Logger } from '../util/logger.js';
import { SchemaRegistryClient } from './client.js';
import { registerSubjects, type SubjectRegistration } from './compatibility.js';
import { CONNECT_COPY_OVERHEAD_BYTES, connectRecordValue, connectRow } from './connect-record.js';
import { familySubjects } from './subjects.js';
import { encodeWireFormat } from './wire-format.js';

/** CloudEvents `dataschema` attribute in the Kafka binary binding: the URL of the record's schema. */
export const DATASCHEMA_HEADER = 'ce_dataschema';

export interface OutgoingRecord {
  topic: string;
  record: KafkaRecord;
}

export interface RecordFormat extends RecordFormatter {
  /** Resolves once records can be written (schema ids known); rejects with the reason otherwise. */
  prepare(): Promise<void>;
  /**
   * The records one event goes out as; the first is always the event's own record on its own topic. `event`
   * is the stored event (its JSON payload, whatever the CloudEvents mode made of the record's value).
   */
  format(event: Pick<RecordSource, 'family' | 'payload'>, topic: string, record: KafkaRecord, options?: { connectCopy?: boolean }): OutgoingRecord[];
  /** Registry state for status and logs. */
  readonly state: RegistryState;
}

export interface RegistryState {
  configured: boolean;
  ready: boolean;
  lastError: string | null;
  lastErrorCode: string | null;
  subjects: { subject: string; id: number }[];
}

export interface RegistryRecordFormatOptions {
  kafka: KafkaConfigT;
  logger: Logger;
  /** Overrides the client built from kafka.schemaRegistry (tests). */
  client?: SchemaRegistryClient;
}

/** The format of a config, or undefined when the records are written as they are (plain JSON, no copies). */
export function createRecordFormat(options: RegistryRecordFormatOptions): RegistryRecordFormat | undefined {
  const { kafka } = options;
  if (!kafka.schemaRegistry && !kafka.connect.enabled) return undefined;
  return new RegistryRecordFormat(options);
}

export class RegistryRecordFormat implements RecordFormat {
  readonly #options: RegistryRecordFormatOptions;
  readonly #client: SchemaRegistryClient | undefined;
  readonly #connectTopic: string | undefined;
  /** Schema id per family, once registered or found. */
  #ids: Map<EventFamily, number> | undefined;
  #registering: Promise<void> | undefined;
  #state: RegistryState;

  constructor(options: RegistryRecordFormatOptions) {
    this.#options = options;
    const registry = options.kafka.schemaRegistry;
    this.#client =
      options.client ??
      (registry ? new SchemaRegistryClient({ url: registry.url, auth: registry.auth, requestTimeoutMs: registry.requestTimeout }) : undefined);
    this.#connectTopic = options.kafka.connect.enabled ? `${options.kafka.topics.prefix}${options.kafka.connect.topic}` : undefined;
    this.#state = { configured: this.#client !== undefined, ready: this.#client === undefined, lastError: null, lastErrorCode: null, subjects: [] };
  }

  get state(): RegistryState {
    return { ...this.#state, subjects: [...this.#state.subjects] };
  }

  /**
   * The first registration, at gateway start: throws GW_SCHEMA_INCOMPATIBLE when the registry refuses a schema
   * (the gateway must not start); an unreachable registry only logs and leaves the retries to prepare().
   */
  async start(): Promise<void> {
    if (!this.#client) return;
    try {
      await this.prepare();
    } catch (err) {
      if (err instanceof GatewayError && err.code === 'GW_SCHEMA_INCOMPATIBLE') throw err;
      this.#options.logger.warn(
        { code: 'GW_SCHEMA_REGISTRY', err: errorMessage(err) },
        'schema registry not reached at start; events are accepted and buffered, delivery starts once the schemas are registered',
      );
    }
  }

  prepare(): Promise<void> {
    if (this.#ids || !this.#client) return Promise.resolve();
    this.#registering ??= this.#register(this.#client).finally(() => {
      this.#registering = undefined;
    });
    return this.#registering;
  }

  async #register(client: SchemaRegistryClient): Promise<void> {
    const { kafka, logger } = this.#options;
    const registry = kafka.schemaRegistry;
    if (!registry) return;
    let registrations: SubjectRegistration[];
    try {
      registrations = await registerSubjects(client, familySubjects(kafka.topics, registry.subjectStrategy), registry.compatibility);
    } catch (err) {
      this.#state.lastError = errorMessage(err);
      this.#state.lastErrorCode = err instanceof GatewayError ? err.code : 'GW_SCHEMA_REGISTRY';
      throw err;
    }
    this.#ids = new Map(registrations.map((r) => [r.family, r.id]));
    this.#state = {
      configured: true,
      ready: true,
      lastError: null,
      lastErrorCode: null,
      subjects: registrations.map((r) => ({ subject: r.subject, id: r.id })),
    };
    logger.info(
      { registry: client.url, subjects: registrations.map((r) => ({ subject: r.subject, id: r.id, outcome: r.outcome })) },
      'event schemas registered',
    );
  }

  format(event: Pick<RecordSource, 'family' | 'payload'>, topic: string, record: KafkaRecord, options?: { connectCopy?: boolean }): OutgoingRecord[] {
    const { family } = event;
    const out: OutgoingRecord[] = [{ topic, record: this.#applyValueFormat(family, record) }];
    if (this.#connectTopic && family === 'readings' && (options?.connectCopy ?? true)) {
      const copy = this.#connectCopy(event.payload, record);
      if (copy) out.push({ topic: this.#connectTopic, record: copy });
    }
    return out;
  }

  extraBytes(family: EventFamily): number {
    let bytes = this.#client ? 80 : 0; // ce_dataschema header; the wire format's 5 bytes
    if (this.#connectTopic && family === 'readings') bytes += CONNECT_COPY_OVERHEAD_BYTES + 700;
    return bytes;
  }

  #applyValueFormat(family: EventFamily, record: KafkaRecord): KafkaRecord {
    const id = this.#ids?.get(family);
    if (id === undefined || !this.#client) return record;
    const headers = { ...record.headers, [DATASCHEMA_HEADER]: this.#client.schemaUrl(id) };
    if (this.#options.kafka.valueFormat !== 'registry-json') return { ...record, headers };
    const json = typeof record.value === 'string' ? record.value : record.value.toString('utf8');
    const wire = encodeWireFormat(id, json);
    return { ...record, value: Buffer.from(wire.buffer, wire.byteOffset, wire.byteLength), headers };
  }

  /** The Connect copy of a reading (or gap), from the stored event itself: the record's value may be an envelope. */
  #connectCopy(payload: string, record: KafkaRecord): KafkaRecord | undefined {
    const row = connectRow(JSON.parse(payload) as ReadingEvent | GapEvent);
    if (!row) return undefined;
    // The key stays the deviceId (per-device order on the copy's partitions too); the CloudEvents headers say
    // which event the row is, but the content is not that event, so no content-type/dataschema of the event.
    const { 'content-type': _contentType, [DATASCHEMA_HEADER]: _dataschema, ...headers } = record.headers;
    return { key: record.key, value: connectRecordValue(row), headers: { ...headers, 'content-type': 'application/json' } };
  }
}
