// The real Kafka broker of test/global-setup.ts answers kafkajs and a third-party client (kcat),
// and a broker killed with SIGKILL comes back on the same port + data dir with its data.

import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import { describe, expect, inject, it } from 'vitest';
import { findFreePort, startBroker, type BrokerHandle } from '../scripts/kafka-broker.mjs';

const execFileP = promisify(execFile);

// kafkajs logs retriable conditions right after a (re)start ("coordinator is loading", ...) as
// ERROR and then retries; a real failure still fails the test by throwing or timing out.
function client(bootstrap: string, retries?: number): Kafka {
  return new Kafka({
    clientId: 'kafka-broker-test',
    brokers: [bootstrap],
    logLevel: logLevel.NOTHING,
    ...(retries === undefined ? {} : { retry: { retries, initialRetryTime: 100, maxRetryTime: 2000 } }),
  });
}

function uniqueTopic(prefix: string): string {
  return `${prefix}-${Date.now()}-${randomUUID().slice(0, 8)}`;
}

/** Produces with acks=-1 and the idempotent producer. */
async function produce(bootstrap: string, topic: string, messages: { key: string; value: string }[]): Promise<void> {
  const producer = client(bootstrap).producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  try {
    const res = await producer.send({ topic, acks: -1, messages });
    expect(res.every((r) => r.errorCode === 0)).toBe(true);
  } finally {
    await producer.disconnect();
  }
}

/** Consumes `count` messages from the beginning with a fresh consumer group ("key value", sorted). */
async function consume(bootstrap: string, topic: string, count: number, timeoutMs = 60_000): Promise<string[]> {
  // short fetch long-poll: disconnect() waits for the fetch in flight (default up to 5 s)
  const consumer = client(bootstrap, 10).consumer({ groupId: `g-${randomUUID()}`, maxWaitTimeInMs: 250 });
  const got: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        got.push(`${message.key?.toString() ?? ''} ${message.value?.toString() ?? ''}`);
      },
    });
    const deadline = Date.now() + timeoutMs;
    while (got.length < count) {
      if (Date.now() > deadline) {
        throw new Error(`consumed ${got.length}/${count} messages of ${topic} in ${timeoutMs} ms: ${got.join(', ')}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await consumer.disconnect();
  }
  return got.sort();
}

describe('Kafka broker (KRaft, real jars)', () => {
  it('answers kafkajs (idempotent acks=-1 producer, consumer) and kcat', async () => {
    const bootstrap = inject('kafkaBootstrap');
    expect(bootstrap).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(process.env.KAFKA_BOOTSTRAP ?? bootstrap).toBe(bootstrap);

    const topic = uniqueTopic('broker-smoke');
    const admin = client(bootstrap, 10).admin();
    await admin.connect();
    try {
      const cluster = await admin.describeCluster();
      expect(cluster.brokers.map((b) => b.nodeId)).toEqual([1]);
      expect(await admin.createTopics({ topics: [{ topic }], waitForLeaders: true })).toBe(true);
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      expect(meta.topics[0]?.partitions).toHaveLength(3); // num.partitions=3
    } finally {
      await admin.disconnect();
    }

    const messages = [1, 2, 3].map((i) => ({ key: `k${i}`, value: `telemetry-${i}` }));
    const expected = messages.map((m) => `${m.key} ${m.value}`).sort();
    await produce(bootstrap, topic, messages);

    expect(await consume(bootstrap, topic, 3)).toEqual(expected);

    // A third-party client (librdkafka) reads the same data.
    const { stdout } = await execFileP(
      'kcat',
      ['-b', bootstrap, '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%k %s\n'],
      { timeout: 60_000 },
    );
    const lines = stdout.split('\n').filter((l) => l.length > 0).sort();
    expect(lines).toEqual(expected);
  });

  it('keeps topics and data across a SIGKILL and a restart on the same port and data dir', async () => {
    const port = await findFreePort();
    const dataDir = await mkdtemp(path.join(os.tmpdir(), `etg-kafka-restart-${port}-`));
    const handles: BrokerHandle[] = [];
    try {
      const first = await startBroker({ port, dataDir });
      handles.push(first);
      const topic = uniqueTopic('broker-restart'); // created by auto.create.topics.enable
      await produce(first.bootstrap, topic, [{ key: 'before-crash', value: 'survives' }]);

      first.kill('SIGKILL');
      expect(await first.waitForExit()).toBe(true);

      const second = await startBroker({ port, dataDir });
      handles.push(second);
      expect(second.pid).not.toBe(first.pid);
      expect(second.clusterId).toBe(first.clusterId);
      expect(second.bootstrap).toBe(first.bootstrap);

      expect(await consume(second.bootstrap, topic, 1)).toEqual(['before-crash survives']);
    } finally {
      for (const h of handles.reverse()) await h.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
