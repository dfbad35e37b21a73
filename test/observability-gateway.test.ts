/**
 * Observability of a real gateway process (`node dist/cli.js run`) with real Mosquitto and Kafka:
 * /metrics parses as Prometheus text and its counters follow the events from MQTT to Kafka; gateway-health
 * events reach Kafka; /readyz stays 200 while Kafka is unreachable (saying so), turns 503 while the gateway
 * stops, and turns 503 and back to 200 when the buffer's disk is full and then has room again.
 */
import { execFileSync } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { freePort } from '../scripts/mosquitto.mjs';
import type { GatewayHealthEvent } from '../src/events/schema.js';
import { readTopic, readTopicWithKcat } from './support/kafka.js';
import { MqttGateway } from './support/mqtt-gateway.js';
import { parseExposition, type Exposition } from './support/prometheus.js';
import { waitFor } from './support/wait.js';

const kafka = inject('kafkaBootstrap');

async function metrics(port: number): Promise<Exposition> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(response.status).toBe(200);
  return parseExposition(await response.text());
}

async function readyz(port: number): Promise<{ status: number; body: { ready: boolean; reasons: string[]; kafka: { connected: boolean; note: string } } }> {
  const response = await fetch(`http://127.0.0.1:${port}/readyz`);
  return { status: response.status, body: (await response.json()) as never };
}

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('observability of a running gateway (MQTT → Kafka)', () => {
  it('counts what flows from MQTT to Kafka in /metrics and sends gateway-health events', async () => {
    const port = await freePort();
    const gw = await MqttGateway.start({ name: 'obs', overrides: { http: { port }, health: { interval: '1s' } } });
    cleanups.push(() => gw.kill());
    const { gateway, gatewayId, prefix, publisher } = gw;
    const listening = gateway.logs.find((l) => l.msg === `status page: http://127.0.0.1:${port}/`);
    expect(listening).toMatchObject({ host: '127.0.0.1', port, url: `http://127.0.0.1:${port}/`, auth: 'none (loopback)' });

    const before = await metrics(port);
    expect(before.sum('etg_events_ingested_total')).toBe(0);
    expect(before.value('etg_mqtt_connected', { input: 'site' })).toBe(1);
    expect((await readyz(port)).status).toBe(200);

    await publisher.publishMany(gw.sensors, 0, 600, 6);
    await publisher.client.publishAsync(`${gw.sensors}/dev-0`, 'not json', { qos: 1 });
    await readTopic(kafka, gw.topic('readings'), 1200);

    const after = await waitFor('/metrics to count the 1200 readings sent to Kafka', async () => {
      const e = await metrics(port);
      return (e.value('etg_kafka_sent_events_total', { topic: `${prefix}readings` }) ?? 0) >= 1200 ? e : undefined;
    });
    expect(after.value('etg_events_ingested_total', { input: 'site', type: 'reading' })).toBe(1200);
    expect(after.value('etg_events_ingested_total', { input: 'site', type: 'dead-letter' })).toBe(1);
    expect(after.value('etg_dead_letters_total', { input: 'site' })).toBe(1);
    expect(after.value('etg_mqtt_messages_received_total', { input: 'site' })).toBe(601);
    for (let d = 0; d < 6; d++) {
      expect(after.value('etg_device_events_ingested_total', { input: 'site', device: `dev-${d}` })).toBe(d === 0 ? 201 : 200);
      expect(after.value('etg_device_state', { input: 'site', device: `dev-${d}`, state: 'online' })).toBe(1);
    }
    expect(after.value('etg_kafka_connected')).toBe(1);
    expect(after.value('etg_kafka_sent_batches_total')).toBeGreaterThan(0);
    const latency = after.family('etg_kafka_send_duration_seconds');
    expect(latency?.type).toBe('HISTOGRAM');
    expect(after.sample('etg_kafka_send_duration_seconds_count', { outcome: 'ok' })).toBeGreaterThan(0);
    expect(after.sample('etg_kafka_send_duration_seconds_bucket', { outcome: 'ok', le: '+Inf' })).toBe(after.sample('etg_kafka_send_duration_seconds_count', { outcome: 'ok' }));

    // The heartbeat: deviceId = gateway id, figures that include what just flowed.
    const health = await waitFor('a gateway-health event counting the readings', async () => {
      const records = await readTopicWithKcat(kafka, gw.topic('gateway-health')).catch(() => []);
      return records.map((r) => JSON.parse(r.value) as GatewayHealthEvent).find((e) => (e.figures.eventsInTotal ?? 0) >= 1201);
    });
    expect(health.deviceId).toBe(gatewayId);
    expect(health.gatewayId).toBe(gatewayId);
    expect(health.figures).toMatchObject({ deadLetters: 1, devicesOnline: 6, drops: 0 });
    // 0 for a moment when a send failed (e.g. the first one to a topic Kafka is still creating).
    expect([0, 1]).toContain(health.figures.kafkaConnected);
    for (const key of ['eventsInPerSecond', 'eventsOutPerSecond', 'backlog', 'oldestPendingAgeSeconds', 'gaps', 'eventsOutTotal']) {
      expect(typeof health.figures[key], key).toBe('number');
    }
    expect(await gw.close()).toBe(0);
  });
});

describe('/readyz of a running gateway', () => {
  let blackHole: Server | undefined;
  const sockets = new Set<Socket>();
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => blackHole?.close(resolve) ?? resolve(undefined));
  });

  it('is 200 while Kafka does not answer (the body says so) and 503 while the gateway stops', async () => {
    // A "broker" that accepts connections and never answers: sends hang until the request timeout.
    blackHole = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => blackHole?.listen(0, '127.0.0.1', resolve));
    const address = blackHole.address();
    const brokerPort = typeof address === 'object' && address ? address.port : 0;
    const port = await freePort();
    const gw = await MqttGateway.start({
      name: 'obs-ready',
      brokers: [`127.0.0.1:${brokerPort}`],
      overrides: {
        http: { port },
        health: { interval: 0 },
        kafka: { brokers: [`127.0.0.1:${brokerPort}`], connectionTimeout: '20s', requestTimeout: '20s', retry: { initial: '200ms', max: '1s' } },
        shutdown: { drainTimeout: '5s' },
      },
    });
    cleanups.push(() => gw.kill());
    const { gateway } = gw;
    await gw.publisher.publishMany(gw.sensors, 0, 50, 5);

    const backlog = await waitFor('the 100 readings to wait in the buffer', async () => {
      const e = await metrics(port);
      return e.value('etg_buffer_pending_events', { family: 'readings' }) === 100 ? e : undefined;
    });
    expect(backlog.value('etg_kafka_connected')).toBe(0);
    const ready = await readyz(port);
    expect(ready.status).toBe(200);
    expect(ready.body.ready).toBe(true);
    expect(ready.body.kafka.connected).toBe(false);
    expect(ready.body.kafka.note).toMatch(/does not make the gateway unready/);
    await waitFor('the oldest pending age to grow', async () => ((await metrics(port)).value('etg_buffer_oldest_pending_age_seconds') ?? 0) > 0);

    gateway.child.kill('SIGTERM');
    // Inputs stop first, then the drain runs against the silent broker: the listener answers 503 meanwhile.
    const stopping = await waitFor('/readyz to answer 503 while stopping', async () => {
      const r = await readyz(port);
      return r.status === 503 ? r : undefined;
    }, { intervalMs: 20 });
    expect(stopping.body.reasons.join()).toMatch(/inputs not started/);
    expect((await gateway.exited).code).toBe(0);
  });

  it('is 503 while the buffer cannot commit (disk full) and 200 again when it can; nothing is lost', async () => {
    const port = await freePort();
    // SIGXFSZ ignored (inherited through exec), so a write past RLIMIT_FSIZE fails with EFBIG like a full disk.
    const gw = await MqttGateway.start({ name: 'obs-full', overrides: { http: { port }, health: { interval: 0 } }, wrapper: ['sh', '-c', 'trap "" XFSZ; exec "$0" "$@"'] });
    cleanups.push(() => gw.kill());
    expect((await readyz(port)).status).toBe(200);
    const pid = String(gw.gateway.child.pid);

    execFileSync('prlimit', ['--pid', pid, '--fsize=1:unlimited']);
    const published = gw.publisher.publishMany(gw.sensors, 0, 20, 2);
    const full = await waitFor('/readyz to answer 503 (commits fail)', async () => {
      const r = await readyz(port);
      return r.status === 503 ? r : undefined;
    });
    // The commits stall (retried every second) rather than fail: nothing is acknowledged, nothing rejected.
    expect(full.body.reasons.join()).toMatch(/buffer not writable: GW_BUFFER_DISK_FULL/);
    const stalled = await metrics(port);
    expect(stalled.value('etg_buffer_write_stalled')).toBe(1);
    expect(stalled.value('etg_ingest_commit_failures_total', { input: 'site' })).toBe(0);

    execFileSync('prlimit', ['--pid', pid, '--fsize=unlimited:unlimited']);
    await waitFor('/readyz to answer 200 again', async () => (await readyz(port)).status === 200, { timeoutMs: 60_000 });
    await published; // every message acknowledged once committed (the broker redelivered the others)
    const records = await readTopic(kafka, gw.topic('readings'), 40);
    expect(new Set(records.map((r) => (JSON.parse(r.value) as { id: string }).id)).size).toBe(40);
    expect(await gw.close()).toBe(0);
  });
});
