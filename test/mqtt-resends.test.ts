// Effectively-once MQTT ingest: a message committed to the buffer whose PUBACK the broker never processed (the
// connection or the process died first) is resent by the broker with DUP=1; the input recognises it by its
// receipt (packet id, topic + payload digest) and acknowledges it again without a second event — also in a new
// process that reopened the buffer file. Real Mosquitto, real SQLite files.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { SqliteBuffer } from '../src/buffer/sqlite-buffer.js';
import { MqttInputConfig } from '../src/config/schema.js';
import type { IngestSink, SourceReceipt } from '../src/inputs/input.js';
import { MqttInput, RESEND_WINDOW, mayBeUnacknowledged } from '../src/inputs/mqtt/mqtt-input.js';
import { systemClock } from '../src/util/clock.js';
import { createLogger } from '../src/util/logger.js';
import { openTestBuffer } from './support/buffer.js';
import { uniqueName, waitFor } from './support/wait.js';

/** Receipts and delivered events kept an hour; appends wait when full. */
function openBuffer(path: string): SqliteBuffer {
  return openTestBuffer({ path, gatewayId: 'gw-resends', synchronous: 'NORMAL', whenFull: 'block', retentionMs: 3_600_000, retentionMaxBytes: 1_000_000_000, clock: systemClock });
}

/** Commits for real, but the PUBACK never goes: the commit's promise resolves only after the test is over. */
function commitsWithoutAck(buffer: SqliteBuffer): IngestSink {
  return { append: (drafts, receipt) => buffer.append(drafts, receipt).then(() => new Promise<void>(() => undefined)), flush: () => buffer.flush() };
}

/** Takes messages and never commits them (a process that died before its group commit). */
const neverCommits: IngestSink = { append: () => new Promise<void>(() => undefined), flush: () => undefined };

/** The values of the pending readings, without the probes (-1) that showed the subscription was live. */
function values(buffer: SqliteBuffer): number[] {
  return buffer
    .readPending(100_000)
    .map((e) => (JSON.parse(e.payload) as { value: number }).value)
    .filter((v) => v >= 0);
}

const numbered = (buffer: SqliteBuffer): number => values(buffer).length;

describe('MQTT input: resends of committed messages', () => {
  const url = inject('mqttUrl');
  const stops: (() => Promise<unknown> | void)[] = [];
  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await Promise.resolve().then(stop).catch(() => undefined);
  });

  function input(name: string, sink: IngestSink, buffer: SqliteBuffer, extra: Record<string, unknown> = {}): MqttInput {
    const config = MqttInputConfig.parse({
      type: 'mqtt',
      name: 'site',
      url,
      clientId: name,
      reconnect: { initial: 100, max: 500 },
      subscriptions: [{ topic: `${name}/+`, deviceId: '{1}', format: 'number', metrics: [{ metric: 'n' }] }],
      ...extra,
    });
    const deps = { configDir: '.', driverSearchPaths: [], gatewayId: 'gw', sink, receipts: buffer, logger: createLogger('silent'), clock: systemClock };
    const created = new MqttInput(config, deps);
    stops.push(() => created.abort());
    return created;
  }

  async function publisher(name: string): Promise<mqtt.MqttClient> {
    const client = await mqtt.connectAsync(url, { clientId: `${name}-pub` });
    stops.push(() => client.endAsync());
    return client;
  }

  it('acknowledges a resend again without a second event, also after the buffer file was reopened by a new process', async () => {
    const name = uniqueName('resend');
    const path = join(mkdtempSync(join(tmpdir(), 'etg-resends-')), 'buffer.db');
    const before = openBuffer(path);
    const first = input(name, commitsWithoutAck(before), before);
    await first.start();
    await waitFor('first session subscribed', () => first.stats.connected);
    // The subscription is live once a probe message comes through (a fresh session misses what precedes its SUBACK).
    const pub = await publisher(name);
    await waitFor('probe through', async () => {
      await pub.publishAsync(`${name}/probe`, '-1', { qos: 0 });
      return first.stats.messages > 0;
    });
    for (let i = 0; i < 100; i++) await pub.publishAsync(`${name}/dev-${i % 3}`, String(i), { qos: 1 });
    await waitFor('all 100 committed', () => numbered(before) === 100);
    expect(first.stats.heldAcks).toBe(100);
    // A crash: the connection drops with 100 committed messages unacknowledged, the process (its buffer) is gone.
    await first.abort();
    before.close();

    const after = openBuffer(path);
    stops.push(() => after.close());
    const second = input(name, after, after);
    await second.start();
    const pendingAtRestart = after.pendingCount;
    await waitFor('100 resends recognised', () => second.stats.resendsRecognized === 100);
    expect(after.pendingCount).toBe(pendingAtRestart);
    expect(values(after)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    // Acknowledged this time: a third session of the client gets only what is published next.
    await second.stop();
    const third = input(name, after, after);
    await third.start();
    await waitFor('third session connected', () => third.stats.connected);
    await pub.publishAsync(`${name}/dev-0`, '1000', { qos: 1 });
    await waitFor('the fresh message committed', () => values(after).includes(1000));
    expect(third.stats.messages).toBe(1);
    expect(third.stats.resendsRecognized).toBe(0);
    expect(after.pendingCount).toBe(pendingAtRestart + 1);
  });

  it('turns a resend of a message that was never committed (no receipt) into its event', async () => {
    const name = uniqueName('resend-new');
    const path = join(mkdtempSync(join(tmpdir(), 'etg-resends-')), 'buffer.db');
    const buffer = openBuffer(path);
    stops.push(() => buffer.close());
    const first = input(name, neverCommits, buffer);
    await first.start();
    await waitFor('first session connected', () => first.stats.connected);
    const pub = await publisher(name);
    await waitFor('probe through', async () => {
      await pub.publishAsync(`${name}/probe`, '-1', { qos: 0 });
      return first.stats.messages > 0;
    });
    const probes = first.stats.messages;
    for (let i = 0; i < 20; i++) await pub.publishAsync(`${name}/dev`, String(i), { qos: 1 });
    await waitFor('20 taken', () => first.stats.messages >= 20 + probes);
    await first.abort();

    const second = input(name, buffer, buffer);
    await second.start();
    await waitFor('20 redelivered and committed', () => numbered(buffer) === 20);
    expect(second.stats.resendsRecognized).toBe(0);
    expect(values(buffer)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('with recognizeResends: false, a resend of a committed message is a second event (the documented opt-out)', async () => {
    const name = uniqueName('resend-off');
    const path = join(mkdtempSync(join(tmpdir(), 'etg-resends-')), 'buffer.db');
    const buffer = openBuffer(path);
    stops.push(() => buffer.close());
    const first = input(name, commitsWithoutAck(buffer), buffer, { recognizeResends: false });
    await first.start();
    await waitFor('first session connected', () => first.stats.connected);
    const pub = await publisher(name);
    await waitFor('probe through', async () => {
      await pub.publishAsync(`${name}/probe`, '-1', { qos: 0 });
      return first.stats.messages > 0;
    });
    for (let i = 0; i < 10; i++) await pub.publishAsync(`${name}/dev`, String(i), { qos: 1 });
    await waitFor('10 committed', () => numbered(buffer) === 10);
    await first.abort();
    const second = input(name, buffer, buffer, { recognizeResends: false });
    await second.start();
    await waitFor('10 second events', () => numbered(buffer) === 20);
    expect(second.stats.resendsRecognized).toBe(0);
  });
});

describe('MQTT input: its own Receive Maximum', () => {
  const url = inject('mqttUrl');
  it('never holds more than `inflight` unsent PUBACKs, even from a broker that sends past it', async () => {
    // Mosquitto 2.0.11 releases up to Receive Maximum queued messages on every PUBACK (RELIABILITY.md): with a
    // backlog queued for the session, a slow consumer is sent far more than `inflight` unacknowledged messages.
    const name = uniqueName('window');
    const waiting: (() => void)[] = [];
    const sink: IngestSink = { append: () => new Promise<void>((resolve) => waiting.push(resolve)), flush: () => undefined };
    const config = MqttInputConfig.parse({
      type: 'mqtt',
      name: 'site',
      url,
      clientId: name,
      inflight: 10,
      recognizeResends: false,
      subscriptions: [{ topic: `${name}/+`, deviceId: '{1}', format: 'number', metrics: [{ metric: 'n' }] }],
    });
    const created = new MqttInput(config, { configDir: '.', driverSearchPaths: [], gatewayId: 'gw', sink, receipts: noLedger, logger: createLogger('silent'), clock: systemClock });
    await created.start();
    const pub = await mqtt.connectAsync(url, { clientId: `${name}-pub` });
    try {
      await waitFor('subscribed', async () => {
        await pub.publishAsync(`${name}/probe`, '-1', { qos: 0 });
        return created.stats.messages > 0;
      });
      for (let i = 0; i < 300; i++) await pub.publishAsync(`${name}/dev`, String(i), { qos: 1 });
      let maxHeld = 0;
      // Commit one message at a time; every PUBACK lets the broker send more.
      await waitFor('all 300 taken', () => {
        maxHeld = Math.max(maxHeld, created.stats.heldAcks);
        waiting.shift()?.();
        return created.stats.messages >= 300 && waiting.length === 0;
      }, { intervalMs: 5, timeoutMs: 60_000 });
      expect(maxHeld).toBeLessThanOrEqual(10);
      expect(maxHeld).toBeGreaterThan(0);
    } finally {
      for (const resolve of waiting.splice(0)) resolve();
      await pub.endAsync();
      await created.abort();
    }
  });
});

const noLedger = { find: () => undefined, latestNumber: () => 0, purge: () => 0 };

describe('the resend rule (mayBeUnacknowledged)', () => {
  const receipt: SourceReceipt = { source: 's', key: '7', digest: 'abc' };
  it('matches the same content with fewer than RESEND_WINDOW messages after it, far more than Receive Maximum', () => {
    expect(RESEND_WINDOW).toBe(32_768);
    expect(mayBeUnacknowledged({ digest: 'abc', number: 50 }, receipt.digest, 50)).toBe(true);
    // The fault suite's kill that left 1,317 unprocessed PUBACKs behind inflight = 1,000: still a resend.
    expect(mayBeUnacknowledged({ digest: 'abc', number: 50 }, receipt.digest, 50 + 1_317)).toBe(true);
    expect(mayBeUnacknowledged({ digest: 'abc', number: 50 }, receipt.digest, 50 + RESEND_WINDOW - 1)).toBe(true);
  });
  it('refuses other content, and a receipt with RESEND_WINDOW or more messages after it (a sequential broker cannot reuse its id sooner)', () => {
    expect(mayBeUnacknowledged({ digest: 'xyz', number: 50 }, receipt.digest, 51)).toBe(false);
    expect(mayBeUnacknowledged({ digest: 'abc', number: 50 }, receipt.digest, 50 + RESEND_WINDOW)).toBe(false);
    expect(mayBeUnacknowledged({ digest: 'abc', number: 50 }, receipt.digest, 50 + 65_535)).toBe(false);
  });
});
