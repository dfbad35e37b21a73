// A buffer file with a known content, written by the real SqliteBuffer with a controlled clock, for the replay
// and buffer-stats tests.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteBuffer } from '../../src/buffer/sqlite-buffer.js';
import type { EventDraft } from '../../src/events/schema.js';

export class ManualClock {
  constructor(public t: number) {}
  now(): number {
    return this.t;
  }
}

export function readingDraft(deviceId: string, value: number, receivedAtMs: number): EventDraft {
  const receivedAt = new Date(receivedAtMs).toISOString();
  return { type: 'reading', deviceId, metric: 'temperature', value, unit: 'Cel', quality: 'good', sourceTime: null, receivedAt };
}

export function alarmDraft(deviceId: string, receivedAtMs: number): EventDraft {
  const receivedAt = new Date(receivedAtMs).toISOString();
  return { type: 'alarm', deviceId, alarm: 'temp-high', state: 'active', severity: 'high', message: 'too hot', sourceTime: null, receivedAt };
}

export function statusDraft(deviceId: string, receivedAtMs: number): EventDraft {
  const receivedAt = new Date(receivedAtMs).toISOString();
  return { type: 'device-status', deviceId, status: 'offline', previous: 'online', reason: 'timeout', sourceTime: null, receivedAt };
}

export function openFixtureBuffer(path: string, gatewayId: string, clock: ManualClock): SqliteBuffer {
  const buffer = new SqliteBuffer({
    path,
    gatewayId,
    synchronous: 'NORMAL',
    commitLingerMs: 0,
    maxEventsPerCommit: 100_000,
    maxEvents: 10_000_000,
    maxBytes: 10_000_000_000,
    whenFull: 'block',
    retentionMs: 7 * 86_400_000,
    retentionMaxBytes: 10_000_000_000,
    clock,
  });
  buffer.open();
  return buffer;
}

/** Commits drafts at the clock's time; resolves once they are committed. */
export async function commitAt(buffer: SqliteBuffer, clock: ManualClock, atMs: number, drafts: EventDraft[]): Promise<void> {
  clock.t = atMs;
  const done = buffer.append(drafts);
  buffer.flush();
  await done;
}

/** Marks everything pending as delivered (as the forwarder does after Kafka acknowledged it). */
export function deliverAll(buffer: SqliteBuffer): number {
  const pending = buffer.readPending(10_000_000);
  buffer.markDelivered(pending);
  return pending.length;
}

export interface KnownBuffer {
  path: string;
  dir: string;
  /** Times (epoch ms) the two phases were committed at. */
  oldAt: number;
  recentAt: number;
}

/**
 * Two phases, both kept:
 * - 3 hours ago, delivered: 10 readings of dev-a, 10 readings of dev-b, 2 alarms of dev-a;
 * - 1 hour ago, still pending: 5 readings of dev-a, 5 of dev-b, 1 device-status of dev-b, 1 alarm of dev-b.
 */
export async function knownBuffer(gatewayId: string, now = Date.now()): Promise<KnownBuffer> {
  const dir = mkdtempSync(join(tmpdir(), 'etg-replay-'));
  const path = join(dir, 'buffer.db');
  const clock = new ManualClock(now);
  const buffer = openFixtureBuffer(path, gatewayId, clock);
  const oldAt = now - 3 * 3_600_000;
  const recentAt = now - 3_600_000;
  try {
    const old: EventDraft[] = [];
    for (let i = 0; i < 10; i++) old.push(readingDraft('dev-a', i, oldAt), readingDraft('dev-b', 100 + i, oldAt));
    old.push(alarmDraft('dev-a', oldAt), alarmDraft('dev-a', oldAt));
    await commitAt(buffer, clock, oldAt, old);
    deliverAll(buffer);
    const recent: EventDraft[] = [];
    for (let i = 0; i < 5; i++) recent.push(readingDraft('dev-a', 10 + i, recentAt), readingDraft('dev-b', 110 + i, recentAt));
    recent.push(statusDraft('dev-b', recentAt), alarmDraft('dev-b', recentAt));
    await commitAt(buffer, clock, recentAt, recent);
  } finally {
    buffer.close();
  }
  return { path, dir, oldAt, recentAt };
}
