/**
 * Reads one topic from a start point (the beginning, or the first offset at or after a time) up to the end
 * offsets captured when the read starts, so an audit describes a fixed window even while producers keep writing.
 * Uses a throw-away consumer group that never commits offsets: auditing leaves no trace on the cluster.
 */
import { randomUUID } from 'node:crypto';
import type { Consumer, KafkaConfig } from 'kafkajs';
import { GatewayError, errorMessage } from '../errors.js';
import type { AuditRecord } from './checker.js';
import { withoutWireFraming } from '../registry/wire-format.js';

export interface TopicReadOptions {
  brokers: string[];
  /** TLS/SASL for secured brokers (see src/security/kafka-security.ts). */
  security?: Pick<KafkaConfig, 'ssl' | 'sasl'>;
  topic: string;
  /** Start at the first record whose timestamp is at or after this time (epoch ms); default the beginning. */
  sinceMs?: number;
  clientId?: string;
  /** Give up when the end offsets are not reached in this time. */
  timeoutMs?: number;
  onRecord(record: AuditRecord): void;
}

export interface TopicReadResult {
  records: number;
  partitions: { partition: number; start: string; end: string }[];
}

/** consumer.seek() throws until the group is initialized, which happens inside run() after it resolved. */
async function seekWhenReady(consumer: Consumer, topic: string, next: ReadonlyMap<number, bigint>): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      for (const [partition, offset] of next) consumer.seek({ topic, partition, offset: offset.toString() });
      return;
    } catch (err) {
      if (attempt >= 200) throw err;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

export async function readTopicWindow(options: TopicReadOptions): Promise<TopicReadResult> {
  // Loaded only when audit runs: `run` registers that command too and need not carry kafkajs.
  const { Kafka, logLevel } = await import('kafkajs');
  const kafka = new Kafka({
    clientId: options.clientId ?? 'etg-audit',
    brokers: options.brokers,
    ...options.security,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 5000,
    retry: { retries: 3 },
  });
  const admin = kafka.admin();
  const fail = (what: string, err: unknown): GatewayError =>
    new GatewayError('GW_KAFKA_READ', `${what} of topic ${options.topic} on ${options.brokers.join(',')}: ${errorMessage(err)} (check --brokers and --topic)`, {
      cause: err,
    });
  let ends: Map<number, bigint>;
  let starts: Map<number, bigint>;
  try {
    await admin.connect();
    const { topics } = await admin.fetchTopicMetadata({ topics: [options.topic] });
    if ((topics[0]?.partitions.length ?? 0) === 0) throw new Error('the topic does not exist');
    const offsets = await admin.fetchTopicOffsets(options.topic);
    ends = new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
    const lows = new Map(offsets.map((o) => [o.partition, BigInt(o.low)]));
    if (options.sinceMs !== undefined) {
      const byTime = await admin.fetchTopicOffsetsByTimestamp(options.topic, options.sinceMs);
      starts = new Map(
        byTime.map((o) => {
          const end = ends.get(o.partition) ?? 0n;
          const at = BigInt(o.offset);
          return [o.partition, at < 0n ? end : at];
        }),
      );
    } else {
      starts = lows;
    }
  } catch (err) {
    throw fail('cannot read the offsets', err);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }

  const partitions = [...ends.keys()].sort((a, b) => a - b).map((p) => ({ partition: p, start: (starts.get(p) ?? 0n).toString(), end: (ends.get(p) ?? 0n).toString() }));
  /** Next offset expected per partition still being read. */
  const next = new Map<number, bigint>();
  for (const p of partitions) if (BigInt(p.start) < BigInt(p.end)) next.set(p.partition, BigInt(p.start));
  let records = 0;
  if (next.size === 0) return { records, partitions };

  const consumer = kafka.consumer({
    groupId: `etg-audit-${randomUUID()}`,
    maxWaitTimeInMs: 250,
    maxBytes: 16 * 1024 * 1024,
    maxBytesPerPartition: 8 * 1024 * 1024,
    sessionTimeout: 30_000,
    heartbeatInterval: 3000,
  });
  let settle: { resolve: () => void; reject: (err: Error) => void } | undefined;
  const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  const timer = setTimeout(
    () => settle?.reject(fail('timed out reading', new Error(`${records} records read; partitions still short: ${[...next.keys()].join(', ')}`))),
    options.timeoutMs ?? 600_000,
  );
  try {
    await consumer.connect();
    await consumer.subscribe({ topic: options.topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      eachBatch: async ({ batch }) => {
        const expected = next.get(batch.partition);
        if (expected === undefined) return;
        const end = ends.get(batch.partition) ?? 0n;
        let position = expected;
        for (const m of batch.messages) {
          const offset = BigInt(m.offset);
          // A rebalance or a seek may hand records over again: each offset counts once.
          if (offset < position || offset >= end) continue;
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(m.headers ?? {})) if (v !== undefined) headers[k] = Buffer.isBuffer(v) ? v.toString() : String(v);
          options.onRecord({ partition: batch.partition, offset: m.offset, value: m.value ? Buffer.from(withoutWireFraming(m.value)).toString() : null, headers });
          records += 1;
          position = offset + 1n;
        }
        // The batch's last offset covers records the client filtered out (e.g. control records).
        const last = BigInt(batch.lastOffset());
        if (last + 1n > position && last + 1n <= end) position = last + 1n;
        if (position >= end) next.delete(batch.partition);
        else next.set(batch.partition, position);
        if (next.size === 0) settle?.resolve();
      },
    });
    // A fresh group starts at the beginning; with --since, jump ahead. Records before the start offset that
    // arrive before the seek takes effect are skipped above, so the seek only saves reading them.
    if (options.sinceMs !== undefined) await seekWhenReady(consumer, options.topic, next);
    await done;
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    throw fail('cannot consume', err);
  } finally {
    clearTimeout(timer);
    await consumer.disconnect().catch(() => undefined);
  }
  return { records, partitions };
}
