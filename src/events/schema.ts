/**
 * The channel contract: every event the gateway publishes, as zod schemas.
 *
 * These schemas are the single source of the TypeScript types, the runtime validation used by consumers
 * (`decodeEvent`) and the JSON Schema file shipped in `schemas/events.schema.json` (kept in sync by a test).
 */
import { z } from 'zod';

/**
 * Bumped when a change is not backward compatible for consumers; `decodeEvent` upgrades older versions it knows.
 * History: 1 — first release. 2 — gap events name their time range `fromTime`/`toTime` (were `from`/`to`, easy
 * to confuse with `fromSeq`/`toSeq`).
 */
export const SCHEMA_VERSION = 2 as const;

export const EVENT_TYPES = ['reading', 'alarm', 'device-status', 'gateway-health', 'gap', 'dead-letter'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/**
 * Events are grouped into families; each family has its own Kafka topic and its own per-device `seq` counter,
 * so a consumer of one topic can check that counter for holes. `gap` events travel with the readings they account for.
 */
export const EVENT_FAMILIES = ['readings', 'alarms', 'deviceStatus', 'gatewayHealth', 'deadLetter'] as const;
export type EventFamily = (typeof EVENT_FAMILIES)[number];

export const FAMILY_OF_TYPE: Readonly<Record<EventType, EventFamily>> = {
  reading: 'readings',
  gap: 'readings',
  alarm: 'alarms',
  'device-status': 'deviceStatus',
  'gateway-health': 'gatewayHealth',
  'dead-letter': 'deadLetter',
};

/**
 * Lower number drains first: alarms, then device status, then readings, then gateway health.
 * A gap event drains with the readings it accounts for: it shares their topic and seq counter, so letting it
 * overtake them would break per-device order on that topic.
 */
export const PRIORITY_OF_TYPE: Readonly<Record<EventType, number>> = {
  alarm: 0,
  'device-status': 1,
  gap: 2,
  reading: 2,
  'dead-letter': 2,
  'gateway-health': 3,
};

const isoTime = z.string().describe('RFC 3339 timestamp with milliseconds, UTC');

export const QualitySchema = z.enum(['good', 'uncertain', 'bad']).describe('Data quality of a value');
export type Quality = z.infer<typeof QualitySchema>;

const common = {
  schemaVersion: z.literal(SCHEMA_VERSION).describe('Version of this event schema'),
  id: z.string().describe('Unique, time-ordered event id (UUIDv7); a re-sent or replayed event keeps its id'),
  gatewayId: z.string().describe('Gateway that produced the event'),
  deviceId: z.string().describe('Device the event is about (Kafka record key)'),
  seq: z
    .number()
    .int()
    .nonnegative()
    .describe('Per device and event family, strictly increasing by one; survives gateway restarts'),
  sourceTime: isoTime.nullable().describe('Time stated by the device clock, when the device has one'),
  receivedAt: isoTime.describe('Time the gateway received the data'),
};

export const ReadingValueSchema = z.union([z.number(), z.boolean(), z.string(), z.null()]);
export type ReadingValue = z.infer<typeof ReadingValueSchema>;

export const ReadingEventSchema = z
  .object({
    ...common,
    type: z.literal('reading'),
    metric: z.string().describe('Metric name, e.g. temperature'),
    value: ReadingValueSchema.describe('Measured value; null when quality is bad; integers beyond ±(2^53−1) (e.g. Sparkplug UInt64) are decimal strings, never rounded numbers'),
    unit: z.string().nullable().describe('UCUM unit code, e.g. Cel, %, /min; null when dimensionless or unknown'),
    quality: QualitySchema,
    code: z.string().optional().describe('Device-specific code, e.g. an IEEE 11073 MDC reference id'),
    source: z.string().optional().describe('Where the value came from: MQTT topic, serial port, Modbus request'),
  })
  .describe('One measured value');

export const AlarmEventSchema = z
  .object({
    ...common,
    type: z.literal('alarm'),
    alarm: z.string().describe('Alarm name, e.g. spo2-low or a device alarm flag'),
    state: z.enum(['active', 'cleared']),
    severity: z.enum(['low', 'medium', 'high']),
    message: z.string(),
    metric: z.string().optional(),
    value: ReadingValueSchema.optional(),
  })
  .describe('A device alarm or threshold crossing; delivered before anything else');

export const DeviceStatusEventSchema = z
  .object({
    ...common,
    type: z.literal('device-status'),
    status: z.enum(['online', 'degraded', 'offline', 'error']),
    previous: z.enum(['online', 'degraded', 'offline', 'error', 'unknown']),
    reason: z.string(),
  })
  .describe('A device state transition with its reason');

export const GatewayHealthEventSchema = z
  .object({
    ...common,
    type: z.literal('gateway-health'),
    uptimeSeconds: z.number(),
    status: z
      .enum(['ok', 'degraded'])
      .optional()
      .describe('degraded while an input knows data was lost beyond the gateway (e.g. the MQTT broker dropped messages); absent from older gateways'),
    problems: z
      .array(
        z.object({
          input: z.string().describe('Input that reports it'),
          code: z.string().describe('Stable error code (docs/errors.md), e.g. GW_MQTT_BROKER_DROPPED'),
          message: z.string(),
          count: z.number().int().nonnegative().optional().describe('Messages or events concerned, when known'),
          since: isoTime,
          lastSeen: isoTime,
        }),
      )
      .optional()
      .describe('Why the gateway is degraded; empty when status is ok'),
    figures: z.record(z.string(), z.number()).describe('Rates, backlog, drops and gaps, by name'),
  })
  .describe('Periodic heartbeat of the gateway itself (deviceId is the gateway id)');

export const GapEventSchema = z
  .object({
    ...common,
    type: z.literal('gap'),
    reason: z.string().describe('Why the events are missing, e.g. buffer-full, sequence-jump, read-failed'),
    count: z.number().int().nonnegative().describe('How many events are missing'),
    fromTime: isoTime.describe('Time of the first missing event'),
    toTime: isoTime.describe('Time of the last missing event'),
    family: z
      .enum(EVENT_FAMILIES)
      .optional()
      .describe('Event family whose events are missing (their topic and seq counter); readings when absent'),
    fromSeq: z.number().int().nonnegative().optional().describe('First missing seq (of that family, for this device)'),
    toSeq: z.number().int().nonnegative().optional().describe('Last missing seq (of that family, for this device)'),
  })
  .describe('An explicit statement that events were dropped or could not be read');

export const DeadLetterEventSchema = z
  .object({
    ...common,
    type: z.literal('dead-letter'),
    input: z.string().describe('Name of the input that received the data'),
    source: z.string().describe('MQTT topic, serial port or Modbus request the data came from'),
    reason: z.string(),
    payloadBase64: z.string().describe('The raw bytes, base64 (truncated to payloadBytesKept)'),
    payloadBytes: z.number().int().nonnegative().describe('Size of the original payload'),
    truncated: z.boolean(),
  })
  .describe('Input that could not be decoded, with the raw bytes and the reason');

export const TelemetryEventSchema = z.discriminatedUnion('type', [
  ReadingEventSchema,
  AlarmEventSchema,
  DeviceStatusEventSchema,
  GatewayHealthEventSchema,
  GapEventSchema,
  DeadLetterEventSchema,
]);

export type ReadingEvent = z.infer<typeof ReadingEventSchema>;
export type AlarmEvent = z.infer<typeof AlarmEventSchema>;
export type DeviceStatusEvent = z.infer<typeof DeviceStatusEventSchema>;
export type GatewayHealthEvent = z.infer<typeof GatewayHealthEventSchema>;
export type GapEvent = z.infer<typeof GapEventSchema>;
export type DeadLetterEvent = z.infer<typeof DeadLetterEventSchema>;
export type TelemetryEvent = z.infer<typeof TelemetryEventSchema>;

type StampedField = 'schemaVersion' | 'id' | 'gatewayId' | 'seq';
type Draft<E> = E extends TelemetryEvent ? Omit<E, StampedField> : never;
/** An event as an input produces it; the buffer stamps id, gatewayId, seq and schemaVersion when it accepts it. */
export type EventDraft = Draft<TelemetryEvent>;

/** The JSON Schema (draft 2020-12) of every event, generated from the zod schemas above. */
export function eventsJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(TelemetryEventSchema, { target: 'draft-2020-12' }) as Record<string, unknown>;
  return {
    $id: 'https://edge-telemetry-gateway.local/schemas/events.schema.json',
    title: 'edge-telemetry-gateway event',
    description: `Events published to Kafka by edge-telemetry-gateway, schemaVersion ${SCHEMA_VERSION}.`,
    ...schema,
  };
}
