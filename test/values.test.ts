/**
 * One vocabulary for device values (src/inputs/values.ts): the same raw value reads the same through an MQTT
 * metric mapping, an MQTT format driver and a serial record field — or is the same kind of error in all three.
 */
import { describe, expect, it } from 'vitest';
import { loadDriverFile, SHIPPED_DRIVERS_DIR } from '../src/drivers/driver-files.js';
import type { ReadingValue } from '../src/events/schema.js';
import { MetricMapping } from '../src/inputs/mqtt/config.js';
import { MqttDriver } from '../src/inputs/mqtt/drivers.js';
import type { Zigbee2MqttDriverT } from '../src/inputs/mqtt/formats/zigbee2mqtt.js';
import { Zigbee2MqttDecoder } from '../src/inputs/mqtt/formats/zigbee2mqtt.js';
import { convertValue } from '../src/inputs/mqtt/mapping.js';
import { FieldSpec } from '../src/inputs/serial/driver.js';
import { convertTextField } from '../src/inputs/serial/records.js';
import { FALSE_WORDS, toReadingValue, TRUE_WORDS, type ValueType } from '../src/inputs/values.js';

const ctx = { inputName: 'unit', receivedAt: '2026-11-27T10:00:00.000Z', maxPayloadBytes: 10_000, deadLetterBytes: 64 };
const z2m = loadDriverFile('zigbee2mqtt', MqttDriver, [SHIPPED_DRIVERS_DIR], SHIPPED_DRIVERS_DIR).driver as Zigbee2MqttDriverT;

/** What each input family makes of `raw` as a value of `type`: the value, or 'error'. */
function throughEveryInput(raw: string | number | boolean, type: ValueType): { mapping: unknown; format: unknown; serial: unknown } {
  const mapping = convertValue(raw, MetricMapping.parse({ metric: 'x', type }));
  // Zigbee2MQTT keys of each type in the shipped driver: occupancy (boolean), temperature (number), action (string).
  const key = { boolean: 'occupancy', number: 'temperature', string: 'action' }[type];
  const driver: Zigbee2MqttDriverT = { ...z2m, keys: { ...z2m.keys, [key]: { type } } };
  const drafts = new Zigbee2MqttDecoder(driver).decode({ topic: 'zigbee2mqtt/dev', payload: Buffer.from(JSON.stringify({ [key]: raw })), relativeLevels: ['dev'] }, ctx).drafts;
  const reading = drafts.find((d) => d.type === 'reading');
  const serial = convertTextField(FieldSpec.parse({ metric: 'x', from: 'v', type }), new Set(), new Map([['v', String(raw)]]));
  return {
    mapping: mapping.ok ? mapping.value : 'error',
    format: reading?.type === 'reading' ? reading.value : drafts.some((d) => d.type === 'dead-letter') ? 'error' : 'nothing',
    serial: serial.kind === 'value' ? serial.value : serial.kind === 'problem' ? 'error' : 'absent',
  };
}

const same = (value: ReadingValue | 'error') => ({ mapping: value, format: value, serial: value });

describe('one vocabulary of device values', () => {
  it.each([...TRUE_WORDS, 'ON', ' Online ', 'YES'])('boolean word %j is true everywhere', (word) => {
    expect(throughEveryInput(word, 'boolean')).toEqual(same(true));
  });

  it.each([...FALSE_WORDS, 'OFF', 'Offline ', 'Closed'])('boolean word %j is false everywhere', (word) => {
    expect(throughEveryInput(word, 'boolean')).toEqual(same(false));
  });

  it.each(['maybe', 'A', 'V', 'online!', '2', '-1'])('%j is no boolean anywhere', (word) => {
    expect(throughEveryInput(word, 'boolean')).toEqual(same('error'));
  });

  it('numbers: decimal text and JSON numbers, nothing else', () => {
    expect(throughEveryInput('21.5', 'number')).toEqual(same(21.5));
    expect(throughEveryInput(' -3 ', 'number')).toEqual(same(-3));
    expect(throughEveryInput('1e3', 'number')).toEqual(same(1000));
    expect(throughEveryInput(21.5, 'number')).toEqual({ mapping: 21.5, format: 21.5, serial: 21.5 });
    for (const text of ['0x1F', 'NaN', 'Infinity', '1e999', '21,5', 'hot']) expect(throughEveryInput(text, 'number'), text).toEqual(same('error'));
  });

  it('a boolean field can add the words of its device (NMEA status A/V), on top of the shared ones', () => {
    const spec = FieldSpec.parse({ metric: 'fix', from: 'v', type: 'boolean', booleanWords: { true: ['A'], false: ['V'] } });
    const read = (text: string) => convertTextField(spec, new Set(), new Map([['v', text]]));
    expect([read('A'), read('v'), read('on')].map((r) => (r.kind === 'value' ? r.value : r.kind))).toEqual([true, false, true]);
    expect(read('X')).toMatchObject({ kind: 'problem', problem: expect.stringContaining('or A/V') });
  });

  it('null is "no value" for every type; objects and arrays fit no type', () => {
    for (const type of ['number', 'boolean', 'string'] as const) {
      expect(toReadingValue(null, type)).toBeNull();
      expect(toReadingValue({}, type)).toBeUndefined();
      expect(toReadingValue([1], type)).toBeUndefined();
    }
    expect(toReadingValue(true, 'string')).toBe('true');
    expect(toReadingValue(7, 'string')).toBe('7');
  });
});
