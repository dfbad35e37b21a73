/**
 * What a buffer file holds, read with a read-only connection (safe while the gateway runs): the backlog per
 * priority and per topic, the age of the oldest pending event, the delivered events kept for replay, file sizes.
 */
import type Database from 'better-sqlite3';
import type { z } from 'zod';
import type { TopicsConfig } from '../config/schema.js';
import type { EventFamily } from '../events/schema.js';
import { topicFor } from '../forwarder/forwarder.js';
import { bufferFileSizes } from './retained-events.js';

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

export function readBufferReport(db: Database.Database, path: string, topics: z.infer<typeof TopicsConfig>, now: number): BufferReport {
  // One read transaction: every figure describes the same snapshot.
  return db.transaction(() => {
    const byPriorityType = db
      .prepare('SELECT priority, type, COUNT(*) AS n FROM events WHERE delivered_at IS NULL GROUP BY priority, type ORDER BY priority, type')
      .all() as { priority: number; type: string; n: number }[];
    const byFamily = db
      .prepare('SELECT family, COUNT(*) AS n FROM events WHERE delivered_at IS NULL GROUP BY family ORDER BY family')
      .all() as { family: EventFamily; n: number }[];
    const oldest = (db.prepare('SELECT MIN(received_at) AS t FROM events WHERE delivered_at IS NULL').get() as { t: number | null }).t;
    const retained = db
      .prepare('SELECT COUNT(*) AS n, MIN(received_at) AS first, MAX(received_at) AS last FROM events WHERE delivered_at IS NOT NULL')
      .get() as { n: number; first: number | null; last: number | null };

    const priorities = new Map<number, { priority: number; types: Record<string, number>; count: number }>();
    for (const row of byPriorityType) {
      let entry = priorities.get(row.priority);
      if (!entry) {
        entry = { priority: row.priority, types: {}, count: 0 };
        priorities.set(row.priority, entry);
      }
      entry.types[row.type] = row.n;
      entry.count += row.n;
    }
    const byTopic: Record<string, number> = {};
    for (const row of byFamily) {
      const topic = topicFor(topics, row.family);
      byTopic[topic] = (byTopic[topic] ?? 0) + row.n;
    }
    const files = bufferFileSizes(path);
    return {
      path,
      pending: {
        total: byPriorityType.reduce((sum, r) => sum + r.n, 0),
        byPriority: [...priorities.values()],
        byTopic,
        oldestReceivedAt: iso(oldest),
        oldestAgeMs: oldest === null ? null : Math.max(0, now - oldest),
      },
      retained: { count: retained.n, oldestReceivedAt: iso(retained.first), newestReceivedAt: iso(retained.last) },
      files: { ...files, total: files.db + files.wal + files.shm },
    };
  })();
}
