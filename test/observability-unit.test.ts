/**
 * Observability in one process, with a real SQLite buffer and a real HTTP listener: the event observer, the
 * /metrics exposition (parsed), /readyz and /healthz, token authentication, the config rules of `http:`, and the
 * gateway-health event. The Input objects here are the injected seam (the interface), not fakes of a transport.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteBuffer } from '../src/buffer/sqlite-buffer.js';
import { BufferConfig } from '../src/config/schema.js';
import { validateConfig } from '../src/config/load.js';
import { GatewayError } from '../src/errors.js';
import type { EventDraft } from '../src/events/schema.js';
import type { Input, InputMetric } from '../src/inputs/input.js';
import { Hl7InputConfig } from '../src/inputs/hl7/config.js';
import { Hl7Input } from '../src/inputs/hl7/hl7-input.js';
import { MqttInputConfig } from '../src/inputs/mqtt/config.js';
import { MqttInput } from '../src/inputs/mqtt/mqtt-input.js';
import { SerialInputConfig } from '../src/inputs/serial/config.js';
import { SerialInput } from '../src/inputs/serial/serial-input.js';
import { HttpConfig, Observability, isLoopbackHost } from '../src/observability/index.js';
import { Figures, type BufferView } from '../src/observability/figures.js';
import { EventObserver, OTHER_DEVICES } from '../src/observability/observer.js';
import type { BufferStats } from '../src/buffer/sqlite-buffer.js';
import { systemClock } from '../src/util/clock.js';
import { createLogger } from '../src/util/logger.js';
import { modbusInput } from './support/modbus.js';
import { checkExposition, parseExposition } from './support/prometheus.js';
import { noReceipts } from './support/receipts.js';
import { waitFor } from './support/wait.js';

const logger = createLogger('silent');
const now = (): string => new Date().toISOString();

function reading(deviceId: string, value: number | null, quality: 'good' | 'bad' = 'good'): EventDraft {
  return { type: 'reading', deviceId, metric: 'temperature', value, unit: 'Cel', quality, sourceTime: null, receivedAt: now() };
}

function status(deviceId: string, s: 'online' | 'offline' | 'degraded' | 'error', reason: string): EventDraft {
  return { type: 'device-status', deviceId, status: s, previous: 'unknown', reason, sourceTime: null, receivedAt: now() };
}

function deadLetter(deviceId: string): EventDraft {
  return {
    type: 'dead-letter',
    deviceId,
    input: 'site',
    source: 'a/b',
    reason: 'not JSON',
    payloadBase64: '',
    payloadBytes: 0,
    truncated: false,
    sourceTime: null,
    receivedAt: now(),
  };
}

function vital(deviceId: string, metric: string, value: number | null, unit: string | null, quality: 'good' | 'bad' = 'good'): EventDraft {
  return { type: 'reading', deviceId, metric, value, unit, quality, sourceTime: null, receivedAt: now() };
}

function alarm(deviceId: string, name: string, state: 'active' | 'cleared', severity: 'high' | 'medium' | 'low' = 'high'): EventDraft {
  return { type: 'alarm', deviceId, alarm: name, state, severity, message: `${name} ${state}`, metric: 'spo2', value: 86, sourceTime: null, receivedAt: now() };
}

function deadLetterFrom(source: string, deviceId: string, reason: string): EventDraft {
  return { ...deadLetter(deviceId), source, reason } as EventDraft;
}

function openBuffer(overrides: Record<string, unknown> = {}): SqliteBuffer {
  const dir = mkdtempSync(join(tmpdir(), 'etg-obs-'));
  const c = BufferConfig.parse({ path: join(dir, 'buffer.db'), ...overrides });
  const buffer = new SqliteBuffer({
    path: c.path,
    gatewayId: 'gw-test',
    synchronous: 'NORMAL',
    commitLingerMs: 0,
    maxEventsPerCommit: c.maxEventsPerCommit,
    retentionMs: c.retention,
    retentionMaxBytes: c.retentionMaxBytes,
    maxEvents: c.maxEvents,
    maxBytes: c.maxBytes,
    whenFull: c.whenFull,
    clock: systemClock,
  });
  buffer.open();
  return buffer;
}

/** An input as the gateway sees it, exporting figures through the optional metrics()/devices(). */
function testInput(name: string, metrics: () => InputMetric[], devices: string[] = []): Input {
  return { name, start: async () => undefined, stop: async () => undefined, metrics, devices: () => devices };
}

describe('EventObserver', () => {
  it('tracks device state from status drafts, marks reporting devices online, counts after the commit', async () => {
    const observer = new EventObserver({ maxDevices: 10, clock: systemClock });
    const committed: EventDraft[] = [];
    const sink = observer.sinkFor('site', { append: async (d) => void committed.push(...d), flush: () => undefined });
    observer.declareDevices('site', ['pump-1']);
    expect(observer.devices.map((d) => [d.deviceId, d.state])).toEqual([['pump-1', 'unknown']]);

    await sink.append([reading('sensor-1', 21.5), reading('sensor-1', null, 'bad'), status('pump-1', 'offline', 'no answer'), deadLetter('sensor-1')]);
    const byId = new Map(observer.devices.map((d) => [d.deviceId, d]));
    expect(byId.get('sensor-1')).toMatchObject({ state: 'online', reason: 'delivering readings', events: 3, badReadings: 1, deadLetters: 1 });
    expect(byId.get('sensor-1')?.metrics.get('temperature')).toMatchObject({ value: null, quality: 'bad', unit: 'Cel' });
    expect(byId.get('pump-1')).toMatchObject({ state: 'offline', reason: 'no answer', events: 1 });
    const counters = observer.inputs.get('site');
    expect(counters?.deadLetters).toBe(1);
    expect(counters?.badReadings).toBe(1);
    expect(Object.fromEntries(counters?.eventsByType ?? [])).toEqual({ reading: 2, 'device-status': 1, 'dead-letter': 1 });
    expect(observer.totalEvents).toBe(4);

    // A reported state is kept: readings do not override "offline" (the input reports its own transitions).
    await sink.append([reading('pump-1', 3)]);
    expect(observer.devices.find((d) => d.deviceId === 'pump-1')?.state).toBe('offline');
  });

  it('caps the devices it tracks; the rest count as _other', async () => {
    const observer = new EventObserver({ maxDevices: 3, clock: systemClock });
    const sink = observer.sinkFor('site', { append: async () => undefined, flush: () => undefined });
    await sink.append(Array.from({ length: 10 }, (_, i) => reading(`dev-${i}`, i)));
    expect(observer.devices).toHaveLength(3);
    expect(observer.untrackedDevices).toBe(7);
    expect(observer.otherDeviceEvents.get('site')).toBe(7);
    expect(OTHER_DEVICES).toBe('_other');
  });

  it('keeps the latest value of every metric of a device, not only the last one written', async () => {
    const observer = new EventObserver({ maxDevices: 10, clock: systemClock });
    const sink = observer.sinkFor('bedside', { append: async () => undefined, flush: () => undefined });
    await sink.append([vital('ox', 'spo2', 97, '%'), vital('ox', 'pulse-rate', 72, '/min'), vital('ox', 'spmet', null, '%', 'bad')]);
    await sink.append([vital('ox', 'spo2', 95, '%'), vital('ox', 'spmet', null, '%', 'bad')]);
    const device = observer.devices.find((d) => d.deviceId === 'ox');
    expect([...(device?.metrics ?? [])].map(([m, v]) => [m, v.value, v.unit, v.quality])).toEqual([
      ['spo2', 95, '%', 'good'],
      ['pulse-rate', 72, '/min', 'good'],
      ['spmet', null, '%', 'bad'],
    ]);
  });

  it('lists active alarms by severity until they clear, even for devices beyond the cap', async () => {
    const observer = new EventObserver({ maxDevices: 1, clock: systemClock });
    const sink = observer.sinkFor('bedside', { append: async () => undefined, flush: () => undefined });
    await sink.append([alarm('ox-1', 'low-perfusion', 'active', 'low'), alarm('ox-1', 'spo2-low', 'active', 'high'), alarm('ox-2', 'sensor-off', 'active', 'medium')]);
    expect(observer.activeAlarms.map((a) => `${a.deviceId}/${a.alarm} ${a.severity}`)).toEqual(['ox-1/spo2-low high', 'ox-2/sensor-off medium', 'ox-1/low-perfusion low']);
    expect(observer.devices.map((d) => d.deviceId)).toEqual(['ox-1']);
    const since = observer.activeAlarms[0]?.since;
    // A repeated "active" keeps when it began; "cleared" removes it.
    await sink.append([alarm('ox-1', 'spo2-low', 'active'), alarm('ox-1', 'low-perfusion', 'cleared', 'low')]);
    expect(observer.activeAlarms.map((a) => a.alarm)).toEqual(['spo2-low', 'sensor-off']);
    expect(observer.activeAlarms[0]?.since).toBe(since);
  });

  it('traces dead letters to their input, source and reason; never as device "_other"', async () => {
    const observer = new EventObserver({ maxDevices: 10, clock: systemClock });
    const sink = observer.sinkFor('site', { append: async () => undefined, flush: () => undefined });
    await sink.append([reading('sensor-1', 20)]);
    await sink.append([deadLetterFrom('z2m/broken', 'broken', 'invalid JSON'), deadLetterFrom('z2m/sensor-1', 'sensor-1', 'not a number')]);
    await sink.append([deadLetterFrom('z2m/broken', 'broken', 'invalid JSON: truncated')]);
    expect(observer.deadLetterSources.map((d) => [d.input, d.source, d.deviceId, d.count, d.lastReason])).toEqual([
      ['site', 'z2m/broken', 'broken', 2, 'invalid JSON: truncated'],
      ['site', 'z2m/sensor-1', 'sensor-1', 1, 'not a number'],
    ]);
    expect(observer.inputs.get('site')?.deadLetters).toBe(3);
    // The device row that exists counts its own; the topic without a row creates none and is no "_other" device.
    expect(observer.devices.map((d) => [d.deviceId, d.deadLetters, d.events])).toEqual([['sensor-1', 1, 2]]);
    expect(observer.otherDeviceEvents.size).toBe(0);
  });

  it('passes a commit failure through and remembers it until a commit succeeds', async () => {
    const observer = new EventObserver({ maxDevices: 10, clock: systemClock });
    let fail = true;
    const sink = observer.sinkFor('site', {
      append: async () => {
        if (fail) throw new Error('disk full');
      },
      flush: () => undefined,
    });
    await expect(sink.append([reading('a', 1)])).rejects.toThrow('disk full');
    expect(observer.commitFailing).toEqual({ failing: true, error: 'disk full' });
    expect(observer.inputs.get('site')?.commitFailures).toBe(1);
    expect(observer.totalEvents).toBe(0);
    fail = false;
    await sink.append([reading('a', 2)]);
    expect(observer.commitFailing.failing).toBe(false);
  });
});

describe('backlog: one source for the card and the chart', () => {
  it('the buffer count the chart samples is the count its SQL gives the card, through appends, deliveries and drops', async () => {
    const buffer = openBuffer({ maxEvents: 20, whenFull: 'drop-oldest' });
    try {
      const same = (): void => expect(buffer.pendingCount).toBe(buffer.stats().pending);
      await buffer.append(Array.from({ length: 12 }, (_, i) => reading(`d-${i % 3}`, i)));
      same();
      buffer.markDelivered(buffer.readPending(5));
      same();
      await buffer.append(Array.from({ length: 30 }, (_, i) => reading(`d-${i % 3}`, i)));
      same();
      expect(buffer.counters.droppedEvents).toBeGreaterThan(0);
      buffer.markDelivered(buffer.readPending(1000));
      same();
      expect(buffer.pendingCount).toBe(0);
    } finally {
      buffer.close();
    }
  });

  it('a history point is the mean and the peak of readings at varying moments, so a periodic input does not fool it', () => {
    // Inputs that report on whole seconds, sent within 300 ms: 13 events wait from 0 to 300 ms of every second.
    let t = 0;
    const bursts: BufferView = {
      get pendingCount() {
        return t % 1000 < 300 ? 13 : 0;
      },
      stats: (): BufferStats => ({ pending: 0, pendingBytes: 0, pendingByFamily: {}, retained: 0, retainedBytes: 0, oldestPendingAt: null, fileBytes: 0 }),
    };
    const observer = new EventObserver({ maxDevices: 10, clock: { now: () => t } });
    const figures = new Figures({ gatewayId: 'gw', buffer: () => bursts, forwarder: () => undefined, inputs: () => [] }, observer, { now: () => t });
    // History points fall 100 ms into a second, inside the burst: one reading there would say 13 every time.
    for (t = 100; t <= 30_100; t += 10) {
      if (t % 5000 === 100) figures.sample();
      // Readings ~250 ms apart, at moments that do not repeat within a second.
      else if (t % 230 === 0) figures.readBacklog();
    }
    const points = figures.history;
    expect(points.length).toBe(6);
    for (const p of points) {
      expect(p.backlogMax).toBe(13);
      // 13 × 0.3 = 3.9 events wait on average: each point is near that, far from a steady 13.
      expect(p.backlog).toBeGreaterThan(2);
      expect(p.backlog).toBeLessThan(6);
    }

    // A backlog that stays (Kafka down) is drawn as what it is.
    const steady: BufferView = { pendingCount: 108, stats: bursts.stats };
    const held = new Figures({ gatewayId: 'gw', buffer: () => steady, forwarder: () => undefined, inputs: () => [] }, observer, { now: () => t });
    for (const end = t + 10_000; t <= end; t += 10) {
      if (t % 5000 === 100) held.sample();
      else if (t % 230 === 0) held.readBacklog();
    }
    expect(held.history.map((p) => [p.backlog, p.backlogMax])).toEqual([[108, 108]]);
  });
});

describe('http config', () => {
  const base = { gateway: { id: 'gw' }, kafka: { brokers: ['127.0.0.1:9092'] } };

  it('defaults to 127.0.0.1:9464 without a token and a 30 s heartbeat', () => {
    const config = validateConfig(base, 'test');
    expect(config.http).toMatchObject({ enabled: true, host: '127.0.0.1', port: 9464, maxDevices: 1000 });
    expect(config.http.token).toBeUndefined();
    expect(config.health.interval).toBe(30_000);
  });

  it('requires a token when listening beyond loopback, naming the path', () => {
    let error: unknown;
    try {
      validateConfig({ ...base, http: { host: '0.0.0.0' } }, 'test');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).code).toBe('GW_CONFIG_INVALID');
    expect((error as GatewayError).details.join('\n')).toMatch(/http\.token.*required when host is not a loopback address/);
    process.env.ETG_HTTP_TOKEN = 'x';
    const config = validateConfig({ ...base, http: { host: '0.0.0.0', token: { env: 'ETG_HTTP_TOKEN' } }, health: { interval: '5s' } }, 'test');
    expect(config.http.token?.origin).toBe('env:ETG_HTTP_TOKEN');
    expect(config.health.interval).toBe(5000);
  });

  it('knows loopback addresses', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) expect(isLoopbackHost(host), host).toBe(true);
    for (const host of ['0.0.0.0', '::', '192.168.1.10', 'gateway.local', '128.0.0.1']) expect(isLoopbackHost(host), host).toBe(false);
  });
});

describe('strict exposition check (test support)', () => {
  it('accepts well-formed text and rejects what a scraper would reject', () => {
    const good = '# HELP a_total A.\n# TYPE a_total counter\na_total{x="1"} 3\n# HELP h H.\n# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_sum 0.5\nh_count 1\n';
    expect(() => checkExposition(good)).not.toThrow();
    expect(checkExposition('# HELP a A.\n# TYPE a gauge\na{x="q\\"z",y="1"} 2.5\n')).toEqual([{ name: 'a', labels: { x: 'q"z', y: '1' }, value: 2.5 }]);
    expect(() => checkExposition('# HELP a A.\n# TYPE a gauge\na 1')).toThrow(/newline/);
    expect(() => checkExposition('a 1\n')).toThrow(/undeclared/);
    expect(() => checkExposition('# HELP a A.\n# TYPE a gauge\na{x=1} 1\n')).toThrow(/malformed/);
    expect(() => checkExposition('# HELP a A.\n# TYPE a gauge\na one\n')).toThrow(/malformed/);
    expect(() => checkExposition('# HELP a A.\n# TYPE a gauge\na 1\na 2\n')).toThrow(/duplicate/);
    expect(() => checkExposition('# TYPE a gauge\na 1\n')).toThrow(/without HELP/);
  });
});

describe('Observability over HTTP (real listener, real SQLite buffer)', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function setup(http: Record<string, unknown> = {}, healthInterval = 0, inputs: Input[] = []) {
    const buffer = openBuffer();
    let open = true;
    cleanups.push(() => {
      if (open) buffer.close();
    });
    const observability = new Observability({
      http: HttpConfig.parse({ port: 0, ...http }),
      health: { interval: healthInterval },
      view: { gatewayId: 'gw-test', buffer: () => (open ? buffer : undefined), forwarder: () => undefined, inputs: () => inputs },
      healthSink: () => (open ? buffer : undefined),
      logger,
      clock: systemClock,
    });
    await observability.start();
    cleanups.push(() => observability.stop());
    const port = observability.address?.port;
    if (http.enabled !== false) expect(port).toBeGreaterThan(0);
    const get = (path: string, headers: Record<string, string> = {}) => fetch(`http://127.0.0.1:${port}${path}`, { headers });
    const closeBuffer = (): void => {
      open = false;
      buffer.close();
    };
    return { buffer, observability, get, closeBuffer };
  }

  it('exposes counters that move with the events, input metrics and device states as valid Prometheus text', async () => {
    const figures = { requests: 0 };
    const input = testInput(
      'bus',
      () => [
        { name: 'modbus_requests_total', help: 'Requests sent', type: 'counter', labels: { unit_id: '1' }, value: figures.requests },
        { name: 'modbus_connected', help: 'Connected', type: 'gauge', value: 1 },
        { name: 'Bad-Name', help: 'skipped', type: 'gauge', value: 1 },
        { name: 'modbus_polls', help: 'a counter without _total: skipped', type: 'counter', value: 1 },
        { name: 'modbus_open_total', help: 'a gauge named like a counter: skipped', type: 'gauge', value: 1 },
      ],
      ['meter-1'],
    );
    const { buffer, observability, get } = await setup({}, 0, [input]);
    observability.setInputsStarted(true);
    const sink = observability.sinkFor('bus', buffer);

    const first = await get('/metrics');
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const before = parseExposition(await first.text());
    expect(before.value('etg_device_state', { input: 'bus', device: 'meter-1', state: 'unknown' })).toBe(1);
    expect(before.value('etg_modbus_requests_total', { input: 'bus', unit_id: '1' })).toBe(0);
    expect(before.value('etg_modbus_connected', { input: 'bus' })).toBe(1);
    expect(before.family('etg_Bad-Name')).toBeUndefined();
    expect(before.family('etg_modbus_polls')).toBeUndefined();
    expect(before.family('etg_modbus_open_total')).toBeUndefined();
    expect(before.family('etg_kafka_send_duration_seconds')?.type).toBe('HISTOGRAM');
    // prom-client's process and Node.js figures under their standard names, as stock dashboards query them.
    expect(before.family('process_cpu_seconds_total')?.type).toBe('COUNTER');
    expect(before.family('process_resident_memory_bytes')?.type).toBe('GAUGE');
    expect(before.family('nodejs_eventloop_lag_p99_seconds')?.type).toBe('GAUGE');
    expect(before.family('nodejs_active_handles')?.type).toBe('GAUGE');
    expect(before.families.filter((f) => /^etg_(process|nodejs)_/.test(f.name))).toEqual([]);
    // Counters, and only counters, end in _total (prom-client's nodejs_active_handles_total & co. are gauges: left out).
    for (const f of before.families) {
      if (f.type === 'HISTOGRAM' || f.type === 'SUMMARY') continue;
      expect(f.name.endsWith('_total'), `${f.name} is a ${f.type}`).toBe(f.type === 'COUNTER');
    }
    // Backlog series exist while the buffer is empty: sum() and alert rules see 0, not nothing.
    for (const family of ['readings', 'alarms', 'deviceStatus', 'gatewayHealth', 'deadLetter']) expect(before.value('etg_buffer_pending_events', { family })).toBe(0);
    for (const severity of ['high', 'medium', 'low']) expect(before.value('etg_alarms_active', { input: 'bus', severity })).toBe(0);

    await sink.append([status('meter-1', 'online', 'answering'), reading('meter-1', 230.1), reading('meter-1', 230.4), deadLetter('meter-1')]);
    // Undecodable data from a source no device row has: counted per input, never as device="_other".
    await sink.append([deadLetterFrom('bus unit 9', 'unit-9', 'no such unit')]);
    await sink.append([alarm('meter-1', 'overcurrent', 'active', 'medium')]);
    // Device ids come from the outside (MQTT topics): quotes, backslashes and line feeds are escaped.
    await sink.append([reading('odd "name"\\x\ny', 1)]);
    figures.requests = 7;
    // Buffer statistics are SQL counts cached for a second; the observer's counters are immediate.
    const after = await waitFor('the buffer figures of the new events', async () => {
      const e = parseExposition(await (await get('/metrics')).text());
      return e.value('etg_buffer_pending_events', { family: 'readings' }) === 3 ? e : undefined;
    });
    expect(after.value('etg_events_ingested_total', { input: 'bus', type: 'reading' })).toBe(3);
    expect(after.value('etg_events_ingested_total', { input: 'bus', type: 'device-status' })).toBe(1);
    expect(after.value('etg_device_events_ingested_total', { input: 'bus', device: 'meter-1' })).toBe(5);
    expect(after.sample('etg_device_events_ingested_total', { input: 'bus', device: 'odd "name"\\x\ny' })).toBe(1);
    expect(after.value('etg_device_state', { input: 'bus', device: 'odd "name"\\x\ny', state: 'online' })).toBe(1);
    expect(after.value('etg_dead_letters_total', { input: 'bus' })).toBe(2);
    expect(after.sample('etg_device_events_ingested_total', { input: 'bus', device: OTHER_DEVICES })).toBeUndefined();
    expect(after.value('etg_alarms_active', { input: 'bus', severity: 'medium' })).toBe(1);
    expect(after.value('etg_alarms_active', { input: 'bus', severity: 'high' })).toBe(0);
    expect(after.value('etg_device_state', { input: 'bus', device: 'meter-1', state: 'online' })).toBe(1);
    expect(after.value('etg_device_state', { input: 'bus', device: 'meter-1', state: 'unknown' })).toBe(0);
    expect(after.value('etg_device_last_reading_timestamp_seconds', { input: 'bus', device: 'meter-1' })).toBeGreaterThan(1.7e9);
    expect(after.value('etg_buffer_pending_events', { family: 'readings' })).toBe(3);
    expect(after.value('etg_buffer_pending_events', { family: 'deadLetter' })).toBe(2);
    expect(after.value('etg_buffer_pending_events', { family: 'alarms' })).toBe(1);
    expect(after.value('etg_buffer_pending_events', { family: 'gatewayHealth' })).toBe(0);
    expect(after.value('etg_modbus_requests_total', { input: 'bus', unit_id: '1' })).toBe(7);
    expect(after.value('etg_gateway_ready')).toBe(1);
    // Group commits and what they held (events per fsync): the four appends above, awaited one by one.
    const committed = (after.value('etg_buffer_committed_events_total') ?? 0) - (before.value('etg_buffer_committed_events_total') ?? 0);
    const commits = (after.value('etg_buffer_commits_total') ?? 0) - (before.value('etg_buffer_commits_total') ?? 0);
    expect(committed).toBeGreaterThanOrEqual(7);
    expect(commits).toBeGreaterThanOrEqual(4);
    expect(commits).toBeLessThanOrEqual(committed);

    // The Grafana dashboard queries only series the gateway exports (etg_mqtt_* and etg_modbus_* come from real
    // inputs, which this test does not run: their names are checked against the inputs' metrics() below).
    const dashboard = readFileSync(resolve(import.meta.dirname, '../docs/grafana-dashboard.json'), 'utf8');
    const exported = new Set(after.families.flatMap((f) => (f.type === 'HISTOGRAM' ? [f.name, `${f.name}_bucket`, `${f.name}_sum`, `${f.name}_count`] : [f.name])));
    const queried = new Set([...dashboard.matchAll(/\b(?:etg|process|nodejs)_[a-z0-9_]+/g)].map((m) => m[0]));
    expect(queried.size).toBeGreaterThan(10);
    expect([...queried].filter((n) => /^(process|nodejs)_/.test(n)).length).toBeGreaterThan(0);
    const inputFamilies = /^etg_(mqtt|modbus|serial|hl7)_/;
    for (const name of queried) if (!inputFamilies.test(name)) expect(exported, name).toContain(name);
    // A Modbus input on a closed port (it retries in the background) lists its per-device figures all the same.
    const modbus = modbusInput({ transport: { kind: 'tcp', host: '127.0.0.1', port: 1 }, reconnect: { initial: '10s', max: '10s' }, devices: [{ id: 'm-1', driver: 'xy-md02' }] });
    await modbus.input.start();
    cleanups.push(() => modbus.input.stop());
    const mqtt = new MqttInput(MqttInputConfig.parse({ type: 'mqtt', name: 'm', url: 'mqtt://127.0.0.1:1', subscriptions: [{ topic: 'a/+', format: 'number', metrics: [{ metric: 'x' }] }] }), {
      gatewayId: 'gw-test',
      sink: buffer,
      receipts: noReceipts,
      logger,
      clock: systemClock,
      configDir: '.',
      driverSearchPaths: [],
    });

    const deps = { gatewayId: 'gw-test', sink: buffer, receipts: noReceipts, logger, clock: systemClock, configDir: '.', driverSearchPaths: [] };
    const serial = new SerialInput(SerialInputConfig.parse({ type: 'serial', name: 's', port: '/dev/null', driver: 'pulse-oximeter-ascii', deviceId: 'ox' }), deps);
    const hl7 = new Hl7Input(Hl7InputConfig.parse({ type: 'hl7', name: 'h', listen: { port: 0 } }), deps);
    const inputMetricNames = new Set([...mqtt.metrics(), ...modbus.input.metrics(), ...serial.metrics(), ...hl7.metrics()].map((m) => `etg_${m.name}`));
    for (const name of queried) if (inputFamilies.test(name)) expect(inputMetricNames, name).toContain(name);

    const statusBody = (await (await get('/api/status')).json()) as {
      devices: { deviceId: string; state: string; events: number }[];
      inputs: { name: string; connected: boolean | null }[];
      deadLetters: { total: number; sources: { source: string; count: number }[] };
      alarms: { alarm: string; severity: string }[];
    };
    expect(statusBody.deadLetters).toMatchObject({ total: 2, sources: [{ source: 'bus unit 9', count: 1 }, { source: 'a/b', count: 1 }] });
    expect(statusBody.alarms).toEqual([expect.objectContaining({ alarm: 'overcurrent', severity: 'medium' })]);
    expect(statusBody.devices).toEqual([
      expect.objectContaining({ deviceId: 'meter-1', state: 'online', events: 5 }),
      expect.objectContaining({ deviceId: 'odd "name"\\x\ny', state: 'online', events: 1 }),
    ]);
    expect(statusBody.inputs).toEqual([expect.objectContaining({ name: 'bus', connected: true })]);
  });

  it('/readyz is 503 until inputs start, 200 while running, 503 when the buffer is gone or stopping; /healthz is 200', async () => {
    const { observability, get, closeBuffer } = await setup();
    const starting = await get('/readyz');
    expect(starting.status).toBe(503);
    expect(((await starting.json()) as { reasons: string[] }).reasons.join()).toMatch(/inputs not started/);
    observability.setInputsStarted(true);
    const ready = await get('/readyz');
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as { kafka: { connected: boolean; note: string } };
    expect(body.kafka.connected).toBe(false);
    expect(body.kafka.note).toMatch(/does not make the gateway unready/);
    const health = await get('/healthz');
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ live: true });

    closeBuffer();
    // Buffer figures are cached for a second: the condition, not a sleep, says when the change is visible.
    const gone = await waitFor('/readyz 503 after the buffer closed', async () => {
      const response = await get('/readyz');
      return response.status === 503 ? response : undefined;
    });
    expect(((await gone.json()) as { reasons: string[] }).reasons.join()).toMatch(/buffer not writable/);
  });

  it('with a token: 401 without it or with a wrong one, 200 with Bearer or Basic; the token is never in the output', async () => {
    process.env.ETG_OBS_TEST_TOKEN = 's3cret-token-value';
    cleanups.push(() => void delete process.env.ETG_OBS_TEST_TOKEN);
    const { observability, get } = await setup({ token: { env: 'ETG_OBS_TEST_TOKEN' } });
    observability.setInputsStarted(true);
    for (const path of ['/', '/metrics', '/healthz', '/readyz', '/api/status', '/app.js']) {
      const denied = await get(path);
      expect(denied.status, path).toBe(401);
      expect(denied.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
      expect((await get(path, { Authorization: 'Bearer wrong' })).status, path).toBe(401);
    }
    const bearer = await get('/metrics', { Authorization: 'Bearer s3cret-token-value' });
    expect(bearer.status).toBe(200);
    expect(await bearer.text()).not.toContain('s3cret');
    const basic = await get('/api/status', { Authorization: `Basic ${Buffer.from('ops:s3cret-token-value').toString('base64')}` });
    expect(basic.status).toBe(200);
    expect(await basic.text()).not.toContain('s3cret');
  });

  it('a token that cannot be read stops the start with GW_SECRET_MISSING', async () => {
    const observability = new Observability({
      http: HttpConfig.parse({ port: 0, token: { env: 'ETG_OBS_TEST_UNSET_TOKEN' } }),
      health: { interval: 0 },
      view: { gatewayId: 'gw', buffer: () => undefined, forwarder: () => undefined, inputs: () => [] },
      healthSink: () => undefined,
      logger,
      clock: systemClock,
    });
    await expect(observability.start()).rejects.toMatchObject({ code: 'GW_SECRET_MISSING', message: expect.stringContaining('env:ETG_OBS_TEST_UNSET_TOKEN') });
  });

  it('serves the page with a strict CSP, 404 for unknown paths, 405 for other methods', async () => {
    const { get, observability } = await setup();
    const page = await get('/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
    expect(await page.text()).toContain('<script src="app.js" defer></script>');
    expect((await get('/style.css')).headers.get('content-type')).toMatch(/text\/css/);
    expect((await get('/nope')).status).toBe(404);
    const post = await fetch(`http://127.0.0.1:${observability.address?.port}/metrics`, { method: 'POST' });
    expect(post.status).toBe(405);
  });

  it('a port in use does not stop the gateway: it keeps running without the listener', async () => {
    const { observability } = await setup();
    const taken = observability.address?.port;
    const second = new Observability({
      http: HttpConfig.parse({ port: taken }),
      health: { interval: 0 },
      view: { gatewayId: 'gw', buffer: () => undefined, forwarder: () => undefined, inputs: () => [] },
      healthSink: () => undefined,
      logger,
      clock: systemClock,
    });
    await second.start();
    expect(second.address).toBeUndefined();
    await second.stop();
  });

  it('writes gateway-health events with the figures into the buffer', async () => {
    const { buffer, observability } = await setup({ enabled: false }, 50);
    const sink = observability.sinkFor('site', buffer);
    await sink.append([reading('a', 1), deadLetter('a')]);
    const stored = await waitFor('a gateway-health event in the buffer', () => buffer.readPending(100).find((p) => p.type === 'gateway-health'));
    const health = JSON.parse(stored.payload) as { figures: Record<string, number>; deviceId: string; uptimeSeconds: number };
    expect(health?.deviceId).toBe('gw-test');
    expect(health?.figures).toMatchObject({ eventsInTotal: 2, deadLetters: 1, devicesOnline: 1, kafkaConnected: 0, drops: 0 });
    expect(health?.figures.backlog).toBeGreaterThanOrEqual(2);
    expect(Object.values(health?.figures ?? {}).every((v) => typeof v === 'number' && Number.isFinite(v))).toBe(true);
  });
});
