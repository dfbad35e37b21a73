import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { waitFor } from './wait.js';

const run = promisify(execFile);

export interface ReadRecord {
  key: string;
  value: string;
  /** The value as it is on the topic (e.g. the schema registry wire format). */
  bytes: Buffer | null;
  headers: Record<string, string>;
  partition: number;
  offset: string;
}

/** Reads a topic from the beginning with kafkajs until `count` records arrived (or throws at the deadline). */
export async function readTopic(bootstrap: string, topic: string, count: number, timeoutMs = 60_000): Promise<ReadRecord[]> {
  const kafka = new Kafka({ clientId: 'test-reader', brokers: [bootstrap], logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({
    groupId: `test-reader-${topic}-${Math.random().toString(36).slice(2)}`,
    maxWaitTimeInMs: 250,
    sessionTimeout: 10_000,
    heartbeatInterval: 1000,
  });
  const records: ReadRecord[] = [];
  // A rebalance may hand a batch over twice; a record is identified by partition and offset.
  const seen = new Set<string>();
  await waitForTopic(bootstrap, topic, timeoutMs);
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachBatchAutoResolve: true,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          const position = `${batch.partition}:${m.offset}`;
          if (seen.has(position)) continue;
          seen.add(position);
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(m.headers ?? {})) headers[k] = Buffer.isBuffer(v) ? v.toString() : String(v);
          records.push({ key: m.key?.toString() ?? '', value: m.value?.toString() ?? '', bytes: m.value, headers, partition: batch.partition, offset: m.offset });
        }
      },
    });
    await waitFor(`${count} records on ${topic} (have ${records.length})`, () => records.length >= count, { timeoutMs });
    return records;
  } finally {
    await consumer.disconnect();
  }
}

/** Waits until the topic exists and every partition has a leader (the gateway creates topics on first send). */
export async function waitForTopic(bootstrap: string, topic: string, timeoutMs = 60_000): Promise<void> {
  const kafka = new Kafka({ clientId: 'test-admin', brokers: [bootstrap], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    await waitFor(`topic ${topic}`, async () => {
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
      const partitions = topics[0]?.partitions ?? [];
      return partitions.length > 0 && partitions.every((p) => p.leader >= 0);
    }, { timeoutMs, intervalMs: 200 });
  } finally {
    await admin.disconnect();
  }
}

/** Counts what a topic holds right now (sum of high watermarks minus low). */
export async function topicSize(bootstrap: string, topic: string): Promise<number> {
  const kafka = new Kafka({ clientId: 'test-admin', brokers: [bootstrap], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((sum, o) => sum + Number(o.high) - Number(o.low), 0);
  } catch {
    return 0;
  } finally {
    await admin.disconnect();
  }
}

/** Reads a whole topic with the third-party client kcat: one JSON value per line. */
export async function readTopicWithKcat(bootstrap: string, topic: string): Promise<{ key: string; value: string }[]> {
  const { stdout } = await run('kcat', ['-b', bootstrap, '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%k\t%s\n'], {
    maxBuffer: 512 * 1024 * 1024,
  });
  return stdout
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => {
      const tab = line.indexOf('\t');
      return { key: line.slice(0, tab), value: line.slice(tab + 1) };
    });
}

/**
 * Reads a topic of gateway events until `count` distinct event ids arrived, and at least everything the topic held
 * when called. At least once: a batch the forwarder sent again (a partial failure, a leader moving) repeats records
 * with the same ids; `distinct` keeps the first record of each id, in the order Kafka holds them per partition,
 * `records` everything read. One deadline for the whole read.
 */
export async function readDistinctRecords(bootstrap: string, topic: string, count: number, timeoutMs = 90_000): Promise<{ records: ReadRecord[]; distinct: ReadRecord[] }> {
  const deadline = Date.now() + timeoutMs;
  let want = Math.max(count, await topicSize(bootstrap, topic));
  for (;;) {
    const records = await readTopic(bootstrap, topic, want, Math.max(1000, deadline - Date.now()));
    const seen = new Set<string>();
    const distinct = records.filter((r) => {
      const id = (JSON.parse(r.value) as { id?: string }).id ?? `${r.partition}:${r.offset}`;
      if (seen.has(id)) return false;
      seen.add(id);
      return true;
    });
    if (distinct.length >= count) return { records, distinct };
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${count} distinct events on ${topic} (have ${distinct.length})`);
    want = count + (records.length - distinct.length);
  }
}

/** The same, as the events themselves (the first copy of each id). */
export async function readDistinctEvents<T extends { id: string }>(bootstrap: string, topic: string, count: number, timeoutMs = 90_000): Promise<T[]> {
  return (await readDistinctRecords(bootstrap, topic, count, timeoutMs)).distinct.map((r) => JSON.parse(r.value) as T);
}
