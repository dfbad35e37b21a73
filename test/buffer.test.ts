// The SQLite buffer on real files: group commit, durable seq, priorities, retention, bounded size with its two
// full-policies and gap accounting, live-first reads, space reclaim.
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { openBufferReadOnly } from '../src/buffer/reader.js';
import { SqliteBuffer, type BufferOptions, type StoredEvent } from '../src/buffer/sqlite-buffer.js';
import { PRIORITY_OF_TYPE, type EventDraft, type GapEvent, type ReadingEvent } from '../src/events/schema.js';

class ManualClock {
  constructor(public t = Date.parse('2026-11-27T10:00:00Z')) {}
  now(): number {
    return this.t;
  }
}

function open(overrides: Partial<BufferOptions> = {}): { buffer: SqliteBuffer; path: string; clock: ManualClock } {
  const path = overrides.path ?? join(mkdtempSync(join(tmpdir(), 'etg-buffer-')), 'buffer.db');
  const clock = new ManualClock();
  const buffer = new SqliteBuffer({
    gatewayId: 'gw-test',
    synchronous: 'FULL',
    commitLingerMs: 0,
    maxEventsPerCommit: 10_000,
    maxEvents: 1_000_000,
    maxBytes: 1_000_000_000,
    whenFull: 'drop-oldest',
    retentionMs: 3_600_000,
    retentionMaxBytes: 1_000_000_000,
    clock,
    ...overrides,
    path,
  });
  buffer.open();
  return { buffer, path, clock };
}

function reading(deviceId: string, value: number): EventDraft {
  return { type: 'reading', deviceId, sourceTime: null, receivedAt: new Date(value * 1000).toISOString(), metric: 'm', value, unit: null, quality: 'good' };
}

function alarm(deviceId: string): EventDraft {
  return { type: 'alarm', deviceId, sourceTime: null, receivedAt: '2026-11-27T10:00:00.000Z', alarm: 'spo2-low', state: 'active', severity: 'high', message: 'SpO2 below 90 %' };
}

/** Writes to a closed buffer file behind the buffer's back, as an older or newer gateway would have left it. */
function forgeFile(path: string, ...statements: string[]): void {
  const db = new Database(path);
  try {
    for (const sql of statements) db.prepare(sql).run();
  } finally {
    db.close();
  }
}

type Parsed = Omit<ReadingEvent, 'type'> & Partial<Omit<GapEvent, 'type' | keyof ReadingEvent>> & { type: 'reading' | 'gap' | 'alarm' };
/** The stored JSON, loosely typed: the tests look at fields of readings and gaps alike. */
const parse = (e: StoredEvent) => JSON.parse(e.payload) as Parsed;

describe('SqliteBuffer', () => {
  it('opens in WAL mode with synchronous=FULL and groups many appends into one commit', async () => {
    const { buffer, path } = open();
    const appends = Array.from({ length: 200 }, (_, i) => buffer.append([reading('a', i)]));
    await Promise.all(appends);
    expect(buffer.counters.commits).toBe(1);
    expect(buffer.pendingCount).toBe(200);
    buffer.close();
    const db = new Database(path, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  it('gives every device and family its own seq, which survives a reopen', async () => {
    const { buffer, path } = open();
    await buffer.append([reading('a', 1), reading('b', 1), reading('a', 2), alarm('a')]);
    buffer.close();
    const second = open({ path } as Partial<BufferOptions>).buffer;
    await second.append([reading('a', 3), alarm('a')]);
    const seqs = second.readPending(100).map((e) => [e.deviceId, e.type, parse(e).seq]);
    // Alarms first (priority), then readings in commit order.
    expect(seqs).toEqual([
      ['a', 'alarm', 0],
      ['a', 'alarm', 1],
      ['a', 'reading', 0],
      ['b', 'reading', 0],
      ['a', 'reading', 1],
      ['a', 'reading', 2],
    ]);
    second.close();
  });

  it('keeps delivered events for the retention window, then purges them by time and by size', async () => {
    const { buffer, clock } = open({ retentionMs: 60_000, retentionMaxBytes: 1_000_000 });
    await buffer.append(Array.from({ length: 10 }, (_, i) => reading('a', i)));
    buffer.markDelivered(buffer.readPending(4));
    expect(buffer.pendingCount).toBe(6);
    expect(buffer.stats()).toMatchObject({ pending: 6, retained: 4 });
    clock.t += 30_000;
    expect(buffer.purgeDelivered()).toBe(0);
    clock.t += 31_000;
    expect(buffer.purgeDelivered()).toBe(4);
    expect(buffer.stats().retained).toBe(0);
    buffer.close();

    const small = open({ retentionMaxBytes: 1000 });
    await small.buffer.append(Array.from({ length: 20 }, (_, i) => reading('a', i)));
    small.buffer.markDelivered(small.buffer.readPending(20));
    small.buffer.purgeDelivered();
    const { retained, retainedBytes } = small.buffer.stats();
    expect(retainedBytes).toBeLessThanOrEqual(1000);
    expect(retained).toBeGreaterThan(0);
    expect(retained).toBeLessThan(20);
    small.buffer.close();
  });

  it('drop-oldest deletes the oldest readings, never alarms, and declares exactly what went in gap events', async () => {
    const { buffer } = open({ maxEvents: 10, whenFull: 'drop-oldest' });
    await buffer.append([alarm('a'), ...Array.from({ length: 6 }, (_, i) => reading('a', i))]);
    await buffer.append(Array.from({ length: 6 }, (_, i) => reading('b', i)));
    await buffer.append([alarm('b'), reading('a', 6), reading('a', 7)]);
    const events = buffer.readPending(100).map(parse);
    expect(events.filter((e) => e.type === 'alarm')).toHaveLength(2);
    const gaps = events.filter((e) => e.type === 'gap');
    // Every seq of a device that is not pending anymore is inside a gap's range, and the gap counts say exactly
    // how many readings went (one gap per device: later drops fold the earlier gap in).
    const appended: Record<string, number> = { a: 8, b: 6 };
    let droppedTotal = 0;
    for (const device of ['a', 'b']) {
      const deviceGaps = gaps.filter((g) => g.deviceId === device);
      expect(deviceGaps.length).toBeLessThanOrEqual(1);
      for (const g of deviceGaps) expect(g.reason).toBe('buffer-full');
      const present = events.filter((e) => e.deviceId === device && (e.type === 'reading' || e.type === 'gap')).map((e) => e.seq);
      const lost = Array.from({ length: Math.max(...present) + 1 }, (_, s) => s).filter((s) => !present.includes(s));
      expect(lost.length).toBeGreaterThan(0);
      for (const s of lost) expect(deviceGaps.some((g) => (g.fromSeq ?? -1) <= s && s <= (g.toSeq ?? -1))).toBe(true);
      const keptReadings = events.filter((e) => e.deviceId === device && e.type === 'reading').length;
      const counted = deviceGaps.reduce((n, g) => n + (g.count ?? 0), 0);
      expect(counted).toBe((appended[device] ?? 0) - keptReadings);
      droppedTotal += counted;
    }
    expect(buffer.counters.droppedEvents).toBe(droppedTotal);
    expect(buffer.pendingCount).toBe(events.length);
    buffer.close();
  });

  it('drop-oldest stays within its bound through a long outage: one gap per device, counting every drop', async () => {
    const { buffer } = open({ maxEvents: 200, whenFull: 'drop-oldest' });
    for (let round = 0; round < 50; round++) {
      await buffer.append(Array.from({ length: 40 }, (_, i) => reading(`d${i % 10}`, round * 40 + i)));
      expect(buffer.pendingCount).toBeLessThanOrEqual(200 + 10);
    }
    const events = buffer.readPending(1000).map(parse);
    const gaps = events.filter((e) => e.type === 'gap');
    expect(new Set(gaps.map((g) => g.deviceId)).size).toBe(gaps.length);
    const kept = events.filter((e) => e.type === 'reading').length;
    expect(gaps.reduce((n, g) => n + (g.count ?? 0), 0)).toBe(50 * 40 - kept);
    buffer.close();
  });

  it('drop-oldest never deletes what the forwarder is sending', async () => {
    const { buffer } = open({ maxEvents: 5 });
    await buffer.append(Array.from({ length: 5 }, (_, i) => reading('a', i)));
    const inFlight = buffer.readPending(3);
    await buffer.append(Array.from({ length: 4 }, (_, i) => reading('a', 10 + i)));
    const pendingSeqs = buffer.readPending(100).map(parse).filter((e) => e.type === 'reading').map((e) => e.seq);
    for (const e of inFlight) expect(pendingSeqs).toContain(parse(e).seq);
    buffer.close();
  });

  it('block holds appends back until delivery makes room, and alarms always go in', async () => {
    const { buffer } = open({ maxEvents: 5, whenFull: 'block' });
    await buffer.append(Array.from({ length: 5 }, (_, i) => reading('a', i)));
    const waiting = buffer.append([reading('a', 5), reading('a', 6)]);
    // A flush commits synchronously; held back means: still queued, nothing more committed, counted as blocked.
    buffer.flush();
    expect(buffer.queuedCount).toBe(2);
    expect(buffer.pendingCount).toBe(5);
    expect(buffer.counters.blockedAppends).toBe(1);

    await buffer.append([alarm('a')]); // passes, taking the readings queued before it along (FIFO)
    await waiting;
    expect(buffer.pendingCount).toBe(8);
    buffer.markDelivered(buffer.readPending(8));

    await buffer.append(Array.from({ length: 5 }, (_, i) => reading('b', i)));
    const held = buffer.append([reading('b', 5)]);
    buffer.flush();
    buffer.markDelivered(buffer.readPending(2));
    await held;
    expect(buffer.pendingCount).toBe(4);
    expect(buffer.counters.droppedEvents).toBe(0);
    buffer.close();
  });

  it('live-first reads fresh events first and flags the backlog', async () => {
    const { buffer, clock } = open();
    await buffer.append(Array.from({ length: 6 }, (_, i) => reading('old', i)));
    clock.t += 60_000;
    await buffer.append(Array.from({ length: 6 }, (_, i) => reading('new', i)));
    const batch = buffer.readPendingLiveFirst(8, 10_000, 0.25);
    expect(batch.map((e) => [e.deviceId, e.backlog ?? false])).toEqual([
      ...Array.from({ length: 6 }, () => ['new', false]),
      ['old', true],
      ['old', true],
    ]);
    buffer.close();
  });

  it('keeps the file bounded while events flow through, and gives space back after a backlog drained', async () => {
    const { buffer, path } = open({ retentionMs: 0 });
    const size = () => statSync(path).size;
    for (let round = 0; round < 5; round++) {
      await buffer.append(Array.from({ length: 20_000 }, (_, i) => reading(`d${i % 50}`, i)));
      while (buffer.pendingCount > 0) buffer.markDelivered(buffer.readPending(5000));
    }
    const steady = size();
    buffer.purgeDelivered();
    expect(size()).toBeLessThanOrEqual(steady);
    // A large backlog grows the file; once drained, reclaim gives the pages back.
    await buffer.append(Array.from({ length: 100_000 }, (_, i) => reading(`d${i % 50}`, i)));
    const grown = size();
    while (buffer.pendingCount > 0) buffer.markDelivered(buffer.readPending(5000));
    buffer.purgeDelivered();
    expect(size()).toBeLessThan(grown / 2);
    buffer.close();
  });

  it('keeps the pending and retained totals in meta inside each commit, so a reopen reads them instead of counting', async () => {
    const { buffer, path } = open();
    await buffer.append(Array.from({ length: 50 }, (_, i) => reading('a', i)));
    buffer.markDelivered(buffer.readPending(20));
    const pendingBytes = buffer.pendingBytes;
    expect(buffer.pendingCount).toBe(30);
    buffer.close();
    const db = new Database(path);
    const totals = () => (db.prepare("SELECT value FROM meta WHERE key = 'totals'").get() as { value: string }).value;
    expect(db.prepare("SELECT value FROM meta WHERE key = 'format'").get()).toEqual({ value: '3' });
    const retained = db.prepare('SELECT SUM(length(payload)) AS b FROM events WHERE delivered_at IS NOT NULL').get() as { b: number };
    expect(totals()).toBe(`30 ${pendingBytes} ${retained.b}`);
    // Reopening trusts the stored totals (no scan of the events): a doctored row shows through.
    db.prepare("UPDATE meta SET value = '7 700 70' WHERE key = 'totals'").run();
    db.close();
    const reopened = open({ path });
    expect([reopened.buffer.pendingCount, reopened.buffer.pendingBytes]).toEqual([7, 700]);
    reopened.buffer.close();
  });

  it('migrates a format-2 buffer file: counts once, then keeps the totals', async () => {
    const { buffer, path } = open();
    await buffer.append(Array.from({ length: 12 }, (_, i) => reading('b', i)));
    buffer.markDelivered(buffer.readPending(2));
    const expected = [buffer.pendingCount, buffer.pendingBytes];
    buffer.close();
    // What a v1 gateway left: format 2 and no totals row.
    forgeFile(path, "UPDATE meta SET value = '2' WHERE key = 'format'", "DELETE FROM meta WHERE key = 'totals'");
    const migrated = open({ path });
    expect([migrated.buffer.pendingCount, migrated.buffer.pendingBytes]).toEqual(expected);
    const first = migrated.buffer.readPending(100);
    expect(first).toHaveLength(10);
    migrated.buffer.markDelivered(first);
    migrated.buffer.close();
    const after = new Database(path, { readonly: true });
    expect(after.prepare("SELECT value FROM meta WHERE key = 'format'").get()).toEqual({ value: '3' });
    expect((after.prepare("SELECT value FROM meta WHERE key = 'totals'").get() as { value: string }).value).toMatch(/^0 0 \d+$/);
    after.close();
  });

  it('refuses a buffer file of an unknown (newer) format without touching it', () => {
    const { buffer, path } = open();
    buffer.close();
    forgeFile(path, "UPDATE meta SET value = '9' WHERE key = 'format'");
    expect(() => open({ path })).toThrow(/buffer format 9, this version reads 3/);
  });

  it('adaptive commit lingering: an event after a quiet spell is committed at once, events that follow share one commit', async () => {
    // A linger far longer than the test: had the first append waited for it, it would not resolve in time.
    const { buffer } = open({ commitLingerMs: 600_000, maxEventsPerCommit: 3 });
    await buffer.append([reading('a', 0)]);
    expect(buffer.counters.commits).toBe(1);
    // Busy now (a commit just happened): these wait to be grouped, and go in together once the group is full.
    const later = [buffer.append([reading('a', 1)]), buffer.append([reading('a', 2)])];
    await new Promise((resolve) => setImmediate(resolve));
    expect(buffer.counters.commits).toBe(1);
    later.push(buffer.append([reading('a', 3)]));
    await Promise.all(later);
    expect(buffer.counters.commits).toBe(2);
    expect(buffer.pendingCount).toBe(4);
    buffer.close();
  });
});

describe('SqliteBuffer receipts (the ledger push inputs use to recognise resends)', () => {
  const receipt = (key: string, digest = `d-${key}`) => ({ source: 'mqtt:session-1', key, digest });

  it('commits a receipt with its events, numbers receipts in arrival order per source, and keeps them across a restart', async () => {
    const { buffer, path } = open();
    const first = buffer.append([reading('a', 1)], receipt('7'));
    // Before its commit, find() answers with the queued receipt, whose promise is that commit.
    const queued = buffer.find('mqtt:session-1', '7');
    expect(queued).toMatchObject({ digest: 'd-7', number: 1, committedAt: null });
    await queued?.committed;
    await first;
    await buffer.append([reading('a', 2)], receipt('8'));
    await buffer.append([reading('b', 1)], { source: 'hl7:listener', key: 'MON1|C1', digest: 'x' });
    expect(buffer.find('mqtt:session-1', '8')).toMatchObject({ digest: 'd-8', number: 2 });
    expect(buffer.find('hl7:listener', 'MON1|C1')).toMatchObject({ number: 1 });
    expect(buffer.find('mqtt:session-1', '9')).toBeUndefined();
    buffer.close();

    const reopened = open({ path }).buffer;
    expect(reopened.latestNumber('mqtt:session-1')).toBe(2);
    expect(reopened.find('mqtt:session-1', '7')).toMatchObject({ digest: 'd-7', number: 1, committedAt: Date.parse('2026-11-27T10:00:00Z') });
    // The same key again (an MQTT packet id reused by a new message) replaces the receipt and takes the next number.
    await reopened.append([reading('a', 3)], receipt('7', 'other'));
    expect(reopened.find('mqtt:session-1', '7')).toMatchObject({ digest: 'other', number: 3 });
    expect(reopened.pendingCount).toBe(4);
    reopened.close();
  });

  it('records a receipt without events (a resend acknowledged again) and adds nothing to send', async () => {
    const { buffer } = open();
    await buffer.append([reading('a', 1)], receipt('1'));
    await buffer.append([], receipt('1'));
    expect(buffer.find('mqtt:session-1', '1')).toMatchObject({ number: 2 });
    expect(buffer.pendingCount).toBe(1);
    expect(buffer.readPending(10)).toHaveLength(1);
    buffer.close();
  });

  it('stores neither events nor receipt when the commit fails', async () => {
    const { buffer, path } = open();
    // Another connection holds the write lock longer than the buffer's busy timeout: the commit fails.
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE');
    const failed = buffer.append([reading('a', 1)], receipt('5'));
    await expect(failed).rejects.toThrow(/buffer commit failed/);
    other.exec('ROLLBACK');
    other.close();
    expect(buffer.find('mqtt:session-1', '5')).toBeUndefined();
    expect(buffer.pendingCount).toBe(0);
    expect(buffer.readPending(10)).toHaveLength(0);
    buffer.close();
  }, 30_000);

  it('forgets the receipts of one source committed before a time, and no others', async () => {
    const { buffer, clock, path } = open();
    await buffer.append([reading('a', 1)], { source: 'hl7:a', key: 'k1', digest: 'x' });
    await buffer.append([reading('a', 2)], { source: 'hl7:b', key: 'k1', digest: 'x' });
    clock.t += 60_000;
    await buffer.append([reading('a', 3)], { source: 'hl7:a', key: 'k2', digest: 'x' });
    expect(buffer.purge('hl7:a', clock.t)).toBe(1);
    expect(buffer.find('hl7:a', 'k1')).toBeUndefined();
    expect(buffer.find('hl7:a', 'k2')).toBeDefined();
    expect(buffer.find('hl7:b', 'k1')).toBeDefined();
    // Numbers never go back: the receipt holding a source's highest number is kept, so a restart continues above it.
    expect(buffer.purge('hl7:a', clock.t + 1)).toBe(0);
    buffer.close();
    const reopened = open({ path }).buffer;
    expect(reopened.latestNumber('hl7:a')).toBe(2);
    reopened.close();
  });
});

describe('openBufferReadOnly (the reader replay, buffer stats and the fault suite use)', () => {
  it('reads counts, the stats snapshot and filtered pages of a file the gateway holds open, in commit order', async () => {
    const { buffer, path, clock } = open();
    await buffer.append([reading('a', 1), reading('b', 2), alarm('a')]);
    clock.t += 60_000;
    await buffer.append([reading('a', 3), reading('b', 4)]);
    buffer.markDelivered(buffer.readPending(1));

    const reader = openBufferReadOnly(path);
    try {
      expect(reader.counts()).toEqual({ pending: 4, retained: 1, total: 5 });
      const snapshot = reader.snapshot();
      expect(snapshot.pendingByFamily).toEqual([{ family: 'readings', n: 4 }]);
      expect(snapshot.pendingByPriorityAndType).toEqual([{ priority: PRIORITY_OF_TYPE.reading, type: 'reading', n: 4 }]);
      expect(snapshot.oldestPendingAt).toBe(clock.t - 60_000);
      expect(snapshot.retained).toEqual({ count: 1, oldestReceivedAt: clock.t - 60_000, newestReceivedAt: clock.t - 60_000 });

      const filter = { deviceIds: ['a'], types: ['reading'], sinceMs: clock.t - 60_000 };
      expect(reader.count(filter)).toEqual({ total: 2, byFamilyAndType: [{ family: 'readings', type: 'reading', n: 2 }] });
      const next = reader.pager(filter);
      const first = next(0, 1);
      const second = next((first[0] as StoredEvent).pos, 10);
      expect([...first, ...second].map((e) => (JSON.parse(e.payload) as { value: number }).value)).toEqual([1, 3]);
      expect(next((second[0] as StoredEvent).pos, 10)).toEqual([]);
      expect(reader.count({ ...filter, untilMs: clock.t })).toMatchObject({ total: 1 });
      expect(reader.lastPos()).toBe(5);
    } finally {
      reader.close();
      buffer.close();
    }
  });

  it('reads a format-2 file as it is (the writer migrates it; the reader changes nothing)', async () => {
    const { buffer, path } = open();
    await buffer.append([reading('a', 1)]);
    buffer.close();
    forgeFile(path, "UPDATE meta SET value = '2' WHERE key = 'format'");
    const reader = openBufferReadOnly(path);
    expect(reader.counts()).toEqual({ pending: 1, retained: 0, total: 1 });
    reader.close();
    const after = new Database(path, { readonly: true });
    expect(after.prepare("SELECT value FROM meta WHERE key = 'format'").get()).toEqual({ value: '2' });
    after.close();
  });

  it('refuses a file of an unknown (newer) format as the writer does, and a file that is no buffer', () => {
    const { buffer, path } = open();
    buffer.close();
    forgeFile(path, "UPDATE meta SET value = '9' WHERE key = 'format'");
    expect(() => openBufferReadOnly(path)).toThrow(expect.objectContaining({ code: 'GW_BUFFER_OPEN', message: expect.stringContaining(`${path} has buffer format 9, this version reads 3`) }));

    const other = join(mkdtempSync(join(tmpdir(), 'etg-buffer-')), 'other.db');
    const foreign = new Database(other);
    foreign.exec('CREATE TABLE events (pos INTEGER PRIMARY KEY)');
    foreign.close();
    expect(() => openBufferReadOnly(other)).toThrow(expect.objectContaining({ code: 'GW_BUFFER_READ', message: expect.stringContaining(`cannot read the buffer ${other}`) }));
  });
});
