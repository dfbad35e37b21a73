/**
 * Read-only access to the events kept in a buffer file, for `replay` and `buffer stats`.
 *
 * The file is opened read-only: in WAL mode a reader never blocks the running gateway's writer and the writer
 * never blocks the reader. Every page is read in its own short read transaction (keyset pagination on `pos`),
 * so a long replay does not pin an old snapshot and keep the WAL from being checkpointed. Only the columns of
 * the original `events` table are used; newer buffer versions may add columns and tables.
 */
import { statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { GatewayError, errorMessage } from '../errors.js';
import type { EventFamily, EventType } from '../events/schema.js';
import type { StoredEvent } from '../buffer/sqlite-buffer.js';
import { nativeModuleError } from '../util/native-module.js';

export interface ReplayFilter {
  /** Inclusive lower bound on received_at (epoch ms). */
  sinceMs?: number;
  /** Exclusive upper bound on received_at (epoch ms). */
  untilMs?: number;
  deviceIds?: readonly string[];
  types?: readonly string[];
  /** Only events at or before this position (taken when the replay starts, so new arrivals are left out). */
  maxPos?: number;
}

export interface ReplayEvent extends StoredEvent {
  receivedAt: number;
}

/** Opens the buffer file read-only; fails with GW_BUFFER_READ naming the file and what to check. */
export function openBufferReadOnly(path: string, busyTimeoutMs = 10_000): Database.Database {
  try {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    // Fails here (not in the middle of a replay) when the file is not a buffer.
    db.prepare('SELECT pos, id, device_id, type, family, priority, event_time, received_at, payload, delivered_at FROM events LIMIT 0').all();
    return db;
  } catch (err) {
    throw nativeModuleError(err, 'better-sqlite3') ?? new GatewayError(
      'GW_BUFFER_READ',
      `cannot read the buffer ${path}: ${errorMessage(err)} (check buffer.path in the config and that this user may read the file and its folder)`,
      { cause: err },
    );
  }
}

function whereClause(filter: ReplayFilter): { sql: string; params: (string | number)[] } {
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

export class RetainedEvents {
  readonly #db: Database.Database;

  constructor(db: Database.Database) {
    this.#db = db;
  }

  /** The newest position in the file (0 when empty). */
  lastPos(): number {
    return (this.#db.prepare('SELECT COALESCE(MAX(pos), 0) AS p FROM events').get() as { p: number }).p;
  }

  /** How many events match, per topic family and type (for the progress ETA and --dry-run). */
  count(filter: ReplayFilter): { total: number; byFamilyAndType: { family: EventFamily; type: EventType; n: number }[] } {
    const { sql, params } = whereClause(filter);
    const rows = this.#db
      .prepare(`SELECT family, type, COUNT(*) AS n FROM events WHERE ${sql} GROUP BY family, type ORDER BY family, type`)
      .all(...params) as { family: EventFamily; type: EventType; n: number }[];
    return { total: rows.reduce((sum, r) => sum + r.n, 0), byFamilyAndType: rows };
  }

  /** A reader of matching events: each call returns those after `afterPos`, in `pos` (commit) order, at most `limit`. */
  pager(filter: ReplayFilter): (afterPos: number, limit: number) => ReplayEvent[] {
    const { sql, params } = whereClause(filter);
    const statement = this.#db.prepare(
      `SELECT pos, id, device_id AS deviceId, type, family, event_time AS eventTime, received_at AS receivedAt, payload
       FROM events WHERE pos > ? AND ${sql} ORDER BY pos LIMIT ?`,
    );
    return (afterPos, limit) => statement.all(afterPos, ...params, limit) as ReplayEvent[];
  }

  close(): void {
    this.#db.close();
  }
}

/** Size on disk of the buffer: the database file plus its WAL and shared-memory files. */
export function bufferFileSizes(path: string): { db: number; wal: number; shm: number } {
  const size = (p: string): number => {
    try {
      return statSync(p).size;
    } catch {
      return 0;
    }
  };
  return { db: size(path), wal: size(`${path}-wal`), shm: size(`${path}-shm`) };
}
