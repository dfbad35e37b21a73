/**
 * What a buffer file holds, read with the buffer's read-only reader (safe while the gateway runs): the backlog per
 * priority and per topic, the age of the oldest pending event, the delivered events kept for replay, file sizes.
 * The figures come from one read transaction (BufferReader.snapshot); this module only arranges them per topic.
 */
import type { z } from 'zod';
import { bufferFileSizes } from '../buffer/file.js';
import type { BufferReader } from '../buffer/reader.js';
import type { TopicsConfig } from '../config/schema.js';
import { topicFor } from '../events/topics.js';

export interface BufferReport {
  path: string;
  pending: {
    total: number;
    /** Lower priority number drains first; `types` lists the event types pending at that priority. */
    byPriority: { priority: number; types: Record<string, number>; count: number }[];
    byTopic: Record<string, number>;
    oldestReceivedAt: string | null;
    oldestAgeMs: number | null;
  };
  retained: {
    count: number;
    /** received_at of the oldest and newest delivered event still kept. */
    oldestReceivedAt: string | null;
    newestReceivedAt: string | null;
  };
  files: { db: number; wal: number; shm: number; total: number };
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function readBufferReport(reader: BufferReader, path: string, topics: z.infer<typeof TopicsConfig>, now: number): BufferReport {
  const snapshot = reader.snapshot();
  const priorities = new Map<number, { priority: number; types: Record<string, number>; count: number }>();
  for (const row of snapshot.pendingByPriorityAndType) {
    let entry = priorities.get(row.priority);
    if (!entry) {
      entry = { priority: row.priority, types: {}, count: 0 };
      priorities.set(row.priority, entry);
    }
    entry.types[row.type] = row.n;
    entry.count += row.n;
  }
  const byTopic: Record<string, number> = {};
  for (const row of snapshot.pendingByFamily) {
    const topic = topicFor(topics, row.family);
    byTopic[topic] = (byTopic[topic] ?? 0) + row.n;
  }
  const oldest = snapshot.oldestPendingAt;
  const files = bufferFileSizes(path);
  return {
    path,
    pending: {
      total: snapshot.pendingByPriorityAndType.reduce((sum, r) => sum + r.n, 0),
      byPriority: [...priorities.values()],
      byTopic,
      oldestReceivedAt: iso(oldest),
      oldestAgeMs: oldest === null ? null : Math.max(0, now - oldest),
    },
    retained: {
      count: snapshot.retained.count,
      oldestReceivedAt: iso(snapshot.retained.oldestReceivedAt),
      newestReceivedAt: iso(snapshot.retained.newestReceivedAt),
    },
    files: { ...files, total: files.db + files.wal + files.shm },
  };
}
