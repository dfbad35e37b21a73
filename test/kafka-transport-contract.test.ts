// The KafkaTransport contract, run against every client (librdkafka, kafkajs) and the real test broker: what a
// send resolves means (every record stored, read back with kcat and kafkajs), key → partition compatible with the
// Java client's murmur2 whichever client produced, a real "too large" refusal from a topic with a small
// max.message.bytes (and the forwarder and replay getting everything through it), failures that reject.
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Kafka, Partitioners, logLevel, type PartitionerArgs } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SqliteBuffer } from '../src/buffer/sqlite-buffer.js';
import { TopicsConfig } from '../src/config/schema.js';
import { isTooLarge, RecordBuilder } from '../src/forwarder/batching.js';
import { Forwarder } from '../src/forwarder/forwarder.js';
import type { KafkaTransport } from '../src/forwarder/kafka-transport.js';
import { Replayer, type ReplayProgress } from '../src/replay/replayer.js';
import { openBufferReadOnly } from '../src/buffer/reader.js';
import { systemClock } from '../src/util/clock.js';
import { createLogger } from '../src/util/logger.js';
import { decodeEvent } from '../src/events/decode.js';
import { KAFKA_CLIENTS, transportFor } from './support/kafka-clients.js';
import { readTopic } from './support/kafka.js';
import { uniqueName, waitFor } from './support/wait.js';

const run = promisify(execFile);

/** kcat's view of a topic: partition, key, value and headers of every record. */
async function kcatRecords(bootstrap: string, topic: string): Promise<{ partition: number; key: string; value: string; headers: string }[]> {
  const { stdout } = await run('kcat', ['-b', bootstrap, '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%p\t%k\t%h\t%s\n'], {
    maxBuffer: 256 * 1024 * 1024,
  });
  return stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((line) => {
      const [partition, key, headers, ...value] = line.split('\t');
      return { partition: Number(partition), key: key ?? '', headers: headers ?? '', value: value.join('\t') };
    });
}

const silentProgress: ReplayProgress = { update: () => undefined, finish: () => undefined };

describe.each(KAFKA_CLIENTS)('KafkaTransport contract: %s client against the real broker', (client) => {
  const bootstrap = inject('kafkaBootstrap');
  const admin = new Kafka({ clientId: uniqueName('contract-admin'), brokers: [bootstrap], logLevel: logLevel.NOTHING }).admin();
  const open: KafkaTransport[] = [];

  async function transport(kafka: Record<string, unknown> = {}): Promise<KafkaTransport> {
    const { transport: t } = await transportFor(client, { brokers: [bootstrap], clientId: uniqueName(`contract-${client}`), ...kafka });
    open.push(t);
    return t;
  }

  beforeAll(async () => {
    await admin.connect();
  });

  afterAll(async () => {
    for (const t of open) await t.close();
    await admin.disconnect();
  });

  it('resolves a send only when every record is stored, with key, value and headers as given', async () => {
    const topic = uniqueName(`contract-${client}`);
    const t = await transport();
    await t.connect();
    const messages = Array.from({ length: 500 }, (_, i) => ({
      key: `dev-${i % 7}`,
      value: JSON.stringify({ n: i, text: 'tab\tand "quotes" ünïcödé' }),
      headers: { ce_id: `id-${i}`, 'content-type': 'application/json' },
    }));
    await t.send([{ topic, messages }]);
    // Resolved means stored: the third-party client sees all of it right away.
    const seen = await kcatRecords(bootstrap, topic);
    expect(seen).toHaveLength(500);
    const byValue = new Map(seen.map((r) => [r.value, r]));
    for (const m of messages) {
      const r = byValue.get(m.value);
      expect(r?.key).toBe(m.key);
      expect(r?.headers).toBe(`ce_id=${m.headers.ce_id},content-type=application/json`);
    }
    // Per key, the records are in send order (one key → one partition).
    const order = new Map<string, number>();
    for (const r of seen) {
      const n = (JSON.parse(r.value) as { n: number }).n;
      expect(n).toBeGreaterThan(order.get(r.key) ?? -1);
      order.set(r.key, n);
    }
    const ours = await readTopic(bootstrap, topic, 500);
    expect(ours.map((r) => r.headers.ce_id).sort()).toEqual(messages.map((m) => m.headers.ce_id).sort());
  });

  it("puts every key on the partition of the Java client's murmur2 (kafkajs DefaultPartitioner)", async () => {
    const topic = uniqueName(`contract-part-${client}`);
    await admin.createTopics({ topics: [{ topic, numPartitions: 6, replicationFactor: 1 }], waitForLeaders: true });
    const t = await transport();
    await t.connect();
    const keys = Array.from({ length: 60 }, (_, i) => `device-${i}-${'x'.repeat(i % 5)}`);
    await t.send([{ topic, messages: keys.map((key) => ({ key, value: key, headers: {} })) }]);
    const partitioner = Partitioners.DefaultPartitioner();
    const partitionMetadata = Array.from({ length: 6 }, (_, p) => ({ partitionId: p, leader: 1, partitionErrorCode: 0, replicas: [1], isr: [1] }));
    const expected = (key: string): number =>
      partitioner({ topic, partitionMetadata, message: { key, value: key } } as unknown as PartitionerArgs);
    const seen = await kcatRecords(bootstrap, topic);
    expect(seen).toHaveLength(keys.length);
    for (const r of seen) expect(r.partition, `partition of key ${r.key}`).toBe(expected(r.key));
    expect(new Set(seen.map((r) => r.partition)).size).toBeGreaterThan(3);
  });

  describe('a topic whose max.message.bytes is 20 000', () => {
    let topic: string;
    const events = 400;

    beforeAll(async () => {
      topic = uniqueName(`contract-small-${client}`);
      await admin.createTopics({
        topics: [{ topic, numPartitions: 1, replicationFactor: 1, configEntries: [{ name: 'max.message.bytes', value: '20000' }] }],
        waitForLeaders: true,
      });
    });

    it('refuses a larger batch with the too-large error every client reports the same way', async () => {
      const t = await transport();
      await t.connect();
      const messages = Array.from({ length: 200 }, (_, i) => ({ key: 'dev-1', value: `${i}:${'v'.repeat(400)}`, headers: {} }));
      const err = await t.send([{ topic, messages }]).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, 'the broker must refuse an 80 kB batch').toBeDefined();
      expect(isTooLarge(err)).toBe(true);
    });

    it('the forwarder shrinks its requests until the broker takes them, and delivers every event once in order', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'etg-contract-'));
      const buffer = new SqliteBuffer({
        path: join(dir, 'b.db'),
        gatewayId: 'gw-contract',
        synchronous: 'NORMAL',
        commitLingerMs: 0,
        maxEventsPerCommit: 10_000,
        maxEvents: 1e6,
        maxBytes: 1e9,
        whenFull: 'block',
        retentionMs: 3_600_000,
        retentionMaxBytes: 1e9,
        clock: systemClock,
      });
      buffer.open();
      const drafts = Array.from({ length: events }, (_, i) => ({
        type: 'reading' as const,
        deviceId: `dev-${i % 3}`,
        metric: 'temperature',
        value: i,
        unit: 'Cel',
        quality: 'good' as const,
        sourceTime: null,
        receivedAt: new Date().toISOString(),
      }));
      await buffer.append(drafts);
      const t = await transport({ batch: { maxBytes: 400_000 } });
      const topics = TopicsConfig.parse({ prefix: '', readings: topic });
      const forwarder = new Forwarder(
        buffer,
        t,
        {
          gatewayId: 'gw-contract',
          topics,
          maxEvents: 5000,
          maxBytes: 400_000,
          lingerMs: 0,
          cloudEvents: 'binary',
          retryInitialMs: 20,
          retryMaxMs: 200,
          drain: { mode: 'oldest-first', liveWindow: 10_000, backlogShare: 0.5 },
          drainDeadlineMs: 5000,
          clock: systemClock,
        },
        createLogger('silent'),
      );
      await forwarder.start();
      try {
        await waitFor('every event delivered', () => buffer.pendingCount === 0, { timeoutMs: 60_000 });
        expect(forwarder.stats.failedSends).toBeGreaterThan(0);
      } finally {
        await forwarder.stop();
      }
      const seen = await kcatRecords(bootstrap, topic);
      const values = seen.map((r) => decodeEvent({ value: r.value, headers: Object.fromEntries(r.headers.split(',').map((h) => h.split('=') as [string, string])) }));
      // A refused request may follow parts that were stored (librdkafka splits a send into its own batches):
      // those come again on the retry as same-id duplicates. In the order of first arrival, every device's seq
      // runs 0, 1, 2, … with nothing missing and nothing later arriving before something earlier.
      const firstSeen = new Map<string, (typeof values)[number]>();
      for (const e of values) if (e.type === 'reading' && !firstSeen.has(e.id)) firstSeen.set(e.id, e);
      const readings = [...firstSeen.values()];
      expect(readings).toHaveLength(events);
      for (const device of ['dev-0', 'dev-1', 'dev-2']) {
        const seqs = readings.filter((e) => e.deviceId === device).map((e) => e.seq);
        expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i));
      }

      // Replay of the same events through the same limit: everything again, split as needed.
      const replayTopic = uniqueName(`contract-small-replay-${client}`);
      await admin.createTopics({
        topics: [{ topic: replayTopic, numPartitions: 1, replicationFactor: 1, configEntries: [{ name: 'max.message.bytes', value: '20000' }] }],
        waitForLeaders: true,
      });
      buffer.close();
      const retained = openBufferReadOnly(join(dir, 'b.db'));
      try {
        const replayer = new Replayer(
          retained,
          await transport({ batch: { maxBytes: 400_000 } }),
          { gatewayId: 'gw-contract', topics, toTopic: replayTopic, maxEvents: 5000, maxBytes: 400_000, cloudEvents: 'structured', dryRun: false, attempts: 3, retryInitialMs: 50, retryMaxMs: 400, clock: systemClock },
          silentProgress,
        );
        const summary = await replayer.run({});
        expect(summary.sent).toBe(events);
      } finally {
        retained.close();
      }
      const replayed = await kcatRecords(bootstrap, replayTopic);
      expect(replayed).toHaveLength(events);
      for (const r of replayed) expect(r.headers).toBe('content-type=application/cloudevents+json,etg_replayed=1');
      const decoded = replayed.map((r) => decodeEvent({ value: r.value, headers: { 'content-type': 'application/cloudevents+json' }, key: r.key }));
      expect(new Set(decoded.map((e) => e.id))).toEqual(new Set(readings.map((e) => e.id)));
      for (const device of ['dev-0', 'dev-1', 'dev-2']) {
        const seqs = decoded.filter((e) => e.deviceId === device).map((e) => e.seq);
        expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i));
      }
    });
  });

  it('rejects connect when no broker answers, and works after reset once one does', async () => {
    const dead = await transportFor(client, { brokers: ['127.0.0.1:1'], clientId: uniqueName('contract-dead'), connectionTimeout: '1s' });
    await expect(dead.transport.connect().then(() => dead.transport.send([{ topic: 'nowhere', messages: [{ key: 'k', value: 'v', headers: {} }] }]))).rejects.toThrow();
    await dead.transport.close();
    const t = await transport();
    const topic = uniqueName(`contract-reset-${client}`);
    await t.connect();
    await t.reset();
    await t.connect();
    await t.send([{ topic, messages: [{ key: 'k', value: 'after reset', headers: {} }] }]);
    expect((await kcatRecords(bootstrap, topic)).map((r) => r.value)).toEqual(['after reset']);
  });

  it('compresses with every codec the client supports, and kcat reads the records back', async () => {
    const codecs = client === 'librdkafka' ? (['gzip', 'lz4', 'zstd', 'snappy'] as const) : (['gzip'] as const);
    for (const compression of codecs) {
      const topic = uniqueName(`contract-${compression}-${client}`);
      const t = await transport({ compression });
      await t.connect();
      const messages = Array.from({ length: 300 }, (_, i) => ({ key: `dev-${i % 4}`, value: `${compression} ${i} ${'abc'.repeat(50)}`, headers: { n: String(i) } }));
      await t.send([{ topic, messages }]);
      await t.close();
      const seen = await kcatRecords(bootstrap, topic);
      expect(seen.map((r) => r.value).sort(), compression).toEqual(messages.map((m) => m.value).sort());
    }
  });

  it('structured and binary records built by the batching module decode to the same event', async () => {
    const topic = uniqueName(`contract-ce-${client}`);
    const t = await transport();
    await t.connect();
    const payload = {
      schemaVersion: 2,
      id: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
      type: 'reading',
      gatewayId: 'gw-ce',
      deviceId: 'dev "quoted"',
      seq: 0,
      metric: 'temperature',
      value: 21.5,
      unit: 'Cel',
      quality: 'good',
      sourceTime: null,
      receivedAt: '2026-11-27T09:30:00.000Z',
    };
    const source = { id: payload.id, deviceId: payload.deviceId, type: 'reading' as const, family: 'readings' as const, eventTime: payload.receivedAt, payload: JSON.stringify(payload) };
    const binary = new RecordBuilder({ gatewayId: 'gw-ce', cloudEvents: 'binary' }).build(source);
    const structured = new RecordBuilder({ gatewayId: 'gw-ce', cloudEvents: 'structured' }).build(source);
    await t.send([{ topic, messages: [binary, structured] }]);
    const records = await readTopic(bootstrap, topic, 2);
    expect(records).toHaveLength(2);
    const [a, b] = records.map((r) => decodeEvent(r));
    expect(a).toEqual(b);
    expect(a?.deviceId).toBe('dev "quoted"');
  });
});
