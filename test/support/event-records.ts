import { Kafka, Partitioners, logLevel } from 'kafkajs';
import type { EncodedRecord } from '../../src/events/encode.js';
import { SCHEMA_VERSION, type TelemetryEvent } from '../../src/events/schema.js';

/** Produces records to one topic (acks -1) with a short-lived producer; resolves when Kafka acknowledged them all. */
export async function produceRecords(bootstrap: string, topic: string, records: readonly EncodedRecord[]): Promise<void> {
  const kafka = new Kafka({ clientId: 'test-producer', brokers: [bootstrap], logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: true });
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages: records.map((r) => ({ key: r.key, value: r.value, headers: r.headers })) });
  } finally {
    await producer.disconnect();
  }
}

let counter = 0;
/** A unique, UUID-shaped id that sorts by creation (enough for tests; the gateway uses UUIDv7). */
function testId(): string {
  counter += 1;
  const hex = (Date.now().toString(16) + counter.toString(16).padStart(8, '0') + Math.random().toString(16).slice(2)).padEnd(32, '0').slice(0, 32);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** One valid event of every type for `deviceId`, as the gateway would publish them (current schema version). */
export function oneEventOfEveryType(gatewayId: string, deviceId: string, time = '2026-11-27T09:30:00.000Z'): TelemetryEvent[] {
  const common = { schemaVersion: SCHEMA_VERSION, gatewayId, deviceId, sourceTime: null, receivedAt: time };
  return [
    { ...common, id: testId(), seq: 0, type: 'reading', metric: 'spo2', value: 97, unit: '%', quality: 'good', code: 'MDC_PULS_OXIM_SAT_O2' },
    { ...common, id: testId(), seq: 1, type: 'reading', metric: 'pulse-rate', value: null, unit: '/min', quality: 'bad' },
    { ...common, id: testId(), seq: 0, type: 'alarm', alarm: 'spo2-low', state: 'active', severity: 'high', message: 'SpO2 below 90 %', metric: 'spo2', value: 86 },
    { ...common, id: testId(), seq: 0, type: 'device-status', status: 'offline', previous: 'online', reason: 'serial port closed' },
    { ...common, id: testId(), seq: 0, type: 'gateway-health', uptimeSeconds: 61.5, figures: { backlog: 3, sentPerSecond: 12.5 } },
    {
      ...common,
      id: testId(),
      seq: 2,
      type: 'gap',
      reason: 'buffer-full',
      count: 5,
      fromTime: '2026-11-27T09:29:00.000Z',
      toTime: '2026-11-27T09:29:04.000Z',
      fromSeq: 2,
      toSeq: 6,
    },
    {
      ...common,
      id: testId(),
      seq: 0,
      type: 'dead-letter',
      input: 'site',
      source: 'sensors/broken',
      reason: 'payload is not JSON',
      payloadBase64: Buffer.from('{"t": 2').toString('base64'),
      payloadBytes: 7,
      truncated: false,
    },
  ];
}
