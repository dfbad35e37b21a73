import { describe, expect, it } from 'vitest';
import { MqttSubscription } from '../src/config/schema.js';
import type { DeadLetterEvent, ReadingEvent } from '../src/events/schema.js';
import { compileSubscription, convertValue, decodeMessage, resolveDeviceId } from '../src/inputs/mqtt/mapping.js';
import { topicMatches } from '../src/inputs/mqtt/topic-filter.js';
import { parseTimestamp } from '../src/inputs/values.js';
import { compileFieldPath, isMissing, readFieldPath } from '../src/util/field-path.js';

const ctx = { inputName: 'site', receivedAt: '2026-11-27T10:00:00.000Z', maxPayloadBytes: 1000, deadLetterBytes: 8 };

function sub(raw: Record<string, unknown>) {
  return compileSubscription(MqttSubscription.parse(raw));
}

describe('field paths', () => {
  it('parses dots, indexes and quoted keys', () => {
    expect(compileFieldPath('a.b[2].c')).toEqual(['a', 'b', 2, 'c']);
    expect(compileFieldPath('sensors["DS18B20-1"].Temperature')).toEqual(['sensors', 'DS18B20-1', 'Temperature']);
    expect(compileFieldPath("ENERGY['Power']")).toEqual(['ENERGY', 'Power']);
    expect(compileFieldPath('a..b')).toBeUndefined();
    expect(compileFieldPath('')).toBeUndefined();
    expect(compileFieldPath('a[x]')).toBeUndefined();
  });

  it('reads values and reports missing steps without throwing', () => {
    const doc = { a: { b: [1, { c: null }] } };
    expect(readFieldPath(doc, ['a', 'b', 1, 'c'])).toBeNull();
    expect(isMissing(readFieldPath(doc, ['a', 'x']))).toBe(true);
    expect(isMissing(readFieldPath(doc, ['a', 'b', 5]))).toBe(true);
    expect(isMissing(readFieldPath(doc, ['a', 'b', 'length']))).toBe(true);
    expect(isMissing(readFieldPath(doc, ['toString']))).toBe(true);
  });
});

describe('topics and device ids', () => {
  it('matches MQTT filters', () => {
    expect(topicMatches(['a', '+', 'c'], 'a/b/c')).toBe(true);
    expect(topicMatches(['a', '+'], 'a/b/c')).toBe(false);
    expect(topicMatches(['a', '#'], 'a/b/c')).toBe(true);
    expect(topicMatches(['a', '#'], 'a')).toBe(true);
    expect(topicMatches(['#'], '$SYS/x')).toBe(false);
  });

  it('resolves templates from topic levels', () => {
    expect(resolveDeviceId('{1}', 'zigbee2mqtt/Living room sensor')).toBe('Living room sensor');
    expect(resolveDeviceId('tasmota-{1}', 'tele/kitchen/SENSOR')).toBe('tasmota-kitchen');
    expect(resolveDeviceId('{topic}', 'a/b')).toBe('a/b');
  });
});

describe('values', () => {
  const number = { metric: 'x', type: 'number' as const, scale: 0.1, offset: -1, required: false };
  it('scales numbers without binary noise and accepts numeric strings', () => {
    expect(convertValue(215, number)).toEqual({ ok: true, value: 20.5, quality: 'good' });
    expect(convertValue('215', number)).toEqual({ ok: true, value: 20.5, quality: 'good' });
    expect(convertValue(null, number)).toEqual({ ok: true, value: null, quality: 'bad' });
    expect(convertValue('hot', number)).toEqual({ ok: false, problem: 'expected a number, got the string "hot"' });
    expect(convertValue({}, number)).toEqual({ ok: false, problem: 'expected a number, got an object' });
  });
  it('reads booleans the way devices write them', () => {
    const bool = { metric: 'x', type: 'boolean' as const, scale: 1, offset: 0, required: false };
    expect(convertValue('ON', bool)).toMatchObject({ value: true });
    expect(convertValue('off', bool)).toMatchObject({ value: false });
    expect(convertValue(2, bool)).toMatchObject({ ok: false });
  });
  it('parses timestamps', () => {
    expect(parseTimestamp(1700000000, 'auto')).toBe('2023-11-14T22:13:20.000Z');
    expect(parseTimestamp(1700000000123, 'auto')).toBe('2023-11-14T22:13:20.123Z');
    expect(parseTimestamp('2024-01-02T03:04:05Z', 'iso')).toBe('2024-01-02T03:04:05.000Z');
    expect(parseTimestamp('yesterday', 'auto')).toBeUndefined();
  });
});

describe('decodeMessage', () => {
  const zigbee = sub({
    topic: 'zigbee2mqtt/+',
    deviceId: '{1}',
    metrics: [
      { field: 'temperature', metric: 'temperature', unit: 'Cel' },
      { field: 'humidity', metric: 'humidity', unit: '%' },
      { field: 'battery', metric: 'battery', unit: '%', code: 'BATT' },
    ],
  });

  it('maps a Zigbee2MQTT state message (real sample) to readings', () => {
    const payload = Buffer.from('{"battery":100,"humidity":58.36,"linkquality":65,"temperature":21.47,"voltage":3025}');
    const events = decodeMessage(zigbee, 'zigbee2mqtt/0x00158d0001e7c9a1', payload, ctx) as ReadingEvent[];
    expect(events.map((e) => [e.metric, e.value, e.unit, e.quality])).toEqual([
      ['temperature', 21.47, 'Cel', 'good'],
      ['humidity', 58.36, '%', 'good'],
      ['battery', 100, '%', 'good'],
    ]);
    expect(events[2]).toMatchObject({ type: 'reading', deviceId: '0x00158d0001e7c9a1', code: 'BATT', sourceTime: null, source: 'zigbee2mqtt/0x00158d0001e7c9a1' });
  });

  it('dead-letters malformed JSON with a truncated copy of the bytes', () => {
    const [dead] = decodeMessage(zigbee, 'zigbee2mqtt/x', Buffer.from('{"temperature": 2'), ctx) as DeadLetterEvent[];
    expect(dead).toMatchObject({ type: 'dead-letter', deviceId: 'x', input: 'site', payloadBytes: 17, truncated: true });
    expect(Buffer.from(dead?.payloadBase64 ?? '', 'base64').toString()).toBe('{"temper');
    expect(dead?.reason).toMatch(/^invalid JSON/);
  });

  it('keeps good fields and dead-letters the bad ones of the same message', () => {
    const events = decodeMessage(zigbee, 'zigbee2mqtt/x', Buffer.from('{"temperature":"warm","humidity":40}'), ctx);
    expect(events.map((e) => e.type)).toEqual(['reading', 'dead-letter']);
    expect((events[1] as DeadLetterEvent).reason).toBe('temperature: expected a number, got the string "warm"');
  });

  it('rejects oversized payloads and empty device ids', () => {
    const big = decodeMessage(zigbee, 'zigbee2mqtt/x', Buffer.alloc(1001, 32), ctx)[0] as DeadLetterEvent;
    expect(big.reason).toBe('payload of 1001 bytes exceeds maxPayloadBytes 1000');
    const anonymous = decodeMessage(zigbee, 'zigbee2mqtt/', Buffer.from('{}'), ctx)[0] as DeadLetterEvent;
    expect(anonymous).toMatchObject({ deviceId: 'mqtt:site', type: 'dead-letter' });
  });

  it('reads plain numeric payloads', () => {
    const plain = sub({ topic: 'home/+/temp', deviceId: '{1}', format: 'number', metrics: [{ metric: 'temperature', unit: 'Cel' }] });
    const [e] = decodeMessage(plain, 'home/kitchen/temp', Buffer.from(' 19.5\n'), ctx) as ReadingEvent[];
    expect(e).toMatchObject({ deviceId: 'kitchen', value: 19.5, unit: 'Cel' });
    const [bad] = decodeMessage(plain, 'home/kitchen/temp', Buffer.from('n/a'), ctx);
    expect(bad?.type).toBe('dead-letter');
  });

  it('takes the device clock from a timestamp field', () => {
    const timed = sub({ topic: 't/+', deviceId: '{1}', timestamp: { field: 'ts', format: 'unix-s' }, metrics: [{ field: 'v', metric: 'v' }] });
    const [e] = decodeMessage(timed, 't/a', Buffer.from('{"ts":1700000000,"v":1}'), ctx);
    expect(e?.sourceTime).toBe('2023-11-14T22:13:20.000Z');
  });
});
