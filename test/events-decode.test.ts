import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cloudEventHeaders } from '../src/forwarder/forwarder.js';
import { RecordBuilder } from '../src/forwarder/batching.js';
import { decodeEvent, EventDecodeError, encodeEvent, knownSchemaVersions, SCHEMA_UPGRADES, SCHEMA_VERSION, type EncodedRecord, type TelemetryEvent } from '../src/events/index.js';
import { oneEventOfEveryType, produceRecords } from './support/event-records.js';
import { readTopic, type ReadRecord } from './support/kafka.js';
import { MqttGateway } from './support/mqtt-gateway.js';
import { uniqueName } from './support/wait.js';

function decodeError(fn: () => unknown): EventDecodeError {
  try {
    fn();
  } catch (err) {
    if (err instanceof EventDecodeError) return err;
    throw err;
  }
  throw new Error('expected an EventDecodeError');
}

/** A v1 record as a release-1 gateway wrote it: same headers, `schemaVersion: 1`, gap range named from/to. */
function v1Record(event: Record<string, unknown>): EncodedRecord {
  return {
    key: String(event.deviceId),
    value: JSON.stringify({ ...event, schemaVersion: 1 }),
    headers: {
      ce_specversion: '1.0',
      ce_id: String(event.id),
      ce_source: '/edge-telemetry-gateway/old-gateway',
      ce_type: `io.edge-telemetry-gateway.${String(event.type)}.v1`,
      ce_time: String(event.receivedAt),
      'content-type': 'application/json',
    },
  };
}

describe('decodeEvent on records read back from the real Kafka broker', () => {
  const kafka = inject('kafkaBootstrap');

  it('decodes one record of every event type to the event that was produced', async () => {
    const topic = uniqueName('decode-every-type');
    const events = oneEventOfEveryType('gw-decode', 'oximeter-1');
    await produceRecords(kafka, topic, events.map((e) => encodeEvent(e, '/edge-telemetry-gateway/gw-decode')));
    const records = await readTopic(kafka, topic, events.length);
    const decoded = records.map((r) => decodeEvent(r));
    expect(new Set(decoded.map((e) => e.type))).toEqual(new Set(['reading', 'alarm', 'device-status', 'gateway-health', 'gap', 'dead-letter']));
    expect(decoded.sort((a, b) => a.id.localeCompare(b.id))).toEqual([...events].sort((a, b) => a.id.localeCompare(b.id)));
  });

  it('upgrades schemaVersion 1 records (gap from/to) to the current version', async () => {
    const topic = uniqueName('decode-v1');
    const fixtures = oneEventOfEveryType('old-gateway', 'pump-7');
    const reading = fixtures.find((e) => e.type === 'reading');
    const gap = fixtures.find((e) => e.type === 'gap');
    if (!reading || gap?.type !== 'gap') throw new Error('fixture lacks a reading or a gap');
    const { fromTime, toTime, ...gapV1 } = gap;
    await produceRecords(kafka, topic, [v1Record(reading), v1Record({ ...gapV1, from: fromTime, to: toTime })]);
    const decoded = (await readTopic(kafka, topic, 2)).map((r) => decodeEvent(r));
    const byType = new Map(decoded.map((e) => [e.type, e]));
    expect(byType.get('reading')).toEqual({ ...reading, schemaVersion: SCHEMA_VERSION });
    expect(byType.get('gap')).toEqual({ ...gap, schemaVersion: SCHEMA_VERSION });
    expect(byType.get('gap')).not.toHaveProperty('from');
  });

  it('rejects a newer schemaVersion, headers that do not match the value, and invalid values, with stable codes', async () => {
    const topic = uniqueName('decode-bad');
    const [reading] = oneEventOfEveryType('gw-decode', 'oximeter-2');
    if (!reading) throw new Error('no fixture');
    const good = encodeEvent(reading, '/edge-telemetry-gateway/gw-decode');
    const bad: EncodedRecord[] = [
      { ...good, value: JSON.stringify({ ...reading, schemaVersion: SCHEMA_VERSION + 1, newField: 1 }) },
      { ...good, headers: { ...good.headers, ce_id: 'someone-else' } },
      { ...good, headers: { ...good.headers, ce_type: 'io.edge-telemetry-gateway.alarm.v1' } },
      { ...good, value: JSON.stringify({ ...reading, quality: 'excellent' }) },
      { ...good, value: '{"schemaVersion": 2, "id": ' },
    ];
    await produceRecords(kafka, topic, bad);
    const read = (await readTopic(kafka, topic, bad.length)).sort((a, b) => Number(a.offset) - Number(b.offset));
    const errors = read.map((r) => decodeError(() => decodeEvent(r)));
    expect(errors.map((e) => e.code)).toEqual(['GW_EVENT_VERSION', 'GW_EVENT_INVALID', 'GW_EVENT_INVALID', 'GW_EVENT_INVALID', 'GW_EVENT_INVALID']);
    expect(errors[0]?.message).toBe(`event ${reading.id} has schemaVersion ${SCHEMA_VERSION + 1}, which is newer than this decoder (it knows versions 1, 2)`);
    expect(errors[1]?.details.join('\n')).toContain(`ce_id: expected the event id "${reading.id}", got "someone-else"`);
    expect(errors[2]?.details.join('\n')).toContain('ce_type: expected io.edge-telemetry-gateway.reading.v1 (the event is a reading)');
    expect(errors[3]?.details.join('\n')).toContain('quality:');
    expect(errors[4]?.message).toMatch(/^the record value is not JSON/);
    // Without header checks the value alone decides.
    expect(decodeEvent({ value: good.value }, { checkHeaders: false })).toEqual(reading);
    expect(decodeError(() => decodeEvent({ value: good.value })).details.join('\n')).toContain('ce_specversion: expected "1.0", got null');
  });
});

describe('decodeEvent on what the gateway itself publishes (gateway process → Kafka)', () => {
  let gw: MqttGateway;

  beforeAll(async () => {
    gw = await MqttGateway.start({ name: 'decode-gw' });
  });

  afterAll(async () => {
    expect(await gw?.close()).toBe(0);
  });

  it('decodes every reading and dead letter the forwarder wrote, headers and key included', async () => {
    await gw.publisher.publishMany(gw.sensors, 0, 20, 2);
    await gw.publisher.client.publishAsync(`${gw.sensors}/dev-broken`, '{"temperature": 21.', { qos: 1 });
    const readings: ReadRecord[] = await readTopic(gw.kafka, gw.topic('readings'), 40);
    const deadLetters: ReadRecord[] = await readTopic(gw.kafka, gw.topic('deadletter'), 1);
    const events: TelemetryEvent[] = [...readings, ...deadLetters].map((r) => decodeEvent(r));
    expect(events.filter((e) => e.type === 'reading').length).toBeGreaterThanOrEqual(40);
    expect(events.filter((e) => e.type === 'dead-letter').length).toBeGreaterThanOrEqual(1);
    for (const e of events) expect(e.gatewayId).toBe(gw.gatewayId);
  });
});

describe('the consumer entry point and the version registry', () => {
  it('encodeEvent writes the same CloudEvents headers as the gateway forwarder', () => {
    for (const event of oneEventOfEveryType('gw-h', 'dev-h')) {
      const forwarder = cloudEventHeaders('gw-h', {
        id: event.id,
        deviceId: event.deviceId,
        type: event.type,
        family: 'readings',
        eventTime: event.sourceTime ?? event.receivedAt,
        payload: JSON.stringify(event),
      });
      expect(encodeEvent(event, '/edge-telemetry-gateway/gw-h').headers).toEqual(forwarder);
    }
  });

  it('has an upgrade for every version below the current one', () => {
    expect(knownSchemaVersions()).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
    expect(Object.keys(SCHEMA_UPGRADES).map(Number).sort()).toEqual(Array.from({ length: SCHEMA_VERSION - 1 }, (_, i) => i + 1));
  });

  it('imports nothing but zod (no kafkajs, no SQLite, no gateway) through edge-telemetry-gateway/events', () => {
    const root = resolve(import.meta.dirname, '..');
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, string> };
    const entry = join(root, pkg.exports['./events'] ?? '');
    const bare = new Set<string>();
    const seen = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      const source = readFileSync(file, 'utf8');
      for (const m of source.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
        const spec = m[1] ?? m[2] ?? '';
        if (spec.startsWith('.')) visit(resolve(dirname(file), spec));
        else bare.add(spec);
      }
    };
    visit(entry);
    expect([...bare]).toEqual(['zod']);
    expect(seen.size).toBeGreaterThan(3);
  });
});

describe('decodeEvent on CloudEvents structured-mode records (kafka.cloudEvents: structured)', () => {
  const build = (event: TelemetryEvent) =>
    new RecordBuilder({ gatewayId: 'gw-s', cloudEvents: 'structured' }).build({
      id: event.id,
      deviceId: event.deviceId,
      type: event.type,
      family: 'readings',
      eventTime: event.sourceTime ?? event.receivedAt,
      payload: JSON.stringify(event),
    });

  it('unwraps data for every event type: the same event as binary mode, with or without the header', () => {
    for (const event of oneEventOfEveryType('gw-s', 'dev-s')) {
      const record = build(event);
      expect(record.headers).toEqual({ 'content-type': 'application/cloudevents+json' });
      const envelope = JSON.parse(record.value) as Record<string, unknown>;
      expect(envelope).toMatchObject({ specversion: '1.0', id: event.id, source: '/edge-telemetry-gateway/gw-s', type: `io.edge-telemetry-gateway.${event.type}.v1`, subject: 'dev-s' });
      expect(decodeEvent(record)).toEqual(decodeEvent(encodeEvent(event, '/edge-telemetry-gateway/gw-s')));
      // Headers lost on the way: the envelope is recognised by its shape.
      expect(decodeEvent({ value: record.value, key: record.key })).toEqual(decodeEvent(record));
    }
  });

  it('rejects an envelope whose attributes do not match its data, or whose data is not an event object', () => {
    const [event] = oneEventOfEveryType('gw-s', 'dev-s') as [TelemetryEvent];
    const envelope = JSON.parse(build(event).value) as Record<string, unknown>;
    const headers = { 'content-type': 'application/cloudevents+json; charset=utf-8' };
    const wrongId = { value: JSON.stringify({ ...envelope, id: 'other' }), headers };
    expect(() => decodeEvent(wrongId)).toThrow(/the CloudEvents envelope does not match the event in its data/);
    try {
      decodeEvent(wrongId);
    } catch (err) {
      expect((err as EventDecodeError).code).toBe('GW_EVENT_INVALID');
      expect((err as EventDecodeError).details).toContain(`id: expected the event id "${event.id}", got "other"`);
    }
    expect(() => decodeEvent({ value: JSON.stringify({ ...envelope, data: 'text' }), headers })).toThrow(/data is not a JSON object/);
    expect(() => decodeEvent({ value: JSON.stringify({ ...envelope, type: 'io.other.v1' }), headers })).toThrow(/does not match/);
  });
});
