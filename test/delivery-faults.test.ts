import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { openBufferReadOnly } from '../src/buffer/reader.js';
import type { ReadingEvent } from '../src/events/schema.js';
import { findFreePort, startBroker, type BrokerHandle } from '../scripts/kafka-broker.mjs';
import { KAFKA_CLIENTS } from './support/kafka-clients.js';
import { readDistinctRecords, readTopicWithKcat, topicSize } from './support/kafka.js';
import { MqttGateway } from './support/mqtt-gateway.js';
import { waitFor } from './support/wait.js';

function pendingInBuffer(path: string): number {
  const reader = openBufferReadOnly(path);
  try {
    return reader.counts().pending;
  } finally {
    reader.close();
  }
}

describe.each(KAFKA_CLIENTS)('delivery under faults (real processes, real brokers; %s client)', (client) => {
  const sharedKafka = inject('kafkaBootstrap');
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  });

  it('keeps accepting while Kafka is down, survives a restart with the backlog, and delivers everything once Kafka is up', async () => {
    const port = await findFreePort();
    const messages = 3000;

    const gw = await MqttGateway.start({ name: `offline-${client}`, brokers: [`127.0.0.1:${port}`], client });
    cleanups.push(() => gw.kill());
    const { bufferPath, prefix } = gw;
    await gw.publisher.publishMany(gw.sensors, 0, messages, 5);
    // The gateway took every message (it acknowledged them: the broker's in-flight window would stall otherwise).
    await waitFor('the whole backlog committed', () => pendingInBuffer(bufferPath) === messages * 2, { timeoutMs: 60_000 });
    expect((await gw.gateway.waitForLog('kafka send failed; events stay buffered')).code).toBe('GW_KAFKA_SEND');

    // Restart with the backlog: SIGTERM is a clean stop even though Kafka is unreachable.
    const stopCode = await gw.restart('stop', {
      wait: 'started',
      stopped: () => expect(pendingInBuffer(bufferPath)).toBe(messages * 2),
    });
    expect(stopCode).toBe(0);

    const broker: BrokerHandle = await startBroker({ port, dataDir: mkdtempSync(join(tmpdir(), 'etg-kafka-offline-')) });
    cleanups.push(() => broker.stop());
    await waitFor('backlog drained', () => pendingInBuffer(bufferPath) === 0, { timeoutMs: 120_000 });
    // Every event once at least: a batch the broker only half took while it came up is sent again with the same ids.
    const { records, distinct } = await readDistinctRecords(broker.bootstrap, `${prefix}readings`, messages * 2);
    expect(distinct).toHaveLength(messages * 2);
    expect(await topicSize(broker.bootstrap, `${prefix}readings`)).toBeGreaterThanOrEqual(records.length);
    expect(await gw.close()).toBe(0);
  });

  it('loses nothing the broker acknowledged when the gateway is SIGKILLed while ingesting', async () => {
    const messages = 20_000;

    const gw = await MqttGateway.start({ name: `crash-${client}`, brokers: [sharedKafka], client });
    cleanups.push(() => gw.kill());
    const { publisher, prefix } = gw;
    const publishing = publisher.publishMany(gw.sensors, 0, messages, 10, 200);

    // Kill it mid-stream, twice, without warning.
    for (const threshold of [4000, 9000]) {
      await waitFor(`publisher past ${threshold}`, () => publisher.acked.size >= threshold, { timeoutMs: 60_000, intervalMs: 5 });
      await gw.restart('kill', { wait: 'started' });
    }
    await publishing;
    expect(publisher.acked.size).toBe(messages);

    const topic = `${prefix}readings`;
    // Wait for what matters, every acknowledged message, not for a record count: redeliveries after each kill add
    // second copies, so the topic can hold messages * 2 records while the last messages are still being forwarded.
    let missing: number[] = [];
    const temperatures = await waitFor(
      'every acknowledged message on Kafka',
      async () => {
        const events = (await readTopicWithKcat(sharedKafka, topic)).map((r) => JSON.parse(r.value) as ReadingEvent).filter((e) => e.metric === 'temperature');
        const values = new Set(events.map((e) => e.value as number));
        missing = [...publisher.acked].filter((n) => !values.has(n));
        if (missing.length > 0) throw new Error(`${missing.length} acknowledged messages not on Kafka yet, e.g. ${missing.slice(0, 5).join(', ')}`);
        return events;
      },
      { timeoutMs: 120_000, intervalMs: 1000 },
    );
    const seen = new Set(temperatures.map((e) => e.value as number));
    expect(missing).toEqual([]);
    const duplicateIds = temperatures.length - new Set(temperatures.map((e) => e.id)).size;
    console.log(
      `crash test: ${messages} acknowledged, ${temperatures.length} temperature readings on Kafka, ` +
        `${temperatures.length - seen.size} duplicates (${duplicateIds} of them re-sends with the same event id)`,
    );
    expect(await gw.close()).toBe(0);
  });
});
