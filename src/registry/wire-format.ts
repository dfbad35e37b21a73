/**
 * The Confluent wire format: magic byte 0, the schema id as a 4-byte big-endian unsigned integer, then the
 * serialized value (here the event's JSON, UTF-8). Registry-aware clients (Confluent's and Apicurio's serdes,
 * @kafkajs/confluent-schema-registry, Kafka Connect converters) read the id to fetch the schema.
 *
 * Dependency-free: `decodeEvent` (edge-telemetry-gateway/events) imports it, and consumers load only zod.
 */

export const WIRE_MAGIC_BYTE = 0;
export const WIRE_HEADER_BYTES = 5;
const MAX_SCHEMA_ID = 0xffff_ffff;

const encoder = new TextEncoder();

/** The record value in the wire format: 5 header bytes, then the JSON text as UTF-8. */
export function encodeWireFormat(schemaId: number, json: string): Uint8Array {
  if (!Number.isInteger(schemaId) || schemaId < 0 || schemaId > MAX_SCHEMA_ID) {
    throw new RangeError(`schema id ${schemaId} does not fit the wire format (an unsigned 32-bit integer)`);
  }
  const body = encoder.encode(json);
  const out = new Uint8Array(WIRE_HEADER_BYTES + body.length);
  out[0] = WIRE_MAGIC_BYTE;
  new DataView(out.buffer, out.byteOffset, out.byteLength).setUint32(1, schemaId, false);
  out.set(body, WIRE_HEADER_BYTES);
  return out;
}

export interface WireFormatValue {
  schemaId: number;
  /** The serialized value after the header (a view into the record value, not a copy). */
  payload: Uint8Array;
}

/**
 * The schema id and payload of a wire-format value, or undefined when the value is not in the wire format.
 * Unambiguous for JSON: a JSON text never starts with the byte 0.
 */
export function decodeWireFormat(value: Uint8Array): WireFormatValue | undefined {
  if (value.length < WIRE_HEADER_BYTES || value[0] !== WIRE_MAGIC_BYTE) return undefined;
  const schemaId = new DataView(value.buffer, value.byteOffset, value.byteLength).getUint32(1, false);
  return { schemaId, payload: value.subarray(WIRE_HEADER_BYTES) };
}

/** The serialized value of a record: after the header when it is in the wire format, else the value itself. */
export function withoutWireFraming(value: Uint8Array): Uint8Array {
  return decodeWireFormat(value)?.payload ?? value;
}
