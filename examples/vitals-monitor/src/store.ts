/**
 * Durable state of the monitor in one SQLite file (WAL, synchronous=FULL):
 * - `processed`: ids of the readings already evaluated (kept for maxAge), so a replayed or duplicated reading is
 *   recognised and never evaluated twice;
 * - `rule_state`: the rule engine's state per (device, rule), so a restart continues the episode it was in;
 * - `outbox`: alarm events decided but not yet acknowledged by Kafka, so a crash between deciding and producing
 *   loses nothing (they are produced at the next start, with the same event id);
 * - `sequences`: the per-device `seq` of the alarm events this monitor publishes.
 * Everything a batch of readings changes is written in ONE transaction, before its alarms are produced and long
 * before its Kafka offsets are committed.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { AlarmEvent } from 'edge-telemetry-gateway/events';
import type { RuleState } from './rules.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS processed (id TEXT PRIMARY KEY, received_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS processed_age ON processed (received_at);
CREATE TABLE IF NOT EXISTS rule_state (device_id TEXT NOT NULL, rule TEXT NOT NULL, state TEXT NOT NULL, PRIMARY KEY (device_id, rule)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (pos INTEGER PRIMARY KEY, event TEXT NOT NULL, sent_at INTEGER);
CREATE TABLE IF NOT EXISTS sequences (device_id TEXT PRIMARY KEY, next_seq INTEGER NOT NULL) WITHOUT ROWID;
`;

export interface PendingAlarm {
  pos: number;
  event: AlarmEvent;
}

export interface BatchOutcome {
  processed: readonly { id: string; receivedAt: number }[];
  states: readonly { deviceId: string; rule: string; state: RuleState }[];
  /** Alarm events without seq; the store numbers them per device. */
  alarms: readonly Omit<AlarmEvent, 'seq'>[];
}

export class MonitorStore {
  readonly #path: string;
  #db: Database.Database | undefined;

  constructor(path: string) {
    this.#path = path;
  }

  open(): void {
    mkdirSync(dirname(this.#path), { recursive: true });
    const db = new Database(this.#path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec(SCHEMA);
    this.#db = db;
  }

  #database(): Database.Database {
    if (!this.#db) throw new Error('the monitor store is not open');
    return this.#db;
  }

  loadStates(): { deviceId: string; rule: string; state: RuleState }[] {
    const rows = this.#database().prepare('SELECT device_id AS deviceId, rule, state FROM rule_state').all() as { deviceId: string; rule: string; state: string }[];
    return rows.map((r) => ({ deviceId: r.deviceId, rule: r.rule, state: JSON.parse(r.state) as RuleState }));
  }

  /** Ids among `ids` that were processed before. */
  processedAmong(ids: readonly string[]): Set<string> {
    const lookup = this.#database().prepare('SELECT 1 FROM processed WHERE id = ?').pluck();
    return new Set(ids.filter((id) => lookup.get(id) !== undefined));
  }

  /** Stores what one batch (or one silence check) changed, in one transaction. */
  commit(outcome: BatchOutcome): void {
    const db = this.#database();
    const markProcessed = db.prepare('INSERT OR IGNORE INTO processed (id, received_at) VALUES (?, ?)');
    const saveState = db.prepare('INSERT INTO rule_state (device_id, rule, state) VALUES (?, ?, ?) ON CONFLICT (device_id, rule) DO UPDATE SET state = excluded.state');
    const nextSeq = db.prepare('SELECT next_seq FROM sequences WHERE device_id = ?').pluck();
    const saveSeq = db.prepare('INSERT INTO sequences (device_id, next_seq) VALUES (?, ?) ON CONFLICT (device_id) DO UPDATE SET next_seq = excluded.next_seq');
    const enqueue = db.prepare('INSERT INTO outbox (event) VALUES (?)');
    db.transaction(() => {
      for (const p of outcome.processed) markProcessed.run(p.id, p.receivedAt);
      for (const s of outcome.states) saveState.run(s.deviceId, s.rule, JSON.stringify(s.state));
      for (const alarm of outcome.alarms) {
        const seq = (nextSeq.get(alarm.deviceId) as number | undefined) ?? 0;
        saveSeq.run(alarm.deviceId, seq + 1);
        enqueue.run(JSON.stringify({ ...alarm, seq }));
      }
    })();
  }

  pendingAlarms(): PendingAlarm[] {
    const rows = this.#database().prepare('SELECT pos, event FROM outbox WHERE sent_at IS NULL ORDER BY pos').all() as { pos: number; event: string }[];
    return rows.map((r) => ({ pos: r.pos, event: JSON.parse(r.event) as AlarmEvent }));
  }

  markSent(positions: readonly number[], now: number): void {
    const db = this.#database();
    const mark = db.prepare('UPDATE outbox SET sent_at = ? WHERE pos = ?');
    db.transaction(() => {
      for (const pos of positions) mark.run(now, pos);
    })();
  }

  /** Forgets processed ids and sent alarms older than `before` (epoch ms). */
  prune(before: number): void {
    const db = this.#database();
    db.prepare('DELETE FROM processed WHERE received_at < ?').run(before);
    db.prepare('DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ?').run(before);
  }

  close(): void {
    this.#db?.close();
    this.#db = undefined;
  }
}
