import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { readFileSync } from 'node:fs';
import type { GatewayConfig } from '../src/config/schema.js';
import type { ReadingEvent } from '../src/events/schema.js';
import type { InputConfigAny } from '../src/inputs/registry.js';
import { inputFingerprint, planInputReload, restartRequiredPaths } from '../src/service/reload.js';
import { Secret } from '../src/util/secret.js';
import { sensorSubscription, type LogLine } from './support/gateway-process.js';
import { readTopicWithKcat } from './support/kafka.js';
import { MqttGateway } from './support/mqtt-gateway.js';
import { waitFor } from './support/wait.js';

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
  let gw: MqttGateway;
  let base: Record<string, unknown>;
  let sensors: string;
  let lab: string;
  let extra: string;

  beforeAll(async () => {
    gw = await MqttGateway.start({ name: 'reload' });
    base = parse(readFileSync(gw.configFile, 'utf8')) as Record<string, unknown>;
    sensors = gw.sensors;
    lab = `${gw.gatewayId}/lab`;
    extra = `${gw.gatewayId}/extra`;
  });

  afterAll(async () => {
    // The gateway's log, for a look after a failure.
    mkdirSync('test-artifacts', { recursive: true });
    writeFileSync(join('test-artifacts', `${gw?.gatewayId ?? 'reload'}.log`), gw?.gateway.logs.map((l) => JSON.stringify(l)).join('\n') ?? '');
    expect(await gw?.close()).toBe(0);
  });

  const site = (): Record<string, unknown> => (base.inputs as Record<string, unknown>[])[0] ?? {};
  /** The base config plus a second subscription on `site` and a second input `extra`. */
  const withExtra = (): Record<string, unknown> => ({
    ...base,
    inputs: [
      { ...site(), subscriptions: [sensorSubscription(sensors), sensorSubscription(lab)] },
      { ...site(), name: 'extra', clientId: `${gw.gatewayId}-extra`, subscriptions: [sensorSubscription(extra)] },
    ],
  });
  const logsSince = (from: number, msg: string): LogLine[] => gw.gateway.logs.slice(from).filter((l) => l.msg === msg);

  /** Writes `next`, sends SIGHUP and waits for the outcome logged after it (reload has no other report). */
  const reload = async (next: Record<string, unknown>, outcome = 'configuration reloaded'): Promise<LogLine> => {
    writeFileSync(gw.configFile, stringify(next));
    const mark = gw.gateway.logs.length;
    gw.gateway.child.kill('SIGHUP');
    return waitFor(`log "${outcome}" after the SIGHUP`, () => logsSince(mark, outcome)[0]);
  };
  /** Brings the gateway to `config` (whatever an earlier test left running) and waits until it is ready. */
  const runningWith = async (config: Record<string, unknown>): Promise<void> => {
    await reload(config);
    await gw.gateway.ready();
  };

  const publish = async (topic: string, first: number, count: number, into: Set<number>): Promise<void> => {
    await gw.publisher.publishMany(topic, first, count, 5);
    for (let n = first; n < first + count; n++) into.add(n);
  };

  /**
   * Waits until every published message number is on the readings topic (read with kcat) as temperature and as
   * humidity; returns the temperature readings of these numbers. At least once: a message committed but not yet
   * acknowledged when its input stopped for the reload is redelivered by the broker and may be there twice.
   */
  const delivered = async (published: ReadonlySet<number>): Promise<ReadingEvent[]> =>
    waitFor(
      `all ${published.size} published messages on ${gw.topic('readings')}`,
      async () => {
        const events = (await readTopicWithKcat(gw.kafka, gw.topic('readings'))).map((r) => JSON.parse(r.value) as ReadingEvent);
        const temperatures = events.filter((e) => e.metric === 'temperature' && published.has(e.value as number));
        const values = new Set(temperatures.map((e) => e.value as number));
        const missing = [...published].filter((n) => !values.has(n));
        if (missing.length > 0) throw new Error(`${missing.length} missing, e.g. ${missing.slice(0, 5).join(', ')}; ${events.length} readings on the topic`);
        return temperatures;
      },
      { timeoutMs: 90_000, intervalMs: 1000 },
    );

  it('adds an input and changes another while events are flowing; every event arrives', { timeout: 240_000 }, async () => {
    await runningWith(base);
    const published = new Set<number>();
    await publish(sensors, 0, 1000, published);
    // Events keep arriving while the reload stops and restarts the changed input: they are buffered, in flight
    // to Kafka, or queued by the broker in the input's persistent session.
    const during = publish(sensors, 1000, 3000, published);
    const reloaded = await reload(withExtra());
    expect(reloaded).toMatchObject({ added: ['extra'], changed: ['site'], removed: [], unchanged: [], restartRequired: [], failed: [] });
    await during;
    // The broker keeps messages only for subscriptions that exist: publish once the new ones are in place.
    await gw.gateway.ready();
    await publish(lab, 100_000, 500, published);
    await publish(extra, 200_000, 500, published);

    const temperatures = await delivered(published);
    // Nothing lost; a second copy only of a message that was published (a redelivery), never anything else.
    expect(new Set(temperatures.map((e) => e.value))).toEqual(published);
    expect(temperatures.length).toBeGreaterThanOrEqual(published.size);
    const extraDevices = new Set(temperatures.filter((e) => (e.value as number) >= 200_000).map((e) => e.deviceId));
    expect(extraDevices).toEqual(new Set(['dev-0', 'dev-1', 'dev-2', 'dev-3', 'dev-4']));
  });

  it('rejects a broken config with every error logged, and keeps running the previous one', { timeout: 240_000 }, async () => {
    await runningWith(withExtra());
    const mark = gw.gateway.logs.length;
    const rejected = await reload({ ...withExtra(), kafka: { ...(base.kafka as object), brokers: ['no-port-here'] }, inputz: [] }, 'config reload rejected; the previous configuration keeps running');
    expect(rejected.code).toBe('GW_CONFIG_INVALID');
    const details = gw.gateway.logs.slice(mark).filter((l) => String(l.msg).startsWith('reload rejected: '));
    expect(details).toHaveLength(2);
    expect(details.every((l) => l.code === 'GW_CONFIG_INVALID')).toBe(true);
    expect(details.map((l) => String(l.detail)).join('\n')).toMatch(/kafka\.brokers\[0\]: expected host:port[\s\S]*inputz/);
    expect(logsSince(mark, 'configuration reloaded')).toEqual([]);

    // Both inputs of the previous config still deliver.
    const published = new Set<number>();
    await publish(sensors, 300_000, 200, published);
    await publish(extra, 400_000, 200, published);
    expect(new Set((await delivered(published)).map((e) => e.value))).toEqual(published);
  });

  it('reports changes that need a restart and applies the rest', { timeout: 240_000 }, async () => {
    await runningWith(withExtra());
    const next = withExtra();
    const reloaded = await reload({ ...next, kafka: { ...(base.kafka as object), topics: { prefix: `${gw.prefix}moved.` } }, inputs: (next.inputs as unknown[]).slice(0, 1) });
    expect(reloaded).toMatchObject({ removed: ['extra'], unchanged: ['site'], restartRequired: ['kafka.topics.prefix'] });
    const warning = gw.gateway.logs.find((l) => l.code === 'GW_RELOAD_NEEDS_RESTART' && JSON.stringify(l.paths) === '["kafka.topics.prefix"]');
    expect(warning?.paths).toEqual(['kafka.topics.prefix']);
    // Still the old topics.
    const published = new Set<number>();
    await publish(sensors, 500_000, 100, published);
    expect(new Set((await delivered(published)).map((e) => e.value))).toEqual(published);
  });
});
