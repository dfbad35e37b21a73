import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, validateConfig } from '../src/config/load.js';
import { configJsonSchema } from '../src/config/schema.js';
import { GatewayError } from '../src/errors.js';
import { eventsJsonSchema } from '../src/events/schema.js';

const root = resolve(import.meta.dirname, '..');

function problems(raw: unknown): string[] {
  try {
    validateConfig(raw, 'test.yaml');
  } catch (err) {
    if (err instanceof GatewayError) return [err.code, ...err.details];
    throw err;
  }
  return [];
}

describe('configuration', () => {
  it('fills defaults', () => {
    const config = validateConfig({ gateway: { id: 'gw' }, kafka: { brokers: ['k:9092'] } }, 'x');
    expect(config.buffer).toMatchObject({ synchronous: 'FULL', retention: 86_400_000, commitLinger: 2 });
    expect(config.kafka.topics).toEqual({
      prefix: 'telemetry.',
      readings: 'readings',
      alarms: 'alarms',
      deviceStatus: 'device-status',
      gatewayHealth: 'gateway-health',
      deadLetter: 'deadletter',
    });
    expect(config.shutdown.drainTimeout).toBe(10_000);
  });

  it('lists every problem at once, each with its path and what is expected', () => {
    expect(
      problems({
        gateway: { id: 'has space' },
        buffer: { synchronous: 'OFF', retention: 'forever', extra: 1 },
        kafka: { brokers: [] },
        inputs: [{ type: 'mqtt', name: 'a', url: 'mqtt://x', subscriptions: [{ topic: 't', metrics: [{ metric: 'm', type: 'float' }] }] }],
      }),
    ).toEqual([
      'GW_CONFIG_INVALID',
      'gateway.id: expected letters, digits, and . _ : - (at most 128 characters, starting with a letter or digit)',
      'buffer.synchronous: Invalid option: expected one of "FULL"|"NORMAL"',
      'buffer.retention: expected a duration like 500ms, 5s, 2m, 24h',
      'buffer: unknown key "extra" (check the spelling against config/gateway.example.yaml)',
      'kafka.brokers: Too small: expected array to have >=1 items',
      'inputs[0].subscriptions[0].metrics[0].type: Invalid option: expected one of "number"|"boolean"|"string"',
    ]);
  });

  it('kafka.client defaults to librdkafka; codecs kafkajs lacks and servername under librdkafka are refused with their path', () => {
    const config = validateConfig({ gateway: { id: 'gw' }, kafka: { brokers: ['k:9092'] } }, 'x');
    expect(config.kafka).toMatchObject({ client: 'librdkafka', compression: 'none', cloudEvents: 'binary' });
    expect(problems({ gateway: { id: 'gw' }, kafka: { brokers: ['k:9092'], client: 'kafkajs', compression: 'zstd' } })).toEqual([
      'GW_CONFIG_INVALID',
      'kafka.compression: zstd needs kafka.client: librdkafka (kafkajs supports none and gzip)',
    ]);
    expect(problems({ gateway: { id: 'gw' }, kafka: { brokers: ['k:9092'], client: 'librdkafka', compression: 'zstd', cloudEvents: 'structured' } })).toEqual([]);
    const servername = problems({ gateway: { id: 'gw' }, kafka: { brokers: ['k:9092'], tls: { servername: 'kafka.example' } } });
    expect(servername[1]).toMatch(/^kafka\.tls\.servername: librdkafka checks the certificate against the broker host/);
  });

  it('check-config prints the Kafka client in use and the librdkafka version it loaded', async () => {
    const { describePlan } = await import('../src/config/plan.js');
    const { librdkafkaVersion } = await import('../src/forwarder/librdkafka-transport.js');
    const version = librdkafkaVersion();
    expect(version, 'the native client must load in the test environment (scripts/setup-librdkafka.mjs)').toMatch(/^\d+\.\d+\.\d+/);
    const context = { configDir: root, driverSearchPaths: [] };
    const native = describePlan(validateConfig({ gateway: { id: 'gw' }, kafka: { brokers: ['k:9092'] } }, 'x'), context);
    expect(native).toContain(`client librdkafka ${version}, CloudEvents binary mode`);
    const js = describePlan(validateConfig({ gateway: { id: 'gw' }, kafka: { brokers: ['k:9092'], client: 'kafkajs', cloudEvents: 'structured' } }, 'x'), context);
    expect(js).toContain('client kafkajs, CloudEvents structured mode');
  });

  it('checks device id templates, field paths and duplicate names', () => {
    const input = (name: string, deviceId: string, field: string) => ({
      type: 'mqtt',
      name,
      url: 'mqtt://x',
      subscriptions: [{ topic: 'a/+', deviceId, metrics: [{ field, metric: 'm' }] }],
    });
    expect(problems({ gateway: { id: 'g' }, kafka: { brokers: ['k:1'] }, inputs: [input('a', '{3}', 'x..y'), input('a', '{name}', 'ok')] })).toEqual([
      'GW_CONFIG_INVALID',
      'inputs[0].subscriptions[0].deviceId: placeholder {3} is past the last level of topic "a/+" (levels 0..1)',
      'inputs[0].subscriptions[0].metrics[0].field: malformed field path "x..y" (use a.b, a[0] or a["key"])',
      'inputs[1].subscriptions[0].deviceId: unknown placeholder {name}: use {topic} or a topic level index like {1}',
      'inputs[1].name: duplicate input name "a" (also inputs[0])',
    ]);
  });

  it('names a missing secret and its origin, never a value', () => {
    const raw = {
      gateway: { id: 'g' },
      kafka: { brokers: ['k:1'] },
      inputs: [{ type: 'mqtt', name: 'a', url: 'mqtt://x', username: 'u', password: { env: 'ETG_TEST_UNSET_SECRET' }, subscriptions: [{ topic: 'a', metrics: [{ field: 'v', metric: 'm' }] }] }],
    };
    expect(problems(raw)).toEqual([
      'GW_SECRET_MISSING',
      'inputs[0].password: environment variable ETG_TEST_UNSET_SECRET is not set (secret env:ETG_TEST_UNSET_SECRET)',
    ]);
    process.env.ETG_TEST_UNSET_SECRET = 'hunter2-value';
    try {
      const config = validateConfig(raw, 'x');
      const text = JSON.stringify(config);
      expect(text).not.toContain('hunter2-value');
      expect(text).toContain('[redacted env:ETG_TEST_UNSET_SECRET]');
      const input = config.inputs[0];
      expect(input?.type === 'mqtt' ? input.password?.reveal() : undefined).toBe('hunter2-value');
    } finally {
      delete process.env.ETG_TEST_UNSET_SECRET;
    }
  });

  it('reports YAML syntax errors and missing files with their code', () => {
    const dir = mkdtempSync(join(tmpdir(), 'etg-cfg-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'gateway: { id: x\nkafka: [\n');
    expect(() => loadConfig(file)).toThrow(expect.objectContaining({ code: 'GW_CONFIG_PARSE' }));
    expect(() => loadConfig(join(dir, 'none.yaml'))).toThrow(expect.objectContaining({ code: 'GW_CONFIG_NOT_FOUND' }));
  });

  it('accepts the shipped example and demo configs', () => {
    process.env.MQTT_PASSWORD = 'example';
    try {
      for (const file of ['config/gateway.example.yaml', 'config/demo.yaml']) {
        expect(() => loadConfig(join(root, file)), file).not.toThrow();
      }
    } finally {
      delete process.env.MQTT_PASSWORD;
    }
  });

  it('keeps config/gateway.schema.json and schemas/events.schema.json in sync with the code (npm run schemas)', () => {
    const onDisk = (file: string) => JSON.parse(readFileSync(join(root, file), 'utf8')) as unknown;
    expect(onDisk('config/gateway.schema.json')).toEqual(configJsonSchema());
    expect(onDisk('schemas/events.schema.json')).toEqual(eventsJsonSchema());
  });
});
