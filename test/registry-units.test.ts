// Pure parts of the schema registry support: wire format, subjects and schemas, the Connect row, config rules.
import { describe, expect, it } from 'vitest';
import { GatewayConfigSchema } from '../src/config/schema.js';
import { decodeEvent } from '../src/events/decode.js';
import { encodeEvent } from '../src/events/encode.js';
import type { GapEvent, ReadingEvent } from '../src/events/schema.js';
import { CONNECT_ROW_SCHEMA, connectRecordValue, connectRow } from '../src/registry/connect-record.js';
import { familyJsonSchema, familySubjects, subjectName } from '../src/registry/subjects.js';
import { decodeWireFormat, encodeWireFormat, withoutWireFraming } from '../src/registry/wire-format.js';

const reading = (value: ReadingEvent['value'], id = '0190a000-0000-7000-8000-000000000001'): ReadingEvent => ({
  schemaVersion: 2,
  id,
  type: 'reading',
  gatewayId: 'gw',
  deviceId: 'dev-1',
  seq: 7,
  sourceTime: null,
  receivedAt: '2026-12-01T10:00:00.000Z',
  metric: 'temperature',
  value,
  unit: 'Cel',
  quality: value === null ? 'bad' : 'good',
});

describe('Confluent wire format', () => {
  it('puts magic byte 0 and the big-endian 4-byte schema id before the JSON, and reads them back', () => {
    const bytes = encodeWireFormat(0x01020304, '{"a":"é"}');
    expect([...bytes.subarray(0, 5)]).toEqual([0, 1, 2, 3, 4]);
    expect(Buffer.from(bytes.subarray(5)).toString('utf8')).toBe('{"a":"é"}');
    const decoded = decodeWireFormat(bytes);
    expect(decoded?.schemaId).toBe(0x01020304);
    expect(Buffer.from(decoded?.payload ?? []).toString()).toBe('{"a":"é"}');
    expect(decodeWireFormat(encodeWireFormat(0xffffffff, '{}'))?.schemaId).toBe(0xffffffff);
  });

  it('leaves plain JSON alone and refuses ids that do not fit', () => {
    const json = Buffer.from('{"x":1}');
    expect(decodeWireFormat(json)).toBeUndefined();
    expect(withoutWireFraming(json)).toBe(json);
    expect(decodeWireFormat(new Uint8Array([0, 0, 1]))).toBeUndefined();
    expect(() => encodeWireFormat(-1, '{}')).toThrow(RangeError);
    expect(() => encodeWireFormat(2 ** 32, '{}')).toThrow(RangeError);
  });

  it('decodeEvent reads an event in the wire format like the plain one', () => {
    const record = encodeEvent(reading(21.5), '/test');
    const wire = Buffer.from(encodeWireFormat(42, record.value));
    expect(decodeEvent({ ...record, value: wire })).toEqual(decodeEvent(record));
  });
});

describe('subjects and schemas', () => {
  it('names subjects by the three Confluent strategies', () => {
    expect(subjectName('topic-name', 'telemetry.readings', 'readings')).toBe('telemetry.readings-value');
    expect(subjectName('record-name', 'telemetry.readings', 'readings')).toBe('io.edge-telemetry-gateway.readings');
    expect(subjectName('topic-record-name', 'telemetry.alarms', 'alarms')).toBe('telemetry.alarms-io.edge-telemetry-gateway.alarms');
  });

  it('has one draft-07 schema per family, closed objects, readings = reading | gap', () => {
    const subjects = familySubjects({ prefix: 'p.', readings: 'r', alarms: 'a', deviceStatus: 'ds', gatewayHealth: 'gh', deadLetter: 'dl' }, 'topic-name');
    expect(subjects.map((s) => [s.family, s.topic, s.subject])).toEqual([
      ['readings', 'p.r', 'p.r-value'],
      ['alarms', 'p.a', 'p.a-value'],
      ['deviceStatus', 'p.ds', 'p.ds-value'],
      ['gatewayHealth', 'p.gh', 'p.gh-value'],
      ['deadLetter', 'p.dl', 'p.dl-value'],
    ]);
    const readings = familyJsonSchema('readings') as { $schema: string; title: string; oneOf: { properties: { type: { const: string } }; additionalProperties: boolean }[] };
    expect(readings.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(readings.title).toBe('io.edge-telemetry-gateway.readings');
    expect(readings.oneOf.map((o) => o.properties.type.const)).toEqual(['reading', 'gap']);
    expect(readings.oneOf.every((o) => o.additionalProperties === false)).toBe(true);
    // The same schema is always the same text (the registry finds it instead of adding a version).
    expect(familySubjects({ prefix: 'p.', readings: 'r', alarms: 'a', deviceStatus: 'ds', gatewayHealth: 'gh', deadLetter: 'dl' }, 'topic-name')[0]?.schema).toBe(subjects[0]?.schema);
  });
});

describe('Kafka Connect row', () => {
  it('splits the value union into one typed column each, so nothing is coerced', () => {
    expect(connectRow(reading(21.5))).toMatchObject({ value_number: 21.5, value_text: null, value_boolean: null, metric: 'temperature', unit: 'Cel', device_id: 'dev-1', seq: 7 });
    expect(connectRow(reading('18446744073709551615'))).toMatchObject({ value_number: null, value_text: '18446744073709551615', value_boolean: null });
    expect(connectRow(reading(false))).toMatchObject({ value_number: null, value_text: null, value_boolean: false });
    expect(connectRow(reading(null))).toMatchObject({ value_number: null, value_text: null, value_boolean: null, quality: 'bad' });
  });

  it('carries gaps with their range, and nothing for other types', () => {
    const gap: GapEvent = {
      schemaVersion: 2,
      id: 'g1',
      type: 'gap',
      gatewayId: 'gw',
      deviceId: 'dev-1',
      seq: 9,
      sourceTime: null,
      receivedAt: '2026-12-01T10:00:00.000Z',
      reason: 'buffer-full',
      count: 3,
      fromTime: '2026-12-01T09:00:00.000Z',
      toTime: '2026-12-01T09:01:00.000Z',
      fromSeq: 4,
      toSeq: 6,
    };
    expect(connectRow(gap)).toMatchObject({ type: 'gap', gap_reason: 'buffer-full', gap_count: 3, gap_from_seq: 4, gap_to_seq: 6, metric: null });
    expect(connectRow({ type: 'alarm' })).toBeUndefined();
  });

  it('every payload field is in the schema and every required field is set', () => {
    const value = JSON.parse(connectRecordValue(connectRow(reading(1)) ?? {})) as { schema: typeof CONNECT_ROW_SCHEMA; payload: Record<string, unknown> };
    expect(Object.keys(value.payload).sort()).toEqual(CONNECT_ROW_SCHEMA.fields.map((f) => f.field).sort());
    for (const f of CONNECT_ROW_SCHEMA.fields) if (!f.optional) expect(value.payload[f.field], f.field).not.toBeNull();
  });
});

describe('config', () => {
  const base = { gateway: { id: 'gw' }, kafka: { brokers: ['127.0.0.1:9092'] } };

  it('defaults: plain JSON, no registry, no Connect copies; registry defaults topic-name and BACKWARD', () => {
    const config = GatewayConfigSchema.parse(base);
    expect(config.kafka.valueFormat).toBe('json');
    expect(config.kafka.schemaRegistry).toBeUndefined();
    expect(config.kafka.connect).toEqual({ enabled: false, topic: 'readings.connect' });
    const withRegistry = GatewayConfigSchema.parse({ ...base, kafka: { ...base.kafka, schemaRegistry: { url: 'http://r:8080/apis/ccompat/v7/' } } });
    expect(withRegistry.kafka.schemaRegistry).toMatchObject({ url: 'http://r:8080/apis/ccompat/v7', subjectStrategy: 'topic-name', compatibility: 'BACKWARD', requestTimeout: 5000 });
  });

  it('registry-json without a registry, a bad URL and an unknown level are errors at their path', () => {
    const issues = (kafka: Record<string, unknown>) =>
      GatewayConfigSchema.safeParse({ ...base, kafka: { ...base.kafka, ...kafka } }).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];
    expect(issues({ valueFormat: 'registry-json' })).toEqual([expect.stringMatching(/^kafka\.valueFormat: registry-json needs kafka\.schemaRegistry/)]);
    expect(issues({ schemaRegistry: { url: 'ftp://x' } })[0]).toMatch(/^kafka\.schemaRegistry\.url: expected an http/);
    expect(issues({ schemaRegistry: { url: 'http://x', compatibility: 'SOMETIMES' } })[0]).toMatch(/^kafka\.schemaRegistry\.compatibility/);
  });
});
