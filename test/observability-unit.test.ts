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
import { HttpConfig, Observability, isLoopbackHost } from '../src/observability/index.js';
import { EventObserver, OTHER_DEVICES } from '../src/observability/observer.js';
import { systemClock } from '../src/util/clock.js';
import { createLogger } from '../src/util/logger.js';
import { checkExposition, parseExposition } from './support/prometheus.js';
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

function openBuffer(): SqliteBuffer {
  const dir = mkdtempSync(join(tmpdir(), 'etg-obs-'));
  const c = BufferConfig.parse({ path: join(dir, 'buffer.db') });
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
    expect(byId.get('sensor-1')).toMatchObject({ state: 'online', reason: 'delivering readings', events: 3, badReadings: 1, deadLetters: 1, lastValue: null, lastQuality: 'bad' });
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
    expect(before.family('etg_kafka_send_duration_seconds')?.type).toBe('HISTOGRAM');
    expect(before.family('etg_process_cpu_seconds_total')?.type).toBe('COUNTER');

    await sink.append([status('meter-1', 'online', 'answering'), reading('meter-1', 230.1), reading('meter-1', 230.4), deadLetter('meter-1')]);
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
    expect(after.value('etg_device_events_ingested_total', { input: 'bus', device: 'meter-1' })).toBe(4);
    expect(after.sample('etg_device_events_ingested_total', { input: 'bus', device: 'odd "name"\\x\ny' })).toBe(1);
    expect(after.value('etg_device_state', { input: 'bus', device: 'odd "name"\\x\ny', state: 'online' })).toBe(1);
    expect(after.value('etg_dead_letters_total', { input: 'bus' })).toBe(1);
    expect(after.value('etg_device_state', { input: 'bus', device: 'meter-1', state: 'online' })).toBe(1);
    expect(after.value('etg_device_state', { input: 'bus', device: 'meter-1', state: 'unknown' })).toBe(0);
    expect(after.value('etg_device_last_reading_timestamp_seconds', { input: 'bus', device: 'meter-1' })).toBeGreaterThan(1.7e9);
    expect(after.value('etg_buffer_pending_events', { family: 'readings' })).toBe(3);
    expect(after.value('etg_buffer_pending_events', { family: 'deadLetter' })).toBe(1);
    expect(after.value('etg_modbus_requests_total', { input: 'bus', unit_id: '1' })).toBe(7);
    expect(after.value('etg_gateway_ready')).toBe(1);

    // The Grafana dashboard queries only series the gateway exports (etg_mqtt_* come from the MQTT input).
    const dashboard = readFileSync(resolve(import.meta.dirname, '../docs/grafana-dashboard.json'), 'utf8');
    const exported = new Set(after.families.flatMap((f) => (f.type === 'HISTOGRAM' ? [f.name, `${f.name}_bucket`, `${f.name}_sum`, `${f.name}_count`] : [f.name])));
    const queried = new Set([...dashboard.matchAll(/\betg_[a-z0-9_]+/g)].map((m) => m[0]));
    expect(queried.size).toBeGreaterThan(10);
    for (const name of queried) if (!name.startsWith('etg_mqtt_')) expect(exported, name).toContain(name);

    const statusBody = (await (await get('/api/status')).json()) as { devices: { deviceId: string; state: string; events: number }[]; inputs: { name: string; connected: boolean | null }[] };
    expect(statusBody.devices).toEqual([
      expect.objectContaining({ deviceId: 'meter-1', state: 'online', events: 4 }),
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
