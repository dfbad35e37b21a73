/**
 * The buffer: the only place events live between ingest and Kafka (a transactional outbox in one SQLite file).
 *
 * - `append()` resolves only after the events are committed (WAL, synchronous=FULL by default), and many appends
 *   share one commit (group commit): callers that arrive within `commitLinger` ride the same transaction, so the
 *   cost of the fsync is paid once per group instead of once per event.
 * - Each event gets its per-device, per-family `seq` inside the commit; counters live in the same file, so they
 *   survive restarts and never run ahead of what was actually stored.
 * - The forwarder reads pending events by priority, oldest first, and marks them delivered only after Kafka
 *   acknowledged them. Delivered events stay for the retention window (time and size bounds), for replay.
 * - Bounded: at most `maxEvents` / `maxBytes` pending. When full, the `whenFull` policy applies:
 *   `block` holds appends back (their promises resolve later, so MQTT stops acknowledging and polling inputs
 *   pause: backpressure), `drop-oldest` deletes the oldest routine events (readings, gateway health) in the same
 *   transaction and records a `gap` event per device and family for exactly what it deleted. Alarms, device
 *   status, gaps and dead letters are never dropped.
 * - Receipts: a push input (MQTT, HL7) records which source message an append came from (`SourceReceipt`) in the
 *   same transaction as the message's events, so after a crash it can tell a resend of a committed message (its
 *   acknowledgment was lost) from a new one and acknowledge the resend again without a second event. See
 *   `ReceiptLedger` (src/inputs/input.ts) for the contract.
 * - Disk full: a commit the file system refuses (SQLITE_FULL, a write or sync I/O error) is not a loss. The group
 *   goes back to the head of the queue, its appends stay unresolved (so nothing is acknowledged upstream and
 *   polling inputs wait), the buffer reports a write stall (GW_BUFFER_DISK_FULL) and retries the commit every
 *   second until it succeeds. While stalled, at most `stallQueueEvents` wait in memory; further appends are refused.
 * - A damaged file (truncated, overwritten, bad pages) is found at open by `PRAGMA quick_check` and refused
 *   (GW_BUFFER_CORRUPT), never recreated over: the file stays for inspection and recovery.
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
import { BUFFER_FORMAT, bufferFileSizes, checkBufferFormat, fileSize, takeCleanSeal, writeCleanSeal } from './file.js';
import type { FoundReceipt, ReceiptLedger, SourceReceipt } from '../inputs/input.js';
import { nativeModuleError } from '../util/native-module.js';

export type WhenFull = 'block' | 'drop-oldest';

export interface BufferOptions {
  path: string;
  gatewayId: string;
  synchronous: 'FULL' | 'NORMAL';
  /** Longest wait before a group is committed (0: at the next turn of the event loop). */
  commitLingerMs: number;
  maxEventsPerCommit: number;
  /** Most pending (undelivered) events, and their payload bytes; then `whenFull` applies. */
  maxEvents: number;
  maxBytes: number;
  whenFull: WhenFull;
  /** How long delivered events are kept (0: delete on delivery). */
  retentionMs: number;
  /** Most payload bytes of delivered events kept; the oldest go first. */
  retentionMaxBytes: number;
  /** What open() checks of an existing file: quick_check (default), the full integrity_check, or nothing. */
  integrityCheck?: IntegrityCheck;
  /**
   * When: at every start, or (default) only when the file was not closed cleanly by the last start or has changed
   * since (the clean-stop seal, src/buffer/file.ts), so a normal restart does not read a large backlog page by page.
   */
  integrityCheckWhen?: IntegrityCheckWhen;
  clock: Clock;
}

export type IntegrityCheck = 'quick' | 'full' | 'off';
export type IntegrityCheckWhen = 'unclean-stop' | 'every-start';
/** What the last open() did about the integrity check: ran it, skipped it after a clean stop, or off / a new file. */
export type IntegrityCheckDone = 'quick' | 'full' | 'skipped-clean-stop' | 'none';

/** Why commits do not succeed right now (the file system refused the last one); null while they do. */
export interface WriteStall {
  code: 'GW_BUFFER_DISK_FULL';
  error: string;
  /** When the first refused commit of this stall happened (epoch ms). */
  since: number;
  /** Events waiting in memory for the next attempt. */
  waiting: number;
}

/** How long a stalled buffer waits before it tries the refused commit again. */
export const STALL_RETRY_MS = 1000;

/** One stored event as the forwarder needs it: the JSON value and what goes into the record's key and headers. */
export interface StoredEvent {
  pos: number;
  id: string;
  deviceId: string;
  type: EventType;
  family: EventFamily;
  /** sourceTime when the device has a clock, else receivedAt (CloudEvents `time`). */
  eventTime: string;
  /** The event as JSON text, exactly as committed. */
  payload: string;
  /** Set by the live-first read: the event waited in the backlog (sent with the `etg_backlog` header). */
  backlog?: boolean;
}

export interface BufferStats {
  pending: number;
  pendingBytes: number;
  pendingByFamily: Record<string, number>;
  retained: number;
  retainedBytes: number;
  oldestPendingAt: number | null;
  fileBytes: number;
}

/** Counters since open, for metrics and health events. */
export interface BufferCounters {
  committedEvents: number;
  commits: number;
  droppedEvents: number;
  gapEvents: number;
  /** Appends that had to wait for room (block policy). */
  blockedAppends: number;
  purgedEvents: number;
}

interface QueueEntry {
  drafts: readonly EventDraft[];
  /** The source message these drafts came from, numbered at append time (arrival order per source). */
  receipt: NumberedReceipt | undefined;
  resolve: () => void;
  reject: (err: Error) => void;
  hasAlarm: boolean;
  blocked: boolean;
}

interface NumberedReceipt extends SourceReceipt {
  number: number;
}

/** A receipt handed to append() and not yet committed; find() answers with it so a resend waits for that commit. */
interface QueuedReceipt {
  digest: string;
  number: number;
  committed: Promise<void>;
}

interface DroppedRow {
  pos: number;
  device_id: string;
  family: EventFamily;
  seq: number;
  received_at: number;
  event_time: string;
  bytes: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  pos          INTEGER PRIMARY KEY,
  id           TEXT    NOT NULL,
  device_id    TEXT    NOT NULL,
  type         TEXT    NOT NULL,
  family       TEXT    NOT NULL,
  seq          INTEGER NOT NULL,
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
CREATE TABLE IF NOT EXISTS receipts (
  source       TEXT    NOT NULL,
  key          TEXT    NOT NULL,
  digest       TEXT    NOT NULL,
  number       INTEGER NOT NULL,
  committed_at INTEGER NOT NULL,
  PRIMARY KEY (source, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS receipts_age ON receipts (source, committed_at);
`;

const TOTALS_KEY = 'totals';
/** Types drop-oldest may delete, lowest priority first. */
const DROPPABLE: readonly { priority: number; types: readonly EventType[] }[] = [
  { priority: PRIORITY_OF_TYPE['gateway-health'], types: ['gateway-health'] },
  { priority: PRIORITY_OF_TYPE.reading, types: ['reading'] },
];
/** Give freed pages back to the file system when this many are free (after a large backlog drained). */
const RECLAIM_FREE_PAGES = 2048;

type Statement = Database.Statement<unknown[], unknown>;

interface Statements {
  insert: Statement;
  upsertSeq: Statement;
  markDelivered: Statement;
  deleteDelivered: Statement;
  readPending: Statement;
  readPendingAtPriority: Statement;
  readBacklogAtPriority: Statement;
  droppable: Statement;
  deleteByPos: Statement;
  pendingGaps: Statement;
  oldestDelivered: Statement;
  syncNormal: Statement;
  syncFull: Statement;
  upsertReceipt: Statement;
  findReceipt: Statement;
  latestReceipt: Statement;
  purgeReceipts: Statement;
  writeTotals: Statement;
}

export class SqliteBuffer implements ReceiptLedger {
  readonly #options: BufferOptions;
  #db: Database.Database | undefined;
  #stmts: Statements | undefined;
  /** Next seq per `deviceId \0 family`. */
  readonly #nextSeq = new Map<string, number>();
  #queue: QueueEntry[] = [];
  #queuedEvents = 0;
  #timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  /** performance.now() of the last commit (-Infinity: none yet), for adaptive lingering. */
  #lastCommitAt = Number.NEGATIVE_INFINITY;
  #pending = 0;
  #pendingBytes = 0;
  #retainedBytes = 0;
  #closed = false;
  readonly #listeners = new Set<() => void>();
  /**
   * Per priority, the highest position the forwarder is sending right now (it reads oldest first, so everything
   * below is in flight too); drop-oldest leaves those alone, so a gap never claims an event that reached Kafka.
   */
  readonly #inFlightMaxPos = new Map<number, number>();
  /** First pos of each recent commit, for the live-first read (which events are fresh). */
  #recentCommits: { at: number; firstPos: number }[] = [];
  /** Receipts appended and not yet committed, by `source \0 key`. */
  readonly #queuedReceipts = new Map<string, QueuedReceipt>();
  /** Highest receipt number handed out per source (loaded from the file on first use). */
  readonly #receiptNumbers = new Map<string, number>();
  readonly #counters: BufferCounters = { committedEvents: 0, commits: 0, droppedEvents: 0, gapEvents: 0, blockedAppends: 0, purgedEvents: 0 };
  #stall: { error: string; since: number } | undefined;
  #integrityCheckDone: IntegrityCheckDone = 'none';
  #stallTimer: NodeJS.Timeout | undefined;
  readonly #stallListeners = new Set<(stall: WriteStall | null) => void>();

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

  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** Events accepted by append() and waiting for their commit (or, under `block`, for room). */
  get queuedCount(): number {
    return this.#queuedEvents;
  }

  get counters(): Readonly<BufferCounters> {
    return { ...this.#counters };
  }

  /** What open() did about the integrity check (for the start-up log line and tests). */
  get integrityCheckDone(): IntegrityCheckDone {
    return this.#integrityCheckDone;
  }

  /** Non-null while the file system refuses commits (disk full); appends wait and are retried every second. */
  get writeStall(): WriteStall | null {
    return this.#stall ? { code: 'GW_BUFFER_DISK_FULL', ...this.#stall, waiting: this.#queuedEvents } : null;
  }

  /** Called when a write stall starts (with it) and ends (with null). */
  onWriteStall(listener: (stall: WriteStall | null) => void): () => void {
    this.#stallListeners.add(listener);
    return () => this.#stallListeners.delete(listener);
  }

  /** Most events kept in memory while commits are refused; appends beyond are rejected at once. */
  get stallQueueEvents(): number {
    return Math.max(10_000, 2 * this.#options.maxEventsPerCommit);
  }

  /** True while pending events are at a limit (appends wait under `block`, old readings go under `drop-oldest`). */
  get isFull(): boolean {
    return this.#pending >= this.#options.maxEvents || this.#pendingBytes >= this.#options.maxBytes;
  }

  open(): void {
    const { path, synchronous } = this.#options;
    let db: Database.Database;
    const existing = path !== ':memory:' && fileSize(path) > 0;
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      db = new Database(path);
    } catch (err) {
      throw nativeModuleError(err, 'better-sqlite3') ?? new GatewayError('GW_BUFFER_OPEN', `cannot open the buffer ${path}: ${errorMessage(err)} (check buffer.path and its permissions)`, {
        cause: err,
      });
    }
    // Before anything writes to it: a damaged file must stay exactly as it is. The seal goes before the first write,
    // also a stale one beside a new file (a file moved away and recreated), so no later start can match it.
    const sealed = path !== ':memory:' && takeCleanSeal(path) && existing;
    const mode = this.#options.integrityCheck ?? 'quick';
    if (!existing || mode === 'off') this.#integrityCheckDone = 'none';
    else if (sealed && (this.#options.integrityCheckWhen ?? 'unclean-stop') === 'unclean-stop') this.#integrityCheckDone = 'skipped-clean-stop';
    else {
      checkIntegrity(db, path, mode);
      this.#integrityCheckDone = mode;
    }
    try {
      // Must precede the first table of a new file; lets a drained backlog's pages go back to the file system.
      db.pragma('auto_vacuum = INCREMENTAL');
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${synchronous}`);
      db.pragma('busy_timeout = 5000');
      db.pragma('wal_autocheckpoint = 4000');
      // The WAL is reused in place; after a checkpoint it is truncated back to this size.
      db.pragma('journal_size_limit = 67108864');
      db.exec(SCHEMA);
    } catch (err) {
      db.close();
      if (isCorruption(err)) throw corruptError(path, errorMessage(err), err);
      throw new GatewayError('GW_BUFFER_OPEN', `cannot open the buffer ${path}: ${errorMessage(err)} (check buffer.path and its permissions)`, {
        cause: err,
      });
    }
    let format: string | undefined;
    try {
      format = checkBufferFormat(db, path, 'move the file away (it is not deleted for you)');
    } catch (err) {
      db.close();
      throw err;
    }
    this.#db = db;
    this.#stmts = {
      insert: db.prepare(
        'INSERT INTO events (id, device_id, type, family, seq, priority, event_time, received_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      upsertSeq: db.prepare(
        'INSERT INTO sequences (device_id, family, next_seq) VALUES (?, ?, ?) ON CONFLICT (device_id, family) DO UPDATE SET next_seq = excluded.next_seq',
      ),
      markDelivered: db.prepare('UPDATE events SET delivered_at = ? WHERE pos = ? AND delivered_at IS NULL'),
      deleteDelivered: db.prepare('DELETE FROM events WHERE pos = ? AND delivered_at IS NULL'),
      readPending: db.prepare(
        'SELECT pos, id, device_id AS deviceId, type, family, event_time AS eventTime, payload FROM events WHERE delivered_at IS NULL ORDER BY priority, pos LIMIT ?',
      ),
      readPendingAtPriority: db.prepare(
        'SELECT pos, id, device_id AS deviceId, type, family, event_time AS eventTime, payload FROM events WHERE delivered_at IS NULL AND priority = ? AND pos >= ? ORDER BY pos LIMIT ?',
      ),
      readBacklogAtPriority: db.prepare(
        'SELECT pos, id, device_id AS deviceId, type, family, event_time AS eventTime, payload FROM events WHERE delivered_at IS NULL AND priority = ? AND pos < ? ORDER BY pos LIMIT ?',
      ),
      droppable: db.prepare(
        'SELECT pos, device_id, family, seq, received_at, event_time, length(payload) AS bytes FROM events WHERE delivered_at IS NULL AND priority = ? AND type = ? AND pos > ? ORDER BY pos LIMIT ?',
      ),
      deleteByPos: db.prepare('DELETE FROM events WHERE pos = ?'),
      pendingGaps: db.prepare(
        "SELECT pos, payload, length(payload) AS bytes FROM events WHERE delivered_at IS NULL AND type = 'gap' AND device_id = ? AND pos > ? ORDER BY pos",
      ),
      oldestDelivered: db.prepare(
        'SELECT pos, length(payload) AS bytes FROM events WHERE delivered_at IS NOT NULL ORDER BY delivered_at, pos LIMIT ?',
      ),
      syncNormal: db.prepare('PRAGMA synchronous = NORMAL'),
      syncFull: db.prepare('PRAGMA synchronous = FULL'),
      upsertReceipt: db.prepare(
        'INSERT INTO receipts (source, key, digest, number, committed_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (source, key) DO UPDATE SET digest = excluded.digest, number = excluded.number, committed_at = excluded.committed_at',
      ),
      findReceipt: db.prepare('SELECT digest, number, committed_at AS committedAt FROM receipts WHERE source = ? AND key = ?'),
      latestReceipt: db.prepare('SELECT COALESCE(MAX(number), 0) AS n FROM receipts WHERE source = ?'),
      // The receipt with the source's highest number stays: it keeps the numbering going up across restarts.
      purgeReceipts: db.prepare(
        'DELETE FROM receipts WHERE source = @source AND committed_at < @before AND number < (SELECT MAX(number) FROM receipts WHERE source = @source)',
      ),
      writeTotals: db.prepare(`INSERT INTO meta (key, value) VALUES ('${TOTALS_KEY}', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`),
    };
    this.#loadSequences();
    this.#loadTotals(format);
  }

  /** Pending count and bytes and retained bytes from meta; counted once (and then kept) for a new or older file. */
  #loadTotals(format: string | undefined): void {
    const db = this.#database();
    const row = db.prepare('SELECT value FROM meta WHERE key = ?').get(TOTALS_KEY) as { value: string } | undefined;
    const kept = format === BUFFER_FORMAT && row ? row.value.split(' ').map(Number) : undefined;
    if (kept && kept.length === 3 && kept.every((n) => Number.isSafeInteger(n) && n >= 0)) {
      [this.#pending, this.#pendingBytes, this.#retainedBytes] = kept as [number, number, number];
      return;
    }
    db.transaction(() => {
      const pending = db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(length(payload)), 0) AS b FROM events WHERE delivered_at IS NULL').get() as {
        n: number;
        b: number;
      };
      this.#pending = pending.n;
      this.#pendingBytes = pending.b;
      this.#retainedBytes = (
        db.prepare('SELECT COALESCE(SUM(length(payload)), 0) AS b FROM events WHERE delivered_at IS NOT NULL').get() as { b: number }
      ).b;
      this.#saveTotals(this.#pending, this.#pendingBytes, this.#retainedBytes);
      db.prepare("INSERT INTO meta (key, value) VALUES ('format', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(BUFFER_FORMAT);
    })();
  }

  /** Inside the transaction that changes them: the totals a crash after this commit must find. */
  #saveTotals(pending: number, pendingBytes: number, retainedBytes: number): void {
    this.#statements().writeTotals.run(`${pending} ${pendingBytes} ${retainedBytes}`);
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

  #statements(): Statements {
    if (!this.#stmts) throw new GatewayError('GW_BUFFER_OPEN', 'the buffer is not open');
    return this.#stmts;
  }

  /**
   * Accepts events; resolves once they are committed (durable), rejects when the commit failed (nothing of the
   * group was stored; the caller must not acknowledge its source). Under `block`, resolves only once there is room.
   */
  append(drafts: readonly EventDraft[], receipt?: SourceReceipt): Promise<void> {
    if (this.#closed) return Promise.reject(new GatewayError('GW_BUFFER_WRITE', 'the buffer is closed'));
    if (drafts.length === 0 && receipt === undefined) return Promise.resolve();
    if (this.#stall && this.#queuedEvents + drafts.length > this.stallQueueEvents) {
      return Promise.reject(
        new GatewayError('GW_BUFFER_DISK_FULL', `the buffer cannot commit (${this.#stall.error}) and already holds ${this.#queuedEvents} events in memory; free space on the buffer's file system`),
      );
    }
    const numbered = receipt === undefined ? undefined : { ...receipt, number: this.latestNumber(receipt.source) + 1 };
    if (numbered) this.#receiptNumbers.set(numbered.source, numbered.number);
    const done = new Promise<void>((resolve, reject) => {
      this.#queue.push({ drafts, receipt: numbered, resolve, reject, hasAlarm: drafts.some((d) => d.type === 'alarm'), blocked: false });
    });
    if (numbered) {
      const key = receiptKey(numbered.source, numbered.key);
      const queued: QueuedReceipt = { digest: numbered.digest, number: numbered.number, committed: done };
      this.#queuedReceipts.set(key, queued);
      const forget = (): void => {
        if (this.#queuedReceipts.get(key) === queued) this.#queuedReceipts.delete(key);
      };
      done.then(forget, forget);
    }
    this.#queuedEvents += drafts.length;
    // While stalled only the retry timer commits: each attempt against a full disk costs writes for nothing.
    if (this.#stall) return done;
    if (this.#queuedEvents >= this.#options.maxEventsPerCommit) this.flush();
    else this.#schedule();
    return done;
  }

  /**
   * Adaptive lingering: when no commit happened within commitLinger (idle), the group is committed at the next
   * turn of the event loop, so a lone event pays no wait; while events keep coming (busy), the next commit waits
   * until commitLinger after the previous one, so each fsync carries many events.
   */
  #schedule(): void {
    if (this.#timer !== undefined || this.#stall) return;
    const wait = this.#lastCommitAt + this.#options.commitLingerMs - performance.now();
    this.#timer = wait > 0 ? setTimeout(() => this.flush(), wait) : setImmediate(() => this.flush());
  }

  #cancelTimer(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer as NodeJS.Timeout);
    clearImmediate(this.#timer as NodeJS.Immediate);
    this.#timer = undefined;
  }

  /** Takes the queue entries to commit now: all of them, or under `block` as many as there is room for. */
  #takeCommittable(): QueueEntry[] {
    if (this.#options.whenFull !== 'block') return this.#queue.splice(0);
    const taken: QueueEntry[] = [];
    let room = this.#options.maxEvents - this.#pending;
    const bytesFull = this.#pendingBytes >= this.#options.maxBytes;
    // Alarms are never held back; FIFO order is kept, so whatever waits before an alarm goes in with it.
    let alarmWaiting = this.#queue.some((e) => e.hasAlarm);
    while (this.#queue.length > 0) {
      const entry = this.#queue[0] as QueueEntry;
      const fits = !bytesFull && entry.drafts.length <= room;
      // A single append larger than the whole limit must still go in once the buffer is empty.
      const emptyBuffer = this.#pending === 0 && taken.length === 0;
      if (!fits && !alarmWaiting && !emptyBuffer) break;
      this.#queue.shift();
      taken.push(entry);
      room -= entry.drafts.length;
      if (entry.hasAlarm) alarmWaiting = this.#queue.some((e) => e.hasAlarm);
    }
    for (const entry of this.#queue) {
      if (!entry.blocked) {
        entry.blocked = true;
        this.#counters.blockedAppends += 1;
      }
    }
    return taken;
  }

  /** Commits what was accepted (and fits) in one transaction, then settles those appends. */
  flush(): void {
    this.#cancelTimer();
    if (this.#queue.length === 0 || this.#closed) return;
    const entries = this.#takeCommittable();
    if (entries.length === 0) return; // block policy: waiting for the forwarder to make room
    const drafts = entries.flatMap((e) => e.drafts);
    const receipts = entries.flatMap((e) => (e.receipt ? [e.receipt] : []));
    this.#queuedEvents -= drafts.length;
    try {
      this.#commit(drafts, receipts);
    } catch (err) {
      // Nothing of the group was stored: counters go back to what the file says.
      this.#loadSequences();
      if (isStorageRefusal(err)) {
        // Not a loss: the group waits at the head of the queue (in order) and is tried again.
        this.#queue.unshift(...entries);
        this.#queuedEvents += drafts.length;
        this.#enterStall(errorMessage(err));
        return;
      }
      const error = new GatewayError('GW_BUFFER_WRITE', `buffer commit failed: ${errorMessage(err)}`, { cause: err });
      for (const e of entries) e.reject(error);
      return;
    }
    if (this.#stall) this.#leaveStall();
    for (const e of entries) e.resolve();
    for (const listener of this.#listeners) listener();
    if (this.#queue.length > 0 && this.#options.whenFull !== 'block') this.#schedule();
  }

  #enterStall(error: string): void {
    const first = this.#stall === undefined;
    this.#stall = { error, since: this.#stall?.since ?? this.#options.clock.now() };
    clearTimeout(this.#stallTimer);
    this.#stallTimer = setTimeout(() => {
      this.#stallTimer = undefined;
      this.#retryStalled();
    }, STALL_RETRY_MS);
    if (first) for (const listener of this.#stallListeners) listener(this.writeStall);
  }

  /** One more attempt at the refused group: a refusal again re-arms the timer, a commit ends the stall. */
  #retryStalled(): void {
    if (this.#closed || !this.#stall) return;
    this.flush();
    // Not refused again and yet still marked (nothing was tried: the block policy had nothing that fits): over.
    if (this.#stall && this.#stallTimer === undefined) this.#leaveStall();
  }

  #leaveStall(): void {
    if (!this.#stall) return;
    this.#stall = undefined;
    clearTimeout(this.#stallTimer);
    this.#stallTimer = undefined;
    for (const listener of this.#stallListeners) listener(null);
    if (this.#queue.length > 0) this.#schedule();
  }

  /** Stores one event: stamps seq, id and envelope. Returns its payload size and position. */
  #stamp(draft: EventDraft, receivedAtMs: number, touched: Map<string, { deviceId: string; family: EventFamily }>): { bytes: number; pos: number } {
    // A gap travels on the readings topic and takes the readings counter of its device, whatever family it accounts for.
    const family = FAMILY_OF_TYPE[draft.type];
    const key = `${draft.deviceId}\u0000${family}`;
    const seq = this.#nextSeq.get(key) ?? 0;
    this.#nextSeq.set(key, seq + 1);
    touched.set(key, { deviceId: draft.deviceId, family });
    const id = uuidv7();
    // Property order puts the envelope first so records read well in kcat and logs.
    const payload = JSON.stringify({ schemaVersion: SCHEMA_VERSION, id, gatewayId: this.#options.gatewayId, seq, ...draft });
    const result = this.#statements().insert.run(
      id,
      draft.deviceId,
      draft.type,
      family,
      seq,
      PRIORITY_OF_TYPE[draft.type],
      draft.sourceTime ?? draft.receivedAt,
      receivedAtMs,
      payload,
    );
    return { bytes: payload.length, pos: Number(result.lastInsertRowid) };
  }

  #commit(drafts: readonly EventDraft[], receipts: readonly NumberedReceipt[]): void {
    const db = this.#database();
    const s = this.#statements();
    const { maxEvents, maxBytes } = this.#options;
    const receivedAtMs = this.#options.clock.now();
    const touched = new Map<string, { deviceId: string; family: EventFamily }>();
    let added = 0;
    let addedBytes = 0;
    let dropped = { events: 0, bytes: 0 };
    let firstPos = -1;
    const isOver = (dropEvents: number, dropBytes: number): boolean =>
      this.#pending + added - dropEvents > maxEvents || this.#pendingBytes + addedBytes - dropBytes > maxBytes;
    db.transaction(() => {
      for (const draft of drafts) {
        const stored = this.#stamp(draft, receivedAtMs, touched);
        if (firstPos < 0) firstPos = stored.pos;
        added += 1;
        addedBytes += stored.bytes;
      }
      if (this.#options.whenFull === 'drop-oldest' && isOver(0, 0)) {
        const result = this.#dropOldest(isOver, receivedAtMs, touched);
        dropped = result;
        added += result.gapEvents;
        addedBytes += result.gapBytes;
      }
      for (const [key, { deviceId, family }] of touched) s.upsertSeq.run(deviceId, family, this.#nextSeq.get(key));
      for (const r of receipts) s.upsertReceipt.run(r.source, r.key, r.digest, r.number, receivedAtMs);
      this.#saveTotals(this.#pending + added - dropped.events, this.#pendingBytes + addedBytes - dropped.bytes, this.#retainedBytes);
    })();
    this.#pending += added - dropped.events;
    this.#pendingBytes += addedBytes - dropped.bytes;
    this.#counters.committedEvents += drafts.length;
    this.#counters.commits += 1;
    this.#lastCommitAt = performance.now();
    // A commit of receipts only (a resend acknowledged again) stores no event: nothing fresh for live-first.
    if (firstPos >= 0) this.#recentCommits.push({ at: receivedAtMs, firstPos });
    if (this.#recentCommits.length > 4096) this.#recentCommits.splice(0, 2048);
  }

  /**
   * Deletes the oldest droppable pending events until `over()` is false and stores one gap event per device and
   * family saying exactly what went (count, time range, seq range). Runs inside the commit transaction.
   */
  #dropOldest(
    isOver: (dropEvents: number, dropBytes: number) => boolean,
    now: number,
    touched: Map<string, { deviceId: string; family: EventFamily }>,
  ): { events: number; bytes: number; gapEvents: number; gapBytes: number } {
    const s = this.#statements();
    const byStream = new Map<string, { deviceId: string; family: EventFamily; count: number; fromSeq: number; toSeq: number; fromTime: string; toTime: string }>();
    let events = 0;
    let bytes = 0;
    const isStillOver = (): boolean => isOver(events, bytes);
    for (const { priority, types } of DROPPABLE) {
      for (const type of types) {
        while (isStillOver()) {
          const rows = s.droppable.all(priority, type, this.#inFlightMaxPos.get(priority) ?? -1, 512) as DroppedRow[];
          if (rows.length === 0) break;
          for (const row of rows) {
            if (!isStillOver()) break;
            s.deleteByPos.run(row.pos);
            events += 1;
            bytes += row.bytes;
            const key = `${row.device_id}\u0000${row.family}`;
            const stream = byStream.get(key);
            if (!stream) {
              byStream.set(key, { deviceId: row.device_id, family: row.family, count: 1, fromSeq: row.seq, toSeq: row.seq, fromTime: row.event_time, toTime: row.event_time });
            } else {
              stream.count += 1;
              stream.toSeq = row.seq;
              stream.toTime = row.event_time;
            }
          }
        }
      }
    }
    const dropped = events;
    let gapBytes = 0;
    const receivedAt = new Date(now).toISOString();
    for (const stream of byStream.values()) {
      // One gap per device, not one per round: earlier buffer-full gaps of this device that are still pending (and
      // not being sent) are folded into the new one. Otherwise a long outage would fill the buffer with gap events,
      // which are never dropped. Their own seq (readings counter) falls inside the merged range.
      if (stream.family === 'readings') {
        const older = s.pendingGaps.all(stream.deviceId, this.#inFlightMaxPos.get(PRIORITY_OF_TYPE.gap) ?? -1) as { pos: number; payload: string; bytes: number }[];
        for (const row of older) {
          const g = JSON.parse(row.payload) as { reason?: string; family?: string; count: number; seq: number; fromSeq?: number; toSeq?: number; fromTime: string; toTime: string };
          if (g.reason !== 'buffer-full' || (g.family ?? 'readings') !== 'readings') continue;
          s.deleteByPos.run(row.pos);
          events += 1;
          bytes += row.bytes;
          stream.count += g.count;
          stream.fromSeq = Math.min(stream.fromSeq, g.fromSeq ?? g.seq);
          stream.toSeq = Math.max(stream.toSeq, g.toSeq ?? g.seq, g.seq);
          if (g.fromTime < stream.fromTime) stream.fromTime = g.fromTime;
          if (g.toTime > stream.toTime) stream.toTime = g.toTime;
        }
      }
      const gap: EventDraft = {
        type: 'gap',
        deviceId: stream.deviceId,
        sourceTime: null,
        receivedAt,
        reason: 'buffer-full',
        count: stream.count,
        fromTime: stream.fromTime,
        toTime: stream.toTime,
        family: stream.family,
        fromSeq: stream.fromSeq,
        toSeq: stream.toSeq,
      };
      gapBytes += this.#stamp(gap, now, touched).bytes;
    }
    this.#counters.droppedEvents += dropped;
    this.#counters.gapEvents += byStream.size;
    return { events, bytes, gapEvents: byStream.size, gapBytes };
  }

  /** Called after every commit that added events (the forwarder wakes up on it). */
  onCommit(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The oldest pending events, highest priority first; per device and family always in commit order. */
  readPending(limit: number): StoredEvent[] {
    return this.#handOut(this.#statements().readPending.all(limit) as StoredEvent[]);
  }

  #handOut(events: StoredEvent[]): StoredEvent[] {
    this.#inFlightMaxPos.clear();
    for (const e of events) {
      const p = PRIORITY_OF_TYPE[e.type];
      if ((this.#inFlightMaxPos.get(p) ?? -1) < e.pos) this.#inFlightMaxPos.set(p, e.pos);
    }
    return events;
  }

  /**
   * live-first drain: events committed within `liveWindowMs` first (highest priority first), and the backlog
   * (older pending events) with at least `backlogShare` of the batch while there is any. Backlog events are
   * flagged so the forwarder marks their records. Per device, a fresh event may now reach Kafka before an older
   * backlog event of the same device: that is the trade-off this mode makes.
   */
  readPendingLiveFirst(limit: number, liveWindowMs: number, backlogShare: number): StoredEvent[] {
    const s = this.#statements();
    const since = this.#options.clock.now() - liveWindowMs;
    this.#recentCommits = this.#recentCommits.filter((c) => c.at >= since);
    const liveFrom = this.#recentCommits[0]?.firstPos ?? Number.MAX_SAFE_INTEGER;
    const priorities = [...new Set(Object.values(PRIORITY_OF_TYPE))].sort((a, b) => a - b);
    const backlogLimit = Math.max(1, Math.floor(limit * backlogShare));
    const take = (stmt: Statement, budget: number, backlog: boolean): StoredEvent[] => {
      const out: StoredEvent[] = [];
      for (const p of priorities) {
        if (out.length >= budget) break;
        const rows = stmt.all(p, liveFrom, budget - out.length) as StoredEvent[];
        for (const row of rows) out.push(backlog ? { ...row, backlog: true } : row);
      }
      return out;
    };
    const live = take(s.readPendingAtPriority, limit - Math.min(backlogLimit, this.#pending), false);
    const backlog = take(s.readBacklogAtPriority, limit - live.length, true);
    return this.#handOut([...live, ...backlog]);
  }

  /** Marks events as delivered (Kafka acknowledged them); they stay for the retention window. */
  markDelivered(events: readonly { pos: number; payload: string }[]): void {
    if (events.length === 0) return;
    const db = this.#database();
    const s = this.#statements();
    const keep = this.#options.retentionMs > 0 && this.#options.retentionMaxBytes > 0;
    const now = this.#options.clock.now();
    let bytes = 0;
    let count = 0;
    // No fsync of its own for a delivered mark: a mark lost in a power cut only makes the forwarder send those
    // events again (same ids: a duplicate, which the delivery contract allows), and the WAL is append-only, so the
    // next FULL commit syncs this one too and a crash still leaves a prefix of the commits. Appends keep FULL.
    const relaxed = this.#options.synchronous === 'FULL';
    if (relaxed) s.syncNormal.run();
    try {
      db.transaction(() => {
        for (const e of events) {
          // 0 changes: drop-oldest deleted it meanwhile (it is then covered by a gap event) — nothing to count.
          const changes = (keep ? s.markDelivered.run(now, e.pos) : s.deleteDelivered.run(e.pos)).changes;
          if (changes === 0) continue;
          count += 1;
          bytes += e.payload.length;
        }
        this.#saveTotals(this.#pending - count, this.#pendingBytes - bytes, this.#retainedBytes + (keep ? bytes : 0));
      })();
    } finally {
      if (relaxed) s.syncFull.run();
    }
    this.#inFlightMaxPos.clear();
    this.#pending -= count;
    this.#pendingBytes -= bytes;
    if (keep) this.#retainedBytes += bytes;
    // Room again: appends held back by the block policy can go in.
    if (this.#options.whenFull === 'block' && this.#queue.length > 0) this.#schedule();
  }

  /** Deletes the oldest delivered events while `more()` says so (at most maxRows); keeps retainedBytes right. */
  #purgeOldestDelivered(maxRows: number, more: () => boolean): number {
    const s = this.#statements();
    let events = 0;
    while (events < maxRows && more()) {
      const rows = s.oldestDelivered.all(512) as { pos: number; bytes: number }[];
      if (rows.length === 0) break;
      for (const row of rows) {
        if (events >= maxRows || !more()) break;
        s.deleteByPos.run(row.pos);
        events += 1;
        this.#retainedBytes -= row.bytes;
      }
    }
    return events;
  }

  /**
   * Applies the retention bounds (time, then size) in chunks and gives free pages back to the file system.
   * Returns how many delivered events were deleted.
   */
  purgeDelivered(maxRows = 50_000): number {
    const db = this.#database();
    const cutoff = this.#options.clock.now() - this.#options.retentionMs;
    let deleted = 0;
    db.transaction(() => {
      const expired = db
        .prepare('SELECT pos, length(payload) AS bytes FROM events WHERE delivered_at IS NOT NULL AND delivered_at < ? LIMIT ?')
        .all(cutoff, maxRows) as { pos: number; bytes: number }[];
      const del = this.#statements().deleteByPos;
      for (const row of expired) {
        del.run(row.pos);
        this.#retainedBytes -= row.bytes;
      }
      deleted += expired.length;
      deleted += this.#purgeOldestDelivered(maxRows - deleted, () => this.#retainedBytes > this.#options.retentionMaxBytes);
      this.#saveTotals(this.#pending, this.#pendingBytes, this.#retainedBytes);
    })();
    this.#counters.purgedEvents += deleted;
    this.reclaimSpace();
    return deleted;
  }

  /** Returns free pages to the file system once there are many (the file shrinks after a backlog drained). */
  reclaimSpace(): number {
    const db = this.#database();
    const free = db.pragma('freelist_count', { simple: true }) as number;
    if (free < RECLAIM_FREE_PAGES) return 0;
    db.pragma(`incremental_vacuum(${free})`);
    db.pragma('wal_checkpoint(TRUNCATE)');
    return free;
  }

  /** See ReceiptLedger.find: a queued (not yet committed) receipt first, else the committed one. */
  find(source: string, key: string): FoundReceipt | undefined {
    const queued = this.#queuedReceipts.get(receiptKey(source, key));
    if (queued) return { digest: queued.digest, number: queued.number, committedAt: null, committed: queued.committed };
    const row = this.#statements().findReceipt.get(source, key) as { digest: string; number: number; committedAt: number } | undefined;
    return row && { ...row, committed: Promise.resolve() };
  }

  /** See ReceiptLedger.latestNumber. */
  latestNumber(source: string): number {
    let n = this.#receiptNumbers.get(source);
    if (n === undefined) {
      n = (this.#statements().latestReceipt.get(source) as { n: number }).n;
      this.#receiptNumbers.set(source, n);
    }
    return n;
  }

  /** See ReceiptLedger.purge. */
  purge(source: string, before: number): number {
    return this.#statements().purgeReceipts.run({ source, before }).changes;
  }

  stats(): BufferStats {
    const db = this.#database();
    const byFamily = db
      .prepare('SELECT family, COUNT(*) AS n FROM events WHERE delivered_at IS NULL GROUP BY family')
      .all() as { family: string; n: number }[];
    const retained = (db.prepare('SELECT COUNT(*) AS n FROM events WHERE delivered_at IS NOT NULL').get() as { n: number }).n;
    const oldest = db.prepare('SELECT MIN(received_at) AS t FROM events WHERE delivered_at IS NULL').get() as { t: number | null };
    const files = bufferFileSizes(this.#options.path);
    return {
      pending: byFamily.reduce((sum, r) => sum + r.n, 0),
      pendingBytes: this.#pendingBytes,
      pendingByFamily: Object.fromEntries(byFamily.map((r) => [r.family, r.n])),
      retained,
      retainedBytes: this.#retainedBytes,
      oldestPendingAt: oldest.t,
      fileBytes: files.db + files.wal,
    };
  }

  /**
   * Rejects every append still waiting in memory (nothing of them is stored; their sources were not acknowledged).
   * For a shutdown while commits are refused: otherwise inputs would wait for room forever. Returns how many.
   */
  rejectQueued(reason: string): number {
    const entries = this.#queue.splice(0);
    const events = entries.reduce((n, e) => n + e.drafts.length, 0);
    this.#queuedEvents -= events;
    const error = new GatewayError('GW_BUFFER_DISK_FULL', reason);
    for (const entry of entries) entry.reject(error);
    return events;
  }

  /** Commits what is queued (under `block`, what fits) and closes the file. Appends after close are rejected. */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    this.#cancelTimer();
    clearTimeout(this.#stallTimer);
    const error = new GatewayError('GW_BUFFER_WRITE', 'the buffer closed before there was room for these events');
    for (const entry of this.#queue.splice(0)) entry.reject(error);
    this.#listeners.clear();
    if (this.#db) {
      this.#db.close();
      this.#db = undefined;
      this.#stmts = undefined;
      // Closed cleanly (the last connection checkpoints and removes the WAL): the next start may skip the check.
      if (this.#options.path !== ':memory:') writeCleanSeal(this.#options.path);
    }
  }
}

/** SQLite's answer when the file system refuses a write: full, file too large, or an I/O error on write/sync. */
function isStorageRefusal(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && (code === 'SQLITE_FULL' || code.startsWith('SQLITE_IOERR'));
}

function isCorruption(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT'));
}

function corruptError(path: string, problems: string, cause?: unknown): GatewayError {
  return new GatewayError(
    'GW_BUFFER_CORRUPT',
    `${path} is damaged (${problems}); the gateway does not start on it and left it as it is. ` +
      `Move it away with its -wal and -shm files (e.g. mv ${path} ${path}.damaged) to start with an empty buffer, ` +
      `and salvage what it still holds with: sqlite3 ${path}.damaged .recover > recovered.sql`,
    cause === undefined ? {} : { cause },
  );
}

/** quick_check (or integrity_check) of an existing file; throws GW_BUFFER_CORRUPT naming the first problems. */
function checkIntegrity(db: Database.Database, path: string, mode: IntegrityCheck): void {
  if (mode === 'off') return;
  let rows: Record<string, string>[];
  try {
    rows = db.pragma(mode === 'full' ? 'integrity_check(20)' : 'quick_check(20)') as Record<string, string>[];
  } catch (err) {
    db.close();
    if (isCorruption(err)) throw corruptError(path, errorMessage(err), err);
    throw new GatewayError('GW_BUFFER_OPEN', `cannot read the buffer ${path}: ${errorMessage(err)} (check buffer.path and its permissions)`, { cause: err });
  }
  const problems = rows.map((r) => Object.values(r)[0] ?? '').filter((m) => m !== 'ok');
  if (problems.length === 0) return;
  db.close();
  throw corruptError(path, `${mode === 'full' ? 'integrity_check' : 'quick_check'}: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? '; …' : ''}`);
}

function receiptKey(source: string, key: string): string {
  return `${source}\u0000${key}`;
}
