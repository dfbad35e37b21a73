/**
 * The buffer: the only place events live between ingest and Kafka (a transactional outbox in one SQLite file).
 *
 * - `append()` resolves only after the events are committed (WAL, synchronous=FULL by default), and many appends
 *   share one commit (group commit): callers that arrive within `commitLinger` ride the same transaction, so the
 *   cost of the fsync is paid once per group instead of once per event.
 * - Each event gets its per-device, per-family `seq` inside the commit; counters live in the same file, so they
 *   survive restarts and never run ahead of what was actually stored.
 * - The forwarder reads pending events by priority, oldest first, and marks them delivered only after Kafka
 *   acknowledged them. Delivered events stay for the retention window (for replay), then are purged.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { v7 as uuidv7 } from 'uuid';
import { GatewayError, errorMessage } from '../errors.js';
import {
  FAMILY_OF_TYPE,
  PRIORITY_OF_TYPE,
  SCHEMA_VERSION,
  type EventDraft,
  type EventFamily,
  type EventType,
} from '../events/schema.js';
import type { Clock } from '../util/clock.js';

export interface BufferOptions {
  path: string;
  gatewayId: string;
  synchronous: 'FULL' | 'NORMAL';
  /** Longest wait before a group is committed (0: at the next turn of the event loop). */
  commitLingerMs: number;
  maxEventsPerCommit: number;
  /** How long delivered events are kept (0: delete on delivery). */
  retentionMs: number;
  clock: Clock;
}

/** One stored event as the forwarder needs it: the JSON value and what goes into the record's key and headers. */
export interface StoredEvent {
  pos: number;
  id: string;
  deviceId: string;
  type: EventType;
  family: EventFamily;
  /** sourceTime when the device has a clock, else receivedAt (CloudEvents `time`). */
  eventTime: string;
  payload: string;
}

export interface BufferStats {
  pending: number;
  pendingByFamily: Record<string, number>;
  retained: number;
  oldestPendingAt: number | null;
  fileBytes: number;
}

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  pos          INTEGER PRIMARY KEY,
  id           TEXT    NOT NULL,
  device_id    TEXT    NOT NULL,
  type         TEXT    NOT NULL,
  family       TEXT    NOT NULL,
  priority     INTEGER NOT NULL,
  event_time   TEXT    NOT NULL,
  received_at  INTEGER NOT NULL,
  payload      TEXT    NOT NULL,
  delivered_at INTEGER
);
CREATE INDEX IF NOT EXISTS events_pending ON events (priority, pos) WHERE delivered_at IS NULL;
CREATE INDEX IF NOT EXISTS events_delivered ON events (delivered_at) WHERE delivered_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS sequences (
  device_id TEXT    NOT NULL,
  family    TEXT    NOT NULL,
  next_seq  INTEGER NOT NULL,
  PRIMARY KEY (device_id, family)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
`;

const BUFFER_FORMAT = '1';

type Statement = Database.Statement<unknown[], unknown>;

export class SqliteBuffer {
  readonly #options: BufferOptions;
  #db: Database.Database | undefined;
  #insert: Statement | undefined;
  #upsertSeq: Statement | undefined;
  #markDelivered: Statement | undefined;
  #deleteDelivered: Statement | undefined;
  #readPending: Statement | undefined;
  /** Next seq per `deviceId \0 family`. */
  readonly #nextSeq = new Map<string, number>();
  #queued: EventDraft[] = [];
  #waiters: Waiter[] = [];
  #timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  #pending = 0;
  #closed = false;
  #listeners = new Set<() => void>();

  constructor(options: BufferOptions) {
    this.#options = options;
  }

  get path(): string {
    return this.#options.path;
  }

  /** Number of committed events not yet delivered. */
  get pendingCount(): number {
    return this.#pending;
  }

  /** Events accepted by append() and waiting for their commit. */
  get queuedCount(): number {
    return this.#queued.length;
  }

  open(): void {
    const { path, synchronous } = this.#options;
    let db: Database.Database;
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      db = new Database(path);
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${synchronous}`);
      db.pragma('busy_timeout = 5000');
      db.pragma('wal_autocheckpoint = 4000');
      db.exec(SCHEMA);
    } catch (err) {
      throw new GatewayError('GW_BUFFER_OPEN', `cannot open the buffer ${path}: ${errorMessage(err)} (check buffer.path and its permissions)`, {
        cause: err,
      });
    }
    const format = db.prepare('SELECT value FROM meta WHERE key = ?').get('format') as { value: string } | undefined;
    if (format === undefined) db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run('format', BUFFER_FORMAT);
    else if (format.value !== BUFFER_FORMAT) {
      db.close();
      throw new GatewayError('GW_BUFFER_OPEN', `${path} has buffer format ${format.value}, this version reads ${BUFFER_FORMAT}`);
    }
    this.#db = db;
    this.#insert = db.prepare(
      'INSERT INTO events (id, device_id, type, family, priority, event_time, received_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.#upsertSeq = db.prepare(
      'INSERT INTO sequences (device_id, family, next_seq) VALUES (?, ?, ?) ON CONFLICT (device_id, family) DO UPDATE SET next_seq = excluded.next_seq',
    );
    this.#markDelivered = db.prepare('UPDATE events SET delivered_at = ? WHERE pos = ?');
    this.#deleteDelivered = db.prepare('DELETE FROM events WHERE pos = ?');
    this.#readPending = db.prepare(
      'SELECT pos, id, device_id AS deviceId, type, family, event_time AS eventTime, payload FROM events WHERE delivered_at IS NULL ORDER BY priority, pos LIMIT ?',
    );
    this.#loadSequences();
    this.#pending = (db.prepare('SELECT COUNT(*) AS n FROM events WHERE delivered_at IS NULL').get() as { n: number }).n;
  }

  #loadSequences(): void {
    this.#nextSeq.clear();
    const rows = this.#database().prepare('SELECT device_id, family, next_seq FROM sequences').all() as {
      device_id: string;
      family: string;
      next_seq: number;
    }[];
    for (const row of rows) this.#nextSeq.set(`${row.device_id}\u0000${row.family}`, row.next_seq);
  }

  #database(): Database.Database {
    if (!this.#db) throw new GatewayError('GW_BUFFER_OPEN', 'the buffer is not open');
    return this.#db;
  }

  /**
   * Accepts events; resolves once they are committed (durable), rejects when the commit failed (nothing of the
   * group was stored; the caller must not acknowledge its source).
   */
  append(drafts: readonly EventDraft[]): Promise<void> {
    if (this.#closed) return Promise.reject(new GatewayError('GW_BUFFER_WRITE', 'the buffer is closed'));
    if (drafts.length === 0) return Promise.resolve();
    for (const draft of drafts) this.#queued.push(draft);
    const done = new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    if (this.#queued.length >= this.#options.maxEventsPerCommit) this.flush();
    else this.#schedule();
    return done;
  }

  #schedule(): void {
    if (this.#timer !== undefined) return;
    const linger = this.#options.commitLingerMs;
    this.#timer = linger > 0 ? setTimeout(() => this.flush(), linger) : setImmediate(() => this.flush());
  }

  #cancelTimer(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer as NodeJS.Timeout);
    clearImmediate(this.#timer as NodeJS.Immediate);
    this.#timer = undefined;
  }

  /** Commits everything accepted so far in one transaction, then settles the waiting appends. */
  flush(): void {
    this.#cancelTimer();
    if (this.#queued.length === 0) return;
    const drafts = this.#queued;
    const waiters = this.#waiters;
    this.#queued = [];
    this.#waiters = [];
    try {
      this.#commit(drafts);
    } catch (err) {
      // Nothing of the group was stored: counters go back to what the file says, callers are told.
      this.#loadSequences();
      const error = new GatewayError('GW_BUFFER_WRITE', `buffer commit failed: ${errorMessage(err)}`, { cause: err });
      for (const w of waiters) w.reject(error);
      return;
    }
    this.#pending += drafts.length;
    for (const w of waiters) w.resolve();
    for (const listener of this.#listeners) listener();
  }

  #commit(drafts: readonly EventDraft[]): void {
    const db = this.#database();
    const insert = this.#insert as Statement;
    const upsertSeq = this.#upsertSeq as Statement;
    const gatewayId = this.#options.gatewayId;
    const receivedAtMs = this.#options.clock.now();
    const touched = new Map<string, { deviceId: string; family: EventFamily }>();
    db.transaction(() => {
      for (const draft of drafts) {
        const family = FAMILY_OF_TYPE[draft.type];
        const key = `${draft.deviceId}\u0000${family}`;
        const seq = this.#nextSeq.get(key) ?? 0;
        this.#nextSeq.set(key, seq + 1);
        touched.set(key, { deviceId: draft.deviceId, family });
        const id = uuidv7();
        // Property order puts the envelope first so records read well in kcat and logs.
        const event = { schemaVersion: SCHEMA_VERSION, id, gatewayId, seq, ...draft };
        insert.run(
          id,
          draft.deviceId,
          draft.type,
          family,
          PRIORITY_OF_TYPE[draft.type],
          draft.sourceTime ?? draft.receivedAt,
          receivedAtMs,
          JSON.stringify(event),
        );
      }
      for (const [key, { deviceId, family }] of touched) upsertSeq.run(deviceId, family, this.#nextSeq.get(key));
    })();
  }

  /** Called after every commit that added events (the forwarder wakes up on it). */
  onCommit(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The oldest pending events, highest priority first; per device and family always in commit order. */
  readPending(limit: number): StoredEvent[] {
    this.#database();
    return (this.#readPending as Statement).all(limit) as StoredEvent[];
  }

  /** Marks events as delivered (Kafka acknowledged them); they stay for the retention window. */
  markDelivered(positions: readonly number[]): void {
    if (positions.length === 0) return;
    const db = this.#database();
    const keep = this.#options.retentionMs > 0;
    const now = this.#options.clock.now();
    const mark = this.#markDelivered as Statement;
    const remove = this.#deleteDelivered as Statement;
    db.transaction(() => {
      for (const pos of positions) {
        if (keep) mark.run(now, pos);
        else remove.run(pos);
      }
    })();
    this.#pending -= positions.length;
  }

  /** Deletes delivered events older than the retention window, in chunks; returns how many were deleted. */
  purgeDelivered(maxRows = 50_000): number {
    const db = this.#database();
    const cutoff = this.#options.clock.now() - this.#options.retentionMs;
    const result = db
      .prepare(
        'DELETE FROM events WHERE pos IN (SELECT pos FROM events WHERE delivered_at IS NOT NULL AND delivered_at < ? LIMIT ?)',
      )
      .run(cutoff, maxRows);
    return result.changes;
  }

  stats(): BufferStats {
    const db = this.#database();
    const byFamily = db
      .prepare('SELECT family, COUNT(*) AS n FROM events WHERE delivered_at IS NULL GROUP BY family')
      .all() as { family: string; n: number }[];
    const retained = (db.prepare('SELECT COUNT(*) AS n FROM events WHERE delivered_at IS NOT NULL').get() as { n: number }).n;
    const oldest = db.prepare('SELECT MIN(received_at) AS t FROM events WHERE delivered_at IS NULL').get() as { t: number | null };
    const pageCount = db.pragma('page_count', { simple: true }) as number;
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    return {
      pending: byFamily.reduce((sum, r) => sum + r.n, 0),
      pendingByFamily: Object.fromEntries(byFamily.map((r) => [r.family, r.n])),
      retained,
      oldestPendingAt: oldest.t,
      fileBytes: pageCount * pageSize,
    };
  }

  /** Commits what is queued and closes the file. Appends after close are rejected. */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    this.#listeners.clear();
    if (this.#db) {
      this.#db.close();
      this.#db = undefined;
    }
  }
}
