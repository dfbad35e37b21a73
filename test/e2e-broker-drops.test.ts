/**
 * Messages the MQTT broker drops, against real Mosquitto 2.0 processes (one per test, on a free port) and the
 * real Kafka: the gateway's persistent session is away while a publisher sends 3,000 QoS 1 messages, all of them
 * acknowledged by the broker. With Debian's default limits (max_queued_messages 1000) the broker keeps 1,000 and
 * discards 2,000; the gateway must say so (metric, warning, degraded in /readyz and the gateway-health event) with
 * the exact count. With the shipped settings (config/mosquitto/edge-telemetry-gateway.conf) nothing is dropped.
 * `sys_interval 1` only makes the broker publish its statistics every second instead of every ten.
 * The full-speed burst against both, with the default sys_interval: bench/faults/burst.mjs (RELIABILITY.md).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { freePort, startMosquitto, type MosquittoProfile } from '../scripts/mosquitto.mjs';
import type { GatewayHealthEvent, ReadingEvent } from '../src/events/schema.js';
import { GatewayProcess, writeTestConfig } from './support/gateway-process.js';
import { readTopic, readTopicWithKcat } from './support/kafka.js';
import { parseExposition } from './support/prometheus.js';
import { SensorPublisher } from './support/publisher.js';
import { uniqueName, waitFor } from './support/wait.js';

const kafka = inject('kafkaBootstrap');
const MESSAGES = 3000;
const DEVICES = 10;

interface Readyz {
  ready: boolean;
  status: 'ok' | 'degraded';
  problems: { input: string; code: string; count?: number; message: string }[];
}

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A private Mosquitto with `profile`, a gateway whose session is away while MESSAGES are published, the gateway back. */
async function publishWhileGatewayAway(profile: MosquittoProfile) {
  const dataDir = mkdtempSync(join(tmpdir(), `etg-drops-${profile}-`));
  const broker = await startMosquitto({ dataDir, persistence: true, profile, extraConfig: ['sys_interval 1'] });
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  cleanups.push(() => broker.stop());
  const gatewayId = uniqueName(`drops-${profile}`);
  const prefix = `${gatewayId}.`;
  const port = await freePort();
  const { file } = writeTestConfig({ gatewayId, brokers: [kafka], mqttUrl: broker.url, topicPrefix: prefix, overrides: { http: { port }, health: { interval: '2s' } } });

  // First run: the persistent session and its subscription exist on the broker; then the gateway goes away.
  const first = new GatewayProcess(file);
  cleanups.push(() => first.kill());
  await first.ready();
  expect(await first.stop()).toBe(0);

  const publisher = await SensorPublisher.connect(broker.url, `${gatewayId}-pub`);
  cleanups.push(() => publisher.close());
  await publisher.publishMany(`${gatewayId}/sensors`, 0, MESSAGES, DEVICES);
  expect(publisher.acked.size).toBe(MESSAGES); // the broker acknowledged every one of them

  const gateway = new GatewayProcess(file);
  cleanups.push(() => gateway.kill());
  await gateway.ready();
  const metrics = async () => parseExposition(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
  const readyz = async () => (await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()) as Readyz;
  return { broker, gateway, prefix, metrics, readyz };
}

describe('MQTT broker drops, against real Mosquitto', () => {
  it("Debian's defaults: the broker drops 2,000 of 3,000 acknowledged messages, and the gateway says so with the exact count", async () => {
    const { gateway, prefix, metrics, readyz } = await publishWhileGatewayAway('stock');

    // The broker kept max_queued_messages (1,000): that many readings arrive, twice (temperature, humidity).
    const readings = await readTopic(kafka, `${prefix}readings`, 1000 * 2, 120_000);
    const numbers = new Set(readings.map((r) => (JSON.parse(r.value) as ReadingEvent).value).filter((v) => typeof v === 'number' && Number.isInteger(v)));
    expect(numbers.size).toBe(1000);

    // Metric: the broker's own count, which here (one subscriber) is exactly what this gateway lost.
    const m = await waitFor('the drop counter in /metrics', async () => {
      const e = await metrics();
      return e.value('etg_mqtt_broker_dropped_messages_total', { input: 'site' }) === MESSAGES - 1000 ? e : undefined;
    });
    expect(m.value('etg_mqtt_broker_stats_seen', { input: 'site' })).toBe(1);
    expect(m.value('etg_gateway_degraded')).toBe(1);

    // Health: degraded, still ready (restarting would bring nothing back), the problem with its count.
    const health = await readyz();
    expect(health).toMatchObject({ ready: true, status: 'degraded', problems: [{ input: 'site', code: 'GW_MQTT_BROKER_DROPPED', count: 2000 }] });
    expect(health.problems[0]?.message).toContain('config/mosquitto/edge-telemetry-gateway.conf');

    // Log: a warning with the stable code.
    const warning = gateway.logs.find((l) => l.code === 'GW_MQTT_BROKER_DROPPED');
    expect(warning).toMatchObject({ level: 40, input: 'site', dropped: 2000 });

    // The gateway-health event on Kafka, read with ours and with kcat.
    const healthTopic = `${prefix}gateway-health`;
    const degraded = (e: GatewayHealthEvent): boolean => e.status === 'degraded' && e.problems?.[0]?.count === 2000 && e.figures.brokerDroppedMessages === 2000;
    await waitFor('a degraded gateway-health event', async () => (await readTopic(kafka, healthTopic, 1)).some((r) => degraded(JSON.parse(r.value) as GatewayHealthEvent)), { timeoutMs: 60_000, intervalMs: 500 });
    const viaKcat = (await readTopicWithKcat(kafka, healthTopic)).map((r) => JSON.parse(r.value) as GatewayHealthEvent);
    const event = viaKcat.find(degraded);
    expect(event?.figures.degraded).toBe(1);
    expect(event?.problems?.[0]).toMatchObject({ input: 'site', code: 'GW_MQTT_BROKER_DROPPED' });
  }, 240_000);

  it('the shipped settings: all 3,000 arrive, the counter stays 0, health ok', async () => {
    const { prefix, metrics, readyz, gateway } = await publishWhileGatewayAway('shipped');
    const readings = await readTopic(kafka, `${prefix}readings`, MESSAGES * 2, 120_000);
    const numbers = new Set(readings.map((r) => (JSON.parse(r.value) as ReadingEvent).value).filter((v) => typeof v === 'number' && Number.isInteger(v)));
    expect(numbers.size).toBe(MESSAGES);

    // A heartbeat after the backlog arrived: the broker's statistics were read, and they report no drop.
    const healthTopic = `${prefix}gateway-health`;
    const records = await waitFor('a gateway-health event after the statistics arrived', async () => {
      const events = (await readTopic(kafka, healthTopic, 1)).map((r) => JSON.parse(r.value) as GatewayHealthEvent);
      return events.some((e) => (e.figures.eventsInTotal ?? 0) >= MESSAGES * 2) ? events : undefined;
    }, { timeoutMs: 60_000, intervalMs: 500 });
    for (const e of records) {
      expect(e.status).toBe('ok');
      expect(e.problems).toEqual([]);
      expect(e.figures.degraded).toBe(0);
      expect(e.figures.brokerDroppedMessages).toBe(0);
    }
    const m = await waitFor('statistics seen', async () => {
      const e = await metrics();
      return e.value('etg_mqtt_broker_stats_seen', { input: 'site' }) === 1 ? e : undefined;
    });
    expect(m.value('etg_mqtt_broker_dropped_messages_total', { input: 'site' })).toBe(0);
    expect(m.value('etg_gateway_degraded')).toBe(0);
    expect(await readyz()).toMatchObject({ ready: true, status: 'ok', problems: [] });
    expect(gateway.logs.filter((l) => l.code === 'GW_MQTT_BROKER_DROPPED' || l.code === 'GW_MQTT_DROPS_UNMONITORED')).toEqual([]);
  }, 240_000);
});
