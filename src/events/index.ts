/**
 * Consumer-facing entry point (`edge-telemetry-gateway/events`): event types, their JSON Schema, `decodeEvent`
 * for Kafka records and `encodeEvent` for sinks that publish events. Imports zod and nothing heavy (no kafkajs,
 * no SQLite): a test keeps it that way.
 */
export * from './schema.js';
export {
  decodeEvent,
  EventDecodeError,
  knownSchemaVersions,
  SCHEMA_UPGRADES,
  cloudEventType,
  type EventRecord,
  type DecodeOptions,
  type EventDecodeCode,
} from './decode.js';
export { encodeEvent, type EncodedRecord } from './encode.js';
