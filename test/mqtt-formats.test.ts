/** Unit tests of the MQTT format drivers beyond the golden cases: config checks, Sparkplug values, time zones, templates. */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import Long from 'long';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadConfig } from '../src/config/load.js';
import { GatewayError } from '../src/errors.js';
import type { ReadingEvent } from '../src/events/schema.js';
import { MqttDriver } from '../src/inputs/mqtt/drivers.js';
import { MQTT_FORMAT_NAMES } from '../src/inputs/mqtt/formats/registry.js';
import type { SparkplugDriverT } from '../src/inputs/mqtt/formats/sparkplug-b.js';
import type { Zigbee2MqttDriverT } from '../src/inputs/mqtt/formats/zigbee2mqtt.js';
import { BoundedMap } from '../src/inputs/mqtt/formats/common.js';
import { compileValueTemplate } from '../src/inputs/mqtt/formats/homeassistant-discovery.js';
import { shortestFloat32, SparkplugBDecoder } from '../src/inputs/mqtt/formats/sparkplug-b.js';
import { Zigbee2MqttDecoder } from '../src/inputs/mqtt/formats/zigbee2mqtt.js';
import { loadDriverFile } from '../src/drivers/driver-files.js';
import { CLI } from './support/gateway-process.js';
import { SHIPPED_DEVICES } from './support/mqtt-golden.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');
const ctx = { inputName: 'unit', receivedAt: '2026-11-27T10:00:00.000Z', maxPayloadBytes: 10_000, deadLetterBytes: 64 };

function driver<T>(name: string): T {
  return loadDriverFile(name, MqttDriver, [SHIPPED_DEVICES], ROOT).driver as T;
}

function configWith(dir: string, subscriptions: unknown[]): string {
  const file = join(dir, 'gateway.yaml');
  writeFileSync(
    file,
    stringify({ gateway: { id: 'unit' }, kafka: { brokers: ['127.0.0.1:9092'] }, inputs: [{ type: 'mqtt', name: 'site', url: 'mqtt://127.0.0.1:1883', subscriptions }] }),
  );
  return file;
}

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof GatewayError) return [err.code, ...err.details];
    throw err;
  }
  return [];
}

describe('driver files and config checks', () => {
  it('ships a valid driver file for each format, and the example configs pass check-config', async () => {
    for (const format of MQTT_FORMAT_NAMES) {
      expect(driver<{ format: string }>(format).format).toBe(format);
      expect(loadConfig(join(ROOT, 'config/examples', `mqtt-${format}.yaml`)).config.inputs).toHaveLength(1);
    }
    expect(readdirSync(join(ROOT, 'config/examples')).filter((f) => f.startsWith('mqtt-'))).toHaveLength(MQTT_FORMAT_NAMES.length);
    const { stdout } = await run(process.execPath, [CLI, 'check-config', '--config', join(ROOT, 'config/examples/mqtt-tasmota.yaml')]);
    expect(stdout).toContain('tasmota (driver ');
    expect(stdout).toContain('timeZone Europe/Berlin');
  });

  it('check-config names the driver file, the path inside it and the reason', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'etg-mqtt-drv-'));
    mkdirSync(join(dir, 'devices'));
    writeFileSync(join(dir, 'devices', 'my-z2m.yaml'), stringify({ kind: 'mqtt', format: 'zigbee2mqtt', topics: ['z2m/#'], keys: { temperature: { unit: 'Cel', type: 'float' } } }));
    writeFileSync(join(dir, 'devices', 'a-serial-driver.yaml'), stringify({ kind: 'serial', framing: 'lines' }));
    const file = configWith(dir, [
      { driver: 'my-z2m' },
      { driver: 'no-such-driver' },
      { driver: 'zigbee2mqtt', options: { timeZone: 'Europe/Berlin' } },
      { driver: 'tasmota', options: { timeZone: 'Mars/Olympus' } },
      { driver: 'a-serial-driver' },
    ]);
    const problems = problemsOf(() => loadConfig(file)).map((p) => p.replaceAll(dir, '<dir>'));
    expect(problems[0]).toBe('GW_CONFIG_INVALID');
    expect(problems).toHaveLength(6);
    expect(problems).toContain(
      '<dir>/devices/my-z2m.yaml:8:11: keys.temperature.type: GW_DRIVER_INVALID: expected number, boolean or string, got "float" (driver file of inputs[0].subscriptions[0].driver)',
    );
    expect(problems.find((p) => p.startsWith('<dir>/gateway.yaml:12:17: inputs[0].subscriptions[1].driver: GW_DRIVER_NOT_FOUND: driver "no-such-driver" not found; available mqtt drivers: homeassistant-discovery, my-z2m, shelly-gen2, sparkplug-b, tasmota, zigbee2mqtt; looked in <dir>/devices, '))).toBeDefined();
    expect(problems).toContain('<dir>/gateway.yaml:15:21: inputs[0].subscriptions[2].options.timeZone: not an option of the zigbee2mqtt format (only tasmota)');
    expect(problems).toContain('<dir>/gateway.yaml:18:21: inputs[0].subscriptions[3].options.timeZone: unknown time zone "Mars/Olympus" (use an IANA name like Europe/Berlin or UTC)');
    expect(problems).toContain(
      '<dir>/gateway.yaml:19:17: inputs[0].subscriptions[4].driver: driver "a-serial-driver" has kind: serial (<dir>/devices/a-serial-driver.yaml); this input needs kind: mqtt (drivers of that kind: homeassistant-discovery, my-z2m, shelly-gen2, sparkplug-b, tasmota, zigbee2mqtt)',
    );

    // The same through the CLI: exit 1 and every problem printed.
    const failed = await run(process.execPath, [CLI, 'check-config', '--config', file]).then(
      () => undefined,
      (err: { code: number; stderr: string; stdout: string }) => err,
    );
    expect(failed?.code).toBe(1);
    expect(`${failed?.stderr}${failed?.stdout}`).toContain('my-z2m.yaml:8:11: keys.temperature.type');
  });

  it('rejects explicit metrics, device ids or a timestamp on a driver subscription, and topics without a driver', () => {
    const dir = mkdtempSync(join(tmpdir(), 'etg-mqtt-drv-'));
    const file = configWith(dir, [
      { driver: 'zigbee2mqtt', metrics: [{ field: 'x', metric: 'x' }], deviceId: '{1}' },
      { topic: 'a/+', topics: ['b/+'], metrics: [{ field: 'x', metric: 'x' }] },
      { driver: 'zigbee2mqtt', topic: 'z2m/+' },
    ]);
    // Schema problems and what the driver checks find, in one pass.
    const problems = problemsOf(() => loadConfig(file)).map((p) => p.replace(/^.*gateway\.yaml:\d+:\d+: /, ''));
    expect(problems).toEqual([
      'GW_CONFIG_INVALID',
      'inputs[0].subscriptions[0].metrics: not with a driver: the zigbee2mqtt driver defines it (put explicit metrics in a separate subscription)',
      'inputs[0].subscriptions[0].deviceId: not with a driver: the zigbee2mqtt driver defines it (put explicit metrics in a separate subscription)',
      'inputs[0].subscriptions[1].topics: only driver subscriptions take several topics; use one subscription per topic',
      'inputs[0].subscriptions[2].topic: the zigbee2mqtt format needs a filter like <base>/# (got "z2m/+")',
    ]);
  });
});

describe('Sparkplug B values', () => {
  const sparkplug = (createRequire(import.meta.url)('sparkplug-payload') as typeof import('sparkplug-payload')).get('spBv1.0');
  if (sparkplug === null) throw new Error('sparkplug-payload has no spBv1.0 codec');

  it('decodes the typed values of the eclipse/tahu round-trip test exactly', () => {
    const decoder = new SparkplugBDecoder(driver<SparkplugDriverT>('sparkplug-b'));
    // Values of eclipse/tahu java/core/src/test/java/org/eclipse/tahu/test/SparkplugTest.java.
    const payload = sparkplug.encodePayload({
      timestamp: 1764237600000,
      seq: 0,
      metrics: [
        { name: 'bdSeq', type: 'UInt64', value: Long.fromString('7', true) },
        { name: 'Int8', type: 'Int8', value: 123 },
        { name: 'Int16', type: 'Int16', value: 12345 },
        { name: 'Int32', type: 'Int32', value: 1234567890 },
        { name: 'Int64', type: 'Int64', value: Long.fromString('12345679000') },
        { name: 'UInt64', type: 'UInt64', value: Long.fromString('12345679000', true) },
        { name: 'UInt32', type: 'UInt32', value: 1234567890 },
        { name: 'Float', type: 'Float', value: 1.11e30 },
        { name: 'Double', type: 'Double', value: 1.11e300 },
        { name: 'UInt64 2^63+1', type: 'UInt64', value: Long.fromString('9223372036854775809', true) },
        { name: 'Int64 min', type: 'Int64', value: Long.MIN_VALUE },
      ],
    });
    const { drafts } = decoder.decode({ topic: 'spBv1.0/G/NBIRTH/N', payload: Buffer.from(payload), relativeLevels: undefined }, ctx);
    const values = Object.fromEntries(drafts.filter((d): d is Omit<ReadingEvent, 'id' | 'seq' | 'gatewayId' | 'schemaVersion'> => d.type === 'reading').map((d) => [d.metric, d.value]));
    expect(values).toEqual({
      Int8: 123,
      Int16: 12345,
      Int32: 1234567890,
      Int64: 12345679000,
      UInt64: 12345679000,
      UInt32: 1234567890,
      Float: 1.11e30,
      Double: 1.11e300,
      'UInt64 2^63+1': '9223372036854775809',
      'Int64 min': '-9223372036854775808',
    });
    expect(drafts[0]).toMatchObject({ type: 'device-status', deviceId: 'G/N', status: 'online', reason: 'NBIRTH bdSeq 7' });
  });

  it('prints 32-bit floats as their shortest round-tripping decimal', () => {
    expect(shortestFloat32(Math.fround(0.1))).toBe(0.1);
    expect(shortestFloat32(Math.fround(21.37))).toBe(21.37);
    expect(shortestFloat32(Math.fround(16777217))).toBe(16777216);
  });
});

describe('format helpers', () => {
  it('compiles the common value_template forms and explains the others', () => {
    expect(compileValueTemplate('{{ value_json.temperature }}')).toEqual({ path: ['temperature'], filters: [] });
    expect(compileValueTemplate("{{value_json['AM2301'].Temperature}}")).toEqual({ path: ['AM2301', 'Temperature'], filters: [] });
    expect(compileValueTemplate('{{ value_json["ENERGY"]["Power"] | float | round(1) }}')).toEqual({
      path: ['ENERGY', 'Power'],
      filters: [{ name: 'float' }, { name: 'round', digits: 1 }],
    });
    expect(compileValueTemplate('{{ value }}')).toEqual({ path: undefined, filters: [] });
    expect(compileValueTemplate('{{ value_json.x | multiply(0.1) }}')).toMatch(/unsupported filter "multiply\(0.1\)"/);
    expect(compileValueTemplate("{% if value == 'on' %}1{% endif %}")).toMatch(/not a single \{\{ … \}\} expression/);
    expect(compileValueTemplate('{{ states.sensor.x }}')).toMatch(/unsupported expression/);
  });

  it('keeps per-device state bounded (the least recently written device is forgotten first)', () => {
    const map = new BoundedMap<string, number>(2);
    map.set('a', 1);
    map.set('b', 2);
    map.set('a', 3);
    map.set('c', 4);
    expect([...map.keys()]).toEqual(['a', 'c']);

    // Zigbee2MQTT changedOnly with room for one device: a forgotten device publishes its full state again.
    const z2m = new Zigbee2MqttDecoder(driver<Zigbee2MqttDriverT>('zigbee2mqtt'), { changedOnly: true, maxDevices: 1 });
    const state = Buffer.from('{"temperature":21.5}');
    const count = (topic: string) => z2m.decode({ topic, payload: state, relativeLevels: topic.split('/').slice(1) }, ctx).drafts.length;
    expect([count('zigbee2mqtt/a'), count('zigbee2mqtt/a'), count('zigbee2mqtt/b'), count('zigbee2mqtt/a')]).toEqual([1, 0, 1, 1]);
  });
});
