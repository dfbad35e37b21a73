import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadConfig, validateConfig } from '../src/config/load.js';
import { configJsonSchema } from '../src/config/schema.js';
import { SHIPPED_DRIVERS_DIR } from '../src/drivers/driver-files.js';
import { GatewayError } from '../src/errors.js';
import { eventsJsonSchema } from '../src/events/schema.js';

const root = resolve(import.meta.dirname, '..');
const run = promisify(execFile);

/** The report check-config prints for a gateway.yaml with this text in `dir`, the folder shown as <dir>. */
function reportOf(dir: string, text: string): string {
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, text);
  try {
    loadConfig(file);
  } catch (err) {
    if (err instanceof GatewayError) return err.format().replaceAll(dir, '<dir>');
    throw err;
  }
  return 'valid';
}

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
    expect(config.buffer).toMatchObject({ synchronous: 'FULL', retention: 86_400_000, commitLinger: 20 });
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
      'gateway.id: expected letters, digits, and . _ : - (at most 128 characters, starting with a letter or digit), got "has space"',
      'buffer.synchronous: expected FULL or NORMAL, got "OFF"',
      'buffer.retention: expected a duration like 500ms, 5s, 2m, 24h, got "forever"',
      'buffer.extra: unknown key; allowed here: path, synchronous, commitLinger, maxEventsPerCommit, retention, retentionMaxBytes, maxEvents, maxBytes, integrityCheck, integrityCheckWhen, whenFull',
      'kafka.brokers: needs at least one entry (the list is empty)',
      'inputs[0].subscriptions[0].metrics[0].type: expected number, boolean or string, got "float"',
    ]);
  });

  it('lists the allowed values of every enum: enums, unions of literals, discriminators, with "did you mean"', () => {
    const serial = { type: 'serial', name: 's', port: '/dev/ttyUSB0', driver: 'nmea-gps', deviceId: 'gps', parity: 'evn', dataBits: 9, stopBits: 3 };
    expect(
      problems({
        gateway: { id: 'g' },
        buffer: { whenFull: 'drop-olde' },
        kafka: { brokers: ['k:1'] },
        inputs: [
          { type: 'mqt', name: 'x' },
          { type: 'mqtt', name: 'q', url: 'mqtt://x', subscriptions: [{ topic: 't', qos: 7, metrics: [{ field: 'a', metric: 'b' }] }] },
          { type: 'modbus', name: 'm', transport: { host: 'h' }, devices: [{ id: 'd', driver: 'xy-md02' }] },
          { type: 'modbus', name: 'm2', transport: { kind: 'tpc', host: 'h' }, devices: [{ id: 'd', driver: 'xy-md02' }] },
          serial,
        ],
      }),
    ).toEqual([
      'GW_CONFIG_INVALID',
      'buffer.whenFull: expected drop-oldest or block, got "drop-olde" (did you mean drop-oldest?)',
      'inputs[0].type: expected mqtt, modbus, serial or hl7, got "mqt" (did you mean mqtt?)',
      'inputs[1].subscriptions[0].qos: expected 0 or 1, got 7',
      'inputs[2].transport.kind: missing (required): expected tcp, rtu or rtu-over-tcp',
      'inputs[3].transport.kind: expected tcp, rtu or rtu-over-tcp, got "tpc" (did you mean tcp?)',
      'inputs[4].dataBits: expected 5, 6, 7 or 8, got 9',
      'inputs[4].parity: expected none, even, odd, mark or space, got "evn" (did you mean even?)',
      'inputs[4].stopBits: expected 1, 1.5 or 2, got 3',
    ]);
  });

  it('says what is missing, what type was expected and what was found, and never repeats a secret written inline', () => {
    const found = problems({
      gateway: { extra: 1 },
      logging: null,
      kafka: { brokers: ['k:1'], topics: { prefix: 1, readings: '' }, batch: { linger: true } },
      http: { port: '9464' },
      health: { interval: -1 },
      inputs: [{ type: 'mqtt', name: 'q', url: 'mqtt://x', username: 'u', password: 'hunter2', subscriptions: [{ topic: 't', metrics: [{ field: 'a', metric: 'b' }] }] }],
    });
    expect(found).toEqual([
      'GW_CONFIG_INVALID',
      'gateway.id: missing (required)',
      'gateway.extra: unknown key; allowed here: id',
      'logging: has no value; expected a mapping (key: value)',
      'kafka.topics.prefix: expected a string, got 1',
      'kafka.topics.readings: must not be empty',
      'kafka.batch.linger: expected a number or a string, got true',
      'inputs[0].password: expected {env: …}, {file: …} or {credential: …}, got a string',
      'http.port: expected a number, got the string "9464" (a number in quotes: remove the quotes)',
      'health.interval: must be at least 0, got -1',
    ]);
    expect(found.join('\n')).not.toContain('hunter2');
    expect(problems({ gateway: { id: 'g' } })).toEqual(['GW_CONFIG_INVALID', 'kafka: missing (required; it needs brokers)']);
    expect(problems({ gateway: { id: 'g' }, kafka: { brokers: ['k:1'], sasl: { mechanism: 'plain', username: 'u', password: { env: 'A', file: 'b' } } } })).toEqual([
      'GW_CONFIG_INVALID',
      'kafka.sasl.password: expected {env: …}, {file: …} or {credential: …} (only one of them), got {env, file}',
    ]);
  });

  it('echoes the value a duration, URL, name or broker address does not fit, never the user:password of a URL', () => {
    const mqtt = (name: string, url: string) => ({ type: 'mqtt', name, url, subscriptions: [{ topic: 't', metrics: [{ field: 'a', metric: 'b' }] }] });
    const found = problems({
      gateway: { id: 'gw one' },
      buffer: { retention: '24 hours' },
      kafka: { brokers: ['kafka'] },
      inputs: [mqtt('a', '127.0.0.1:1883'), mqtt('b', 'user:hunter2@broker:1883'), mqtt('c', 'mqtt//user:hunter2@broker')],
    });
    expect(found).toEqual([
      'GW_CONFIG_INVALID',
      'gateway.id: expected letters, digits, and . _ : - (at most 128 characters, starting with a letter or digit), got "gw one"',
      'buffer.retention: expected a duration like 500ms, 5s, 2m, 24h, got "24 hours"',
      'kafka.brokers[0]: expected host:port, got "kafka"',
      'inputs[0].url: expected a URL like mqtt://host:1883 or mqtts://host:8883, got "127.0.0.1:1883"',
      'inputs[1].url: expected a URL like mqtt://host:1883 or mqtts://host:8883, got "[redacted]@broker:1883"',
      'inputs[2].url: expected a URL like mqtt://host:1883 or mqtts://host:8883, got "[redacted]@broker"',
    ]);
    expect(found.join('\n')).not.toContain('hunter2');
    expect(problems({ gateway: { id: 'g' }, kafka: { brokers: ['k:1'] }, buffer: { retention: `${'9'.repeat(70)} hours` } })[1]).toBe(
      `buffer.retention: expected a duration like 500ms, 5s, 2m, 24h, got "${'9'.repeat(59)}…"`,
    );
  });

  it('names record keys that are not valid names, quoting keys that would not read as a path', () => {
    const device = { id: 'd', driver: 'xy-md02', pollGroups: { 'a b': '1s' }, overrides: { temperature: { byteOrder: 'ABDC' } } };
    expect(problems({ gateway: { id: 'g' }, kafka: { brokers: ['k:1'] }, inputs: [{ type: 'modbus', name: 'm', transport: { kind: 'tcp', host: 'h' }, devices: [device] }] })).toEqual([
      'GW_CONFIG_INVALID',
      'inputs[0].devices[0].pollGroups["a b"]: invalid key: expected letters, digits, and . _ : - (at most 128 characters, starting with a letter or digit), got "a b"',
      'inputs[0].devices[0].overrides.temperature.byteOrder: expected ABCD, CDAB, BADC or DCBA, got "ABDC"',
    ]);
  });

  it('reports each unknown key on its own, with "did you mean" or the keys allowed there', () => {
    expect(problems({ gateway: { id: 'g' }, buffer: { pth: 'x.db' }, kafka: { brokers: ['k:1'], brokrs: [] }, inputz: [] })).toEqual([
      'GW_CONFIG_INVALID',
      'buffer.pth: unknown key (did you mean path?)',
      'kafka.brokrs: unknown key (did you mean brokers?)',
      'inputz: unknown key (did you mean inputs?)',
    ]);
  });

  it('counts a misspelled required key once, at the misspelled key, saying that the key it meant is missing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'etg-cfg-'));
    const report = reportOf(
      dir,
      [
        'gateway: { id: g }',
        'kafak:',
        '  brokers: [k:1]',
        'inputs:',
        '  - type: mqtt',
        '    name: home',
        '    url: mqtt://127.0.0.1:1883',
        '    subscribtions:',
        '      - { topic: t, metrics: [{ field: a, metric: b }] }',
      ].join('\n'),
    );
    expect(report).toBe(
      [
        'GW_CONFIG_INVALID: <dir>/gateway.yaml is invalid (2 problems)',
        '  - <dir>/gateway.yaml:2:1: kafak: unknown key (did you mean kafka? it is required and missing)',
        '  - <dir>/gateway.yaml:8:5: inputs[0].subscribtions: unknown key (did you mean subscriptions? it is required and missing)',
      ].join('\n'),
    );
    // A suggestion that is there already, or optional, is only a suggestion; a missing key nobody misspelled stays.
    const sub = { topic: 't', metrics: [{ field: 'a', metric: 'b' }] };
    expect(
      problems({ gateway: { id: 'g' }, kafka: { brokers: ['k:1'] }, inputs: [{ type: 'mqtt', name: 'a', url: 'mqtt://x', subscriptions: [sub], subscribtions: [sub], clientid: 'c' }] }),
    ).toEqual(['GW_CONFIG_INVALID', 'inputs[0].subscribtions: unknown key (did you mean subscriptions?)', 'inputs[0].clientid: unknown key (did you mean clientId?)']);
    expect(problems({ gatway: { id: 'g' }, kafka: { brokers: ['k:1'] }, inputs: [{ type: 'mqtt', name: 'a', url: 'mqtt://x', subscribtions: [sub] }] })).toEqual([
      'GW_CONFIG_INVALID',
      'inputs[0].subscribtions: unknown key (did you mean subscriptions? it is required and missing)',
      'gatway: unknown key (did you mean gateway? it is required and missing)',
    ]);
    expect(problems({ kafka: { brokers: ['k:1'] }, inputs: [{ type: 'mqtt', name: 'a', url: 'mqtt://x', topics: [sub] }] })).toEqual([
      'GW_CONFIG_INVALID',
      'gateway: missing (required; it needs id)',
      'inputs[0].subscriptions: missing (required)',
      expect.stringMatching(/^inputs\[0\]\.topics: unknown key; allowed here: type, name, url, .*subscriptions/),
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
    const { loadLibrdkafka } = await import('../src/forwarder/librdkafka-transport.js');
    const version = loadLibrdkafka().librdkafkaVersion;
    expect(version, 'the native client must load in the test environment (scripts/setup-librdkafka.mjs)').toMatch(/^\d+\.\d+\.\d+/);
    const dir = mkdtempSync(join(tmpdir(), 'etg-cfg-'));
    const plan = async (kafka: string): Promise<string> => {
      const file = join(dir, 'gateway.yaml');
      writeFileSync(file, `gateway: { id: gw }\nkafka: ${kafka}\n`);
      return (await run(process.execPath, [join(root, 'dist/cli.js'), 'check-config', '--config', file])).stdout;
    };
    expect(await plan('{ brokers: [k:9092] }')).toContain(`client librdkafka ${version}, CloudEvents binary mode`);
    expect(await plan('{ brokers: [k:9092], client: kafkajs, cloudEvents: structured }')).toContain('client kafkajs, CloudEvents structured mode');
  });

  it('without the native module, check-config and run stop with GW_KAFKA_CLIENT and the fix; a kafkajs config needs no native module', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'etg-cfg-'));
    // The module resolution fails exactly as Node's does when the optional dependency was never built or installed.
    const preload = join(dir, 'no-librdkafka.cjs');
    writeFileSync(
      preload,
      `const Module = require('node:module');
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === '@confluentinc/kafka-javascript' || request.startsWith('@confluentinc/kafka-javascript/')) {
    const err = new Error("Cannot find module '" + request + "'");
    err.code = 'MODULE_NOT_FOUND';
    throw err;
  }
  return resolveFilename.call(this, request, ...rest);
};
`,
    );
    const withoutNative = (command: string, kafka: string) => {
      const file = join(dir, `${command}.yaml`);
      writeFileSync(file, `gateway: { id: gw }\nkafka: ${kafka}\nbuffer: { path: ${join(dir, `${command}.db`)} }\nhttp: { enabled: false }\n`);
      return run(process.execPath, ['--require', preload, join(root, 'dist/cli.js'), command, '--config', file], { timeout: 60_000 }).then(
        (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
        (err: { code: number; stdout: string; stderr: string }) => err,
      );
    };
    for (const command of ['check-config', 'run']) {
      const failed = await withoutNative(command, '{ brokers: [127.0.0.1:1] }');
      expect(failed.code, command).toBe(1);
      expect(failed.stderr, command).toContain('GW_KAFKA_CLIENT: kafka.client is librdkafka but @confluentinc/kafka-javascript is not installed');
      expect(failed.stderr, command).toContain('npm run setup:librdkafka');
      expect(failed.stderr, command).toContain('kafka.client: kafkajs');
    }
    const kafkajs = await withoutNative('check-config', '{ brokers: [127.0.0.1:1], client: kafkajs }');
    expect(kafkajs.code, kafkajs.stderr).toBe(0);
    expect(kafkajs.stdout).toContain('client kafkajs');
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
    // The headline is GW_CONFIG_INVALID whatever the problems are; the line names the secret's own code.
    expect(problems(raw)).toEqual([
      'GW_CONFIG_INVALID',
      'inputs[0].password: GW_SECRET_MISSING: environment variable ETG_TEST_UNSET_SECRET is not set (secret env:ETG_TEST_UNSET_SECRET)',
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

  it('reports schema problems, driver lookups and secrets in one pass, each counted once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'etg-cfg-'));
    const report = reportOf(
      dir,
      [
        'gateway: { id: g }',
        'kafka:',
        '  brokers: [127.0.0.1:9092]',
        '  sasl: { mechanism: plain, username: u, password: { env: ETG_TEST_UNSET_KAFKA } }',
        'inputs:',
        '  - type: mqtt',
        '    name: home',
        '    url: mqtt://127.0.0.1:1883',
        '    subscriptions:',
        '      - driver: zigbee2mqt',
        '        qos: 7',
      ].join('\n'),
    );
    expect(report).toBe(
      [
        'GW_CONFIG_INVALID: <dir>/gateway.yaml is invalid (3 problems)',
        '  - <dir>/gateway.yaml:4:52: kafka.sasl.password: GW_SECRET_MISSING: environment variable ETG_TEST_UNSET_KAFKA is not set (secret env:ETG_TEST_UNSET_KAFKA)',
        `  - <dir>/gateway.yaml:10:17: inputs[0].subscriptions[0].driver: GW_DRIVER_NOT_FOUND: driver "zigbee2mqt" not found (did you mean zigbee2mqtt?); looked in <dir>/devices, ${SHIPPED_DRIVERS_DIR} (name a file there without .yaml, or give a path)`,
        '  - <dir>/gateway.yaml:11:14: inputs[0].subscriptions[0].qos: expected 0 or 1, got 7',
      ].join('\n'),
    );
  });

  it('heads a report with GW_CONFIG_INVALID whatever the problems are: a driver typo alone names GW_DRIVER_NOT_FOUND on its line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'etg-cfg-'));
    const input = ['inputs:', '  - type: mqtt', '    name: home', '    url: mqtt://127.0.0.1:1883', '    subscriptions:', '      - driver: zigbee2mqt'];
    const driverLine = `  - <dir>/gateway.yaml:8:17: inputs[0].subscriptions[0].driver: GW_DRIVER_NOT_FOUND: driver "zigbee2mqt" not found (did you mean zigbee2mqtt?); looked in <dir>/devices, ${SHIPPED_DRIVERS_DIR} (name a file there without .yaml, or give a path)`;
    expect(reportOf(dir, ['gateway: { id: g }', 'kafka: { brokers: [k:1] }', ...input].join('\n'))).toBe(
      ['GW_CONFIG_INVALID: <dir>/gateway.yaml is invalid (1 problem)', driverLine].join('\n'),
    );
    expect(reportOf(dir, ['gateway: { id: g }', 'kafka: { brokers: [k:1], client: kafak }', ...input].join('\n'))).toBe(
      [
        'GW_CONFIG_INVALID: <dir>/gateway.yaml is invalid (2 problems)',
        '  - <dir>/gateway.yaml:2:34: kafka.client: expected librdkafka or kafkajs, got "kafak"',
        driverLine,
      ].join('\n'),
    );
  });

  it('lists the drivers of the family when a name is not close to any, and resolves path references', () => {
    const input = (driver: string) => ({ type: 'serial', name: 's', port: '/dev/ttyUSB0', driver, deviceId: 'd' });
    const [code, unknown, byPath] = problems({ gateway: { id: 'g' }, kafka: { brokers: ['k:1'] }, inputs: [input('oximeter'), { ...input('./nope.yaml'), name: 't' }] });
    // Two problems of one kind: still GW_CONFIG_INVALID, each line naming GW_DRIVER_NOT_FOUND.
    expect(code).toBe('GW_CONFIG_INVALID');
    expect(unknown).toMatch(/^inputs\[0\]\.driver: GW_DRIVER_NOT_FOUND: driver "oximeter" not found; available serial drivers: nmea-gps, pulse-oximeter-ascii, pulse-oximeter-df2; looked in /);
    expect(byPath).toBe(`inputs[1].driver: GW_DRIVER_NOT_FOUND: driver file ./nope.yaml not found (${resolve('nope.yaml')} does not exist)`);
  });

  it('reports a broken driver file once, at its own line, naming every device that uses it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'etg-cfg-'));
    mkdirSync(join(dir, 'devices'));
    writeFileSync(join(dir, 'devices', 'meter.yaml'), ['kind: modbus', 'model: m', 'registers:', '  - { metric: v, table: input, address: 0, type: float31 }'].join('\n'));
    const devices = ['  - type: modbus', '    name: bus', '    transport: { kind: tcp, host: h }', '    devices:', '      - { id: a, driver: meter, unitId: 1 }', '      - { id: b, driver: meter, unitId: 2 }'];
    const report = reportOf(dir, ['gateway: { id: g }', 'kafka: { brokers: [k:1] }', 'inputs:', ...devices].join('\n'));
    expect(report.split('\n')).toEqual([
      'GW_CONFIG_INVALID: <dir>/gateway.yaml is invalid (1 problem)',
      expect.stringMatching(
        /^ {2}- <dir>\/devices\/meter\.yaml:4:50: registers\[0\]\.type: GW_DRIVER_INVALID: expected bool, .* got "float31" \(did you mean float32\?\) \(driver file of inputs\[0\]\.devices\[0\]\.driver, inputs\[0\]\.devices\[1\]\.driver\)$/,
      ),
    ]);
  });

  it('says which references could not be checked yet because their part of the config is broken (not counted)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'etg-cfg-'));
    const report = reportOf(
      dir,
      ['gateway: { id: g }', 'kafka: { brokers: [k:1] }', 'inputs:', '  - type: mqtt', '    name: home', '    url: htp://x', '    subscriptions:', '      - driver: zigbee2mqtt'].join('\n'),
    );
    expect(report).toBe(
      [
        'GW_CONFIG_INVALID: <dir>/gateway.yaml is invalid (1 problem)',
        '  - <dir>/gateway.yaml:6:10: inputs[0].url: expected a URL like mqtt://host:1883 or mqtts://host:8883, got "htp://x"',
        '  not checked yet (fix the problems above first): inputs[0].subscriptions[0].driver',
      ].join('\n'),
    );
  });

  it('says that an empty file is empty, and what a file that is no mapping holds', () => {
    const dir = mkdtempSync(join(tmpdir(), 'etg-cfg-'));
    const empty = 'the file is empty (no settings, only comments or blank lines): a config needs at least gateway.id and kafka.brokers; start from config/gateway.example.yaml';
    expect(reportOf(dir, '')).toBe(`GW_CONFIG_INVALID: <dir>/gateway.yaml is invalid (1 problem)\n  - <dir>/gateway.yaml: ${empty}`);
    expect(reportOf(dir, '# all commented out\n#gateway:\n\n')).toBe(`GW_CONFIG_INVALID: <dir>/gateway.yaml is invalid (1 problem)\n  - <dir>/gateway.yaml: ${empty}`);
    expect(reportOf(dir, 'gateway\n')).toContain('<dir>/gateway.yaml:1:1: the top level must be a mapping of sections (gateway:, kafka:, inputs:, …), but the file holds a single value (string)');
    expect(reportOf(dir, '- gateway\n- kafka\n')).toBe(
      [
        'GW_CONFIG_INVALID: <dir>/gateway.yaml is invalid (1 problem)',
        '  - <dir>/gateway.yaml:1:1: the top level must be a mapping of sections (gateway:, kafka:, inputs:, …), but the file holds a list',
        '    1 | - gateway',
        '      | ^',
      ].join('\n'),
    );
  });

  it('shows each YAML syntax error at file:line:column with the offending line and a caret', () => {
    const dir = mkdtempSync(join(tmpdir(), 'etg-cfg-'));
    expect(reportOf(dir, 'gateway: { id: g }\nkafka: brokers: [k:1]\n')).toBe(
      [
        'GW_CONFIG_PARSE: <dir>/gateway.yaml is not valid YAML (1 problem)',
        '  - <dir>/gateway.yaml:2:8: Nested mappings are not allowed in compact mappings',
        '    2 | kafka: brokers: [k:1]',
        '      |        ^',
      ].join('\n'),
    );
    expect(reportOf(dir, 'gateway:\n  id: a\n  id: b\n')).toBe(
      ['GW_CONFIG_PARSE: <dir>/gateway.yaml is not valid YAML (1 problem)', '  - <dir>/gateway.yaml:3:3: Map keys must be unique', '    3 |   id: b', '      |   ^'].join('\n'),
    );
    expect(() => loadConfig(join(dir, 'none.yaml'))).toThrow(expect.objectContaining({ code: 'GW_CONFIG_NOT_FOUND' }));
  });

  it('check-config prints the report and exits 1; the same loader serves run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'etg-cfg-'));
    const file = join(dir, 'gateway.yaml');
    writeFileSync(file, 'gateway: { id: g }\nkafka: { brokers: [k:1] }\nbuffer: { synchronous: OFF }\n');
    for (const command of ['check-config', 'run']) {
      const failed = await run(process.execPath, [join(root, 'dist/cli.js'), command, '--config', file]).then(
        () => undefined,
        (err: { code: number; stderr: string }) => err,
      );
      expect(failed?.code, command).toBe(1);
      expect(failed?.stderr.replaceAll(dir, '<dir>'), command).toBe(
        'GW_CONFIG_INVALID: <dir>/gateway.yaml is invalid (1 problem)\n  - <dir>/gateway.yaml:3:24: buffer.synchronous: expected FULL or NORMAL, got "OFF"\n',
      );
    }
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

  it('accepts the example with its commented-out inputs (Modbus, serial, HL7) uncommented', () => {
    const lines = readFileSync(join(root, 'config/gateway.example.yaml'), 'utf8').split('\n');
    // A commented-out input runs from `  # - type: …` to the next blank line; one level of `# ` is removed, so the
    // alternatives inside it (`#   # transport: …`) stay comments.
    let inBlock = false;
    const types: string[] = [];
    const uncommented = lines.map((line) => {
      const start = /^ {2}# - type: (\S+)/.exec(line);
      if (start) {
        inBlock = true;
        types.push(start[1] ?? '');
      } else if (line.trim() === '') inBlock = false;
      return inBlock ? line.replace(/^ {2}# ?/, '  ') : line;
    });
    expect(types).toEqual(['modbus', 'serial', 'hl7']);
    const dir = mkdtempSync(join(tmpdir(), 'etg-example-'));
    writeFileSync(join(dir, 'gateway.yaml'), uncommented.join('\n'));
    process.env.MQTT_PASSWORD = 'example';
    try {
      const config = loadConfig(join(dir, 'gateway.yaml'));
      expect(config.config.inputs.map((i) => i.type)).toEqual(['mqtt', 'modbus', 'serial', 'hl7']);
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
