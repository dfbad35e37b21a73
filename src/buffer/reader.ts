/**
 * Read-only access to a buffer file, for the tools that look at it from outside the gateway: `replay`,
 * `buffer stats`, the fault suite's probes. All SQL on the buffer's tables lives in src/buffer/, so a change of
 * the file's layout is made (and its format number raised) in one place.
 *
 * The file is opened read-only: in WAL mode a reader never blocks the running gateway's writer and the writer
 * never blocks the reader. The format is checked as the writer checks it (src/buffer/file.ts): a file written
 * by a newer gateway is refused, not read on a guess. Every replay page is read in its own short read
 * transaction (keyset pagination on `pos`), so a long replay does not pin an old snapshot and keep the WAL from
 * being checkpointed.
 */
import Database from 'better-sqlite3';
import { GatewayError, errorMessage } from '../errors.js';
import type { EventFamily, EventType } from '../events/schema.js';
import { nativeModuleError } from '../util/native-module.js';
import { checkBufferFormat } from './file.js';
import type { StoredEvent } from './sqlite-buffer.js';

/** Which kept events a replay (or its count) takes; every bound is optional. */
export interface EventFilter {
  /** Inclusive lower bound on received_at (epoch ms). */
  sinceMs?: number;
  /** Exclusive upper bound on received_at (epoch ms). */
  untilMs?: number;
  deviceIds?: readonly string[];
  types?: readonly string[];
  /** Only events at or before this position (taken when the replay starts, so new arrivals are left out). */
  maxPos?: number;
}

export interface KeptEvent extends StoredEvent {
  receivedAt: number;
}

/** What `buffer stats` reports, from one read transaction (every figure describes the same snapshot). */
export interface BufferSnapshot {
  /** Pending events per drain priority and type, ordered by priority then type. */
  pendingByPriorityAndType: { priority: number; type: EventType; n: number }[];
  /** Pending events per topic family, ordered by family. */
  pendingByFamily: { family: EventFamily; n: number }[];
  /** received_at of the oldest pending event (epoch ms). */
  oldestPendingAt: number | null;
  /** Delivered events still kept, and the received_at of the oldest and newest of them. */
  retained: { count: number; oldestReceivedAt: number | null; newestReceivedAt: number | null };
}

/** Events in the file: not yet delivered, delivered and kept, and both together. */
export interface BufferCounts {
  pending: number;
  retained: number;
  total: number;
}

/** Opens the buffer file read-only; fails with GW_BUFFER_READ naming the file and what to check. */
export function openBufferReadOnly(path: string, busyTimeoutMs = 10_000): BufferReader {
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    // Fails here (not in the middle of a replay) when the file is not a buffer.
    db.prepare('SELECT pos, id, device_id, type, family, priority, event_time, received_at, payload, delivered_at FROM events LIMIT 0').all();
    db.prepare('SELECT key, value FROM meta LIMIT 0').all();
  } catch (err) {
    throw nativeModuleError(err, 'better-sqlite3') ?? new GatewayError(
      'GW_BUFFER_READ',
      `cannot read the buffer ${path}: ${errorMessage(err)} (check buffer.path in the config and that this user may read the file and its folder)`,
      { cause: err },
    );
  }
  try {
    checkBufferFormat(db, path, 'read it with the gateway version that wrote it');
  } catch (err) {
    db.close();
    throw err;
  }
  return new BufferReader(db);
}

function whereClause(filter: EventFilter): { sql: string; params: (string | number)[] } {
  const parts: string[] = [];
  const params: (string | number)[] = [];
  if (filter.sinceMs !== undefined) {
    parts.push('received_at >= ?');
    params.push(filter.sinceMs);
  }
  if (filter.untilMs !== undefined) {
    parts.push('received_at < ?');
    params.push(filter.untilMs);
  }
  if (filter.maxPos !== undefined) {
    parts.push('pos <= ?');
    params.push(filter.maxPos);
  }
  if (filter.deviceIds && filter.deviceIds.length > 0) {
    parts.push(`device_id IN (${filter.deviceIds.map(() => '?').join(', ')})`);
    params.push(...filter.deviceIds);
  }
  if (filter.types && filter.types.length > 0) {
    parts.push(`type IN (${filter.types.map(() => '?').join(', ')})`);
    params.push(...filter.types);
  }
  return { sql: parts.length > 0 ? parts.join(' AND ') : '1', params };
}

/** The events of one buffer file, read-only (made by openBufferReadOnly, which checks the file first). */
export class BufferReader {
  readonly #db: Database.Database;

  constructor(db: Database.Database) {
    this.#db = db;
  }

  /** The newest position in the file (0 when empty). */
  lastPos(): number {
    return (this.#db.prepare('SELECT COALESCE(MAX(pos), 0) AS p FROM events').get() as { p: number }).p;
  }

  /** How many events match, per topic family and type (for the progress ETA and --dry-run). */
  count(filter: EventFilter): { total: number; byFamilyAndType: { family: EventFamily; type: EventType; n: number }[] } {
    const { sql, params } = whereClause(filter);
    const rows = this.#db
      .prepare(`SELECT family, type, COUNT(*) AS n FROM events WHERE ${sql} GROUP BY family, type ORDER BY family, type`)
      .all(...params) as { family: EventFamily; type: EventType; n: number }[];
    return { total: rows.reduce((sum, r) => sum + r.n, 0), byFamilyAndType: rows };
  }

  /** A reader of matching events: each call returns those after `afterPos`, in `pos` (commit) order, at most `limit`. */
  pager(filter: EventFilter): (afterPos: number, limit: number) => KeptEvent[] {
    const { sql, params } = whereClause(filter);
    const statement = this.#db.prepare(
      `SELECT pos, id, device_id AS deviceId, type, family, event_time AS eventTime, received_at AS receivedAt, payload
       FROM events WHERE pos > ? AND ${sql} ORDER BY pos LIMIT ?`,
    );
    return (afterPos, limit) => statement.all(afterPos, ...params, limit) as KeptEvent[];
  }

  /** Pending, retained and all events, counted in one read transaction. */
  counts(): BufferCounts {
    return this.#db.transaction(() => {
      const pending = (this.#db.prepare('SELECT COUNT(*) AS n FROM events WHERE delivered_at IS NULL').get() as { n: number }).n;
      const total = (this.#db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;
      return { pending, retained: total - pending, total };
    })();
  }

  /** The backlog by priority, type and family, its oldest event, and the delivered events kept. */
  snapshot(): BufferSnapshot {
    const db = this.#db;
    return db.transaction(() => {
      const pendingByPriorityAndType = db
        .prepare('SELECT priority, type, COUNT(*) AS n FROM events WHERE delivered_at IS NULL GROUP BY priority, type ORDER BY priority, type')
        .all() as BufferSnapshot['pendingByPriorityAndType'];
      const pendingByFamily = db
        .prepare('SELECT family, COUNT(*) AS n FROM events WHERE delivered_at IS NULL GROUP BY family ORDER BY family')
        .all() as BufferSnapshot['pendingByFamily'];
      const oldestPendingAt = (db.prepare('SELECT MIN(received_at) AS t FROM events WHERE delivered_at IS NULL').get() as { t: number | null }).t;
      const retained = db
        .prepare('SELECT COUNT(*) AS n, MIN(received_at) AS first, MAX(received_at) AS last FROM events WHERE delivered_at IS NOT NULL')
        .get() as { n: number; first: number | null; last: number | null };
      return {
        pendingByPriorityAndType,
        pendingByFamily,
        oldestPendingAt,
        retained: { count: retained.n, oldestReceivedAt: retained.first, newestReceivedAt: retained.last },
      };
    })();
  }

  close(): void {
    this.#db.close();
  }
}
