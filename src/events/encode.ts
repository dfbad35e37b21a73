/**
 * The other direction of `decodeEvent`, for sinks that publish events of their own (e.g. an `alarm` raised by a
 * monitoring rule): the Kafka record the gateway's forwarder would write for that event. Dependency-free, like decode.ts.
 */
import { cloudEventType } from './decode.js';
import { TelemetryEventSchema, type TelemetryEvent } from './schema.js';

export interface EncodedRecord {
  /** The deviceId: per-device order on a partition, as the gateway keys its records. */
  key: string;
  /** The event as JSON. */
  value: string;
  /** CloudEvents Kafka protocol binding (binary mode) headers. */
  headers: Record<string, string>;
}

/**
 * Validates the event and returns its Kafka record. `source` is the CloudEvents source of the producer, a URI
 * reference such as `/vitals-monitor/icu-3` (the gateway uses `/edge-telemetry-gateway/<gatewayId>`).
 */
export function encodeEvent(event: TelemetryEvent, source: string): EncodedRecord {
  const valid = TelemetryEventSchema.parse(event);
  return {
    key: valid.deviceId,
    value: JSON.stringify(valid),
    headers: {
      ce_specversion: '1.0',
      ce_id: valid.id,
      ce_source: source,
      ce_type: cloudEventType(valid.type),
      ce_time: valid.sourceTime ?? valid.receivedAt,
      ce_subject: valid.deviceId,
      'content-type': 'application/json',
    },
  };
}
