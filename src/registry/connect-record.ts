/**
 * The Kafka Connect copy of a reading or gap event (`kafka.connect`): JSON with an embedded Connect schema
 * (`{"schema": …, "payload": …}`), which Kafka's own JsonConverter (`schemas.enable=true`) turns into a Struct —
 * what JDBC sinks need to create and fill a table.
 *
 * Why a copy and not the event itself: a Connect schema has no union type, and a reading's `value` is a number,
 * a boolean, a string or null. Every converter path that reads the event as it is (JsonConverter with
 * `schema.content`, or schemaless JSON with a Cast) turns some of those into 0, null or text. The copy splits the
 * value into `value_number`, `value_text` and `value_boolean`, one of them set, so nothing is lost or coerced.
 * Column names are snake_case (a SQL table needs no quoting); times are ISO strings named
 * io.debezium.time.ZonedTimestamp, which Debezium's JDBC sink stores as `timestamptz` and any other sink reads as text.
 */
import type { GapEvent, ReadingEvent } from '../events/schema.js';

const ZONED_TIMESTAMP = 'io.debezium.time.ZonedTimestamp';

type ConnectType = 'string' | 'int32' | 'int64' | 'double' | 'boolean';

interface ConnectField {
  field: string;
  type: ConnectType;
  optional: boolean;
  name?: string;
  version?: number;
  doc?: string;
}

const time = (field: string, optional: boolean, doc: string): ConnectField => ({ field, type: 'string', optional, name: ZONED_TIMESTAMP, version: 1, doc });

/** The Connect schema of a row: one per reading or gap event, keyed by the event id. */
export const CONNECT_ROW_FIELDS: readonly ConnectField[] = [
  { field: 'id', type: 'string', optional: false, doc: 'Event id (UUIDv7): the primary key; a re-sent or replayed event has the same id' },
  { field: 'type', type: 'string', optional: false, doc: 'reading or gap' },
  { field: 'schema_version', type: 'int32', optional: false },
  { field: 'gateway_id', type: 'string', optional: false },
  { field: 'device_id', type: 'string', optional: false },
  { field: 'seq', type: 'int64', optional: false, doc: 'Per-device sequence number of the readings family' },
  time('source_time', true, 'Device clock, when the device has one'),
  time('received_at', false, 'Gateway clock'),
  { field: 'metric', type: 'string', optional: true },
  { field: 'value_number', type: 'double', optional: true, doc: 'The value when it is a number' },
  { field: 'value_text', type: 'string', optional: true, doc: 'The value when it is a string (also integers beyond 2^53, as decimal text)' },
  { field: 'value_boolean', type: 'boolean', optional: true, doc: 'The value when it is a boolean' },
  { field: 'unit', type: 'string', optional: true, doc: 'UCUM unit code' },
  { field: 'quality', type: 'string', optional: true, doc: 'good, uncertain or bad' },
  { field: 'code', type: 'string', optional: true, doc: 'Device-specific code, e.g. IEEE 11073 MDC' },
  { field: 'source', type: 'string', optional: true },
  { field: 'gap_reason', type: 'string', optional: true, doc: 'gap: why events are missing' },
  { field: 'gap_count', type: 'int64', optional: true, doc: 'gap: how many events are missing' },
  { field: 'gap_from_seq', type: 'int64', optional: true },
  { field: 'gap_to_seq', type: 'int64', optional: true },
  time('gap_from_time', true, 'gap: time of the first missing event'),
  time('gap_to_time', true, 'gap: time of the last missing event'),
];

export const CONNECT_ROW_SCHEMA = {
  type: 'struct',
  name: 'io.edge_telemetry_gateway.ReadingRow',
  version: 1,
  optional: false,
  fields: CONNECT_ROW_FIELDS,
} as const;

const SCHEMA_JSON = JSON.stringify(CONNECT_ROW_SCHEMA);

type Row = Record<string, string | number | boolean | null>;

/** The row of a reading or gap event (undefined for any other type: they have topics and tables of their own). */
export function connectRow(event: ReadingEvent | GapEvent | { type: string }): Row | undefined {
  if (event.type !== 'reading' && event.type !== 'gap') return undefined;
  const e = event as ReadingEvent | GapEvent;
  const row: Row = {
    id: e.id,
    type: e.type,
    schema_version: e.schemaVersion,
    gateway_id: e.gatewayId,
    device_id: e.deviceId,
    seq: e.seq,
    source_time: e.sourceTime,
    received_at: e.receivedAt,
    metric: null,
    value_number: null,
    value_text: null,
    value_boolean: null,
    unit: null,
    quality: null,
    code: null,
    source: null,
    gap_reason: null,
    gap_count: null,
    gap_from_seq: null,
    gap_to_seq: null,
    gap_from_time: null,
    gap_to_time: null,
  };
  if (e.type === 'reading') {
    row.metric = e.metric;
    if (typeof e.value === 'number') row.value_number = e.value;
    else if (typeof e.value === 'string') row.value_text = e.value;
    else if (typeof e.value === 'boolean') row.value_boolean = e.value;
    row.unit = e.unit;
    row.quality = e.quality;
    row.code = e.code ?? null;
    row.source = e.source ?? null;
  } else {
    row.gap_reason = e.reason;
    row.gap_count = e.count;
    row.gap_from_seq = e.fromSeq ?? null;
    row.gap_to_seq = e.toSeq ?? null;
    row.gap_from_time = e.fromTime;
    row.gap_to_time = e.toTime;
  }
  return row;
}

/** The record value: the schema and the row, as JsonConverter with schemas.enable=true reads it. */
export function connectRecordValue(row: Row): string {
  return `{"schema":${SCHEMA_JSON},"payload":${JSON.stringify(row)}}`;
}

/** Bytes a Connect copy adds to a produce request beyond the event payload (the embedded schema). */
export const CONNECT_COPY_OVERHEAD_BYTES = SCHEMA_JSON.length + 64;
