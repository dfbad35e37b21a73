import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { readFileSync } from 'node:fs';
import type { GatewayConfig } from '../src/config/schema.js';
import type { ReadingEvent } from '../src/events/schema.js';
import type { InputConfigAny } from '../src/inputs/registry.js';
import { inputFingerprint, planInputReload, restartRequiredPaths } from '../src/service/reload.js';
import { Secret } from '../src/util/secret.js';
import { GatewayProcess, sensorSubscription, writeTestConfig, type LogLine } from './support/gateway-process.js';
import { readTopicWithKcat } from './support/kafka.js';
import { SensorPublisher } from './support/publisher.js';
import { uniqueName, waitFor } from './support/wait.js';

describe('reload plan (pure)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'etg-reload-plan-'));
  mkdirSync(join(dir, 'devices'));
  const context = { configDir: dir, driverSearchPaths: [join(dir, 'devices')] };
  const input = (name: string, extra: Record<string, unknown> = {}): InputConfigAny =>
    ({ type: 'mqtt', name, url: 'mqtt://127.0.0.1:1883', subscriptions: [{ driver: 'probe', topic: 'a/#' }], ...extra }) as unknown as InputConfigAny;

  it('keeps equal inputs, restarts changed ones, starts added ones and stops removed ones', () => {
    writeFileSync(join(dir, 'devices/probe.yaml'), 'kind: mqtt\nversion: 1\n');
    const running = new Map([
      ['same', inputFingerprint(input('same'), context)],
      ['edited', inputFingerprint(input('edited'), context)],
      ['gone', inputFingerprint(input('gone'), context)],
    ]);
    const plan = planInputReload(running, [input('same'), input('edited', { keepalive: 60 }), input('new')], context);
    expect(plan).toMatchObject({ unchanged: ['same'], changed: ['edited'], added: ['new'], removed: ['gone'] });
    expect(plan.next.map((n) => [n.name, n.action])).toEqual([
      ['same', 'keep'],
      ['edited', 'start'],
      ['new', 'start'],
    ]);
  });

  it('treats an edited driver file as a change of every input that uses it', () => {
    writeFileSync(join(dir, 'devices/probe.yaml'), 'kind: mqtt\nversion: 1\n');
    const before = new Map([['a', inputFingerprint(input('a'), context)]]);
    writeFileSync(join(dir, 'devices/probe.yaml'), 'kind: mqtt\nversion: 2\n');
    expect(planInputReload(before, [input('a')], context).changed).toEqual(['a']);
  });

  it('treats a rotated secret as a change, without the value in the fingerprint', () => {
    const env = { PW: 'first-secret' };
    const withSecret = (): InputConfigAny => input('a', { password: new Secret({ env: 'PW' }, env) });
    const before = inputFingerprint(withSecret(), context);
    expect(before).not.toContain('first-secret');
    env.PW = 'second-secret';
    expect(inputFingerprint(withSecret(), context)).not.toBe(before);
  });

  it('names the paths that need a restart, and only those', () => {
    const base = {
      gateway: { id: 'g1' },
      logging: { level: 'info' },
      buffer: { path: '/var/lib/x/buffer.db', synchronous: 'FULL' },
      kafka: { brokers: ['k1:9092'], topics: { prefix: 't.' } },
      shutdown: { drainTimeout: 10_000 },
      drivers: { paths: [] },
      inputs: [],
    } as unknown as GatewayConfig;
    const next = {
      ...base,
      gateway: { id: 'g2' },
      logging: { level: 'debug' },
      kafka: { brokers: ['k1:9092', 'k2:9092'], topics: { prefix: 't.' } },
      drivers: { paths: ['/etc/x/devices'] },
      inputs: [input('new')],
    } as unknown as GatewayConfig;
    expect(restartRequiredPaths(base, next)).toEqual(['gateway.id', 'kafka.brokers']);
    expect(restartRequiredPaths(base, base)).toEqual([]);
  });
});

describe('SIGHUP reload of a running gateway, end to end with real brokers', () => {
  const kafka = inject('kafkaBootstrap');
  const mqttUrl = inject('mqttUrl');
  const gatewayId = uniqueName('reload');
  const prefix = `${gatewayId}.`;
  const sensors = `${gatewayId}/sensors`;
  const lab = `${gatewayId}/lab`;
  const extra = `${gatewayId}/extra`;
  let configFile: string;
  let config: Record<string, unknown>;
  let gateway: GatewayProcess;
  let publisher: SensorPublisher;
  const published = new Set<number>();

  const publish = async (base: string, first: number, count: number): Promise<void> => {
    await publisher.publishMany(base, first, count, 5);
    for (let n = first; n < first + count; n++) published.add(n);
  };
  const writeConfig = (next: Record<string, unknown>): void => writeFileSync(configFile, stringify(next));
  const logsSince = (from: number, msg: string): LogLine[] => gateway.logs.slice(from).filter((l) => l.msg === msg);
  const waitForLogAfter = async (from: number, msg: string): Promise<LogLine> => {
    await gateway.waitForLog(msg);
    return waitFor(`log "${msg}" after line ${from}`, () => logsSince(from, msg)[0]);
  };

  /** Waits until every published message number is on the readings topic (read with kcat); returns the readings. */
  const delivered = async (): Promise<ReadingEvent[]> => {
    let missing: number[] = [];
    return waitFor(
      `all ${published.size} published messages on ${prefix}readings (missing: ${missing.length}, e.g. ${missing.slice(0, 5).join(', ')})`,
      async () => {
        const events = (await readTopicWithKcat(kafka, `${prefix}readings`)).map((r) => JSON.parse(r.value) as ReadingEvent);
        const values = new Set(events.filter((e) => e.metric === 'temperature').map((e) => e.value as number));
        missing = [...published].filter((n) => !values.has(n));
        if (missing.length > 0) throw new Error(`${missing.length} missing, e.g. ${missing.slice(0, 5).join(', ')}; ${events.length} readings on the topic`);
        return events;
      },
      { timeoutMs: 90_000, intervalMs: 1000 },
    );
  };
  const temperatureValues = (events: ReadingEvent[]): Set<unknown> =>
    new Set(events.filter((e) => e.metric === 'temperature').map((e) => e.value));

  beforeAll(async () => {
    ({ file: configFile } = writeTestConfig({ gatewayId, brokers: [kafka], mqttUrl, topicPrefix: prefix }));
    config = parse(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
    gateway = new GatewayProcess(configFile);
    await gateway.started();
    await gateway.waitForLog('mqtt subscribed');
    publisher = await SensorPublisher.connect(mqttUrl, `${gatewayId}-pub`);
  });

  afterAll(async () => {
    await publisher?.close();
    await gateway?.kill();
    // The gateway's log, for a look after a failure.
    mkdirSync('test-artifacts', { recursive: true });
    writeFileSync(join('test-artifacts', `${gatewayId}.log`), gateway?.logs.map((l) => JSON.stringify(l)).join('\n') ?? '');
  });

  it('adds a device and changes another while events are flowing; every event arrives', { timeout: 240_000 }, async () => {
    await publish(sensors, 0, 1000);
    // Events keep arriving while the reload stops and restarts the changed input: they are buffered, in flight
    // to Kafka, or queued by the broker in the input's persistent session.
    const during = publish(sensors, 1000, 3000);
    const inputs = config.inputs as Record<string, unknown>[];
    const site = inputs[0] ?? {};
    const next = {
      ...config,
      inputs: [
        { ...site, subscriptions: [sensorSubscription(sensors), sensorSubscription(lab)] },
        { ...site, name: 'extra', clientId: `${gatewayId}-extra`, subscriptions: [sensorSubscription(extra)] },
      ],
    };
    writeConfig(next);
    const mark = gateway.logs.length;
    gateway.child.kill('SIGHUP');
    const reloaded = await waitForLogAfter(mark, 'configuration reloaded');
    expect(reloaded).toMatchObject({ added: ['extra'], changed: ['site'], removed: [], unchanged: [], restartRequired: [], failed: [] });
    await during;
    // The broker keeps messages only for subscriptions that exist: publish once the new ones are in place.
    await waitFor('the new subscriptions', () => {
      const subscribed = gateway.logs.slice(mark).filter((l) => l.msg === 'mqtt subscribed');
      return subscribed.some((l) => l.input === 'extra') && subscribed.some((l) => l.input === 'site' && JSON.stringify(l.topics).includes('/lab/'));
    });
    await publish(lab, 100_000, 500);
    await publish(extra, 200_000, 500);
    config = next;

    const events = await delivered();
    const temperatures = events.filter((e) => e.metric === 'temperature');
    expect(temperatureValues(events)).toEqual(published);
    // Every message once as temperature and once as humidity: nothing lost, and not a single duplicate.
    expect(events).toHaveLength(published.size * 2);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    const extraDevices = new Set(temperatures.filter((e) => (e.value as number) >= 200_000).map((e) => e.deviceId));
    expect(extraDevices).toEqual(new Set(['dev-0', 'dev-1', 'dev-2', 'dev-3', 'dev-4']));
  });

  it('rejects a broken config with every error logged, and keeps running the previous one', { timeout: 240_000 }, async () => {
    writeConfig({ ...config, kafka: { ...(config.kafka as object), brokers: ['no-port-here'] }, inputz: [] });
    const mark = gateway.logs.length;
    gateway.child.kill('SIGHUP');
    const rejected = await waitForLogAfter(mark, 'config reload rejected; the previous configuration keeps running');
    expect(rejected.code).toBe('GW_CONFIG_INVALID');
    const details = gateway.logs.slice(mark).filter((l) => String(l.msg).startsWith('reload rejected: '));
    expect(details).toHaveLength(2);
    expect(details.every((l) => l.code === 'GW_CONFIG_INVALID')).toBe(true);
    expect(details.map((l) => String(l.detail)).join('\n')).toMatch(/kafka\.brokers\[0\]: expected host:port[\s\S]*inputz/);
    expect(logsSince(mark, 'configuration reloaded')).toEqual([]);

    // Both inputs of the previous config still deliver.
    await publish(sensors, 300_000, 200);
    await publish(extra, 400_000, 200);
    expect(temperatureValues(await delivered())).toEqual(published);
  });

  it('reports changes that need a restart and applies the rest', { timeout: 240_000 }, async () => {
    const inputs = config.inputs as Record<string, unknown>[];
    writeConfig({ ...config, kafka: { ...(config.kafka as object), topics: { prefix: `${prefix}moved.` } }, inputs: inputs.slice(0, 1) });
    const mark = gateway.logs.length;
    gateway.child.kill('SIGHUP');
    const reloaded = await waitForLogAfter(mark, 'configuration reloaded');
    expect(reloaded).toMatchObject({ removed: ['extra'], unchanged: ['site'], restartRequired: ['kafka.topics.prefix'] });
    const warning = gateway.logs.slice(mark).find((l) => l.code === 'GW_RELOAD_NEEDS_RESTART');
    expect(warning?.paths).toEqual(['kafka.topics.prefix']);
    // Still the old topics.
    await publish(sensors, 500_000, 100);
    expect(temperatureValues(await delivered())).toEqual(published);
    expect(await gateway.stop()).toBe(0);
  });
});
